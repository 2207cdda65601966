//! systemd, under node_exporter's names: unit states, unit counts, socket
//! and timer counters, read from systemd's D-Bus API, so dashboard 1860's
//! systemd panels and alerts on failed units work unchanged.
//!
//! Nothing on disk carries that state: `/run/systemd/units/` only holds
//! `invocation:<unit>` links of units started since boot, and the cgroup
//! tree only shows units that have processes — neither knows inactive or
//! failed units, socket counters or timer triggers. So, like
//! node_exporter's `systemd_linux.go` (1.5.0, through go-systemd), the
//! collector asks systemd (`org.freedesktop.systemd1`) over the system bus
//! (`DBUS_SYSTEM_BUS_ADDRESS`, else `/var/run/dbus/system_bus_socket`; as
//! root, `/run/systemd/private` when the bus cannot be reached, as
//! go-systemd does; only that socket with `--collector.systemd.private`).
//! The D-Bus client is the `zbus` crate (feature `systemd`, `bus.rs`);
//! without the feature the collector reports success 0 and says why.
//!
//! Per scrape, in node_exporter's order and with its quirks ([`collect`]):
//! - the manager's `Version` → `node_systemd_version{version}` (the number
//!   found by `[0-9]{3,}(\.[0-9]+)?`; 0 and `""` when unreadable), and
//!   `Virtualization` → `node_systemd_virtualization_info` (node_exporter
//!   1.9+; "none" when empty, "unknown" when unreadable);
//! - `ListUnits` → `node_systemd_units{state}`: every unit it returns
//!   (not-found ones and excluded ones too) counted by its `ActiveState`,
//!   the five usual states always present (a unit in another state, such
//!   as `reloading`, adds a series of its own);
//! - units whose name matches `^(?:include)$`, does not match
//!   `^(?:exclude)$` and whose `LoadState` is `loaded` get
//!   `node_systemd_unit_state{name,state,type}` (five series each; `type` is
//!   `Service.Type` or `Mount.Type`, else empty), and by their suffix the
//!   socket counters (`NAccepted`, `NConnections`, `NRefused`; the refused
//!   one is a gauge despite its `_total`, as in node_exporter), timers'
//!   `LastTriggerUSec`, and with the flags `NRestarts`,
//!   `TasksCurrent`/`TasksMax` (skipped when unlimited) and
//!   `ActiveEnterTimestamp` (0 for units not active);
//! - `SystemState` → `node_systemd_system_running` (1 for `running`).
//!   Timers and the system state need systemd ≥ 212, as there.
//!
//! A unit property that cannot be read is skipped (logged at debug level);
//! no connection, a failed `ListUnits` or an unreadable `SystemState` fail
//! the collector, keeping what was already collected, as node_exporter.
//!
//! Where picket differs (also listed in tests/systemd.rs, which compares
//! both programs over one fake systemd): properties are read one after
//! another on one connection (node_exporter reads the four groups in
//! parallel, on two new connections per scrape); the connection is kept
//! between scrapes and made again after an I/O error. Every scrape runs on
//! the collector's deadline thread (`collect::deadline`): a hung bus or
//! systemd costs a scrape at most `timeout` (default 5 s) and reports
//! success 0, where node_exporter has no timeout of its own. The unit
//! filters are regex-lite patterns (RE2's syntax for what unit filters
//! use: classes, alternation, repetition; no `\p{..}` classes).

// Without the `systemd` feature there is no bus to read: the model and
// the emitting code stay (the tests drive them through a fake) but the
// collector itself reports that it is not built in.
#![cfg_attr(not(feature = "systemd"), allow(dead_code))]

#[cfg(feature = "systemd")]
mod bus;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use regex_lite::Regex;
use serde::Deserialize;

#[cfg(feature = "systemd")]
use super::deadline::Deadline;
use super::{CollectError, Ctx, Matcher, Out};
use picket_core::config::{ConfigError, Locator};

/// Default of the `timeout` key: the longest a scrape waits for systemd.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// `--collector.systemd.unit-include` default.
pub(crate) const DEFAULT_UNIT_INCLUDE: &str = ".+";
/// `--collector.systemd.unit-exclude` default.
pub(crate) const DEFAULT_UNIT_EXCLUDE: &str = ".+\\.(automount|device|mount|scope|slice)";

/// The first systemd version with the `SystemState` manager property and
/// the timers' `LastTriggerUSec`.
const MIN_VERSION_SYSTEM_STATE: f64 = 212.0;

/// The states of `node_systemd_unit_state`, in node_exporter's order.
const STATES: [&str; 5] = ["active", "activating", "deactivating", "inactive", "failed"];

/// `[collector.systemd]` of the config file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Section {
    /// Regex of units to include (anchored).
    pub unit_include: Option<String>,
    /// Regex of units to exclude (anchored).
    pub unit_exclude: Option<String>,
    /// `node_systemd_service_restart_total`.
    pub enable_restarts_metrics: Option<bool>,
    /// `node_systemd_unit_tasks_current` / `_max`.
    pub enable_task_metrics: Option<bool>,
    /// `node_systemd_unit_start_time_seconds`.
    pub enable_start_time_metrics: Option<bool>,
    /// Talk to systemd on `/run/systemd/private` instead of the bus.
    pub private: Option<bool>,
    /// Longest wait for systemd per scrape (default 5s).
    pub timeout: Option<String>,
}

/// node_exporter's `--collector.systemd.*` flags.
#[derive(Debug, Default, Clone)]
pub struct Flags {
    /// `--collector.systemd.unit-include`.
    pub unit_include: Option<String>,
    /// `--collector.systemd.unit-exclude`.
    pub unit_exclude: Option<String>,
    /// `--collector.systemd.unit-whitelist` (deprecated spelling).
    pub unit_whitelist: Option<String>,
    /// `--collector.systemd.unit-blacklist` (deprecated spelling).
    pub unit_blacklist: Option<String>,
    /// `--collector.systemd.enable-restarts-metrics`.
    pub enable_restarts_metrics: bool,
    /// `--collector.systemd.enable-task-metrics`.
    pub enable_task_metrics: bool,
    /// `--collector.systemd.enable-start-time-metrics`.
    pub enable_start_time_metrics: bool,
    /// `--collector.systemd.private`.
    pub private: bool,
}

/// The collector's resolved settings, and its connection state.
#[derive(Debug)]
pub struct Settings {
    /// Units reported (anchored).
    pub unit_include: Matcher,
    /// Units left out (anchored).
    pub unit_exclude: Matcher,
    /// Report `NRestarts`.
    pub restarts: bool,
    /// Report `TasksCurrent` and `TasksMax`.
    pub tasks: bool,
    /// Report `ActiveEnterTimestamp`.
    pub start_time: bool,
    /// Only `/run/systemd/private`.
    pub private: bool,
    /// Longest wait per scrape.
    pub timeout: Duration,
    /// The worker thread the D-Bus calls run on.
    #[cfg(feature = "systemd")]
    deadline: Deadline,
    /// The connection kept between scrapes.
    #[cfg(feature = "systemd")]
    client: std::sync::Mutex<Option<bus::Client>>,
}

impl Settings {
    /// node_exporter's defaults, with these unit filters.
    fn new(unit_include: Matcher, unit_exclude: Matcher) -> Settings {
        Settings {
            unit_include,
            unit_exclude,
            restarts: false,
            tasks: false,
            start_time: false,
            private: false,
            timeout: DEFAULT_TIMEOUT,
            #[cfg(feature = "systemd")]
            deadline: Deadline::default(),
            #[cfg(feature = "systemd")]
            client: Default::default(),
        }
    }
}

impl Default for Settings {
    fn default() -> Settings {
        // Constant patterns, checked by a unit test.
        let re = |p: &str| anchored(p).expect("built-in regex");
        Settings::new(re(DEFAULT_UNIT_INCLUDE), re(DEFAULT_UNIT_EXCLUDE))
    }
}

/// node_exporter matches unit names against `^(?:pattern)$`.
fn anchored(pattern: &str) -> Result<Matcher, String> {
    Matcher::new(&format!("^(?:{pattern})$")).map_err(|e| format!("invalid regex {pattern:?}: {e}"))
}

/// The settings from the file's `[collector.systemd]` and the flags (which win).
pub(crate) fn resolve(
    sec: &Section,
    flags: &Flags,
    loc: &Locator<'_>,
) -> Result<Arc<Settings>, ConfigError> {
    let file = |k: &str, m: String| loc.key(&format!("collector.systemd.{k}"), m);
    let (unit_include, unit_exclude) = (
        pattern(
            sec.unit_include.as_deref(),
            ("unit-include", &flags.unit_include),
            ("unit-whitelist", &flags.unit_whitelist),
            "unit_include",
            DEFAULT_UNIT_INCLUDE,
            loc,
        )?,
        pattern(
            sec.unit_exclude.as_deref(),
            ("unit-exclude", &flags.unit_exclude),
            ("unit-blacklist", &flags.unit_blacklist),
            "unit_exclude",
            DEFAULT_UNIT_EXCLUDE,
            loc,
        )?,
    );
    let timeout = match &sec.timeout {
        Some(t) => picket_core::config::parse_duration(t).map_err(|m| file("timeout", m))?,
        None => DEFAULT_TIMEOUT,
    };
    if timeout.is_zero() {
        return Err(file("timeout", "must be more than 0".into()));
    }
    let mut s = Settings::new(unit_include, unit_exclude);
    s.restarts = flags.enable_restarts_metrics || sec.enable_restarts_metrics.unwrap_or(false);
    s.tasks = flags.enable_task_metrics || sec.enable_task_metrics.unwrap_or(false);
    s.start_time =
        flags.enable_start_time_metrics || sec.enable_start_time_metrics.unwrap_or(false);
    s.private = flags.private || sec.private.unwrap_or(false);
    s.timeout = timeout;
    Ok(Arc::new(s))
}

/// One unit filter: the flag, else its deprecated spelling (both is an
/// error, as in node_exporter), else the file's key, else the default.
fn pattern(
    from_file: Option<&str>,
    (new, new_val): (&str, &Option<String>),
    (old, old_val): (&str, &Option<String>),
    key: &str,
    default: &str,
    loc: &Locator<'_>,
) -> Result<Matcher, ConfigError> {
    let flag = |f: &str, m: String| loc.flag(&format!("--collector.systemd.{f}"), m);
    let file = |m: String| loc.key(&format!("collector.systemd.{key}"), m);
    let (value, blame): (&str, Option<&str>) = match (new_val, old_val) {
        (Some(_), Some(_)) => {
            let both = format!("{old} and --collector.systemd.{new} are mutually exclusive");
            return Err(flag(old, format!("--collector.systemd.{both}")));
        }
        (Some(v), None) => (v.as_str(), Some(new)),
        // (node_exporter also logs that it is deprecated; flags are read
        // before the logger starts here.)
        (None, Some(v)) => (v.as_str(), Some(old)),
        (None, None) => (from_file.unwrap_or(default), None),
    };
    anchored(value).map_err(|m| match blame {
        Some(f) => flag(f, m),
        None => file(m),
    })
}

/// Collects from systemd on the collector's worker thread, within the timeout.
pub(crate) fn update(ctx: &Ctx<'_>, out: &mut Out<'_>) -> Result<(), CollectError> {
    let set = Arc::clone(&ctx.opts.systemd);
    scrape(set, out)
}

#[cfg(feature = "systemd")]
fn scrape(set: Arc<Settings>, out: &mut Out<'_>) -> Result<(), CollectError> {
    let worker = Arc::clone(&set);
    let (samples, result) = set
        .deadline
        .run("systemd", set.timeout, move || bus::scrape(&worker))
        .map_err(|m| CollectError::Failed(format!("systemd: {m}")))?;
    for s in samples {
        out.push(s);
    }
    result.map_err(CollectError::Failed)
}

#[cfg(not(feature = "systemd"))]
fn scrape(_set: Arc<Settings>, _out: &mut Out<'_>) -> Result<(), CollectError> {
    const WHY: &str = "picket was built without the `systemd` feature (its D-Bus client): \
                       unit states, socket and timer metrics come only from systemd's D-Bus API";
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| log::warn!("{WHY}"));
    Err(CollectError::NoData(WHY.into()))
}

/// A D-Bus value, as far as the collector looks at it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// `s`.
    Str(String),
    /// `u`.
    U32(u32),
    /// `t`.
    U64(u64),
    /// Anything else (its signature).
    Other(String),
}

/// One row of `ListUnits`, the fields the collector uses.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Unit {
    /// `foo.service`.
    pub name: String,
    /// `loaded`, `not-found`, `masked`…
    pub load_state: String,
    /// `active`, `failed`…
    pub active_state: String,
}

/// What the collector asks of systemd (the zbus client, or a test double).
pub(crate) trait Systemd {
    /// A property of `org.freedesktop.systemd1.Manager`.
    fn manager_property(&mut self, name: &str) -> Result<Value, String>;
    /// `Manager.ListUnits`.
    fn list_units(&mut self) -> Result<Vec<Unit>, String>;
    /// A property of `unit`'s object on interface
    /// `org.freedesktop.systemd1.<iface>`.
    fn unit_property(&mut self, unit: &str, iface: &str, name: &str) -> Result<Value, String>;
}

/// node_exporter's systemd collector over `sd`: samples to `out`; an error
/// when node_exporter's `Update` would return one.
pub(crate) fn collect(
    sd: &mut dyn Systemd,
    set: &Settings,
    out: &mut Out<'_>,
) -> Result<(), String> {
    let version = manager_info(sd, out);
    let all = sd
        .list_units()
        .map_err(|e| format!("couldn't get units: {e}"))?;
    for (state, n) in summarize(&all) {
        out.gauge(
            "node_systemd_units",
            "Summary of systemd unit states",
            &[("state", state)],
            n,
        );
    }
    let units: Vec<&Unit> = all
        .iter()
        .filter(|u| {
            set.unit_include.is_match(&u.name)
                && !set.unit_exclude.is_match(&u.name)
                && u.load_state == "loaded"
        })
        .collect();

    for u in &units {
        unit_status(sd, set, u, out);
    }
    if set.start_time {
        start_times(sd, &units, out);
    }
    if set.tasks {
        tasks(sd, &units, out);
    }
    if version >= MIN_VERSION_SYSTEM_STATE {
        timers(sd, &units, out);
    }
    for u in units.iter().filter(|u| u.name.ends_with(".socket")) {
        sockets(sd, u, out);
    }
    if version >= MIN_VERSION_SYSTEM_STATE {
        let state = sd
            .manager_property("SystemState")
            .map_err(|e| format!("couldn't get system state: {e}"))?;
        let running = go_variant_string(&state) == "\"running\"";
        out.gauge(
            "node_systemd_system_running",
            "Whether the system is operational (see 'systemctl is-system-running')",
            &[],
            if running { 1.0 } else { 0.0 },
        );
    }
    Ok(())
}

/// `node_systemd_version` and `node_systemd_virtualization_info`; the
/// version (0 when it cannot be read, as node_exporter).
fn manager_info(sd: &mut dyn Systemd, out: &mut Out<'_>) -> f64 {
    let (version, version_label) = match sd.manager_property("Version") {
        Ok(v) => parse_version(&go_variant_string(&v)),
        Err(e) => {
            log::debug!("systemd: unable to get the Version property, defaulting to 0: {e}");
            (0.0, String::new())
        }
    };
    out.gauge(
        "node_systemd_version",
        "Detected systemd version",
        &[("version", &version_label)],
        version,
    );
    let virt = match sd.manager_property("Virtualization") {
        Ok(v) => {
            let s = go_variant_string(&v);
            match s.trim_matches('"') {
                "" => "none".to_string(),
                t => t.to_string(),
            }
        }
        Err(e) => {
            log::debug!("systemd: could not get the Virtualization property: {e}");
            "unknown".to_string()
        }
    };
    out.gauge(
        "node_systemd_virtualization_info",
        "Detected virtualization technology",
        &[("virtualization_type", &virt)],
        1.0,
    );
    version
}

/// `node_systemd_unit_start_time_seconds` (0 for units not active).
fn start_times(sd: &mut dyn Systemd, units: &[&Unit], out: &mut Out<'_>) {
    for u in units {
        let usec = if u.active_state != "active" {
            0
        } else {
            match sd
                .unit_property(&u.name, "Unit", "ActiveEnterTimestamp")
                .and_then(u64_of)
            {
                Ok(v) => v,
                Err(e) => {
                    log::debug!("systemd: {}: ActiveEnterTimestamp: {e}", u.name);
                    continue;
                }
            }
        };
        out.gauge(
            "node_systemd_unit_start_time_seconds",
            "Start time of the unit since unix epoch in seconds.",
            &[("name", &u.name)],
            usec as f64 / 1e6,
        );
    }
}

/// `node_systemd_unit_tasks_{current,max}` of the services.
fn tasks(sd: &mut dyn Systemd, units: &[&Unit], out: &mut Out<'_>) {
    for u in units.iter().filter(|u| u.name.ends_with(".service")) {
        for (prop, name, help) in [
            (
                "TasksCurrent",
                "node_systemd_unit_tasks_current",
                "Current number of tasks per Systemd unit",
            ),
            (
                "TasksMax",
                "node_systemd_unit_tasks_max",
                "Maximum number of tasks per Systemd unit",
            ),
        ] {
            match sd.unit_property(&u.name, "Service", prop).and_then(u64_of) {
                // Unlimited / not tracked: no sample, as node_exporter.
                Ok(u64::MAX) => {}
                Ok(v) => out.gauge(name, help, &[("name", &u.name)], v as f64),
                Err(e) => log::debug!("systemd: {}: {prop}: {e}", u.name),
            }
        }
    }
}

/// `node_systemd_timer_last_trigger_seconds` of the timers.
fn timers(sd: &mut dyn Systemd, units: &[&Unit], out: &mut Out<'_>) {
    for u in units.iter().filter(|u| u.name.ends_with(".timer")) {
        match sd
            .unit_property(&u.name, "Timer", "LastTriggerUSec")
            .and_then(u64_of)
        {
            Ok(v) => out.gauge(
                "node_systemd_timer_last_trigger_seconds",
                "Seconds since epoch of last trigger.",
                &[("name", &u.name)],
                v as f64 / 1e6,
            ),
            Err(e) => log::debug!("systemd: {}: LastTriggerUSec: {e}", u.name),
        }
    }
}

/// `node_systemd_unit_state` (and restarts) of one unit.
fn unit_status(sd: &mut dyn Systemd, set: &Settings, u: &Unit, out: &mut Out<'_>) {
    let iface = if u.name.ends_with(".service") {
        Some("Service")
    } else if u.name.ends_with(".mount") {
        Some("Mount")
    } else {
        None
    };
    let kind = match iface {
        Some(i) => match sd.unit_property(&u.name, i, "Type").and_then(str_of) {
            Ok(t) => t,
            Err(e) => {
                log::debug!("systemd: {}: couldn't get unit type: {e}", u.name);
                String::new()
            }
        },
        None => String::new(),
    };
    for state in STATES {
        out.gauge(
            "node_systemd_unit_state",
            "Systemd unit",
            &[("name", &u.name), ("state", state), ("type", &kind)],
            if u.active_state == state { 1.0 } else { 0.0 },
        );
    }
    if set.restarts && u.name.ends_with(".service") {
        match sd
            .unit_property(&u.name, "Service", "NRestarts")
            .and_then(u32_of)
        {
            Ok(n) => out.counter(
                "node_systemd_service_restart_total",
                "Service unit count of Restart triggers",
                &[("name", &u.name)],
                f64::from(n),
            ),
            Err(e) => log::debug!("systemd: {}: NRestarts: {e}", u.name),
        }
    }
}

/// The socket counters of one `.socket` unit; stops at the first one that
/// cannot be read, except `NRefused` (systemd 239+), as node_exporter.
fn sockets(sd: &mut dyn Systemd, u: &Unit, out: &mut Out<'_>) {
    let mut get = |prop: &str| {
        sd.unit_property(&u.name, "Socket", prop)
            .and_then(u32_of)
            .map(f64::from)
            .map_err(|e| log::debug!("systemd: {}: {prop}: {e}", u.name))
    };
    let Ok(accepted) = get("NAccepted") else {
        return;
    };
    out.counter(
        "node_systemd_socket_accepted_connections_total",
        "Total number of accepted socket connections",
        &[("name", &u.name)],
        accepted,
    );
    let Ok(current) = get("NConnections") else {
        return;
    };
    out.gauge(
        "node_systemd_socket_current_connections",
        "Current number of socket connections",
        &[("name", &u.name)],
        current,
    );
    if let Ok(refused) = get("NRefused") {
        out.gauge(
            "node_systemd_socket_refused_connections_total",
            "Total number of refused socket connections",
            &[("name", &u.name)],
            refused,
        );
    }
}

/// Unit counts by `ActiveState`, the five usual states always present.
fn summarize(units: &[Unit]) -> Vec<(&str, f64)> {
    let mut counts: Vec<(&str, f64)> = STATES.iter().map(|s| (*s, 0.0)).collect();
    for u in units {
        match counts.iter_mut().find(|(s, _)| *s == u.active_state) {
            Some(c) => c.1 += 1.0,
            None => counts.push((&u.active_state, 1.0)),
        }
    }
    counts
}

fn u32_of(v: Value) -> Result<u32, String> {
    match v {
        Value::U32(n) => Ok(n),
        other => Err(format!("expected a uint32, got {other:?}")),
    }
}

fn u64_of(v: Value) -> Result<u64, String> {
    match v {
        Value::U64(n) => Ok(n),
        other => Err(format!("expected a uint64, got {other:?}")),
    }
}

fn str_of(v: Value) -> Result<String, String> {
    match v {
        Value::Str(s) => Ok(s),
        other => Err(format!("expected a string, got {other:?}")),
    }
}

/// What go-systemd's `GetManagerProperty` returns: godbus's
/// `Variant.String()`, a Go-quoted string for `s`.
fn go_variant_string(v: &Value) -> String {
    match v {
        Value::Str(s) => go_quote(s),
        Value::U32(n) => n.to_string(),
        Value::U64(n) => n.to_string(),
        Value::Other(sig) => format!("@{sig} ?"),
    }
}

/// Go's `strconv.Quote`, for the characters a systemd version can hold.
fn go_quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\t' => q.push_str("\\t"),
            '\r' => q.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                q.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

/// node_exporter's `getSystemdVersion`: the quotes trimmed, then the first
/// `[0-9]{3,}(\.[0-9]+)?` as a number; (0, "") when there is none.
fn parse_version(quoted: &str) -> (f64, String) {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(r"[0-9]{3,}(\.[0-9]+)?").expect("constant regex"));
    let v = quoted.strip_suffix('"').unwrap_or(quoted);
    let v = v.strip_prefix('"').unwrap_or(v);
    match re.find(v).and_then(|m| m.as_str().parse::<f64>().ok()) {
        Some(n) => (n, v.to_string()),
        None => {
            log::debug!("systemd: invalid version {v:?}");
            (0.0, String::new())
        }
    }
}

/// go-systemd's `PathBusEscape`: the object path element of a unit name
/// (everything but ASCII letters and digits, and a leading digit, as `_xx`).
pub(crate) fn path_escape(name: &str) -> String {
    if name.is_empty() {
        return "_".to_string();
    }
    let mut out = String::with_capacity(name.len());
    for (i, b) in name.bytes().enumerate() {
        if b.is_ascii_alphabetic() || (b.is_ascii_digit() && i > 0) {
            out.push(b as char);
        } else {
            out.push_str(&format!("_{b:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
