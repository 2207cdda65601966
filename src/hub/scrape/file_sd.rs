//! File-based service discovery (Prometheus's `file_sd_configs`): target
//! groups read from YAML or JSON files that deployment tools rewrite, so
//! targets come and go without a hub reload.
//!
//! The format is Prometheus's: a list of `{targets: [...], labels: {...}}`,
//! JSON for `*.json` and YAML for `*.yml`/`*.yaml`. Patterns may hold one
//! `*` in their last path component. Every group gets the discovered label
//! `__meta_filepath`.
//!
//! Files are re-read when their mtime or size changes (polled every few
//! seconds: no inotify, which would need a crate and gives nothing a
//! board-sized fleet notices) and every `refresh_interval`. A file that
//! fails to read or parse keeps the targets it had, as in Prometheus, and
//! the error (with the parser's line) is logged once per change or
//! refresh. A file that disappears takes its targets with it.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde::Deserialize;

use super::config::{group, FileSdConfig, TargetGroup};

/// The longest wait between two mtime checks.
const POLL: Duration = Duration::from_secs(5);

/// Checks a `files` entry as Prometheus does
/// (`^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$`).
pub(crate) fn check_pattern(p: &str) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!(
            "path name {p:?} is not valid for file discovery: {why}"
        ))
    };
    let ext_ok = [".json", ".yml", ".yaml", ".JSON", ".YML", ".YAML"]
        .iter()
        .any(|e| p.ends_with(e));
    if !ext_ok {
        return bad("the name must end in .json, .yml or .yaml");
    }
    match p.find('*') {
        Some(i) if p[i + 1..].contains(['*', '/']) => {
            bad("one `*`, in the last path component only")
        }
        _ => Ok(()),
    }
}

/// One group of a file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupEntry {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// Parses a target file's text: JSON if the name ends in `.json`, else YAML.
/// Each group gets `__meta_filepath` = `path`. Errors carry the parser's
/// line and column.
pub(crate) fn parse(path: &Path, text: &str) -> Result<Vec<TargetGroup>, String> {
    let is_json = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let entries: Vec<GroupEntry> = if is_json {
        serde_json::from_str(text).map_err(|e| e.to_string())?
    } else {
        // An empty YAML document is no groups.
        serde_norway::from_str::<Option<Vec<GroupEntry>>>(text)
            .map_err(|e| e.to_string())?
            .unwrap_or_default()
    };
    let file = path.display().to_string();
    entries
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let mut g = group(e.targets, e.labels).map_err(|m| format!("group {i}: {m}"))?;
            g.labels.set("__meta_filepath", file.clone());
            Ok(g)
        })
        .collect()
}

/// The files a pattern names now, sorted (a pattern without `*` or `?`
/// names its file if it exists).
pub(crate) fn expand(pattern: &Path) -> io::Result<Vec<PathBuf>> {
    let name = match pattern.file_name().and_then(|n| n.to_str()) {
        Some(n) if n.contains(['*', '?']) => n,
        _ => {
            return Ok(if pattern.exists() {
                vec![pattern.to_path_buf()]
            } else {
                Vec::new()
            })
        }
    };
    let dir = match pattern.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        if let Some(n) = entry.file_name().to_str() {
            if wildcard(name.as_bytes(), n.as_bytes()) {
                out.push(dir.join(n));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Shell-style match of `*` (any run) and `?` (one byte); other bytes literal.
fn wildcard(pat: &[u8], s: &[u8]) -> bool {
    let (mut p, mut i) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        if p < pat.len() && (pat[p] == b'?' || pat[p] == s[i]) {
            p += 1;
            i += 1;
        } else if p < pat.len() && pat[p] == b'*' {
            star = Some((p, i));
            p += 1;
        } else if let Some((sp, si)) = star {
            p = sp + 1;
            i = si + 1;
            star = Some((sp, si + 1));
        } else {
            return false;
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

/// What a file looked like when last read: mtime and size. Compared for
/// equality only, so `Metadata::modified`'s 2038 wrap on 32-bit musl (see
/// `picket_core::clock`) does not matter, and its sub-second resolution does.
type Stamp = Option<(Option<SystemTime>, u64)>;

fn stamp(path: &Path) -> Stamp {
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.modified().ok(), m.len()))
}

/// The last read of one file.
#[derive(Debug)]
struct FileState {
    stamp: Stamp,
    groups: Vec<TargetGroup>,
}

/// One `file_sd_configs` entry's files and the groups they gave.
#[derive(Debug)]
pub(crate) struct FileSd {
    cfg: FileSdConfig,
    files: BTreeMap<PathBuf, FileState>,
    last_full: Option<Instant>,
}

impl FileSd {
    /// A discovery with nothing read yet.
    pub(crate) fn new(cfg: FileSdConfig) -> FileSd {
        FileSd {
            cfg,
            files: BTreeMap::new(),
            last_full: None,
        }
    }

    /// How long to sleep between [`FileSd::refresh`] calls.
    pub(crate) fn poll_period(&self) -> Duration {
        POLL.min(self.cfg.refresh_interval)
    }

    /// Re-reads changed files (every file when the refresh interval has
    /// passed); true if the groups changed.
    pub(crate) fn refresh(&mut self) -> bool {
        let full = self
            .last_full
            .is_none_or(|t| t.elapsed() >= self.cfg.refresh_interval);
        if full {
            self.last_full = Some(Instant::now());
        }
        let mut paths = BTreeSet::new();
        for p in &self.cfg.files {
            match expand(p) {
                Ok(v) => paths.extend(v),
                Err(e) => log::error!("file_sd: listing {}: {e}", p.display()),
            }
        }
        let before = self.groups();
        let mut old = std::mem::take(&mut self.files);
        for path in paths {
            let now = stamp(&path);
            let prev = old.remove(&path);
            let state = match prev {
                Some(p) if !full && p.stamp == now => p,
                prev => {
                    let read = std::fs::read_to_string(&path)
                        .map_err(|e| e.to_string())
                        .and_then(|t| parse(&path, &t));
                    match read {
                        Ok(groups) => FileState { stamp: now, groups },
                        Err(e) => {
                            log::error!(
                                "file_sd: {}: {e} (keeping its previous targets)",
                                path.display()
                            );
                            FileState {
                                stamp: now,
                                groups: prev.map(|p| p.groups).unwrap_or_default(),
                            }
                        }
                    }
                }
            };
            self.files.insert(path, state);
        }
        self.groups() != before
    }

    /// The groups of all files, in file order.
    pub(crate) fn groups(&self) -> Vec<TargetGroup> {
        self.files
            .values()
            .flat_map(|f| f.groups.iter().cloned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("picket-file-sd-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("mkdir");
        d
    }

    fn addrs(groups: &[TargetGroup]) -> Vec<String> {
        groups.iter().flat_map(|g| g.targets.clone()).collect()
    }

    #[test]
    fn yaml_and_json_groups() {
        let y = parse(
            Path::new("/t/a.yml"),
            "- targets: ['h1:9100', 'h2:9100']\n  labels:\n    env: lab\n- targets: ['h3:1']\n",
        )
        .expect("yaml");
        assert_eq!(addrs(&y), ["h1:9100", "h2:9100", "h3:1"]);
        assert_eq!(y[0].labels.get("env"), Some("lab"));
        assert_eq!(y[1].labels.get("__meta_filepath"), Some("/t/a.yml"));
        let j = parse(
            Path::new("/t/a.json"),
            r#"[{"targets": ["h1:9100"], "labels": {"env": "lab"}}]"#,
        )
        .expect("json");
        assert_eq!(addrs(&j), ["h1:9100"]);
        assert_eq!(j[0].labels.get("__meta_filepath"), Some("/t/a.json"));
        assert_eq!(parse(Path::new("e.yaml"), ""), Ok(Vec::new()));
    }

    #[test]
    fn parse_errors_name_the_line() {
        let e = parse(Path::new("a.yml"), "- targets: ['h1:1']\n- targets: [\n").expect_err("bad");
        assert!(e.contains("line"), "{e}");
        let e = parse(Path::new("a.json"), "[{\"targets\": [\"h\"]},\n  {]").expect_err("bad");
        assert!(e.contains("line 2"), "{e}");
        let e = parse(Path::new("a.yml"), "- targets: ['h']\n  lables: {}\n").expect_err("bad");
        assert!(e.contains("lables"), "{e}");
        let e =
            parse(Path::new("a.yml"), "- targets: ['h']\n  labels: {a-b: x}\n").expect_err("bad");
        assert!(e.contains("not a valid label name"), "{e}");
    }

    #[test]
    fn patterns() {
        for ok in ["/etc/t/*.yml", "t.json", "/a/b/x*y.yaml", "/a/B.YML"] {
            assert_eq!(check_pattern(ok), Ok(()), "{ok}");
        }
        for bad in ["/etc/*/t.yml", "t.txt", "/a/**.yml", "/a/*"] {
            assert!(check_pattern(bad).is_err(), "{bad}");
        }
        assert!(wildcard(b"*.yml", b"a.yml"));
        assert!(wildcard(b"t-*.yml", b"t-.yml"));
        assert!(!wildcard(b"*.yml", b"a.yaml"));
        assert!(wildcard(b"a?c.json", b"abc.json"));
    }

    #[test]
    fn broken_file_keeps_its_targets_and_gone_file_drops_them() {
        let d = tmpdir("keep");
        let a = d.join("a.yml");
        let b = d.join("b.json");
        std::fs::write(&a, "- targets: ['h1:1']\n").expect("write");
        std::fs::write(&b, r#"[{"targets": ["h2:2"]}]"#).expect("write");
        std::fs::write(d.join("ignored.txt"), "x").expect("write");
        let mut sd = FileSd::new(FileSdConfig {
            files: vec![d.join("*.yml"), d.join("*.json")],
            refresh_interval: Duration::from_secs(300),
        });
        assert!(sd.refresh());
        assert_eq!(addrs(&sd.groups()), ["h1:1", "h2:2"]);
        assert!(!sd.refresh(), "nothing changed");

        // Broken (and a different size, so the stamp changes): old targets stay.
        std::fs::write(&a, "- targets: ['h1:1', 'h9:9'\n").expect("write");
        assert!(!sd.refresh());
        assert_eq!(addrs(&sd.groups()), ["h1:1", "h2:2"]);

        std::fs::write(&a, "- targets: ['h1:1', 'h3:3']\n").expect("write");
        assert!(sd.refresh());
        assert_eq!(addrs(&sd.groups()), ["h1:1", "h3:3", "h2:2"]);

        std::fs::remove_file(&b).expect("rm");
        assert!(sd.refresh());
        assert_eq!(addrs(&sd.groups()), ["h1:1", "h3:3"]);
        let _ = std::fs::remove_dir_all(&d);
    }
}
