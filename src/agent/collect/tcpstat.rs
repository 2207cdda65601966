//! tcpstat (off by default): `/proc/net/tcp` and `/proc/net/tcp6` →
//! `node_tcp_connection_states` gauge {state}.
//!
//! node_exporter asks the kernel over netlink (INET_DIAG); picket reads the
//! same sockets from procfs instead, so it needs no netlink code and works
//! on fixture trees. The series set is node_exporter's: one series per
//! state seen (`established`, `syn_sent`, `syn_recv`, `fin_wait1`,
//! `fin_wait2`, `time_wait`, `close`, `close_wait`, `last_ack`, `listen`,
//! `closing`; anything else counts as `unknown`), plus `rx_queued_bytes`
//! and `tx_queued_bytes`, the sums of the `rx_queue`/`tx_queue` columns,
//! whenever there is at least one socket. IPv4 and IPv6 are added together;
//! a missing `tcp6` (IPv6 disabled) is skipped.
//!
//! One difference remains: for a *listening* socket netlink reports the
//! accept backlog limit as its send queue, which node_exporter adds to
//! `tx_queued_bytes`; procfs shows that socket's real (empty) send queue,
//! so picket's `tx_queued_bytes` leaves the backlog limits out.
//!
//! Cost: both files have one ~150-byte line per socket, time-wait and
//! half-open ones included, so a scrape is O(connections). They are
//! streamed line by line (memory stays flat), which is fine for a board
//! with a few hundred sockets but slower than netlink on a busy server.

use super::udp_queues::{for_each_socket_line, parse_socket_line};
use super::{CollectError, Ctx, Out};

const HELP: &str = "Number of connection states.";

/// State names by the kernel's `TCP_*` number (index = `st` column).
const STATES: [&str; 12] = [
    "unknown",
    "established",
    "syn_sent",
    "syn_recv",
    "fin_wait1",
    "fin_wait2",
    "time_wait",
    "close",
    "close_wait",
    "last_ack",
    "listen",
    "closing",
];

/// Reads both files and writes one series per state seen.
pub(crate) fn update(ctx: &Ctx<'_>, out: &mut Out<'_>) -> Result<(), CollectError> {
    let mut stats = TcpStats::default();
    let path = ctx.root.proc("net/tcp");
    if !for_each_socket_line(&path, |line| stats.add_line(line))? {
        return Err(CollectError::NoData(format!(
            "{}: not found",
            path.display()
        )));
    }
    for_each_socket_line(&ctx.root.proc("net/tcp6"), |line| stats.add_line(line))?;
    for (state, v) in stats.series() {
        out.gauge("node_tcp_connection_states", HELP, &[("state", state)], v);
    }
    Ok(())
}

/// Socket counts by state and summed queues of `/proc/net/tcp{,6}`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TcpStats {
    /// Sockets per `st` value; index 0 also collects out-of-range states.
    pub states: [u64; 12],
    /// Sum of `rx_queue`.
    pub rx_queued: u64,
    /// Sum of `tx_queue`.
    pub tx_queued: u64,
    /// Number of sockets seen.
    pub sockets: u64,
}

impl TcpStats {
    /// Adds one socket line (not the header).
    pub(crate) fn add_line(&mut self, line: &str) -> Result<(), String> {
        let s = parse_socket_line(line, false)?;
        let i = usize::try_from(s.st)
            .ok()
            .filter(|&i| i < STATES.len())
            .unwrap_or(0);
        self.states[i] += 1;
        self.rx_queued = self.rx_queued.saturating_add(s.rx_queue);
        self.tx_queued = self.tx_queued.saturating_add(s.tx_queue);
        self.sockets += 1;
        Ok(())
    }

    /// The (state label, value) pairs node_exporter would report.
    pub(crate) fn series(&self) -> Vec<(&'static str, f64)> {
        let mut v: Vec<(&'static str, f64)> = STATES
            .iter()
            .zip(self.states)
            .filter(|&(_, n)| n > 0)
            .map(|(&s, n)| (s, n as f64))
            .collect();
        if self.sockets > 0 {
            v.push(("rx_queued_bytes", self.rx_queued as f64));
            v.push(("tx_queued_bytes", self.tx_queued as f64));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Adds a whole `/proc/net/tcp{,6}` text (header line first) to `stats`.
    fn parse(text: &str, stats: &mut TcpStats) -> Result<(), String> {
        for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
            stats.add_line(line)?;
        }
        Ok(())
    }

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 14562 1 0000000000000000 100 0 0 10 0\n\
   1: 1701A8C0:0016 3201A8C0:D6A4 01 00000024:00000000 01:00000014 00000000     0        0 21764 4 0000000000000000 20 4 31 10 -1\n\
   2: 1701A8C0:A2E4 8D2C1AB9:01BB 06 00000000:00000000 03:000013B4 00000000     0        0 0 3 0000000000000000\n";

    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 00000000000000000000000000000000:238C 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000   999        0 16810 1 0000000000000000 100 0 0 10 0\n\
   1: 0000000000000000FFFF00001701A8C0:238C 0000000000000000FFFF00000A01A8C0:9C4E 01 00000000:0000001C 02:000AFB7B 00000000   999        0 23901 1 0000000000000000 20 4 30 10 -1\n";

    #[test]
    fn counts_states_and_queues() {
        let mut s = TcpStats::default();
        parse(TCP, &mut s).unwrap();
        parse(TCP6, &mut s).unwrap();
        assert_eq!(
            s.series(),
            vec![
                ("established", 2.0),
                ("time_wait", 1.0),
                ("listen", 2.0),
                ("rx_queued_bytes", 28.0),
                ("tx_queued_bytes", 36.0),
            ]
        );
    }

    #[test]
    fn no_sockets_no_series() {
        let mut s = TcpStats::default();
        parse(TCP.lines().next().unwrap(), &mut s).unwrap();
        assert!(s.series().is_empty());
    }

    #[test]
    fn odd_state_is_unknown() {
        let mut s = TcpStats::default();
        let l = "   0: 00000000:0016 00000000:0000 0D 00000000:00000000 00:00000000 00000000     0        0 1 1 0";
        s.add_line(l).unwrap();
        assert_eq!(s.series()[0], ("unknown", 1.0));
    }

    #[test]
    fn rejects_garbage() {
        let mut s = TcpStats::default();
        assert!(parse("h\n   0: 00000000:0016 00000000:0000 0A\n", &mut s).is_err());
        assert!(parse(&TCP.replace(" 0A ", " ZZ "), &mut s).is_err());
        assert!(parse(
            &TCP.replace("00000024:00000000", "00000024-00000000"),
            &mut s
        )
        .is_err());
    }
}
