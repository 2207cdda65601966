//! stat: `/proc/stat` → `node_boot_time_seconds`, `node_context_switches_total`,
//! `node_forks_total`, `node_intr_total`, `node_procs_running`, `node_procs_blocked`.
//!
//! The per-CPU `cpuN` lines are parsed here too and used by the cpu
//! collector ([`parse`] returns them). node_exporter's opt-in
//! `--collector.stat.softirq` (`node_softirqs_total{vector}`) is not
//! implemented: the `softirq` line is ignored.

use super::{CollectError, Ctx, Out};

/// Clock ticks per second of the `cpu` lines. The kernel always reports
/// USER_HZ = 100 to user space on Linux; node_exporter (procfs) uses the same
/// fixed value rather than `sysconf(_SC_CLK_TCK)`.
pub(crate) const USER_HZ: f64 = 100.0;

/// Seconds one CPU spent in each mode (a `cpuN` line divided by [`USER_HZ`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct CpuTimes {
    /// Normal processes in user mode (includes guest time).
    pub user: f64,
    /// Niced processes in user mode (includes guest_nice time).
    pub nice: f64,
    /// Kernel mode.
    pub system: f64,
    /// Idle.
    pub idle: f64,
    /// Waiting for I/O.
    pub iowait: f64,
    /// Servicing hard interrupts.
    pub irq: f64,
    /// Servicing softirqs.
    pub softirq: f64,
    /// Stolen by the hypervisor.
    pub steal: f64,
    /// Running a guest.
    pub guest: f64,
    /// Running a niced guest.
    pub guest_nice: f64,
}

/// What `/proc/stat` holds that node_exporter uses; a key absent from the file is `None`.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ProcStat {
    /// The `cpuN` lines as (N, times), in file order (the summed `cpu` line is left out).
    pub cpus: Vec<(i64, CpuTimes)>,
    /// `btime`: boot time, seconds since the epoch.
    pub btime: Option<u64>,
    /// `intr`: first field, total interrupts serviced.
    pub intr: Option<u64>,
    /// `ctxt`: context switches.
    pub ctxt: Option<u64>,
    /// `processes`: forks since boot.
    pub processes: Option<u64>,
    /// `procs_running`.
    pub procs_running: Option<u64>,
    /// `procs_blocked`.
    pub procs_blocked: Option<u64>,
}

/// Reads `/proc/stat`.
pub(crate) fn update(ctx: &Ctx<'_>, out: &mut Out<'_>) -> Result<(), CollectError> {
    let path = ctx.root.proc("stat");
    let text = super::root::read(&path)?;
    let st = parse(&text).map_err(|e| CollectError::parse(&path, e))?;
    let need = |v: Option<u64>, key: &str| {
        v.map(|v| v as f64)
            .ok_or_else(|| CollectError::parse(&path, format!("no {key:?} line")))
    };
    let intr = need(st.intr, "intr")?;
    let ctxt = need(st.ctxt, "ctxt")?;
    let forks = need(st.processes, "processes")?;
    let btime = need(st.btime, "btime")?;
    let running = need(st.procs_running, "procs_running")?;
    let blocked = need(st.procs_blocked, "procs_blocked")?;
    out.counter(
        "node_intr_total",
        "Total number of interrupts serviced.",
        &[],
        intr,
    );
    out.counter(
        "node_context_switches_total",
        "Total number of context switches.",
        &[],
        ctxt,
    );
    out.counter("node_forks_total", "Total number of forks.", &[], forks);
    out.gauge(
        "node_boot_time_seconds",
        "Node boot time, in unixtime.",
        &[],
        btime,
    );
    out.gauge(
        "node_procs_running",
        "Number of processes in runnable state.",
        &[],
        running,
    );
    out.gauge(
        "node_procs_blocked",
        "Number of processes blocked waiting for I/O to complete.",
        &[],
        blocked,
    );
    Ok(())
}

/// Parses `/proc/stat`. Like node_exporter (procfs), any malformed value of
/// a known key fails the whole file; unknown keys are ignored.
pub(crate) fn parse(text: &str) -> Result<ProcStat, String> {
    let mut st = ProcStat::default();
    for line in text.lines() {
        let mut f = line.split_ascii_whitespace();
        let (Some(key), Some(first)) = (f.next(), f.next()) else {
            continue; // procfs skips lines with fewer than two fields
        };
        let num = |s: &str| {
            s.parse::<u64>()
                .map_err(|_| format!("invalid {key} value {s:?}"))
        };
        match key {
            "btime" => st.btime = Some(num(first)?),
            "ctxt" => st.ctxt = Some(num(first)?),
            "processes" => st.processes = Some(num(first)?),
            "procs_running" => st.procs_running = Some(num(first)?),
            "procs_blocked" => st.procs_blocked = Some(num(first)?),
            "intr" => {
                st.intr = Some(num(first)?);
                // procfs also parses the per-IRQ counts and rejects the file
                // when one is malformed; do the same, without keeping them.
                for v in f {
                    num(v)?;
                }
            }
            "softirq" => {}
            k if k.starts_with("cpu") => {
                let times = parse_cpu_fields(std::iter::once(first).chain(f))
                    .map_err(|e| format!("line {line:?}: {e}"))?;
                if k == "cpu" {
                    continue; // the sum over all CPUs; unused
                }
                let id = k[3..]
                    .parse::<i64>()
                    .map_err(|_| format!("invalid cpu name {k:?}"))?;
                st.cpus.push((id, times));
            }
            _ => {}
        }
    }
    Ok(st)
}

/// Parses the tick counts of a `cpu` line (after the name). Older kernels
/// print fewer columns; missing trailing ones are zero, as in procfs.
fn parse_cpu_fields<'a>(fields: impl Iterator<Item = &'a str>) -> Result<CpuTimes, String> {
    let mut v = [0.0_f64; 10];
    for (slot, field) in v.iter_mut().zip(fields) {
        let ticks: u64 = field
            .parse()
            .map_err(|_| format!("invalid tick count {field:?}"))?;
        *slot = ticks as f64 / USER_HZ;
    }
    let [user, nice, system, idle, iowait, irq, softirq, steal, guest, guest_nice] = v;
    Ok(CpuTimes {
        user,
        nice,
        system,
        idle,
        iowait,
        irq,
        softirq,
        steal,
        guest,
        guest_nice,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  3245139 4789 1604230 104258110 85602 0 395033 0 0 0
cpu0 812345 1203 402117 26063980 21544 0 98811 0 0 0
cpu2 801234 1190 399876 26071456 20981 0 97654 0 12 3
intr 123456 0 5 7
ctxt 456789012
btime 1718862046
processes 2104562
procs_running 2
procs_blocked 1
softirq 98765432 3 23456789 12345 3456789 1234567 0 23456 34567890 1234 23456789
";

    #[test]
    fn parses_keys_and_cpu_lines() {
        let st = parse(STAT).unwrap();
        assert_eq!(st.btime, Some(1718862046));
        assert_eq!(st.intr, Some(123456));
        assert_eq!(st.ctxt, Some(456789012));
        assert_eq!(st.processes, Some(2104562));
        assert_eq!(st.procs_running, Some(2));
        assert_eq!(st.procs_blocked, Some(1));
        // cpu ids come from the line, gaps included
        assert_eq!(st.cpus.iter().map(|c| c.0).collect::<Vec<_>>(), vec![0, 2]);
        let c2 = st.cpus[1].1;
        assert_eq!(c2.user, 8012.34);
        assert_eq!(c2.idle, 260714.56);
        assert_eq!(c2.guest, 0.12);
        assert_eq!(c2.guest_nice, 0.03);
    }

    #[test]
    fn short_cpu_lines_are_zero_filled() {
        let st = parse("cpu0 100 200 300 400\n").unwrap();
        let c = st.cpus[0].1;
        assert_eq!((c.user, c.idle, c.steal), (1.0, 4.0, 0.0));
        assert_eq!(st.btime, None);
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse("cpu0 12 x 3\n").is_err());
        assert!(parse("cpuX 1 2 3\n").is_err());
        assert!(parse("btime soon\n").is_err());
        assert!(parse("intr 10 1 -2\n").is_err());
        assert!(parse("ctxt 99999999999999999999999\n").is_err());
        // truncated: parses, but lacks keys the collector needs
        assert_eq!(parse("cpu0 1 2\nbti").unwrap().btime, None);
        assert_eq!(parse("").unwrap(), ProcStat::default());
    }
}
