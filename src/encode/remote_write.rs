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

use std::collections::BTreeMap;

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
#[derive(Debug, Default)]
pub struct RequestBuilder {
    series: BTreeMap<SeriesKey, Vec<PbSample>>,
    samples: usize,
}

impl RequestBuilder {
    /// An empty request.
    pub fn new() -> RequestBuilder {
        RequestBuilder::default()
    }

    /// Adds one sample of the series `key`.
    pub fn push(&mut self, key: &SeriesKey, value: f64, timestamp_ms: i64) {
        let s = PbSample {
            value,
            timestamp: timestamp_ms,
        };
        match self.series.get_mut(key) {
            Some(v) => v.push(s),
            None => {
                self.series.insert(key.clone(), vec![s]);
            }
        }
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

    /// The uncompressed protobuf `WriteRequest`; samples of each series in
    /// timestamp order (a stable sort, so equal timestamps keep their order).
    pub fn build(self) -> WriteRequest {
        WriteRequest {
            timeseries: self
                .series
                .into_iter()
                .map(|(key, mut samples)| {
                    samples.sort_by_key(|s| s.timestamp);
                    TimeSeries {
                        labels: key
                            .into_iter()
                            .map(|(name, value)| Label { name, value })
                            .collect(),
                        samples,
                    }
                })
                .collect(),
        }
    }

    /// The request body: protobuf, Snappy block format.
    pub fn encode(self) -> Vec<u8> {
        compress(&prost::Message::encode_to_vec(&self.build()))
    }
}

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
        let k1 = series_key("a_total", [("x", "1")], &[]);
        let k2 = series_key("b", Vec::<(String, String)>::new(), &[]);
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
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode(b"\xff\xff\xff\xff").is_err());
        assert!(decode(&compress(b"\x0a\xff")).is_err());
    }
}
