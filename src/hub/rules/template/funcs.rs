//! The template function library: Prometheus's (`template_reference.md`:
//! `humanize` and friends, `query` and what reads its results, string
//! helpers) and text/template's builtins (`printf`, `len`, `index`, `and`,
//! `eq`, …), with Prometheus's argument checks and error texts. Apart
//! from the parser and executor because it grows by function, not by
//! syntax.

use super::gofmt::{self, Arg as FmtArg};
use super::{Exec, V};

/// Functions the template library knows (Prometheus's
/// `template_reference.md` plus text/template's builtins).
pub(super) const FUNCS: &[&str] = &[
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
            "externalURL" => V::Str(self.data.external_url.clone()),
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
fn query_escape(s: &str) -> String {
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
                V::Str(x) => x.len() as i64,
                V::Map(m) => m.len() as i64,
                V::Samples(v) => v.len() as i64,
                o => return Err(format!("len of {}", o.text())),
            })
        }
        "index" => {
            c.want(2)?;
            match &args[0] {
                V::Map(m) => V::Str(m.get(&c.s(1)).cloned().unwrap_or_default()),
                o => return Err(format!("can't index item of type {}", o.text())),
            }
        }
        "not" => {
            c.want(1)?;
            V::Bool(!c.a0().truth())
        }
        "and" => pick(args, |a| !a.truth()),
        "or" => pick(args, V::truth),
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
        (V::Str(x), V::Str(y)) => Ok(x.cmp(y)),
        (V::Bool(x), V::Bool(y)) => Ok(x.cmp(y)),
        _ => {
            let (x, y) = (a.float()?, b.float()?);
            x.partial_cmp(&y)
                .ok_or_else(|| "incomparable values".to_string())
        }
    }
}
