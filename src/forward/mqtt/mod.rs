//! The MQTT sender: every batch is published to the broker through the
//! output's SQLite buffer, and deleted only after the broker's PUBACK.
//!
//! ```text
//! Inlet ─Arc<Batch>─► output thread ──append──► buffer (SQLite)
//!                       │  read_oldest ─► MqttSender: payloads (encode::mqtt)
//!                       │  publish QoS 1 ─► link thread (rumqttc) ─► broker
//!                       └◄─ Events: Connected / Sent(pkid) / Acked(pkid) / Down
//!                          all PUBACKs of a round ─► Delivered ─► ack (delete)
//! ```
//!
//! **Why the buffer is the source of truth.** rumqttc keeps unacknowledged
//! publishes only in memory and, with a clean session, drops them on
//! reconnect; with `clean_session = false` it would re-send them only if
//! the broker still holds the session, and never after a restart. So every
//! batch is **appended to the buffer before it is published**
//! ([`crate::output::Fresh::StoreFirst`]: one small transaction per
//! collection, the same write the remote_write output makes during an
//! outage), published from there, and deleted after PUBACK. A `kill -9` at
//! any time loses nothing that reached the output thread; a broker outage
//! of any length loses nothing within the buffer's limits. The only
//! batches in memory alone are the ones collected while a round is waiting
//! for its PUBACKs (milliseconds on a LAN), appended as soon as it ends.
//!
//! **Rounds.** A send is one round: the oldest rows (up to
//! `max_samples_per_send` samples), encoded into messages under
//! `max_packet_size`, all published (after the connection is up); when
//! every one is acknowledged the round is delivered and the output deletes
//! the rows. A connection loss, or no CONNACK or PUBACK within `timeout`,
//! is a retry: the output rewinds the buffer and the whole round is
//! published again on the next connection, after the backoff, so a batch
//! can arrive twice (only one whose PUBACK was lost); the hub stores a
//! duplicate (series, timestamp) once.
//!
//! **Pairing PUBACKs with publishes.** rumqttc's `publish` does not return
//! the packet id. Within one connection its event loop takes requests in
//! order and reports `Outgoing::Publish(pkid)` for each, so the n-th such
//! event belongs to the n-th publish. Each connection is a fresh client
//! ([`link`]), clean session, so no publish of an earlier connection can
//! appear in a later one's events.
//!
//! **Status.** With a status topic, every connection publishes a retained
//! `online` there and registers a retained `offline` last will: the broker
//! publishes it when the agent dies or loses the network. (A clean stop by
//! SIGTERM, too, since the process exits without DISCONNECT.)

use std::time::Duration;

use picket_core::encode::mqtt::Format;
use picket_core::mqtt::Broker;

#[cfg(feature = "mqtt")]
pub(crate) mod link;
#[cfg(feature = "mqtt")]
mod sender;

#[cfg(feature = "mqtt")]
pub use sender::{MqttCounters, MqttSender};

/// The MQTT output, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct MqttOutput {
    /// The broker.
    pub broker: Broker,
    /// Metrics topic.
    pub topic: String,
    /// Retained status topic (`online` / last will `offline`), if any.
    pub status_topic: Option<String>,
    /// Payload format.
    pub format: Format,
    /// Most samples per round of publishes.
    pub max_samples_per_send: usize,
    /// PUBACK wait before the link is given up and re-made.
    pub timeout: Duration,
    /// First reconnect delay.
    pub min_backoff: Duration,
    /// Longest reconnect delay.
    pub max_backoff: Duration,
}
