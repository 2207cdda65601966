//! The PromQL function library: range-vector functions (rate, increase,
//! `*_over_time`, …) windowed per step over a [`RangeArg`], and per-step
//! instant-vector and scalar functions. Each follows Prometheus 2.x's
//! `promql/functions.go` (extrapolation, Kahan sums, NaN rules,
//! histogram_quantile's bucket fixing).

use std::collections::HashMap;

use promql_parser::parser::{Call, Expr};
use regex_lite::Regex;

use super::aggregate::{nan_low, quantile};
use super::eval::{dup_check, unparen, Evaluator, Grid, RangeArg, SelMode};
use super::value::{self, parse_go_float, Inner, Lbl, S};
use super::Error;
use picket_core::metric::Labels;

/// Evaluates a function call.
pub(crate) fn eval_call(ev: &mut Evaluator<'_>, c: &Call, grid: Grid) -> Result<Inner, Error> {
    let name = c.func.name;
    let args: Vec<&Expr> = c.args.args.iter().map(|a| unparen(a)).collect();
    if let Some(f) = range_fn(name) {
        return eval_range_fn(ev, name, f, &args, grid);
    }
    let n = grid.len();
    match name {
        "time" => {
            return Ok(Inner::Scalar(
                (0..n).map(|i| grid.ts(i) as f64 / 1000.0).collect(),
            ))
        }
        "pi" => return Ok(Inner::Scalar(vec![std::f64::consts::PI; n])),
        "timestamp" => {
            if let Some(Expr::VectorSelector(vs)) = args.first() {
                let steps = ev.vector_selector(vs, grid, SelMode::Timestamp)?;
                for s in &steps {
                    dup_check(s)?;
                }
                return Ok(Inner::Vector(steps));
            }
        }
        _ => {}
    }
    // Evaluate the arguments (strings stay expressions).
    let mut vals = Vec::with_capacity(args.len());
    for a in &args {
        vals.push(match a {
            Expr::StringLiteral(s) => Inner::Str(s.val.clone()),
            _ => ev.eval(a, grid)?,
        });
    }
    let strarg = |i: usize| -> Result<String, Error> {
        match vals.get(i) {
            Some(Inner::Str(s)) => Ok(s.clone()),
            _ => Err(Error::BadData(format!(
                "expected a string as argument {} of {name}",
                i + 1
            ))),
        }
    };
    match name {
        "scalar" => {
            let v = vector_arg(&vals, 0)?;
            Ok(Inner::Scalar(
                v.iter()
                    .map(|s| if s.len() == 1 { s[0].v } else { f64::NAN })
                    .collect(),
            ))
        }
        "vector" => {
            let empty = ev.intern(Labels::new());
            Ok(each_step(&empty, n, |i| scalar_at(&vals, 0, i)))
        }
        "absent" => absent(ev, &args, &vals),
        "label_replace" => label_replace(ev, &vals, &strarg),
        "label_join" => label_join(ev, &vals, &strarg),
        "histogram_quantile" => histogram_quantile(ev, &vals, grid),
        "sort" | "sort_desc" => sort(vals, name == "sort_desc"),
        _ => match date_fn(name) {
            // Date functions: the vector argument is optional (default
            // vector(time())).
            Some(f) if vals.is_empty() => {
                let empty = ev.intern(Labels::new());
                Ok(each_step(&empty, n, |i| f(grid.ts(i).div_euclid(1000))))
            }
            Some(f) => map_vector(ev, &vals, |v, _| Some(f(go_f64_to_i64(v)))),
            None => {
                let f = elementwise(name, &vals, grid)?;
                map_vector(ev, &vals, f)
            }
        },
    }
}

/// The value of scalar argument `i` at `step` (NaN when it is not a scalar).
fn scalar_at(vals: &[Inner], i: usize, step: usize) -> f64 {
    match vals.get(i) {
        Some(Inner::Scalar(v)) => v.get(step).copied().unwrap_or(f64::NAN),
        _ => f64::NAN,
    }
}

/// One sample labelled `l` per step, valued `v(step)`.
fn each_step(l: &Lbl, n: usize, v: impl Fn(usize) -> f64) -> Inner {
    Inner::Vector(
        (0..n)
            .map(|i| {
                vec![S {
                    l: l.clone(),
                    v: v(i),
                }]
            })
            .collect(),
    )
}

/// `absent(v)`: 1 with the selector's equality labels where `v` is empty.
fn absent(ev: &mut Evaluator<'_>, args: &[&Expr], vals: &[Inner]) -> Result<Inner, Error> {
    let l = ev.intern(absent_labels(args.first().copied()));
    let v = vector_arg(vals, 0)?;
    Ok(Inner::Vector(
        v.iter()
            .map(|s| {
                if s.is_empty() {
                    vec![S {
                        l: l.clone(),
                        v: 1.0,
                    }]
                } else {
                    Vec::new()
                }
            })
            .collect(),
    ))
}

/// `sort` / `sort_desc`: NaN last either way.
fn sort(vals: Vec<Inner>, desc: bool) -> Result<Inner, Error> {
    let Some(Inner::Vector(v)) = vals.into_iter().next() else {
        return Err(Error::BadData("sort needs an instant vector".into()));
    };
    Ok(Inner::Vector(
        v.into_iter()
            .map(|mut s| {
                s.sort_by(|a, b| match (a.v.is_nan(), b.v.is_nan()) {
                    (true, true) => std::cmp::Ordering::Equal,
                    (true, false) => std::cmp::Ordering::Greater,
                    (false, true) => std::cmp::Ordering::Less,
                    _ if desc => nan_low(b.v, a.v),
                    _ => nan_low(a.v, b.v),
                });
                s
            })
            .collect(),
    ))
}

/// A function applied to each value on its own, by value and step.
type Elementwise = Box<dyn Fn(f64, usize) -> Option<f64>>;

/// Element-wise functions that drop the metric name: the plain maths ones,
/// then those with per-step parameters.
fn elementwise(name: &str, vals: &[Inner], grid: Grid) -> Result<Elementwise, Error> {
    if let Some(f) = maths(name) {
        return Ok(Box::new(move |v, _| Some(f(v))));
    }
    let n = grid.len();
    let per_step = |i: usize| -> Vec<f64> { (0..n).map(|s| scalar_at(vals, i, s)).collect() };
    Ok(match name {
        // timestamp() of an expression: every value's time is the step's.
        "timestamp" => {
            let times: Vec<f64> = (0..n).map(|i| grid.ts(i) as f64 / 1000.0).collect();
            Box::new(move |_, i| Some(times[i]))
        }
        "clamp" => {
            let (lo, hi) = (per_step(1), per_step(2));
            Box::new(move |v, i| {
                if hi[i] < lo[i] {
                    None
                } else {
                    Some(go_max(lo[i], go_min(hi[i], v)))
                }
            })
        }
        "clamp_min" => {
            let lo = per_step(1);
            Box::new(move |v, i| Some(go_max(lo[i], v)))
        }
        "clamp_max" => {
            let hi = per_step(1);
            Box::new(move |v, i| Some(go_min(hi[i], v)))
        }
        "round" => {
            let to: Vec<f64> = match vals.len() > 1 {
                true => per_step(1),
                false => vec![1.0; n],
            };
            Box::new(move |v, i| {
                let inv = 1.0 / to[i];
                Some((v * inv + 0.5).floor() / inv)
            })
        }
        other => {
            return Err(Error::BadData(format!(
                "function {other:?} is not supported by picket-hub"
            )))
        }
    })
}

/// The functions of one value alone.
fn maths(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "rad" => |v| v * std::f64::consts::PI / 180.0,
        "deg" => |v| v * 180.0 / std::f64::consts::PI,
        "sgn" => |v| {
            if v < 0.0 {
                -1.0
            } else if v > 0.0 {
                1.0
            } else {
                v
            }
        },
        _ => return None,
    })
}

fn vector_arg(vals: &[Inner], i: usize) -> Result<&Vec<Vec<S>>, Error> {
    match vals.get(i) {
        Some(Inner::Vector(v)) => Ok(v),
        _ => Err(Error::BadData("expected an instant vector argument".into())),
    }
}

/// Applies `f(value, step)` to the first (vector) argument, dropping
/// `__name__`; `None` drops the element.
fn map_vector(
    ev: &mut Evaluator<'_>,
    vals: &[Inner],
    f: impl Fn(f64, usize) -> Option<f64>,
) -> Result<Inner, Error> {
    let v = vector_arg(vals, 0)?;
    let mut out = Vec::with_capacity(v.len());
    for (i, step) in v.iter().enumerate() {
        let mut o = Vec::with_capacity(step.len());
        for s in step {
            if let Some(x) = f(s.v, i) {
                o.push(S {
                    l: ev.drop_name(&s.l),
                    v: x,
                });
            }
        }
        dup_check(&o)?;
        out.push(o);
    }
    Ok(Inner::Vector(out))
}

/// Go's `math.Max` (NaN wins unless one side is +Inf).
fn go_max(a: f64, b: f64) -> f64 {
    if a == f64::INFINITY || b == f64::INFINITY {
        f64::INFINITY
    } else if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_negative() {
            b
        } else {
            a
        }
    } else if a > b {
        a
    } else {
        b
    }
}

/// Go's `math.Min` (NaN wins unless one side is -Inf).
fn go_min(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY || b == f64::NEG_INFINITY {
        f64::NEG_INFINITY
    } else if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_negative() {
            a
        } else {
            b
        }
    } else if a < b {
        a
    } else {
        b
    }
}

/// Go's `int64(f)` as amd64 computes it (out of range and NaN give MinInt64).
fn go_f64_to_i64(v: f64) -> i64 {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0; // 2^63
    if v.is_nan() || !(-LIMIT..LIMIT).contains(&v) {
        i64::MIN
    } else {
        v as i64
    }
}

/// The labels `absent()` reports: the selector's equality matchers
/// (`createLabelsForAbsentFunction`).
fn absent_labels(arg: Option<&Expr>) -> Labels {
    let vs = match arg {
        Some(Expr::VectorSelector(vs)) => vs,
        Some(Expr::MatrixSelector(m)) => &m.vs,
        _ => return Labels::new(),
    };
    let mut l = Labels::new();
    let mut has = std::collections::HashSet::new();
    for m in &vs.matchers.matchers {
        if m.name == "__name__" {
            continue;
        }
        if matches!(m.op, promql_parser::label::MatchOp::Equal) && !has.contains(&m.name) {
            l.set(m.name.clone(), m.value.clone());
            has.insert(m.name.clone());
        } else {
            l.remove(&m.name);
        }
    }
    l
}

// ---- date functions ----

/// (year, month 1-12, day 1-31) of a day number since 1970-01-01.
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn month_days(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn date_fn(name: &str) -> Option<fn(i64) -> f64> {
    Some(match name {
        "minute" => |s| (s.rem_euclid(3600) / 60) as f64,
        "hour" => |s| (s.rem_euclid(86_400) / 3600) as f64,
        "day_of_week" => |s| (s.div_euclid(86_400) + 4).rem_euclid(7) as f64,
        "day_of_month" => |s| civil(s.div_euclid(86_400)).2 as f64,
        "day_of_year" => |s| {
            let (y, m, d) = civil(s.div_euclid(86_400));
            let before: u32 = (1..m).map(|mm| month_days(y, mm)).sum();
            (before + d) as f64
        },
        "days_in_month" => |s| {
            let (y, m, _) = civil(s.div_euclid(86_400));
            month_days(y, m) as f64
        },
        "month" => |s| civil(s.div_euclid(86_400)).1 as f64,
        "year" => |s| civil(s.div_euclid(86_400)).0 as f64,
        _ => return None,
    })
}

// ---- label functions ----

fn label_replace(
    ev: &mut Evaluator<'_>,
    vals: &[Inner],
    strarg: &dyn Fn(usize) -> Result<String, Error>,
) -> Result<Inner, Error> {
    let (dst, repl, src, re) = (strarg(1)?, strarg(2)?, strarg(3)?, strarg(4)?);
    let regex = Regex::new(&format!("^(?:{re})$")).map_err(|_| {
        Error::Execution(format!(
            "invalid regular expression in label_replace(): {re}"
        ))
    })?;
    if !picket_core::metric::valid_label_name(&dst) {
        return Err(Error::Execution(format!(
            "invalid destination label name in label_replace(): {dst}"
        )));
    }
    relabel(ev, vector_arg(vals, 0)?, |ev, l| {
        let sv = l.get(&src).unwrap_or("");
        match regex.captures(sv) {
            None => l.clone(),
            Some(caps) => {
                let mut res = String::new();
                caps.expand(&repl, &mut res);
                let mut l = (**l).clone();
                l.remove(&dst);
                if !res.is_empty() {
                    l.set(dst.clone(), res);
                }
                ev.intern(l)
            }
        }
    })
}

/// Each sample of `v` with its labels mapped by `f`, once per distinct
/// label set; two samples of a step ending with one label set is
/// Prometheus's "vector cannot contain metrics with the same labelset".
fn relabel(
    ev: &mut Evaluator<'_>,
    v: &[Vec<S>],
    mut f: impl FnMut(&mut Evaluator<'_>, &Lbl) -> Lbl,
) -> Result<Inner, Error> {
    let mut cache: HashMap<usize, Lbl> = HashMap::new();
    let mut out = Vec::with_capacity(v.len());
    for step in v {
        let mut o = Vec::with_capacity(step.len());
        for s in step {
            let key = value::key(&s.l);
            let l = match cache.get(&key) {
                Some(l) => l.clone(),
                None => {
                    let l = f(ev, &s.l);
                    cache.insert(key, l.clone());
                    l
                }
            };
            o.push(S { l, v: s.v });
        }
        dup_check(&o)?;
        out.push(o);
    }
    Ok(Inner::Vector(out))
}

fn label_join(
    ev: &mut Evaluator<'_>,
    vals: &[Inner],
    strarg: &dyn Fn(usize) -> Result<String, Error>,
) -> Result<Inner, Error> {
    let (dst, sep) = (strarg(1)?, strarg(2)?);
    let mut srcs = Vec::new();
    for i in 3..vals.len() {
        let s = strarg(i)?;
        if !picket_core::metric::valid_label_name(&s) {
            return Err(Error::Execution(format!(
                "invalid source label name in label_join(): {s}"
            )));
        }
        srcs.push(s);
    }
    if !picket_core::metric::valid_label_name(&dst) {
        return Err(Error::Execution(format!(
            "invalid destination label name in label_join(): {dst}"
        )));
    }
    relabel(ev, vector_arg(vals, 0)?, |ev, l| {
        let joined = srcs
            .iter()
            .map(|n| l.get(n).unwrap_or(""))
            .collect::<Vec<_>>()
            .join(&sep);
        let mut l = (**l).clone();
        if joined.is_empty() {
            l.remove(&dst);
        } else {
            l.set(dst.clone(), joined);
        }
        ev.intern(l)
    })
}

// ---- histogram_quantile ----

/// Prometheus's `bucketQuantile` for classic buckets `(le, count)`.
pub(crate) fn bucket_quantile(q: f64, mut b: Vec<(f64, f64)>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    b.sort_by(|x, y| x.0.partial_cmp(&y.0).unwrap_or(std::cmp::Ordering::Equal));
    match b.last() {
        Some(last) if last.0 == f64::INFINITY => {}
        _ => return f64::NAN,
    }
    // Coalesce buckets with the same upper bound.
    let mut c: Vec<(f64, f64)> = Vec::with_capacity(b.len());
    for x in b {
        match c.last_mut() {
            Some(l) if l.0 == x.0 => l.1 += x.1,
            _ => c.push(x),
        }
    }
    // Make counts monotonic.
    let mut max = c[0].1;
    for x in c.iter_mut().skip(1) {
        if x.1 > max {
            max = x.1;
        } else if x.1 < max {
            x.1 = max;
        }
    }
    if c.len() < 2 {
        return f64::NAN;
    }
    let observations = c[c.len() - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let n = c.len() - 1;
    let idx = (0..n).find(|&i| c[i].1 >= rank).unwrap_or(n);
    if idx == n {
        return c[n - 1].0;
    }
    if idx == 0 && c[0].0 <= 0.0 {
        return c[0].0;
    }
    let mut start = 0.0;
    let end = c[idx].0;
    let mut count = c[idx].1;
    if idx > 0 {
        start = c[idx - 1].0;
        count -= c[idx - 1].1;
        rank -= c[idx - 1].1;
    }
    start + (end - start) * (rank / count)
}

fn histogram_quantile(ev: &mut Evaluator<'_>, vals: &[Inner], grid: Grid) -> Result<Inner, Error> {
    let qs: Vec<f64> = match vals.first() {
        Some(Inner::Scalar(v)) => v.clone(),
        _ => vec![f64::NAN; grid.len()],
    };
    let v = vector_arg(vals, 1)?;
    // Per input series: (group identity, output labels, upper bound).
    let mut info: HashMap<usize, Option<(usize, Lbl, f64)>> = HashMap::new();
    let mut out = Vec::with_capacity(v.len());
    for (i, step) in v.iter().enumerate() {
        let mut groups: Vec<(Lbl, Vec<(f64, f64)>)> = Vec::new();
        let mut index: HashMap<usize, usize> = HashMap::new();
        for s in step {
            let k = value::key(&s.l);
            if let std::collections::hash_map::Entry::Vacant(slot) = info.entry(k) {
                let entry = match s.l.get("le").and_then(parse_go_float) {
                    None => None,
                    Some(le) => {
                        let mut g = (*s.l).clone();
                        g.remove("le");
                        let mut o = g.clone();
                        let g = ev.intern(g);
                        o.remove("__name__");
                        o.remove("quantile");
                        let o = ev.intern(o);
                        Some((value::key(&g), o, le))
                    }
                };
                slot.insert(entry);
            }
            if let Some(Some((g, o, le))) = info.get(&k) {
                let gi = *index.entry(*g).or_insert_with(|| {
                    groups.push((o.clone(), Vec::new()));
                    groups.len() - 1
                });
                groups[gi].1.push((*le, s.v));
            }
        }
        let q = qs.get(i).copied().unwrap_or(f64::NAN);
        let o: Vec<S> = groups
            .into_iter()
            .map(|(l, b)| S {
                l,
                v: bucket_quantile(q, b),
            })
            .collect();
        dup_check(&o)?;
        out.push(o);
    }
    Ok(Inner::Vector(out))
}

// ---- range-vector functions ----

/// A range function: (window, range start ms, range end ms, range ms,
/// step time ms, scalar argument) → value or nothing.
type RangeFn = fn(&[(i64, f64)], i64, i64, i64, i64, f64) -> Option<f64>;

fn range_fn(name: &str) -> Option<RangeFn> {
    Some(match name {
        "rate" => |w, s, e, r, _, _| extrapolated(w, s, e, r, true, true),
        "increase" => |w, s, e, r, _, _| extrapolated(w, s, e, r, true, false),
        "delta" => |w, s, e, r, _, _| extrapolated(w, s, e, r, false, false),
        "irate" => |w, _, _, _, _, _| instant_value(w, true),
        "idelta" => |w, _, _, _, _, _| instant_value(w, false),
        "deriv" => |w, _, _, _, _, _| {
            if w.len() < 2 {
                None
            } else {
                Some(linear_regression(w, w[0].0).0)
            }
        },
        "predict_linear" => |w, _, _, _, ts, d| {
            if w.len() < 2 {
                None
            } else {
                let (slope, intercept) = linear_regression(w, ts);
                Some(slope * d + intercept)
            }
        },
        "resets" => {
            |w, _, _, _, _, _| Some(w.windows(2).filter(|p| p[1].1 < p[0].1).count() as f64)
        }
        "changes" => |w, _, _, _, _, _| {
            Some(
                w.windows(2)
                    .filter(|p| p[1].1 != p[0].1 && !(p[1].1.is_nan() && p[0].1.is_nan()))
                    .count() as f64,
            )
        },
        "avg_over_time" => |w, _, _, _, _, _| Some(avg_over_time(w)),
        "sum_over_time" => |w, _, _, _, _, _| {
            let (mut sum, mut c) = (0.0, 0.0);
            for p in w {
                (sum, c) = kahan_inc(p.1, sum, c);
            }
            Some(if sum.is_infinite() { sum } else { sum + c })
        },
        "count_over_time" => |w, _, _, _, _, _| Some(w.len() as f64),
        "min_over_time" => |w, _, _, _, _, _| {
            let mut m = w[0].1;
            for p in w {
                if p.1 < m || m.is_nan() {
                    m = p.1;
                }
            }
            Some(m)
        },
        "max_over_time" => |w, _, _, _, _, _| {
            let mut m = w[0].1;
            for p in w {
                if p.1 > m || m.is_nan() {
                    m = p.1;
                }
            }
            Some(m)
        },
        "last_over_time" => |w, _, _, _, _, _| w.last().map(|p| p.1),
        "present_over_time" | "absent_over_time" => |_, _, _, _, _, _| Some(1.0),
        "quantile_over_time" => {
            |w, _, _, _, _, q| Some(quantile(q, w.iter().map(|p| p.1).collect()))
        }
        "stddev_over_time" => |w, _, _, _, _, _| Some(variance(w).sqrt()),
        "stdvar_over_time" => |w, _, _, _, _, _| Some(variance(w)),
        _ => return None,
    })
}

fn eval_range_fn(
    ev: &mut Evaluator<'_>,
    name: &str,
    f: RangeFn,
    args: &[&Expr],
    grid: Grid,
) -> Result<Inner, Error> {
    let n = grid.len();
    let matrix_idx = args
        .iter()
        .position(|a| matches!(a, Expr::MatrixSelector(_) | Expr::Subquery(_)))
        .ok_or_else(|| Error::BadData(format!("{name} needs a range vector argument")))?;
    // The scalar argument (quantile_over_time's q, predict_linear's t).
    let mut scalar = vec![0.0; n];
    for (i, a) in args.iter().enumerate() {
        if i != matrix_idx {
            if let Inner::Scalar(v) = ev.eval(a, grid)? {
                scalar = v;
            }
        }
    }
    let ra: RangeArg = ev.range_arg(args[matrix_idx], grid)?;
    let mut out: Vec<Vec<S>> = (0..n).map(|_| Vec::new()).collect();
    let mut seen = std::collections::HashSet::new();
    let mut found = vec![false; n];
    let mut produced = 0usize;
    for (l, pts) in &ra.series {
        ev.check_deadline()?;
        let ol = if name == "last_over_time" {
            l.clone()
        } else {
            ev.drop_name(l)
        };
        let mut any = false;
        for (i, slot) in out.iter_mut().enumerate() {
            let ts = grid.ts(i);
            let w = ra.window(pts, ts);
            if w.is_empty() {
                continue;
            }
            found[i] = true;
            let et = ra.eval_time(ts);
            if let Some(v) = f(w, et.saturating_sub(ra.range), et, ra.range, ts, scalar[i]) {
                slot.push(S { l: ol.clone(), v });
                any = true;
                produced += 1;
            }
        }
        if any && name != "absent_over_time" && !seen.insert(value::key(&ol)) {
            return Err(Error::Execution(
                "vector cannot contain metrics with the same labelset".into(),
            ));
        }
    }
    ev.account(produced)?;
    if name == "absent_over_time" {
        let l = ev.intern(absent_labels(Some(args[matrix_idx])));
        return Ok(Inner::Vector(
            found
                .into_iter()
                .map(|f| {
                    if f {
                        Vec::new()
                    } else {
                        vec![S {
                            l: l.clone(),
                            v: 1.0,
                        }]
                    }
                })
                .collect(),
        ));
    }
    Ok(Inner::Vector(out))
}

/// Prometheus 2.x `extrapolatedRate` (rate, increase, delta).
fn extrapolated(
    w: &[(i64, f64)],
    range_start: i64,
    range_end: i64,
    range: i64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let (first, last) = (w[0], w[w.len() - 1]);
    let mut result = last.1 - first.1;
    if is_counter {
        let mut prev = first.1;
        for p in &w[1..] {
            if p.1 < prev {
                result += prev;
            }
            prev = p.1;
        }
    }
    let mut to_start = (first.0 - range_start) as f64 / 1000.0;
    let to_end = (range_end - last.0) as f64 / 1000.0;
    let sampled = (last.0 - first.0) as f64 / 1000.0;
    let avg_gap = sampled / (w.len() - 1) as f64;
    if is_counter && result > 0.0 && first.1 >= 0.0 {
        let to_zero = sampled * (first.1 / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = avg_gap * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold {
        to_start
    } else {
        avg_gap / 2.0
    };
    interval += if to_end < threshold {
        to_end
    } else {
        avg_gap / 2.0
    };
    let mut factor = interval / sampled;
    if is_rate {
        factor /= range as f64 / 1000.0;
    }
    Some(result * factor)
}

/// irate/idelta: the last two samples.
fn instant_value(w: &[(i64, f64)], is_rate: bool) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let (prev, last) = (w[w.len() - 2], w[w.len() - 1]);
    let mut v = if is_rate && last.1 < prev.1 {
        last.1
    } else {
        last.1 - prev.1
    };
    let gap = last.0 - prev.0;
    if gap == 0 {
        return None;
    }
    if is_rate {
        v /= gap as f64 / 1000.0;
    }
    Some(v)
}

/// Neumaier's compensated summation step (`kahanSumInc`).
fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

fn avg_over_time(w: &[(i64, f64)]) -> f64 {
    let (mut mean, mut count, mut c) = (0.0f64, 0.0f64, 0.0f64);
    for p in w {
        count += 1.0;
        if mean.is_infinite() {
            if p.1.is_infinite() && (mean > 0.0) == (p.1 > 0.0) {
                continue;
            }
            if !p.1.is_infinite() && !p.1.is_nan() {
                continue;
            }
        }
        (mean, c) = kahan_inc(p.1 / count - mean / count, mean, c);
    }
    if mean.is_infinite() {
        mean
    } else {
        mean + c
    }
}

fn variance(w: &[(i64, f64)]) -> f64 {
    let (mut count, mut mean, mut cm, mut aux, mut ca) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for p in w {
        count += 1.0;
        let delta = p.1 - (mean + cm);
        (mean, cm) = kahan_inc(delta / count, mean, cm);
        (aux, ca) = kahan_inc(delta * (p.1 - (mean + cm)), aux, ca);
    }
    (aux + ca) / count
}

/// Least-squares fit: (slope per second, intercept at `t0`).
fn linear_regression(w: &[(i64, f64)], t0: i64) -> (f64, f64) {
    let (mut n, mut sx, mut cx, mut sy, mut cy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut sxy, mut cxy, mut sx2, mut cx2) = (0.0, 0.0, 0.0, 0.0);
    let init = w[0].1;
    let mut const_y = true;
    for (i, p) in w.iter().enumerate() {
        if const_y && i > 0 && p.1 != init {
            const_y = false;
        }
        n += 1.0;
        let x = (p.0 - t0) as f64 / 1e3;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(p.1, sy, cy);
        (sxy, cxy) = kahan_inc(x * p.1, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    if const_y {
        if init.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init);
    }
    let (sx, sy, sxy, sx2) = (sx + cx, sy + cy, sxy + cxy, sx2 + cx2);
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}
