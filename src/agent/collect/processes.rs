//! processes: `/proc/[pid]/stat`, `/proc/[pid]/task/[tid]/stat` and
//! `/proc/sys/kernel/{threads-max,pid_max}` → process and thread counts.
//!
//! Exports, as node_exporter's `processes_linux.go` (same in v1.5.0 and
//! v1.12), all gauges: `node_processes_threads` (sum of `num_threads` over
//! all processes), `node_processes_max_threads`, `node_processes_state{state}`
//! and `node_processes_threads_state{thread_state}` (one series per state
//! letter seen, e.g. `R`, `S`, `D`, `I`, `Z`; the process's own task counts
//! with the process's state), `node_processes_pids` and
//! `node_processes_max_processes`.
//!
//! A process or thread that vanishes while being read (`ENOENT`/`ESRCH`) is
//! skipped; any other read error or a malformed stat line fails the
//! collector, as in node_exporter (metrics already written stay, as there).
//! The command name may hold spaces and parentheses, so the fields are taken
//! after the *last* `)`. Numbers are parsed as 64-bit: Go's procfs reads
//! them into `int`/`uint`, which overflow on 32-bit ARM (node_exporter#2856);
//! only the state and `num_threads` fields are read here, so unrelated
//! fields (huge `vsize`, `rsslim`) can never fail the scrape. procfs-core's
//! `Stat` parser is not used: it needs 37 fields and slices around the
//! parentheses without bounds checks.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;

use super::{CollectError, Ctx, Out};

/// Counts processes and threads.
pub(crate) fn update(ctx: &Ctx<'_>, out: &mut Out<'_>) -> Result<(), CollectError> {
    let counts = count(&ctx.root.procfs)?;
    out.gauge(
        "node_processes_threads",
        "Allocated threads in system",
        &[],
        counts.threads as f64,
    );
    let max_threads = read_limit(&ctx.root.proc("sys/kernel/threads-max"))?;
    out.gauge(
        "node_processes_max_threads",
        "Limit of threads in the system",
        &[],
        max_threads as f64,
    );
    for (state, n) in &counts.states {
        out.gauge(
            "node_processes_state",
            "Number of processes in each state.",
            &[("state", state)],
            *n as f64,
        );
    }
    for (state, n) in &counts.thread_states {
        out.gauge(
            "node_processes_threads_state",
            "Number of threads in each state.",
            &[("thread_state", state)],
            *n as f64,
        );
    }
    let pid_max = read_limit(&ctx.root.proc("sys/kernel/pid_max"))?;
    out.gauge(
        "node_processes_pids",
        "Number of PIDs",
        &[],
        counts.pids as f64,
    );
    out.gauge(
        "node_processes_max_processes",
        "Number of max PIDs limit",
        &[],
        pid_max as f64,
    );
    Ok(())
}

/// What the walk over `/proc` found.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Counts {
    /// Processes whose stat could be read.
    pub pids: u64,
    /// Sum of their `num_threads`.
    pub threads: i64,
    /// Processes per state.
    pub states: BTreeMap<String, u64>,
    /// Threads per state.
    pub thread_states: BTreeMap<String, u64>,
}

/// Walks `<procfs>/[pid]` and `<procfs>/[pid]/task/[tid]`.
fn count(procfs: &Path) -> Result<Counts, CollectError> {
    let mut c = Counts::default();
    let pids = numeric_entries(procfs).map_err(|e| CollectError::io(procfs, e))?;
    for pid in pids {
        let dir = procfs.join(pid.to_string());
        let stat_path = dir.join("stat");
        let Some(stat) = read_stat(&stat_path)? else {
            log::debug!("processes: pid {pid} vanished");
            continue;
        };
        c.pids += 1;
        *c.states.entry(stat.state.clone()).or_default() += 1;
        c.threads = c.threads.saturating_add(stat.num_threads);

        let task = dir.join("task");
        let tids = match numeric_entries(&task) {
            Ok(t) => t,
            Err(e) if vanished(&e) => continue,
            Err(e) => return Err(CollectError::io(&task, e)),
        };
        for tid in tids {
            if tid == pid {
                *c.thread_states.entry(stat.state.clone()).or_default() += 1;
                continue;
            }
            if let Some(t) = read_stat(&task.join(tid.to_string()).join("stat"))? {
                *c.thread_states.entry(t.state).or_default() += 1;
            }
        }
    }
    Ok(c)
}

/// The entries of `dir` whose names are integers (pids or tids).
fn numeric_entries(dir: &Path) -> io::Result<Vec<i64>> {
    let mut ids = Vec::new();
    for entry in fs::read_dir(dir)? {
        if let Some(id) = entry?.file_name().to_str().and_then(|n| n.parse().ok()) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// True for the errors of a process that exited while we read it.
fn vanished(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ESRCH)
}

/// Reads and parses one stat file; `None` when the task vanished.
fn read_stat(path: &Path) -> Result<Option<Stat>, CollectError> {
    match fs::read(path) {
        Ok(b) => parse_stat(&b)
            .map(Some)
            .map_err(|e| CollectError::parse(path, e)),
        Err(e) if vanished(&e) => Ok(None),
        Err(e) => Err(CollectError::io(path, e)),
    }
}

/// The fields of `/proc/[pid]/stat` this collector uses.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stat {
    /// Field 3, e.g. `S`.
    pub state: String,
    /// Field 20.
    pub num_threads: i64,
}

/// Parses a stat line: `pid (comm) state ppid … num_threads …`.
pub(crate) fn parse_stat(line: &[u8]) -> Result<Stat, String> {
    let open = line.iter().position(|&b| b == b'(');
    let close = line.iter().rposition(|&b| b == b')');
    let rest = match (open, close) {
        (Some(o), Some(c)) if o < c => line.get(c + 1..).unwrap_or_default(),
        _ => return Err("unexpected format, couldn't extract comm".into()),
    };
    let rest = String::from_utf8_lossy(rest);
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next().ok_or("no state field")?;
    // Fields 4..=19 (ppid … nice), then num_threads.
    let num_threads = fields.nth(16).ok_or("too few fields")?;
    let num_threads = num_threads
        .parse()
        .map_err(|_| format!("invalid num_threads {num_threads:?}"))?;
    Ok(Stat {
        state: state.to_string(),
        num_threads,
    })
}

/// Reads `threads-max` or `pid_max`.
fn read_limit(path: &Path) -> Result<u64, CollectError> {
    let text = super::root::read(path)?;
    super::parse_u64(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat() {
        let s = parse_stat(b"1 (systemd) S 0 1 1 0 -1 4194560 9462 1203544 93 1133 52 74 5213 1571 20 0 1 0 8 171737088 2836 18446744073709551615 1 1 0 0 0 0 671173123 4096 1260 0 0 0 17 2 0 0 0 0 0 0 0 0 0 0 0 0 0\n").unwrap();
        assert_eq!(
            s,
            Stat {
                state: "S".into(),
                num_threads: 1
            }
        );
    }

    #[test]
    fn comm_with_spaces_and_parens() {
        let s = parse_stat(b"816 (tmux: server) (x)) R 1 816 816 0 -1 4194560 15687636 1849 654 44 256180 49710 2 8 20 0 11 0 1639 9950425088 131873 18446744073709551615 1 1 0 0 0 0 0 16781312 17923 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0").unwrap();
        assert_eq!(
            s,
            Stat {
                state: "R".into(),
                num_threads: 11
            }
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_stat(b"").is_err());
        assert!(parse_stat(b"12 no parens S 1 2 3").is_err());
        assert!(parse_stat(b")12 (x S").is_err());
        assert!(parse_stat(b"12 (x)").is_err());
        assert!(parse_stat(b"12 (x) S 1 2 3").is_err());
        assert!(parse_stat(b"12 (x) S 0 1 1 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 many 0").is_err());
        assert!(parse_stat(b"(").is_err());
    }

    #[test]
    fn counts_fixture_tree() {
        let proc = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/pi4/proc"
        ));
        let c = count(proc).unwrap();
        assert!(c.pids > 0);
        assert!(c.threads >= c.pids as i64);
        assert_eq!(c.thread_states.values().sum::<u64>() as i64, c.threads);
        assert!(count(Path::new("/nonexistent/proc")).is_err());
    }
}
