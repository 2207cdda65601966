//! exporter-toolkit's web config file (`--web.config.file`), read unchanged:
//! the same file serves node_exporter, Prometheus, Alertmanager and picket.
//!
//! Keys, defaults and refusals follow exporter-toolkit (its
//! `docs/web-configuration.md` and `web/tls_config.go`): four top-level
//! keys, unknown keys are errors (its reader is strict), relative paths are
//! taken from the file's directory, a client CA without a client auth type
//! is refused, only the five allow-listed response headers may be set, and
//! every bcrypt hash must parse before the server starts. What rustls
//! cannot do (TLS 1.0 and 1.1, P-521) is refused with the reason, never
//! ignored. Errors name the file, the line and the dotted key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::ConfigError;
use crate::yaml::{self, Node, Value};

/// A parsed web config file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WebConfig {
    /// `tls_server_config`: TLS when set (with a certificate).
    pub tls: Option<TlsServer>,
    /// `http_server_config.headers`, set on every response.
    pub headers: Vec<(String, String)>,
    /// `basic_auth_users`: user name and bcrypt hash. Empty: no auth.
    pub users: Vec<(String, String)>,
    /// `rate_limit` (exporter-toolkit 0.15): one token bucket for all
    /// requests, checked before auth.
    pub rate_limit: Option<RateLimit>,
}

/// A PEM item: a file (re-read when it changes) or inline text.
#[derive(Clone, PartialEq)]
pub enum Pem {
    /// `*_file`: a path (made absolute against the config's directory).
    File(PathBuf),
    /// `cert`, `key`, `client_ca`: the PEM text itself.
    Inline(String),
}

impl std::fmt::Debug for Pem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pem::File(p) => write!(f, "File({})", p.display()),
            // Inline keys are secrets: never in a log or a Debug dump.
            Pem::Inline(_) => f.write_str("Inline(<redacted>)"),
        }
    }
}

/// Go's `tls.ClientAuthType`, as exporter-toolkit names it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClientAuth {
    /// `NoClientCert` (the default): no certificate asked for.
    #[default]
    None,
    /// `RequestClientCert`: asked for, neither required nor verified.
    Request,
    /// `RequireAnyClientCert` (`RequireClientCert`): required, not verified.
    RequireAny,
    /// `VerifyClientCertIfGiven`: verified when sent.
    VerifyIfGiven,
    /// `RequireAndVerifyClientCert`: required and verified against the CA.
    RequireAndVerify,
}

/// A TLS protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

/// `tls_server_config`.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsServer {
    /// `cert_file` or `cert`.
    pub cert: Pem,
    /// `key_file` or `key`.
    pub key: Pem,
    /// `client_auth_type`.
    pub client_auth: ClientAuth,
    /// `client_ca_file` or `client_ca`.
    pub client_ca: Option<Pem>,
    /// `client_allowed_sans`: the client certificate must carry one.
    pub client_allowed_sans: Vec<String>,
    /// `min_version` (default TLS 1.2).
    pub min_version: TlsVersion,
    /// `max_version` (default TLS 1.3).
    pub max_version: TlsVersion,
    /// `cipher_suites` (Go's names; TLS 1.2 only; empty = defaults).
    pub cipher_suites: Vec<String>,
    /// `curve_preferences` (empty = defaults).
    pub curves: Vec<String>,
}

/// `rate_limit`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// One token per interval.
    pub interval: Duration,
    /// Bucket size.
    pub burst: u32,
}

/// The cipher suites a web config may name (the names of Go's
/// `tls.CipherSuites()`, the secure list; the short CHACHA20 aliases are
/// Go constants, not names, and exporter-toolkit refuses them too), all of
/// which rustls implements.
pub const CIPHER_SUITES: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
];

/// Go suites rustls does not implement (CBC and RSA key exchange): named
/// so the error says why rather than "unknown".
const CIPHER_SUITES_REFUSED: &[&str] = &[
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
];

/// The curves a web config may name, and whether rustls (ring) has them.
const CURVES: &[(&str, bool)] = &[
    ("X25519", true),
    ("CurveP256", true),
    ("CurveP384", true),
    ("CurveP521", false),
];

/// The response headers exporter-toolkit lets a config set, with the
/// values it allows (`None`: any).
const HEADERS: &[(&str, Option<&[&str]>)] = &[
    ("Strict-Transport-Security", None),
    ("X-Content-Type-Options", Some(&["nosniff"])),
    ("X-Frame-Options", Some(&["deny", "sameorigin"])),
    ("X-XSS-Protection", None),
    ("Content-Security-Policy", None),
];

/// Reads and checks a web config file.
pub fn load(path: &Path) -> Result<WebConfig, ConfigError> {
    let src = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: Some(path.to_path_buf()),
        line: None,
        key: None,
        msg: format!("cannot read the web config: {e}"),
    })?;
    parse(&src, path)
}

/// Parses a web config's text; `path` names it in errors and anchors its
/// relative paths.
pub fn parse(src: &str, path: &Path) -> Result<WebConfig, ConfigError> {
    let at = |line: Option<usize>, key: &str, msg: String| ConfigError {
        file: Some(path.to_path_buf()),
        line,
        key: (!key.is_empty()).then(|| key.to_string()),
        msg,
    };
    let doc = yaml::parse(src).map_err(|e| at(Some(e.line), "", e.msg))?;
    let dir = path.parent().unwrap_or(Path::new(""));
    let r = Reader { at: &at, dir };
    let mut cfg = WebConfig::default();
    for (key, node) in r.map(&doc, "")? {
        match key.as_str() {
            "tls_server_config" => cfg.tls = r.tls(node)?,
            "http_server_config" => cfg.headers = r.http(node)?,
            "basic_auth_users" => cfg.users = r.users(node)?,
            "rate_limit" => cfg.rate_limit = r.rate_limit(node)?,
            other => {
                return Err(at(
                    Some(node.line),
                    other,
                    "unknown key (a web config has tls_server_config, http_server_config, basic_auth_users, rate_limit)".into(),
                ))
            }
        }
    }
    Ok(cfg)
}

type At<'a> = &'a dyn Fn(Option<usize>, &str, String) -> ConfigError;

struct Reader<'a> {
    at: At<'a>,
    dir: &'a Path,
}

impl Reader<'_> {
    fn err(&self, node: &Node, key: &str, msg: impl Into<String>) -> ConfigError {
        (self.at)(Some(node.line), key, msg.into())
    }

    /// A mapping's entries (`null` is an empty mapping).
    fn map<'n>(
        &self,
        node: &'n Node,
        key: &str,
    ) -> Result<Vec<(&'n String, &'n Node)>, ConfigError> {
        match &node.value {
            Value::Null => Ok(Vec::new()),
            Value::Map(m) => Ok(m.iter().map(|(k, v)| (k, v)).collect()),
            _ => Err(self.err(node, key, "expected a mapping of keys")),
        }
    }

    fn str(&self, node: &Node, key: &str) -> Result<String, ConfigError> {
        match &node.value {
            Value::Str(s) => Ok(s.clone()),
            Value::Null => Ok(String::new()),
            _ => Err(self.err(node, key, "expected a single value")),
        }
    }

    fn list(&self, node: &Node, key: &str) -> Result<Vec<(String, usize)>, ConfigError> {
        match &node.value {
            Value::Null => Ok(Vec::new()),
            Value::Seq(items) => items
                .iter()
                .map(|n| Ok((self.str(n, key)?, n.line)))
                .collect(),
            _ => Err(self.err(node, key, "expected a list")),
        }
    }

    fn path(&self, s: &str) -> PathBuf {
        let p = Path::new(s);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir.join(p)
        }
    }

    fn tls(&self, node: &Node) -> Result<Option<TlsServer>, ConfigError> {
        let entries = self.map(node, "tls_server_config")?;
        if entries.is_empty() {
            return Ok(None);
        }
        let mut cert = None;
        let mut key = None;
        let mut ca = None;
        let mut auth = None;
        let mut t = TlsServer {
            cert: Pem::Inline(String::new()),
            key: Pem::Inline(String::new()),
            client_auth: ClientAuth::None,
            client_ca: None,
            client_allowed_sans: Vec::new(),
            min_version: TlsVersion::Tls12,
            max_version: TlsVersion::Tls13,
            cipher_suites: Vec::new(),
            curves: Vec::new(),
        };
        for (k, v) in entries {
            let full = format!("tls_server_config.{k}");
            let full = full.as_str();
            match k.as_str() {
                "cert_file" | "cert" | "key_file" | "key" | "client_ca_file" | "client_ca" => {
                    let s = self.str(v, full)?;
                    if s.is_empty() {
                        continue;
                    }
                    let pem = if k.ends_with("_file") {
                        Pem::File(self.path(&s))
                    } else {
                        Pem::Inline(s)
                    };
                    let slot = match k.as_str() {
                        "cert_file" | "cert" => &mut cert,
                        "key_file" | "key" => &mut key,
                        _ => &mut ca,
                    };
                    if slot.is_some() {
                        let base = k.trim_end_matches("_file");
                        return Err(self.err(
                            v,
                            full,
                            format!("{base} and {base}_file are mutually exclusive"),
                        ));
                    }
                    *slot = Some((pem, v.line));
                }
                "client_auth_type" => {
                    let s = self.str(v, full)?;
                    auth = Some(match s.as_str() {
                        "" | "NoClientCert" => ClientAuth::None,
                        "RequestClientCert" => ClientAuth::Request,
                        "RequireAnyClientCert" | "RequireClientCert" => ClientAuth::RequireAny,
                        "VerifyClientCertIfGiven" => ClientAuth::VerifyIfGiven,
                        "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerify,
                        other => return Err(self.err(v, full, format!("invalid ClientAuth: {other} (one of NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert)"))),
                    });
                }
                "client_allowed_sans" => {
                    t.client_allowed_sans =
                        self.list(v, full)?.into_iter().map(|(s, _)| s).collect();
                }
                "min_version" | "max_version" => {
                    let s = self.str(v, full)?;
                    let ver = match s.as_str() {
                        "TLS12" => TlsVersion::Tls12,
                        "TLS13" => TlsVersion::Tls13,
                        "TLS10" | "TLS11" => {
                            return Err(self.err(v, full, format!("{s} is not supported: picket's TLS (rustls) implements TLS 1.2 and 1.3 only")))
                        }
                        other => return Err(self.err(v, full, format!("unknown TLS version: {other} (TLS10, TLS11, TLS12 or TLS13)"))),
                    };
                    if k == "min_version" {
                        t.min_version = ver;
                    } else {
                        t.max_version = ver;
                    }
                }
                "cipher_suites" => {
                    for (s, line) in self.list(v, full)? {
                        let n = Node {
                            line,
                            value: Value::Null,
                        };
                        if CIPHER_SUITES_REFUSED.contains(&s.as_str()) {
                            return Err(self.err(&n, full, format!("{s} is not supported: rustls implements only AEAD suites with forward secrecy ({})", CIPHER_SUITES.join(", "))));
                        }
                        if !CIPHER_SUITES.contains(&s.as_str()) {
                            return Err(self.err(&n, full, format!("unknown cipher: {s}")));
                        }
                        t.cipher_suites.push(s);
                    }
                }
                "curve_preferences" => {
                    for (s, line) in self.list(v, full)? {
                        let n = Node {
                            line,
                            value: Value::Null,
                        };
                        match CURVES.iter().find(|(c, _)| *c == s) {
                            Some((_, true)) => t.curves.push(s),
                            Some((_, false)) => return Err(self.err(&n, full, format!("{s} is not supported by picket's TLS (rustls with ring): use X25519, CurveP256 or CurveP384"))),
                            None => return Err(self.err(&n, full, format!("unknown curve: {s}"))),
                        }
                    }
                }
                "prefer_server_cipher_suites" => {
                    // Go >= 1.17 ignores it too; checked for a boolean.
                    self.bool(v, full)?;
                }
                other => {
                    return Err(self.err(
                        v,
                        full,
                        format!("unknown key {other:?} in tls_server_config"),
                    ))
                }
            }
        }
        if t.min_version > t.max_version {
            return Err(self.err(
                node,
                "tls_server_config.min_version",
                "is above max_version",
            ));
        }
        let Some((c, _)) = cert else {
            return Err(self.err(
                node,
                "tls_server_config",
                "missing one of cert or cert_file",
            ));
        };
        let Some((k, _)) = key else {
            return Err(self.err(node, "tls_server_config", "missing one of key or key_file"));
        };
        t.cert = c;
        t.key = k;
        t.client_auth = auth.unwrap_or_default();
        if let Some((ca, line)) = ca {
            if t.client_auth == ClientAuth::None {
                let n = Node {
                    line,
                    value: Value::Null,
                };
                return Err(self.err(&n, "tls_server_config.client_ca_file", "Client CA's have been configured without a Client Auth Policy (set client_auth_type)"));
            }
            t.client_ca = Some(ca);
        }
        if matches!(
            t.client_auth,
            ClientAuth::VerifyIfGiven | ClientAuth::RequireAndVerify
        ) && t.client_ca.is_none()
        {
            return Err(self.err(
                node,
                "tls_server_config.client_ca_file",
                "client_auth_type verifies client certificates: set client_ca_file",
            ));
        }
        Ok(Some(t))
    }

    fn bool(&self, node: &Node, key: &str) -> Result<bool, ConfigError> {
        match self.str(node, key)?.as_str() {
            "true" | "True" | "TRUE" => Ok(true),
            "false" | "False" | "FALSE" => Ok(false),
            other => Err(self.err(
                node,
                key,
                format!("expected true or false, found {other:?}"),
            )),
        }
    }

    fn http(&self, node: &Node) -> Result<Vec<(String, String)>, ConfigError> {
        let mut headers = Vec::new();
        for (k, v) in self.map(node, "http_server_config")? {
            let full = format!("http_server_config.{k}");
            match k.as_str() {
                // HTTP/2 is negotiated by ALPN; picket serves HTTP/1.1,
                // which every client falls back to. Checked, then ignored.
                "http2" => {
                    self.bool(v, &full)?;
                }
                "headers" => {
                    for (name, val) in self.map(v, &full)? {
                        let key = format!("{full}.{name}");
                        let value = self.str(val, &key)?;
                        let Some((_, allowed)) = HEADERS.iter().find(|(h, _)| h == name) else {
                            return Err(self.err(
                                val,
                                &key,
                                format!("HTTP header {name:?} can not be configured"),
                            ));
                        };
                        if let Some(allowed) = allowed {
                            if !allowed.contains(&value.as_str()) {
                                return Err(self.err(val, &key, format!("invalid value for {name}. Expected one of: {allowed:?}, but got: {value:?}")));
                            }
                        }
                        headers.push((name.clone(), value));
                    }
                }
                other => {
                    return Err(self.err(
                        v,
                        &full,
                        format!("unknown key {other:?} in http_server_config"),
                    ))
                }
            }
        }
        Ok(headers)
    }

    fn users(&self, node: &Node) -> Result<Vec<(String, String)>, ConfigError> {
        let mut users = Vec::new();
        for (name, v) in self.map(node, "basic_auth_users")? {
            let key = format!("basic_auth_users.{name}");
            let hash = self.str(v, &key)?;
            if let Err(e) = super::auth::check_hash(&hash) {
                // Never the hash itself in the message.
                return Err(self.err(v, &key, format!("not a bcrypt hash: {e}")));
            }
            users.push((name.clone(), hash));
        }
        Ok(users)
    }

    fn rate_limit(&self, node: &Node) -> Result<Option<RateLimit>, ConfigError> {
        let mut interval = Duration::ZERO;
        let mut burst = 0u32;
        for (k, v) in self.map(node, "rate_limit")? {
            let full = format!("rate_limit.{k}");
            let s = self.str(v, &full)?;
            match k.as_str() {
                "interval" => {
                    interval =
                        crate::config::parse_duration(&s).map_err(|e| self.err(v, &full, e))?
                }
                "burst" => {
                    burst = s.parse().map_err(|_| {
                        self.err(v, &full, format!("expected a whole number, found {s:?}"))
                    })?
                }
                other => {
                    return Err(self.err(v, &full, format!("unknown key {other:?} in rate_limit")))
                }
            }
        }
        Ok((!interval.is_zero()).then_some(RateLimit {
            interval,
            burst: burst.max(1),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "$2y$10$QqUI5V60D93xYgwvKnxQwOZ21EUteIAGMHLfcbgweBosZhCkl9FYa";

    fn parse_at(src: &str) -> Result<WebConfig, ConfigError> {
        parse(src, Path::new("/etc/picket/web.yml"))
    }

    #[test]
    fn reads_exporter_toolkits_example() {
        let src = format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: /abs/server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  client_allowed_sans: [a.example, 10.0.0.1]\n  min_version: TLS13\n  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]\n  curve_preferences: [X25519]\n  prefer_server_cipher_suites: true\nhttp_server_config:\n  http2: false\n  headers:\n    X-Frame-Options: deny\n    Strict-Transport-Security: max-age=31536000\nbasic_auth_users:\n  alice: {HASH}\nrate_limit:\n  interval: 1s\n  burst: 5\n"
        );
        let c = parse_at(&src).unwrap();
        let t = c.tls.unwrap();
        assert_eq!(t.cert, Pem::File("/etc/picket/server.crt".into()));
        assert_eq!(t.key, Pem::File("/abs/server.key".into()));
        assert_eq!(t.client_ca, Some(Pem::File("/etc/picket/ca.crt".into())));
        assert_eq!(t.client_auth, ClientAuth::RequireAndVerify);
        assert_eq!(t.client_allowed_sans, ["a.example", "10.0.0.1"]);
        assert_eq!(t.min_version, TlsVersion::Tls13);
        assert_eq!(c.headers.len(), 2);
        assert_eq!(c.users, [("alice".to_string(), HASH.to_string())]);
        assert_eq!(c.rate_limit.unwrap().burst, 5);
    }

    #[test]
    fn empty_file_is_plain_http_without_auth() {
        assert_eq!(parse_at("").unwrap(), WebConfig::default());
        assert_eq!(
            parse_at("tls_server_config:\n").unwrap(),
            WebConfig::default()
        );
    }

    #[test]
    fn refusals_name_file_line_and_key() {
        for (src, line, key, what) in [
            ("rate_limits: {}\n", 1, "rate_limits", "unknown key"),
            ("tls_server_config:\n  cert_file: a\n", 1, "tls_server_config", "missing one of key"),
            ("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: c\n", 4, "tls_server_config.client_ca_file", "without a Client Auth Policy"),
            ("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Maybe\n", 4, "tls_server_config.client_auth_type", "invalid ClientAuth"),
            ("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS11\n", 4, "tls_server_config.min_version", "rustls"),
            ("tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites:\n    - TLS_RSA_WITH_AES_128_CBC_SHA\n", 5, "tls_server_config.cipher_suites", "not supported"),
            ("tls_server_config:\n  cert_file: a\n  key_file: b\n  curve_preferences: [CurveP521]\n", 4, "tls_server_config.curve_preferences", "not supported"),
            ("tls_server_config:\n  cert_file: a\n  cert: b\n", 3, "tls_server_config.cert", "mutually exclusive"),
            ("http_server_config:\n  headers:\n    X-Foo: bar\n", 3, "http_server_config.headers.X-Foo", "can not be configured"),
            ("http_server_config:\n  headers:\n    X-Frame-Options: allow\n", 3, "http_server_config.headers.X-Frame-Options", "Expected one of"),
            ("basic_auth_users:\n  alice: plaintext\n", 2, "basic_auth_users.alice", "not a bcrypt hash"),
            ("tls_server_config: [1]\n", 1, "tls_server_config", "mapping"),
        ] {
            let e = parse_at(src).expect_err(src);
            assert_eq!(e.file.as_deref(), Some(Path::new("/etc/picket/web.yml")));
            assert_eq!(e.line, Some(line), "{src}: {e}");
            assert_eq!(e.key.as_deref(), Some(key), "{src}: {e}");
            assert!(e.msg.contains(what), "{src}: {e}");
            assert!(!e.to_string().contains("plaintext"), "{e}");
        }
    }
}
