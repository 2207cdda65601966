//! One alerting rule's state machine, as Prometheus's `AlertingRule`
//! (rules/alerting.go) runs it: inactive → pending → firing → resolved,
//! with `for` and `keep_firing_for`; the `ALERTS` and `ALERTS_FOR_STATE`
//! series it writes; which alerts are (re)sent and with what `endsAt`;
//! and the `for` clock restored after a restart from `ALERTS_FOR_STATE`.
//!
//! Kept apart from evaluation (group.rs) because this is the part whose
//! timing must match Prometheus step for step; it takes query results in
//! and gives series and alerts out, with no I/O.

use std::collections::BTreeMap;

use picket_core::metric::Labels;

/// Resolved alerts are kept (and re-sent) this long (`resolvedRetention`).
pub(crate) const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

/// An alert's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum State {
    /// Resolved (kept for [`RESOLVED_RETENTION_MS`]) or never active.
    Inactive,
    /// Active for less than `for`.
    Pending,
    /// Active for `for` or longer.
    Firing,
}

impl State {
    /// The API's and `alertstate`'s spelling.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            State::Inactive => "inactive",
            State::Pending => "pending",
            State::Firing => "firing",
        }
    }
}

/// One alert (one label set of an alerting rule). Times are ms since the
/// epoch; 0 means unset (Go's zero time).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Alert {
    /// The alert's labels: the result's (without `__name__`), the rule's
    /// and `alertname`.
    pub labels: Labels,
    /// Rendered annotations.
    pub annotations: Labels,
    /// Its state.
    pub state: State,
    /// The last value of the expression.
    pub value: f64,
    /// When it became active (pending).
    pub active_at: i64,
    /// When it started firing.
    pub fired_at: i64,
    /// When it resolved.
    pub resolved_at: i64,
    /// When it was last sent.
    pub last_sent_at: i64,
    /// The `endsAt` sent for it while firing.
    pub valid_until: i64,
    /// Since when `keep_firing_for` has kept it firing.
    pub keep_firing_since: i64,
}

/// One result element after template expansion: labels, annotations,
/// value.
#[derive(Clone, Debug)]
pub(crate) struct Found {
    /// Alert labels (result labels without `__name__`, rule labels,
    /// `alertname`).
    pub labels: Labels,
    /// Rendered annotations.
    pub annotations: Labels,
    /// The result's value.
    pub value: f64,
}

/// The state of one alerting rule.
#[derive(Clone, Debug, Default)]
pub(crate) struct AlertState {
    /// `for`, ms.
    pub hold_ms: i64,
    /// `keep_firing_for`, ms.
    pub keep_firing_ms: i64,
    /// Alerts by labels (pending, firing, and resolved ones for 15 min).
    pub active: BTreeMap<Labels, Alert>,
    /// Whether `for` state has been restored after start (until then no
    /// `ALERTS` series are written, as in Prometheus).
    pub restored: bool,
}

/// Why an evaluation failed.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum EvalError {
    /// Two results had the same labels after template expansion.
    Duplicate(Labels),
    /// More alerts than the group's `limit`.
    Limit(usize),
}

impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EvalError::Duplicate(_) => f.write_str(
                "vector contains metrics with the same labelset after applying alert labels",
            ),
            EvalError::Limit(n) => write!(f, "exceeded limit of {n} with more alerts"),
        }
    }
}

impl AlertState {
    /// A rule's state with `for` and `keep_firing_for` in ms.
    pub(crate) fn new(hold_ms: i64, keep_firing_ms: i64) -> AlertState {
        AlertState {
            hold_ms,
            keep_firing_ms,
            ..AlertState::default()
        }
    }

    /// One evaluation at `ts` with the (expanded) results; returns the
    /// `ALERTS` / `ALERTS_FOR_STATE` samples to write (none before the
    /// state is restored).
    pub(crate) fn eval(
        &mut self,
        ts: i64,
        found: Vec<Found>,
        limit: usize,
    ) -> Result<Vec<(Labels, f64)>, EvalError> {
        let mut now: BTreeMap<Labels, Found> = BTreeMap::new();
        for f in found {
            if now.contains_key(&f.labels) {
                return Err(EvalError::Duplicate(f.labels));
            }
            now.insert(f.labels.clone(), f);
        }
        for (l, f) in &now {
            match self.active.get_mut(l) {
                Some(a) if a.state != State::Inactive => {
                    a.value = f.value;
                    a.annotations = f.annotations.clone();
                }
                _ => {
                    self.active.insert(
                        l.clone(),
                        Alert {
                            labels: l.clone(),
                            annotations: f.annotations.clone(),
                            state: State::Pending,
                            value: f.value,
                            active_at: ts,
                            fired_at: 0,
                            resolved_at: 0,
                            last_sent_at: 0,
                            valid_until: 0,
                            keep_firing_since: 0,
                        },
                    );
                }
            }
        }
        let mut out = Vec::new();
        let mut gone = Vec::new();
        let mut live = 0usize;
        for (l, a) in self.active.iter_mut() {
            if !now.contains_key(l) {
                let mut keep = false;
                if a.state == State::Firing && self.keep_firing_ms > 0 {
                    if a.keep_firing_since == 0 {
                        a.keep_firing_since = ts;
                    }
                    keep = ts - a.keep_firing_since < self.keep_firing_ms;
                }
                if a.state == State::Pending
                    || (a.resolved_at != 0 && ts - a.resolved_at > RESOLVED_RETENTION_MS)
                {
                    gone.push(l.clone());
                }
                if a.state != State::Inactive && !keep {
                    a.state = State::Inactive;
                    a.resolved_at = ts;
                }
                if !keep {
                    continue;
                }
            } else {
                a.keep_firing_since = 0;
            }
            live += 1;
            if a.state == State::Pending && ts - a.active_at >= self.hold_ms {
                a.state = State::Firing;
                a.fired_at = ts;
            }
            if self.restored {
                out.push((series(a, "ALERTS", Some(a.state)), 1.0));
                out.push((
                    series(a, "ALERTS_FOR_STATE", None),
                    a.active_at.div_euclid(1000) as f64,
                ));
            }
        }
        for l in gone {
            self.active.remove(&l);
        }
        if limit > 0 && live > limit {
            self.active.clear();
            return Err(EvalError::Limit(limit));
        }
        Ok(out)
    }

    /// The alerts to send at `ts` (Prometheus's `needsSending`): firing
    /// ones not sent for `resend_delay`, and resolved ones, at once after
    /// resolving and then every `resend_delay` while kept. Marks them
    /// sent and sets their `valid_until`.
    pub fn due(&mut self, ts: i64, resend_delay_ms: i64, interval_ms: i64) -> Vec<Alert> {
        let mut out = Vec::new();
        for a in self.active.values_mut() {
            if a.state == State::Pending {
                continue;
            }
            let due = a.resolved_at > a.last_sent_at || a.last_sent_at + resend_delay_ms < ts;
            if !due {
                continue;
            }
            a.last_sent_at = ts;
            // "Allow for two Eval or Alertmanager send failures."
            a.valid_until = ts + 4 * resend_delay_ms.max(interval_ms);
            out.push(a.clone());
        }
        out
    }

    /// Restores `for` clocks after a restart (Prometheus's
    /// `RestoreForState`), given each alert's newest `ALERTS_FOR_STATE`
    /// sample before `ts` (`last`: labels without `__name__` → (ms,
    /// value)); marks the state restored.
    pub(crate) fn restore(&mut self, ts: i64, last: &BTreeMap<Labels, (i64, f64)>, grace_ms: i64) {
        self.restored = true;
        if self.hold_ms < grace_ms {
            // It would wait longer than `for`; Prometheus skips it.
            return;
        }
        for a in self.active.values_mut() {
            let Some(&(down_at, v)) = last.get(&a.labels) else {
                continue;
            };
            if picket_core::metric::is_stale(v) || !v.is_finite() {
                continue;
            }
            let mut restored_at = (v as i64) * 1000;
            let spent = down_at - restored_at;
            let remaining = self.hold_ms - spent;
            if remaining <= 0 {
                // It was firing when the hub stopped: fires again at the
                // next evaluation if still active.
            } else if remaining < grace_ms {
                restored_at = ts + grace_ms - self.hold_ms;
            } else {
                restored_at += ts - down_at;
            }
            a.active_at = restored_at;
        }
    }

    /// The rule's state: the highest of its alerts'.
    pub(crate) fn state(&self) -> State {
        self.active
            .values()
            .map(|a| a.state)
            .max()
            .unwrap_or(State::Inactive)
    }
}

/// `ALERTS{…, alertstate}` or `ALERTS_FOR_STATE{…}` of an alert.
fn series(a: &Alert, name: &'static str, state: Option<State>) -> Labels {
    let mut l = a.labels.clone();
    l.set("__name__", name);
    if let Some(s) = state {
        l.set("alertstate", s.as_str());
    }
    l
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(inst: &str) -> Found {
        Found {
            labels: Labels::from_pairs([("alertname", "A"), ("instance", inst)]),
            annotations: Labels::new(),
            value: 0.0,
        }
    }

    fn states(s: &AlertState) -> Vec<&'static str> {
        s.active.values().map(|a| a.state.as_str()).collect()
    }

    #[test]
    fn pending_firing_resolved_as_promtool_shows() {
        // for: 2m, interval 1m: pending at 1m, firing at 2m (§3.4).
        let mut s = AlertState::new(120_000, 0);
        s.restored = true;
        assert!(s.eval(0, vec![], 0).unwrap().is_empty());
        let out = s.eval(60_000, vec![found("a")], 0).unwrap();
        assert_eq!(states(&s), ["pending"]);
        assert_eq!(out[0].0.get("alertstate"), Some("pending"));
        assert_eq!(out[1], (out[1].0.clone(), 60.0));
        s.eval(120_000, vec![found("a")], 0).unwrap();
        assert_eq!(states(&s), ["pending"]);
        let out = s.eval(180_000, vec![found("a")], 0).unwrap();
        assert_eq!(states(&s), ["firing"]);
        assert_eq!(out[0].0.get("alertstate"), Some("firing"));
        // Sent at once, then again only after the resend delay.
        let sent = s.due(180_000, 60_000, 60_000);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].valid_until, 180_000 + 240_000);
        assert!(s.due(240_000, 60_000, 60_000).is_empty());
        assert_eq!(s.due(241_000, 60_000, 60_000).len(), 1);
        // Condition gone: resolved, kept, sent at once, no series.
        let out = s.eval(300_000, vec![], 0).unwrap();
        assert!(out.is_empty());
        assert_eq!(states(&s), ["inactive"]);
        let sent = s.due(300_000, 60_000, 60_000);
        assert_eq!(sent[0].resolved_at, 300_000);
        // Dropped after 15 minutes.
        s.eval(300_000 + RESOLVED_RETENTION_MS + 1, vec![], 0)
            .unwrap();
        assert!(s.active.is_empty());
        // A pending alert that goes away is dropped, never sent.
        s.eval(2_000_000, vec![found("b")], 0).unwrap();
        s.eval(2_060_000, vec![], 0).unwrap();
        assert!(s.active.is_empty());
    }

    #[test]
    fn keep_firing_for_and_for_zero() {
        let mut s = AlertState::new(0, 120_000);
        s.restored = true;
        s.eval(0, vec![found("a")], 0).unwrap();
        assert_eq!(states(&s), ["firing"]);
        s.eval(60_000, vec![], 0).unwrap();
        s.eval(120_000, vec![], 0).unwrap();
        assert_eq!(states(&s), ["firing"]);
        s.eval(180_000, vec![], 0).unwrap();
        assert_eq!(states(&s), ["inactive"]);
        // Back before keep_firing_for ends: the clock resets.
        let mut s = AlertState::new(0, 120_000);
        s.eval(0, vec![found("a")], 0).unwrap();
        s.eval(60_000, vec![], 0).unwrap();
        s.eval(120_000, vec![found("a")], 0).unwrap();
        s.eval(180_000, vec![], 0).unwrap();
        s.eval(240_000, vec![], 0).unwrap();
        assert_eq!(states(&s), ["firing"]);
        assert_eq!(s.active.values().next().map(|a| a.active_at), Some(0));
    }

    #[test]
    fn duplicates_and_limit_fail_the_rule() {
        let mut s = AlertState::new(0, 0);
        let e = s.eval(0, vec![found("a"), found("a")], 0).unwrap_err();
        assert!(matches!(e, EvalError::Duplicate(_)));
        let e = s.eval(0, vec![found("a"), found("b")], 1).unwrap_err();
        assert_eq!(e, EvalError::Limit(1));
        assert!(s.active.is_empty());
    }

    #[test]
    fn restore_keeps_the_for_clock_across_a_restart() {
        // for: 30m; active since t=0, hub down at 10m, back at 15m.
        let hold = 30 * 60_000;
        let mut s = AlertState::new(hold, 0);
        let ts = 15 * 60_000;
        s.eval(ts, vec![found("a")], 0).unwrap();
        let mut last = BTreeMap::new();
        last.insert(found("a").labels, (10 * 60_000, 0.0));
        s.restore(ts, &last, 10 * 60_000);
        // 10 minutes spent pending; 20 to go: fires at 35m, not 45m.
        let a = s.active.values().next().cloned().unwrap();
        assert_eq!(a.active_at, 5 * 60_000);
        s.eval(35 * 60_000 - 1, vec![found("a")], 0).unwrap();
        assert_eq!(states(&s), ["pending"]);
        s.eval(35 * 60_000, vec![found("a")], 0).unwrap();
        assert_eq!(states(&s), ["firing"]);
        // Less than the grace period to go: waits the grace period.
        let mut s = AlertState::new(hold, 0);
        s.eval(ts, vec![found("a")], 0).unwrap();
        last.insert(found("a").labels, (10 * 60_000, -(19.0 * 60.0)));
        s.restore(ts, &last, 10 * 60_000);
        let a = s.active.values().next().cloned().unwrap();
        assert_eq!(a.active_at, ts + 10 * 60_000 - hold);
    }
}
