//! Bad input: a fixture tree with one file truncated or garbled at a time.
//! The collector reading it must report success 0 (and say why in the log),
//! nothing panics, and every other collector's output is unchanged.

use std::collections::BTreeMap;
use std::path::Path;

use crate::util::{fixture, get, start_picket, temp_dir};

/// (file under the tree, collector that reads it).
const CASES: &[(&str, &str)] = &[
    ("proc/stat", "stat"),
    ("proc/stat", "cpu"),
    ("proc/meminfo", "meminfo"),
    ("proc/loadavg", "loadavg"),
    ("proc/diskstats", "diskstats"),
    ("proc/net/dev", "netdev"),
    ("proc/net/netstat", "netstat"),
    ("proc/net/sockstat", "sockstat"),
    ("proc/net/softnet_stat", "softnet"),
    ("proc/net/arp", "arp"),
    ("proc/vmstat", "vmstat"),
    ("proc/schedstat", "schedstat"),
    ("proc/sys/fs/file-nr", "filefd"),
    ("proc/sys/kernel/random/entropy_avail", "entropy"),
    ("proc/1/mountinfo", "filesystem"),
    ("proc/interrupts", "interrupts"),
    ("proc/net/udp", "udp_queues"),
    ("proc/net/tcp", "tcpstat"),
];

/// Files whose empty form is valid data (a machine without block devices
/// has an empty /proc/diskstats).
const EMPTY_IS_VALID: &[&str] = &["proc/diskstats"];

/// Ways to break a file.
fn corruptions(original: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let half = original.len() / 2;
    let garbled: Vec<u8> = original
        .iter()
        .map(|&b| if b.is_ascii_digit() { b'x' } else { b })
        .collect();
    vec![
        ("empty", Vec::new()),
        ("garbled digits", garbled),
        ("binary junk", (0..=255u8).cycle().take(700).collect()),
        ("truncated", original[..half].to_vec()),
    ]
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let ty = entry.file_type().unwrap();
        let dest = to.join(entry.file_name());
        if ty.is_symlink() {
            let target = std::fs::read_link(entry.path()).unwrap();
            std::os::unix::fs::symlink(target, dest).unwrap();
        } else if ty.is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

fn successes(text: &str) -> BTreeMap<String, bool> {
    text.lines()
        .filter(|l| l.starts_with("node_scrape_collector_success{"))
        .map(|l| (l.split('"').nth(1).unwrap().to_string(), l.ends_with(" 1")))
        .collect()
}

/// Lines of one collector's own series, found by metric prefix.
fn scrape(tree: &Path, collectors: &[&str]) -> String {
    let mut args = vec![
        format!("--path.procfs={}", tree.join("proc").display()),
        format!("--path.sysfs={}", tree.join("sys").display()),
        "--collector.disable-defaults".to_string(),
        "--web.disable-exporter-metrics".to_string(),
    ];
    args.extend(collectors.iter().map(|c| format!("--collector.{c}")));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let p = start_picket(&args);
    let text = get(&p.addr, "/metrics").unwrap().text();
    // The server survived the scrape and answers again.
    assert_eq!(get(&p.addr, "/healthz").unwrap().status, 200);
    text
}

#[test]
fn a_broken_file_fails_only_its_collector() {
    let base = temp_dir("bad-input");
    let clean = base.join("clean");
    copy_tree(&fixture("pi4"), &clean);
    let all: Vec<&str> = {
        let mut v: Vec<&str> = CASES.iter().map(|(_, c)| *c).collect();
        v.sort();
        v.dedup();
        v
    };
    let clean_text = scrape(&clean, &all);
    let clean_ok = successes(&clean_text);
    for c in &all {
        assert_eq!(clean_ok.get(*c), Some(&true), "{c} fails on the clean tree");
    }
    let clean_lines: std::collections::BTreeSet<&str> = clean_text
        .lines()
        .filter(|l| !crate::golden::VOLATILE.iter().any(|v| l.starts_with(v)))
        .collect();

    let mut failures = Vec::new();
    for (i, (file, collector)) in CASES.iter().enumerate() {
        let original =
            std::fs::read(clean.join(file)).unwrap_or_else(|e| panic!("fixture pi4/{file}: {e}"));
        for (how, bytes) in corruptions(&original) {
            let tree = base.join(format!("case{i}-{}", how.replace(' ', "-")));
            copy_tree(&clean, &tree);
            std::fs::write(tree.join(file), &bytes).unwrap();
            let text = scrape(&tree, &all);
            let ok = successes(&text);
            // Truncation can leave a file that is still valid (e.g. fewer
            // lines of a table), and some files are valid when empty.
            let may_pass = how == "truncated" || (how == "empty" && EMPTY_IS_VALID.contains(file));
            if !may_pass && ok.get(*collector) != Some(&false) {
                failures.push(format!("{file} {how}: {collector} still reports success"));
            }
            // Other collectors are untouched: same success, same series
            // (except those that read the same file).
            let readers: Vec<&str> = CASES
                .iter()
                .filter(|(f, _)| f == file)
                .map(|(_, c)| *c)
                .collect();
            for (c, s) in &ok {
                if !readers.contains(&c.as_str()) {
                    assert!(*s, "{file} {how}: unrelated collector {c} failed");
                }
            }
            let prefixes = series_prefixes(&readers);
            for l in &clean_lines {
                let theirs = prefixes.iter().any(|p| {
                    l.starts_with(p)
                        || l.starts_with(&format!("# HELP {p}"))
                        || l.starts_with(&format!("# TYPE {p}"))
                });
                if !theirs && !l.starts_with("node_scrape_collector_success") {
                    assert!(text.contains(l), "{file} {how}: lost unrelated line {l:?}");
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Metric-name prefixes a collector emits (to tell its lines from others').
fn series_prefixes(collectors: &[&str]) -> Vec<&'static str> {
    let mut v = Vec::new();
    for c in collectors {
        v.extend_from_slice(match *c {
            "stat" => &[
                "node_boot_time",
                "node_context_switches",
                "node_forks",
                "node_intr",
                "node_procs_",
            ][..],
            "cpu" => &["node_cpu_"][..],
            "meminfo" => &["node_memory_"][..],
            "loadavg" => &["node_load"][..],
            "diskstats" => &["node_disk_"][..],
            "netdev" => &["node_network_receive", "node_network_transmit"][..],
            "netstat" => &["node_netstat_"][..],
            "sockstat" => &["node_sockstat_"][..],
            "softnet" => &["node_softnet_"][..],
            "arp" => &["node_arp_"][..],
            "vmstat" => &["node_vmstat_"][..],
            "schedstat" => &["node_schedstat_"][..],
            "filefd" => &["node_filefd_"][..],
            "entropy" => &["node_entropy_"][..],
            "filesystem" => &["node_filesystem_"][..],
            "interrupts" => &["node_interrupts_"][..],
            "udp_queues" => &["node_udp_queues"][..],
            "tcpstat" => &["node_tcp_"][..],
            _ => &[][..],
        });
    }
    v
}
