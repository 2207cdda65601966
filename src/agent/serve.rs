//! The pull side: `GET /metrics` (plus `/` and `/healthz`) on smol.
//!
//! One single-threaded executor accepts connections and speaks HTTP; each
//! scrape's collection runs on smol's blocking pool, so a slow filesystem
//! (statfs on a dead NFS mount) or a slow client never holds up another
//! scraper. Scrape buffers (samples, text, gzip) are pooled and reused, so a
//! steady scrape rate allocates little after the first few scrapes.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flate2::write::GzEncoder;
use flate2::Compression;
use smol::{Async, LocalExecutor};

use crate::collect::{Filter, Scraper};
use picket_core::encode::text;
use picket_core::http::{self, ReadError, Request};
use picket_core::metric::Sample;

/// Reusable per-scrape memory.
#[derive(Debug, Default)]
pub(crate) struct ScrapeBuf {
    samples: Vec<Sample>,
    text: Vec<u8>,
    gz: Vec<u8>,
}

/// Buffers kept for reuse; more concurrent scrapes than this allocate afresh.
const POOL_MAX: usize = 4;

/// The agent's HTTP side.
#[derive(Debug)]
pub(crate) struct Server {
    scraper: Arc<Scraper>,
    telemetry_path: String,
    max_requests: usize,
    read_timeout: Duration,
    in_flight: AtomicUsize,
    pool: Mutex<Vec<ScrapeBuf>>,
}

impl ScrapeBuf {
    /// The encoded text of the last render.
    pub(crate) fn text(&self) -> &[u8] {
        &self.text
    }
}

impl Server {
    /// A server for `scraper` (the agent's one collector set, shared with
    /// push) at `telemetry_path`.
    pub(crate) fn new(
        scraper: Arc<Scraper>,
        telemetry_path: String,
        max_requests: usize,
        read_timeout: Duration,
    ) -> Server {
        Server {
            scraper,
            telemetry_path,
            max_requests,
            read_timeout,
            in_flight: AtomicUsize::new(0),
            pool: Mutex::new(Vec::new()),
        }
    }

    /// Collects and encodes one scrape into `buf.text` (and `buf.gz` when asked).
    pub(crate) fn render(&self, filter: &Filter, gzip: bool, buf: &mut ScrapeBuf) {
        buf.samples.clear();
        buf.text.clear();
        buf.gz.clear();
        self.scraper.collect(filter, &mut buf.samples);
        let dups = text::encode(&mut buf.samples, &mut buf.text);
        if dups > 0 {
            log::warn!("dropped {dups} duplicate series from the scrape");
        }
        buf.samples.clear();
        if gzip {
            let mut enc = GzEncoder::new(std::mem::take(&mut buf.gz), Compression::fast());
            let res = io::Write::write_all(&mut enc, &buf.text).and_then(|_| enc.finish());
            match res {
                Ok(gz) => buf.gz = gz,
                Err(e) => log::error!("gzip failed, sending plain text: {e}"),
            }
        }
    }

    fn take_buf(&self) -> ScrapeBuf {
        self.pool
            .lock()
            .ok()
            .and_then(|mut p| p.pop())
            .unwrap_or_default()
    }

    fn give_buf(&self, buf: ScrapeBuf) {
        if let Ok(mut p) = self.pool.lock() {
            if p.len() < POOL_MAX {
                p.push(buf);
            }
        }
    }
}

/// Serves until the process ends. Returns only on a listener error.
pub(crate) fn serve(listener: TcpListener, server: Arc<Server>) -> io::Result<()> {
    let ex = LocalExecutor::new();
    smol::block_on(ex.run(async {
        let listener = Async::new(listener)?;
        loop {
            match listener.accept().await {
                Ok((stream, _peer)) => {
                    ex.spawn(connection(stream, server.clone())).detach();
                }
                Err(e) => {
                    // Out of fds or similar: say so, back off, keep serving.
                    log::error!("accept failed: {e}");
                    smol::Timer::after(Duration::from_millis(100)).await;
                }
            }
        }
    }))
}

async fn connection(mut stream: Async<TcpStream>, server: Arc<Server>) {
    let _ = stream.get_ref().set_nodelay(true);
    let mut buf = Vec::new();
    loop {
        let req =
            match http::read_request(&mut stream, &mut buf, server.read_timeout, 64 * 1024).await {
                Ok(r) => r,
                Err(ReadError::Bad(status, msg)) => {
                    let _ = http::write_response(
                        &mut stream,
                        status,
                        &[("Content-Type", "text/plain; charset=utf-8")],
                        msg.as_bytes(),
                        false,
                    )
                    .await;
                    linger(&mut stream).await;
                    return;
                }
                Err(ReadError::Timeout) | Err(ReadError::Closed) | Err(ReadError::Io(_)) => return,
            };
        let keep = req.keep_alive;
        if let Err(e) = respond(&mut stream, &req, &server).await {
            log::debug!("writing response failed: {e}");
            return;
        }
        if !keep {
            return;
        }
    }
}

/// After an error response, stop writing and drain what the client is still
/// sending (briefly), so closing does not reset the connection before the
/// client has read the response.
async fn linger(stream: &mut Async<TcpStream>) {
    use smol::io::AsyncReadExt;
    let _ = stream.get_ref().shutdown(std::net::Shutdown::Write);
    let drain = async {
        let mut sink = [0u8; 4096];
        let mut total = 0usize;
        while let Ok(n) = stream.read(&mut sink).await {
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

const LANDING: &str = "<html>\n<head><title>picket</title></head>\n<body>\n<h1>picket</h1>\n<p>A node_exporter-compatible agent for small ARM boards.</p>\n<ul><li><a href=\"METRICS\">Metrics</a></li><li><a href=\"/healthz\">Health</a></li></ul>\n</body>\n</html>\n";

async fn respond(
    stream: &mut Async<TcpStream>,
    req: &Request,
    server: &Arc<Server>,
) -> io::Result<()> {
    let keep = req.keep_alive;
    let plain = [("Content-Type", "text/plain; charset=utf-8")];
    let get_like = req.method == "GET" || req.method == "HEAD";
    let known = req.path == server.telemetry_path || req.path == "/" || req.path == "/healthz";
    if !known {
        return http::write_response(stream, 404, &plain, b"404 page not found\n", keep).await;
    }
    if !get_like {
        let h = [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Allow", "GET, HEAD"),
        ];
        return http::write_response(stream, 405, &h, b"method not allowed\n", keep).await;
    }
    let head_only = req.method == "HEAD";
    if req.path == "/healthz" {
        return http::write_response(stream, 200, &plain, b"OK\n", keep).await;
    }
    if req.path == "/" && req.path != server.telemetry_path {
        let page = LANDING.replace("METRICS", &server.telemetry_path);
        let h = [("Content-Type", "text/html; charset=utf-8")];
        let body = if head_only { &b""[..] } else { page.as_bytes() };
        return http::write_response(stream, 200, &h, body, keep).await;
    }

    let mut filter = Filter::default();
    for (k, v) in req.query_pairs() {
        match k.as_str() {
            "collect[]" => filter.collect.push(v),
            "exclude[]" => filter.exclude.push(v),
            _ => {}
        }
    }
    if let Err(msg) = server.scraper.check_filter(&filter) {
        let body = format!("couldn't create filtered metrics handler: {msg}\n");
        return http::write_response(stream, 400, &plain, body.as_bytes(), keep).await;
    }

    let n = server.in_flight.fetch_add(1, Ordering::SeqCst);
    if server.max_requests > 0 && n >= server.max_requests {
        server.in_flight.fetch_sub(1, Ordering::SeqCst);
        let body = format!(
            "Limit of concurrent requests reached ({}), try again later.\n",
            server.max_requests
        );
        return http::write_response(stream, 503, &plain, body.as_bytes(), keep).await;
    }
    let gzip = req.accepts_gzip();
    let s = server.clone();
    let buf = smol::unblock(move || {
        let mut buf = s.take_buf();
        s.render(&filter, gzip, &mut buf);
        buf
    })
    .await;
    server.in_flight.fetch_sub(1, Ordering::SeqCst);

    let use_gz = gzip && !buf.gz.is_empty();
    let mut headers = vec![("Content-Type", text::CONTENT_TYPE)];
    if use_gz {
        headers.push(("Content-Encoding", "gzip"));
    }
    let body: &[u8] = match (head_only, use_gz) {
        (true, _) => b"",
        (false, true) => &buf.gz,
        (false, false) => &buf.text,
    };
    let res = http::write_response(stream, 200, &headers, body, keep).await;
    server.give_buf(buf);
    res
}
