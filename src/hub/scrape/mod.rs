//! The hub's scraper: pulls `/metrics` from targets as Prometheus 2.x does
//! and hands the samples to the store through [`Sink`].
//!
//! ```text
//! ScrapeConfig ─┬─ static_configs ───────────┐
//!               └─ file_sd_configs (thread) ─┴→ targets → one loop thread each
//!                                                  GET → decode::text → rows → Sink
//! ```
//!
//! Per job (a *scrape pool*), target groups come from `static_configs` and
//! from `file_sd_configs` (see [`file_sd`]); each target gets its labels as
//! in `target.rs` and a thread that scrapes it every `scrape_interval` at a
//! stable phase. Every scrape writes the samples (at the scrape's start
//! time unless they carry their own), the series `up`,
//! `scrape_duration_seconds`, `scrape_samples_scraped`,
//! `scrape_samples_post_metric_relabeling` and `scrape_series_added`, and
//! stale markers (a NaN with bits [`STALE_NAN_BITS`]) for series that
//! disappeared. A failed scrape (refused, timeout, HTTP error, bad body)
//! writes `up 0` and marks all of the target's series stale; a target that
//! leaves (reload or file_sd) has its series and report series marked stale
//! at once.
//!
//! Not implemented from Prometheus: service discovery other than static,
//! file and DNS, proxies, OAuth 2, OpenMetrics and protobuf bodies,
//! exemplars, native histograms,
//! `track_timestamps_staleness`, and the delay Prometheus puts before
//! marking a removed target stale (it waits in case the target comes back).

pub(crate) mod config;
pub(crate) mod dns;
pub(crate) mod dns_sd;
pub(crate) mod file_sd;
mod scrape_loop;
mod target;

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

pub use config::{ScrapeConfig, ScrapeConfigToml};

use dns_sd::DnsSd;
use file_sd::FileSd;
use picket_core::metric::Labels;
use scrape_loop::{Handle, Settings};

pub use picket_core::metric::STALE_NAN_BITS;

/// One stored sample: labels including `__name__`, timestamp in ms, value.
pub(crate) type Row = (Labels, i64, f64);

/// Where scraped samples go (the hub's store implements it).
pub(crate) trait Sink: Send + Sync {
    /// Stores samples: (labels including "__name__", timestamp ms, value).
    /// Err = the store failed (the scrape loop logs it and carries on).
    fn append(&self, rows: Vec<(Labels, i64, f64)>) -> Result<(), String>;
}

/// A target's state, for `/api/v1/targets`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TargetStatus {
    /// Labels before `__` labels were dropped (`__address__`,
    /// `__scheme__`, `__metrics_path__`, `__meta_filepath`, …).
    pub discovered_labels: Labels,
    /// `job`, `instance` and the group's labels: what every series gets.
    pub labels: Labels,
    /// The job name.
    pub scrape_pool: String,
    /// The URL scraped.
    pub scrape_url: String,
    /// The URL as seen from outside (the same here: the hub does not
    /// rewrite `localhost`).
    pub global_url: String,
    /// The last scrape's error, empty if it succeeded.
    pub last_error: String,
    /// When the last scrape started, ms since the epoch; 0 if never.
    pub last_scrape_ms: i64,
    /// How long the last scrape took, in seconds.
    pub last_scrape_duration: f64,
    /// `up`, `down` or `unknown` (not scraped yet).
    pub health: &'static str,
    /// `scrape` for targets the hub pulls; `remote_write` or `mqtt` for
    /// boards that push ([`crate::liveness`]).
    pub transport: &'static str,
    /// The job's interval, as Prometheus writes durations (`15s`).
    pub scrape_interval: String,
    /// The job's timeout (`10s`).
    pub scrape_timeout: String,
}

/// Runs every target of every scrape config on its own thread.
pub(crate) struct Manager {
    shared: Arc<Shared>,
}

impl fmt::Debug for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = lock(&self.shared.state);
        f.debug_struct("Manager")
            .field("jobs", &st.pools.keys().collect::<Vec<_>>())
            .field("stopped", &st.stopped)
            .finish()
    }
}

struct Shared {
    sink: Arc<dyn Sink>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    stopped: bool,
    pools: BTreeMap<String, Pool>,
}

/// One job: its config, its target groups by source, its loops.
struct Pool {
    config: ScrapeConfig,
    /// Unique per config applied; discovery threads of an older one exit.
    generation: u64,
    /// Groups by source: `[0]` static_configs, then each file_sd_configs
    /// entry, then each dns_sd_configs entry.
    sources: Vec<Vec<config::TargetGroup>>,
    /// Loops by target identity.
    loops: BTreeMap<Labels, Handle>,
    /// Targets relabelling dropped: their labels before relabelling.
    dropped: Vec<Labels>,
    /// Dropped to stop the discovery threads.
    _sd_stop: Vec<Sender<()>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

static GENERATION: AtomicU64 = AtomicU64::new(1);

impl Manager {
    /// Starts scraping every target of `configs` (file_sd files are read
    /// before this returns).
    pub fn start(configs: Vec<ScrapeConfig>, sink: Arc<dyn Sink>) -> Manager {
        let m = Manager {
            shared: Arc::new(Shared {
                sink,
                state: Mutex::new(State::default()),
            }),
        };
        m.reload(configs);
        m
    }

    /// Applies a new config (SIGHUP): keeps loops of unchanged targets
    /// running, stops removed ones (writing stale markers for their
    /// series), starts new ones. A target whose job settings changed is
    /// restarted with its series carried over (no stale markers). A
    /// repeated job name is logged and its later config ignored.
    pub(crate) fn reload(&self, configs: Vec<ScrapeConfig>) {
        let mut st = lock(&self.shared.state);
        if st.stopped {
            return;
        }
        let now = picket_core::clock::now_ms();
        let mut seen = HashSet::new();
        let configs: Vec<ScrapeConfig> = configs
            .into_iter()
            .filter(|c| {
                let first = seen.insert(c.job_name.clone());
                if !first {
                    log::error!(
                        "scrape: job {:?} configured twice; using the first",
                        c.job_name
                    );
                }
                first
            })
            .collect();
        let gone: Vec<String> = st
            .pools
            .keys()
            .filter(|j| !seen.contains(*j))
            .cloned()
            .collect();
        for job in gone {
            if let Some(p) = st.pools.remove(&job) {
                log::info!("scrape: job {job:?} removed");
                for (_, h) in p.loops {
                    h.stop(Some(now));
                }
            }
        }
        for cfg in configs {
            if let Some(p) = st.pools.get(&cfg.job_name) {
                if p.config == cfg {
                    continue;
                }
            }
            let old = st.pools.remove(&cfg.job_name);
            let pool = self.new_pool(cfg, old, now);
            st.pools.insert(pool.config.job_name.clone(), pool);
        }
    }

    /// Builds a pool for `cfg` (reading its file_sd files and starting
    /// their threads), taking over the loops of `old`.
    fn new_pool(&self, cfg: ScrapeConfig, old: Option<Pool>, now: i64) -> Pool {
        let generation = GENERATION.fetch_add(1, Ordering::Relaxed);
        let mut sources = vec![cfg.static_configs.clone()];
        let mut stops = Vec::new();
        // File discovery reads its files now (they are local and quick);
        // DNS discovery asks on its own thread, at once.
        let mut discoverers: Vec<(&str, Discovery)> = Vec::new();
        for f in &cfg.file_sd_configs {
            let mut sd = FileSd::new(f.clone());
            sd.refresh();
            discoverers.push(("file_sd", Discovery::File(sd)));
        }
        for d in &cfg.dns_sd_configs {
            discoverers.push(("dns_sd", Discovery::Dns(DnsSd::new(d.clone()))));
        }
        for (what, sd) in discoverers {
            let idx = sources.len();
            sources.push(sd.groups());
            let (tx, rx) = mpsc::channel();
            let shared = Arc::downgrade(&self.shared);
            let job = cfg.job_name.clone();
            let spawned = std::thread::Builder::new()
                .name(scrape_loop::thread_name(what, &job))
                .spawn(move || watch(shared, job, generation, idx, sd, rx));
            match spawned {
                Ok(_) => stops.push(tx),
                Err(e) => log::error!("scrape {}: cannot start {what}: {e}", cfg.job_name),
            }
        }
        // Dropping the old pool's senders ends its discovery threads.
        let loops = old.map(|p| p.loops).unwrap_or_default();
        let mut pool = Pool {
            config: cfg,
            generation,
            sources,
            loops,
            dropped: Vec::new(),
            _sd_stop: stops,
        };
        pool.sync(&self.shared.sink, now);
        pool
    }

    /// For `/api/v1/targets`: every target, by job, then by labels.
    pub(crate) fn targets(&self) -> Vec<TargetStatus> {
        let st = lock(&self.shared.state);
        let mut out = Vec::new();
        for (job, p) in &st.pools {
            for h in p.loops.values() {
                let s = h.lp.status();
                out.push(TargetStatus {
                    discovered_labels: h.lp.target.discovered.clone(),
                    labels: h.lp.target.labels.clone(),
                    scrape_pool: job.clone(),
                    scrape_url: h.lp.target.url.clone(),
                    global_url: h.lp.target.url.clone(),
                    last_error: s.last_error,
                    last_scrape_ms: s.last_scrape_ms,
                    last_scrape_duration: s.last_duration,
                    health: s.health,
                    transport: "scrape",
                    scrape_interval: config::format_duration(h.lp.target.interval),
                    scrape_timeout: config::format_duration(h.lp.target.timeout),
                });
            }
        }
        out
    }

    /// For `/api/v1/targets`: the targets relabelling dropped, by job
    /// (their labels before relabelling).
    pub(crate) fn dropped(&self) -> Vec<(String, Labels)> {
        let st = lock(&self.shared.state);
        st.pools
            .iter()
            .flat_map(|(job, p)| p.dropped.iter().map(|l| (job.clone(), l.clone())))
            .collect()
    }

    /// Stops every loop (no stale markers on shutdown, as Prometheus).
    /// Returns at once; nothing is written to the sink after it returns
    /// (a fetch in flight finishes within its timeout and is dropped).
    pub(crate) fn stop(&self) {
        let mut st = lock(&self.shared.state);
        st.stopped = true;
        for (_, p) in std::mem::take(&mut st.pools) {
            for (_, h) in p.loops {
                h.stop(None);
            }
        }
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Pool {
    /// Makes the loops match the targets of `sources`: keeps unchanged
    /// ones, restarts changed ones with their series, starts new ones and
    /// stops (with stale markers at `now`) those gone.
    fn sync(&mut self, sink: &Arc<dyn Sink>, now: i64) {
        let job = self.config.job_name.clone();
        let mut settings = Settings::new(&self.config);
        let mut want = BTreeMap::new();
        self.dropped.clear();
        for g in self.sources.iter().flatten() {
            for addr in &g.targets {
                match target::build(&self.config, &g.labels, addr) {
                    // The first of duplicate targets wins, as in Prometheus.
                    Ok(target::Built::Active(t)) => {
                        want.entry(t.key.clone()).or_insert(t);
                    }
                    Ok(target::Built::Dropped(l)) => self.dropped.push(l),
                    Err(e) => log::error!("scrape {job}: target {addr:?} dropped: {e}"),
                }
            }
        }
        let limit = self.config.target_limit;
        if limit > 0 && want.len() > limit {
            let e = format!(
                "target_limit exceeded (number of targets: {}, limit: {limit})",
                want.len()
            );
            log::error!("scrape {job}: {e}");
            settings.forced_error = Some(e);
        }
        let mut old = std::mem::take(&mut self.loops);
        for (key, t) in want {
            let h = match old.remove(&key) {
                Some(h) if h.lp.settings == settings && h.lp.target == t => h,
                Some(h) => {
                    let series = h.hand_off();
                    Handle::spawn(&job, t, settings.clone(), sink.clone(), Some(series))
                }
                None => {
                    log::debug!("scrape {job}: new target {}", t.url);
                    Handle::spawn(&job, t, settings.clone(), sink.clone(), None)
                }
            };
            self.loops.insert(key, h);
        }
        for (_, h) in old {
            log::debug!("scrape {job}: target {} gone", h.lp.target.url);
            h.stop(Some(now));
        }
    }
}

/// A discovery mechanism of a pool: files or DNS.
enum Discovery {
    File(FileSd),
    Dns(DnsSd),
}

impl Discovery {
    fn poll_period(&self) -> std::time::Duration {
        match self {
            Discovery::File(d) => d.poll_period(),
            Discovery::Dns(d) => d.poll_period(),
        }
    }

    fn refresh(&mut self) -> bool {
        match self {
            Discovery::File(d) => d.refresh(),
            Discovery::Dns(d) => d.refresh(),
        }
    }

    fn groups(&self) -> Vec<config::TargetGroup> {
        match self {
            Discovery::File(d) => d.groups(),
            Discovery::Dns(d) => d.groups(),
        }
    }
}

/// A discovery thread: polls its source and updates the pool's source
/// `idx` when its groups change; exits when its pool is replaced or
/// stopped.
fn watch(
    shared: Weak<Shared>,
    job: String,
    generation: u64,
    idx: usize,
    mut sd: Discovery,
    stop: Receiver<()>,
) {
    loop {
        match stop.recv_timeout(sd.poll_period()) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        if !sd.refresh() {
            continue;
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let mut st = lock(&shared.state);
        match st.pools.get_mut(&job) {
            Some(p) if p.generation == generation => {
                if let Some(source) = p.sources.get_mut(idx) {
                    *source = sd.groups();
                }
                p.sync(&shared.sink, picket_core::clock::now_ms());
            }
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests;
