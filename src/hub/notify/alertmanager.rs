//! Sends alerts to Alertmanagers as Prometheus's notifier does
//! (notifier/notifier.go): `POST <am>/api/v2/alerts` with a JSON array of
//! at most 256 alerts, external labels added where the alert lacks them,
//! a queue of 10 000 that drops the oldest when full. Sending happens on
//! its own thread (ureq blocks); the rule engine only enqueues. A failed
//! POST is logged and counted, not retried: the rule engine's resend
//! cadence sends every firing and resolved alert again, as in Prometheus.
//!
//! `[[alerting.alertmanagers]]`, the list of Alertmanagers, is written and
//! checked here too ([`AlertmanagerToml`]): it changes with this sender,
//! not with the rule engine whose timing `[alerting]` also holds.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::Deserialize;

use super::Alert;
use picket_core::config::parse_duration;
use picket_core::metric::Labels;

/// Alerts per POST (`--alertmanager.notification-batch-size`).
pub(crate) const BATCH: usize = 256;
/// Queue capacity (`--alertmanager.notification-queue-capacity`).
pub(crate) const QUEUE: usize = 10_000;

/// Per-Alertmanager counters (Prometheus's `prometheus_notifications_*`).
#[derive(Debug, Default)]
pub(crate) struct AmStats {
    /// Alerts sent (in successful and failed POSTs).
    pub sent: AtomicU64,
    /// Alerts in failed POSTs.
    pub errors: AtomicU64,
}

/// The notifier: a queue and the thread that drains it.
#[derive(Debug, Clone)]
pub(crate) struct Notifier {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    queue: Mutex<VecDeque<String>>,
    wake: Condvar,
    targets: Mutex<Vec<(String, Duration)>>,
    external_labels: Mutex<Labels>,
    stats: Mutex<BTreeMap<String, Arc<AmStats>>>,
    dropped: AtomicU64,
    stop: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Notifier {
    /// Starts the sending thread.
    pub fn start(
        targets: Vec<(String, Duration)>,
        external_labels: Labels,
    ) -> Result<Notifier, String> {
        let n = Notifier {
            inner: Arc::new(Inner {
                queue: Mutex::new(VecDeque::new()),
                wake: Condvar::new(),
                targets: Mutex::new(Vec::new()),
                external_labels: Mutex::new(Labels::new()),
                stats: Mutex::new(BTreeMap::new()),
                dropped: AtomicU64::new(0),
                stop: AtomicBool::new(false),
            }),
        };
        n.configure(targets, external_labels);
        let inner = n.inner.clone();
        std::thread::Builder::new()
            .name("picket-hub-notify".into())
            .spawn(move || run(&inner))
            .map_err(|e| format!("cannot start a thread: {e}"))?;
        Ok(n)
    }

    /// Sets the Alertmanagers and external labels (start and reload).
    pub(crate) fn configure(&self, targets: Vec<(String, Duration)>, external_labels: Labels) {
        {
            let mut st = lock(&self.inner.stats);
            st.retain(|k, _| targets.iter().any(|(u, _)| u == k));
            for (u, _) in &targets {
                st.entry(u.clone()).or_default();
            }
        }
        *lock(&self.inner.targets) = targets;
        *lock(&self.inner.external_labels) = external_labels;
    }

    /// Queues alerts (no-op without Alertmanagers).
    pub(crate) fn send(&self, alerts: &[Alert]) {
        if alerts.is_empty() || lock(&self.inner.targets).is_empty() {
            return;
        }
        let ext = lock(&self.inner.external_labels).clone();
        let mut q = lock(&self.inner.queue);
        for a in alerts {
            q.push_back(alert_json(a, &ext));
        }
        while q.len() > QUEUE {
            q.pop_front();
            self.inner.dropped.fetch_add(1, Ordering::Relaxed);
        }
        drop(q);
        self.inner.wake.notify_one();
    }

    /// Alerts dropped because the queue was full.
    pub(crate) fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// Alerts waiting to be sent.
    pub(crate) fn queue_len(&self) -> usize {
        lock(&self.inner.queue).len()
    }

    /// Counters per Alertmanager URL.
    pub(crate) fn stats(&self) -> Vec<(String, Arc<AmStats>)> {
        lock(&self.inner.stats)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Stops the thread after the current batch.
    pub(crate) fn stop(&self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        self.inner.wake.notify_all();
    }
}

/// One alert as Alertmanager's API v2 takes it.
fn alert_json(a: &Alert, ext: &Labels) -> String {
    let a = a.with_external(ext);
    let mut s = String::from("{");
    a.write_json_fields(&mut s, a.ends_at());
    s.push('}');
    s
}

fn run(inner: &Inner) {
    let mut agents: BTreeMap<u64, ureq::Agent> = BTreeMap::new();
    loop {
        let batch: Vec<String> = {
            let mut q = lock(&inner.queue);
            while q.is_empty() && !inner.stop.load(Ordering::SeqCst) {
                q = inner
                    .wake
                    .wait_timeout(q, Duration::from_secs(1))
                    .map(|(g, _)| g)
                    .unwrap_or_else(|e| e.into_inner().0);
            }
            if q.is_empty() {
                return;
            }
            let n = q.len().min(BATCH);
            q.drain(..n).collect()
        };
        let body = format!("[{}]", batch.join(","));
        let targets = lock(&inner.targets).clone();
        for (url, timeout) in targets {
            let agent = agents.entry(timeout.as_millis() as u64).or_insert_with(|| {
                ureq::Agent::config_builder()
                    .timeout_global(Some(timeout))
                    .http_status_as_error(false)
                    .user_agent(concat!("picket-hub/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .into()
            });
            let stats = lock(&inner.stats).get(&url).cloned();
            let n = batch.len() as u64;
            let res = agent
                .post(&url)
                .header("Content-Type", "application/json")
                .send(body.as_bytes());
            let err = match res {
                Ok(r) if r.status().is_success() => None,
                Ok(mut r) => {
                    let mut text = r.body_mut().read_to_string().unwrap_or_default();
                    text.truncate(512);
                    Some(format!("HTTP {}: {}", r.status().as_u16(), text.trim()))
                }
                Err(e) => Some(e.to_string()),
            };
            if let Some(s) = stats {
                s.sent.fetch_add(n, Ordering::Relaxed);
                if err.is_some() {
                    s.errors.fetch_add(n, Ordering::Relaxed);
                }
            }
            if let Some(e) = err {
                log::error!("sending {n} alert(s) to {url} failed: {e}");
            } else {
                log::debug!("sent {n} alert(s) to {url}");
            }
        }
    }
}

/// One `[[alerting.alertmanagers]]` table as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct AlertmanagerToml {
    /// `http` (default) or `https`.
    pub scheme: Option<String>,
    /// Path prefix of the Alertmanager API ("/").
    pub path_prefix: Option<String>,
    /// Timeout of one POST ("10s").
    pub timeout: Option<String>,
    /// Only "v2" (Alertmanager removed v1 in 0.27).
    pub api_version: Option<String>,
    /// Fixed targets.
    pub static_configs: Vec<StaticToml>,
}

/// `[[alerting.alertmanagers.static_configs]]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct StaticToml {
    /// `host:port` of each Alertmanager.
    pub targets: Vec<String>,
}

impl AlertmanagerToml {
    /// Checks the `i`th table: each target's `…/api/v2/alerts` URL and
    /// the timeout; errors are `(dotted key, message)`.
    pub(crate) fn resolve(&self, i: usize) -> Result<Vec<(String, Duration)>, (String, String)> {
        let key = |k: &str| format!("alerting.alertmanagers[{i}].{k}");
        let scheme = self.scheme.as_deref().unwrap_or("http");
        if scheme != "http" && scheme != "https" {
            return Err((
                key("scheme"),
                format!("{scheme:?}: expected \"http\" or \"https\""),
            ));
        }
        if let Some(v) = self.api_version.as_deref() {
            if v != "v2" {
                return Err((
                    key("api_version"),
                    format!("{v:?}: only \"v2\" is supported"),
                ));
            }
        }
        let timeout = match &self.timeout {
            None => Duration::from_secs(10),
            Some(s) => parse_duration(s).map_err(|e| (key("timeout"), e))?,
        };
        if timeout.is_zero() {
            return Err((key("timeout"), "must be more than 0".into()));
        }
        let prefix = self
            .path_prefix
            .as_deref()
            .unwrap_or("/")
            .trim_end_matches('/');
        if !prefix.is_empty() && !prefix.starts_with('/') {
            return Err((key("path_prefix"), format!("{prefix:?} must start with /")));
        }
        let mut out = Vec::new();
        for (j, target) in self
            .static_configs
            .iter()
            .flat_map(|s| s.targets.iter())
            .enumerate()
        {
            if target.is_empty() || target.contains('/') || !target.contains(':') {
                return Err((
                    key("static_configs.targets"),
                    format!("target {j}: {target:?} is not host:port"),
                ));
            }
            out.push((
                format!("{scheme}://{target}{prefix}/api/v2/alerts"),
                timeout,
            ));
        }
        Ok(out)
    }
}
