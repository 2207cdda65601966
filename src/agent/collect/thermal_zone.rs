//! thermal_zone: `/sys/class/thermal/thermal_zoneN/{type,temp}` and
//! `cooling_deviceN/{type,cur_state,max_state}`, as node_exporter's
//! `thermal_zone_linux.go` exports them:
//! - `node_thermal_zone_temp{zone,type}` in °C (`temp` is millidegrees; `zone`
//!   is the number after `thermal_zone`, e.g. `zone="0",type="cpu-thermal"`),
//! - `node_cooling_device_cur_state{name,type}` and
//!   `node_cooling_device_max_state{name,type}` (`name` is the number after
//!   `cooling_device`; `cur_state` may be -1).
//!
//! No thermal class at all means no samples and success 1, as in
//! node_exporter. A zone whose `type` or `temp` cannot be read (some drivers
//! answer ENODATA or EINVAL while a sensor is off) is skipped, as
//! node_exporter up to 1.11 did; 1.12 exports such a zone as 0 °C with an
//! empty type instead, which we do not copy. A zone whose `temp` is not a
//! number is skipped too and fails the collector after the other zones have
//! been exported. A cooling device with a missing or unreadable attribute
//! (not found, permission, EINVAL, EOPNOTSUPP) is skipped; any other error,
//! including a non-numeric state, drops all cooling devices and fails the
//! collector, as in node_exporter.

use std::io;
use std::path::Path;

use super::root::{list_prefixed, read_attr};
use super::{CollectError, Ctx, Out};

/// Reads the zones, then the cooling devices.
pub(crate) fn update(ctx: &Ctx<'_>, out: &mut Out<'_>) -> Result<(), CollectError> {
    let class = ctx.root.sys("class/thermal");
    let mut failed = None;

    for zone in numbered(&class, "thermal_zone")? {
        let dir = class.join(&zone);
        let (Ok(kind), Ok(temp)) = (read_attr(&dir.join("type")), read_attr(&dir.join("temp")))
        else {
            log::debug!("thermal_zone: skipping unreadable {}", dir.display());
            continue;
        };
        match parse_int(&temp) {
            Some(t) => out.gauge(
                "node_thermal_zone_temp",
                "Zone temperature in Celsius",
                &[("zone", &zone["thermal_zone".len()..]), ("type", &kind)],
                t as f64 / 1000.0,
            ),
            None => {
                failed = Some(CollectError::parse(
                    &dir.join("temp"),
                    format!("invalid temperature {temp:?}"),
                ));
            }
        }
    }

    let mut devices = Vec::new();
    for dev in numbered(&class, "cooling_device")? {
        let dir = class.join(&dev);
        match read_cooling_device(&dir) {
            Ok(Some(d)) => devices.push((dev["cooling_device".len()..].to_string(), d)),
            Ok(None) => log::debug!("thermal_zone: skipping unreadable {}", dir.display()),
            Err(e) => return Err(e),
        }
    }
    for (name, d) in &devices {
        let labels = [("name", name.as_str()), ("type", d.kind.as_str())];
        out.gauge(
            "node_cooling_device_cur_state",
            "Current throttle state of the cooling device",
            &labels,
            d.cur_state as f64,
        );
        out.gauge(
            "node_cooling_device_max_state",
            "Maximum throttle state of the cooling device",
            &labels,
            d.max_state as f64,
        );
    }

    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// One cooling device's attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CoolingDevice {
    /// `type`, e.g. `cpufreq-cpu0`.
    pub kind: String,
    /// `cur_state`.
    pub cur_state: i64,
    /// `max_state`.
    pub max_state: i64,
}

/// Reads a cooling device; `Ok(None)` when an attribute is missing or refused.
fn read_cooling_device(dir: &Path) -> Result<Option<CoolingDevice>, CollectError> {
    let attr = |name: &str| -> Result<Option<String>, CollectError> {
        let path = dir.join(name);
        match read_attr(&path) {
            Ok(v) => Ok(Some(v)),
            Err(e) if ignorable(&e) => Ok(None),
            Err(e) => Err(CollectError::Failed(format!("{}: {}", path.display(), e))),
        }
    };
    let Some(kind) = attr("type")? else {
        return Ok(None);
    };
    let Some(max) = attr("max_state")? else {
        return Ok(None);
    };
    let Some(cur) = attr("cur_state")? else {
        return Ok(None);
    };
    parse_cooling_device(kind, &max, &cur)
        .map(Some)
        .map_err(|e| CollectError::parse(dir, e))
}

/// Builds a cooling device from its trimmed `type`, `max_state` and `cur_state`.
pub(crate) fn parse_cooling_device(
    kind: String,
    max: &str,
    cur: &str,
) -> Result<CoolingDevice, String> {
    let max_state = parse_int(max).ok_or_else(|| format!("invalid max_state {max:?}"))?;
    let cur_state = parse_int(cur).ok_or_else(|| format!("invalid cur_state {cur:?}"))?;
    Ok(CoolingDevice {
        kind,
        cur_state,
        max_state,
    })
}

/// The errors procfs treats as "skip this device".
fn ignorable(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
    ) || matches!(
        e.raw_os_error(),
        Some(libc::EINVAL) | Some(libc::EOPNOTSUPP)
    )
}

/// The entries `<prefix><digit>…` of `dir` (the glob `<prefix>[0-9]*`),
/// naturally sorted; none when `dir` does not exist.
fn numbered(dir: &Path, prefix: &str) -> Result<Vec<String>, CollectError> {
    let names = list_prefixed(dir, prefix).map_err(|e| CollectError::io(dir, e))?;
    Ok(names
        .into_iter()
        .filter(|n| is_numbered(n, prefix))
        .collect())
}

/// True for `<prefix>` followed by a digit and anything.
pub(crate) fn is_numbered(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix)
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
}

/// A base-10 signed integer (Go's `strconv.ParseInt(s, 10, 64)`).
pub(crate) fn parse_int(s: &str) -> Option<i64> {
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_entries() {
        assert!(is_numbered("thermal_zone0", "thermal_zone"));
        assert!(is_numbered("thermal_zone12x", "thermal_zone"));
        assert!(!is_numbered("thermal_zone", "thermal_zone"));
        assert!(!is_numbered("thermal_zonex", "thermal_zone"));
        assert!(!is_numbered("cooling_device0", "thermal_zone"));
    }

    #[test]
    fn parses_cooling_devices() {
        assert_eq!(
            parse_cooling_device("cpufreq-cpu0".into(), "5", "0"),
            Ok(CoolingDevice {
                kind: "cpufreq-cpu0".into(),
                cur_state: 0,
                max_state: 5
            })
        );
        // intel_powerclamp reports -1.
        assert_eq!(
            parse_cooling_device("intel_powerclamp".into(), "50", "-1").map(|d| d.cur_state),
            Ok(-1)
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_cooling_device("x".into(), "", "0").is_err());
        assert!(parse_cooling_device("x".into(), "3", "1.5").is_err());
        assert!(parse_cooling_device("x".into(), "99999999999999999999", "0").is_err());
        assert_eq!(parse_int("47712"), Some(47712));
        assert_eq!(parse_int("-2500"), Some(-2500));
        assert_eq!(parse_int("47.7"), None);
        assert_eq!(parse_int(""), None);
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
            ["node_thermal_zone_temp{type=cpu-thermal,zone=0} 47.712"]
        );
        let (r, rock) = run_fixture("rock64");
        assert!(r.is_ok());
        assert_eq!(
            rock,
            [
                "node_cooling_device_cur_state{name=0,type=cpufreq-cpu0} 0",
                "node_cooling_device_cur_state{name=1,type=devfreq-ff300000.gpu} 0",
                "node_cooling_device_max_state{name=0,type=cpufreq-cpu0} 5",
                "node_cooling_device_max_state{name=1,type=devfreq-ff300000.gpu} 3",
                "node_thermal_zone_temp{type=soc-thermal,zone=0} 46.818",
            ]
        );
        // No thermal class: nothing, and no failure (as node_exporter).
        let (r, none) = run_fixture("no-such-board");
        assert!(r.is_ok());
        assert!(none.is_empty());
    }
}
