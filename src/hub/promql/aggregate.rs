//! Aggregation operators (`sum`, `avg`, `min`, `max`, `count`, `group`,
//! `stddev`, `stdvar`, `quantile`, `count_values`, `topk`, `bottomk`) with
//! `by`/`without`, following Prometheus 2.x's `aggregation()` step by step
//! (its running mean and variance, NaN handling, group order).

use std::cmp::Ordering;
use std::collections::HashMap;

use promql_parser::parser::{AggregateExpr, LabelModifier};

use super::eval::{dup_check, unparen, Evaluator, Grid};
use super::value::{self, format_float_f, go_quote, Inner, Lbl, S};
use super::Error;
use picket_core::metric::Labels;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Agg {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    Group,
    Stddev,
    Stdvar,
    Quantile,
    CountValues,
    Topk,
    Bottomk,
}

struct Group {
    labels: Lbl,
    value: f64,
    mean: f64,
    count: usize,
    members: Vec<S>,
}

/// The ordering Prometheus's `vectorByValueHeap` uses: NaN is smallest.
pub(crate) fn nan_low(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// `vectorByValueHeap.Less`: NaN first, then ascending.
fn top_less(a: &S, b: &S) -> bool {
    a.v.is_nan() || a.v < b.v
}

/// `vectorByReverseValueHeap.Less`: NaN first, then descending.
fn bottom_less(a: &S, b: &S) -> bool {
    a.v.is_nan() || a.v > b.v
}

/// Go's `container/heap` sift-up.
fn heap_up(h: &mut [S], mut j: usize, less: fn(&S, &S) -> bool) {
    while j > 0 {
        let i = (j - 1) / 2;
        if !less(&h[j], &h[i]) {
            break;
        }
        h.swap(i, j);
        j = i;
    }
}

/// Go's `container/heap` sift-down over `h[..n]`.
fn heap_down(h: &mut [S], mut i: usize, n: usize, less: fn(&S, &S) -> bool) {
    loop {
        let j1 = 2 * i + 1;
        if j1 >= n {
            break;
        }
        let mut j = j1;
        if j1 + 1 < n && less(&h[j1 + 1], &h[j1]) {
            j = j1 + 1;
        }
        if !less(&h[j], &h[i]) {
            break;
        }
        h.swap(i, j);
        i = j;
    }
}

/// `heap.Push`, so ties resolve as in Prometheus.
fn heap_push(h: &mut Vec<S>, s: S, less: fn(&S, &S) -> bool) {
    h.push(s);
    let j = h.len() - 1;
    heap_up(h, j, less);
}

/// `heap.Pop` (drops the root).
fn heap_pop(h: &mut Vec<S>, less: fn(&S, &S) -> bool) {
    let n = h.len() - 1;
    h.swap(0, n);
    heap_down(h, 0, n, less);
    h.pop();
}

/// Prometheus's `quantile()`: linear interpolation between ranks.
pub(crate) fn quantile(q: f64, mut values: Vec<f64>) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| nan_low(*a, *b));
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Evaluates an aggregation.
pub(crate) fn eval(ev: &mut Evaluator<'_>, a: &AggregateExpr, grid: Grid) -> Result<Inner, Error> {
    let op = match a.op.to_string().as_str() {
        "sum" => Agg::Sum,
        "avg" => Agg::Avg,
        "min" => Agg::Min,
        "max" => Agg::Max,
        "count" => Agg::Count,
        "group" => Agg::Group,
        "stddev" => Agg::Stddev,
        "stdvar" => Agg::Stdvar,
        "quantile" => Agg::Quantile,
        "count_values" => Agg::CountValues,
        "topk" => Agg::Topk,
        "bottomk" => Agg::Bottomk,
        other => {
            return Err(Error::BadData(format!(
                "aggregation {other:?} is not supported"
            )))
        }
    };
    let (without, mut grouping): (bool, Vec<String>) = match &a.modifier {
        Some(LabelModifier::Include(l)) => (false, l.labels.clone()),
        Some(LabelModifier::Exclude(l)) => (true, l.labels.clone()),
        None => (false, Vec::new()),
    };
    let mut value_label = None;
    let mut params: Option<Vec<f64>> = None;
    if let Some(p) = &a.param {
        match unparen(p) {
            promql_parser::parser::Expr::StringLiteral(s) => value_label = Some(s.val.clone()),
            _ => match ev.eval(p, grid)? {
                Inner::Scalar(v) => params = Some(v),
                Inner::Str(s) => value_label = Some(s),
                _ => return Err(Error::BadData("expected scalar parameter".into())),
            },
        }
    }
    if op == Agg::CountValues {
        let l = value_label.clone().unwrap_or_default();
        if !picket_core::metric::valid_label_name(&l) {
            return Err(Error::Execution(format!(
                "invalid label name {}",
                go_quote(&l)
            )));
        }
        if !without {
            grouping.push(l);
        }
    }
    let steps = match ev.eval(&a.expr, grid)? {
        Inner::Vector(v) => v,
        _ => return Err(Error::BadData("aggregation needs an instant vector".into())),
    };
    // Output labels per input series (= the group's identity).
    let mut group_of: HashMap<usize, Lbl> = HashMap::new();
    let mut out = Vec::with_capacity(steps.len());
    for (i, step) in steps.into_iter().enumerate() {
        ev.check_deadline()?;
        let param = params
            .as_ref()
            .and_then(|p| p.get(i).copied())
            .unwrap_or(0.0);
        let mut k = 0usize;
        if matches!(op, Agg::Topk | Agg::Bottomk) {
            if !(param >= i64::MIN as f64 && param <= i64::MAX as f64) {
                return Err(Error::Execution(format!(
                    "Scalar value {} overflows int64",
                    format_float_f(param)
                )));
            }
            let kk = param as i64;
            if kk < 1 {
                out.push(Vec::new());
                continue;
            }
            k = usize::try_from(kk).unwrap_or(usize::MAX);
        }
        let mut groups: Vec<Group> = Vec::new();
        let mut index: HashMap<usize, usize> = HashMap::new();
        for s in step {
            let metric = if op == Agg::CountValues {
                let mut l = (*s.l).clone();
                l.set(value_label.clone().unwrap_or_default(), format_float_f(s.v));
                ev.intern(l)
            } else {
                s.l.clone()
            };
            let g = match group_of.get(&value::key(&metric)) {
                Some(g) => g.clone(),
                None => {
                    let l = if without {
                        let mut l = (*metric).clone();
                        for n in &grouping {
                            l.remove(n);
                        }
                        l.remove("__name__");
                        l
                    } else {
                        Labels::from_pairs(
                            metric
                                .iter()
                                .filter(|(n, _)| grouping.iter().any(|g| g == n))
                                .map(|(n, v)| (n.to_string(), v.to_string())),
                        )
                    };
                    let g = ev.intern(l);
                    group_of.insert(value::key(&metric), g.clone());
                    g
                }
            };
            let v = s.v;
            let Some(&gi) = index.get(&value::key(&g)) else {
                index.insert(value::key(&g), groups.len());
                groups.push(Group {
                    labels: g,
                    value: match op {
                        Agg::Stddev | Agg::Stdvar => 0.0,
                        Agg::Group => 1.0,
                        _ => v,
                    },
                    mean: v,
                    count: 1,
                    members: if matches!(op, Agg::Topk | Agg::Bottomk | Agg::Quantile) {
                        vec![s]
                    } else {
                        Vec::new()
                    },
                });
                continue;
            };
            let gr = &mut groups[gi];
            match op {
                Agg::Sum => gr.value += v,
                Agg::Avg => {
                    gr.count += 1;
                    if gr.mean.is_infinite() {
                        if v.is_infinite() && (gr.mean > 0.0) == (v > 0.0) {
                            continue;
                        }
                        if !v.is_infinite() && !v.is_nan() {
                            continue;
                        }
                    }
                    let c = gr.count as f64;
                    gr.mean += v / c - gr.mean / c;
                }
                Agg::Group => {}
                Agg::Max => {
                    if gr.value < v || gr.value.is_nan() {
                        gr.value = v;
                    }
                }
                Agg::Min => {
                    if gr.value > v || gr.value.is_nan() {
                        gr.value = v;
                    }
                }
                Agg::Count | Agg::CountValues => gr.count += 1,
                Agg::Stddev | Agg::Stdvar => {
                    gr.count += 1;
                    let delta = v - gr.mean;
                    gr.mean += delta / gr.count as f64;
                    gr.value += delta * (v - gr.mean);
                }
                Agg::Quantile => gr.members.push(s),
                Agg::Topk | Agg::Bottomk => {
                    let less = if op == Agg::Topk {
                        top_less
                    } else {
                        bottom_less
                    };
                    let h = &mut gr.members;
                    let root = h[0].v;
                    let better = if op == Agg::Topk { root < v } else { root > v };
                    if h.len() < k || better || root.is_nan() {
                        if h.len() == k {
                            if k == 1 {
                                h[0] = s;
                                continue;
                            }
                            heap_pop(h, less);
                        }
                        heap_push(h, s, less);
                    }
                }
            }
        }
        let mut o = Vec::with_capacity(groups.len());
        for g in groups {
            let v = match op {
                Agg::Avg => g.mean,
                Agg::Count | Agg::CountValues => g.count as f64,
                Agg::Stdvar => g.value / g.count as f64,
                Agg::Stddev => (g.value / g.count as f64).sqrt(),
                Agg::Quantile => quantile(param, g.members.iter().map(|s| s.v).collect()),
                Agg::Topk | Agg::Bottomk => {
                    let mut m = g.members;
                    if op == Agg::Topk {
                        // Highest first, NaN last; ties keep input order.
                        m.sort_by(|a, b| nan_low(b.v, a.v));
                    } else {
                        // Lowest first, NaN last.
                        m.sort_by(|a, b| match (a.v.is_nan(), b.v.is_nan()) {
                            (true, true) => Ordering::Equal,
                            (true, false) => Ordering::Greater,
                            (false, true) => Ordering::Less,
                            _ => a.v.partial_cmp(&b.v).unwrap_or(Ordering::Equal),
                        });
                    }
                    m.truncate(k);
                    o.extend(m);
                    continue;
                }
                _ => g.value,
            };
            o.push(S { l: g.labels, v });
        }
        dup_check(&o)?;
        out.push(o);
    }
    Ok(Inner::Vector(out))
}
