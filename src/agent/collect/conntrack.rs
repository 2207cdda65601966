//! conntrack: `/proc/sys/net/netfilter/nf_conntrack_{count,max}` →
//! `node_nf_conntrack_entries`, `node_nf_conntrack_entries_limit`, and
//! `/proc/net/stat/nf_conntrack` (one hex row per CPU, summed) →
//! `node_nf_conntrack_stat_{found,invalid,ignore,insert,insert_failed,
//! drop,early_drop,search_restart}`.
//!
//! As in node_exporter the stat counters are gauges, and a missing file
//! (the nf_conntrack module is not loaded) means "no data"; samples already
//! written stay in the scrape.

use super::{CollectError, Ctx, Out};

/// Column of each reported counter in a `/proc/net/stat/nf_conntrack` row,
/// with its family name and help.
const STATS: [(usize, &str, &str); 8] = [
    (2, "node_nf_conntrack_stat_found", "Number of searched entries which were successful."),
    (4, "node_nf_conntrack_stat_invalid", "Number of packets seen which can not be tracked."),
    (
        5,
        "node_nf_conntrack_stat_ignore",
        "Number of packets seen which are already connected to a conntrack entry.",
    ),
    (8, "node_nf_conntrack_stat_insert", "Number of entries inserted into the list."),
    (
        9,
        "node_nf_conntrack_stat_insert_failed",
        "Number of entries for which list insertion was attempted but failed.",
    ),
    (10, "node_nf_conntrack_stat_drop", "Number of packets dropped due to conntrack failure."),
    (
        11,
        "node_nf_conntrack_stat_early_drop",
        "Number of dropped conntrack entries to make room for new ones, if maximum table size was reached.",
    ),
    (
        16,
        "node_nf_conntrack_stat_search_restart",
        "Number of conntrack table lookups which had to be restarted due to hashtable resizes.",
    ),
];

/// Reads the conntrack table size, limit and statistics.
pub(crate) fn update(ctx: &Ctx<'_>, out: &mut Out<'_>) -> Result<(), CollectError> {
    for (file, name, help) in [
        (
            "sys/net/netfilter/nf_conntrack_count",
            "node_nf_conntrack_entries",
            "Number of currently allocated flow entries for connection tracking.",
        ),
        (
            "sys/net/netfilter/nf_conntrack_max",
            "node_nf_conntrack_entries_limit",
            "Maximum size of connection tracking table.",
        ),
    ] {
        let path = ctx.root.proc(file);
        let v = super::parse_u64(&path, &super::root::read(&path)?)?;
        out.gauge(name, help, &[], v as f64);
    }

    let path = ctx.root.proc("net/stat/nf_conntrack");
    let text = super::root::read(&path)?;
    let sums = parse_stat(&text).map_err(|e| CollectError::parse(&path, e))?;
    for ((_, name, help), v) in STATS.iter().zip(sums) {
        out.gauge(*name, *help, &[], v as f64);
    }
    Ok(())
}

/// Sums the reported columns of `/proc/net/stat/nf_conntrack` over all
/// CPUs, in `STATS` order. The first line is the header; each further
/// line must hold 16 or 17 hex numbers (`search_restart`, the 17th, is
/// missing before Linux 2.6.35 and counts as 0).
pub(crate) fn parse_stat(text: &str) -> Result<[u64; 8], String> {
    let mut sums = [0u64; 8];
    for line in text.lines().skip(1) {
        let mut row = Vec::with_capacity(17);
        for f in line.split_whitespace() {
            if f.is_empty() || !f.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("invalid hex number {f:?}"));
            }
            row.push(u64::from_str_radix(f, 16).map_err(|e| format!("{f:?}: {e}"))?);
        }
        if !(16..=17).contains(&row.len()) {
            return Err(format!("invalid number of fields: {}", row.len()));
        }
        for (sum, (col, _, _)) in sums.iter_mut().zip(STATS) {
            *sum = sum.wrapping_add(row.get(col).copied().unwrap_or(0));
        }
    }
    Ok(sums)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Linux 6.x layout, two CPUs.
    const SAMPLE: &str = "\
entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
00000021  00000000 00000001 00000000 00000003 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000  00000000 00000000 00000000 0000000a
00000021  00000002 00000010 00000000 00000004 00000000 00000000 00000000 00000001 00000002 00000003 00000004 00000000  00000000 00000000 00000000 00000005
";

    #[test]
    fn sums_over_cpus() {
        // found, invalid, ignore, insert, insert_failed, drop, early_drop, search_restart
        assert_eq!(parse_stat(SAMPLE).unwrap(), [17, 7, 0, 1, 2, 3, 4, 15]);
    }

    #[test]
    fn sixteen_columns_have_no_search_restart() {
        let text = "header\n1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1\n";
        assert_eq!(parse_stat(text).unwrap(), [1, 1, 1, 1, 1, 1, 1, 0]);
    }

    #[test]
    fn empty_is_zero() {
        assert_eq!(parse_stat("").unwrap(), [0; 8]);
        assert_eq!(parse_stat("header only\n").unwrap(), [0; 8]);
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_stat("h\n1 2 3\n").is_err());
        assert!(parse_stat("h\n\n").is_err());
        assert!(parse_stat("h\n1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1\n").is_err());
        assert!(parse_stat("h\n1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 xyz\n").is_err());
        assert!(parse_stat("h\n+1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1\n").is_err());
        assert!(parse_stat("h\n11111111111111111 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1\n").is_err());
    }
}
