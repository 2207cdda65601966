//! PromQL, differentially: picket-hub against a real Prometheus 2.42 fed
//! the same remote_write stream, over every panel query of Grafana
//! dashboards 1860 (node), 2428 (HAProxy) and 9628 (PostgreSQL), the seed
//! how-tos' alert expressions and edge cases of our own. Results must be
//! equal within float tolerance; what differs is printed.
//!
//! **The data.** Three hours at 15 s of five targets shaped on real
//! exposition: the picket agent on the Pi 4 and Rock64 fixture trees and
//! the real node_exporter on this machine (node_exporter's names all
//! three), the real haproxy_exporter 0.14's output and the real
//! postgres_exporter 0.11.1's output (tests/fixtures). Every
//! series keeps its labels and type: counters grow (some reset once),
//! gauges walk or stay, histogram buckets grow. Into that go what real
//! scrapes produce and queries trip on: scrape-time jitter, a target down
//! for ten minutes (stale markers, `up` 0, a gap), NaN gauges, series that
//! appear late. Both sides get the very same requests, in time order (as a
//! Prometheus receiver requires), so any difference is the evaluator's.
//!
//! **Known differences** are listed in [`KNOWN`] with their reasons.

use std::collections::BTreeMap;

use picket_core::encode::remote_write::{compress, Label, PbSample, TimeSeries, WriteRequest};
use picket_core::metric::{MetricType, Suffix};

use crate::hub::{post, start_hub};
use crate::util::*;

/// Samples per series: three hours at 15 s, and the one at the end.
const STEPS: i64 = 721;
const STEP_MS: i64 = 15_000;
/// The Rock64 target is down for these steps (ten minutes).
const GAP: std::ops::Range<i64> = 400..440;
/// Counters chosen to reset do so at this step.
const RESET_AT: i64 = 300;
/// Gauges chosen to go NaN do so for these steps.
const NAN: std::ops::Range<i64> = 200..210;
/// Series chosen to appear late start at this step.
const LATE_FROM: i64 = 100;

/// Queries whose results differ on purpose, with the reason.
const KNOWN: &[(&str, &str)] = &[];

/// One scrape target of the simulated fleet.
struct Target {
    job: &'static str,
    instance: &'static str,
    /// Exposition the series are shaped on.
    text: String,
    /// Milliseconds after each step its scrapes land (jitter).
    offset_ms: i64,
    /// Down for [`GAP`].
    flaps: bool,
}

/// The fleet: the picket agent serving the Pi 4 and Rock64 fixture trees
/// and the real node_exporter on this machine (node_exporter's names all
/// three), and captured haproxy_exporter and postgres_exporter output.
/// `nodes` holds the three node scrapes in that order.
fn targets(nodes: [String; 3]) -> Vec<Target> {
    let read = |p: std::path::PathBuf| {
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    };
    let [pi4, rock64, here] = nodes;
    let target = |job, instance, text, offset_ms, flaps| Target {
        job,
        instance,
        text,
        offset_ms,
        flaps,
    };
    vec![
        target("node", "pi4:9100", pi4, 3, false),
        target("node", "rock64:9100", rock64, 1_250, true),
        target("node", "x86:9100", here, 4_480, false),
        target(
            "haproxy",
            "lb:9101",
            read(fixture("haproxy/show-stat-2.6.exporter-0.14.prom")),
            7_001,
            false,
        ),
        target(
            "postgres",
            "db:9187",
            read(fixture("postgres/exporter-0.11.1.prom")),
            11_017,
            false,
        ),
    ]
}

/// SplitMix64: a deterministic stream per series.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// How one series evolves.
#[derive(Clone, Copy)]
enum Shape {
    Constant,
    /// Grows by up to `2 × step` per sample; resets once if `resets`.
    Counter {
        step: f64,
        whole: bool,
        resets: bool,
    },
    /// Random walk of `step` per sample; NaN for [`NAN`] if `nans`.
    Gauge {
        step: f64,
        whole: bool,
        nans: bool,
    },
}

/// One generated series: labels (sorted, with `__name__`, `job`,
/// `instance`) and its samples.
struct Series {
    labels: Vec<(String, String)>,
    points: Vec<(i64, f64)>,
}

/// Every series of every target over [`STEPS`] from `t0`, plus `up`.
fn generate(t0: i64, targets: Vec<Target>) -> Vec<Series> {
    let mut out = Vec::new();
    for t in targets {
        let samples = picket_core::decode::text::parse(&t.text)
            .unwrap_or_else(|e| panic!("{} template: {e:?}", t.instance));
        let down = |i: i64| t.flaps && GAP.contains(&i);
        let ts = |i: i64| t0 + i * STEP_MS + t.offset_ms + (i * 7919 % 5);
        for s in samples {
            let mut labels: Vec<(String, String)> = s
                .labels
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            // A target's own job/instance labels become exported_*, as
            // Prometheus's scraper renames them (honor_labels: false).
            for (n, _) in labels.iter_mut() {
                if n == "job" || n == "instance" {
                    *n = format!("exported_{n}");
                }
            }
            let name = s.series_name().into_owned();
            labels.push(("__name__".into(), name));
            labels.push(("job".into(), t.job.into()));
            labels.push(("instance".into(), t.instance.into()));
            labels.sort();
            let key = format!("{labels:?}");
            let h = fnv(&key);
            let mut rng = Rng(h);
            let whole = s.value.fract() == 0.0;
            let grows = matches!(s.kind, MetricType::Counter)
                || matches!(s.suffix, Suffix::Bucket | Suffix::Count | Suffix::Sum);
            let shape = if !s.value.is_finite() {
                Shape::Constant
            } else if grows {
                let step = (s.value.abs() / 5_000.0).max(if whole { 3.0 } else { 0.37 });
                Shape::Counter {
                    step,
                    whole,
                    resets: h.is_multiple_of(7),
                }
            } else if h.is_multiple_of(3) {
                Shape::Constant
            } else {
                let step = (s.value.abs() / 200.0).max(if whole { 1.0 } else { 0.013 });
                Shape::Gauge {
                    step,
                    whole,
                    nans: h.is_multiple_of(17),
                }
            };
            let first = if h.is_multiple_of(11) { LATE_FROM } else { 0 };
            let mut v = s.value;
            let mut points = Vec::with_capacity(STEPS as usize);
            for i in first..STEPS {
                match shape {
                    Shape::Constant => {}
                    Shape::Counter {
                        step,
                        whole,
                        resets,
                    } => {
                        let d = rng.unit() * 2.0 * step;
                        v += if whole {
                            d.round()
                        } else {
                            (d * 100.0).round() / 100.0
                        };
                        if resets && i == RESET_AT {
                            v = if whole { 1.0 } else { 0.25 };
                        }
                    }
                    Shape::Gauge { step, whole, .. } => {
                        let d = (rng.unit() - 0.5) * 2.0 * step;
                        v += if whole { d.round() } else { d };
                    }
                }
                if down(i) {
                    // Prometheus marks every series of a failed scrape stale.
                    if i == GAP.start {
                        points.push((ts(i), f64::from_bits(picket_core::metric::STALE_NAN_BITS)));
                    }
                    continue;
                }
                let nan = matches!(shape, Shape::Gauge { nans: true, .. }) && NAN.contains(&i);
                points.push((ts(i), if nan { f64::NAN } else { v }));
            }
            out.push(Series { labels, points });
        }
        // `up`, as the scraper writes it.
        let mut labels = vec![
            ("__name__".to_string(), "up".to_string()),
            ("instance".into(), t.instance.into()),
            ("job".into(), t.job.into()),
        ];
        labels.sort();
        let points = (0..STEPS)
            .map(|i| (ts(i), if down(i) { 0.0 } else { 1.0 }))
            .collect();
        out.push(Series { labels, points });
    }
    out
}

/// The stream as remote_write bodies of `per` steps each, time-ordered.
fn requests(series: &[Series], t0: i64, per: i64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut from = t0;
    let end = t0 + STEPS * STEP_MS;
    while from < end {
        let to = from + per * STEP_MS;
        let timeseries: Vec<TimeSeries> = series
            .iter()
            .filter_map(|s| {
                let samples: Vec<PbSample> = s
                    .points
                    .iter()
                    .filter(|(t, _)| *t >= from && *t < to)
                    .map(|&(timestamp, value)| PbSample { value, timestamp })
                    .collect();
                (!samples.is_empty()).then(|| TimeSeries {
                    labels: s
                        .labels
                        .iter()
                        .map(|(name, value)| Label {
                            name: name.clone(),
                            value: value.clone(),
                        })
                        .collect(),
                    samples,
                })
            })
            .collect();
        out.push(compress(&prost::Message::encode_to_vec(&WriteRequest {
            timeseries,
        })));
        from = to;
    }
    out
}

/// Every panel expression of a Grafana dashboard (rows and nested panels).
fn panel_exprs(dashboard: &serde_json::Value) -> Vec<String> {
    fn walk(panels: &serde_json::Value, out: &mut Vec<String>) {
        for p in panels.as_array().into_iter().flatten() {
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(e) = t["expr"].as_str().filter(|e| !e.trim().is_empty()) {
                    out.push(e.to_string());
                }
            }
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    for row in dashboard["rows"].as_array().into_iter().flatten() {
        walk(&row["panels"], &mut out);
    }
    out
}

/// `expr` with Grafana's variables replaced, longest names first.
fn substitute(expr: &str, vars: &[(&str, &str)]) -> String {
    let mut vars = vars.to_vec();
    vars.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
    let mut e = expr.to_string();
    for (n, v) in vars {
        e = e
            .replace(&format!("${{{n}}}"), v)
            .replace(&format!("${n}"), v);
    }
    e
}

/// The query corpus: (where it comes from, PromQL).
fn corpus() -> Vec<(String, String)> {
    let load = |f: &str| -> serde_json::Value {
        let p = repo().join("../shared/compat").join(f);
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    };
    // Grafana's $__rate_interval at a 60 s step and 15 s scrapes:
    // max(step + scrape, 4 × scrape) = 75 s, written as Grafana writes it.
    let rate = ("__rate_interval", "1m15s");
    let mut out = Vec::new();
    let d1860 = load("grafana-1860-node-exporter-full.json");
    for node in ["pi4:9100", "rock64:9100", "x86:9100"] {
        for e in panel_exprs(&d1860) {
            let q = substitute(&e, &[("node", node), ("job", "node"), rate]);
            out.push((format!("1860 {node}"), q));
        }
    }
    // Multi-value variables set to All: Grafana sends `.*`-like regexes.
    let d2428 = load("grafana-2428-haproxy-rev7.json");
    for e in panel_exprs(&d2428) {
        let vars = [
            ("host", "lb"),
            ("port", "9101"),
            ("backend", "(app|other)"),
            ("frontend", ".*"),
            ("server", ".+"),
            ("code", "(1xx|2xx|3xx|4xx|5xx|other)"),
            rate,
        ];
        out.push(("2428".into(), substitute(&e, &vars)));
    }
    // No Kubernetes here: `release` is empty, which matches series
    // without that label, as in a plain install.
    let d9628 = load("grafana-9628-postgresql-database-rev8.json");
    for e in panel_exprs(&d9628) {
        let vars = [
            ("instance", "db:9187"),
            ("release", ""),
            ("datname", "(app|postgres)"),
            ("mode", ".*"),
            rate,
        ];
        out.push(("9628".into(), substitute(&e, &vars)));
    }
    for q in ALERTS.iter().chain(EDGES) {
        out.push(("own".into(), q.to_string()));
    }
    out
}

/// The seed how-tos' alert expressions, and the usual node/HAProxy/
/// PostgreSQL ones.
const ALERTS: &[&str] = &[
    "up == 0",
    r#"100 - (avg by(instance) (rate(node_cpu_seconds_total{mode="idle"}[5m])) * 100) > 95"#,
    r#"100 - (avg by(instance) (rate(node_cpu_seconds_total{mode="idle"}[5m])) * 100) > 1"#,
    "(node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes * 100) < 10",
    r#"(node_filesystem_avail_bytes{fstype!~"tmpfs|ramfs"} / node_filesystem_size_bytes * 100) < 50 and on(instance, device, mountpoint) node_filesystem_readonly == 0"#,
    r#"predict_linear(node_filesystem_avail_bytes{fstype!~"tmpfs"}[1h], 4 * 3600) < 0"#,
    "node_load1 / count without(cpu, mode) (node_cpu_seconds_total{mode=\"idle\"}) > 0.5",
    "rate(node_network_receive_errs_total[5m]) > 0",
    "increase(node_vmstat_oom_kill[1h]) > 0",
    "node_hwmon_temp_celsius > 20",
    "haproxy_up == 0",
    "haproxy_server_up == 0",
    "sum by(backend) (rate(haproxy_backend_http_responses_total{code=\"5xx\"}[5m])) / sum by(backend) (rate(haproxy_backend_http_responses_total[5m])) > 0.05",
    "pg_up == 0",
    "sum by(instance) (pg_stat_activity_count) > 0.8 * on(instance) pg_settings_max_connections",
    "rate(pg_stat_database_deadlocks[5m]) > 0",
    "absent(up{job=\"node\"})",
    "absent(up{job=\"mysql\"})",
];

/// Edge cases: resets, gaps, staleness, NaN, empty results, matching
/// errors, and the functions the dashboards do not reach.
const EDGES: &[&str] = &[
    // Counter resets and extrapolation.
    "rate(node_network_receive_bytes_total[5m])",
    "increase(node_network_receive_bytes_total[1h])",
    "resets(node_network_receive_bytes_total[1h])",
    "irate(node_cpu_seconds_total[1m])",
    "deriv(node_memory_Active_bytes[10m])",
    "delta(node_memory_Active_bytes[10m])",
    "idelta(node_memory_Active_bytes[10m])",
    "changes(node_memory_Active_bytes[10m])",
    // Gaps and staleness.
    "up",
    "count by(job) (up)",
    "node_load1",
    "count_over_time(node_load1[15m])",
    "last_over_time(node_load1[15m])",
    "absent_over_time(node_load1{instance=\"rock64:9100\"}[5m])",
    "present_over_time(node_load1[5m])",
    "timestamp(node_load1)",
    "node_load1 offset 10m",
    "node_load1 @ end()",
    "rate(node_load1[5m] @ start())",
    "max_over_time(node_load1[30m:1m])",
    "rate(node_cpu_seconds_total{mode=\"user\"}[5m:30s])",
    // NaN and empty results.
    "avg_over_time(pg_stat_activity_count[30m])",
    "max(pg_stat_activity_count)",
    "min by(state) (pg_stat_activity_count)",
    "sum(pg_stat_activity_count) / count(pg_stat_activity_count)",
    "pg_stat_activity_count != pg_stat_activity_count",
    "no_such_metric",
    "sum(no_such_metric)",
    "rate(no_such_metric[5m])",
    "vector(1) and no_such_metric",
    // Vector matching, including errors.
    "node_cpu_seconds_total + on(cpu) node_cpu_seconds_total",
    "node_load1 + on(instance) group_left node_cpu_seconds_total",
    "node_cpu_seconds_total / on(instance) group_left node_load1",
    "node_cpu_seconds_total * ignoring(cpu, mode) group_left node_load1",
    "up or node_load1",
    "node_load1 unless on(instance) up == 0",
    "node_load1 > bool 0.5",
    "1 - node_load1",
    "-node_load1 ^ 2 % 3",
    // Aggregations and functions beyond the dashboards.
    "topk(3, node_filesystem_size_bytes)",
    "bottomk(2, sum by(mode) (rate(node_cpu_seconds_total[5m])))",
    "quantile(0.9, rate(node_cpu_seconds_total[5m]))",
    "stddev by(instance) (node_cpu_seconds_total)",
    "stdvar without(cpu) (rate(node_cpu_seconds_total[5m]))",
    "count_values(\"value\", node_cpu_scaling_governor)",
    "group by(instance) (node_uname_info)",
    "sort_desc(sum by(device) (rate(node_disk_read_bytes_total[5m])))",
    "histogram_quantile(0.9, rate(go_gc_duration_seconds_bucket[5m]))",
    "histogram_quantile(0.5, sum by(le) (rate(node_schedstat_running_seconds_total[5m])))",
    "histogram_quantile(0.99, sum by(le, instance) (rate(pg_stat_database_xact_commit[5m])))",
    "quantile_over_time(0.5, node_load1[10m])",
    "stddev_over_time(node_load1[10m])",
    "sum_over_time(node_load1[10m])",
    "min_over_time(node_load1[10m])",
    "label_replace(up, \"host\", \"$1\", \"instance\", \"(.*):.*\")",
    "label_join(up, \"both\", \"/\", \"job\", \"instance\")",
    "clamp(node_load1, 0.2, 0.8)",
    "clamp_min(node_load1, 0.5) + clamp_max(node_load1, 0.5)",
    "abs(-node_load1) + ceil(node_load1) + floor(node_load1) + round(node_load1, 0.1)",
    "exp(node_load1) + ln(node_load1) + log2(node_load1) + log10(node_load1) + sqrt(node_load1) + sgn(node_load1)",
    "scalar(sum(up)) * node_load1",
    "time() - node_boot_time_seconds",
    "hour(node_boot_time_seconds) + minute() + day_of_month() + day_of_week() + days_in_month() + month() + year()",
    "avg by(instance) (irate(node_cpu_seconds_total{mode!=\"idle\"}[1m15s]))",
];

/// One answer, normalised for comparison: status, error type or result
/// type, and per series (labels, points) sorted by labels.
#[derive(Debug)]
enum Answer {
    Error(String),
    Data(String, BTreeMap<String, Vec<(f64, String)>>),
}

fn answer(addr: &str, path: &str) -> Answer {
    let r = get(addr, path).unwrap_or_else(|e| panic!("GET {path} on {addr}: {e}"));
    let v: serde_json::Value = serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("{addr}{path}: {e}: {}", r.text()));
    if v["status"] != "success" {
        return Answer::Error(v["errorType"].as_str().unwrap_or("?").to_string());
    }
    let kind = v["data"]["resultType"].as_str().unwrap_or("?").to_string();
    let result = &v["data"]["result"];
    let point = |p: &serde_json::Value| {
        (
            p[0].as_f64().unwrap_or(f64::NAN),
            p[1].as_str().unwrap_or("?").to_string(),
        )
    };
    let mut series = BTreeMap::new();
    match kind.as_str() {
        "scalar" | "string" => {
            series.insert(String::new(), vec![point(result)]);
        }
        _ => {
            for s in result.as_array().into_iter().flatten() {
                let labels: BTreeMap<String, String> =
                    serde_json::from_value(s["metric"].clone()).unwrap_or_default();
                let points = match s.get("values") {
                    Some(vs) => vs.as_array().into_iter().flatten().map(point).collect(),
                    None => vec![point(&s["value"])],
                };
                series.insert(format!("{labels:?}"), points);
            }
        }
    }
    Answer::Data(kind, series)
}

fn close(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => {
            (x.is_nan() && y.is_nan())
                || x == y
                || (x - y).abs() <= 1e-9 * x.abs().max(y.abs())
                || (x - y).abs() <= 1e-12
        }
        _ => false,
    }
}

/// What differs between Prometheus's answer `p` and the hub's `h`, if
/// anything, in a line or two.
fn differ(p: &Answer, h: &Answer) -> Option<String> {
    match (p, h) {
        (Answer::Error(a), Answer::Error(b)) if a == b => None,
        (Answer::Data(ka, a), Answer::Data(kb, b)) => {
            if ka != kb {
                return Some(format!("result type {ka} vs {kb}"));
            }
            let only_p: Vec<_> = a.keys().filter(|k| !b.contains_key(*k)).collect();
            let only_h: Vec<_> = b.keys().filter(|k| !a.contains_key(*k)).collect();
            if !only_p.is_empty() || !only_h.is_empty() {
                return Some(format!(
                    "{} series only in Prometheus (e.g. {:?}), {} only in the hub (e.g. {:?})",
                    only_p.len(),
                    only_p.first(),
                    only_h.len(),
                    only_h.first()
                ));
            }
            for (k, pa) in a {
                let ha = &b[k];
                if pa.len() != ha.len() {
                    let pt: Vec<f64> = pa.iter().map(|p| p.0).collect();
                    let ht: Vec<f64> = ha.iter().map(|p| p.0).collect();
                    let first = pt.iter().find(|t| !ht.contains(t)).copied();
                    let extra = ht.iter().find(|t| !pt.contains(t)).copied();
                    return Some(format!(
                        "{k}: {} points vs {} (first only in Prometheus: {first:?}, only in the hub: {extra:?})",
                        pa.len(),
                        ha.len()
                    ));
                }
                for (x, y) in pa.iter().zip(ha) {
                    if x.0 != y.0 || !close(&x.1, &y.1) {
                        return Some(format!("{k}: at {} {} vs at {} {}", x.0, x.1, y.0, y.1));
                    }
                }
            }
            None
        }
        _ => Some(format!("{p:?} vs {h:?}").chars().take(300).collect()),
    }
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[test]
#[ignore = "needs prometheus and prometheus-node-exporter (tests/run.sh installs them)"]
fn queries_answer_as_prometheus_does_over_the_same_data() {
    require("prometheus");
    let dir = temp_dir("promql-diff");
    let pdir = dir.join("prometheus");
    std::fs::create_dir_all(&pdir).expect("dir");
    std::fs::write(
        pdir.join("prometheus.yml"),
        "global:\n  scrape_interval: 15s\n",
    )
    .expect("prometheus.yml");
    let paddr = format!("127.0.0.1:{}", free_port());
    let prom = start_prometheus(&pdir, &paddr, &["--web.enable-remote-write-receiver"]);
    let hub = start_hub(&dir, &[]);

    // Three hours ending at the last whole quarter hour.
    let now = picket_core::clock::now_ms();
    let end = now / 900_000 * 900_000;
    let t0 = end - (STEPS - 1) * STEP_MS;
    let scrape = |p: Proc| {
        let r = get(&p.addr, "/metrics").expect("scrape");
        assert_eq!(r.status, 200);
        r.text()
    };
    let tree = |t: &str| {
        let args = tree_args(t);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        scrape(start_picket(&args))
    };
    let nodes = [
        tree("pi4"),
        tree("rock64"),
        scrape(start_node_exporter(&[])),
    ];
    let series = generate(t0, targets(nodes));
    let samples: usize = series.iter().map(|s| s.points.len()).sum();
    for body in requests(&series, t0, 20) {
        for addr in [&prom.addr, &hub.addr] {
            let r = post(addr, &body);
            assert_eq!(r.status, 204, "{addr}: {}", r.text());
        }
    }
    eprintln!("{} series, {samples} samples sent to both", series.len());

    let mut diffs = Vec::new();
    let (mut compared, mut with_data, mut points) = (0, 0, 0);
    let (start_s, end_s) = (t0 as f64 / 1000.0, end as f64 / 1000.0 + 1.0);
    // Inside the gap, just after the reset, and at the end.
    let instants = [
        t0 as f64 / 1000.0 + (GAP.start + 5) as f64 * 15.0,
        t0 as f64 / 1000.0 + (RESET_AT + 3) as f64 * 15.0 + 0.5,
        end_s,
    ];
    let corpus = corpus();
    for (from, q) in &corpus {
        let mut paths = vec![format!(
            "/api/v1/query_range?query={}&start={start_s}&end={end_s}&step=60",
            enc(q)
        )];
        for t in instants {
            paths.push(format!("/api/v1/query?query={}&time={t}", enc(q)));
        }
        for path in paths {
            let p = answer(&prom.addr, &path);
            let h = answer(&hub.addr, &path);
            compared += 1;
            if let Answer::Data(_, s) = &p {
                if !s.is_empty() {
                    with_data += 1;
                    points += s.values().map(Vec::len).sum::<usize>();
                }
            }
            if let Some(d) = differ(&p, &h) {
                let kind = if path.contains("query_range") {
                    "range"
                } else {
                    "instant"
                };
                let q = q.split_whitespace().collect::<Vec<_>>().join(" ");
                diffs.push(format!("[{from}] {kind} {q}\n    {d}"));
            }
        }
    }
    let known: Vec<_> = diffs
        .iter()
        .filter(|d| KNOWN.iter().any(|(q, _)| d.contains(q)))
        .collect();
    let unknown: Vec<_> = diffs
        .iter()
        .filter(|d| !KNOWN.iter().any(|(q, _)| d.contains(q)))
        .collect();
    eprintln!(
        "{} queries, {compared} requests compared ({with_data} with data, {points} points): {} differ ({} known)",
        corpus.len(),
        diffs.len(),
        known.len()
    );
    for d in &unknown {
        eprintln!("{d}");
    }
    // The corpus must reach the data, or equality says nothing. Panels
    // for what a board lacks (hwmon fans on a Pi, systemd units without
    // that collector, PSI on Raspberry Pi kernels) are empty on both
    // sides: about a fifth of the answers.
    assert!(
        with_data * 4 >= compared * 3,
        "only {with_data} of {compared} answers have data"
    );
    assert!(
        unknown.is_empty(),
        "{} results differ from Prometheus's",
        unknown.len()
    );
    drop(hub);
    drop(prom);
    let _ = std::fs::remove_dir_all(&dir);
}
