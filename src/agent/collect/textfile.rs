//! textfile: metrics from `*.prom` files in `--collector.textfile.directory`.
//!
//! Inert until a directory is set, as in node_exporter (it then exports only
//! `node_textfile_scrape_error 0`). The directory may be a glob pattern (Go's
//! `filepath.Glob`: `*`, `?`, `[a-z]`, `[^…]`, `\` escapes); every matching
//! directory is listed (not recursively) and its `*.prom` files are read in
//! name order and parsed with the project's one text-format parser,
//! [`picket_core::decode::text`]. node_exporter's `textfile.go` (v1.12) rules:
//!
//! - A file that cannot be read or parsed, or whose samples carry
//!   timestamps, is skipped whole and logged with its path and the parser's
//!   line; the other files still export. The last line must end in a
//!   newline (Go's parser: "unexpected end of input stream").
//! - Every series of a family in one file gets every label name used in
//!   that family (missing ones as `""`). Histograms and summaries are rebuilt
//!   per label set the way client_golang's const histogram/summary re-emits
//!   them: `le`/`quantile` values normalised (`1e3` → `1000`), duplicate
//!   bounds last-wins, `_sum`/`_count` always present (0 when missing), a
//!   `+Inf` bucket added from `_count` when absent, counts truncated to
//!   integers. A histogram with a non-integer count or bucket is a "float
//!   histogram" to Go's parser (v0.70), which node_exporter then re-exports
//!   with every count 0; that is copied too. A negative histogram count fails
//!   the file.
//! - Families without `# HELP` (or with an empty one) get
//!   `Metric read from <file>[, <file>…]` (every file that exports that name).
//! - A family whose help differs from the first file's help for the same
//!   name is dropped and sets the error flag; after one such clash every later
//!   file's family of that name is dropped too (node_exporter would crash on
//!   a later help-less one; here it is dropped as well).
//! - Like client_golang's registry: a family whose type (or, when help-less,
//!   generated help) differs from the first one kept for that name is
//!   dropped, as is one whose name collides with a histogram/summary's
//!   `_sum`/`_count`/`_bucket`, and a series already exported by an earlier
//!   file is dropped (first file wins). These do not set the error flag.
//!
//! Exports the files' metrics with their own help and type,
//! `node_textfile_mtime_seconds{file}` (gauge; integer seconds; `file` is the
//! directory joined with the name and cleaned as Go's `filepath.Join` does)
//! for every file read successfully, and `node_textfile_scrape_error` (gauge,
//! 1 on any directory, read or parse error). The collector itself always
//! succeeds, as node_exporter's does (an unreadable directory only sets the
//! error flag).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Read;
use std::path::Path;

use super::{CollectError, Ctx, Out};
use picket_core::decode::text;
use picket_core::metric::{Labels, MetricType, Sample, Suffix};

const SCRAPE_ERROR: &str = "node_textfile_scrape_error";
const SCRAPE_ERROR_HELP: &str = "1 if there was an error opening or reading a file, 0 otherwise";
const MTIME: &str = "node_textfile_mtime_seconds";
const MTIME_HELP: &str = "Unixtime mtime of textfiles successfully read.";

/// Reads every `*.prom` file of the configured directory (or glob).
pub(crate) fn update(ctx: &Ctx<'_>, out: &mut Out<'_>) -> Result<(), CollectError> {
    let mut errored = false;
    let mut files = Vec::new();
    let pattern = ctx
        .opts
        .textfile_directory
        .as_deref()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !pattern.is_empty() {
        let dirs = match glob(&pattern) {
            Some(m) if !m.is_empty() => m,
            // Not a glob, or nothing matched: let the listing report it.
            _ => vec![pattern],
        };
        for dir in dirs {
            let names = match list_prom(Path::new(&dir)) {
                Ok(n) => n,
                Err(e) => {
                    errored = true;
                    log::error!("textfile: failed to read textfile collector directory {dir}: {e}");
                    continue;
                }
            };
            for name in names {
                let file = read_file(&dir, &name);
                if let Some(e) = &file.error {
                    log::error!(
                        "textfile: failed to collect textfile data from {}: {e}",
                        file.path
                    );
                }
                files.push(file);
            }
        }
    }

    let (samples, merge_errored) = merge(&files);
    for s in samples {
        out.push(s);
    }
    let mut mtimes: Vec<(&str, f64)> = files
        .iter()
        .filter_map(|f| Some((f.path.as_str(), f.mtime?)))
        .collect();
    mtimes.sort_by(|a, b| a.0.cmp(b.0));
    for (path, mtime) in mtimes {
        out.gauge(MTIME, MTIME_HELP, &[("file", path)], mtime);
    }
    let errored = errored || merge_errored || files.iter().any(|f| f.error.is_some());
    out.gauge(
        SCRAPE_ERROR,
        SCRAPE_ERROR_HELP,
        &[],
        if errored { 1.0 } else { 0.0 },
    );
    Ok(())
}

/// The `*.prom` entries of `dir`, sorted by name as Go's `os.ReadDir` returns them.
fn list_prom(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.ends_with(".prom") {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// One `*.prom` file as read: what it exports, or why it was skipped.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FileResult {
    /// The directory joined with the file name, as in the `file` label.
    pub path: String,
    /// Its families (empty when it could not be read or parsed).
    pub families: Vec<Family>,
    /// Why it counts as an error, if it does.
    pub error: Option<String>,
    /// Its mtime in whole seconds, when it was read successfully.
    pub mtime: Option<f64>,
}

fn read_file(dir: &str, name: &str) -> FileResult {
    let path = go_join(dir, name);
    let mut res = FileResult {
        path: path.clone(),
        families: Vec::new(),
        error: None,
        mtime: None,
    };
    let mut f = match fs::File::open(Path::new(dir).join(name)) {
        Ok(f) => f,
        Err(e) => {
            res.error = Some(format!("failed to open textfile data file: {e}"));
            return res;
        }
    };
    let mut bytes = Vec::new();
    if let Err(e) = f.read_to_end(&mut bytes) {
        res.error = Some(format!("failed to read textfile data: {e}"));
        return res;
    }
    let parsed = match String::from_utf8(bytes) {
        Ok(t) => parse_file(&t),
        Err(e) => Err(format!(
            "invalid UTF-8 at byte {}",
            e.utf8_error().valid_up_to()
        )),
    };
    match parsed {
        Ok(fams) => res.families = fams,
        Err(e) => {
            res.error = Some(format!("failed to parse textfile data: {e}"));
            return res;
        }
    }
    // Stat only after a successful parse, so that a broken file never looks fresh.
    match picket_core::clock::mtime(&f) {
        Ok(t) => res.mtime = Some(t as f64),
        Err(e) => res.error = Some(format!("failed to stat: {e}")),
    }
    res
}

/// One metric family of one file, converted as node_exporter re-exports it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Family {
    /// Family name.
    pub name: String,
    /// The file's `# HELP` text; `None` when absent or empty.
    pub help: Option<String>,
    /// The family's type.
    pub kind: MetricType,
    /// The samples to export (their `help` is filled in by [`merge`]).
    pub samples: Vec<Sample>,
}

/// Parses one `*.prom` file into families, or says why the whole file is skipped.
pub(crate) fn parse_file(body: &str) -> Result<Vec<Family>, String> {
    // Go's parser needs every line, comments included, to end in '\n'.
    let last = body.rsplit('\n').next().unwrap_or("");
    if !last.trim_matches([' ', '\t']).is_empty() {
        let line = body.split('\n').count();
        return Err(format!("line {line}: unexpected end of input stream"));
    }
    let samples = text::parse(body).map_err(|e| e.to_string())?;
    if samples.iter().any(|s| s.timestamp_ms.is_some()) {
        return Err("contains unsupported client-side timestamps, skipping entire file".into());
    }

    let mut families: Vec<Family> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for s in samples {
        let i = match index.get(s.name.as_ref()) {
            Some(&i) => i,
            None => {
                index.insert(s.name.to_string(), families.len());
                families.push(Family {
                    name: s.name.to_string(),
                    help: None,
                    kind: s.kind,
                    samples: Vec::new(),
                });
                families.len() - 1
            }
        };
        if let Some(f) = families.get_mut(i) {
            if f.help.is_none() && !s.help.is_empty() {
                f.help = Some(s.help.to_string());
            }
            f.samples.push(s);
        }
    }
    for f in &mut families {
        convert(f)?;
    }
    Ok(families)
}

/// A histogram's or summary's samples of one label set.
#[derive(Default)]
struct Group {
    /// (bucket bound or quantile, value), in file order.
    points: Vec<(f64, f64)>,
    sum: f64,
    count: f64,
    /// A histogram count that is not a non-negative integer (Go's float histogram).
    float: bool,
}

fn convert(f: &mut Family) -> Result<(), String> {
    let raw = std::mem::take(&mut f.samples);
    let special = match f.kind {
        MetricType::Histogram => "le",
        MetricType::Summary => "quantile",
        MetricType::Counter | MetricType::Gauge | MetricType::Untyped => {
            let names = label_names(raw.iter().map(|s| &s.labels));
            for mut s in raw {
                pad(&mut s.labels, &names);
                s.suffix = Suffix::None;
                f.samples.push(s);
            }
            return Ok(());
        }
    };
    let histogram = f.kind == MetricType::Histogram;
    let groups = group(&f.name, raw, special, histogram)?;
    emit_groups(f, groups, special, histogram);
    Ok(())
}

/// The samples of a histogram or summary, by label set without `special`
/// (`le`, `quantile`): the points, sum and count of each.
fn group(
    name: &str,
    raw: Vec<Sample>,
    special: &str,
    histogram: bool,
) -> Result<Vec<(Labels, Group)>, String> {
    let mut groups: Vec<(Labels, Group)> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for s in raw {
        let mut labels = s.labels;
        let bound = match labels.remove(special) {
            Some(v) => Some(text::parse_float(&v).ok_or_else(|| {
                format!("expected float as value for {special:?} label of {name:?}, got {v:?}")
            })?),
            None => None,
        };
        let i = match index.get(&labels) {
            Some(&i) => i,
            None => {
                index.insert(labels.clone(), groups.len());
                groups.push((labels, Group::default()));
                groups.len() - 1
            }
        };
        let Some((_, g)) = groups.get_mut(i) else {
            continue;
        };
        let v = s.value;
        match s.suffix {
            Suffix::Sum => g.sum = v,
            Suffix::Count if histogram => g.count = histogram_count(v, name, &mut g.float)?,
            // Go: uint64(value), truncating.
            Suffix::Count => g.count = v as u64 as f64,
            Suffix::None | Suffix::Bucket => {
                if let Some(b) = bound {
                    let v = if histogram {
                        histogram_count(v, name, &mut g.float)?
                    } else {
                        v
                    };
                    // Go keeps these in a map: a repeated bound replaces the earlier one.
                    match g.points.iter_mut().find(|p| p.0 == b) {
                        Some(p) => p.1 = v,
                        None => g.points.push((b, v)),
                    }
                }
            }
        }
    }
    Ok(groups)
}

/// The groups as samples of `f`, in Go's order: the points by bound (a
/// histogram gets its `+Inf` bucket), then sum and count.
fn emit_groups(
    f: &mut Family,
    groups: Vec<(Labels, Group)>,
    special: &'static str,
    histogram: bool,
) {
    let names = label_names(groups.iter().map(|g| &g.0));
    for (mut labels, mut g) in groups {
        pad(&mut labels, &names);
        if g.float {
            // Go's parser stores the counts as floats; node_exporter reads
            // the integer fields, which are then unset.
            g.count = 0.0;
            for p in &mut g.points {
                p.1 = 0.0;
            }
        }
        g.points.sort_by(|a, b| a.0.total_cmp(&b.0));
        if histogram && !g.points.iter().any(|p| p.0 == f64::INFINITY) {
            g.points.push((f64::INFINITY, g.count));
        }
        let point_suffix = if histogram {
            Suffix::Bucket
        } else {
            Suffix::None
        };
        for (b, v) in g.points {
            let mut l = labels.clone();
            l.set(special, format_float(b));
            f.samples.push(sample(&f.name, point_suffix, f.kind, l, v));
        }
        f.samples
            .push(sample(&f.name, Suffix::Sum, f.kind, labels.clone(), g.sum));
        f.samples
            .push(sample(&f.name, Suffix::Count, f.kind, labels, g.count));
    }
}

/// A histogram count or bucket as Go's parser takes it: a non-negative
/// integer, else a float (which marks the histogram), negative is an error.
fn histogram_count(v: f64, name: &str, float: &mut bool) -> Result<f64, String> {
    if v >= 0.0 && v.fract() == 0.0 && v < 18_446_744_073_709_551_616.0 {
        Ok(v)
    } else if v < 0.0 {
        Err(format!(
            "negative count or bucket population for histogram {name:?}"
        ))
    } else {
        *float = true;
        Ok(v)
    }
}

fn sample(name: &str, suffix: Suffix, kind: MetricType, labels: Labels, value: f64) -> Sample {
    Sample {
        name: Cow::Owned(name.to_string()),
        suffix,
        help: Cow::Borrowed(""),
        kind,
        labels,
        value,
        timestamp_ms: None,
    }
}

/// A bound or quantile as Go writes it in a label (`%g`, `+Inf`).
fn format_float(v: f64) -> String {
    let mut b = Vec::new();
    picket_core::encode::text::write_float(v, &mut b);
    String::from_utf8_lossy(&b).into_owned()
}

fn label_names<'a>(sets: impl Iterator<Item = &'a Labels>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for l in sets {
        for (n, _) in l.iter() {
            if !names.iter().any(|x| x == n) {
                names.push(n.to_string());
            }
        }
    }
    names
}

fn pad(labels: &mut Labels, names: &[String]) {
    for n in names {
        if labels.get(n).is_none() {
            labels.set(n.clone(), "");
        }
    }
}

/// Combines the files' families as node_exporter and its registry do
/// (see the module doc). Returns the samples and whether a help clash set
/// the error flag.
pub(crate) fn merge(files: &[FileResult]) -> (Vec<Sample>, bool) {
    let (accepted, files_of, errored) = accept(files);
    (gather(accepted, &files_of), errored)
}

/// The files a family name was read from, by name.
type FilesOf<'a> = HashMap<&'a str, Vec<&'a str>>;

/// The families that pass node_exporter's help check (the first help of a
/// name wins; a family with another help is skipped, and so is every later
/// one of a name that clashed), the files each name came from, and whether
/// any clashed.
fn accept(files: &[FileResult]) -> (Vec<&Family>, FilesOf<'_>, bool) {
    let mut errored = false;
    // name → (first help, help of the first clash)
    let mut helps: HashMap<&str, (&str, Option<&str>)> = HashMap::new();
    let mut files_of: HashMap<&str, Vec<&str>> = HashMap::new();
    let mut accepted: Vec<&Family> = Vec::new();
    for file in files {
        for fam in &file.families {
            if let Some((first, clash)) = helps.get_mut(fam.name.as_str()) {
                if fam.help.as_deref().is_some_and(|h| h != *first) || clash.is_some() {
                    log::error!(
                        "textfile: inconsistent metric help text for {}: {:?} (first in {}){}, {:?} in {}; skipping it",
                        fam.name,
                        first,
                        files_of.get(fam.name.as_str()).and_then(|v| v.first()).unwrap_or(&""),
                        if clash.is_some() { " already clashed" } else { "" },
                        fam.help.as_deref().unwrap_or(""),
                        file.path
                    );
                    *clash = Some(fam.help.as_deref().unwrap_or(""));
                    errored = true;
                    continue;
                }
            }
            if let Some(h) = &fam.help {
                helps.insert(&fam.name, (h, None));
            }
            files_of.entry(&fam.name).or_default().push(&file.path);
            accepted.push(fam);
        }
    }
    (accepted, files_of, errored)
}

/// What client_golang's registry does when gathering: a name keeps its
/// first help and type, names that collide by suffix are dropped, and a
/// series already collected from an earlier file is not repeated.
fn gather(accepted: Vec<&Family>, files_of: &FilesOf<'_>) -> Vec<Sample> {
    let mut registry: HashMap<&str, (String, MetricType)> = HashMap::new();
    let mut seen: HashSet<(&str, Labels)> = HashSet::new();
    let mut out = Vec::new();
    for fam in accepted {
        let help = match &fam.help {
            Some(h) => h.clone(),
            None => format!(
                "Metric read from {}",
                files_of
                    .get(fam.name.as_str())
                    .map(|v| v.join(", "))
                    .unwrap_or_default()
            ),
        };
        match registry.get(fam.name.as_str()) {
            Some((h, k)) if *h != help || *k != fam.kind => {
                log::warn!(
                    "textfile: dropping {} ({} {:?}): already exported as {} {:?}",
                    fam.name,
                    fam.kind,
                    help,
                    k,
                    h
                );
                continue;
            }
            Some(_) => {}
            None => {
                if let Some(other) = suffix_collision(&fam.name, fam.kind, &registry) {
                    log::warn!(
                        "textfile: dropping {}: its name collides with {other}",
                        fam.name
                    );
                    continue;
                }
                registry.insert(&fam.name, (help.clone(), fam.kind));
            }
        }
        let special = match fam.kind {
            MetricType::Histogram => "le",
            MetricType::Summary => "quantile",
            _ => "",
        };
        let mut keys = Vec::new();
        for s in &fam.samples {
            let mut key = s.labels.clone();
            key.remove(special);
            if seen.contains(&(fam.name.as_str(), key.clone())) {
                continue; // collected before, from an earlier file
            }
            keys.push(key);
            let mut s = s.clone();
            s.help = Cow::Owned(help.clone());
            out.push(s);
        }
        seen.extend(keys.into_iter().map(|k| (fam.name.as_str(), k)));
    }
    out
}

/// client_golang's `checkSuffixCollisions`: returns the clashing name.
fn suffix_collision(
    name: &str,
    kind: MetricType,
    registry: &HashMap<&str, (String, MetricType)>,
) -> Option<String> {
    for suffix in ["_count", "_sum", "_bucket"] {
        if let Some(base) = name.strip_suffix(suffix) {
            match registry.get(base).map(|r| r.1) {
                Some(MetricType::Histogram) => return Some(base.to_string()),
                Some(MetricType::Summary) if suffix != "_bucket" => return Some(base.to_string()),
                _ => {}
            }
            break;
        }
    }
    let mut suffixes = vec![];
    if matches!(kind, MetricType::Summary | MetricType::Histogram) {
        suffixes.extend(["_count", "_sum"]);
    }
    if kind == MetricType::Histogram {
        suffixes.push("_bucket");
    }
    suffixes
        .into_iter()
        .map(|s| format!("{name}{s}"))
        .find(|n| registry.contains_key(n.as_str()))
}

/// Go's `filepath.Join(dir, name)`: joined with `/` and cleaned.
fn go_join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        return go_clean(name);
    }
    go_clean(&format!("{dir}/{name}"))
}

/// Go's `filepath.Clean` on Unix.
fn go_clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// One element of a glob pattern.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Lit(char),
    One,
    Star,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// Splits a pattern as Go's `filepath.Match` reads it; `None` = bad pattern.
fn tokenize(pattern: &str) -> Option<Vec<Tok>> {
    fn class_char(it: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<char> {
        match it.next()? {
            '-' | ']' => None,
            '\\' => it.next(),
            c => Some(c),
        }
    }
    let mut it = pattern.chars().peekable();
    let mut toks = Vec::new();
    while let Some(c) = it.next() {
        toks.push(match c {
            '*' => Tok::Star,
            '?' => Tok::One,
            '\\' => Tok::Lit(it.next()?),
            '[' => {
                let negated = it.next_if_eq(&'^').is_some();
                let mut ranges = Vec::new();
                loop {
                    if !ranges.is_empty() && it.next_if_eq(&']').is_some() {
                        break;
                    }
                    let lo = class_char(&mut it)?;
                    let hi = if it.next_if_eq(&'-').is_some() {
                        class_char(&mut it)?
                    } else {
                        lo
                    };
                    ranges.push((lo, hi));
                }
                Tok::Class { negated, ranges }
            }
            c => Tok::Lit(c),
        });
    }
    Some(toks)
}

fn glob_match(toks: &[Tok], name: &[char]) -> bool {
    let Some((first, rest)) = toks.split_first() else {
        return name.is_empty();
    };
    if *first == Tok::Star {
        // Any run of characters other than '/'.
        let mut tail = name;
        loop {
            if glob_match(rest, tail) {
                return true;
            }
            match tail.split_first() {
                Some((&c, t)) if c != '/' => tail = t,
                _ => return false,
            }
        }
    }
    let Some((&c, name_rest)) = name.split_first() else {
        return false;
    };
    let ok = match first {
        Tok::Lit(l) => *l == c,
        Tok::One => c != '/',
        Tok::Class { negated, ranges } => {
            ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
        }
        Tok::Star => false,
    };
    ok && glob_match(rest, name_rest)
}

/// Go's `filepath.Glob`: the matching paths in order, `None` for a bad pattern.
fn glob(pattern: &str) -> Option<Vec<String>> {
    tokenize(pattern)?;
    let has_meta = |s: &str| s.contains(['*', '?', '[', '\\']);
    if !has_meta(pattern) {
        return Some(match fs::symlink_metadata(pattern) {
            Ok(_) => vec![pattern.to_string()],
            Err(_) => Vec::new(),
        });
    }
    let (dir, file) = match pattern.rfind('/') {
        Some(i) => (
            pattern.get(..=i).unwrap_or(""),
            pattern.get(i + 1..).unwrap_or(""),
        ),
        None => ("", pattern),
    };
    let dir = match dir {
        "" => ".".to_string(),
        "/" => "/".to_string(),
        d => d.trim_end_matches('/').to_string(),
    };
    let toks = tokenize(file)?;
    if !has_meta(&dir) {
        return Some(glob_in(&dir, &toks, Vec::new()));
    }
    if dir == pattern {
        return None;
    }
    let mut matches = Vec::new();
    for d in glob(&dir)? {
        matches = glob_in(&d, &toks, matches);
    }
    Some(matches)
}

fn glob_in(dir: &str, toks: &[Tok], mut matches: Vec<String>) -> Vec<String> {
    if !fs::metadata(dir).is_ok_and(|m| m.is_dir()) {
        return matches;
    }
    let Ok(rd) = fs::read_dir(dir) else {
        return matches;
    };
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    for n in names {
        let chars: Vec<char> = n.chars().collect();
        if glob_match(toks, &chars) {
            matches.push(go_join(dir, &n));
        }
    }
    matches
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(fams: &[Family]) -> Vec<String> {
        let mut samples: Vec<Sample> = fams.iter().flat_map(|f| f.samples.clone()).collect();
        let mut out = Vec::new();
        picket_core::encode::text::encode(&mut samples, &mut out);
        String::from_utf8(out)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(String::from)
            .collect()
    }

    fn file(path: &str, body: &str) -> FileResult {
        match parse_file(body) {
            Ok(families) => FileResult {
                path: path.into(),
                families,
                error: None,
                mtime: Some(1.0),
            },
            Err(e) => FileResult {
                path: path.into(),
                families: vec![],
                error: Some(e),
                mtime: None,
            },
        }
    }

    #[test]
    fn plain_families_keep_help_and_type() {
        let fams = parse_file(
            "# HELP events_total this is a test metric\n# TYPE events_total counter\n\
             events_total{foo=\"bar\"} 10\nevents_total{foo=\"baz\"} 20\nother 1.5\n",
        )
        .unwrap();
        assert_eq!(fams.len(), 2);
        assert_eq!(fams[0].help.as_deref(), Some("this is a test metric"));
        assert_eq!(fams[0].kind, MetricType::Counter);
        assert_eq!(fams[1].help, None);
        assert_eq!(fams[1].kind, MetricType::Untyped);
        assert_eq!(
            lines(&fams),
            [
                "events_total{foo=\"bar\"} 10",
                "events_total{foo=\"baz\"} 20",
                "other 1.5"
            ]
        );
    }

    #[test]
    fn pads_missing_labels_with_empty_values() {
        // node_exporter's inconsistent_metrics fixture, shortened.
        let fams = parse_file(
            "# TYPE go_goroutines gauge\ngo_goroutines{foo=\"bar\"} 229\ngo_goroutines 20\n\
             http_requests_total{code=\"200\",method=\"get\", foo=\"bar\"} 325\n\
             http_requests_total{code=\"200\",method=\"get\", baz=\"bar\"} 93\n",
        )
        .unwrap();
        assert_eq!(
            lines(&fams),
            [
                "go_goroutines{foo=\"\"} 20",
                "go_goroutines{foo=\"bar\"} 229",
                "http_requests_total{baz=\"\",code=\"200\",foo=\"bar\",method=\"get\"} 325",
                "http_requests_total{baz=\"bar\",code=\"200\",foo=\"\",method=\"get\"} 93",
            ]
        );
    }

    #[test]
    fn rebuilds_histograms() {
        let fams = parse_file(
            "# TYPE h histogram\nh_bucket{a=\"x\",le=\"1e3\"} 2\nh_bucket{a=\"x\",le=\"0.5\"} 1\n\
             h_sum{a=\"x\"} 7.5\nh_count{a=\"x\"} 3\nh_bucket{le=\"1\"} 4\n",
        )
        .unwrap();
        assert_eq!(
            lines(&fams),
            [
                "h_bucket{a=\"\",le=\"1\"} 4",
                "h_bucket{a=\"\",le=\"+Inf\"} 0",
                "h_sum{a=\"\"} 0",
                "h_count{a=\"\"} 0",
                "h_bucket{a=\"x\",le=\"0.5\"} 1",
                "h_bucket{a=\"x\",le=\"1000\"} 2",
                "h_bucket{a=\"x\",le=\"+Inf\"} 3",
                "h_sum{a=\"x\"} 7.5",
                "h_count{a=\"x\"} 3",
            ]
        );
        // Counts are integers to Go's parser; a fraction makes a float histogram.
        let fams =
            parse_file("# TYPE h histogram\nh_bucket{le=\"1\"} 1.5\nh_count 2\nh_sum 3\n").unwrap();
        assert_eq!(
            lines(&fams),
            [
                "h_bucket{le=\"1\"} 0",
                "h_bucket{le=\"+Inf\"} 0",
                "h_sum 3",
                "h_count 0"
            ]
        );
        assert!(parse_file("# TYPE h histogram\nh_count -1\n").is_err());
        assert!(parse_file("# TYPE h histogram\nh_bucket{le=\"x\"} 1\n").is_err());
    }

    #[test]
    fn rebuilds_summaries() {
        let fams = parse_file(
            "# TYPE s summary\ns{quantile=\"0.90\"} 2\ns{quantile=\"0.5\"} 1\ns_count 3.7\n",
        )
        .unwrap();
        assert_eq!(
            lines(&fams),
            [
                "s{quantile=\"0.5\"} 1",
                "s{quantile=\"0.9\"} 2",
                "s_sum 0",
                "s_count 3"
            ]
        );
        assert!(parse_file("# TYPE s summary\ns{quantile=\"high\"} 1\n").is_err());
    }

    #[test]
    fn keeps_escaped_label_values() {
        let fams = parse_file("m{path=\"C:\\\\x\",q=\"say \\\"hi\\\"\\n\"} 1\n").unwrap();
        assert_eq!(fams[0].samples[0].labels.get("path"), Some("C:\\x"));
        assert_eq!(fams[0].samples[0].labels.get("q"), Some("say \"hi\"\n"));
        assert_eq!(
            lines(&fams),
            ["m{path=\"C:\\\\x\",q=\"say \\\"hi\\\"\\n\"} 1"]
        );
    }

    #[test]
    fn rejects_bad_files() {
        assert!(
            parse_file("metric_with_custom_timestamp 1 1441205977284\nnormal_metric 2\n").is_err()
        );
        assert!(parse_file("# TYPE a gauge\n# TYPE a counter\na 1\n").is_err());
        assert!(parse_file("a 1\nb 2").is_err()); // no final newline
        assert!(parse_file("# just a comment").is_err());
        assert!(parse_file("a{b=\"unterminated} 1\n").is_err());
        assert!(parse_file("a 1 2 3\n").is_err());
        assert!(parse_file("\u{0}\u{1}garbage\n").is_err());
        assert_eq!(parse_file("").unwrap(), vec![]);
        assert_eq!(parse_file("  \n\n# comment\n").unwrap(), vec![]);
    }

    #[test]
    fn merge_help_rules() {
        let a = "# HELP events_total A nice help message.\n# TYPE events_total counter\nevents_total{file=\"a\"} 10\n";
        let b = "# HELP events_total A different help message.\n# TYPE events_total counter\nevents_total{file=\"b\"} 30\n";
        let same = "# HELP events_total A nice help message.\n# TYPE events_total counter\nevents_total{file=\"c\"} 5\n";
        let (s, err) = merge(&[
            file("d/a.prom", a),
            file("d/b.prom", b),
            file("d/c.prom", same),
        ]);
        assert!(err);
        // After a clash, later files' families of that name are dropped too.
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].help, "A nice help message.");

        let a = "# TYPE events_total counter\nevents_total{file=\"a\"} 10\n";
        let b = "# HELP events_total \n# TYPE events_total counter\nevents_total{file=\"b\"} 30\n";
        let (s, err) = merge(&[file("d/a.prom", a), file("d/b.prom", b)]);
        assert!(!err);
        assert_eq!(s.len(), 2);
        assert!(s
            .iter()
            .all(|s| s.help == "Metric read from d/a.prom, d/b.prom"));
    }

    #[test]
    fn merge_registry_rules() {
        let a = "# TYPE x gauge\nx 1\n# TYPE h histogram\nh_count 1\n";
        let b = "# TYPE x counter\nx{l=\"b\"} 2\nh_count 3\ny 1\ny 2\n";
        let c = "# TYPE y untyped\ny 9\n";
        let bad = "broken line\n";
        let (s, err) = merge(&[
            file("a.prom", a),
            file("b.prom", b),
            file("c.prom", c),
            file("e.prom", bad),
        ]);
        assert!(!err); // only help clashes count here; the bad file is flagged by its own error
        let names: Vec<String> = s.iter().map(|s| s.series_name().into_owned()).collect();
        // x from b has another type; b's h_count collides with histogram h;
        // c's y repeats b's series.
        assert_eq!(names, ["x", "h_bucket", "h_sum", "h_count", "y", "y"]);
        assert_eq!(s[4].value, 1.0);
    }

    #[test]
    fn go_paths() {
        assert_eq!(
            go_join("/var/lib/node_exporter/", "a.prom"),
            "/var/lib/node_exporter/a.prom"
        );
        assert_eq!(go_join("./tf//x/..", "a.prom"), "tf/a.prom");
        assert_eq!(go_join("../tf", "a.prom"), "../tf/a.prom");
        assert_eq!(go_clean("/.."), "/");
        assert_eq!(go_clean(""), ".");
    }

    #[test]
    fn glob_patterns() {
        let m =
            |p: &str, n: &str| glob_match(&tokenize(p).unwrap(), &n.chars().collect::<Vec<_>>());
        assert!(m("*.prom", "a.prom"));
        assert!(!m("*.prom", "a.prom.tmp"));
        assert!(m("node?", "node1"));
        assert!(m("[a-c]x", "bx"));
        assert!(!m("[^a-c]x", "bx"));
        assert!(m("\\*", "*"));
        assert!(tokenize("[").is_none());
        assert!(tokenize("[]").is_none());
        assert!(tokenize("a\\").is_none());
        assert!(tokenize("[a-]").is_none());
    }

    #[test]
    fn reads_fixture_dirs() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/textfile/*"
        );
        let dirs = glob(dir).unwrap();
        assert!(dirs.iter().any(|d| d.ends_with("/good")), "{dirs:?}");
        let good = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/textfile/good"
        );
        let names = list_prom(Path::new(good)).unwrap();
        let files: Vec<FileResult> = names.iter().map(|n| read_file(good, n)).collect();
        assert!(files.iter().all(|f| f.error.is_none()), "{files:?}");
        let bad = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/textfile/bad"
        );
        let names = list_prom(Path::new(bad)).unwrap();
        assert!(names
            .iter()
            .map(|n| read_file(bad, n))
            .all(|f| f.error.is_some()));
    }
}
