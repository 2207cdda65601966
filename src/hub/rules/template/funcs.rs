//! The template function libraries: Prometheus's (`template_reference.md`:
//! `humanize` and friends, `query` and what reads its results, string
//! helpers), Alertmanager 0.25's (`toUpper`, `toLower`, `title`, `join`,
//! `match`, `safeHtml`, `reReplaceAll`, `stringSlice`) and text/template's
//! builtins (`printf`, `len`, `index`, `slice`, `and`, `eq`, …), with
//! their argument checks and error texts. Apart from the parser and
//! executor because it grows by function, not by syntax.

use std::rc::Rc;

use super::am::{self, ListKind};
use super::gofmt::{self, Arg as FmtArg};
use super::{html, Exec, Lib, V};

/// text/template's builtins both libraries have (`call` aside: no
/// template data holds functions).
const BUILTINS: &[&str] = &[
    "printf", "print", "println", "len", "index", "slice", "not", "and", "or", "eq", "ne", "lt",
    "le", "gt", "ge", "html", "js", "urlquery",
];

/// Alertmanager 0.25's `DefaultFuncs`.
const ALERTMANAGER: &[&str] = &[
    "toUpper",
    "toLower",
    "title",
    "join",
    "match",
    "safeHtml",
    "reReplaceAll",
    "stringSlice",
];

/// Whether `name` is a function of `lib`'s templates.
pub(super) fn defined(lib: Lib, name: &str) -> bool {
    BUILTINS.contains(&name)
        || match lib {
            Lib::Prometheus => FUNCS.contains(&name),
            Lib::Alertmanager => ALERTMANAGER.contains(&name),
        }
}

/// Functions Prometheus's template library knows (its
/// `template_reference.md` plus text/template's builtins).
const FUNCS: &[&str] = &[
    "humanize",
    "humanize1024",
    "humanizeDuration",
    "humanizePercentage",
    "humanizeTimestamp",
    "printf",
    "print",
    "println",
    "query",
    "first",
    "label",
    "value",
    "sortByLabel",
    "strvalue",
    "toUpper",
    "toLower",
    "title",
    "stripPort",
    "stripDomain",
    "match",
    "reReplaceAll",
    "urlQueryEscape",
    "parseDuration",
    "toTime",
    "externalURL",
    "pathPrefix",
    "graphLink",
    "tableLink",
    "safeHtml",
    "tmpl",
    "args",
    "len",
    "index",
    "not",
    "and",
    "or",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "html",
    "js",
    "urlquery",
];

/// One call's name and arguments.
struct Call<'a> {
    name: &'a str,
    args: &'a [V],
}

impl Call<'_> {
    /// Go's arity check.
    fn want(&self, k: usize) -> Result<(), String> {
        let n = self.args.len();
        if n == k {
            Ok(())
        } else {
            Err(format!(
                "wrong number of args for {}: want {k} got {n}",
                self.name
            ))
        }
    }

    /// The first argument (nil when there is none).
    fn a0(&self) -> V {
        self.args.first().cloned().unwrap_or(V::Nil)
    }

    /// The `i`th argument as a string (`%v` of non-strings).
    fn s(&self, i: usize) -> String {
        self.args.get(i).map_or_else(|| V::Nil.text(), text)
    }
}

/// A value as a string argument: strings as they are, others as `%v`.
fn text(v: &V) -> String {
    match v {
        V::Str(s) => s.clone(),
        o => o.text(),
    }
}

impl Exec<'_> {
    /// Calls function `name`.
    pub(super) fn call(&mut self, name: &str, args: Vec<V>) -> Result<V, String> {
        let c = Call { name, args: &args };
        if self.lib == Lib::Alertmanager {
            return match alertmanager(&c)? {
                Some(v) => Ok(v),
                None => match builtins(&c)? {
                    Some(v) => Ok(v),
                    None => Err(format!("function {name:?} not defined")),
                },
            };
        }
        if let Some(v) = numbers(&c)? {
            return Ok(v);
        }
        if let Some(v) = self.queries(&c)? {
            return Ok(v);
        }
        if let Some(v) = strings(&c)? {
            return Ok(v);
        }
        if let Some(v) = builtins(&c)? {
            return Ok(v);
        }
        Err(format!("function {name:?} not defined"))
    }

    /// `query` and the functions that read its results; `externalURL`
    /// and the web UI's links.
    fn queries(&self, c: &Call<'_>) -> Result<Option<V>, String> {
        Ok(Some(match c.name {
            "query" => {
                c.want(1)?;
                let q = text(&c.a0());
                let Some(run) = self.query else {
                    return Ok(Some(V::Samples(Vec::new())));
                };
                V::Samples(run(&q)?)
            }
            "first" => {
                c.want(1)?;
                match c.a0() {
                    V::Samples(v) => v
                        .into_iter()
                        .next()
                        .map(V::Sample)
                        .ok_or("first() called on vector with no elements")?,
                    o => return Err(format!("first: not a query result: {}", o.text())),
                }
            }
            "label" => {
                c.want(2)?;
                match &c.args[1] {
                    V::Sample(x) => V::Str(x.labels.get(&c.s(0)).unwrap_or("").to_string()),
                    o => return Err(format!("label: not a sample: {}", o.text())),
                }
            }
            "value" => {
                c.want(1)?;
                match c.a0() {
                    V::Sample(x) => V::Num(x.value),
                    o => return Err(format!("value: not a sample: {}", o.text())),
                }
            }
            "strvalue" => {
                c.want(1)?;
                match c.a0() {
                    V::Sample(x) => V::Str(x.labels.get("__value__").unwrap_or("").to_string()),
                    _ => V::Str(String::new()),
                }
            }
            "sortByLabel" => {
                c.want(2)?;
                let l = c.s(0);
                match &c.args[1] {
                    V::Samples(v) => {
                        let mut v = v.clone();
                        v.sort_by(|a, b| a.labels.get(&l).cmp(&b.labels.get(&l)));
                        V::Samples(v)
                    }
                    o => return Err(format!("sortByLabel: not a query result: {}", o.text())),
                }
            }
            "externalURL" => V::Str(
                self.data
                    .map(|d| d.external_url.clone())
                    .unwrap_or_default(),
            ),
            // Allowed to render empty (compliance spec): no web UI here.
            "pathPrefix" | "graphLink" | "tableLink" | "tmpl" => V::Str(String::new()),
            _ => return Ok(None),
        }))
    }
}

/// `humanize` and friends, `toTime`, `parseDuration`.
fn numbers(c: &Call<'_>) -> Result<Option<V>, String> {
    let f: fn(f64) -> String = match c.name {
        "humanize" => gofmt::humanize,
        "humanize1024" => gofmt::humanize1024,
        "humanizeDuration" => gofmt::humanize_duration,
        "humanizePercentage" => gofmt::humanize_percentage,
        "humanizeTimestamp" | "toTime" => gofmt::humanize_timestamp,
        "parseDuration" => {
            c.want(1)?;
            let d = picket_core::config::parse_duration(&c.s(0))?;
            return Ok(Some(V::Num(d.as_secs_f64())));
        }
        _ => return Ok(None),
    };
    c.want(1)?;
    Ok(Some(V::Str(f(c.a0().float()?))))
}

/// String helpers: case, host names, regular expressions, escaping.
fn strings(c: &Call<'_>) -> Result<Option<V>, String> {
    Ok(Some(match c.name {
        "toUpper" => V::Str(c.s(0).to_uppercase()),
        "toLower" => V::Str(c.s(0).to_lowercase()),
        "title" => V::Str(title(&c.s(0))),
        "stripPort" => V::Str(strip_port(c.s(0))),
        "stripDomain" => V::Str(strip_domain(c.s(0))),
        "match" => {
            c.want(2)?;
            let re = regex_lite::Regex::new(&c.s(0)).map_err(|e| e.to_string())?;
            V::Bool(re.is_match(&c.s(1)))
        }
        "reReplaceAll" => {
            c.want(3)?;
            let re = regex_lite::Regex::new(&c.s(0)).map_err(|e| e.to_string())?;
            V::Str(re.replace_all(&c.s(2), c.s(1).as_str()).into_owned())
        }
        "urlQueryEscape" | "urlquery" => V::Str(query_escape(&c.s(0))),
        "safeHtml" | "html" | "js" => V::Str(c.s(0)),
        _ => return Ok(None),
    }))
}

/// Go's `strings.Title`: each space-separated word capitalised.
fn title(s: &str) -> String {
    s.split(' ')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `host:port` → `host` (brackets of an IPv6 address removed).
fn strip_port(h: String) -> String {
    match h.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        _ => h,
    }
}

/// `host.domain:port` → `host:port`; IP addresses unchanged.
fn strip_domain(h: String) -> String {
    let (host, port) = match h.rsplit_once(':') {
        Some((a, p)) if p.chars().all(|c| c.is_ascii_digit()) => (a.to_string(), format!(":{p}")),
        _ => (h.clone(), String::new()),
    };
    if host.parse::<std::net::IpAddr>().is_ok() {
        h
    } else {
        format!("{}{port}", host.split('.').next().unwrap_or(""))
    }
}

/// Go's `url.QueryEscape`.
pub(super) fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".into(),
            o => format!("%{o:02X}"),
        })
        .collect()
}

/// text/template's builtins: printing, `args`, `len`, `index`, logic and
/// comparisons.
fn builtins(c: &Call<'_>) -> Result<Option<V>, String> {
    let args = c.args;
    Ok(Some(match c.name {
        "printf" => {
            let Some(V::Str(f)) = args.first() else {
                return Err("printf: the format must be a string".into());
            };
            let rest: Vec<FmtArg> = args[1..].iter().map(V::fmt_arg).collect();
            V::Str(gofmt::sprintf(f, &rest))
        }
        "print" => V::Str(args.iter().map(text).collect::<Vec<_>>().join("")),
        "println" => V::Str(format!(
            "{}\n",
            args.iter().map(text).collect::<Vec<_>>().join(" ")
        )),
        "args" => V::Map(
            args.iter()
                .enumerate()
                .map(|(i, a)| (format!("arg{i}"), text(a)))
                .collect(),
        ),
        "len" => {
            c.want(1)?;
            V::Int(match c.a0() {
                V::Str(x) | V::Html(x) => x.len() as i64,
                V::Map(m) => m.len() as i64,
                V::Kv(m) => m.len() as i64,
                V::List(l, _) => l.len() as i64,
                V::Samples(v) => v.len() as i64,
                o => return Err(format!("error calling len: len of type {}", o.type_name())),
            })
        }
        "index" => {
            if args.is_empty() {
                return Err("wrong number of args for index: want at least 1 got 0".into());
            }
            let mut v = args[0].clone();
            for k in &args[1..] {
                v = index(&v, k)?;
            }
            v
        }
        "slice" => {
            if args.is_empty() {
                return Err("wrong number of args for slice: want at least 1 got 0".into());
            }
            slice(&args[0], &args[1..])?
        }
        "not" => {
            c.want(1)?;
            V::Bool(!c.a0().truth())
        }
        "and" => pick(args, |a| !a.truth()),
        "or" => pick(args, V::truth),
        "eq" if args.len() > 2 => {
            // eq a b c: a == b || a == c.
            let mut any = false;
            for b in &args[1..] {
                any |= compare(&args[0], b)? == std::cmp::Ordering::Equal;
            }
            V::Bool(any)
        }
        "eq" | "ne" | "lt" | "le" | "gt" | "ge" => {
            c.want(2)?;
            let ord = compare(&args[0], &args[1])?;
            use std::cmp::Ordering::*;
            V::Bool(match c.name {
                "eq" => ord == Equal,
                "ne" => ord != Equal,
                "lt" => ord == Less,
                "le" => ord != Greater,
                "gt" => ord == Greater,
                _ => ord != Less,
            })
        }
        _ => return Ok(None),
    }))
}

/// `index x k…`: an element of a list or a map's value (missing: "").
fn index(v: &V, k: &V) -> Result<V, String> {
    match v {
        V::Map(m) => Ok(V::Str(m.get(&text(k)).cloned().unwrap_or_default())),
        V::Kv(m) => Ok(V::Str(m.get(&text(k)).cloned().unwrap_or_default())),
        V::List(l, _) => {
            let i = int(k, "index")?;
            usize::try_from(i)
                .ok()
                .and_then(|i| l.get(i))
                .cloned()
                .ok_or_else(|| format!("error calling index: index out of range: {i}"))
        }
        V::Samples(s) => {
            let i = int(k, "index")?;
            usize::try_from(i)
                .ok()
                .and_then(|i| s.get(i))
                .cloned()
                .map(V::Sample)
                .ok_or_else(|| format!("error calling index: index out of range: {i}"))
        }
        V::Str(s) => {
            let i = int(k, "index")?;
            usize::try_from(i)
                .ok()
                .and_then(|i| s.as_bytes().get(i))
                .map(|b| V::Int(i64::from(*b)))
                .ok_or_else(|| format!("error calling index: index out of range: {i}"))
        }
        V::Nil => Err("error calling index: index of untyped nil".into()),
        o => Err(format!(
            "error calling index: can't index item of type {}",
            o.type_name()
        )),
    }
}

/// An integer argument.
fn int(v: &V, f: &str) -> Result<i64, String> {
    match v {
        V::Int(i) => Ok(*i),
        o => Err(format!(
            "error calling {f}: cannot index slice/array with type {}",
            o.type_name()
        )),
    }
}

/// `slice x i j`: part of a string or list.
fn slice(v: &V, idx: &[V]) -> Result<V, String> {
    if idx.len() > 2 {
        return Err("error calling slice: too many slice indexes".into());
    }
    let len = match v {
        V::Str(s) => s.len(),
        V::List(l, _) => l.len(),
        o => {
            return Err(format!(
                "error calling slice: can't slice item of type {}",
                o.type_name()
            ))
        }
    };
    let mut bounds = [0usize, len];
    for (i, x) in idx.iter().enumerate() {
        let n = int(x, "slice")?;
        bounds[i] = usize::try_from(n)
            .ok()
            .filter(|n| *n <= len)
            .ok_or_else(|| format!("error calling slice: index out of range: {n}"))?;
    }
    if bounds[0] > bounds[1] {
        return Err(format!(
            "error calling slice: invalid slice index: {} > {}",
            bounds[0], bounds[1]
        ));
    }
    Ok(match v {
        V::Str(s) => {
            V::Str(String::from_utf8_lossy(&s.as_bytes()[bounds[0]..bounds[1]]).into_owned())
        }
        V::List(l, k) => V::List(Rc::new(l[bounds[0]..bounds[1]].to_vec()), *k),
        _ => V::Nil,
    })
}

/// Alertmanager 0.25's own functions, and the builtins whose text
/// differs from Prometheus's rendering (`html`, `js` escape here).
fn alertmanager(c: &Call<'_>) -> Result<Option<V>, String> {
    let s = |i: usize| -> Result<String, String> {
        match c.args.get(i) {
            Some(V::Str(s) | V::Html(s)) => Ok(s.clone()),
            Some(o) => Err(format!(
                "error calling {}: wrong type for value; expected string; got {}",
                c.name,
                o.type_name()
            )),
            None => Ok(String::new()),
        }
    };
    Ok(Some(match c.name {
        "toUpper" => {
            c.want(1)?;
            V::Str(s(0)?.chars().map(upper).collect())
        }
        "toLower" => {
            c.want(1)?;
            V::Str(s(0)?.chars().map(lower).collect())
        }
        "title" => {
            c.want(1)?;
            V::Str(cases_title(&s(0)?))
        }
        "join" => {
            c.want(2)?;
            let items = am::string_list(&c.args[1], "join")
                .map_err(|e| format!("error calling join: {e}"))?;
            V::Str(items.join(&s(0)?))
        }
        "match" => {
            c.want(2)?;
            let re =
                regex_lite::Regex::new(&s(0)?).map_err(|e| format!("error calling match: {e}"))?;
            V::Bool(re.is_match(&s(1)?))
        }
        "safeHtml" => {
            c.want(1)?;
            V::Html(s(0)?)
        }
        "reReplaceAll" => {
            c.want(3)?;
            let re = regex_lite::Regex::new(&s(0)?)
                .map_err(|e| format!("error calling reReplaceAll: {e}"))?;
            V::Str(re.replace_all(&s(2)?, s(1)?.as_str()).into_owned())
        }
        "stringSlice" => {
            let mut items = Vec::new();
            for i in 0..c.args.len() {
                items.push(V::Str(s(i)?));
            }
            V::List(Rc::new(items), ListKind::Strings)
        }
        "html" => V::Str(html::html_escape_string(&eval_args(c.args))),
        "js" => V::Str(html::js_escape_string(&eval_args(c.args))),
        "urlquery" => V::Str(query_escape(&eval_args(c.args))),
        _ => return Ok(None),
    }))
}

/// Go's `unicode.ToUpper` of one rune (no rune becomes two, as Rust's
/// full mapping would make `ß` `SS`).
fn upper(c: char) -> char {
    let mut u = c.to_uppercase();
    match (u.next(), u.next()) {
        (Some(x), None) => x,
        _ => c,
    }
}

/// Go's `unicode.ToLower` of one rune.
fn lower(c: char) -> char {
    let mut l = c.to_lowercase();
    match (l.next(), l.next()) {
        (Some(x), None) => x,
        _ => c,
    }
}

/// Alertmanager's `title` (`cases.Title(language.AmericanEnglish)`):
/// each word's first letter upper case, the rest lower case. Words are
/// runs of letters, digits and `_`, joined across `'`, `.`, `:` between
/// letters (Unicode word breaking, simplified).
fn cases_title(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = String::with_capacity(s.len());
    let mut in_word = false;
    for (i, &c) in chars.iter().enumerate() {
        if word(c) {
            if in_word {
                out.push(lower(c));
            } else {
                out.extend(c.to_uppercase());
                in_word = true;
            }
        } else {
            let joins = matches!(c, '\'' | '.' | ':' | '\u{2019}' | '\u{b7}')
                && in_word
                && chars.get(i + 1).is_some_and(|n| n.is_alphabetic())
                && i > 0
                && chars[i - 1].is_alphabetic();
            out.push(c);
            in_word = joins;
        }
    }
    out
}

/// html/template's and text/template's `evalArgs`: one string as it is,
/// else `fmt.Sprint` of the arguments.
pub(super) fn eval_args(args: &[V]) -> String {
    match args {
        [V::Str(s)] => s.clone(),
        _ => {
            // fmt.Sprint: a space between operands when neither is a string.
            let mut out = String::new();
            for (i, a) in args.iter().enumerate() {
                let is_str = |v: &V| matches!(v, V::Str(_) | V::Html(_));
                if i > 0 && !is_str(a) && !is_str(&args[i - 1]) {
                    out.push(' ');
                }
                out.push_str(&match a {
                    V::Nil => "<nil>".to_string(),
                    o => o.text(),
                });
            }
            out
        }
    }
}

/// `and`/`or`: the first argument that decides, else the last.
fn pick(args: &[V], decides: impl Fn(&V) -> bool) -> V {
    args.iter()
        .find(|a| decides(a))
        .or(args.last())
        .cloned()
        .unwrap_or(V::Nil)
}

/// Go template comparison: strings and booleans as such, else as numbers.
fn compare(a: &V, b: &V) -> Result<std::cmp::Ordering, String> {
    match (a, b) {
        (V::Str(x) | V::Html(x), V::Str(y) | V::Html(y)) => Ok(x.cmp(y)),
        (V::Bool(x), V::Bool(y)) => Ok(x.cmp(y)),
        _ => {
            let (x, y) = (a.float()?, b.float()?);
            x.partial_cmp(&y)
                .ok_or_else(|| "incomparable values".to_string())
        }
    }
}
