//! arp: `/proc/net/arp` → `node_arp_entries{device}`, the number of IPv4
//! neighbour entries per interface.
//!
//! node_exporter 1.12 counts the same entries over netlink by default
//! (AF_INET neighbours without NUD_NOARP, which is exactly what the kernel
//! lists in `/proc/net/arp`); 1.5.0 and `--no-collector.arp.netlink` read
//! the file, as picket does. Rows are validated like procfs does: a line
//! has the 9 header words, nothing, or 6 columns with a parseable hardware
//! address and flags; anything else is a parse error.

use std::collections::BTreeMap;

use super::{CollectError, Ctx, Out};

/// Reads the ARP table.
pub(crate) fn update(ctx: &Ctx<'_>, out: &mut Out<'_>) -> Result<(), CollectError> {
    let path = ctx.root.proc("net/arp");
    let text = super::root::read(&path)?;
    let counts = parse(&text).map_err(|e| CollectError::parse(&path, e))?;
    for (device, n) in &counts {
        out.gauge(
            "node_arp_entries",
            "ARP entries by device",
            &[("device", device)],
            *n as f64,
        );
    }
    Ok(())
}

/// Counts the entries of `/proc/net/arp` per device.
pub(crate) fn parse(text: &str) -> Result<BTreeMap<String, u64>, String> {
    let mut counts = BTreeMap::new();
    let mut header = false;
    for line in text.split('\n') {
        let cols: Vec<&str> = line.split_whitespace().collect();
        match cols.as_slice() {
            [] => {}
            // The header: "IP address HW type Flags HW address Mask Device".
            c if c.len() == 9 && c[0] == "IP" => header = true,
            [_ip, _hw_type, flags, hw_addr, _mask, device] => {
                if !valid_mac(hw_addr) {
                    return Err(format!("invalid hardware address {hw_addr:?}"));
                }
                if parse_flags(flags).is_none() {
                    return Err(format!("invalid flags {flags:?}"));
                }
                *counts.entry((*device).to_string()).or_insert(0) += 1;
            }
            c => return Err(format!("{} columns found, but expected 6", c.len())),
        }
    }
    if !header {
        return Err("missing the header line".into());
    }
    Ok(counts)
}

/// Parses the flags column like Go's `strconv.ParseUint(s, 0, 8)`.
fn parse_flags(s: &str) -> Option<u8> {
    let lower = s.get(..2).map(str::to_ascii_lowercase);
    let (radix, digits) = match lower.as_deref() {
        Some("0x") => (16, s.get(2..)?),
        Some("0o") => (8, s.get(2..)?),
        Some("0b") => (2, s.get(2..)?),
        _ if s.len() > 1 && s.starts_with('0') => (8, s.get(1..)?),
        _ => (10, s),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u8::from_str_radix(digits, radix).ok()
}

/// True if `s` is a hardware address Go's `net.ParseMAC` accepts: 6, 8 or
/// 20 bytes as `xx:xx:..`, `xx-xx-..` or `xxxx.xxxx.xxxx`.
fn valid_mac(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 14 {
        return false;
    }
    let hex = |part: &[u8]| part.iter().all(u8::is_ascii_hexdigit);
    let (group, sep) = match (b.get(2), b.get(4)) {
        (Some(&c @ (b':' | b'-')), _) => (2, c),
        (_, Some(b'.')) => (4, b'.'),
        _ => return false,
    };
    if !(b.len() + 1).is_multiple_of(group + 1) {
        return false;
    }
    let groups = (b.len() + 1) / (group + 1);
    if ![6, 8, 20].contains(&(groups * group / 2)) {
        return false;
    }
    b.chunks(group + 1)
        .all(|chunk| match chunk.split_at_checked(group) {
            Some((digits, [])) => hex(digits),
            Some((digits, [c])) => hex(digits) && *c == sep,
            _ => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
IP address       HW type     Flags       HW address            Mask     Device
192.168.1.1      0x1         0x2         b0:be:76:12:34:56     *        eth0
192.168.1.23     0x1         0x2         3c:22:fb:aa:bb:cc     *        eth0
192.168.1.40     0x1         0x0         00:00:00:00:00:00     *        wlan0
";

    #[test]
    fn counts_per_device() {
        let c = parse(SAMPLE).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c["eth0"], 2);
        assert_eq!(c["wlan0"], 1);
    }

    #[test]
    fn header_only_is_empty() {
        let c = parse(
            "IP address       HW type     Flags       HW address            Mask     Device\n",
        );
        assert!(c.unwrap().is_empty());
        assert!(parse("").is_err(), "no header: not an arp table");
    }

    #[test]
    fn mac_forms() {
        assert!(valid_mac("b0:be:76:12:34:56"));
        assert!(valid_mac("B0-BE-76-12-34-56"));
        assert!(valid_mac("b0be.7612.3456"));
        assert!(valid_mac("00:00:00:00:fe:80:00:00"));
        assert!(!valid_mac("b0:be:76:12:34"));
        assert!(!valid_mac("b0:be:76:12:34:5g"));
        assert!(!valid_mac("b0:be-76:12:34:56"));
        assert!(!valid_mac("b0:be:76:12:34:56:"));
        assert!(!valid_mac("b0:be:76:12:34:56:78"));
        assert!(!valid_mac("ééééééééééééééé"));
    }

    #[test]
    fn flags_forms() {
        assert_eq!(parse_flags("0x2"), Some(2));
        assert_eq!(parse_flags("6"), Some(6));
        assert_eq!(parse_flags("0x100"), None);
        assert_eq!(parse_flags("0x"), None);
        assert_eq!(parse_flags("-1"), None);
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse("192.168.1.1 0x1 0x2 b0:be:76:12:34:56 *\n").is_err());
        assert!(parse("192.168.1.1 0x1 0x2 nonsense * eth0\n").is_err());
        assert!(parse("192.168.1.1 0x1 zz b0:be:76:12:34:56 * eth0\n").is_err());
        assert!(parse("a b c d e f g\n").is_err());
    }
}
