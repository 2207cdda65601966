//! The `[push]` section of the agent config and the push flags, resolved
//! into a [`PushConfig`].
//!
//! Kept apart from `config.rs` (which owns the node_exporter side) because
//! it changes with the push path, not with the collectors.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use picket_core::config::parse_duration;
use picket_core::identity::Identity;
use picket_core::web::client::{BasicAuthToml, ClientBlocks, TlsConfigToml};

/// The flat key of `[[push.remote_write]]` an error from the client blocks
/// is reported at (`basic_auth` is written as username/password,
/// `tls_config.*` as the table, its sub-key in the message).
fn section_error((k, m): (String, String)) -> (&'static str, String) {
    match k.as_str() {
        "basic_auth" => ("password_file", m),
        "bearer_token" | "authorization" => ("bearer_token", m),
        _ => match k.strip_prefix("tls_config.") {
            Some(sub) => ("tls_config", format!("{sub}: {m}")),
            None => ("tls_config", m),
        },
    }
}
use picket_forward::buffer::{self, Synchronous};
pub use picket_forward::remote_write::{RemoteWrite, ReplayOrder};

/// `[push]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PushSection {
    /// Collection interval for push, a Prometheus duration.
    pub interval: Option<String>,
    /// Directory of the buffer files.
    pub buffer_path: Option<PathBuf>,
    /// `[push.buffer]`.
    pub buffer: BufferSection,
    /// Hold batches while the kernel says the clock is not synchronised.
    pub wait_for_clock_sync: Option<bool>,
    /// `[[push.remote_write]]`.
    pub remote_write: Vec<RemoteWriteSection>,
    /// `[push.mqtt]`.
    pub mqtt: Option<super::mqtt::config::MqttSection>,
    /// The `job` label of every pushed sample (default "node").
    pub job: Option<String>,
    /// The `instance` label (default `<hostname>:<port of the listen address>`).
    pub instance: Option<String>,
    /// Keep samples' own `job`/`instance` (Prometheus's honor_labels).
    pub honor_labels: Option<bool>,
}

/// `[push.buffer]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BufferSection {
    /// Bytes of buffer per receiver.
    pub max_bytes: Option<u64>,
    /// Oldest batch kept, a Prometheus duration.
    pub max_age: Option<String>,
    /// `normal` or `full`.
    pub synchronous: Option<String>,
}

/// `[[push.remote_write]]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RemoteWriteSection {
    /// Receiver URL.
    pub url: Option<String>,
    /// `fresh-first` or `in-order`.
    pub replay_order: Option<String>,
    /// Request timeout.
    pub timeout: Option<String>,
    /// Most samples per request.
    pub max_samples_per_send: Option<usize>,
    /// Basic auth user name.
    pub username: Option<String>,
    /// Basic auth password.
    pub password: Option<String>,
    /// File holding the basic auth password.
    pub password_file: Option<PathBuf>,
    /// Bearer token.
    pub bearer_token: Option<String>,
    /// File holding the bearer token.
    pub bearer_token_file: Option<PathBuf>,
    /// Labels added to every series that does not have them.
    pub external_labels: std::collections::BTreeMap<String, String>,
    /// First retry delay.
    pub min_backoff: Option<String>,
    /// Longest retry delay.
    pub max_backoff: Option<String>,
    /// Prometheus's `tls_config`: a private CA (`ca_file`), a client
    /// certificate (`cert_file`, `key_file`), `insecure_skip_verify`.
    pub tls_config: Option<TlsConfigToml>,
    /// Prometheus's `write_relabel_configs`: series dropped or rewritten
    /// before they enter this receiver's buffer (after the identity and
    /// external labels).
    pub write_relabel_configs: Vec<picket_core::relabel::RelabelConfigToml>,
}

/// The push side, resolved. `remote_write` empty = push off.
#[derive(Clone, Debug)]
pub struct PushConfig {
    /// Collection interval.
    pub interval: Duration,
    /// Buffer directory.
    pub buffer_path: PathBuf,
    /// Buffer limits and durability.
    pub buffer: buffer::Options,
    /// Hold batches until the kernel reports a synchronised clock.
    pub wait_for_clock_sync: bool,
    /// Receivers.
    pub remote_write: Vec<RemoteWrite>,
    /// The MQTT output, if any.
    pub mqtt: Option<super::mqtt::config::MqttOutput>,
    /// The board's `job` and `instance`, on every sample pushed.
    pub identity: Identity,
}

impl PushConfig {
    /// Whether anything is pushed (remote_write or MQTT).
    pub(crate) fn enabled(&self) -> bool {
        !self.remote_write.is_empty() || self.mqtt.is_some()
    }
}

/// Default collection interval for push.
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_secs(15);
/// Default buffer directory (the systemd unit's StateDirectory).
pub(crate) const DEFAULT_BUFFER_PATH: &str = "/var/lib/picket/buffer";

/// Push flags (`--push-url`, `--push-interval`, `--buffer-path`).
#[derive(Debug, Default, Clone)]
pub struct PushFlags {
    /// `--push-url`, repeatable; replaces the file's receivers.
    pub urls: Vec<String>,
    /// `--push-interval`.
    pub interval: Option<String>,
    /// `--buffer-path`.
    pub buffer_path: Option<PathBuf>,
    /// `--mqtt-url`; replaces the file's `push.mqtt.url` (or adds an MQTT
    /// output with the defaults).
    pub mqtt_url: Option<String>,
    /// `--push-job`.
    pub job: Option<String>,
    /// `--push-instance`.
    pub instance: Option<String>,
}

/// A problem with a key: (dotted key or flag, message, from a flag).
pub(crate) type KeyError = (String, String, bool);

/// Default `job` of pushed samples: what a Prometheus `job_name: node` job
/// scraping the board would attach.
pub(crate) const DEFAULT_JOB: &str = "node";

/// Merges the section and the flags; `listen_address` (the agent's) gives
/// the default `instance` its port.
pub(crate) fn resolve(
    sec: &PushSection,
    flags: &PushFlags,
    listen_address: &str,
) -> Result<PushConfig, KeyError> {
    let file = |k: &str, m: String| (k.to_string(), m, false);
    let flag = |k: &str, m: String| (k.to_string(), m, true);
    let interval = match (&flags.interval, &sec.interval) {
        (Some(s), _) => parse_duration(s).map_err(|m| flag("--push-interval", m))?,
        (None, Some(s)) => parse_duration(s).map_err(|m| file("push.interval", m))?,
        (None, None) => DEFAULT_INTERVAL,
    };
    if interval < Duration::from_millis(100) {
        return Err(if flags.interval.is_some() {
            flag("--push-interval", "must be at least 100ms".into())
        } else {
            file("push.interval", "must be at least 100ms".into())
        });
    }
    let mut opts = buffer::Options::default();
    if let Some(b) = sec.buffer.max_bytes {
        if b < 64 * 1024 {
            return Err(file(
                "push.buffer.max_bytes",
                "must be at least 65536".into(),
            ));
        }
        opts.max_bytes = b;
    }
    if let Some(s) = &sec.buffer.max_age {
        opts.max_age = parse_duration(s).map_err(|m| file("push.buffer.max_age", m))?;
    }
    if let Some(s) = &sec.buffer.synchronous {
        opts.synchronous = Synchronous::parse(s).ok_or_else(|| {
            file(
                "push.buffer.synchronous",
                format!("{s:?}: expected \"normal\" or \"full\""),
            )
        })?;
    }
    let mut remote_write = Vec::new();
    if flags.urls.is_empty() {
        for (i, rw) in sec.remote_write.iter().enumerate() {
            let mut r =
                resolve_rw(rw).map_err(|(k, m)| file(&format!("push.remote_write[{i}].{k}"), m))?;
            for (j, c) in rw.write_relabel_configs.iter().enumerate() {
                r.write_relabel.push(c.clone().resolve().map_err(|(k, m)| {
                    file(
                        &format!("push.remote_write[{i}].write_relabel_configs[{j}].{k}"),
                        m,
                    )
                })?);
            }
            remote_write.push(r);
        }
    } else {
        for u in &flags.urls {
            let rw = RemoteWriteSection {
                url: Some(u.clone()),
                ..RemoteWriteSection::default()
            };
            remote_write.push(resolve_rw(&rw).map_err(|(_, m)| flag("--push-url", m))?);
        }
    }
    let mqtt = super::mqtt::config::resolve(sec.mqtt.as_ref(), flags.mqtt_url.as_deref()).map_err(
        |(k, m, from_flag)| {
            if from_flag {
                flag("--mqtt-url", m)
            } else {
                file(&format!("push.mqtt.{k}"), m)
            }
        },
    )?;
    let identity = Identity {
        job: label_value(flags.job.as_ref(), sec.job.as_ref(), "job")?
            .unwrap_or_else(|| DEFAULT_JOB.to_string()),
        instance: label_value(flags.instance.as_ref(), sec.instance.as_ref(), "instance")?
            .unwrap_or_else(|| {
                Identity::default_instance(&picket_core::identity::hostname(), listen_address)
            }),
        honor_labels: sec.honor_labels.unwrap_or(false),
    };
    Ok(PushConfig {
        mqtt,
        identity,
        interval,
        buffer_path: flags
            .buffer_path
            .clone()
            .or_else(|| sec.buffer_path.clone())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_BUFFER_PATH)),
        buffer: opts,
        wait_for_clock_sync: sec.wait_for_clock_sync.unwrap_or(false),
        remote_write,
    })
}

/// `--push-<key>` or `push.<key>`: a label value, not empty.
fn label_value(
    flag: Option<&String>,
    file: Option<&String>,
    key: &str,
) -> Result<Option<String>, KeyError> {
    let (v, from_flag) = match (flag, file) {
        (Some(v), _) => (v, true),
        (None, Some(v)) => (v, false),
        (None, None) => return Ok(None),
    };
    if v.trim().is_empty() {
        let k = if from_flag {
            format!("--push-{key}")
        } else {
            format!("push.{key}")
        };
        return Err((k, "must not be empty".into(), from_flag));
    }
    Ok(Some(v.clone()))
}

fn resolve_rw(s: &RemoteWriteSection) -> Result<RemoteWrite, (&'static str, String)> {
    let url = s.url.clone().ok_or(("url", "missing".to_string()))?;
    check_url(&url).map_err(|m| ("url", m))?;
    let replay_order = match s.replay_order.as_deref() {
        None | Some("fresh-first") => ReplayOrder::FreshFirst,
        Some("in-order") => ReplayOrder::InOrder,
        Some(o) => {
            return Err((
                "replay_order",
                format!("{o:?}: expected \"fresh-first\" or \"in-order\""),
            ))
        }
    };
    let dur = |k: &'static str, v: &Option<String>, d: Duration| match v {
        Some(s) => parse_duration(s).map_err(|m| (k, m)),
        None => Ok(d),
    };
    if s.username.is_none() && (s.password.is_some() || s.password_file.is_some()) {
        return Err(("username", "a password needs a username".into()));
    }
    let client = ClientBlocks {
        basic_auth: s.username.as_ref().map(|u| BasicAuthToml {
            username: u.clone(),
            password: s.password.clone(),
            password_file: s.password_file.clone(),
        }),
        bearer_token: s.bearer_token.clone(),
        bearer_token_file: s.bearer_token_file.clone(),
        tls_config: s.tls_config.clone(),
        ..ClientBlocks::default()
    }
    .resolve()
    .map_err(section_error)?;
    client.check_files().map_err(section_error)?;
    // Secret files must be readable now (a typo is a config error), and
    // are read again for every request.
    if let Some(a) = &client.auth {
        a.header().map_err(|m| {
            let k = if s.bearer_token_file.is_some() {
                "bearer_token_file"
            } else {
                "password_file"
            };
            (k, m)
        })?;
    }
    for n in s.external_labels.keys() {
        let ok = n
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !n.starts_with("__");
        if !ok {
            return Err((
                "external_labels",
                format!("{n:?} is not a valid label name"),
            ));
        }
    }
    let max_samples_per_send = s.max_samples_per_send.unwrap_or(10_000);
    if max_samples_per_send == 0 {
        return Err(("max_samples_per_send", "must be at least 1".into()));
    }
    Ok(RemoteWrite {
        url,
        replay_order,
        timeout: dur("timeout", &s.timeout, Duration::from_secs(30))?,
        max_samples_per_send,
        auth: client.auth,
        tls: client.tls,
        external_labels: s
            .external_labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        min_backoff: dur("min_backoff", &s.min_backoff, Duration::from_millis(500))?,
        max_backoff: dur("max_backoff", &s.max_backoff, Duration::from_secs(30))?,
        write_relabel: Vec::new(),
    })
}

fn check_url(url: &str) -> Result<(), String> {
    let rest = if let Some(r) = url.strip_prefix("http://") {
        r
    } else if let Some(r) = url.strip_prefix("https://") {
        if !cfg!(feature = "tls") {
            return Err(format!(
                "{url:?}: https needs the `tls` feature, which this build leaves out"
            ));
        }
        r
    } else {
        return Err(format!("{url:?}: must start with http:// or https://"));
    };
    if rest.split('/').next().is_none_or(str::is_empty) {
        return Err(format!("{url:?}: no host"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_replace_file_receivers() {
        let sec: PushSection = toml::from_str(
            "[[remote_write]]\nurl = \"http://a:9090/api/v1/write\"\nreplay_order = \"in-order\"\n",
        )
        .expect("parses");
        let c = resolve(&sec, &PushFlags::default(), ":9100").expect("resolves");
        assert_eq!(c.remote_write.len(), 1);
        assert_eq!(c.remote_write[0].replay_order, ReplayOrder::InOrder);
        let flags = PushFlags {
            urls: vec!["http://b/x".into(), "http://c/y".into()],
            ..PushFlags::default()
        };
        let c = resolve(&sec, &flags, ":9100").expect("resolves");
        let urls: Vec<_> = c.remote_write.iter().map(|r| r.url.as_str()).collect();
        assert_eq!(urls, ["http://b/x", "http://c/y"]);
    }

    #[test]
    fn bad_values_name_their_key() {
        let sec: PushSection =
            toml::from_str("[[remote_write]]\nurl = \"ftp://x\"\n").expect("parses");
        let e = resolve(&sec, &PushFlags::default(), ":9100").expect_err("bad url");
        assert_eq!(e.0, "push.remote_write[0].url");
        let flags = PushFlags {
            interval: Some("soon".into()),
            ..PushFlags::default()
        };
        let e = resolve(&PushSection::default(), &flags, ":9100").expect_err("bad interval");
        assert_eq!((e.0.as_str(), e.2), ("--push-interval", true));
    }
}
