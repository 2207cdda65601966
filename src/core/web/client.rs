//! The client side, in Prometheus's own block names (`<http_config>` of
//! prometheus/common): `basic_auth`, `authorization`, `bearer_token(_file)`
//! and `tls_config`, for every HTTP client of both binaries (the hub's
//! scrapes and Alertmanager client, the agent's remote_write).
//!
//! As in Prometheus: `password_file` and `credentials_file` are read on
//! every request and trimmed, so a rotated secret needs no reload; the
//! blocks exclude each other as there (`authorization` with `basic_auth`,
//! `bearer_token` with either); `type: basic` is refused. Secrets never
//! reach a Debug dump or an error message. TLS: `ca_file` (a private CA
//! instead of the webpki roots), `cert_file`/`key_file` (a client
//! certificate), `insecure_skip_verify`; `min_version` up to TLS12 is what
//! rustls does anyway; `server_name` and `min_version: TLS13` are refused
//! with the reason (ureq's rustls connector names the server after the
//! URL's host and offers TLS 1.2 and 1.3).

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
    /// Prometheus's SNI / verification name override (refused, see above).
    pub server_name: Option<String>,
    /// Skip server certificate verification.
    pub insecure_skip_verify: bool,
    /// Lowest TLS version.
    pub min_version: Option<String>,
    /// Highest TLS version.
    pub max_version: Option<String>,
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

/// Client TLS settings, resolved.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TlsClient {
    /// Trusted CAs instead of the webpki roots.
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key.
    pub cert: Option<(PathBuf, PathBuf)>,
    /// Skip verification.
    pub insecure_skip_verify: bool,
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
        if self.server_name.is_some() {
            return err("server_name", "is not supported: picket verifies the server under the URL's host name (use a URL whose host is in the certificate)".into());
        }
        for (k, v) in [
            ("min_version", &self.min_version),
            ("max_version", &self.max_version),
        ] {
            match v.as_deref() {
                None => {}
                Some("TLS10" | "TLS11" | "TLS12") if k == "min_version" => {}
                Some("TLS13") if k == "max_version" => {}
                Some("TLS13") => {
                    return err(
                        k,
                        "TLS13 cannot be enforced: picket's client offers TLS 1.2 and 1.3".into(),
                    )
                }
                Some("TLS10" | "TLS11" | "TLS12") => {
                    return err(
                        k,
                        "cannot be set below TLS13: picket's client offers TLS 1.2 and 1.3".into(),
                    )
                }
                Some(o) => {
                    return err(
                        k,
                        format!("unknown TLS version {o:?} (TLS10, TLS11, TLS12 or TLS13)"),
                    )
                }
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
            self.tls.tls_config()?;
        }
        Ok(())
    }
}

impl TlsClient {
    /// ureq's TLS settings for this client (reads the CA, certificate and
    /// key files). Errors are (key, message).
    #[cfg(feature = "tls")]
    pub fn tls_config(&self) -> Result<ureq::tls::TlsConfig, KeyErr> {
        use super::config::Pem;
        use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts};
        let mut b = ureq::tls::TlsConfig::builder().disable_verification(self.insecure_skip_verify);
        if let Some(ca) = &self.ca_file {
            let certs = super::tls::certs(&Pem::File(ca.clone()))
                .map_err(|m| ("tls_config.ca_file".to_string(), m))?;
            let certs: Vec<Certificate<'static>> = certs
                .into_iter()
                .map(|c| Certificate::from_der(c.as_ref()).to_owned())
                .collect();
            b = b.root_certs(RootCerts::Specific(std::sync::Arc::new(certs)));
        }
        if let Some((cert, key)) = &self.cert {
            let chain = super::tls::certs(&Pem::File(cert.clone()))
                .map_err(|m| ("tls_config.cert_file".to_string(), m))?;
            let chain: Vec<Certificate<'static>> = chain
                .into_iter()
                .map(|c| Certificate::from_der(c.as_ref()).to_owned())
                .collect();
            let text = super::tls::pem_text(&Pem::File(key.clone()))
                .map_err(|m| ("tls_config.key_file".to_string(), m))?;
            let key = PrivateKey::from_pem(&text).map_err(|_| {
                (
                    "tls_config.key_file".to_string(),
                    format!("{}: no private key found", key.display()),
                )
            })?;
            b = b.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
        }
        Ok(b.build())
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
                        server_name: Some("x".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                "tls_config.server_name",
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
