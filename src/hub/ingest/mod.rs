//! The hub's inputs, gathered: every path that brings samples in ends in
//! one [`Batch`] handed to one [`Store::append`], so the store knows no
//! wire format.
//!
//! ```text
//! POST /api/v1/write ─► remote_write: snappy, protobuf, checks ─┐
//! MQTT message ──────► mqtt: JSON, text or protobuf, checks ───┤─► liveness (up) ─► Batch ─► Store::append
//! scrape loop rows ──► scrape ─────────────────────────────────┘
//! ```
//!
//! The transports stay where they are (the HTTP server in
//! [`crate::server`], the subscriber thread in [`crate::mqtt`], the
//! target loops in [`crate::scrape`]); what they received is turned into
//! store input here. The rule engine and the push sources' `up 0` write
//! rows of their own the same way ([`Batch::from_rows`]).
//!
//! A batch borrows its labels from what the path decoded (the
//! decompressed remote_write body, the rows of a scrape or a message), so
//! the remote_write hot path allocates nothing per label or per sample:
//! its batch is the checked wire view's vectors, moved.
//!
//! [`Store::append`]: crate::store::Store::append

pub(crate) mod mqtt;
pub mod remote_write;
pub(crate) mod scrape;

use std::ops::Range;

use picket_core::metric::Labels;

/// Owned series (labels, samples), as MQTT payloads and
/// [`remote_write::decode`] give them.
pub(crate) type Rows = Vec<(Labels, Vec<(i64, f64)>)>;

/// A series' labels in a [`Batch`]: (name, value), sorted by name.
pub(crate) type Pairs<'a> = [(&'a str, &'a str)];

/// Samples on their way into the store, series after series: each
/// series' labels, sorted by name with no name twice and `__name__` among
/// them (as [`Labels`] keeps them), and its samples (ms, value). Labels
/// are borrowed, all of a batch's in one vector, its samples in another.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Batch<'a> {
    labels: Vec<(&'a str, &'a str)>,
    samples: Vec<(i64, f64)>,
    series: Vec<Part>,
}

/// One series of a [`Batch`]: its parts of `labels` and `samples`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Part {
    labels: Range<usize>,
    samples: Range<usize>,
}

impl<'a> Batch<'a> {
    /// A batch of one-sample series, as a scrape, the rule engine and the
    /// push sources' zeros write them: (labels with `__name__`, ms, value).
    pub(crate) fn from_rows(rows: &'a [(Labels, i64, f64)]) -> Batch<'a> {
        let mut b = Batch::with_capacity(rows.iter().map(|r| r.0.len()).sum(), rows.len());
        for (l, t, v) in rows {
            b.push(l, [(*t, *v)]);
        }
        b
    }

    /// A batch of [`Rows`].
    #[cfg_attr(not(any(feature = "mqtt", test)), allow(dead_code))]
    pub(crate) fn from_series(rows: &'a [(Labels, Vec<(i64, f64)>)]) -> Batch<'a> {
        let mut b = Batch::with_capacity(rows.iter().map(|r| r.0.len()).sum(), rows.len());
        b.samples.reserve(rows.iter().map(|r| r.1.len()).sum());
        for (l, points) in rows {
            b.push(l, points.iter().copied());
        }
        b
    }

    fn with_capacity(labels: usize, series: usize) -> Batch<'a> {
        Batch {
            labels: Vec::with_capacity(labels),
            samples: Vec::with_capacity(series),
            series: Vec::with_capacity(series),
        }
    }

    /// Adds a series.
    pub(crate) fn push(
        &mut self,
        labels: &'a Labels,
        samples: impl IntoIterator<Item = (i64, f64)>,
    ) {
        let (l0, s0) = (self.labels.len(), self.samples.len());
        self.labels.extend(labels.iter());
        self.samples.extend(samples);
        self.series.push(Part {
            labels: l0..self.labels.len(),
            samples: s0..self.samples.len(),
        });
    }

    /// Each series: its labels (sorted by name) and its samples.
    pub(crate) fn series(&self) -> impl ExactSizeIterator<Item = (&Pairs<'a>, &[(i64, f64)])> + '_ {
        self.series.iter().map(|p| {
            (
                &self.labels[p.labels.clone()],
                &self.samples[p.samples.clone()],
            )
        })
    }

    /// Series in the batch.
    pub(crate) fn len(&self) -> usize {
        self.series.len()
    }

    /// Keeps the samples for which `keep(series index, sample index in
    /// that series)` is true, in place.
    pub(crate) fn retain_samples(&mut self, mut keep: impl FnMut(usize, usize) -> bool) {
        let mut w = 0;
        for (i, p) in self.series.iter_mut().enumerate() {
            let start = w;
            for (j, r) in p.samples.clone().enumerate() {
                if keep(i, j) {
                    // r >= w: nothing not yet read is overwritten.
                    self.samples[w] = self.samples[r];
                    w += 1;
                }
            }
            p.samples = start..w;
        }
        self.samples.truncate(w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_keep_series_apart_and_drop_only_what_is_asked() {
        let rows: Rows = vec![
            (
                Labels::from_pairs([("job", "a"), ("__name__", "up")]),
                vec![(1, 1.0), (2, 1.0), (3, 1.0)],
            ),
            (Labels::from_pairs([("__name__", "x")]), vec![(1, 7.0)]),
        ];
        let mut b = Batch::from_series(&rows);
        assert_eq!(b.len(), 2);
        let (l, s) = b.series().next().unwrap();
        assert_eq!(l, [("__name__", "up"), ("job", "a")]);
        assert_eq!(s.len(), 3);
        b.retain_samples(|i, j| !(i == 0 && j == 1));
        let got: Vec<Vec<(i64, f64)>> = b.series().map(|(_, s)| s.to_vec()).collect();
        assert_eq!(got, [vec![(1, 1.0), (3, 1.0)], vec![(1, 7.0)]]);
        let one = [(rows[1].0.clone(), 5, 2.0)];
        let b = Batch::from_rows(&one);
        assert_eq!(b.series().next().unwrap().1, [(5, 2.0)]);
    }
}
