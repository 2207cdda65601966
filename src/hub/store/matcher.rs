//! Label matchers (`name="v"`, `!=`, `=~`, `!~`): how the read API and
//! PromQL select series from the store.
//!
//! Semantics as Prometheus's `labels.Matcher`: a missing label has the
//! value `""`, regexes are fully anchored (`=~"a.*"` means `^(?:a.*)$`),
//! and a matcher that matches `""` also matches series without the label.

use regex_lite::Regex;

use picket_core::metric::Labels;

/// How a matcher compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `=~`
    Re,
    /// `!~`
    Nre,
}

/// One label matcher.
#[derive(Clone, Debug)]
pub struct Matcher {
    /// Label name (`__name__` for the metric name).
    pub name: String,
    /// Comparison.
    pub op: Op,
    /// The value or the regex source.
    pub value: String,
    re: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Matcher) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Matcher {
    /// A matcher; Err when a regex does not compile.
    pub(crate) fn new(name: &str, op: Op, value: &str) -> Result<Matcher, String> {
        let re = match op {
            Op::Re | Op::Nre => Some(
                Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| format!("invalid regular expression {value:?}: {e}"))?,
            ),
            Op::Eq | Op::Ne => None,
        };
        Ok(Matcher {
            name: name.to_string(),
            op,
            value: value.to_string(),
            re,
        })
    }

    /// `name="value"`.
    pub(crate) fn eq(name: &str, value: &str) -> Matcher {
        Matcher {
            name: name.to_string(),
            op: Op::Eq,
            value: value.to_string(),
            re: None,
        }
    }

    /// Whether a label value (`""` when absent) matches.
    pub(crate) fn matches(&self, v: &str) -> bool {
        match (self.op, &self.re) {
            (Op::Eq, _) => v == self.value,
            (Op::Ne, _) => v != self.value,
            (Op::Re, Some(re)) => re.is_match(v),
            (Op::Nre, Some(re)) => !re.is_match(v),
            (Op::Re | Op::Nre, None) => false,
        }
    }

    /// Whether a label set matches.
    pub(crate) fn matches_labels(&self, l: &Labels) -> bool {
        self.matches(l.get(&self.name).unwrap_or(""))
    }

    /// True when the matcher also matches a missing label.
    pub(crate) fn matches_empty(&self) -> bool {
        self.matches("")
    }
}

/// Parses a series selector as the read API takes it in `match[]`:
/// `metric`, `metric{a="b",c=~"d"}` or `{a="b"}`. At least one matcher
/// must not match the empty string, as Prometheus requires.
pub(crate) fn parse_selector(s: &str) -> Result<Vec<Matcher>, String> {
    let s = s.trim();
    let (name, rest) = match s.find('{') {
        Some(i) => (s[..i].trim(), Some(&s[i..])),
        None => (s, None),
    };
    let mut out = Vec::new();
    if !name.is_empty() {
        if !picket_core::metric::valid_metric_name(name) {
            return Err(format!("invalid metric name {name:?}"));
        }
        out.push(Matcher::eq("__name__", name));
    }
    if let Some(body) = rest {
        let inner = body
            .strip_prefix('{')
            .and_then(|b| b.strip_suffix('}'))
            .ok_or_else(|| format!("unclosed {{ in selector {s:?}"))?;
        let mut p = inner.trim();
        while !p.is_empty() {
            let end = p
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(p.len());
            let lname = &p[..end];
            if !picket_core::metric::valid_label_name(lname) {
                return Err(format!("invalid label name in selector {s:?}"));
            }
            p = p[end..].trim_start();
            let (op, skip) = if p.starts_with("=~") {
                (Op::Re, 2)
            } else if p.starts_with("!~") {
                (Op::Nre, 2)
            } else if p.starts_with("!=") {
                (Op::Ne, 2)
            } else if p.starts_with('=') {
                (Op::Eq, 1)
            } else {
                return Err(format!("expected a matcher operator in selector {s:?}"));
            };
            p = p[skip..].trim_start();
            let (value, used) = quoted(p).ok_or_else(|| format!("bad quoted value in {s:?}"))?;
            out.push(Matcher::new(lname, op, &value)?);
            p = p[used..].trim_start();
            if let Some(r) = p.strip_prefix(',') {
                p = r.trim_start();
            } else if !p.is_empty() {
                return Err(format!("expected , or }} in selector {s:?}"));
            }
        }
    }
    if out.is_empty() || out.iter().all(Matcher::matches_empty) {
        return Err(format!(
            "match[] must contain at least one non-empty matcher: {s:?}"
        ));
    }
    Ok(out)
}

/// A double-, single- or back-quoted string at the start of `p`, with
/// PromQL/Go escapes: (value, bytes used).
fn quoted(p: &str) -> Option<(String, usize)> {
    let q = p.chars().next()?;
    if !matches!(q, '"' | '\'' | '`') {
        return None;
    }
    let mut out = String::new();
    let mut chars = p.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        if c == q {
            return Some((out, i + 1));
        }
        if c == '\\' && q != '`' {
            let (_, e) = chars.next()?;
            out.push(match e {
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                other => other,
            });
        } else {
            out.push(c);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_parse_and_match_like_prometheus() {
        let m = parse_selector(r#"up{job="node", instance=~"pi.*",env!="",x!~"a|b"}"#).unwrap();
        assert_eq!(m.len(), 5);
        let l = Labels::from_pairs([
            ("__name__", "up"),
            ("job", "node"),
            ("instance", "pi4:9100"),
            ("env", "lab"),
        ]);
        assert!(m.iter().all(|m| m.matches_labels(&l)));
        // Anchored: "pi" alone does not match "xpi4".
        let r = Matcher::new("i", Op::Re, "pi.*").unwrap();
        assert!(!r.matches("xpi4"));
        assert!(parse_selector(r#"{a=""}"#).is_err());
        assert!(parse_selector(r#"{a=~".*"}"#).is_err());
        assert!(parse_selector(r#"up{a="b""#).is_err());
        assert!(parse_selector(r#"up{a=~"("}"#).is_err());
        assert_eq!(parse_selector(r#"{__name__="up"}"#).unwrap().len(), 1);
        assert_eq!(
            parse_selector(r#"x{a="q\"uote"}"#).unwrap()[1].value,
            "q\"uote"
        );
    }
}
