//! The MQTT output: every collection is published to the broker through
//! the same SQLite buffer as remote_write, and deleted only after the
//! broker's PUBACK.
//!
//! ```text
//! collection thread ─Arc<Batch>─► queue thread ──append──► buffer (SQLite)
//!                                   │  read_oldest ─► payloads (encode::mqtt)
//!                                   │  publish QoS 1 ─► link thread (rumqttc) ─► broker
//!                                   └◄─ Sent(pkid) / Acked(pkid) / Down ─┘
//!                                      all PUBACKs of a round ─► ack (delete)
//! ```
//!
//! **Why the buffer is the source of truth.** rumqttc keeps unacknowledged
//! publishes only in memory and, with a clean session, drops them on
//! reconnect; with `clean_session = false` it would re-send them only if
//! the broker still holds the session, and never after a restart. So every
//! batch is **appended to the buffer before it is published** (one small
//! transaction per collection, the same write the remote_write queue makes
//! during an outage), published from there, and deleted after PUBACK. A
//! `kill -9` at any time loses nothing that reached the queue thread; a
//! broker outage of any length loses nothing within the buffer's limits.
//! The only batches in memory alone are the ones collected while a round
//! is waiting for its PUBACKs (milliseconds on a LAN), appended as soon as
//! it ends.
//!
//! **Rounds.** While connected and the buffer is not empty, the queue reads
//! the oldest rows (up to `max_samples_per_send` samples), encodes them
//! into messages under `max_packet_size` and publishes them all; when every
//! one is acknowledged the rows are deleted ([`Buffer::ack`]) and the next
//! round starts. A connection loss, or no PUBACK within `timeout`, rewinds
//! the buffer: the whole round is published again on the next connection,
//! so a batch can arrive twice (only one whose PUBACK was lost); the hub
//! stores a duplicate (series, timestamp) once.
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

pub mod config;
#[cfg(feature = "mqtt")]
pub mod link;
#[cfg(feature = "mqtt")]
pub mod telemetry;

#[cfg(feature = "mqtt")]
pub use queue::{start, Msg};

#[cfg(feature = "mqtt")]
mod queue;
