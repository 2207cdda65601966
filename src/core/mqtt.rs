//! What the agent's MQTT output and the hub's MQTT input share: the
//! broker settings (URL, client id, credentials, TLS, keep-alive, packet
//! size), checked once for both config files, the board's host name as a
//! topic segment, topic templates and filters, and the rumqttc options
//! built from them (feature `mqtt`).
//!
//! Both sides use rumqttc's sync `Client`/`Connection`: the connection
//! drives a private current-thread tokio runtime while it is iterated, so
//! it always runs on a thread of its own, never on the smol executor.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::parse_duration;

/// A broker and how to log in, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Broker {
    /// The URL as given (for logs and metric labels; no credentials in it).
    pub url: String,
    /// Host name or address.
    pub host: String,
    /// Port (1883 for `mqtt://`, 8883 for `mqtts://` unless given).
    pub port: u16,
    /// `mqtts://`: TLS (rustls, feature `tls`).
    pub tls: bool,
    /// PEM file of the CA certificates to trust (`mqtts://`; else the
    /// webpki roots).
    pub ca_file: Option<PathBuf>,
    /// MQTT client id.
    pub client_id: String,
    /// User name and password.
    pub credentials: Option<(String, String)>,
    /// Keep-alive interval.
    pub keep_alive: Duration,
    /// Largest MQTT packet sent or received, bytes.
    pub max_packet_size: usize,
}

/// The broker keys of a config section, as written.
#[derive(Debug, Default)]
pub struct BrokerKeys<'a> {
    /// `url`.
    pub url: Option<&'a str>,
    /// `client_id`.
    pub client_id: Option<&'a str>,
    /// `username`.
    pub username: Option<&'a str>,
    /// `password`.
    pub password: Option<&'a str>,
    /// `password_file`.
    pub password_file: Option<&'a PathBuf>,
    /// `ca_file`.
    pub ca_file: Option<&'a PathBuf>,
    /// `keep_alive`, a Prometheus duration.
    pub keep_alive: Option<&'a str>,
    /// `max_packet_size`, bytes.
    pub max_packet_size: Option<usize>,
}

/// Checks the broker keys; `Err` is (key, message).
pub fn resolve(
    k: &BrokerKeys<'_>,
    default_client_id: String,
    default_max_packet: usize,
) -> Result<Broker, (&'static str, String)> {
    let url = k.url.ok_or(("url", "missing".to_string()))?;
    let (tls, host, port) = parse_url(url).map_err(|m| ("url", m))?;
    if tls && !cfg!(feature = "tls") {
        return Err((
            "url",
            format!("{url:?}: mqtts needs the `tls` feature, which this build leaves out"),
        ));
    }
    if k.ca_file.is_some() && !tls {
        return Err(("ca_file", "only used with an mqtts:// URL".into()));
    }
    if let Some(f) = k.ca_file {
        // Loaded now, so a missing or broken file is a config error (file,
        // line, key) rather than a connection that fails forever.
        ca_roots(f).map_err(|m| ("ca_file", m))?;
    }
    let password = match (k.password, k.password_file) {
        (Some(_), Some(_)) => {
            return Err(("password_file", "give password or password_file".into()))
        }
        (Some(p), None) => Some(p.to_string()),
        (None, Some(f)) => Some(
            std::fs::read_to_string(f)
                .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
                .map_err(|e| ("password_file", format!("cannot read {}: {e}", f.display())))?,
        ),
        (None, None) => None,
    };
    let credentials = match (k.username, password) {
        (Some(u), p) => Some((u.to_string(), p.unwrap_or_default())),
        (None, Some(_)) => return Err(("username", "a password needs a username".into())),
        (None, None) => None,
    };
    let keep_alive = match k.keep_alive {
        Some(s) => parse_duration(s).map_err(|m| ("keep_alive", m))?,
        None => Duration::from_secs(30),
    };
    if keep_alive < Duration::from_secs(1) {
        return Err(("keep_alive", "must be at least 1s".into()));
    }
    let client_id = k.client_id.map_or(default_client_id, str::to_string);
    if client_id.is_empty() || client_id.len() > 65535 {
        return Err(("client_id", "must be 1 to 65535 bytes".into()));
    }
    let max_packet_size = k.max_packet_size.unwrap_or(default_max_packet);
    if max_packet_size < 1024 {
        return Err(("max_packet_size", "must be at least 1024".into()));
    }
    Ok(Broker {
        url: url.to_string(),
        host,
        port,
        tls,
        ca_file: k.ca_file.cloned(),
        client_id,
        credentials,
        keep_alive,
        max_packet_size,
    })
}

/// The CA certificates of PEM file `f` as a rustls root store; `Err`
/// names the file and what is wrong with it.
#[cfg(feature = "tls")]
pub fn ca_roots(f: &Path) -> Result<rustls::RootCertStore, String> {
    use rustls::pki_types::pem::{self, PemObject};
    use rustls::pki_types::CertificateDer;

    let at = |e: &dyn std::fmt::Display| format!("{}: {e}", f.display());
    let certs = CertificateDer::pem_file_iter(f).map_err(|e| match e {
        pem::Error::Io(e) => format!("cannot read {}: {e}", f.display()),
        e => at(&e),
    })?;
    let mut roots = rustls::RootCertStore::empty();
    for c in certs {
        let c = c.map_err(|e| at(&format_args!("not PEM: {e}")))?;
        roots
            .add(c)
            .map_err(|e| at(&format_args!("unusable certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(at(&"no PEM certificate in it"));
    }
    Ok(roots)
}

/// Without `tls` no `mqtts://` URL is accepted, so no CA file is read;
/// only checked to exist.
#[cfg(not(feature = "tls"))]
pub fn ca_roots(f: &Path) -> Result<(), String> {
    std::fs::metadata(f)
        .map(drop)
        .map_err(|e| format!("cannot read {}: {e}", f.display()))
}

/// `mqtt://host[:port]` or `mqtts://host[:port]` (an optional trailing
/// `/`): (tls, host, port).
pub(crate) fn parse_url(url: &str) -> Result<(bool, String, u16), String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("mqtt://") {
        (false, r)
    } else if let Some(r) = url.strip_prefix("mqtts://") {
        (true, r)
    } else {
        return Err(format!("{url:?}: must start with mqtt:// or mqtts://"));
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains('@') {
        return Err(format!(
            "{url:?}: give credentials with username and password_file, not in the URL"
        ));
    }
    if rest.contains('/') || rest.contains('?') {
        return Err(format!("{url:?}: no path or query (topics are set apart)"));
    }
    let default_port = if tls { 8883 } else { 1883 };
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (h, p) = v6
            .split_once(']')
            .ok_or_else(|| format!("{url:?}: unclosed ["))?;
        (h, p.strip_prefix(':'))
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    if host.is_empty() {
        return Err(format!("{url:?}: no host"));
    }
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| format!("{url:?}: port {p:?} is not a number from 1 to 65535"))?,
        None => default_port,
    };
    Ok((tls, host.to_string(), port))
}

/// The kernel's host name, made safe as one topic segment (`/`, `+`, `#`
/// and control characters become `_`); `localhost` if it cannot be read.
pub fn hostname() -> String {
    topic_segment(&crate::identity::hostname())
}

/// `s` with the characters a topic segment cannot hold replaced by `_`.
pub fn topic_segment(s: &str) -> String {
    s.chars()
        .map(|c| {
            if matches!(c, '/' | '+' | '#') || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// Fills `{hostname}` in a topic template and checks the result is a
/// topic one can publish to (no wildcards, not empty).
pub fn expand_topic(template: &str, hostname: &str) -> Result<String, String> {
    let t = template.replace("{hostname}", hostname);
    if t.is_empty() || t.contains(['+', '#', '\0']) || t.len() > 65535 {
        return Err(format!(
            "{template:?}: a topic is not empty and has no + or # wildcard"
        ));
    }
    Ok(t)
}

/// Checks a subscription filter (`+` and `#` as whole segments, `#` last).
pub fn check_filter(f: &str) -> Result<(), String> {
    let bad = || format!("{f:?} is not a topic filter (e.g. \"picket/+/metrics\")");
    if f.is_empty() || f.contains('\0') {
        return Err(bad());
    }
    let segs: Vec<&str> = f.split('/').collect();
    for (i, s) in segs.iter().enumerate() {
        if (s.contains('+') && *s != "+") || (s.contains('#') && (*s != "#" || i + 1 != segs.len()))
        {
            return Err(bad());
        }
    }
    Ok(())
}

/// Whether `topic` matches `filter`; `Some` holds the segments the `+`
/// wildcards matched, in order (a `#` matches the rest, uncaptured).
pub fn matches<'t>(filter: &str, topic: &'t str) -> Option<Vec<&'t str>> {
    let mut caps = Vec::new();
    let mut t = topic.split('/');
    for f in filter.split('/') {
        if f == "#" {
            return Some(caps);
        }
        let seg = t.next()?;
        if f == "+" {
            caps.push(seg);
        } else if f != seg {
            return None;
        }
    }
    t.next().is_none().then_some(caps)
}

/// rumqttc options for `b`: keep-alive, packet size both ways, credentials,
/// TLS. `clean_session` and the last will are the caller's.
#[cfg(feature = "mqtt")]
pub fn options(b: &Broker) -> Result<rumqttc::MqttOptions, String> {
    let mut o = rumqttc::MqttOptions::new(b.client_id.clone(), b.host.clone(), b.port);
    o.set_keep_alive(b.keep_alive)
        .set_max_packet_size(b.max_packet_size, b.max_packet_size);
    if let Some((u, p)) = &b.credentials {
        o.set_credentials(u.clone(), p.clone());
    }
    if b.tls {
        o.set_transport(tls::transport(b)?);
    }
    Ok(o)
}

#[cfg(all(feature = "mqtt", feature = "tls"))]
mod tls {
    //! rustls with the ring provider (as ureq uses), never aws-lc-rs: no C
    //! library to cross-build for ARM.

    use std::sync::Arc;

    use super::{ca_roots, Broker};

    /// A TLS transport trusting `b.ca_file`, or the webpki roots.
    pub(crate) fn transport(b: &Broker) -> Result<rumqttc::Transport, String> {
        let roots = match &b.ca_file {
            Some(f) => ca_roots(f)?,
            None => {
                let mut r = rustls::RootCertStore::empty();
                r.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                r
            }
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(rumqttc::Transport::tls_with_config(
            rumqttc::TlsConfiguration::Rustls(Arc::new(cfg)),
        ))
    }
}

#[cfg(all(feature = "mqtt", not(feature = "tls")))]
mod tls {
    use super::Broker;

    /// Never reached: config resolution refuses mqtts:// without `tls`.
    pub(crate) fn transport(b: &Broker) -> Result<rumqttc::Transport, String> {
        Err(format!("{}: this build has no TLS", b.url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(parse_url("mqtt://pi"), Ok((false, "pi".into(), 1883)));
        assert_eq!(
            parse_url("mqtts://broker.lan:8884/"),
            Ok((true, "broker.lan".into(), 8884))
        );
        assert_eq!(
            parse_url("mqtt://[::1]:1884"),
            Ok((false, "::1".into(), 1884))
        );
        for bad in [
            "tcp://x",
            "mqtt://",
            "mqtt://x:0",
            "mqtt://x:99999",
            "mqtt://u:p@x",
            "mqtt://x/topic",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    /// A CA file that is missing or not PEM certificates is a config
    /// error of `ca_file` naming the file.
    #[cfg(feature = "tls")]
    #[test]
    fn bad_ca_files_are_config_errors() {
        let dir = std::env::temp_dir().join(format!("picket-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cases: [(&str, &[u8], &str); 5] = [
            ("empty.pem", b"", "no PEM certificate in it"),
            (
                "key.pem",
                b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                "no PEM certificate",
            ),
            (
                "b64.pem",
                b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
                "not PEM",
            ),
            (
                "open.pem",
                b"-----BEGIN CERTIFICATE-----\nAAAA\n",
                "not PEM",
            ),
            (
                "der.pem",
                b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                "unusable certificate",
            ),
        ];
        for (name, body, want) in cases {
            let f = dir.join(name);
            std::fs::write(&f, body).unwrap();
            let e = resolve(
                &BrokerKeys {
                    url: Some("mqtts://127.0.0.1"),
                    ca_file: Some(&f),
                    ..BrokerKeys::default()
                },
                "c".into(),
                4096,
            )
            .unwrap_err();
            assert_eq!(e.0, "ca_file", "{name}: {e:?}");
            assert!(e.1.starts_with(&f.display().to_string()), "{name}: {e:?}");
            assert!(e.1.contains(want), "{name}: {e:?}");
        }
        let missing = dir.join("missing.pem");
        let e = ca_roots(&missing).unwrap_err();
        assert!(
            e.starts_with("cannot read ") && e.contains("missing.pem"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn filters_capture_plus_segments() {
        assert_eq!(
            matches("picket/+/metrics", "picket/pi4/metrics"),
            Some(vec!["pi4"])
        );
        assert_eq!(matches("picket/+/metrics", "picket/pi4/status"), None);
        assert_eq!(matches("picket/+/metrics", "picket/pi4/metrics/x"), None);
        assert_eq!(matches("a/#", "a/b/c"), Some(vec![]));
        assert!(check_filter("picket/+/metrics").is_ok());
        for bad in ["", "a/b+", "a/#/b", "a#"] {
            assert!(check_filter(bad).is_err(), "{bad}");
        }
        assert_eq!(
            expand_topic("picket/{hostname}/metrics", "pi4").as_deref(),
            Ok("picket/pi4/metrics")
        );
        assert!(expand_topic("picket/+/metrics", "pi4").is_err());
        assert_eq!(topic_segment("a/b+c#"), "a_b_c_");
    }
}
