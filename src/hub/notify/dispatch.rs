//! Direct notifications for sites without Alertmanager: what
//! Alertmanager's dispatcher and notify pipeline do, small. Alerts from
//! the rule engine are routed ([`super::route`]), grouped per route and
//! `group_by` labels, and each group is flushed after `group_wait`, then
//! every `group_interval`; a flush notifies when the group changed (a new
//! firing alert, a resolution) or `repeat_interval` passed
//! (Alertmanager's DedupStage), minus silenced ([`super::silence`]) and
//! inhibited ([`super::inhibit`]) alerts, and not at all while its route
//! is muted by its time intervals ([`super::timeinterval`]; what is not
//! sent then is sent at the first flush after). Each receiver's integrations
//! make the bodies: Alertmanager's webhook payload version 4
//! ([`super::webhook`], also what MQTT receivers publish), a rendered
//! mail ([`super::email`]).
//!
//! Bodies go into an outbox in SQLite (`notify.sqlite` in the storage
//! directory) that [`super::outbox`] delivers from, with retries that
//! survive a restart. Silences are kept in the same file. Everything
//! blocking runs on the "picket-hub-notify-direct" thread.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::Connection;

use super::config::{Notify, Receiver};
use super::route::Route;
use super::silence::Silences;
use super::{outbox, Alert};
use crate::store::now_ms;
use picket_core::metric::Labels;

/// Counters for `/metrics` (Alertmanager's `alertmanager_notifications_*`).
#[derive(Debug, Default)]
pub(crate) struct DirectStats {
    /// Notifications delivered.
    pub sent: AtomicU64,
    /// Delivery attempts that failed (each is retried).
    pub failed: AtomicU64,
}

/// One aggregation group.
#[derive(Debug)]
pub(super) struct AggGroup {
    /// Its route's key.
    pub(super) route_key: String,
    receiver: usize,
    /// The labels it groups by, with their values.
    pub(super) group_labels: Labels,
    group_interval: i64,
    repeat_interval: i64,
    /// Its route's `mute_time_intervals` and `active_time_intervals`.
    mute: Vec<String>,
    active: Vec<String>,
    /// Its alerts (with external labels), by fingerprint.
    alerts: BTreeMap<u64, Alert>,
    next_flush: i64,
    /// Alertmanager's notification log entry: firing and resolved
    /// fingerprints last notified, and when.
    last: Option<(BTreeSet<u64>, BTreeSet<u64>, i64)>,
}

/// Alerts of one flush, in notification order, with their fingerprints.
pub(super) type Flushed<'a> = [&'a (u64, Alert)];

/// The dispatcher.
#[derive(Debug)]
pub(crate) struct Dispatcher {
    inner: Arc<Inner>,
}

/// What the dispatcher's thread and its API share.
#[derive(Debug)]
pub(super) struct Inner {
    /// The checked `[notify]` (None: direct notifications are off).
    pub(super) cfg: Mutex<Option<Notify>>,
    groups: Mutex<BTreeMap<(String, String), AggGroup>>,
    /// `notify.sqlite`: the outbox and the silences.
    pub(super) db: Mutex<Connection>,
    external_url: Mutex<String>,
    /// Silences (also served by the API).
    pub silences: Silences,
    /// Counters.
    pub(super) stats: DirectStats,
    stop: AtomicBool,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Alertmanager's alert fingerprint: FNV-1a 64 over sorted names and
/// values, each followed by 0xff (prometheus/common `model.Fingerprint`).
pub(crate) fn fingerprint(l: &Labels) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut add = |b: u8| h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    for (n, v) in l.iter() {
        n.bytes().for_each(&mut add);
        add(0xff);
        v.bytes().for_each(&mut add);
        add(0xff);
    }
    h
}

/// `model.LabelSet.String()`: `{a="b", c="d"}`.
pub(super) fn labelset_string(l: &Labels) -> String {
    let items: Vec<String> = l
        .iter()
        .map(|(k, v)| format!("{k}={}", crate::promql::value::go_quote(v)))
        .collect();
    format!("{{{}}}", items.join(", "))
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY, url TEXT NOT NULL, body TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0, next_try INTEGER NOT NULL, created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS silences (id TEXT PRIMARY KEY, body TEXT NOT NULL);
";

impl Dispatcher {
    /// Opens `<dir>/notify.sqlite` (outbox and silences) and starts the
    /// thread that flushes groups and delivers.
    pub fn start(
        dir: &Path,
        cfg: Option<Notify>,
        external_url: String,
    ) -> Result<Dispatcher, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = dir.join("notify.sqlite");
        let db = Connection::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        db.execute_batch(SCHEMA)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let silences = Silences::load(&db).map_err(|e| format!("{}: {e}", path.display()))?;
        let inner = Arc::new(Inner {
            cfg: Mutex::new(cfg),
            groups: Mutex::new(BTreeMap::new()),
            db: Mutex::new(db),
            external_url: Mutex::new(external_url),
            silences,
            stats: DirectStats::default(),
            stop: AtomicBool::new(false),
        });
        let i = inner.clone();
        std::thread::Builder::new()
            .name("picket-hub-notify-direct".into())
            .spawn(move || run(&i))
            .map_err(|e| format!("cannot start a thread: {e}"))?;
        Ok(Dispatcher { inner })
    }

    /// New routing tree and receivers (SIGHUP). A group whose route (same
    /// key) still sends to a receiver of the same name is kept with what
    /// it notified, so a reload re-notifies nothing unchanged; the others
    /// start again. Notifications in the outbox go to the new settings of
    /// their receiver.
    pub(crate) fn configure(&self, cfg: Option<Notify>, external_url: String) {
        let mut old = lock(&self.inner.cfg);
        let mut groups = lock(&self.inner.groups);
        groups.retain(|_, g| {
            let name = old
                .as_ref()
                .and_then(|c| c.receivers.get(g.receiver))
                .map(|r| r.name.as_str());
            let new = cfg.as_ref().and_then(|c| {
                let r = c.route.find(&g.route_key)?;
                Some((r, c.receivers.get(r.receiver)?))
            });
            match (name, new) {
                // Same receiver, and group_by unchanged.
                (Some(n), Some((r, recv)))
                    if recv.name == n
                        && g.alerts
                            .values()
                            .all(|a| r.group_labels(&a.labels) == g.group_labels) =>
                {
                    g.receiver = r.receiver;
                    g.group_interval = r.group_interval.as_millis() as i64;
                    g.repeat_interval = r.repeat_interval.as_millis() as i64;
                    g.mute.clone_from(&r.mute_time_intervals);
                    g.active.clone_from(&r.active_time_intervals);
                    true
                }
                _ => false,
            }
        });
        *old = cfg;
        *lock(&self.inner.external_url) = external_url;
    }

    /// The silences, for the API.
    pub(crate) fn silences(&self) -> &Silences {
        &self.inner.silences
    }

    /// Runs `f` with the database (silence API writes).
    pub(crate) fn with_db<R>(&self, f: impl FnOnce(&Connection) -> R) -> R {
        f(&lock(&self.inner.db))
    }

    /// Counters.
    pub(crate) fn stats(&self) -> &DirectStats {
        &self.inner.stats
    }

    /// Notifications waiting in the outbox.
    pub(crate) fn outbox_len(&self) -> u64 {
        lock(&self.inner.db)
            .query_row("SELECT count(*) FROM outbox", [], |r| r.get::<_, i64>(0))
            .map(|n| n.max(0) as u64)
            .unwrap_or(0)
    }

    /// Takes alerts from the rule engine (the same ones Alertmanager gets).
    pub(crate) fn send(&self, alerts: &[Alert], external_labels: &Labels) {
        let cfg = lock(&self.inner.cfg);
        let Some(cfg) = cfg.as_ref() else {
            return;
        };
        let now = now_ms();
        let mut groups = lock(&self.inner.groups);
        for o in alerts {
            let held = o.with_external(external_labels);
            let fp = fingerprint(&held.labels);
            for r in cfg.route.matching(&held.labels) {
                let gl = r.group_labels(&held.labels);
                let key = (r.key.clone(), labelset_string(&gl));
                let g = groups.entry(key).or_insert_with(|| new_group(r, gl, now));
                // Every alert received goes into its groups, as in
                // Alertmanager (`processAlert`): a resolution re-sent
                // (every resend delay for 15 min) is back in the group
                // until the next flush drops it, so a later notification
                // of the group lists it again, as Alertmanager's does
                // (whether one is sent is the notification log's call).
                g.alerts.insert(fp, held.clone());
            }
        }
    }

    /// Stops the thread.
    pub(crate) fn stop(&self) {
        self.inner.stop.store(true, Ordering::SeqCst);
    }
}

fn new_group(r: &Route, gl: Labels, now: i64) -> AggGroup {
    AggGroup {
        route_key: r.key.clone(),
        receiver: r.receiver,
        group_labels: gl,
        group_interval: r.group_interval.as_millis() as i64,
        repeat_interval: r.repeat_interval.as_millis() as i64,
        mute: r.mute_time_intervals.clone(),
        active: r.active_time_intervals.clone(),
        alerts: BTreeMap::new(),
        next_flush: now + r.group_wait.as_millis() as i64,
        last: None,
    }
}

fn run(inner: &Inner) {
    let mut links = super::mqtt::Links::default();
    while !inner.stop.load(Ordering::SeqCst) {
        flush_due(inner);
        outbox::deliver_due(inner, &mut links);
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Flushes every group whose timer is due: notification bodies into the
/// outbox.
fn flush_due(inner: &Inner) {
    let now = now_ms();
    let cfg = lock(&inner.cfg).clone();
    let Some(cfg) = cfg else {
        return;
    };
    let ext_url = lock(&inner.external_url).clone();
    let mut bodies: Vec<(String, String)> = Vec::new();
    {
        let mut groups = lock(&inner.groups);
        // Firing alerts of all groups, for inhibition.
        let firing: Vec<Labels> = groups
            .values()
            .flat_map(|g| g.alerts.values())
            .filter(|a| !a.resolved(now))
            .map(|a| a.labels.clone())
            .collect();
        let firing_refs: Vec<&Labels> = firing.iter().collect();
        let muted = |a: &Alert| {
            inner.silences.silenced(&a.labels, now)
                || cfg.inhibit.iter().any(|i| i.mutes(&a.labels, &firing_refs))
        };
        for g in groups.values_mut() {
            if g.next_flush > now {
                continue;
            }
            g.next_flush = now + g.group_interval;
            let Some(receiver) = cfg.receivers.get(g.receiver) else {
                continue;
            };
            let time_muted = cfg.time_muted(&g.mute, &g.active, now);
            let out = Out {
                templates: &cfg.templates,
                ext_url: &ext_url,
                failed: &inner.stats.failed,
            };
            bodies.extend(g.flush(receiver, &muted, time_muted, now, &out));
        }
        groups.retain(|_, g| {
            !g.alerts.is_empty() || g.last.as_ref().is_some_and(|l| !l.0.is_empty())
        });
    }
    outbox::queue(inner, bodies, now);
}

/// What a flush renders notifications with.
struct Out<'a> {
    /// The named notification templates.
    templates: &'a crate::rules::template::Set,
    /// The sender's external URL.
    ext_url: &'a str,
    /// Counts notifications that could not be rendered.
    failed: &'a AtomicU64,
}

impl AggGroup {
    /// Flushes the group (its timer is due): the bodies to queue, as
    /// (outbox target, body), if it must notify and its route is not
    /// `time_muted` (then nothing counts as notified, as Alertmanager's
    /// time stages stop the pipeline before its notification log);
    /// resolved alerts are dropped afterwards (Alertmanager's GC).
    fn flush(
        &mut self,
        receiver: &Receiver,
        muted: &dyn Fn(&Alert) -> bool,
        time_muted: bool,
        now: i64,
        out: &Out<'_>,
    ) -> Vec<(String, String)> {
        let mut alerts: Vec<(u64, Alert)> = self
            .alerts
            .iter()
            .filter(|(_, a)| !muted(a))
            .map(|(k, a)| (*k, a.clone()))
            .collect();
        alerts.sort_by(|x, y| alert_order(&x.1.labels, &y.1.labels));
        let fingerprints = |resolved: bool| -> BTreeSet<u64> {
            (alerts.iter())
                .filter(|(_, a)| a.resolved(now) == resolved)
                .map(|(k, _)| *k)
                .collect()
        };
        let (fire, res) = (fingerprints(false), fingerprints(true));
        let mut bodies = Vec::new();
        if !time_muted && self.needs_notify(&fire, &res, receiver.send_resolved(), now) {
            bodies = self.bodies(receiver, &alerts, now, out);
            self.last = Some((fire, res, now));
        }
        self.alerts.retain(|_, a| !a.resolved(now));
        bodies
    }

    /// Whether a flush with these firing and resolved fingerprints
    /// notifies (Alertmanager's DedupStage against the last notification).
    fn needs_notify(
        &self,
        fire: &BTreeSet<u64>,
        res: &BTreeSet<u64>,
        send_resolved: bool,
        now: i64,
    ) -> bool {
        match &self.last {
            None => !fire.is_empty(),
            Some((lf, lr, at)) => {
                if !fire.is_subset(lf) {
                    true
                } else if fire.is_empty() {
                    !lf.is_empty()
                } else if send_resolved && !res.is_subset(lr) {
                    true
                } else {
                    *at + self.repeat_interval <= now
                }
            }
        }
    }

    /// One body per integration of `receiver` that has alerts to show. A
    /// mail whose templates fail is logged and counted as failed, and not
    /// sent (as in Alertmanager: trying again would fail again).
    fn bodies(
        &self,
        receiver: &Receiver,
        alerts: &[(u64, Alert)],
        now: i64,
        out: &Out<'_>,
    ) -> Vec<(String, String)> {
        let ext_url = out.ext_url;
        let shown = |send_resolved: bool| -> Vec<&(u64, Alert)> {
            alerts
                .iter()
                .filter(|(_, a)| send_resolved || !a.resolved(now))
                .collect()
        };
        let mut bodies = Vec::new();
        for w in &receiver.webhooks {
            let list = shown(w.send_resolved);
            if !list.is_empty() {
                let body = super::webhook::payload(
                    self,
                    &receiver.name,
                    &list,
                    w.max_alerts,
                    now,
                    ext_url,
                );
                bodies.push((w.url.clone(), body));
            }
        }
        for (i, e) in receiver.emails.iter().enumerate() {
            let list = shown(e.send_resolved);
            if list.is_empty() {
                continue;
            }
            let target = outbox::email_target(&receiver.name, i);
            match super::email::mail(
                e,
                out.templates,
                &receiver.name,
                &self.group_labels,
                &list,
                now,
                ext_url,
            ) {
                Ok(mail) => {
                    let body = serde_json::to_string(&mail).unwrap_or_default();
                    bodies.push((target, body));
                }
                Err(err) => {
                    out.failed.fetch_add(1, Ordering::Relaxed);
                    log::error!("notification to {target} not sent: {err}");
                }
            }
        }
        for (i, m) in receiver.mqtts.iter().enumerate() {
            let list = shown(m.send_resolved);
            if !list.is_empty() {
                let body = super::webhook::payload(self, &receiver.name, &list, 0, now, ext_url);
                bodies.push((outbox::mqtt_target(&receiver.name, i), body));
            }
        }
        bodies
    }
}

/// Alertmanager's order of alerts in a notification (`AlertSlice.Less`):
/// by `job`, then `instance` (alerts lacking one go last), then labels.
fn alert_order(a: &Labels, b: &Labels) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    for k in ["job", "instance"] {
        match (a.get(k), b.get(k)) {
            (None, None) => continue,
            (None, Some(_)) => return Ordering::Greater,
            (Some(_), None) => return Ordering::Less,
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => {}
        }
    }
    a.cmp(b)
}

/// The labels all of `sets` share.
pub(super) fn common_labels<'a>(mut sets: impl Iterator<Item = &'a Labels>) -> Labels {
    let Some(first) = sets.next() else {
        return Labels::new();
    };
    let mut c = first.clone();
    for l in sets {
        let keep: Vec<(String, String)> = c
            .iter()
            .filter(|(k, v)| l.get(k) == Some(*v))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        c = Labels::from_pairs(keep);
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_alertmanagers() {
        // model.LabelSet{}.Fingerprint() is FNV-1a's offset basis.
        assert_eq!(fingerprint(&Labels::new()), 0xcbf2_9ce4_8422_2325);
        assert_eq!(
            labelset_string(&Labels::from_pairs([("alertname", "A"), ("i", "x\"y")])),
            "{alertname=\"A\", i=\"x\\\"y\"}"
        );
    }
}
