//! Entry points for the fuzz targets in tests/fuzz (not an API: hidden
//! from the docs, and nothing else calls them). Each one takes arbitrary
//! bytes, must never panic, and checks what can be checked on the way.

use std::path::Path;
use std::time::Duration;

use crate::ingest::{mqtt, remote_write};
use crate::promql::{self, MemQuerier};
use crate::rules::template::{Data, QuerySample, Template};
use crate::store::chunk;
use picket_core::metric::{Labels, STALE_NAN_BITS};

/// The remote_write receiver's decoding and checks (`POST /api/v1/write`,
/// before the store): bit 0 of the first byte clear, the rest is the body
/// as sent (Snappy); set, it is the protobuf the Snappy block would hold
/// (what MQTT carries), so the fuzzer reaches the protobuf and the checks.
pub fn remote_write(data: &[u8]) {
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    let _ = if flags & 1 == 0 {
        remote_write::decode(body)
    } else {
        remote_write::decode_protobuf(body)
    };
}

/// The MQTT input's payload decoding (JSON, text, remote_write protobuf,
/// Snappy): the whole input is one message.
pub fn mqtt_payload(data: &[u8]) {
    let _ = mqtt::decode(data, 1_700_000_000_000);
}

/// The sample chunk codec. Bit 0 of the first byte clear: the rest is a
/// chunk as stored (checksum included), and also the same bytes with a
/// valid checksum appended, so the fuzzer gets past the CRC; a chunk that
/// decodes must encode again and decode to the same samples. Set: the
/// rest is samples (16 bytes each: i64 ms, f64 bits, little-endian) that
/// must come back from `encode` then `decode` as the encoder promises
/// (sorted, the last of equal timestamps kept, bit for bit).
pub fn chunk(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    if flags & 1 == 0 {
        let _ = chunk::decode(rest);
        let mut crc = flate2::Crc::new();
        crc.update(rest);
        let mut stored = rest.to_vec();
        stored.extend_from_slice(&crc.sum().to_le_bytes());
        if let Ok(samples) = chunk::decode(&stored) {
            let again =
                chunk::decode(&chunk::encode(&samples)).expect("a re-encoded chunk decodes");
            assert!(same(&samples, &again), "{samples:?} != {again:?}");
        }
    } else {
        let samples: Vec<(i64, f64)> = rest
            .chunks_exact(16)
            .map(|c| {
                let (t, v) = c.split_at(8);
                (
                    i64::from_le_bytes(t.try_into().unwrap_or_default()),
                    f64::from_bits(u64::from_le_bytes(v.try_into().unwrap_or_default())),
                )
            })
            .collect();
        let got = chunk::decode(&chunk::encode(&samples)).expect("an encoded chunk decodes");
        let mut want: Vec<(i64, f64)> = Vec::new();
        let mut sorted = samples;
        sorted.sort_by_key(|s| s.0); // stable: the last of equal timestamps stays last
        for s in sorted {
            match want.last_mut() {
                Some(l) if l.0 == s.0 => *l = s,
                _ => want.push(s),
            }
        }
        assert!(same(&want, &got), "{want:?} != {got:?}");
    }
}

fn same(a: &[(i64, f64)], b: &[(i64, f64)]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.0 == y.0 && x.1.to_bits() == y.1.to_bits())
}

/// The hub's TOML config, as `--config.file` reads it and checks every
/// section. Inputs naming /dev, /proc or /sys are skipped: a config may
/// name files to read (password_file, ca_file), and reading a device
/// is no parser's business.
pub fn hub_config(data: &[u8]) {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    if ["/dev/", "/proc/", "/sys/"].iter().any(|d| src.contains(d)) {
        return;
    }
    if crate::config::prometheus::is_yaml(src) {
        // prometheus.yml: the YAML reader and the serde types over it.
        let _ = picket_core::yaml::de::from_str::<crate::config::prometheus::PromFile>(src);
        return;
    }
    let path = Path::new("fuzz/hub.toml");
    let Ok(file) = picket_core::config::parse_toml(path, src) else {
        return;
    };
    let ctx = crate::config::Ctx::new(Some(path), src);
    let _ = crate::config::resolve(&ctx, &ctx, file, &crate::config::Flags::default());
}

/// Alert templates: the input parsed as a label or annotation template,
/// then rendered for a firing alert with a `query` function that answers
/// two samples.
pub fn template(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    notification_template(text);
    let Ok(t) = Template::parse("__alert_Fuzz", text) else {
        return;
    };
    let data = Data {
        labels: Labels::from_pairs([
            ("__name__", "up"),
            ("instance", "pi4:9100"),
            ("job", "node"),
        ]),
        value: 0.25,
        external_labels: Labels::from_pairs([("site", "home")]),
        external_url: "http://hub:9090".into(),
    };
    let query = |_: &str| -> Result<Vec<QuerySample>, String> {
        Ok(vec![
            QuerySample {
                labels: Labels::from_pairs([("instance", "a:1"), ("job", "x")]),
                value: 1.5,
            },
            QuerySample {
                labels: Labels::from_pairs([("instance", "b:2")]),
                value: f64::NAN,
            },
        ])
    };
    let _ = t.render(&data, Some(&query));
}

/// The same text as an Alertmanager notification template (a template
/// file of the set and an email's `text`, then its `html`, escaped as
/// html/template does), over a notification of two alerts.
fn notification_template(text: &str) {
    use crate::rules::template::{AmAlert, Lib, Notification};
    let mut set = crate::notify::tmpl::defaults();
    let _ = set.parse("fuzz.tmpl", text);
    let Ok(t) = Template::parse_with("", text, Lib::Alertmanager) else {
        return;
    };
    let kv = |p: &[(&str, &str)]| {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let alert = |inst: &str, ends_at: Option<i64>| AmAlert {
        status: if ends_at.is_some() {
            "resolved"
        } else {
            "firing"
        }
        .into(),
        labels: kv(&[("alertname", "Down"), ("instance", inst)]),
        annotations: kv(&[("summary", "<b>down</b> & out")]),
        starts_at: 1_700_000_000_000,
        ends_at,
        generator_url: "http://hub:9090/graph?g0.expr=up".into(),
        fingerprint: "0123456789abcdef".into(),
    };
    let n = Notification {
        receiver: "ops".into(),
        status: "firing".into(),
        alerts: vec![alert("a:1", None), alert("b:2", Some(1_700_000_060_000))],
        group_labels: kv(&[("alertname", "Down")]),
        common_labels: kv(&[("alertname", "Down")]),
        common_annotations: kv(&[("summary", "<b>down</b> & out")]),
        external_url: "http://hub:9090".into(),
    };
    let _ = t.render_notification(&set, &n, false);
    let _ = t.render_notification(&set, &n, true);
}

/// PromQL: parse, then evaluate over a small fixed store (counters,
/// gauges with NaN, Inf and gaps, histogram buckets, a stale marker).
/// Bits 0-1 of the first byte: an instant query at 0 s, 150 s or 600 s,
/// or a range query over 0-600 s every 30 s; the rest is the query.
pub fn promql(data: &[u8]) {
    let Some((&flags, q)) = data.split_first() else {
        return;
    };
    let Ok(q) = std::str::from_utf8(q) else {
        return;
    };
    let db = promql_store();
    let opts = promql::Options {
        max_samples: 500_000,
        max_series: 1000,
        timeout: Duration::from_secs(2),
        ..promql::Options::default()
    };
    let _ = match flags & 3 {
        0 => promql::instant(q, &db, 0, &opts),
        1 => promql::instant(q, &db, 150_000, &opts),
        2 => promql::instant(q, &db, 600_000, &opts),
        _ => promql::range(q, &db, 0, 600_000, 30_000, &opts),
    };
}

/// The fixed store of [`promql`]: 21 points each, every 30 s.
fn promql_store() -> MemQuerier {
    let stale = f64::from_bits(STALE_NAN_BITS);
    let gauge = [
        1.0,
        5.0,
        3.0,
        -2.0,
        8.0,
        f64::NAN,
        6.0,
        7.0,
        f64::INFINITY,
        3.0,
        -0.5,
    ];
    let mut q = MemQuerier::default();
    let mut add = |labels: &[(&str, &str)], f: &dyn Fn(usize) -> Option<f64>| {
        let pts = (0..21)
            .filter_map(|i| f(i).map(|v| (i as i64 * 30_000, v)))
            .collect();
        q.series.push((
            Labels::from_pairs(labels.iter().map(|&(n, v)| (n.to_string(), v.to_string()))),
            pts,
        ));
    };
    for (job, inst, step) in [("api", "a", 10.0), ("api", "b", 5.0), ("db", "a", 1.0)] {
        add(
            &[
                ("__name__", "http_requests"),
                ("job", job),
                ("instance", inst),
            ],
            &|i| {
                Some(if job == "db" && i == 10 {
                    stale
                } else {
                    i as f64 * step
                })
            },
        );
    }
    add(
        &[("__name__", "gauge"), ("job", "api"), ("instance", "a")],
        &|i| Some(gauge[i % gauge.len()]),
    );
    add(
        &[("__name__", "gauge"), ("job", "db"), ("instance", "a")],
        &|i| (i % 4 != 3).then_some(0.5 + 0.25 * i as f64),
    );
    for (le, step) in [("0.1", 1.0), ("0.5", 3.0), ("1", 4.0), ("+Inf", 5.0)] {
        add(
            &[("__name__", "req_bucket"), ("job", "api"), ("le", le)],
            &|i| Some(i as f64 * step),
        );
    }
    add(
        &[("__name__", "info"), ("job", "api"), ("version", "1.2")],
        &|_| Some(1.0),
    );
    add(&[("__name__", "sparse"), ("a", "x")], &|i| {
        (i == 5 || i == 16).then_some(i as f64)
    });
    q
}

/// DNS answers (dns_sd_configs): the bytes as a server's reply to the
/// query whose id is their first two bytes. Never panics; any records
/// read back become targets that build.
pub fn dns_answer(data: &[u8]) {
    let id = match data {
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => return,
    };
    let _ = crate::scrape::dns::fuzz_parse(data, id);
}

#[cfg(test)]
mod tests {

    use super::*;

    use picket_core::batch::Batch;
    use picket_core::encode::mqtt::{payloads, Format};
    use picket_core::encode::remote_write::compress;

    use picket_core::fuzz::{corpus, replay};

    /// The fuzz targets' regression test.
    #[test]
    fn committed_fuzz_corpora_pass() {
        replay("remote_write", super::remote_write);
        replay("mqtt_payload", super::mqtt_payload);
        replay("chunk", super::chunk);
        replay("hub_config", super::hub_config);
        replay("template", super::template);
        replay("promql", super::promql);
        replay("dns_answer", super::dns_answer);
    }

    /// Writes the binary seeds of the hub's targets (remote_write,
    /// mqtt_payload, chunk) into tests/fuzz/corpus:
    /// `cargo test -p picket-hub --lib fuzz::tests::write_seeds -- --ignored`.
    #[test]
    #[ignore]
    fn write_seeds() {
        let text = "# HELP node_load1 1m load average.\n# TYPE node_load1 gauge\nnode_load1 0.52\n\
            # TYPE node_cpu_seconds_total counter\nnode_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 12345.67\n\
            node_cpu_seconds_total{cpu=\"0\",mode=\"user\"} 89.1 1700000000000\n\
            # TYPE up gauge\nup{job=\"node\",instance=\"pi4:9100\"} 1\nstale_marker NaN\n\
            # TYPE rpc histogram\nrpc_bucket{le=\"0.5\"} 3\nrpc_bucket{le=\"+Inf\"} 5\nrpc_sum 2.25\nrpc_count 5\n";
        let samples = picket_core::decode::text::parse(text).unwrap();
        let batch = Batch::from_samples(&samples, 1_700_000_000_000, None, &[]);
        let write = |t: &str, name: &str, bytes: &[u8]| {
            std::fs::create_dir_all(corpus(t)).unwrap();
            std::fs::write(corpus(t).join(name), bytes).unwrap();
        };
        let pb = payloads(std::slice::from_ref(&batch), Format::RemoteWrite, 1 << 20)
            .remove(0)
            .bytes;
        write(
            "remote_write",
            "seed-snappy",
            &[&[0u8][..], &compress(&pb)].concat(),
        );
        write("remote_write", "seed-protobuf", &[&[1u8][..], &pb].concat());
        for (f, name) in [
            (Format::Text, "seed-text"),
            (Format::Json, "seed-json"),
            (Format::RemoteWrite, "seed-protobuf"),
        ] {
            let p = payloads(std::slice::from_ref(&batch), f, 1 << 20)
                .remove(0)
                .bytes;
            write("mqtt_payload", name, &p);
        }
        write("mqtt_payload", "seed-snappy", &compress(&pb));
        write(
            "mqtt_payload",
            "seed-json-object",
            br#"{"name":"temp_celsius","labels":{"room":"attic"},"value":21.5,"timestamp_ms":1700000000000}"#,
        );
        let t0 = 1_700_000_000_000i64;
        let sets: [(&str, Vec<(i64, f64)>); 5] = [
            (
                "counter",
                (0..120)
                    .map(|i| (t0 + i * 15_000 + i % 3, (i * 1500) as f64))
                    .collect(),
            ),
            (
                "decimal",
                (0..60)
                    .map(|i| (t0 + i * 15_000, (i % 7) as f64 / 100.0 + 0.5))
                    .collect(),
            ),
            (
                "special",
                vec![
                    (t0, f64::NAN),
                    (t0 + 15_000, f64::from_bits(STALE_NAN_BITS)),
                    (t0 + 30_000, f64::INFINITY),
                    (t0 + 45_000, -0.0),
                    (t0 + 90_000, 1e300),
                    (t0 + 91_000, -3.25),
                ],
            ),
            ("one", vec![(-5, 42.0)]),
            ("empty", vec![]),
        ];
        for (name, s) in &sets {
            let c = chunk::encode(s);
            write("chunk", &format!("seed-{name}"), &[&[0u8][..], &c].concat());
            write(
                "chunk",
                &format!("seed-{name}-nocrc"),
                &[&[0u8][..], &c[..c.len() - 4]].concat(),
            );
            let raw: Vec<u8> = s
                .iter()
                .take(8)
                .flat_map(|&(t, v)| [t.to_le_bytes(), v.to_bits().to_le_bytes()].concat())
                .collect();
            write(
                "chunk",
                &format!("seed-{name}-samples"),
                &[&[1u8][..], &raw].concat(),
            );
        }
    }
}
