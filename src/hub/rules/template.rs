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
mod funcs;
mod gotime;
mod html;

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

struct Tok {
    line: usize,
    kind: TokKind,
}

#[derive(Clone, Debug, PartialEq)]
enum TokKind {
    Text(String),
    /// The words of one `{{ … }}` action, already lexed.
    Action(Vec<Word>),
}

#[derive(Clone, Debug, PartialEq)]
enum Word {
    Ident(String),
    Var(String, Vec<String>),
    Field(Vec<String>),
    /// Fields right after a `)`: `(…).a.b`.
    Chain(Vec<String>),
    Str(String),
    Num(f64),
    Pipe,
    Open,
    Close,
    Declare,
    Assign,
    Comma,
}

/// Variables a Prometheus template starts with (its preamble).
const PROMETHEUS_VARS: [&str; 5] = ["$", "$labels", "$value", "$externalLabels", "$externalURL"];

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

/// Splits text and actions, applying trim markers and dropping comments.
fn split(name: &str, text: &str) -> Result<Vec<Tok>, ParseError> {
    let mut toks = Vec::new();
    let mut rest = text;
    let mut line = 1;
    let mut trim_next = false;
    while !rest.is_empty() {
        let (mut lit, after) = match rest.find("{{") {
            Some(i) => (&rest[..i], Some(&rest[i + 2..])),
            None => (rest, None),
        };
        if trim_next {
            lit = lit.trim_start();
        }
        let Some(after) = after else {
            if !lit.is_empty() {
                toks.push(Tok {
                    line,
                    kind: TokKind::Text(lit.to_string()),
                });
            }
            break;
        };
        let trim_left =
            after.starts_with("- ") || after.starts_with("-\t") || after.starts_with("-\n");
        let lit_out = if trim_left { lit.trim_end() } else { lit };
        if !lit_out.is_empty() {
            toks.push(Tok {
                line,
                kind: TokKind::Text(lit_out.to_string()),
            });
        }
        line += lit.matches('\n').count();
        let body_start = if trim_left { &after[1..] } else { after };
        let close = find_close(body_start)
            .ok_or_else(|| ParseError(format!("template: {name}:{line}: unclosed action")))?;
        let mut body = &body_start[..close];
        trim_next = false;
        if body.ends_with(" -") || body.ends_with("\t-") || body.ends_with("\n-") {
            body = &body[..body.len() - 1];
            trim_next = true;
        }
        let b = body.trim();
        if !(b.starts_with("/*") && b.ends_with("*/")) {
            let words = lex(b).map_err(|e| ParseError(format!("template: {name}:{line}: {e}")))?;
            toks.push(Tok {
                line,
                kind: TokKind::Action(words),
            });
        }
        line += body.matches('\n').count();
        rest = &body_start[close + 2..];
    }
    Ok(toks)
}

/// The index of the `}}` that ends an action, skipping quoted strings.
fn find_close(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < b.len() {
        match quote {
            Some(q) => {
                if b[i] == b'\\' && q == b'"' {
                    i += 1;
                } else if b[i] == q {
                    quote = None;
                }
            }
            None => {
                if b[i] == b'"' || b[i] == b'`' {
                    quote = Some(b[i]);
                } else if b[i] == b'}' && b.get(i + 1) == Some(&b'}') {
                    return Some(i);
                }
            }
        }
        i += 1;
    }
    None
}

fn lex(s: &str) -> Result<Vec<Word>, String> {
    let mut out = Vec::new();
    let c: Vec<char> = s.chars().collect();
    let mut i = 0;
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '|' {
            out.push(Word::Pipe);
            i += 1;
        } else if ch == '(' {
            out.push(Word::Open);
            i += 1;
        } else if ch == ')' {
            out.push(Word::Close);
            i += 1;
        } else if ch == ',' {
            out.push(Word::Comma);
            i += 1;
        } else if ch == ':' && c.get(i + 1) == Some(&'=') {
            out.push(Word::Declare);
            i += 2;
        } else if ch == '=' {
            out.push(Word::Assign);
            i += 1;
        } else if ch == '"' {
            let (v, next) = quoted(&c, i + 1)?;
            out.push(Word::Str(v));
            i = next;
        } else if ch == '`' {
            let start = i + 1;
            let end = c[start..]
                .iter()
                .position(|&x| x == '`')
                .ok_or("unterminated raw quoted string")?;
            out.push(Word::Str(c[start..start + end].iter().collect()));
            i = start + end + 1;
        } else if ch == '$' || ch == '.' {
            let start = i;
            i += 1;
            while i < c.len() && (ident(c[i]) || c[i] == '.') {
                i += 1;
            }
            let text: String = c[start..i].iter().collect();
            let chained = ch == '.' && start > 0 && c[start - 1] == ')';
            match var_or_field(&text)? {
                Word::Field(f) if chained && !f.is_empty() => out.push(Word::Chain(f)),
                w => out.push(w),
            }
        } else if ch.is_ascii_digit()
            || ((ch == '-' || ch == '+') && c.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let (n, next) = number(&c, i)?;
            out.push(n);
            i = next;
        } else if ident(ch) {
            let start = i;
            while i < c.len() && ident(c[i]) {
                i += 1;
            }
            out.push(Word::Ident(c[start..i].iter().collect()));
        } else {
            return Err(format!("unexpected {ch:?} in command"));
        }
    }
    Ok(out)
}

/// A `"…"` string whose text starts at `c[i]`: its value and the index
/// after the closing quote.
fn quoted(c: &[char], mut i: usize) -> Result<(String, usize), String> {
    let mut v = String::new();
    loop {
        match c.get(i) {
            None => return Err("unterminated quoted string".into()),
            Some('"') => break,
            Some('\\') => {
                i += 1;
                match c.get(i) {
                    Some('n') => v.push('\n'),
                    Some('t') => v.push('\t'),
                    Some('r') => v.push('\r'),
                    Some(&o) => v.push(o),
                    None => return Err("unterminated quoted string".into()),
                }
            }
            Some(&o) => v.push(o),
        }
        i += 1;
    }
    Ok((v, i + 1))
}

/// `$var.field…` or `.field…`.
fn var_or_field(text: &str) -> Result<Word, String> {
    if text.starts_with('$') {
        let mut parts = text.split('.');
        let var = parts.next().unwrap_or("$").to_string();
        let fields: Vec<String> = parts.map(str::to_string).collect();
        if fields.iter().any(String::is_empty) {
            return Err(format!("bad field in {text}"));
        }
        Ok(Word::Var(var, fields))
    } else {
        let fields: Vec<String> = text[1..]
            .split('.')
            .filter(|f| !f.is_empty())
            .map(str::to_string)
            .collect();
        if text.len() > 1 && text[1..].split('.').any(str::is_empty) {
            return Err(format!("bad field in {text}"));
        }
        Ok(Word::Field(fields))
    }
}

/// A number starting at `c[start]` (Go's syntax: sign, `_`, exponent):
/// the word and the index after it.
fn number(c: &[char], start: usize) -> Result<(Word, usize), String> {
    let mut i = start + 1;
    while i < c.len()
        && (c[i].is_ascii_alphanumeric()
            || c[i] == '.'
            || c[i] == '_'
            || ((c[i] == '-' || c[i] == '+') && matches!(c[i - 1], 'e' | 'E')))
    {
        i += 1;
    }
    let text: String = c[start..i].iter().collect();
    let n = text
        .replace('_', "")
        .parse::<f64>()
        .map_err(|_| format!("bad number syntax: {text:?}"))?;
    Ok((Word::Num(n), i))
}

struct Parser<'a> {
    name: &'a str,
    toks: Vec<Tok>,
    pos: usize,
    vars: Vec<String>,
    lib: Lib,
    /// Templates defined so far (`define`, `block`).
    defs: BTreeMap<String, Body>,
    /// Nesting of control structures and definitions.
    depth: usize,
    /// Nesting of `range` bodies (for `break`, `continue`).
    in_range: usize,
}

/// A line and the `else`/`end` keyword on it.
type Keyword = (usize, String);

/// What ended a list: (line, keyword) for `else`/`end`.
type End = Option<(usize, String, Vec<Word>)>;

/// Most nested control structures, parentheses and definitions a
/// template may have (the parser recurses for each).
const MAX_NESTING: usize = 200;

impl Parser<'_> {
    fn err(&self, line: usize, msg: &str) -> ParseError {
        ParseError(format!("template: {}:{line}: {msg}", self.name))
    }

    /// Nodes up to an `{{else}}`/`{{end}}` (returned) or the end.
    fn list(&mut self) -> Result<(Vec<Node>, Option<Keyword>), ParseError> {
        let (nodes, end) = self.list_full()?;
        Ok((nodes, end.map(|e| (e.0, e.1))))
    }

    fn list_full(&mut self) -> Result<(Vec<Node>, End), ParseError> {
        let mut nodes = Vec::new();
        while self.pos < self.toks.len() {
            let line = self.toks[self.pos].line;
            let kind = self.toks[self.pos].kind.clone();
            self.pos += 1;
            match kind {
                TokKind::Text(t) => nodes.push(Node::Text(t)),
                TokKind::Action(words) => {
                    let kw = match words.first() {
                        Some(Word::Ident(k)) => k.as_str(),
                        _ => "",
                    };
                    match kw {
                        "end" | "else" => {
                            return Ok((nodes, Some((line, kw.to_string(), words[1..].to_vec()))))
                        }
                        "if" | "with" | "range" => {
                            let saved = self.vars.len();
                            let pipe = self.pipe(line, &words[1..], kw == "range")?;
                            let node = self.control(line, kw, pipe)?;
                            self.vars.truncate(saved);
                            nodes.push(node);
                        }
                        "define" => {
                            if self.depth > 0 {
                                return Err(self.err(line, "unexpected <define> in command"));
                            }
                            let name = self.template_name(line, kw, &words[1..])?;
                            if words.len() > 2 {
                                return Err(self.err(line, "unexpected words in define clause"));
                            }
                            let body = self.definition(line, kw)?;
                            self.add_def(line, name, body)?;
                        }
                        "template" | "block" => {
                            let name = self.template_name(line, kw, &words[1..])?;
                            let pipe = if words.len() > 2 {
                                Some(self.pipe(line, &words[2..], false)?)
                            } else if kw == "block" {
                                return Err(self.err(line, "missing value for block"));
                            } else {
                                None
                            };
                            if kw == "block" {
                                let body = self.definition(line, kw)?;
                                self.add_def(line, name.clone(), body)?;
                            }
                            nodes.push(Node::Template(name, pipe, line));
                        }
                        "break" | "continue" => {
                            if self.in_range == 0 {
                                return Err(
                                    self.err(line, &format!("{{{{{kw}}}}} outside {{{{range}}}}"))
                                );
                            }
                            if words.len() > 1 {
                                return Err(self.err(line, &format!("unexpected words in {kw}")));
                            }
                            nodes.push(if kw == "break" {
                                Node::Break
                            } else {
                                Node::Continue
                            });
                        }
                        _ => {
                            let pipe = self.pipe(line, &words, false)?;
                            nodes.push(Node::Action(pipe));
                        }
                    }
                }
            }
        }
        Ok((nodes, None))
    }

    /// The quoted name after `define`, `template` or `block`.
    fn template_name(&self, line: usize, kw: &str, w: &[Word]) -> Result<String, ParseError> {
        match w.first() {
            Some(Word::Str(n)) => Ok(n.clone()),
            _ => Err(self.err(line, &format!("missing name in {kw} clause"))),
        }
    }

    /// The body of a `define` or `block`, up to its `{{end}}`, with only
    /// `$` defined (a template starts with no other variables).
    fn definition(&mut self, line: usize, kw: &str) -> Result<Vec<Node>, ParseError> {
        if self.depth >= MAX_NESTING {
            return Err(self.err(line, "template nested too deeply"));
        }
        let vars = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let in_range = std::mem::take(&mut self.in_range);
        self.depth += 1;
        let r = self.list_full();
        self.depth -= 1;
        self.vars = vars;
        self.in_range = in_range;
        let (body, end) = r?;
        match end {
            Some((_, k, rest)) if k == "end" && rest.is_empty() => Ok(body),
            Some((l, k, _)) => Err(self.err(l, &format!("unexpected {{{{{k}}}}} in {kw}"))),
            None => Err(self.err(line, &format!("unexpected EOF in {kw}"))),
        }
    }

    /// Records a definition (Go's `Tree.add`: a second non-empty one in
    /// the same text is an error; an empty one changes nothing).
    fn add_def(&mut self, line: usize, name: String, body: Vec<Node>) -> Result<(), ParseError> {
        if let Some(old) = self.defs.get(&name) {
            if empty(&body) {
                return Ok(());
            }
            if !empty(old) {
                return Err(self.err(
                    line,
                    &format!("template: multiple definition of template {name:?}"),
                ));
            }
        }
        self.defs.insert(name, Arc::new(body));
        Ok(())
    }

    fn control(&mut self, line: usize, kw: &str, pipe: Pipe) -> Result<Node, ParseError> {
        if self.depth >= MAX_NESTING {
            return Err(self.err(line, "template nested too deeply"));
        }
        self.depth += 1;
        let r = self.control_body(line, kw, pipe);
        self.depth -= 1;
        r
    }

    fn control_body(&mut self, line: usize, kw: &str, pipe: Pipe) -> Result<Node, ParseError> {
        let ranging = usize::from(kw == "range");
        self.in_range += ranging;
        let r = self.list_full();
        self.in_range -= ranging;
        let (body, end) = r?;
        let Some((eline, ekw, rest)) = end else {
            return Err(self.err(line, &format!("unexpected EOF in {kw}")));
        };
        let mut else_nodes = Vec::new();
        if ekw == "else" {
            if matches!(rest.first(), Some(Word::Ident(k)) if k == "if") {
                // {{else if …}}: a nested if in the else branch that
                // shares this {{end}}.
                let saved = self.vars.len();
                let p = self.pipe(eline, &rest[1..], false)?;
                let nested = self.control(eline, "if", p)?;
                self.vars.truncate(saved);
                else_nodes = vec![nested];
            } else {
                if !rest.is_empty() {
                    return Err(self.err(eline, "unexpected words after else"));
                }
                let (els, end2) = self.list_full()?;
                match end2 {
                    Some((_, k, r)) if k == "end" && r.is_empty() => else_nodes = els,
                    _ => {
                        return Err(
                            self.err(eline, &format!("expected end; found {kw} without end"))
                        )
                    }
                }
            }
        } else if !rest.is_empty() {
            return Err(self.err(eline, "unexpected words after end"));
        }
        Ok(match kw {
            "if" => match else_nodes.as_slice() {
                // Flatten {{if}}…{{else if}}… into one chain.
                [Node::If(..)] => {
                    let Some(Node::If(more, els)) = else_nodes.pop() else {
                        unreachable!("matched above")
                    };
                    let mut all = vec![(pipe, body)];
                    all.extend(more);
                    Node::If(all, els)
                }
                _ => Node::If(vec![(pipe, body)], else_nodes),
            },
            "with" => Node::With(pipe, body, else_nodes),
            _ => Node::Range(pipe, body, else_nodes),
        })
    }

    /// A pipeline; `range`: its declaration may have two variables.
    fn pipe(&mut self, line: usize, words: &[Word], range: bool) -> Result<Pipe, ParseError> {
        let mut words = words;
        let mut decl = Vec::new();
        let mut assign = false;
        match words {
            [Word::Var(a, fa), Word::Comma, Word::Var(b, fb), op @ (Word::Declare | Word::Assign), rest @ ..]
                if range =>
            {
                if !fa.is_empty() || !fb.is_empty() {
                    return Err(self.err(line, "cannot assign to a field"));
                }
                decl = vec![a.clone(), b.clone()];
                assign = *op == Word::Assign;
                words = rest;
            }
            [Word::Var(v, f), op @ (Word::Declare | Word::Assign), rest @ ..] => {
                if !f.is_empty() {
                    return Err(self.err(line, "cannot assign to a field"));
                }
                decl = vec![v.clone()];
                assign = *op == Word::Assign;
                words = rest;
            }
            _ => {}
        }
        if assign {
            if let Some(v) = decl.iter().find(|v| !self.vars.contains(v)) {
                return Err(self.err(line, &format!("undefined variable {v:?}")));
            }
        }
        if words.is_empty() {
            return Err(self.err(line, "missing value for command"));
        }
        let mut cmds = Vec::new();
        for part in split_pipes(words) {
            if part.is_empty() {
                return Err(self.err(line, "missing command"));
            }
            let mut terms = Vec::new();
            let mut i = 0;
            while i < part.len() {
                let (t, used) = self.term(line, &part[i..])?;
                terms.push(t);
                i += used;
            }
            let callable = match &terms[0] {
                Term::Func(_) => true,
                Term::Dot(f) | Term::Var(_, f) | Term::Chain(_, f) => !f.is_empty(),
                _ => false,
            };
            if terms.len() > 1 && !callable {
                return Err(self.err(line, "can't give argument to non-function"));
            }
            cmds.push(terms);
        }
        if !assign {
            self.vars.extend(decl.iter().cloned());
        }
        Ok(Pipe { decl, assign, cmds })
    }

    fn term(&mut self, line: usize, w: &[Word]) -> Result<(Term, usize), ParseError> {
        let (t, used) = match &w[0] {
            Word::Ident(n) => match n.as_str() {
                "true" => (Term::Bool(true), 1),
                "false" => (Term::Bool(false), 1),
                "nil" => (Term::Nil, 1),
                f if funcs::defined(self.lib, f) => (Term::Func(f.to_string()), 1),
                f => return Err(self.err(line, &format!("function {f:?} not defined"))),
            },
            Word::Var(v, fields) => {
                if !self.vars.contains(v) {
                    return Err(self.err(line, &format!("undefined variable {v:?}")));
                }
                (Term::Var(v.clone(), fields.clone()), 1)
            }
            Word::Field(f) => (Term::Dot(f.clone()), 1),
            Word::Str(s) => (Term::Str(s.clone()), 1),
            Word::Num(n) => (Term::Num(*n), 1),
            Word::Open => {
                let mut depth = 0;
                let mut end = None;
                for (i, x) in w.iter().enumerate() {
                    match x {
                        Word::Open => depth += 1,
                        Word::Close => {
                            depth -= 1;
                            if depth == 0 {
                                end = Some(i);
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                let end = end.ok_or_else(|| self.err(line, "unclosed left paren"))?;
                if self.depth >= MAX_NESTING {
                    return Err(self.err(line, "template nested too deeply"));
                }
                self.depth += 1;
                let p = self.pipe(line, &w[1..end], false);
                self.depth -= 1;
                (Term::Sub(p?), end + 1)
            }
            Word::Close => return Err(self.err(line, "unexpected right paren")),
            Word::Chain(_) => return Err(self.err(line, "unexpected . after term")),
            Word::Pipe | Word::Declare | Word::Assign | Word::Comma => {
                return Err(self.err(line, "unexpected operator in command"))
            }
        };
        // `(…).a.b`
        if let Some(Word::Chain(f)) = w.get(used) {
            return Ok((Term::Chain(Box::new(t), f.clone()), used + 1));
        }
        Ok((t, used))
    }
}

fn split_pipes(words: &[Word]) -> Vec<&[Word]> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, w) in words.iter().enumerate() {
        match w {
            Word::Open => depth += 1,
            Word::Close => depth -= 1,
            Word::Pipe if depth == 0 => {
                out.push(&words[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&words[start..]);
    out
}

// -------------------------------------------------------------- execution

struct Exec<'a> {
    data: Option<&'a Data>,
    query: Option<QueryFn<'a>>,
    lib: Lib,
    /// The running template's own definitions, then the shared ones.
    own: &'a BTreeMap<String, Body>,
    set: Option<&'a Set>,
    vars: Vec<(String, V)>,
    out: String,
    steps: usize,
    depth: usize,
    /// html/template's context, when escaping for HTML.
    html: Option<html::Ctx>,
}

/// Bounds the work one template may do (a `range` over a huge query).
const MAX_STEPS: usize = 100_000;

/// Bounds nested `{{template}}` calls (Go allows 100,000 on its growable
/// stacks; the notification thread's stack is not).
const MAX_DEPTH: usize = 100;

/// Most bytes a rendering may write.
const MAX_OUTPUT: usize = 16 << 20;

/// How a list of nodes ended: normally, or at `{{break}}`/`{{continue}}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    Next,
    Break,
    Continue,
}

impl<'a> Exec<'a> {
    fn new(
        t: &'a Template,
        set: Option<&'a Set>,
        data: Option<&'a Data>,
        query: Option<QueryFn<'a>>,
    ) -> Exec<'a> {
        Exec {
            data,
            query,
            lib: t.lib,
            own: &t.defs,
            set,
            vars: Vec::new(),
            out: String::new(),
            steps: 0,
            depth: 0,
            html: None,
        }
    }

    fn step(&mut self) -> Result<(), String> {
        self.steps += 1;
        if self.steps > MAX_STEPS || self.out.len() > MAX_OUTPUT {
            return Err("template does too much work".into());
        }
        Ok(())
    }

    fn nodes(&mut self, nodes: &[Node], dot: &V) -> Result<Flow, String> {
        for n in nodes {
            self.step()?;
            let flow = match n {
                Node::Text(t) => {
                    match &mut self.html {
                        Some(ctx) => {
                            let t = ctx.text(t)?;
                            self.out.push_str(&t);
                        }
                        None => self.out.push_str(t),
                    }
                    Flow::Next
                }
                Node::Action(p) => {
                    if self.html.is_some() && p.decl.is_empty() {
                        self.print_html(p, dot)?;
                    } else {
                        let v = self.pipe(p, dot)?;
                        if p.decl.is_empty() {
                            self.out.push_str(&v.text());
                        }
                    }
                    Flow::Next
                }
                Node::If(branches, els) => {
                    let saved = self.vars.len();
                    let mut flow = None;
                    for (p, body) in branches {
                        if self.pipe(p, dot)?.truth() {
                            flow = Some(self.nodes(body, dot)?);
                            break;
                        }
                    }
                    let flow = match flow {
                        Some(f) => f,
                        None => self.nodes(els, dot)?,
                    };
                    self.vars.truncate(saved);
                    flow
                }
                Node::With(p, body, els) => {
                    let saved = self.vars.len();
                    let v = self.pipe(p, dot)?;
                    let flow = if v.truth() {
                        self.nodes(body, &v)?
                    } else {
                        self.nodes(els, dot)?
                    };
                    self.vars.truncate(saved);
                    flow
                }
                Node::Range(p, body, els) => {
                    self.range(p, body, els, dot)?;
                    Flow::Next
                }
                Node::Template(name, p, line) => {
                    self.call_template(name, p.as_ref(), *line, dot)?;
                    Flow::Next
                }
                Node::Break => Flow::Break,
                Node::Continue => Flow::Continue,
            };
            if flow != Flow::Next {
                return Ok(flow);
            }
        }
        Ok(Flow::Next)
    }

    fn range(&mut self, p: &Pipe, body: &[Node], els: &[Node], dot: &V) -> Result<(), String> {
        let saved = self.vars.len();
        let v = self.eval_pipe(p, dot)?;
        let items: Vec<(V, V)> = match v {
            V::Samples(s) => s
                .into_iter()
                .enumerate()
                .map(|(i, x)| (V::Int(i as i64), V::Sample(x)))
                .collect(),
            V::Map(m) => m.into_iter().map(|(k, v)| (V::Str(k), V::Str(v))).collect(),
            V::Kv(m) => m
                .iter()
                .map(|(k, v)| (V::Str(k.clone()), V::Str(v.clone())))
                .collect(),
            V::List(l, _) => l
                .iter()
                .enumerate()
                .map(|(i, x)| (V::Int(i as i64), x.clone()))
                .collect(),
            V::Nil => Vec::new(),
            o => return Err(format!("range can't iterate over {}", o.text())),
        };
        if items.is_empty() {
            self.nodes(els, dot)?;
        }
        for (k, it) in items {
            let mark = self.vars.len();
            match p.decl.as_slice() {
                [e] => self.bind(e, it.clone(), p.assign)?,
                [i, e] => {
                    self.bind(i, k, p.assign)?;
                    self.bind(e, it.clone(), p.assign)?;
                }
                _ => {}
            }
            let flow = self.nodes(body, &it)?;
            self.vars.truncate(mark);
            if flow == Flow::Break {
                break;
            }
        }
        self.vars.truncate(saved);
        Ok(())
    }

    /// `{{template "name" pipeline}}`: the named template with the
    /// pipeline's value as dot and `$`, and no other variables.
    fn call_template(
        &mut self,
        name: &str,
        p: Option<&Pipe>,
        line: usize,
        dot: &V,
    ) -> Result<(), String> {
        let arg = match p {
            Some(p) => self.eval_pipe(p, dot)?,
            None => V::Nil,
        };
        // The text's own definition, unless it is empty and the set has
        // one (Go keeps a template rather than replace it by an empty one).
        let shared = self.set.and_then(|s| s.defs.get(name));
        let body = match (self.own.get(name), shared) {
            (Some(own), Some(shared)) if empty(own) => Some(shared),
            (own, shared) => own.or(shared),
        }
        .cloned()
        .ok_or_else(|| {
            format!(
                "{line}: executing at <{{{{template {name:?}}}}}>: template {name:?} not defined"
            )
        })?;
        if self.depth >= MAX_DEPTH {
            return Err(format!(
                "{line}: exceeded maximum template depth ({MAX_DEPTH})"
            ));
        }
        let vars = std::mem::replace(&mut self.vars, vec![("$".into(), arg.clone())]);
        self.depth += 1;
        let r = self.nodes(&body, &arg);
        self.depth -= 1;
        self.vars = vars;
        r.map(|_| ())
    }

    /// Declares (`:=`) or sets (`=`) a variable.
    fn bind(&mut self, name: &str, v: V, assign: bool) -> Result<(), String> {
        if assign {
            let slot = self
                .vars
                .iter_mut()
                .rev()
                .find(|(n, _)| n == name)
                .ok_or_else(|| format!("undefined variable {name:?}"))?;
            slot.1 = v;
        } else {
            self.vars.push((name.to_string(), v));
        }
        Ok(())
    }

    /// A pipeline's value, its variable declared or set.
    fn pipe(&mut self, p: &Pipe, dot: &V) -> Result<V, String> {
        let v = self.eval_pipe(p, dot)?;
        if let [d] = p.decl.as_slice() {
            self.bind(d, v.clone(), p.assign)?;
        }
        Ok(v)
    }

    /// A pipeline's value.
    fn eval_pipe(&mut self, p: &Pipe, dot: &V) -> Result<V, String> {
        self.eval_cmds(&p.cmds, dot)
    }

    fn eval_cmds(&mut self, cmds: &[Vec<Term>], dot: &V) -> Result<V, String> {
        let mut prev: Option<V> = None;
        for cmd in cmds {
            self.step()?;
            prev = Some(self.cmd(cmd, dot, prev)?);
        }
        Ok(prev.unwrap_or(V::Nil))
    }

    /// Prints a pipeline's value escaped for its place in the HTML, as
    /// html/template rewrites the pipeline (a trailing `html` or
    /// `urlquery` stands in for the escaper it equals).
    fn print_html(&mut self, p: &Pipe, dot: &V) -> Result<(), String> {
        let Some(ctx) = self.html.as_mut() else {
            return Ok(());
        };
        let mut escs = ctx.escapers()?;
        let predefined = |cmd: &[Term]| match cmd.first() {
            Some(Term::Func(f)) if f == "html" || f == "urlquery" => Some(f.clone()),
            _ => None,
        };
        for cmd in &p.cmds[..p.cmds.len().saturating_sub(1)] {
            if let Some(f) = predefined(cmd) {
                return Err(format!("predefined escaper {f:?} disallowed in template"));
            }
        }
        let last = p.cmds.last().map(Vec::as_slice).unwrap_or(&[]);
        let pre = predefined(last);
        let mut value = match &pre {
            Some(f) if escs.iter().any(|e| e.predefined() == Some(f.as_str())) => {
                // The pipeline up to the escaper; the escaper then runs
                // in place of its equal.
                let v = if p.cmds.len() == 1 {
                    let mut args = Vec::new();
                    for t in &last[1..] {
                        args.push(self.term(t, dot)?);
                    }
                    V::Str(funcs::eval_args(&args))
                } else {
                    self.eval_cmds(&p.cmds[..p.cmds.len() - 1], dot)?
                };
                let mut out = Vec::new();
                for e in escs {
                    if e.predefined() == Some(f.as_str()) {
                        out.push(None);
                    } else {
                        out.push(Some(e));
                    }
                }
                return self.write_escaped(v, &out, Some(f));
            }
            Some(f) => {
                escs.retain(|e| e.predefined() != Some(f.as_str()));
                self.eval_pipe(p, dot)?
            }
            None => self.eval_pipe(p, dot)?,
        };
        if escs.first() == Some(&html::Esc::JsVal) {
            let js = match &value {
                V::Str(s) | V::Html(s) => html::js_value(html::JsArg::Str(s)),
                V::Nil => html::js_value(html::JsArg::Raw("null")),
                V::Int(_) | V::Num(_) | V::Bool(_) => {
                    html::js_value(html::JsArg::Raw(&value.text()))
                }
                o => html::js_value(html::JsArg::Str(&o.text())),
            };
            value = V::Str(js);
            escs.remove(0);
        }
        let steps: Vec<Option<html::Esc>> = escs.into_iter().map(Some).collect();
        self.write_escaped(value, &steps, None)
    }

    /// Runs `v` through `escs` (`None`: the predefined escaper `pre`).
    fn write_escaped(
        &mut self,
        v: V,
        escs: &[Option<html::Esc>],
        pre: Option<&str>,
    ) -> Result<(), String> {
        let mut is_html = matches!(v, V::Html(_));
        let mut s = match &v {
            V::Nil => "<nil>".to_string(),
            o => o.text(),
        };
        for e in escs {
            s = match e {
                Some(e) => html::apply(*e, &s, is_html),
                None => match pre {
                    Some("html") => html::html_escape_string(&s),
                    _ => funcs::query_escape(&s),
                },
            };
            is_html = false;
        }
        self.out.push_str(&s);
        Ok(())
    }

    fn cmd(&mut self, terms: &[Term], dot: &V, piped: Option<V>) -> Result<V, String> {
        match &terms[0] {
            Term::Func(name) if (name == "and" || name == "or") && terms.len() > 1 => {
                // Go evaluates and/or lazily: the first argument that
                // decides, else the last.
                let want = name == "or";
                let mut last = V::Nil;
                let n = terms.len() - 1 + usize::from(piped.is_some());
                for (i, t) in terms[1..].iter().enumerate() {
                    last = self.term(t, dot)?;
                    if last.truth() == want || (i + 1 == n) {
                        return Ok(last);
                    }
                }
                Ok(piped.unwrap_or(last))
            }
            Term::Func(name) => {
                let mut args = Vec::new();
                for t in &terms[1..] {
                    args.push(self.term(t, dot)?);
                }
                if let Some(p) = piped {
                    args.push(p);
                }
                self.call(name, args)
            }
            t => {
                let args = if terms.len() > 1 || piped.is_some() {
                    let mut args = Vec::new();
                    for t in &terms[1..] {
                        args.push(self.term(t, dot)?);
                    }
                    args.extend(piped);
                    Some(args)
                } else {
                    None
                };
                self.term_args(t, dot, args)
            }
        }
    }

    fn term(&mut self, t: &Term, dot: &V) -> Result<V, String> {
        self.term_args(t, dot, None)
    }

    /// A term's value; `args`: it is a method called with them.
    fn term_args(&mut self, t: &Term, dot: &V, args: Option<Vec<V>>) -> Result<V, String> {
        let (base, fields) = match t {
            Term::Str(s) => return Ok(V::Str(s.clone())),
            Term::Num(n) => {
                return Ok(if n.fract() == 0.0 && n.abs() < 1e15 {
                    V::Int(*n as i64)
                } else {
                    V::Num(*n)
                })
            }
            Term::Bool(b) => return Ok(V::Bool(*b)),
            Term::Nil => return Ok(V::Nil),
            Term::Func(f) => return self.call(f, args.unwrap_or_default()),
            Term::Sub(p) => return self.eval_pipe(p, dot),
            Term::Dot(fields) => (dot.clone(), fields),
            Term::Var(name, fields) => {
                let v = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| format!("undefined variable {name:?}"))?;
                (v, fields)
            }
            Term::Chain(inner, fields) => (self.term(inner, dot)?, fields),
        };
        if fields.is_empty() && args.is_some() {
            return Err("can't give argument to non-function".into());
        }
        self.fields(base, fields, args)
    }

    fn fields(&self, mut v: V, fields: &[String], args: Option<Vec<V>>) -> Result<V, String> {
        let mut args = args;
        for (i, f) in fields.iter().enumerate() {
            let a = if i + 1 == fields.len() {
                args.take()
            } else {
                None
            };
            v = self.field(&v, f, a)?;
        }
        Ok(v)
    }

    fn field(&self, v: &V, k: &str, args: Option<Vec<V>>) -> Result<V, String> {
        if let Some(r) = am::member(v, k, args.as_deref().unwrap_or(&[])) {
            return r;
        }
        if args.is_some() {
            return Err(format!("{k} is not a method but has arguments"));
        }
        Ok(match (v, k) {
            // missingkey=zero, as Prometheus and Alertmanager set it.
            (V::Map(m), k) => V::Str(m.get(k).cloned().unwrap_or_default()),
            (V::Kv(m), k) => V::Str(m.get(k).cloned().unwrap_or_default()),
            (V::Data, "Labels") => V::Map(self.data.map(|d| to_map(&d.labels)).unwrap_or_default()),
            (V::Data, "Value") => V::Num(self.data.map_or(0.0, |d| d.value)),
            (V::Data, "ExternalLabels") => V::Map(
                self.data
                    .map(|d| to_map(&d.external_labels))
                    .unwrap_or_default(),
            ),
            (V::Data, "ExternalURL") => V::Str(
                self.data
                    .map(|d| d.external_url.clone())
                    .unwrap_or_default(),
            ),
            (V::Sample(s), "Labels") => V::Map(to_map(&s.labels)),
            (V::Sample(s), "Value") => V::Num(s.value),
            (
                o @ (V::Nil
                | V::Str(_)
                | V::Num(_)
                | V::Int(_)
                | V::Bool(_)
                | V::Data
                | V::Samples(_)
                | V::Sample(_)),
                k,
            ) => return Err(format!("can't evaluate field {k} in {}", o.text())),
            (o, k) => {
                return Err(format!(
                    "can't evaluate field {k} in type {}",
                    o.type_name()
                ))
            }
        })
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
