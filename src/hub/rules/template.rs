//! Alert label and annotation templates, as Prometheus expands them: Go's
//! `text/template` with the preamble `$labels := .Labels`, `$value :=
//! .Value`, `$externalLabels`, `$externalURL`, and Prometheus's function
//! library (`humanize`, `printf`, `query`, …). Rule files from
//! Prometheus setups carry these templates unchanged, so this is the
//! subset of text/template they use: actions and pipelines, variables and
//! field access, `if`/`else`/`with`/`range`/`end`, trim markers and
//! comments. The number formatting is in [`super::gofmt`].
//!
//! A template that fails to parse is a rule-file error (`check-rules`
//! reports it); one that fails while rendering yields Prometheus's
//! `<error expanding template: …>` text and does not fail the rule.

use std::collections::BTreeMap;
use std::fmt;

mod funcs;

use super::gofmt::{self, Arg as FmtArg};
use funcs::FUNCS;
use picket_core::metric::Labels;

/// A parsed template.
#[derive(Clone, Debug)]
pub struct Template {
    name: String,
    nodes: Vec<Node>,
}

#[derive(Clone, Debug)]
enum Node {
    Text(String),
    Action(Pipe),
    If(Vec<(Pipe, Vec<Node>)>, Vec<Node>),
    With(Pipe, Vec<Node>, Vec<Node>),
    Range(Pipe, Vec<Node>, Vec<Node>),
}

#[derive(Clone, Debug)]
struct Pipe {
    /// `$x :=` / `$x =`.
    decl: Option<String>,
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
}

/// A template parse error: "template: NAME:LINE: reason".
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ParseError(pub String);

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
    Map(BTreeMap<String, String>),
    Data,
    Samples(Vec<QuerySample>),
    Sample(QuerySample),
}

impl V {
    fn truth(&self) -> bool {
        match self {
            V::Nil => false,
            V::Str(s) => !s.is_empty(),
            V::Num(x) => *x != 0.0,
            V::Int(i) => *i != 0,
            V::Bool(b) => *b,
            V::Map(m) => !m.is_empty(),
            V::Samples(s) => !s.is_empty(),
            V::Data | V::Sample(_) => true,
        }
    }

    fn text(&self) -> String {
        match self {
            V::Nil => "<no value>".into(),
            V::Str(s) => s.clone(),
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
            V::Str(s) => FmtArg::Str(s.clone()),
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
    Str(String),
    Num(f64),
    Pipe,
    Open,
    Close,
    Declare,
    Assign,
}

impl Template {
    /// Parses `text`; `name` is used in error messages (Prometheus names
    /// them `__alert_<AlertName>`).
    pub(crate) fn parse(name: &str, text: &str) -> Result<Template, ParseError> {
        let toks = split(name, text)?;
        let mut p = Parser {
            name,
            toks,
            pos: 0,
            vars: vec![
                "$".into(),
                "$labels".into(),
                "$value".into(),
                "$externalLabels".into(),
                "$externalURL".into(),
            ],
        };
        let (nodes, end) = p.list()?;
        if let Some(e) = end {
            return Err(p.err(e.0, &format!("unexpected {{{{{}}}}}", e.1)));
        }
        Ok(Template {
            name: name.to_string(),
            nodes,
        })
    }

    /// Renders with `data`; on failure, Prometheus's
    /// `<error expanding template: …>` text.
    pub(crate) fn render(&self, data: &Data, query: Option<QueryFn<'_>>) -> String {
        let mut ex = Exec {
            data,
            query,
            vars: vec![
                ("$".into(), V::Data),
                ("$labels".into(), V::Map(to_map(&data.labels))),
                ("$value".into(), V::Num(data.value)),
                (
                    "$externalLabels".into(),
                    V::Map(to_map(&data.external_labels)),
                ),
                ("$externalURL".into(), V::Str(data.external_url.clone())),
            ],
            out: String::new(),
            steps: 0,
        };
        match ex.nodes(&self.nodes, &V::Data) {
            Ok(()) => ex.out,
            Err(e) => format!(
                "<error expanding template: error executing template {}: template: {}: {e}>",
                self.name, self.name
            ),
        }
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
            out.push(var_or_field(&text)?);
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
}

/// A line and the `else`/`end` keyword on it.
type Keyword = (usize, String);

/// What ended a list: (line, keyword) for `else`/`end`.
type End = Option<(usize, String, Vec<Word>)>;

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
                            let pipe = self.pipe(line, &words[1..])?;
                            let node = self.control(line, kw, pipe)?;
                            self.vars.truncate(saved);
                            nodes.push(node);
                        }
                        "define" | "template" | "block" | "break" | "continue" => {
                            return Err(self.err(line, &format!("{{{{{kw}}}}} is not supported")))
                        }
                        _ => {
                            let pipe = self.pipe(line, &words)?;
                            nodes.push(Node::Action(pipe));
                        }
                    }
                }
            }
        }
        Ok((nodes, None))
    }

    fn control(&mut self, line: usize, kw: &str, pipe: Pipe) -> Result<Node, ParseError> {
        let (body, end) = self.list_full()?;
        let Some((eline, ekw, rest)) = end else {
            return Err(self.err(line, &format!("unexpected EOF in {kw}")));
        };
        let mut else_nodes = Vec::new();
        let mut branches = vec![(pipe, body)];
        if ekw == "else" {
            if kw == "if" && matches!(rest.first(), Some(Word::Ident(k)) if k == "if") {
                // {{else if …}}: a nested if that shares this {{end}}.
                let p = self.pipe(eline, &rest[1..])?;
                match self.control(eline, "if", p)? {
                    Node::If(more, els) => {
                        branches.extend(more);
                        else_nodes = els;
                    }
                    _ => return Err(self.err(eline, "bad else if")),
                }
                return Ok(Node::If(branches, else_nodes));
            }
            if !rest.is_empty() {
                return Err(self.err(eline, "unexpected words after else"));
            }
            let (els, end2) = self.list_full()?;
            match end2 {
                Some((_, k, r)) if k == "end" && r.is_empty() => else_nodes = els,
                _ => return Err(self.err(eline, &format!("expected end; found {kw} without end"))),
            }
        } else if !rest.is_empty() {
            return Err(self.err(eline, "unexpected words after end"));
        }
        let (pipe, body) = branches.remove(0);
        Ok(match kw {
            "if" => {
                let mut all = vec![(pipe, body)];
                all.extend(branches);
                Node::If(all, else_nodes)
            }
            "with" => Node::With(pipe, body, else_nodes),
            _ => Node::Range(pipe, body, else_nodes),
        })
    }

    fn pipe(&mut self, line: usize, words: &[Word]) -> Result<Pipe, ParseError> {
        let mut words = words;
        let mut decl = None;
        if let [Word::Var(v, f), Word::Declare | Word::Assign, rest @ ..] = words {
            if !f.is_empty() {
                return Err(self.err(line, "cannot assign to a field"));
            }
            decl = Some(v.clone());
            words = rest;
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
            if terms.len() > 1 && !matches!(terms[0], Term::Func(_)) {
                return Err(self.err(line, "can't give argument to non-function"));
            }
            cmds.push(terms);
        }
        if let Some(d) = &decl {
            self.vars.push(d.clone());
        }
        Ok(Pipe { decl, cmds })
    }

    fn term(&mut self, line: usize, w: &[Word]) -> Result<(Term, usize), ParseError> {
        Ok(match &w[0] {
            Word::Ident(n) => match n.as_str() {
                "true" => (Term::Bool(true), 1),
                "false" => (Term::Bool(false), 1),
                "nil" => (Term::Nil, 1),
                f if FUNCS.contains(&f) => (Term::Func(f.to_string()), 1),
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
                let p = self.pipe(line, &w[1..end])?;
                (Term::Sub(p), end + 1)
            }
            Word::Close => return Err(self.err(line, "unexpected right paren")),
            Word::Pipe | Word::Declare | Word::Assign => {
                return Err(self.err(line, "unexpected operator in command"))
            }
        })
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
    data: &'a Data,
    query: Option<QueryFn<'a>>,
    vars: Vec<(String, V)>,
    out: String,
    steps: usize,
}

/// Bounds the work one template may do (a `range` over a huge query).
const MAX_STEPS: usize = 100_000;

impl Exec<'_> {
    fn nodes(&mut self, nodes: &[Node], dot: &V) -> Result<(), String> {
        for n in nodes {
            self.steps += 1;
            if self.steps > MAX_STEPS {
                return Err("template does too much work".into());
            }
            match n {
                Node::Text(t) => self.out.push_str(t),
                Node::Action(p) => {
                    let v = self.pipe(p, dot)?;
                    if p.decl.is_none() {
                        self.out.push_str(&v.text());
                    }
                }
                Node::If(branches, els) => {
                    let saved = self.vars.len();
                    let mut done = false;
                    for (p, body) in branches {
                        if self.pipe(p, dot)?.truth() {
                            self.nodes(body, dot)?;
                            done = true;
                            break;
                        }
                    }
                    if !done {
                        self.nodes(els, dot)?;
                    }
                    self.vars.truncate(saved);
                }
                Node::With(p, body, els) => {
                    let saved = self.vars.len();
                    let v = self.pipe(p, dot)?;
                    if v.truth() {
                        self.nodes(body, &v)?;
                    } else {
                        self.nodes(els, dot)?;
                    }
                    self.vars.truncate(saved);
                }
                Node::Range(p, body, els) => {
                    let saved = self.vars.len();
                    let v = self.pipe(p, dot)?;
                    let items: Vec<V> = match v {
                        V::Samples(s) => s.into_iter().map(V::Sample).collect(),
                        V::Map(m) => m.into_values().map(V::Str).collect(),
                        V::Nil => Vec::new(),
                        o => return Err(format!("range can't iterate over {}", o.text())),
                    };
                    if items.is_empty() {
                        self.nodes(els, dot)?;
                    }
                    for it in items {
                        self.nodes(body, &it)?;
                    }
                    self.vars.truncate(saved);
                }
            }
        }
        Ok(())
    }

    fn pipe(&mut self, p: &Pipe, dot: &V) -> Result<V, String> {
        let mut prev: Option<V> = None;
        for cmd in &p.cmds {
            prev = Some(self.cmd(cmd, dot, prev)?);
        }
        let v = prev.unwrap_or(V::Nil);
        if let Some(d) = &p.decl {
            self.vars.push((d.clone(), v.clone()));
        }
        Ok(v)
    }

    fn cmd(&mut self, terms: &[Term], dot: &V, piped: Option<V>) -> Result<V, String> {
        match &terms[0] {
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
                if piped.is_some() {
                    return Err("can't give argument to non-function".into());
                }
                self.term(t, dot)
            }
        }
    }

    fn term(&mut self, t: &Term, dot: &V) -> Result<V, String> {
        match t {
            Term::Str(s) => Ok(V::Str(s.clone())),
            Term::Num(n) => Ok(if n.fract() == 0.0 && n.abs() < 1e15 {
                V::Int(*n as i64)
            } else {
                V::Num(*n)
            }),
            Term::Bool(b) => Ok(V::Bool(*b)),
            Term::Nil => Ok(V::Nil),
            Term::Func(f) => self.call(f, Vec::new()),
            Term::Sub(p) => self.pipe(p, dot),
            Term::Dot(fields) => self.fields(dot.clone(), fields),
            Term::Var(name, fields) => {
                let v = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| format!("undefined variable {name:?}"))?;
                self.fields(v, fields)
            }
        }
    }

    fn fields(&self, mut v: V, fields: &[String]) -> Result<V, String> {
        for f in fields {
            v = match (&v, f.as_str()) {
                // missingkey=zero, as Prometheus sets it.
                (V::Map(m), k) => V::Str(m.get(k).cloned().unwrap_or_default()),
                (V::Data, "Labels") => V::Map(to_map(&self.data.labels)),
                (V::Data, "Value") => V::Num(self.data.value),
                (V::Data, "ExternalLabels") => V::Map(to_map(&self.data.external_labels)),
                (V::Data, "ExternalURL") => V::Str(self.data.external_url.clone()),
                (V::Sample(s), "Labels") => V::Map(to_map(&s.labels)),
                (V::Sample(s), "Value") => V::Num(s.value),
                (o, k) => return Err(format!("can't evaluate field {k} in {}", o.text())),
            };
        }
        Ok(v)
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
}
