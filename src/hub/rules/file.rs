//! Rule files in Prometheus's format, read unchanged: YAML `groups:` of
//! alerting and recording rules. This is the one place that reads and
//! checks them, for the hub at start and on SIGHUP and for
//! `picket-hub check-rules`, with the checks `promtool check rules` makes
//! (rulefmt's `Validate`) and errors naming file, line, group and rule.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use promql_parser::parser::Expr;
use serde::{Deserialize, Deserializer};

use super::template::Template;
use crate::promql;
use picket_core::config::parse_duration;
use picket_core::metric::{valid_label_name, valid_metric_name};

/// A rule-file error: `file:line: group "g", rule 2, "Name": reason`.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The group's name, when the error is inside one.
    pub group: Option<String>,
    /// 1-based index of the rule in its group and its name (`alert` or
    /// `record`), when the error is about one rule.
    pub rule: Option<(usize, String)>,
    /// What is wrong.
    pub msg: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        f.write_str(": ")?;
        if let Some(g) = &self.group {
            write!(f, "group {g:?}, ")?;
        }
        if let Some((i, n)) = &self.rule {
            write!(f, "rule {i}, {n:?}: ")?;
        }
        f.write_str(&self.msg)
    }
}

impl std::error::Error for RuleError {}

/// A checked group.
#[derive(Clone, Debug)]
pub struct Group {
    /// The file it came from.
    pub file: PathBuf,
    /// Its name (unique in the file).
    pub name: String,
    /// Evaluation interval (`interval`, else the global one).
    pub interval: Duration,
    /// Most series or alerts a rule may produce (0: no limit).
    pub limit: usize,
    /// The rules, in evaluation order.
    pub rules: Vec<Rule>,
}

/// A checked rule.
#[derive(Clone, Debug)]
pub struct Rule {
    /// `alert` or `record`, with what only that kind has.
    pub kind: Kind,
    /// The expression as written.
    pub expr_text: String,
    /// The parsed expression.
    pub expr: Expr,
    /// `labels`, as written (alert labels are templates).
    pub labels: Vec<(String, String)>,
}

/// What differs between alerting and recording rules.
#[derive(Clone, Debug)]
pub enum Kind {
    /// An alerting rule.
    Alert {
        /// `alert`.
        name: String,
        /// `for`.
        hold: Duration,
        /// `keep_firing_for`.
        keep_firing_for: Duration,
        /// `labels`, parsed as templates (same order as [`Rule::labels`]).
        label_templates: Vec<Template>,
        /// `annotations`: name, text and template.
        annotations: Vec<(String, String, Template)>,
    },
    /// A recording rule: `record`.
    Record {
        /// The metric name it writes.
        name: String,
    },
}

impl Rule {
    /// The rule's name (`alert` or `record`).
    pub(crate) fn name(&self) -> &str {
        match &self.kind {
            Kind::Alert { name, .. } | Kind::Record { name } => name,
        }
    }
}

/// A YAML scalar read as text, as Go's yaml decodes `map[string]string`
/// values and `expr: 1`.
#[derive(Debug, Default)]
struct Scalar(String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Scalar, D::Error> {
        use serde::de::Error;
        match serde_norway::Value::deserialize(d)? {
            serde_norway::Value::String(s) => Ok(Scalar(s)),
            serde_norway::Value::Number(n) => Ok(Scalar(n.to_string())),
            serde_norway::Value::Bool(b) => Ok(Scalar(b.to_string())),
            serde_norway::Value::Null => Ok(Scalar(String::new())),
            _ => Err(D::Error::custom("expected a string")),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileYaml {
    #[serde(default)]
    groups: Vec<GroupYaml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupYaml {
    #[serde(default)]
    name: String,
    interval: Option<String>,
    #[serde(default)]
    limit: usize,
    #[serde(default)]
    rules: Vec<RuleYaml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleYaml {
    record: Option<Scalar>,
    alert: Option<Scalar>,
    expr: Option<Scalar>,
    #[serde(rename = "for")]
    hold: Option<String>,
    keep_firing_for: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, Scalar>,
    #[serde(default)]
    annotations: BTreeMap<String, Scalar>,
}

/// Reads and checks one rule file. `default_interval` is the global
/// evaluation interval. All errors are returned, not only the first, as
/// promtool lists them.
pub fn load(path: &Path, default_interval: Duration) -> Result<Vec<Group>, Vec<RuleError>> {
    let src = std::fs::read_to_string(path).map_err(|e| {
        vec![RuleError {
            file: path.to_path_buf(),
            line: None,
            group: None,
            rule: None,
            msg: format!("cannot read: {e}"),
        }]
    })?;
    parse(path, &src, default_interval)
}

/// [`load`] for text already read.
pub(crate) fn parse(
    path: &Path,
    src: &str,
    default_interval: Duration,
) -> Result<Vec<Group>, Vec<RuleError>> {
    let file: FileYaml = match serde_norway::from_str::<Option<FileYaml>>(src) {
        Ok(f) => f.unwrap_or(FileYaml { groups: Vec::new() }),
        Err(e) => {
            return Err(vec![RuleError {
                file: path.to_path_buf(),
                line: e.location().map(|l| l.line()),
                group: None,
                rule: None,
                msg: e.to_string(),
            }])
        }
    };
    let mut errs = Vec::new();
    let mut out = Vec::new();
    let mut names = HashSet::new();
    let mut lines = Lines::new(src);
    for g in file.groups {
        let gline = lines.group(&g.name);
        let err = |line: Option<usize>, rule: Option<(usize, String)>, msg: String| RuleError {
            file: path.to_path_buf(),
            line,
            group: Some(g.name.clone()),
            rule,
            msg,
        };
        if g.name.is_empty() {
            errs.push(err(gline, None, "Groupname must not be empty".into()));
        } else if !names.insert(g.name.clone()) {
            errs.push(err(
                gline,
                None,
                format!("groupname: {:?} is repeated in the same file", g.name),
            ));
        }
        let interval = match g.interval.as_deref().map(parse_duration) {
            None => default_interval,
            Some(Ok(d)) if !d.is_zero() => d,
            Some(Ok(_)) => {
                errs.push(err(gline, None, "interval must be more than 0".into()));
                default_interval
            }
            Some(Err(e)) => {
                errs.push(err(gline, None, format!("interval: {e}")));
                default_interval
            }
        };
        let mut rules = Vec::new();
        for (i, r) in g.rules.into_iter().enumerate() {
            let name = r
                .alert
                .as_ref()
                .or(r.record.as_ref())
                .map(|s| s.0.clone())
                .unwrap_or_default();
            let line = lines
                .rule(
                    r.alert.as_ref().map(|s| s.0.as_str()),
                    r.record.as_ref().map(|s| s.0.as_str()),
                )
                .or(gline);
            match check_rule(r) {
                Ok(rule) => rules.push(rule),
                Err(msgs) => {
                    for m in msgs {
                        errs.push(err(line, Some((i + 1, name.clone())), m));
                    }
                }
            }
        }
        out.push(Group {
            file: path.to_path_buf(),
            name: g.name,
            interval,
            limit: g.limit,
            rules,
        });
    }
    if errs.is_empty() {
        Ok(out)
    } else {
        Err(errs)
    }
}

/// rulefmt's per-rule checks, then parsing of expression and templates.
fn check_rule(r: RuleYaml) -> Result<Rule, Vec<String>> {
    let mut errs = Vec::new();
    let record = r.record.map(|s| s.0).filter(|s| !s.is_empty());
    let alert = r.alert.map(|s| s.0).filter(|s| !s.is_empty());
    match (&record, &alert) {
        (Some(_), Some(_)) => errs.push("only one of 'record' and 'alert' must be set".to_string()),
        (None, None) => errs.push("one of 'record' or 'alert' must be set".to_string()),
        _ => {}
    }
    let expr_text = r.expr.map(|s| s.0).unwrap_or_default();
    let expr = if expr_text.trim().is_empty() {
        errs.push("field 'expr' must be set in rule".into());
        None
    } else {
        match promql::parse(&expr_text) {
            Ok(e) => Some(e),
            Err(e) => {
                errs.push(format!("could not parse expression: {e}"));
                None
            }
        }
    };
    let dur = |v: &Option<String>, key: &str, errs: &mut Vec<String>| match v
        .as_deref()
        .map(parse_duration)
    {
        None => Duration::ZERO,
        Some(Ok(d)) => d,
        Some(Err(e)) => {
            errs.push(format!("{key}: {e}"));
            Duration::ZERO
        }
    };
    let hold = dur(&r.hold, "for", &mut errs);
    let keep_firing_for = dur(&r.keep_firing_for, "keep_firing_for", &mut errs);
    if let Some(rec) = &record {
        if !r.annotations.is_empty() {
            errs.push("invalid field 'annotations' in recording rule".into());
        }
        if !hold.is_zero() {
            errs.push("invalid field 'for' in recording rule".into());
        }
        if !keep_firing_for.is_zero() {
            errs.push("invalid field 'keep_firing_for' in recording rule".into());
        }
        if !valid_metric_name(rec) {
            errs.push(format!("invalid recording rule name: {rec}"));
        }
    }
    for k in r.labels.keys() {
        if !valid_label_name(k) || k == "__name__" {
            errs.push(format!("invalid label name: {k}"));
        }
    }
    for k in r.annotations.keys() {
        if !valid_label_name(k) {
            errs.push(format!("invalid annotation name: {k}"));
        }
    }
    let labels: Vec<(String, String)> = r.labels.into_iter().map(|(k, v)| (k, v.0)).collect();
    let mut label_templates = Vec::new();
    let mut annotations = Vec::new();
    if let Some(a) = &alert {
        let tname = format!("__alert_{a}");
        for (k, v) in &labels {
            match Template::parse(&tname, v) {
                Ok(t) => label_templates.push(t),
                Err(e) => errs.push(format!("label {k:?}: {e}")),
            }
        }
        for (k, v) in r.annotations {
            match Template::parse(&tname, &v.0) {
                Ok(t) => annotations.push((k, v.0, t)),
                Err(e) => errs.push(format!("annotation {k:?}: {e}")),
            }
        }
    }
    let (Some(expr), true) = (expr, errs.is_empty()) else {
        return Err(errs);
    };
    let kind = match (record, alert) {
        (Some(name), None) => Kind::Record { name },
        (None, Some(name)) => Kind::Alert {
            name,
            hold,
            keep_firing_for,
            label_templates,
            annotations,
        },
        _ => return Err(errs),
    };
    Ok(Rule {
        kind,
        expr_text,
        expr,
        labels,
    })
}

/// Finds the lines of groups and rules in the source, in order, for
/// errors found after parsing (the YAML parser keeps no positions).
struct Lines<'a> {
    lines: Vec<&'a str>,
    /// Where the next search starts (0-based).
    at: usize,
}

impl<'a> Lines<'a> {
    fn new(src: &'a str) -> Lines<'a> {
        Lines {
            lines: src.lines().collect(),
            at: 0,
        }
    }

    fn find(&mut self, key: &str, value: Option<&str>) -> Option<usize> {
        for i in self.at..self.lines.len() {
            let t = self.lines[i]
                .trim_start()
                .trim_start_matches("- ")
                .trim_start();
            let Some(rest) = t.strip_prefix(key).and_then(|r| r.strip_prefix(':')) else {
                continue;
            };
            let v = rest
                .split(" #")
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches(['"', '\'']);
            if value.is_none_or(|want| want == v) {
                self.at = i + 1;
                return Some(i + 1);
            }
        }
        None
    }

    fn group(&mut self, name: &str) -> Option<usize> {
        self.find("name", Some(name))
            .or_else(|| self.find("name", None))
    }

    fn rule(&mut self, alert: Option<&str>, record: Option<&str>) -> Option<usize> {
        let at = self.at;
        let found = match (alert, record) {
            (Some(a), _) => self.find("alert", Some(a)),
            (None, Some(r)) => self.find("record", Some(r)),
            (None, None) => self.find("expr", None),
        };
        if found.is_none() {
            self.at = at;
        }
        found
    }
}

/// Expands `rule_files` patterns (relative to `base`) to files, sorted
/// per pattern, each once.
pub(crate) fn expand(patterns: &[PathBuf], base: Option<&Path>) -> Result<Vec<PathBuf>, String> {
    let mut out: Vec<PathBuf> = Vec::new();
    for p in patterns {
        let full = match base {
            Some(b) if p.is_relative() => b.join(p),
            _ => p.clone(),
        };
        let files = crate::scrape::file_sd::expand(&full)
            .map_err(|e| format!("{}: {e}", full.display()))?;
        for f in files {
            if !out.contains(&f) {
                out.push(f);
            }
        }
    }
    Ok(out)
}

/// Loads every file; all errors of all files.
pub(crate) fn load_all(
    files: &[PathBuf],
    default_interval: Duration,
) -> Result<Vec<Group>, Vec<RuleError>> {
    let mut groups = Vec::new();
    let mut errs = Vec::new();
    for f in files {
        match load(f, default_interval) {
            Ok(g) => groups.extend(g),
            Err(e) => errs.extend(e),
        }
    }
    if errs.is_empty() {
        Ok(groups)
    } else {
        Err(errs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(src: &str) -> Result<Vec<Group>, Vec<String>> {
        parse(Path::new("r.yml"), src, Duration::from_secs(60))
            .map_err(|e| e.into_iter().map(|e| e.to_string()).collect())
    }

    #[test]
    fn good_file_loads() {
        let g = check(
            "groups:\n- name: node\n  interval: 30s\n  rules:\n  - record: job:up:sum\n    expr: sum by (job) (up)\n  - alert: InstanceDown\n    expr: up == 0\n    for: 5m\n    keep_firing_for: 1m\n    labels:\n      severity: critical\n    annotations:\n      summary: \"{{ $labels.instance }} down\"\n",
        )
        .expect("valid");
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].interval, Duration::from_secs(30));
        assert_eq!(g[0].rules.len(), 2);
        assert_eq!(g[0].rules[1].name(), "InstanceDown");
        match &g[0].rules[1].kind {
            Kind::Alert {
                hold,
                keep_firing_for,
                annotations,
                ..
            } => {
                assert_eq!(*hold, Duration::from_secs(300));
                assert_eq!(*keep_firing_for, Duration::from_secs(60));
                assert_eq!(annotations[0].0, "summary");
            }
            Kind::Record { .. } => panic!("alerting rule expected"),
        }
        assert!(check("").expect("empty file is valid").is_empty());
    }

    #[test]
    fn errors_name_line_group_and_rule() {
        let e = check("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up ==\n").unwrap_err();
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("r.yml:4: group \"g\", rule 1, \"A\": could not parse expression"),
            "{e:?}"
        );
        let e = check("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n  - record: bad-name\n    expr: up\n    for: 1m\n").unwrap_err();
        assert_eq!(
            e,
            vec![
                "r.yml:6: group \"g\", rule 2, \"bad-name\": invalid field 'for' in recording rule"
                    .to_string(),
                "r.yml:6: group \"g\", rule 2, \"bad-name\": invalid recording rule name: bad-name"
                    .to_string(),
            ]
        );
        let e = check("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    annotations:\n      s: \"{{ nosuch }}\"\n").unwrap_err();
        assert!(
            e[0].contains(
                "annotation \"s\": template: __alert_A:1: function \"nosuch\" not defined"
            ),
            "{e:?}"
        );
        let e = check("groups:\n- name: g\n  rules: []\n- name: g\n  rules: []\n").unwrap_err();
        assert_eq!(
            e,
            vec!["r.yml:4: group \"g\", groupname: \"g\" is repeated in the same file".to_string()]
        );
        let e = check("groups:\n- name: g\n  rules:\n  - alert: A\n    exp: up\n").unwrap_err();
        assert!(
            e[0].starts_with("r.yml:5: ") && e[0].contains("unknown field `exp`"),
            "{e:?}"
        );
        let e = check("groups:\n- name: g\n  rules:\n  - expr: up\n").unwrap_err();
        assert!(
            e[0].contains("one of 'record' or 'alert' must be set"),
            "{e:?}"
        );
    }
}
