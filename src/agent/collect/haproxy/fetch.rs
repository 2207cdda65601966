//! Getting the stats out of HAProxy: an HTTP(S) GET of the `;csv` page, or
//! `show info` then `show stat` on the stats socket (unix or tcp), as
//! haproxy_exporter does.
//!
//! Blocking: runs on the target's deadline thread, and bounds itself too
//! (connect, read and write timeouts from one end instant), so a hanging
//! HAProxy frees the thread soon after the scrape has given up on it.
//! Credentials in the URI are taken out before the URL reaches the HTTP
//! client and never appear in an error: errors name [`redact`]ed URIs.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use picket_core::http::base64;

/// The most of one response kept (a stats page of a thousand servers is
/// well under 1 MiB).
pub(crate) const MAX_BODY: usize = 32 << 20;

/// Where the stats are, parsed from a scrape URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// `http(s)://...`: the URL without userinfo, and the basic-auth
    /// header value when the URI had a user.
    Http {
        /// The URL as requested (no credentials).
        url: String,
        /// `Basic <base64>` when the URI carried `user[:pass]@`.
        auth: Option<String>,
        /// `https`.
        tls: bool,
    },
    /// `unix:/path`: the socket path.
    Unix(String),
    /// `tcp://host:port`: the address.
    Tcp(String),
}

impl Source {
    /// Parses a scrape URI (`resolve` already checked the scheme).
    pub(crate) fn parse(uri: &str) -> Result<Source, String> {
        if let Some(rest) = uri.strip_prefix("unix:") {
            // unix:/p and unix:///p both mean /p, as url.Parse reads them.
            let path = match rest.strip_prefix("//") {
                Some(p) if p.starts_with('/') => p,
                _ => rest,
            };
            if path.is_empty() {
                return Err("no socket path after unix:".into());
            }
            return Ok(Source::Unix(path.to_string()));
        }
        if let Some(rest) = uri.strip_prefix("tcp://") {
            let addr = rest.split(['/', '?', '#']).next().unwrap_or_default();
            if addr.is_empty() {
                return Err("no host:port after tcp://".into());
            }
            return Ok(Source::Tcp(addr.to_string()));
        }
        let (scheme, rest) = uri
            .split_once("://")
            .ok_or_else(|| "expected http://, https://, unix: or tcp://".to_string())?;
        let tls = match scheme {
            "http" => false,
            "https" => true,
            _ => return Err(format!("unsupported scheme {scheme:?}")),
        };
        let (authority, path) = split_authority(rest);
        let (userinfo, host) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        if host.is_empty() {
            return Err("no host".into());
        }
        let auth = userinfo.map(|ui| {
            let (user, pass) = ui.split_once(':').unwrap_or((ui, ""));
            let creds = [percent_decode(user), b":".to_vec(), percent_decode(pass)].concat();
            format!("Basic {}", base64(&creds))
        });
        Ok(Source::Http {
            url: format!("{scheme}://{host}{path}"),
            auth,
            tls,
        })
    }
}

/// `host[:port]` and what follows (`/path?query`), of the part after `://`.
fn split_authority(rest: &str) -> (&str, &str) {
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    rest.split_at(end)
}

/// The URI with any password replaced by `xxxxx` (as Go's `URL.Redacted`),
/// for logs, errors and labels.
pub fn redact(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return uri.to_string();
    };
    let (authority, path) = split_authority(rest);
    let Some(at) = authority.rfind('@') else {
        return uri.to_string();
    };
    let (userinfo, host) = (&authority[..at], &authority[at + 1..]);
    let user = match userinfo.split_once(':') {
        Some((u, _)) => format!("{u}:xxxxx"),
        None => userinfo.to_string(),
    };
    format!("{scheme}://{user}@{host}{path}")
}

/// `%XX` escapes decoded; anything malformed is kept as it is.
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).and_then(|&c| hex(c)),
            b.get(i + 2).and_then(|&c| hex(c)),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// A response body, whole or cut short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Body {
    /// All of it.
    Whole(Vec<u8>),
    /// What arrived before the error (as the exporter, the complete rows
    /// of it are kept, and the scrape fails).
    Cut(Vec<u8>, String),
    /// Nothing usable.
    Failed(String),
}

/// What one scrape fetched: `show info` (sockets only) and the stats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fetched {
    /// `show info`'s answer, for socket URIs.
    pub info: Option<Vec<u8>>,
    /// The CSV.
    pub stat: Body,
}

/// Fetches from `source` until `end` at the latest. `agent` is called for
/// HTTP(S) only and gives the target's (cached) client.
pub(crate) fn fetch(
    source: &Source,
    end: Instant,
    agent: impl FnOnce() -> Result<ureq::Agent, String>,
) -> Fetched {
    match source {
        Source::Http { url, auth, .. } => Fetched {
            info: None,
            stat: match agent() {
                Ok(a) => http(&a, url, auth.as_deref()),
                Err(e) => Body::Failed(e),
            },
        },
        Source::Unix(_) | Source::Tcp(_) => {
            // Like the exporter, `show info` then `show stat`, and if `show
            // info` fails so does the scrape; but both on one connection
            // (HAProxy runs `;`-separated commands in turn and ends each
            // answer with an empty line), which halves the connects.
            split_answers(command(source, b"show info;show stat\n", end))
        }
    }
}

/// Splits the answer to `show info;show stat` at the empty line that ends
/// `show info`'s part.
fn split_answers(body: Body) -> Fetched {
    fn split(b: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
        let i = b.windows(2).position(|w| w == b"\n\n")?;
        Some((b[..=i].to_vec(), b[i + 2..].to_vec()))
    }
    let failed = |e: String| Fetched {
        info: None,
        stat: Body::Failed(format!("show info: {e}")),
    };
    match body {
        Body::Whole(b) => match split(&b) {
            Some((info, stat)) => Fetched {
                info: Some(info),
                stat: Body::Whole(stat),
            },
            None => Fetched {
                info: Some(b),
                stat: Body::Failed("no answer to show stat".into()),
            },
        },
        Body::Cut(b, e) => match split(&b) {
            Some((info, stat)) => Fetched {
                info: Some(info),
                stat: Body::Cut(stat, e),
            },
            None => failed(e),
        },
        Body::Failed(e) => failed(e),
    }
}

/// A client for one target: its timeout, no proxy from the environment (as
/// the exporter without `--http.proxy-from-env`), status codes as values.
pub(crate) fn agent(
    timeout: Duration,
    tls_settings: &picket_core::web::client::TlsClient,
    tls: bool,
) -> Result<ureq::Agent, String> {
    let builder = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .proxy(None)
        .user_agent(concat!("picket/", env!("CARGO_PKG_VERSION")));
    if tls && !cfg!(feature = "tls") {
        return Err("https needs picket built with the tls feature".into());
    }
    Ok(tls_settings.agent(builder))
}

fn http(agent: &ureq::Agent, url: &str, auth: Option<&str>) -> Body {
    let mut req = agent.get(url);
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    let mut resp = match req.call() {
        Ok(r) => r,
        Err(e) => return Body::Failed(e.to_string()),
    };
    let status = resp.status();
    if !status.is_success() {
        return Body::Failed(format!("HTTP status {}", status.as_u16()));
    }
    let reader = resp
        .body_mut()
        .with_config()
        .limit(MAX_BODY as u64 + 1)
        .reader();
    read_all(reader)
}

/// Reads to EOF, keeping what arrived before an error, at most [`MAX_BODY`].
fn read_all(mut r: impl Read) -> Body {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match r.read(&mut chunk) {
            Ok(0) => return Body::Whole(buf),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > MAX_BODY {
                    buf.truncate(MAX_BODY);
                    return Body::Cut(buf, format!("response larger than {MAX_BODY} bytes"));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Body::Cut(buf, format!("reading the response: {e}")),
        }
    }
}

/// The time left before `end`, or a timeout error.
fn left(end: Instant) -> io::Result<Duration> {
    let d = end.saturating_duration_since(Instant::now());
    if d.is_zero() {
        Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"))
    } else {
        Ok(d)
    }
}

/// A stats socket connection.
enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Conn {
    fn open(source: &Source, end: Instant) -> io::Result<Conn> {
        match source {
            Source::Unix(path) => UnixStream::connect(path).map(Conn::Unix),
            Source::Tcp(addr) => {
                let mut last = None;
                for a in addr.to_socket_addrs()? {
                    match TcpStream::connect_timeout(&a, left(end)?) {
                        Ok(s) => return Ok(Conn::Tcp(s)),
                        Err(e) => last = Some(e),
                    }
                }
                Err(last.unwrap_or_else(|| {
                    io::Error::new(io::ErrorKind::NotFound, "no address for the host")
                }))
            }
            Source::Http { .. } => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a socket URI",
            )),
        }
    }

    fn set_timeouts(&self, d: Duration) -> io::Result<()> {
        match self {
            Conn::Unix(s) => {
                s.set_read_timeout(Some(d))?;
                s.set_write_timeout(Some(d))
            }
            Conn::Tcp(s) => {
                s.set_read_timeout(Some(d))?;
                s.set_write_timeout(Some(d))
            }
        }
    }
}

/// A `Read` over a connection that re-arms its timeout from `end` before
/// every read, so the whole answer is bounded, not each read.
struct Bounded {
    conn: Conn,
    end: Instant,
}

impl Read for Bounded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.conn.set_timeouts(left(self.end)?)?;
        match &mut self.conn {
            Conn::Unix(s) => s.read(buf),
            Conn::Tcp(s) => s.read(buf),
        }
    }
}

/// Sends one command in HAProxy's non-interactive mode (it answers and
/// closes) and reads the answer to EOF.
fn command(source: &Source, cmd: &[u8], end: Instant) -> Body {
    let mut conn = match Conn::open(source, end) {
        Ok(c) => c,
        Err(e) => return Body::Failed(format!("connect: {e}")),
    };
    let sent = left(end)
        .and_then(|d| conn.set_timeouts(d))
        .and_then(|()| match &mut conn {
            Conn::Unix(s) => s.write_all(cmd),
            Conn::Tcp(s) => s.write_all(cmd),
        });
    if let Err(e) = sent {
        return Body::Failed(format!("sending the command: {e}"));
    }
    read_all(Bounded { conn, end })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_parse_as_the_exporter_reads_them() {
        assert_eq!(
            Source::parse("http://user:p%40ss@127.0.0.1:8404/stats;csv").unwrap(),
            Source::Http {
                url: "http://127.0.0.1:8404/stats;csv".into(),
                auth: Some(format!("Basic {}", base64(b"user:p@ss"))),
                tls: false,
            }
        );
        assert_eq!(
            Source::parse("https://lb.example/haproxy?stats;csv").unwrap(),
            Source::Http {
                url: "https://lb.example/haproxy?stats;csv".into(),
                auth: None,
                tls: true,
            }
        );
        // The last @ ends the userinfo, as in Go's url.Parse.
        assert_eq!(
            Source::parse("http://u:a@b@h/;csv").unwrap(),
            Source::Http {
                url: "http://h/;csv".into(),
                auth: Some(format!("Basic {}", base64(b"u:a@b"))),
                tls: false,
            }
        );
        assert_eq!(
            Source::parse("unix:/run/haproxy/admin.sock").unwrap(),
            Source::Unix("/run/haproxy/admin.sock".into())
        );
        assert_eq!(
            Source::parse("unix:///run/haproxy/admin.sock").unwrap(),
            Source::Unix("/run/haproxy/admin.sock".into())
        );
        assert_eq!(
            Source::parse("tcp://127.0.0.1:9999").unwrap(),
            Source::Tcp("127.0.0.1:9999".into())
        );
        for bad in ["unix:", "tcp://", "http://", "ftp://x/", "x"] {
            assert!(Source::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn one_answer_splits_into_info_and_stat() {
        let f = split_answers(Body::Whole(
            b"Name: HAProxy\nVersion: 2.6\n\n# pxname,svname\nfe,FRONTEND\n\n".to_vec(),
        ));
        assert_eq!(
            f.info.as_deref(),
            Some(&b"Name: HAProxy\nVersion: 2.6\n"[..])
        );
        assert_eq!(
            f.stat,
            Body::Whole(b"# pxname,svname\nfe,FRONTEND\n\n".to_vec())
        );
        // Cut inside the CSV: info kept, the complete rows count later.
        let f = split_answers(Body::Cut(
            b"Name: HAProxy\n\n# pxname\nfe".to_vec(),
            "reset".into(),
        ));
        assert!(f.info.is_some());
        assert_eq!(f.stat, Body::Cut(b"# pxname\nfe".to_vec(), "reset".into()));
        // Cut inside the info: the scrape fails, as when show info failed.
        let f = split_answers(Body::Cut(b"Name: HAP".to_vec(), "reset".into()));
        assert_eq!(
            (f.info, f.stat),
            (None, Body::Failed("show info: reset".into()))
        );
        // No second answer at all.
        let f = split_answers(Body::Whole(b"Unknown command.\n".to_vec()));
        assert_eq!(f.stat, Body::Failed("no answer to show stat".into()));
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("http://user:secret@127.0.0.1:8404/stats;csv"),
            "http://user:xxxxx@127.0.0.1:8404/stats;csv"
        );
        assert_eq!(redact("http://a:b@c@h/x?y"), "http://a:xxxxx@h/x?y");
        assert_eq!(redact("http://user@h/;csv"), "http://user@h/;csv");
        assert_eq!(redact("http://h/;csv?a=b@c"), "http://h/;csv?a=b@c");
        assert_eq!(redact("unix:/run/x.sock"), "unix:/run/x.sock");
    }

    #[test]
    fn base64_matches_rfc4648() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
        assert_eq!(percent_decode("a%41%zz%4"), b"aA%zz%4");
    }
}
