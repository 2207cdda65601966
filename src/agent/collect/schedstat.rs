//! schedstat: `/proc/schedstat` `cpuN` lines → `node_schedstat_running_seconds_total`,
//! `node_schedstat_waiting_seconds_total` (ns / 1e9) and
//! `node_schedstat_timeslices_total`, all counters labelled `{cpu}`.
//!
//! A `cpuN` line (schedstat versions 15–17 alike) holds nine numbers; the
//! last three are the time spent running tasks, the time tasks waited to
//! run (both in nanoseconds since CFS, whatever the old docs say) and the
//! number of timeslices run. `domainN` lines are ignored. A missing file
//! (kernel without `CONFIG_SCHEDSTATS`) means no data.

use super::{CollectError, Ctx, Out};

/// One `cpuN` line.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CpuSched {
    /// The N of `cpuN`, as written.
    pub cpu: String,
    /// Time spent running tasks, ns.
    pub running_ns: u64,
    /// Time tasks spent waiting for this CPU, ns.
    pub waiting_ns: u64,
    /// Timeslices run.
    pub timeslices: u64,
}

/// Reads `/proc/schedstat`.
pub(crate) fn update(ctx: &Ctx<'_>, out: &mut Out<'_>) -> Result<(), CollectError> {
    let path = ctx.root.proc("schedstat");
    let text = super::root::read(&path)?;
    let cpus = parse(&text).map_err(|e| CollectError::parse(&path, e))?;
    for c in &cpus {
        let l = [("cpu", c.cpu.as_str())];
        out.counter(
            "node_schedstat_running_seconds_total",
            "Number of seconds CPU spent running a process.",
            &l,
            c.running_ns as f64 / 1e9,
        );
        out.counter(
            "node_schedstat_waiting_seconds_total",
            "Number of seconds spent by processing waiting for this CPU.",
            &l,
            c.waiting_ns as f64 / 1e9,
        );
        out.counter(
            "node_schedstat_timeslices_total",
            "Number of timeslices executed by CPU.",
            &l,
            c.timeslices as f64,
        );
    }
    Ok(())
}

/// Parses the `cpuN` lines. As in node_exporter (procfs), a line that does
/// not have nine numbers after `cpuN` is skipped; a file without any usable
/// `cpuN` line is an error (node_exporter would export nothing and succeed).
pub(crate) fn parse(text: &str) -> Result<Vec<CpuSched>, String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut f = line.split_ascii_whitespace();
        let Some(cpu) = f.next().and_then(|n| n.strip_prefix("cpu")) else {
            continue;
        };
        if cpu.is_empty() || !cpu.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let nums: Vec<u64> = f.take(9).map_while(|s| s.parse().ok()).collect();
        let [_, _, _, _, _, _, running_ns, waiting_ns, timeslices] = nums[..] else {
            continue;
        };
        out.push(CpuSched {
            cpu: cpu.to_string(),
            running_ns,
            waiting_ns,
            timeslices,
        });
    }
    if out.is_empty() {
        return Err("no cpu lines".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V15: &str = "version 15
timestamp 4321187614
cpu0 0 0 0 0 0 0 6134572183105 1203968211984 21864322
domain0 0f 418776 411307 6384 9187325 1148 16 8 411234 2391 2276 97 93584 20 0 0 2276 370011 351117 16183 1849532 2861 0 0 351117 0 0 0 0 0 0 0 0 0 27621 1247 0
cpu1 0 0 0 0 0 0 5977210043719 1130842774533 20413007
";

    #[test]
    fn parses_cpu_lines() {
        let c = parse(V15).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(
            c[0],
            CpuSched {
                cpu: "0".into(),
                running_ns: 6134572183105,
                waiting_ns: 1203968211984,
                timeslices: 21864322
            }
        );
        assert_eq!(c[1].cpu, "1");
    }

    #[test]
    fn skips_short_lines_and_rejects_garbage() {
        let c = parse("cpu0 1 2 3\ncpu1 0 0 0 0 0 0 1 2 3\n").unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].cpu, "1");
        assert!(parse("cpu0 0 0 0 0 0 0 x 2 3\n").is_err());
        assert!(parse("version 15\ntimestamp 1\n").is_err());
        assert!(parse("").is_err());
    }
}
