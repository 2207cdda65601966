//! The one metric model every part of picket speaks.
//!
//! Collectors produce [`Sample`]s, the text encoder writes them for
//! `/metrics`, the text parser reads them back (textfile collector, relay,
//! hub scraping) and, later, remote_write encodes the same values. A sample
//! carries everything the exposition formats need: family name, help, type,
//! sorted labels, value and an optional timestamp. Families are formed at
//! encode time by sorting, so collectors can emit in any order.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

/// A metric family's type, as in the Prometheus text format `# TYPE` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricType {
    /// A monotonically increasing value.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// No type given (node_exporter uses it for vmstat and netstat).
    Untyped,
    /// A histogram: `_bucket{le}`, `_sum` and `_count` samples.
    Histogram,
    /// A summary: `{quantile}`, `_sum` and `_count` samples.
    Summary,
}

impl MetricType {
    /// The word used in a `# TYPE` line.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Untyped => "untyped",
            MetricType::Histogram => "histogram",
            MetricType::Summary => "summary",
        }
    }
}

/// The part a histogram or summary sample adds to its family name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Suffix {
    /// The sample's name is the family name.
    None,
    /// `_bucket` (histograms).
    Bucket,
    /// `_sum`.
    Sum,
    /// `_count`.
    Count,
}

impl Suffix {
    /// The text appended to the family name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Suffix::None => "",
            Suffix::Bucket => "_bucket",
            Suffix::Sum => "_sum",
            Suffix::Count => "_count",
        }
    }
}

/// A label set, kept sorted by label name with no duplicate names.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Labels(Vec<(Cow<'static, str>, String)>);

impl Labels {
    /// An empty label set.
    pub const fn new() -> Labels {
        Labels(Vec::new())
    }

    /// Builds a label set from pairs in any order; a later duplicate name wins.
    pub fn from_pairs<N, V>(pairs: impl IntoIterator<Item = (N, V)>) -> Labels
    where
        N: Into<Cow<'static, str>>,
        V: Into<String>,
    {
        let mut l = Labels::new();
        for (n, v) in pairs {
            l.set(n, v);
        }
        l
    }

    /// Sets `name` to `value`, keeping the set sorted.
    pub fn set(&mut self, name: impl Into<Cow<'static, str>>, value: impl Into<String>) {
        let name = name.into();
        match self
            .0
            .binary_search_by(|(n, _)| n.as_ref().cmp(name.as_ref()))
        {
            Ok(i) => self.0[i].1 = value.into(),
            Err(i) => self.0.insert(i, (name, value.into())),
        }
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(n, _)| n.as_ref().cmp(name))
            .ok()
            .map(|i| self.0[i].1.as_str())
    }

    /// Removes `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        match self.0.binary_search_by(|(n, _)| n.as_ref().cmp(name)) {
            Ok(i) => Some(self.0.remove(i).1),
            Err(_) => None,
        }
    }

    /// Keeps only the labels for which `keep(name, value)` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        self.0.retain(|(n, v)| keep(n, v));
    }

    /// Iterates over (name, value) in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_ref(), v.as_str()))
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Ord for Labels {
    fn cmp(&self, other: &Labels) -> Ordering {
        self.iter().cmp(other.iter())
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Labels) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// One sample of one series, with its family's metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Family name (for histograms and summaries, without the suffix).
    pub name: Cow<'static, str>,
    /// Which member of a histogram/summary family this is.
    pub suffix: Suffix,
    /// Family help text (first one seen wins when families merge).
    pub help: Cow<'static, str>,
    /// Family type.
    pub kind: MetricType,
    /// Sorted labels.
    pub labels: Labels,
    /// The value.
    pub value: f64,
    /// Milliseconds since the Unix epoch, if the sample carries its own time.
    pub timestamp_ms: Option<i64>,
}

impl Sample {
    /// A plain sample (no suffix, no timestamp).
    pub fn new(
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
        kind: MetricType,
        labels: Labels,
        value: f64,
    ) -> Sample {
        Sample {
            name: name.into(),
            suffix: Suffix::None,
            help: help.into(),
            kind,
            labels,
            value,
            timestamp_ms: None,
        }
    }

    /// The series name as it appears on the wire: family name plus suffix.
    pub fn series_name(&self) -> Cow<'_, str> {
        match self.suffix {
            Suffix::None => Cow::Borrowed(self.name.as_ref()),
            s => Cow::Owned(format!("{}{}", self.name, s.as_str())),
        }
    }

    /// Orders samples the way they are exposed, as Go's client writes them:
    /// by family name; in a histogram or summary family, series by series
    /// (labels without `le`/`quantile`), each as its buckets or quantiles in
    /// numeric order (`+Inf` last), then `_sum`, then `_count`; in other
    /// families by suffix, then labels.
    ///
    /// A total order (samples of one name but of a plain and a compound
    /// type are kept apart, plain first). Allocation-free; counters and
    /// gauges, most of a scrape, only compare names, suffixes and labels.
    pub fn exposition_cmp(&self, other: &Sample) -> Ordering {
        // Samples of one family mostly share one static name: equal
        // pointers need no byte compare.
        let same_name = std::ptr::eq(self.name.as_ref(), other.name.as_ref());
        let by_name = if same_name {
            Ordering::Equal
        } else {
            self.name.cmp(&other.name)
        };
        by_name.then_with(|| {
            let special = member_label(self.kind);
            special
                .cmp(&member_label(other.kind))
                .then_with(|| match special {
                    None => self
                        .suffix
                        .cmp(&other.suffix)
                        .then_with(|| self.labels.cmp(&other.labels)),
                    Some(special) => self.member_cmp(other, special),
                })
        })
    }

    /// [`Sample::exposition_cmp`] within one histogram or summary family,
    /// whose bucket or quantile is given by the label `special`.
    fn member_cmp(&self, other: &Sample, special: &str) -> Ordering {
        series_labels(&self.labels, special)
            .cmp(series_labels(&other.labels, special))
            .then_with(|| member_rank(self.suffix).cmp(&member_rank(other.suffix)))
            .then_with(|| bound_cmp(self.labels.get(special), other.labels.get(special)))
            .then_with(|| self.suffix.cmp(&other.suffix))
    }
}

/// The label that tells the members of a histogram (`le`) or summary
/// (`quantile`) series apart; `None` for plain types.
fn member_label(kind: MetricType) -> Option<&'static str> {
    match kind {
        MetricType::Histogram => Some("le"),
        MetricType::Summary => Some("quantile"),
        MetricType::Counter | MetricType::Gauge | MetricType::Untyped => None,
    }
}

/// The labels of `labels` other than `special`: the series of a member.
fn series_labels<'a>(
    labels: &'a Labels,
    special: &'a str,
) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
    labels.iter().filter(move |(n, _)| *n != special)
}

/// Where a member goes within its series: buckets and quantiles, `_sum`, `_count`.
fn member_rank(suffix: Suffix) -> u8 {
    match suffix {
        Suffix::None | Suffix::Bucket => 0,
        Suffix::Sum => 1,
        Suffix::Count => 2,
    }
}

/// Orders `le`/`quantile` values: absent first, then numbers in numeric
/// order (`+Inf` after all finite ones), then text that is not a number;
/// equal numbers spelled differently (`1`, `1.0`) by their text.
fn bound_cmp(a: Option<&str>, b: Option<&str>) -> Ordering {
    // Rust's float syntax accepts all Go's (and more, which is harmless for ordering).
    fn key(v: Option<&str>) -> (u8, f64) {
        match v.map(str::parse::<f64>) {
            None => (0, 0.0),
            Some(Ok(x)) => (1, x),
            Some(Err(_)) => (2, 0.0),
        }
    }
    let (ka, kb) = (key(a), key(b));
    ka.0.cmp(&kb.0)
        .then_with(|| ka.1.total_cmp(&kb.1))
        .then_with(|| a.cmp(&b))
}

/// The bits of Prometheus's stale marker: a NaN distinct from the NaN a
/// target may expose (`0x7ff8000000000001`), written when a series
/// disappears and kept exactly by the hub's store.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// Whether `v` is Prometheus's stale marker (not any other NaN).
pub fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// True if `s` is a valid metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
pub fn valid_metric_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_' || c == b':')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

/// True if `s` is a valid label name (`[a-zA-Z_][a-zA-Z0-9_]*`).
pub fn valid_label_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where collectors write their samples.
#[derive(Debug)]
pub struct Out<'a> {
    samples: &'a mut Vec<Sample>,
}

impl<'a> Out<'a> {
    /// Wraps a sample vector; samples are appended.
    pub fn new(samples: &'a mut Vec<Sample>) -> Out<'a> {
        Out { samples }
    }

    /// Appends a fully built sample.
    pub fn push(&mut self, s: Sample) {
        self.samples.push(s);
    }

    /// Appends one sample of a family.
    pub fn sample(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
        kind: MetricType,
        labels: Labels,
        value: f64,
    ) {
        self.samples
            .push(Sample::new(name, help, kind, labels, value));
    }

    /// Appends a gauge sample with labels given as pairs.
    pub fn gauge(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
        labels: &[(&'static str, &str)],
        value: f64,
    ) {
        self.sample(name, help, MetricType::Gauge, pairs(labels), value);
    }

    /// Appends a counter sample with labels given as pairs.
    pub fn counter(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
        labels: &[(&'static str, &str)],
        value: f64,
    ) {
        self.sample(name, help, MetricType::Counter, pairs(labels), value);
    }

    /// Appends an untyped sample with labels given as pairs.
    pub fn untyped(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
        labels: &[(&'static str, &str)],
        value: f64,
    ) {
        self.sample(name, help, MetricType::Untyped, pairs(labels), value);
    }
}

fn pairs(labels: &[(&'static str, &str)]) -> Labels {
    Labels::from_pairs(labels.iter().map(|&(n, v)| (n, v)))
}
