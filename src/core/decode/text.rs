//! Parser for the Prometheus text exposition format 0.0.4.
//!
//! The one parser for everything picket reads in this format: `*.prom` files
//! of the textfile collector now, relayed exporters and the hub's scrapes
//! later. It follows Go's `expfmt` text parser (prometheus/common
//! `expfmt/text_parse.go`, what node_exporter's textfile collector uses) and
//! reports the line of the first problem, so a bad file can be named
//! precisely. Where that parser and the Prometheus server's scrape parser
//! (prometheus/prometheus `model/textparse/promparse.go`) disagree, the
//! choice is noted below.
//!
//! As Go's parser does, it:
//!
//! - joins `foo_sum`/`foo_count` to a family `foo` declared a summary, and
//!   `foo_sum`/`foo_count`/`foo_bucket` to one declared a histogram, wherever
//!   they appear after the `# TYPE` line; a family of the exact name, if one
//!   exists already, wins. `# HELP` and `# TYPE` lines resolve their name the
//!   same way (a `# TYPE foo_count …` after `# TYPE foo summary` is a second
//!   TYPE line for `foo`);
//! - applies a family's `# HELP` to all its samples, also those before it;
//! - accepts blanks between a metric name and its `{`;
//! - ignores `# HELP name` and `# TYPE name` lines without text, and `#`
//!   lines without a name; reads the type word case-insensitively (Go's
//!   `strings.ToUpper`), accepting `gauge_histogram` but failing on the first
//!   sample of such a family (Go: "unexpected type");
//! - unescapes `\\`, `\n` and `\"` in HELP text and label values, and fails
//!   on any other escape. promparse keeps unknown escapes in HELP verbatim;
//!   we stay with Go's parser because node_exporter skips such a `*.prom`
//!   file and no client library writes them;
//! - reads values as Go's `strconv.ParseFloat` without `p`, `P` and `_`
//!   ([`parse_float`]); timestamps as base-10 `i64`.
//!
//! Kept strict on purpose:
//!
//! - a `__name__` label is rejected (reserved, as in Go);
//! - any repeated label name is rejected, `le` and `quantile` included.
//!   Go's parser lets a repeated `le`/`quantile` of a histogram/summary
//!   overwrite the first, but the Prometheus server rejects the series (label
//!   names must be unique), and a label set here cannot hold one name twice;
//! - a second `# HELP` or `# TYPE` for a family, a `# TYPE` after the
//!   family's samples, a bad name, a value that is not a float, an extra
//!   field after the timestamp;
//! - quoted (UTF-8) metric and label names (`{"my.metric"}`) are not read:
//!   exporters only write them when the scraper asks for them in `Accept`.
//!
//! Lenient on purpose (both Go parsers are stricter or differ; real bodies
//! from hand-written exporters and scripts have these):
//!
//! - the last line need not end in `\n` (Go's parser: "unexpected end of
//!   input stream"; promparse accepts it). The textfile collector checks
//!   this itself to match node_exporter;
//! - `\r\n` line endings (the `\r` is dropped);
//! - blanks after the value or timestamp, and after the `# TYPE` word.
//!
//! Other differences from Go's parser, kept because promparse agrees:
//! a `_bucket` sample without `le` (or a summary sample without `quantile`)
//! is kept as it is rather than dropped silently; `le`/`quantile` values are
//! not checked here (the textfile collector checks them as node_exporter does).

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

/// A family's type as declared by its `# TYPE` line.
#[derive(Clone, Copy, PartialEq)]
enum Declared {
    Type(MetricType),
    /// Go's parser knows this type but cannot hold its samples.
    GaugeHistogram,
}

#[derive(Default)]
struct Meta {
    help: Option<String>,
    kind: Option<Declared>,
    seen_sample: bool,
}

type Families = HashMap<String, Meta>;

/// Parses a whole exposition body into samples (in input order).
pub fn parse(text: &str) -> Result<Vec<Sample>, ParseError> {
    let mut out = Vec::new();
    parse_into(text, &mut out)?;
    Ok(out)
}

/// Parses `text`, appending samples to `out`. On error, `out` keeps the
/// samples of the lines before the bad one (with the help known so far);
/// callers that need all-or-nothing truncate it back.
pub fn parse_into(text: &str, out: &mut Vec<Sample>) -> Result<(), ParseError> {
    let start = out.len();
    let mut meta = Families::new();
    let res = parse_lines(text, &mut meta, out);
    // A family's HELP applies to all its samples, wherever the line was.
    for s in out.iter_mut().skip(start) {
        if let Some(h) = meta.get(s.name.as_ref()).and_then(|m| m.help.as_ref()) {
            s.help = Cow::Owned(h.clone());
        }
    }
    res
}

fn parse_lines(text: &str, meta: &mut Families, out: &mut Vec<Sample>) -> Result<(), ParseError> {
    for (idx, raw) in text.split('\n').enumerate() {
        let line_no = idx + 1;
        let err = |msg: String| ParseError { line: line_no, msg };
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = line.trim_start_matches(BLANK);
        if trimmed.is_empty() {
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix('#') {
            meta_line(rest, meta).map_err(err)?;
            continue;
        }

        let (name, labels, value, timestamp_ms) = parse_sample(trimmed).map_err(err)?;
        let (family, suffix) = resolve(meta, name);
        let m = family_mut(meta, family);
        m.seen_sample = true;
        let kind = match m.kind {
            None => MetricType::Untyped,
            Some(Declared::Type(k)) => k,
            Some(Declared::GaugeHistogram) => {
                return Err(err(format!(
                    "unexpected type gauge_histogram for metric name {family:?}"
                )))
            }
        };
        out.push(Sample {
            name: Cow::Owned(family.to_string()),
            suffix,
            help: Cow::Borrowed(""), // filled in by `parse_into`
            kind,
            labels,
            value,
            timestamp_ms,
        });
    }
    Ok(())
}

const BLANK: [char; 2] = [' ', '\t'];

/// The family a metric name belongs to, as Go's `setOrCreateCurrentMF`
/// decides it: a family of that exact name if one exists, else a declared
/// summary (for `_sum`/`_count`) or histogram (also `_bucket`) of the name
/// without the suffix, else a new family of that name.
fn resolve<'a>(meta: &Families, name: &'a str) -> (&'a str, Suffix) {
    if meta.contains_key(name) {
        return (name, Suffix::None);
    }
    for (text, suffix) in [
        ("_count", Suffix::Count),
        ("_sum", Suffix::Sum),
        ("_bucket", Suffix::Bucket),
    ] {
        let Some(base) = name.strip_suffix(text) else {
            continue;
        };
        if base.is_empty() {
            break;
        }
        match meta.get(base).and_then(|m| m.kind) {
            Some(Declared::Type(MetricType::Histogram)) => return (base, suffix),
            Some(Declared::Type(MetricType::Summary)) if suffix != Suffix::Bucket => {
                return (base, suffix)
            }
            _ => break,
        }
    }
    (name, Suffix::None)
}

/// The metadata of `family`, created empty if new (no allocation if not).
fn family_mut<'m>(meta: &'m mut Families, family: &str) -> &'m mut Meta {
    if !meta.contains_key(family) {
        meta.insert(family.to_string(), Meta::default());
    }
    match meta.get_mut(family) {
        Some(m) => m,
        None => unreachable!("inserted above"),
    }
}

/// Handles the text after the `#` of a comment line.
fn meta_line(rest: &str, meta: &mut Families) -> Result<(), String> {
    let (word, rest) = split_word(rest);
    if word != "HELP" && word != "TYPE" {
        return Ok(()); // a plain comment
    }
    let (name, rest) = split_word(rest);
    if name.is_empty() {
        return Ok(()); // Go: not a syntax error
    }
    if !valid_metric_name(name) {
        return Err(format!("invalid metric name {name:?} in # {word}"));
    }
    let text = rest.trim_start_matches(BLANK);
    if text.is_empty() {
        return Ok(()); // Go: not a syntax error, and nothing is set
    }
    let (family, _) = resolve(meta, name);
    let of = || {
        if family == name {
            format!("{name:?}")
        } else {
            format!("{family:?} (as {name:?})")
        }
    };
    let m = family_mut(meta, family);
    if word == "HELP" {
        if m.help.is_some() {
            return Err(format!("second HELP line for metric name {}", of()));
        }
        m.help = Some(unescape_help(text)?);
    } else {
        if m.kind.is_some() {
            return Err(format!("second TYPE line for metric name {}", of()));
        }
        if m.seen_sample {
            return Err(format!("TYPE line for {} after its samples", of()));
        }
        // Go keeps trailing blanks in the word (and then rejects it); we drop them.
        let t = text.trim_end_matches(BLANK);
        m.kind =
            Some(type_word(t).ok_or_else(|| format!("unknown metric type {t:?} for {}", of()))?);
    }
    Ok(())
}

/// The first blank-separated word of `s` (after leading blanks) and the text
/// after the blank that ends it.
fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start_matches(BLANK);
    match s.find(BLANK) {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    }
}

/// A `# TYPE` word as Go reads it: `strings.ToUpper`, then the names of
/// client_model's `MetricType` enum.
fn type_word(t: &str) -> Option<Declared> {
    // Go's ToUpper also maps two non-ASCII letters to ASCII ones.
    let upper = |c: char| match c {
        'ı' => 'I',
        'ſ' => 'S',
        c => c.to_ascii_uppercase(),
    };
    let is = |word: &str| t.chars().map(upper).eq(word.chars());
    Some(if is("COUNTER") {
        Declared::Type(MetricType::Counter)
    } else if is("GAUGE") {
        Declared::Type(MetricType::Gauge)
    } else if is("UNTYPED") {
        Declared::Type(MetricType::Untyped)
    } else if is("HISTOGRAM") {
        Declared::Type(MetricType::Histogram)
    } else if is("SUMMARY") {
        Declared::Type(MetricType::Summary)
    } else if is("GAUGE_HISTOGRAM") {
        Declared::GaugeHistogram
    } else {
        return None;
    })
}

/// HELP text as Go's parser reads it: `\\`, `\n` and `\"` are escapes, any
/// other backslash is an error.
fn unescape_help(s: &str) -> Result<String, String> {
    if !s.contains('\\') {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some(o) => return Err(format!("invalid escape sequence \\{o} in HELP text")),
            None => return Err("invalid escape sequence: '\\' at the end of HELP text".into()),
        }
    }
    Ok(out)
}

type RawSample<'a> = (&'a str, Labels, f64, Option<i64>);

fn parse_sample(line: &str) -> Result<RawSample<'_>, String> {
    let end = line.find(['{', ' ', '\t']).unwrap_or(line.len());
    let name = &line[..end];
    if !valid_metric_name(name) {
        return Err(format!("invalid metric name {name:?}"));
    }
    // Go allows blanks between the name and the `{`.
    let mut rest = line[end..].trim_start_matches(BLANK);
    let mut labels = Labels::new();
    if let Some(r) = rest.strip_prefix('{') {
        rest = parse_labels(r, &mut labels)?;
    }
    let mut fields = rest.split(BLANK).filter(|f| !f.is_empty());
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
        s = s.trim_start_matches(BLANK);
        if let Some(r) = s.strip_prefix('}') {
            return Ok(r);
        }
        let eq = s.find('=').ok_or("label without '='")?;
        let lname = s[..eq].trim_end_matches(BLANK);
        if !valid_label_name(lname) {
            return Err(format!("invalid label name {lname:?}"));
        }
        if lname == "__name__" {
            return Err("label name \"__name__\" is reserved".into());
        }
        // Strict on purpose, `le` and `quantile` included (see the module doc).
        if labels.get(lname).is_some() {
            return Err(format!("duplicate label name {lname:?}"));
        }
        s = s[eq + 1..].trim_start_matches(BLANK);
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
        s = s[close + 1..].trim_start_matches(BLANK);
        if let Some(r) = s.strip_prefix(',') {
            s = r;
        } else if !s.starts_with('}') {
            return Err(format!("expected ',' or '}}' after label {lname:?}"));
        }
    }
}

/// Parses a sample value exactly as the format's Go parsers do: Go's
/// `strconv.ParseFloat(s, 64)` with `p`, `P` and `_` refused (so no hex
/// floats and no digit separators).
///
/// That is: an optional sign and `inf` or `infinity` in any case; `nan` in
/// any case and without a sign; or a decimal number (`1`, `-.5`, `1.`,
/// `1.5e-3`, `2E+10`). A decimal that overflows `f64` is an error, as Go
/// reports it out of range; one that underflows is 0.
pub fn parse_float(s: &str) -> Option<f64> {
    let (neg, unsigned) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity") {
        return Some(if neg {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if s.eq_ignore_ascii_case("nan") {
        return Some(f64::NAN);
    }
    // With letters other than e/E excluded, Rust's decimal grammar is Go's.
    if !s
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
    {
        return None;
    }
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}
