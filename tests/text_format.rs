//! The text exposition format: what the encoder writes, the parser reads
//! back, and both handle the format's corners (escaping, NaN/±Inf,
//! histograms, timestamps) the way Prometheus does.

use picket::decode::text::{parse, parse_float};
use picket::encode::text::{encode, write_float};
use picket::metric::{Labels, MetricType, Sample, Suffix};

fn s(name: &'static str, kind: MetricType, labels: &[(&'static str, &str)], v: f64) -> Sample {
    Sample {
        name: name.into(),
        suffix: Suffix::None,
        help: "Help text.".into(),
        kind,
        labels: Labels::from_pairs(labels.iter().map(|&(n, v)| (n, v))),
        value: v,
        timestamp_ms: None,
    }
}

fn float(v: f64) -> String {
    let mut out = Vec::new();
    write_float(v, &mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn floats_are_written_like_go_strconv_g() {
    // The forms node_exporter's Go client writes.
    for (v, want) in [
        (0.0, "0"),
        (1.0, "1"),
        (-3.0, "-3"),
        (123456.0, "123456"),
        (1e6, "1e+06"),
        (1073741824.0, "1.073741824e+09"),
        (0.5, "0.5"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (1.5e-7, "1.5e-07"),
        (3.9e9, "3.9e+09"),
        (1.8446744073709552e19, "1.8446744073709552e+19"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "+Inf"),
        (f64::NEG_INFINITY, "-Inf"),
        (123456.5, "123456.5"),
    ] {
        assert_eq!(float(v), want, "{v}");
    }
}

#[test]
fn families_are_grouped_sorted_and_escaped() {
    let mut samples = vec![
        s("b_metric", MetricType::Gauge, &[("x", "2")], 2.0),
        s("a_total", MetricType::Counter, &[], 5.0),
        s("b_metric", MetricType::Gauge, &[("x", "1")], 1.0),
        s(
            "c",
            MetricType::Untyped,
            &[("path", "C:\\dir \"q\"\nnext")],
            f64::NAN,
        ),
    ];
    samples[0].help = "Two\nlines \\ here.".into();
    let mut out = Vec::new();
    let dups = encode(&mut samples, &mut out);
    assert_eq!(dups, 0);
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        text,
        "# HELP a_total Help text.\n# TYPE a_total counter\na_total 5\n\
         # HELP b_metric Help text.\n# TYPE b_metric gauge\nb_metric{x=\"1\"} 1\nb_metric{x=\"2\"} 2\n\
         # HELP c Help text.\n# TYPE c untyped\nc{path=\"C:\\\\dir \\\"q\\\"\\nnext\"} NaN\n"
    );
}

#[test]
fn duplicate_series_are_dropped_once() {
    let mut samples = vec![
        s("m", MetricType::Gauge, &[("a", "1")], 1.0),
        s("m", MetricType::Gauge, &[("a", "1")], 2.0),
    ];
    let mut out = Vec::new();
    assert_eq!(encode(&mut samples, &mut out), 1);
    assert_eq!(
        String::from_utf8(out)
            .unwrap()
            .matches("m{a=\"1\"}")
            .count(),
        1
    );
}

#[test]
fn encode_then_parse_round_trips() {
    let mut samples = vec![
        s("node_load1", MetricType::Gauge, &[], 0.21),
        s(
            "node_cpu_seconds_total",
            MetricType::Counter,
            &[("cpu", "0"), ("mode", "idle")],
            1.5e9,
        ),
        s(
            "weird",
            MetricType::Untyped,
            &[("v", "a\\b\"c\nd")],
            f64::NEG_INFINITY,
        ),
    ];
    samples[0].timestamp_ms = Some(1_700_000_000_123);
    let mut out = Vec::new();
    encode(&mut samples, &mut out);
    let back = parse(std::str::from_utf8(&out).unwrap()).unwrap();
    assert_eq!(back.len(), 3);
    for (a, b) in samples.iter().zip(&back) {
        assert_eq!(a.name, b.name);
        assert_eq!(a.kind, b.kind);
        assert_eq!(a.help, b.help);
        assert_eq!(a.labels, b.labels);
        assert_eq!(a.timestamp_ms, b.timestamp_ms);
        assert!(a.value == b.value || (a.value.is_nan() && b.value.is_nan()));
    }
}

#[test]
fn histograms_and_summaries_keep_their_family() {
    let text = "# HELP req Request latency.\n# TYPE req histogram\n\
                req_bucket{le=\"0.1\"} 3\nreq_bucket{le=\"+Inf\"} 5\nreq_sum 1.2\nreq_count 5\n\
                # TYPE rpc summary\nrpc{quantile=\"0.5\"} 0.02\nrpc_sum 9\nrpc_count 100\n";
    let samples = parse(text).unwrap();
    let kinds: Vec<_> = samples
        .iter()
        .map(|s| (s.name.as_ref(), s.suffix, s.kind))
        .collect();
    assert_eq!(kinds[0], ("req", Suffix::Bucket, MetricType::Histogram));
    assert_eq!(kinds[2], ("req", Suffix::Sum, MetricType::Histogram));
    assert_eq!(kinds[3], ("req", Suffix::Count, MetricType::Histogram));
    assert_eq!(kinds[4], ("rpc", Suffix::None, MetricType::Summary));
    assert_eq!(kinds[6], ("rpc", Suffix::Count, MetricType::Summary));
    assert_eq!(samples[1].value, 5.0);
    assert_eq!(samples[0].help, "Request latency.");
    // And they encode back to the same text, family by family.
    let mut samples = samples;
    let mut out = Vec::new();
    encode(&mut samples, &mut out);
    let again = String::from_utf8(out).unwrap();
    assert!(again.contains("# TYPE req histogram\nreq_bucket{le=\"+Inf\"} 5\nreq_bucket{le=\"0.1\"} 3\nreq_sum 1.2\nreq_count 5\n"), "{again}");
}

#[test]
fn parser_accepts_what_prometheus_accepts() {
    let text = "# a comment\n\n  # HELP x Some \\\\ help\\n.\nx{ a = \"1\" , b=\"2\", } +Inf 42\r\ny 1e3\nz -0.5\tInvalid\n";
    // Last line has a trailing field that is not a timestamp: error on line 6.
    let err = parse(text).unwrap_err();
    assert_eq!(err.line, 6);
    let ok = parse(&text.replace("\tInvalid", "")).unwrap();
    assert_eq!(ok[0].help, "Some \\ help\n.");
    assert_eq!(ok[0].labels.get("b"), Some("2"));
    assert_eq!(ok[0].timestamp_ms, Some(42));
    assert_eq!(ok[1].value, 1000.0);
}

#[test]
fn parser_reports_the_line_of_each_kind_of_error() {
    for (text, line, what) in [
        ("ok 1\n9bad 1\n", 2, "invalid metric name"),
        ("m{a=\"1\" 1\n", 1, "expected ','"),
        ("m{a=1} 1\n", 1, "not quoted"),
        ("m{a=\"x\\q\"} 1\n", 1, "invalid escape"),
        ("m{a=\"1\",a=\"2\"} 1\n", 1, "duplicate label"),
        ("m abc\n", 1, "invalid value"),
        ("m\n", 1, "no value"),
        ("m 1 notatime\n", 1, "invalid timestamp"),
        ("# TYPE m gauge\n# TYPE m counter\n", 2, "second TYPE"),
        ("# TYPE m gauge\n# HELP m a\n# HELP m b\n", 3, "second HELP"),
        ("# TYPE m fancy\n", 1, "unknown metric type"),
        ("m 1\n# TYPE m gauge\n", 2, "after its samples"),
        ("# TYPE h histogram\nh_bucket 1\n", 2, "without an le label"),
        ("m{a=\"unterminated} 1\n", 1, "unterminated"),
    ] {
        let e = parse(text).unwrap_err();
        assert_eq!(e.line, line, "{text:?}: {e}");
        assert!(e.msg.contains(what), "{text:?}: {e}");
    }
}

#[test]
fn float_parsing_matches_the_format() {
    assert_eq!(parse_float("+Inf"), Some(f64::INFINITY));
    assert_eq!(parse_float("-Inf"), Some(f64::NEG_INFINITY));
    assert!(parse_float("NaN").unwrap().is_nan());
    assert_eq!(parse_float("1.5e-3"), Some(0.0015));
    assert_eq!(parse_float("0x10"), None);
    assert_eq!(parse_float("infinity"), None);
    assert_eq!(parse_float(""), None);
}
