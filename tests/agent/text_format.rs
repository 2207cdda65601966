//! The text exposition format: what the encoder writes, the parser reads
//! back, and both handle the format's corners (escaping, NaN/±Inf,
//! histograms, timestamps) the way Prometheus does.

use picket_core::decode::text::{parse, parse_float};
use picket_core::encode::text::{encode, write_float};
use picket_core::metric::{Labels, MetricType, Sample, Suffix};

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
    assert!(again.contains("# TYPE req histogram\nreq_bucket{le=\"0.1\"} 3\nreq_bucket{le=\"+Inf\"} 5\nreq_sum 1.2\nreq_count 5\n"), "{again}");
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
        ("m{__name__=\"x\"} 1\n", 1, "reserved"),
        (
            "# TYPE h histogram\nh_bucket{le=\"1\",le=\"2\"} 1\n",
            2,
            "duplicate label",
        ),
        ("# HELP m C:\\temp\n", 1, "invalid escape"),
        ("ok 1\n# HELP m trailing \\\n", 2, "invalid escape"),
        ("# TYPE m unknown\n", 1, "unknown metric type"),
        ("# TYPE g gauge_histogram\n\ng 1\n", 3, "unexpected type"),
        (
            "# TYPE s summary\n# TYPE s_count counter\n",
            2,
            "second TYPE",
        ),
        (
            "# HELP h x\n# TYPE h histogram\n# HELP h_bucket y\n",
            3,
            "second HELP",
        ),
        ("ok 1\nm 1e309\n", 2, "invalid value"),
        ("m{a=\"1\"} 1 2 3\n", 1, "unexpected"),
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
    assert_eq!(parse_float(""), None);
}

fn fam(samples: &[Sample]) -> Vec<(&str, Suffix, MetricType)> {
    samples
        .iter()
        .map(|s| (s.name.as_ref(), s.suffix, s.kind))
        .collect()
}

#[test]
fn suffixed_samples_join_a_declared_family_anywhere() {
    // As Go's parser: after the TYPE line, not only right after it.
    let text = "# TYPE a histogram\n# TYPE b gauge\nb 1\na_sum 2\na_bucket{le=\"1\"} 1\n\
                # TYPE s summary\nother 1\ns_count 3\ns_bucket 1\na_count 4\n";
    let samples = parse(text).unwrap();
    assert_eq!(
        fam(&samples),
        [
            ("b", Suffix::None, MetricType::Gauge),
            ("a", Suffix::Sum, MetricType::Histogram),
            ("a", Suffix::Bucket, MetricType::Histogram),
            ("other", Suffix::None, MetricType::Untyped),
            ("s", Suffix::Count, MetricType::Summary),
            // Summaries have no buckets: a family of its own.
            ("s_bucket", Suffix::None, MetricType::Untyped),
            ("a", Suffix::Count, MetricType::Histogram),
        ]
    );
    // Before the TYPE line a suffixed name is its own family, and that
    // family (existing first) keeps the name afterwards, as in Go.
    let samples = parse("x_sum 1\n# TYPE x summary\nx_sum 2\nx_count 3\n").unwrap();
    assert_eq!(
        fam(&samples),
        [
            ("x_sum", Suffix::None, MetricType::Untyped),
            ("x_sum", Suffix::None, MetricType::Untyped),
            ("x", Suffix::Count, MetricType::Summary),
        ]
    );
    // HELP lines resolve names the same way.
    let samples = parse("# TYPE s summary\n# HELP s_count Count help.\ns_count 1\n").unwrap();
    assert_eq!(fam(&samples), [("s", Suffix::Count, MetricType::Summary)]);
    assert_eq!(samples[0].help, "Count help.");
}

#[test]
fn help_applies_to_samples_before_it() {
    let text =
        "m 1\nm{a=\"b\"} 2\n# HELP m Late help.\n# TYPE h histogram\nh_sum 1\n# HELP h Hist.\n";
    let samples = parse(text).unwrap();
    let helps: Vec<&str> = samples.iter().map(|s| s.help.as_ref()).collect();
    assert_eq!(helps, ["Late help.", "Late help.", "Hist."]);

    // parse_into leaves samples it did not push alone, also on error.
    let mut out = parse("m 1\n").unwrap();
    out[0].help = "keep".into();
    picket_core::decode::text::parse_into("m 2\n# HELP m new\n", &mut out).unwrap();
    assert_eq!(out[0].help, "keep");
    assert_eq!(out[1].help, "new");
    let mut out = Vec::new();
    let e = picket_core::decode::text::parse_into("m 1\n# HELP m h\nbad{\n", &mut out).unwrap_err();
    assert_eq!(e.line, 3);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].help, "h");
}

#[test]
fn blanks_between_name_and_labels() {
    let samples = parse("a {x=\"1\"} 1\nb\t {x=\"2\"} 2\nc {} 3\n").unwrap();
    assert_eq!(samples.len(), 3);
    assert_eq!(samples[0].labels.get("x"), Some("1"));
    assert_eq!(samples[1].labels.get("x"), Some("2"));
    assert!(samples[2].labels.is_empty());
    assert_eq!(samples[2].value, 3.0);
}

#[test]
fn type_and_help_lines_as_go_reads_them() {
    // No text: ignored, nothing set (so a later line is not a second one).
    let samples =
        parse("# TYPE x\n# HELP x\n# HELP x   \n# TYPE x gauge\n# HELP x real\nx 1\n").unwrap();
    assert_eq!(samples[0].kind, MetricType::Gauge);
    assert_eq!(samples[0].help, "real");
    // No name at all: a comment.
    assert!(parse("# TYPE\n# HELP \n#\n").unwrap().is_empty());
    // Blanks before the help text are not part of it; trailing ones are.
    assert_eq!(
        parse("# HELP y \t two  words \ny 1\n").unwrap()[0].help,
        "two  words "
    );
    // Type words in any case (Go upper-cases them).
    let samples = parse(
        "# TYPE c COUNTER\nc 1\n# TYPE g Gauge\ng 1\n# TYPE h HiStOgRaM\nh_bucket{le=\"1\"} 1\n\
         # TYPE s SUMMARY\ns_sum 1\n# TYPE u UNTYPED\nu 1\n",
    )
    .unwrap();
    assert_eq!(
        fam(&samples),
        [
            ("c", Suffix::None, MetricType::Counter),
            ("g", Suffix::None, MetricType::Gauge),
            ("h", Suffix::Bucket, MetricType::Histogram),
            ("s", Suffix::Sum, MetricType::Summary),
            ("u", Suffix::None, MetricType::Untyped),
        ]
    );
    // gauge_histogram is a type to Go, but its samples are not readable;
    // a suffixed name does not join it.
    let samples = parse("# TYPE gh gauge_histogram\ngh_bucket{le=\"1\"} 1\n").unwrap();
    assert_eq!(
        fam(&samples),
        [("gh_bucket", Suffix::None, MetricType::Untyped)]
    );
}

#[test]
fn le_rules_follow_the_prometheus_server() {
    // A bucket without `le` is kept as it is (promparse does; Go's expfmt
    // drops it silently).
    let samples = parse("# TYPE h histogram\nh_bucket{a=\"1\"} 1\nh_count 1\n").unwrap();
    assert_eq!(samples[0].suffix, Suffix::Bucket);
    assert_eq!(samples[0].labels.get("le"), None);
    assert_eq!(samples[0].labels.get("a"), Some("1"));
    // A repeated `le` stays an error, with its line.
    let e = parse("# TYPE h histogram\nh_sum 1\nh_bucket{le=\"1\", le=\"2\"} 1\n").unwrap_err();
    assert_eq!(e.line, 3);
    assert!(e.msg.contains("duplicate label name \"le\""), "{e}");
    // And `__name__` is reserved.
    let e = parse("ok 1\nm{a=\"1\",__name__=\"m\"} 1\n").unwrap_err();
    assert_eq!(e.line, 2);
    assert!(e.msg.contains("__name__"), "{e}");
}

#[test]
fn help_escapes_are_gos() {
    let samples = parse("# HELP m say \\\"hi\\\" \\\\ now\\nthen \"q\"\nm 1\n").unwrap();
    assert_eq!(samples[0].help, "say \"hi\" \\ now\nthen \"q\"");
    for (text, line) in [
        ("# HELP m C:\\temp\nm 1\n", 1),
        ("m 1\n# HELP m a\\x\n", 2),
        ("m 1\n\n# HELP m end\\\n", 3),
        ("m 1\n\n# HELP m end\\\r\n", 3),
    ] {
        let e = parse(text).unwrap_err();
        assert_eq!(e.line, line, "{text:?}: {e}");
        assert!(e.msg.contains("invalid escape"), "{text:?}: {e}");
    }
}

#[test]
fn values_are_read_like_go_parse_float() {
    for s in [
        "Inf",
        "+Inf",
        "inf",
        "INF",
        "+inf",
        "Infinity",
        "infinity",
        "+INFINITY",
    ] {
        assert_eq!(parse_float(s), Some(f64::INFINITY), "{s}");
    }
    for s in ["-Inf", "-inf", "-Infinity", "-iNfInItY"] {
        assert_eq!(parse_float(s), Some(f64::NEG_INFINITY), "{s}");
    }
    for s in ["NaN", "nan", "NAN", "nAn"] {
        assert!(parse_float(s).unwrap().is_nan(), "{s}");
    }
    for (s, v) in [
        ("1", 1.0),
        ("-0.5", -0.5),
        ("+3", 3.0),
        ("1.", 1.0),
        (".5", 0.5),
        ("-.5e-3", -0.0005),
        ("1.e1", 10.0),
        ("2E+10", 2e10),
        ("1e-400", 0.0), // underflow is 0 in Go too
        ("1.7976931348623157e308", f64::MAX),
    ] {
        assert_eq!(parse_float(s), Some(v), "{s}");
    }
    for s in [
        "",
        "+",
        "-",
        ".",
        "e5",
        "1e",
        "1e+",
        "1.2.3",
        "+-1",
        "--1",
        "+NaN",
        "-nan",
        "nan1",
        "in",
        "infin",
        "infinit",
        "infx",
        "infinityy",
        "1e309",
        "-1e309",
        "0x10",
        "0x1p4",
        "1_000",
        "1p3",
        " 1",
        "1 ",
        "١",
    ] {
        assert_eq!(parse_float(s).map(f64::to_bits), None, "{s:?}");
    }
    // And in a body.
    let samples = parse("a Infinity\nb -inf\nc nan 5\n").unwrap();
    assert_eq!(samples[0].value, f64::INFINITY);
    assert_eq!(samples[1].value, f64::NEG_INFINITY);
    assert!(samples[2].value.is_nan());
    assert_eq!(samples[2].timestamp_ms, Some(5));
    let e = parse("a 1\nb +nan\n").unwrap_err();
    assert_eq!((e.line, e.msg.contains("invalid value")), (2, true), "{e}");
}

#[test]
fn lenient_line_ends_stay_lenient() {
    // No final newline, CRLF, blanks after the value, timestamp and TYPE word.
    let samples = parse("m 1 \r\nn 2 7\t\r\n# TYPE g gauge \r\n# HELP g Help.\r\ng 3").unwrap();
    assert_eq!(samples.len(), 3);
    assert_eq!(samples[1].timestamp_ms, Some(7));
    assert_eq!(samples[2].kind, MetricType::Gauge);
    assert_eq!(samples[2].help, "Help.");
    assert_eq!(samples[2].value, 3.0);
}

fn member(
    name: &'static str,
    kind: MetricType,
    suffix: Suffix,
    labels: &[(&'static str, &str)],
    v: f64,
) -> Sample {
    let mut x = s(name, kind, labels, v);
    x.suffix = suffix;
    x
}

#[test]
fn histograms_and_summaries_are_written_series_by_series() {
    use MetricType::{Gauge, Histogram, Summary};
    use Suffix::{Bucket, Count, None as Plain, Sum};
    let mut samples = vec![
        member("h", Histogram, Count, &[("job", "b")], 9.0),
        member("h", Histogram, Bucket, &[("job", "b"), ("le", "+Inf")], 9.0),
        member("h", Histogram, Bucket, &[("job", "b"), ("le", "10")], 8.0),
        member("h", Histogram, Sum, &[("job", "a")], 0.5),
        member("h", Histogram, Bucket, &[("job", "a"), ("le", "+Inf")], 2.0),
        member("h", Histogram, Bucket, &[("job", "b"), ("le", "2.5")], 7.0),
        member("h", Histogram, Sum, &[("job", "b")], 30.0),
        member("h", Histogram, Bucket, &[("job", "a"), ("le", "0.1")], 1.0),
        member("h", Histogram, Count, &[("job", "a")], 2.0),
        member(
            "h",
            Histogram,
            Bucket,
            &[("job", "b"), ("le", "1e-05")],
            1.0,
        ),
        member("s", Summary, Count, &[], 100.0),
        member("s", Summary, Plain, &[("quantile", "0.99")], 3.0),
        member("s", Summary, Sum, &[], 50.0),
        member("s", Summary, Plain, &[("quantile", "0.5")], 1.0),
        member("s", Summary, Plain, &[("quantile", "0.9")], 2.0),
        // Plain families keep ordering labels as text, `le` or not.
        member("g", Gauge, Plain, &[("le", "9")], 1.0),
        member("g", Gauge, Plain, &[("le", "10")], 2.0),
    ];
    let mut out = Vec::new();
    assert_eq!(encode(&mut samples, &mut out), 0);
    let lines: Vec<String> = String::from_utf8(out)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(String::from)
        .collect();
    assert_eq!(
        lines,
        [
            "g{le=\"10\"} 2",
            "g{le=\"9\"} 1",
            "h_bucket{job=\"a\",le=\"0.1\"} 1",
            "h_bucket{job=\"a\",le=\"+Inf\"} 2",
            "h_sum{job=\"a\"} 0.5",
            "h_count{job=\"a\"} 2",
            "h_bucket{job=\"b\",le=\"1e-05\"} 1",
            "h_bucket{job=\"b\",le=\"2.5\"} 7",
            "h_bucket{job=\"b\",le=\"10\"} 8",
            "h_bucket{job=\"b\",le=\"+Inf\"} 9",
            "h_sum{job=\"b\"} 30",
            "h_count{job=\"b\"} 9",
            "s{quantile=\"0.5\"} 1",
            "s{quantile=\"0.9\"} 2",
            "s{quantile=\"0.99\"} 3",
            "s_sum 50",
            "s_count 100",
        ]
    );
}

#[test]
fn exposition_order_is_total_and_drops_duplicates() {
    use MetricType::{Counter, Gauge, Histogram};
    use Suffix::{Bucket, Count, None as Plain};
    // Odd inputs (one name with plain and histogram samples, bounds that are
    // not numbers or spelled two ways, a bucket without `le`) still sort
    // consistently, and exact duplicates meet and are dropped.
    let mut samples = vec![
        member("x", Histogram, Bucket, &[("le", "1.0")], 1.0),
        member("x", Counter, Plain, &[], 1.0),
        member("x", Histogram, Bucket, &[("le", "high")], 1.0),
        member("x", Histogram, Bucket, &[("le", "1")], 1.0),
        member("x", Histogram, Bucket, &[], 1.0),
        member("x", Gauge, Plain, &[], 2.0),
        member("x", Histogram, Count, &[], 1.0),
        member("x", Histogram, Bucket, &[("le", "1")], 5.0),
        member("x", Histogram, Bucket, &[("le", "NaN")], 1.0),
    ];
    let mut sorted = samples.clone();
    sorted.sort_by(|a, b| a.exposition_cmp(b));
    for a in &sorted {
        for b in &sorted {
            assert_eq!(a.exposition_cmp(b), b.exposition_cmp(a).reverse());
        }
    }
    let mut out = Vec::new();
    assert_eq!(encode(&mut samples, &mut out), 2);
    let lines: Vec<String> = String::from_utf8(out)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(String::from)
        .collect();
    assert_eq!(
        lines,
        [
            "x 1",
            "x_bucket 1",
            "x_bucket{le=\"1\"} 1",
            "x_bucket{le=\"1.0\"} 1",
            "x_bucket{le=\"NaN\"} 1",
            "x_bucket{le=\"high\"} 1",
            "x_count 1",
        ]
    );
}
