//! picket against the real Prometheus tools (Debian packages, installed by
//! tests/run.sh): promtool lints the output no worse than node_exporter's
//! own, and a real Prometheus scrapes picket and answers queries about it.
//! `#[ignore]`d for plain `cargo test`; run with `--include-ignored`.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{
    fixture, free_port, get, promql, require, start_node_exporter, start_picket, start_prometheus,
    temp_dir,
};

/// `promtool check metrics` on `text`: (exit code, lint lines).
fn promtool_check(text: &str) -> (i32, BTreeSet<String>) {
    require("promtool");
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&out.stderr).lines())
        .map(str::to_string)
        .collect();
    (out.status.code().unwrap_or(-1), lines)
}

/// The trees both programs are run on: this machine and the fixtures.
fn trees() -> Vec<(String, Vec<String>)> {
    let mut v = vec![("this machine".to_string(), vec![])];
    for t in ["pi4", "rock64"] {
        v.push((
            t.to_string(),
            vec![
                format!("--path.procfs={}", fixture(&format!("{t}/proc")).display()),
                format!("--path.sysfs={}", fixture(&format!("{t}/sys")).display()),
            ],
        ));
    }
    v
}

#[test]
#[ignore = "needs promtool and node_exporter (tests/run.sh installs them)"]
fn promtool_parses_output_and_finds_nothing_node_exporter_does_not_also_get() {
    for (tree, paths) in trees() {
        let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
        let mut pargs = paths.clone();
        pargs.push("--collector.processes");
        let p = start_picket(&pargs);
        let mut nargs = paths.clone();
        nargs.push("--collector.processes");
        let n = start_node_exporter(&nargs);
        let ours = get(&p.addr, "/metrics").unwrap().text();
        let theirs = get(&n.addr, "/metrics").unwrap().text();

        let (code, lints) = promtool_check(&ours);
        assert_ne!(
            code, 1,
            "{tree}: promtool could not parse picket's output: {lints:?}"
        );
        assert!(
            code == 0 || code == 3,
            "{tree}: promtool exit {code}: {lints:?}"
        );
        let (_, their_lints) = promtool_check(&theirs);
        // Lints node_exporter's output would get too, were its /proc the same:
        // camelCase names come from the kernel's own field names, which we copy
        // on purpose (node_memory_MemTotal_bytes, node_netstat_Tcp_InSegs).
        let extra: Vec<_> = lints
            .difference(&their_lints)
            .filter(|l| !l.contains("should be written in 'snake_case' not 'camelCase'"))
            .collect();
        assert!(
            extra.is_empty(),
            "{tree}: lint problems node_exporter does not have: {extra:#?}"
        );
    }
}

#[test]
#[ignore = "needs prometheus and promtool (tests/run.sh installs them)"]
fn a_real_prometheus_scrapes_picket() {
    require("prometheus");
    require("promtool");
    let p = start_picket(&[]);
    let dir = temp_dir("prometheus");
    let cfg = dir.join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global: {{scrape_interval: 1s, scrape_timeout: 1s}}\n\
             scrape_configs:\n  - job_name: node\n    static_configs: [{{targets: [\"{}\"]}}]\n",
            p.addr
        ),
    )
    .unwrap();
    let port = free_port();
    let prom_addr = format!("127.0.0.1:{port}");
    let _prom = start_prometheus(&dir, &prom_addr, &[]);
    let query = |q: &str| promql(&prom_addr, q);
    // Wait until Prometheus has scraped at least twice.
    let start = Instant::now();
    let mut up = String::new();
    while start.elapsed() < Duration::from_secs(30) {
        up = query("up");
        if up.contains("=> 1 @") && !query("node_load1").is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        up.contains("job=\"node\"") && up.contains("=> 1 @"),
        "up: {up:?}"
    );
    let load = query("node_load1");
    assert!(load.contains("node_load1{"), "{load}");
    let cpus = query("count(count(node_cpu_seconds_total) by (cpu))");
    let n: usize = cpus
        .split("=> ")
        .nth(1)
        .and_then(|v| v.split(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert_eq!(
        n,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        "{cpus}"
    );
    let ok = query("min(node_scrape_collector_success)");
    assert!(!ok.is_empty(), "scrape meta series present");
    let mem = query("node_memory_MemTotal_bytes");
    assert!(mem.contains("node_memory_MemTotal_bytes{"), "{mem}");
}

/// A textfile family named like a summary's `_sum`, collected before the
/// summary: node_exporter's registry keeps what came first and drops the
/// summary that collides with it (or, in Go map order, the other way round);
/// picket serves the lines of the first outcome, and its
/// scrape stays valid for promtool (the encoder never writes a family
/// where it would read as part of another).
#[test]
#[ignore = "needs promtool and node_exporter (tests/run.sh installs them)"]
fn a_textfile_family_colliding_with_a_summary_is_served_as_node_exporter_does() {
    let dir = temp_dir("textfile-collision");
    std::fs::write(
        dir.join("c.prom"),
        "s_sum 7\n# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 2\ns_count 3\nother_total 1\n",
    )
    .unwrap();
    let flag = format!("--collector.textfile.directory={}", dir.display());
    let args = [
        "--collector.disable-defaults",
        "--collector.textfile",
        flag.as_str(),
    ];
    let pk = start_picket(&args);
    let ne = start_node_exporter(&args);
    let lines = |addr: &str| -> BTreeSet<String> {
        get(addr, "/metrics")
            .unwrap()
            .text()
            .lines()
            .filter(|l| l.starts_with('s') || l.starts_with("other"))
            .map(str::to_string)
            .collect()
    };
    // node_exporter's textfile collector hands its families to the registry
    // in Go map order, so which of the two colliding families it keeps varies
    // from scrape to scrape (measured: the untyped s_sum in about 17 of 20).
    // picket keeps the first in the file, every time: its lines must be one
    // of node_exporter's outcomes.
    let a = lines(&pk.addr);
    assert_eq!(a, lines(&pk.addr), "picket's choice is not stable");
    let outcomes: BTreeSet<BTreeSet<String>> = (0..40).map(|_| lines(&ne.addr)).collect();
    assert!(
        outcomes.contains(&a),
        "picket serves {a:?}, node_exporter served only {outcomes:?}"
    );
    assert!(a.contains("other_total 1"), "{a:?}");
    let text = get(&pk.addr, "/metrics").unwrap().text();
    let (code, out) = promtool_check(&text);
    assert_eq!(code, 0, "{out:?}\n{text}");
}
