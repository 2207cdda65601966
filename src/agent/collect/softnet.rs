//! softnet: `/proc/net/softnet_stat` → per-CPU counters
//! `node_softnet_{processed,dropped,times_squeezed,cpu_collision,received_rps,flow_limit_count}_total`
//! and the gauge `node_softnet_backlog_len`, labelled `{cpu}`, as node_exporter ≥ 1.7.
//!
//! One line per CPU of hexadecimal columns; their number grew with the
//! kernel: 9 (2.6.23), 10 (+received_rps, 2.6.39), 11 (+flow_limit_count,
//! 4.18), 13 (+backlog length and the CPU index, 5.14). Missing columns
//! export 0. From 13 columns on the `cpu` label is the index column (lines
//! of offline CPUs are left out by the kernel); before, it is the line number.
//! node_exporter 1.5.0 exported only the first three counters.

use super::{CollectError, Ctx, Out};

/// One line of softnet_stat.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Softnet {
    /// CPU number (index column, or line number on older kernels).
    pub cpu: u64,
    /// Packets processed.
    pub processed: u64,
    /// Packets dropped (backlog full).
    pub dropped: u64,
    /// Times net_rx_action ran out of budget or time.
    pub time_squeezed: u64,
    /// Collisions taking the device lock on transmit (always 0 nowadays).
    pub cpu_collision: u64,
    /// Times this CPU was woken to process RPS packets.
    pub received_rps: u64,
    /// Times the flow limit was reached.
    pub flow_limit_count: u64,
    /// Packets in the backlog queues.
    pub backlog_len: u64,
}

/// Reads `/proc/net/softnet_stat`.
pub(crate) fn update(ctx: &Ctx<'_>, out: &mut Out<'_>) -> Result<(), CollectError> {
    let path = ctx.root.proc("net/softnet_stat");
    let text = super::root::read(&path)?;
    let rows = parse(&text).map_err(|e| CollectError::parse(&path, e))?;
    for r in &rows {
        let cpu = r.cpu.to_string();
        let l = [("cpu", cpu.as_str())];
        for (name, help, v) in [
            (
                "node_softnet_processed_total",
                "Number of processed packets",
                r.processed,
            ),
            (
                "node_softnet_dropped_total",
                "Number of dropped packets",
                r.dropped,
            ),
            (
                "node_softnet_times_squeezed_total",
                "Number of times processing packets ran out of quota",
                r.time_squeezed,
            ),
            (
                "node_softnet_cpu_collision_total",
                "Number of collision occur while obtaining device lock while transmitting",
                r.cpu_collision,
            ),
            (
                "node_softnet_received_rps_total",
                "Number of times cpu woken up received_rps",
                r.received_rps,
            ),
            (
                "node_softnet_flow_limit_count_total",
                "Number of times flow limit has been reached",
                r.flow_limit_count,
            ),
        ] {
            out.counter(name, help, &l, v as f64);
        }
        out.gauge(
            "node_softnet_backlog_len",
            "Softnet backlog status",
            &l,
            r.backlog_len as f64,
        );
    }
    Ok(())
}

/// Parses softnet_stat. Like node_exporter (procfs), a line with fewer
/// than 9 columns or a bad hex number fails the whole file; an empty file
/// is an error too.
pub(crate) fn parse(text: &str) -> Result<Vec<Softnet>, String> {
    let mut rows = Vec::new();
    for (line_no, line) in text.lines().enumerate() {
        let cols: Vec<&str> = line.split_ascii_whitespace().collect();
        if cols.is_empty() {
            continue;
        }
        if cols.len() < 9 {
            return Err(format!(
                "line {}: {} columns, expected at least 9",
                line_no + 1,
                cols.len()
            ));
        }
        // procfs validates the first 13 columns it knows, nothing after.
        let mut v = [0u64; 13];
        for (slot, c) in v.iter_mut().zip(&cols) {
            *slot = u64::from_str_radix(c, 16)
                .map_err(|_| format!("line {}: invalid hex value {c:?}", line_no + 1))?;
        }
        rows.push(Softnet {
            cpu: if cols.len() >= 13 {
                v[12]
            } else {
                rows.len() as u64
            },
            processed: v[0],
            dropped: v[1],
            time_squeezed: v[2],
            cpu_collision: v[8],
            received_rps: v[9],
            flow_limit_count: v[10],
            backlog_len: v[11],
        });
    }
    if rows.is_empty() {
        return Err("no lines".into());
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_13_columns() {
        let r = parse(
            "0004c7e1 00000000 00000012 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
0001d3a4 00000001 00000003 00000000 00000000 00000000 00000000 00000000 00000000 00000002 00000000 00000004 00000003
",
        )
        .unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].processed, 0x4c7e1);
        assert_eq!(r[0].time_squeezed, 0x12);
        assert_eq!(r[1].cpu, 3); // index column, not line number
        assert_eq!(r[1].dropped, 1);
        assert_eq!(r[1].received_rps, 2);
        assert_eq!(r[1].backlog_len, 4);
    }

    #[test]
    fn parses_11_columns_by_line_number() {
        let r = parse(
            "00049279 00000000 00000001 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000005
000dfb82 00000029 0000000a 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
",
        )
        .unwrap();
        assert_eq!(r[0].cpu, 0);
        assert_eq!(r[0].flow_limit_count, 5);
        assert_eq!(r[1].cpu, 1);
        assert_eq!(r[1].dropped, 0x29);
        assert_eq!(r[1].backlog_len, 0);
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse("00000001 00000002 00000003\n").is_err());
        assert!(parse("0000000g 0 0 0 0 0 0 0 0 0 0\n").is_err());
        assert!(parse("").is_err());
    }
}
