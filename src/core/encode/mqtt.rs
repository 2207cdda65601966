//! MQTT payloads from push batches: what the agent publishes on its
//! metrics topic, in one of three formats, split so that no message is
//! larger than the broker link allows.
//!
//! - **text** (default): Prometheus text exposition lines with their
//!   timestamps, `name{label="v"} value ts_ms`, one per sample and no
//!   `# HELP`/`# TYPE` (a batch keeps no metric types; such lines are
//!   untyped). Readable with `mosquitto_sub`, parsed by Telegraf's
//!   `prometheus` data format and by the hub's text parser.
//! - **json**: a JSON array with one object per sample,
//!   `{"name":"node_load1","labels":{…},"value":0.5,"timestamp_ms":…}`;
//!   values that JSON cannot hold (`NaN`, `±Inf`) are strings as in
//!   Prometheus's API (Node-RED and Telegraf's `json` parser read it).
//! - **remote_write**: a remote_write 1.0 `WriteRequest` protobuf,
//!   **not** Snappy-compressed: what Telegraf's `prometheusremotewrite`
//!   parser reads from MQTT (Snappy is an HTTP content encoding there).
//!
//! A payload never exceeds `max_bytes` unless a single sample does (then
//! that sample goes alone; the broker link reports it).

use crate::batch::{Batch, Point};
use crate::encode::remote_write::RequestBuilder;
use crate::encode::text::{escape_label_value, write_float};

/// The payload format of the metrics topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text lines with timestamps.
    Text,
    /// A JSON array of sample objects.
    Json,
    /// Uncompressed remote_write protobuf.
    RemoteWrite,
}

impl Format {
    /// Reads the config spelling: `text`, `json` or `remote_write`.
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "text" => Some(Format::Text),
            "json" => Some(Format::Json),
            "remote_write" => Some(Format::RemoteWrite),
            _ => None,
        }
    }
}

/// One message: its payload and the samples in it.
#[derive(Debug, PartialEq)]
pub struct Payload {
    /// The bytes to publish.
    pub bytes: Vec<u8>,
    /// Samples it carries.
    pub samples: usize,
}

/// Encodes every point of `batches` in `format`, in messages of at most
/// `max_bytes` (a single oversized sample goes alone).
pub fn payloads(batches: &[Batch], format: Format, max_bytes: usize) -> Vec<Payload> {
    let points = batches.iter().flat_map(|b| b.points.iter());
    match format {
        Format::Text => split(points, max_bytes, &[], &[], write_text),
        Format::Json => split(points, max_bytes, b"[", b"]", write_json),
        Format::RemoteWrite => remote_write(points, max_bytes),
    }
}

/// Packs one encoded piece per point between `open` and `close`.
fn split<'a>(
    points: impl Iterator<Item = &'a Point>,
    max_bytes: usize,
    open: &[u8],
    close: &[u8],
    write: fn(&Point, bool, &mut Vec<u8>),
) -> Vec<Payload> {
    let mut out = Vec::new();
    let mut cur = Payload {
        bytes: open.to_vec(),
        samples: 0,
    };
    let mut piece = Vec::with_capacity(256);
    for p in points {
        piece.clear();
        write(p, cur.samples > 0, &mut piece);
        if cur.samples > 0 && cur.bytes.len() + piece.len() + close.len() > max_bytes {
            cur.bytes.extend_from_slice(close);
            out.push(std::mem::replace(
                &mut cur,
                Payload {
                    bytes: open.to_vec(),
                    samples: 0,
                },
            ));
            piece.clear();
            write(p, false, &mut piece);
        }
        cur.bytes.extend_from_slice(&piece);
        cur.samples += 1;
    }
    if cur.samples > 0 {
        cur.bytes.extend_from_slice(close);
        out.push(cur);
    }
    out
}

/// `name{l="v",…} value ts\n`.
fn write_text(p: &Point, _: bool, out: &mut Vec<u8>) {
    let name = p.key.first().map_or("", |(_, v)| v.as_str());
    out.extend_from_slice(name.as_bytes());
    let labels = p.key.get(1..).unwrap_or(&[]);
    if !labels.is_empty() {
        out.push(b'{');
        for (i, (n, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b"=\"");
            escape_label_value(v, out);
            out.push(b'"');
        }
        out.push(b'}');
    }
    out.push(b' ');
    write_float(p.value, out);
    out.push(b' ');
    out.extend_from_slice(p.ts_ms.to_string().as_bytes());
    out.push(b'\n');
}

/// `{"name":…,"labels":{…},"value":…,"timestamp_ms":…}`, comma first
/// unless it opens the array.
fn write_json(p: &Point, comma: bool, out: &mut Vec<u8>) {
    if comma {
        out.push(b',');
    }
    let name = p.key.first().map_or("", |(_, v)| v.as_str());
    out.extend_from_slice(b"{\"name\":");
    json_string(name, out);
    out.extend_from_slice(b",\"labels\":{");
    for (i, (n, v)) in p.key.get(1..).unwrap_or(&[]).iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_string(n, out);
        out.push(b':');
        json_string(v, out);
    }
    out.extend_from_slice(b"},\"value\":");
    if p.value.is_finite() {
        write_float(p.value, out);
    } else {
        out.push(b'"');
        write_float(p.value, out);
        out.push(b'"');
    }
    out.extend_from_slice(b",\"timestamp_ms\":");
    out.extend_from_slice(p.ts_ms.to_string().as_bytes());
    out.push(b'}');
}

fn json_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
            }
            c => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// remote_write requests of about `max_bytes`: samples are added until the
/// estimate (labels plus 20 bytes per sample) would pass it, then the
/// request is encoded; a request that still comes out too large is split
/// in halves.
fn remote_write<'a>(points: impl Iterator<Item = &'a Point>, max_bytes: usize) -> Vec<Payload> {
    let pts: Vec<&Point> = points.collect();
    let mut out = Vec::new();
    let mut start = 0;
    while start < pts.len() {
        let mut est = 0usize;
        let mut end = start;
        while end < pts.len() {
            let p = pts[end];
            let size = 24
                + p.key
                    .iter()
                    .map(|(n, v)| n.len() + v.len() + 6)
                    .sum::<usize>();
            if end > start && est + size > max_bytes {
                break;
            }
            est += size;
            end += 1;
        }
        rw_encode(&pts[start..end], max_bytes, &mut out);
        start = end;
    }
    out
}

fn rw_encode(pts: &[&Point], max_bytes: usize, out: &mut Vec<Payload>) {
    let mut req = RequestBuilder::new();
    for p in pts {
        req.push(&p.key, p.value, p.ts_ms);
    }
    let bytes = req.encode_protobuf();
    if bytes.len() > max_bytes && pts.len() > 1 {
        let (a, b) = pts.split_at(pts.len() / 2);
        rw_encode(a, max_bytes, out);
        rw_encode(b, max_bytes, out);
    } else {
        out.push(Payload {
            bytes,
            samples: pts.len(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::remote_write::series_key;
    use std::sync::Arc;

    fn batch(n: usize) -> Batch {
        Batch {
            ts_ms: 1_700_000_000_000,
            points: (0..n)
                .map(|i| Point {
                    key: Arc::new(series_key(
                        "node_cpu_seconds_total",
                        [("cpu", i.to_string()), ("mode", "idle\"q".to_string())],
                        &[],
                    )),
                    value: if i == 0 { f64::NAN } else { i as f64 * 0.5 },
                    ts_ms: 1_700_000_000_000 + i as i64,
                })
                .collect(),
        }
    }

    #[test]
    fn text_lines_carry_labels_values_and_timestamps_and_parse_back() {
        let p = payloads(&[batch(3)], Format::Text, 1 << 20);
        assert_eq!(p.len(), 1);
        let text = String::from_utf8(p[0].bytes.clone()).unwrap();
        assert_eq!(
            text.lines().nth(1),
            Some(r#"node_cpu_seconds_total{cpu="1",mode="idle\"q"} 0.5 1700000000001"#)
        );
        let back = crate::decode::text::parse(&text).unwrap();
        assert_eq!(back.len(), 3);
        assert_eq!(back[2].timestamp_ms, Some(1_700_000_000_002));
        assert!(back[0].value.is_nan());
    }

    #[test]
    fn every_format_splits_under_the_limit_and_keeps_every_sample() {
        for f in [Format::Text, Format::Json, Format::RemoteWrite] {
            let p = payloads(&[batch(500), batch(250)], f, 4096);
            assert!(p.len() > 3, "{f:?}: {} messages", p.len());
            assert!(p.iter().all(|m| m.bytes.len() <= 4096), "{f:?}");
            assert_eq!(p.iter().map(|m| m.samples).sum::<usize>(), 750, "{f:?}");
        }
    }

    #[test]
    fn json_is_an_array_of_sample_objects() {
        let p = payloads(&[batch(2)], Format::Json, 1 << 20);
        let v: serde_json::Value = serde_json::from_slice(&p[0].bytes).unwrap();
        assert_eq!(v[0]["value"], "NaN");
        assert_eq!(v[1]["value"], 0.5);
        assert_eq!(v[1]["labels"]["mode"], "idle\"q");
        assert_eq!(v[1]["timestamp_ms"], 1_700_000_000_001i64);
    }

    #[test]
    fn remote_write_is_plain_protobuf() {
        let p = payloads(&[batch(2)], Format::RemoteWrite, 1 << 20);
        let req = <crate::encode::remote_write::WriteRequest as prost::Message>::decode(
            p[0].bytes.as_slice(),
        )
        .unwrap();
        assert_eq!(req.timeseries.len(), 2);
    }
}
