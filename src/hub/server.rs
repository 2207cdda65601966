//! Wires the hub together: the store, its commit and checkpoint threads,
//! the scrape manager, the MQTT subscriber, the HTTP server (remote_write
//! in, Prometheus API out, the hub's own `/metrics`), and the rule engine
//! with its notifier on their own threads. Blocking store calls run on smol's
//! blocking pool, never on the executor. SIGHUP reloads the config file
//! (scrape jobs, receiver credentials, rule files and alerting) as
//! Prometheus does; SIGTERM and
//! SIGINT commit what is pending before exit.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::api::{self, Answer, Params};
use super::config::{self, Flags, HubConfig};
use super::ingest::{remote_write, Batch};
use super::json;
use super::liveness::Sources;
use super::query_api;
use super::rules;
use super::scrape::{self, Manager};
use super::store::{now_ms, Store, MAX_BACKLOG};
use super::telemetry;
use picket_core::http::{self, Request};
use picket_core::metric::Labels;
use picket_core::web::{Conn, Handler, Limits, Web};

/// The running hub's shared parts.
#[derive(Debug)]
pub(crate) struct Hub {
    /// The store.
    pub store: Arc<Store>,
    /// The settings it started with (listen address and storage need a
    /// restart to change; scrape jobs and credentials follow reloads).
    pub cfg: HubConfig,
    /// remote_write counters.
    pub ingest: remote_write::Counters,
    /// MQTT input counters.
    pub mqtt: Arc<super::mqtt::Counters>,
    /// The scrapers.
    pub scrape: Manager,
    /// Accepted `Authorization` values of the receiver (reloadable).
    auth: Mutex<Vec<String>>,
    /// Config reloads, for `/metrics`.
    pub reloads: Reloads,
    /// When the hub started.
    pub started: Instant,
    /// The rule engine.
    pub rules: Arc<rules::manager::Manager>,
    /// Boards that push, and their `up`.
    pub sources: Arc<Sources>,
}

impl Hub {
    /// Every target: the scraped ones, then the boards that push.
    pub(crate) fn targets(&self) -> Vec<scrape::TargetStatus> {
        let mut all = self.scrape.targets();
        all.extend(self.sources.status().iter().map(|s| s.target()));
        all
    }
}

/// The outcome of config reloads (Prometheus's
/// `prometheus_config_last_reload_*` series).
#[derive(Debug, Default)]
pub(crate) struct Reloads {
    /// Whether the last (re)load succeeded.
    pub last_ok: AtomicBool,
    /// When the config was last loaded successfully, ms since the epoch.
    pub last_success_ms: AtomicU64,
    /// Reloads that failed.
    pub failures: AtomicU64,
}

/// Where the config came from, to read it again on SIGHUP.
#[derive(Debug, Clone, Default)]
pub struct Source {
    /// `--config.file`, if given.
    pub file: Option<PathBuf>,
    /// The flags (they override the file on every reload too).
    pub flags: Flags,
}

static STOP: AtomicBool = AtomicBool::new(false);
static RELOAD: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

extern "C" fn on_hup(_: libc::c_int) {
    RELOAD.store(true, Ordering::SeqCst);
}

/// Opens the store, starts scraping and serves until SIGTERM/SIGINT (then
/// commits and returns) or a listener error.
pub fn run(cfg: HubConfig, source: Source) -> Result<(), String> {
    // glibc gives each thread that allocates its own arena (up to 8 per
    // core); with the blocking pool's threads decoding requests that is
    // hundreds of MiB of fragmented, unreturned memory under load. Two
    // arenas keep RSS close to what is live.
    #[cfg(target_env = "gnu")]
    // SAFETY: called before any other thread is started.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
    let store = Store::open(cfg.store.clone())
        .map_err(|e| format!("cannot open the store in {}: {e}", cfg.store.dir.display()))?;
    let store = Arc::new(store);
    let web = Web::open(cfg.web_config_file.as_deref()).map_err(|e| e.to_string())?;
    let listener = picket_core::http::bind(&cfg.listen_address)
        .map_err(|e| format!("cannot listen on {}: {e}", cfg.listen_address))?;
    log::info!(
        "picket-hub {} listening on {}{}, storing in {}, {} scrape job(s)",
        env!("CARGO_PKG_VERSION"),
        cfg.listen_address,
        if web.is_tls() { " (https)" } else { "" },
        store.path().display(),
        cfg.scrape_configs.len()
    );
    let groups = rules::load(&cfg)?;
    log::info!(
        "{} rule group(s), {} rule(s)",
        groups.len(),
        groups.iter().map(|g| g.rules.len()).sum::<usize>()
    );
    let rule_manager = rules::manager::Manager::start(&cfg, groups, store.clone())?;
    let scrape = Manager::start(cfg.scrape_configs.clone(), store.clone());
    let sources = Arc::new(Sources::new(cfg.push_sources.clone()));
    restore_sources(&sources, &store, &scrape, &cfg);
    let hub = Arc::new(Hub {
        store,
        auth: Mutex::new(cfg.auth.clone()),
        cfg,
        ingest: remote_write::Counters::default(),
        mqtt: Arc::new(super::mqtt::Counters::default()),
        scrape,
        reloads: Reloads {
            last_ok: AtomicBool::new(true),
            last_success_ms: AtomicU64::new(now_ms().max(0) as u64),
            failures: AtomicU64::new(0),
        },
        started: Instant::now(),
        rules: rule_manager,
        sources,
    });
    #[cfg(feature = "mqtt")]
    if let Some(m) = hub.cfg.mqtt.clone() {
        log::info!(
            "subscribing to {} on {:?} and {:?}",
            m.broker.url,
            m.topics,
            m.status_topics
        );
        super::mqtt::start(m, hub.store.clone(), hub.mqtt.clone(), hub.sources.clone())?;
    }
    spawn("picket-hub-liveness", {
        let h = hub.clone();
        move || liveness(&h)
    })?;
    // SAFETY: the handlers only store to atomics.
    unsafe {
        libc::signal(libc::SIGTERM, on_stop as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_stop as *const () as libc::sighandler_t);
        libc::signal(libc::SIGHUP, on_hup as *const () as libc::sighandler_t);
    }
    spawn("picket-hub-commit", {
        let h = hub.clone();
        move || background(&h)
    })?;
    let limits = Limits {
        read_timeout: Duration::from_secs(60),
        max_body: hub.cfg.max_body_bytes,
    };
    spawn("picket-hub-http", {
        let h = hub.clone();
        move || {
            if let Err(e) = picket_core::web::serve(listener, web, limits, h) {
                log::error!("listener failed: {e}");
                STOP.store(true, Ordering::SeqCst);
            }
        }
    })?;
    while !STOP.load(Ordering::SeqCst) {
        if RELOAD.swap(false, Ordering::SeqCst) {
            reload(&hub, &source);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    log::info!("stopping: committing pending samples");
    hub.scrape.stop();
    hub.rules.stop();
    hub.store
        .commit()
        .map_err(|e| format!("final commit failed: {e}"))?;
    Ok(())
}

/// Starts a named thread.
fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<(), String> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map(drop)
        .map_err(|e| format!("cannot start a thread: {e}"))
}

/// The push sources' clock: every 250 ms, an `up 0` for each source that
/// went silent (or sent its last will), unless the scraper has it.
fn liveness(h: &Hub) {
    loop {
        let mut out = h.sources.tick(now_ms());
        if !out.is_empty() {
            // A source that is also a scrape target (one restored from
            // the store before file_sd found it) has the scraper's up.
            let scraped: Vec<Labels> = h.scrape.targets().into_iter().map(|t| t.labels).collect();
            out.retain(|(l, _, _)| {
                let mut l = l.clone();
                l.remove("__name__");
                !scraped.contains(&l)
            });
            h.store.append(&Batch::from_rows(&out));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Push sources known before a restart: every `up` series of the last
/// `forget_after` that is not a scrape target's.
fn restore_sources(sources: &Sources, store: &Store, scrape: &Manager, cfg: &HubConfig) {
    let scraped: Vec<Labels> = scrape.targets().into_iter().map(|t| t.labels).collect();
    let q = format!(
        "last_over_time(up[{}s])",
        cfg.push_sources.forget_after.as_secs().max(1)
    );
    let now = now_ms();
    match super::promql::instant(&q, store, now, &cfg.query) {
        Ok(super::promql::Value::Vector(v)) => {
            let ups: Vec<(Labels, f64)> = v
                .into_iter()
                .map(|s| {
                    let mut l = s.labels;
                    l.remove("__name__");
                    (l, s.v)
                })
                .filter(|(l, _)| !scraped.contains(l))
                .collect();
            if !ups.is_empty() {
                log::info!("{} push source(s) known from the store", ups.len());
            }
            sources.restore(ups, now);
        }
        Ok(_) => {}
        Err(e) => log::warn!("push sources not restored: {e}"),
    }
}

/// Reads the config again; applies scrape jobs and credentials, keeps
/// everything as it was if the file is bad (as Prometheus does).
fn reload(hub: &Hub, source: &Source) {
    match config::load(source.file.as_deref(), &source.flags) {
        Err(e) => {
            hub.reloads.last_ok.store(false, Ordering::Relaxed);
            hub.reloads.failures.fetch_add(1, Ordering::Relaxed);
            log::error!("reload failed, keeping the running config: {e}");
        }
        Ok(new) => {
            let groups = match rules::load(&new) {
                Ok(g) => g,
                Err(e) => {
                    hub.reloads.last_ok.store(false, Ordering::Relaxed);
                    hub.reloads.failures.fetch_add(1, Ordering::Relaxed);
                    log::error!("reload failed, keeping the running config and rules:\n{e}");
                    return;
                }
            };
            let n_groups = groups.len();
            hub.rules.reload(&new, groups, &hub.store);
            if new.listen_address != hub.cfg.listen_address
                || new.web_config_file != hub.cfg.web_config_file
                || new.store != hub.cfg.store
                || new.commit_interval != hub.cfg.commit_interval
                || new.max_body_bytes != hub.cfg.max_body_bytes
            {
                log::warn!("reload: listen address, web config path and storage settings change on restart only (the web config file's content is re-read as it changes)");
            }
            hub.sources.set_options(new.push_sources.clone());
            let jobs = new.scrape_configs.len();
            hub.scrape.reload(new.scrape_configs);
            *lock(&hub.auth) = new.auth;
            hub.reloads.last_ok.store(true, Ordering::Relaxed);
            hub.reloads
                .last_success_ms
                .store(now_ms().max(0) as u64, Ordering::Relaxed);
            log::info!("config reloaded: {jobs} scrape job(s), {n_groups} rule group(s)");
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Commits every commit interval; checkpoints every minute, or at once
/// when a backlog has put [`MAX_BACKLOG`] samples of closed windows in
/// the head (so a burst of replayed hours is sealed to disk, not held in
/// memory).
fn background(hub: &Hub) {
    let mut last_checkpoint = Instant::now();
    let mut last_commit = Instant::now();
    loop {
        // Woken at once when a backlog is due.
        let backlog = hub.store.wait_backlog(Duration::from_millis(100));
        let minute = last_checkpoint.elapsed() >= Duration::from_secs(60);
        if minute || backlog {
            // A checkpoint commits first.
            last_commit = Instant::now();
            let res = if minute {
                last_checkpoint = Instant::now();
                hub.store.checkpoint(now_ms(), false)
            } else {
                hub.store.checkpoint_backlog(now_ms())
            };
            // A checkpoint frees the sealed part of the head; glibc keeps
            // freed memory mapped unless asked to give it back.
            #[cfg(target_env = "gnu")]
            // SAFETY: malloc_trim only walks glibc's own free lists.
            unsafe {
                libc::malloc_trim(0);
            }
            if let Err(e) = res {
                hub.store
                    .stats
                    .checkpoint_failures
                    .fetch_add(1, Ordering::Relaxed);
                log::error!("checkpoint failed (retried next minute): {e}");
            }
        } else if last_commit.elapsed() >= hub.cfg.commit_interval {
            last_commit = Instant::now();
            if let Err(e) = hub.store.commit() {
                log::error!("commit failed (samples kept in memory, retrying): {e}");
            }
        }
    }
}

impl Handler for Hub {
    async fn handle(self: Arc<Self>, req: Request, conn: &mut Conn) -> io::Result<()> {
        let keep = req.keep_alive;
        let (status, ctype, body) = route(req, &self).await;
        conn.respond(status, &[("Content-Type", ctype)], body.as_bytes(), keep)
            .await
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
            remote_write::count(&hub.ingest, status);
            (status, TEXT, msg)
        }
        "/api/v1/write" => (405, TEXT, "only POST\n".into()),
        "/metrics" if get => {
            let h = hub.clone();
            let text = smol::unblock(move || telemetry::metrics(&h)).await;
            (200, picket_core::encode::text::CONTENT_TYPE, text)
        }
        "/api/v1/admin/tsdb/snapshot" if post => {
            let h = hub.clone();
            let (status, body) = smol::unblock(move || snapshot(&h)).await;
            (status, JSON, body)
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
        p if p.starts_with("/api/v2/silence") => {
            let h = hub.clone();
            let (status, body) = smol::unblock(move || silences(&h, &req)).await;
            (status, JSON, body)
        }
        "/" => (
            200,
            TEXT,
            "picket-hub: Prometheus-compatible API under /api/v1\n".into(),
        ),
        _ => (404, TEXT, "404 page not found\n".into()),
    }
}

/// `POST /api/v1/admin/tsdb/snapshot` (behind `--web.enable-admin-api`,
/// as Prometheus): a consistent copy of the store, every sample appended
/// before the call included, in `<storage>/snapshots/<name>`; answered
/// with its name, as Prometheus answers. A hub started with that
/// directory as `--storage.tsdb.path` restores it.
fn snapshot(hub: &Hub) -> Answer {
    if !hub.cfg.admin_api {
        return (503, json::error("unavailable", "admin APIs disabled"));
    }
    let now = now_ms();
    let secs = now.div_euclid(1000);
    let (y, m, d) = picket_core::clock::civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let tag =
        (now as u64 ^ (u64::from(std::process::id()) << 32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let name = format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z-{:016x}",
        sod / 3600,
        sod / 60 % 60,
        sod % 60,
        tag >> 1
    );
    let dest = hub.cfg.store.dir.join("snapshots").join(&name);
    match hub.store.snapshot(&dest) {
        Ok(()) => {
            let mut data = String::from("{\"name\":");
            json::string(&mut data, &name);
            data.push('}');
            (200, json::success(&data))
        }
        Err(e) => (
            500,
            json::error("internal", &format!("create snapshot: {e}")),
        ),
    }
}

fn api_call(hub: &Hub, path: &str, p: &Params) -> Answer {
    let store = &hub.store;
    match path {
        "/api/v1/series" => api::series(store, p),
        "/api/v1/labels" => api::labels(store, p),
        "/api/v1/export" => api::export(store, p),
        "/api/v1/status/buildinfo" => api::buildinfo(),
        "/api/v1/targets" => api::targets(&hub.targets(), &hub.scrape.dropped(), p),
        "/api/v1/alertmanagers" => api::alertmanagers(hub.rules.notifier.alertmanagers()),
        "/api/v1/query" => query_api::query(&**store, p, &hub.cfg.query, now_ms()),
        "/api/v1/query_range" => query_api::query_range(&**store, p, &hub.cfg.query),
        "/api/v1/format_query" => query_api::format_query(p),
        "/api/v1/metadata" => query_api::metadata(),
        "/api/v1/query_exemplars" => query_api::query_exemplars(),
        "/api/v1/rules" => hub.rules.with_groups(|g| rules::api::rules(g, p)),
        "/api/v1/alerts" => hub.rules.with_groups(rules::api::alerts),
        "/api/v1/status/config" => query_api::status_config(),
        "/api/v1/status/flags" => query_api::status_flags(&hub.cfg.query),
        "/api/v1/status/runtimeinfo" => query_api::runtimeinfo(&query_api::RuntimeInfo {
            start_ms: now_ms() - hub.started.elapsed().as_millis() as i64,
            reload_ok: hub.reloads.last_ok.load(Ordering::Relaxed),
            last_config_ms: hub.reloads.last_success_ms.load(Ordering::Relaxed) as i64,
            retention: hub.cfg.store.retention,
        }),
        _ => match path
            .strip_prefix("/api/v1/label/")
            .and_then(|r| r.strip_suffix("/values"))
        {
            Some(name) => api::label_values(store, name, p),
            None => (404, json::error("not_found", "unknown API endpoint")),
        },
    }
}

/// Alertmanager's silence API (direct notifications): `GET`/`POST
/// /api/v2/silences`, `GET`/`DELETE /api/v2/silence/{id}` (also under
/// `/api/v2/silences/{id}`).
fn silences(hub: &Hub, req: &Request) -> Answer {
    let d = &hub.rules.dispatch;
    let id = req
        .path
        .strip_prefix("/api/v2/silences/")
        .or_else(|| req.path.strip_prefix("/api/v2/silence/"))
        .filter(|id| !id.is_empty());
    match (req.method.as_str(), id) {
        ("GET" | "HEAD", None) if req.path == "/api/v2/silences" => {
            let q = req.query_pairs();
            let filters: Vec<&str> = q
                .iter()
                .filter(|(k, _)| k == "filter")
                .map(|(_, v)| v.as_str())
                .collect();
            d.silences().list(&filters)
        }
        ("POST", None) if req.path == "/api/v2/silences" => {
            d.with_db(|db| d.silences().post(db, &req.body))
        }
        ("GET" | "HEAD", Some(id)) => d.silences().get(id),
        ("DELETE", Some(id)) => d.with_db(|db| d.silences().delete(db, id)),
        _ => (405, "\"method not allowed\"".into()),
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
    if !remote_write::authorized(&lock(&hub.auth), req.header("authorization")) {
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
    // Backpressure: while a backlog burst is twice the checkpoint trigger
    // ahead of sealing, hold the request (its sender waits, as for a
    // slow link) rather than letting memory grow with the burst. After
    // 30 s, 503: the sender retries later.
    let waited = Instant::now();
    while hub.store.backlog_samples() > 2 * MAX_BACKLOG {
        if waited.elapsed() > Duration::from_secs(30) {
            return (
                503,
                "the store is behind on a backlog; retry later\n".into(),
            );
        }
        smol::Timer::after(Duration::from_millis(20)).await;
    }
    let h = hub.clone();
    smol::unblock(
        move || match remote_write::receive(&req.body, &h.store, &h.sources, now_ms()) {
            Err(e) => {
                log::debug!("remote_write refused: {e}");
                (400, format!("{e}\n"))
            }
            Ok(_) => (204, String::new()),
        },
    )
    .await
}
