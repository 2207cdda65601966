//! Go's `text/template`, as Prometheus expands alert label and annotation
//! templates and as Alertmanager 0.25 renders notification templates
//! (with `html/template`'s escaping for an email's `html`, in
//! [`html`]).
//!
//! Prometheus: the preamble `$labels := .Labels`, `$value := .Value`,
//! `$externalLabels`, `$externalURL`, and Prometheus's function library
//! (`humanize`, `printf`, `query`, …). Rule files from Prometheus setups
//! carry these templates unchanged. A template that fails to parse is a
//! rule-file error (`check-rules` reports it); one that fails while
//! rendering yields Prometheus's `<error expanding template: …>` text and
//! does not fail the rule.
//!
//! Alertmanager: the notification data of [`am`] (`.Alerts.Firing`,
//! `.CommonLabels.SortedPairs`, …), Alertmanager's functions (`toUpper`,
//! `join`, `safeHtml`, …) and named templates shared by all the files of
//! `templates:` ([`Set`]).
//!
//! Both: actions and pipelines, variables (`:=`, `=`, two in `range`),
//! fields and methods with arguments, `(…).Field`, `if`/`else if`/`with`/
//! `range` (with `break`, `continue`)/`end`, `define`/`template`/`block`,
//! trim markers and comments. The number formatting is in
//! [`super::gofmt`], Go's time printing in [`gotime`]. Rendering is
//! bounded (work and template depth), so no template input can hang or
//! exhaust the hub.

use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;

mod am;
mod exec;
mod funcs;
mod gotime;
mod html;
mod parse;

use exec::Exec;
use parse::{split, Parser, PROMETHEUS_VARS};

use am::ListKind;
pub(crate) use am::{quote_meta, AmAlert, Notification};

use super::gofmt::{self, Arg as FmtArg};
use picket_core::metric::Labels;

/// Whose function library and variables a template has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lib {
    /// Prometheus's alert templates.
    Prometheus,
    /// Alertmanager 0.25's notification templates.
    Alertmanager,
}

/// The body of a named template.
type Body = Arc<Vec<Node>>;

/// A parsed template, with the templates it defines.
#[derive(Clone, Debug)]
pub struct Template {
    name: String,
    nodes: Vec<Node>,
    defs: BTreeMap<String, Body>,
    lib: Lib,
}

/// Named templates shared by several templates: Alertmanager's defaults
/// and the files of `templates:`, parsed in order, a later definition
/// replacing an earlier one (as Go's `ParseGlob` into one set does; an
/// empty one replaces nothing). Each file is also a template named by its
/// base name.
#[derive(Clone, Debug, Default)]
pub struct Set {
    defs: BTreeMap<String, Body>,
}

impl Set {
    /// Parses one file (or the defaults) named `name` into the set.
    pub(crate) fn parse(&mut self, name: &str, text: &str) -> Result<(), ParseError> {
        let t = Template::parse_with(name, text, Lib::Alertmanager)?;
        let file = Arc::new(t.nodes);
        for (n, body) in t.defs.into_iter().chain([(name.to_string(), file)]) {
            if empty(&body) && self.defs.contains_key(&n) {
                continue;
            }
            self.defs.insert(n, body);
        }
        Ok(())
    }

    /// Whether a template of this name is defined.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.defs.contains_key(name)
    }
}

/// Go's `IsEmptyTree`: nothing but white space.
fn empty(nodes: &[Node]) -> bool {
    nodes
        .iter()
        .all(|n| matches!(n, Node::Text(t) if t.trim().is_empty()))
}

#[derive(Clone, Debug)]
enum Node {
    Text(String),
    Action(Pipe),
    If(Vec<(Pipe, Vec<Node>)>, Vec<Node>),
    With(Pipe, Vec<Node>, Vec<Node>),
    Range(Pipe, Vec<Node>, Vec<Node>),
    /// `{{template "name" pipeline}}` (and a `block`'s call), its line.
    Template(String, Option<Pipe>, usize),
    Break,
    Continue,
}

#[derive(Clone, Debug)]
struct Pipe {
    /// `$x :=` / `$x =` (two in `range $i, $e :=`).
    decl: Vec<String>,
    /// `=` rather than `:=`.
    assign: bool,
    cmds: Vec<Vec<Term>>,
}

#[derive(Clone, Debug)]
enum Term {
    /// `$name.a.b`
    Var(String, Vec<String>),
    /// `.a.b` (`.` alone: no fields)
    Dot(Vec<String>),
    Str(String),
    Num(f64),
    Bool(bool),
    Nil,
    Func(String),
    Sub(Pipe),
    /// `(pipeline).a.b`
    Chain(Box<Term>, Vec<String>),
}

/// A template parse error: "template: NAME:LINE: reason".
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ParseError(pub String);

impl ParseError {
    /// The line the error is on, when it names one.
    pub(crate) fn line(&self) -> Option<usize> {
        let rest = self.0.strip_prefix("template: ")?;
        let (_, after) = rest.split_once(':')?;
        after.split(':').next()?.parse().ok()
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

/// One element of a `query` result in a template.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct QuerySample {
    /// The series' labels.
    pub labels: Labels,
    /// Its value.
    pub value: f64,
}

/// Runs `query "expr"` for a template (the rule engine's evaluator at the
/// evaluation time).
pub(crate) type QueryFn<'a> = &'a dyn Fn(&str) -> Result<Vec<QuerySample>, String>;

/// What a template sees: Prometheus's `.Labels`, `.Value`,
/// `.ExternalLabels`, `.ExternalURL`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Data {
    /// The alert's labels (the result series' labels, `__name__` included).
    pub labels: Labels,
    /// The result's value.
    pub value: f64,
    /// The hub's external labels.
    pub external_labels: Labels,
    /// The hub's external URL.
    pub external_url: String,
}

#[derive(Clone, Debug)]
enum V {
    Nil,
    Str(String),
    Num(f64),
    Int(i64),
    Bool(bool),
    /// Prometheus's label maps (`map[string]string`).
    Map(BTreeMap<String, String>),
    Data,
    Samples(Vec<QuerySample>),
    Sample(QuerySample),
    /// `template.HTML` (`safeHtml`).
    Html(String),
    /// Alertmanager's `template.KV`.
    Kv(Rc<BTreeMap<String, String>>),
    /// `template.Pair`.
    Pair(Rc<(String, String)>),
    List(Rc<Vec<V>>, ListKind),
    Alert(Rc<am::AlertV>),
    Notification(Rc<am::Root>),
    Time(gotime::Time),
}

impl V {
    fn truth(&self) -> bool {
        match self {
            V::Nil => false,
            V::Str(s) | V::Html(s) => !s.is_empty(),
            V::Num(x) => *x != 0.0,
            V::Int(i) => *i != 0,
            V::Bool(b) => *b,
            V::Map(m) => !m.is_empty(),
            V::Kv(m) => !m.is_empty(),
            V::List(l, _) => !l.is_empty(),
            V::Samples(s) => !s.is_empty(),
            V::Data | V::Sample(_) | V::Pair(_) | V::Alert(_) | V::Notification(_) | V::Time(_) => {
                true
            }
        }
    }

    fn text(&self) -> String {
        if let Some(t) = am::text(self) {
            return t;
        }
        match self {
            V::Nil => "<no value>".into(),
            V::Str(s) | V::Html(s) => s.clone(),
            V::Num(x) => gofmt::float(*x),
            V::Int(i) => i.to_string(),
            V::Bool(b) => b.to_string(),
            V::Map(m) => go_map(m),
            V::Data => "{...}".into(),
            V::Samples(s) => {
                let items: Vec<String> = s.iter().map(sample_text).collect();
                format!("[{}]", items.join(" "))
            }
            V::Sample(s) => sample_text(s),
            _ => String::new(),
        }
    }

    /// Go's type name, for errors.
    fn type_name(&self) -> &'static str {
        match self {
            V::Nil => "nil",
            V::Str(_) => "string",
            V::Num(_) => "float64",
            V::Int(_) => "int",
            V::Bool(_) => "bool",
            V::Map(_) => "map[string]string",
            V::Data => "template.tmplQueryData",
            V::Samples(_) => "template.queryResult",
            V::Sample(_) => "*template.sample",
            V::Html(_) => "template.HTML",
            V::Kv(_) => "template.KV",
            V::Pair(_) => "template.Pair",
            V::List(_, ListKind::Strings) => "[]string",
            V::List(_, ListKind::Pairs) => "template.Pairs",
            V::List(_, ListKind::Alerts) => "template.Alerts",
            V::List(_, ListKind::AlertSlice) => "[]template.Alert",
            V::Alert(_) => "template.Alert",
            V::Notification(_) => "*template.Data",
            V::Time(_) => "time.Time",
        }
    }

    fn float(&self) -> Result<f64, String> {
        match self {
            V::Num(x) => Ok(*x),
            V::Int(i) => Ok(*i as f64),
            V::Str(s) => s
                .trim()
                .parse::<f64>()
                .map_err(|_| format!("strconv.ParseFloat: parsing {s:?}: invalid syntax")),
            other => Err(format!("can't convert {} to float", other.text())),
        }
    }

    fn fmt_arg(&self) -> FmtArg {
        match self {
            V::Num(x) => FmtArg::Float(*x),
            V::Int(i) => FmtArg::Int(*i),
            V::Str(s) | V::Html(s) => FmtArg::Str(s.clone()),
            V::Bool(b) => FmtArg::Bool(*b),
            other => FmtArg::Other(other.text()),
        }
    }
}

fn sample_text(s: &QuerySample) -> String {
    let m: BTreeMap<String, String> = s
        .labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    format!("{{{} {}}}", go_map(&m), gofmt::float(s.value))
}

/// Go's `%v` of a `map[string]string`: `map[a:b c:d]`, keys sorted.
fn go_map(m: &BTreeMap<String, String>) -> String {
    let items: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    format!("map[{}]", items.join(" "))
}

fn to_map(l: &Labels) -> BTreeMap<String, String> {
    l.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

// ---------------------------------------------------------------- parsing

impl Template {
    /// Parses a Prometheus alert template; `name` is used in error
    /// messages (Prometheus names them `__alert_<AlertName>`).
    pub(crate) fn parse(name: &str, text: &str) -> Result<Template, ParseError> {
        Template::parse_with(name, text, Lib::Prometheus)
    }

    /// Parses `text` with the functions and variables of `lib`.
    pub(crate) fn parse_with(name: &str, text: &str, lib: Lib) -> Result<Template, ParseError> {
        let toks = split(name, text)?;
        let vars = match lib {
            Lib::Prometheus => PROMETHEUS_VARS.iter().map(|v| v.to_string()).collect(),
            Lib::Alertmanager => vec!["$".to_string()],
        };
        let mut p = Parser {
            name,
            toks,
            pos: 0,
            vars,
            lib,
            defs: BTreeMap::new(),
            depth: 0,
            in_range: 0,
        };
        let (nodes, end) = p.list()?;
        if let Some(e) = end {
            return Err(p.err(e.0, &format!("unexpected {{{{{}}}}}", e.1)));
        }
        Ok(Template {
            name: name.to_string(),
            nodes,
            defs: p.defs,
            lib,
        })
    }

    /// Renders with `data`; on failure, Prometheus's
    /// `<error expanding template: …>` text.
    pub(crate) fn render(&self, data: &Data, query: Option<QueryFn<'_>>) -> String {
        let mut ex = Exec::new(self, None, Some(data), query);
        ex.vars = vec![
            ("$".into(), V::Data),
            ("$labels".into(), V::Map(to_map(&data.labels))),
            ("$value".into(), V::Num(data.value)),
            (
                "$externalLabels".into(),
                V::Map(to_map(&data.external_labels)),
            ),
            ("$externalURL".into(), V::Str(data.external_url.clone())),
        ];
        match ex.nodes(&self.nodes, &V::Data) {
            Ok(_) => ex.out,
            Err(e) => format!(
                "<error expanding template: error executing template {}: template: {}: {e}>",
                self.name, self.name
            ),
        }
    }

    /// Renders a notification template with the named templates of `set`
    /// (Alertmanager's `ExecuteTextString`; `html`: its
    /// `ExecuteHTMLString`, escaping values for where they land).
    pub(crate) fn render_notification(
        &self,
        set: &Set,
        n: &Notification,
        html: bool,
    ) -> Result<String, String> {
        let mut ex = Exec::new(self, Some(set), None, None);
        if html {
            ex.html = Some(html::Ctx::default());
        }
        let root = n.root();
        ex.vars = vec![("$".into(), root.clone())];
        ex.nodes(&self.nodes, &root)
            .map_err(|e| format!("template: {}: {e}", self.name))?;
        Ok(ex.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> Data {
        Data {
            labels: Labels::from_pairs([
                ("__name__", "m"),
                ("instance", "a:9100"),
                ("job", "node"),
            ]),
            value: 123456789.0,
            external_labels: Labels::from_pairs([("site", "home")]),
            external_url: "http://hub:9090".into(),
        }
    }

    fn render(t: &str) -> String {
        Template::parse("__alert_T", t)
            .expect("parses")
            .render(&data(), None)
    }

    #[test]
    fn renders_as_promtool_does() {
        assert_eq!(render("{{ $value }}"), "1.23456789e+08");
        assert_eq!(render("{{ $value | humanize }}"), "123.5M");
        assert_eq!(render("{{ $value | printf \"%.2f\" }}"), "123456789.00");
        assert_eq!(render("{{ printf \"%.1f\" $value }}%"), "123456789.0%");
        assert_eq!(
            render("{{ $labels }}"),
            "map[__name__:m instance:a:9100 job:node]"
        );
        assert_eq!(render("{{ 90061 | humanizeDuration }}"), "1d 1h 1m 1s");
        assert_eq!(
            render("Host {{ $labels.instance }} of {{ .Labels.job }}"),
            "Host a:9100 of node"
        );
        assert_eq!(
            render("{{ $externalLabels.site }} {{ $externalURL }}"),
            "home http://hub:9090"
        );
        assert_eq!(render("{{ $labels.missing }}|"), "|");
        assert_eq!(render("{{ 0.123 | humanizePercentage }}"), "12.3%");
        assert_eq!(render("{{ $labels.instance | stripPort | toUpper }}"), "A");
    }

    /// Fuzz finding (tests/fuzz, template): `{{printf"%5555555555f"5}}`
    /// padded to its width (out of memory); Go's fmt refuses it.
    #[test]
    fn printf_with_a_crazy_width_renders_go_s_noverb() {
        assert_eq!(
            render("{{printf\"%5555555555f\"5}}"),
            "%!(NOVERB)%!(EXTRA int=5)"
        );
    }

    #[test]
    fn control_flow_trim_and_comments() {
        assert_eq!(
            render("{{ if gt $value 100.0 }}big{{ else }}small{{ end }}"),
            "big"
        );
        assert_eq!(
            render("{{ if eq $labels.job \"x\" }}x{{ else if eq $labels.job \"node\" }}n{{ end }}"),
            "n"
        );
        assert_eq!(render("a  {{- /* note */ -}}  b"), "ab");
        assert_eq!(
            render("{{ with $labels.job }}job={{ . }}{{ end }}"),
            "job=node"
        );
        assert_eq!(render("{{ $x := humanize $value }}[{{ $x }}]"), "[123.5M]");
        assert_eq!(render("{{ graphLink \"up\" }}"), "");
    }

    #[test]
    fn query_results_in_templates() {
        let q = |e: &str| -> Result<Vec<QuerySample>, String> {
            assert_eq!(e, "up");
            Ok(vec![QuerySample {
                labels: Labels::from_pairs([("instance", "b")]),
                value: 0.5,
            }])
        };
        let t = Template::parse("t", "{{ with query \"up\" }}{{ . | first | value | humanizePercentage }} {{ range . }}{{ .Labels.instance }}{{ end }}{{ end }}")
            .expect("parses");
        assert_eq!(t.render(&data(), Some(&q)), "50% b");
    }

    #[test]
    fn parse_errors_and_render_errors() {
        let e = Template::parse("__alert_X", "{{ nosuch $value }}").unwrap_err();
        assert_eq!(
            e.0,
            "template: __alert_X:1: function \"nosuch\" not defined"
        );
        let e = Template::parse("__alert_X", "a\n{{ if $value }}").unwrap_err();
        assert!(e.0.contains(":2: unexpected EOF"), "{e}");
        assert!(Template::parse("t", "{{ $nope }}").is_err());
        assert!(Template::parse("t", "{{ $value ").is_err());
        let t = Template::parse("t", "{{ first (query \"x\") }}").expect("parses");
        assert!(t
            .render(&data(), None)
            .starts_with("<error expanding template:"));
    }

    /// A notification: two firing alerts, one resolved.
    fn notification() -> Notification {
        let kv = |p: &[(&str, &str)]| -> BTreeMap<String, String> {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let alert = |status: &str, inst: &str, ends: Option<i64>| AmAlert {
            status: status.into(),
            labels: kv(&[
                ("alertname", "HostDown"),
                ("instance", inst),
                ("job", "node"),
                ("a_first", "x"),
            ]),
            annotations: kv(&[("summary", &format!("{inst} is down"))]),
            starts_at: 1_435_065_584_128,
            ends_at: ends,
            generator_url: "http://hub:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1".into(),
            fingerprint: "0123456789abcdef".into(),
        };
        Notification {
            receiver: quote_meta("ops.team"),
            status: "firing".into(),
            alerts: vec![
                alert("firing", "a", None),
                alert("firing", "b", None),
                alert("resolved", "c", Some(1_435_065_600_000)),
            ],
            group_labels: kv(&[("alertname", "HostDown")]),
            common_labels: kv(&[("alertname", "HostDown"), ("job", "node"), ("a_first", "x")]),
            common_annotations: BTreeMap::new(),
            external_url: "http://am:9093".into(),
        }
    }

    fn am(set: &Set, text: &str) -> Result<String, String> {
        let t = Template::parse_with("", text, Lib::Alertmanager).map_err(|e| e.0)?;
        t.render_notification(set, &notification(), false)
    }

    fn am_html(text: &str) -> String {
        let t = Template::parse_with("", text, Lib::Alertmanager).expect("parses");
        t.render_notification(&Set::default(), &notification(), true)
            .expect("renders")
    }

    #[test]
    fn kv_methods_and_notification_data() {
        let s = Set::default();
        let r = |t: &str| am(&s, t).expect(t);
        // SortedPairs: alertname first, then by name.
        assert_eq!(
            r("{{ range .CommonLabels.SortedPairs }}{{ .Name }}={{ .Value }};{{ end }}"),
            "alertname=HostDown;a_first=x;job=node;"
        );
        assert_eq!(r("{{ .CommonLabels.Names }}"), "[alertname a_first job]");
        assert_eq!(
            r("{{ .CommonLabels.Values | join \",\" }}"),
            "HostDown,x,node"
        );
        assert_eq!(
            r("{{ (.CommonLabels.Remove .GroupLabels.Names).Values | join \" \" }}"),
            "x node"
        );
        assert_eq!(
            r("{{ .GroupLabels.Names | .CommonLabels.Remove }}"),
            "map[a_first:x job:node]"
        );
        assert_eq!(
            r("{{ .CommonLabels.SortedPairs }}"),
            "[{alertname HostDown} {a_first x} {job node}]"
        );
        assert_eq!(
            r("{{ .CommonLabels.missing }}|{{ .CommonLabels.job }}"),
            "|node"
        );
        assert_eq!(
            r("{{ len .Alerts }} {{ len .Alerts.Firing }} {{ .Alerts.Resolved | len }}"),
            "3 2 1"
        );
        assert_eq!(
            r("{{ range .Alerts.Firing }}{{ .Labels.instance }}{{ end }}"),
            "ab"
        );
        assert_eq!(
            r("{{ .Receiver }} {{ .Status }} {{ .ExternalURL }}"),
            "ops\\.team firing http://am:9093"
        );
        assert_eq!(
            r("{{ with index .Alerts 2 }}{{ .StartsAt }}|{{ .EndsAt }}|{{ .Fingerprint }}{{ end }}"),
            "2015-06-23 13:19:44.128 +0000 UTC|2015-06-23 13:20:00 +0000 UTC|0123456789abcdef"
        );
        assert_eq!(
            r("{{ (index .Alerts 0).EndsAt }} {{ (index .Alerts 0).StartsAt.Format \"15:04 Jan 2\" }} {{ (index .Alerts 0).EndsAt.IsZero }}"),
            "0001-01-01 00:00:00 +0000 UTC 13:19 Jun 23 true"
        );
        assert_eq!(
            r("{{ range $k, $v := (index .Alerts 0).Labels }}{{ $k }}:{{ $v }} {{ end }}"),
            "a_first:x alertname:HostDown instance:a job:node "
        );
        assert_eq!(
            r("{{ range $i, $a := .Alerts }}{{ if eq $i 1 }}{{ continue }}{{ end }}{{ if ge $i 2 }}{{ break }}{{ end }}{{ $i }}{{ $a.Status }}{{ end }}"),
            "0firing"
        );
        assert_eq!(
            r("{{ $n := 0 }}{{ range .Alerts }}{{ $n = 7 }}{{ end }}{{ $n }}"),
            "7"
        );
        assert!(am(&s, "{{ .Alerts.Firing.Firing }}").is_err());
        assert!(am(&s, "{{ .Nope }}")
            .unwrap_err()
            .contains("can't evaluate field Nope"));
    }

    #[test]
    fn alertmanager_functions() {
        let s = Set::default();
        let r = |t: &str| am(&s, t).expect(t);
        assert_eq!(
            r("{{ \"hELLO wORLD o'neil foo_bar 1st\" | title }}"),
            "Hello World O'neil Foo_bar 1st"
        );
        assert_eq!(
            r("{{ toUpper \"straße\" }} {{ toLower \"ABC\" }}"),
            "STRAßE abc"
        );
        assert_eq!(r("{{ stringSlice \"a\" \"b\" | join \"-\" }}"), "a-b");
        assert_eq!(
            r("{{ reReplaceAll \"(\\\\w+):(\\\\d+)\" \"$1\" \"pi4:9100\" }}"),
            "pi4"
        );
        assert_eq!(
            r("{{ if match \"^Host\" .GroupLabels.alertname }}y{{ end }}"),
            "y"
        );
        assert_eq!(
            r("{{ html \"<a&b>\" }} {{ js \"it's\" }} {{ urlquery \"a b\" }}"),
            "&lt;a&amp;b&gt; it\\'s a+b"
        );
        assert_eq!(
            r("{{ printf \"%d/%s\" (len .Alerts) .Status }}"),
            "3/firing"
        );
        assert_eq!(r("{{ eq .Status \"resolved\" \"firing\" }} {{ and 1 0 }} {{ or 0 \"x\" }} {{ not true }}"), "true 0 x false");
        assert_eq!(
            r("{{ slice \"abcdef\" 1 3 }} {{ len (slice .Alerts 1) }}"),
            "bc 2"
        );
        // Prometheus's functions are not Alertmanager's.
        let e =
            Template::parse_with("t.tmpl", "x\n{{ humanize 1 }}", Lib::Alertmanager).unwrap_err();
        assert_eq!(e.0, "template: t.tmpl:2: function \"humanize\" not defined");
        assert_eq!(e.line(), Some(2));
        assert!(am(&s, "{{ reReplaceAll \"(\" \"\" \"x\" }}").is_err());
    }

    #[test]
    fn define_template_and_block() {
        let mut set = Set::default();
        set.parse(
            "defaults",
            "{{ define \"__subject\" }}[{{ .Status | toUpper }}] {{ .GroupLabels.SortedPairs.Values | join \" \" }}{{ end }}\n{{ define \"list\" }}{{ range . }}{{ .Labels.instance }} {{ end }}{{ end }}",
        )
        .expect("defaults");
        assert_eq!(
            am(&set, "{{ template \"__subject\" . }}").unwrap(),
            "[FIRING] HostDown"
        );
        assert_eq!(
            am(&set, "{{ template \"list\" .Alerts.Firing }}").unwrap(),
            "a b "
        );
        // A later file replaces a definition; an empty one does not.
        set.parse(
            "site.tmpl",
            "{{ define \"__subject\" }}site {{ .Status }}{{ end }}{{ define \"list\" }} {{ end }}",
        )
        .expect("site");
        assert_eq!(
            am(&set, "{{ template \"__subject\" . }}").unwrap(),
            "site firing"
        );
        assert_eq!(
            am(&set, "{{ template \"list\" .Alerts }}").unwrap(),
            "a b c "
        );
        assert!(set.has("site.tmpl") && set.has("defaults"));
        // An empty one does not hide the set's.
        assert_eq!(
            am(
                &set,
                "{{ define \"__subject\" }} {{ end }}{{ template \"__subject\" . }}"
            )
            .unwrap(),
            "site firing"
        );
        // The text's own definitions win, also for templates it calls.
        assert_eq!(
            am(
                &set,
                "{{ define \"__subject\" }}own{{ end }}{{ template \"__subject\" . }}"
            )
            .unwrap(),
            "own"
        );
        // block: defines and calls; a set definition does not replace it
        // (the text's own wins), but is used elsewhere.
        assert_eq!(
            am(&set, "<{{ block \"b\" .Status }}{{ . }}{{ end }}>").unwrap(),
            "<firing>"
        );
        // Variables do not cross into a called template; $ is its dot.
        let e = Template::parse_with(
            "",
            "{{ $x := 1 }}{{ define \"d\" }}{{ $x }}{{ end }}",
            Lib::Alertmanager,
        )
        .unwrap_err();
        assert!(e.0.contains("undefined variable \"$x\""), "{e}");
        assert_eq!(
            am(
                &set,
                "{{ define \"d\" }}{{ $.Status }}{{ end }}{{ template \"d\" (index .Alerts 2) }}"
            )
            .unwrap(),
            "resolved"
        );
        // No pipeline: dot is nil.
        assert_eq!(
            am(
                &set,
                "{{ define \"d\" }}[{{ . }}]{{ end }}{{ template \"d\" }}"
            )
            .unwrap(),
            "[<no value>]"
        );
        // Errors: unknown template, duplicate, define not at top level,
        // endless recursion.
        assert!(am(&set, "{{ template \"nope\" . }}")
            .unwrap_err()
            .contains("template \"nope\" not defined"));
        assert!(Template::parse_with(
            "",
            "{{ define \"a\" }}x{{ end }}{{ define \"a\" }}y{{ end }}",
            Lib::Alertmanager
        )
        .unwrap_err()
        .0
        .contains("multiple definition"));
        assert!(Template::parse_with(
            "",
            "{{ if 1 }}{{ define \"a\" }}x{{ end }}{{ end }}",
            Lib::Alertmanager
        )
        .is_err());
        assert!(Template::parse_with("", "{{ break }}", Lib::Alertmanager).is_err());
        let e = am(
            &set,
            "{{ define \"r\" }}x{{ template \"r\" . }}{{ end }}{{ template \"r\" . }}",
        )
        .unwrap_err();
        assert!(e.contains("exceeded maximum template depth"), "{e}");
        let e = am(&set, "{{ define \"r\" }}{{ template \"r\" . }}{{ template \"r\" . }}{{ end }}{{ template \"r\" . }}").unwrap_err();
        assert!(
            e.contains("maximum template depth") || e.contains("too much work"),
            "{e}"
        );
    }

    #[test]
    fn html_values_are_escaped_for_their_place() {
        assert_eq!(
            am_html("<p title=\"{{ .Receiver }}\">{{ \"<b>&\" }}{{ safeHtml \"<i>ok</i>\" }}</p>"),
            "<p title=\"ops\\.team\">&lt;b&gt;&amp;<i>ok</i></p>"
        );
        assert_eq!(
            am_html("<a href=\"{{ (index .Alerts 0).GeneratorURL }}\">x</a>"),
            "<a href=\"http://hub:9090/graph?g0.expr=up&#43;%3D%3D&#43;0&amp;g0.tab=1\">x</a>"
        );
        assert_eq!(
            am_html("<a href=\"{{ .ExternalURL }}/#/alerts?receiver={{ .Receiver | urlquery }}\">"),
            "<a href=\"http://am:9093/#/alerts?receiver=ops%5C.team\">"
        );
        assert_eq!(
            am_html("<a href=\"{{ \"javascript:x()\" }}\">"),
            "<a href=\"#ZgotmplZ\">"
        );
        assert_eq!(am_html("<!-- gone -->a < b {{ 1 }}"), "a &lt; b 1");
        assert_eq!(am_html("{{ \"<x>\" | html }}"), "&lt;x&gt;");
        assert_eq!(
            am_html("<td style=\"color: {{ \"red\" }}\">"),
            "<td style=\"color: red\">"
        );
        assert_eq!(
            am_html("<script>var s = {{ .Status }};</script>"),
            "<script>var s = \"firing\";</script>"
        );
        assert_eq!(
            am_html("<title>{{ \"a<b\" }}</title>"),
            "<title>a&lt;b</title>"
        );
        // Text templates leave values alone.
        assert_eq!(am(&Set::default(), "{{ \"<b>\" }}").unwrap(), "<b>");
    }
}
