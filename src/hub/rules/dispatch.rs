//! Direct notifications for sites without Alertmanager: what
//! Alertmanager's dispatcher and notify pipeline do, small. Alerts from
//! the rule engine are routed ([`super::route`]), grouped per route and
//! `group_by` labels, and each group is flushed after `group_wait`, then
//! every `group_interval`; a flush notifies when the group changed (a new
//! firing alert, a resolution) or `repeat_interval` passed
//! (Alertmanager's DedupStage), minus silenced and inhibited alerts. The
//! webhook body is Alertmanager's payload version 4, so existing bridges
//! (Matrix, Rocket.Chat, ntfy) work unchanged; MQTT receivers publish the
//! same body ([`super::mqtt`]), email receivers send a rendered mail
//! ([`super::email`]).
//!
//! Delivery goes through an outbox in SQLite (`notify.sqlite` in the
//! storage directory): a notification is written before it is sent and
//! deleted once a receiver took it (a 2xx answer, the SMTP server's
//! acceptance, the broker's PUBACK); failures are retried with backoff,
//! logged and counted, and survive a restart. Silences are kept in the
//! same file. Everything blocking runs on the "picket-hub-notify-direct"
//! thread.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{params, Connection};

use super::group::Outgoing;
use super::route::{Notify, Route};
use super::silence::Silences;
use crate::json;
use crate::store::now_ms;
use picket_core::metric::Labels;

/// Counters for `/metrics` (Alertmanager's `alertmanager_notifications_*`).
#[derive(Debug, Default)]
pub struct DirectStats {
    /// Notifications delivered.
    pub sent: AtomicU64,
    /// Delivery attempts that failed (each is retried).
    pub failed: AtomicU64,
}

/// An alert as the dispatcher holds it.
#[derive(Clone, Debug)]
struct Held {
    labels: Labels,
    annotations: Labels,
    starts_at: i64,
    /// When it resolved (0: firing).
    resolved_at: i64,
    /// When a firing alert expires if not re-sent.
    valid_until: i64,
    generator_url: String,
}

impl Held {
    fn resolved(&self, now: i64) -> bool {
        self.resolved_at != 0 || (self.valid_until != 0 && self.valid_until <= now)
    }
}

/// One aggregation group.
#[derive(Debug)]
struct AggGroup {
    route_key: String,
    receiver: usize,
    group_labels: Labels,
    group_interval: i64,
    repeat_interval: i64,
    alerts: BTreeMap<u64, Held>,
    next_flush: i64,
    /// Alertmanager's notification log entry: firing and resolved
    /// fingerprints last notified, and when.
    last: Option<(BTreeSet<u64>, BTreeSet<u64>, i64)>,
}

/// The dispatcher.
#[derive(Debug)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    cfg: Mutex<Option<Notify>>,
    groups: Mutex<BTreeMap<(String, String), AggGroup>>,
    db: Mutex<Connection>,
    external_url: Mutex<String>,
    /// Silences (also served by the API).
    pub silences: Silences,
    stats: DirectStats,
    stop: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Alertmanager's alert fingerprint: FNV-1a 64 over sorted names and
/// values, each followed by 0xff (prometheus/common `model.Fingerprint`).
pub fn fingerprint(l: &Labels) -> u64 {
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
fn labelset_string(l: &Labels) -> String {
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
    pub fn configure(&self, cfg: Option<Notify>, external_url: String) {
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
                    true
                }
                _ => false,
            }
        });
        *old = cfg;
        *lock(&self.inner.external_url) = external_url;
    }

    /// The silences, for the API.
    pub fn silences(&self) -> &Silences {
        &self.inner.silences
    }

    /// Runs `f` with the database (silence API writes).
    pub fn with_db<R>(&self, f: impl FnOnce(&Connection) -> R) -> R {
        f(&lock(&self.inner.db))
    }

    /// Counters.
    pub fn stats(&self) -> &DirectStats {
        &self.inner.stats
    }

    /// Notifications waiting in the outbox.
    pub fn outbox_len(&self) -> u64 {
        lock(&self.inner.db)
            .query_row("SELECT count(*) FROM outbox", [], |r| r.get::<_, i64>(0))
            .map(|n| n.max(0) as u64)
            .unwrap_or(0)
    }

    /// Takes alerts from the rule engine (the same ones Alertmanager gets).
    pub fn send(&self, alerts: &[Outgoing], external_labels: &Labels) {
        let cfg = lock(&self.inner.cfg);
        let Some(cfg) = cfg.as_ref() else {
            return;
        };
        let now = now_ms();
        let mut groups = lock(&self.inner.groups);
        for o in alerts {
            let mut labels = o.alert.labels.clone();
            for (k, v) in external_labels.iter() {
                if labels.get(k).is_none() {
                    labels.set(k.to_string(), v);
                }
            }
            let held = Held {
                labels: labels.clone(),
                annotations: o.alert.annotations.clone(),
                starts_at: o.alert.fired_at,
                resolved_at: o.alert.resolved_at,
                valid_until: o.alert.valid_until,
                generator_url: o.generator_url.clone(),
            };
            let fp = fingerprint(&labels);
            for r in cfg.route.matching(&labels) {
                let gl = r.group_labels(&labels);
                let key = (r.key.clone(), labelset_string(&gl));
                let g = groups.entry(key).or_insert_with(|| new_group(r, gl, now));
                // A resolution re-sent (every resend delay for 15 min) for
                // an alert this group has already notified as resolved, or
                // never notified as firing, changes nothing.
                let known = g.alerts.contains_key(&fp)
                    || g.last.as_ref().is_some_and(|(f, _, _)| f.contains(&fp));
                if held.resolved_at != 0 && !known {
                    continue;
                }
                g.alerts.insert(fp, held.clone());
            }
        }
    }

    /// Stops the thread.
    pub fn stop(&self) {
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
        alerts: BTreeMap::new(),
        next_flush: now + r.group_wait.as_millis() as i64,
        last: None,
    }
}

fn run(inner: &Inner) {
    let mut links = super::mqtt::Links::default();
    while !inner.stop.load(Ordering::SeqCst) {
        flush_due(inner);
        deliver_due(inner, &mut links);
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
        for g in groups.values_mut() {
            if g.next_flush > now {
                continue;
            }
            g.next_flush = now + g.group_interval;
            let Some(receiver) = cfg.receivers.get(g.receiver) else {
                continue;
            };
            let muted = |a: &Held| {
                inner.silences.silenced(&a.labels, now)
                    || cfg.inhibit.iter().any(|i| i.mutes(&a.labels, &firing_refs))
            };
            let mut alerts: Vec<(u64, Held)> = g
                .alerts
                .iter()
                .filter(|(_, a)| !muted(a))
                .map(|(k, a)| (*k, a.clone()))
                .collect();
            alerts.sort_by(|x, y| alert_order(&x.1.labels, &y.1.labels));
            let fire: BTreeSet<u64> = alerts
                .iter()
                .filter(|(_, a)| !a.resolved(now))
                .map(|(k, _)| *k)
                .collect();
            let res: BTreeSet<u64> = alerts
                .iter()
                .filter(|(_, a)| a.resolved(now))
                .map(|(k, _)| *k)
                .collect();
            let send_resolved = receiver.send_resolved();
            let needs = match &g.last {
                None => !fire.is_empty(),
                Some((lf, lr, at)) => {
                    if !fire.is_subset(lf) {
                        true
                    } else if fire.is_empty() {
                        !lf.is_empty()
                    } else if send_resolved && !res.is_subset(lr) {
                        true
                    } else {
                        *at + g.repeat_interval <= now
                    }
                }
            };
            if needs {
                for w in &receiver.webhooks {
                    let list: Vec<&(u64, Held)> = alerts
                        .iter()
                        .filter(|(_, a)| w.send_resolved || !a.resolved(now))
                        .collect();
                    if list.is_empty() {
                        continue;
                    }
                    let body = payload(g, &receiver.name, &list, w.max_alerts, now, &ext_url);
                    bodies.push((w.url.clone(), body));
                }
                for (i, e) in receiver.emails.iter().enumerate() {
                    let list: Vec<&(u64, Held)> = alerts
                        .iter()
                        .filter(|(_, a)| e.send_resolved || !a.resolved(now))
                        .collect();
                    if list.is_empty() {
                        continue;
                    }
                    let mail = mail(g, &list, now, &ext_url);
                    let body = serde_json::to_string(&mail).unwrap_or_default();
                    bodies.push((format!("{EMAIL}{}#{i}", receiver.name), body));
                }
                for (i, m) in receiver.mqtts.iter().enumerate() {
                    let list: Vec<&(u64, Held)> = alerts
                        .iter()
                        .filter(|(_, a)| m.send_resolved || !a.resolved(now))
                        .collect();
                    if list.is_empty() {
                        continue;
                    }
                    let body = payload(g, &receiver.name, &list, 0, now, &ext_url);
                    bodies.push((format!("{MQTT}{}#{i}", receiver.name), body));
                }
                g.last = Some((fire, res, now));
            }
            // Resolved alerts are dropped once flushed (Alertmanager's GC).
            g.alerts.retain(|_, a| !a.resolved(now));
        }
        groups.retain(|_, g| {
            !g.alerts.is_empty() || g.last.as_ref().is_some_and(|l| !l.0.is_empty())
        });
    }
    if bodies.is_empty() {
        return;
    }
    let db = lock(&inner.db);
    for (url, body) in bodies {
        if let Err(e) = db.execute(
            "INSERT INTO outbox (url, body, next_try, created) VALUES (?1, ?2, ?3, ?3)",
            params![url, body, now],
        ) {
            log::error!("cannot queue a notification to {url}: {e}");
        }
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

/// Outbox targets of email receivers: `email:<receiver>#<index>`.
const EMAIL: &str = "email:";
/// Outbox targets of MQTT receivers: `mqtt:<receiver>#<index>`.
const MQTT: &str = "mqtt:";

/// The mail of a flush.
fn mail(g: &AggGroup, alerts: &[&(u64, Held)], now: i64, ext_url: &str) -> super::email::Mail {
    let status = if alerts.iter().any(|(_, a)| !a.resolved(now)) {
        "firing"
    } else {
        "resolved"
    };
    let starts: Vec<String> = alerts
        .iter()
        .map(|(_, a)| {
            let mut s = String::new();
            json::rfc3339(&mut s, a.starts_at);
            s
        })
        .collect();
    let lines: Vec<super::email::Line<'_>> = alerts
        .iter()
        .zip(&starts)
        .map(|((_, a), s)| {
            (
                if a.resolved(now) {
                    "resolved"
                } else {
                    "firing"
                },
                &a.labels,
                &a.annotations,
                s.as_str(),
            )
        })
        .collect();
    let common = common_labels(alerts.iter().map(|(_, a)| &a.labels));
    super::email::render(status, &g.group_labels, &common, &lines, ext_url)
}

/// The labels all of `sets` share.
fn common_labels<'a>(mut sets: impl Iterator<Item = &'a Labels>) -> Labels {
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

/// Alertmanager's webhook payload, version 4.
fn payload(
    g: &AggGroup,
    receiver: &str,
    alerts: &[&(u64, Held)],
    max: usize,
    now: i64,
    ext_url: &str,
) -> String {
    let firing = alerts.iter().any(|(_, a)| !a.resolved(now));
    let common = |f: &dyn Fn(&Held) -> &Labels| -> Labels {
        common_labels(alerts.iter().map(|(_, a)| f(a)))
    };
    let shown = if max > 0 {
        alerts.len().min(max)
    } else {
        alerts.len()
    };
    let mut s = String::from("{\"receiver\":");
    json::string(&mut s, receiver);
    s.push_str(",\"status\":");
    json::string(&mut s, if firing { "firing" } else { "resolved" });
    s.push_str(",\"alerts\":[");
    for (i, (fp, a)) in alerts.iter().take(shown).enumerate() {
        if i > 0 {
            s.push(',');
        }
        let resolved = a.resolved(now);
        s.push_str("{\"status\":");
        json::string(&mut s, if resolved { "resolved" } else { "firing" });
        s.push_str(",\"labels\":");
        json::labels(&mut s, &a.labels);
        s.push_str(",\"annotations\":");
        json::labels(&mut s, &a.annotations);
        s.push_str(",\"startsAt\":\"");
        json::rfc3339(&mut s, a.starts_at);
        s.push_str("\",\"endsAt\":\"");
        // Alertmanager hides the end of alerts that are still firing.
        let end = if !resolved {
            0
        } else if a.resolved_at != 0 {
            a.resolved_at
        } else {
            a.valid_until
        };
        json::rfc3339(&mut s, end);
        s.push_str("\",\"generatorURL\":");
        json::string(&mut s, &a.generator_url);
        s.push_str(",\"fingerprint\":");
        json::string(&mut s, &format!("{fp:016x}"));
        s.push('}');
    }
    s.push_str("],\"groupLabels\":");
    json::labels(&mut s, &g.group_labels);
    s.push_str(",\"commonLabels\":");
    json::labels(&mut s, &common(&|a| &a.labels));
    s.push_str(",\"commonAnnotations\":");
    json::labels(&mut s, &common(&|a| &a.annotations));
    s.push_str(",\"externalURL\":");
    json::string(&mut s, ext_url);
    s.push_str(",\"version\":\"4\",\"groupKey\":");
    json::string(
        &mut s,
        &format!("{}:{}", g.route_key, labelset_string(&g.group_labels)),
    );
    s.push_str(&format!(",\"truncatedAlerts\":{}}}", alerts.len() - shown));
    s
}

/// Sends what is due in the outbox; 2xx (a mail accepted, a PUBACK)
/// deletes, anything else retries with backoff ([`finish`]).
/// Notifications older than a day are dropped with an error. After a
/// failed MQTT attempt, the receiver's other notifications wait for the
/// next round rather than each waiting out the broker's timeout.
fn deliver_due(inner: &Inner, links: &mut super::mqtt::Links) {
    let now = now_ms();
    let due: Vec<Due> = {
        let db = lock(&inner.db);
        let Ok(mut st) = db.prepare_cached(
            "SELECT id, url, body, attempts, created FROM outbox WHERE next_try <= ?1 ORDER BY id LIMIT 50",
        ) else {
            return;
        };
        st.query_map([now], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .map(|rows| rows.filter_map(Result::ok).collect())
        .unwrap_or_default()
    };
    if due.is_empty() {
        return;
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .user_agent(concat!("picket-hub/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    // Connections of receivers a reload removed or changed are closed.
    if let Some(cfg) = lock(&inner.cfg).as_ref() {
        links
            .retain(|target, broker| mqtt_config(cfg, target).is_some_and(|m| &m.broker == broker));
    }
    // One destination's notifications go in order; destinations go in
    // parallel, so a slow webhook or SMTP server (up to 10 s / 30 s per
    // attempt) holds back only its own. MQTT receivers share `links` and
    // go one after the other on this thread.
    let mut by_url: BTreeMap<String, Vec<Due>> = BTreeMap::new();
    for d in due {
        by_url.entry(d.1.clone()).or_default().push(d);
    }
    std::thread::scope(|scope| {
        for (url, items) in &by_url {
            if url.starts_with(MQTT) {
                continue;
            }
            let agent = &agent;
            let spawned = std::thread::Builder::new()
                .name("picket-hub-notify-send".into())
                .spawn_scoped(scope, move || {
                    for d in items {
                        let err = if let Some(target) = url.strip_prefix(EMAIL) {
                            send_mail(inner, target, &d.2)
                        } else {
                            send_webhook(agent, url, &d.2)
                        };
                        finish(inner, now, d, err);
                    }
                });
            if let Err(e) = spawned {
                log::error!("cannot start a delivery thread for {url}: {e}; next round");
            }
        }
        for (url, items) in &by_url {
            let Some(target) = url.strip_prefix(MQTT) else {
                continue;
            };
            let mut down: Option<String> = None;
            for d in items {
                let err = match &down {
                    Some(e) => Some(e.clone()),
                    None => {
                        let e = send_mqtt(inner, links, target, &d.2);
                        down.clone_from(&e);
                        e
                    }
                };
                finish(inner, now, d, err);
            }
        }
    });
}

/// An outbox row due for delivery: id, destination, body, attempts, created.
type Due = (i64, String, String, i64, i64);

/// POSTs a webhook body; None on 2xx.
fn send_webhook(agent: &ureq::Agent, url: &str, body: &str) -> Option<String> {
    match agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(body.as_bytes())
    {
        Ok(r) if r.status().is_success() => None,
        Ok(r) => Some(format!("HTTP {}", r.status().as_u16())),
        Err(e) => Some(e.to_string()),
    }
}

/// Records one attempt: delivered rows are deleted, failed ones retried
/// with backoff (1 s doubling to 5 min), or dropped after a day.
fn finish(inner: &Inner, now: i64, d: &Due, err: Option<String>) {
    let (id, url, _, attempts, created) = (d.0, &d.1, &d.2, d.3, d.4);
    let db = lock(&inner.db);
    match err {
        None => {
            inner.stats.sent.fetch_add(1, Ordering::Relaxed);
            let _ = db.execute("DELETE FROM outbox WHERE id = ?1", [id]);
        }
        Some(e) if now - created > 86_400_000 => {
            inner.stats.failed.fetch_add(1, Ordering::Relaxed);
            log::error!("notification to {url} undeliverable for a day, dropped: {e}");
            let _ = db.execute("DELETE FROM outbox WHERE id = ?1", [id]);
        }
        Some(e) => {
            inner.stats.failed.fetch_add(1, Ordering::Relaxed);
            let backoff = (1000i64 << attempts.clamp(0, 9)).min(300_000);
            log::warn!(
                "notification to {url} failed (attempt {}), retrying in {backoff} ms: {e}",
                attempts + 1
            );
            let _ = db.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_try = ?2 WHERE id = ?1",
                params![id, now + backoff],
            );
        }
    }
}

/// Sends an outbox mail to `<receiver>#<index>` of the current config;
/// the error, if any.
fn send_mail(inner: &Inner, target: &str, body: &str) -> Option<String> {
    let cfg = lock(&inner.cfg).clone();
    let email = target.rsplit_once('#').and_then(|(name, i)| {
        let r = cfg.as_ref()?.receivers.iter().find(|r| r.name == name)?;
        r.emails.get(i.parse::<usize>().ok()?).cloned()
    });
    let Some(email) = email else {
        return Some(format!("receiver {target} is no longer configured"));
    };
    let mail: super::email::Mail = match serde_json::from_str(body) {
        Ok(m) => m,
        Err(e) => return Some(format!("unreadable outbox mail: {e}")),
    };
    super::email::send(&email, &mail).err()
}

/// The MQTT receiver `<receiver>#<index>` of `cfg`.
fn mqtt_config<'a>(cfg: &'a Notify, target: &str) -> Option<&'a super::mqtt::MqttReceiver> {
    let (name, i) = target.rsplit_once('#')?;
    let r = cfg.receivers.iter().find(|r| r.name == name)?;
    r.mqtts.get(i.parse::<usize>().ok()?)
}

/// Publishes an outbox notification to MQTT receiver `<receiver>#<index>`
/// of the current config and waits for the PUBACK; the error, if any.
fn send_mqtt(
    inner: &Inner,
    links: &mut super::mqtt::Links,
    target: &str,
    body: &str,
) -> Option<String> {
    let m = {
        let cfg = lock(&inner.cfg);
        cfg.as_ref().and_then(|c| mqtt_config(c, target)).cloned()
    };
    let Some(m) = m else {
        return Some(format!("receiver {target} is no longer configured"));
    };
    links.publish(target, &m, body).err()
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
