//! A small DNS client for `dns_sd_configs`: the queries Prometheus's DNS
//! discovery makes (SRV, A, AAAA, MX), asked of the nameservers in
//! /etc/resolv.conf with its search path, over UDP with EDNS0 and again
//! over TCP when the answer is truncated.
//!
//! Why not std: `ToSocketAddrs` (getaddrinfo) answers A/AAAA only, mixes
//! /etc/hosts in, and has no SRV; Prometheus asks the servers of
//! resolv.conf directly (miekg/dns), and targets must match its. Why not a
//! crate: the resolvers on crates.io (hickory) bring an async runtime; the
//! wire format of four record types is a page of code, every read bounds
//! checked.
//!
//! Outcomes follow Prometheus's `lookupWithSearchPath`: the first name of
//! the search list a server answers with success wins (even with no
//! records); all names answered "no such name" is an empty answer; any
//! other failure on some name, with no success, is an error (and the
//! discovery keeps its previous targets).

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::time::Duration;

/// Record types asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QType {
    A,
    Aaaa,
    Srv,
    Mx,
}

impl QType {
    fn code(self) -> u16 {
        match self {
            QType::A => 1,
            QType::Aaaa => 28,
            QType::Srv => 33,
            QType::Mx => 15,
        }
    }
}

/// An answer record the discovery uses (CNAMEs and others are skipped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Record {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    /// Port and target name (with its final dot, as on the wire).
    Srv(u16, String),
    /// Exchange name (with its final dot).
    Mx(String),
}

/// What /etc/resolv.conf says (the parts a lookup needs).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ResolvConf {
    pub servers: Vec<IpAddr>,
    pub search: Vec<String>,
    pub ndots: usize,
    pub timeout: Duration,
    pub attempts: usize,
}

impl ResolvConf {
    /// Reads a resolv.conf (glibc's defaults for what it leaves out, as
    /// miekg/dns reads it: ndots 1, timeout 5 s, 2 attempts).
    pub(crate) fn read(path: &Path) -> io::Result<ResolvConf> {
        Ok(ResolvConf::parse(&std::fs::read_to_string(path)?))
    }

    pub(crate) fn parse(text: &str) -> ResolvConf {
        let mut c = ResolvConf {
            servers: Vec::new(),
            search: Vec::new(),
            ndots: 1,
            timeout: Duration::from_secs(5),
            attempts: 2,
        };
        for line in text.lines() {
            let line = line.split(['#', ';']).next().unwrap_or("");
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => {
                    // A zone index (fe80::1%eth0) is not std's to parse.
                    if let Some(ip) = words.next().and_then(|w| w.parse().ok()) {
                        c.servers.push(ip);
                    }
                }
                Some("search") | Some("domain") => {
                    c.search = words.map(|w| w.trim_end_matches('.').to_string()).collect();
                }
                Some("options") => {
                    for o in words {
                        let num = |p: &str| o.strip_prefix(p).and_then(|n| n.parse::<usize>().ok());
                        if let Some(n) = num("ndots:") {
                            c.ndots = n.min(15);
                        } else if let Some(n) = num("timeout:") {
                            c.timeout = Duration::from_secs(n.clamp(1, 30) as u64);
                        } else if let Some(n) = num("attempts:") {
                            c.attempts = n.clamp(1, 5);
                        }
                    }
                }
                _ => {}
            }
        }
        c
    }

    /// The names to try for `name`, in order (miekg/dns `NameList`): a
    /// name ending in `.` as it is; else, with at least `ndots` dots, the
    /// name first and then with each search domain, otherwise the other
    /// way round.
    pub(crate) fn names(&self, name: &str) -> Vec<String> {
        if name.ends_with('.') {
            return vec![name.to_string()];
        }
        let with: Vec<String> = self.search.iter().map(|d| format!("{name}.{d}.")).collect();
        let own = format!("{name}.");
        let mut out = Vec::with_capacity(with.len() + 1);
        if name.matches('.').count() >= self.ndots {
            out.push(own);
            out.extend(with);
        } else {
            out.extend(with);
            out.push(own);
        }
        out
    }
}

/// Response codes that end a lookup of one name.
#[derive(Debug, PartialEq)]
enum Rcode {
    Success,
    NxDomain,
    Other(u8),
}

/// Looks `name` up with the search list: the records of the first name
/// answered with success; empty if every name does not exist; an error if
/// some name got no viable answer from any server.
pub(crate) fn lookup(conf: &ResolvConf, name: &str, qtype: QType) -> Result<Vec<Record>, String> {
    if conf.servers.is_empty() {
        return Err("no nameserver in resolv.conf".into());
    }
    let mut all_valid = true;
    for n in conf.names(name) {
        match ask_any(conf, &n, qtype) {
            Ok((Rcode::Success, records)) => return Ok(records),
            Ok(_) => {}
            Err(_) => all_valid = false,
        }
    }
    if all_valid {
        Ok(Vec::new())
    } else {
        Err(format!(
            "could not resolve {name:?}: all servers responded with errors to at least one search domain"
        ))
    }
}

/// Asks each server in turn; the first success or NXDOMAIN wins.
fn ask_any(conf: &ResolvConf, name: &str, qtype: QType) -> Result<(Rcode, Vec<Record>), String> {
    let mut last = String::new();
    for &ip in &conf.servers {
        let addr = SocketAddr::new(ip, 53);
        for _ in 0..conf.attempts {
            match ask(addr, name, qtype, conf.timeout) {
                Ok((Rcode::Other(c), _)) => {
                    last = format!("{addr}: response code {c}");
                    break;
                }
                Ok(r) => return Ok(r),
                Err(e) => last = format!("{addr}: {e}"),
            }
        }
    }
    Err(last)
}

/// One question to one server: UDP first, TCP when truncated.
fn ask(
    addr: SocketAddr,
    name: &str,
    qtype: QType,
    timeout: Duration,
) -> io::Result<(Rcode, Vec<Record>)> {
    let id = query_id();
    let q = query(id, name, qtype, true).map_err(io::Error::other)?;
    let bind: SocketAddr = if addr.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(bind)?;
    sock.set_read_timeout(Some(timeout))?;
    sock.connect(addr)?;
    sock.send(&q)?;
    let mut buf = vec![0u8; 4096];
    loop {
        let n = sock.recv(&mut buf)?;
        let msg = &buf[..n];
        // Another query's late answer: keep waiting for ours.
        if msg.len() < 2 || u16::from_be_bytes([msg[0], msg[1]]) != id {
            continue;
        }
        let r = parse_response(msg, id).map_err(io::Error::other)?;
        if !r.truncated {
            return Ok((r.rcode, r.records));
        }
        break;
    }
    let q = query(id, name, qtype, false).map_err(io::Error::other)?;
    let mut tcp = TcpStream::connect_timeout(&addr, timeout)?;
    tcp.set_read_timeout(Some(timeout))?;
    tcp.set_write_timeout(Some(timeout))?;
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&q);
    tcp.write_all(&framed)?;
    let mut len = [0u8; 2];
    tcp.read_exact(&mut len)?;
    let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
    tcp.read_exact(&mut msg)?;
    let r = parse_response(&msg, id).map_err(io::Error::other)?;
    if r.truncated {
        return Err(io::Error::other("truncated answer over TCP"));
    }
    Ok((r.rcode, r.records))
}

fn query_id() -> u16 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (t ^ (t >> 16) ^ std::process::id()) as u16
}

/// A query for `name` (fully qualified), recursion desired, with an EDNS0
/// OPT record announcing 4096-byte UDP answers when `edns`.
pub(crate) fn query(id: u16, name: &str, qtype: QType, edns: bool) -> Result<Vec<u8>, String> {
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&0x0100u16.to_be_bytes()); // RD
    q.extend_from_slice(&1u16.to_be_bytes()); // QDCOUNT
    q.extend_from_slice(&[0, 0, 0, 0]); // ANCOUNT, NSCOUNT
    q.extend_from_slice(&u16::from(edns).to_be_bytes()); // ARCOUNT
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!("{name:?} is not a valid DNS name"));
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    if q.len() - 12 > 255 {
        return Err(format!("{name:?} is longer than a DNS name may be"));
    }
    q.extend_from_slice(&qtype.code().to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes()); // IN
    if edns {
        q.push(0); // root
        q.extend_from_slice(&41u16.to_be_bytes()); // OPT
        q.extend_from_slice(&4096u16.to_be_bytes()); // UDP size
        q.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // ext rcode, flags, rdlen
    }
    Ok(q)
}

/// A parsed response.
#[derive(Debug)]
struct Response {
    rcode: Rcode,
    truncated: bool,
    records: Vec<Record>,
}

fn parse_response(msg: &[u8], id: u16) -> Result<Response, String> {
    let u16_at = |i: usize| -> Result<u16, String> {
        msg.get(i..i + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "answer cut short".to_string())
    };
    if u16_at(0)? != id {
        return Err("answer to another query".into());
    }
    let flags = u16_at(2)?;
    if flags & 0x8000 == 0 {
        return Err("not an answer".into());
    }
    let rcode = match flags & 0xf {
        0 => Rcode::Success,
        3 => Rcode::NxDomain,
        c => Rcode::Other(c as u8),
    };
    let truncated = flags & 0x0200 != 0;
    let (qd, an) = (u16_at(4)?, u16_at(6)?);
    let mut i = 12;
    for _ in 0..qd {
        i = skip_name(msg, i)? + 4;
    }
    let mut records = Vec::new();
    for _ in 0..an {
        i = skip_name(msg, i)?;
        let ty = u16_at(i)?;
        let len = usize::from(u16_at(i + 8)?);
        let start = i + 10;
        let data = msg
            .get(start..start + len)
            .ok_or_else(|| "answer cut short".to_string())?;
        match ty {
            1 if len == 4 => {
                records.push(Record::A(Ipv4Addr::new(data[0], data[1], data[2], data[3])))
            }
            28 if len == 16 => {
                let mut b = [0u8; 16];
                b.copy_from_slice(data);
                records.push(Record::Aaaa(Ipv6Addr::from(b)));
            }
            33 if len >= 7 => {
                let port = u16::from_be_bytes([data[4], data[5]]);
                records.push(Record::Srv(port, read_name(msg, start + 6)?));
            }
            15 if len >= 3 => records.push(Record::Mx(read_name(msg, start + 2)?)),
            _ => {}
        }
        i = start + len;
    }
    Ok(Response {
        rcode,
        truncated,
        records,
    })
}

/// [`parse_response`] for the fuzz target: the records read.
#[doc(hidden)]
pub(crate) fn fuzz_parse(msg: &[u8], id: u16) -> Result<Vec<Record>, String> {
    parse_response(msg, id).map(|r| r.records)
}

/// The offset after the (possibly compressed) name at `i`.
fn skip_name(msg: &[u8], mut i: usize) -> Result<usize, String> {
    loop {
        let len = *msg.get(i).ok_or("answer cut short")?;
        match len {
            0 => return Ok(i + 1),
            l if l & 0xc0 == 0xc0 => return Ok(i + 2),
            l if l & 0xc0 == 0 => i += 1 + usize::from(l),
            _ => return Err("bad label in a name".into()),
        }
    }
}

/// The name at `i`, pointers followed (at most 64 jumps), with a final dot.
fn read_name(msg: &[u8], mut i: usize) -> Result<String, String> {
    let mut out = String::new();
    let mut jumps = 0;
    loop {
        let len = *msg.get(i).ok_or("answer cut short")?;
        if len == 0 {
            if out.is_empty() {
                out.push('.');
            }
            return Ok(out);
        }
        if len & 0xc0 == 0xc0 {
            let lo = *msg.get(i + 1).ok_or("answer cut short")?;
            i = usize::from(u16::from_be_bytes([len & 0x3f, lo]));
            jumps += 1;
            if jumps > 64 {
                return Err("name compression loop".into());
            }
            continue;
        }
        if len & 0xc0 != 0 {
            return Err("bad label in a name".into());
        }
        let l = usize::from(len);
        let label = msg.get(i + 1..i + 1 + l).ok_or("answer cut short")?;
        out.push_str(&String::from_utf8_lossy(label));
        out.push('.');
        i += 1 + l;
        if out.len() > 1024 {
            return Err("name too long".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_resolv_conf_and_orders_the_search_list() {
        let c = ResolvConf::parse(
            "# x\nnameserver 127.0.0.53\nnameserver ::1\nnameserver bogus\nsearch lan. example.org\noptions ndots:2 timeout:1 attempts:3 rotate\n",
        );
        assert_eq!(c.servers.len(), 2);
        assert_eq!(c.search, ["lan", "example.org"]);
        assert_eq!(
            (c.ndots, c.timeout, c.attempts),
            (2, Duration::from_secs(1), 3)
        );
        assert_eq!(c.names("pi.x."), ["pi.x."]);
        assert_eq!(
            c.names("a.b.c"),
            ["a.b.c.", "a.b.c.lan.", "a.b.c.example.org."]
        );
        assert_eq!(c.names("pi"), ["pi.lan.", "pi.example.org.", "pi."]);
    }

    fn answer(id: u16, flags: u16, records: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut m = query(id, "_node._tcp.lan", QType::Srv, false).unwrap();
        m[2..4].copy_from_slice(&flags.to_be_bytes());
        m[6..8].copy_from_slice(&(records.len() as u16).to_be_bytes());
        for (ty, data) in records {
            m.extend_from_slice(&[0xc0, 12]); // the question's name
            m.extend_from_slice(&ty.to_be_bytes());
            m.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
            m.extend_from_slice(&(data.len() as u16).to_be_bytes());
            m.extend_from_slice(data);
        }
        m
    }

    #[test]
    fn parses_answers_with_compressed_names() {
        let mut srv = vec![0, 10, 0, 5, 0x23, 0x8c]; // prio, weight, port 9100
        srv.extend_from_slice(&[3, b'p', b'i', b'1', 0xc0, 12 + 6]); // pi1 + "_tcp.lan"
        let msg = answer(
            7,
            0x8180,
            &[
                (33, srv),
                (5, vec![0xc0, 12]),
                (1, vec![10, 0, 0, 1]),
                (28, vec![0; 16]),
                (15, vec![0, 10, 2, b'm', b'x', 0]),
            ],
        );
        let r = parse_response(&msg, 7).unwrap();
        assert_eq!(r.rcode, Rcode::Success);
        assert_eq!(
            r.records,
            [
                Record::Srv(9100, "pi1._tcp.lan.".into()),
                Record::A(Ipv4Addr::new(10, 0, 0, 1)),
                Record::Aaaa(Ipv6Addr::UNSPECIFIED),
                Record::Mx("mx.".into()),
            ]
        );
        assert!(parse_response(&msg, 8).is_err());
        assert_eq!(
            parse_response(&answer(7, 0x8183, &[]), 7).unwrap().rcode,
            Rcode::NxDomain
        );
        assert!(
            parse_response(&answer(7, 0x8380, &[]), 7)
                .unwrap()
                .truncated
        );
    }

    #[test]
    fn hostile_answers_are_errors_not_panics() {
        let good = answer(1, 0x8180, &[(33, vec![0, 1, 0, 1, 0, 80, 0xc0, 200])]);
        assert!(parse_response(&good, 1).is_err(), "pointer past the end");
        let mut lp = answer(1, 0x8180, &[(15, vec![0, 1, 0xc0, 0])]);
        let at = lp.len() - 2;
        lp[at + 1] = at as u8; // a pointer to itself
        assert!(parse_response(&lp, 1).is_err());
        for n in 0..good.len() {
            let _ = parse_response(&good[..n], 1);
        }
        assert!(query(1, "a..b", QType::A, true).is_err());
        assert!(query(1, &"x".repeat(64), QType::A, true).is_err());
    }
}
