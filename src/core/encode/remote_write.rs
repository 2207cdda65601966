//! Prometheus remote_write 1.0 bodies from the metric model.
//!
//! The second encoder of the one model (the first is [`super::text`] for
//! `/metrics`): a `WriteRequest` protobuf, Snappy block compressed, as the
//! spec requires. The five messages are declared here with prost's derive,
//! field numbers as in `prompb/types.proto` and `prompb/remote.proto`; no
//! protoc and no build script.
//!
//! Series are identified by their full label set, `__name__` included, sorted
//! by name as the spec requires (`__name__` sorts first: `_` is below every
//! letter). External labels are added to every series unless the series
//! already has that label, as Prometheus does. One series' samples go in
//! timestamp order in one `TimeSeries`.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

/// `prometheus.WriteRequest` (PRW 1.0): field 1 only.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    /// The series of this request.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries`: labels (1) and samples (2).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Sorted by name, `__name__` included.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// In timestamp order.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<PbSample>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, prost::Message)]
pub struct Label {
    /// Label name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Label value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`: value (double, 1) and timestamp (int64 ms, 2).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PbSample {
    /// The value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// The protobuf headers every remote_write 1.0 request carries.
pub const HEADERS: [(&str, &str); 3] = [
    ("Content-Encoding", "snappy"),
    ("Content-Type", "application/x-protobuf"),
    ("X-Prometheus-Remote-Write-Version", "0.1.0"),
];

/// A series' full label set in wire order (sorted, `__name__` first).
pub type SeriesKey = Vec<(String, String)>;

/// Builds the wire label set of a sample: `__name__`, its labels, and the
/// external labels it does not already have; sorted.
pub fn series_key(
    name: &str,
    labels: impl IntoIterator<Item = (impl Into<String>, impl Into<String>)>,
    external: &[(String, String)],
) -> SeriesKey {
    let mut key: SeriesKey = Vec::with_capacity(8);
    key.push(("__name__".to_string(), name.to_string()));
    for (n, v) in labels {
        let v = v.into();
        if !v.is_empty() {
            key.push((n.into(), v));
        }
    }
    for (n, v) in external {
        if !v.is_empty() && !key.iter().any(|(k, _)| k == n) {
            key.push((n.clone(), v.clone()));
        }
    }
    key.sort_by(|a, b| a.0.cmp(&b.0));
    key
}

/// Accumulates samples series by series, then encodes one request.
///
/// Series keep the order they were first added in (the spec asks for
/// sorted labels, not sorted series). A series is its shared key: batches
/// of one collection hold one `Arc` per series, and batches read back from
/// the buffer share one per series across batches, so grouping by the
/// `Arc`'s address puts each series' samples in one `TimeSeries` without
/// hashing label strings (the drain builds millions of samples a second).
/// Two different `Arc`s with equal labels become two `TimeSeries`, which
/// receivers append the same way.
#[derive(Debug, Default)]
pub struct RequestBuilder {
    series: Vec<(Arc<SeriesKey>, Vec<PbSample>)>,
    by_ptr: HashMap<usize, usize, BuildHasherDefault<AddrHasher>>,
    samples: usize,
}

/// Hashes a heap address: one multiply (Fibonacci hashing), for the
/// address-keyed map above.
#[derive(Debug, Default)]
struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

impl RequestBuilder {
    /// An empty request.
    pub fn new() -> RequestBuilder {
        RequestBuilder::default()
    }

    /// Adds one sample of the series `key`.
    pub(crate) fn push(&mut self, key: &Arc<SeriesKey>, value: f64, timestamp_ms: i64) {
        let s = PbSample {
            value,
            timestamp: timestamp_ms,
        };
        // The clone kept in `series` keeps the address from being reused.
        let ptr = Arc::as_ptr(key) as usize;
        let next = self.series.len();
        let ix = *self.by_ptr.entry(ptr).or_insert(next);
        if ix == next {
            self.series.push((key.clone(), Vec::with_capacity(1)));
        }
        self.series[ix].1.push(s);
        self.samples += 1;
    }

    /// Samples added so far.
    pub fn len(&self) -> usize {
        self.samples
    }

    /// True when nothing was added.
    pub fn is_empty(&self) -> bool {
        self.samples == 0
    }

    fn sort(&mut self) {
        for (_, samples) in &mut self.series {
            if samples.windows(2).any(|w| w[0].timestamp > w[1].timestamp) {
                samples.sort_by_key(|s| s.timestamp);
            }
        }
    }

    #[cfg(test)]
    /// The protobuf `WriteRequest` as prost structs; samples of each series
    /// in timestamp order (a stable sort, so equal timestamps keep their
    /// order). [`encode`](Self::encode) writes the same bytes directly.
    pub(crate) fn build(mut self) -> WriteRequest {
        self.sort();
        WriteRequest {
            timeseries: self
                .series
                .into_iter()
                .map(|(key, samples)| TimeSeries {
                    labels: key
                        .iter()
                        .map(|(name, value)| Label {
                            name: name.clone(),
                            value: value.clone(),
                        })
                        .collect(),
                    samples,
                })
                .collect(),
        }
    }

    /// The uncompressed protobuf, written field by field (what prost would
    /// write for [`build`](Self::build), without the intermediate structs
    /// and their string copies: the drain encodes millions of samples).
    pub(crate) fn encode_protobuf(mut self) -> Vec<u8> {
        self.sort();
        let mut out = Vec::with_capacity(self.samples * 24 + self.series.len() * 64);
        for (key, samples) in &self.series {
            let ts_len: usize = key
                .iter()
                .map(|(n, v)| len_delimited(label_len(n, v)))
                .chain(samples.iter().map(|s| len_delimited(sample_len(s))))
                .sum();
            out.push(0x0a);
            put_uvarint(&mut out, ts_len as u64);
            for (n, v) in key.iter() {
                out.push(0x0a);
                put_uvarint(&mut out, label_len(n, v) as u64);
                put_string(&mut out, 0x0a, n);
                put_string(&mut out, 0x12, v);
            }
            for s in samples {
                out.push(0x12);
                put_uvarint(&mut out, sample_len(s) as u64);
                if s.value != 0.0 {
                    out.push(0x09);
                    out.extend_from_slice(&s.value.to_le_bytes());
                }
                if s.timestamp != 0 {
                    out.push(0x10);
                    put_uvarint(&mut out, s.timestamp as u64);
                }
            }
        }
        out
    }

    /// The request body: protobuf, Snappy block format.
    pub fn encode(self) -> Vec<u8> {
        compress(&self.encode_protobuf())
    }
}

/// Bytes of a string field (tag, length, bytes); proto3 leaves out "".
fn string_field_len(s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        1 + uvarint_len(s.len() as u64) + s.len()
    }
}

fn label_len(n: &str, v: &str) -> usize {
    string_field_len(n) + string_field_len(v)
}

/// A `Sample` body. Like prost (and gogo-protobuf in Prometheus), a value
/// that compares equal to zero (so -0.0 too) and a zero timestamp are left
/// out.
fn sample_len(s: &PbSample) -> usize {
    let v = if s.value != 0.0 { 9 } else { 0 };
    let t = if s.timestamp != 0 {
        1 + uvarint_len(s.timestamp as u64)
    } else {
        0
    };
    v + t
}

fn len_delimited(body: usize) -> usize {
    1 + uvarint_len(body as u64) + body
}

fn put_string(out: &mut Vec<u8>, tag: u8, s: &str) {
    if !s.is_empty() {
        out.push(tag);
        put_uvarint(out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }
}

use crate::varint::{len as uvarint_len, put as put_uvarint};

/// Snappy block compression (the spec forbids the framed format).
pub fn compress(pb: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(pb)
        .unwrap_or_else(|_| Vec::new())
}

/// Decodes a request body (Snappy block, then protobuf); for tests and the hub.
pub fn decode(body: &[u8]) -> Result<WriteRequest, String> {
    let pb = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| format!("snappy: {e}"))?;
    <WriteRequest as prost::Message>::decode(pb.as_slice()).map_err(|e| format!("protobuf: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_sorted_name_first_external_added_not_overriding() {
        let ext = vec![
            ("instance".to_string(), "pi4".to_string()),
            ("job".to_string(), "node".to_string()),
        ];
        let key = series_key("node_load1", [("job", "mine"), ("cpu", "0")], &ext);
        let names: Vec<_> = key.iter().map(|(n, v)| format!("{n}={v}")).collect();
        assert_eq!(
            names,
            ["__name__=node_load1", "cpu=0", "instance=pi4", "job=mine"]
        );
    }

    #[test]
    fn empty_label_values_are_left_out() {
        let key = series_key("up", [("a", "")], &[]);
        assert_eq!(key, vec![("__name__".to_string(), "up".to_string())]);
    }

    #[test]
    fn round_trip_keeps_series_and_time_order() {
        let mut b = RequestBuilder::new();
        let k1 = Arc::new(series_key("a_total", [("x", "1")], &[]));
        let k2 = Arc::new(series_key("b", Vec::<(String, String)>::new(), &[]));
        b.push(&k1, 2.0, 2000);
        b.push(&k2, f64::NAN, 1000);
        b.push(&k1, 1.0, 1000);
        assert_eq!(b.len(), 3);
        let req = decode(&b.encode()).expect("decodes");
        assert_eq!(req.timeseries.len(), 2);
        let a = &req.timeseries[0];
        assert_eq!(a.labels[0].value, "a_total");
        let ts: Vec<_> = a.samples.iter().map(|s| (s.timestamp, s.value)).collect();
        assert_eq!(ts, [(1000, 1.0), (2000, 2.0)]);
        assert!(req.timeseries[1].samples[0].value.is_nan());
    }

    #[test]
    fn wire_bytes_match_the_proto_field_numbers() {
        // One series {__name__="m"} with one sample 1.0 @ 5: hand-assembled
        // from prompb's field numbers and wire types.
        let req = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label {
                    name: "__name__".into(),
                    value: "m".into(),
                }],
                samples: vec![PbSample {
                    value: 1.0,
                    timestamp: 5,
                }],
            }],
        };
        let mut want = vec![0x0a, 28, 0x0a, 13, 0x0a, 8];
        want.extend_from_slice(b"__name__");
        want.extend_from_slice(&[0x12, 1, b'm', 0x12, 11, 0x09]);
        want.extend_from_slice(&1.0f64.to_le_bytes());
        want.extend_from_slice(&[0x10, 5]);
        assert_eq!(prost::Message::encode_to_vec(&req), want);
    }

    #[test]
    fn hand_written_protobuf_equals_prost() {
        // Odd values on purpose: zero and -0.0 (left out), NaN, a zero and
        // a negative timestamp (ten-byte varint), an empty label value
        // (left out), long strings (two-byte lengths), a repeated series
        // with samples out of time order, and a second Arc with equal
        // labels (a separate TimeSeries).
        let k1 = Arc::new(series_key("a", [("x", "1")], &[]));
        let k1b = Arc::new(series_key("a", [("x", "1")], &[]));
        let long = "v".repeat(300);
        let k2 = Arc::new(vec![
            ("__name__".to_string(), "b".to_string()),
            ("e".to_string(), String::new()),
            ("l".to_string(), long),
        ]);
        let mut b = RequestBuilder::new();
        let mut c = RequestBuilder::new();
        for (k, v, t) in [
            (&k1, 0.0, 5),
            (&k2, -0.0, 0),
            (&k1b, f64::NAN, -7),
            (&k2, 1e300, 1_770_000_000_000),
            (&k1, -2.5, 3),
        ] {
            b.push(k, v, t);
            c.push(k, v, t);
        }
        let want = prost::Message::encode_to_vec(&b.build());
        assert_eq!(c.encode_protobuf(), want);
        let req = decode(&compress(&want)).expect("decodes");
        assert_eq!(req.timeseries.len(), 3);
        let stamps: Vec<i64> = req.timeseries[0]
            .samples
            .iter()
            .map(|s| s.timestamp)
            .collect();
        assert_eq!(stamps, [3, 5]);
        assert_eq!(req.timeseries[0].labels, req.timeseries[2].labels);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode(b"\xff\xff\xff\xff").is_err());
        assert!(decode(&compress(b"\x0a\xff")).is_err());
    }
}
