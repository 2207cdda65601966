//! Parser for the Prometheus text exposition format 0.0.4.
//!
//! The one parser for everything picket reads in this format: `*.prom` files
//! of the textfile collector now, relayed exporters and the hub's scrapes
//! later. It is strict where Prometheus is strict (bad names, bad escapes,
//! a second `# TYPE` for one family, a value that is not a float) and reports
//! the line of the first problem, so a bad file can be named precisely.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use crate::metric::{valid_label_name, valid_metric_name, Labels, MetricType, Sample, Suffix};

/// Why a text body could not be parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    /// 1-based line of the problem.
    pub line: usize,
    /// What is wrong, in plain words.
    pub msg: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.msg)
    }
}

impl std::error::Error for ParseError {}

#[derive(Default)]
struct Meta {
    help: Option<String>,
    kind: Option<MetricType>,
    seen_sample: bool,
}

/// Parses a whole exposition body into samples (in input order).
pub fn parse(text: &str) -> Result<Vec<Sample>, ParseError> {
    let mut out = Vec::new();
    parse_into(text, &mut out)?;
    Ok(out)
}

/// Parses `text`, appending samples to `out`. On error, `out` keeps the
/// samples of the lines before the bad one; callers that need all-or-nothing
/// truncate it back.
pub fn parse_into(text: &str, out: &mut Vec<Sample>) -> Result<(), ParseError> {
    let mut meta: HashMap<String, Meta> = HashMap::new();
    // The family declared by the latest `# TYPE` line of a histogram or
    // summary: its `_bucket`/`_sum`/`_count` samples belong to it.
    let mut compound: Option<(String, MetricType)> = None;

    for (idx, raw) in text.split('\n').enumerate() {
        let line_no = idx + 1;
        let err = |msg: String| ParseError { line: line_no, msg };
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = line.trim_start_matches([' ', '\t']);
        if trimmed.is_empty() {
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix('#') {
            let rest = rest.trim_start_matches([' ', '\t']);
            let (word, rest) = split_word(rest);
            if word != "HELP" && word != "TYPE" {
                continue; // a plain comment
            }
            let (name, rest) = split_word(rest);
            if !valid_metric_name(name) {
                return Err(err(format!("invalid metric name {name:?} in # {word}")));
            }
            let m = meta.entry(name.to_string()).or_default();
            if word == "HELP" {
                if m.help.is_some() {
                    return Err(err(format!("second HELP line for metric name {name:?}")));
                }
                m.help = Some(unescape_help(rest));
            } else {
                if m.kind.is_some() {
                    return Err(err(format!("second TYPE line for metric name {name:?}")));
                }
                if m.seen_sample {
                    return Err(err(format!("TYPE line for {name:?} after its samples")));
                }
                let t = rest.trim();
                let kind = MetricType::parse(t)
                    .ok_or_else(|| err(format!("unknown metric type {t:?} for {name:?}")))?;
                m.kind = Some(kind);
                compound = matches!(kind, MetricType::Histogram | MetricType::Summary)
                    .then(|| (name.to_string(), kind));
            }
            continue;
        }

        let sample = parse_sample(trimmed).map_err(err)?;
        let (name, suffix) = match &compound {
            Some((fam, kind)) if sample.0 != fam.as_str() => {
                match sample.0.strip_prefix(fam.as_str()) {
                    Some("_sum") => (fam.clone(), Suffix::Sum),
                    Some("_count") => (fam.clone(), Suffix::Count),
                    Some("_bucket") if *kind == MetricType::Histogram => {
                        (fam.clone(), Suffix::Bucket)
                    }
                    _ => (sample.0.to_string(), Suffix::None),
                }
            }
            _ => (sample.0.to_string(), Suffix::None),
        };
        let m = meta.entry(name.clone()).or_default();
        m.seen_sample = true;
        let kind = m.kind.unwrap_or(MetricType::Untyped);
        if kind == MetricType::Histogram && suffix == Suffix::Bucket && sample.1.get("le").is_none()
        {
            return Err(err(format!(
                "histogram bucket of {name:?} without an le label"
            )));
        }
        out.push(Sample {
            name: Cow::Owned(name),
            suffix,
            help: Cow::Owned(m.help.clone().unwrap_or_default()),
            kind,
            labels: sample.1,
            value: sample.2,
            timestamp_ms: sample.3,
        });
    }
    Ok(())
}

fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start_matches([' ', '\t']);
    match s.find([' ', '\t']) {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    }
}

fn unescape_help(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('\\') => out.push('\\'),
                Some(o) => {
                    out.push('\\');
                    out.push(o);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

type RawSample<'a> = (&'a str, Labels, f64, Option<i64>);

fn parse_sample(line: &str) -> Result<RawSample<'_>, String> {
    let end = line
        .find(|c: char| c == '{' || c == ' ' || c == '\t')
        .unwrap_or(line.len());
    let name = &line[..end];
    if !valid_metric_name(name) {
        return Err(format!("invalid metric name {name:?}"));
    }
    let mut rest = &line[end..];
    let mut labels = Labels::new();
    if let Some(r) = rest.strip_prefix('{') {
        rest = parse_labels(r, &mut labels)?;
    }
    let mut fields = rest.split([' ', '\t']).filter(|f| !f.is_empty());
    let value = fields
        .next()
        .ok_or_else(|| format!("metric {name:?} has no value"))?;
    let value =
        parse_float(value).ok_or_else(|| format!("invalid value {value:?} for {name:?}"))?;
    let ts = match fields.next() {
        Some(t) => Some(
            t.parse::<i64>()
                .map_err(|_| format!("invalid timestamp {t:?} for {name:?}"))?,
        ),
        None => None,
    };
    if let Some(extra) = fields.next() {
        return Err(format!("unexpected {extra:?} after the sample of {name:?}"));
    }
    Ok((name, labels, value, ts))
}

/// Parses `name="value",...}` and returns what follows the closing brace.
fn parse_labels<'a>(mut s: &'a str, labels: &mut Labels) -> Result<&'a str, String> {
    loop {
        s = s.trim_start_matches([' ', '\t']);
        if let Some(r) = s.strip_prefix('}') {
            return Ok(r);
        }
        let eq = s.find('=').ok_or("label without '='")?;
        let lname = s[..eq].trim_end_matches([' ', '\t']);
        if !valid_label_name(lname) {
            return Err(format!("invalid label name {lname:?}"));
        }
        if labels.get(lname).is_some() {
            return Err(format!("duplicate label name {lname:?}"));
        }
        s = s[eq + 1..].trim_start_matches([' ', '\t']);
        s = s
            .strip_prefix('"')
            .ok_or_else(|| format!("value of label {lname:?} is not quoted"))?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let close = loop {
            match chars.next() {
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, c)) => return Err(format!("invalid escape \\{c} in label {lname:?}")),
                    None => return Err(format!("unterminated value of label {lname:?}")),
                },
                Some((_, c)) => value.push(c),
                None => return Err(format!("unterminated value of label {lname:?}")),
            }
        };
        labels.set(lname.to_string(), value);
        s = s[close + 1..].trim_start_matches([' ', '\t']);
        if let Some(r) = s.strip_prefix(',') {
            s = r;
        } else if !s.starts_with('}') {
            return Err(format!("expected ',' or '}}' after label {lname:?}"));
        }
    }
}

/// Parses a sample value as Go's `strconv.ParseFloat` does for this format.
pub fn parse_float(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        "NaN" | "nan" => Some(f64::NAN),
        _ if s
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E')) =>
        {
            s.parse().ok()
        }
        _ => None,
    }
}
