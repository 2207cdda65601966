//! The hub's PromQL evaluator: what `/api/v1/query`, `/api/v1/query_range`
//! and the rule engine run, so Grafana dashboards and Prometheus-style rule
//! files work against picket-hub.
//!
//! Parsing is the `promql-parser` crate's; everything after the AST is
//! here. The semantics are Prometheus **2.x**'s (checked against promtool
//! 2.42): range selectors are closed on both ends (`[t-range, t]`), an
//! instant selector takes the newest sample in `[t-lookback, t]` unless it
//! is a stale marker, rate/increase extrapolate as `extrapolatedRate`.
//!
//! Evaluation is step-wise over the whole query range at once, as
//! Prometheus's engine does: each selector's samples are read from the
//! [`Querier`] once, for the whole window the query needs, and every node
//! then works on per-step vectors.
//!
//! Module map: [`value`] result types, `eval` the AST walk and selectors,
//! `functions` the function library, `aggregate` the aggregation
//! operators, `binary` the operators and vector matching.

mod aggregate;
mod binary;
mod eval;
mod functions;
pub(crate) mod value;

#[cfg(test)]
mod tests;

use std::fmt;
use std::time::{Duration, Instant};

use promql_parser::parser::{self, value::ValueType, Expr};

use crate::store::{Limit, Matcher, SelectError, Store};
use picket_core::metric::Labels;
pub use value::{Sample, Series, Value};

/// Prometheus's message when a query needs too many samples.
pub const TOO_MANY_SAMPLES: &str =
    "query processing would load too many samples into memory in query execution";

/// Series as a [`Querier`] returns them: labels and (ms, value) points.
pub type Selected = Vec<(Labels, Vec<(i64, f64)>)>;

/// Most steps a range query may have (Prometheus's API limit).
pub const MAX_POINTS: i64 = 11_000;

/// Where the evaluator reads series from.
pub trait Querier {
    /// The samples in `[mint, maxt]` (ms, both inclusive) of every series
    /// matching all `matchers`, in time order, stale markers included;
    /// [`SelectError::Limit`] as soon as `limit` is passed.
    fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        limit: Limit,
    ) -> Result<Selected, SelectError>;
}

impl Querier for Store {
    fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        limit: Limit,
    ) -> Result<Selected, SelectError> {
        self.select_limited(matchers, mint, maxt, limit)
    }
}

/// A simple in-memory [`Querier`] (tests, and rule unit tests). Series come
/// back in insertion order, as Prometheus's head returns them, so
/// order-dependent results (float sums, topk ties) match promtool's.
#[derive(Clone, Debug, Default)]
pub struct MemQuerier {
    /// Every series: labels (with `__name__`) and points in time order.
    pub series: Vec<(Labels, Vec<(i64, f64)>)>,
}

impl Querier for MemQuerier {
    fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        limit: Limit,
    ) -> Result<Selected, SelectError> {
        let mut out = Vec::new();
        for (l, pts) in &self.series {
            if !matchers.iter().all(|m| m.matches_labels(l)) {
                continue;
            }
            let lo = pts.partition_point(|p| p.0 < mint);
            let hi = pts.partition_point(|p| p.0 <= maxt);
            if lo < hi {
                out.push((l.clone(), pts[lo..hi].to_vec()));
            }
        }
        if limit.series > 0 && out.len() > limit.series {
            return Err(SelectError::Limit("series"));
        }
        if limit.samples > 0 && out.iter().map(|s| s.1.len()).sum::<usize>() > limit.samples {
            return Err(SelectError::Limit("samples"));
        }
        Ok(out)
    }
}

/// Evaluation settings (Prometheus's engine flags).
#[derive(Clone, Debug)]
pub struct Options {
    /// How far back an instant selector looks (`--query.lookback-delta`,
    /// 5 minutes).
    pub lookback_ms: i64,
    /// Most samples a query may hold (`--query.max-samples`, 50 000 000).
    pub max_samples: usize,
    /// Most series one selector may match (`[query] max_series`; 0: no
    /// limit).
    pub max_series: usize,
    /// Wall-clock limit (`--query.timeout`, 2 minutes).
    pub timeout: Duration,
    /// Step of a subquery without one (`[1h:]`): the global evaluation
    /// interval, 1 minute by default.
    pub default_subquery_step_ms: i64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            lookback_ms: 300_000,
            max_samples: 50_000_000,
            max_series: 0,
            timeout: Duration::from_secs(120),
            default_subquery_step_ms: 60_000,
        }
    }
}

/// Why a query failed, in the API's error classes.
#[derive(Clone, Debug, PartialEq)]
pub enum Error {
    /// The query does not parse or is not valid here (HTTP 400, `bad_data`).
    BadData(String),
    /// Evaluation failed (HTTP 422, `execution`).
    Execution(String),
    /// The query ran past [`Options::timeout`] (HTTP 503, `timeout`).
    Timeout,
    /// Past [`Options::max_samples`] (HTTP 422, `execution`).
    TooManySamples,
    /// One selector matched more than [`Options::max_series`] series
    /// (HTTP 422, `execution`).
    TooManySeries(usize),
}

impl Error {
    /// The API's `errorType`.
    pub fn error_type(&self) -> &'static str {
        match self {
            Error::BadData(_) => "bad_data",
            Error::Execution(_) | Error::TooManySamples | Error::TooManySeries(_) => "execution",
            Error::Timeout => "timeout",
        }
    }

    /// The HTTP status Prometheus answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            Error::BadData(_) => 400,
            Error::Execution(_) | Error::TooManySamples | Error::TooManySeries(_) => 422,
            Error::Timeout => 503,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadData(m) | Error::Execution(m) => f.write_str(m),
            Error::Timeout => f.write_str("query timed out in expression evaluation"),
            Error::TooManySamples => f.write_str(TOO_MANY_SAMPLES),
            Error::TooManySeries(n) => write!(
                f,
                "query processing would select more than {n} series for one selector (query.max_series)"
            ),
        }
    }
}

impl std::error::Error for Error {}

/// Parses a query (for validation, e.g. of rule files).
pub fn parse(q: &str) -> Result<Expr, Error> {
    check_number_durations(q)?;
    parser::parse(q).map_err(|e| Error::BadData(format!("parse error: {}", e.trim())))
}

/// Refuses a number used as a duration (`x[1e30]`, `x[5m:1e30]`, `x offset
/// Inf`) that is no valid [`Duration`]: promql-parser 0.11.1 converts it
/// with `Duration::from_secs_f64`, which panics (and the hub aborts on a
/// panic). The number is read as the parser reads it (`parse_str_radix`),
/// so every other query reaches the parser unchanged. Found by fuzzing.
fn check_number_durations(q: &str) -> Result<(), Error> {
    let b = q.as_bytes();
    let (mut i, mut depth) = (0, 0usize);
    // A duration may come next: after `[`, a `:` in brackets, `offset`
    // (and, after `offset`, one sign).
    let (mut expect, mut after_offset) = (false, false);
    while let Some(&c) = b.get(i) {
        match c {
            b'"' | b'\'' | b'`' => {
                i += 1;
                while let Some(&d) = b.get(i) {
                    i += if d == b'\\' && c != b'`' { 2 } else { 1 };
                    if d == c {
                        break;
                    }
                }
                expect = false;
            }
            b'#' => {
                while b.get(i).is_some_and(|&d| d != b'\n') {
                    i += 1;
                }
            }
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'+' | b'-' if after_offset => {
                after_offset = false;
                i += 1;
            }
            b'[' | b':' if c == b'[' || depth > 0 => {
                depth += usize::from(c == b'[');
                expect = true;
                after_offset = false;
                i += 1;
            }
            c if c.is_ascii_alphanumeric() || c == b'.' || c == b'_' => {
                let start = i;
                let hex = b[i..].len() > 1 && b[i] == b'0' && matches!(b[i + 1], b'x' | b'X');
                while let Some(&d) = b.get(i) {
                    let sign = matches!(d, b'+' | b'-')
                        && !hex
                        && matches!(b[i - 1], b'e' | b'E')
                        && (b[start].is_ascii_digit() || b[start] == b'.');
                    if !(d.is_ascii_alphanumeric() || d == b'.' || d == b'_' || sign) {
                        break;
                    }
                    i += 1;
                }
                let tok = &q[start..i];
                // Only what the lexer reads as a number: parse_str_radix
                // itself panics on other text with an `x` (`1x5`).
                let number = (b[start].is_ascii_digit() || b[start] == b'.')
                    && (!tok.contains(['x', 'X'])
                        || tok.starts_with("0x")
                        || tok.starts_with("0X"))
                    || tok.eq_ignore_ascii_case("inf")
                    || tok.eq_ignore_ascii_case("nan");
                if expect && number {
                    if let Ok(v) = promql_parser::util::parse_str_radix(tok) {
                        if Duration::try_from_secs_f64(v).is_err() {
                            return Err(Error::BadData(format!(
                                "parse error: invalid duration {tok:?}"
                            )));
                        }
                    }
                }
                expect = tok.eq_ignore_ascii_case("offset");
                after_offset = expect;
            }
            _ => {
                depth = depth.saturating_sub(usize::from(c == b']'));
                expect = false;
                after_offset = false;
                i += 1;
            }
        }
    }
    Ok(())
}

/// Evaluates `q` at `t_ms` (an instant query).
pub fn instant(q: &str, db: &dyn Querier, t_ms: i64, opts: &Options) -> Result<Value, Error> {
    let expr = parse(q)?;
    instant_expr(&expr, db, t_ms, opts)
}

/// Evaluates a parsed expression at `t_ms`.
pub fn instant_expr(
    expr: &Expr,
    db: &dyn Querier,
    t_ms: i64,
    opts: &Options,
) -> Result<Value, Error> {
    let mut ev = eval::Evaluator::new(db, opts, t_ms, t_ms, Instant::now() + opts.timeout);
    let out = ev.eval_top(expr, t_ms, t_ms, 1)?;
    Ok(match out {
        value::Inner::Scalar(v) => Value::Scalar(t_ms, v.first().copied().unwrap_or(f64::NAN)),
        value::Inner::Str(s) => Value::String(t_ms, s),
        value::Inner::Vector(mut steps) => Value::Vector(
            steps
                .pop()
                .unwrap_or_default()
                .into_iter()
                .map(|s| Sample {
                    labels: (*s.l).clone(),
                    t: t_ms,
                    v: s.v,
                })
                .collect(),
        ),
        value::Inner::Matrix(series) => {
            let mut m: Vec<Series> = series
                .into_iter()
                .map(|(l, points)| Series {
                    labels: (*l).clone(),
                    points,
                })
                .collect();
            m.sort_by(|a, b| a.labels.cmp(&b.labels));
            Value::Matrix(m)
        }
    })
}

/// Evaluates `q` at `start_ms`, `start_ms + step_ms`, … up to `end_ms` (a
/// range query). The result is always a matrix, series sorted by labels.
pub fn range(
    q: &str,
    db: &dyn Querier,
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
    opts: &Options,
) -> Result<Value, Error> {
    let expr = parse(q)?;
    range_expr(&expr, db, start_ms, end_ms, step_ms, opts)
}

/// [`range`] for a parsed expression.
pub fn range_expr(
    expr: &Expr,
    db: &dyn Querier,
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
    opts: &Options,
) -> Result<Value, Error> {
    if step_ms <= 0 {
        return Err(Error::BadData(
            "zero or negative query resolution step widths are not accepted. Try a positive integer"
                .into(),
        ));
    }
    if end_ms < start_ms {
        return Err(Error::BadData(
            "end timestamp must not be before start time".into(),
        ));
    }
    if (end_ms - start_ms) / step_ms >= MAX_POINTS {
        return Err(Error::BadData(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
                .into(),
        ));
    }
    match expr.value_type() {
        ValueType::Scalar | ValueType::Vector => {}
        t => {
            let name = match t {
                ValueType::Matrix => "range vector",
                ValueType::String => "string",
                _ => "unknown",
            };
            return Err(Error::BadData(format!(
                "invalid expression type \"{name}\" for range query, must be Scalar or instant Vector"
            )));
        }
    }
    let mut ev = eval::Evaluator::new(db, opts, start_ms, end_ms, Instant::now() + opts.timeout);
    let out = ev.eval_top(expr, start_ms, end_ms, step_ms)?;
    let n = ((end_ms - start_ms) / step_ms + 1) as usize;
    let ts = |i: usize| start_ms + i as i64 * step_ms;
    let mut series: Vec<Series> = match out {
        value::Inner::Scalar(v) => vec![Series {
            labels: Labels::new(),
            points: v.into_iter().enumerate().map(|(i, v)| (ts(i), v)).collect(),
        }],
        value::Inner::Vector(steps) => {
            let mut by: std::collections::HashMap<usize, Series> = Default::default();
            for (i, step) in steps.into_iter().enumerate().take(n) {
                for s in step {
                    by.entry(value::key(&s.l))
                        .or_insert_with(|| Series {
                            labels: (*s.l).clone(),
                            points: Vec::new(),
                        })
                        .points
                        .push((ts(i), s.v));
                }
            }
            by.into_values().collect()
        }
        value::Inner::Str(_) | value::Inner::Matrix(_) => {
            return Err(Error::BadData(
                "invalid expression type for range query, must be Scalar or instant Vector".into(),
            ))
        }
    };
    series.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(Value::Matrix(series))
}
