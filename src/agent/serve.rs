//! The pull side: `GET /metrics` (plus `/` and `/healthz`), answered
//! through the core's one server loop (picket_core::web: TLS and basic
//! auth from `--web.config.file`, request limits).
//!
//! One single-threaded executor accepts connections and speaks HTTP; each
//! scrape's collection runs on smol's blocking pool, so a slow filesystem
//! (statfs on a dead NFS mount) or a slow client never holds up another
//! scraper. Scrape buffers (samples, text, gzip) are pooled and reused, so a
//! steady scrape rate allocates little after the first few scrapes.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use flate2::write::GzEncoder;
use flate2::Compression;

use crate::collect::{Filter, Scraper};
use picket_core::encode::text;
use picket_core::http::Request;
use picket_core::metric::Sample;
use picket_core::web::{Conn, Handler};

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
    ) -> Server {
        Server {
            scraper,
            telemetry_path,
            max_requests,
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
            log::warn!("dropped {dups} series from the scrape (duplicates, or named like a summary's or histogram's _sum/_count/_bucket)");
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

impl Handler for Server {
    async fn handle(self: Arc<Self>, req: Request, conn: &mut Conn) -> io::Result<()> {
        respond(conn, &req, &self).await
    }
}

const LANDING: &str = "<html>\n<head><title>picket</title></head>\n<body>\n<h1>picket</h1>\n<p>A node_exporter-compatible agent for small ARM boards.</p>\n<ul><li><a href=\"METRICS\">Metrics</a></li><li><a href=\"/healthz\">Health</a></li></ul>\n</body>\n</html>\n";

async fn respond(stream: &mut Conn, req: &Request, server: &Arc<Server>) -> io::Result<()> {
    let keep = req.keep_alive;
    let plain = [("Content-Type", "text/plain; charset=utf-8")];
    let get_like = req.method == "GET" || req.method == "HEAD";
    let known = req.path == server.telemetry_path || req.path == "/" || req.path == "/healthz";
    if !known {
        return stream
            .respond(404, &plain, b"404 page not found\n", keep)
            .await;
    }
    if !get_like {
        let h = [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Allow", "GET, HEAD"),
        ];
        return stream.respond(405, &h, b"method not allowed\n", keep).await;
    }
    let head_only = req.method == "HEAD";
    if req.path == "/healthz" {
        return stream.respond(200, &plain, b"OK\n", keep).await;
    }
    if req.path == "/" && req.path != server.telemetry_path {
        let page = LANDING.replace("METRICS", &server.telemetry_path);
        let h = [("Content-Type", "text/html; charset=utf-8")];
        let body = if head_only { &b""[..] } else { page.as_bytes() };
        return stream.respond(200, &h, body, keep).await;
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
        return stream.respond(400, &plain, body.as_bytes(), keep).await;
    }

    let n = server.in_flight.fetch_add(1, Ordering::SeqCst);
    if server.max_requests > 0 && n >= server.max_requests {
        server.in_flight.fetch_sub(1, Ordering::SeqCst);
        let body = format!(
            "Limit of concurrent requests reached ({}), try again later.\n",
            server.max_requests
        );
        return stream.respond(503, &plain, body.as_bytes(), keep).await;
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
    let res = stream.respond(200, &headers, body, keep).await;
    server.give_buf(buf);
    res
}
