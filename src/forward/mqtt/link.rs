//! One broker connection of the MQTT output: a rumqttc `Client` and its
//! `Connection`, iterated on a thread of its own that posts what the
//! sender needs (connected, packet id given to a publish, PUBACK, gone) to
//! the output's [`Events`], tagged with the link's generation.
//!
//! A link is never reconnected: when it fails, it is dropped and a new one
//! is made after the backoff. rumqttc would otherwise carry publishes over
//! from the old session and, with a clean session, drop them on the new
//! one, which would break the sender's pairing of publishes with packet
//! ids. A fresh client has no state to carry: what was not acknowledged is
//! still in the buffer and is published again.

use rumqttc::{Client, ConnectReturnCode, Event, LastWill, Outgoing, Packet, QoS};

use super::MqttOutput;
use crate::output::Events;

/// What a link reports.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkEvent {
    /// CONNACK accepted.
    Connected,
    /// The client sent the oldest not yet sent publish with this packet id.
    Sent(u16),
    /// PUBACK for this packet id.
    Acked(u16),
    /// The connection failed or closed; the link is finished.
    Down(String),
}

/// Requests the client may hold before `publish` blocks.
const CHANNEL: usize = 256;
/// Publishes in flight at once (rumqttc's window; packet ids cycle in it).
const INFLIGHT: u16 = 64;

/// One connection attempt and its client.
pub(crate) struct Link {
    client: Client,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link").finish_non_exhaustive()
    }
}

impl Link {
    /// Starts connecting; events arrive on `events` as `(generation, _)`.
    pub(crate) fn open(
        out: &MqttOutput,
        generation: u64,
        events: Events<(u64, LinkEvent)>,
    ) -> Result<Link, String> {
        let mut o = picket_core::mqtt::options(&out.broker)?;
        o.set_clean_session(true).set_inflight(INFLIGHT);
        if let Some(t) = &out.status_topic {
            o.set_last_will(LastWill::new(t, "offline", QoS::AtLeastOnce, true));
        }
        let (client, mut conn) = Client::new(o, CHANNEL);
        std::thread::Builder::new()
            .name("picket-mqtt-link".into())
            .spawn(move || {
                for ev in conn.iter() {
                    let e = match ev {
                        Ok(Event::Incoming(Packet::ConnAck(c))) => {
                            if c.code == ConnectReturnCode::Success {
                                LinkEvent::Connected
                            } else {
                                LinkEvent::Down(format!("connection refused: {:?}", c.code))
                            }
                        }
                        Ok(Event::Incoming(Packet::PubAck(p))) => LinkEvent::Acked(p.pkid),
                        Ok(Event::Outgoing(Outgoing::Publish(pkid))) => LinkEvent::Sent(pkid),
                        Ok(_) => continue,
                        Err(e) => LinkEvent::Down(e.to_string()),
                    };
                    let done = matches!(e, LinkEvent::Down(_));
                    if !events.post((generation, e)) || done {
                        return;
                    }
                }
                // The client was dropped: the sender gave this link up.
            })
            .map_err(|e| format!("cannot start a thread: {e}"))?;
        Ok(Link { client })
    }

    /// Publishes at QoS 1; blocks while the client's queue is full.
    pub(crate) fn publish(
        &self,
        topic: &str,
        retain: bool,
        payload: Vec<u8>,
    ) -> Result<(), String> {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload)
            .map_err(|e| format!("publish: {e}"))
    }

    /// Sends DISCONNECT (a clean close: the broker keeps the last will
    /// unpublished) and lets the link thread end.
    pub(crate) fn close(self) {
        let _ = self.client.try_disconnect();
    }
}
