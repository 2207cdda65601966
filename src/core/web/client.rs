//! The client side, in Prometheus's own block names (`<http_config>` of
//! prometheus/common): `basic_auth`, `authorization`, `bearer_token(_file)`
//! and `tls_config`, for every HTTP client of both binaries (the hub's
//! scrapes and Alertmanager client, the agent's remote_write).
//!
//! As in Prometheus: `password_file` and `credentials_file` are read on
//! every request and trimmed, so a rotated secret needs no reload; the
//! blocks exclude each other as there (`authorization` with `basic_auth`,
//! `bearer_token` with either); `type: basic` is refused. Secrets never
//! reach a Debug dump or an error message. TLS (`ca_file`, `cert_file`,
//! `key_file`, `server_name`, `insecure_skip_verify`, `min_version`,
//! `max_version`) is the core's own connector ([`super::client_tls`]):
//! rustls has TLS 1.2 and 1.3, so a `min_version` of TLS10 or TLS11 means
//! 1.2, and a `max_version` below 1.2 is refused with the reason.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// `basic_auth = { username, password | password_file }` as written.
#[derive(Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BasicAuthToml {
    /// User name.
    pub username: String,
    /// Password, inline.
    pub password: Option<String>,
    /// File whose contents (trimmed) are the password, read per request.
    pub password_file: Option<PathBuf>,
}

impl fmt::Debug for BasicAuthToml {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuthToml")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<secret>"))
            .field("password_file", &self.password_file)
            .finish()
    }
}

/// `authorization = { type, credentials | credentials_file }` as written.
#[derive(Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthorizationToml {
    /// The scheme (default `Bearer`).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The credentials, inline.
    pub credentials: Option<String>,
    /// File whose contents (trimmed) are the credentials, read per request.
    pub credentials_file: Option<PathBuf>,
}

impl fmt::Debug for AuthorizationToml {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationToml")
            .field("type", &self.kind)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|_| "<secret>"),
            )
            .field("credentials_file", &self.credentials_file)
            .finish()
    }
}

/// `tls_config = { ca_file, cert_file, key_file, ... }` as written.
#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfigToml {
    /// CA bundle trusted instead of the webpki roots.
    pub ca_file: Option<PathBuf>,
    /// Client certificate.
    pub cert_file: Option<PathBuf>,
    /// Its key.
    pub key_file: Option<PathBuf>,
    /// The name the server's certificate is checked against (and SNI),
    /// instead of the URL's host.
    pub server_name: Option<String>,
    /// Skip server certificate verification.
    pub insecure_skip_verify: bool,
    /// Lowest TLS version.
    pub min_version: Option<String>,
    /// Highest TLS version.
    pub max_version: Option<String>,
}

/// Alertmanager's `http_config` (a receiver's client blocks in one table)
/// as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfigToml {
    /// `basic_auth`.
    pub basic_auth: Option<BasicAuthToml>,
    /// `authorization`.
    pub authorization: Option<AuthorizationToml>,
    /// `bearer_token`.
    pub bearer_token: Option<String>,
    /// `bearer_token_file`.
    pub bearer_token_file: Option<PathBuf>,
    /// `tls_config`.
    pub tls_config: Option<TlsConfigToml>,
    /// Accepted (redirects are followed, as by default).
    pub follow_redirects: Option<bool>,
    /// Accepted (the client speaks HTTP/1.1).
    pub enable_http2: Option<bool>,
}

impl HttpConfigToml {
    /// The blocks, for [`ClientBlocks::resolve`].
    pub fn blocks(self) -> ClientBlocks {
        ClientBlocks {
            basic_auth: self.basic_auth,
            authorization: self.authorization,
            bearer_token: self.bearer_token,
            bearer_token_file: self.bearer_token_file,
            tls_config: self.tls_config,
        }
    }
}

/// A secret: inline, or a file read (and trimmed) per request.
#[derive(Clone, PartialEq)]
pub enum Secret {
    /// Given in the config.
    Inline(String),
    /// Read from this file.
    File(PathBuf),
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Inline(_) => f.write_str("Inline(<secret>)"),
            Secret::File(p) => write!(f, "File({})", p.display()),
        }
    }
}

impl Secret {
    /// The value now (a file is read again, whitespace trimmed). The
    /// error names the file, never its contents.
    pub fn get(&self) -> Result<String, String> {
        match self {
            Secret::Inline(s) => Ok(s.clone()),
            Secret::File(p) => std::fs::read_to_string(p)
                .map(|s| s.trim().to_string())
                .map_err(|e| format!("cannot read {}: {e}", p.display())),
        }
    }

    fn anchor(&mut self, dir: &Path) {
        if let Secret::File(p) = self {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        }
    }
}

/// The `Authorization` a client sends.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientAuth {
    /// `basic_auth`.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: Secret,
    },
    /// `authorization` (and `bearer_token(_file)`, type `Bearer`).
    Header {
        /// The scheme.
        kind: String,
        /// The credentials.
        credentials: Secret,
    },
}

impl ClientAuth {
    /// The header value for the next request.
    pub fn header(&self) -> Result<String, String> {
        Ok(match self {
            ClientAuth::Basic { username, password } => format!(
                "Basic {}",
                crate::http::base64(format!("{username}:{}", password.get()?).as_bytes())
            ),
            ClientAuth::Header { kind, credentials } => format!("{kind} {}", credentials.get()?),
        })
    }
}

pub use super::config::TlsVersion;

/// Client TLS settings, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsClient {
    /// Trusted CAs instead of the webpki roots.
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key.
    pub cert: Option<(PathBuf, PathBuf)>,
    /// Skip verification.
    pub insecure_skip_verify: bool,
    /// Verify (and ask, SNI) this name instead of the URL's host.
    pub server_name: Option<String>,
    /// Lowest version offered.
    pub min_version: TlsVersion,
    /// Highest version offered.
    pub max_version: TlsVersion,
}

impl Default for TlsClient {
    fn default() -> TlsClient {
        TlsClient {
            ca_file: None,
            cert: None,
            insecure_skip_verify: false,
            server_name: None,
            min_version: TlsVersion::Tls12,
            max_version: TlsVersion::Tls13,
        }
    }
}

/// One client's HTTP settings, resolved.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpClient {
    /// Credentials, if any.
    pub auth: Option<ClientAuth>,
    /// TLS settings (https URLs).
    pub tls: TlsClient,
}

/// The blocks of one client as written; [`ClientBlocks::resolve`] checks
/// them. Errors are (key under the client's table, message).
#[derive(Debug, Default, Clone)]
pub struct ClientBlocks {
    /// `basic_auth`.
    pub basic_auth: Option<BasicAuthToml>,
    /// `authorization`.
    pub authorization: Option<AuthorizationToml>,
    /// `bearer_token` (deprecated in Prometheus, still read).
    pub bearer_token: Option<String>,
    /// `bearer_token_file`.
    pub bearer_token_file: Option<PathBuf>,
    /// `tls_config`.
    pub tls_config: Option<TlsConfigToml>,
}

type KeyErr = (String, String);

impl ClientBlocks {
    /// Checks the blocks as prometheus/common does.
    pub fn resolve(self) -> Result<HttpClient, KeyErr> {
        let err = |k: &str, m: &str| Err((k.to_string(), m.to_string()));
        let bearer = self.bearer_token.is_some() || self.bearer_token_file.is_some();
        if self.bearer_token.is_some() && self.bearer_token_file.is_some() {
            return err(
                "bearer_token",
                "at most one of bearer_token & bearer_token_file must be configured",
            );
        }
        if bearer && (self.basic_auth.is_some() || self.authorization.is_some()) {
            return err("bearer_token", "at most one of basic_auth, authorization and bearer_token & bearer_token_file must be configured");
        }
        if self.basic_auth.is_some() && self.authorization.is_some() {
            return err(
                "authorization",
                "at most one of basic_auth and authorization must be configured",
            );
        }
        let auth = if let Some(b) = self.basic_auth {
            let password = match (b.password, b.password_file) {
                (Some(_), Some(_)) => {
                    return err(
                        "basic_auth",
                        "at most one of password and password_file must be configured",
                    )
                }
                (Some(p), None) => Secret::Inline(p),
                (None, Some(f)) => Secret::File(f),
                (None, None) => Secret::Inline(String::new()),
            };
            Some(ClientAuth::Basic {
                username: b.username,
                password,
            })
        } else if let Some(a) = self.authorization {
            let kind = a.kind.unwrap_or_else(|| "Bearer".into());
            if kind.eq_ignore_ascii_case("basic") {
                return err(
                    "authorization.type",
                    "authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
                );
            }
            let credentials = match (a.credentials, a.credentials_file) {
                (Some(_), Some(_)) => {
                    return err("authorization", "at most one of authorization credentials & credentials_file must be configured")
                }
                (Some(c), None) => Secret::Inline(c),
                (None, Some(f)) => Secret::File(f),
                (None, None) => Secret::Inline(String::new()),
            };
            Some(ClientAuth::Header { kind, credentials })
        } else if let Some(t) = self.bearer_token {
            Some(ClientAuth::Header {
                kind: "Bearer".into(),
                credentials: Secret::Inline(t),
            })
        } else {
            self.bearer_token_file.map(|f| ClientAuth::Header {
                kind: "Bearer".into(),
                credentials: Secret::File(f),
            })
        };
        let tls = match self.tls_config {
            None => TlsClient::default(),
            Some(t) => t.resolve()?,
        };
        Ok(HttpClient { auth, tls })
    }
}

impl TlsConfigToml {
    fn resolve(self) -> Result<TlsClient, KeyErr> {
        let err = |k: &str, m: String| Err((format!("tls_config.{k}"), m));
        let version =
            |k: &str, v: &Option<String>, def: TlsVersion| -> Result<TlsVersion, KeyErr> {
                match v.as_deref() {
                    None => Ok(def),
                    // rustls has nothing older than 1.2: "at least 1.0" is 1.2.
                    Some("TLS10" | "TLS11") if k == "min_version" => Ok(TlsVersion::Tls12),
                    Some("TLS10" | "TLS11") => Err((
                        format!("tls_config.{k}"),
                        "cannot be below TLS12: picket's TLS (rustls) has TLS 1.2 and 1.3 only"
                            .into(),
                    )),
                    Some("TLS12") => Ok(TlsVersion::Tls12),
                    Some("TLS13") => Ok(TlsVersion::Tls13),
                    Some(o) => Err((
                        format!("tls_config.{k}"),
                        format!("unknown TLS version {o:?} (TLS10, TLS11, TLS12 or TLS13)"),
                    )),
                }
            };
        let min_version = version("min_version", &self.min_version, TlsVersion::Tls12)?;
        let max_version = version("max_version", &self.max_version, TlsVersion::Tls13)?;
        if min_version > max_version {
            return err("min_version", "is above max_version".into());
        }
        if let Some(n) = &self.server_name {
            let ok = !n.is_empty()
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-.:_".contains(c));
            if !ok {
                return err(
                    "server_name",
                    format!("{n:?} is not a DNS name or IP address"),
                );
            }
        }
        let cert = match (self.cert_file, self.key_file) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            (Some(_), None) => {
                return err(
                    "key_file",
                    "client cert file specified without client key file".into(),
                )
            }
            (None, Some(_)) => {
                return err(
                    "cert_file",
                    "client key file specified without client cert file".into(),
                )
            }
        };
        Ok(TlsClient {
            ca_file: self.ca_file,
            cert,
            insecure_skip_verify: self.insecure_skip_verify,
            server_name: self.server_name,
            min_version,
            max_version,
        })
    }
}

impl HttpClient {
    /// Makes relative file paths relative to `dir` (Prometheus reads them
    /// relative to the config file's directory).
    pub fn set_directory(&mut self, dir: &Path) {
        match &mut self.auth {
            Some(ClientAuth::Basic { password: s, .. })
            | Some(ClientAuth::Header { credentials: s, .. }) => s.anchor(dir),
            None => {}
        }
        let abs = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        };
        if let Some(c) = &mut self.tls.ca_file {
            abs(c);
        }
        if let Some((c, k)) = &mut self.tls.cert {
            abs(c);
            abs(k);
        }
    }

    /// The `Authorization` value for the next request, if any.
    pub fn authorization(&self) -> Result<Option<String>, String> {
        self.auth.as_ref().map(ClientAuth::header).transpose()
    }

    /// Checks that the TLS files can be read and parsed (at config time).
    pub fn check_files(&self) -> Result<(), KeyErr> {
        #[cfg(feature = "tls")]
        {
            let t = &self.tls;
            let key = if t.cert.is_some() {
                "tls_config.cert_file"
            } else {
                "tls_config.ca_file"
            };
            if t.ca_file.is_some() || t.cert.is_some() {
                super::client_tls::build(t).map_err(|m| (key.to_string(), m))?;
            }
        }
        Ok(())
    }
}

impl TlsClient {
    /// A ureq agent with `builder`'s settings and this TLS (the core's
    /// connector: files re-read when they change).
    #[cfg(feature = "tls")]
    pub fn agent(
        &self,
        builder: ureq::config::ConfigBuilder<ureq::typestate::AgentScope>,
    ) -> ureq::Agent {
        super::client_tls::agent(builder, self)
    }

    /// Without TLS support: plain ureq (https URLs fail on use).
    #[cfg(not(feature = "tls"))]
    pub fn agent(
        &self,
        builder: ureq::config::ConfigBuilder<ureq::typestate::AgentScope>,
    ) -> ureq::Agent {
        builder.build().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_exclude_each_other_as_in_prometheus() {
        let basic = Some(BasicAuthToml {
            username: "u".into(),
            password: Some("p".into()),
            password_file: None,
        });
        let authz = Some(AuthorizationToml {
            kind: None,
            credentials: Some("t".into()),
            credentials_file: None,
        });
        for (b, key) in [
            (
                ClientBlocks {
                    basic_auth: basic.clone(),
                    authorization: authz.clone(),
                    ..Default::default()
                },
                "authorization",
            ),
            (
                ClientBlocks {
                    basic_auth: basic.clone(),
                    bearer_token: Some("x".into()),
                    ..Default::default()
                },
                "bearer_token",
            ),
            (
                ClientBlocks {
                    bearer_token: Some("x".into()),
                    bearer_token_file: Some("f".into()),
                    ..Default::default()
                },
                "bearer_token",
            ),
            (
                ClientBlocks {
                    authorization: Some(AuthorizationToml {
                        kind: Some("Basic".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                "authorization.type",
            ),
            (
                ClientBlocks {
                    tls_config: Some(TlsConfigToml {
                        cert_file: Some("c".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                "tls_config.key_file",
            ),
            (
                ClientBlocks {
                    tls_config: Some(TlsConfigToml {
                        server_name: Some("a b".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                "tls_config.server_name",
            ),
            (
                ClientBlocks {
                    tls_config: Some(TlsConfigToml {
                        max_version: Some("TLS11".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                "tls_config.max_version",
            ),
        ] {
            assert_eq!(b.resolve().unwrap_err().0, key);
        }
        let c = ClientBlocks {
            authorization: authz,
            ..Default::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(c.authorization().unwrap().as_deref(), Some("Bearer t"));
        let c = ClientBlocks {
            basic_auth: basic,
            ..Default::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(c.authorization().unwrap().as_deref(), Some("Basic dTpw"));
        assert!(format!("{c:?}").contains("Inline(<secret>)"), "{c:?}");
    }

    #[test]
    fn files_are_read_per_request_and_never_shown() {
        let dir = std::env::temp_dir().join(format!("picket-client-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("tok"), "first\n").unwrap();
        let mut c = ClientBlocks {
            bearer_token_file: Some("tok".into()),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        c.set_directory(&dir);
        assert_eq!(c.authorization().unwrap().as_deref(), Some("Bearer first"));
        std::fs::write(dir.join("tok"), "second").unwrap();
        assert_eq!(c.authorization().unwrap().as_deref(), Some("Bearer second"));
        std::fs::remove_file(dir.join("tok")).unwrap();
        let e = c.authorization().unwrap_err();
        assert!(e.contains("tok") && !e.contains("second"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
