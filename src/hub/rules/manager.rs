//! Runs the rule groups: one thread ("picket-hub-rules") evaluates each
//! group at its slots (store reads and writes block, so never on the
//! executor), restores `for` clocks after start, hands due alerts to the
//! [`Notifier`], and swaps groups on reload keeping the state of rules
//! that did not change. The HTTP API reads the same groups for
//! `/api/v1/rules` and `/api/v1/alerts`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::config::Alerting;
use super::file::Group;
use super::group::{Ctx, GroupState, Health};
use crate::config::HubConfig;
use crate::notify::alertmanager::Notifier;
use crate::notify::dispatch::Dispatcher;
use crate::promql;
use crate::store::{now_ms, Store};
use picket_core::metric::Labels;

/// What the rule engine takes from the config (reloadable).
#[derive(Debug, Clone)]
struct Settings {
    query: promql::Options,
    external_labels: Labels,
    external_url: String,
    alerting: Alerting,
}

/// Counters for `/metrics` (Prometheus's `prometheus_rule_*`).
#[derive(Debug, Default)]
pub(crate) struct RuleStats {
    /// Rule evaluations.
    pub evaluations: AtomicU64,
    /// Rule evaluations that failed.
    pub failures: AtomicU64,
}

/// The rule engine.
#[derive(Debug)]
pub(crate) struct Manager {
    groups: Mutex<Vec<GroupState>>,
    settings: Mutex<Settings>,
    /// The Alertmanager sender.
    pub notifier: Notifier,
    /// Direct notifications (`[notify]`) and silences.
    pub dispatch: Dispatcher,
    /// Counters.
    pub stats: RuleStats,
    stop: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn settings(cfg: &HubConfig) -> Settings {
    Settings {
        query: cfg.query.clone(),
        external_labels: cfg.external_labels.clone(),
        external_url: cfg.external_url.clone(),
        alerting: cfg.alerting.clone(),
    }
}

impl Manager {
    /// Starts the notifier and the evaluation thread. At start every
    /// alerting rule restores its `for` state (after its group's second
    /// evaluation, as Prometheus does).
    pub fn start(
        cfg: &HubConfig,
        groups: Vec<Group>,
        store: Arc<Store>,
    ) -> Result<Arc<Manager>, String> {
        let notifier = Notifier::start(
            cfg.alerting.alertmanagers.clone(),
            cfg.external_labels.clone(),
            cfg.alerting.alert_relabel.clone(),
        )?;
        let dispatch =
            Dispatcher::start(&cfg.store.dir, cfg.notify.clone(), cfg.external_url.clone())?;
        let now = now_ms();
        let m = Arc::new(Manager {
            dispatch,
            groups: Mutex::new(
                groups
                    .into_iter()
                    .map(|g| GroupState::new(g, now, true))
                    .collect(),
            ),
            settings: Mutex::new(settings(cfg)),
            notifier,
            stats: RuleStats::default(),
            stop: AtomicBool::new(false),
        });
        let mm = m.clone();
        std::thread::Builder::new()
            .name("picket-hub-rules".into())
            .spawn(move || run(&mm, &store))
            .map_err(|e| format!("cannot start a thread: {e}"))?;
        Ok(m)
    }

    /// Replaces the groups (SIGHUP): unchanged rules keep their alerts;
    /// removed groups' series get stale markers.
    pub(crate) fn reload(&self, cfg: &HubConfig, groups: Vec<Group>, store: &Store) {
        let now = now_ms();
        *lock(&self.settings) = settings(cfg);
        self.notifier.configure(
            cfg.alerting.alertmanagers.clone(),
            cfg.external_labels.clone(),
            cfg.alerting.alert_relabel.clone(),
        );
        self.dispatch
            .configure(cfg.notify.clone(), cfg.external_url.clone());
        let mut old = lock(&self.groups);
        let mut new: Vec<GroupState> = groups
            .into_iter()
            .map(|g| GroupState::new(g, now, false))
            .collect();
        for g in &mut new {
            if let Some(o) = old
                .iter_mut()
                .find(|o| o.file == g.file && o.name == g.name)
            {
                g.take_state_from(o);
            }
        }
        for o in old.iter_mut() {
            if !new.iter().any(|g| g.file == o.file && g.name == o.name) {
                let rows = o.stale_all(now);
                if !rows.is_empty() {
                    store.append(&crate::ingest::Batch::from_rows(&rows));
                }
            }
        }
        *old = new;
    }

    /// Reads the groups (for the API).
    pub(crate) fn with_groups<R>(&self, f: impl FnOnce(&[GroupState]) -> R) -> R {
        f(&lock(&self.groups))
    }

    /// Stops evaluating and sending.
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.notifier.stop();
        self.dispatch.stop();
    }
}

fn run(m: &Manager, store: &Store) {
    while !m.stop.load(Ordering::SeqCst) {
        let now = now_ms();
        let s = lock(&m.settings).clone();
        let mut next = now + 200;
        {
            let mut groups = lock(&m.groups);
            for g in groups.iter_mut() {
                if g.next_ms > now {
                    next = next.min(g.next_ms);
                    continue;
                }
                let append = |rows: Vec<(Labels, i64, f64)>| {
                    store.append(&crate::ingest::Batch::from_rows(&rows));
                };
                let ctx = Ctx {
                    db: store,
                    opts: &s.query,
                    append: &append,
                    external_labels: &s.external_labels,
                    external_url: &s.external_url,
                    resend_delay_ms: s.alerting.resend_delay.as_millis() as i64,
                };
                let ts = g.next_ms;
                let out = g.eval(ts, &ctx);
                let failed = g.rules.iter().filter(|r| r.health == Health::Err).count();
                m.stats
                    .evaluations
                    .fetch_add(g.rules.len() as u64, Ordering::Relaxed);
                m.stats.failures.fetch_add(failed as u64, Ordering::Relaxed);
                if g.should_restore && g.evals >= 2 {
                    g.restore(
                        now_ms(),
                        store,
                        s.alerting.for_outage_tolerance.as_millis() as i64,
                        s.alerting.for_grace_period.as_millis() as i64,
                    );
                }
                m.notifier.send(&out);
                m.dispatch.send(&out, &s.external_labels);
                g.advance(now_ms());
                next = next.min(g.next_ms);
            }
        }
        let wait = (next - now_ms()).clamp(1, 200);
        std::thread::sleep(Duration::from_millis(wait as u64));
    }
}
