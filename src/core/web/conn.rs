//! One accepted connection, plain or TLS, and how it is accepted.
//!
//! On a TLS port the first bytes decide: a TLS handshake starts with
//! record type 22; anything else that looks like an HTTP request gets the
//! exact answer Go's server gives (`HTTP/1.0 400 Bad Request`, "Client
//! sent an HTTP request to an HTTPS server."), and other bytes just a
//! close, as there. A handshake has the request read timeout to finish,
//! so a client that opens connections and stalls holds nothing for long.

use std::io;
use std::net::TcpStream;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use smol::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use smol::Async;

use super::Web;
use crate::http;

/// What Go's HTTP server writes when plain HTTP reaches its TLS port.
const PLAIN_ON_TLS: &[u8] =
    b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

enum Io {
    Plain(Async<TcpStream>),
    #[cfg(feature = "tls")]
    Tls(Box<futures_rustls::server::TlsStream<Async<TcpStream>>>),
}

/// An accepted connection: the stream, and the response headers the web
/// config adds to every answer on it.
pub struct Conn {
    io: Io,
    pub(crate) headers: Arc<Vec<(String, String)>>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.io {
            Io::Plain(_) => "plain",
            #[cfg(feature = "tls")]
            Io::Tls(_) => "tls",
        };
        write!(f, "Conn({kind})")
    }
}

impl Conn {
    /// Accepts `stream` under `web`: plain, or a finished TLS handshake.
    /// `None`: the connection was answered or dropped here.
    pub(crate) async fn accept(
        stream: Async<TcpStream>,
        web: &Web,
        timeout: Duration,
    ) -> Option<Conn> {
        let _ = stream.get_ref().set_nodelay(true);
        if !web.is_tls() {
            return Some(Conn {
                io: Io::Plain(stream),
                headers: Arc::default(),
            });
        }
        let first = smol::future::or(
            async {
                let mut b = [0u8; 5];
                let mut n = 0;
                // Wait for the record header (Go reads 5 bytes).
                loop {
                    match stream.peek(&mut b).await {
                        Ok(0) | Err(_) => return None,
                        Ok(k) if b[0] == 0x16 || k >= 5 => return Some((b, k)),
                        Ok(k) if k == n => {
                            smol::Timer::after(Duration::from_millis(5)).await;
                        }
                        Ok(k) => n = k,
                    }
                }
            },
            async {
                smol::Timer::after(timeout).await;
                None
            },
        )
        .await;
        let (head, n) = first?;
        if head[0] != 0x16 {
            let looks_http = [&b"GET /"[..], b"HEAD ", b"POST ", b"PUT /", b"OPTIO"]
                .iter()
                .any(|p| head[..n].starts_with(p));
            if looks_http {
                // Answered as a plain connection, then drained, so the
                // close does not reset the answer away.
                let mut c = Conn {
                    io: Io::Plain(stream),
                    headers: Arc::default(),
                };
                if c.write_all(PLAIN_ON_TLS).await.is_ok() {
                    c.linger().await;
                }
            }
            return None;
        }
        #[cfg(feature = "tls")]
        {
            let server = web.current().server.clone()?;
            let acceptor = futures_rustls::TlsAcceptor::from(server);
            let tls = smol::future::or(async { acceptor.accept(stream).await.ok() }, async {
                smol::Timer::after(timeout).await;
                None
            })
            .await;
            match tls {
                Some(t) => Some(Conn {
                    io: Io::Tls(Box::new(t)),
                    headers: Arc::default(),
                }),
                None => {
                    log::debug!("TLS handshake failed or timed out");
                    None
                }
            }
        }
        #[cfg(not(feature = "tls"))]
        None
    }

    /// Writes a complete response, with the web config's headers.
    pub async fn respond(
        &mut self,
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
        keep_alive: bool,
    ) -> io::Result<()> {
        let extra = self.headers.clone();
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        for (n, v) in extra.iter() {
            if !all.iter().any(|(h, _)| h.eq_ignore_ascii_case(n)) {
                all.push((n.as_str(), v.as_str()));
            }
        }
        http::write_response(self, status, &all, body, keep_alive).await
    }

    /// After an error answer: stop writing, drain what the client still
    /// sends (briefly), so the close does not reset the connection before
    /// the client has read the answer.
    pub(crate) async fn linger(&mut self) {
        use smol::io::AsyncReadExt;
        let _ = self.close().await;
        let drain = async {
            let mut sink = [0u8; 4096];
            let mut total = 0usize;
            while let Ok(n) = self.read(&mut sink).await {
                total += n;
                if n == 0 || total > 1 << 20 {
                    break;
                }
            }
        };
        smol::future::or(drain, async {
            smol::Timer::after(Duration::from_secs(1)).await;
        })
        .await;
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(feature = "tls")]
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(feature = "tls")]
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            #[cfg(feature = "tls")]
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_close(cx),
            #[cfg(feature = "tls")]
            Io::Tls(s) => Pin::new(s.as_mut()).poll_close(cx),
        }
    }
}
