//! udp_queues: `/proc/net/udp` and `/proc/net/udp6` → `node_udp_queues`
//! gauge {ip="v4"|"v6", queue="rx"|"tx"}: the sums of every socket's hex
//! `tx_queue`/`rx_queue` column (bytes the kernel holds for UDP datagrams).
//!
//! As in node_exporter, a missing file only drops its `ip` family (IPv6
//! disabled → v4 only); both missing → no data. A malformed line fails the
//! collector (the family already written stays, as node_exporter's does).
//!
//! This file also holds the line parser for `/proc/net/{tcp,udp}{,6}` that
//! the tcpstat collector shares. Files are streamed line by line: they grow
//! with the number of sockets.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use super::{CollectError, Ctx, Out};

const HELP: &str = "Number of allocated memory in the kernel for UDP datagrams in bytes.";

/// Reads both files and writes the four (or two) series.
pub(crate) fn update(ctx: &Ctx<'_>, out: &mut Out<'_>) -> Result<(), CollectError> {
    let mut found = false;
    for (ip, rel) in [("v4", "net/udp"), ("v6", "net/udp6")] {
        let path = ctx.root.proc(rel);
        let mut q = Queues::default();
        if !for_each_socket_line(&path, |line| q.add_line(line))? {
            log::debug!(
                "{}: not found, not collecting {ip} based metrics",
                path.display()
            );
            continue;
        }
        found = true;
        out.gauge(
            "node_udp_queues",
            HELP,
            &[("ip", ip), ("queue", "tx")],
            q.tx as f64,
        );
        out.gauge(
            "node_udp_queues",
            HELP,
            &[("ip", ip), ("queue", "rx")],
            q.rx as f64,
        );
    }
    if found {
        Ok(())
    } else {
        Err(CollectError::NoData(
            "neither net/udp nor net/udp6 exists".into(),
        ))
    }
}

/// Summed queue lengths of one `/proc/net/udp{,6}` file, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Queues {
    /// Sum of `tx_queue`.
    pub tx: u64,
    /// Sum of `rx_queue`.
    pub rx: u64,
}

impl Queues {
    /// Adds one socket line (not the header).
    pub(crate) fn add_line(&mut self, line: &str) -> Result<(), String> {
        let s = parse_socket_line(line, true)?;
        self.tx = self.tx.saturating_add(s.tx_queue);
        self.rx = self.rx.saturating_add(s.rx_queue);
        Ok(())
    }
}

/// The columns of one `/proc/net/{tcp,udp}{,6}` line that collectors use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SocketLine {
    /// `st`: the kernel's TCP state number (UDP uses 07 = close, 01 = connected).
    pub st: u64,
    /// `tx_queue` in bytes.
    pub tx_queue: u64,
    /// `rx_queue` in bytes.
    pub rx_queue: u64,
}

/// Parses one socket line, checking the columns the way the Go `procfs`
/// package (node_exporter's parser) does: at least 10 columns (13 for UDP,
/// which ends in `drops`), `sl:`, hex `addr:port` pairs, hex `st`, hex
/// `tx:rx` queues, decimal `uid` and `inode`.
pub(crate) fn parse_socket_line(line: &str, udp: bool) -> Result<SocketLine, String> {
    let f: Vec<&str> = line.split_ascii_whitespace().collect();
    let need = if udp { 13 } else { 10 };
    if f.len() < need {
        return Err(format!(
            "fewer than {need} columns in socket line {:?}",
            line.trim()
        ));
    }
    let bad = |what: &str| format!("invalid {what} in socket line {:?}", line.trim());
    match f[0].split_once(':') {
        Some((sl, "")) if sl.parse::<u64>().is_ok() => {}
        _ => return Err(bad("sl")),
    }
    for (i, what) in [(1, "local_address"), (2, "rem_address")] {
        let ok = f[i].split_once(':').is_some_and(|(addr, port)| {
            matches!(addr.len(), 8 | 32)
                && addr.bytes().all(|b| b.is_ascii_hexdigit())
                && u64::from_str_radix(port, 16).is_ok()
        });
        if !ok {
            return Err(bad(what));
        }
    }
    let st = u64::from_str_radix(f[3], 16).map_err(|_| bad("st"))?;
    let (tx, rx) = f[4]
        .split_once(':')
        .ok_or_else(|| bad("tx_queue:rx_queue"))?;
    let tx_queue = u64::from_str_radix(tx, 16).map_err(|_| bad("tx_queue"))?;
    let rx_queue = u64::from_str_radix(rx, 16).map_err(|_| bad("rx_queue"))?;
    f[7].parse::<u64>().map_err(|_| bad("uid"))?;
    f[9].parse::<u64>().map_err(|_| bad("inode"))?;
    if udp {
        f[12].parse::<u64>().map_err(|_| bad("drops"))?;
    }
    Ok(SocketLine {
        st,
        tx_queue,
        rx_queue,
    })
}

/// Streams a `/proc/net/{tcp,udp}{,6}` file, handing every socket line
/// (header skipped, blank lines ignored) to `f`. `Ok(false)` when the file
/// does not exist (that IP family is disabled).
pub(crate) fn for_each_socket_line(
    path: &Path,
    mut f: impl FnMut(&str) -> Result<(), String>,
) -> Result<bool, CollectError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(CollectError::io(path, e)),
    };
    let mut r = BufReader::new(file);
    let mut line = String::new();
    let mut header = true;
    loop {
        line.clear();
        let n = r
            .read_line(&mut line)
            .map_err(|e| CollectError::io(path, e))?;
        if n == 0 {
            if header {
                return Err(CollectError::parse(path, "empty file: no header line"));
            }
            return Ok(true);
        }
        if std::mem::take(&mut header) {
            if !line.trim_start().starts_with("sl") {
                return Err(CollectError::parse(
                    path,
                    format!("unexpected header {:?}", line.trim()),
                ));
            }
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        f(&line).map_err(|e| CollectError::parse(path, e))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sums a whole `/proc/net/udp{,6}` text (header line first).
    fn parse(text: &str) -> Result<Queues, String> {
        let mut q = Queues::default();
        for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
            q.add_line(line)?;
        }
        Ok(q)
    }

    const UDP: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops             \n\
  129: 00000000:14E9 00000000:0000 07 00000000:00000300 00:00000000 00000000   108        0 14387 2 0000000000000000 0          \n\
  371: 1701A8C0:A4C7 0A01A8C0:0035 01 00000240:00000000 00:00000000 00000000   102        0 20911 2 0000000000000000 3          \n";

    const UDP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
  129: 00000000000000000000000000000000:14E9 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000   108        0 14388 2 0000000000000000 0\n";

    #[test]
    fn sums_queues() {
        assert_eq!(
            parse(UDP).unwrap(),
            Queues {
                tx: 0x240,
                rx: 0x300
            }
        );
        assert_eq!(parse(UDP6).unwrap(), Queues { tx: 0, rx: 0 });
        // Header only: no sockets, zero queues.
        assert_eq!(
            parse(UDP.lines().next().unwrap()).unwrap(),
            Queues::default()
        );
    }

    #[test]
    fn parses_tcp_lines() {
        let l = "   1: 1701A8C0:0016 3201A8C0:D6A4 01 00000024:00000000 01:00000014 00000000     0        0 21764 4 0000000000000000 20 4 31 10 -1";
        assert_eq!(
            parse_socket_line(l, false).unwrap(),
            SocketLine {
                st: 1,
                tx_queue: 0x24,
                rx_queue: 0
            }
        );
        // A time-wait line has 12 columns: enough for TCP, not for UDP (drops).
        let tw = "   2: 1701A8C0:A2E4 8D2C1AB9:01BB 06 00000000:00000000 03:000013B4 00000000     0        0 0 3 0000000000000000";
        assert_eq!(parse_socket_line(tw, false).unwrap().st, 6);
        assert!(parse_socket_line(tw, true).is_err());
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse("header\ngarbage\n").is_err());
        let cut = "h\n  129: 00000000:14E9 00000000:0000 07 00000000:00000300 00:00000000\n";
        assert!(parse(cut).is_err());
        let no_colon = UDP.replace("00000000:00000300", "0000000000000300");
        assert!(parse(&no_colon).is_err());
        let bad_hex = UDP.replace("00000240:", "0000024G:");
        assert!(parse(&bad_hex).is_err());
        let bad_addr = UDP.replace("1701A8C0:A4C7", "1701A8C:A4C7");
        assert!(parse(&bad_addr).is_err());
        let bad_inode = UDP.replace(" 14387 ", " x ");
        assert!(parse(&bad_inode).is_err());
    }

    #[test]
    fn missing_udp6_still_reports_v4() {
        use crate::collect::{Options, Root};
        let dir = std::env::temp_dir().join(format!("picket-udp-queues-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("net")).unwrap();
        std::fs::write(dir.join("net/udp"), UDP).unwrap();
        let root = Root {
            procfs: dir.clone(),
            ..Root::default()
        };
        let opts = Options::default();
        let ctx = Ctx {
            root: &root,
            opts: &opts,
        };
        let mut samples = Vec::new();
        let r = update(&ctx, &mut Out::new(&mut samples));
        std::fs::remove_dir_all(&dir).unwrap();
        r.unwrap();
        let got: Vec<(Option<&str>, Option<&str>, f64)> = samples
            .iter()
            .map(|s| (s.labels.get("ip"), s.labels.get("queue"), s.value))
            .collect();
        assert_eq!(
            got,
            [
                (Some("v4"), Some("tx"), 576.0),
                (Some("v4"), Some("rx"), 768.0)
            ]
        );
        // Neither file: no data.
        let ctx = Ctx {
            root: &root,
            opts: &opts,
        };
        assert!(matches!(
            update(&ctx, &mut Out::new(&mut samples)),
            Err(CollectError::NoData(_))
        ));
    }

    #[test]
    fn missing_file_is_not_an_error() {
        let p = Path::new("/nonexistent/picket/net/udp6");
        assert!(!for_each_socket_line(p, |_| Ok(())).unwrap());
    }
}
