//! hwmon: `/sys/class/hwmon/hwmonN/` (and its `device/`) → `node_hwmon_*`,
//! named exactly as node_exporter's `hwmon_linux.go` names them.
//!
//! Each `hwmonN` is a chip. Its label `chip` comes from the resolved
//! `device` symlink as `<parent-dir>_<device-dir>`, lower-cased with every
//! character outside `[a-z0-9:_]` turned into `_` (a Raspberry Pi 4 gives
//! `thermal_thermal_zone0` and `soc:firmware_raspberrypi_hwmon`); without a
//! device it is the cleaned `name` file, then the directory name. When two
//! chips get the same label, node_exporter ≥ 1.10 appends the `name` file (or
//! `hwmonN` when that does not separate them either); so do we.
//!
//! Sensor files `<type><N>_<property>` of the known types are read from the
//! chip directory and from `device/` (so a thermal-zone chip also gets a
//! bare `temp0` from the zone's own `temp` file). Exports:
//! - `node_hwmon_chip_names{chip,chip_name}` 1 (from the `name` file),
//! - `node_hwmon_sensor_label{chip,sensor,label}` 1 (from `*_label`),
//! - one gauge per property with node_exporter's unit rules: `temp` →
//!   `_celsius` ×0.001 (`temp1_input` → `node_hwmon_temp_celsius`), `in`/`cpu`
//!   → `_volts` ×0.001, `curr` → `_amps` ×0.001, `power` → `_watt` ÷1e6,
//!   `energy` → `_joule_total` (counter) ÷1e6, `fan` input/min/max/target →
//!   `_rpm`, `humidity` ÷1e6, exact `alarm`/`fault` unscaled, anything else as
//!   is. Like node_exporter, `crit_alarm`/`lcrit_alarm` take the unit branch:
//!   the Pi's under-voltage flag `in0_lcrit_alarm` = 1 is exported as
//!   `node_hwmon_in_lcrit_alarm_volts` 0.001.
//!
//! No `/sys/class/hwmon` is "no data" (success 0), as in node_exporter. A chip
//! whose directory cannot be listed fails the collector after the others
//! have been exported; unreadable or non-numeric values are skipped.
//! node_exporter's `--collector.hwmon.{chip,sensor}-{include,exclude}` flags
//! are not implemented (nothing is filtered, their default).

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::path::Path;

use super::{CollectError, Ctx, Out};
use picket_core::metric::{Labels, MetricType};

/// Sensor types node_exporter reads (`hwmonSensorTypes`).
const SENSOR_TYPES: &[&str] = &[
    "vrm",
    "beep_enable",
    "update_interval",
    "in",
    "cpu",
    "fan",
    "pwm",
    "temp",
    "curr",
    "power",
    "energy",
    "humidity",
    "intrusion",
    "freq",
];

/// node_exporter reads at most this many bytes of a sensor file.
const MAX_VALUE_BYTES: usize = 128;

/// Sensor (`temp1`) → property (`input`, `crit`, `""` for a bare file) → raw value.
pub(crate) type SensorData = BTreeMap<String, BTreeMap<String, String>>;

/// Reads every chip under `/sys/class/hwmon`.
pub(crate) fn update(ctx: &Ctx<'_>, out: &mut Out<'_>) -> Result<(), CollectError> {
    let class = ctx.root.sys("class/hwmon");
    let mut names = Vec::new();
    for entry in fs::read_dir(&class).map_err(|e| CollectError::io(&class, e))? {
        let entry = entry.map_err(|e| CollectError::io(&class, e))?;
        if let Some(name) = entry.file_name().to_str() {
            names.push(name.to_string());
        }
    }
    names.sort();

    // Pass 1: chip directories and their device-derived base labels.
    let mut chips = Vec::new();
    for name in names {
        let dir = class.join(&name);
        // Follows the hwmonN symlink; anything that is not a directory is skipped.
        if !fs::metadata(&dir).map(|m| m.is_dir()).unwrap_or(false) {
            continue;
        }
        let Some(base) = chip_label(&dir) else {
            log::debug!("hwmon: no chip name for {}", dir.display());
            continue;
        };
        let name_file = fs::read(dir.join("name"))
            .map(|b| String::from_utf8_lossy(&b).trim().to_string())
            .unwrap_or_default();
        chips.push(ChipEntry {
            dir_name: name,
            base,
            name_file,
        });
    }

    // Pass 2: unique labels, then the sensors of each chip.
    let labels = unique_chip_labels(&chips);
    let mut failed = None;
    for (chip, label) in chips.iter().zip(labels) {
        let dir = class.join(&chip.dir_name);
        let mut data = SensorData::new();
        let mut listing = read_sensor_dir(&dir, &mut data);
        if listing.is_ok() && fs::metadata(dir.join("device")).is_ok() {
            listing = read_sensor_dir(&dir.join("device"), &mut data);
        }
        if let Err(e) = listing {
            failed = Some(e);
            continue;
        }
        let chip_name = fs::read(dir.join("name"))
            .ok()
            .map(|b| clean_name(&String::from_utf8_lossy(&b)))
            .filter(|n| !n.is_empty());
        emit_chip(&label, chip_name.as_deref(), &data, out);
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// One `hwmonN` directory found in pass 1.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChipEntry {
    /// `hwmonN`.
    pub dir_name: String,
    /// The label derived from `device`, `name` or the directory.
    pub base: String,
    /// The `name` file, trimmed ("" when absent).
    pub name_file: String,
}

/// Derives a chip's base label (node_exporter's `hwmonName`).
fn chip_label(dir: &Path) -> Option<String> {
    if let Ok(device) = fs::canonicalize(dir.join("device")) {
        let dev_name = device.file_name().map(|s| s.to_string_lossy());
        let dev_type = device
            .parent()
            .and_then(|p| p.file_name())
            .map(|s| s.to_string_lossy());
        if let Some(l) = device_label(
            dev_type.as_deref().unwrap_or(""),
            dev_name.as_deref().unwrap_or(""),
        ) {
            return Some(l);
        }
    }
    if let Ok(raw) = fs::read(dir.join("name")) {
        let name = clean_name(&String::from_utf8_lossy(&raw));
        if !name.is_empty() {
            return Some(name);
        }
    }
    let real = fs::canonicalize(dir).ok()?;
    let name = clean_name(&real.file_name()?.to_string_lossy());
    (!name.is_empty()).then_some(name)
}

/// The label from a resolved device path's last two components:
/// `<parent>_<device>` cleaned, or the device alone when the parent cleans to nothing.
pub(crate) fn device_label(parent: &str, device: &str) -> Option<String> {
    let (parent, device) = (clean_name(parent), clean_name(device));
    match (parent.is_empty(), device.is_empty()) {
        (_, true) => None,
        (false, false) => Some(format!("{parent}_{device}")),
        (true, false) => Some(device),
    }
}

/// Makes colliding base labels unique the way node_exporter ≥ 1.10 does:
/// `<base>_<name file>`, or `<base>_<hwmonN>` when the name file is empty or
/// shared too.
pub(crate) fn unique_chip_labels(chips: &[ChipEntry]) -> Vec<String> {
    let mut base_count: BTreeMap<&str, usize> = BTreeMap::new();
    let mut pair_count: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for c in chips {
        *base_count.entry(&c.base).or_default() += 1;
        *pair_count.entry((&c.base, &c.name_file)).or_default() += 1;
    }
    chips
        .iter()
        .map(|c| {
            if base_count.get(c.base.as_str()).copied().unwrap_or(0) <= 1 {
                return c.base.clone();
            }
            let mut suffix = clean_name(&c.name_file);
            let shared = pair_count
                .get(&(c.base.as_str(), c.name_file.as_str()))
                .copied()
                .unwrap_or(0)
                > 1;
            if suffix.is_empty() || shared {
                suffix = clean_name(&c.dir_name);
            }
            format!("{}_{}", c.base, suffix)
        })
        .collect()
}

/// Lower-cases and replaces every character outside `[a-z0-9:_]` by `_`,
/// then trims `_` at both ends (node_exporter's `cleanMetricName`).
pub(crate) fn clean_name(s: &str) -> String {
    let replaced: String = s
        .to_lowercase()
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | ':' | '_' => c,
            _ => '_',
        })
        .collect();
    replaced.trim_matches('_').to_string()
}

/// A sensor file name split as `<type><num>_<property>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SensorFile<'a> {
    /// `temp`, `in`, `fan`, `beep_enable`…
    pub kind: &'a str,
    /// The number (0 when the name has none).
    pub num: i64,
    /// What follows `_` (`input`, `crit_alarm`); "" for a bare file.
    pub property: &'a str,
}

/// Splits a file name like node_exporter's
/// `^(?P<type>[^0-9]+)(?P<id>[0-9]*)?(_(?P<property>.+))?$`, with the same
/// leftmost-first, greedy choice; `None` when it does not match or the number
/// overflows.
pub(crate) fn split_sensor_file(name: &str) -> Option<SensorFile<'_>> {
    // Byte offsets after each character of the leading non-digit run.
    let type_ends: Vec<usize> = name
        .char_indices()
        .take_while(|(_, c)| !c.is_ascii_digit())
        .map(|(i, c)| i + c.len_utf8())
        .collect();
    for &t in type_ends.iter().rev() {
        let rest = &name[t..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        for d in (0..=digits).rev() {
            let (id, tail) = rest.split_at(d);
            let property = if tail.is_empty() {
                ""
            } else {
                match tail.strip_prefix('_') {
                    Some(p) if !p.is_empty() && !p.contains('\n') => p,
                    _ => continue,
                }
            };
            let num = if id.is_empty() { 0 } else { id.parse().ok()? };
            return Some(SensorFile {
                kind: &name[..t],
                num,
                property,
            });
        }
    }
    None
}

/// Lists one directory and reads the values of the sensor files in it.
fn read_sensor_dir(dir: &Path, data: &mut SensorData) -> Result<(), CollectError> {
    let rd =
        fs::read_dir(dir).map_err(|e| CollectError::Failed(format!("{}: {}", dir.display(), e)))?;
    for entry in rd {
        let entry = entry.map_err(|e| CollectError::Failed(format!("{}: {}", dir.display(), e)))?;
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str() else {
            continue;
        };
        let Some(f) = split_sensor_file(name) else {
            continue;
        };
        if !SENSOR_TYPES.contains(&f.kind) {
            continue;
        }
        // Unreadable files (directories such as `power/`, write-only
        // attributes, drivers answering EAGAIN) are skipped.
        if let Ok(raw) = read_value(&dir.join(name)) {
            data.entry(format!("{}{}", f.kind, f.num))
                .or_default()
                .insert(f.property.to_string(), trim_value(&raw));
        }
    }
    Ok(())
}

/// One `read(2)` of at most 128 bytes, as node_exporter does: broken hwmon
/// drivers that keep answering EAGAIN must not make us loop.
fn read_value(path: &Path) -> io::Result<Vec<u8>> {
    let mut buf = [0u8; MAX_VALUE_BYTES];
    let n = fs::File::open(path)?.read(&mut buf)?;
    Ok(buf.get(..n).unwrap_or_default().to_vec())
}

/// Drops leading and trailing newlines (only those, like node_exporter).
pub(crate) fn trim_value(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).trim_matches('\n').to_string()
}

/// Exports one chip's samples.
pub(crate) fn emit_chip(chip: &str, chip_name: Option<&str>, data: &SensorData, out: &mut Out<'_>) {
    if let Some(chip_name) = chip_name {
        out.gauge(
            "node_hwmon_chip_names",
            "Annotation metric for human-readable chip names",
            &[("chip", chip), ("chip_name", chip_name)],
            1.0,
        );
    }
    for (sensor, props) in data {
        let kind = split_sensor_file(sensor)
            .map(|f| f.kind)
            .unwrap_or(sensor.as_str());
        let labels = [("chip", chip), ("sensor", sensor.as_str())];
        if let Some(label) = props.get("label") {
            out.gauge(
                "node_hwmon_sensor_label",
                "Label for given chip and sensor",
                &[("chip", chip), ("sensor", sensor), ("label", label)],
                1.0,
            );
        }
        let bare = props.get("").map(String::as_str);
        match kind {
            "beep_enable" => {
                let v = if bare == Some("1") { 1.0 } else { 0.0 };
                out.gauge(
                    "node_hwmon_beep_enabled",
                    "Hardware beep enabled",
                    &labels,
                    v,
                );
                continue;
            }
            "vrm" => {
                if let Some(v) = bare.and_then(parse_float) {
                    out.gauge(
                        "node_hwmon_voltage_regulator_version",
                        "Hardware voltage regulator",
                        &labels,
                        v,
                    );
                }
                continue;
            }
            "update_interval" => {
                if let Some(v) = bare.and_then(parse_float) {
                    out.gauge(
                        "node_hwmon_update_interval_seconds",
                        "Hardware monitor update interval",
                        &labels,
                        v * 0.001,
                    );
                }
                continue;
            }
            _ => {}
        }
        for (element, value) in props {
            if element == "label" {
                continue;
            }
            let label = props.get("label").map(String::as_str);
            if let Some(s) = property_sample(kind, element, value, bare.is_some(), label) {
                let sensor_label = s.sensor.unwrap_or_else(|| sensor.clone());
                out.sample(
                    s.name,
                    s.help,
                    s.kind,
                    Labels::from_pairs([("chip", chip), ("sensor", sensor_label.as_str())]),
                    s.value,
                );
            }
        }
    }
}

/// One property turned into a sample (without its chip label).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PropertySample {
    /// Metric name.
    pub name: String,
    /// Help text.
    pub help: String,
    /// Gauge, or counter for energy.
    pub kind: MetricType,
    /// Scaled value.
    pub value: f64,
    /// A replacement `sensor` label (the cleaned label of a `freq` sensor).
    pub sensor: Option<String>,
}

/// node_exporter's naming and scaling of one `<type><N>_<element>` value.
/// `has_bare` tells whether the sensor also has a bare `<type><N>` file
/// (then `input` keeps its own `_input` name); `label` is the sensor's
/// `_label` value, needed by `freq`. `None` when the value is not a number
/// or the property is not exported.
pub(crate) fn property_sample(
    kind: &str,
    element: &str,
    value: &str,
    has_bare: bool,
    label: Option<&str>,
) -> Option<PropertySample> {
    let mut name = format!("node_hwmon_{kind}");
    if element == "input" {
        if has_bare {
            name.push_str("_input");
        }
    } else if !element.is_empty() {
        name.push('_');
        name.push_str(&clean_name(element));
    }
    let v = parse_float(value)?;
    let gauge = |name: String, help: String, value: f64| {
        Some(PropertySample {
            name,
            help,
            kind: MetricType::Gauge,
            value,
            sensor: None,
        })
    };
    if element == "fault" || element == "alarm" {
        return gauge(
            name,
            format!("Hardware sensor {element} status ({kind})"),
            v,
        );
    }
    if element == "beep" {
        return gauge(
            name + "_enabled",
            "Hardware monitor sensor has beeping enabled".into(),
            v,
        );
    }
    match kind {
        "in" | "cpu" => gauge(name + "_volts", format!("Hardware monitor for voltage ({element})"), v * 0.001),
        "temp" if element != "type" => {
            let element = if element.is_empty() { "input" } else { element };
            gauge(name + "_celsius", format!("Hardware monitor for temperature ({element})"), v * 0.001)
        }
        "curr" => gauge(name + "_amps", format!("Hardware monitor for current ({element})"), v * 0.001),
        "energy" => Some(PropertySample {
            name: name + "_joule_total",
            help: format!("Hardware monitor for joules used so far ({element})"),
            kind: MetricType::Counter,
            value: v / 1000000.0,
            sensor: None,
        }),
        "power" if element == "accuracy" => {
            gauge(name, "Hardware monitor power meter accuracy, as a ratio".into(), v / 1000000.0)
        }
        "power" if matches!(element, "average_interval" | "average_interval_min" | "average_interval_max") => gauge(
            name + "_seconds",
            format!("Hardware monitor power usage update interval ({element})"),
            v * 0.001,
        ),
        "power" => gauge(name + "_watt", format!("Hardware monitor for power usage in watts ({element})"), v / 1000000.0),
        "humidity" => gauge(
            name,
            format!(
                "Hardware monitor for humidity, as a ratio (multiply with 100.0 to get the humidity as a percentage) ({element})"
            ),
            v / 1000000.0,
        ),
        "fan" if matches!(element, "input" | "min" | "max" | "target") => {
            gauge(name + "_rpm", format!("Hardware monitor for fan revolutions per minute ({element})"), v)
        }
        // Only a labelled GPU frequency input is exported, with the cleaned
        // label as its `sensor` (node_exporter >= 1.9).
        "freq" if element == "input" => Some(PropertySample {
            name: name + "_freq_mhz",
            help: "Hardware monitor for GPU frequency in MHz".into(),
            kind: MetricType::Gauge,
            value: v / 1000000.0,
            sensor: Some(clean_name(label?)),
        }),
        _ => gauge(name, format!("Hardware monitor {kind} element {element}"), v),
    }
}

/// Parses a value like Go's `strconv.ParseFloat` for the inputs sysfs
/// produces (decimal, optional sign and exponent, `inf`/`nan`).
pub(crate) fn parse_float(s: &str) -> Option<f64> {
    if s.is_empty()
        || s.starts_with(|c: char| c.is_whitespace())
        || s.ends_with(|c: char| c.is_whitespace())
    {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use picket_core::metric::Sample;

    fn emit(chip: &str, chip_name: Option<&str>, files: &[(&str, &str)]) -> Vec<Sample> {
        let mut data = SensorData::new();
        for (file, value) in files {
            let f = split_sensor_file(file).unwrap();
            data.entry(format!("{}{}", f.kind, f.num))
                .or_default()
                .insert(f.property.to_string(), value.to_string());
        }
        let mut samples = Vec::new();
        emit_chip(chip, chip_name, &data, &mut Out::new(&mut samples));
        samples.sort_by(|a, b| a.exposition_cmp(b));
        samples
    }

    fn line(s: &Sample) -> String {
        let labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{}{{{}}} {}", s.name, labels.join(","), s.value)
    }

    #[test]
    fn splits_file_names_like_the_regex() {
        let f =
            |n| split_sensor_file(n).map(|f| (f.kind.to_string(), f.num, f.property.to_string()));
        assert_eq!(f("temp1_input"), Some(("temp".into(), 1, "input".into())));
        assert_eq!(
            f("in0_lcrit_alarm"),
            Some(("in".into(), 0, "lcrit_alarm".into()))
        );
        assert_eq!(f("temp"), Some(("temp".into(), 0, "".into())));
        assert_eq!(f("pwm1"), Some(("pwm".into(), 1, "".into())));
        assert_eq!(f("beep_enable"), Some(("beep_enable".into(), 0, "".into())));
        assert_eq!(
            f("update_interval"),
            Some(("update_interval".into(), 0, "".into()))
        );
        assert_eq!(f("temp07_max"), Some(("temp".into(), 7, "max".into())));
        assert_eq!(
            f("trip_point_0_temp"),
            Some(("trip_point_".into(), 0, "temp".into()))
        );
        // Greedy type first, then backtracking to a shorter type.
        assert_eq!(f("temp_input"), Some(("temp_input".into(), 0, "".into())));
        assert_eq!(f("foo_bar1x"), Some(("foo".into(), 0, "bar1x".into())));
        // No match.
        assert_eq!(f("1temp"), None);
        assert_eq!(f("temp1input"), None);
        assert_eq!(f("fan1_"), None);
        assert_eq!(f(""), None);
        // The number overflows Go's int: no match either.
        assert_eq!(f("temp99999999999999999999_input"), None);
        assert_eq!(f("tëmp1_ïnput"), Some(("tëmp".into(), 1, "ïnput".into())));
    }

    #[test]
    fn cleans_names() {
        assert_eq!(clean_name("raspberrypi-hwmon"), "raspberrypi_hwmon");
        assert_eq!(clean_name("soc:firmware"), "soc:firmware");
        assert_eq!(clean_name("cpu_thermal\n"), "cpu_thermal");
        assert_eq!(clean_name("Platform.Coretemp.0"), "platform_coretemp_0");
        assert_eq!(clean_name("--"), "");
        assert_eq!(
            device_label("thermal", "thermal_zone0").as_deref(),
            Some("thermal_thermal_zone0")
        );
        assert_eq!(
            device_label("soc:firmware", "raspberrypi-hwmon").as_deref(),
            Some("soc:firmware_raspberrypi_hwmon")
        );
        assert_eq!(device_label("", "i2c-1").as_deref(), Some("i2c_1"));
        assert_eq!(device_label("x", "--"), None);
    }

    #[test]
    fn disambiguates_shared_devices() {
        let e = |dir: &str, base: &str, name: &str| ChipEntry {
            dir_name: dir.into(),
            base: base.into(),
            name_file: name.into(),
        };
        let chips = [
            e("hwmon0", "thermal_thermal_zone0", "cpu_thermal"),
            e("hwmon1", "platform_asus_nb_wmi", "asus"),
            e("hwmon2", "platform_asus_nb_wmi", "asus_fan"),
            e("hwmon3", "platform_x", "same"),
            e("hwmon4", "platform_x", "same"),
            e("hwmon5", "platform_y", ""),
            e("hwmon6", "platform_y", "y"),
        ];
        assert_eq!(
            unique_chip_labels(&chips),
            [
                "thermal_thermal_zone0",
                "platform_asus_nb_wmi_asus",
                "platform_asus_nb_wmi_asus_fan",
                "platform_x_hwmon3",
                "platform_x_hwmon4",
                "platform_y_hwmon5",
                "platform_y_y",
            ]
        );
    }

    #[test]
    fn pi_thermal_chip() {
        // hwmon0 of a Pi 4: temp1_* in the chip, bare `temp` from thermal_zone0.
        let s = emit(
            "thermal_thermal_zone0",
            Some("cpu_thermal"),
            &[
                ("temp1_input", "47712"),
                ("temp1_crit", "90000"),
                ("temp", "47712"),
            ],
        );
        let lines: Vec<String> = s.iter().map(line).collect();
        assert_eq!(
            lines,
            [
                "node_hwmon_chip_names{chip=thermal_thermal_zone0,chip_name=cpu_thermal} 1",
                "node_hwmon_temp_celsius{chip=thermal_thermal_zone0,sensor=temp0} 47.712",
                "node_hwmon_temp_celsius{chip=thermal_thermal_zone0,sensor=temp1} 47.712",
                "node_hwmon_temp_crit_celsius{chip=thermal_thermal_zone0,sensor=temp1} 90",
            ]
        );
        assert_eq!(s[1].help, "Hardware monitor for temperature (input)");
        assert_eq!(s[3].help, "Hardware monitor for temperature (crit)");
    }

    #[test]
    fn pi_under_voltage_quirk() {
        let s = emit(
            "soc:firmware_raspberrypi_hwmon",
            Some("rpi_volt"),
            &[("in0_lcrit_alarm", "1")],
        );
        assert_eq!(
            line(&s[1]),
            "node_hwmon_in_lcrit_alarm_volts{chip=soc:firmware_raspberrypi_hwmon,sensor=in0} 0.001"
        );
        assert_eq!(s[1].help, "Hardware monitor for voltage (lcrit_alarm)");
    }

    #[test]
    fn units_and_special_properties() {
        let s = emit(
            "platform_nct6775_656",
            None,
            &[
                ("in1_input", "1032"),
                ("in1_alarm", "0"),
                ("in1_beep", "1"),
                ("in1_label", "Vcore"),
                ("fan2_input", "1200"),
                ("fan2_pulses", "2"),
                ("curr1_input", "1500"),
                ("power1_average", "12500000"),
                ("power1_accuracy", "950000"),
                ("power1_average_interval", "1000"),
                ("energy1_input", "3000000"),
                ("humidity1_input", "45000000"),
                ("temp2_type", "4"),
                ("temp2_fault", "0"),
                ("pwm1", "128"),
                ("pwm1_enable", "2"),
                ("intrusion0_alarm", "1"),
                ("beep_enable", "1"),
                ("update_interval", "500"),
                ("vrm", "9.1"),
                ("temp3_input", "oops"),
            ],
        );
        let lines: Vec<String> = s.iter().map(line).collect();
        let c = "chip=platform_nct6775_656";
        let expect = [
            format!("node_hwmon_beep_enabled{{{c},sensor=beep_enable0}} 1"),
            format!("node_hwmon_curr_amps{{{c},sensor=curr1}} 1.5"),
            format!("node_hwmon_energy_joule_total{{{c},sensor=energy1}} 3"),
            format!("node_hwmon_fan_pulses{{{c},sensor=fan2}} 2"),
            format!("node_hwmon_fan_rpm{{{c},sensor=fan2}} 1200"),
            format!("node_hwmon_humidity{{{c},sensor=humidity1}} 45"),
            format!("node_hwmon_in_alarm{{{c},sensor=in1}} 0"),
            format!("node_hwmon_in_beep_enabled{{{c},sensor=in1}} 1"),
            format!("node_hwmon_in_volts{{{c},sensor=in1}} 1.032"),
            format!("node_hwmon_intrusion_alarm{{{c},sensor=intrusion0}} 1"),
            format!("node_hwmon_power_accuracy{{{c},sensor=power1}} 0.95"),
            format!("node_hwmon_power_average_interval_seconds{{{c},sensor=power1}} 1"),
            format!("node_hwmon_power_average_watt{{{c},sensor=power1}} 12.5"),
            format!("node_hwmon_pwm{{{c},sensor=pwm1}} 128"),
            format!("node_hwmon_pwm_enable{{{c},sensor=pwm1}} 2"),
            format!("node_hwmon_sensor_label{{{c},label=Vcore,sensor=in1}} 1"),
            format!("node_hwmon_temp_fault{{{c},sensor=temp2}} 0"),
            format!("node_hwmon_temp_type{{{c},sensor=temp2}} 4"),
            format!("node_hwmon_update_interval_seconds{{{c},sensor=update_interval0}} 0.5"),
            format!("node_hwmon_voltage_regulator_version{{{c},sensor=vrm0}} 9.1"),
        ];
        assert_eq!(lines, expect);
        let help = |n: &str| s.iter().find(|x| x.name == n).map(|x| x.help.to_string());
        assert_eq!(
            help("node_hwmon_pwm").as_deref(),
            Some("Hardware monitor pwm element ")
        );
        assert_eq!(
            help("node_hwmon_in_alarm").as_deref(),
            Some("Hardware sensor alarm status (in)")
        );
        assert_eq!(
            help("node_hwmon_temp_type").as_deref(),
            Some("Hardware monitor temp element type")
        );
        assert_eq!(
            s.iter()
                .find(|x| x.name == "node_hwmon_energy_joule_total")
                .map(|x| x.kind),
            Some(MetricType::Counter)
        );
    }

    #[test]
    fn input_next_to_a_bare_value_keeps_its_suffix() {
        let s = emit("c", None, &[("temp1", "40000"), ("temp1_input", "41000")]);
        let lines: Vec<String> = s.iter().map(line).collect();
        assert_eq!(
            lines,
            [
                "node_hwmon_temp_celsius{chip=c,sensor=temp1} 40",
                "node_hwmon_temp_input_celsius{chip=c,sensor=temp1} 41"
            ]
        );
    }

    #[test]
    fn freq_uses_the_cleaned_label_as_sensor() {
        let s = emit(
            "pci_0000:03:00_0",
            None,
            &[("freq1_input", "1800000000"), ("freq1_label", "sclk")],
        );
        let lines: Vec<String> = s.iter().map(line).collect();
        assert_eq!(
            lines,
            [
                "node_hwmon_freq_freq_mhz{chip=pci_0000:03:00_0,sensor=sclk} 1800",
                "node_hwmon_sensor_label{chip=pci_0000:03:00_0,label=sclk,sensor=freq1} 1",
            ]
        );
        // Without a label nothing is exported for it.
        assert!(emit("c", None, &[("freq1_input", "1")]).is_empty());
    }

    #[test]
    fn garbage_values_are_skipped() {
        assert!(emit(
            "c",
            None,
            &[
                ("temp1_input", ""),
                ("in0_input", " 12"),
                ("fan1_input", "x\u{0}")
            ]
        )
        .is_empty());
        assert_eq!(parse_float("1e3"), Some(1000.0));
        assert_eq!(parse_float("-5"), Some(-5.0));
        assert_eq!(parse_float("12\n"), None);
        assert_eq!(trim_value(b"\n47712\n\n"), "47712");
        assert_eq!(trim_value(b" x \n"), " x ");
        assert_eq!(trim_value(&[0xff, b'1', b'\n']), "\u{fffd}1");
    }

    #[test]
    fn other_freq_properties_fall_through() {
        let s = emit("c", None, &[("freq1_max", "2000000000")]);
        assert_eq!(
            line(&s[0]),
            "node_hwmon_freq_max{chip=c,sensor=freq1} 2000000000"
        );
        assert_eq!(s[0].help, "Hardware monitor freq element max");
    }

    /// Runs the collector on a fixture tree and renders `name{labels} value` lines.
    fn run_fixture(board: &str) -> (Result<(), CollectError>, Vec<String>) {
        crate::collect::run_on_fixture(board, update)
    }

    #[test]
    fn fixtures() {
        let (r, pi) = run_fixture("pi4");
        assert!(r.is_ok());
        assert_eq!(
            pi,
            [
                "node_hwmon_chip_names{chip=soc:firmware_raspberrypi_hwmon,chip_name=rpi_volt} 1",
                "node_hwmon_chip_names{chip=thermal_thermal_zone0,chip_name=cpu_thermal} 1",
                "node_hwmon_in_lcrit_alarm_volts{chip=soc:firmware_raspberrypi_hwmon,sensor=in0} 0.001",
                "node_hwmon_temp_celsius{chip=thermal_thermal_zone0,sensor=temp0} 47.712",
                "node_hwmon_temp_celsius{chip=thermal_thermal_zone0,sensor=temp1} 47.712",
                "node_hwmon_temp_crit_celsius{chip=thermal_thermal_zone0,sensor=temp1} 90",
            ]
        );
        let (r, rock) = run_fixture("rock64");
        assert!(r.is_ok());
        assert_eq!(rock.len(), 4);
        assert_eq!(
            rock[0],
            "node_hwmon_chip_names{chip=thermal_thermal_zone0,chip_name=soc_thermal} 1"
        );
        let (r, none) = run_fixture("no-such-board");
        assert!(matches!(r, Err(CollectError::NoData(_))));
        assert!(none.is_empty());
    }
}
