//! The email receiver of direct notifications: Alertmanager's
//! `email_configs` (to, from, smarthost, hello, auth, require_tls,
//! `tls_config.ca_file`) sent with lettre over SMTP, STARTTLS
//! (`require_tls`, Alertmanager's default) or implicit TLS (port 465);
//! the server certificate is checked against the webpki roots, or only
//! against the CAs of `tls_config.ca_file` (a private CA). The subject is Alertmanager's default
//! (`[FIRING:2] HostDown (node)`), the body a plain-text list of the
//! alerts. Sending blocks, so it runs on the dispatcher's thread.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::SmtpTransportBuilder;
use lettre::{Message, SmtpTransport, Transport};
use serde::{Deserialize, Serialize};

use super::dispatch::{common_labels, AggGroup, Flushed};
use crate::json;

use picket_core::metric::Labels;

/// Alertmanager's `tls_config` of an email receiver (the CA part).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct TlsConfigToml {
    /// PEM file of the CA certificates to trust instead of the webpki
    /// roots (a private CA).
    pub ca_file: Option<std::path::PathBuf>,
}

/// An email receiver as written (Alertmanager's keys).
#[derive(Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct EmailToml {
    /// Recipients, comma separated.
    pub to: String,
    /// Sender address.
    pub from: String,
    /// `host:port` of the SMTP server (port 465: implicit TLS).
    pub smarthost: String,
    /// EHLO name ("localhost").
    pub hello: Option<String>,
    /// AUTH user.
    pub auth_username: Option<String>,
    /// AUTH password.
    pub auth_password: Option<String>,
    /// File holding the AUTH password (read at load).
    pub auth_password_file: Option<std::path::PathBuf>,
    /// Insist on STARTTLS (default true).
    pub require_tls: Option<bool>,
    /// Notify resolved alerts (default false, as Alertmanager).
    pub send_resolved: Option<bool>,
    /// TLS settings (`ca_file`).
    pub tls_config: Option<TlsConfigToml>,
    /// PLAIN's authorization identity: empty or the username (what
    /// picket-hub's SMTP client sends).
    pub auth_identity: Option<String>,
    /// CRAM-MD5's secret: accepted with a password, which picket-hub
    /// uses (PLAIN or LOGIN); it has no CRAM-MD5.
    pub auth_secret: Option<String>,
    /// Alertmanager's HTML body template: only its default.
    pub html: Option<String>,
    /// Alertmanager's text body template: not rendered, so refused.
    pub text: Option<String>,
    /// Alertmanager's header templates: not rendered, so refused.
    pub headers: Option<std::collections::BTreeMap<String, String>>,
}

/// Alertmanager's default `html` of an email receiver.
pub(crate) const DEFAULT_HTML: &str = "{{ template \"email.default.html\" . }}";

impl std::fmt::Debug for EmailToml {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailToml")
            .field("to", &self.to)
            .field("smarthost", &self.smarthost)
            .field("auth_username", &self.auth_username)
            .finish_non_exhaustive()
    }
}

impl EmailToml {
    /// Checks the entry at dotted `key`; the password file and the CA
    /// file are read now: a missing or broken file is a config error,
    /// not a mail that fails for a day.
    pub(crate) fn resolve(&self, key: &str) -> Result<Email, (String, String)> {
        let k = |f: &str| format!("{key}.{f}");
        for (f, v) in [
            ("to", &self.to),
            ("from", &self.from),
            ("smarthost", &self.smarthost),
        ] {
            if v.trim().is_empty() {
                return Err((k(f), "must be set".into()));
            }
        }
        let port = self
            .smarthost
            .rsplit_once(':')
            .map(|(_, p)| p.parse::<u16>());
        if !matches!(port, Some(Ok(_))) {
            return Err((
                k("smarthost"),
                format!("{:?} is not host:port", self.smarthost),
            ));
        }
        let password = match (&self.auth_password, &self.auth_password_file) {
            (Some(_), Some(_)) => {
                return Err((
                    k("auth_password"),
                    "give auth_password or auth_password_file, not both".into(),
                ))
            }
            (Some(p), None) => Some(p.clone()),
            (None, Some(f)) => Some(
                std::fs::read_to_string(f)
                    .map_err(|err| (k("auth_password_file"), format!("{}: {err}", f.display())))?
                    .trim()
                    .to_string(),
            ),
            (None, None) => None,
        };
        let templated = "picket-hub renders no Alertmanager notification templates: its mails have Alertmanager's default subject and a plain-text list of the alerts; remove it";
        if self
            .html
            .as_deref()
            .is_some_and(|h| h.trim() != DEFAULT_HTML)
        {
            return Err((k("html"), templated.into()));
        }
        if self.text.as_deref().is_some_and(|t| !t.is_empty()) {
            return Err((k("text"), templated.into()));
        }
        if self.headers.as_ref().is_some_and(|h| !h.is_empty()) {
            return Err((k("headers"), templated.into()));
        }
        let user = self.auth_username.clone().unwrap_or_default();
        if self
            .auth_identity
            .as_deref()
            .is_some_and(|i| !i.is_empty() && i != user)
        {
            return Err((
                k("auth_identity"),
                "picket-hub's SMTP client authenticates as auth_username only: leave auth_identity empty or equal to auth_username".into(),
            ));
        }
        if self.auth_secret.as_deref().is_some_and(|s| !s.is_empty()) && password.is_none() {
            return Err((
                k("auth_secret"),
                "picket-hub's SMTP client has no CRAM-MD5: give auth_password or auth_password_file (sent with PLAIN or LOGIN)".into(),
            ));
        }
        let ca_file = self.tls_config.as_ref().and_then(|t| t.ca_file.clone());
        if let Some(f) = &ca_file {
            picket_core::mqtt::ca_roots(f).map_err(|m| (k("tls_config.ca_file"), m))?;
        }
        Ok(Email {
            to: self.to.clone(),
            from: self.from.clone(),
            smarthost: self.smarthost.clone(),
            hello: self.hello.clone().unwrap_or_else(|| "localhost".into()),
            auth_username: self.auth_username.clone().filter(|u| !u.is_empty()),
            auth_password: password,
            require_tls: self.require_tls.unwrap_or(true),
            send_resolved: self.send_resolved.unwrap_or(false),
            ca_file,
        })
    }
}

/// One `email_configs` entry, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Email {
    /// Recipients (comma separated, as in Alertmanager).
    pub to: String,
    /// Sender.
    pub from: String,
    /// `host:port` of the SMTP server.
    pub smarthost: String,
    /// EHLO name ("localhost" in Alertmanager).
    pub hello: String,
    /// AUTH user (none: no AUTH).
    pub auth_username: Option<String>,
    /// AUTH password.
    pub auth_password: Option<String>,
    /// Insist on STARTTLS (Alertmanager's default: true). Port 465 always
    /// uses implicit TLS.
    pub require_tls: bool,
    /// Notify resolved alerts (Alertmanager's email default: false).
    pub send_resolved: bool,
    /// `tls_config.ca_file`: the CAs trusted instead of the webpki roots.
    pub ca_file: Option<std::path::PathBuf>,
}

/// A rendered mail, as the outbox keeps it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct Mail {
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
}

/// One alert for the mail body: status, labels, annotations, start.
pub(crate) type Line<'a> = (&'a str, &'a Labels, &'a Labels, &'a str);

/// Alertmanager's default subject and a plain-text body.
pub(crate) fn render(
    status: &str,
    group: &Labels,
    common: &Labels,
    alerts: &[Line<'_>],
    external_url: &str,
) -> Mail {
    let firing = alerts.iter().filter(|a| a.0 == "firing").count();
    let mut subject = format!("[{}", status.to_uppercase());
    if status == "firing" {
        subject.push_str(&format!(":{firing}"));
    }
    subject.push(']');
    let gv: Vec<&str> = group.iter().map(|(_, v)| v).collect();
    if !gv.is_empty() {
        subject.push(' ');
        subject.push_str(&gv.join(" "));
    }
    let extra: Vec<&str> = common
        .iter()
        .filter(|(k, _)| group.get(k).is_none())
        .map(|(_, v)| v)
        .collect();
    if !extra.is_empty() {
        subject.push_str(&format!(" ({})", extra.join(" ")));
    }
    let mut text = String::new();
    for (state, labels, annotations, starts) in alerts {
        text.push_str(&format!("[{}] since {starts}\n", state.to_uppercase()));
        for (k, v) in annotations.iter() {
            text.push_str(&format!("  {k}: {v}\n"));
        }
        text.push_str("  labels:");
        for (k, v) in labels.iter() {
            text.push_str(&format!(" {k}={v}"));
        }
        text.push_str("\n\n");
    }
    text.push_str(&format!("Sent by picket-hub ({external_url})\n"));
    Mail { subject, text }
}

/// The mail of a flush.
pub(super) fn mail(g: &AggGroup, alerts: &Flushed<'_>, now: i64, ext_url: &str) -> Mail {
    let status = if alerts.iter().any(|(_, a)| !a.resolved(now)) {
        "firing"
    } else {
        "resolved"
    };
    let starts: Vec<String> = alerts
        .iter()
        .map(|(_, a)| {
            let mut s = String::new();
            json::rfc3339(&mut s, a.starts_at);
            s
        })
        .collect();
    let lines: Vec<Line<'_>> = alerts
        .iter()
        .zip(&starts)
        .map(|((_, a), s)| {
            (
                if a.resolved(now) {
                    "resolved"
                } else {
                    "firing"
                },
                &a.labels,
                &a.annotations,
                s.as_str(),
            )
        })
        .collect();
    let common = common_labels(alerts.iter().map(|(_, a)| &a.labels));
    render(status, &g.group_labels, &common, &lines, ext_url)
}

/// Sends one mail.
pub(crate) fn send(cfg: &Email, mail: &Mail) -> Result<(), String> {
    let mut msg = Message::builder()
        .from(
            cfg.from
                .parse()
                .map_err(|e| format!("from {:?}: {e}", cfg.from))?,
        )
        .subject(mail.subject.clone())
        .header(ContentType::TEXT_PLAIN);
    for to in cfg.to.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        msg = msg.to(to.parse().map_err(|e| format!("to {to:?}: {e}"))?);
    }
    let msg = msg.body(mail.text.clone()).map_err(|e| e.to_string())?;
    let (host, port) = cfg
        .smarthost
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.trim_matches(['[', ']']), p.parse::<u16>().ok()?)))
        .ok_or_else(|| format!("smarthost {:?} is not host:port", cfg.smarthost))?;
    let mut b = SmtpTransport::builder_dangerous(host)
        .port(port)
        .timeout(Some(Duration::from_secs(30)))
        .hello_name(lettre::transport::smtp::extension::ClientId::Domain(
            cfg.hello.clone(),
        ));
    b = with_tls(b, host, port, cfg)?;
    if let Some(u) = &cfg.auth_username {
        b = b.credentials(Credentials::new(
            u.clone(),
            cfg.auth_password.clone().unwrap_or_default(),
        ));
    }
    b.build().send(&msg).map(|_| ()).map_err(|e| e.to_string())
}

/// TLS as Alertmanager does it: implicit on port 465, STARTTLS required
/// when `require_tls`, else plain.
#[cfg(feature = "tls")]
fn with_tls(
    b: SmtpTransportBuilder,
    host: &str,
    port: u16,
    cfg: &Email,
) -> Result<SmtpTransportBuilder, String> {
    use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
    if port == 465 || cfg.require_tls {
        let mut p = TlsParameters::builder(host.to_string());
        if let Some(f) = &cfg.ca_file {
            // As Alertmanager's tls_config.ca_file: these CAs only.
            let pem = std::fs::read(f).map_err(|e| format!("{}: {e}", f.display()))?;
            let cert = Certificate::from_pem(&pem).map_err(|e| format!("{}: {e}", f.display()))?;
            p = p
                .certificate_store(CertificateStore::None)
                .add_root_certificate(cert);
        }
        let p = p.build().map_err(|e| e.to_string())?;
        return Ok(b.tls(if port == 465 {
            Tls::Wrapper(p)
        } else {
            Tls::Required(p)
        }));
    }
    Ok(b)
}

/// Without the `tls` feature only plain SMTP is possible.
#[cfg(not(feature = "tls"))]
fn with_tls(
    b: SmtpTransportBuilder,
    _: &str,
    port: u16,
    cfg: &Email,
) -> Result<SmtpTransportBuilder, String> {
    if port == 465 || cfg.require_tls {
        return Err("TLS needs picket-hub built with the `tls` feature; set require_tls = false for plain SMTP".into());
    }
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_as_alertmanagers_default() {
        let g = Labels::from_pairs([("alertname", "HostDown")]);
        let c = Labels::from_pairs([("alertname", "HostDown"), ("job", "node")]);
        let l = Labels::from_pairs([
            ("alertname", "HostDown"),
            ("instance", "pi4"),
            ("job", "node"),
        ]);
        let a = Labels::from_pairs([("summary", "pi4 down")]);
        let m = render(
            "firing",
            &g,
            &c,
            &[("firing", &l, &a, "2026-11-21T10:00:00Z")],
            "http://hub",
        );
        assert_eq!(m.subject, "[FIRING:1] HostDown (node)");
        assert!(m.text.contains("summary: pi4 down"), "{}", m.text);
        let m = render(
            "resolved",
            &g,
            &g,
            &[("resolved", &l, &a, "x")],
            "http://hub",
        );
        assert_eq!(m.subject, "[RESOLVED] HostDown");
    }
}
