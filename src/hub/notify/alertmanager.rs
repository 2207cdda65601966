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
use picket_core::relabel::Relabel;
use picket_core::web::client::{
    AuthorizationToml, BasicAuthToml, ClientBlocks, HttpClient, TlsConfigToml,
};
use std::path::{Path, PathBuf};

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
    targets: Mutex<Vec<AmTarget>>,
    /// Where `targets` come from, and the URLs relabelling dropped.
    discovery: Mutex<(Vec<AmDiscovery>, Vec<String>)>,
    external_labels: Mutex<Labels>,
    /// `alert_relabel_configs`, run after the external labels are added.
    relabel: Mutex<Vec<Relabel>>,
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
        targets: Vec<AmDiscovery>,
        external_labels: Labels,
        relabel: Vec<Relabel>,
    ) -> Result<Notifier, String> {
        let n = Notifier {
            inner: Arc::new(Inner {
                queue: Mutex::new(VecDeque::new()),
                wake: Condvar::new(),
                targets: Mutex::new(Vec::new()),
                discovery: Mutex::new((Vec::new(), Vec::new())),
                external_labels: Mutex::new(Labels::new()),
                relabel: Mutex::new(Vec::new()),
                stats: Mutex::new(BTreeMap::new()),
                dropped: AtomicU64::new(0),
                stop: AtomicBool::new(false),
            }),
        };
        n.configure(targets, external_labels, relabel);
        let inner = n.inner.clone();
        std::thread::Builder::new()
            .name("picket-hub-notify".into())
            .spawn(move || run(&inner))
            .map_err(|e| format!("cannot start a thread: {e}"))?;
        Ok(n)
    }

    /// Sets the Alertmanagers, external labels and alert relabelling
    /// (start and reload).
    pub(crate) fn configure(
        &self,
        discovery: Vec<AmDiscovery>,
        external_labels: Labels,
        relabel: Vec<Relabel>,
    ) {
        *lock(&self.inner.discovery) = (discovery, Vec::new());
        self.inner.rediscover();
        *lock(&self.inner.external_labels) = external_labels;
        *lock(&self.inner.relabel) = relabel;
    }

    /// For `/api/v1/alertmanagers`: the alert URLs of the active
    /// Alertmanagers and of those relabelling dropped.
    pub(crate) fn alertmanagers(&self) -> (Vec<String>, Vec<String>) {
        let active = lock(&self.inner.targets)
            .iter()
            .map(|t| t.url.clone())
            .collect();
        (active, lock(&self.inner.discovery).1.clone())
    }

    /// Queues alerts (no-op without Alertmanagers).
    pub(crate) fn send(&self, alerts: &[Alert]) {
        if alerts.is_empty() || lock(&self.inner.targets).is_empty() {
            return;
        }
        let ext = lock(&self.inner.external_labels).clone();
        let relabel = lock(&self.inner.relabel).clone();
        let mut q = lock(&self.inner.queue);
        for a in alerts {
            if let Some(json) = alert_json(a, &ext, &relabel) {
                q.push_back(json);
            }
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
/// An alert as Alertmanager takes it: external labels added, then
/// `alert_relabel_configs` (`None`: relabelling dropped it).
fn alert_json(a: &Alert, ext: &Labels, relabel: &[Relabel]) -> Option<String> {
    let mut a = a.with_external(ext);
    if !relabel.is_empty() {
        a.labels = picket_core::relabel::process(a.labels, relabel)?;
    }
    let mut s = String::from("{");
    a.write_json_fields(&mut s, a.ends_at());
    s.push('}');
    Some(s)
}

/// One Alertmanager: its `…/api/v2/alerts` URL, the POST timeout, and
/// the table's credentials and TLS (Prometheus's `basic_auth`,
/// `authorization`, `tls_config`).
#[derive(Debug, Clone, PartialEq)]
pub struct AmTarget {
    /// The alerts URL.
    pub url: String,
    /// Timeout of one POST.
    pub timeout: Duration,
    /// Credentials and TLS.
    pub http: HttpClient,
}

impl AmTarget {
    fn agent(&self) -> ureq::Agent {
        let b = ureq::Agent::config_builder()
            .timeout_global(Some(self.timeout))
            .http_status_as_error(false)
            .user_agent(concat!("picket-hub/", env!("CARGO_PKG_VERSION")));
        self.http.tls.agent(b)
    }
}

impl Inner {
    /// Lists the Alertmanagers again (files re-read) and keeps a counter
    /// for each.
    fn rediscover(&self) {
        let mut targets = Vec::new();
        let mut dropped = Vec::new();
        let mut d = lock(&self.discovery);
        for am in &d.0 {
            let (a, dr) = am.discover();
            targets.extend(a);
            dropped.extend(dr);
        }
        d.1 = dropped;
        drop(d);
        {
            let mut st = lock(&self.stats);
            st.retain(|k, _| targets.iter().any(|t| t.url == *k));
            for t in &targets {
                st.entry(t.url.clone()).or_default();
            }
        }
        *lock(&self.targets) = targets;
    }

    fn dynamic(&self) -> bool {
        lock(&self.discovery).0.iter().any(AmDiscovery::dynamic)
    }
}

/// How often Alertmanagers listed in files are looked up again (the
/// files' changes reach the notifier within this).
const REDISCOVER: Duration = Duration::from_secs(5);

fn run(inner: &Inner) {
    // One client per Alertmanager, rebuilt when its settings change.
    let mut agents: BTreeMap<String, (AmTarget, ureq::Agent)> = BTreeMap::new();
    let mut discovered = std::time::Instant::now();
    loop {
        let batch: Vec<String> = {
            let mut q = lock(&inner.queue);
            while q.is_empty() && !inner.stop.load(Ordering::SeqCst) {
                q = inner
                    .wake
                    .wait_timeout(q, Duration::from_secs(1))
                    .map(|(g, _)| g)
                    .unwrap_or_else(|e| e.into_inner().0);
                if discovered.elapsed() >= REDISCOVER && inner.dynamic() {
                    drop(q);
                    inner.rediscover();
                    discovered = std::time::Instant::now();
                    q = lock(&inner.queue);
                }
            }
            if q.is_empty() {
                return;
            }
            let n = q.len().min(BATCH);
            q.drain(..n).collect()
        };
        let body = format!("[{}]", batch.join(","));
        let targets = lock(&inner.targets).clone();
        agents.retain(|url, (t, _)| targets.contains(t) && *url == t.url);
        for t in targets {
            let (_, agent) = agents
                .entry(t.url.clone())
                .or_insert_with(|| (t.clone(), t.agent()));
            let url = &t.url;
            let stats = lock(&inner.stats).get(url).cloned();
            let n = batch.len() as u64;
            let mut req = agent.post(url).header("Content-Type", "application/json");
            let res = match t.http.authorization() {
                Ok(Some(a)) => {
                    req = req.header("Authorization", a);
                    req.send(body.as_bytes())
                }
                Ok(None) => req.send(body.as_bytes()),
                Err(e) => Err(ureq::Error::Io(std::io::Error::other(e))),
            };
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
    /// "v2" (default) or "v1" (Alertmanager removed v1 in 0.27).
    pub api_version: Option<String>,
    /// Fixed targets.
    pub static_configs: Vec<StaticToml>,
    /// Basic auth of every POST.
    pub basic_auth: Option<BasicAuthToml>,
    /// `Authorization` of every POST.
    pub authorization: Option<AuthorizationToml>,
    /// Deprecated spelling of a bearer `authorization`.
    pub bearer_token: Option<String>,
    /// The same, from a file read per POST.
    pub bearer_token_file: Option<PathBuf>,
    /// TLS for `scheme = "https"`.
    pub tls_config: Option<TlsConfigToml>,
    /// Alertmanagers listed in files (Prometheus's file_sd format).
    pub file_sd_configs: Vec<crate::scrape::config::FileSdConfigToml>,
    /// Relabelling of each discovered Alertmanager (`__address__`,
    /// `__scheme__`, `__alerts_path__`).
    pub relabel_configs: Vec<picket_core::relabel::RelabelConfigToml>,
    /// Accepted (redirects are followed).
    pub follow_redirects: Option<bool>,
    /// Accepted (the hub speaks HTTP/1.1).
    pub enable_http2: Option<bool>,
}

/// `[[alerting.alertmanagers.static_configs]]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct StaticToml {
    /// `host:port` of each Alertmanager.
    pub targets: Vec<String>,
    /// Labels of the group (for relabelling).
    pub labels: BTreeMap<String, String>,
}

/// A checked `alertmanagers` entry: where its Alertmanagers come from and
/// how each is reached. [`AmDiscovery::discover`] lists them now (files
/// re-read), as Prometheus's notifier does with its discovered groups.
#[derive(Debug, Clone, PartialEq)]
pub struct AmDiscovery {
    scheme: String,
    alerts_path: String,
    timeout: Duration,
    http: HttpClient,
    groups: Vec<crate::scrape::config::TargetGroup>,
    file_sd: Vec<crate::scrape::config::FileSdConfig>,
    relabel: Vec<Relabel>,
}

impl AmDiscovery {
    /// True when files can change the list.
    pub(crate) fn dynamic(&self) -> bool {
        !self.file_sd.is_empty()
    }

    /// The Alertmanagers now, and the URLs of those relabelling dropped
    /// (Prometheus's `AlertmanagerFromGroup`: `__scheme__` and
    /// `__alerts_path__` set over the group's labels, relabelling, then
    /// the address checked).
    pub(crate) fn discover(&self) -> (Vec<AmTarget>, Vec<String>) {
        let mut groups = self.groups.clone();
        for f in &self.file_sd {
            let mut sd = crate::scrape::file_sd::FileSd::new(f.clone());
            sd.refresh();
            groups.extend(sd.groups());
        }
        let (mut active, mut dropped) = (Vec::new(), Vec::new());
        for g in &groups {
            for addr in &g.targets {
                let mut l = g.labels.clone();
                l.set("__address__", addr.clone());
                l.set("__scheme__", self.scheme.clone());
                l.set("__alerts_path__", self.alerts_path.clone());
                let url = |l: &Labels| {
                    format!(
                        "{}://{}{}",
                        l.get("__scheme__").unwrap_or(""),
                        l.get("__address__").unwrap_or(""),
                        l.get("__alerts_path__").unwrap_or("")
                    )
                };
                match picket_core::relabel::process(l.clone(), &self.relabel) {
                    None => dropped.push(url(&l)),
                    Some(r) => {
                        let a = r.get("__address__").unwrap_or("");
                        if a.is_empty() || a.contains('/') {
                            log::error!("alertmanager {a:?}: not a valid host:port; skipped");
                            continue;
                        }
                        active.push(AmTarget {
                            url: url(&r),
                            timeout: self.timeout,
                            http: self.http.clone(),
                        });
                    }
                }
            }
        }
        (active, dropped)
    }
}

impl AlertmanagerToml {
    /// Checks the `i`th table: each target's `…/api/v2/alerts` URL and
    /// the timeout; errors are `(dotted key, message)`.
    pub(crate) fn resolve(
        &self,
        i: usize,
        dir: Option<&Path>,
    ) -> Result<AmDiscovery, (String, String)> {
        let key = |k: &str| format!("alerting.alertmanagers[{i}].{k}");
        let scheme = self.scheme.as_deref().unwrap_or("http");
        if scheme != "http" && scheme != "https" {
            return Err((
                key("scheme"),
                format!("{scheme:?}: expected \"http\" or \"https\""),
            ));
        }
        // v1 is still Alertmanager 0.25's and Prometheus 2.42's; both
        // APIs take the same JSON list of alerts, only the path differs.
        let version = self.api_version.as_deref().unwrap_or("v2");
        if version != "v1" && version != "v2" {
            return Err((
                key("api_version"),
                format!(
                    "expected Alertmanager api version to be one of [v1 v2] but got {version:?}"
                ),
            ));
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
        let mut http = ClientBlocks {
            basic_auth: self.basic_auth.clone(),
            authorization: self.authorization.clone(),
            bearer_token: self.bearer_token.clone(),
            bearer_token_file: self.bearer_token_file.clone(),
            tls_config: self.tls_config.clone(),
        }
        .resolve()
        .map_err(|(k, m)| (key(&k), m))?;
        if let Some(d) = dir {
            http.set_directory(d);
        }
        http.check_files().map_err(|(k, m)| (key(&k), m))?;
        let mut groups = Vec::new();
        for (j, st) in self.static_configs.iter().enumerate() {
            for t in &st.targets {
                if t.is_empty() || t.contains('/') {
                    return Err((
                        key(&format!("static_configs[{j}].targets")),
                        format!("{t:?} is not a valid hostname"),
                    ));
                }
            }
            // "labels: <why>" or "targets: <why>".
            let g = crate::scrape::config::group(st.targets.clone(), st.labels.clone()).map_err(
                |e| {
                    let (field, why) = e.split_once(": ").unwrap_or(("labels", &e));
                    (
                        key(&format!("static_configs[{j}].{field}")),
                        why.to_string(),
                    )
                },
            )?;
            groups.push(g);
        }
        let mut file_sd = Vec::new();
        for (j, f) in self.file_sd_configs.iter().enumerate() {
            let mut c = f
                .clone()
                .resolve()
                .map_err(|(k, m)| (key(&format!("file_sd_configs[{j}].{k}")), m))?;
            if let Some(d) = dir {
                c.set_directory(d);
            }
            file_sd.push(c);
        }
        let mut relabel = Vec::new();
        for (j, r) in self.relabel_configs.iter().enumerate() {
            relabel.push(
                r.clone()
                    .resolve()
                    .map_err(|(k, m)| (key(&format!("relabel_configs[{j}].{k}")), m))?,
            );
        }
        Ok(AmDiscovery {
            scheme: scheme.to_string(),
            alerts_path: format!("{prefix}/api/{version}/alerts"),
            timeout,
            http,
            groups,
            file_sd,
            relabel,
        })
    }
}
