//! Wires the hub together: the store, its commit and checkpoint threads,
//! and the HTTP server (remote_write in, Prometheus API out, the hub's own
//! `/metrics`). Blocking store calls run on smol's blocking pool, never on
//! the executor. SIGTERM and SIGINT commit what is pending before exit.

use std::io;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use smol::{Async, LocalExecutor};

use super::api::{self, Answer, Params};
use super::config::HubConfig;
use super::ingest;
use super::json;
use super::store::{now_ms, Store};
use crate::http::{self, ReadError, Request};
use crate::metric::{Labels, MetricType, Sample};

/// The running hub's shared parts.
#[derive(Debug)]
pub struct Hub {
    /// The store.
    pub store: Store,
    /// The settings it started with.
    pub cfg: HubConfig,
    /// remote_write counters.
    pub ingest: ingest::Counters,
    started: Instant,
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Opens the store and serves until SIGTERM/SIGINT (then commits and
/// returns) or a listener error.
pub fn run(cfg: HubConfig) -> Result<(), String> {
    let store = Store::open(cfg.store.clone())
        .map_err(|e| format!("cannot open the store in {}: {e}", cfg.store.dir.display()))?;
    let listener = crate::serve::bind(&cfg.listen_address)
        .map_err(|e| format!("cannot listen on {}: {e}", cfg.listen_address))?;
    log::info!(
        "picket-hub {} listening on {}, storing in {}",
        env!("CARGO_PKG_VERSION"),
        cfg.listen_address,
        store.path().display()
    );
    let hub = Arc::new(Hub {
        store,
        cfg,
        ingest: ingest::Counters::default(),
        started: Instant::now(),
    });
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGTERM, on_stop as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_stop as *const () as libc::sighandler_t);
    }
    let h = hub.clone();
    std::thread::Builder::new()
        .name("picket-hub-commit".into())
        .spawn(move || background(&h))
        .map_err(|e| format!("cannot start a thread: {e}"))?;
    let h = hub.clone();
    std::thread::Builder::new()
        .name("picket-hub-http".into())
        .spawn(move || {
            if let Err(e) = serve(listener, h) {
                log::error!("listener failed: {e}");
                STOP.store(true, Ordering::SeqCst);
            }
        })
        .map_err(|e| format!("cannot start a thread: {e}"))?;
    while !STOP.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
    }
    log::info!("stopping: committing pending samples");
    hub.store
        .commit()
        .map_err(|e| format!("final commit failed: {e}"))?;
    Ok(())
}

/// Commits every commit interval; checkpoints every minute.
fn background(hub: &Hub) {
    let mut last_checkpoint = Instant::now();
    loop {
        std::thread::sleep(hub.cfg.commit_interval.min(Duration::from_secs(1)));
        if let Err(e) = hub.store.commit() {
            log::error!("commit failed (samples kept in memory, retrying): {e}");
        }
        if last_checkpoint.elapsed() >= Duration::from_secs(60) {
            last_checkpoint = Instant::now();
            if let Err(e) = hub.store.checkpoint(now_ms(), false) {
                hub.store
                    .stats
                    .checkpoint_failures
                    .fetch_add(1, Ordering::Relaxed);
                log::error!("checkpoint failed (retried next minute): {e}");
            }
        }
    }
}

fn serve(listener: std::net::TcpListener, hub: Arc<Hub>) -> io::Result<()> {
    let ex = LocalExecutor::new();
    smol::block_on(ex.run(async {
        let listener = Async::new(listener)?;
        loop {
            match listener.accept().await {
                Ok((stream, _)) => ex.spawn(connection(stream, hub.clone())).detach(),
                Err(e) => {
                    log::error!("accept failed: {e}");
                    smol::Timer::after(Duration::from_millis(100)).await;
                }
            }
        }
    }))
}

async fn connection(mut stream: Async<TcpStream>, hub: Arc<Hub>) {
    let _ = stream.get_ref().set_nodelay(true);
    let mut buf = Vec::new();
    loop {
        let max = hub.cfg.max_body_bytes;
        let req = match http::read_request(&mut stream, &mut buf, Duration::from_secs(60), max)
            .await
        {
            Ok(r) => r,
            Err(ReadError::Bad(status, msg)) => {
                let h = [("Content-Type", "text/plain; charset=utf-8")];
                let _ = http::write_response(&mut stream, status, &h, msg.as_bytes(), false).await;
                return;
            }
            Err(_) => return,
        };
        let keep = req.keep_alive;
        let (status, ctype, body) = route(req, &hub).await;
        let h = [("Content-Type", ctype)];
        if http::write_response(&mut stream, status, &h, body.as_bytes(), keep)
            .await
            .is_err()
            || !keep
        {
            return;
        }
    }
}

const JSON: &str = "application/json";
const TEXT: &str = "text/plain; charset=utf-8";

async fn route(req: Request, hub: &Arc<Hub>) -> (u16, &'static str, String) {
    let get = req.method == "GET" || req.method == "HEAD";
    let post = req.method == "POST";
    let path = req.path.clone();
    match path.as_str() {
        "/-/healthy" => (200, TEXT, "Prometheus Server is Healthy.\n".into()),
        "/-/ready" => (200, TEXT, "Prometheus Server is Ready.\n".into()),
        "/api/v1/write" if post => {
            let (status, msg) = write(req, hub).await;
            ingest::count(&hub.ingest, status);
            (status, TEXT, msg)
        }
        "/api/v1/write" => (405, TEXT, "only POST\n".into()),
        "/metrics" if get => {
            let h = hub.clone();
            let text = smol::unblock(move || own_metrics(&h)).await;
            (200, crate::encode::text::CONTENT_TYPE, text)
        }
        p if p.starts_with("/api/v1/") && (get || post) => {
            let params = params(&req);
            let h = hub.clone();
            let p = p.to_string();
            let (status, body) = smol::unblock(move || api_call(&h, &p, &params)).await;
            (status, JSON, body)
        }
        p if p.starts_with("/api/v1/") => {
            (405, JSON, json::error("bad_data", "method not allowed"))
        }
        "/" => (
            200,
            TEXT,
            "picket-hub: Prometheus-compatible API under /api/v1\n".into(),
        ),
        _ => (404, TEXT, "404 page not found\n".into()),
    }
}

fn api_call(hub: &Hub, path: &str, p: &Params) -> Answer {
    let store = &hub.store;
    match path {
        "/api/v1/series" => api::series(store, p),
        "/api/v1/labels" => api::labels(store, p),
        "/api/v1/export" => api::export(store, p),
        "/api/v1/status/buildinfo" => api::buildinfo(),
        "/api/v1/targets" => (
            200,
            json::success("{\"activeTargets\":[],\"droppedTargets\":[]}"),
        ),
        _ => match path
            .strip_prefix("/api/v1/label/")
            .and_then(|r| r.strip_suffix("/values"))
        {
            Some(name) => api::label_values(store, name, p),
            None => (404, json::error("not_found", "unknown API endpoint")),
        },
    }
}

/// Query string and, for a form POST, the body's parameters.
fn params(req: &Request) -> Params {
    let mut all = req.query_pairs();
    let form = req
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if req.method == "POST" && form {
        all.extend(http::parse_query(&String::from_utf8_lossy(&req.body)));
    }
    Params(all)
}

async fn write(req: Request, hub: &Arc<Hub>) -> (u16, String) {
    if !ingest::authorized(&hub.cfg.auth, req.header("authorization")) {
        return (401, "unauthorized\n".into());
    }
    if let Some(enc) = req.header("content-encoding") {
        if !enc.eq_ignore_ascii_case("snappy") {
            return (
                400,
                format!("unsupported Content-Encoding {enc:?} (remote_write 1.0 is snappy)\n"),
            );
        }
    }
    let h = hub.clone();
    smol::unblock(move || match ingest::decode(&req.body) {
        Err(e) => {
            log::debug!("remote_write refused: {e}");
            (400, format!("{e}\n"))
        }
        Ok(rows) => {
            h.store.append_series(rows);
            (204, String::new())
        }
    })
    .await
}

/// The hub's own metrics.
fn own_metrics(hub: &Hub) -> String {
    let st = &hub.store.stats;
    let sizes = hub.store.sizes();
    let ld = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed) as f64;
    let c = MetricType::Counter;
    let g = MetricType::Gauge;
    let none = Labels::new;
    let code = |v: &str| Labels::from_pairs([("code", v)]);
    let mut s = vec![
        Sample::new(
            "picket_hub_samples_appended_total",
            "Samples stored.",
            c,
            none(),
            ld(&st.appended),
        ),
        Sample::new(
            "picket_hub_samples_rejected_total",
            "Samples refused, by reason.",
            c,
            Labels::from_pairs([("reason", "too_old")]),
            ld(&st.too_old),
        ),
        Sample::new(
            "picket_hub_remote_write_requests_total",
            "remote_write requests by outcome.",
            c,
            code("204"),
            ld(&hub.ingest.requests),
        ),
        Sample::new(
            "picket_hub_remote_write_requests_total",
            "remote_write requests by outcome.",
            c,
            code("400"),
            ld(&hub.ingest.rejected_bad),
        ),
        Sample::new(
            "picket_hub_remote_write_requests_total",
            "remote_write requests by outcome.",
            c,
            code("401"),
            ld(&hub.ingest.rejected_auth),
        ),
        Sample::new(
            "picket_hub_remote_write_requests_total",
            "remote_write requests by outcome.",
            c,
            code("500"),
            ld(&hub.ingest.failed),
        ),
        Sample::new(
            "picket_hub_series",
            "Series known to the store.",
            g,
            none(),
            sizes.series as f64,
        ),
        Sample::new(
            "picket_hub_head_samples",
            "Samples in memory, not yet in chunks.",
            g,
            none(),
            sizes.head_samples as f64,
        ),
        Sample::new(
            "picket_hub_storage_bytes",
            "Bytes of database pages in use.",
            g,
            none(),
            sizes.db_bytes as f64,
        ),
        Sample::new(
            "picket_hub_storage_file_bytes",
            "Bytes of the database file and its WAL.",
            g,
            none(),
            sizes.file_bytes as f64,
        ),
        Sample::new(
            "picket_hub_commits_total",
            "Commits of appended samples.",
            c,
            none(),
            ld(&st.commits),
        ),
        Sample::new(
            "picket_hub_checkpoints_total",
            "Checkpoints run.",
            c,
            none(),
            ld(&st.checkpoints),
        ),
        Sample::new(
            "picket_hub_checkpoint_failures_total",
            "Checkpoints that failed.",
            c,
            none(),
            ld(&st.checkpoint_failures),
        ),
        Sample::new(
            "picket_hub_chunks_written_total",
            "Chunk rows written by checkpoints.",
            c,
            none(),
            ld(&st.chunks_written),
        ),
        Sample::new(
            "picket_hub_compactions_total",
            "Series-days compacted into one chunk.",
            c,
            none(),
            ld(&st.compactions),
        ),
        Sample::new(
            "picket_hub_retention_deleted_chunks_total",
            "Chunk rows deleted by retention.",
            c,
            none(),
            ld(&st.retention_deleted),
        ),
        Sample::new(
            "picket_hub_uptime_seconds",
            "Seconds since the hub started.",
            g,
            none(),
            hub.started.elapsed().as_secs_f64(),
        ),
    ];
    let mut out = Vec::new();
    crate::encode::text::encode(&mut s, &mut out);
    String::from_utf8(out).unwrap_or_default()
}
