//! End-to-end golden files: the real binary, pointed at a fixture tree with
//! `--path.*`, serves exactly tests/golden/<tree>.prom (volatile series
//! filtered, as node_exporter's end-to-end test does).
//!
//! After an intended change, rewrite the files with
//! `UPDATE_GOLDEN=1 cargo test --test integration golden` and review the diff.

use std::path::PathBuf;

use crate::util::{get, repo, stable_lines, start_picket, tree_args};

/// Series whose values depend on the moment or on the machine running the
/// test rather than on the fixture tree.
pub const VOLATILE: &[&str] = &[
    "node_scrape_collector_duration_seconds",
    "process_",
    "picket_build_info",
    // Wall clock, local time zone, and adjtimex(2): syscalls, not files.
    "node_time_seconds",
    "node_time_zone_offset_seconds",
    "node_timex_",
    // statfs(2) of the fixture's rootfs directories: sizes of the test machine's disk.
    "node_filesystem_avail_bytes",
    "node_filesystem_free_bytes",
    "node_filesystem_size_bytes",
    "node_filesystem_files",
    // File modification times of the checkout.
    "node_textfile_mtime_seconds",
];

fn check(tree: &str) {
    let args = tree_args(tree);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let p = start_picket(&args);
    let got = stable_lines(&get(&p.addr, "/metrics").unwrap().text(), VOLATILE);
    let path: PathBuf = repo().join(format!("tests/golden/{tree}.prom"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (create it with UPDATE_GOLDEN=1)", path.display()));
    if got != want {
        let diff: Vec<String> = diff_lines(&want, &got);
        panic!(
            "{tree}: /metrics differs from {} ({} lines differ; UPDATE_GOLDEN=1 rewrites it):\n{}",
            path.display(),
            diff.len(),
            diff.iter().take(60).cloned().collect::<Vec<_>>().join("\n")
        );
    }
}

/// Lines only in `want` (-) and only in `got` (+), in order.
fn diff_lines(want: &str, got: &str) -> Vec<String> {
    let w: std::collections::BTreeSet<&str> = want.lines().collect();
    let g: std::collections::BTreeSet<&str> = got.lines().collect();
    let mut d: Vec<String> = w.difference(&g).map(|l| format!("- {l}")).collect();
    d.extend(g.difference(&w).map(|l| format!("+ {l}")));
    d
}

#[test]
fn pi4_tree_matches_golden() {
    check("pi4");
}

#[test]
fn rock64_tree_matches_golden() {
    check("rock64");
}

#[test]
fn every_default_collector_succeeds_on_the_fixture_trees() {
    // Expected failures on a tree, with the reason.
    let expected_failures: &[(&str, &str, &str)] = &[
        (
            "pi4",
            "pressure",
            "Raspberry Pi OS kernels boot with PSI disabled: no /proc/pressure",
        ),
        ("pi4", "systemd", "not supported without D-Bus"),
        ("rock64", "systemd", "not supported without D-Bus"),
    ];
    for tree in ["pi4", "rock64"] {
        let args = tree_args(tree);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let p = start_picket(&args);
        let text = get(&p.addr, "/metrics").unwrap().text();
        for line in text
            .lines()
            .filter(|l| l.starts_with("node_scrape_collector_success{"))
        {
            let name = line.split('"').nth(1).unwrap();
            let ok = line.ends_with(" 1");
            let expected_fail = expected_failures
                .iter()
                .any(|(t, c, _)| *t == tree && *c == name);
            assert_eq!(ok, !expected_fail, "{tree}: {line}");
        }
    }
}
