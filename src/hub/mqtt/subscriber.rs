//! The subscriber thread: drives the rumqttc connection, subscribes on
//! every CONNACK, hands metrics messages to [`crate::ingest::mqtt`] and
//! tracks status messages.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttc::{Client, Event, Packet, QoS, RecvTimeoutError, SubscribeReasonCode};

use super::config::MqttInput;
use super::{status, Counters};
use crate::ingest::{self, Batch};
use crate::liveness::Sources;
use crate::store::{now_ms, Store};
use picket_core::mqtt::matches;

/// Starts the subscriber thread.
pub fn start(
    cfg: MqttInput,
    store: Arc<Store>,
    counters: Arc<Counters>,
    sources: Arc<Sources>,
) -> Result<(), String> {
    let mut o = picket_core::mqtt::options(&cfg.broker)?;
    o.set_clean_session(cfg.clean_session);
    let (client, mut conn) = Client::new(o, 64);
    std::thread::Builder::new()
        .name("picket-hub-mqtt".into())
        .spawn(move || {
            let mut s = Subscriber {
                cfg,
                store,
                counters,
                sources,
                backoff: Duration::from_millis(500),
                down_since: None,
            };
            loop {
                match conn.recv_timeout(Duration::from_millis(500)) {
                    Ok(Ok(ev)) => s.event(ev, &client),
                    Ok(Err(e)) => {
                        s.lost(&e.to_string());
                        std::thread::sleep(s.backoff);
                        s.backoff = (s.backoff * 2).min(Duration::from_secs(30));
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
        })
        .map_err(|e| format!("cannot start a thread: {e}"))?;
    Ok(())
}

struct Subscriber {
    cfg: MqttInput,
    store: Arc<Store>,
    counters: Arc<Counters>,
    sources: Arc<Sources>,
    backoff: Duration,
    down_since: Option<Instant>,
}

impl Subscriber {
    fn event(&mut self, ev: Event, client: &Client) {
        match ev {
            Event::Incoming(Packet::ConnAck(c)) => {
                match self.down_since.take() {
                    Some(t) => log::info!(
                        "mqtt {}: connected again after {:.0?}",
                        self.cfg.broker.url,
                        t.elapsed()
                    ),
                    None => log::info!(
                        "mqtt {}: connected (session present: {})",
                        self.cfg.broker.url,
                        c.session_present
                    ),
                }
                self.counters.connected.store(true, Ordering::Relaxed);
                self.backoff = Duration::from_millis(500);
                let filters = self.cfg.topics.iter().chain(&self.cfg.status_topics);
                for f in filters {
                    if let Err(e) = client.try_subscribe(f.clone(), QoS::AtLeastOnce) {
                        log::error!("mqtt {}: subscribe {f}: {e}", self.cfg.broker.url);
                    }
                }
            }
            Event::Incoming(Packet::SubAck(a))
                if a.return_codes.contains(&SubscribeReasonCode::Failure) =>
            {
                log::error!(
                    "mqtt {}: the broker refused a subscription (ACL?): {:?}",
                    self.cfg.broker.url,
                    a.return_codes
                );
            }
            Event::Incoming(Packet::Publish(p)) => self.message(&p.topic, &p.payload),
            _ => {}
        }
    }

    fn message(&mut self, topic: &str, body: &[u8]) {
        let now = now_ms();
        if let Some(caps) = self.cfg.topics.iter().find_map(|f| matches(f, topic)) {
            match ingest::mqtt::receive(
                body,
                caps.first().copied(),
                &self.store,
                &self.sources,
                now,
            ) {
                Ok(a) => {
                    self.counters.received.fetch_add(1, Ordering::Relaxed);
                    self.counters
                        .samples
                        .fetch_add(a.samples, Ordering::Relaxed);
                }
                Err(e) => {
                    self.counters.rejected.fetch_add(1, Ordering::Relaxed);
                    log::debug!("mqtt: message on {topic} refused: {e}");
                }
            }
            return;
        }
        if let Some(caps) = self
            .cfg
            .status_topics
            .iter()
            .find_map(|f| matches(f, topic))
        {
            let seg = caps.first().copied().unwrap_or(topic);
            match status(body) {
                Some(Some(false)) => {
                    self.counters.received.fetch_add(1, Ordering::Relaxed);
                    let zeros = self.sources.offline(seg, now);
                    if !zeros.is_empty() {
                        self.store.append(&Batch::from_rows(&zeros));
                    }
                }
                // `online` (the data that follows says it better) and the
                // empty retained message that clears the status.
                Some(_) => {
                    self.counters.received.fetch_add(1, Ordering::Relaxed);
                }
                None => {
                    self.counters.rejected.fetch_add(1, Ordering::Relaxed);
                    log::debug!("mqtt: status on {topic} is neither online nor offline");
                }
            }
        }
    }

    fn lost(&mut self, why: &str) {
        self.counters.reconnects.fetch_add(1, Ordering::Relaxed);
        let was_up = self.counters.connected.swap(false, Ordering::Relaxed);
        if self.down_since.is_none() {
            // Never connected (wrong CA, refused login): not a "loss".
            let what = if was_up { "lost" } else { "failed" };
            log::warn!(
                "mqtt {}: broker connection {what} ({why}); reconnecting",
                self.cfg.broker.url
            );
            self.down_since = Some(Instant::now());
        }
    }
}
