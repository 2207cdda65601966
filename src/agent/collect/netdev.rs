//! netdev: `/proc/net/dev` → `node_network_receive_*_total` and
//! `node_network_transmit_*_total` counters, labelled `{device}`.
//!
//! The sixteen `/proc/net/dev` columns keep the kernel's names (`errs`,
//! `drop`, `colls`, ...), which are the names node_exporter exposes both
//! with `--no-collector.netdev.netlink` and, after folding the netlink
//! fields back with its `legacy()` step, by default. The one series the
//! netlink default adds, `node_network_receive_nohandler_total`, is read
//! from `/sys/class/net/<device>/statistics/rx_nohandler` when that file
//! exists, so the output matches node_exporter 1.12's default series.
//! Devices are filtered by `--collector.netdev.device-include` /
//! `--collector.netdev.device-exclude`.

use super::{CollectError, Ctx, Out};

/// Family name and help text of each `/proc/net/dev` column, in file order.
const COLUMNS: [(&str, &str); 16] = [
    (
        "node_network_receive_bytes_total",
        "Network device statistic receive_bytes.",
    ),
    (
        "node_network_receive_packets_total",
        "Network device statistic receive_packets.",
    ),
    (
        "node_network_receive_errs_total",
        "Network device statistic receive_errs.",
    ),
    (
        "node_network_receive_drop_total",
        "Network device statistic receive_drop.",
    ),
    (
        "node_network_receive_fifo_total",
        "Network device statistic receive_fifo.",
    ),
    (
        "node_network_receive_frame_total",
        "Network device statistic receive_frame.",
    ),
    (
        "node_network_receive_compressed_total",
        "Network device statistic receive_compressed.",
    ),
    (
        "node_network_receive_multicast_total",
        "Network device statistic receive_multicast.",
    ),
    (
        "node_network_transmit_bytes_total",
        "Network device statistic transmit_bytes.",
    ),
    (
        "node_network_transmit_packets_total",
        "Network device statistic transmit_packets.",
    ),
    (
        "node_network_transmit_errs_total",
        "Network device statistic transmit_errs.",
    ),
    (
        "node_network_transmit_drop_total",
        "Network device statistic transmit_drop.",
    ),
    (
        "node_network_transmit_fifo_total",
        "Network device statistic transmit_fifo.",
    ),
    (
        "node_network_transmit_colls_total",
        "Network device statistic transmit_colls.",
    ),
    (
        "node_network_transmit_carrier_total",
        "Network device statistic transmit_carrier.",
    ),
    (
        "node_network_transmit_compressed_total",
        "Network device statistic transmit_compressed.",
    ),
];

const NOHANDLER: (&str, &str) = (
    "node_network_receive_nohandler_total",
    "Network device statistic receive_nohandler.",
);

/// One device line of `/proc/net/dev`.
#[derive(Debug, PartialEq)]
pub(crate) struct Device {
    /// Interface name.
    pub name: String,
    /// The sixteen counters, in file order (see `COLUMNS`).
    pub stats: [u64; 16],
}

/// Reads `/proc/net/dev` and the per-device `rx_nohandler` counters.
pub(crate) fn update(ctx: &Ctx<'_>, out: &mut Out<'_>) -> Result<(), CollectError> {
    let path = ctx.root.proc("net/dev");
    let text = super::root::read(&path)?;
    let devices = parse(&text).map_err(|e| CollectError::parse(&path, e))?;
    for dev in devices {
        if ignored(ctx, &dev.name) {
            continue;
        }
        let labels = [("device", dev.name.as_str())];
        for (&(name, help), &v) in COLUMNS.iter().zip(dev.stats.iter()) {
            out.counter(name, help, &labels, v as f64);
        }
        if let Some(v) = nohandler(ctx, &dev.name) {
            out.counter(NOHANDLER.0, NOHANDLER.1, &labels, v as f64);
        }
    }
    Ok(())
}

/// node_exporter's device filter: excluded when the exclude pattern
/// matches, or when an include pattern is set and does not match.
fn ignored(ctx: &Ctx<'_>, name: &str) -> bool {
    ctx.opts
        .netdev_device_exclude
        .as_ref()
        .is_some_and(|re| re.is_match(name))
        || ctx
            .opts
            .netdev_device_include
            .as_ref()
            .is_some_and(|re| !re.is_match(name))
}

/// `rx_nohandler` from sysfs; `None` when the device has no such file
/// (old kernel, or sysfs from another network namespace).
fn nohandler(ctx: &Ctx<'_>, name: &str) -> Option<u64> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return None;
    }
    super::root::read_u64(
        &ctx.root
            .sys(&format!("class/net/{name}/statistics/rx_nohandler")),
    )
}

/// Parses `/proc/net/dev`: two header lines, then `name: 16 counters` per
/// line (the name ends at the last colon; extra columns are ignored).
pub(crate) fn parse(text: &str) -> Result<Vec<Device>, String> {
    let mut devices = Vec::new();
    // Two header lines ("Inter-|   Receive ..." and " face |bytes ...").
    if !text.lines().take(2).all(|l| l.contains('|')) || text.lines().count() < 2 {
        return Err("missing the two header lines".into());
    }
    for line in text.lines().skip(2) {
        let (name, rest) = line
            .rsplit_once(':')
            .ok_or_else(|| format!("missing colon in {line:?}"))?;
        let name = name.trim();
        if name.is_empty() {
            return Err(format!("empty interface name in {line:?}"));
        }
        let mut fields = rest.split_ascii_whitespace();
        let mut stats = [0u64; 16];
        for s in &mut stats {
            let f = fields
                .next()
                .ok_or_else(|| format!("fewer than 16 counters for {name}"))?;
            *s = f
                .parse()
                .map_err(|_| format!("invalid counter {f:?} for {name}"))?;
        }
        devices.push(Device {
            name: name.to_string(),
            stats,
        });
    }
    Ok(devices)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:  123456    1234    0    0    0     0          0         0   123456    1234    0    0    0     0       0          0
  eth0: 987654321 876543    1    2    3     4          5       678 12345678  98765    6    7    8     9      10         11
wlan0: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
";

    #[test]
    fn parses_devices() {
        let d = parse(SAMPLE).unwrap();
        assert_eq!(d.len(), 3);
        assert_eq!(d[0].name, "lo");
        assert_eq!(d[1].name, "eth0");
        assert_eq!(
            d[1].stats,
            [987654321, 876543, 1, 2, 3, 4, 5, 678, 12345678, 98765, 6, 7, 8, 9, 10, 11]
        );
        assert_eq!(d[2].stats, [0; 16]);
    }

    #[test]
    fn name_ends_at_last_colon() {
        let text = "Inter-|\n face |\n  eth0:1: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n";
        let d = parse(text).unwrap();
        assert_eq!(d[0].name, "eth0:1");
        assert_eq!(d[0].stats[15], 16);
    }

    #[test]
    fn large_counters_do_not_overflow() {
        let text = "Inter-|\n face |\neth0: 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
        assert_eq!(parse(text).unwrap()[0].stats[0], u64::MAX);
    }

    #[test]
    fn headers_only_is_empty() {
        assert!(parse("Inter-| R\n face |b\n").unwrap().is_empty());
        assert!(parse("").is_err(), "no header lines: not /proc/net/dev");
        assert!(parse("h1\nh2\n").is_err());
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse("h1\nh2\neth0 1 2 3\n").is_err());
        assert!(parse("h1\nh2\n: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n").is_err());
        assert!(parse("h1\nh2\neth0: 1 2 3 4 5 6 7 8\n").is_err());
        assert!(parse("h1\nh2\neth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 x\n").is_err());
        assert!(parse("h1\nh2\neth0: -1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n").is_err());
        assert!(parse("h1\nh2\n\n").is_err());
    }
}
