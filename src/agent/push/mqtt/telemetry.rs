//! What the MQTT output reports on `/metrics`: messages and samples
//! published, samples acknowledged (PUBACK, then deleted from the buffer),
//! connection state and losses, and its buffer (the shared
//! `picket_buffer_*` series, `url` being the broker's).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use crate::collect::Out;
use picket_forward::buffer::{Dropped, Stats};

#[derive(Debug, Default)]
struct Inner {
    published_messages: u64,
    published_samples: u64,
    acked_samples: u64,
    reconnects: u64,
    connected: bool,
    last_ack_ms: Option<i64>,
    buffer: Stats,
    dropped: Dropped,
    dropped_extra: BTreeMap<&'static str, u64>,
}

/// The MQTT output's counters; shared by its queue thread and the scrapers.
#[derive(Debug)]
pub struct MqttTelemetry {
    url: String,
    inner: Mutex<Inner>,
}

impl MqttTelemetry {
    /// Counters for the broker at `url`, registered for `/metrics`.
    pub fn register(url: &str) -> Arc<MqttTelemetry> {
        let t = Arc::new(MqttTelemetry {
            url: url.to_string(),
            inner: Mutex::new(Inner::default()),
        });
        if let Ok(mut all) = registry().lock() {
            all.push(t.clone());
        }
        t
    }

    fn with(&self, f: impl FnOnce(&mut Inner)) {
        if let Ok(mut i) = self.inner.lock() {
            f(&mut i);
        }
    }

    /// Counts messages handed to the client.
    pub fn published(&self, messages: usize, samples: usize) {
        self.with(|i| {
            i.published_messages += messages as u64;
            i.published_samples += samples as u64;
        });
    }

    /// Counts samples whose every message was acknowledged, at `now_ms`.
    pub fn acked(&self, samples: usize, now_ms: i64) {
        self.with(|i| {
            i.acked_samples += samples as u64;
            i.last_ack_ms = Some(now_ms);
        });
    }

    /// Records the connection state; a loss (or failed attempt) counts
    /// one reconnect.
    pub fn connected(&self, up: bool) {
        self.with(|i| {
            if !up {
                i.reconnects += 1;
            }
            i.connected = up;
        });
    }

    /// Records the buffer's state.
    pub fn set_buffer(&self, s: &Stats, d: &Dropped) {
        self.with(|i| {
            i.buffer = s.clone();
            i.dropped = d.clone();
        });
    }

    /// Counts samples dropped outside the buffer's limits.
    pub fn dropped_extra(&self, reason: &'static str, n: u64) {
        self.with(|i| *i.dropped_extra.entry(reason).or_default() += n);
    }

    fn emit(&self, out: &mut Out<'_>, now_ms: i64) {
        let Ok(i) = self.inner.lock() else { return };
        let l = [("url", self.url.as_str())];
        for (name, help, v) in [
            (
                "picket_mqtt_published_messages_total",
                "MQTT messages published on the metrics topic (QoS 1), re-sends included.",
                i.published_messages,
            ),
            (
                "picket_mqtt_published_samples_total",
                "Samples in published MQTT messages, re-sends included.",
                i.published_samples,
            ),
            (
                "picket_mqtt_acked_samples_total",
                "Samples the broker acknowledged (PUBACK) and the buffer deleted.",
                i.acked_samples,
            ),
            (
                "picket_mqtt_reconnects_total",
                "Broker connections lost or failed to open.",
                i.reconnects,
            ),
        ] {
            out.counter(name, help, &l, v as f64);
        }
        out.gauge(
            "picket_mqtt_connected",
            "1 while the broker connection is up.",
            &l,
            if i.connected { 1.0 } else { 0.0 },
        );
        out.gauge(
            "picket_mqtt_last_ack_timestamp_seconds",
            "Time of the last acknowledged publish round (0: none yet).",
            &l,
            i.last_ack_ms.map_or(0.0, |t| t as f64 / 1000.0),
        );
        super::super::telemetry::emit_buffer(
            out,
            &self.url,
            &i.buffer,
            &i.dropped,
            &i.dropped_extra,
            now_ms,
        );
    }
}

fn registry() -> &'static Mutex<Vec<Arc<MqttTelemetry>>> {
    static R: OnceLock<Mutex<Vec<Arc<MqttTelemetry>>>> = OnceLock::new();
    R.get_or_init(|| Mutex::new(Vec::new()))
}

/// Adds the MQTT output's metrics (nothing when it is off).
pub fn collect(out: &mut Out<'_>, now_ms: i64) {
    let all: Vec<_> = match registry().lock() {
        Ok(a) => a.clone(),
        Err(_) => return,
    };
    for t in all {
        t.emit(out, now_ms);
    }
}
