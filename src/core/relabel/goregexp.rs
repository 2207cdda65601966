//! Go's `regexp` as Prometheus 2.42 relabelling uses it, on top of
//! regex-lite.
//!
//! Relabel regexes are Go RE2 syntax (Go 1.19's `regexp/syntax` with Perl
//! flags; Debian's promtool 2.42 is built with Go 1.19.8). regex-lite reads
//! a close relative of that syntax, but not the same one: it reads `[[]`
//! as a nested class, `&&` `--` `~~` in classes as set operations, `\<` as
//! a word start, `a{,2}` as an error, lets `a**` and `x{5000}` through, and
//! its `\s` matches `\v`. So the pattern is read here the way Go's parser
//! reads it and written out again with every literal other than ASCII
//! letters, digits and `_` escaped, every class spelled as explicit ranges,
//! `x{0}` kept from renumbering groups and every group unnamed (the names are kept
//! here, so Go's names that regex-lite refuses, like `(?P<1x>…)`, and
//! duplicate names work). Matching semantics are the same in both
//! (leftmost-first, Perl-like submatches).
//!
//! Replacement strings are Go's `Regexp.Expand` templates (`$1`, `${1}`,
//! `$name`, `$$`), applied by [`GoRegexp::expand`] and
//! [`GoRegexp::replace_all`] (`ReplaceAllString`, with its rule for empty
//! matches).
//!
//! Not reproduced: Unicode classes (`\pL`, `\p{Greek}`) are refused
//! (regex-lite has no Unicode tables); `(?i)` folds ASCII letters only, where
//! Go also folds non-ASCII ones and `k`/`s` with `K` (Kelvin) and `ſ`.

use std::fmt;
use std::fmt::Write as _;

use regex_lite::{CaptureLocations, Regex, RegexBuilder};

/// How deep a pattern may nest: regex-lite's default. Go allows parse
/// trees 1000 high, but regex-lite's compiler recurses (measured: about
/// 3 KB of stack per level in a debug build, under 1 KB in release), so
/// deeper patterns are refused rather than risking a thread's stack.
const NEST_LIMIT: u32 = 50;

/// Go's limit on a counted repetition, and on the product of nested ones.
const MAX_REPEAT: u64 = 1000;

const MAX_RUNE: u32 = 0x10_FFFF;

/// A regular expression compiled from Go syntax.
#[derive(Clone)]
pub(crate) struct GoRegexp {
    /// The pattern as Go read it.
    source: String,
    re: Regex,
    /// The name of each capture group; index 0 is the whole match.
    names: Vec<Option<String>>,
}

impl fmt::Debug for GoRegexp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GoRegexp({:?})", self.source)
    }
}

impl GoRegexp {
    /// Compiles `pattern` as Go's `regexp.Compile` does. The error is Go's
    /// message where the difference is found here (`error parsing regexp:
    /// invalid nested repetition operator: ...`), regex-lite's words in
    /// Go's frame where regex-lite finds it (unbalanced parentheses, a
    /// repetition of nothing).
    pub(crate) fn new(pattern: &str) -> Result<GoRegexp, String> {
        let (translated, names) = translate(pattern).map_err(|e| e.to_string())?;
        let re = RegexBuilder::new(&translated)
            .nest_limit(NEST_LIMIT)
            .build()
            .map_err(|e| format!("error parsing regexp: {e}: `{pattern}`"))?;
        if re.captures_len() != names.len() {
            return Err(format!(
                "error parsing regexp: internal error (groups): `{pattern}`"
            ));
        }
        Ok(GoRegexp {
            source: pattern.to_string(),
            re,
            names,
        })
    }

    /// The pattern as written.
    pub(crate) fn as_str(&self) -> &str {
        &self.source
    }

    /// Go's `MatchString`: a match anywhere in `s`.
    pub(crate) fn is_match(&self, s: &str) -> bool {
        self.re.is_match(s)
    }

    /// Fresh storage for [`GoRegexp::captures`].
    pub(crate) fn locations(&self) -> CaptureLocations {
        self.re.capture_locations()
    }

    /// Go's `FindStringSubmatchIndex`: the leftmost match, its groups in
    /// `locs`; false when there is none.
    pub(crate) fn captures(&self, locs: &mut CaptureLocations, s: &str) -> bool {
        self.re.captures_read(locs, s).is_some()
    }

    /// Go's `Regexp.ExpandString`: appends `template` to `dst` with `$1`,
    /// `${1}`, `$name`, `${name}` replaced by that group of the match in
    /// `locs` over `src` (nothing when the group did not take part or does
    /// not exist) and `$$` by `$`. A `$` not followed by a name is kept. A
    /// name is the longest run of letters, digits and `_`, so `$1x` is the
    /// group named `1x`; a name is a number if it is all digits without a
    /// leading zero.
    pub(crate) fn expand(
        &self,
        dst: &mut String,
        mut template: &str,
        src: &str,
        locs: &CaptureLocations,
    ) {
        while let Some(i) = template.find('$') {
            dst.push_str(&template[..i]);
            template = &template[i + 1..];
            if let Some(rest) = template.strip_prefix('$') {
                dst.push('$');
                template = rest;
                continue;
            }
            let Some((name, num, rest)) = extract(template) else {
                dst.push('$');
                continue;
            };
            template = rest;
            let group = match num {
                Some(n) => Some(n),
                None => self
                    .names
                    .iter()
                    .enumerate()
                    .position(|(i, n)| n.as_deref() == Some(name) && locs.get(i).is_some()),
            };
            if let Some((s, e)) = group.and_then(|g| locs.get(g)) {
                dst.push_str(src.get(s..e).unwrap_or(""));
            }
        }
        dst.push_str(template);
    }

    /// Go's `ReplaceAllString`: every non-overlapping match in `src`
    /// replaced by the expanded `template`; an empty match right after a
    /// previous match is not replaced.
    pub(crate) fn replace_all(&self, src: &str, template: &str) -> String {
        let mut locs = self.locations();
        let mut out = String::with_capacity(src.len());
        let (mut last_end, mut search) = (0usize, 0usize);
        while search <= src.len() {
            let Some(m) = self.re.captures_read_at(&mut locs, src, search) else {
                break;
            };
            let (start, end) = (m.start(), m.end());
            out.push_str(src.get(last_end..start).unwrap_or(""));
            if end > last_end || start == 0 {
                self.expand(&mut out, template, src, &locs);
            }
            last_end = end;
            // Past this match, and at least one character on.
            let width = src[search..].chars().next().map_or(0, char::len_utf8);
            search = if search + width > end {
                search + width
            } else if search + 1 > end {
                search + 1
            } else {
                end
            };
        }
        out.push_str(src.get(last_end..).unwrap_or(""));
        out
    }
}

/// The name after a template's `$` (`name` or `{name}`), whether it is a
/// group number, and the rest; `None` when no name follows.
fn extract(s: &str) -> Option<(&str, Option<usize>, &str)> {
    let (brace, body) = match s.strip_prefix('{') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let end = body
        .char_indices()
        .find(|&(_, c)| !(c == '_' || c.is_alphanumeric()))
        .map_or(body.len(), |(i, _)| i);
    if end == 0 {
        return None;
    }
    let name = &body[..end];
    let rest = if brace {
        body[end..].strip_prefix('}')?
    } else {
        &body[end..]
    };
    let mut num: Option<usize> = Some(0);
    for b in name.bytes() {
        num = match num {
            Some(n) if b.is_ascii_digit() && n < 100_000_000 => {
                Some(n * 10 + usize::from(b - b'0'))
            }
            _ => None,
        };
    }
    if name.len() > 1 && name.starts_with('0') {
        num = None;
    }
    Some((name, num, rest))
}

/// A parse error, printed as Go prints it.
#[derive(Debug)]
struct GoError {
    code: &'static str,
    expr: String,
}

impl fmt::Display for GoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error parsing regexp: {}: `{}`", self.code, self.expr)
    }
}

fn err<T>(code: &'static str, expr: &str) -> Result<T, GoError> {
    Err(GoError {
        code,
        expr: expr.to_string(),
    })
}

const INVALID_CHAR_RANGE: &str = "invalid character class range";
const INVALID_ESCAPE: &str = "invalid escape sequence";
const INVALID_NAMED_CAPTURE: &str = "invalid named capture";
const INVALID_PERL_OP: &str = "invalid or unsupported Perl syntax";
const INVALID_REPEAT_OP: &str = "invalid nested repetition operator";
const INVALID_REPEAT_SIZE: &str = "invalid repeat count";
const MISSING_BRACKET: &str = "missing closing ]";
const TRAILING_BACKSLASH: &str = "trailing backslash at end of expression";
const UNICODE_CLASS: &str =
    "Unicode character classes are not supported by picket (use explicit ranges)";

/// Ranges of Go's Perl classes `\d`, `\s`, `\w` (ASCII; Go's `\s` has no `\v`).
const PERL_D: &[(u32, u32)] = &[(0x30, 0x39)];
const PERL_S: &[(u32, u32)] = &[(0x09, 0x0A), (0x0C, 0x0D), (0x20, 0x20)];
const PERL_W: &[(u32, u32)] = &[(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)];

/// Go's POSIX classes (`[:alpha:]`), all ASCII.
fn posix_class(name: &str) -> Option<&'static [(u32, u32)]> {
    Some(match name {
        "alnum" => &[(0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)],
        "alpha" => &[(0x41, 0x5A), (0x61, 0x7A)],
        "ascii" => &[(0x00, 0x7F)],
        "blank" => &[(0x09, 0x09), (0x20, 0x20)],
        "cntrl" => &[(0x00, 0x1F), (0x7F, 0x7F)],
        "digit" => PERL_D,
        "graph" => &[(0x21, 0x7E)],
        "lower" => &[(0x61, 0x7A)],
        "print" => &[(0x20, 0x7E)],
        "punct" => &[(0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)],
        "space" => &[(0x09, 0x0D), (0x20, 0x20)],
        "upper" => &[(0x41, 0x5A)],
        "word" => PERL_W,
        "xdigit" => &[(0x30, 0x39), (0x41, 0x46), (0x61, 0x66)],
        _ => return None,
    })
}

/// The complement of sorted, non-overlapping `ranges` within 0..=MAX_RUNE.
fn negate(ranges: &[(u32, u32)]) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    let mut next = 0u32;
    for &(lo, hi) in ranges {
        if lo > next {
            out.push((next, lo - 1));
        }
        next = hi.saturating_add(1);
    }
    if next <= MAX_RUNE {
        out.push((next, MAX_RUNE));
    }
    out
}

/// The Perl class of `\d \D \s \S \w \W` (the letter after `\`).
fn perl_class(c: char) -> Option<Vec<(u32, u32)>> {
    let ranges = match c.to_ascii_lowercase() {
        'd' => PERL_D,
        's' => PERL_S,
        'w' => PERL_W,
        _ => return None,
    };
    Some(if c.is_ascii_uppercase() {
        negate(ranges)
    } else {
        ranges.to_vec()
    })
}

/// Never matches: a rune Go can hold and a Rust string cannot (a surrogate).
const NEVER: &str = r"[^\x{0}-\x{10FFFF}]";

/// Writes one literal rune for regex-lite: ASCII letters, digits and `_`
/// as they are (so `(?i)` folds them), everything else as `\x{…}`.
fn push_rune(out: &mut String, r: u32) {
    match char::from_u32(r) {
        Some(c) if c.is_ascii_alphanumeric() || c == '_' => out.push(c),
        Some(_) => {
            let _ = write!(out, "\\x{{{r:X}}}");
        }
        None => out.push_str(NEVER),
    }
}

/// Writes a class of `ranges` (negated when `negated`), skipping the
/// surrogates a Rust string never holds.
fn push_class(out: &mut String, negated: bool, ranges: &[(u32, u32)]) {
    let mut sorted: Vec<(u32, u32)> = ranges
        .iter()
        .filter_map(|&(lo, hi)| {
            let lo = if (0xD800..=0xDFFF).contains(&lo) {
                0xE000
            } else {
                lo
            };
            let hi = if (0xD800..=0xDFFF).contains(&hi) {
                0xD7FF
            } else {
                hi
            };
            (lo <= hi).then_some((lo, hi.min(MAX_RUNE)))
        })
        .collect();
    sorted.sort_unstable();
    if sorted.is_empty() {
        out.push_str(if negated {
            r"[\x{0}-\x{10FFFF}]"
        } else {
            NEVER
        });
        return;
    }
    out.push('[');
    if negated {
        out.push('^');
    }
    // ASCII letters as they are: under (?i) regex-lite reads an escaped
    // letter as a class of both cases, which cannot end a range.
    let bound = |out: &mut String, r: u32| match char::from_u32(r) {
        Some(c) if c.is_ascii_alphanumeric() => out.push(c),
        _ => {
            let _ = write!(out, "\\x{{{r:X}}}");
        }
    };
    for (lo, hi) in sorted {
        bound(out, lo);
        if hi != lo {
            out.push('-');
            bound(out, hi);
        }
    }
    out.push(']');
}

/// One open group, for Go's limit on nested counted repetitions (their
/// product along any nesting may not exceed 1000) and for finding the
/// item a repetition applies to.
#[derive(Clone, Copy)]
struct Frame {
    /// Where the group starts in the output.
    out_start: usize,
    /// Largest repetition product among the finished items of the group.
    done: u64,
}

/// Go syntax in, regex-lite syntax out.
struct Translator<'a> {
    src: &'a str,
    out: String,
    /// The name of each capture group; index 0, the whole match, has none.
    names: Vec<Option<String>>,
    frames: Vec<Frame>,
    /// The item a repetition would apply to: where it starts in the
    /// output and its repetition product.
    last: Option<(usize, u64)>,
}

impl Translator<'_> {
    /// An item starts at `out_start`; the previous one is finished.
    fn item(&mut self, out_start: usize, product: u64) {
        self.finish_item();
        self.last = Some((out_start, product));
    }

    fn finish_item(&mut self) {
        if let (Some((_, p)), Some(f)) = (self.last.take(), self.frames.last_mut()) {
            f.done = f.done.max(p);
        }
    }

    /// A literal rune as an item.
    fn rune(&mut self, r: u32) {
        self.item(self.out.len(), 1);
        push_rune(&mut self.out, r);
    }

    /// `(` of any group: `opener` is its spelling for regex-lite.
    fn open(&mut self, opener: &str) {
        self.finish_item();
        self.frames.push(Frame {
            out_start: self.out.len(),
            done: 1,
        });
        self.out.push_str(opener);
    }

    fn close(&mut self) {
        self.finish_item();
        self.out.push(')');
        // An unbalanced `)` is regex-lite's error to report.
        if self.frames.len() > 1 {
            if let Some(f) = self.frames.pop() {
                self.item(f.out_start, f.done);
            }
        }
    }

    /// `{min,max}` (`max` -1 when unbounded) spelled `spelled`, applied to
    /// the last item.
    fn counted(&mut self, min: i64, max: i64, spelled: &str, lazy: bool) -> Result<(), GoError> {
        let Some((start, product)) = self.last else {
            // Nothing to repeat: regex-lite reports it.
            self.out.push_str(spelled);
            return Ok(());
        };
        if max == 0 {
            // x{0} matches "" and its groups never take part. regex-lite
            // would drop the groups, renumbering the rest, so it becomes
            // an optional group that cannot match.
            self.out.insert_str(start, "(?:");
            self.out.insert_str(start + 3, NEVER);
            self.out.push_str(")?");
            self.last = Some((start, 1));
            return Ok(());
        }
        // Go's repeatIsValid: {n,} counts as n, {0,} as 1.
        let m = if max < 0 { min } else { max };
        let product = product.saturating_mul(m.max(1).unsigned_abs());
        if (min >= 2 || max >= 2) && product > MAX_REPEAT {
            return err(INVALID_REPEAT_SIZE, spelled);
        }
        self.out.push_str(spelled);
        if lazy {
            self.out.push('?');
        }
        self.last = Some((start, product));
        Ok(())
    }

    fn run(&mut self) -> Result<(), GoError> {
        let src = self.src;
        // Where the previous token started, if it was a repetition operator.
        let mut last_repeat: Option<usize> = None;
        let mut pos = 0;
        while pos < src.len() {
            let t = &src[pos..];
            let mut repeat = None;
            let c = t.chars().next().unwrap_or('\0');
            match c {
                '(' if t.starts_with("(?") => pos += self.perl_group(t)?,
                '(' => {
                    self.names.push(None);
                    self.open("(");
                    pos += 1;
                }
                ')' => {
                    self.close();
                    pos += 1;
                }
                '|' => {
                    self.finish_item();
                    self.out.push('|');
                    pos += 1;
                }
                '^' | '$' | '.' => {
                    self.item(self.out.len(), 1);
                    self.out.push(c);
                    pos += 1;
                }
                '[' => {
                    self.item(self.out.len(), 1);
                    pos += class(t, &mut self.out)?;
                }
                '*' | '+' | '?' => {
                    let len = if t[1..].starts_with('?') { 2 } else { 1 };
                    if let Some(start) = last_repeat {
                        return err(INVALID_REPEAT_OP, &src[start..pos + len]);
                    }
                    self.out.push_str(&t[..len]);
                    repeat = Some(pos);
                    pos += len;
                }
                '{' => match parse_repeat(t) {
                    // Not a repetition: a literal `{`.
                    None => {
                        self.rune(u32::from('{'));
                        pos += 1;
                    }
                    Some((min, max, len)) => {
                        let spelled = &t[..len];
                        let limit = MAX_REPEAT as i64;
                        if min < 0 || min > limit || max > limit || (max >= 0 && min > max) {
                            return err(INVALID_REPEAT_SIZE, spelled);
                        }
                        let lazy = t[len..].starts_with('?');
                        let end = pos + len + usize::from(lazy);
                        if let Some(start) = last_repeat {
                            return err(INVALID_REPEAT_OP, &src[start..end]);
                        }
                        self.counted(min, max, spelled, lazy)?;
                        repeat = Some(pos);
                        pos = end;
                    }
                },
                '\\' => pos += self.escape(t)?,
                _ => {
                    self.rune(u32::from(c));
                    pos += c.len_utf8();
                }
            }
            last_repeat = repeat;
        }
        Ok(())
    }

    /// `(?…`: a named group, or flags with or without a group. Returns the
    /// bytes read.
    fn perl_group(&mut self, t: &str) -> Result<usize, GoError> {
        // Go 1.19 reads `(?P<name>` only; `(?<name>` came in Go 1.22.
        if t.len() > 4 && t[2..].starts_with("P<") {
            let Some(end) = t.find('>') else {
                return err(INVALID_NAMED_CAPTURE, t);
            };
            let name = &t[4..end];
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return err(INVALID_NAMED_CAPTURE, &t[..end + 1]);
            }
            self.names.push(Some(name.to_string()));
            self.open("(");
            return Ok(end + 1);
        }
        // Flags: each of imsU is on, or off after the `-`; the last word on
        // a flag wins. `(?)` is allowed and does nothing.
        let mut on = String::new();
        let mut off = String::new();
        let mut negated = false;
        let mut saw_flag = false;
        for (i, c) in t[2..].char_indices() {
            match c {
                'i' | 'm' | 's' | 'U' => {
                    let (add, remove) = if negated {
                        (&mut off, &mut on)
                    } else {
                        (&mut on, &mut off)
                    };
                    remove.retain(|x| x != c);
                    if !add.contains(c) {
                        add.push(c);
                    }
                    saw_flag = true;
                }
                '-' if !negated => {
                    negated = true;
                    saw_flag = false;
                }
                ':' | ')' if !negated || saw_flag => {
                    let flags = if off.is_empty() {
                        on
                    } else {
                        format!("{on}-{off}")
                    };
                    if c == ':' {
                        self.open(&format!("(?{flags}:"));
                    } else {
                        // Go applies a repetition after `(?i)` to the item
                        // before it; regex-lite refuses one there.
                        self.finish_item();
                        if !flags.is_empty() {
                            let _ = write!(self.out, "(?{flags})");
                        }
                    }
                    return Ok(2 + i + 1);
                }
                _ => return err(INVALID_PERL_OP, &t[..2 + i + c.len_utf8()]),
            }
        }
        err(INVALID_PERL_OP, t)
    }

    /// An escape outside a class; returns the bytes read.
    fn escape(&mut self, t: &str) -> Result<usize, GoError> {
        let Some(c) = t[1..].chars().next() else {
            return err(TRAILING_BACKSLASH, "");
        };
        match c {
            'A' | 'b' | 'B' | 'z' => {
                self.item(self.out.len(), 1);
                self.out.push('\\');
                self.out.push(c);
                return Ok(2);
            }
            'C' => return err(INVALID_ESCAPE, "\\C"),
            'Q' => {
                // Literal text to `\E` or the end; a repetition after it
                // applies to its last character.
                let body = &t[2..];
                let (lit, len) = match body.find("\\E") {
                    Some(i) => (&body[..i], 2 + i + 2),
                    None => (body, t.len()),
                };
                for ch in lit.chars() {
                    self.rune(u32::from(ch));
                }
                return Ok(len);
            }
            'p' | 'P' => return err(UNICODE_CLASS, unicode_class_spelling(t)),
            _ => {}
        }
        if let Some(ranges) = perl_class(c) {
            self.item(self.out.len(), 1);
            push_class(&mut self.out, false, &ranges);
            return Ok(2);
        }
        let (r, len) = parse_escape(t)?;
        self.rune(r);
        Ok(len)
    }
}

/// Reads Go syntax, writes regex-lite syntax: the translated pattern and
/// the capture names (index 0, the whole match, has none).
fn translate(src: &str) -> Result<(String, Vec<Option<String>>), GoError> {
    let mut t = Translator {
        src,
        out: String::with_capacity(src.len() * 2),
        names: vec![None],
        frames: vec![Frame {
            out_start: 0,
            done: 1,
        }],
        last: None,
    };
    t.run()?;
    Ok((t.out, t.names))
}

/// Go's `parseRepeat` on `{…`: `(min, max, bytes)`, `max` -1 for `{n,}`,
/// `min` -1 when a number is over 10^8; `None` when `{` does not start a
/// repetition (then it is a literal).
fn parse_repeat(t: &str) -> Option<(i64, i64, usize)> {
    let b = t.as_bytes();
    let mut i = 1;
    let (mut min, n) = parse_int(&b[i..])?;
    i += n;
    let max = if *b.get(i)? == b',' {
        i += 1;
        if *b.get(i)? == b'}' {
            -1
        } else {
            let (max, n) = parse_int(&b[i..])?;
            i += n;
            if max < 0 {
                min = -1;
            }
            max
        }
    } else {
        min
    };
    if *b.get(i)? != b'}' {
        return None;
    }
    Some((min, max, i + 1))
}

/// Go's `parseInt`: a decimal number without leading zeros, its value (-1
/// past 10^8) and length; `None` when there are no digits or a leading zero.
fn parse_int(b: &[u8]) -> Option<(i64, usize)> {
    let len = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if len == 0 || (len >= 2 && b[0] == b'0') {
        return None;
    }
    let mut n: i64 = 0;
    for &d in &b[..len] {
        if n >= 100_000_000 {
            n = -1;
            break;
        }
        n = n * 10 + i64::from(d - b'0');
    }
    Some((n, len))
}

/// `\pL` or `\p{Greek}` as written, for the error.
fn unicode_class_spelling(t: &str) -> &str {
    if t[2..].starts_with('{') {
        match t.find('}') {
            Some(i) => &t[..i + 1],
            None => t,
        }
    } else {
        let end = t[2..].chars().next().map_or(2, |c| 2 + c.len_utf8());
        &t[..end]
    }
}

/// Go's `parseEscape` on `\…`: the rune (possibly a surrogate, which never
/// matches) and the bytes read.
fn parse_escape(t: &str) -> Result<(u32, usize), GoError> {
    let mut chars = t[1..].char_indices().map(|(i, c)| (i + 1, c));
    let Some((_, c)) = chars.next() else {
        return err(TRAILING_BACKSLASH, "");
    };
    let after = 1 + c.len_utf8();
    let invalid = |end: usize| err(INVALID_ESCAPE, &t[..end.min(t.len())]);
    let b = t.as_bytes();
    let octal = |i: usize| b.get(i).is_some_and(|d| (b'0'..=b'7').contains(d));
    match c {
        c if c.is_ascii() && !c.is_ascii_alphanumeric() => Ok((u32::from(c), after)),
        '1'..='7' if !octal(after) => invalid(after),
        '0'..='7' => {
            let mut r = u32::from(c) - u32::from('0');
            let mut end = after;
            for _ in 1..3 {
                if !octal(end) {
                    break;
                }
                r = r * 8 + u32::from(b[end] - b'0');
                end += 1;
            }
            Ok((r, end))
        }
        'x' => {
            let Some((_, c2)) = chars.next() else {
                return invalid(after);
            };
            if c2 == '{' {
                let mut r: u32 = 0;
                let mut digits = 0;
                let end = loop {
                    let Some((i, d)) = chars.next() else {
                        return invalid(t.len());
                    };
                    let end = i + d.len_utf8();
                    if d == '}' {
                        break end;
                    }
                    let Some(v) = d.to_digit(16) else {
                        return invalid(end);
                    };
                    r = r * 16 + v;
                    if r > MAX_RUNE {
                        return invalid(end);
                    }
                    digits += 1;
                };
                if digits == 0 {
                    return invalid(end);
                }
                return Ok((r, end));
            }
            let Some((i, c3)) = chars.next() else {
                return invalid(t.len());
            };
            let end = i + c3.len_utf8();
            match (c2.to_digit(16), c3.to_digit(16)) {
                (Some(x), Some(y)) => Ok((x * 16 + y, end)),
                _ => invalid(end),
            }
        }
        'a' => Ok((0x07, after)),
        'f' => Ok((0x0C, after)),
        'n' => Ok((0x0A, after)),
        'r' => Ok((0x0D, after)),
        't' => Ok((0x09, after)),
        'v' => Ok((0x0B, after)),
        _ => invalid(after),
    }
}

/// A class `[…]` as Go's `parseClass` reads it (`[` is literal inside, as
/// are `&&`, `--`, `~~`; `]` first is literal); returns the bytes read.
fn class(t: &str, out: &mut String) -> Result<usize, GoError> {
    let b = t.as_bytes();
    let mut i = 1;
    let negated = b.get(1) == Some(&b'^');
    if negated {
        i += 1;
    }
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    let mut first = true;
    while i >= b.len() || b[i] != b']' || first {
        first = false;
        let rest = &t[i.min(t.len())..];
        // [:alpha:] and [:^alpha:]
        if rest.len() > 2 && rest.starts_with("[:") {
            if let Some(j) = rest[2..].find(":]") {
                let spelled = &rest[..j + 4];
                let name = &rest[2..j + 2];
                let (neg, name) = match name.strip_prefix('^') {
                    Some(n) => (true, n),
                    None => (false, name),
                };
                let Some(r) = posix_class(name) else {
                    return err(INVALID_CHAR_RANGE, spelled);
                };
                ranges.extend(if neg { negate(r) } else { r.to_vec() });
                i += spelled.len();
                continue;
            }
        }
        if rest.starts_with("\\p") || rest.starts_with("\\P") {
            return err(UNICODE_CLASS, unicode_class_spelling(rest));
        }
        if let Some(r) = rest
            .strip_prefix('\\')
            .and_then(|r| r.chars().next())
            .and_then(perl_class)
        {
            ranges.extend(r);
            i += 2;
            continue;
        }
        let start = i;
        let (lo, n) = class_char(rest, t)?;
        i += n;
        let mut hi = lo;
        if b.len() >= i + 2 && b[i] == b'-' && b[i + 1] != b']' {
            i += 1;
            let (h, n) = class_char(&t[i..], t)?;
            i += n;
            if h < lo {
                return err(INVALID_CHAR_RANGE, &t[start..i]);
            }
            hi = h;
        }
        ranges.push((lo, hi));
    }
    push_class(out, negated, &ranges);
    Ok(i + 1)
}

/// One character of a class, escapes allowed.
fn class_char(rest: &str, whole: &str) -> Result<(u32, usize), GoError> {
    match rest.chars().next() {
        None => err(MISSING_BRACKET, whole),
        Some('\\') => parse_escape(rest),
        Some(c) => Ok((u32::from(c), c.len_utf8())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn re(p: &str) -> GoRegexp {
        GoRegexp::new(p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    fn full(p: &str, s: &str) -> bool {
        re(&format!("^(?:{p})$")).is_match(s)
    }

    #[test]
    fn classes_read_as_go_reads_them() {
        assert!(full("[[]", "["));
        assert!(full("[a&&b]+", "a&&b"));
        assert!(GoRegexp::new("[a--]").unwrap_err().contains("range: `a--`"));
        assert!(full("[--a]+", "-a"));
        assert!(full("[]a]+", "]a"));
        assert!(full("[^]a]", "b"));
        assert!(!full("[^]a]", "]"));
        assert!(full("[a-]+", "a-"));
        assert!(full("[[:alpha:]_]+", "ab_C"));
        assert!(full("[[:^alpha:]]", "1"));
        assert!(!full("[[:^alpha:]]", "a"));
        assert!(full(r"[\d.]+", "1.5"));
        assert!(full(r"[\S]", "x"));
        assert!(!full(r"[\S]", " "));
        assert!(full(r"[\x41-\x{43}]+", "ABC"));
        assert!(full(r"[\]]", "]"));
        assert!(full("[^a]", "\n"));
        assert!(GoRegexp::new("[z-a]")
            .unwrap_err()
            .contains("invalid character class range: `z-a`"));
        assert!(GoRegexp::new("[[:foo:]]")
            .unwrap_err()
            .contains("`[:foo:]`"));
        assert!(GoRegexp::new("[abc")
            .unwrap_err()
            .contains("missing closing ]: `[abc`"));
        assert!(GoRegexp::new("[a").is_err());
        assert!(GoRegexp::new(r"[\pL]").is_err());
    }

    #[test]
    fn escapes_read_as_go_reads_them() {
        assert!(full(r"\<a\>", "<a>"));
        assert!(full(r"\_\ \#", "_ #"));
        assert!(!full(r"\s", "\u{0B}"));
        assert!(full(r"\s+", " \t\n\r\u{0C}"));
        assert!(full(r"\S", "\u{0B}"));
        assert!(full(r"\101\0", "A\0"));
        assert!(full(r"\x41\x{1F600}", "A\u{1F600}"));
        assert!(full(r"\Qa.b*\E+", "a.b**"));
        assert!(re(r"\Qa.b").is_match("xa.b"));
        // Unclosed, it takes the anchoring's `)$` as text too.
        assert!(GoRegexp::new(r"^(?:\Qa.b)$").is_err());
        assert!(full(r"\a\f\t\n\r\v", "\x07\x0C\t\n\r\x0B"));
        assert!(full(r"\bx\b", "x"));
        for bad in [
            r"\1",
            r"\8",
            r"\q",
            r"\C",
            r"\x{}",
            r"\x{110000}",
            r"\xZZ",
            r"\pL",
            r"\p{Greek}",
            "\\",
        ] {
            assert!(GoRegexp::new(bad).is_err(), "{bad}");
        }
        assert!(GoRegexp::new(r"\1")
            .unwrap_err()
            .contains("invalid escape sequence: `\\1`"));
        // A surrogate is a rune Go can spell and no string holds.
        assert!(!re(r"\x{D800}").is_match("\u{FFFD}"));
        assert!(full(r"[^\x{D800}]", "a"));
    }

    #[test]
    fn repetitions_read_as_go_reads_them() {
        assert!(full("a{,2}", "a{,2}"));
        assert!(full("a{01}", "a{01}"));
        assert!(full("a{2}", "aa"));
        assert!(full("a{2,}", "aaaa"));
        assert!(full("a{1,3}?b", "ab"));
        assert!(full("x{", "x{"));
        assert!(full("}", "}"));
        assert!(full("a{1000}", &"a".repeat(1000)));
        assert!(full(r"[^:]{1000}\w{0,1000}.{1000}", &"a".repeat(2500)));
        for (bad, msg) in [
            ("a**", "invalid nested repetition operator: `**`"),
            ("a*?+", "invalid nested repetition operator: `*?+`"),
            ("a{2}{3}", "invalid nested repetition operator: `{2}{3}`"),
            ("a{1001}", "invalid repeat count: `{1001}`"),
            ("a{3,2}", "invalid repeat count: `{3,2}`"),
            ("a{1,100000000000}", "invalid repeat count"),
            ("(a{100}){20}", "invalid repeat count: `{20}`"),
        ] {
            let e = GoRegexp::new(bad).unwrap_err();
            assert!(e.contains(msg), "{bad}: {e}");
        }
        assert!(GoRegexp::new("((a{100}){0}){100}").is_ok());
        // x{0} keeps its groups' numbers; they never take part.
        let r = re("(a){0}(b)(?:(c)|d){0,0}?(e)");
        let mut locs = r.locations();
        assert!(r.captures(&mut locs, "be"));
        assert_eq!(
            (locs.get(1), locs.get(2), locs.get(3), locs.get(4)),
            (None, Some((0, 1)), None, Some((1, 2)))
        );
        assert!(full("ab{0}c", "ac"));
        assert!(full("(?i)a[b-c]", "AC"));
        assert!(GoRegexp::new("(a{10}){100}").is_ok());
        assert!(GoRegexp::new("*a").is_err());
    }

    #[test]
    fn groups_and_flags_read_as_go_reads_them() {
        let r = re("(?P<a>x)(y)(?P<1x>z)(?:w)(?i:q)");
        assert_eq!(
            r.names,
            vec![None, Some("a".into()), None, Some("1x".into())]
        );
        assert!(full("(?i)abc", "AbC"));
        assert!(full("a(?i)b", "aB"));
        assert!(!full("a(?i)b", "AB"));
        assert!(full("(?i)a(?-i)b", "Ab"));
        assert!(!full("(?i)a(?-i)b", "AB"));
        assert!(full("(?i-i)a", "a"));
        assert!(!full("(?i-i)a", "A"));
        assert!(full("(?)a", "a"));
        assert!(full("(?s).", "\n"));
        assert!(!full(".", "\n"));
        assert!(full("(?U)(a+)a*", "aaa"));
        assert!(full("(?ii)a", "A"));
        for bad in [
            "(?<n>a)",
            "(?P<>a)",
            "(?P<a-b>a)",
            "(?P<a",
            "(?x)a",
            "(?i-)a",
            "(?=a)",
            "(?P=a)",
        ] {
            assert!(GoRegexp::new(bad).is_err(), "{bad}");
        }
        assert!(GoRegexp::new("(?<n>a)").unwrap_err().contains("`(?<`"));
        // Go allows duplicate names; the first that took part is used.
        let r = re("(?P<x>a)|(?P<x>b)");
        let mut locs = r.locations();
        assert!(r.captures(&mut locs, "b"));
        let mut s = String::new();
        r.expand(&mut s, "[$x]", "b", &locs);
        assert_eq!(s, "[b]");
    }

    #[test]
    fn deep_nesting_is_refused_before_it_costs_stack() {
        let deep = format!("{}a{}", "(".repeat(40), ")".repeat(40));
        let handle = std::thread::Builder::new()
            .stack_size(512 * 1024)
            .spawn(move || GoRegexp::new(&deep).map(|r| r.is_match("a")))
            .expect("thread");
        assert_eq!(handle.join().expect("no overflow"), Ok(true));
        let deeper = format!("{}a{}", "(".repeat(100_000), ")".repeat(100_000));
        let handle = std::thread::Builder::new()
            .stack_size(512 * 1024)
            .spawn(move || GoRegexp::new(&deeper).is_err())
            .expect("thread");
        assert!(handle.join().expect("no overflow"));
    }

    #[test]
    fn expand_is_go_expand() {
        let r = re("(?P<first>a)(b)?(c)");
        let src = "ac";
        let mut locs = r.locations();
        assert!(r.captures(&mut locs, src));
        let cases = [
            ("$1", "a"),
            ("${1}", "a"),
            ("$first", "a"),
            ("${first}", "a"),
            ("$1x", ""),
            ("${1}x", "ax"),
            ("$2", ""),
            ("$3$0", "cac"),
            ("$9", ""),
            ("$01", ""),
            ("$$1", "$1"),
            ("$$$1", "$a"),
            ("$", "$"),
            ("a$", "a$"),
            ("$-", "$-"),
            ("${", "${"),
            ("${}", "${}"),
            ("${1", "${1"),
            ("${1-}", "${1-}"),
            ("$ 1", "$ 1"),
            ("$first_", ""),
            ("$first-", "a-"),
            ("$100000000000", ""),
            ("x$3.y", "xc.y"),
        ];
        for (tpl, want) in cases {
            let mut s = String::new();
            r.expand(&mut s, tpl, src, &locs);
            assert_eq!(s, want, "{tpl}");
        }
    }

    #[test]
    fn replace_all_is_go_replace_all_string() {
        assert_eq!(re("a*").replace_all("baaac", "x"), "xbxcx");
        assert_eq!(re("").replace_all("abc", "-"), "-a-b-c-");
        assert_eq!(re("(a)(b)?").replace_all("xabay", "[$1$2]"), "x[ab][a]y");
        assert_eq!(re("^(?:a)|(?:b)$").replace_all("ab", "X"), "XX");
        assert_eq!(re("é").replace_all("aéb", "e"), "aeb");
        assert_eq!(re("x*").replace_all("é", "-"), "-é-");
    }
}
