//! The web side both binaries serve through: exporter-toolkit's
//! `--web.config.file` (TLS, mutual TLS, bcrypt basic auth, response
//! headers, a rate limit) in front of one HTTP/1.1 server loop.
//!
//! ```text
//! listener → conn (plain, or TLS: plain HTTP on the TLS port gets Go's 400)
//!          → server (read the head, rate limit, auth, read the body)
//!          → the binary's Handler (agent: /metrics; hub: the APIs)
//! ```
//!
//! The file is read at start (errors stop the binary, naming file, line
//! and key) and again whenever it or a certificate, key or CA file it
//! names changes, checked on every request and handshake as
//! exporter-toolkit re-reads it: users, headers and certificates follow
//! without a restart. Whether the port speaks TLS at all, and the rate
//! limit, are fixed at start, as there. A file that breaks while running
//! fails closed: 500 for plain HTTP, a failed handshake for TLS, until it
//! is fixed.

pub mod auth;
pub mod client;
#[cfg(feature = "tls")]
pub mod client_tls;
pub mod config;
mod conn;
mod server;
#[cfg(feature = "tls")]
pub mod tls;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

pub use self::config::WebConfig;
pub use conn::Conn;
pub use server::{serve, Handler, Limits};

use crate::config::ConfigError;

/// A file's identity for change detection: modification time and size.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(p: &Path) -> Stamp {
    let m = std::fs::metadata(p).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// The web config in force: parsed, with its TLS server configuration.
#[derive(Debug)]
pub(crate) struct Current {
    /// The parsed file (or an error: fail closed).
    pub cfg: Result<WebConfig, String>,
    #[cfg(feature = "tls")]
    pub server: Option<Arc<rustls::ServerConfig>>,
    /// The stamps of the file and of the PEM files it names.
    stamps: Vec<(PathBuf, Stamp)>,
}

/// The web config of a running server, re-read when its files change.
#[derive(Debug)]
pub struct Web {
    file: Option<PathBuf>,
    tls: bool,
    current: Mutex<Arc<Current>>,
    auth: Arc<auth::Auth>,
    limiter: Option<Mutex<Bucket>>,
}

impl Web {
    /// No web config: plain HTTP, no auth.
    pub fn plain() -> Arc<Web> {
        Arc::new(Web {
            file: None,
            tls: false,
            current: Mutex::new(Arc::new(Current {
                cfg: Ok(WebConfig::default()),
                #[cfg(feature = "tls")]
                server: None,
                stamps: Vec::new(),
            })),
            auth: Arc::default(),
            limiter: None,
        })
    }

    /// Reads `file` (none: [`Web::plain`]). Any error stops the binary:
    /// a server must not start open when its owner asked for auth.
    pub fn open(file: Option<&Path>) -> Result<Arc<Web>, ConfigError> {
        let Some(file) = file else {
            return Ok(Web::plain());
        };
        let cfg = config::load(file)?;
        let current = build(file, cfg.clone()).map_err(|msg| {
            let (key, line) = failed_key(file, &cfg, &msg);
            ConfigError {
                file: Some(file.to_path_buf()),
                line,
                key: Some(key),
                msg,
            }
        })?;
        Ok(Arc::new(Web {
            file: Some(file.to_path_buf()),
            tls: cfg.tls.is_some(),
            current: Mutex::new(Arc::new(current)),
            auth: Arc::default(),
            limiter: cfg.rate_limit.map(|r| Mutex::new(Bucket::new(r))),
        }))
    }

    /// Whether the port speaks TLS (fixed at start).
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The config in force, re-read first if a file changed.
    pub(crate) fn current(&self) -> Arc<Current> {
        let Some(file) = &self.file else {
            return lock(&self.current).clone();
        };
        let cur = lock(&self.current).clone();
        if cur.stamps.iter().all(|(p, s)| stamp(p) == *s) {
            return cur;
        }
        let next = match config::load(file) {
            Ok(cfg) if cfg.tls.is_some() != self.tls => {
                Err((cfg, "switching TLS on or off needs a restart".to_string()))
            }
            Ok(cfg) => build(file, cfg.clone()).map_err(|e| (cfg, e)),
            Err(e) => Err((WebConfig::default(), e.to_string())),
        };
        let next = match next {
            Ok(c) => {
                log::info!("web config {} reloaded", file.display());
                c
            }
            Err((cfg, e)) => {
                log::error!(
                    "web config {} is broken, refusing requests until it is fixed: {e}",
                    file.display()
                );
                Current {
                    cfg: Err(e),
                    #[cfg(feature = "tls")]
                    server: None,
                    stamps: stamps_of(file, &cfg),
                }
            }
        };
        let next = Arc::new(next);
        *lock(&self.current) = next.clone();
        next
    }

    /// Takes a token from the rate limit; `false`: answer 429.
    pub(crate) fn admit(&self) -> bool {
        self.limiter
            .as_ref()
            .is_none_or(|b| lock(b).take(Instant::now()))
    }

    /// The basic-auth checker (shared with the blocking pool).
    pub(crate) fn auth(&self) -> Arc<auth::Auth> {
        self.auth.clone()
    }
}

/// The key (and its line) of the certificate, key or CA file a TLS error
/// names; the section when none does (a pair that does not match).
fn failed_key(file: &Path, cfg: &WebConfig, msg: &str) -> (String, Option<usize>) {
    let section = ("tls_server_config".to_string(), None);
    let Some(t) = &cfg.tls else { return section };
    let named = [
        ("cert_file", Some(&t.cert)),
        ("key_file", Some(&t.key)),
        ("client_ca_file", t.client_ca.as_ref()),
    ]
    .into_iter()
    .find_map(|(k, p)| match p {
        Some(config::Pem::File(f)) if msg.contains(&*f.to_string_lossy()) => Some(k),
        _ => None,
    });
    let Some(k) = named else { return section };
    let line = std::fs::read_to_string(file).ok().and_then(|src| {
        src.lines()
            .position(|l| l.trim_start().starts_with(&format!("{k}:")))
            .map(|i| i + 1)
    });
    (format!("tls_server_config.{k}"), line)
}

/// The files whose change means a reload: the config and its PEM files.
fn stamps_of(file: &Path, cfg: &WebConfig) -> Vec<(PathBuf, Stamp)> {
    let mut paths = vec![file.to_path_buf()];
    if let Some(t) = &cfg.tls {
        for p in [Some(&t.cert), Some(&t.key), t.client_ca.as_ref()]
            .into_iter()
            .flatten()
        {
            if let config::Pem::File(f) = p {
                paths.push(f.clone());
            }
        }
    }
    paths
        .into_iter()
        .map(|p| {
            let s = stamp(&p);
            (p, s)
        })
        .collect()
}

fn build(file: &Path, cfg: WebConfig) -> Result<Current, String> {
    let stamps = stamps_of(file, &cfg);
    #[cfg(feature = "tls")]
    let server = match &cfg.tls {
        Some(t) => Some(tls::server_config(t)?),
        None => None,
    };
    #[cfg(not(feature = "tls"))]
    if cfg.tls.is_some() {
        return Err("this build has no TLS (built without the `tls` feature)".into());
    }
    Ok(Current {
        cfg: Ok(cfg),
        #[cfg(feature = "tls")]
        server,
        stamps,
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A token bucket: `burst` tokens, one more every `interval`.
#[derive(Debug)]
struct Bucket {
    interval: Duration,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(r: config::RateLimit) -> Bucket {
        Bucket {
            interval: r.interval,
            burst: f64::from(r.burst),
            tokens: f64::from(r.burst),
            at: Instant::now(),
        }
    }

    fn take(&mut self, now: Instant) -> bool {
        let refill = now.duration_since(self.at).as_secs_f64() / self.interval.as_secs_f64();
        self.tokens = (self.tokens + refill).min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refills_at_its_rate() {
        let mut b = Bucket::new(config::RateLimit {
            interval: Duration::from_millis(100),
            burst: 2,
        });
        let t0 = b.at;
        assert!(b.take(t0));
        assert!(b.take(t0));
        assert!(!b.take(t0));
        assert!(!b.take(t0 + Duration::from_millis(50)));
        assert!(b.take(t0 + Duration::from_millis(101)));
    }

    #[test]
    fn a_file_that_breaks_fails_closed_and_recovers() {
        let dir = std::env::temp_dir().join(format!("picket-web-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("web.yml");
        std::fs::write(&f, "basic_auth_users: {}\n").unwrap();
        let web = Web::open(Some(&f)).unwrap();
        assert!(web.current().cfg.is_ok());
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&f, "basic_auth_users: [\n").unwrap();
        assert!(web.current().cfg.is_err());
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&f, "basic_auth_users:\n  a: $2y$04$Sdvk/ScOOi55si0ryoW0FOPa1OLmcQ2xUTqa99f7kVxnX/j/LlVa.\n").unwrap();
        assert_eq!(web.current().cfg.as_ref().unwrap().users.len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
