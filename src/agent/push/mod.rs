//! The push side: collect on a schedule and hand every collection to the
//! outputs (Prometheus remote_write, MQTT), which keep in their SQLite
//! buffer what cannot be delivered yet and send it later.
//!
//! ```text
//! collection thread ──Arc<Batch>──► output (one per receiver URL / broker;
//!   every `interval`,                 picket_forward::output): send or
//!   on the agent's one                buffer, drain the backlog oldest
//!   collector set, stamped            first, remote_write or MQTT sender
//!   at collection (held while
//!   the clock is unset)
//! ```
//!
//! What is agent-only stays here: the collection schedule, the series a
//! scrape would add, the clock rules, and the `[push]` config
//! ([`config`], [`mqtt::config`]). The buffer, the buffered output and its
//! senders are [`picket_forward`]'s. Collection runs on its own schedule,
//! independent of scrapes, on the same collector set the server scrapes
//! ([`Scraper`], handed in by `agent.rs`); each one produces one batch
//! stamped with the collection time. Threads, not the executor: ureq and
//! SQLite block.
//!
//! **Identity and `up`.** Every sample leaves with the board's `job` and
//! `instance` ([`picket_core::identity`]; default `job="node"`,
//! `instance="<hostname>:<listen port>"`, what a Prometheus `job_name: node`
//! job scraping the board attaches), over HTTP and MQTT alike, and each
//! batch carries the series a scrape would add: `up 1`,
//! `scrape_duration_seconds`, `scrape_samples_scraped`,
//! `scrape_samples_post_metric_relabeling` and `scrape_series_added`
//! ([`scrape_series`]), as
//! Prometheus agent mode sends them. The identity is attached **at
//! collection**, so a batch is buffered under the name it was collected
//! under; a buffer file of an older agent (no identity) gets the current
//! identity once, when it is opened ([`buffer::Options::identity`]).
//!
//! **Clock not yet set.** A Pi has no RTC: until NTP sets it, the clock
//! reads 1970 or fake-hwclock's last saved time. Batches collected while
//! the clock reads before 2026-01-01 (picket did not exist earlier), or,
//! with `wait_for_clock_sync`, while the kernel reports the clock
//! unsynchronised, are **held in memory** (up to one hour of them, oldest
//! dropped and counted beyond that) with the monotonic time of their
//! collection. Once the clock is good they are **re-stamped** as
//! `now - (time elapsed since collection)` and sent or buffered as usual,
//! so nothing stamped in the past epoch is ever buffered or sent.

pub(crate) mod config;
pub(crate) mod mqtt;

use std::collections::{HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::collect::{Filter, Scraper};
pub use config::PushConfig;
use picket_core::batch::Batch;
use picket_core::identity::Identity;
use picket_core::metric::{Labels, MetricType, Sample};
use picket_forward::buffer::{self, Buffer};
use picket_forward::output::{self, Inlet};
use picket_forward::remote_write::RemoteWriteSender;
use picket_forward::telemetry::Report;

/// An output's inlet, the external labels its batches carry and the
/// receiver's `write_relabel_configs`.
type Route = (
    Inlet,
    Vec<(String, String)>,
    Vec<picket_core::relabel::Relabel>,
);

/// Before this (2026-01-01T00:00:00Z) the clock is certainly unset.
pub const CLOCK_FLOOR_MS: i64 = 1_767_225_600_000;

/// The started outputs: where batches go in (with the external labels they
/// carry) and what each reports on `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct Outputs {
    inlets: Vec<Route>,
    reports: Vec<Arc<dyn Report>>,
}

impl Outputs {
    /// Each output's metrics, for the collector set.
    pub(crate) fn reports(&self) -> Vec<Arc<dyn Report>> {
        self.reports.clone()
    }
}

/// Opens every output's buffer and starts the output threads (none when
/// push is off). Errors only when a buffer cannot be opened at all
/// (unreadable files are moved aside, not fatal).
pub(crate) fn open(cfg: &PushConfig) -> io::Result<Outputs> {
    let mut outputs = Outputs::default();
    // Files of an older agent get the identity once, when opened.
    let opts = buffer::Options {
        identity: Some(cfg.identity.clone()),
        ..cfg.buffer.clone()
    };
    let open_buffer = |url: &str| {
        let path = cfg.buffer_path.join(buffer::file_name(url));
        Buffer::open(&path, opts.clone())
            .map(|(buf, _aside)| (buf, path))
            .map_err(|e| io::Error::other(e.to_string()))
    };
    for rw in &cfg.remote_write {
        let (buf, path) = open_buffer(&rw.url)?;
        let (inlet, report) =
            output::start(RemoteWriteSender::new(rw.clone()), buf, "picket-push")?;
        outputs
            .inlets
            .push((inlet, rw.external_labels.clone(), rw.write_relabel.clone()));
        outputs.reports.push(report);
        log::info!(
            "pushing to {} every {:?} as job={:?} instance={:?} (buffer {})",
            rw.url,
            cfg.interval,
            cfg.identity.job,
            cfg.identity.instance,
            path.display()
        );
    }
    #[cfg(feature = "mqtt")]
    if let Some(m) = &cfg.mqtt {
        let (buf, path) = open_buffer(&m.broker.url)?;
        let sender = picket_forward::mqtt::MqttSender::new(m.clone());
        let (inlet, report) = output::start(sender, buf, "picket-mqtt")?;
        outputs.inlets.push((inlet, Vec::new(), Vec::new()));
        outputs.reports.push(report);
        log::info!(
            "publishing to {} on {} every {:?} (buffer {})",
            m.broker.url,
            m.topic,
            cfg.interval,
            path.display()
        );
    }
    Ok(outputs)
}

/// Starts the collection thread: every `interval`, collects on `scraper`
/// and hands the batch to every output.
pub(crate) fn start(cfg: &PushConfig, scraper: Arc<Scraper>, outputs: Outputs) -> io::Result<()> {
    let cfg = cfg.clone();
    std::thread::Builder::new()
        .name("picket-collect".into())
        .spawn(move || collect_loop(&cfg, &scraper, &outputs.inlets))?;
    Ok(())
}

/// True when batches may be stamped with the wall clock.
pub(crate) fn clock_usable(now_ms: i64, wait_for_sync: bool) -> bool {
    now_ms >= CLOCK_FLOOR_MS
        && (!wait_for_sync || crate::collect::timex::clock_synchronized().unwrap_or(true))
}

/// The series a scrape of the board would add (Prometheus's `up`,
/// `scrape_duration_seconds`, `scrape_samples_scraped`,
/// `scrape_samples_post_metric_relabeling`, `scrape_series_added`), so a
/// pushing board has the same series as a scraped one; they get the
/// board's identity like every other sample. `seen` holds the previous
/// collection's series (hashed); a series not in it counts as added, as in
/// Prometheus's scrape cache.
pub(crate) fn scrape_series(samples: &mut Vec<Sample>, took: Duration, seen: &mut HashSet<u64>) {
    let n = samples.len() as f64;
    let now: HashSet<u64> = samples
        .iter()
        .map(|s| {
            let mut h = std::hash::DefaultHasher::new();
            s.series_name().hash(&mut h);
            s.labels.hash(&mut h);
            h.finish()
        })
        .collect();
    let added = now.difference(seen).count() as f64;
    *seen = now;
    for (name, help, v) in [
        ("up", "1: the board collected and sent this batch.", 1.0),
        (
            "scrape_duration_seconds",
            "Duration of the collection.",
            took.as_secs_f64(),
        ),
        ("scrape_samples_scraped", "Samples the collection gave.", n),
        (
            "scrape_samples_post_metric_relabeling",
            "Samples left after relabelling (none is done).",
            n,
        ),
        (
            "scrape_series_added",
            "Series in this collection that were not in the previous one.",
            added,
        ),
    ] {
        samples.push(Sample::new(name, help, MetricType::Gauge, Labels::new(), v));
    }
}

fn collect_loop(cfg: &PushConfig, scraper: &Scraper, outputs: &[Route]) {
    let max_held = (3_600_000 / cfg.interval.as_millis().max(1)) as usize + 1;
    let mut held: VecDeque<(Instant, Vec<Sample>)> = VecDeque::new();
    let mut warned = false;
    let mut next = Instant::now();
    let mut seen = HashSet::new();
    loop {
        let mut samples = Vec::new();
        let start = Instant::now();
        scraper.collect(&Filter::default(), &mut samples);
        let collected = Instant::now();
        scrape_series(&mut samples, collected - start, &mut seen);
        let now = picket_core::clock::now_ms();
        if !clock_usable(now, cfg.wait_for_clock_sync) {
            if !warned {
                log::warn!("clock not set yet (reads {now} ms since the epoch): holding batches until it is");
                warned = true;
            }
            held.push_back((collected, samples));
            if held.len() > max_held {
                held.pop_front();
                log::warn!("held batches exceed one hour; dropped the oldest");
            }
        } else {
            if warned {
                log::info!("clock set; re-stamping {} held batches", held.len());
                warned = false;
            }
            for (at, s) in held.drain(..) {
                let ts = now - at.elapsed().as_millis() as i64;
                dispatch(&s, ts, &cfg.identity, outputs);
            }
            dispatch(&samples, now, &cfg.identity, outputs);
        }
        next += cfg.interval;
        let now_i = Instant::now();
        if next <= now_i {
            // Fell behind (slow collection): skip the missed ticks.
            while next <= now_i {
                next += cfg.interval;
            }
        }
        std::thread::sleep(next - now_i);
    }
}

fn dispatch(samples: &[Sample], ts_ms: i64, identity: &Identity, outputs: &[Route]) {
    for (inlet, ext, relabel) in outputs {
        let mut b = Batch::from_samples(samples, ts_ms, Some(identity), ext);
        b.relabel(relabel);
        let b = Arc::new(b);
        // A closed output only happens at exit.
        let _ = inlet.send(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrape_series_count_what_a_scrape_would() {
        let base = vec![
            Sample::new("a", "h", MetricType::Gauge, Labels::new(), 1.0),
            Sample::new(
                "b",
                "h",
                MetricType::Gauge,
                Labels::from_pairs([("x", "1")]),
                2.0,
            ),
        ];
        let mut seen = HashSet::new();
        let value = |v: &[Sample], name: &str| {
            v.iter()
                .find(|s| s.name == name)
                .map(|s| s.value)
                .expect(name)
        };
        let mut s = base.clone();
        scrape_series(&mut s, Duration::from_millis(5), &mut seen);
        assert_eq!(value(&s, "up"), 1.0);
        assert_eq!(value(&s, "scrape_samples_scraped"), 2.0);
        assert_eq!(value(&s, "scrape_series_added"), 2.0);
        assert_eq!(value(&s, "scrape_duration_seconds"), 0.005);
        let mut s = base.clone();
        s.push(Sample::new("c", "h", MetricType::Gauge, Labels::new(), 3.0));
        scrape_series(&mut s, Duration::ZERO, &mut seen);
        assert_eq!(value(&s, "scrape_series_added"), 1.0, "only c is new");
    }
}
