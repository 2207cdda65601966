//! pressure: `/proc/pressure/{cpu,io,memory,irq}` (PSI, kernel ≥ 4.20, irq
//! ≥ 6.1 with `CONFIG_IRQ_TIME_ACCOUNTING`) → counters in seconds from each
//! line's `total=` (µs), as node_exporter 1.12:
//!
//! - `node_pressure_cpu_waiting_seconds_total` (cpu `some`; the `full` line
//!   kernels ≥ 5.13 print for cpu is ignored, it is always 0 system-wide),
//! - `node_pressure_io_{waiting,stalled}_seconds_total` (io `some`/`full`),
//! - `node_pressure_memory_{waiting,stalled}_seconds_total`,
//! - `node_pressure_irq_stalled_seconds_total` (irq has only `full`; new in
//!   node_exporter 1.9 — 1.5 stops after memory).
//!
//! Missing files are skipped one by one (so an older kernel without `irq`
//! still reports cpu/io/memory); only when none of the four exists does the
//! collector report no data. That is the Raspberry Pi default: its kernels
//! are built with `CONFIG_PSI_DEFAULT_DISABLED`, `/proc/pressure` does not
//! exist until `psi=1` is added to `cmdline.txt`, and
//! `node_scrape_collector_success{collector="pressure"}` is 0. EOPNOTSUPP on
//! read (PSI disabled for a cgroup) is also "no data". A file without its
//! expected `some`/`full` line stops the collector with "no data" (what was
//! emitted before stays), a malformed `some`/`full` line fails it; unknown
//! line prefixes are ignored. All as node_exporter.

use std::io;

use super::{CollectError, Ctx, Out};

/// One PSI file's `total=` values, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Psi {
    /// `some … total=` — at least one task stalled.
    pub some: Option<u64>,
    /// `full … total=` — all non-idle tasks stalled.
    pub full: Option<u64>,
}

const CPU_WAITING: &str = "node_pressure_cpu_waiting_seconds_total";
const CPU_WAITING_HELP: &str = "Total time in seconds that processes have waited for CPU time";
const IO_WAITING: &str = "node_pressure_io_waiting_seconds_total";
const IO_WAITING_HELP: &str =
    "Total time in seconds that processes have waited due to IO congestion";
const IO_STALLED: &str = "node_pressure_io_stalled_seconds_total";
const IO_STALLED_HELP: &str =
    "Total time in seconds no process could make progress due to IO congestion";
const MEM_WAITING: &str = "node_pressure_memory_waiting_seconds_total";
const MEM_WAITING_HELP: &str = "Total time in seconds that processes have waited for memory";
const MEM_STALLED: &str = "node_pressure_memory_stalled_seconds_total";
const MEM_STALLED_HELP: &str =
    "Total time in seconds no process could make progress due to memory congestion";
const IRQ_STALLED: &str = "node_pressure_irq_stalled_seconds_total";
const IRQ_STALLED_HELP: &str =
    "Total time in seconds no process could make progress due to IRQ congestion";

/// Reads the four PSI files that exist.
pub(crate) fn update(ctx: &Ctx<'_>, out: &mut Out<'_>) -> Result<(), CollectError> {
    let mut found = 0;
    for res in ["cpu", "io", "memory", "irq"] {
        let path = ctx.root.proc(&format!("pressure/{res}"));
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {
                return Err(CollectError::NoData(format!(
                    "{}: pressure information is disabled, add psi=1 to the kernel command line",
                    path.display()
                )))
            }
            Err(e) => return Err(CollectError::io(&path, e)),
        };
        let psi = parse(&text).map_err(|e| CollectError::parse(&path, e))?;
        let need = |v: Option<u64>, which: &str| {
            v.map(secs).ok_or_else(|| {
                CollectError::NoData(format!("{}: no '{which}' data", path.display()))
            })
        };
        match res {
            "cpu" => out.counter(CPU_WAITING, CPU_WAITING_HELP, &[], need(psi.some, "some")?),
            "io" => {
                let (some, full) = (need(psi.some, "some")?, need(psi.full, "full")?);
                out.counter(IO_WAITING, IO_WAITING_HELP, &[], some);
                out.counter(IO_STALLED, IO_STALLED_HELP, &[], full);
            }
            "memory" => {
                let (some, full) = (need(psi.some, "some")?, need(psi.full, "full")?);
                out.counter(MEM_WAITING, MEM_WAITING_HELP, &[], some);
                out.counter(MEM_STALLED, MEM_STALLED_HELP, &[], full);
            }
            _ => out.counter(IRQ_STALLED, IRQ_STALLED_HELP, &[], need(psi.full, "full")?),
        }
        found += 1;
    }
    if found == 0 {
        return Err(CollectError::NoData(
            "pressure information is unavailable: needs Linux >= 4.20 with CONFIG_PSI (and psi=1 on Raspberry Pi kernels)"
                .into(),
        ));
    }
    Ok(())
}

/// Microseconds to seconds.
fn secs(us: u64) -> f64 {
    us as f64 / 1000.0 / 1000.0
}

/// Parses a PSI file: `some|full avg10=F avg60=F avg300=F total=N` lines;
/// lines with other prefixes are ignored, a malformed `some`/`full` line is
/// an error.
pub(crate) fn parse(text: &str) -> Result<Psi, String> {
    let mut psi = Psi::default();
    for line in text.lines() {
        let mut f = line.split_ascii_whitespace();
        let slot = match f.next() {
            Some("some") => &mut psi.some,
            Some("full") => &mut psi.full,
            _ => continue,
        };
        for key in ["avg10=", "avg60=", "avg300="] {
            f.next()
                .and_then(|t| t.strip_prefix(key))
                .and_then(|v| v.parse::<f64>().ok())
                .ok_or_else(|| format!("malformed line {line:?}"))?;
        }
        let total = f
            .next()
            .and_then(|t| t.strip_prefix("total="))
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| format!("malformed line {line:?}"))?;
        *slot = Some(total);
    }
    Ok(psi)
}

#[cfg(test)]
mod tests {
    use super::{parse, Psi};

    #[test]
    fn parses_some_and_full() {
        let text = "some avg10=0.52 avg60=0.31 avg300=0.22 total=183475221\n\
                    full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
        assert_eq!(
            parse(text).unwrap(),
            Psi {
                some: Some(183475221),
                full: Some(0)
            }
        );
    }

    #[test]
    fn irq_has_only_full_and_unknown_lines_are_ignored() {
        let text = "full avg10=0.00 avg60=0.00 avg300=0.00 total=4128370\nnew avg10=1\n";
        assert_eq!(
            parse(text).unwrap(),
            Psi {
                some: None,
                full: Some(4128370)
            }
        );
        assert_eq!(parse("").unwrap(), Psi::default());
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse("some avg10=0.00 avg60=0.00 avg300=0.00\n").is_err());
        assert!(parse("some avg10=0.00 avg60=0.00 avg300=0.00 total=-1\n").is_err());
        assert!(parse("full avg10=x avg60=0.00 avg300=0.00 total=1\n").is_err());
        assert!(parse("some total=1 avg10=0.00 avg60=0.00 avg300=0.00\n").is_err());
        assert!(parse("some").is_err());
    }

    #[test]
    fn converts_microseconds() {
        // Two divisions, as node_exporter: the last digit differs from / 1e6.
        assert_eq!(super::secs(183475221), 183.47522099999998);
        assert_eq!(super::secs(0), 0.0);
    }
}
