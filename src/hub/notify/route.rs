//! Alertmanager's routing tree (dispatch/route.go) for direct
//! notifications: `notify.route` as written (`receiver`, `routes`,
//! `matchers`, `group_by`, `group_wait`, `group_interval`,
//! `repeat_interval`, `continue`) and checked, each route's key
//! (`{}/{severity="critical"}`), and the matching that picks the routes,
//! receiver and grouping labels of an alert. Alertmanager matchers
//! (`name=~"re"`) are parsed here for routes, inhibition rules and
//! silences alike.

use std::time::Duration;

use serde::Deserialize;

use super::config::Receiver;
use crate::store::{Matcher, Op};
use picket_core::config::parse_duration;
use picket_core::metric::Labels;

/// A route as written; unset options are inherited from the parent.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RouteToml {
    /// Receiver name.
    pub receiver: Option<String>,
    /// Labels to group by (`["..."]`: every label).
    pub group_by: Option<Vec<String>>,
    /// Wait before the first notification of a new group ("30s").
    pub group_wait: Option<String>,
    /// Wait between notifications of a changed group ("5m").
    pub group_interval: Option<String>,
    /// Wait before repeating an unchanged group ("4h").
    pub repeat_interval: Option<String>,
    /// Alertmanager matchers, e.g. `severity="critical"`, `job=~"node|pg"`.
    pub matchers: Vec<String>,
    /// Keep matching siblings after this route matched.
    #[serde(rename = "continue")]
    pub cont: bool,
    /// Child routes.
    pub routes: Vec<RouteToml>,
}

/// A checked route.
#[derive(Debug, Clone)]
pub struct Route {
    /// Alertmanager's route key (`{}/{severity="critical"}`).
    pub key: String,
    /// Receiver index.
    pub receiver: usize,
    /// `None`: group by every label (`...`).
    pub group_by: Option<Vec<String>>,
    /// Timers.
    pub group_wait: Duration,
    /// See [`RouteToml::group_interval`].
    pub group_interval: Duration,
    /// See [`RouteToml::repeat_interval`].
    pub repeat_interval: Duration,
    matchers: Vec<Matcher>,
    cont: bool,
    routes: Vec<Route>,
}

/// Parses an Alertmanager matcher: `name="v"`, `name!=v`, `name=~"re"`,
/// `name!~re`.
pub(crate) fn parse_matcher(s: &str) -> Result<Matcher, String> {
    let s = s.trim();
    let i = s
        .find(['=', '!'])
        .ok_or_else(|| format!("{s:?}: not a matcher (name=\"value\")"))?;
    let name = s[..i].trim();
    let rest = &s[i..];
    let (op, len) = if rest.starts_with("=~") {
        (Op::Re, 2)
    } else if rest.starts_with("!~") {
        (Op::Nre, 2)
    } else if rest.starts_with("!=") {
        (Op::Ne, 2)
    } else if rest.starts_with('=') {
        (Op::Eq, 1)
    } else {
        return Err(format!("{s:?}: not a matcher (name=\"value\")"));
    };
    if !picket_core::metric::valid_label_name(name) {
        return Err(format!("{s:?}: invalid label name {name:?}"));
    }
    let v = rest[len..].trim();
    let v = match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(q) => q.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => v.to_string(),
    };
    Matcher::new(name, op, &v)
}

fn matcher_text(m: &Matcher) -> String {
    let op = match m.op {
        Op::Eq => "=",
        Op::Ne => "!=",
        Op::Re => "=~",
        Op::Nre => "!~",
    };
    format!("{}{op}{}", m.name, crate::promql::value::go_quote(&m.value))
}

/// Parses a list of matchers; errors name `key`.
pub(super) fn matchers(list: &[String], key: &str) -> Result<Vec<Matcher>, (String, String)> {
    list.iter()
        .map(|m| parse_matcher(m).map_err(|e| (key.to_string(), e)))
        .collect()
}

/// Checks the root route (`notify.route`) and its tree against the
/// checked receivers. The root matches every alert and names a
/// receiver; unset timers are Alertmanager's defaults.
pub(crate) fn resolve(root: &RouteToml, receivers: &[Receiver]) -> Result<Route, (String, String)> {
    if !root.matchers.is_empty() {
        return Err((
            "notify.route.matchers".into(),
            "the root route must match every alert".into(),
        ));
    }
    let defaults = Route {
        key: String::new(),
        receiver: usize::MAX,
        group_by: Some(Vec::new()),
        group_wait: Duration::from_secs(30),
        group_interval: Duration::from_secs(300),
        repeat_interval: Duration::from_secs(4 * 3600),
        matchers: Vec::new(),
        cont: false,
        routes: Vec::new(),
    };
    route(root, &defaults, receivers, "notify.route", None)
}

/// Checks route `t` (at dotted `key`) and its children, inheriting
/// what it leaves unset from `parent`.
fn route(
    t: &RouteToml,
    parent: &Route,
    receivers: &[Receiver],
    key: &str,
    parent_key: Option<&str>,
) -> Result<Route, (String, String)> {
    let dur = |v: &Option<String>, k: &str, def: Duration| match v {
        None => Ok(def),
        Some(s) => parse_duration(s).map_err(|e| (format!("{key}.{k}"), e)),
    };
    let receiver = match &t.receiver {
        Some(name) => receivers
            .iter()
            .position(|r| &r.name == name)
            .ok_or_else(|| {
                (
                    format!("{key}.receiver"),
                    format!("undefined receiver {name:?}"),
                )
            })?,
        None if parent.receiver == usize::MAX => {
            return Err((
                format!("{key}.receiver"),
                "the root route needs a receiver".into(),
            ))
        }
        None => parent.receiver,
    };
    let group_by = match &t.group_by {
        None => parent.group_by.clone(),
        Some(g) if g.iter().any(|l| l == "...") => None,
        Some(g) => Some(g.clone()),
    };
    let ms = matchers(&t.matchers, &format!("{key}.matchers"))?;
    let own = format!(
        "{{{}}}",
        ms.iter().map(matcher_text).collect::<Vec<_>>().join(",")
    );
    let rkey = match parent_key {
        Some(p) => format!("{p}/{own}"),
        None => own,
    };
    let mut r = Route {
        key: rkey.clone(),
        receiver,
        group_by,
        group_wait: dur(&t.group_wait, "group_wait", parent.group_wait)?,
        group_interval: dur(&t.group_interval, "group_interval", parent.group_interval)?,
        repeat_interval: dur(
            &t.repeat_interval,
            "repeat_interval",
            parent.repeat_interval,
        )?,
        matchers: ms,
        cont: t.cont,
        routes: Vec::new(),
    };
    if r.group_interval.is_zero() || r.repeat_interval.is_zero() {
        return Err((
            format!("{key}.group_interval"),
            "intervals must be more than 0".into(),
        ));
    }
    for (i, c) in t.routes.iter().enumerate() {
        let child = route(c, &r, receivers, &format!("{key}.routes[{i}]"), Some(&rkey))?;
        r.routes.push(child);
    }
    Ok(r)
}

impl Route {
    /// The routes that take an alert with `labels` (Alertmanager's
    /// `Match`): the deepest matching children, first match wins unless
    /// `continue`; this route if no child matches.
    pub(crate) fn matching(&self, labels: &Labels) -> Vec<&Route> {
        if !self.matchers.iter().all(|m| m.matches_labels(labels)) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for c in &self.routes {
            let m = c.matching(labels);
            if !m.is_empty() {
                out.extend(m);
                if !c.cont {
                    break;
                }
            }
        }
        if out.is_empty() {
            out.push(self);
        }
        out
    }

    /// The route with key `key` in this tree.
    pub(crate) fn find(&self, key: &str) -> Option<&Route> {
        if self.key == key {
            return Some(self);
        }
        self.routes.iter().find_map(|c| c.find(key))
    }

    /// The labels an alert is grouped by on this route.
    pub(crate) fn group_labels(&self, labels: &Labels) -> Labels {
        match &self.group_by {
            None => labels.clone(),
            Some(names) => {
                let mut g = Labels::new();
                for n in names {
                    if let Some(v) = labels.get(n) {
                        g.set(n.clone(), v);
                    }
                }
                g
            }
        }
    }
}
