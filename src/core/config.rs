//! Config plumbing both binaries share: the error that names file, line
//! and key ([`ConfigError`]), TOML reading with that locator, and the value
//! checks every section uses (durations, listen addresses).
//!
//! One locator for every config file: serde's span gives the line of a
//! parse error; [`locate`] finds the line of a key a resolver rejects, and
//! [`Locator`] carries the file and its text to every section's resolver.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A configuration problem, with where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    /// The file, or `None` for a command-line flag.
    pub file: Option<PathBuf>,
    /// 1-based line in the file, when known.
    pub line: Option<usize>,
    /// The dotted key (`web.listen_address`) or the flag (`--web.listen-address`).
    pub key: Option<String>,
    /// What is wrong.
    pub msg: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(p), Some(l)) => write!(f, "{}:{}: ", p.display(), l)?,
            (Some(p), None) => write!(f, "{}: ", p.display())?,
            _ => {}
        }
        if let Some(k) = &self.key {
            write!(f, "{k}: ")?;
        }
        f.write_str(&self.msg)
    }
}

impl std::error::Error for ConfigError {}

/// A problem a resolver reports before it meets a [`Locator`]: (dotted
/// key or flag, message, from a flag).
pub(crate) type KeyError = (String, String, bool);

/// The one error locator every section of a config resolves against: the
/// file and its text, so an error about a file key names the file and the
/// key's line, and an error about a flag (or an environment variable)
/// names just the flag.
#[derive(Debug, Clone, Copy, Default)]
pub struct Locator<'a> {
    /// The file, or `None` when the config is flags and defaults only.
    pub file: Option<&'a Path>,
    /// The file's text (empty without a file).
    pub src: &'a str,
    /// The file's YAML tree, when it is a YAML file (prometheus.yml):
    /// keys are found in it rather than in the text.
    pub yaml: Option<&'a crate::yaml::Node>,
}

impl<'a> Locator<'a> {
    /// A locator for `file` holding `src`; `None` for no file.
    pub fn new(file: Option<&'a Path>, src: &'a str) -> Locator<'a> {
        Locator {
            file,
            src,
            yaml: None,
        }
    }

    /// A locator for a YAML file and its parsed tree.
    pub fn yaml(file: &'a Path, src: &'a str, tree: &'a crate::yaml::Node) -> Locator<'a> {
        Locator {
            file: Some(file),
            src,
            yaml: Some(tree),
        }
    }

    /// The line of a dotted key: its own, else its nearest enclosing
    /// section's in a YAML file; its own in a TOML file.
    fn line(&self, key: &str) -> Option<usize> {
        match self.yaml {
            Some(t) => crate::yaml::de::line_of(t, key),
            None => locate(self.src, key),
        }
    }

    /// An error at the dotted file key `key` (`web.listen_address`,
    /// `haproxy[0].timeout`): the file, the key's line, the key.
    pub fn key(&self, key: &str, msg: String) -> ConfigError {
        ConfigError {
            file: self.file.map(Path::to_path_buf),
            line: self.file.and_then(|_| self.line(key)),
            key: Some(key.to_string()),
            msg,
        }
    }

    /// An error at a command-line flag or environment variable, named as
    /// the user wrote it (`--web.listen-address`, `DATA_SOURCE_NAME`).
    pub fn flag(&self, flag: &str, msg: String) -> ConfigError {
        ConfigError {
            file: None,
            line: None,
            key: Some(flag.to_string()),
            msg,
        }
    }

    /// An error at a dotted key of the file (its line from [`locate`]),
    /// or at `flag` when the value came from one.
    pub fn at(&self, key: &str, flag: Option<&str>, msg: String) -> ConfigError {
        match flag {
            Some(fl) => self.flag(fl, msg),
            None => self.key(key, msg),
        }
    }

    /// An error at `key` of the file, on `line`.
    pub fn at_line(&self, key: &str, line: Option<usize>, msg: String) -> ConfigError {
        ConfigError {
            file: self.file.map(Path::to_path_buf),
            line,
            key: Some(key.to_string()),
            msg,
        }
    }

    /// An error at a key inside an array of tables
    /// (`scrape_configs[2].x.y`): its own line, else its table's header.
    pub fn in_table(&self, key: &str, msg: String) -> ConfigError {
        if self.yaml.is_some() {
            return self.at_line(key, self.line(key), msg);
        }
        let line = locate(self.src, key).or_else(|| nth_table_line(self.src, key));
        self.at_line(key, line, msg)
    }

    /// An error at a key inside nested arrays of tables
    /// (`notify.receivers[1].mqtt_configs[0].url`): its own line, else the
    /// innermost table's header, else the outer table's.
    pub fn in_nested_table(&self, key: &str, msg: String) -> ConfigError {
        if self.yaml.is_some() {
            return self.at_line(key, self.line(key), msg);
        }
        let line = locate(self.src, key)
            .or_else(|| nested_line(self.src, key))
            .or_else(|| nth_table_line(self.src, key));
        self.at_line(key, line, msg)
    }

    /// [`Locator::flag`] when `from_flag`, else [`Locator::key`]: for
    /// resolvers that report `(key or flag, message, from a flag)`.
    pub fn keyed(&self, (key, msg, from_flag): KeyError) -> ConfigError {
        if from_flag {
            self.flag(&key, msg)
        } else {
            self.key(&key, msg)
        }
    }
}

/// Reads and parses any TOML config file (the agent's, the hub's): its
/// text and value, or an error naming the file, the line and the key.
pub fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<(String, T), ConfigError> {
    let src = read_text(path)?;
    let v = parse_toml(path, &src)?;
    Ok((src, v))
}

/// A config file's text, or an error naming the file.
pub fn read_text(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: Some(path.to_path_buf()),
        line: None,
        key: None,
        msg: format!("cannot read: {e}"),
    })
}

/// Parses TOML text into `T`; errors carry `path`, the line and the key.
pub fn parse_toml<T: serde::de::DeserializeOwned>(
    path: &Path,
    src: &str,
) -> Result<T, ConfigError> {
    toml::from_str::<T>(src).map_err(|e| {
        let (line, key) = match e.span() {
            Some(span) => (Some(line_of(src, span.start)), key_at(src, span.start)),
            None => (None, None),
        };
        ConfigError {
            file: Some(path.to_path_buf()),
            line,
            key,
            msg: e.message().trim().to_string(),
        }
    })
}

/// Parses a Prometheus duration: `15s`, `1m30s`, `500ms`, `4h`, `7d`, `1w`, `1y`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration (e.g. 15s, 1m30s, 4h, 7d)");
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total: u64 = 0;
    let mut rest = s;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let ms = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "y" => 31_536_000_000,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total = n
            .checked_mul(ms)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    Ok(Duration::from_millis(total))
}

/// Checks `host:port` / `:port` / `[v6]:port`.
pub fn check_listen(a: &str) -> Result<(), String> {
    let (host, port) = a
        .rsplit_once(':')
        .ok_or_else(|| format!("{a:?} is not host:port (e.g. \":9100\")"))?;
    port.parse::<u16>()
        .map_err(|_| format!("{a:?}: port {port:?} is not a number from 0 to 65535"))?;
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err(format!(
            "{a:?}: IPv6 hosts go in brackets, e.g. \"[::1]:9100\""
        ));
    }
    Ok(())
}

fn line_of(src: &str, offset: usize) -> usize {
    src[..offset.min(src.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

/// The dotted key whose line holds `offset`: the nearest table header above
/// plus the key at the start of that line.
fn key_at(src: &str, offset: usize) -> Option<String> {
    let offset = offset.min(src.len());
    let line_start = src[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = src[line_start..].lines().next().unwrap_or("");
    let table = src[..line_start]
        .lines()
        .rev()
        .find_map(|l| table_header(l.trim()))
        .unwrap_or_default();
    let here = line.trim();
    if let Some(t) = table_header(here) {
        return Some(t);
    }
    let key = here.split('=').next()?.trim().trim_matches('"');
    if key.is_empty() {
        return (!table.is_empty()).then_some(table);
    }
    Some(if table.is_empty() {
        key.to_string()
    } else {
        format!("{table}.{key}")
    })
}

fn table_header(l: &str) -> Option<String> {
    let inner = l.strip_prefix('[')?.split(']').next()?;
    Some(inner.trim_matches('[').trim().to_string())
}

/// Finds the line of a dotted key (`collector.netdev.device_include`) in
/// conventionally written TOML: the key under its `[table]` header.
pub fn locate(src: &str, dotted: &str) -> Option<usize> {
    let (table, key) = dotted.rsplit_once('.').unwrap_or(("", dotted));
    // `a.b[2]`: the third `[[a.b]]` table.
    let (table, nth) = match table.strip_suffix(']').and_then(|t| t.split_once('[')) {
        Some((t, n)) => (t, Some(n.parse::<usize>().ok()?)),
        None => (table, None),
    };
    let mut current = String::new();
    let mut seen = 0usize;
    for (i, l) in src.lines().enumerate() {
        let t = l.trim();
        if let Some(h) = table_header(t) {
            if h == table {
                seen += 1;
            }
            current = h;
            continue;
        }
        let k = t.split('=').next().unwrap_or("").trim();
        if current == table && nth.is_none_or(|n| seen == n + 1) && k == key && t.contains('=') {
            return Some(i + 1);
        }
    }
    None
}

/// The line of a key inside nested arrays of tables
/// (`notify.receivers[1].mqtt_configs[0].url`, also through a sub-table:
/// `…email_configs[0].tls_config.ca_file`) in conventionally written
/// TOML: the key's own line, else the innermost `[[table]]` header.
fn nested_line(src: &str, key: &str) -> Option<usize> {
    let parts: Vec<&str> = key.split('.').collect();
    let (last, tables) = parts.split_last()?;
    let mut path = String::new();
    let mut arrays: Vec<(String, usize)> = Vec::new();
    for p in tables {
        let (name, idx) = match p.strip_suffix(']').and_then(|p| p.split_once('[')) {
            Some((n, i)) => (n, Some(i.parse::<usize>().ok()?)),
            None => (*p, None),
        };
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(name);
        if let Some(i) = idx {
            arrays.push((path.clone(), i));
        }
    }
    if arrays.len() < 2 {
        return None;
    }
    // How many leading arrays the current position is inside the wanted
    // element of, and how many elements of each were seen in its parent.
    let mut depth = 0;
    let mut counts = vec![0usize; arrays.len()];
    let mut current = String::new();
    let mut header = None;
    for (n, l) in src.lines().enumerate() {
        let t = l.trim();
        if t.starts_with('[') {
            let h = t
                .trim_start_matches('[')
                .split(']')
                .next()?
                .trim()
                .to_string();
            if t.starts_with("[[") {
                if let Some(k) = arrays.iter().position(|(a, _)| *a == h) {
                    if k <= depth {
                        counts[k] += 1;
                        counts[k + 1..].iter_mut().for_each(|c| *c = 0);
                        depth = if counts[k] == arrays[k].1 + 1 {
                            k + 1
                        } else {
                            k
                        };
                        if depth == arrays.len() {
                            header = Some(n + 1);
                        }
                    }
                }
            }
            current = h;
            continue;
        }
        let k = t.split('=').next().unwrap_or("").trim();
        if depth == arrays.len() && current == path && k == *last && t.contains('=') {
            return Some(n + 1);
        }
    }
    header
}

/// The line of the `[[table]]` header that `key` (`scrape_configs[2].x.y`)
/// falls in, for errors deeper than [`locate`] finds.
fn nth_table_line(src: &str, key: &str) -> Option<usize> {
    let (table, rest) = key.split_once('[')?;
    let n: usize = rest.split_once(']')?.0.parse().ok()?;
    let header = format!("[[{table}]]");
    src.lines()
        .enumerate()
        .filter(|(_, l)| l.trim() == header)
        .nth(n)
        .map(|(i, _)| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86400)));
        for bad in ["", "15", "s", "1.5s", "-1s", "1x", "99999999999999999999s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
