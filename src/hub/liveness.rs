//! `up` for boards that push: the hub knows every push source and writes
//! `up 0` for one that falls silent, as Prometheus writes `up 0` for a
//! target it cannot scrape.
//!
//! # Design
//!
//! **What a push source is.** Agents send, with every batch, the series a
//! scrape would add (`up 1`, `scrape_duration_seconds`, …) under their
//! identity ([`picket_core::identity`]), as Prometheus agent mode and vmagent do
//! for their targets. A push source is the label set of such an `up`
//! series (`job`, `instance` and whatever external labels the sender
//! adds), seen arriving by remote_write or MQTT. The hub learns, per
//! source: the transport, when it last heard from it (receipt time), its
//! interval (the median of its last in-order `up` timestamp steps; the
//! global scrape interval until two are seen) and, for MQTT, the topic
//! segment its messages came on (to match a last will).
//!
//! **Down.** A source not heard from for `down_after_intervals` of its
//! intervals (default 3), or whose MQTT last will `offline` arrived, is
//! down: from then on the hub writes `up{its labels} 0` once per interval,
//! at its own clock's steps, so `up == 0` rules (the seed `InstanceDown`)
//! fire for boards behind NAT exactly as for scraped ones. The first sample
//! heard from it again ends the outage. A source silent for `forget_after`
//! (default 24 h) is forgotten: its `up` gets a stale marker, so an
//! alert for a board taken out of service ends.
//!
//! **The backlog after an outage.** A board whose link went down kept
//! collecting, and its buffer replays batches with `up 1` stamped inside
//! the span where the hub wrote zeros. Storing both would leave `up`
//! flipping between 0 and 1 in that span. Three ways out were weighed:
//! - delete the hub's zeros when the backlog arrives (history says "up",
//!   but the alert that fired during the outage then contradicts it, and
//!   the store would need deletes in sealed chunks);
//! - write the zeros under a distinct series (two `up` series per board,
//!   and `up == 0` alerts carry a label the scraped ones do not);
//! - **the hub's zeros win for the span they cover** (chosen): a
//!   backlogged `up` sample stamped between the first and the last zero
//!   of an outage is not stored (counted in
//!   `picket_hub_push_up_samples_overridden_total`). Every other sample of
//!   the backlog is stored.
//!
//! So `up` for a pushing board means what it means for a scraped one:
//! "the hub heard from the board in time". A link outage reads as `up 0`
//! for its duration in both cases; with push, the board's data for that
//! span is there too. `InstanceDown` fires during the outage and resolves
//! once the board is heard from again, and its history does not change
//! afterwards. Outage spans are kept in memory (the last 32 per source):
//! a hub restart forgets them, and sources are learned again from their
//! next batch.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use super::ingest::Batch;
use super::scrape::config::format_duration;
use super::scrape::TargetStatus;
use picket_core::metric::{Labels, STALE_NAN_BITS};

/// How a source reaches the hub.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    /// `POST /api/v1/write`.
    RemoteWrite,
    /// An MQTT metrics topic.
    Mqtt,
}

impl Transport {
    /// The name shown in `/api/v1/targets`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Transport::RemoteWrite => "remote_write",
            Transport::Mqtt => "mqtt",
        }
    }
}

/// Settings (`[push_sources]` of hub.toml).
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// Silent for this many of its intervals: down.
    pub down_after_intervals: u32,
    /// Silent for this long: forgotten.
    pub forget_after: Duration,
    /// The interval assumed until one is learned.
    pub default_interval: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            down_after_intervals: 3,
            forget_after: Duration::from_secs(24 * 3600),
            default_interval: Duration::from_secs(15),
        }
    }
}

/// Outage spans kept per source.
const SPANS: usize = 32;
/// In-order steps the interval is the median of.
const STEPS: usize = 5;

#[derive(Debug)]
struct Source {
    labels: Labels,
    transport: Transport,
    /// MQTT topic segment (the filter's `+`), for last wills.
    topic: Option<String>,
    /// When a sample of it last arrived (hub clock, ms).
    last_seen: i64,
    /// Newest `up` timestamp (sender's clock, ms).
    last_ts: i64,
    steps: VecDeque<i64>,
    /// The ongoing outage: (first zero, last zero) written, ms.
    down: Option<(i64, i64)>,
    /// Why it is down.
    reason: String,
    /// Ended outages, oldest first: up samples stamped inside are not stored.
    spans: VecDeque<(i64, i64)>,
    /// `scrape_duration_seconds` of its last batch.
    last_duration: f64,
}

impl Source {
    fn interval_ms(&self, default: Duration) -> i64 {
        if self.steps.is_empty() {
            return default.as_millis() as i64;
        }
        let mut s: Vec<i64> = self.steps.iter().copied().collect();
        s.sort_unstable();
        // To 100 ms: send times jitter by a few ms.
        ((s[s.len() / 2] + 50) / 100 * 100).max(100)
    }

    fn overridden(&self, ts: i64) -> bool {
        let inside = |&(a, b): &(i64, i64)| ts >= a && ts <= b;
        self.spans.iter().any(inside) || self.down.as_ref().is_some_and(inside)
    }

    /// Heard from at `now` (hub clock) with an `up` stamped `ts`.
    fn heard(&mut self, ts: i64, now: i64) {
        self.last_seen = now;
        if ts > self.last_ts {
            if self.last_ts > 0 {
                self.steps.push_back(ts - self.last_ts);
                if self.steps.len() > STEPS {
                    self.steps.pop_front();
                }
            }
            self.last_ts = ts;
        }
    }

    fn end_outage(&mut self) {
        if let Some(span) = self.down.take() {
            log::info!(
                "push source {} is back after {:.0}s",
                show(&self.labels),
                (self.last_seen - span.0).max(0) as f64 / 1000.0
            );
            self.spans.push_back(span);
            if self.spans.len() > SPANS {
                self.spans.pop_front();
            }
            self.reason.clear();
        }
    }
}

fn show(l: &Labels) -> String {
    let parts: Vec<String> = l.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
    format!("{{{}}}", parts.join(","))
}

/// A push source's state, for `/api/v1/targets` and the hub's `/metrics`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SourceStatus {
    /// The labels of its `up`.
    pub labels: Labels,
    /// How it pushes.
    pub transport: Transport,
    /// When it was last heard from, ms since the epoch.
    pub last_seen_ms: i64,
    /// Its learned interval.
    pub interval: Duration,
    /// `scrape_duration_seconds` of its last batch.
    pub last_duration: f64,
    /// Down?
    pub up: bool,
    /// Why it is down; empty when up.
    pub last_error: String,
}

impl SourceStatus {
    /// As `/api/v1/targets` lists a target: pool = its `job`, no URL,
    /// "last scrape" = last push.
    pub(crate) fn target(&self) -> TargetStatus {
        let mut discovered = self.labels.clone();
        discovered.set("__transport__", self.transport.as_str());
        TargetStatus {
            discovered_labels: discovered,
            labels: self.labels.clone(),
            scrape_pool: self.labels.get("job").unwrap_or_default().to_string(),
            scrape_url: String::new(),
            global_url: String::new(),
            last_error: self.last_error.clone(),
            last_scrape_ms: self.last_seen_ms,
            last_scrape_duration: self.last_duration,
            health: if self.up { "up" } else { "down" },
            transport: self.transport.as_str(),
            scrape_interval: format_duration(self.interval),
            scrape_timeout: format_duration(self.interval),
        }
    }
}

/// Every push source the hub knows.
#[derive(Debug, Default)]
pub struct Sources {
    opts: Mutex<Options>,
    map: Mutex<HashMap<String, Source>>,
    /// Backlogged `up` samples not stored (the hub's zeros cover them).
    pub overridden: AtomicU64,
}

/// The two series of a batch liveness reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Up,
    Duration,
}

/// Which of them a series is, found without allocating: every series of
/// every request passes here.
fn kind<'a>(mut pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Option<Kind> {
    match pairs.find(|(n, _)| *n == "__name__")?.1 {
        "up" => Some(Kind::Up),
        "scrape_duration_seconds" => Some(Kind::Duration),
        _ => None,
    }
}

/// A series' labels without `__name__`, and its map key.
fn source_of<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> (String, Labels) {
    let mut key = String::new();
    let mut labels = Labels::new();
    for (n, v) in pairs.filter(|(n, _)| *n != "__name__") {
        key.push_str(n);
        key.push('\u{1}');
        key.push_str(v);
        key.push('\u{2}');
        labels.set(n.to_string(), v);
    }
    (key, labels)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Sources {
    /// A registry with these settings.
    pub(crate) fn new(opts: Options) -> Sources {
        Sources {
            opts: Mutex::new(opts),
            ..Sources::default()
        }
    }

    /// New settings (a reload); known sources are kept.
    pub(crate) fn set_options(&self, opts: Options) {
        *lock(&self.opts) = opts;
    }

    /// Learns from one `up` series' samples arriving at `now`; returns
    /// which of them to keep (false: the hub's zeros cover its stamp).
    fn observe_source(
        &self,
        (key, labels): (String, Labels),
        (transport, topic): (Transport, Option<&str>),
        samples: &[(i64, f64)],
        duration: Option<f64>,
        now: i64,
    ) -> Vec<bool> {
        let mut map = lock(&self.map);
        let s = map.entry(key).or_insert_with(|| {
            log::info!(
                "new push source {} over {}",
                show(&labels),
                transport.as_str()
            );
            Source {
                labels,
                transport,
                topic: None,
                last_seen: now,
                last_ts: 0,
                steps: VecDeque::new(),
                down: None,
                reason: String::new(),
                spans: VecDeque::new(),
                last_duration: 0.0,
            }
        });
        s.transport = transport;
        if let Some(t) = topic {
            s.topic = Some(t.to_string());
        }
        if let Some(d) = duration {
            s.last_duration = d;
        }
        let keep: Vec<bool> = samples.iter().map(|&(t, _)| !s.overridden(t)).collect();
        for &(t, _) in samples {
            s.heard(t, now);
        }
        s.end_outage();
        let dropped = keep.iter().filter(|k| !**k).count() as u64;
        if dropped > 0 {
            self.overridden.fetch_add(dropped, Ordering::Relaxed);
        }
        keep
    }

    /// Learns from a batch that came by `transport` (for MQTT, `topic`:
    /// the segment the metrics filter's `+` matched) and removes the `up`
    /// samples the hub's zeros cover.
    pub(crate) fn observe(
        &self,
        batch: &mut Batch<'_>,
        transport: Transport,
        topic: Option<&str>,
        now: i64,
    ) {
        let mut ups = Vec::new();
        let mut durations: HashMap<String, f64> = HashMap::new();
        for (i, (labels, samples)) in batch.series().enumerate() {
            let pairs = || labels.iter().copied();
            match kind(pairs()) {
                Some(Kind::Up) => ups.push((i, source_of(pairs()), samples)),
                Some(Kind::Duration) => {
                    if let Some(&(_, v)) = samples.last() {
                        durations.insert(source_of(pairs()).0, v);
                    }
                }
                None => {}
            }
        }
        let mut drop: HashMap<usize, Vec<bool>> = HashMap::new();
        for (i, source, samples) in ups {
            let d = durations.get(&source.0).copied();
            let keep = self.observe_source(source, (transport, topic), samples, d, now);
            if keep.contains(&false) {
                drop.insert(i, keep);
            }
        }
        if !drop.is_empty() {
            // Rare (a backlog replayed across an outage).
            batch.retain_samples(|i, j| drop.get(&i).is_none_or(|k| k[j]));
        }
    }

    /// After a restart: the sources whose `up` the store holds (labels,
    /// last value), so a board that died while the hub was down still
    /// gets its `up 0`. A last value of 0 (the hub's own zero) is down at
    /// once; a 1 has `down_after_intervals` from `now` to be heard from.
    /// Transport and interval are learned again from its next batch
    /// (remote_write and the global interval until then).
    pub(crate) fn restore(&self, ups: Vec<(Labels, f64)>, now: i64) {
        let mut map = lock(&self.map);
        for (l, v) in ups {
            let (key, labels) = source_of(l.iter());
            let down = (v == 0.0).then_some((now, now));
            map.entry(key).or_insert_with(|| Source {
                labels,
                transport: Transport::RemoteWrite,
                topic: None,
                last_seen: now,
                last_ts: 0,
                steps: VecDeque::new(),
                down,
                reason: if down.is_some() {
                    "down when the hub stopped".into()
                } else {
                    String::new()
                },
                spans: VecDeque::new(),
                last_duration: 0.0,
            });
        }
    }

    /// An MQTT last will (`offline`) on topic segment `topic`: its sources
    /// are down at once; returns their first `up 0` (none when no source
    /// came on that segment).
    #[cfg_attr(not(feature = "mqtt"), allow(dead_code))]
    pub(crate) fn offline(&self, topic: &str, now: i64) -> Vec<(Labels, i64, f64)> {
        let mut out = Vec::new();
        for s in lock(&self.map).values_mut() {
            if s.transport == Transport::Mqtt && s.topic.as_deref() == Some(topic) {
                if s.down.is_none() {
                    log::warn!("push source {} is down: MQTT last will", show(&s.labels));
                    s.down = Some((now, now));
                    out.push(zero(&s.labels, now));
                }
                s.reason = "offline (MQTT last will)".into();
            }
        }
        out
    }

    /// At `now`: the `up` samples to write (zeros for silent sources, stale
    /// markers for forgotten ones).
    pub(crate) fn tick(&self, now: i64) -> Vec<(Labels, i64, f64)> {
        let opts = lock(&self.opts).clone();
        let mut out = Vec::new();
        lock(&self.map).retain(|_, s| {
            let silent = now - s.last_seen;
            if silent > opts.forget_after.as_millis() as i64 {
                log::info!(
                    "push source {} forgotten after {}s of silence",
                    show(&s.labels),
                    silent / 1000
                );
                out.push((up(&s.labels), now, f64::from_bits(STALE_NAN_BITS)));
                return false;
            }
            let every = s.interval_ms(opts.default_interval).max(1);
            match &mut s.down {
                None if silent > every * i64::from(opts.down_after_intervals) => {
                    log::warn!(
                        "push source {} is down: nothing for {}s ({} intervals of {}ms)",
                        show(&s.labels),
                        silent / 1000,
                        opts.down_after_intervals,
                        every
                    );
                    s.reason = format!("no push for {}s", silent / 1000);
                    s.down = Some((now, now));
                    out.push(zero(&s.labels, now));
                }
                Some((_, last)) if now - *last >= every => {
                    *last = now;
                    if s.reason.starts_with("no push") {
                        s.reason = format!("no push for {}s", silent / 1000);
                    }
                    out.push(zero(&s.labels, now));
                }
                _ => {}
            }
            true
        });
        out
    }

    /// Every source, sorted by labels.
    pub(crate) fn status(&self) -> Vec<SourceStatus> {
        let opts = lock(&self.opts).clone();
        let mut v: Vec<SourceStatus> = lock(&self.map)
            .values()
            .map(|s| SourceStatus {
                labels: s.labels.clone(),
                transport: s.transport,
                last_seen_ms: s.last_seen,
                interval: Duration::from_millis(s.interval_ms(opts.default_interval) as u64),
                last_duration: s.last_duration,
                up: s.down.is_none(),
                last_error: s.reason.clone(),
            })
            .collect();
        v.sort_by(|a, b| a.labels.iter().cmp(b.labels.iter()));
        v
    }
}

fn up(labels: &Labels) -> Labels {
    let mut l = labels.clone();
    l.set("__name__", "up");
    l
}

fn zero(labels: &Labels, now: i64) -> (Labels, i64, f64) {
    (up(labels), now, 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(inst: &str, ts: &[i64]) -> Vec<(Labels, Vec<(i64, f64)>)> {
        vec![
            (
                Labels::from_pairs([("__name__", "up"), ("instance", inst), ("job", "node")]),
                ts.iter().map(|&t| (t, 1.0)).collect(),
            ),
            (
                Labels::from_pairs([("__name__", "node_load1"), ("instance", inst)]),
                ts.iter().map(|&t| (t, 0.5)).collect(),
            ),
        ]
    }

    /// Each series' samples that `observe` keeps of MQTT rows.
    fn observe_mqtt(
        s: &Sources,
        rows: &[(Labels, Vec<(i64, f64)>)],
        topic: &str,
        now: i64,
    ) -> Vec<Vec<(i64, f64)>> {
        let mut b = Batch::from_series(rows);
        s.observe(&mut b, Transport::Mqtt, Some(topic), now);
        b.series().map(|(_, s)| s.to_vec()).collect()
    }

    fn opts() -> Options {
        Options {
            down_after_intervals: 3,
            forget_after: Duration::from_secs(3600),
            default_interval: Duration::from_secs(15),
        }
    }

    #[test]
    fn a_silent_source_gets_zeros_each_interval_and_its_backlog_does_not_contradict_them() {
        let s = Sources::new(opts());
        // Heard every second for 5 s: the interval is learned as 1 s.
        for t in 0..5 {
            let r = observe_mqtt(&s, &rows("a:9100", &[1000 * t]), "a", 1000 * t);
            assert_eq!(r[0].len(), 1);
        }
        assert!(s.tick(6000).is_empty(), "2 s silent is not 3 intervals");
        let z = s.tick(8000);
        assert_eq!(z.len(), 1);
        assert_eq!((z[0].1, z[0].2), (8000, 0.0));
        assert_eq!(z[0].0.get("instance"), Some("a:9100"));
        assert!(s.tick(8500).is_empty(), "one zero per interval");
        assert_eq!(s.tick(9000).len(), 1);
        assert_eq!(s.tick(10000).len(), 1);
        assert!(!s.status()[0].up);
        // Back: the fresh batch (t=11 s) first, then the backlog (5..10 s).
        let fresh = observe_mqtt(&s, &rows("a:9100", &[11000]), "a", 11000);
        assert_eq!(fresh[0].len(), 1, "a fresh up is stored");
        assert!(s.status()[0].up);
        let backlog = rows("a:9100", &[5000, 6000, 7000, 8000, 9000, 10000]);
        let backlog = observe_mqtt(&s, &backlog, "a", 11100);
        let kept: Vec<i64> = backlog[0].iter().map(|p| p.0).collect();
        assert_eq!(kept, [5000, 6000, 7000], "up inside 8..10 s is the hub's 0");
        assert_eq!(backlog[1].len(), 6, "other series are all stored");
        assert_eq!(s.overridden.load(Ordering::Relaxed), 3);
        assert!(s.tick(12000).is_empty());
    }

    #[test]
    fn a_last_will_downs_the_sources_of_its_topic_and_silence_forgets() {
        let s = Sources::new(opts());
        observe_mqtt(&s, &rows("a:9100", &[1000]), "a", 1000);
        observe_mqtt(&s, &rows("b:9100", &[1000]), "b", 1000);
        assert!(s.offline("c", 2000).is_empty(), "no source came on c");
        let z = s.offline("a", 2000);
        assert_eq!(z.len(), 1);
        assert_eq!(z[0].0.get("instance"), Some("a:9100"));
        let st = s.status();
        assert_eq!(st[0].last_error, "offline (MQTT last will)");
        assert!(st[1].up);
        // An hour and a bit later both are forgotten with stale markers.
        let out = s.tick(1000 + 3_601_000);
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|o| o.2.to_bits() == STALE_NAN_BITS));
        assert!(s.status().is_empty());
    }

    #[test]
    fn restored_sources_are_watched_again() {
        let s = Sources::new(opts());
        let l = |i: &str| Labels::from_pairs([("instance", i), ("job", "node")]);
        s.restore(vec![(l("a:9100"), 1.0), (l("b:9100"), 0.0)], 1000);
        let st = s.status();
        assert_eq!((st[0].up, st[1].up), (true, false));
        // b writes zeros at once each interval; a after 3 intervals.
        assert_eq!(s.tick(16_000).len(), 1);
        let z = s.tick(47_000);
        assert_eq!(z.len(), 2, "{z:?}");
    }

    #[test]
    fn remote_write_batches_lose_only_the_covered_up_samples() {
        let s = Sources::new(opts());
        let rows = |up: Vec<(i64, f64)>, x: Vec<(i64, f64)>| {
            vec![
                (
                    Labels::from_pairs([
                        ("__name__", "up"),
                        ("instance", "a:9100"),
                        ("job", "node"),
                    ]),
                    up,
                ),
                (Labels::from_pairs([("__name__", "x")]), x),
            ]
        };
        let r = rows(vec![(1000, 1.0), (2000, 1.0)], vec![(2000, 7.0)]);
        let mut v = Batch::from_series(&r);
        s.observe(&mut v, Transport::RemoteWrite, None, 2000);
        assert_eq!(v.series().map(|s| s.1.len()).sum::<usize>(), 3);
        assert_eq!(s.tick(50_000).len(), 1);
        // Back with a backlog stamped at the zero and a fresh sample.
        let r = rows(vec![(50_000, 1.0), (60_000, 1.0)], vec![(50_000, 7.0)]);
        let mut v = Batch::from_series(&r);
        s.observe(&mut v, Transport::RemoteWrite, None, 60_000);
        let kept: Vec<&[(i64, f64)]> = v.series().map(|s| s.1).collect();
        assert_eq!(kept, [&[(60_000, 1.0)][..], &[(50_000, 7.0)][..]]);
        let st = &s.status()[0];
        assert_eq!((st.transport, st.up), (Transport::RemoteWrite, true));
    }
}
