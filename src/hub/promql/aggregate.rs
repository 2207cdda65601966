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
    let op = Agg::parse(&a.op.to_string())?;
    let (without, mut grouping): (bool, Vec<String>) = match &a.modifier {
        Some(LabelModifier::Include(l)) => (false, l.labels.clone()),
        Some(LabelModifier::Exclude(l)) => (true, l.labels.clone()),
        None => (false, Vec::new()),
    };
    let (value_label, params) = parameter(ev, a, grid)?;
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
    let mut spec = Spec {
        op,
        without,
        grouping,
        value_label: value_label.unwrap_or_default(),
        group_of: HashMap::new(),
    };
    let mut out = Vec::with_capacity(steps.len());
    for (i, step) in steps.into_iter().enumerate() {
        ev.check_deadline()?;
        let param = params
            .as_ref()
            .and_then(|p| p.get(i).copied())
            .unwrap_or(0.0);
        let k = match op {
            Agg::Topk | Agg::Bottomk => match top_k(param)? {
                Some(k) => k,
                None => {
                    out.push(Vec::new());
                    continue;
                }
            },
            _ => 0,
        };
        let groups = spec.group(ev, step, k);
        let o = spec.finish(groups, param, k);
        dup_check(&o)?;
        out.push(o);
    }
    Ok(Inner::Vector(out))
}

impl Agg {
    fn parse(name: &str) -> Result<Agg, Error> {
        Ok(match name {
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
        })
    }
}

/// The parameter of `topk`, `quantile`, `count_values`...: a string label
/// name, or a scalar per step.
#[allow(clippy::type_complexity)]
fn parameter(
    ev: &mut Evaluator<'_>,
    a: &AggregateExpr,
    grid: Grid,
) -> Result<(Option<String>, Option<Vec<f64>>), Error> {
    let Some(p) = &a.param else {
        return Ok((None, None));
    };
    Ok(match unparen(p) {
        promql_parser::parser::Expr::StringLiteral(s) => (Some(s.val.clone()), None),
        _ => match ev.eval(p, grid)? {
            Inner::Scalar(v) => (None, Some(v)),
            Inner::Str(s) => (Some(s), None),
            _ => return Err(Error::BadData("expected scalar parameter".into())),
        },
    })
}

/// `k` of topk/bottomk at one step; `None` when below 1 (an empty result).
fn top_k(param: f64) -> Result<Option<usize>, Error> {
    if !(param >= i64::MIN as f64 && param <= i64::MAX as f64) {
        return Err(Error::Execution(format!(
            "Scalar value {} overflows int64",
            format_float_f(param)
        )));
    }
    let kk = param as i64;
    Ok((kk >= 1).then(|| usize::try_from(kk).unwrap_or(usize::MAX)))
}

/// One aggregation over the steps: the operator, its grouping, and the
/// output labels per input series (= the group's identity), kept across
/// steps.
struct Spec {
    op: Agg,
    without: bool,
    grouping: Vec<String>,
    value_label: String,
    group_of: HashMap<usize, Lbl>,
}

impl Spec {
    /// The groups of one step, in first-seen order, with their running
    /// values.
    fn group(&mut self, ev: &mut Evaluator<'_>, step: Vec<S>, k: usize) -> Vec<Group> {
        let op = self.op;
        let mut groups: Vec<Group> = Vec::new();
        let mut index: HashMap<usize, usize> = HashMap::new();
        for s in step {
            let metric = if op == Agg::CountValues {
                let mut l = (*s.l).clone();
                l.set(self.value_label.clone(), format_float_f(s.v));
                ev.intern(l)
            } else {
                s.l.clone()
            };
            let g = self.labels_of(ev, &metric);
            let Some(&gi) = index.get(&value::key(&g)) else {
                index.insert(value::key(&g), groups.len());
                groups.push(Group::first(op, g, s));
                continue;
            };
            groups[gi].add(op, s, k);
        }
        groups
    }

    /// The output labels of the group `metric` belongs to.
    fn labels_of(&mut self, ev: &mut Evaluator<'_>, metric: &Lbl) -> Lbl {
        if let Some(g) = self.group_of.get(&value::key(metric)) {
            return g.clone();
        }
        let l = if self.without {
            let mut l = (**metric).clone();
            for n in &self.grouping {
                l.remove(n);
            }
            l.remove("__name__");
            l
        } else {
            Labels::from_pairs(
                metric
                    .iter()
                    .filter(|(n, _)| self.grouping.iter().any(|g| g == n))
                    .map(|(n, v)| (n.to_string(), v.to_string())),
            )
        };
        let g = ev.intern(l);
        self.group_of.insert(value::key(metric), g.clone());
        g
    }

    /// One step's output from its groups.
    fn finish(&self, groups: Vec<Group>, param: f64, k: usize) -> Vec<S> {
        let op = self.op;
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
        o
    }
}

impl Group {
    /// A group with its first member.
    fn first(op: Agg, labels: Lbl, s: S) -> Group {
        let v = s.v;
        Group {
            labels,
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
        }
    }

    /// Adds a member, as Prometheus's `aggregation()` does per sample.
    fn add(&mut self, op: Agg, s: S, k: usize) {
        let v = s.v;
        match op {
            Agg::Sum => self.value += v,
            Agg::Avg => {
                self.count += 1;
                if self.mean.is_infinite() {
                    if v.is_infinite() && (self.mean > 0.0) == (v > 0.0) {
                        return;
                    }
                    if !v.is_infinite() && !v.is_nan() {
                        return;
                    }
                }
                let c = self.count as f64;
                self.mean += v / c - self.mean / c;
            }
            Agg::Group => {}
            Agg::Max => {
                if self.value < v || self.value.is_nan() {
                    self.value = v;
                }
            }
            Agg::Min => {
                if self.value > v || self.value.is_nan() {
                    self.value = v;
                }
            }
            Agg::Count | Agg::CountValues => self.count += 1,
            Agg::Stddev | Agg::Stdvar => {
                self.count += 1;
                let delta = v - self.mean;
                self.mean += delta / self.count as f64;
                self.value += delta * (v - self.mean);
            }
            Agg::Quantile => self.members.push(s),
            Agg::Topk | Agg::Bottomk => self.keep_top(op, s, k),
        }
    }

    /// topk/bottomk: keeps the `k` best in a heap ordered as Prometheus's.
    fn keep_top(&mut self, op: Agg, s: S, k: usize) {
        let less = if op == Agg::Topk {
            top_less
        } else {
            bottom_less
        };
        let v = s.v;
        let h = &mut self.members;
        let root = h[0].v;
        let better = if op == Agg::Topk { root < v } else { root > v };
        if h.len() < k || better || root.is_nan() {
            if h.len() == k {
                if k == 1 {
                    h[0] = s;
                    return;
                }
                heap_pop(h, less);
            }
            heap_push(h, s, less);
        }
    }
}
