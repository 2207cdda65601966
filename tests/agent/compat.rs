//! Side by side with the real node_exporter (Debian's prometheus-node-exporter)
//! on this machine: same collectors, same /proc and /sys, scraped together.
//!
//! For every family node_exporter serves, picket serves the same name, type
//! and label names; the label values (cpus, devices, mount points, chips)
//! match; stable gauges agree within tolerance. Known differences are listed
//! below with their reason. The same comparison also runs on the Raspberry
//! Pi 4 and Rock64 fixture trees, where both programs read identical files.

use std::collections::{BTreeMap, BTreeSet};

use picket_core::decode::text::parse;
use picket_core::metric::{MetricType, Sample};

use crate::util::start_node_exporter;
use crate::util::{fixture, get, start_picket};

/// Collectors both programs have. `systemd` is left out: it needs a bus and
/// systemd, and is compared over a fake one in tests/systemd.rs. `rpi` is
/// picket's own.
const COLLECTORS: &[&str] = &[
    "arp",
    "conntrack",
    "cpu",
    "cpufreq",
    "diskstats",
    "entropy",
    "filefd",
    "filesystem",
    "hwmon",
    "interrupts",
    "loadavg",
    "meminfo",
    "netclass",
    "netdev",
    "netstat",
    "powersupplyclass",
    "pressure",
    "processes",
    "schedstat",
    "sockstat",
    "softnet",
    "stat",
    "tcpstat",
    "textfile",
    "thermal_zone",
    "time",
    "timex",
    "udp_queues",
    "uname",
    "vmstat",
];

/// Families node_exporter 1.5.0 serves that picket does not, and why.
const KNOWN_MISSING: &[(&str, &str)] = &[
    ("go_", "Go runtime metrics: picket is not a Go program"),
    ("promhttp_", "client_golang's HTTP handler metrics"),
    (
        "node_exporter_build_info",
        "picket serves picket_build_info instead",
    ),
    (
        "process_network_",
        "client_golang >= 1.14 reads /proc/self/net/dev; not a node metric",
    ),
    (
        "node_scrape_collector_",
        "compared separately: the collector sets differ by design",
    ),
];

/// Label names picket adds to a family, and why.
const KNOWN_EXTRA_LABELS: &[(&str, &str, &str)] = &[
    (
        "node_filesystem_",
        "device_error",
        "added in node_exporter 1.8.0; Debian ships 1.5.0",
    ),
    (
        "node_disk_info",
        "rotational",
        "added in node_exporter 1.9.0",
    ),
    (
        "node_network_info",
        "adminstate",
        "added in node_exporter 1.8.0",
    ),
];

/// Debian's node_exporter 1.5.0 package changes some filter defaults; both
/// programs get upstream's, so the comparison is about the code, not the
/// packaging (picket's defaults are upstream's).
const UPSTREAM_DEFAULTS: &[&str] = &[
    "--collector.diskstats.device-exclude=^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\\d+n\\d+p)\\d+$",
    "--collector.netdev.device-exclude=",
    "--collector.filesystem.mount-points-exclude=^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)",
];

/// On fixture trees node_exporter still asks the running kernel for some
/// things: netdev over netlink (so it is switched to /proc/net/dev there)
/// and uname(2) (picket reads the tree's proc/sys/kernel files instead).
const FIXTURE_ONLY_NE_ARGS: &[&str] = &["--no-collector.netdev.netlink"];
const FIXTURE_SKIP: &[(&str, &str)] = &[(
    "node_uname_info",
    "node_exporter calls uname(2) even with --path.procfs; picket reads the tree",
)];

/// Labels whose values differ by node_exporter version, left out of the
/// value comparison (the label itself is still required).
const KNOWN_VALUE_DIFFS: &[(&str, &str, &str)] = &[(
    "node_disk_info",
    "serial",
    "node_exporter 1.10 falls back to udev's ID_SERIAL (SD cards have only that); 1.5.0 leaves it empty",
)];

/// Families whose label values legitimately differ between two scrapes.
const VOLATILE_LABEL_VALUES: &[&str] = &[
    "node_processes_state", // process states change from one moment to the next
    "node_tcp_connection_states", // connections open and close
    "node_processes_threads_state",
];

/// Gauges that must agree, with the allowed absolute or relative difference.
const STABLE: &[(&str, Tol)] = &[
    ("node_memory_MemTotal_bytes", Tol::Abs(0.0)),
    ("node_memory_SwapTotal_bytes", Tol::Abs(0.0)),
    ("node_memory_MemAvailable_bytes", Tol::Rel(0.05)),
    ("node_boot_time_seconds", Tol::Abs(1.0)),
    ("node_time_seconds", Tol::Abs(10.0)),
    ("node_filesystem_size_bytes", Tol::Abs(0.0)),
    ("node_filesystem_files", Tol::Abs(0.0)),
    ("node_filesystem_readonly", Tol::Abs(0.0)),
    ("node_filesystem_avail_bytes", Tol::Rel(0.01)),
    ("node_filefd_maximum", Tol::Abs(0.0)),
    ("node_entropy_pool_size_bits", Tol::Abs(0.0)),
    ("node_network_mtu_bytes", Tol::Abs(0.0)),
    ("node_network_up", Tol::Abs(0.0)),
    ("node_network_info", Tol::Abs(0.0)),
    ("node_network_transmit_queue_length", Tol::Abs(0.0)),
    ("node_network_iface_id", Tol::Abs(0.0)),
    ("node_uname_info", Tol::Abs(0.0)),
    ("node_nf_conntrack_entries_limit", Tol::Abs(0.0)),
    ("node_processes_max_processes", Tol::Abs(0.0)),
    ("node_processes_max_threads", Tol::Abs(0.0)),
    ("node_disk_info", Tol::Abs(0.0)),
    ("node_cpu_online", Tol::Abs(0.0)),
    ("node_hwmon_chip_names", Tol::Abs(0.0)),
    ("node_thermal_zone_temp", Tol::Abs(5.0)),
    ("node_time_clocksource_current_info", Tol::Abs(0.0)),
    ("node_timex_tick_seconds", Tol::Abs(0.0)),
    ("node_timex_sync_status", Tol::Abs(0.0)),
    ("node_cpu_seconds_total", Tol::Rel(0.02)),
    ("node_context_switches_total", Tol::Rel(0.05)),
    ("node_disk_reads_completed_total", Tol::Rel(0.02)),
    ("node_network_receive_bytes_total", Tol::Rel(0.05)),
];

#[derive(Clone, Copy, Debug)]
enum Tol {
    Abs(f64),
    Rel(f64),
}

struct Scrape {
    samples: Vec<Sample>,
}

impl Scrape {
    fn of(text: &str) -> Scrape {
        Scrape {
            samples: parse(text).expect("parse exposition"),
        }
    }

    /// family → (type, label-name set)
    fn shapes(&self) -> BTreeMap<String, (MetricType, BTreeSet<String>)> {
        let mut m: BTreeMap<String, (MetricType, BTreeSet<String>)> = BTreeMap::new();
        for s in &self.samples {
            let e = m
                .entry(s.name.to_string())
                .or_insert((s.kind, BTreeSet::new()));
            e.1.extend(s.labels.iter().map(|(n, _)| n.to_string()));
        }
        m
    }

    /// Label sets of a family, restricted to `names`.
    fn label_values(
        &self,
        family: &str,
        names: &BTreeSet<String>,
    ) -> BTreeSet<Vec<(String, String)>> {
        self.samples
            .iter()
            .filter(|s| s.name == family)
            .map(|s| {
                s.labels
                    .iter()
                    .filter(|(n, _)| names.contains(*n))
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect()
            })
            .collect()
    }

    fn values(&self, family: &str) -> BTreeMap<Vec<(String, String)>, f64> {
        self.samples
            .iter()
            .filter(|s| s.name == family)
            .map(|s| {
                (
                    s.labels
                        .iter()
                        .filter(|(n, _)| *n != "device_error")
                        .map(|(n, v)| (n.to_string(), v.to_string()))
                        .collect(),
                    s.value,
                )
            })
            .collect()
    }
}

fn args_for(paths: &[String]) -> Vec<String> {
    let mut a: Vec<String> = paths.to_vec();
    a.push("--collector.disable-defaults".into());
    a.extend(COLLECTORS.iter().map(|c| format!("--collector.{c}")));
    a.push(format!(
        "--collector.textfile.directory={}",
        fixture("textfile/good").display()
    ));
    a
}

fn compare(tree: &str, paths: &[String], ne_extra: &[String], check_values: bool) -> Vec<String> {
    let on_fixture = !paths.is_empty();
    let mut args = args_for(paths);
    args.extend(UPSTREAM_DEFAULTS.iter().map(|s| s.to_string()));
    let pk_args: Vec<&str> = args.iter().map(String::as_str).collect();
    let pk = start_picket(&pk_args);
    if on_fixture {
        args.extend(FIXTURE_ONLY_NE_ARGS.iter().map(|s| s.to_string()));
    }
    args.extend(ne_extra.iter().cloned());
    let ne_args: Vec<&str> = args.iter().map(String::as_str).collect();
    let ne = start_node_exporter(&ne_args);
    let theirs = Scrape::of(&get(&ne.addr, "/metrics").unwrap().text());
    let ours = Scrape::of(&get(&pk.addr, "/metrics").unwrap().text());
    let mut problems = Vec::new();

    let our_shapes = ours.shapes();
    for (family, (kind, labels)) in theirs.shapes() {
        if KNOWN_MISSING.iter().any(|(p, _)| family.starts_with(p)) {
            continue;
        }
        if on_fixture && FIXTURE_SKIP.iter().any(|(f, _)| *f == family) {
            continue;
        }
        let Some((our_kind, our_labels)) = our_shapes.get(&family) else {
            problems.push(format!("{tree}: missing family {family} {labels:?}"));
            continue;
        };
        if *our_kind != kind {
            problems.push(format!(
                "{tree}: {family}: type {our_kind} where node_exporter has {kind}"
            ));
        }
        let missing: Vec<_> = labels.difference(our_labels).collect();
        let extra: Vec<_> = our_labels
            .difference(&labels)
            .filter(|l| {
                !KNOWN_EXTRA_LABELS
                    .iter()
                    .any(|(f, n, _)| family.starts_with(f) && n == l)
            })
            .collect();
        if !missing.is_empty() || !extra.is_empty() {
            problems.push(format!(
                "{tree}: {family}: labels missing {missing:?}, extra {extra:?}"
            ));
            continue;
        }
        if VOLATILE_LABEL_VALUES.contains(&family.as_str()) {
            continue;
        }
        let compared: BTreeSet<String> = labels
            .iter()
            .filter(|l| {
                !KNOWN_VALUE_DIFFS
                    .iter()
                    .any(|(f, n, _)| *f == family && n == l)
            })
            .cloned()
            .collect();
        let tv = theirs.label_values(&family, &compared);
        let ov = ours.label_values(&family, &compared);
        let lost: Vec<_> = tv.difference(&ov).take(5).collect();
        if !lost.is_empty() {
            problems.push(format!(
                "{tree}: {family}: series node_exporter has and picket lacks: {lost:?}"
            ));
        }
    }

    // The collector sets agree (every collector node_exporter ran, picket ran).
    let collectors = |s: &Scrape| -> BTreeSet<String> {
        s.samples
            .iter()
            .filter(|s| s.name == "node_scrape_collector_success")
            .filter_map(|s| s.labels.get("collector").map(str::to_string))
            .collect()
    };
    let (tc, oc) = (collectors(&theirs), collectors(&ours));
    if !tc.is_subset(&oc) {
        problems.push(format!(
            "{tree}: collectors missing: {:?}",
            tc.difference(&oc).collect::<Vec<_>>()
        ));
    }

    if check_values {
        for (family, tol) in STABLE {
            let (tv, ov) = (theirs.values(family), ours.values(family));
            for (labels, t) in &tv {
                let Some(o) = ov.get(labels) else { continue };
                let ok = match tol {
                    Tol::Abs(d) => (t - o).abs() <= *d,
                    Tol::Rel(r) => (t - o).abs() <= r * t.abs().max(1.0),
                };
                if !ok {
                    problems.push(format!(
                        "{tree}: {family}{labels:?}: picket {o}, node_exporter {t} ({tol:?})"
                    ));
                }
            }
        }
    }
    problems
}

#[test]
#[ignore = "needs node_exporter (tests/run.sh installs it)"]
fn same_series_as_node_exporter_on_this_machine() {
    let problems = compare("this machine", &[], &[], true);
    assert!(
        problems.is_empty(),
        "{} differences:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
#[ignore = "needs node_exporter (tests/run.sh installs it)"]
fn same_series_as_node_exporter_on_the_fixture_trees() {
    let mut problems = Vec::new();
    crate::util::prepare_fixtures();
    for tree in ["pi4", "rock64"] {
        let mut paths = vec![
            format!(
                "--path.procfs={}",
                fixture(&format!("{tree}/proc")).display()
            ),
            format!("--path.sysfs={}", fixture(&format!("{tree}/sys")).display()),
        ];
        let rootfs = fixture(&format!("{tree}/rootfs"));
        paths.push(format!("--path.rootfs={}", rootfs.display()));
        // node_exporter's udev path does not follow --path.rootfs; picket's does.
        let ne_extra = [format!(
            "--path.udev.data={}/run/udev/data",
            rootfs.display()
        )];
        // Values too: both read the same files (syscall-based series excepted,
        // which are not in STABLE's exact list or come out equal anyway).
        problems.extend(compare(tree, &paths, &ne_extra, true));
    }
    assert!(
        problems.is_empty(),
        "{} differences:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
