//! The query side of the Prometheus HTTP API: `/api/v1/query` and
//! `/api/v1/query_range`, which run the PromQL evaluator ([`super::promql`])
//! and write its results exactly as Prometheus does, plus the small
//! endpoints Grafana and promtool call around them (`metadata`,
//! `query_exemplars`, `rules`, `alerts`, `status/config`, `status/flags`,
//! `status/runtimeinfo`, `format_query`) answered with empty but
//! well-formed data.
//!
//! It exists apart from [`super::api`] (the label and series browser) and
//! from the evaluator itself so that the HTTP concerns (parameters as
//! Prometheus reads them, its error messages, types and codes, its JSON
//! number formatting) are in one place that the tests can drive with an
//! in-memory [`Querier`], without a server.
//!
//! Grafana's "Save & test" is `query=1+1&time=4`, answered
//! `{"status":"success","data":{"resultType":"scalar","result":[4,"2"]}}`.
//! Errors: `bad_data` (400) for missing or bad parameters and parse errors,
//! `execution` (422) for evaluation failures and the sample limit,
//! `timeout` (503) past the query timeout.

use std::time::Duration;

use super::api::{parse_time, Answer, Params};
use super::json;
use super::promql::{self, Options, Querier, Value};

fn bad(msg: impl AsRef<str>) -> Answer {
    (400, json::error("bad_data", msg.as_ref()))
}

fn failed(e: &promql::Error) -> Answer {
    (e.http_status(), json::error(e.error_type(), &e.to_string()))
}

/// Parses a Prometheus API duration: float seconds (`15`, `0.5`) or a
/// Prometheus duration (`15s`, `1m0s`, `1h30m`); milliseconds, which may
/// be zero or negative (the caller decides).
pub(crate) fn parse_duration(s: &str) -> Option<i64> {
    if let Ok(f) = s.parse::<f64>() {
        let ms = (f * 1000.0).round();
        if !ms.is_finite() || ms.abs() >= i64::MAX as f64 {
            return None;
        }
        return Some(ms as i64);
    }
    let d = picket_core::config::parse_duration(s).ok()?;
    i64::try_from(d.as_millis()).ok()
}

fn duration_param(p: &Params, name: &str) -> Result<Option<i64>, Answer> {
    match p.get(name) {
        None | Some("") => Ok(None),
        Some(v) => parse_duration(v).map(Some).ok_or_else(|| {
            bad(format!(
                "invalid parameter \"{name}\": cannot parse {v:?} to a valid duration"
            ))
        }),
    }
}

/// The options of one request: the configured limits, with the request's
/// `timeout` (which can only shorten the configured one, as the engine's
/// own timeout still applies in Prometheus) and `lookback_delta`.
fn request_options(p: &Params, base: &Options) -> Result<Options, Answer> {
    let mut opts = base.clone();
    if let Some(ms) = duration_param(p, "timeout")? {
        if ms > 0 {
            opts.timeout = opts.timeout.min(Duration::from_millis(ms as u64));
        }
    }
    if let Some(ms) = duration_param(p, "lookback_delta")? {
        if ms > 0 {
            opts.lookback_ms = ms;
        }
    }
    Ok(opts)
}

/// The `query` parameter, parsed (bad_data with Prometheus's wording when
/// missing or invalid).
fn query_param(p: &Params) -> Result<promql_parser::parser::Expr, Answer> {
    let q = p.get("query").unwrap_or("");
    if q.trim().is_empty() {
        return Err(bad(
            "invalid parameter \"query\": 1:1: parse error: no expression found in input",
        ));
    }
    promql::parse(q).map_err(|e| bad(format!("invalid parameter \"query\": {e}")))
}

/// A time parameter that must be present (`start`, `end` of a range query).
fn required_time(p: &Params, name: &str) -> Result<i64, Answer> {
    let v = p.get(name).unwrap_or("");
    parse_time(v).ok_or_else(|| {
        bad(format!(
            "invalid parameter \"{name}\": cannot parse {v:?} to a valid timestamp"
        ))
    })
}

/// `GET|POST /api/v1/query`: `query`, `time` (default `now_ms`),
/// `timeout`, `lookback_delta` (`stats` is ignored).
pub(crate) fn query(db: &dyn Querier, p: &Params, base: &Options, now_ms: i64) -> Answer {
    let run = || -> Result<Value, Answer> {
        let t = p.time("time", now_ms)?;
        let opts = request_options(p, base)?;
        let expr = query_param(p)?;
        promql::instant_expr(&expr, db, t, &opts).map_err(|e| failed(&e))
    };
    match run() {
        Ok(v) => (200, json::success(&result(&v))),
        Err(a) => a,
    }
}

/// `GET|POST /api/v1/query_range`: `query`, `start`, `end`, `step` (float
/// seconds or a duration), `timeout`, `lookback_delta`. The checks and
/// their messages in Prometheus's order.
pub(crate) fn query_range(db: &dyn Querier, p: &Params, base: &Options) -> Answer {
    let run = || -> Result<Value, Answer> {
        let start = required_time(p, "start")?;
        let end = required_time(p, "end")?;
        if end < start {
            return Err(bad("end timestamp must not be before start time"));
        }
        let step = match duration_param(p, "step")? {
            Some(s) => s,
            None => {
                return Err(bad(
                    "invalid parameter \"step\": cannot parse \"\" to a valid duration",
                ))
            }
        };
        if step <= 0 {
            return Err(bad(
                "zero or negative query resolution step widths are not accepted. Try a positive integer",
            ));
        }
        // checked: start and end may be Prometheus's min/max times.
        if end
            .checked_sub(start)
            .is_none_or(|d| d / step >= promql::MAX_POINTS)
        {
            return Err(bad(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
            ));
        }
        let opts = request_options(p, base)?;
        let expr = query_param(p)?;
        promql::range_expr(&expr, db, start, end, step, &opts).map_err(|e| failed(&e))
    };
    match run() {
        Ok(v) => (200, json::success(&result(&v))),
        Err(a) => a,
    }
}

/// `{"resultType":..,"result":..}` of a query result, as Prometheus writes it.
pub(crate) fn result(v: &Value) -> String {
    let mut out = String::from("{\"resultType\":");
    match v {
        Value::Scalar(t, x) => {
            out.push_str("\"scalar\",\"result\":");
            point(&mut out, *t, *x);
        }
        Value::String(t, s) => {
            out.push_str("\"string\",\"result\":[");
            json::timestamp(&mut out, *t);
            out.push(',');
            json::string(&mut out, s);
            out.push(']');
        }
        Value::Vector(samples) => {
            out.push_str("\"vector\",\"result\":[");
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                json::labels(&mut out, &s.labels);
                out.push_str(",\"value\":");
                point(&mut out, s.t, s.v);
                out.push('}');
            }
            out.push(']');
        }
        Value::Matrix(series) => {
            out.push_str("\"matrix\",\"result\":[");
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                json::labels(&mut out, &s.labels);
                out.push_str(",\"values\":[");
                // Most series hold a value for many steps (constant gauges,
                // counters between scrapes, every step of an instant
                // selector within a scrape interval): format each distinct
                // value once.
                let mut last: Option<u64> = None;
                let mut text = String::new();
                for (j, &(t, x)) in s.points.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    if last != Some(x.to_bits()) {
                        text.clear();
                        json::value(&mut text, x);
                        last = Some(x.to_bits());
                    }
                    out.push('[');
                    json::timestamp(&mut out, t);
                    out.push(',');
                    out.push_str(&text);
                    out.push(']');
                }
                out.push_str("]}");
            }
            out.push(']');
        }
    }
    out.push('}');
    out
}

/// `[<ts>,"<value>"]`.
fn point(out: &mut String, t: i64, v: f64) {
    out.push('[');
    json::timestamp(out, t);
    out.push(',');
    json::value(out, v);
    out.push(']');
}

/// `GET /api/v1/metadata`: the store keeps no TYPE/HELP, so an empty map
/// (Grafana's autocomplete then shows names without help).
pub(crate) fn metadata() -> Answer {
    (200, json::success("{}"))
}

/// `GET|POST /api/v1/query_exemplars`: the hub stores no exemplars.
pub(crate) fn query_exemplars() -> Answer {
    (200, json::success("[]"))
}

/// `GET /api/v1/status/config`: the hub's config is TOML, not Prometheus
/// YAML, so an empty document.
pub(crate) fn status_config() -> Answer {
    (200, json::success("{\"yaml\":\"\"}"))
}

/// `GET /api/v1/status/flags`: the query flags in effect, as Prometheus
/// lists flags (name → string value).
pub(crate) fn status_flags(opts: &Options) -> Answer {
    let mut out = String::from("{");
    let items = [
        (
            "query.lookback-delta",
            format_duration(opts.lookback_ms.max(0) as u128),
        ),
        ("query.max-samples", opts.max_samples.to_string()),
        ("query.timeout", format_duration(opts.timeout.as_millis())),
    ];
    for (i, (k, v)) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json::string(&mut out, k);
        out.push(':');
        json::string(&mut out, v);
    }
    out.push('}');
    (200, json::success(&out))
}

/// What `/api/v1/status/runtimeinfo` reports.
#[derive(Debug, Clone, Default)]
pub(crate) struct RuntimeInfo {
    /// When the hub started, ms since the epoch.
    pub start_ms: i64,
    /// Whether the last config (re)load succeeded.
    pub reload_ok: bool,
    /// When the config was last loaded, ms since the epoch.
    pub last_config_ms: i64,
    /// The retention, as configured.
    pub retention: Duration,
}

/// `GET /api/v1/status/runtimeinfo`: Prometheus's fields that mean
/// something here (Go runtime fields are zero or empty).
pub(crate) fn runtimeinfo(info: &RuntimeInfo) -> Answer {
    let mut out = String::from("{\"startTime\":\"");
    json::rfc3339(&mut out, info.start_ms);
    out.push_str("\",\"CWD\":");
    let cwd = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    json::string(&mut out, &cwd);
    out.push_str(&format!(
        ",\"reloadConfigSuccess\":{},\"lastConfigTime\":\"",
        info.reload_ok
    ));
    json::rfc3339(&mut out, info.last_config_ms);
    out.push_str(&format!(
        "\",\"corruptionCount\":0,\"goroutineCount\":0,\"GOMAXPROCS\":{},\"GOMEMLIMIT\":0,\"GOGC\":\"\",\"GODEBUG\":\"\",\"storageRetention\":\"{}\"}}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        format_duration(info.retention.as_millis())
    ));
    (200, json::success(&out))
}

/// `GET|POST /api/v1/format_query`: the query, pretty-printed.
pub(crate) fn format_query(p: &Params) -> Answer {
    match query_param(p) {
        Ok(expr) => {
            let mut out = String::new();
            json::string(&mut out, &expr.prettify());
            (200, json::success(&out))
        }
        Err(a) => a,
    }
}

/// A duration as Prometheus's `model.Duration` prints it (`2m`, `15d`,
/// `1h30m`, `0s`): the scrape config's formatter, from milliseconds.
pub(crate) fn format_duration(ms: u128) -> String {
    let ms = u64::try_from(ms).unwrap_or(u64::MAX);
    super::scrape::config::format_duration(Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promql::MemQuerier;
    use picket_core::metric::Labels;

    fn params(q: &[(&str, &str)]) -> Params {
        Params(
            q.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn db() -> MemQuerier {
        let mk = |inst: &str, f: &dyn Fn(i64) -> f64| {
            (
                Labels::from_pairs([("__name__", "x"), ("instance", inst)]),
                (0..=20).map(|i| (i * 15_000, f(i))).collect(),
            )
        };
        MemQuerier {
            series: vec![
                mk("a", &|i| i as f64 * 15.0),
                mk("b", &|i| if i == 20 { f64::NAN } else { 0.5 }),
            ],
        }
    }

    fn ok(a: Answer) -> serde_json::Value {
        assert_eq!(a.0, 200, "{}", a.1);
        serde_json::from_str(&a.1).expect("json")
    }

    #[test]
    fn grafana_save_and_test_is_a_scalar() {
        let a = query(
            &db(),
            &params(&[("query", "1+1"), ("time", "4")]),
            &Options::default(),
            0,
        );
        assert_eq!(
            a,
            (
                200,
                r#"{"status":"success","data":{"resultType":"scalar","result":[4,"2"]}}"#.into()
            )
        );
    }

    #[test]
    fn instant_results_as_prometheus_writes_them() {
        let o = Options::default();
        let a = query(&db(), &params(&[("query", "x"), ("time", "300")]), &o, 0);
        assert_eq!(
            a.1,
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"x","instance":"a"},"value":[300,"300"]},{"metric":{"__name__":"x","instance":"b"},"value":[300,"NaN"]}]}}"#
        );
        let v = ok(query(
            &db(),
            &params(&[("query", "x{instance=\"a\"}[30s]"), ("time", "300.5")]),
            &o,
            0,
        ));
        assert_eq!(v["data"]["resultType"], "matrix");
        assert_eq!(
            v["data"]["result"][0]["values"].to_string(),
            r#"[[285,"285"],[300,"300"]]"#
        );
        let v = ok(query(
            &db(),
            &params(&[("query", "\"hi\""), ("time", "1.5")]),
            &o,
            0,
        ));
        assert_eq!(
            v["data"].to_string(),
            r#"{"result":[1.5,"hi"],"resultType":"string"}"#
        );
        // `time` defaults to now; `1/0` is +Inf.
        let a = query(&db(), &params(&[("query", "-1/0")]), &o, 2_000);
        assert!(a.1.contains(r#""result":[2,"-Inf"]"#), "{}", a.1);
    }

    #[test]
    fn range_results_step_durations_and_rates() {
        let o = Options::default();
        for step in ["15", "15s", "0m15s", "15.0"] {
            let v = ok(query_range(
                &db(),
                &params(&[
                    ("query", "rate(x{instance=\"a\"}[1m0s])"),
                    ("start", "60"),
                    ("end", "90"),
                    ("step", step),
                ]),
                &o,
            ));
            assert_eq!(v["data"]["resultType"], "matrix");
            assert_eq!(
                v["data"]["result"].to_string(),
                r#"[{"metric":{"instance":"a"},"values":[[60,"1"],[75,"1"],[90,"1"]]}]"#,
                "step {step}"
            );
        }
        let v = ok(query_range(
            &db(),
            &params(&[
                ("query", "2"),
                ("start", "0"),
                ("end", "1"),
                ("step", "0.5"),
            ]),
            &o,
        ));
        assert_eq!(
            v["data"]["result"].to_string(),
            r#"[{"metric":{},"values":[[0,"2"],[0.5,"2"],[1,"2"]]}]"#
        );
    }

    fn err(a: Answer, status: u16, kind: &str, msg: &str) {
        assert_eq!(a.0, status, "{}", a.1);
        let v: serde_json::Value = serde_json::from_str(&a.1).expect("json");
        assert_eq!(v["status"], "error");
        assert_eq!(v["errorType"], kind, "{}", a.1);
        let got = v["error"].as_str().unwrap_or_default();
        assert!(got.contains(msg), "{got:?} lacks {msg:?}");
    }

    #[test]
    fn bad_parameters_are_prometheus_errors() {
        let o = Options::default();
        let q = |p: &[(&str, &str)]| query(&db(), &params(p), &o, 0);
        let r = |p: &[(&str, &str)]| query_range(&db(), &params(p), &o);
        err(q(&[]), 400, "bad_data", "invalid parameter \"query\"");
        err(q(&[("query", "sum(")]), 400, "bad_data", "parse error");
        err(
            q(&[("query", "x"), ("time", "yesterday")]),
            400,
            "bad_data",
            "invalid parameter \"time\": cannot parse \"yesterday\"",
        );
        err(
            q(&[("query", "x"), ("timeout", "soon")]),
            400,
            "bad_data",
            "invalid parameter \"timeout\"",
        );
        let base = [("query", "x"), ("start", "100"), ("end", "200")];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut v = base.to_vec();
            v.extend_from_slice(extra);
            v
        };
        err(r(&[("query", "x")]), 400, "bad_data", "\"start\"");
        err(r(&with(&[])), 400, "bad_data", "invalid parameter \"step\"");
        err(
            r(&[
                ("query", "x"),
                ("start", "200"),
                ("end", "100"),
                ("step", "1"),
            ]),
            400,
            "bad_data",
            "end timestamp must not be before start time",
        );
        for step in ["0", "-15", "0s"] {
            err(
                r(&with(&[("step", step)])),
                400,
                "bad_data",
                "zero or negative query resolution step widths are not accepted. Try a positive integer",
            );
        }
        err(
            r(&[("query", "x"), ("start", "0"), ("end", "11000"), ("step", "1")]),
            400,
            "bad_data",
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        );
        err(
            r(&with(&[("step", "fast")])),
            400,
            "bad_data",
            "invalid parameter \"step\": cannot parse \"fast\" to a valid duration",
        );
        err(
            r(&[
                ("query", "x[5m]"),
                ("start", "0"),
                ("end", "60"),
                ("step", "15"),
            ]),
            400,
            "bad_data",
            "invalid expression type \"range vector\" for range query",
        );
        // Evaluation errors: 422 execution; past the limits: 422 or 503.
        err(q(&[("query", "x + on() x")]), 422, "execution", "many");
        let tiny = Options {
            max_samples: 3,
            ..Options::default()
        };
        err(
            query(
                &db(),
                &params(&[("query", "x[5m]"), ("time", "300")]),
                &tiny,
                0,
            ),
            422,
            "execution",
            promql::TOO_MANY_SAMPLES,
        );
        let none = Options {
            timeout: Duration::ZERO,
            ..Options::default()
        };
        err(
            query(&db(), &params(&[("query", "x")]), &none, 0),
            503,
            "timeout",
            "query timed out",
        );
    }

    #[test]
    fn extreme_times_do_not_panic() {
        let o = Options::default();
        for t in [
            "-1e30",
            "1e30",
            "-9223372036854775.808",
            "9223372036854775.807",
            "0",
        ] {
            for q in [
                "x",
                "rate(x[5m])",
                "x offset -1h",
                "x @ 100",
                "max_over_time(x[1h:1m])",
            ] {
                let a = query(&db(), &params(&[("query", q), ("time", t)]), &o, 0);
                assert!(
                    a.0 == 200 || a.0 == 400 || a.0 == 422,
                    "{q} at {t}: {}",
                    a.1
                );
            }
        }
        for (s, e, step) in [
            ("-1e30", "1e30", "1e20"),
            ("1e30", "1e30", "1"),
            ("-1e30", "-1e30", "15"),
            ("0", "1e15", "1e12"),
        ] {
            for q in ["x", "rate(x[5m])", "max_over_time(x[1h:1m])"] {
                let p = params(&[("query", q), ("start", s), ("end", e), ("step", step)]);
                let a = query_range(&db(), &p, &o);
                assert!(
                    a.0 == 200 || a.0 == 400 || a.0 == 422,
                    "{q} {s}..{e}/{step}: {}",
                    a.1
                );
            }
        }
    }

    #[test]
    fn side_endpoints_and_durations() {
        assert_eq!(metadata().1, r#"{"status":"success","data":{}}"#);
        let none = Params(Vec::new());
        assert_eq!(
            crate::rules::api::rules(&[], &none).1,
            r#"{"status":"success","data":{"groups":[]}}"#
        );
        assert_eq!(
            crate::rules::api::alerts(&[]).1,
            r#"{"status":"success","data":{"alerts":[]}}"#
        );
        assert_eq!(query_exemplars().1, r#"{"status":"success","data":[]}"#);
        let v = ok(status_flags(&Options::default()));
        assert_eq!(v["data"]["query.timeout"], "2m");
        assert_eq!(v["data"]["query.lookback-delta"], "5m");
        let v = ok(format_query(&params(&[(
            "query",
            "sum(rate(x[5m]))by(job)",
        )])));
        assert_eq!(v["data"], "sum by (job) (rate(x[5m]))");
        let v = ok(runtimeinfo(&RuntimeInfo {
            start_ms: 1_700_000_000_000,
            reload_ok: true,
            last_config_ms: 1_700_000_000_000,
            retention: Duration::from_secs(15 * 86_400),
        }));
        assert_eq!(v["data"]["storageRetention"], "15d");
        assert_eq!(v["data"]["startTime"], "2023-11-14T22:13:20.000Z");
        assert_eq!(format_duration(90_000), "1m30s");
        assert_eq!(format_duration(14 * 86_400_000), "2w");
        // Years and weeks only when exact, as model.Duration.
        assert_eq!(format_duration(400 * 86_400_000), "400d");
        assert_eq!(parse_duration("1m0s"), Some(60_000));
        assert_eq!(parse_duration("0.25"), Some(250));
        assert_eq!(parse_duration("1e300"), None);
    }
}
