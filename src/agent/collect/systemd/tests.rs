//! The collector's logic against an in-memory systemd: node_exporter's
//! quirks (summary over all units, filters, type labels, skipped
//! properties, version gates), with no D-Bus involved.

use std::collections::HashMap;

use super::*;
use crate::config::testing::{loc, parts};
use picket_core::metric::Sample;

#[derive(Default)]
struct Fake {
    manager: HashMap<&'static str, Value>,
    units: Option<Vec<Unit>>,
    props: HashMap<(String, String, String), Value>,
    asked: Vec<String>,
}

impl Systemd for Fake {
    fn manager_property(&mut self, name: &str) -> Result<Value, String> {
        self.manager
            .get(name)
            .cloned()
            .ok_or_else(|| format!("no {name}"))
    }
    fn list_units(&mut self) -> Result<Vec<Unit>, String> {
        self.units
            .clone()
            .ok_or_else(|| "ListUnits failed".to_string())
    }
    fn unit_property(&mut self, unit: &str, iface: &str, name: &str) -> Result<Value, String> {
        self.asked.push(format!("{unit} {iface}.{name}"));
        self.props
            .get(&(unit.to_string(), iface.to_string(), name.to_string()))
            .cloned()
            .ok_or_else(|| format!("no {iface}.{name} on {unit}"))
    }
}

fn unit(name: &str, load: &str, active: &str) -> Unit {
    Unit {
        name: name.into(),
        load_state: load.into(),
        active_state: active.into(),
    }
}

fn fake() -> Fake {
    let mut f = Fake::default();
    f.manager
        .insert("Version", Value::Str("252.22-1~deb12u1".into()));
    f.manager.insert("Virtualization", Value::Str("".into()));
    f.manager
        .insert("SystemState", Value::Str("degraded".into()));
    f.units = Some(vec![
        unit("ssh.service", "loaded", "active"),
        unit("broken.service", "loaded", "failed"),
        unit("gone.service", "not-found", "inactive"),
        unit("nginx.service", "loaded", "reloading"),
        unit("web.socket", "loaded", "active"),
        unit("old.socket", "loaded", "active"),
        unit("apt.timer", "loaded", "active"),
        unit("boot.mount", "loaded", "active"),
        unit("tmp.mount", "loaded", "active"),
    ]);
    let mut p = |u: &str, i: &str, n: &str, v: Value| {
        f.props.insert((u.into(), i.into(), n.into()), v);
    };
    p(
        "ssh.service",
        "Service",
        "Type",
        Value::Str("notify".into()),
    );
    p("ssh.service", "Service", "NRestarts", Value::U32(2));
    p("ssh.service", "Service", "TasksCurrent", Value::U64(3));
    p("ssh.service", "Service", "TasksMax", Value::U64(u64::MAX));
    p(
        "ssh.service",
        "Unit",
        "ActiveEnterTimestamp",
        Value::U64(1_700_000_000_500_000),
    );
    // broken.service has no Type: its type label is empty.
    p("web.socket", "Socket", "NAccepted", Value::U32(42));
    p("web.socket", "Socket", "NConnections", Value::U32(3));
    p("web.socket", "Socket", "NRefused", Value::U32(7));
    // An old systemd: no NRefused.
    p("old.socket", "Socket", "NAccepted", Value::U32(1));
    p("old.socket", "Socket", "NConnections", Value::U32(0));
    p(
        "apt.timer",
        "Timer",
        "LastTriggerUSec",
        Value::U64(1_700_000_100_000_000),
    );
    p("boot.mount", "Mount", "Type", Value::Str("ext4".into()));
    f
}

fn run(f: &mut Fake, set: &Settings) -> (Result<(), String>, Vec<String>) {
    let mut v: Vec<Sample> = Vec::new();
    let r = collect(f, set, &mut Out::new(&mut v));
    v.sort_by(|a, b| a.exposition_cmp(b));
    let lines = v
        .iter()
        .map(|s| {
            let l: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{}{{{}}} {}", s.name, l.join(","), s.value)
        })
        .collect();
    (r, lines)
}

fn has(lines: &[String], l: &str) -> bool {
    lines.iter().any(|x| x == l)
}

#[test]
fn default_settings_compile_and_anchor() {
    let s = Settings::default();
    assert!(s.unit_include.is_match("a.service"));
    assert!(s.unit_exclude.is_match("boot.mount"));
    assert!(s.unit_exclude.is_match("dev-sda.device"));
    // Anchored: "x.mounts" is no mount unit.
    assert!(!s.unit_exclude.is_match("x.mounts"));
}

#[test]
fn node_exporter_series_from_a_fake_systemd() {
    let mut f = fake();
    let (r, l) = run(&mut f, &Settings::default());
    assert_eq!(r, Ok(()));
    assert!(has(
        &l,
        "node_systemd_version{version=252.22-1~deb12u1} 252.22"
    ));
    assert!(has(
        &l,
        "node_systemd_virtualization_info{virtualization_type=none} 1"
    ));
    assert!(has(&l, "node_systemd_system_running{} 0"));
    // Summary: every unit (not-found and mounts too), the five states
    // always, and an unusual state as its own series.
    assert!(has(&l, "node_systemd_units{state=active} 6"));
    assert!(has(&l, "node_systemd_units{state=failed} 1"));
    assert!(has(&l, "node_systemd_units{state=inactive} 1"));
    assert!(has(&l, "node_systemd_units{state=activating} 0"));
    assert!(has(&l, "node_systemd_units{state=deactivating} 0"));
    assert!(has(&l, "node_systemd_units{state=reloading} 1"));
    // Unit states: five per loaded, included unit.
    assert!(has(
        &l,
        "node_systemd_unit_state{name=ssh.service,state=active,type=notify} 1"
    ));
    assert!(has(
        &l,
        "node_systemd_unit_state{name=ssh.service,state=failed,type=notify} 0"
    ));
    assert!(has(
        &l,
        "node_systemd_unit_state{name=broken.service,state=failed,type=} 1"
    ));
    assert!(has(
        &l,
        "node_systemd_unit_state{name=web.socket,state=active,type=} 1"
    ));
    // A unit in another state has all five at 0.
    assert!(has(
        &l,
        "node_systemd_unit_state{name=nginx.service,state=active,type=} 0"
    ));
    assert!(!l.iter().any(|x| x.contains("gone.service")));
    assert!(!l.iter().any(|x| x.contains(".mount")));
    let states = l
        .iter()
        .filter(|x| x.starts_with("node_systemd_unit_state{"))
        .count();
    assert_eq!(states, 6 * 5);
    // Sockets: the refused counter only where systemd has it.
    assert!(has(
        &l,
        "node_systemd_socket_accepted_connections_total{name=web.socket} 42"
    ));
    assert!(has(
        &l,
        "node_systemd_socket_current_connections{name=web.socket} 3"
    ));
    assert!(has(
        &l,
        "node_systemd_socket_refused_connections_total{name=web.socket} 7"
    ));
    assert!(has(
        &l,
        "node_systemd_socket_current_connections{name=old.socket} 0"
    ));
    assert!(!has(
        &l,
        "node_systemd_socket_refused_connections_total{name=old.socket} 0"
    ));
    assert!(has(
        &l,
        "node_systemd_timer_last_trigger_seconds{name=apt.timer} 1700000100"
    ));
    // Off by default.
    assert!(!l
        .iter()
        .any(|x| x.contains("restart_total") || x.contains("tasks_")));
    assert!(!l.iter().any(|x| x.contains("start_time")));
}

#[test]
fn types_of_the_families() {
    let mut f = fake();
    let set = Settings {
        restarts: true,
        tasks: true,
        start_time: true,
        ..Settings::default()
    };
    let mut v: Vec<Sample> = Vec::new();
    collect(&mut f, &set, &mut Out::new(&mut v)).expect("collect");
    let kind = |n: &str| v.iter().find(|s| s.name == n).map(|s| s.kind);
    use picket_core::metric::MetricType::{Counter, Gauge};
    assert_eq!(kind("node_systemd_service_restart_total"), Some(Counter));
    assert_eq!(
        kind("node_systemd_socket_accepted_connections_total"),
        Some(Counter)
    );
    // A gauge despite its name, as in node_exporter.
    assert_eq!(
        kind("node_systemd_socket_refused_connections_total"),
        Some(Gauge)
    );
    assert_eq!(kind("node_systemd_unit_state"), Some(Gauge));
}

#[test]
fn optional_families() {
    let mut f = fake();
    let set = Settings {
        restarts: true,
        tasks: true,
        start_time: true,
        ..Settings::default()
    };
    let (r, l) = run(&mut f, &set);
    assert_eq!(r, Ok(()));
    assert!(has(
        &l,
        "node_systemd_service_restart_total{name=ssh.service} 2"
    ));
    // No NRestarts on broken.service: no sample.
    assert!(!l
        .iter()
        .any(|x| x.starts_with("node_systemd_service_restart_total{name=broken")));
    assert!(has(
        &l,
        "node_systemd_unit_tasks_current{name=ssh.service} 3"
    ));
    // Unlimited: no sample.
    assert!(!l
        .iter()
        .any(|x| x.starts_with("node_systemd_unit_tasks_max")));
    assert!(has(
        &l,
        "node_systemd_unit_start_time_seconds{name=ssh.service} 1700000000.5"
    ));
    // Not active: 0 without asking.
    assert!(has(
        &l,
        "node_systemd_unit_start_time_seconds{name=broken.service} 0"
    ));
    assert!(!f
        .asked
        .iter()
        .any(|a| a == "broken.service Unit.ActiveEnterTimestamp"));
    // Active but unreadable: skipped.
    assert!(!l
        .iter()
        .any(|x| x.starts_with("node_systemd_unit_start_time_seconds{name=web")));
}

#[test]
fn filters_apply_to_unit_series_not_the_summary() {
    let mut f = fake();
    let flags = Flags {
        unit_include: Some("ssh\\.service|boot\\.mount".into()),
        unit_exclude: Some("".into()),
        ..Flags::default()
    };
    let set = resolve(&Section::default(), &flags, &loc()).expect("resolve");
    let (_, l) = run(&mut f, &set);
    assert!(has(&l, "node_systemd_units{state=active} 6"));
    assert!(has(
        &l,
        "node_systemd_unit_state{name=boot.mount,state=active,type=ext4} 1"
    ));
    let names: std::collections::BTreeSet<&str> = l
        .iter()
        .filter(|x| x.starts_with("node_systemd_unit_state{"))
        .filter_map(|x| x.split("name=").nth(1)?.split(',').next())
        .collect();
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["boot.mount", "ssh.service"]
    );
}

#[test]
fn old_systemd_has_no_timers_or_system_state() {
    let mut f = fake();
    f.manager.insert("Version", Value::Str("211".into()));
    let (r, l) = run(&mut f, &Settings::default());
    assert_eq!(r, Ok(()));
    assert!(has(&l, "node_systemd_version{version=211} 211"));
    assert!(!l
        .iter()
        .any(|x| x.contains("timer_last_trigger") || x.contains("system_running")));
}

#[test]
fn unreadable_version_is_zero_and_skips_the_gated_parts() {
    let mut f = fake();
    f.manager.remove("Version");
    f.manager.remove("Virtualization");
    let (r, l) = run(&mut f, &Settings::default());
    assert_eq!(r, Ok(()));
    assert!(has(&l, "node_systemd_version{version=} 0"));
    assert!(has(
        &l,
        "node_systemd_virtualization_info{virtualization_type=unknown} 1"
    ));
    assert!(!l.iter().any(|x| x.contains("system_running")));
    // A version without three digits is "invalid": label empty too.
    f.manager.insert("Version", Value::Str("v42".into()));
    let (_, l) = run(&mut f, &Settings::default());
    assert!(has(&l, "node_systemd_version{version=} 0"));
}

#[test]
fn failures_keep_what_was_collected() {
    let mut f = fake();
    f.units = None;
    let (r, l) = run(&mut f, &Settings::default());
    assert_eq!(r, Err("couldn't get units: ListUnits failed".to_string()));
    assert_eq!(l.len(), 2, "{l:?}");
    let mut f = fake();
    f.manager.remove("SystemState");
    let (r, l) = run(&mut f, &Settings::default());
    assert!(r.unwrap_err().starts_with("couldn't get system state"));
    assert!(has(&l, "node_systemd_units{state=failed} 1"));
}

#[test]
fn manager_strings_are_read_as_go_quotes_them() {
    assert_eq!(go_quote("a\"b\\c"), r#""a\"b\\c""#);
    assert_eq!(
        parse_version(r#""252.22-1~deb12u1""#),
        (252.22, "252.22-1~deb12u1".into())
    );
    assert_eq!(
        parse_version(r#""systemd 255""#),
        (255.0, "systemd 255".into())
    );
}

#[test]
fn unit_paths_are_escaped_as_systemd_does() {
    assert_eq!(path_escape("ssh.service"), "ssh_2eservice");
    assert_eq!(path_escape("getty@tty1.service"), "getty_40tty1_2eservice");
    assert_eq!(path_escape("1.mount"), "_31_2emount");
    assert_eq!(path_escape("a-b_c"), "a_2db_5fc");
    assert_eq!(path_escape(""), "_");
}

#[test]
fn resolve_takes_flags_over_the_file() {
    let sec = Section {
        unit_include: Some("a.*".into()),
        enable_task_metrics: Some(true),
        timeout: Some("2s".into()),
        ..Section::default()
    };
    let flags = Flags {
        unit_include: Some("b.*".into()),
        ..Flags::default()
    };
    let s = resolve(&sec, &flags, &loc()).expect("resolve");
    assert!(s.unit_include.is_match("b.service") && !s.unit_include.is_match("a.service"));
    assert!(s.tasks && !s.restarts);
    assert_eq!(s.timeout, Duration::from_secs(2));
    let both = Flags {
        unit_exclude: Some("x".into()),
        unit_blacklist: Some("y".into()),
        ..Flags::default()
    };
    let e = resolve(&Section::default(), &both, &loc())
        .map_err(parts)
        .unwrap_err();
    assert_eq!(e.0, "--collector.systemd.unit-blacklist");
    assert!(e.1.contains("mutually exclusive"));
    let bad = Section {
        unit_exclude: Some("(".into()),
        ..Section::default()
    };
    let e = resolve(&bad, &Flags::default(), &loc())
        .map_err(parts)
        .unwrap_err();
    assert_eq!(
        (e.0.as_str(), e.2),
        ("collector.systemd.unit_exclude", false)
    );
}

#[cfg(not(feature = "systemd"))]
#[test]
fn without_the_feature_reports_no_data() {
    let root = crate::collect::Root::default();
    let opts = crate::collect::Options::default();
    let ctx = Ctx {
        root: &root,
        opts: &opts,
    };
    let mut v = Vec::new();
    let r = update(&ctx, &mut Out::new(&mut v));
    assert!(matches!(r, Err(CollectError::NoData(m)) if m.contains("systemd` feature")));
    assert!(v.is_empty());
}
