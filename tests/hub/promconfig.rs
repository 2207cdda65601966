//! prometheus.yml read unchanged: `picket-hub check-config` against
//! `promtool check config` on the same files, and the same file run by
//! the hub and by Prometheus 2.42 side by side.
//!
//! The files are under tests/configs/prometheus/: `good/` (both accept),
//! `bad/` (both refuse), `refused/` (Prometheus accepts, the hub refuses
//! by name: the known differences, each with its reason below).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::*;

fn files(dir: &str) -> Vec<PathBuf> {
    let d = repo().join("tests/configs/prometheus").join(dir);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&d)
        .unwrap_or_else(|e| panic!("{}: {e}", d.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no files in {}", d.display());
    v
}

/// `picket-hub check-config FILE`: (success, stderr).
fn hub_check(file: &Path) -> (bool, String) {
    let out = hub_cmd().arg("check-config").arg(file).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `promtool check config FILE`: (success, output).
fn promtool_check(file: &Path) -> (bool, String) {
    let out = Command::new("promtool")
        .args(["check", "config"])
        .arg(file)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Why the hub refuses what Prometheus accepts, file by file.
const REFUSED: [(&str, &str); 4] = [
    ("ec2.yml", "ec2 service discovery"),
    ("http-sd.yml", "http service discovery"),
    ("proxy.yml", "proxies"),
    ("remote-read.yml", "no remote read"),
];

#[test]
#[ignore = "needs promtool (tests/run.sh installs it)"]
fn check_config_agrees_with_promtool() {
    require("promtool");
    let mut disagree = Vec::new();
    for f in files("good") {
        let (p, pout) = promtool_check(&f);
        let (h, hout) = hub_check(&f);
        assert!(p, "promtool refuses a good file {}: {pout}", f.display());
        if !h {
            disagree.push(format!("{}: hub refuses: {hout}", f.display()));
        }
    }
    for f in files("bad") {
        let (p, _) = promtool_check(&f);
        let (h, hout) = hub_check(&f);
        assert!(!p, "promtool accepts a bad file {}", f.display());
        if h {
            disagree.push(format!("{}: hub accepts", f.display()));
            continue;
        }
        // The hub's error names the file and (for anything past the
        // YAML's first line) the line.
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            hout.contains(&format!("{name}:")),
            "{name}: error does not name file and line: {hout}"
        );
    }
    for f in files("refused") {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let (p, pout) = promtool_check(&f);
        let (h, hout) = hub_check(&f);
        assert!(p, "promtool refuses {name}: {pout}");
        assert!(!h, "the hub accepts {name}, listed as refused");
        let why = REFUSED
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("{name}: no reason listed in REFUSED"))
            .1;
        assert!(hout.contains(why), "{name}: expected {why:?} in {hout}");
    }
    assert!(disagree.is_empty(), "{}", disagree.join("\n"));
}

/// The error names file, line and dotted key, for the bad files where
/// the key is known.
#[test]
fn check_config_errors_name_file_line_and_key() {
    let dir = repo().join("tests/configs/prometheus/bad");
    for (file, want) in [
        (
            "timeout-over-interval.yml",
            "timeout-over-interval.yml:5: scrape_configs[0].scrape_timeout",
        ),
        (
            "unknown-key.yml",
            "unknown-key.yml:3: scrape_configs[0].scrape_intervall",
        ),
        (
            "bad-duration.yml",
            "bad-duration.yml:2: global.scrape_interval",
        ),
        (
            "duplicate-job.yml",
            "duplicate-job.yml:5: scrape_configs[1].job_name",
        ),
        (
            "kubernetes.yml",
            "kubernetes.yml:3: scrape_configs[0].kubernetes_sd_configs",
        ),
        (
            "bad-label-name.yml",
            "bad-label-name.yml:5: scrape_configs[0].static_configs[0].labels",
        ),
    ] {
        let (ok, err) = hub_check(&dir.join(file));
        assert!(!ok, "{file} accepted");
        assert!(err.contains(want), "{file}: expected {want:?} in {err}");
    }
}
