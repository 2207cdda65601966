//! cpu: `/proc/stat` `cpuN` lines and `/sys/devices/system/cpu` →
//! `node_cpu_seconds_total{cpu,mode}`, `node_cpu_guest_seconds_total{cpu,mode}`,
//! `node_cpu_isolated{cpu}` and `node_cpu_online{cpu}`, as node_exporter.
//!
//! - Seconds are ticks / USER_HZ (fixed 100, see [`super::stat::USER_HZ`]);
//!   the `cpu` label is the number from the line (ids may have gaps).
//! - Like node_exporter, each CPU's counters are kept monotonic across
//!   scrapes: a value that goes down is held at its previous value, and an
//!   idle counter that drops by 3 s or more (a CPU hotplugged back) resets
//!   that CPU. CPUs that vanish from `/proc/stat` are forgotten.
//! - `node_cpu_isolated` has one series (value 1) per CPU listed in
//!   `isolated`; a missing file exports nothing.
//! - `node_cpu_online` (node_exporter ≥ 1.9) has one series per `cpuN`
//!   directory, 1 when its `online` file reads `1`. When `cpu0` has no
//!   `online` file (x86 without cpu0 hotplug, or arm64 boards whose CPUs
//!   cannot be offlined, such as the Pi's spin-table boot) nothing is exported.
//! - Not implemented: `node_cpu_{core,package}_throttles_total`
//!   (`thermal_throttle/` exists on x86 only, so node_exporter exports
//!   nothing on ARM either) and the opt-in `--collector.cpu.info`
//!   (`node_cpu_info`, `node_cpu_flag_info`, `node_cpu_bug_info`).
//!   `node_cpu_guest_seconds_total` is always on (node_exporter's
//!   `--collector.cpu.guest` defaults to true).

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::stat::CpuTimes;
use super::{CollectError, Ctx, Out};

/// Idle may go back this many seconds before a CPU's cache is reset.
const JUMP_BACK_SECONDS: f64 = 3.0;

/// Last exported times per CPU, per procfs root (fixture trees in one
/// process must not share state).
static CACHE: Mutex<BTreeMap<PathBuf, BTreeMap<i64, CpuTimes>>> = Mutex::new(BTreeMap::new());

/// Reads `/proc/stat` and the CPU sysfs directory.
pub(crate) fn update(ctx: &Ctx<'_>, out: &mut Out<'_>) -> Result<(), CollectError> {
    let path = ctx.root.proc("stat");
    let text = super::root::read(&path)?;
    let st = super::stat::parse(&text).map_err(|e| CollectError::parse(&path, e))?;
    if st.cpus.is_empty() {
        return Err(CollectError::parse(&path, "no cpuN lines"));
    }

    let current = {
        let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
        let per_root = cache.entry(ctx.root.procfs.clone()).or_default();
        merge(per_root, &st.cpus);
        per_root.clone()
    };
    const SECONDS_HELP: &str = "Seconds the CPUs spent in each mode.";
    const GUEST_HELP: &str = "Seconds the CPUs spent in guests (VMs) for each mode.";
    for (id, t) in &current {
        let cpu = id.to_string();
        for (mode, v) in [
            ("user", t.user),
            ("nice", t.nice),
            ("system", t.system),
            ("idle", t.idle),
            ("iowait", t.iowait),
            ("irq", t.irq),
            ("softirq", t.softirq),
            ("steal", t.steal),
        ] {
            out.counter(
                "node_cpu_seconds_total",
                SECONDS_HELP,
                &[("cpu", &cpu), ("mode", mode)],
                v,
            );
        }
        for (mode, v) in [("user", t.guest), ("nice", t.guest_nice)] {
            out.counter(
                "node_cpu_guest_seconds_total",
                GUEST_HELP,
                &[("cpu", &cpu), ("mode", mode)],
                v,
            );
        }
    }

    let cpu_dir = ctx.root.sys("devices/system/cpu");
    let isolated = update_isolated(&cpu_dir.join("isolated"), out);
    update_online(&cpu_dir, out)?;
    isolated
}

/// Exports `node_cpu_isolated` from the `isolated` CPU list.
fn update_isolated(path: &Path, out: &mut Out<'_>) -> Result<(), CollectError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(CollectError::io(path, e)),
    };
    let cpus = parse_cpu_list(&text).map_err(|e| CollectError::parse(path, e))?;
    for cpu in cpus {
        out.gauge(
            "node_cpu_isolated",
            "Whether each core is isolated, information from /sys/devices/system/cpu/isolated.",
            &[("cpu", &cpu.to_string())],
            1.0,
        );
    }
    Ok(())
}

/// Exports `node_cpu_online` for every `cpuN` directory, unless `cpu0` has no `online` file.
fn update_online(cpu_dir: &Path, out: &mut Out<'_>) -> Result<(), CollectError> {
    let cpus = cpu_dirs(cpu_dir).map_err(|e| CollectError::io(cpu_dir, e))?;
    // node_exporter looks at the first directory in glob (byte) order.
    let Some(first) = cpus.iter().min() else {
        return Ok(());
    };
    if let Err(e) = std::fs::metadata(cpu_dir.join(first).join("online")) {
        if e.kind() == io::ErrorKind::NotFound {
            return Ok(());
        }
    }
    for name in &cpus {
        let online = super::root::read_trim(&cpu_dir.join(name).join("online"))
            .map(|s| s == "1")
            .unwrap_or(false);
        out.gauge(
            "node_cpu_online",
            "CPUs that are online and being scheduled.",
            &[("cpu", &name[3..])],
            if online { 1.0 } else { 0.0 },
        );
    }
    Ok(())
}

/// Names of the `cpuN` entries (N all digits) of the CPU sysfs directory,
/// in natural order; a missing directory is an empty list. Shared with cpufreq.
pub(crate) fn cpu_dirs(cpu_dir: &Path) -> io::Result<Vec<String>> {
    let mut names = super::root::list_prefixed(cpu_dir, "cpu")?;
    names.retain(|n| n.len() > 3 && n.bytes().skip(3).all(|b| b.is_ascii_digit()));
    Ok(names)
}

/// Folds a new `/proc/stat` reading into the per-CPU cache the way
/// node_exporter does, so exported counters never go backwards.
pub(crate) fn merge(cache: &mut BTreeMap<i64, CpuTimes>, new: &[(i64, CpuTimes)]) {
    for &(id, n) in new {
        let mut c = cache.get(&id).copied().unwrap_or_default();
        if c.idle - n.idle >= JUMP_BACK_SECONDS {
            log::debug!(
                "cpu {id}: idle jumped back from {} to {}, resetting its stats",
                c.idle,
                n.idle
            );
            c = CpuTimes::default();
        }
        for (old, new) in [
            (&mut c.idle, n.idle),
            (&mut c.user, n.user),
            (&mut c.nice, n.nice),
            (&mut c.system, n.system),
            (&mut c.iowait, n.iowait),
            (&mut c.irq, n.irq),
            (&mut c.softirq, n.softirq),
            (&mut c.steal, n.steal),
            (&mut c.guest, n.guest),
            (&mut c.guest_nice, n.guest_nice),
        ] {
            if new >= *old {
                *old = new;
            }
        }
        cache.insert(id, c);
    }
    cache.retain(|id, _| new.iter().any(|(n, _)| n == id));
}

/// Parses a kernel CPU list such as `0-2,5` (the sysfs `isolated`,
/// `offline` and `online` files); empty means none. Shared with cpufreq.
pub(crate) fn parse_cpu_list(text: &str) -> Result<Vec<u32>, String> {
    // CPU numbers are below this (the kernel's NR_CPUS limit is 8192).
    const MAX_CPU: u32 = 1 << 16;
    let mut cpus = Vec::new();
    for part in text.trim().split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let num = |s: &str| match s.parse::<u32>() {
            Ok(n) if n < MAX_CPU => Ok(n),
            _ => Err(format!("invalid cpu number {s:?} in {part:?}")),
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                cpus.extend(a..=b);
            }
            None => cpus.push(num(part)?),
        }
    }
    Ok(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn times(idle: f64, user: f64) -> CpuTimes {
        CpuTimes {
            idle,
            user,
            ..Default::default()
        }
    }

    #[test]
    fn merge_keeps_counters_monotonic() {
        let mut cache = BTreeMap::new();
        merge(
            &mut cache,
            &[(0, times(100.0, 50.0)), (1, times(100.0, 50.0))],
        );
        // user goes back on cpu0: held; idle goes back by < 3 s: held
        merge(
            &mut cache,
            &[(0, times(99.0, 40.0)), (1, times(101.0, 51.0))],
        );
        assert_eq!(cache[&0], times(100.0, 50.0));
        assert_eq!(cache[&1], times(101.0, 51.0));
        // idle goes back by >= 3 s: hotplug, reset to the new values
        merge(
            &mut cache,
            &[(0, times(10.0, 1.0)), (1, times(102.0, 52.0))],
        );
        assert_eq!(cache[&0], times(10.0, 1.0));
        // cpu 1 goes offline: dropped
        merge(&mut cache, &[(0, times(11.0, 2.0))]);
        assert_eq!(cache.keys().copied().collect::<Vec<_>>(), vec![0]);
    }

    #[test]
    fn parses_cpu_lists() {
        assert_eq!(parse_cpu_list("\n").unwrap(), Vec::<u32>::new());
        assert_eq!(parse_cpu_list("0-2,5\n").unwrap(), vec![0, 1, 2, 5]);
        assert_eq!(parse_cpu_list("3").unwrap(), vec![3]);
        assert_eq!(parse_cpu_list("3-1").unwrap(), Vec::<u32>::new());
    }

    #[test]
    fn rejects_garbage_cpu_lists() {
        assert!(parse_cpu_list("a-b").is_err());
        assert!(parse_cpu_list("1-2-3").is_err());
        assert!(parse_cpu_list("0-4294967295").is_err());
        assert!(parse_cpu_list("-1").is_err());
    }
}
