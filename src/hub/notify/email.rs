//! The email receiver of direct notifications: Alertmanager's
//! `email_configs` (to, from, smarthost, hello, auth, require_tls,
//! `tls_config.ca_file`, `html`, `text`, `headers`) sent with lettre over
//! SMTP, STARTTLS (`require_tls`, Alertmanager's default) or implicit TLS
//! (port 465); the server certificate is checked against the webpki
//! roots, or only against the CAs of `tls_config.ca_file` (a private CA).
//! Sending blocks, so it runs on the dispatcher's thread.
//!
//! The mail is Alertmanager 0.25's: `to`, `from`, every header (the
//! `Subject` by default `email.default.subject`, `[FIRING:2] HostDown
//! (node)`; `To` and `From` by default `to` and `from`) and the `text`
//! and `html` bodies are notification templates ([`super::tmpl`]),
//! rendered when a flush makes the notification; the message is
//! `multipart/alternative` with a quoted-printable part for each body
//! (text, then html), headers Q-encoded where needed, as Alertmanager
//! writes it. An `html` left at Alertmanager's default
//! (`email.default.html`, which picket-hub does not have) with no `text`
//! gives picket-hub's plain-text list of the alerts instead. A template
//! that does not parse is a config error; one that fails when rendered
//! is logged and counted as a failed notification, and that mail is not
//! sent (as in Alertmanager, where trying again fails again).

use std::collections::BTreeMap;
use std::time::Duration;

use lettre::address::Envelope;
use lettre::message::header::ContentType;
use lettre::message::Mailboxes;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::SmtpTransportBuilder;
use lettre::{Message, SmtpTransport, Transport};
use serde::{Deserialize, Serialize};

use super::dispatch::Flushed;
use super::tmpl::{self, DEFAULT_HTML, DEFAULT_SUBJECT};
use crate::json;
use crate::rules::template::{Lib, Notification, Set, Template};

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
    /// The HTML body, a notification template (default
    /// `{{ template "email.default.html" . }}`).
    pub html: Option<String>,
    /// The text body, a notification template (default: none).
    pub text: Option<String>,
    /// Header templates (`Subject`, `To`, `From` and any other), by name.
    pub headers: Option<BTreeMap<String, String>>,
}

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
        let templates = self.templates(key)?;
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
            templates,
        })
    }

    /// Parses `to`, `from`, `html`, `text` and the headers as
    /// notification templates; header names canonical as Alertmanager
    /// makes them (`subject` is `Subject`), each once.
    fn templates(&self, key: &str) -> Result<Templates, (String, String)> {
        let parse = |field: String, text: &str| -> Result<Tmpl, (String, String)> {
            Template::parse_with("", text, Lib::Alertmanager)
                .map(|t| Tmpl {
                    src: text.to_string(),
                    t,
                })
                .map_err(|e| (field, e.0))
        };
        let mut headers: Vec<(String, Tmpl)> = Vec::new();
        for (name, text) in self.headers.iter().flatten() {
            let canon = canonical_header(name);
            if headers.iter().any(|(n, _)| *n == canon) {
                return Err((
                    format!("{key}.headers"),
                    format!("duplicate header {canon:?} in email config"),
                ));
            }
            headers.push((canon, parse(format!("{key}.headers.{name}"), text)?));
        }
        for (name, text) in [
            ("Subject", DEFAULT_SUBJECT),
            ("To", self.to.as_str()),
            ("From", self.from.as_str()),
        ] {
            if !headers.iter().any(|(n, _)| n == name) {
                headers.push((
                    name.to_string(),
                    parse(format!("{key}.{}", name.to_lowercase()), text)?,
                ));
            }
        }
        headers.sort_by(|a, b| a.0.cmp(&b.0));
        let html = self.html.as_deref().unwrap_or(DEFAULT_HTML);
        Ok(Templates {
            to: parse(format!("{key}.to"), &self.to)?,
            from: parse(format!("{key}.from"), &self.from)?,
            html: (!html.is_empty())
                .then(|| parse(format!("{key}.html"), html))
                .transpose()?,
            text: (self.text.as_deref())
                .filter(|t| !t.is_empty())
                .map(|t| parse(format!("{key}.text"), t))
                .transpose()?,
            headers,
        })
    }
}

/// Go's `textproto.CanonicalMIMEHeaderKey`: `content-type` →
/// `Content-Type` (a name with other than letters, digits and `-` as it
/// is).
fn canonical_header(s: &str) -> String {
    if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return s.to_string();
    }
    let mut up = true;
    s.chars()
        .map(|c| {
            let out = if up {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            up = c == '-';
            out
        })
        .collect()
}

/// A parsed notification template and its text.
#[derive(Clone, Debug)]
pub(crate) struct Tmpl {
    src: String,
    t: Template,
}

impl PartialEq for Tmpl {
    fn eq(&self, other: &Tmpl) -> bool {
        self.src == other.src
    }
}

impl Tmpl {
    fn render(&self, set: &Set, n: &Notification, html: bool) -> Result<String, String> {
        self.t.render_notification(set, n, html)
    }
}

/// An email's templates, parsed at load.
#[derive(Clone, Debug, PartialEq)]
pub struct Templates {
    to: Tmpl,
    from: Tmpl,
    html: Option<Tmpl>,
    text: Option<Tmpl>,
    /// Every header, by canonical name, in name order.
    headers: Vec<(String, Tmpl)>,
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
    /// `to`, `from`, `html`, `text` and the headers, parsed.
    pub templates: Templates,
}

/// A rendered mail, as the outbox keeps it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct Mail {
    /// Subject line (rows queued before templates: with `text`, all
    /// there is).
    #[serde(default)]
    pub subject: String,
    /// Plain-text body of such a row.
    #[serde(default)]
    pub text: String,
    /// The envelope sender (the rendered `from`).
    #[serde(default)]
    pub from: String,
    /// The envelope recipients (the rendered `to`).
    #[serde(default)]
    pub to: String,
    /// Every header, rendered, in order.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The text/plain part.
    #[serde(default)]
    pub text_part: Option<String>,
    /// The text/html part.
    #[serde(default)]
    pub html_part: Option<String>,
}

/// Renders the mail of a flush to `receiver` with the templates of `cfg`
/// and the named templates of `set`: the mail, or what failed.
pub(super) fn mail(
    cfg: &Email,
    set: &Set,
    receiver: &str,
    group_labels: &Labels,
    alerts: &Flushed<'_>,
    now: i64,
    ext_url: &str,
) -> Result<Mail, String> {
    let n = tmpl::data(receiver, group_labels, alerts, now, ext_url);
    let t = &cfg.templates;
    let text = |what: &str, x: &Tmpl| -> Result<String, String> {
        x.render(set, &n, false)
            .map_err(|e| format!("execute {what} template: {e}"))
    };
    let from = text("'from'", &t.from)?;
    let to = text("'to'", &t.to)?;
    addresses(&from, true).map_err(|e| format!("parse 'from' addresses: {e}"))?;
    addresses(&to, false).map_err(|e| format!("parse 'to' addresses: {e}"))?;
    let mut headers = Vec::new();
    for (name, x) in &t.headers {
        headers.push((name.clone(), text(&format!("{name:?} header"), x)?));
    }
    let text_part = t.text.as_ref().map(|x| text("text", x)).transpose()?;
    // Alertmanager's default html without its email.default.html:
    // picket-hub's plain text, unless there is a text part.
    let default_html = t
        .html
        .as_ref()
        .is_some_and(|h| h.src.trim() == DEFAULT_HTML)
        && !set.has("email.default.html");
    let html_part = match &t.html {
        Some(_) if default_html => None,
        Some(x) => Some(
            x.render(set, &n, true)
                .map_err(|e| format!("execute html template: {e}"))?,
        ),
        None => None,
    };
    let text_part = match (text_part, &html_part) {
        (None, None) if default_html => Some(plain_body(&n)),
        (t, _) => t,
    };
    Ok(Mail {
        from,
        to,
        headers,
        text_part,
        html_part,
        ..Mail::default()
    })
}

/// picket-hub's plain-text list of the alerts (the body when the html is
/// Alertmanager's default, which picket-hub does not have).
fn plain_body(n: &Notification) -> String {
    let mut text = String::new();
    for a in &n.alerts {
        let mut since = String::new();
        json::rfc3339(&mut since, a.starts_at);
        text.push_str(&format!("[{}] since {since}\n", a.status.to_uppercase()));
        for (k, v) in &a.annotations {
            text.push_str(&format!("  {k}: {v}\n"));
        }
        text.push_str("  labels:");
        for (k, v) in &a.labels {
            text.push_str(&format!(" {k}={v}"));
        }
        text.push_str("\n\n");
    }
    text.push_str(&format!("Sent by picket-hub ({})\n", n.external_url));
    text
}

/// The addresses of a rendered `to` or `from` (`one`: exactly one, as
/// Alertmanager wants of `from`).
fn addresses(s: &str, one: bool) -> Result<Vec<lettre::Address>, String> {
    let list: Mailboxes = s.parse().map_err(|e| format!("{s:?}: {e}"))?;
    let out: Vec<lettre::Address> = list.into_iter().map(|m| m.email).collect();
    if one && out.len() != 1 {
        return Err(format!(
            "must be exactly one 'from' address (got: {})",
            out.len()
        ));
    }
    if out.is_empty() {
        return Err(format!("{s:?}: no address"));
    }
    Ok(out)
}

/// Sends one mail.
pub(crate) fn send(cfg: &Email, mail: &Mail) -> Result<(), String> {
    let transport = transport(cfg)?;
    if mail.headers.is_empty() {
        return send_plain(cfg, mail, &transport);
    }
    let from = addresses(&mail.from, true)?;
    let to = addresses(&mail.to, false)?;
    let envelope =
        Envelope::new(from.into_iter().next(), to).map_err(|e| format!("envelope: {e}"))?;
    let message = message(mail, &hostname(), picket_core::clock::now_ms());
    transport
        .send_raw(&envelope, message.as_bytes())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A mail queued before templates: its subject and plain text, as then.
fn send_plain(cfg: &Email, mail: &Mail, transport: &SmtpTransport) -> Result<(), String> {
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
    transport.send(&msg).map(|_| ()).map_err(|e| e.to_string())
}

/// The SMTP client of `cfg`.
fn transport(cfg: &Email) -> Result<SmtpTransport, String> {
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
    Ok(b.build())
}

/// This host's name, for `Message-Id` (as Alertmanager's `os.Hostname`).
fn hostname() -> String {
    picket_core::identity::hostname()
}

/// 64 random bits (std's randomly keyed hasher over the time and a
/// counter: enough for a MIME boundary and a Message-Id).
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

/// The message as Alertmanager 0.25 writes it: the headers (Q-encoded
/// where needed), `Message-Id` unless one is set, `Date`, then a
/// `multipart/alternative` body with a quoted-printable part for the
/// text and one for the html, in that order.
pub(crate) fn message(mail: &Mail, host: &str, now_ms: i64) -> String {
    let boundary: String = (0..4)
        .map(|_| format!("{:016x}", random_u64()))
        .collect::<String>()[..60]
        .to_string();
    let mut out = String::new();
    for (name, value) in &mail.headers {
        out.push_str(&format!("{name}: {}\r\n", q_encode(value)));
    }
    if !mail.headers.iter().any(|(n, _)| n == "Message-Id") {
        let nanos = now_ms.saturating_mul(1_000_000);
        out.push_str(&format!(
            "Message-Id: <{nanos}.{}@{host}>\r\n",
            random_u64()
        ));
    }
    out.push_str(&format!("Date: {}\r\n", rfc1123z(now_ms)));
    out.push_str(&format!(
        "Content-Type: multipart/alternative;  boundary={boundary}\r\n"
    ));
    out.push_str("MIME-Version: 1.0\r\n\r\n");
    let mut first = true;
    for (kind, body) in [("plain", &mail.text_part), ("html", &mail.html_part)] {
        let Some(body) = body else { continue };
        if !first {
            out.push_str("\r\n");
        }
        first = false;
        out.push_str(&format!("--{boundary}\r\nContent-Transfer-Encoding: quoted-printable\r\nContent-Type: text/{kind}; charset=UTF-8\r\n\r\n"));
        out.push_str(&quoted_printable(body));
    }
    if !first {
        out.push_str("\r\n");
    }
    out.push_str(&format!("--{boundary}--\r\n"));
    out
}

/// Go's `time.RFC1123Z` in UTC: `Mon, 02 Jan 2006 15:04:05 +0000`.
fn rfc1123z(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = picket_core::clock::civil_from_days(days);
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {d:02} {} {y:04} {:02}:{:02}:{:02} +0000",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m.clamp(1, 12) - 1) as usize],
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// Go's `mime.QEncoding.Encode("utf-8", s)`: `s` as it is when it is
/// printable ASCII, else encoded-words of at most 75 bytes, runes whole.
fn q_encode(s: &str) -> String {
    if !s.bytes().any(|b| !(b' '..=b'~').contains(&b) && b != b'\t') {
        return s.to_string();
    }
    const START: &str = "=?utf-8?q?";
    const MAX: usize = 75 - START.len() - 2;
    let mut words: Vec<String> = Vec::new();
    let mut cur = String::new();
    for c in s.chars() {
        let mut enc = String::new();
        let mut buf = [0u8; 4];
        for &b in c.encode_utf8(&mut buf).as_bytes() {
            if b == b' ' {
                enc.push('_');
            } else if (b'!'..=b'~').contains(&b) && b != b'=' && b != b'?' && b != b'_' {
                enc.push(b as char);
            } else {
                enc.push_str(&format!("={b:02X}"));
            }
        }
        if cur.len() + enc.len() > MAX {
            words.push(std::mem::take(&mut cur));
        }
        cur.push_str(&enc);
    }
    words.push(cur);
    words
        .iter()
        .map(|w| format!("{START}{w}?="))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Go's `mime/quotedprintable` writer: lines of at most 76 bytes with
/// soft breaks, `=` and bytes outside printable ASCII as `=XX`, line ends
/// as CRLF, a space or tab before a line end encoded.
fn quoted_printable(s: &str) -> String {
    const MAX: usize = 76;
    let mut out = String::new();
    let mut line = String::new();
    let b = s.as_bytes();
    let mut i = 0;
    let flush_ws = |line: &mut String| {
        if let Some(last) = line.pop() {
            if last == ' ' || last == '\t' {
                line.push_str(&format!("={:02X}", last as u8));
            } else {
                line.push(last);
            }
        }
    };
    while i < b.len() {
        let c = b[i];
        if c == b'\r' || c == b'\n' {
            flush_ws(&mut line);
            out.push_str(&line);
            out.push_str("\r\n");
            line.clear();
            i += if c == b'\r' && b.get(i + 1) == Some(&b'\n') {
                2
            } else {
                1
            };
            continue;
        }
        let plain = (b'!'..=b'~').contains(&c) && c != b'=' || c == b' ' || c == b'\t';
        let piece = if plain {
            (c as char).to_string()
        } else {
            format!("={c:02X}")
        };
        if line.len() + piece.len() > MAX - 1 {
            out.push_str(&line);
            out.push_str("=\r\n");
            line.clear();
        }
        line.push_str(&piece);
        i += 1;
    }
    flush_ws(&mut line);
    out.push_str(&line);
    out
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
    use crate::notify::Alert;

    fn email(extra: &str) -> Email {
        let to = if extra.starts_with("to =") {
            ""
        } else {
            "to = \"ops@example.org\"\n"
        };
        let t: EmailToml = toml::from_str(&format!(
            "{to}from = \"hub@example.org\"\nsmarthost = \"m:25\"\n{extra}"
        ))
        .expect("toml");
        t.resolve("e").expect("valid")
    }

    fn alert(instance: &str, resolved_at: i64) -> (u64, Alert) {
        (
            7,
            Alert {
                labels: Labels::from_pairs([
                    ("alertname", "HostDown"),
                    ("instance", instance),
                    ("job", "node"),
                ]),
                annotations: Labels::from_pairs([("summary", "ü <down>")]),
                starts_at: 1_435_065_584_128,
                resolved_at,
                valid_until: 0,
                generator_url: "http://hub/graph?g0.expr=up".into(),
            },
        )
    }

    #[test]
    fn default_subject_and_plain_body() {
        let g = Labels::from_pairs([("alertname", "HostDown")]);
        let a = alert("pi4", 0);
        let m = mail(
            &email(""),
            &tmpl::defaults(),
            "mail",
            &g,
            &[&a],
            10,
            "http://hub",
        )
        .unwrap();
        assert_eq!(
            m.headers,
            [
                ("From".to_string(), "hub@example.org".to_string()),
                ("Subject".into(), "[FIRING:1] HostDown (pi4 node)".into()),
                ("To".into(), "ops@example.org".into()),
            ]
        );
        let body = m.text_part.as_deref().unwrap();
        assert!(body.contains("summary: ü <down>"), "{body}");
        assert!(m.html_part.is_none());
        let r = alert("pi4", 5);
        let m = mail(
            &email(""),
            &tmpl::defaults(),
            "mail",
            &g,
            &[&r],
            10,
            "http://hub",
        )
        .unwrap();
        assert_eq!(m.headers[1].1, "[RESOLVED] HostDown (pi4 node)");
    }

    #[test]
    fn templates_render_headers_text_and_html() {
        let e = email(
            "to = \"{{ .CommonLabels.job }}@example.org\"\ntext = \"{{ range .Alerts }}{{ .Annotations.summary }}{{ end }}\"\nhtml = \"<p>{{ range .Alerts }}{{ .Annotations.summary }}{{ end }}</p>\"\n[headers]\nsubject = \"{{ .Status | toUpper }} {{ len .Alerts }}\"\nx-team = \"{{ .GroupLabels.alertname }}\"\n",
        );
        let g = Labels::from_pairs([("alertname", "HostDown")]);
        let a = alert("pi4", 0);
        let m = mail(&e, &tmpl::defaults(), "mail", &g, &[&a], 10, "").unwrap();
        assert_eq!(m.to, "node@example.org");
        assert_eq!(
            m.headers,
            [
                ("From".to_string(), "hub@example.org".to_string()),
                ("Subject".into(), "FIRING 1".into()),
                ("To".into(), "node@example.org".into()),
                ("X-Team".into(), "HostDown".into()),
            ]
        );
        assert_eq!(m.text_part.as_deref(), Some("ü <down>"));
        assert_eq!(m.html_part.as_deref(), Some("<p>ü &lt;down&gt;</p>"));
        // A template failing when rendered fails the mail.
        let bad = email("text = \"{{ template \\\"nope\\\" . }}\"\n");
        let err = mail(&bad, &tmpl::defaults(), "m", &g, &[&a], 10, "").unwrap_err();
        assert!(
            err.contains("execute text template") && err.contains("\"nope\" not defined"),
            "{err}"
        );
        let bad = email("to = \"{{ .Status }}\"\n");
        let err = mail(&bad, &tmpl::defaults(), "m", &g, &[&a], 10, "").unwrap_err();
        assert!(err.contains("parse 'to' addresses"), "{err}");
    }

    #[test]
    fn templates_that_do_not_parse_and_duplicate_headers_are_refused() {
        for (extra, key) in [
            ("html = \"{{ nosuch }}\"", "e.html"),
            ("text = \"{{ if }}\"", "e.text"),
            ("[headers]\nSubject = \"{{ .X \"", "e.headers.Subject"),
            ("[headers]\nsubject = \"a\"\nSUBJECT = \"b\"", "e.headers"),
        ] {
            let t: EmailToml = toml::from_str(&format!(
                "to = \"a@b\"\nfrom = \"c@d\"\nsmarthost = \"m:25\"\n{extra}\n"
            ))
            .expect("toml");
            let (k, msg) = t.resolve("e").expect_err(extra);
            assert_eq!(k, key, "{msg}");
        }
        assert_eq!(canonical_header("x-my-HEADER"), "X-My-Header");
        assert_eq!(canonical_header("bad header"), "bad header");
    }

    #[test]
    fn message_as_alertmanager_writes_it() {
        let m = Mail {
            from: "hub@example.org".into(),
            to: "ops@example.org".into(),
            headers: vec![
                ("Subject".into(), "[FIRING:1] Hôte down".into()),
                ("To".into(), "ops@example.org".into()),
            ],
            text_part: Some("a=b \nline two".into()),
            html_part: Some("<p>x</p>".into()),
            ..Mail::default()
        };
        let msg = message(&m, "box", 1_435_065_584_128);
        let boundary = msg
            .split("boundary=")
            .nth(1)
            .and_then(|r| r.split("\r\n").next())
            .unwrap()
            .to_string();
        assert_eq!(boundary.len(), 60);
        let want_head = "Subject: =?utf-8?q?[FIRING:1]_H=C3=B4te_down?=\r\nTo: ops@example.org\r\nMessage-Id: <1435065584128000000.";
        assert!(msg.starts_with(want_head), "{msg}");
        let rest = msg.split_once("@box>\r\n").unwrap().1;
        assert_eq!(
            rest,
            format!("Date: Tue, 23 Jun 2015 13:19:44 +0000\r\nContent-Type: multipart/alternative;  boundary={boundary}\r\nMIME-Version: 1.0\r\n\r\n--{boundary}\r\nContent-Transfer-Encoding: quoted-printable\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\na=3Db=20\r\nline two\r\n--{boundary}\r\nContent-Transfer-Encoding: quoted-printable\r\nContent-Type: text/html; charset=UTF-8\r\n\r\n<p>x</p>\r\n--{boundary}--\r\n")
        );
        let long = "x".repeat(80);
        assert_eq!(
            quoted_printable(&long),
            format!("{}=\r\n{}", "x".repeat(75), "x".repeat(5))
        );
        assert_eq!(quoted_printable("é"), "=C3=A9");
        let words = q_encode(&"é".repeat(40));
        assert!(words.split(' ').all(|w| w.len() <= 75), "{words}");
    }
}
