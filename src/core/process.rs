//! `process_*` of the running process, as every Prometheus client library
//! exports them: both binaries report these (Prometheus does, and dashboards
//! 1860 and 9628 chart them).
//!
//! They always describe this process, so they read the real `/proc/self`,
//! not a configured procfs root (client_golang does the same).

use std::fs;

use procfs_core::process::{LimitValue, Limits, Stat};
use procfs_core::FromRead;

use crate::metric::Out;

/// Appends `process_*` alone (picket-hub exports these too, as Prometheus
/// does).
pub fn collect(out: &mut Out<'_>) {
    // SAFETY: sysconf has no preconditions; it only reads configuration.
    let (ticks, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    let (ticks, page) = (ticks.max(1) as f64, page.max(1) as f64);

    if let Ok(Ok(stat)) = fs::read("/proc/self/stat").map(|b| Stat::from_read(&b[..])) {
        out.counter(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
            &[],
            (stat.utime + stat.stime) as f64 / ticks,
        );
        out.gauge(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            &[],
            stat.vsize as f64,
        );
        out.gauge(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            &[],
            stat.rss as f64 * page,
        );
        if let Some(btime) = boot_time() {
            out.gauge(
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                &[],
                btime + stat.starttime as f64 / ticks,
            );
        }
    }
    if let Ok(rd) = fs::read_dir("/proc/self/fd") {
        out.gauge(
            "process_open_fds",
            "Number of open file descriptors.",
            &[],
            rd.count() as f64,
        );
    }
    if let Ok(Ok(limits)) = fs::read("/proc/self/limits").map(|b| Limits::from_read(&b[..])) {
        out.gauge(
            "process_max_fds",
            "Maximum number of open file descriptors.",
            &[],
            limit(&limits.max_open_files.soft_limit),
        );
        out.gauge(
            "process_virtual_memory_max_bytes",
            "Maximum amount of virtual memory available in bytes.",
            &[],
            limit(&limits.max_address_space.soft_limit),
        );
    }
}

/// "unlimited" is reported as 2^64-1, as Go's procfs does.
fn limit(v: &LimitValue) -> f64 {
    match v {
        LimitValue::Unlimited => u64::MAX as f64,
        LimitValue::Value(n) => *n as f64,
    }
}

/// The boot time never changes; /proc/stat is one of the dearer files to
/// read (the kernel sums every IRQ), so it is read once.
fn boot_time() -> Option<f64> {
    static BOOT: std::sync::OnceLock<Option<f64>> = std::sync::OnceLock::new();
    *BOOT.get_or_init(read_boot_time)
}

fn read_boot_time() -> Option<f64> {
    let text = fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().find(|l| l.starts_with("btime "))?;
    line[6..].trim().parse().ok()
}
