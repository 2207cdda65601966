//! Evaluating one rule group, as Prometheus's `Group.Eval` does: every
//! rule in order at the same timestamp (later rules see earlier rules'
//! output), recording rules written to the store, alerting rules'
//! templates expanded and their state advanced ([`super::alert`]), stale
//! markers for series a rule stopped producing, and the alerts due to be
//! sent. Also the group's schedule (Prometheus's hashed offset within the
//! interval) and the `for` restore after start.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use super::alert::{Alert, AlertState, Found};
use super::file::{Group, Kind, Rule};
use super::template::{Data, QuerySample};
use crate::notify;
use crate::promql::{self, Querier, Value};
use crate::store::{Limit, Matcher};
use picket_core::metric::{Labels, STALE_NAN_BITS};

/// What an evaluation needs from the hub.
pub(crate) struct Ctx<'a> {
    /// Where rules read series.
    pub db: &'a dyn Querier,
    /// Query limits.
    pub opts: &'a promql::Options,
    /// Writes samples (recording rules, `ALERTS`, stale markers) so that
    /// the next rule sees them.
    pub append: &'a dyn Fn(Vec<(Labels, i64, f64)>),
    /// `$externalLabels`.
    pub external_labels: &'a Labels,
    /// `$externalURL` and the base of `generatorURL`.
    pub external_url: &'a str,
    /// `--rules.alert.resend-delay`, ms.
    pub resend_delay_ms: i64,
}

/// A rule's health, as `/api/v1/rules` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Health {
    /// Not evaluated yet.
    Unknown,
    /// The last evaluation succeeded.
    Ok,
    /// The last evaluation failed.
    Err,
}

impl Health {
    /// The API's spelling.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Ok => "ok",
            Health::Err => "err",
        }
    }
}

/// A rule and what its evaluations left.
#[derive(Debug)]
pub(crate) struct RuleState {
    /// The rule.
    pub rule: Rule,
    /// Alerting rules: their alerts.
    pub alerts: Option<AlertState>,
    /// Health of the last evaluation.
    pub health: Health,
    /// Its error, if it failed.
    pub last_error: String,
    /// When it was last evaluated (ms).
    pub last_eval_ms: i64,
    /// How long that took.
    pub eval_time: Duration,
    /// Series it wrote last time (for stale markers).
    prev: HashSet<Labels>,
}

/// A group and its schedule.
#[derive(Debug)]
pub(crate) struct GroupState {
    /// The file it came from.
    pub file: std::path::PathBuf,
    /// Its name.
    pub name: String,
    /// Its interval.
    pub interval: Duration,
    /// `limit`.
    pub limit: usize,
    /// The rules.
    pub rules: Vec<RuleState>,
    /// Timestamp of the last evaluation (ms; 0: none yet).
    pub last_eval_ms: i64,
    /// Duration of the last evaluation.
    pub eval_time: Duration,
    /// Timestamp of the next evaluation (ms).
    pub next_ms: i64,
    /// Evaluations skipped because the previous one overran.
    pub missed: u64,
    /// Evaluations done.
    pub evals: u64,
    /// Restore `for` state after the second evaluation (start only).
    pub should_restore: bool,
}

impl GroupState {
    /// A group as loaded; its first evaluation is at the first slot of its
    /// schedule after `now_ms`.
    pub(crate) fn new(g: Group, now_ms: i64, should_restore: bool) -> GroupState {
        let rules = g
            .rules
            .into_iter()
            .map(|r| {
                let alerts = match &r.kind {
                    Kind::Alert {
                        hold,
                        keep_firing_for,
                        ..
                    } => {
                        let mut s = AlertState::new(
                            hold.as_millis() as i64,
                            keep_firing_for.as_millis() as i64,
                        );
                        s.restored = !should_restore;
                        Some(s)
                    }
                    Kind::Record { .. } => None,
                };
                RuleState {
                    rule: r,
                    alerts,
                    health: Health::Unknown,
                    last_error: String::new(),
                    last_eval_ms: 0,
                    eval_time: Duration::ZERO,
                    prev: HashSet::new(),
                }
            })
            .collect();
        let mut s = GroupState {
            file: g.file,
            name: g.name,
            interval: g.interval,
            limit: g.limit,
            rules,
            last_eval_ms: 0,
            eval_time: Duration::ZERO,
            next_ms: 0,
            missed: 0,
            evals: 0,
            should_restore,
        };
        s.next_ms = s.slot_after(now_ms);
        s
    }

    fn interval_ms(&self) -> i64 {
        (self.interval.as_millis() as i64).max(1)
    }

    /// The group's evaluation slots are `offset + k·interval`, the offset
    /// a hash of file and name (so groups spread over the interval, as in
    /// Prometheus); the first slot at or after `t`.
    fn slot_after(&self, t: i64) -> i64 {
        let iv = self.interval_ms();
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self
            .file
            .to_string_lossy()
            .bytes()
            .chain([0xff])
            .chain(self.name.bytes())
        {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        let offset = (h % iv as u64) as i64;
        let base = (t - offset).div_euclid(iv) * iv + offset;
        if base < t {
            base + iv
        } else {
            base
        }
    }

    /// Moves to the next slot after `now_ms`, counting skipped ones.
    pub(crate) fn advance(&mut self, now_ms: i64) {
        let next = self.next_ms + self.interval_ms();
        if next <= now_ms {
            let skipped = (now_ms - next) / self.interval_ms() + 1;
            self.missed += skipped as u64;
            self.next_ms = next + skipped * self.interval_ms();
        } else {
            self.next_ms = next;
        }
    }

    /// Carries alert state and stale-marker bookkeeping over from the
    /// group this one replaces on reload (rules matched by name and
    /// expression, as Prometheus's `CopyState` does by name).
    pub(crate) fn take_state_from(&mut self, old: &mut GroupState) {
        self.last_eval_ms = old.last_eval_ms;
        self.eval_time = old.eval_time;
        self.evals = old.evals;
        self.should_restore = old.should_restore;
        if self.interval == old.interval {
            self.next_ms = old.next_ms;
        }
        for r in &mut self.rules {
            let Some(o) = old
                .rules
                .iter_mut()
                .find(|o| o.rule.name() == r.rule.name() && o.rule.expr_text == r.rule.expr_text)
            else {
                continue;
            };
            r.prev = std::mem::take(&mut o.prev);
            r.health = o.health;
            r.last_error = o.last_error.clone();
            r.last_eval_ms = o.last_eval_ms;
            r.eval_time = o.eval_time;
            if let (Some(new), Some(old)) = (&mut r.alerts, &mut o.alerts) {
                new.active = std::mem::take(&mut old.active);
                new.restored = old.restored;
            }
        }
    }

    /// Stale markers at `ts` for everything the group's rules wrote last
    /// (the group was removed).
    pub(crate) fn stale_all(&mut self, ts: i64) -> Vec<(Labels, i64, f64)> {
        let stale = f64::from_bits(STALE_NAN_BITS);
        self.rules
            .iter_mut()
            .flat_map(|r| std::mem::take(&mut r.prev))
            .map(|l| (l, ts, stale))
            .collect()
    }

    /// Evaluates every rule at `ts`; the alerts due to be sent.
    pub(crate) fn eval(&mut self, ts: i64, ctx: &Ctx<'_>) -> Vec<notify::Alert> {
        let started = Instant::now();
        let interval_ms = self.interval_ms();
        let mut outgoing = Vec::new();
        for r in &mut self.rules {
            let t0 = Instant::now();
            let result = eval_rule(r, ts, self.limit, ctx);
            let stale = f64::from_bits(STALE_NAN_BITS);
            let written: Vec<(Labels, f64)> = match result {
                Ok(rows) => {
                    r.health = Health::Ok;
                    r.last_error.clear();
                    rows
                }
                Err(e) => {
                    log::warn!("rule {:?} of group {:?}: {e}", r.rule.name(), self.name);
                    r.health = Health::Err;
                    r.last_error = e;
                    Vec::new()
                }
            };
            let now: HashSet<Labels> = written.iter().map(|(l, _)| l.clone()).collect();
            let mut rows: Vec<(Labels, i64, f64)> =
                written.into_iter().map(|(l, v)| (l, ts, v)).collect();
            for l in r.prev.difference(&now) {
                rows.push((l.clone(), ts, stale));
            }
            r.prev = now;
            if !rows.is_empty() {
                (ctx.append)(rows);
            }
            if let Some(a) = &mut r.alerts {
                let url = generator_url(ctx.external_url, &r.rule.expr_text);
                for alert in a.due(ts, ctx.resend_delay_ms, interval_ms) {
                    outgoing.push(outgoing_alert(alert, &url));
                }
            }
            r.last_eval_ms = ts;
            r.eval_time = t0.elapsed();
        }
        self.last_eval_ms = ts;
        self.eval_time = started.elapsed();
        self.evals += 1;
        outgoing
    }

    /// Restores `for` clocks from `ALERTS_FOR_STATE` in
    /// `[ts - tolerance, ts]` (Prometheus's `RestoreForState`).
    pub(crate) fn restore(&mut self, ts: i64, db: &dyn Querier, tolerance_ms: i64, grace_ms: i64) {
        self.should_restore = false;
        for r in &mut self.rules {
            let Some(a) = &mut r.alerts else {
                continue;
            };
            let matchers = [
                Matcher::eq("__name__", "ALERTS_FOR_STATE"),
                Matcher::eq("alertname", r.rule.name()),
            ];
            let mut last = BTreeMap::new();
            match db.select(&matchers, ts - tolerance_ms, ts, Limit::NONE) {
                Ok(series) => {
                    for (mut l, pts) in series {
                        l.remove("__name__");
                        if let Some(&p) = pts.last() {
                            last.insert(l, p);
                        }
                    }
                }
                Err(e) => log::warn!("restoring the for state of {:?}: {e}", r.rule.name()),
            }
            a.restore(ts, &last, grace_ms);
        }
    }
}

impl std::fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("external_url", &self.external_url)
            .field("resend_delay_ms", &self.resend_delay_ms)
            .finish_non_exhaustive()
    }
}

/// An alert due to be sent, as [`crate::notify`] takes it: `fired_at` is
/// `startsAt`; `resolved_at` or `valid_until` gives `endsAt`.
fn outgoing_alert(a: Alert, generator_url: &str) -> notify::Alert {
    notify::Alert {
        labels: a.labels,
        annotations: a.annotations,
        starts_at: a.fired_at,
        resolved_at: a.resolved_at,
        valid_until: a.valid_until,
        generator_url: generator_url.to_string(),
    }
}

/// Prometheus's `generatorURL`: the expression as a table link.
pub(crate) fn generator_url(external_url: &str, expr: &str) -> String {
    let mut q = String::new();
    for b in expr.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                q.push(b as char)
            }
            b' ' => q.push('+'),
            o => q.push_str(&format!("%{o:02X}")),
        }
    }
    format!("{external_url}/graph?g0.expr={q}&g0.tab=1")
}

/// One rule at `ts`: the samples it writes.
fn eval_rule(
    r: &mut RuleState,
    ts: i64,
    limit: usize,
    ctx: &Ctx<'_>,
) -> Result<Vec<(Labels, f64)>, String> {
    let samples = match promql::instant_expr(&r.rule.expr, ctx.db, ts, ctx.opts)
        .map_err(|e| e.to_string())?
    {
        Value::Vector(v) => v.into_iter().map(|s| (s.labels, s.v)).collect::<Vec<_>>(),
        Value::Scalar(_, v) => vec![(Labels::new(), v)],
        _ => return Err("rule result is not a vector or scalar".into()),
    };
    match &r.rule.kind {
        Kind::Record { name } => {
            let mut out = Vec::with_capacity(samples.len());
            let mut seen = HashSet::new();
            for (mut l, v) in samples {
                l.set("__name__", name.clone());
                for (k, val) in &r.rule.labels {
                    set_or_remove(&mut l, k, val.clone());
                }
                if !seen.insert(l.clone()) {
                    return Err(
                        "vector contains metrics with the same labelset after applying rule labels"
                            .into(),
                    );
                }
                out.push((l, v));
            }
            if limit > 0 && out.len() > limit {
                return Err(format!(
                    "exceeded limit of {limit} with {} series",
                    out.len()
                ));
            }
            Ok(out)
        }
        Kind::Alert {
            name,
            label_templates,
            annotations,
            ..
        } => {
            let query = |q: &str| -> Result<Vec<QuerySample>, String> {
                match promql::instant(q, ctx.db, ts, ctx.opts).map_err(|e| e.to_string())? {
                    Value::Vector(v) => Ok(v
                        .into_iter()
                        .map(|s| QuerySample {
                            labels: s.labels,
                            value: s.v,
                        })
                        .collect()),
                    Value::Scalar(_, v) => Ok(vec![QuerySample {
                        labels: Labels::new(),
                        value: v,
                    }]),
                    _ => Err("query: not a vector or scalar".into()),
                }
            };
            let mut found = Vec::with_capacity(samples.len());
            for (l, v) in samples {
                let data = Data {
                    labels: l.clone(),
                    value: v,
                    external_labels: ctx.external_labels.clone(),
                    external_url: ctx.external_url.to_string(),
                };
                let mut labels = l;
                labels.remove("__name__");
                for ((k, _), t) in r.rule.labels.iter().zip(label_templates) {
                    set_or_remove(&mut labels, k, t.render(&data, Some(&query)));
                }
                labels.set("alertname", name.clone());
                let mut ann = Labels::new();
                for (k, _, t) in annotations {
                    ann.set(k.clone(), t.render(&data, Some(&query)));
                }
                found.push(Found {
                    labels,
                    annotations: ann,
                    value: v,
                });
            }
            let Some(state) = &mut r.alerts else {
                return Err("alerting rule without state".into());
            };
            state.eval(ts, found, limit).map_err(|e| e.to_string())
        }
    }
}

/// Sets a label; an empty value removes it (Prometheus's labels.Builder).
fn set_or_remove(l: &mut Labels, k: &str, v: String) {
    if v.is_empty() {
        l.remove(k);
    } else {
        l.set(k.to_string(), v);
    }
}
