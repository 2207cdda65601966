//! powersupplyclass: `/sys/class/power_supply/<supply>/*` →
//! `node_power_supply_*{power_supply}`, as node_exporter's
//! `powersupplyclass_linux.go` exports them (gauges):
//! - as is: `online`, `present`, `capacity`, `cyclecount` (`cycle_count`),
//!   `time_to_empty_seconds`/`time_to_full_seconds` (`time_to_*_now`),
//!   `authentic`, `calibrate`, `capacity_alert_{min,max}`;
//! - ÷1e6 (µA, µV, µW, µWh, µAh → A, V, W, Wh, Ah): `current_ampere`
//!   (`current_now`), `voltage_volt` (`voltage_now`), `power_watt`
//!   (`power_now`), `energy_watthour` (`energy_now`), `charge_ampere`
//!   (`charge_now`) and the other `current_*`, `voltage_*`, `energy_*`,
//!   `charge_*`, `constant_charge_*`, `precharge_current`, `input_current_limit`;
//! - ÷10 (tenths of °C): `temp_celsius` and the other `temp_*_celsius`;
//! - `node_power_supply_info` 1 with a label for every non-empty text
//!   attribute (`type`, `status`, `model_name`, `manufacturer`, `scope`…).
//!
//! Numbers are parsed like Go's `strconv.ParseInt(s, 0, 64)` (`0x` hex and
//! leading-zero octal accepted). No `/sys/class/power_supply` is "no data"
//! (success 0); an empty one (most Raspberry Pis) gives no samples and
//! success 1. Attributes the driver refuses (ENOENT, EOPNOTSUPP, ENODEV,
//! EINVAL) are skipped; any other read error or a non-numeric value fails
//! the whole collector with no samples, as in node_exporter. Unlike
//! node_exporter we read only the attributes we know (it also reads, and
//! can fail on, files it then ignores such as `uevent`), and its
//! `--collector.powersupply.ignored-supplies` flag is not implemented
//! (its default ignores nothing).

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;

use super::root::read_attr;
use super::{parse_go_int, CollectError, Ctx, Out};
use picket_core::metric::{Labels, MetricType};

/// How a numeric attribute is exported.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Export {
    /// Parsed (so a bad value fails) but not exported.
    Hidden,
    /// `node_power_supply_<name>` = value / divisor.
    Metric(&'static str, f64),
}

/// Numeric attributes, in node_exporter's three groups.
const NUMERIC: &[(&str, Export)] = &[
    ("authentic", Export::Metric("authentic", 1.0)),
    ("calibrate", Export::Metric("calibrate", 1.0)),
    ("capacity", Export::Metric("capacity", 1.0)),
    (
        "capacity_alert_max",
        Export::Metric("capacity_alert_max", 1.0),
    ),
    (
        "capacity_alert_min",
        Export::Metric("capacity_alert_min", 1.0),
    ),
    ("cycle_count", Export::Metric("cyclecount", 1.0)),
    ("online", Export::Metric("online", 1.0)),
    ("present", Export::Metric("present", 1.0)),
    (
        "time_to_empty_now",
        Export::Metric("time_to_empty_seconds", 1.0),
    ),
    (
        "time_to_full_now",
        Export::Metric("time_to_full_seconds", 1.0),
    ),
    ("current_boot", Export::Metric("current_boot", 1e6)),
    ("current_max", Export::Metric("current_max", 1e6)),
    ("current_now", Export::Metric("current_ampere", 1e6)),
    ("energy_empty", Export::Metric("energy_empty", 1e6)),
    (
        "energy_empty_design",
        Export::Metric("energy_empty_design", 1e6),
    ),
    ("energy_full", Export::Metric("energy_full", 1e6)),
    (
        "energy_full_design",
        Export::Metric("energy_full_design", 1e6),
    ),
    ("energy_now", Export::Metric("energy_watthour", 1e6)),
    ("voltage_boot", Export::Metric("voltage_boot", 1e6)),
    ("voltage_max", Export::Metric("voltage_max", 1e6)),
    (
        "voltage_max_design",
        Export::Metric("voltage_max_design", 1e6),
    ),
    ("voltage_min", Export::Metric("voltage_min", 1e6)),
    (
        "voltage_min_design",
        Export::Metric("voltage_min_design", 1e6),
    ),
    ("voltage_now", Export::Metric("voltage_volt", 1e6)),
    ("voltage_ocv", Export::Metric("voltage_ocv", 1e6)),
    (
        "charge_control_limit",
        Export::Metric("charge_control_limit", 1e6),
    ),
    (
        "charge_control_limit_max",
        Export::Metric("charge_control_limit_max", 1e6),
    ),
    ("charge_counter", Export::Metric("charge_counter", 1e6)),
    ("charge_empty", Export::Metric("charge_empty", 1e6)),
    (
        "charge_empty_design",
        Export::Metric("charge_empty_design", 1e6),
    ),
    ("charge_full", Export::Metric("charge_full", 1e6)),
    (
        "charge_full_design",
        Export::Metric("charge_full_design", 1e6),
    ),
    ("charge_now", Export::Metric("charge_ampere", 1e6)),
    (
        "charge_term_current",
        Export::Metric("charge_term_current", 1e6),
    ),
    (
        "constant_charge_current",
        Export::Metric("constant_charge_current", 1e6),
    ),
    (
        "constant_charge_current_max",
        Export::Metric("constant_charge_current_max", 1e6),
    ),
    (
        "constant_charge_voltage",
        Export::Metric("constant_charge_voltage", 1e6),
    ),
    (
        "constant_charge_voltage_max",
        Export::Metric("constant_charge_voltage_max", 1e6),
    ),
    (
        "precharge_current",
        Export::Metric("precharge_current", 1e6),
    ),
    (
        "input_current_limit",
        Export::Metric("input_current_limit", 1e6),
    ),
    ("power_now", Export::Metric("power_watt", 1e6)),
    ("temp", Export::Metric("temp_celsius", 10.0)),
    (
        "temp_alert_max",
        Export::Metric("temp_alert_max_celsius", 10.0),
    ),
    (
        "temp_alert_min",
        Export::Metric("temp_alert_min_celsius", 10.0),
    ),
    ("temp_ambient", Export::Metric("temp_ambient_celsius", 10.0)),
    (
        "temp_ambient_max",
        Export::Metric("temp_ambient_max_celsius", 10.0),
    ),
    (
        "temp_ambient_min",
        Export::Metric("temp_ambient_min_celsius", 10.0),
    ),
    ("temp_max", Export::Metric("temp_max_celsius", 10.0)),
    ("temp_min", Export::Metric("temp_min_celsius", 10.0)),
    ("charge_avg", Export::Hidden),
    ("current_avg", Export::Hidden),
    ("energy_avg", Export::Hidden),
    ("power_avg", Export::Hidden),
    ("time_to_empty_avg", Export::Hidden),
    ("time_to_full_avg", Export::Hidden),
    ("voltage_avg", Export::Hidden),
];

/// Text attributes that become labels of `node_power_supply_info`.
const TEXT: &[&str] = &[
    "capacity_level",
    "charge_type",
    "health",
    "manufacturer",
    "model_name",
    "serial_number",
    "status",
    "technology",
    "type",
    "usb_type",
    "scope",
];

/// One supply's exported values.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Supply {
    /// (metric name without `node_power_supply_`, scaled value).
    pub metrics: Vec<(&'static str, f64)>,
    /// (info label, text) for the non-empty text attributes.
    pub info: Vec<(&'static str, String)>,
}

/// Reads every power supply, then exports them all.
pub(crate) fn update(ctx: &Ctx<'_>, out: &mut Out<'_>) -> Result<(), CollectError> {
    let class = ctx.root.sys("class/power_supply");
    let mut names = Vec::new();
    for entry in fs::read_dir(&class).map_err(|e| CollectError::io(&class, e))? {
        let entry = entry.map_err(|e| CollectError::io(&class, e))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    let mut supplies = BTreeMap::new();
    for name in names {
        let supply = read_supply(&class.join(&name))?;
        supplies.insert(name, supply);
    }
    for (name, supply) in &supplies {
        emit(name, supply, out);
    }
    Ok(())
}

/// Reads the known attributes of one supply directory.
fn read_supply(dir: &Path) -> Result<Supply, CollectError> {
    let failed = |e: io::Error| CollectError::Failed(format!("{}: {}", dir.display(), e));
    let mut files = BTreeMap::new();
    for entry in fs::read_dir(dir).map_err(failed)? {
        let entry = entry.map_err(failed)?;
        // Regular files only (not the `device`/`subsystem` links or `power/`).
        if !entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
            continue;
        }
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if !NUMERIC.iter().any(|(n, _)| *n == name) && !TEXT.contains(&name.as_str()) {
            continue;
        }
        let path = dir.join(&name);
        match read_attr(&path) {
            Ok(v) => {
                files.insert(name, v);
            }
            Err(e) if refused(&e) => {}
            Err(e) => return Err(CollectError::Failed(format!("{}: {}", path.display(), e))),
        }
    }
    parse_supply(&files).map_err(|e| CollectError::parse(dir, e))
}

/// Builds a supply from its attribute files (name → trimmed content).
pub(crate) fn parse_supply(files: &BTreeMap<String, String>) -> Result<Supply, String> {
    let mut s = Supply::default();
    for (file, export) in NUMERIC {
        let Some(text) = files.get(*file) else {
            continue;
        };
        let v = parse_go_int(text).ok_or_else(|| format!("{file}: invalid number {text:?}"))?;
        if let Export::Metric(name, divisor) = export {
            let value = if *divisor == 1.0 {
                v as f64
            } else {
                v as f64 / divisor
            };
            s.metrics.push((name, value));
        }
    }
    for label in TEXT {
        if let Some(text) = files.get(*label).filter(|t| !t.is_empty()) {
            s.info.push((label, text.clone()));
        }
    }
    Ok(s)
}

/// Exports one supply.
pub(crate) fn emit(name: &str, supply: &Supply, out: &mut Out<'_>) {
    for (metric, value) in &supply.metrics {
        out.gauge(
            format!("node_power_supply_{metric}"),
            format!("{metric} value of /sys/class/power_supply/<power_supply>."),
            &[("power_supply", name)],
            *value,
        );
    }
    let mut labels = Labels::from_pairs(supply.info.iter().map(|(k, v)| (*k, v.as_str())));
    labels.set("power_supply", name);
    out.sample(
        "node_power_supply_info",
        "info of /sys/class/power_supply/<power_supply>.",
        MetricType::Gauge,
        labels,
        1.0,
    );
}

/// The read errors procfs skips: ENOENT, EOPNOTSUPP, ENODEV, EINVAL.
fn refused(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
        || matches!(
            e.raw_os_error(),
            Some(libc::EOPNOTSUPP) | Some(libc::ENODEV) | Some(libc::EINVAL)
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn battery_values_and_units() {
        let s = parse_supply(&files(&[
            ("type", "Battery"),
            ("status", "Discharging"),
            ("capacity", "87"),
            ("cycle_count", "12"),
            ("voltage_now", "12150000"),
            ("current_now", "-1500000"),
            ("energy_now", "35000000"),
            ("temp", "251"),
            ("time_to_empty_now", "3600"),
            ("current_avg", "5"),
            ("serial_number", ""),
        ]))
        .unwrap();
        assert_eq!(
            s.metrics,
            [
                ("capacity", 87.0),
                ("cyclecount", 12.0),
                ("time_to_empty_seconds", 3600.0),
                ("current_ampere", -1.5),
                ("energy_watthour", 35.0),
                ("voltage_volt", 12.15),
                ("temp_celsius", 25.1),
            ]
        );
        assert_eq!(
            s.info,
            [
                ("status", "Discharging".to_string()),
                ("type", "Battery".to_string())
            ]
        );
    }

    #[test]
    fn info_and_metric_names() {
        let s = parse_supply(&files(&[("online", "1"), ("type", "Mains")])).unwrap();
        let mut samples = Vec::new();
        emit("ac", &s, &mut Out::new(&mut samples));
        assert_eq!(samples.len(), 2);
        assert_eq!(samples[0].name, "node_power_supply_online");
        assert_eq!(
            samples[0].help,
            "online value of /sys/class/power_supply/<power_supply>."
        );
        assert_eq!(samples[0].labels.get("power_supply"), Some("ac"));
        assert_eq!(samples[1].name, "node_power_supply_info");
        assert_eq!(
            samples[1].help,
            "info of /sys/class/power_supply/<power_supply>."
        );
        let labels: Vec<_> = samples[1].labels.iter().collect();
        assert_eq!(labels, [("power_supply", "ac"), ("type", "Mains")]);
    }

    #[test]
    fn go_integer_syntax() {
        assert_eq!(parse_go_int("42"), Some(42));
        assert_eq!(parse_go_int("-42"), Some(-42));
        assert_eq!(parse_go_int("+7"), Some(7));
        assert_eq!(parse_go_int("0"), Some(0));
        assert_eq!(parse_go_int("0x1F"), Some(31));
        assert_eq!(parse_go_int("010"), Some(8));
        assert_eq!(parse_go_int("0b101"), Some(5));
        assert_eq!(parse_go_int("0x_1F"), Some(31));
        assert_eq!(parse_go_int("-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_go_int("9223372036854775808"), None);
        assert_eq!(parse_go_int("1_000"), Some(1000));
        assert_eq!(parse_go_int("0_7"), Some(7));
        assert_eq!(parse_go_int("1__0"), None);
        assert_eq!(parse_go_int("_1"), None);
        assert_eq!(parse_go_int("1_"), None);
        assert_eq!(parse_go_int("-0x10"), Some(-16));
        assert_eq!(parse_go_int("08"), None);
        assert_eq!(parse_go_int("0x"), None);
        assert_eq!(parse_go_int("--1"), None);
        assert_eq!(parse_go_int("1.5"), None);
        assert_eq!(parse_go_int(""), None);
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_supply(&files(&[("capacity", "full")])).is_err());
        // A hidden attribute still has to parse, as in node_exporter.
        assert!(parse_supply(&files(&[("voltage_avg", "n/a")])).is_err());
        assert_eq!(parse_supply(&files(&[])).unwrap(), Supply::default());
    }

    /// Runs the collector on a fixture tree and renders `name{labels} value` lines.
    fn run_fixture(board: &str) -> (Result<(), CollectError>, Vec<String>) {
        crate::collect::run_on_fixture(board, update)
    }

    #[test]
    fn fixtures() {
        let (r, rock) = run_fixture("rock64");
        assert!(r.is_ok());
        let ups = "power_supply=hid-3B2045X12345-battery";
        assert_eq!(
            rock,
            [
                format!("node_power_supply_capacity{{{ups}}} 100"),
                format!(
                    "node_power_supply_info{{model_name=American Power Conversion Back-UPS ES 700G FW:871.O4 .I USB FW:O4,{ups},scope=Device,status=Full,type=Battery}} 1"
                ),
                format!("node_power_supply_online{{{ups}}} 1"),
                format!("node_power_supply_present{{{ups}}} 1"),
            ]
        );
        // The Pi fixture has no power_supply class (git keeps no empty
        // directories; a real Pi 4 has an empty one): no data.
        // The integration tests create the empty directory; either way, no series.
        let (r, pi) = run_fixture("pi4");
        assert!(matches!(r, Ok(()) | Err(CollectError::NoData(_))));
        assert!(pi.is_empty());
    }
}
