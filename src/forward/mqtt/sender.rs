//! The MQTT sender's state machine: one link at a time, one round at a
//! time (described in the module above), and its counters (messages and
//! samples published, samples acknowledged, connection state and losses).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::link::{Link, LinkEvent};
use super::MqttOutput;
use crate::output::{Events, Fresh, Outcome, Progress, Sender};
use crate::telemetry::{Counters, Telemetry};
use picket_core::batch::Batch;
use picket_core::encode::mqtt::payloads;
use picket_core::metric::Out;

/// Which publish a packet id belongs to.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Data,
    Status,
}

/// The publishes of one send, until every PUBACK is in.
#[derive(Debug)]
struct Round {
    samples: usize,
    /// Messages not yet acknowledged.
    unacked: usize,
    /// When the messages were published.
    started: Instant,
}

/// The broker's sender.
#[derive(Debug)]
pub struct MqttSender {
    out: MqttOutput,
    tel: Arc<Telemetry<MqttCounters>>,
    generation: u64,
    link: Option<Link>,
    /// When the current link was opened.
    opened: Instant,
    connected: bool,
    /// Publishes not yet given a packet id, in order.
    unsent: VecDeque<Kind>,
    /// Packet ids waiting for PUBACK.
    inflight: HashMap<u16, Kind>,
    round: Option<Round>,
}

impl MqttSender {
    /// A sender for `out`, with its counters.
    pub fn new(out: MqttOutput) -> MqttSender {
        MqttSender {
            tel: Telemetry::new(&out.broker.url),
            out,
            generation: 0,
            link: None,
            opened: Instant::now(),
            connected: false,
            unsent: VecDeque::new(),
            inflight: HashMap::new(),
            round: None,
        }
    }

    /// Publishes; a failure means the link is gone.
    fn publish(
        &mut self,
        topic: &str,
        retain: bool,
        payload: Vec<u8>,
        kind: Kind,
    ) -> Result<(), String> {
        match &self.link {
            Some(l) => l.publish(topic, retain, payload)?,
            None => return Err("not connected".into()),
        }
        self.unsent.push_back(kind);
        Ok(())
    }

    /// The link is gone (or never came up): forget its publishes and the
    /// round (the output rewinds the buffer and retries after the backoff).
    fn down(&mut self, why: String) -> Outcome {
        if let Some(l) = self.link.take() {
            l.close();
        }
        // Events of the old link still queued are ignored from here on.
        self.generation += 1;
        self.unsent.clear();
        self.inflight.clear();
        self.round = None;
        self.connected = false;
        // A loss (or failed attempt) counts one reconnect.
        self.tel.count(|c| {
            c.reconnects += 1;
            c.connected = false;
        });
        Outcome::Retry(why)
    }
}

impl Sender for MqttSender {
    type Event = (u64, LinkEvent);
    type Counters = MqttCounters;
    const KIND: &'static str = "mqtt";

    fn url(&self) -> &str {
        &self.out.broker.url
    }

    fn fresh(&self) -> Fresh {
        Fresh::StoreFirst
    }

    fn max_samples_per_send(&self) -> usize {
        self.out.max_samples_per_send
    }

    fn backoff(&self) -> (Duration, Duration) {
        (self.out.min_backoff, self.out.max_backoff)
    }

    fn telemetry(&self) -> &Arc<Telemetry<MqttCounters>> {
        &self.tel
    }

    /// Opens a link when there is none; ready once it is connected.
    fn ready(&mut self, events: &Events<Self::Event>) -> Result<bool, String> {
        if self.link.is_none() {
            self.generation += 1;
            self.opened = Instant::now();
            match Link::open(&self.out, self.generation, events.clone()) {
                Ok(l) => self.link = Some(l),
                Err(e) => {
                    self.down(e.clone());
                    return Err(e);
                }
            }
        }
        Ok(self.connected)
    }

    /// One round: every message published, delivered when every PUBACK
    /// is in.
    fn send(&mut self, batches: &[Batch], _: &Events<Self::Event>) -> Progress {
        // Room for the fixed header, topic and packet id.
        let room = self
            .out
            .broker
            .max_packet_size
            .saturating_sub(self.out.topic.len() + 16);
        let msgs = payloads(batches, self.out.format, room);
        let samples = batches.iter().map(Batch::len).sum();
        if msgs.is_empty() {
            // Rows without samples: nothing to publish, delete them.
            let now = picket_core::clock::now_ms();
            self.tel.count(|c| c.last_ack_ms = Some(now));
            return Progress::Done(Outcome::Delivered);
        }
        self.round = Some(Round {
            samples,
            unacked: msgs.len(),
            started: Instant::now(),
        });
        self.tel.count(|c| {
            c.published_messages += msgs.len() as u64;
            c.published_samples += samples as u64;
        });
        let topic = self.out.topic.clone();
        for m in msgs {
            if let Err(e) = self.publish(&topic, false, m.bytes, Kind::Data) {
                return Progress::Done(self.down(e));
            }
        }
        Progress::Pending
    }

    fn event(&mut self, (generation, ev): Self::Event) -> Option<Outcome> {
        if generation != self.generation {
            return None;
        }
        match ev {
            LinkEvent::Connected => {
                log::info!("mqtt {}: connected", self.out.broker.url);
                self.connected = true;
                self.tel.count(|c| c.connected = true);
                if let Some(t) = self.out.status_topic.clone() {
                    if let Err(e) = self.publish(&t, true, b"online".to_vec(), Kind::Status) {
                        return Some(self.down(e));
                    }
                }
                // The output starts the next round (it is ready now).
                None
            }
            LinkEvent::Sent(pkid) => {
                if let Some(k) = self.unsent.pop_front() {
                    self.inflight.insert(pkid, k);
                }
                None
            }
            LinkEvent::Acked(pkid) => {
                if self.inflight.remove(&pkid) != Some(Kind::Data) {
                    return None;
                }
                let r = self.round.as_mut()?;
                r.unacked = r.unacked.saturating_sub(1);
                if r.unacked > 0 {
                    return None;
                }
                let samples = r.samples;
                self.round = None;
                let now = picket_core::clock::now_ms();
                self.tel.count(|c| {
                    c.acked_samples += samples as u64;
                    c.last_ack_ms = Some(now);
                });
                Some(Outcome::Delivered)
            }
            LinkEvent::Down(why) => Some(self.down(why)),
        }
    }

    fn deadline(&self) -> Option<Instant> {
        if self.link.is_some() && !self.connected {
            return Some(self.opened + self.out.timeout);
        }
        Some(self.round.as_ref()?.started + self.out.timeout)
    }

    fn expire(&mut self) -> Outcome {
        if self.connected {
            self.down("no PUBACK within the timeout".into())
        } else {
            self.down("no CONNACK within the timeout".into())
        }
    }
}

/// The MQTT output's own counters.
#[derive(Debug, Default)]
pub struct MqttCounters {
    published_messages: u64,
    published_samples: u64,
    acked_samples: u64,
    reconnects: u64,
    connected: bool,
    last_ack_ms: Option<i64>,
}

impl Counters for MqttCounters {
    fn emit(&self, out: &mut Out<'_>, url: &str) {
        let l = [("url", url)];
        for (name, help, v) in [
            (
                "picket_mqtt_published_messages_total",
                "MQTT messages published on the metrics topic (QoS 1), re-sends included.",
                self.published_messages,
            ),
            (
                "picket_mqtt_published_samples_total",
                "Samples in published MQTT messages, re-sends included.",
                self.published_samples,
            ),
            (
                "picket_mqtt_acked_samples_total",
                "Samples the broker acknowledged (PUBACK) and the buffer deleted.",
                self.acked_samples,
            ),
            (
                "picket_mqtt_reconnects_total",
                "Broker connections lost or failed to open.",
                self.reconnects,
            ),
        ] {
            out.counter(name, help, &l, v as f64);
        }
        out.gauge(
            "picket_mqtt_connected",
            "1 while the broker connection is up.",
            &l,
            if self.connected { 1.0 } else { 0.0 },
        );
        out.gauge(
            "picket_mqtt_last_ack_timestamp_seconds",
            "Time of the last acknowledged publish round (0: none yet).",
            &l,
            self.last_ack_ms.map_or(0.0, |t| t as f64 / 1000.0),
        );
    }
}
