//! sockstat: `/proc/net/sockstat` and `/proc/net/sockstat6` →
//! `node_sockstat_<PROTO>_<field>` gauges, as node_exporter names them.
//!
//! Every protocol line (`TCP: inuse 5 orphan 0 tw 2 alloc 7 mem 1`) gives
//! `_inuse` (always) and whichever of `_orphan`, `_tw`, `_alloc`, `_mem`,
//! `_memory` it carries; a `mem` value (pages) also gives `_mem_bytes`
//! (pages × the page size). The IPv4 file's `sockets: used N` line gives
//! `node_sockstat_sockets_used`. IPv6 protocols are named `TCP6`, `UDP6`…
//! by the kernel. A missing file (IP family disabled) is skipped.

use super::{root, CollectError, Ctx, Out};
use picket_core::metric::valid_metric_name;

/// Reads both files and writes their gauges (nothing if either is malformed,
/// as in node_exporter).
pub(crate) fn update(ctx: &Ctx<'_>, out: &mut Out<'_>) -> Result<(), CollectError> {
    let mut texts = Vec::with_capacity(2);
    for (rel, ipv6) in [("net/sockstat", false), ("net/sockstat6", true)] {
        let path = ctx.root.proc(rel);
        match root::read(&path) {
            Ok(text) => texts.push((path, ipv6, text)),
            Err(CollectError::NoData(m)) => log::debug!("sockstat: {m}, skipping"),
            Err(e) => return Err(e),
        }
    }
    let mut stats = Vec::with_capacity(2);
    for (path, ipv6, text) in &texts {
        stats.push((
            *ipv6,
            parse(text).map_err(|e| CollectError::parse(path, e))?,
        ));
    }
    let page = page_size();
    for (ipv6, stat) in &stats {
        for (name, help, v) in series(stat, *ipv6, page) {
            out.gauge(name, help, &[], v);
        }
    }
    Ok(())
}

/// One parsed sockstat file.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Sockstat<'a> {
    /// `sockets: used N` (the IPv4 file only).
    pub used: Option<i64>,
    /// The protocol lines, in file order.
    pub protocols: Vec<Protocol<'a>>,
}

/// One protocol line; absent keys are `None`.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Protocol<'a> {
    /// `TCP`, `UDP6`, …
    pub name: &'a str,
    /// `inuse` (0 when absent, as in node_exporter).
    pub inuse: i64,
    /// `orphan`.
    pub orphan: Option<i64>,
    /// `tw`.
    pub tw: Option<i64>,
    /// `alloc`.
    pub alloc: Option<i64>,
    /// `mem`, in pages.
    pub mem: Option<i64>,
    /// `memory`, in bytes (FRAG).
    pub memory: Option<i64>,
}

/// Parses a sockstat file: `PROTO: key value key value …` per line.
pub(crate) fn parse(text: &str) -> Result<Sockstat<'_>, String> {
    let mut stat = Sockstat::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut f = line.split_ascii_whitespace();
        let proto = f.next().unwrap_or("");
        let kvs: Vec<&str> = f.collect();
        if kvs.is_empty() || !kvs.len().is_multiple_of(2) {
            return Err(format!("malformed sockstat line {line:?}"));
        }
        let proto = proto.strip_suffix(':').unwrap_or(proto);
        let mut p = Protocol {
            name: proto,
            ..Protocol::default()
        };
        let mut used = 0;
        for kv in kvs.chunks_exact(2) {
            let v: i64 = kv[1]
                .parse()
                .map_err(|_| format!("invalid value {:?} in sockstat line {line:?}", kv[1]))?;
            match kv[0] {
                "inuse" => p.inuse = v,
                "orphan" => p.orphan = Some(v),
                "tw" => p.tw = Some(v),
                "alloc" => p.alloc = Some(v),
                "mem" => p.mem = Some(v),
                "memory" => p.memory = Some(v),
                "used" => used = v,
                _ => {}
            }
        }
        if proto == "sockets" {
            stat.used = Some(used);
        } else {
            stat.protocols.push(p);
        }
    }
    if text.trim().is_empty() {
        return Err("empty file".into());
    }
    Ok(stat)
}

/// The (metric name, help, value) triples of one file; `page` is the page
/// size in bytes for `_mem_bytes`.
pub(crate) fn series(stat: &Sockstat<'_>, ipv6: bool, page: i64) -> Vec<(String, String, f64)> {
    let mut out = Vec::new();
    if let (false, Some(used)) = (ipv6, stat.used) {
        out.push((
            "node_sockstat_sockets_used".to_string(),
            "Number of IPv4 sockets in use.".to_string(),
            used as f64,
        ));
    }
    for p in &stat.protocols {
        let fields = [
            ("inuse", Some(p.inuse as f64)),
            ("orphan", p.orphan.map(|v| v as f64)),
            ("tw", p.tw.map(|v| v as f64)),
            ("alloc", p.alloc.map(|v| v as f64)),
            ("mem", p.mem.map(|v| v as f64)),
            ("memory", p.memory.map(|v| v as f64)),
            ("mem_bytes", p.mem.map(|v| v as f64 * page as f64)),
        ];
        for (field, v) in fields {
            let Some(v) = v else { continue };
            let name = format!("node_sockstat_{}_{field}", p.name);
            if !valid_metric_name(&name) {
                log::debug!("sockstat: skipping invalid name {name:?}");
                continue;
            }
            out.push((
                name,
                format!("Number of {} sockets in state {field}.", p.name),
                v,
            ));
        }
    }
    out
}

/// The system page size in bytes (4096 when sysconf cannot tell).
fn page_size() -> i64 {
    // SAFETY: sysconf takes no pointers and has no preconditions; it only
    // returns a configuration value (or -1).
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as i64
    } else {
        4096
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V4: &str = "sockets: used 183\n\
TCP: inuse 3 orphan 0 tw 1 alloc 7 mem 2\n\
UDP: inuse 3 mem 1\n\
UDPLITE: inuse 0\n\
RAW: inuse 0\n\
FRAG: inuse 0 memory 0\n";

    const V6: &str =
        "TCP6: inuse 3\nUDP6: inuse 3\nUDPLITE6: inuse 0\nRAW6: inuse 1\nFRAG6: inuse 0 memory 0\n";

    fn find<'a>(s: &'a [(String, String, f64)], name: &str) -> Option<&'a (String, String, f64)> {
        s.iter().find(|x| x.0 == name)
    }

    #[test]
    fn parses_ipv4() {
        let st = parse(V4).unwrap();
        assert_eq!(st.used, Some(183));
        assert_eq!(st.protocols.len(), 5);
        let s = series(&st, false, 4096);
        assert_eq!(s.len(), 1 + 6 + 3 + 1 + 1 + 2);
        assert_eq!(find(&s, "node_sockstat_sockets_used").unwrap().2, 183.0);
        let tw = find(&s, "node_sockstat_TCP_tw").unwrap();
        assert_eq!(
            (tw.1.as_str(), tw.2),
            ("Number of TCP sockets in state tw.", 1.0)
        );
        assert_eq!(find(&s, "node_sockstat_TCP_mem_bytes").unwrap().2, 8192.0);
        assert_eq!(find(&s, "node_sockstat_UDP_mem_bytes").unwrap().2, 4096.0);
        assert!(find(&s, "node_sockstat_FRAG_memory").is_some());
        assert!(find(&s, "node_sockstat_FRAG_mem_bytes").is_none());
        assert!(find(&s, "node_sockstat_UDP_orphan").is_none());
    }

    #[test]
    fn parses_ipv6() {
        let st = parse(V6).unwrap();
        let s = series(&st, true, 4096);
        let names: Vec<&str> = s.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "node_sockstat_TCP6_inuse",
                "node_sockstat_UDP6_inuse",
                "node_sockstat_UDPLITE6_inuse",
                "node_sockstat_RAW6_inuse",
                "node_sockstat_FRAG6_inuse",
                "node_sockstat_FRAG6_memory",
            ]
        );
        // A `sockets` line in the IPv6 file would not be exported.
        let st = parse("sockets: used 4\nTCP6: inuse 1\n").unwrap();
        assert!(find(&series(&st, true, 4096), "node_sockstat_sockets_used").is_none());
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse("TCP: inuse\n").is_err());
        assert!(parse("TCP:\n").is_err());
        assert!(parse("TCP: inuse x\n").is_err());
        assert!(parse("TCP: inuse 1 orphan\n").is_err());
        assert!(parse("").is_err(), "the kernel always prints sockets: used");
    }

    #[test]
    fn page_size_is_sane() {
        let p = page_size();
        assert!(p >= 4096 && p.count_ones() == 1);
    }
}
