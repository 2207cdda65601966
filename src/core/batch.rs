//! One collection for the push side: every sample with its full wire label
//! set and its timestamp, ready to be sent (remote_write) or buffered.
//!
//! Built once per collection from the metric model and shared by every
//! remote_write queue; series keys are reference-counted so the buffer and
//! the request builder copy pointers, not strings.

use std::collections::HashMap;
use std::sync::Arc;

use crate::encode::remote_write::{series_key, RequestBuilder, SeriesKey};
use crate::identity::Identity;
use crate::metric::Labels;
use crate::metric::Sample;
use crate::relabel::Relabel;

/// One sample of one series at one time.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// Full label set, `__name__` included, sorted.
    pub key: Arc<SeriesKey>,
    /// The value.
    pub value: f64,
    /// Milliseconds since the epoch.
    pub ts_ms: i64,
}

/// One collection.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Batch {
    /// Collection time, ms since the epoch (points without their own
    /// timestamp carry this one).
    pub ts_ms: i64,
    /// The samples.
    pub points: Vec<Point>,
}

impl Batch {
    /// Converts a collection's samples stamped `ts_ms`: the board's
    /// `identity` attached as a scrape target's labels ([`Identity`]), then
    /// `external` labels (which never override a sample's own).
    pub fn from_samples(
        samples: &[Sample],
        ts_ms: i64,
        identity: Option<&Identity>,
        external: &[(String, String)],
    ) -> Batch {
        let points = samples
            .iter()
            .map(|s| {
                let name = s.series_name();
                let key = match identity {
                    Some(id) => series_key(&name, id.apply(s.labels.iter()), external),
                    None => series_key(&name, s.labels.iter(), external),
                };
                Point {
                    key: Arc::new(key),
                    value: s.value,
                    ts_ms: s.timestamp_ms.unwrap_or(ts_ms),
                }
            })
            .collect();
        Batch { ts_ms, points }
    }

    /// Runs every point's labels through `cfgs` (Prometheus's
    /// `write_relabel_configs`): a dropped series leaves the batch, a
    /// rewritten one gets its new labels. Each distinct series is relabelled
    /// once.
    pub fn relabel(&mut self, cfgs: &[Relabel]) {
        if cfgs.is_empty() {
            return;
        }
        let mut done: HashMap<Arc<SeriesKey>, Option<Arc<SeriesKey>>> = HashMap::new();
        self.points.retain_mut(|p| {
            let out = done.entry(p.key.clone()).or_insert_with(|| {
                let l = Labels::from_pairs(p.key.iter().map(|(n, v)| (n.clone(), v.clone())));
                crate::relabel::process(l, cfgs).map(|l| {
                    Arc::new(
                        l.iter()
                            .map(|(n, v)| (n.to_string(), v.to_string()))
                            .collect(),
                    )
                })
            });
            match out {
                Some(k) => {
                    p.key = k.clone();
                    true
                }
                None => false,
            }
        });
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Adds every point to a remote_write request.
    pub fn add_to(&self, req: &mut RequestBuilder) {
        for p in &self.points {
            req.push(&p.key, p.value, p.ts_ms);
        }
    }
}
