//! One MQTT message of a metrics topic into the store (the subscriber
//! thread, [`crate::mqtt`], hands it here): decoded whatever the publisher
//! chose of the agent's three formats (or a snappy remote_write body):
//! JSON when it starts with `[` or `{`, Prometheus text when it is UTF-8
//! and parses, else remote_write protobuf, raw first, then
//! Snappy-compressed. A message is stored whole or not at all. Samples
//! without a timestamp take the time of receipt.

use std::collections::HashSet;

use serde_json::Value;

use super::{remote_write, Batch, Rows};
use crate::liveness::{Sources, Transport};
use crate::store::{Appended, Store};
use picket_core::decode::text::parse_float;
use picket_core::metric::{valid_label_name, valid_metric_name, Labels};

/// Decodes and stores a message that came on topic segment `segment`
/// (what the metrics filter's first `+` matched): it is the `instance` of
/// samples without one (agents send their own; this is for foreign
/// publishers), and the push sources learn from the message's `up`
/// series. Err says why the message is refused; then nothing is stored.
#[cfg_attr(not(feature = "mqtt"), allow(dead_code))]
pub(crate) fn receive(
    payload: &[u8],
    segment: Option<&str>,
    store: &Store,
    sources: &Sources,
    now_ms: i64,
) -> Result<Appended, String> {
    let mut rows = decode(payload, now_ms)?;
    if let Some(inst) = segment {
        for (l, _) in &mut rows {
            if l.get("instance").is_none() {
                l.set("instance", inst.to_string());
            }
        }
    }
    let mut batch = Batch::from_series(&rows);
    sources.observe(&mut batch, Transport::Mqtt, segment, now_ms);
    Ok(store.append(&batch))
}

/// Decodes `payload`; `now_ms` stamps samples that carry no time. Err
/// says why the message is refused.
pub(crate) fn decode(payload: &[u8], now_ms: i64) -> Result<Rows, String> {
    let start = payload.iter().find(|b| !b.is_ascii_whitespace());
    if matches!(start, Some(b'[' | b'{')) {
        return json(payload, now_ms);
    }
    if let Ok(text) = std::str::from_utf8(payload) {
        let err = match picket_core::decode::text::parse(text) {
            Ok(samples) => return Ok(from_text(samples, now_ms)),
            Err(e) => format!("text: {e}"),
        };
        // Short protobuf bodies can be valid UTF-8: try them too.
        return remote_write::decode_protobuf(payload).map_err(|_| err);
    }
    remote_write::decode_protobuf(payload).or_else(|e| remote_write::decode(payload).map_err(|_| e))
}

fn from_text(samples: Vec<picket_core::metric::Sample>, now_ms: i64) -> Rows {
    samples
        .into_iter()
        .map(|s| {
            let mut l = s.labels.clone();
            l.set("__name__", s.series_name().into_owned());
            (l, vec![(s.timestamp_ms.unwrap_or(now_ms), s.value)])
        })
        .collect()
}

/// `[{"name":…,"labels":{…},"value":…,"timestamp_ms":…}, …]` or one such
/// object.
fn json(payload: &[u8], now_ms: i64) -> Result<Rows, String> {
    let v: Value = serde_json::from_slice(payload).map_err(|e| format!("json: {e}"))?;
    let items = match v {
        Value::Array(a) => a,
        o @ Value::Object(_) => vec![o],
        _ => return Err("json: expected an array of samples".into()),
    };
    let mut rows = Vec::with_capacity(items.len());
    for (i, it) in items.iter().enumerate() {
        let bad = |m: &str| format!("json: sample {i}: {m}");
        let name = it["name"].as_str().ok_or_else(|| bad("no \"name\""))?;
        if !valid_metric_name(name) {
            return Err(bad(&format!("invalid metric name {name:?}")));
        }
        let mut labels = Labels::new();
        let mut seen = HashSet::new();
        if let Some(obj) = it.get("labels") {
            let obj = obj
                .as_object()
                .ok_or_else(|| bad("\"labels\" is not an object"))?;
            for (k, v) in obj {
                let v = v
                    .as_str()
                    .ok_or_else(|| bad(&format!("label {k:?} is not a string")))?;
                if !valid_label_name(k) || k == "__name__" || !seen.insert(k.as_str()) {
                    return Err(bad(&format!("invalid label name {k:?}")));
                }
                if !v.is_empty() {
                    labels.set(k.clone(), v.to_string());
                }
            }
        }
        labels.set("__name__", name.to_string());
        let value = match &it["value"] {
            Value::Number(n) => n.as_f64().ok_or_else(|| bad("bad value"))?,
            Value::String(s) => parse_float(s).ok_or_else(|| bad("bad value"))?,
            _ => return Err(bad("no \"value\"")),
        };
        let ts = match &it["timestamp_ms"] {
            Value::Null => now_ms,
            t => t
                .as_i64()
                .ok_or_else(|| bad("\"timestamp_ms\" is not an integer"))?,
        };
        rows.push((labels, vec![(ts, value)]));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use picket_core::batch::Batch;
    use picket_core::encode::mqtt::{payloads, Format};
    use picket_core::metric::{MetricType, Sample};

    fn batch() -> Batch {
        let s = vec![
            Sample::new("node_load1", "h", MetricType::Gauge, Labels::new(), 0.5),
            Sample::new(
                "node_cpu_seconds_total",
                "h",
                MetricType::Counter,
                Labels::from_pairs([("cpu", "0"), ("mode", "idle")]),
                f64::INFINITY,
            ),
        ];
        Batch::from_samples(&s, 1_700_000_000_000, None, &[])
    }

    #[test]
    fn every_agent_format_round_trips() {
        for f in [Format::Text, Format::Json, Format::RemoteWrite] {
            let p = payloads(&[batch()], f, 1 << 20);
            let rows = decode(&p[0].bytes, 5).unwrap_or_else(|e| panic!("{f:?}: {e}"));
            assert_eq!(rows.len(), 2, "{f:?}");
            let cpu = rows
                .iter()
                .find(|r| r.0.get("__name__") == Some("node_cpu_seconds_total"))
                .unwrap();
            assert_eq!(cpu.0.get("mode"), Some("idle"), "{f:?}");
            assert_eq!(cpu.1, vec![(1_700_000_000_000, f64::INFINITY)], "{f:?}");
        }
        let snappy = picket_core::encode::remote_write::compress(
            &payloads(&[batch()], Format::RemoteWrite, 1 << 20)[0].bytes,
        );
        assert_eq!(decode(&snappy, 5).unwrap().len(), 2);
    }

    #[test]
    fn text_without_timestamps_takes_the_receipt_time() {
        let rows = decode(b"temp{room=\"a\"} 21.5\n", 42).unwrap();
        assert_eq!(rows[0].1, vec![(42, 21.5)]);
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        for (p, want) in [
            (&b"\xff\xfe\x00garbage"[..], "protobuf"),
            (b"not a metric line at all {", "text"),
            (b"[{\"name\":\"1bad\",\"value\":1}]", "metric name"),
            (b"[{\"name\":\"ok\"}]", "value"),
            (
                b"{\"name\":\"ok\",\"value\":1,\"labels\":{\"a-b\":\"x\"}}",
                "label name",
            ),
            (b"[1,2", "json"),
        ] {
            let e = decode(p, 0).unwrap_err();
            assert!(e.contains(want), "{:?}: {e}", String::from_utf8_lossy(p));
        }
    }
}
