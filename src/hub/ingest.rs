//! The remote_write 1.0 receiver (`POST /api/v1/write`).
//!
//! Senders retry a 5xx forever and drop a 4xx, so the codes matter: a body
//! that can never be stored (bad Snappy, bad protobuf, invalid names, a
//! series without `__name__`) gets **400 with a readable message** and
//! nothing of it is stored; only trouble on the hub's side is a 5xx.
//! Samples of any age inside the retention are taken, in any order (an
//! agent's backlog), and a duplicate (series, timestamp) stores once, so a
//! retried request never doubles data. Samples older than the retention
//! are counted and skipped; the request still succeeds (204).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::encode::remote_write;
use crate::metric::{valid_label_name, valid_metric_name, Labels};

/// Largest decompressed body accepted, whatever the Snappy header claims.
pub const MAX_DECODED: usize = 256 << 20;

/// Counters for the hub's `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Requests taken (204).
    pub requests: AtomicU64,
    /// Requests refused with 400.
    pub rejected_bad: AtomicU64,
    /// Requests refused for credentials.
    pub rejected_auth: AtomicU64,
    /// Requests that failed on the hub's side.
    pub failed: AtomicU64,
}

/// A decoded, checked request: each series' labels and samples.
pub type Rows = Vec<(Labels, Vec<(i64, f64)>)>;

/// Decodes and checks a body; Err is the 400 message.
pub fn decode(body: &[u8]) -> Result<Rows, String> {
    let len = snap::raw::decompress_len(body).map_err(|e| e.to_string())?;
    if len > MAX_DECODED {
        return Err(format!(
            "decompressed body of {len} bytes is larger than the {MAX_DECODED} accepted"
        ));
    }
    check(remote_write::decode(body)?)
}

/// Decodes and checks an uncompressed `WriteRequest` protobuf (as MQTT
/// carries it); Err says what is wrong.
pub fn decode_protobuf(pb: &[u8]) -> Result<Rows, String> {
    let req = <remote_write::WriteRequest as prost::Message>::decode(pb)
        .map_err(|e| format!("protobuf: {e}"))?;
    check(req)
}

/// The checks every decoded request passes: valid, unique label names, a
/// valid `__name__`.
fn check(req: remote_write::WriteRequest) -> Result<Rows, String> {
    let mut rows = Vec::new();
    for (i, ts) in req.timeseries.into_iter().enumerate() {
        // Senders sort the names (the spec says so): then none repeats.
        if !ts.labels.windows(2).all(|w| w[0].name < w[1].name) {
            let mut names = HashSet::new();
            for l in &ts.labels {
                if !names.insert(l.name.as_str()) {
                    return Err(format!("series {i}: duplicate label name {:?}", l.name));
                }
            }
        }
        let mut labels = Labels::new();
        for l in ts.labels {
            if l.name == "__name__" {
                if !valid_metric_name(&l.value) {
                    return Err(format!("series {i}: invalid metric name {:?}", l.value));
                }
            } else if !valid_label_name(&l.name) {
                return Err(format!("series {i}: invalid label name {:?}", l.name));
            }
            if !l.value.is_empty() {
                labels.set(l.name, l.value);
            }
        }
        if labels.get("__name__").is_none() {
            return Err(format!("series {i}: no __name__ label"));
        }
        rows.push((
            labels,
            ts.samples.iter().map(|s| (s.timestamp, s.value)).collect(),
        ));
    }
    Ok(rows)
}

/// Whether `authorization` (the header) is one of `accepted` (any when
/// none is configured).
pub fn authorized(accepted: &[String], authorization: Option<&str>) -> bool {
    accepted.is_empty() || authorization.is_some_and(|a| accepted.iter().any(|x| x == a.trim()))
}

/// Counts a result.
pub fn count(c: &Counters, status: u16) {
    let n = match status {
        200..=299 => &c.requests,
        401 => &c.rejected_auth,
        400..=499 => &c.rejected_bad,
        _ => &c.failed,
    };
    n.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::remote_write::{compress, Label, PbSample, TimeSeries, WriteRequest};

    fn body(series: Vec<TimeSeries>) -> Vec<u8> {
        let pb = prost::Message::encode_to_vec(&WriteRequest { timeseries: series });
        compress(&pb)
    }

    fn ts(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
        TimeSeries {
            labels: labels
                .iter()
                .map(|(n, v)| Label {
                    name: n.to_string(),
                    value: v.to_string(),
                })
                .collect(),
            samples: samples
                .iter()
                .map(|&(t, v)| PbSample {
                    value: v,
                    timestamp: t,
                })
                .collect(),
        }
    }

    #[test]
    fn good_bodies_decode_and_bad_ones_are_refused_whole() {
        let rows = decode(&body(vec![ts(
            &[("__name__", "up"), ("job", "a"), ("empty", "")],
            &[(1, 1.0), (2, 0.0)],
        )]))
        .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].1.len(), 2);
        assert_eq!(rows[0].0.get("empty"), None);
        for (b, want) in [
            (b"not snappy".to_vec(), "snappy"),
            (compress(b"\xff\xff\xff"), "protobuf"),
            (body(vec![ts(&[("job", "a")], &[(1, 1.0)])]), "__name__"),
            (
                body(vec![ts(&[("__name__", "1up")], &[(1, 1.0)])]),
                "metric name",
            ),
            (
                body(vec![
                    ts(&[("__name__", "ok")], &[(1, 1.0)]),
                    ts(&[("__name__", "x"), ("a-b", "1")], &[(1, 1.0)]),
                ]),
                "label name",
            ),
        ] {
            let e = decode(&b).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
        assert!(authorized(&[], None));
        assert!(authorized(&["Bearer t".into()], Some("Bearer t")));
        assert!(!authorized(&["Bearer t".into()], Some("Bearer u")));
        assert!(!authorized(&["Bearer t".into()], None));
    }
}
