//! The outbox of direct notifications: bodies made by a flush
//! ([`super::dispatch`]) are written to the `outbox` table of
//! `notify.sqlite` before they are sent, and deleted once a receiver took
//! them (a 2xx answer, the SMTP server's acceptance, the broker's
//! PUBACK); failures are retried with backoff, logged and counted, and
//! survive a restart. A row's target is a webhook URL, `email:<receiver>#<i>`
//! or `mqtt:<receiver>#<i>`, looked up in the current config when sent so
//! a reload's new settings apply to what is still queued.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use rusqlite::params;

use super::config::Notify;
use super::dispatch::{lock, Inner};
use super::email::Mail;
use super::mqtt::{Links, MqttReceiver};
use crate::store::now_ms;

/// Outbox targets of email receivers: `email:<receiver>#<index>`.
const EMAIL: &str = "email:";
/// Outbox targets of MQTT receivers: `mqtt:<receiver>#<index>`.
const MQTT: &str = "mqtt:";

/// The outbox target of the `i`th email integration of `receiver`.
pub(super) fn email_target(receiver: &str, i: usize) -> String {
    format!("{EMAIL}{receiver}#{i}")
}

/// The outbox target of the `i`th MQTT integration of `receiver`.
pub(super) fn mqtt_target(receiver: &str, i: usize) -> String {
    format!("{MQTT}{receiver}#{i}")
}

/// Writes the bodies of a flush, `(target, body)`, to the outbox, due now.
pub(super) fn queue(inner: &Inner, bodies: Vec<(String, String)>, now: i64) {
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

/// Sends what is due in the outbox; 2xx (a mail accepted, a PUBACK)
/// deletes, anything else retries with backoff ([`finish`]).
/// Notifications older than a day are dropped with an error. After a
/// failed MQTT attempt, the receiver's other notifications wait for the
/// next round rather than each waiting out the broker's timeout.
pub(super) fn deliver_due(inner: &Inner, links: &mut Links) {
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
            // The webhook's credentials and TLS, from the current config.
            let http = lock(&inner.cfg)
                .as_ref()
                .and_then(|c| webhook_http(c, url))
                .unwrap_or_default();
            let spawned = std::thread::Builder::new()
                .name("picket-hub-notify-send".into())
                .spawn_scoped(scope, move || {
                    for d in items {
                        let err = if let Some(target) = url.strip_prefix(EMAIL) {
                            send_mail(inner, target, &d.2)
                        } else {
                            super::webhook::post(&http, url, &d.2)
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
    let mail: Mail = match serde_json::from_str(body) {
        Ok(m) => m,
        Err(e) => return Some(format!("unreadable outbox mail: {e}")),
    };
    super::email::send(&email, &mail).err()
}

/// The MQTT receiver `<receiver>#<index>` of `cfg`.
/// The client settings of the (first) webhook configured with `url`.
fn webhook_http(cfg: &Notify, url: &str) -> Option<picket_core::web::client::HttpClient> {
    cfg.receivers
        .iter()
        .flat_map(|r| r.webhooks.iter())
        .find(|w| w.url == url)
        .map(|w| w.http.clone())
}

fn mqtt_config<'a>(cfg: &'a Notify, target: &str) -> Option<&'a MqttReceiver> {
    let (name, i) = target.rsplit_once('#')?;
    let r = cfg.receivers.iter().find(|r| r.name == name)?;
    r.mqtts.get(i.parse::<usize>().ok()?)
}

/// Publishes an outbox notification to MQTT receiver `<receiver>#<index>`
/// of the current config and waits for the PUBACK; the error, if any.
fn send_mqtt(inner: &Inner, links: &mut Links, target: &str, body: &str) -> Option<String> {
    let m = {
        let cfg = lock(&inner.cfg);
        cfg.as_ref().and_then(|c| mqtt_config(c, target)).cloned()
    };
    let Some(m) = m else {
        return Some(format!("receiver {target} is no longer configured"));
    };
    links.publish(target, &m, body).err()
}
