//! What the push side reports about itself on `/metrics` (and in its own
//! pushes): per receiver, requests by status code, delivery time, buffer
//! contents and samples dropped by reason. The MQTT output's own series
//! are in `push/mqtt/telemetry.rs`; the buffer series are shared.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use super::client::Outcome;
use crate::collect::Out;
use picket_forward::buffer::{Dropped, Stats};

#[derive(Debug, Default)]
struct Inner {
    /// code → (requests, failures, samples).
    by_code: BTreeMap<String, (u64, u64, u64)>,
    last_success_ms: Option<i64>,
    buffer: Stats,
    dropped_buffer: Dropped,
    /// Drops the buffer does not count itself (rejected, buffer_error).
    dropped_extra: BTreeMap<&'static str, u64>,
}

/// One receiver's counters; shared by its queue thread and the scrapers.
#[derive(Debug)]
pub struct QueueTelemetry {
    url: String,
    inner: Mutex<Inner>,
}

impl QueueTelemetry {
    /// Counters for the receiver at `url`, registered for `/metrics`.
    pub fn register(url: &str) -> Arc<QueueTelemetry> {
        let t = Arc::new(QueueTelemetry {
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

    /// Counts one request of `samples` samples.
    pub fn request(&self, out: &Outcome, samples: usize) {
        let failed = !matches!(out, Outcome::Delivered(_));
        self.with(|i| {
            let e = i.by_code.entry(out.code_label()).or_default();
            e.0 += 1;
            e.1 += u64::from(failed);
            e.2 += samples as u64;
        });
    }

    /// Records a delivery at `now_ms`.
    pub fn success(&self, now_ms: i64) {
        self.with(|i| i.last_success_ms = Some(now_ms));
    }

    /// Records the buffer's state.
    pub fn set_buffer(&self, s: &Stats, d: &Dropped) {
        self.with(|i| {
            i.buffer = s.clone();
            i.dropped_buffer = d.clone();
        });
    }

    /// Counts samples dropped outside the buffer's limits.
    pub fn dropped_extra(&self, reason: &'static str, n: u64) {
        self.with(|i| *i.dropped_extra.entry(reason).or_default() += n);
    }

    fn emit(&self, out: &mut Out<'_>, now_ms: i64) {
        let Ok(i) = self.inner.lock() else { return };
        let url = self.url.as_str();
        for (code, (req, fail, samples)) in &i.by_code {
            let l = [("code", code.as_str()), ("url", url)];
            out.counter(
                "picket_remote_write_requests_total",
                "remote_write requests sent, by receiver and HTTP status (error: no answer).",
                &l,
                *req as f64,
            );
            out.counter(
                "picket_remote_write_failures_total",
                "remote_write requests that did not get a 2xx, by receiver and status.",
                &l,
                *fail as f64,
            );
            out.counter(
                "picket_remote_write_samples_total",
                "Samples in remote_write requests, by receiver and status.",
                &l,
                *samples as f64,
            );
        }
        out.gauge(
            "picket_remote_write_last_success_timestamp_seconds",
            "Time of the last 2xx from the receiver (0: none yet).",
            &[("url", url)],
            i.last_success_ms.map_or(0.0, |t| t as f64 / 1000.0),
        );
        emit_buffer(
            out,
            url,
            &i.buffer,
            &i.dropped_buffer,
            &i.dropped_extra,
            now_ms,
        );
    }
}

/// Writes one buffer's `picket_buffer_*` series for output `url` (a
/// remote_write receiver or an MQTT broker): contents, oldest sample age
/// and samples dropped by reason (`extra`: drops the buffer does not count
/// itself).
pub fn emit_buffer(
    out: &mut Out<'_>,
    url: &str,
    b: &Stats,
    d: &Dropped,
    extra: &BTreeMap<&'static str, u64>,
    now_ms: i64,
) {
    for (name, help, v) in [
        (
            "picket_buffer_batches",
            "Batches waiting in the buffer.",
            b.batches,
        ),
        (
            "picket_buffer_samples",
            "Samples waiting in the buffer.",
            b.samples,
        ),
        (
            "picket_buffer_bytes",
            "Bytes of the buffer file in use.",
            b.bytes,
        ),
    ] {
        out.gauge(name, help, &[("url", url)], v as f64);
    }
    out.gauge(
        "picket_buffer_oldest_sample_age_seconds",
        "Age of the oldest buffered batch (0 when empty).",
        &[("url", url)],
        b.oldest_ms
            .map_or(0.0, |t| (now_ms - t).max(0) as f64 / 1000.0),
    );
    let mut reasons: BTreeMap<&str, u64> = BTreeMap::new();
    reasons.insert("max_bytes", d.max_bytes);
    reasons.insert("max_age", d.max_age);
    reasons.insert("corrupt", d.corrupt);
    reasons.insert("rejected", 0);
    reasons.insert("buffer_error", 0);
    for (r, n) in extra {
        *reasons.entry(r).or_default() += n;
    }
    for (r, n) in reasons {
        out.counter(
            "picket_buffer_dropped_samples_total",
            "Samples dropped instead of delivered, by reason.",
            &[("reason", r), ("url", url)],
            n as f64,
        );
    }
}

fn registry() -> &'static Mutex<Vec<Arc<QueueTelemetry>>> {
    static R: OnceLock<Mutex<Vec<Arc<QueueTelemetry>>>> = OnceLock::new();
    R.get_or_init(|| Mutex::new(Vec::new()))
}

/// Adds every registered receiver's metrics (nothing when push is off).
pub fn collect(out: &mut Out<'_>) {
    let now_ms = picket_core::clock::now_ms();
    let all: Vec<_> = match registry().lock() {
        Ok(a) => a.clone(),
        Err(_) => return,
    };
    for t in all {
        t.emit(out, now_ms);
    }
    #[cfg(feature = "mqtt")]
    super::mqtt::telemetry::collect(out, now_ms);
}
