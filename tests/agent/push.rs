//! Push and buffer end to end: the real picket binary pushing to a real
//! Prometheus, and to a receiver in this file that can be told to fail
//! (refuse connections, answer 503 or 400, answer slowly) — the one thing
//! no real receiver does on command.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use picket_core::encode::remote_write;

use crate::util::*;

const OK: u8 = 0;
const REFUSE: u8 = 1;
const UNAVAILABLE: u8 = 2;
const BAD_REQUEST: u8 = 3;
const SLOW: u8 = 4;

/// What the receiver got: per request, (series, timestamp) pairs.
#[derive(Default)]
struct Log {
    requests: Vec<Vec<(String, i64)>>,
    order_violations: usize,
}

struct Receiver {
    addr: String,
    mode: Arc<AtomicU8>,
    log: Arc<Mutex<Log>>,
}

impl Receiver {
    fn start() -> Receiver {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr").to_string();
        let mode = Arc::new(AtomicU8::new(OK));
        let log = Arc::new(Mutex::new(Log::default()));
        let (m, lg) = (mode.clone(), log.clone());
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(mut c) = conn else { continue };
                if m.load(Ordering::SeqCst) == REFUSE {
                    // Closed without an answer: a network error for the client.
                    drop(c);
                    continue;
                }
                let (m, lg) = (m.clone(), lg.clone());
                std::thread::spawn(move || while serve_one(&mut c, &m, &lg) {});
            }
        });
        Receiver { addr, mode, log }
    }

    fn url(&self) -> String {
        format!("http://{}/api/v1/write", self.addr)
    }

    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }

    /// Timestamps received for series `name` (its labels up to the
    /// board's identity, `instance` and `job`, which every series carries
    /// after them), with repeats.
    fn stamps(&self, name: &str) -> Vec<i64> {
        let log = self.log.lock().expect("log");
        let with_identity = format!("{name},instance=");
        log.requests
            .iter()
            .flatten()
            .filter(|(s, _)| s.starts_with(&with_identity))
            .map(|&(_, t)| t)
            .collect()
    }
}

/// Reads one request; answers per mode. False when the connection is done.
fn serve_one(c: &mut TcpStream, mode: &AtomicU8, log: &Mutex<Log>) -> bool {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match c.read(&mut b) {
            Ok(1) => head.push(b[0]),
            _ => return false,
        }
    }
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let len: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    if c.read_exact(&mut body).is_err() {
        return false;
    }
    let (status, record) = match mode.load(Ordering::SeqCst) {
        UNAVAILABLE => ("503 Service Unavailable", false),
        BAD_REQUEST => ("400 Bad Request", false),
        REFUSE => return false,
        SLOW => {
            std::thread::sleep(Duration::from_millis(150));
            ("204 No Content", true)
        }
        _ => ("204 No Content", true),
    };
    let headers_ok = text.contains("content-encoding: snappy")
        && text.contains("content-type: application/x-protobuf")
        && text.contains("x-prometheus-remote-write-version: 0.1.0")
        && text.contains("user-agent: picket/");
    let req = remote_write::decode(&body);
    let status = match (&req, headers_ok) {
        (Ok(_), true) => status,
        _ => "400 Bad Request",
    };
    if record && status.starts_with("204") {
        if let Ok(req) = req {
            let mut pts = Vec::new();
            let mut lg = log.lock().expect("log");
            for ts in req.timeseries {
                let name = ts
                    .labels
                    .iter()
                    .map(|l| format!("{}={}", l.name, l.value))
                    .collect::<Vec<_>>()
                    .join(",");
                if ts
                    .samples
                    .windows(2)
                    .any(|w| w[0].timestamp > w[1].timestamp)
                {
                    lg.order_violations += 1;
                }
                for s in ts.samples {
                    pts.push((name.clone(), s.timestamp));
                }
            }
            lg.requests.push(pts);
        }
    }
    let _ = write!(c, "HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
    true
}

/// The agent pushing every 200 ms, only the loadavg collector (3 series plus
/// its scrape series), no exporter metrics except the push telemetry.
fn start_pusher(url: &str, buffer: &std::path::Path, extra: &[&str]) -> Proc {
    let mut args = vec![
        "--collector.disable-defaults",
        "--collector.loadavg",
        "--push-interval=200ms",
    ];
    let push = format!("--push-url={url}");
    let buf = format!("--buffer-path={}", buffer.display());
    args.push(&push);
    args.push(&buf);
    args.extend_from_slice(extra);
    start_picket(&args)
}

fn metric(addr: &str, line_prefix: &str) -> Option<f64> {
    let text = get(addr, "/metrics").ok()?.text();
    text.lines()
        .find(|l| l.starts_with(line_prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Checks one series' timestamps: sorted unique, and no gap above 1.5
/// intervals between `from` and `to` (inclusive).
fn assert_contiguous(stamps: &[i64], what: &str) -> BTreeSet<i64> {
    let set: BTreeSet<i64> = stamps.iter().copied().collect();
    let v: Vec<i64> = set.iter().copied().collect();
    for w in v.windows(2) {
        assert!(
            w[1] - w[0] <= 300,
            "{what}: gap of {} ms between {} and {} (received {} stamps)",
            w[1] - w[0],
            w[0],
            w[1],
            v.len()
        );
    }
    set
}

const LOAD1: &str = "__name__=node_load1";

#[test]
fn outage_then_recovery_delivers_every_sample_once_fresh_first() {
    let rx = Receiver::start();
    let dir = temp_dir("push-outage");
    // Small requests, so that draining the backlog takes several of them
    // and fresh batches have a chance to go out in between.
    let cfg = dir.join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[push.remote_write]]\nurl = \"{}\"\nmax_samples_per_send = 20\n",
            rx.url()
        ),
    )
    .expect("write config");
    let c = format!("--config.file={}", cfg.display());
    let p = start_picket(&[
        "--collector.disable-defaults",
        "--collector.loadavg",
        "--push-interval=200ms",
        &format!("--buffer-path={}", dir.join("buf").display()),
        &c,
    ]);
    let buffered = format!("picket_buffer_batches{{url=\"{}\"}}", rx.url());
    wait_until(Duration::from_secs(10), "first deliveries", || {
        rx.stamps(LOAD1).len() >= 3
    });
    // Outage: 503 for a while, then connections refused.
    rx.set(UNAVAILABLE);
    wait_until(Duration::from_secs(10), "batches buffered", || {
        metric(&p.addr, &buffered).unwrap_or(0.0) >= 8.0
    });
    rx.set(REFUSE);
    wait_until(Duration::from_secs(10), "more batches buffered", || {
        metric(&p.addr, &buffered).unwrap_or(0.0) >= 16.0
    });
    let backlog = metric(&p.addr, &buffered).unwrap_or(0.0);
    // Recovery with a slow receiver: fresh batches must not wait for the backlog.
    rx.set(SLOW);
    wait_until(Duration::from_secs(60), "backlog drained", || {
        metric(&p.addr, &buffered) == Some(0.0)
    });
    std::thread::sleep(Duration::from_millis(500));
    let stamps = rx.stamps(LOAD1);
    let set = assert_contiguous(&stamps, "node_load1");
    assert_eq!(stamps.len(), set.len(), "a sample arrived twice");
    assert!(
        set.len() as f64 >= 3.0 + backlog,
        "{} < backlog {backlog}",
        set.len()
    );
    let log = rx.log.lock().expect("log");
    assert_eq!(
        log.order_violations, 0,
        "samples out of time order in a request"
    );
    // fresh-first: some request carried a newer sample than a later request.
    let maxes: Vec<i64> = log
        .requests
        .iter()
        .filter_map(|r| {
            r.iter()
                .filter(|(s, _)| s.starts_with(&format!("{LOAD1},")))
                .map(|p| p.1)
                .max()
        })
        .collect();
    let overtaken = maxes.windows(2).any(|w| w[1] < w[0]);
    assert!(
        overtaken,
        "no fresh batch went out ahead of the backlog: {maxes:?}"
    );
    drop(log);
    let requests_503 = format!(
        "picket_remote_write_requests_total{{code=\"503\",url=\"{}\"}}",
        rx.url()
    );
    assert!(metric(&p.addr, &requests_503).unwrap_or(0.0) >= 1.0);
}

#[test]
fn in_order_mode_keeps_fresh_batches_behind_the_backlog() {
    let rx = Receiver::start();
    let dir = temp_dir("push-inorder");
    let cfg = dir.join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            "[push]\ninterval = \"200ms\"\nbuffer_path = \"{}\"\n\n[[push.remote_write]]\nurl = \"{}\"\nreplay_order = \"in-order\"\nmax_samples_per_send = 100\n",
            dir.join("buf").display(),
            rx.url()
        ),
    )
    .expect("write config");
    let c = format!("--config.file={}", cfg.display());
    let p = start_picket(&["--collector.disable-defaults", "--collector.loadavg", &c]);
    let buffered = format!("picket_buffer_batches{{url=\"{}\"}}", rx.url());
    rx.set(UNAVAILABLE);
    wait_until(Duration::from_secs(10), "batches buffered", || {
        metric(&p.addr, &buffered).unwrap_or(0.0) >= 10.0
    });
    rx.set(SLOW);
    wait_until(Duration::from_secs(60), "backlog drained", || {
        metric(&p.addr, &buffered) == Some(0.0)
    });
    let log = rx.log.lock().expect("log");
    let all: Vec<i64> = log
        .requests
        .iter()
        .flatten()
        .filter(|(s, _)| s == LOAD1)
        .map(|p| p.1)
        .collect();
    assert!(all.windows(2).all(|w| w[0] < w[1]), "not in order: {all:?}");
    drop(log);
    assert_contiguous(&rx.stamps(LOAD1), "node_load1");
}

#[test]
fn rejected_batches_are_dropped_and_counted() {
    let rx = Receiver::start();
    let dir = temp_dir("push-400");
    let p = start_pusher(&rx.url(), &dir, &[]);
    wait_until(Duration::from_secs(10), "first deliveries", || {
        !rx.stamps(LOAD1).is_empty()
    });
    rx.set(BAD_REQUEST);
    let rejected = format!(
        "picket_buffer_dropped_samples_total{{reason=\"rejected\",url=\"{}\"}}",
        rx.url()
    );
    wait_until(Duration::from_secs(10), "rejections", || {
        metric(&p.addr, &rejected).unwrap_or(0.0) > 0.0
    });
    rx.set(OK);
    std::thread::sleep(Duration::from_millis(600));
    let buffered = format!("picket_buffer_batches{{url=\"{}\"}}", rx.url());
    assert_eq!(
        metric(&p.addr, &buffered),
        Some(0.0),
        "4xx must not be buffered"
    );
    let failures = format!(
        "picket_remote_write_failures_total{{code=\"400\",url=\"{}\"}}",
        rx.url()
    );
    assert!(metric(&p.addr, &failures).unwrap_or(0.0) >= 1.0);
}

#[test]
fn kill_9_during_an_outage_loses_nothing() {
    let rx = Receiver::start();
    let dir = temp_dir("push-kill");
    rx.set(UNAVAILABLE);
    let mut p = start_pusher(&rx.url(), &dir, &[]);
    let buffered = format!("picket_buffer_batches{{url=\"{}\"}}", rx.url());
    wait_until(Duration::from_secs(10), "batches buffered", || {
        metric(&p.addr, &buffered).unwrap_or(0.0) >= 10.0
    });
    let before = metric(&p.addr, &buffered).unwrap_or(0.0);
    // SIGKILL: no chance to flush anything.
    p.child.kill().expect("kill -9");
    let _ = p.child.wait();
    let status = picket(&[
        "buffer",
        "status",
        &format!("--buffer-path={}", dir.display()),
    ]);
    let text = String::from_utf8_lossy(&status.stdout).into_owned();
    let batches: f64 = text
        .split(" batches")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(batches >= before, "buffer status after kill -9: {text}");
    rx.set(OK);
    let p = start_pusher(&rx.url(), &dir, &[]);
    wait_until(Duration::from_secs(30), "backlog drained", || {
        metric(&p.addr, &buffered) == Some(0.0)
    });
    let got: BTreeSet<i64> = rx.stamps(LOAD1).into_iter().collect();
    assert!(
        got.len() as f64 >= batches,
        "{} stamps received, {batches} were buffered",
        got.len()
    );
    // Every stamp of the first run (before the kill) is contiguous.
    let first_run: Vec<i64> = got.iter().copied().take(batches as usize).collect();
    assert_contiguous(&first_run, "first run");
}

#[test]
fn a_corrupt_buffer_file_is_moved_aside_and_a_new_one_works() {
    let rx = Receiver::start();
    let dir = temp_dir("push-corrupt");
    let name = picket_forward::buffer::file_name(&rx.url());
    std::fs::write(
        dir.join(&name),
        b"SQLite format 3\0 but then garbage, not a database",
    )
    .expect("write garbage");
    let p = start_pusher(&rx.url(), &dir, &[]);
    wait_until(Duration::from_secs(10), "deliveries", || {
        rx.stamps(LOAD1).len() >= 2
    });
    let aside: Vec<_> = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&name) && n.contains(".corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "moved-aside file: {aside:?}");
    drop(p);
}

#[test]
#[ignore = "needs prometheus and promtool (tests/run.sh installs them)"]
fn a_real_prometheus_receives_everything_across_its_own_restart() {
    require("prometheus");
    require("promtool");
    let dir = temp_dir("push-prometheus");
    let cfg = dir.join("prometheus.yml");
    std::fs::write(
        &cfg,
        "global: {scrape_interval: 15s}\nstorage:\n  tsdb:\n    out_of_order_time_window: 1h\n",
    )
    .expect("write config");
    let port = free_port();
    let prom_addr = format!("127.0.0.1:{port}");
    let start_prom = || start_prometheus(&dir, &prom_addr, &["--web.enable-remote-write-receiver"]);
    let prom = start_prom();
    let url = format!("http://{prom_addr}/api/v1/write");
    let p = start_pusher(&url, &dir.join("buf"), &[]);
    let query = |q: &str| promql(&prom_addr, q);
    wait_until(Duration::from_secs(20), "node_load1 in Prometheus", || {
        query("node_load1").contains("node_load1")
    });
    // Prometheus goes away for a while (SIGTERM: a clean stop, so its own
    // WAL keeps what it accepted); picket buffers.
    let mut prom = prom;
    let _ = Command::new("kill").arg(prom.pid().to_string()).status();
    let _ = prom.child.wait();
    let buffered = format!("picket_buffer_batches{{url=\"{url}\"}}");
    wait_until(Duration::from_secs(20), "batches buffered", || {
        metric(&p.addr, &buffered).unwrap_or(0.0) >= 10.0
    });
    let peak = metric(&p.addr, &buffered).unwrap_or(0.0);
    let _prom = start_prom();
    wait_until(Duration::from_secs(60), "backlog drained", || {
        metric(&p.addr, &buffered) == Some(0.0)
    });
    // The raw samples of node_load1 in Prometheus: one per 200 ms
    // collection from the first to now, the outage included.
    let raw = query("node_load1[5m]");
    let stamps: Vec<i64> = raw
        .lines()
        .filter_map(|l| l.split(" @[").nth(1))
        .filter_map(|t| t.trim_end_matches(']').parse::<f64>().ok())
        .map(|t| (t * 1000.0).round() as i64)
        .collect();
    // Everything buffered during the outage, plus what went before it.
    assert!(
        stamps.len() as f64 > peak,
        "{} samples, {peak} batches were buffered: {raw}",
        stamps.len()
    );
    assert_contiguous(&stamps, "node_load1 in Prometheus");
    let rejected =
        format!("picket_buffer_dropped_samples_total{{reason=\"rejected\",url=\"{url}\"}}");
    assert_eq!(
        metric(&p.addr, &rejected),
        Some(0.0),
        "Prometheus rejected samples"
    );
}

/// Rewrites `<dir>/load.prom` with `n` series of fresh pseudo-random values
/// every 50 ms until `stop` is set, so that batches do not compress to
/// nothing and the buffer grows at a realistic rate.
fn churn_textfile(dir: std::path::PathBuf, n: usize, stop: Arc<AtomicU8>) {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut write = move || {
        let mut s = String::from("# TYPE load_value gauge\n");
        for i in 0..n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            s.push_str(&format!("load_value{{i=\"{i}\"}} {}\n", x % 1_000_000));
        }
        let tmp = dir.join("load.prom.tmp");
        std::fs::write(&tmp, s).expect("write textfile");
        std::fs::rename(&tmp, dir.join("load.prom")).expect("rename textfile");
    };
    write();
    std::thread::spawn(move || {
        while stop.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(50));
            write();
        }
    });
}

/// Every (series, timestamp) a receiver got, up to `cutoff` inclusive.
fn pairs_upto(rx: &Receiver, cutoff: i64) -> BTreeSet<(String, i64)> {
    let log = rx.log.lock().expect("log");
    log.requests
        .iter()
        .flatten()
        .filter(|p| p.1 <= cutoff)
        .cloned()
        .collect()
}

#[test]
fn a_full_buffer_drops_the_oldest_and_counts_exactly_what_is_missing() {
    // Two receivers get the same batches: `all` never fails and is the
    // ground truth; `capped` goes away long enough to overflow a 64 KiB
    // buffer. What `capped` misses must be exactly the dropped counter,
    // and the oldest batches of the outage.
    let all = Receiver::start();
    let capped = Receiver::start();
    let dir = temp_dir("push-cap");
    let text = dir.join("textfile");
    std::fs::create_dir_all(&text).expect("textfile dir");
    let stop = Arc::new(AtomicU8::new(0));
    churn_textfile(text.clone(), 500, stop.clone());
    let cfg = dir.join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            "[push]\ninterval = \"100ms\"\nbuffer_path = \"{}\"\n\n[push.buffer]\nmax_bytes = 65536\n\n\
             [[push.remote_write]]\nurl = \"{}\"\n\n\
             [[push.remote_write]]\nurl = \"{}\"\nmin_backoff = \"100ms\"\nmax_backoff = \"200ms\"\n",
            dir.join("buf").display(),
            all.url(),
            capped.url()
        ),
    )
    .expect("write config");
    let p = start_picket(&[
        "--collector.disable-defaults",
        "--collector.textfile",
        &format!("--collector.textfile.directory={}", text.display()),
        &format!("--config.file={}", cfg.display()),
    ]);
    let name = "__name__=load_value,i=0";
    wait_until(Duration::from_secs(10), "first deliveries", || {
        capped.stamps(name).len() >= 3
    });
    capped.set(REFUSE);
    let dropped = format!(
        "picket_buffer_dropped_samples_total{{reason=\"max_bytes\",url=\"{}\"}}",
        capped.url()
    );
    wait_until(Duration::from_secs(60), "the cap to drop batches", || {
        metric(&p.addr, &dropped).unwrap_or(0.0) > 0.0
    });
    // A while longer, so that several rounds of dropping happen.
    std::thread::sleep(Duration::from_secs(2));
    capped.set(OK);
    let buffered = format!("picket_buffer_batches{{url=\"{}\"}}", capped.url());
    wait_until(Duration::from_secs(60), "backlog drained", || {
        metric(&p.addr, &buffered) == Some(0.0)
    });
    std::thread::sleep(Duration::from_millis(500));
    let dropped_n = metric(&p.addr, &dropped).expect("dropped counter");
    let age = format!(
        "picket_buffer_dropped_samples_total{{reason=\"max_age\",url=\"{}\"}}",
        capped.url()
    );
    assert_eq!(metric(&p.addr, &age).unwrap_or(0.0), 0.0);
    stop.store(1, Ordering::SeqCst);
    drop(p);

    let last = |rx: &Receiver| rx.stamps(name).into_iter().max().unwrap_or(0);
    let cutoff = last(&all).min(last(&capped));
    let truth = pairs_upto(&all, cutoff);
    let got = pairs_upto(&capped, cutoff);
    assert!(got.is_subset(&truth), "capped got samples never sent");
    let missing: Vec<&(String, i64)> = truth.difference(&got).collect();
    assert!(!missing.is_empty(), "nothing was dropped");
    assert_eq!(
        missing.len() as f64,
        dropped_n,
        "missing at the receiver vs picket_buffer_dropped_samples_total"
    );
    // Whole batches, and the oldest of the outage: no stamp the capped
    // receiver got lies inside the missing range.
    let lost: BTreeSet<i64> = missing.iter().map(|p| p.1).collect();
    let (lo, hi) = (*lost.first().expect("lost"), *lost.last().expect("lost"));
    let kept: BTreeSet<i64> = got.iter().map(|p| p.1).collect();
    assert!(
        kept.range(lo..=hi).next().is_none(),
        "a batch inside the dropped range survived: dropped {lo}..={hi}"
    );
    assert!(
        kept.range(hi..).count() > 5,
        "nothing after the drop arrived"
    );
    for t in &lost {
        let sent = truth.iter().filter(|p| p.1 == *t).count();
        let miss = missing.iter().filter(|p| p.1 == *t).count();
        assert_eq!(sent, miss, "batch {t} only partly dropped");
    }
}

#[test]
#[ignore = "needs prometheus and promtool (tests/run.sh installs them)"]
fn in_order_replay_to_a_strict_prometheus_is_never_rejected() {
    // A stock Prometheus without out_of_order_time_window rejects any
    // sample older than the newest it holds for that series. In in-order
    // mode the backlog goes before fresh data, so it rejects nothing.
    require("prometheus");
    require("promtool");
    let dir = temp_dir("push-strict");
    std::fs::write(
        dir.join("prometheus.yml"),
        "global: {scrape_interval: 15s}\n",
    )
    .expect("write config");
    let prom_addr = format!("127.0.0.1:{}", free_port());
    let start_prom = || start_prometheus(&dir, &prom_addr, &["--web.enable-remote-write-receiver"]);
    let mut prom = start_prom();
    let url = format!("http://{prom_addr}/api/v1/write");
    let cfg = dir.join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            "[push]\ninterval = \"200ms\"\nbuffer_path = \"{}\"\n\n[[push.remote_write]]\nurl = \"{url}\"\n\
             replay_order = \"in-order\"\nmax_samples_per_send = 30\nmin_backoff = \"100ms\"\nmax_backoff = \"500ms\"\n",
            dir.join("buf").display()
        ),
    )
    .expect("write config");
    let p = start_picket(&[
        "--collector.disable-defaults",
        "--collector.loadavg",
        &format!("--config.file={}", cfg.display()),
    ]);
    wait_until(Duration::from_secs(20), "node_load1 in Prometheus", || {
        promql(&prom_addr, "node_load1").contains("node_load1")
    });
    let _ = Command::new("kill").arg(prom.pid().to_string()).status();
    let _ = prom.child.wait();
    let buffered = format!("picket_buffer_batches{{url=\"{url}\"}}");
    wait_until(Duration::from_secs(20), "batches buffered", || {
        metric(&p.addr, &buffered).unwrap_or(0.0) >= 15.0
    });
    let _prom = start_prom();
    wait_until(Duration::from_secs(60), "backlog drained", || {
        metric(&p.addr, &buffered) == Some(0.0)
    });
    std::thread::sleep(Duration::from_secs(1));
    let rejected =
        format!("picket_buffer_dropped_samples_total{{reason=\"rejected\",url=\"{url}\"}}");
    assert_eq!(
        metric(&p.addr, &rejected),
        Some(0.0),
        "Prometheus rejected samples"
    );
    let raw = promql(&prom_addr, "node_load1[5m]");
    let stamps: Vec<i64> = raw
        .lines()
        .filter_map(|l| l.split(" @[").nth(1))
        .filter_map(|t| t.trim_end_matches(']').parse::<f64>().ok())
        .map(|t| (t * 1000.0).round() as i64)
        .collect();
    assert!(stamps.len() >= 20, "{raw}");
    assert_contiguous(&stamps, "node_load1 in a strict Prometheus");
}

/// libfaketime from Debian's faketime package, if installed.
fn libfaketime() -> Option<std::path::PathBuf> {
    [
        "x86_64-linux-gnu",
        "aarch64-linux-gnu",
        "arm-linux-gnueabihf",
    ]
    .iter()
    .map(|t| std::path::PathBuf::from(format!("/usr/lib/{t}/faketime/libfaketimeMT.so.1")))
    .find(|p| p.exists())
}

#[test]
#[ignore = "needs libfaketime (tests/run.sh installs faketime)"]
fn batches_collected_before_the_clock_is_set_are_held_and_restamped() {
    // A Pi without an RTC boots in 1970 until NTP steps the clock. The wall
    // clock is faked 55 years back (libfaketime, re-read from a file on
    // every call), then stepped to the real time. Nothing stamped in the
    // past epoch may leave the agent; what was collected meanwhile arrives
    // re-stamped at its real collection time.
    let lib = libfaketime().expect("libfaketime: apt-get install faketime");
    let rx = Receiver::start();
    let dir = temp_dir("push-clock");
    let offset = dir.join("faketime");
    std::fs::write(&offset, "-20000d\n").expect("write offset");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let real_start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let _p = Launch::agent()
        .at(&addr)
        .args([
            "--collector.disable-defaults",
            "--collector.loadavg",
            "--push-interval=200ms",
            &format!("--push-url={}", rx.url()),
            &format!("--buffer-path={}", dir.join("buf").display()),
        ])
        .envs([
            ("LD_PRELOAD", lib.to_str().expect("utf-8 path")),
            (
                "FAKETIME_TIMESTAMP_FILE",
                offset.to_str().expect("utf-8 path"),
            ),
            ("FAKETIME_NO_CACHE", "1"),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
        ])
        .quiet()
        .start();
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        rx.stamps(LOAD1).is_empty(),
        "sent while the clock read 1971: {:?}",
        rx.stamps(LOAD1)
    );
    // NTP steps the clock.
    std::fs::write(&offset, "+0\n").expect("write offset");
    let stepped = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    wait_until(Duration::from_secs(10), "held batches", || {
        rx.stamps(LOAD1).iter().any(|&t| t > stepped + 400)
    });
    let stamps = rx.stamps(LOAD1);
    assert!(
        stamps.iter().all(|&t| t >= picket::push::CLOCK_FLOOR_MS),
        "a sample stamped before 2026: {stamps:?}"
    );
    let set = assert_contiguous(&stamps, "node_load1 across the clock step");
    assert_eq!(set.len(), stamps.len(), "a batch arrived twice");
    // The held ones carry their real collection time (within the 200 ms
    // interval plus startup), not the time of the step.
    let first = *set.first().expect("stamps");
    assert!(
        (first - real_start).abs() < 1000,
        "first stamp {first} vs start {real_start}"
    );
    assert!(set.range(..stepped).count() >= 8, "held batches: {set:?}");
}

/// `write_relabel_configs` per receiver: a dropped series never reaches
/// the receiver (nor its buffer), a rewritten one arrives rewritten, and a
/// second receiver without relabelling gets everything.
#[test]
fn write_relabel_configs_drop_and_rewrite_per_receiver() {
    let (plain, relabelled) = (Receiver::start(), Receiver::start());
    let dir = temp_dir("push-relabel");
    let cfg = dir.join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"[push]
interval = "200ms"
buffer_path = "{buf}"
[[push.remote_write]]
url = "{plain}"
[[push.remote_write]]
url = "{relabelled}"
[[push.remote_write.write_relabel_configs]]
source_labels = ["__name__"]
regex = "node_load(5|15)"
action = "drop"
[[push.remote_write.write_relabel_configs]]
source_labels = ["job", "__name__"]
regex = "(.*);node_(.*)"
target_label = "origin"
replacement = "$1-$2"
"#,
            buf = dir.join("buffer").display(),
            plain = plain.url(),
            relabelled = relabelled.url(),
        ),
    )
    .unwrap();
    let flag = format!("--config.file={}", cfg.display());
    let _agent = start_picket(&["--collector.disable-defaults", "--collector.loadavg", &flag]);
    let names = |rx: &Receiver| -> BTreeSet<String> {
        let log = rx.log.lock().expect("log");
        log.requests
            .iter()
            .flatten()
            .map(|(s, _)| s.clone())
            .filter(|s| s.starts_with("__name__=node_load"))
            .collect()
    };
    wait_until(
        Duration::from_secs(10),
        "both receivers get batches",
        || names(&plain).len() >= 3 && !names(&relabelled).is_empty(),
    );
    std::thread::sleep(Duration::from_millis(500));
    let all = names(&plain);
    assert!(
        all.iter().any(|s| s.starts_with("__name__=node_load15,")),
        "{all:?}"
    );
    let got = names(&relabelled);
    assert_eq!(got.len(), 1, "only node_load1 passes: {got:?}");
    let s = got.iter().next().unwrap();
    assert!(s.starts_with("__name__=node_load1,"), "{s}");
    assert!(s.contains(",origin=node-load1"), "{s}");
}
