//! Minimal HTTP/1.1 over smol: read one request (httparse), write one response.
//!
//! Just what a metrics endpoint (and later the hub's APIs) needs: bounded
//! header size, a read timeout, Content-Length bodies up to a limit,
//! keep-alive, and query-string decoding. No chunked request bodies: a
//! request that uses them gets 411, as many small servers answer.

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::time::Duration;

use smol::future::FutureExt;
use smol::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest request head (request line + headers) accepted.
pub(crate) const MAX_HEAD: usize = 16 * 1024;

/// One parsed request.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// The raw query string (after `?`), not decoded.
    pub query: String,
    /// Header (lower-cased name, value) pairs.
    pub headers: Vec<(String, String)>,
    /// The body (empty for GET).
    pub body: Vec<u8>,
    /// Whether the client wants the connection kept open.
    pub keep_alive: bool,
}

impl Request {
    /// The first header named `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether `Accept-Encoding` allows gzip.
    pub fn accepts_gzip(&self) -> bool {
        self.header("accept-encoding").is_some_and(|v| {
            v.split(',').any(|e| {
                let mut parts = e.split(';');
                let name = parts.next().unwrap_or("").trim();
                let q_zero = parts.any(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .and_then(|q| q.trim().parse::<f32>().ok())
                        == Some(0.0)
                });
                name.eq_ignore_ascii_case("gzip") && !q_zero
            })
        })
    }

    /// Decoded query parameters in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        parse_query(&self.query)
    }
}

/// Why no request could be read.
#[derive(Debug)]
pub enum ReadError {
    /// The peer closed the connection between requests (not an error).
    Closed,
    /// The peer was too slow.
    Timeout,
    /// Answer with this status and message, then close.
    Bad(u16, &'static str),
    /// Socket error.
    Io(io::Error),
}

/// Reads one request from `stream`. `buf` carries bytes already read
/// (pipelining) between calls and keeps its capacity.
pub async fn read_request<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    timeout: Duration,
    max_body: usize,
) -> Result<Request, ReadError> {
    within(timeout, async {
        let (mut req, len) = read_head(stream, buf, max_body).await?;
        read_body(stream, buf, &mut req, len).await?;
        Ok(req)
    })
    .await
}

/// Runs `f` with a deadline; [`ReadError::Timeout`] when it passes.
pub async fn within<T>(
    timeout: Duration,
    f: impl std::future::Future<Output = Result<T, ReadError>>,
) -> Result<T, ReadError> {
    let deadline = smol::Timer::after(timeout);
    f.or(async {
        deadline.await;
        Err(ReadError::Timeout)
    })
    .await
}

/// Reads a request's head (the body is left for [`read_body`], so a
/// server can refuse before reading it): the request and its
/// Content-Length, checked against `max_body`.
pub async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    max_body: usize,
) -> Result<(Request, usize), ReadError> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(done) = parse_head(buf, max_body)? {
            return Ok(done);
        }
        if buf.len() >= MAX_HEAD {
            return Err(ReadError::Bad(431, "request header fields too large\n"));
        }
        let n = stream.read(&mut chunk).await.map_err(ReadError::Io)?;
        if n == 0 {
            return Err(if buf.is_empty() {
                ReadError::Closed
            } else {
                ReadError::Bad(400, "incomplete request\n")
            });
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Reads `len` body bytes into `req.body`.
pub async fn read_body<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    req: &mut Request,
    len: usize,
) -> Result<(), ReadError> {
    let mut chunk = [0u8; 4096];
    while buf.len() < len {
        let n = stream.read(&mut chunk).await.map_err(ReadError::Io)?;
        if n == 0 {
            return Err(ReadError::Bad(400, "body shorter than Content-Length\n"));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    req.body = buf.drain(..len).collect();
    Ok(())
}

/// Parses a complete head at the start of `buf` (removing it), or
/// `None` when more bytes are needed.
pub fn parse_head(
    buf: &mut Vec<u8>,
    max_body: usize,
) -> Result<Option<(Request, usize)>, ReadError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(ReadError::Bad(431, "too many request header fields\n"))
        }
        Err(_) => return Err(ReadError::Bad(400, "malformed HTTP request\n")),
    };
    let mut r = Request {
        method: req.method.unwrap_or("").to_string(),
        ..Request::default()
    };
    let target = req.path.unwrap_or("/");
    match target.split_once('?') {
        Some((p, q)) => {
            r.path = p.to_string();
            r.query = q.to_string();
        }
        None => r.path = target.to_string(),
    }
    let http11 = req.version == Some(1);
    for h in req.headers.iter() {
        let value = String::from_utf8_lossy(h.value).trim().to_string();
        r.headers.push((h.name.to_ascii_lowercase(), value));
    }
    let conn = r.header("connection").map(str::to_ascii_lowercase);
    r.keep_alive = match conn.as_deref() {
        Some(c) if c.contains("close") => false,
        Some(c) if c.contains("keep-alive") => true,
        _ => http11,
    };
    if r.header("transfer-encoding").is_some() {
        return Err(ReadError::Bad(
            411,
            "chunked request bodies are not supported; send Content-Length\n",
        ));
    }
    let len = match r.header("content-length") {
        None => 0,
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| ReadError::Bad(400, "invalid Content-Length\n"))?,
    };
    if len > max_body {
        return Err(ReadError::Bad(413, "request body too large\n"));
    }
    buf.drain(..head_len);
    Ok(Some((r, len)))
}

/// Standard base64 with padding (RFC 4648), for `Authorization: Basic`
/// headers.
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let b = |i: usize| u32::from(c.get(i).copied().unwrap_or(0));
        let n = (b(0) << 16) | (b(1) << 8) | b(2);
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The reason phrase for the statuses picket uses.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Writes a complete response with a Content-Length body.
pub async fn write_response<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
    keep_alive: bool,
) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", status, reason(status));
    for (n, v) in headers {
        head.push_str(n);
        head.push_str(": ");
        head.push_str(v);
        head.push_str("\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    if !keep_alive {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    // One write for head and body: one packet for a small response, and a
    // client that reads once gets all of it.
    let mut msg = head.into_bytes();
    msg.extend_from_slice(body);
    stream.write_all(&msg).await?;
    stream.flush().await
}

/// Decodes `a=1&b%5B%5D=x+y` into pairs (`+` is a space, `%XX` a byte).
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Decodes `%XX` escapes and `+`; invalid escapes are kept as written.
pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Binds `addr` the way node_exporter does: `:9100` means every address
/// (IPv6 and IPv4 where the board has IPv6, IPv4 otherwise).
pub fn bind(addr: &str) -> io::Result<TcpListener> {
    if let Some(port) = addr.strip_prefix(':') {
        return TcpListener::bind(format!("[::]:{port}"))
            .or_else(|_| TcpListener::bind(format!("0.0.0.0:{port}")));
    }
    let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
    TcpListener::bind(&addrs[..])
}

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }
}
