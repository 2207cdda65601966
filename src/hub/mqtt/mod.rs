//! The hub's MQTT input: subscribes to the agents' metrics and status
//! topics and stores what arrives, as the remote_write receiver does.
//!
//! ```text
//! broker ─► subscriber thread (rumqttc sync client) ─► ingest::mqtt: decode
//!              ─► liveness (up series: push sources) ─► Store::append
//!              status topics: last will `offline` ─► liveness: those boards down
//! ```
//!
//! - **instance**: agents send their own `job` and `instance`
//!   ([`picket_core::identity`]), the same as over remote_write. For other
//!   publishers, the segment the filter's first `+` matched
//!   (`picket/+/metrics` on `picket/pi4/metrics` gives `pi4`) is added to
//!   every sample that has no `instance` of its own.
//! - **up**: each agent batch carries its `up 1`; the hub's push sources
//!   ([`crate::liveness`]) learn the board from it and write `up 0`
//!   when it falls silent. A last will `offline` on a status topic downs
//!   at once the boards that published on the same topic segment.
//! - **bad input**: a message that does not decode is counted
//!   (`picket_hub_mqtt_rejected_messages_total`) and dropped, never stored
//!   in part; nothing on the network can stop the thread.
//! - **sessions**: a fixed client id and `clean_session = false` by
//!   default: the broker queues QoS 1 messages for the hub while it is
//!   away. Acknowledgement is rumqttc's, on receipt; what the store holds
//!   uncommitted at a crash is lost as for remote_write (`commit_interval`).
//!   Duplicates (a re-sent round) store once.
//! - **broker loss**: the thread logs once, waits with a backoff (0.5 s
//!   doubling to 30 s) and reconnects; subscriptions are renewed on every
//!   CONNACK.
//!
//! One thread of its own: rumqttc's sync connection blocks.

pub(crate) mod config;

use std::sync::atomic::{AtomicBool, AtomicU64};

/// Counters for the hub's `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Messages stored (metrics topics) or taken (status topics).
    pub received: AtomicU64,
    /// Samples stored from metrics topics.
    pub samples: AtomicU64,
    /// Messages refused (undecodable payload or status).
    pub rejected: AtomicU64,
    /// Connections lost or failed.
    pub reconnects: AtomicU64,
    /// Whether the broker connection is up.
    pub connected: AtomicBool,
}

/// Reads a status message: `Some(Some(up))`, `Some(None)` for the empty
/// retained message that clears it, `None` when it is neither.
#[cfg_attr(not(feature = "mqtt"), allow(dead_code))]
pub(crate) fn status(payload: &[u8]) -> Option<Option<bool>> {
    match payload.trim_ascii() {
        b"online" => Some(Some(true)),
        b"offline" => Some(Some(false)),
        b"" => Some(None),
        _ => None,
    }
}

#[cfg(feature = "mqtt")]
mod subscriber;
#[cfg(feature = "mqtt")]
pub use subscriber::start;

#[cfg(test)]
mod tests {
    #[test]
    fn status_words() {
        assert_eq!(super::status(b"online"), Some(Some(true)));
        assert_eq!(super::status(b"offline\n"), Some(Some(false)));
        assert_eq!(super::status(b""), Some(None));
        assert_eq!(super::status(b"maybe"), None);
    }
}
