//! time: the wall clock and the clocksources, as node_exporter (all gauges):
//!
//! - `node_time_seconds`: system time in seconds since the epoch (float);
//! - `node_time_zone_offset_seconds{time_zone}`: the local zone's
//!   abbreviation and UTC offset now, from localtime_r(3) (`tm_zone`,
//!   `tm_gmtoff`; glibc reads `TZ` or `/etc/localtime` like Go does);
//! - `node_time_clocksource_available_info{device,clocksource}` and
//!   `node_time_clocksource_current_info{device,clocksource}` = 1, from
//!   `/sys/devices/system/clocksource/clocksource*/{available,current}_clocksource`.
//!   As in node_exporter, `device` is the position of the directory in the
//!   lexically sorted list (`0` for the single `clocksource0` every board
//!   has), not the number in its name. On both the Pi 4 and the Rock64 the
//!   only clocksource is `arch_sys_counter` (the Arm generic timer).
//!
//! The two time gauges come from the clock, so fixtures cannot drive them.
//! A missing clocksource directory is not an error (no clocksource series);
//! an unreadable file in one fails the collector after the time gauges, as
//! in node_exporter.

use std::ffi::CStr;
use std::io;
use std::path::Path;

use super::{CollectError, Ctx, Out};

/// Emits the clock, the zone and the clocksources.
pub(crate) fn update(ctx: &Ctx<'_>, out: &mut Out<'_>) -> Result<(), CollectError> {
    let now = picket_core::clock::now_unix()
        .map_err(|e| CollectError::Failed(format!("clock_gettime: {e}")))?;
    out.gauge(
        "node_time_seconds",
        "System time in seconds since epoch (1970).",
        &[],
        now,
    );
    let (zone, offset) = local_zone(now.floor() as i64)
        .map_err(|e| CollectError::Failed(format!("localtime_r: {e}")))?;
    out.gauge(
        "node_time_zone_offset_seconds",
        "System time zone offset in seconds.",
        &[("time_zone", &zone)],
        offset as f64,
    );

    let dir = ctx.root.sys("devices/system/clocksource");
    for (i, name) in clocksource_dirs(&dir)?.iter().enumerate() {
        let device = i.to_string();
        let cs = dir.join(name);
        let read = |f: &str| super::root::read(&cs.join(f));
        let available_text = read("available_clocksource")?;
        let current_text = read("current_clocksource")?;
        let available = parse_available(&available_text);
        let current = parse_current(&current_text);
        for a in available {
            out.gauge(
                "node_time_clocksource_available_info",
                "Available clocksources read from '/sys/devices/system/clocksource'.",
                &[("device", &device), ("clocksource", a)],
                1.0,
            );
        }
        out.gauge(
            "node_time_clocksource_current_info",
            "Current clocksource read from '/sys/devices/system/clocksource'.",
            &[("device", &device), ("clocksource", current)],
            1.0,
        );
    }
    Ok(())
}

/// The `clocksource<digit>*` entries of `dir`, sorted as strings (Go's
/// `filepath.Glob` order); a missing or unreadable directory is empty, as
/// with Glob.
fn clocksource_dirs(dir: &Path) -> Result<Vec<String>, CollectError> {
    let mut names = Vec::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(_) => return Ok(names),
    };
    for entry in rd {
        let entry = entry.map_err(|e| CollectError::io(dir, e))?;
        if let Some(name) = entry.file_name().to_str() {
            if is_clocksource_name(name) {
                names.push(name.to_string());
            }
        }
    }
    names.sort();
    Ok(names)
}

/// True for names matching the glob `clocksource[0-9]*`.
pub(crate) fn is_clocksource_name(name: &str) -> bool {
    name.strip_prefix("clocksource")
        .and_then(|rest| rest.bytes().next())
        .is_some_and(|c| c.is_ascii_digit())
}

/// `available_clocksource`: names separated by spaces (with a trailing one).
pub(crate) fn parse_available(text: &str) -> Vec<&str> {
    text.split_ascii_whitespace().collect()
}

/// `current_clocksource`: one name and a newline.
pub(crate) fn parse_current(text: &str) -> &str {
    text.trim()
}

/// The local time zone abbreviation and its offset east of UTC, in seconds,
/// at `secs` since the epoch.
// `tm_gmtoff` is a C `long`: `i64::from` is the identity on 64-bit targets.
#[allow(clippy::useless_conversion)]
fn local_zone(secs: i64) -> io::Result<(String, i64)> {
    // libc deprecates the name `time_t` on musl builds without
    // --cfg libc_unstable_musl_v1_2 (see src/clock.rs).
    #[allow(deprecated)]
    let t = libc::time_t::try_from(secs)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "time out of range"))?;
    // SAFETY: `tm` is plain old data (integers and a pointer that may be
    // null), so all-zero is a valid value.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call; localtime_r writes only
    // into `tm`. It may read TZ from the environment, which picket never
    // changes at run time.
    if unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
        return Err(io::Error::last_os_error());
    }
    let zone = if tm.tm_zone.is_null() {
        String::new()
    } else {
        // SAFETY: a non-null tm_zone points at a NUL-terminated string owned
        // by the C library that stays valid for the life of the process (or
        // until the next tzset, which nothing in picket calls concurrently).
        unsafe { CStr::from_ptr(tm.tm_zone) }
            .to_string_lossy()
            .into_owned()
    };
    Ok((zone, i64::from(tm.tm_gmtoff)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_clocksource_files() {
        assert_eq!(parse_available("arch_sys_counter \n"), ["arch_sys_counter"]);
        assert_eq!(
            parse_available("tsc hpet acpi_pm \n"),
            ["tsc", "hpet", "acpi_pm"]
        );
        assert_eq!(parse_current("arch_sys_counter\n"), "arch_sys_counter");
    }

    #[test]
    fn tolerates_garbage() {
        assert!(parse_available("").is_empty());
        assert!(parse_available("\n \n").is_empty());
        assert_eq!(parse_current(""), "");
    }

    #[test]
    fn matches_glob() {
        assert!(is_clocksource_name("clocksource0"));
        assert!(is_clocksource_name("clocksource12x"));
        assert!(!is_clocksource_name("clocksource"));
        assert!(!is_clocksource_name("clocksourcex"));
        assert!(!is_clocksource_name("power"));
    }

    #[test]
    fn local_zone_is_sane() {
        let (_, off) = local_zone(1_700_000_000).unwrap();
        assert!(off.abs() <= 14 * 3600);
    }
}
