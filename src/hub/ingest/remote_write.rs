//! The remote_write 1.0 receiver (`POST /api/v1/write`): decodes,
//! checks and converts a body into a [`Batch`].
//!
//! Senders retry a 5xx forever and drop a 4xx, so the codes matter: a body
//! that can never be stored (bad Snappy, bad protobuf, invalid names, a
//! series without `__name__`) gets **400 with a readable message** and
//! nothing of it is stored; only trouble on the hub's side is a 5xx.
//! Samples of any age inside the retention are taken, in any order (an
//! agent's backlog), and a duplicate (series, timestamp) stores once, so a
//! retried request never doubles data. Samples older than the retention
//! are counted and skipped; the request still succeeds (204).
//!
//! The hot path: the checked view's label slices (of the decompressed
//! body) and samples become the batch as they are, no allocation per
//! label or sample.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Batch, Part, Rows};
use crate::liveness::{Sources, Transport};
use crate::store::{Appended, Store};
use picket_core::decode::remote_write::{parse, WriteView};
use picket_core::metric::{valid_label_name, valid_metric_name, Labels};

/// Largest decompressed body accepted, whatever the Snappy header claims.
pub(crate) const MAX_DECODED: usize = 256 << 20;

/// Counters for the hub's `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Requests taken (204).
    pub requests: AtomicU64,
    /// Requests refused with 400.
    pub rejected_bad: AtomicU64,
    /// Requests refused for credentials.
    pub rejected_auth: AtomicU64,
    /// Requests that failed on the hub's side.
    pub failed: AtomicU64,
}

/// Decodes, checks and stores a body (the receiver's path: labels stay
/// slices of the decompressed body, no allocation per label); Err is the
/// 400 message, and then nothing of the body is stored. The push sources
/// learn from its `up` series ([`Sources::observe`]) at `now_ms`.
pub(crate) fn receive(
    body: &[u8],
    store: &Store,
    sources: &Sources,
    now_ms: i64,
) -> Result<Appended, String> {
    let pb = decompress(body)?;
    let mut batch = check(parse(&pb).map_err(|e| format!("protobuf: {e}"))?)?;
    sources.observe(&mut batch, Transport::RemoteWrite, None, now_ms);
    Ok(store.append(&batch))
}

/// Decodes and checks a body; Err is the 400 message.
pub fn decode(body: &[u8]) -> Result<Rows, String> {
    decode_protobuf(&decompress(body)?)
}

/// Decodes and checks an uncompressed `WriteRequest` protobuf (as MQTT
/// carries it); Err says what is wrong.
pub(crate) fn decode_protobuf(pb: &[u8]) -> Result<Rows, String> {
    let b = check(parse(pb).map_err(|e| format!("protobuf: {e}"))?)?;
    Ok(b.series()
        .map(|(labels, samples)| {
            (
                Labels::from_pairs(labels.iter().map(|&(n, v)| (n.to_string(), v))),
                samples.to_vec(),
            )
        })
        .collect())
}

/// The Snappy block, its claimed size checked first.
fn decompress(body: &[u8]) -> Result<Vec<u8>, String> {
    let len = snap::raw::decompress_len(body).map_err(|e| format!("snappy: {e}"))?;
    if len > MAX_DECODED {
        return Err(format!(
            "decompressed body of {len} bytes is larger than the {MAX_DECODED} accepted"
        ));
    }
    snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| format!("snappy: {e}"))
}

/// The checks every decoded request passes: valid, unique label names, a
/// valid `__name__`. The batch's labels are each series' sorted by name
/// (as [`Labels`] keeps them), without empty values (an empty value is no
/// label, as in Prometheus); its samples are the view's, moved.
fn check(v: WriteView<'_>) -> Result<Batch<'_>, String> {
    let mut labels = Vec::with_capacity(v.labels.len());
    let mut series = Vec::with_capacity(v.series.len());
    for (i, s) in v.series.iter().enumerate() {
        let start = labels.len();
        let mine = &v.labels[s.labels.clone()];
        let mut named = false;
        for &(n, val) in mine {
            if n == "__name__" {
                if !valid_metric_name(val) {
                    return Err(format!("series {i}: invalid metric name {val:?}"));
                }
                named = true;
            } else if !valid_label_name(n) {
                return Err(format!("series {i}: invalid label name {n:?}"));
            }
            if !val.is_empty() {
                labels.push((n, val));
            }
        }
        // Senders sort the names (the spec says so): then none repeats.
        if !mine.windows(2).all(|w| w[0].0 < w[1].0) {
            let mut names = HashSet::new();
            for &(n, _) in mine {
                if !names.insert(n) {
                    return Err(format!("series {i}: duplicate label name {n:?}"));
                }
            }
            labels[start..].sort_unstable_by(|a, b| a.0.cmp(b.0));
        }
        if !named {
            return Err(format!("series {i}: no __name__ label"));
        }
        series.push(Part {
            labels: start..labels.len(),
            samples: s.samples.clone(),
        });
    }
    Ok(Batch {
        labels,
        samples: v.samples,
        series,
    })
}

/// Whether `authorization` (the header) is one of `accepted` (any when
/// none is configured).
pub(crate) fn authorized(accepted: &[String], authorization: Option<&str>) -> bool {
    // Every accepted value is compared, each in constant time: the answer
    // takes as long for a near miss as for a far one.
    accepted.is_empty()
        || authorization.is_some_and(|a| {
            accepted.iter().fold(false, |ok, x| {
                ok | picket_core::web::auth::ct_eq(x.as_bytes(), a.trim().as_bytes())
            })
        })
}

/// Counts a result.
pub(crate) fn count(c: &Counters, status: u16) {
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
    use picket_core::encode::remote_write::{compress, Label, PbSample, TimeSeries, WriteRequest};

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
