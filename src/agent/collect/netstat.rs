//! netstat: `/proc/net/netstat`, `/proc/net/snmp` and `/proc/net/snmp6` →
//! `node_netstat_<Proto>_<Field>`, untyped, as node_exporter names them.
//!
//! `netstat` and `snmp` come as pairs of lines (`TcpExt: A B` / `TcpExt: 1 2`
//! → `TcpExt_A`, `TcpExt_B`); `snmp6` has one `Ip6InOctets 123` per line,
//! split after the first `6` (→ `Ip6_InOctets`). Only keys matching
//! `--collector.netstat.fields` are exported; HELP is `Statistic <Proto><Field>.`
//! Like node_exporter, a value that is not a number fails the scrape even if
//! its key is filtered out, a later file's protocol replaces an earlier one
//! of the same name, and a missing `snmp6` (IPv6 disabled) is skipped.

use std::collections::BTreeMap;

use super::{root, CollectError, Ctx, Out};
use picket_core::metric::{valid_metric_name, MetricType};

/// Protocol → field → value text, borrowed from the files.
pub(crate) type Stats<'a> = BTreeMap<&'a str, BTreeMap<&'a str, &'a str>>;

/// Reads the three files and writes the selected fields.
pub(crate) fn update(ctx: &Ctx<'_>, out: &mut Out<'_>) -> Result<(), CollectError> {
    let netstat_path = ctx.root.proc("net/netstat");
    let netstat = root::read(&netstat_path)?;
    let snmp_path = ctx.root.proc("net/snmp");
    let snmp = root::read(&snmp_path)?;
    let snmp6 = match root::read(&ctx.root.proc("net/snmp6")) {
        Ok(text) => Some(text),
        Err(CollectError::NoData(_)) => None,
        Err(e) => return Err(e),
    };

    let mut stats = parse_pairs(&netstat).map_err(|e| CollectError::parse(&netstat_path, e))?;
    stats.extend(parse_pairs(&snmp).map_err(|e| CollectError::parse(&snmp_path, e))?);
    if let Some(text) = &snmp6 {
        stats.extend(parse_snmp6(text));
    }
    let selected = select(&stats, &ctx.opts.netstat_fields)
        .map_err(|e| CollectError::Failed(format!("netstat: {e}")))?;
    for (name, help, v) in selected {
        out.sample(name, help, MetricType::Untyped, Default::default(), v);
    }
    Ok(())
}

/// Parses `/proc/net/netstat` or `/proc/net/snmp`: a header line of field
/// names and a line of values per protocol, both starting with `Proto:`.
pub(crate) fn parse_pairs(text: &str) -> Result<Stats<'_>, String> {
    let mut stats = Stats::new();
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    while let Some(header) = lines.next() {
        let values = lines
            .next()
            .ok_or_else(|| format!("no value line after {:?}", truncate(header)))?;
        let mut names = header.split_ascii_whitespace();
        let mut vals = values.split_ascii_whitespace();
        let (proto_h, proto_v) = (names.next().unwrap_or(""), vals.next().unwrap_or(""));
        let proto = match proto_h.strip_suffix(':') {
            Some(p) if !p.is_empty() && proto_h == proto_v => p,
            _ => return Err(format!("malformed protocol lines {:?}", truncate(header))),
        };
        let names: Vec<&str> = names.collect();
        let vals: Vec<&str> = vals.collect();
        if names.len() != vals.len() {
            return Err(format!("field count mismatch for {proto}"));
        }
        stats.insert(proto, names.into_iter().zip(vals).collect());
    }
    if stats.is_empty() {
        return Err("no statistics".into());
    }
    Ok(stats)
}

/// Parses `/proc/net/snmp6`: `Ip6InReceives  12` per line, the protocol
/// being the name up to and including its first `6`. Lines without a `6`
/// or without a value are skipped, as node_exporter does.
pub(crate) fn parse_snmp6(text: &str) -> Stats<'_> {
    let mut stats = Stats::new();
    for line in text.lines() {
        let mut f = line.split_ascii_whitespace();
        let (Some(key), Some(value)) = (f.next(), f.next()) else {
            continue;
        };
        if let Some(i) = key.find('6') {
            let (proto, name) = key.split_at(i + 1);
            stats.entry(proto).or_default().insert(name, value);
        }
    }
    stats
}

/// Checks every value is a number and returns (metric name, help, value)
/// for the keys `Proto_Field` that `fields` matches.
pub(crate) fn select(
    stats: &Stats<'_>,
    fields: &super::Matcher,
) -> Result<Vec<(String, String, f64)>, String> {
    let mut out = Vec::new();
    for (proto, fs) in stats {
        for (name, value) in fs {
            let v: f64 = value
                .parse()
                .map_err(|_| format!("invalid value {value:?} for {proto}{name}"))?;
            let key = format!("{proto}_{name}");
            if !fields.is_match(&key) {
                continue;
            }
            let metric = format!("node_netstat_{key}");
            if !valid_metric_name(&metric) {
                log::debug!("netstat: skipping field with invalid name {metric:?}");
                continue;
            }
            out.push((metric, format!("Statistic {proto}{name}."), v));
        }
    }
    Ok(out)
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(40) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::defaults::NETSTAT_FIELDS;

    const NETSTAT: &str = "TcpExt: SyncookiesSent ListenDrops TCPTimeouts TW\n\
TcpExt: 0 3 17 120\n\
IpExt: InNoRoutes InOctets OutOctets\n\
IpExt: 0 123456789 98765432\n";

    const SNMP: &str = "Ip: Forwarding DefaultTTL\nIp: 1 64\n\
Tcp: RtoAlgorithm MaxConn CurrEstab InErrs\nTcp: 1 -1 3 0\n";

    const SNMP6: &str = "Ip6InReceives                   \t4321\n\
Ip6InOctets                     \t555\n\
Icmp6InMsgs                     \t12\n\
Icmp6OutType143                 \t7\n\
Udp6InDatagrams                 \t99\n\
UdpLite6InErrors                \t0\n\
bogus\n";

    fn all(stats: &Stats<'_>) -> Vec<(String, String, f64)> {
        select(stats, &super::super::Matcher::new(NETSTAT_FIELDS).unwrap()).unwrap()
    }

    #[test]
    fn pairs_and_filter() {
        let mut s = parse_pairs(NETSTAT).unwrap();
        s.extend(parse_pairs(SNMP).unwrap());
        let m = all(&s);
        let names: Vec<&str> = m.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "node_netstat_Ip_Forwarding",
                "node_netstat_IpExt_InOctets",
                "node_netstat_IpExt_OutOctets",
                "node_netstat_Tcp_CurrEstab",
                "node_netstat_Tcp_InErrs",
                "node_netstat_TcpExt_ListenDrops",
                "node_netstat_TcpExt_SyncookiesSent",
                "node_netstat_TcpExt_TCPTimeouts",
            ]
        );
        assert_eq!(m[1].1, "Statistic IpExtInOctets.");
        assert_eq!(m[1].2, 123456789.0);
        // Everything passes an open regex, negative numbers included.
        let every = select(&s, &super::super::Matcher::new("").unwrap()).unwrap();
        assert!(every
            .iter()
            .any(|x| x.0 == "node_netstat_Tcp_MaxConn" && x.2 == -1.0));
    }

    #[test]
    fn snmp6_names() {
        let s = parse_snmp6(SNMP6);
        let m = all(&s);
        let got: Vec<(&str, &str)> = m.iter().map(|x| (x.0.as_str(), x.1.as_str())).collect();
        assert_eq!(
            got,
            [
                ("node_netstat_Icmp6_InMsgs", "Statistic Icmp6InMsgs."),
                ("node_netstat_Ip6_InOctets", "Statistic Ip6InOctets."),
                (
                    "node_netstat_Udp6_InDatagrams",
                    "Statistic Udp6InDatagrams."
                ),
                (
                    "node_netstat_UdpLite6_InErrors",
                    "Statistic UdpLite6InErrors."
                ),
            ]
        );
    }

    #[test]
    fn later_protocol_replaces_earlier() {
        let mut s = parse_pairs("Ip: Forwarding\nIp: 2\n").unwrap();
        s.extend(parse_pairs("Ip: DefaultTTL\nIp: 64\n").unwrap());
        assert_eq!(s["Ip"].len(), 1);
        assert_eq!(s["Ip"]["DefaultTTL"], "64");
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_pairs("TcpExt: A B\n").is_err());
        assert!(parse_pairs("TcpExt: A B\nTcpExt: 1\n").is_err());
        assert!(parse_pairs("TcpExt A\nTcpExt 1\n").is_err());
        assert!(parse_pairs("TcpExt: A\nIpExt: 1\n").is_err());
        assert!(parse_pairs(":\n:\n").is_err());
        // A bad value fails even when its field is filtered out.
        let s = parse_pairs("TcpExt: TW ListenDrops\nTcpExt: x 1\n").unwrap();
        assert!(select(&s, &super::super::Matcher::new(NETSTAT_FIELDS).unwrap()).is_err());
        let s6 = parse_snmp6("Ip6InOctets abc\n");
        assert!(select(&s6, &super::super::Matcher::new(NETSTAT_FIELDS).unwrap()).is_err());
        assert!(parse_snmp6("\u{0}\u{1}\n6\n").is_empty());
        assert!(
            parse_pairs("").is_err(),
            "the kernel always prints statistics"
        );
    }
}
