//! cpufreq: `/sys/devices/system/cpu/cpuN/cpufreq/*` → node_exporter's
//! per-CPU frequency gauges, `{cpu}` labelled, kHz × 1000 = Hz:
//!
//! | file                          | metric                                   |
//! |-------------------------------|------------------------------------------|
//! | `cpuinfo_cur_freq` (root only)| `node_cpu_frequency_hertz`               |
//! | `cpuinfo_avg_freq`            | `node_cpu_frequency_avg_hertz`           |
//! | `cpuinfo_min_freq`            | `node_cpu_frequency_min_hertz`           |
//! | `cpuinfo_max_freq`            | `node_cpu_frequency_max_hertz`           |
//! | `scaling_cur_freq`            | `node_cpu_scaling_frequency_hertz`       |
//! | `scaling_min_freq`            | `node_cpu_scaling_frequency_min_hertz`   |
//! | `scaling_max_freq`            | `node_cpu_scaling_frequency_max_hertz`   |
//! | `scaling_governor` + `scaling_available_governors` | `node_cpu_scaling_governor{cpu,governor}`: one series per available governor, 1 for the active one |
//!
//! A file that is missing or unreadable (`cpuinfo_cur_freq` is mode 0400)
//! is skipped; a malformed number fails the collector. CPUs listed in
//! `/sys/devices/system/cpu/offline` and CPUs without a `cpufreq`
//! directory are skipped. Unlike node_exporter, a missing `offline` file
//! or missing governor files are tolerated rather than failing the scrape.

use std::io;
use std::path::Path;

use super::{CollectError, Ctx, Out};

/// The numeric files, their metric names and help texts.
const FREQ_FILES: [(&str, &str, &str); 7] = [
    (
        "cpuinfo_cur_freq",
        "node_cpu_frequency_hertz",
        "Current CPU thread frequency in hertz.",
    ),
    (
        "cpuinfo_avg_freq",
        "node_cpu_frequency_avg_hertz",
        "Average CPU thread frequency in hertz.",
    ),
    (
        "cpuinfo_min_freq",
        "node_cpu_frequency_min_hertz",
        "Minimum CPU thread frequency in hertz.",
    ),
    (
        "cpuinfo_max_freq",
        "node_cpu_frequency_max_hertz",
        "Maximum CPU thread frequency in hertz.",
    ),
    (
        "scaling_cur_freq",
        "node_cpu_scaling_frequency_hertz",
        "Current scaled CPU thread frequency in hertz.",
    ),
    (
        "scaling_min_freq",
        "node_cpu_scaling_frequency_min_hertz",
        "Minimum scaled CPU thread frequency in hertz.",
    ),
    (
        "scaling_max_freq",
        "node_cpu_scaling_frequency_max_hertz",
        "Maximum scaled CPU thread frequency in hertz.",
    ),
];

/// Reads every online CPU's cpufreq directory. Like node_exporter, a
/// malformed file fails the whole collector and exports nothing.
pub(crate) fn update(ctx: &Ctx<'_>, out: &mut Out<'_>) -> Result<(), CollectError> {
    let mut samples = Vec::new();
    collect(ctx, &mut Out::new(&mut samples))?;
    for s in samples {
        out.push(s);
    }
    Ok(())
}

fn collect(ctx: &Ctx<'_>, out: &mut Out<'_>) -> Result<(), CollectError> {
    let cpu_dir = ctx.root.sys("devices/system/cpu");
    let cpus = super::cpu::cpu_dirs(&cpu_dir).map_err(|e| CollectError::io(&cpu_dir, e))?;
    if cpus.is_empty() {
        return Err(CollectError::NoData(format!(
            "{}: no cpu directories",
            cpu_dir.display()
        )));
    }
    let offline_path = cpu_dir.join("offline");
    let offline = match std::fs::read_to_string(&offline_path) {
        Ok(t) => {
            super::cpu::parse_cpu_list(&t).map_err(|e| CollectError::parse(&offline_path, e))?
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(CollectError::io(&offline_path, e)),
    };
    for name in &cpus {
        let id = &name[3..];
        if id.parse::<u32>().is_ok_and(|n| offline.contains(&n)) {
            continue;
        }
        let dir = cpu_dir.join(name).join("cpufreq");
        match std::fs::metadata(&dir) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(CollectError::io(&dir, e)),
        }
        for (file, metric, help) in FREQ_FILES {
            if let Some(khz) = read_khz(&dir.join(file))? {
                out.gauge(metric, help, &[("cpu", id)], khz as f64 * 1000.0);
            }
        }
        let governor = read_string(&dir.join("scaling_governor"))?;
        if !governor.is_empty() {
            let available = read_string(&dir.join("scaling_available_governors"))?;
            for (g, active) in governors(&governor, &available) {
                out.gauge(
                    "node_cpu_scaling_governor",
                    "Current enabled CPU frequency governor.",
                    &[("cpu", id), ("governor", g)],
                    if active { 1.0 } else { 0.0 },
                );
            }
        }
    }
    Ok(())
}

/// Reads a kHz file: `None` when missing or not readable, an error when malformed.
fn read_khz(path: &Path) -> Result<Option<u64>, CollectError> {
    match std::fs::read_to_string(path) {
        Ok(t) => parse_khz(&t)
            .map(Some)
            .map_err(|e| CollectError::parse(path, e)),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
            ) =>
        {
            Ok(None)
        }
        // Some drivers refuse to report a current frequency (EINVAL, EBUSY);
        // node_exporter fails the scrape then, which loses every other value.
        Err(e) => Err(CollectError::io(path, e)),
    }
}

/// Reads a string attribute, trimmed; missing or unreadable is empty.
fn read_string(path: &Path) -> Result<String, CollectError> {
    match super::root::read_trim(path) {
        Ok(s) => Ok(s.trim().to_string()),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
            ) =>
        {
            Ok(String::new())
        }
        Err(e) => Err(CollectError::io(path, e)),
    }
}

/// Parses a cpufreq kHz value.
pub(crate) fn parse_khz(text: &str) -> Result<u64, String> {
    let t = text.trim();
    t.parse().map_err(|_| format!("invalid frequency {t:?}"))
}

/// The `node_cpu_scaling_governor` series: each available governor (split
/// on single spaces, as node_exporter does) and whether it is the active one.
pub(crate) fn governors<'a>(active: &str, available: &'a str) -> Vec<(&'a str, bool)> {
    available
        .trim()
        .split(' ')
        .map(|g| (g, g == active.trim()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_khz() {
        assert_eq!(parse_khz("1800000\n").unwrap(), 1_800_000);
    }

    #[test]
    fn rejects_garbage_khz() {
        assert!(parse_khz("<unknown>\n").is_err());
        assert!(parse_khz("").is_err());
        assert!(parse_khz("-1").is_err());
    }

    #[test]
    fn one_series_per_available_governor() {
        let g = governors(
            "ondemand",
            "conservative ondemand userspace powersave performance schedutil \n",
        );
        assert_eq!(g.len(), 6);
        assert_eq!(
            g.iter().filter(|(_, a)| *a).collect::<Vec<_>>(),
            vec![&("ondemand", true)]
        );
        assert_eq!(g[0], ("conservative", false));
        // a governor missing from the list gets no series of its own
        assert!(governors("custom", "performance").iter().all(|(_, a)| !a));
    }
}
