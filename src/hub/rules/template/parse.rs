//! Reading a template: trim markers and comments, the lexer, and the
//! parser into the node tree of [`super`] (actions, pipelines,
//! variables in scope, `define`/`block` definitions), with Go's error
//! messages.

use std::collections::BTreeMap;

use super::*;
pub(super) struct Tok {
    pub(super) line: usize,
    pub(super) kind: TokKind,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum TokKind {
    Text(String),
    /// The words of one `{{ … }}` action, already lexed.
    Action(Vec<Word>),
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Word {
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
pub(super) const PROMETHEUS_VARS: [&str; 5] =
    ["$", "$labels", "$value", "$externalLabels", "$externalURL"];

/// Splits text and actions, applying trim markers and dropping comments.
pub(super) fn split(name: &str, text: &str) -> Result<Vec<Tok>, ParseError> {
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
pub(super) fn find_close(s: &str) -> Option<usize> {
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

pub(super) fn lex(s: &str) -> Result<Vec<Word>, String> {
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
pub(super) fn quoted(c: &[char], mut i: usize) -> Result<(String, usize), String> {
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
pub(super) fn var_or_field(text: &str) -> Result<Word, String> {
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
pub(super) fn number(c: &[char], start: usize) -> Result<(Word, usize), String> {
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

pub(super) struct Parser<'a> {
    pub(super) name: &'a str,
    pub(super) toks: Vec<Tok>,
    pub(super) pos: usize,
    pub(super) vars: Vec<String>,
    pub(super) lib: Lib,
    /// Templates defined so far (`define`, `block`).
    pub(super) defs: BTreeMap<String, Body>,
    /// Nesting of control structures and definitions.
    pub(super) depth: usize,
    /// Nesting of `range` bodies (for `break`, `continue`).
    pub(super) in_range: usize,
}

/// A line and the `else`/`end` keyword on it.
pub(super) type Keyword = (usize, String);

/// What ended a list: (line, keyword) for `else`/`end`.
pub(super) type End = Option<(usize, String, Vec<Word>)>;

/// Most nested control structures, parentheses and definitions a
/// template may have (the parser recurses for each).
pub(super) const MAX_NESTING: usize = 200;

impl Parser<'_> {
    pub(super) fn err(&self, line: usize, msg: &str) -> ParseError {
        ParseError(format!("template: {}:{line}: {msg}", self.name))
    }

    /// Nodes up to an `{{else}}`/`{{end}}` (returned) or the end.
    pub(super) fn list(&mut self) -> Result<(Vec<Node>, Option<Keyword>), ParseError> {
        let (nodes, end) = self.list_full()?;
        Ok((nodes, end.map(|e| (e.0, e.1))))
    }

    pub(super) fn list_full(&mut self) -> Result<(Vec<Node>, End), ParseError> {
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
    pub(super) fn template_name(
        &self,
        line: usize,
        kw: &str,
        w: &[Word],
    ) -> Result<String, ParseError> {
        match w.first() {
            Some(Word::Str(n)) => Ok(n.clone()),
            _ => Err(self.err(line, &format!("missing name in {kw} clause"))),
        }
    }

    /// The body of a `define` or `block`, up to its `{{end}}`, with only
    /// `$` defined (a template starts with no other variables).
    pub(super) fn definition(&mut self, line: usize, kw: &str) -> Result<Vec<Node>, ParseError> {
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
    pub(super) fn add_def(
        &mut self,
        line: usize,
        name: String,
        body: Vec<Node>,
    ) -> Result<(), ParseError> {
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

    pub(super) fn control(
        &mut self,
        line: usize,
        kw: &str,
        pipe: Pipe,
    ) -> Result<Node, ParseError> {
        if self.depth >= MAX_NESTING {
            return Err(self.err(line, "template nested too deeply"));
        }
        self.depth += 1;
        let r = self.control_body(line, kw, pipe);
        self.depth -= 1;
        r
    }

    pub(super) fn control_body(
        &mut self,
        line: usize,
        kw: &str,
        pipe: Pipe,
    ) -> Result<Node, ParseError> {
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
    pub(super) fn pipe(
        &mut self,
        line: usize,
        words: &[Word],
        range: bool,
    ) -> Result<Pipe, ParseError> {
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

    pub(super) fn term(&mut self, line: usize, w: &[Word]) -> Result<(Term, usize), ParseError> {
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

pub(super) fn split_pipes(words: &[Word]) -> Vec<&[Word]> {
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
