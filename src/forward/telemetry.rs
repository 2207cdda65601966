//! What an output reports about itself on `/metrics` (and in the agent's
//! own pushes): its sender's counters (`picket_remote_write_*`,
//! `picket_mqtt_*`) and, for every sender alike, its buffer
//! (`picket_buffer_*`: contents, oldest sample age, samples dropped by
//! reason), all labelled with the output's `url`.
//!
//! One [`Telemetry`] per output, shared by its thread (which writes) and
//! the scrapes (which read it through [`Report`]). No registry: whoever
//! starts the outputs hands their reports to the collector set.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use crate::buffer::{Dropped, Stats};
use picket_core::metric::Out;

/// A sender's own counters, written by its output thread.
pub trait Counters: Default + fmt::Debug + Send + 'static {
    /// Writes the sender's series for the output at `url`.
    fn emit(&self, out: &mut Out<'_>, url: &str);
}

/// An output's metrics, as the collector set sees them.
pub trait Report: fmt::Debug + Send + Sync {
    /// Writes the output's series; `now_ms` dates the buffer's oldest sample.
    fn emit(&self, out: &mut Out<'_>, now_ms: i64);
}

#[derive(Debug, Default)]
struct Inner<C> {
    counters: C,
    buffer: Stats,
    dropped: Dropped,
    /// Drops the buffer does not count itself (rejected, buffer_error).
    dropped_extra: BTreeMap<&'static str, u64>,
}

/// One output's counters: its sender's and its buffer's.
#[derive(Debug)]
pub struct Telemetry<C> {
    url: String,
    inner: Mutex<Inner<C>>,
}

impl<C: Counters> Telemetry<C> {
    /// Counters for the output at `url` (a receiver's URL or a broker's).
    pub(crate) fn new(url: &str) -> Arc<Telemetry<C>> {
        Arc::new(Telemetry {
            url: url.to_string(),
            inner: Mutex::new(Inner::default()),
        })
    }

    fn with(&self, f: impl FnOnce(&mut Inner<C>)) {
        if let Ok(mut i) = self.inner.lock() {
            f(&mut i);
        }
    }

    /// Updates the sender's counters.
    pub(crate) fn count(&self, f: impl FnOnce(&mut C)) {
        self.with(|i| f(&mut i.counters));
    }

    /// Records the buffer's state.
    pub(crate) fn set_buffer(&self, s: &Stats, d: &Dropped) {
        self.with(|i| {
            i.buffer = s.clone();
            i.dropped = d.clone();
        });
    }

    /// Counts samples dropped outside the buffer's limits.
    pub(crate) fn dropped_extra(&self, reason: &'static str, n: u64) {
        self.with(|i| *i.dropped_extra.entry(reason).or_default() += n);
    }
}

impl<C: Counters> Report for Telemetry<C> {
    fn emit(&self, out: &mut Out<'_>, now_ms: i64) {
        let Ok(i) = self.inner.lock() else { return };
        i.counters.emit(out, &self.url);
        emit_buffer(
            out,
            &self.url,
            &i.buffer,
            &i.dropped,
            &i.dropped_extra,
            now_ms,
        );
    }
}

/// Writes one buffer's `picket_buffer_*` series for output `url` (a
/// remote_write receiver or an MQTT broker): contents, oldest sample age
/// and samples dropped by reason (`extra`: drops the buffer does not count
/// itself).
fn emit_buffer(
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
