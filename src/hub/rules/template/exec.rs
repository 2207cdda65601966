//! Running a template: the node tree of [`super`] walked over its data,
//! with Go's truthiness, field and method lookup, `range`/`with`/
//! `template`, the function libraries, and the work and depth bounds.

use super::*;
pub(super) struct Exec<'a> {
    pub(super) data: Option<&'a Data>,
    pub(super) query: Option<QueryFn<'a>>,
    pub(super) lib: Lib,
    /// The running template's own definitions, then the shared ones.
    pub(super) own: &'a BTreeMap<String, Body>,
    pub(super) set: Option<&'a Set>,
    pub(super) vars: Vec<(String, V)>,
    pub(super) out: String,
    pub(super) steps: usize,
    pub(super) depth: usize,
    /// html/template's context, when escaping for HTML.
    pub(super) html: Option<html::Ctx>,
}

/// Bounds the work one template may do (a `range` over a huge query).
pub(super) const MAX_STEPS: usize = 100_000;

/// Bounds nested `{{template}}` calls (Go allows 100,000 on its growable
/// stacks; the notification thread's stack is not).
pub(super) const MAX_DEPTH: usize = 100;

/// Most bytes a rendering may write.
pub(super) const MAX_OUTPUT: usize = 16 << 20;

/// How a list of nodes ended: normally, or at `{{break}}`/`{{continue}}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Flow {
    Next,
    Break,
    Continue,
}

impl<'a> Exec<'a> {
    pub(super) fn new(
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

    pub(super) fn step(&mut self) -> Result<(), String> {
        self.steps += 1;
        if self.steps > MAX_STEPS || self.out.len() > MAX_OUTPUT {
            return Err("template does too much work".into());
        }
        Ok(())
    }

    pub(super) fn nodes(&mut self, nodes: &[Node], dot: &V) -> Result<Flow, String> {
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

    pub(super) fn range(
        &mut self,
        p: &Pipe,
        body: &[Node],
        els: &[Node],
        dot: &V,
    ) -> Result<(), String> {
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
    pub(super) fn call_template(
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
    pub(super) fn bind(&mut self, name: &str, v: V, assign: bool) -> Result<(), String> {
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
    pub(super) fn pipe(&mut self, p: &Pipe, dot: &V) -> Result<V, String> {
        let v = self.eval_pipe(p, dot)?;
        if let [d] = p.decl.as_slice() {
            self.bind(d, v.clone(), p.assign)?;
        }
        Ok(v)
    }

    /// A pipeline's value.
    pub(super) fn eval_pipe(&mut self, p: &Pipe, dot: &V) -> Result<V, String> {
        self.eval_cmds(&p.cmds, dot)
    }

    pub(super) fn eval_cmds(&mut self, cmds: &[Vec<Term>], dot: &V) -> Result<V, String> {
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
    pub(super) fn print_html(&mut self, p: &Pipe, dot: &V) -> Result<(), String> {
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
    pub(super) fn write_escaped(
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

    pub(super) fn cmd(&mut self, terms: &[Term], dot: &V, piped: Option<V>) -> Result<V, String> {
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

    pub(super) fn term(&mut self, t: &Term, dot: &V) -> Result<V, String> {
        self.term_args(t, dot, None)
    }

    /// A term's value; `args`: it is a method called with them.
    pub(super) fn term_args(
        &mut self,
        t: &Term,
        dot: &V,
        args: Option<Vec<V>>,
    ) -> Result<V, String> {
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

    pub(super) fn fields(
        &self,
        mut v: V,
        fields: &[String],
        args: Option<Vec<V>>,
    ) -> Result<V, String> {
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

    pub(super) fn field(&self, v: &V, k: &str, args: Option<Vec<V>>) -> Result<V, String> {
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
