//! The AST walk: evaluates each node once over the whole step grid, reads
//! selectors from the [`Querier`] once per node, and turns range selectors
//! and subqueries into [`RangeArg`]s that range functions window per step.
//!
//! Selector semantics are Prometheus 2.x's: an instant selector at eval
//! time `t` (after `@` and `offset`) takes the newest sample in
//! `[t - lookback, t]` and yields nothing when that sample is a stale
//! marker; a range selector `[r]` yields the non-stale samples in
//! `[t - r, t]` (closed at both ends, unlike Prometheus 3).

use std::collections::HashMap;
use std::time::{Duration, Instant, UNIX_EPOCH};

use promql_parser::label::MatchOp;
use promql_parser::parser::{AtModifier, Expr, Offset, SubqueryExpr, VectorSelector};

use super::value::{self, is_stale, Inner, Interner, Lbl, RangeSeries, S};
use super::{aggregate, binary, functions, Error, Options, Querier};
use crate::store::{Limit, Matcher, Op, SelectError};
use picket_core::metric::Labels;

/// The evaluation times of a node: `start, start + step, … <= end`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Grid {
    pub start: i64,
    pub end: i64,
    pub step: i64,
}

impl Grid {
    /// Number of steps.
    pub(crate) fn len(&self) -> usize {
        if self.end < self.start {
            0
        } else {
            ((self.end - self.start) / self.step + 1) as usize
        }
    }

    /// Time of step `i`.
    pub(crate) fn ts(&self, i: usize) -> i64 {
        self.start + i as i64 * self.step
    }
}

/// A range vector ready to be windowed: raw samples (stale markers
/// removed) of a range selector, or a subquery's step points.
pub(crate) struct RangeArg {
    pub series: Vec<RangeSeries>,
    /// The range, ms.
    pub range: i64,
    /// Offset, ms.
    pub offset: i64,
    /// `@` time, ms.
    pub at: Option<i64>,
}

impl RangeArg {
    /// The time the window ends at for evaluation time `ts`.
    pub(crate) fn eval_time(&self, ts: i64) -> i64 {
        self.at.unwrap_or(ts).saturating_sub(self.offset)
    }

    /// Samples of `pts` in `[et - range, et]`.
    pub(crate) fn window<'s>(&self, pts: &'s [(i64, f64)], ts: i64) -> &'s [(i64, f64)] {
        let et = self.eval_time(ts);
        let lo = pts.partition_point(|p| p.0 < et.saturating_sub(self.range));
        let hi = pts.partition_point(|p| p.0 <= et);
        &pts[lo..hi.max(lo)]
    }
}

/// What an instant selector yields per sample.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum SelMode {
    /// The sample's value, labels as stored.
    Value,
    /// The sample's timestamp in seconds, `__name__` dropped (`timestamp()`).
    Timestamp,
}

/// One query's evaluation state.
pub(crate) struct Evaluator<'a> {
    db: &'a dyn Querier,
    pub opts: &'a Options,
    query_start: i64,
    query_end: i64,
    deadline: Instant,
    pub interner: Interner,
    loaded: usize,
    drop_name_cache: HashMap<usize, Lbl>,
}

/// Milliseconds of a duration.
pub(crate) fn ms(d: &Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => ms(d),
        Some(Offset::Neg(d)) => -ms(d),
    }
}

/// Strips parentheses.
pub(crate) fn unparen(mut e: &Expr) -> &Expr {
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    e
}

impl<'a> Evaluator<'a> {
    /// An evaluator for a query over `[query_start, query_end]`.
    pub(crate) fn new(
        db: &'a dyn Querier,
        opts: &'a Options,
        query_start: i64,
        query_end: i64,
        deadline: Instant,
    ) -> Evaluator<'a> {
        Evaluator {
            db,
            opts,
            query_start,
            query_end,
            deadline,
            interner: Interner::default(),
            loaded: 0,
            drop_name_cache: HashMap::new(),
        }
    }

    /// Err once the query has run out of time.
    pub(crate) fn check_deadline(&self) -> Result<(), Error> {
        if Instant::now() > self.deadline {
            Err(Error::Timeout)
        } else {
            Ok(())
        }
    }

    /// Counts `n` samples against the query's limit.
    pub(crate) fn account(&mut self, n: usize) -> Result<(), Error> {
        if self.loaded.saturating_add(n) > self.opts.max_samples {
            return Err(Error::TooManySamples);
        }
        Ok(())
    }

    /// Interns a label set.
    pub(crate) fn intern(&mut self, l: Labels) -> Lbl {
        self.interner.intern(l)
    }

    /// `l` without `__name__`, interned (cached per input).
    pub(crate) fn drop_name(&mut self, l: &Lbl) -> Lbl {
        if l.get("__name__").is_none() {
            return l.clone();
        }
        if let Some(x) = self.drop_name_cache.get(&value::key(l)) {
            return x.clone();
        }
        let out = self.intern(value::without_name(l));
        self.drop_name_cache.insert(value::key(l), out.clone());
        out
    }

    /// The top-level evaluation: like [`Evaluator::eval`], but a range
    /// vector (instant queries only) becomes a matrix.
    pub(crate) fn eval_top(
        &mut self,
        expr: &Expr,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<Inner, Error> {
        let grid = Grid { start, end, step };
        match unparen(expr) {
            e @ (Expr::MatrixSelector(_) | Expr::Subquery(_)) => {
                let ra = self.range_arg(e, grid)?;
                let mut out = Vec::new();
                for (l, pts) in &ra.series {
                    let w = ra.window(pts, start);
                    if !w.is_empty() {
                        out.push((l.clone(), w.to_vec()));
                    }
                }
                Ok(Inner::Matrix(out))
            }
            e => self.eval(e, grid),
        }
    }

    /// Evaluates `expr` at every step of `grid`.
    pub(crate) fn eval(&mut self, expr: &Expr, grid: Grid) -> Result<Inner, Error> {
        self.check_deadline()?;
        let n = grid.len();
        let out = match expr {
            Expr::NumberLiteral(x) => Inner::Scalar(vec![x.val; n]),
            Expr::StringLiteral(s) => Inner::Str(s.val.clone()),
            Expr::Paren(p) => self.eval(&p.expr, grid)?,
            Expr::Unary(u) => match self.eval(&u.expr, grid)? {
                Inner::Scalar(v) => Inner::Scalar(v.into_iter().map(|x| -x).collect()),
                Inner::Vector(steps) => {
                    let mut out = Vec::with_capacity(steps.len());
                    for step in steps {
                        let v: Vec<S> = step
                            .into_iter()
                            .map(|s| S {
                                l: self.drop_name(&s.l),
                                v: -s.v,
                            })
                            .collect();
                        dup_check(&v)?;
                        out.push(v);
                    }
                    Inner::Vector(out)
                }
                _ => return Err(bad_type("unary expression")),
            },
            Expr::Binary(b) => binary::eval(self, b, grid)?,
            Expr::Aggregate(a) => aggregate::eval(self, a, grid)?,
            Expr::Call(c) => functions::eval_call(self, c, grid)?,
            Expr::VectorSelector(vs) => {
                Inner::Vector(self.vector_selector(vs, grid, SelMode::Value)?)
            }
            Expr::MatrixSelector(_) | Expr::Subquery(_) => {
                if n != 1 {
                    return Err(Error::BadData(
                        "range vectors can only be evaluated in instant queries or as function arguments"
                            .into(),
                    ));
                }
                match self.eval_top(expr, grid.start, grid.end, grid.step)? {
                    x @ Inner::Matrix(_) => x,
                    _ => return Err(bad_type("range vector")),
                }
            }
            Expr::Extension(_) => {
                return Err(Error::BadData(
                    "extension expressions are not supported".into(),
                ))
            }
        };
        if let Inner::Vector(steps) = &out {
            let total: usize = steps.iter().map(Vec::len).sum();
            self.account(total)?;
        }
        Ok(out)
    }

    /// Resolves `@`: `start()`/`end()` are the query's, not a subquery's.
    fn at_ms(&self, at: &Option<AtModifier>) -> Option<i64> {
        match at {
            None => None,
            Some(AtModifier::Start) => Some(self.query_start),
            Some(AtModifier::End) => Some(self.query_end),
            Some(AtModifier::At(t)) => Some(match t.duration_since(UNIX_EPOCH) {
                Ok(d) => ms(&d),
                Err(e) => -ms(&e.duration()),
            }),
        }
    }

    /// The store matchers of a selector.
    fn matchers(&self, vs: &VectorSelector) -> Result<Vec<Matcher>, Error> {
        if !vs.matchers.or_matchers.is_empty() {
            return Err(Error::BadData(
                "\"or\" inside a label matcher list is not supported (Prometheus 3 syntax)".into(),
            ));
        }
        let mut out = Vec::with_capacity(vs.matchers.matchers.len() + 1);
        if let Some(name) = &vs.name {
            out.push(Matcher::eq("__name__", name));
        }
        for m in &vs.matchers.matchers {
            let op = match m.op {
                MatchOp::Equal => Op::Eq,
                MatchOp::NotEqual => Op::Ne,
                MatchOp::Re(_) => Op::Re,
                MatchOp::NotRe(_) => Op::Nre,
            };
            out.push(Matcher::new(&m.name, op, &m.value).map_err(Error::BadData)?);
        }
        if out.iter().all(Matcher::matches_empty) {
            return Err(Error::BadData(
                "vector selector must contain at least one non-empty matcher".into(),
            ));
        }
        Ok(out)
    }

    /// Reads the series of `matchers` in `[mint, maxt]`, labels interned.
    fn select(
        &mut self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<RangeSeries>, Error> {
        self.check_deadline()?;
        let limit = Limit {
            series: self.opts.max_series,
            // What this query may still load, and one more to tell.
            samples: self
                .opts
                .max_samples
                .saturating_sub(self.loaded)
                .saturating_add(1),
        };
        let found = self
            .db
            .select(matchers, mint, maxt, limit)
            .map_err(|e| match e {
                SelectError::Limit("series") => Error::TooManySeries(self.opts.max_series),
                SelectError::Limit(_) => Error::TooManySamples,
                SelectError::Store(e) => Error::Execution(format!("expanding series: {e}")),
            })?;
        let total: usize = found.iter().map(|s| s.1.len()).sum();
        self.account(total)?;
        self.loaded += total;
        Ok(found
            .into_iter()
            .map(|(l, p)| (self.interner.intern(l), p))
            .collect())
    }

    /// An instant selector at every step.
    pub(crate) fn vector_selector(
        &mut self,
        vs: &VectorSelector,
        grid: Grid,
        mode: SelMode,
    ) -> Result<Vec<Vec<S>>, Error> {
        let n = grid.len();
        let mut out: Vec<Vec<S>> = (0..n).map(|_| Vec::new()).collect();
        if n == 0 {
            return Ok(out);
        }
        let matchers = self.matchers(vs)?;
        let offset = offset_ms(&vs.offset);
        let at = self.at_ms(&vs.at);
        let et = |ts: i64| at.unwrap_or(ts).saturating_sub(offset);
        let (lo, hi) = (et(grid.start), et(grid.ts(n - 1)));
        let lookback = self.opts.lookback_ms;
        let series = self.select(&matchers, lo.saturating_sub(lookback), hi)?;
        for (l, pts) in series {
            self.check_deadline()?;
            let l = match mode {
                SelMode::Value => l,
                SelMode::Timestamp => self.drop_name(&l),
            };
            let mut j = 0;
            for (i, slot) in out.iter_mut().enumerate() {
                let t = et(grid.ts(i));
                while j < pts.len() && pts[j].0 <= t {
                    j += 1;
                }
                if j == 0 {
                    continue;
                }
                let (st, sv) = pts[j - 1];
                if st < t.saturating_sub(lookback) || is_stale(sv) {
                    continue;
                }
                let v = match mode {
                    SelMode::Value => sv,
                    SelMode::Timestamp => st as f64 / 1000.0,
                };
                slot.push(S { l: l.clone(), v });
            }
        }
        Ok(out)
    }

    /// A range selector or subquery, read for every step of `grid`.
    pub(crate) fn range_arg(&mut self, expr: &Expr, grid: Grid) -> Result<RangeArg, Error> {
        match unparen(expr) {
            Expr::MatrixSelector(m) => {
                let matchers = self.matchers(&m.vs)?;
                let offset = offset_ms(&m.vs.offset);
                let at = self.at_ms(&m.vs.at);
                let range = ms(&m.range);
                let et = |ts: i64| at.unwrap_or(ts).saturating_sub(offset);
                let n = grid.len().max(1);
                let (lo, hi) = (et(grid.start), et(grid.ts(n - 1)));
                let mut series = self.select(&matchers, lo.saturating_sub(range), hi)?;
                for s in &mut series {
                    s.1.retain(|p| !is_stale(p.1));
                }
                series.retain(|s| !s.1.is_empty());
                Ok(RangeArg {
                    series,
                    range,
                    offset,
                    at,
                })
            }
            Expr::Subquery(sq) => self.subquery(sq, grid),
            _ => Err(bad_type("range vector")),
        }
    }

    /// Evaluates a subquery's inner expression on its own aligned grid.
    fn subquery(&mut self, sq: &SubqueryExpr, grid: Grid) -> Result<RangeArg, Error> {
        let offset = offset_ms(&sq.offset);
        let at = self.at_ms(&sq.at);
        let range = ms(&sq.range);
        let step = match &sq.step {
            Some(d) => ms(d),
            None => self.opts.default_subquery_step_ms,
        };
        if step <= 0 {
            return Err(Error::BadData("subquery step must be positive".into()));
        }
        let n = grid.len().max(1);
        let et = |ts: i64| at.unwrap_or(ts).saturating_sub(offset);
        let (first, last) = (et(grid.start), et(grid.ts(n - 1)));
        let lo = first.saturating_sub(range);
        let mut start = lo.div_euclid(step).saturating_mul(step);
        if start < lo {
            start = start.saturating_add(step);
        }
        let inner = Grid {
            start,
            end: last,
            step,
        };
        if inner.len() > self.opts.max_samples {
            return Err(Error::TooManySamples);
        }
        let mut series = Vec::new();
        if inner.len() > 0 {
            match self.eval(&sq.expr, inner)? {
                Inner::Vector(steps) => {
                    let mut index: HashMap<usize, usize> = HashMap::new();
                    for (i, step) in steps.into_iter().enumerate() {
                        let t = inner.ts(i);
                        for s in step {
                            let k = *index.entry(value::key(&s.l)).or_insert_with(|| {
                                series.push((s.l.clone(), Vec::new()));
                                series.len() - 1
                            });
                            series[k].1.push((t, s.v));
                        }
                    }
                }
                _ => return Err(bad_type("subquery")),
            }
        }
        Ok(RangeArg {
            series,
            range,
            offset,
            at,
        })
    }
}

/// Prometheus's per-step check after every operation.
pub(crate) fn dup_check(v: &[S]) -> Result<(), Error> {
    if value::has_duplicate_labels(v) {
        Err(Error::Execution(
            "vector cannot contain metrics with the same labelset".into(),
        ))
    } else {
        Ok(())
    }
}

/// An operand of an unexpected type (the parser's type check prevents it).
pub(crate) fn bad_type(what: &str) -> Error {
    Error::BadData(format!("unexpected operand type in {what}"))
}
