//! Alertmanager's routing tree (dispatch/route.go) for direct
//! notifications: a route as written (`receiver`, `routes`, `matchers`,
//! the deprecated `match` and `match_re`, `group_by`, `group_wait`,
//! `group_interval`, `repeat_interval`, `continue`,
//! `mute_time_intervals`, `active_time_intervals`) and checked as
//! Alertmanager 0.25 checks it, each route's key
//! (`{}/{severity="critical"}`), and the matching that picks the routes,
//! receiver and grouping labels of an alert. Alertmanager matchers
//! (`name=~"re"`, and lists of them: `{a="b", c!~"d"}`) are parsed here
//! for routes, inhibition rules and silences alike, as 0.25's
//! `pkg/labels` parses them.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::config::Receiver;
use crate::store::{Matcher, Op};
use picket_core::config::parse_duration;
use picket_core::metric::{valid_label_name, Labels};

/// A route as written; unset options are inherited from the parent.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RouteToml {
    /// Receiver name.
    pub receiver: Option<String>,
    /// Labels to group by (`["..."]`: every label; empty or unset: the
    /// parent's).
    pub group_by: Option<Vec<String>>,
    /// Wait before the first notification of a new group ("30s").
    pub group_wait: Option<String>,
    /// Wait between notifications of a changed group ("5m").
    pub group_interval: Option<String>,
    /// Wait before repeating an unchanged group ("4h").
    pub repeat_interval: Option<String>,
    /// Deprecated equality matchers (`match: {severity: critical}`).
    #[serde(rename = "match")]
    pub match_eq: BTreeMap<String, String>,
    /// Deprecated regex matchers (`match_re: {job: "node|pg"}`).
    pub match_re: BTreeMap<String, String>,
    /// Alertmanager matchers, e.g. `severity="critical"`, `job=~"node|pg"`.
    pub matchers: Vec<String>,
    /// Time intervals (by name) in which this route notifies nothing.
    pub mute_time_intervals: Vec<String>,
    /// Time intervals (by name) outside of which this route notifies
    /// nothing (none: always).
    pub active_time_intervals: Vec<String>,
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
    /// See [`RouteToml::mute_time_intervals`] (not inherited, as in
    /// Alertmanager).
    pub mute_time_intervals: Vec<String>,
    /// See [`RouteToml::active_time_intervals`] (not inherited).
    pub active_time_intervals: Vec<String>,
    matchers: Vec<Matcher>,
    cont: bool,
    routes: Vec<Route>,
}

/// Whether `c` is Go's `\s` (what 0.25's matcher grammar skips).
fn go_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c')
}

/// Parses one Alertmanager matcher as 0.25's `labels.ParseMatcher`: a
/// label name, `=`, `!=`, `=~` or `!~`, and a value, optionally in double
/// quotes, with OpenMetrics escapes (`\"`, `\n`, `\\`; any other
/// backslash is literal); whitespace around each part is dropped.
pub(crate) fn parse_matcher(s: &str) -> Result<Matcher, String> {
    let bad = || format!("bad matcher format: {s}");
    let t = s.trim_start_matches(go_space);
    let name_len = t
        .char_indices()
        .find(|&(i, c)| {
            !(c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit()))
        })
        .map_or(t.len(), |(i, _)| i);
    if name_len == 0 {
        return Err(bad());
    }
    let name = &t[..name_len];
    let rest = t[name_len..].trim_start_matches(go_space);
    let (op, len) = if rest.starts_with("=~") {
        (Op::Re, 2)
    } else if rest.starts_with('=') {
        (Op::Eq, 1)
    } else if rest.starts_with("!=") {
        (Op::Ne, 2)
    } else if rest.starts_with("!~") {
        (Op::Nre, 2)
    } else {
        return Err(bad());
    };
    let raw_all = rest[len..].trim_matches(go_space);
    let (raw, mut want_quote) = match raw_all.strip_prefix('"') {
        Some(r) => (r, true),
        None => (raw_all, false),
    };
    let mut value = String::new();
    let mut escaped = false;
    for (i, c) in raw.char_indices() {
        if escaped {
            escaped = false;
            match c {
                'n' => value.push('\n'),
                '"' | '\\' => value.push(c),
                _ => {
                    value.push('\\');
                    value.push(c);
                }
            }
            continue;
        }
        match c {
            '\\' if i + 1 < raw.len() => escaped = true,
            '"' if want_quote && i + 1 == raw.len() => want_quote = false,
            '"' => {
                return Err(format!(
                    "matcher value contains unescaped double quote: {raw_all}"
                ))
            }
            _ => value.push(c),
        }
    }
    if want_quote {
        return Err(format!(
            "matcher value contains unescaped double quote: {raw_all}"
        ));
    }
    Matcher::new(name, op, &value).map_err(|e| format!("{s:?}: {e}"))
}

/// Parses a list of matchers in one string as 0.25's
/// `labels.ParseMatchers`: optional braces, commas outside double quotes
/// between the matchers, a trailing comma allowed (`{a="b", c!~"d",}`).
pub(crate) fn parse_matchers(s: &str) -> Result<Vec<Matcher>, String> {
    let s = s.strip_prefix('{').unwrap_or(s);
    let s = s.strip_suffix('}').unwrap_or(s);
    let (mut quoted, mut escaped) = (false, false);
    let mut tokens = Vec::new();
    let mut token = String::new();
    for c in s.chars() {
        match c {
            ',' if !quoted => {
                tokens.push(std::mem::take(&mut token));
                continue;
            }
            ',' => {}
            '"' if escaped => escaped = false,
            '"' => quoted = !quoted,
            '\\' => escaped = !escaped,
            _ => escaped = false,
        }
        token.push(c);
    }
    let last = token.trim_matches(go_space);
    if !last.is_empty() {
        tokens.push(last.to_string());
    }
    tokens.iter().map(|t| parse_matcher(t)).collect()
}

/// A matcher as Alertmanager prints it in route keys: the value in
/// double quotes with OpenMetrics escaping (`\\`, `\n`, `\"`).
fn matcher_text(m: &Matcher) -> String {
    let op = match m.op {
        Op::Eq => "=",
        Op::Ne => "!=",
        Op::Re => "=~",
        Op::Nre => "!~",
    };
    let v = m
        .value
        .replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('"', "\\\"");
    format!("{}{op}\"{v}\"", m.name)
}

/// Alertmanager's order of matchers (`labels.Matchers.Less`): by name,
/// then value, then `=`, `!=`, `=~`, `!~`.
fn sort_matchers(ms: &mut [Matcher]) {
    let rank = |op: Op| match op {
        Op::Eq => 0,
        Op::Ne => 1,
        Op::Re => 2,
        Op::Nre => 3,
    };
    ms.sort_by(|a, b| {
        (a.name.as_str(), a.value.as_str(), rank(a.op)).cmp(&(
            b.name.as_str(),
            b.value.as_str(),
            rank(b.op),
        ))
    });
}

/// The matchers of the deprecated `match` (equality) and `match_re`
/// (regex) maps and of the `matchers` list, at dotted `key` (`route`,
/// `inhibit_rules[0].source`) as Alertmanager 0.25 builds them: a
/// `match_re` value becomes the anchored `^(?:re)$` (what its route keys
/// show), label names are checked, and the result is sorted.
pub(super) fn all_matchers(
    eq: &BTreeMap<String, String>,
    re: &BTreeMap<String, String>,
    list: &[String],
    keys: [&str; 3],
) -> Result<Vec<Matcher>, (String, String)> {
    let mut out = Vec::new();
    for (k, v) in eq {
        if !valid_label_name(k) {
            return Err((keys[0].into(), format!("invalid label name {k:?}")));
        }
        out.push(Matcher::eq(k, v));
    }
    for (k, v) in re {
        if !valid_label_name(k) {
            return Err((keys[1].into(), format!("invalid label name {k:?}")));
        }
        let m = Matcher::new(k, Op::Re, &format!("^(?:{v})$"))
            .map_err(|e| (format!("{}.{k}", keys[1]), e))?;
        out.push(m);
    }
    for (i, m) in list.iter().enumerate() {
        out.extend(parse_matchers(m).map_err(|e| (format!("{}[{i}]", keys[2]), e))?);
    }
    sort_matchers(&mut out);
    Ok(out)
}

/// Whether a duration's units come in the order Alertmanager's
/// `model.ParseDuration` takes them (`1h30m`, not `30m1h`), each once.
pub(super) fn units_in_order(s: &str) -> bool {
    const UNITS: [&str; 7] = ["y", "w", "d", "h", "m", "s", "ms"];
    let mut last = None;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let unit_len = rest[digits..]
            .bytes()
            .take_while(u8::is_ascii_alphabetic)
            .count();
        let unit = &rest[digits..digits + unit_len];
        let Some(rank) = UNITS.iter().position(|u| *u == unit) else {
            // Not a unit: parse_duration says what is wrong ("0" is fine).
            return true;
        };
        if last.is_some_and(|l| l >= rank) {
            return false;
        }
        last = Some(rank);
        rest = &rest[digits + unit_len..];
    }
    true
}

/// Checks the root route (`notify.route`) and its tree against the
/// checked receivers and the names of the time intervals. The root
/// matches every alert, names a receiver, and has no `continue` and no
/// time intervals; unset timers are Alertmanager's defaults.
pub(crate) fn resolve(
    root: &RouteToml,
    receivers: &[Receiver],
    intervals: &dyn Fn(&str) -> bool,
) -> Result<Route, (String, String)> {
    let k = "notify.route";
    let rooted = |what: &str, msg: &str| Err((format!("{k}.{what}"), msg.to_string()));
    if !root.match_eq.is_empty() {
        return rooted("match", "root route must not have any matchers");
    }
    if !root.match_re.is_empty() {
        return rooted("match_re", "root route must not have any matchers");
    }
    if !root.matchers.is_empty() {
        return rooted("matchers", "root route must not have any matchers");
    }
    if !root.mute_time_intervals.is_empty() {
        return rooted(
            "mute_time_intervals",
            "root route must not have any mute time intervals",
        );
    }
    if !root.active_time_intervals.is_empty() {
        return rooted(
            "active_time_intervals",
            "root route must not have any active time intervals",
        );
    }
    if root.cont {
        return rooted("continue", "cannot have continue in root route");
    }
    let defaults = Route {
        key: String::new(),
        receiver: usize::MAX,
        group_by: Some(Vec::new()),
        group_wait: Duration::from_secs(30),
        group_interval: Duration::from_secs(300),
        repeat_interval: Duration::from_secs(4 * 3600),
        mute_time_intervals: Vec::new(),
        active_time_intervals: Vec::new(),
        matchers: Vec::new(),
        cont: false,
        routes: Vec::new(),
    };
    route(root, &defaults, receivers, intervals, k, None)
}

/// A route's `group_by` as Alertmanager 0.25 reads it: `Ok(None)` to
/// inherit (unset or empty), `Ok(Some(None))` for every label (`...`),
/// else the labels.
#[allow(clippy::type_complexity)]
fn group_by(g: &Option<Vec<String>>) -> Result<Option<Option<Vec<String>>>, String> {
    let Some(g) = g else {
        return Ok(None);
    };
    let all = g.iter().any(|l| l == "...");
    let names: Vec<String> = g.iter().filter(|l| *l != "...").cloned().collect();
    if all && !names.is_empty() {
        return Err(
            "cannot have wildcard group_by (`...`) and other other labels at the same time".into(),
        );
    }
    for (i, n) in names.iter().enumerate() {
        if !valid_label_name(n) {
            return Err(format!("invalid label name {n:?} in group_by list"));
        }
        if names[..i].contains(n) {
            return Err(format!("duplicated label {n:?} in group_by"));
        }
    }
    Ok(match (all, names.is_empty()) {
        (true, _) => Some(None),
        (false, true) => None,
        (false, false) => Some(Some(names)),
    })
}

/// Checks route `t` (at dotted `key`) and its children, inheriting
/// what it leaves unset from `parent`.
fn route(
    t: &RouteToml,
    parent: &Route,
    receivers: &[Receiver],
    intervals: &dyn Fn(&str) -> bool,
    key: &str,
    parent_key: Option<&str>,
) -> Result<Route, (String, String)> {
    let dur = |v: &Option<String>, k: &str, def: Duration| match v {
        None => Ok(def),
        Some(s) if !units_in_order(s) => Err((
            format!("{key}.{k}"),
            format!("not a valid duration string: {s:?}"),
        )),
        Some(s) => parse_duration(s).map_err(|e| (format!("{key}.{k}"), e)),
    };
    let receiver = match &t.receiver {
        Some(name) if !name.is_empty() => receivers
            .iter()
            .position(|r| &r.name == name)
            .ok_or_else(|| {
                (
                    format!("{key}.receiver"),
                    format!("undefined receiver {name:?} used in route"),
                )
            })?,
        _ if parent.receiver == usize::MAX => {
            return Err((
                format!("{key}.receiver"),
                "root route must specify a default receiver".into(),
            ))
        }
        _ => parent.receiver,
    };
    let group_by = group_by(&t.group_by)
        .map_err(|e| (format!("{key}.group_by"), e))?
        .unwrap_or_else(|| parent.group_by.clone());
    let ms = all_matchers(
        &t.match_eq,
        &t.match_re,
        &t.matchers,
        [
            &format!("{key}.match"),
            &format!("{key}.match_re"),
            &format!("{key}.matchers"),
        ],
    )?;
    for (what, names) in [
        ("mute_time_intervals", &t.mute_time_intervals),
        ("active_time_intervals", &t.active_time_intervals),
    ] {
        if let Some((i, n)) = names.iter().enumerate().find(|(_, n)| !intervals(n)) {
            return Err((
                format!("{key}.{what}[{i}]"),
                format!("undefined time interval {n:?} used in route"),
            ));
        }
    }
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
        mute_time_intervals: t.mute_time_intervals.clone(),
        active_time_intervals: t.active_time_intervals.clone(),
        matchers: ms,
        cont: t.cont,
        routes: Vec::new(),
    };
    if r.group_interval.is_zero() {
        return Err((
            format!("{key}.group_interval"),
            "group_interval cannot be zero".into(),
        ));
    }
    if r.repeat_interval.is_zero() {
        return Err((
            format!("{key}.repeat_interval"),
            "repeat_interval cannot be zero".into(),
        ));
    }
    for (i, c) in t.routes.iter().enumerate() {
        let child = route(
            c,
            &r,
            receivers,
            intervals,
            &format!("{key}.routes[{i}]"),
            Some(&rkey),
        )?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(s: &str) -> Vec<String> {
        parse_matchers(s)
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .iter()
            .map(matcher_text)
            .collect()
    }

    /// The examples of 0.25's `ParseMatchers` and its escaping rules.
    #[test]
    fn matchers_parse_as_alertmanager_0_25() {
        assert_eq!(
            texts("{foo = \"bar\", dings != \"bums\", }"),
            ["foo=\"bar\"", "dings!=\"bums\""]
        );
        assert_eq!(
            texts("foo=bar,dings!=bums"),
            ["foo=\"bar\"", "dings!=\"bums\""]
        );
        assert_eq!(
            texts(r#"{quote="She said: \"Hi, ladies! That's gender-neutral…\""}"#),
            [r#"quote="She said: \"Hi, ladies! That's gender-neutral…\"""#]
        );
        assert_eq!(texts("statuscode=~\"5..\""), ["statuscode=~\"5..\""]);
        assert_eq!(texts("foo="), ["foo=\"\""]);
        assert_eq!(texts("a:b=c"), ["a:b=\"c\""]);
        // \n is a line feed, \\ a backslash, any other backslash literal.
        let m = parse_matcher(r#"x="a\nb\\c\qd""#).unwrap();
        assert_eq!(m.value, "a\nb\\c\\qd");
        assert_eq!(matcher_text(&m), r#"x="a\nb\\c\\qd""#);
        assert_eq!(parse_matcher(r"x=a\").unwrap().value, "a\\");
        assert!(
            units_in_order("1h30m") && units_in_order("0") && units_in_order("1y2w3d4h5m6s7ms")
        );
        assert!(!units_in_order("30s1m") && !units_in_order("1m1m"));
        for (bad, msg) in [
            ("foo=\"bar", "unescaped double quote"),
            ("foo=b\"ar", "unescaped double quote"),
            ("\"foo\"=bar", "bad matcher format"),
            ("foo bar=baz", "bad matcher format"),
            ("foo", "bad matcher format"),
            ("a=b,,c=d", "bad matcher format"),
            ("job=~\"(\"", "invalid regular expression"),
        ] {
            let e = parse_matchers(bad).unwrap_err();
            assert!(e.contains(msg), "{bad}: {e}");
        }
    }

    fn tree(toml_src: &str) -> Route {
        #[derive(Deserialize)]
        struct T {
            route: RouteToml,
        }
        let t: T = toml::from_str(toml_src).expect("toml");
        let rs: Vec<Receiver> = ["a", "b"]
            .iter()
            .map(|n| Receiver {
                name: n.to_string(),
                webhooks: Vec::new(),
                emails: Vec::new(),
                mqtts: Vec::new(),
            })
            .collect();
        resolve(&t.route, &rs, &|n| n == "nights").expect("valid")
    }

    /// Keys sort their matchers (match, match_re with its anchors, and
    /// matchers alike); an empty group_by inherits; `...` groups by all;
    /// time intervals are not inherited.
    #[test]
    fn keys_group_by_and_intervals_as_alertmanager() {
        let r = tree(
            "[route]\nreceiver = \"a\"\ngroup_by = [\"alertname\"]\n[[route.routes]]\nmatch = { severity = \"critical\" }\nmatch_re = { job = \"node\" }\nmatchers = ['alertname=~\"A|B\"']\ngroup_by = []\nmute_time_intervals = [\"nights\"]\n[[route.routes.routes]]\nmatchers = ['instance!=\"\"']\ngroup_by = [\"...\"]\nreceiver = \"b\"\n",
        );
        let l = Labels::from_pairs([
            ("alertname", "A"),
            ("instance", "i"),
            ("job", "node"),
            ("severity", "critical"),
        ]);
        let m = r.matching(&l);
        assert_eq!(
            m[0].key,
            "{}/{alertname=~\"A|B\",job=~\"^(?:node)$\",severity=\"critical\"}/{instance!=\"\"}"
        );
        assert_eq!(m[0].group_by, None);
        assert!(m[0].mute_time_intervals.is_empty());
        let parent = &r.routes[0];
        assert_eq!(parent.group_by, Some(vec!["alertname".to_string()]));
        assert_eq!(parent.mute_time_intervals, ["nights"]);
        let mut l2 = l.clone();
        l2.set("instance", "");
        assert_eq!(r.matching(&l2)[0].key, parent.key);
    }
}
