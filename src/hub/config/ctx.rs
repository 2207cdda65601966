//! The one error locator every section of the hub config resolves
//! against: [`Ctx`] carries the file's path and text, so a section's
//! check names the file, the line and the dotted key of what is wrong
//! (through [`picket_core::config::locate`], and for keys inside arrays
//! of tables the table's own lines), or the flag that gave the value.

use std::path::Path;
use std::time::Duration;

use picket_core::config::{locate, parse_duration, ConfigError};

/// What a section's `resolve` needs to place its errors.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    /// The config file (None: the embedded default).
    pub path: Option<&'a Path>,
    /// Its text.
    pub src: &'a str,
}

/// A setting's value and where it came from: a flag (which wins over the
/// file) or the file's dotted key.
#[derive(Debug, Clone)]
pub struct Given<'k> {
    /// The text given.
    pub value: String,
    /// The flag that gave it, if any.
    pub flag: Option<&'static str>,
    /// The file's key for it.
    pub key: &'k str,
}

impl<'k> Given<'k> {
    /// The flag's value if given, else the file's.
    pub fn pick(
        flag: &Option<String>,
        file: &Option<String>,
        key: &'k str,
        fl: &'static str,
    ) -> Option<Given<'k>> {
        match (flag, file) {
            (Some(v), _) => Some(Given {
                value: v.clone(),
                flag: Some(fl),
                key,
            }),
            (None, Some(v)) => Some(Given::file(v, key)),
            (None, None) => None,
        }
    }

    /// A value from the file only.
    pub fn file(value: &str, key: &'k str) -> Given<'k> {
        Given {
            value: value.to_string(),
            flag: None,
            key,
        }
    }
}

impl Ctx<'_> {
    /// An error at a dotted key of the file (its line from [`locate`]),
    /// or at a flag.
    pub fn at(&self, key: &str, flag: Option<&str>, msg: String) -> ConfigError {
        match flag {
            Some(fl) => ConfigError {
                file: None,
                line: None,
                key: Some(fl.to_string()),
                msg,
            },
            None => self.at_line(key, locate(self.src, key), msg),
        }
    }

    /// An error at `key` of the file, on `line`.
    pub fn at_line(&self, key: &str, line: Option<usize>, msg: String) -> ConfigError {
        ConfigError {
            file: self.path.map(Path::to_path_buf),
            line,
            key: Some(key.to_string()),
            msg,
        }
    }

    /// An error at a key inside an array of tables
    /// (`scrape_configs[2].x.y`): its own line, else its table's header.
    pub fn in_table(&self, key: &str, msg: String) -> ConfigError {
        let line = locate(self.src, key).or_else(|| nth_table_line(self.src, key));
        self.at_line(key, line, msg)
    }

    /// An error at a key inside nested arrays of tables
    /// (`notify.receivers[1].mqtt_configs[0].url`): its own line, else the
    /// innermost table's header, else the outer table's.
    pub fn in_nested_table(&self, key: &str, msg: String) -> ConfigError {
        let line = locate(self.src, key)
            .or_else(|| nested_line(self.src, key))
            .or_else(|| nth_table_line(self.src, key));
        self.at_line(key, line, msg)
    }

    /// A duration setting, `default` when not given.
    pub fn duration(
        &self,
        v: Option<Given<'_>>,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        match v {
            None => Ok(default),
            Some(g) => parse_duration(&g.value).map_err(|e| self.at(g.key, g.flag, e)),
        }
    }

    /// A duration setting that must be more than 0 (at `key`, or the flag
    /// that gave it).
    pub fn positive_duration(
        &self,
        v: Option<Given<'_>>,
        key: &str,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        let flag = v.as_ref().and_then(|g| g.flag);
        let d = self.duration(v, default)?;
        if d.is_zero() {
            return Err(self.at(key, flag, "must be more than 0".into()));
        }
        Ok(d)
    }
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
