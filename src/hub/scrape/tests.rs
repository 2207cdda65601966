//! Loopback tests of the whole scraper: a tiny HTTP server on 127.0.0.1
//! serves a body the test changes, a [`Manager`] scrapes it every 200ms
//! into a sink that collects rows, and the test watches what arrives.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::config::{self, ScrapeConfigToml};
use super::*;

/// A sink that keeps every row.
#[derive(Default)]
struct Collect(Mutex<Vec<Row>>);

impl Sink for Collect {
    fn append(&self, rows: Vec<Row>) -> Result<(), String> {
        lock(&self.0).extend(rows);
        Ok(())
    }
}

impl Collect {
    /// Waits (up to 3 s) until some row after `from` satisfies `f`; returns
    /// the number of rows seen so far.
    fn wait(&self, from: usize, what: &str, f: impl Fn(&Row) -> bool) -> usize {
        let end = Instant::now() + Duration::from_secs(3);
        loop {
            {
                let rows = lock(&self.0);
                if rows.iter().skip(from).any(&f) {
                    return rows.len();
                }
            }
            assert!(Instant::now() < end, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn len(&self) -> usize {
        lock(&self.0).len()
    }
}

fn name(r: &Row) -> &str {
    r.0.get("__name__").unwrap_or("")
}

fn is_stale(r: &Row) -> bool {
    r.2.to_bits() == STALE_NAN_BITS
}

/// A one-request-per-connection HTTP server for `/metrics`.
struct Server {
    addr: SocketAddr,
    body: Arc<Mutex<String>>,
    /// Request heads received.
    heads: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start(body: &str) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let body = Arc::new(Mutex::new(body.to_string()));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (b, h, s) = (body.clone(), heads.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(c) = conn {
                    answer(c, &b, &h);
                }
            }
        });
        Server {
            addr,
            body,
            heads,
            stop,
            thread: Some(thread),
        }
    }

    fn set_body(&self, body: &str) {
        *lock(&self.body) = body.to_string();
    }

    /// Closes the listening socket: later scrapes are refused.
    fn shut(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shut();
    }
}

/// Reads a request head and answers with the body, gzipped if asked.
fn answer(mut c: TcpStream, body: &Mutex<String>, heads: &Mutex<Vec<String>>) {
    let _ = c.set_read_timeout(Some(Duration::from_secs(1)));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.ends_with(b"\r\n\r\n") {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head).to_lowercase();
    let gzip = head.contains("accept-encoding: gzip");
    lock(heads).push(head);
    let text = lock(body).clone();
    let (payload, enc) = if gzip {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let _ = e.write_all(text.as_bytes());
        (e.finish().unwrap_or_default(), "Content-Encoding: gzip\r\n")
    } else {
        (text.into_bytes(), "")
    };
    let _ = write!(
        c,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n{enc}Content-Length: {}\r\nConnection: close\r\n\r\n",
        payload.len()
    );
    let _ = c.write_all(&payload);
}

fn job(toml_text: &str) -> ScrapeConfig {
    let t: ScrapeConfigToml = toml::from_str(toml_text).expect("toml");
    t.resolve(
        config::DEFAULT_SCRAPE_INTERVAL,
        config::DEFAULT_SCRAPE_TIMEOUT,
    )
    .expect("resolves")
}

#[test]
fn manager_can_be_shared_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Manager>();
    assert_eq!(scrape_loop::thread_name("scrape", "a\0b"), "scrape ab");
}

const BODY: &str =
    "a{k=\"v\"} 1\nb 2\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 3\nh_sum 1.5\nh_count 3\n";

#[test]
fn scrapes_marks_stale_and_reports_down() {
    let mut server = Server::start(BODY);
    let cfg = job(&format!(
        "job_name = \"app\"\nscrape_interval = \"200ms\"\nscrape_timeout = \"150ms\"\n\
         basic_auth = {{ username = \"u\", password = \"p\" }}\n\
         [[static_configs]]\ntargets = [\"{}\"]\nlabels = {{ env = \"lab\" }}\n",
        server.addr
    ));
    let sink = Arc::new(Collect::default());
    let m = Manager::start(vec![cfg.clone()], sink.clone());
    let instance = server.addr.to_string();

    // First scrape: samples with target labels, and up = 1.
    let n = sink.wait(0, "up 1", |r| name(r) == "up" && r.2 == 1.0);
    {
        let rows = lock(&sink.0);
        let a = rows.iter().find(|r| name(r) == "a").expect("a");
        let l: Vec<_> = a.0.iter().map(|(n, v)| format!("{n}={v}")).collect();
        assert_eq!(
            l,
            [
                "__name__=a".to_string(),
                "env=lab".into(),
                format!("instance={instance}"),
                "job=app".into(),
                "k=v".into()
            ]
        );
        assert_eq!(a.2, 1.0);
        let bucket = rows
            .iter()
            .find(|r| name(r) == "h_bucket")
            .expect("h_bucket");
        assert_eq!(bucket.0.get("le"), Some("+Inf"));
        let scraped = rows
            .iter()
            .find(|r| name(r) == "scrape_samples_scraped")
            .expect("scrape_samples_scraped");
        assert_eq!(scraped.2, 5.0);
        assert_eq!(scraped.1, a.1, "samples at the scrape's time");
    }
    let head = lock(&server.heads)[0].clone();
    assert!(
        head.contains("x-prometheus-scrape-timeout-seconds: 0.15"),
        "{head}"
    );
    assert!(head.contains("accept: text/plain;version=0.0.4"), "{head}");
    assert!(head.contains("authorization: basic dtpw"), "{head}");
    let t = m.targets();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].health, "up");
    assert_eq!(t[0].scrape_url, format!("http://{instance}/metrics"));
    assert_eq!(t[0].scrape_interval, "200ms");
    assert_eq!(t[0].labels.get("env"), Some("lab"));
    assert!(t[0].last_scrape_ms > 0);

    // Same config again: the loop keeps running.
    let loop_of = |m: &Manager| {
        lock(&m.shared.state).pools["app"]
            .loops
            .values()
            .next()
            .map(|h| h.lp.clone())
            .expect("a loop")
    };
    let before = loop_of(&m);
    m.reload(vec![cfg.clone()]);
    assert!(
        Arc::ptr_eq(&before, &loop_of(&m)),
        "unchanged target restarted"
    );

    // `b` disappears: a stale marker with the exact bits.
    server.set_body(
        "a{k=\"v\"} 2\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 3\nh_sum 1.5\nh_count 3\n",
    );
    let n = sink.wait(n, "stale b", |r| name(r) == "b" && is_stale(r));

    // The target goes away: up = 0 and the other series go stale.
    server.shut();
    let from = sink.len();
    sink.wait(from, "up 0", |r| name(r) == "up" && r.2 == 0.0);
    {
        let rows = lock(&sink.0);
        assert!(rows[n..].iter().any(|r| name(r) == "a" && is_stale(r)));
        assert!(!rows[n..].iter().any(|r| name(r) == "up" && is_stale(r)));
    }
    let t = m.targets();
    assert_eq!(t[0].health, "down");
    assert!(!t[0].last_error.is_empty());

    // Removing the job marks its report series stale, at once.
    let from = sink.len();
    m.reload(Vec::new());
    assert!(lock(&sink.0)[from..]
        .iter()
        .any(|r| name(r) == "up" && is_stale(r)));
    assert!(m.targets().is_empty());
    m.stop();
    let after = sink.len();
    std::thread::sleep(Duration::from_millis(250));
    assert_eq!(sink.len(), after, "nothing written after stop");
}

#[test]
fn file_sd_targets_follow_the_file() {
    let dir = std::env::temp_dir().join(format!("picket-scrape-sd-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let file = dir.join("t.yml");
    std::fs::write(&file, "- targets: ['127.0.0.1:1']\n  labels: {env: a}\n").expect("write");
    let cfg = job(&format!(
        "job_name = \"sd\"\nscrape_interval = \"10s\"\n[[file_sd_configs]]\nfiles = [{:?}]\nrefresh_interval = \"50ms\"\n",
        dir.join("*.yml").display().to_string()
    ));
    let m = Manager::start(vec![cfg], Arc::new(Collect::default()));
    let t = m.targets();
    assert_eq!(t.len(), 1, "read before start returns");
    assert_eq!(t[0].labels.get("env"), Some("a"));
    assert_eq!(
        t[0].discovered_labels.get("__meta_filepath"),
        Some(file.display().to_string().as_str())
    );
    assert_eq!(t[0].health, "unknown");

    let wait_len = |n: usize| {
        let end = Instant::now() + Duration::from_secs(3);
        while m.targets().len() != n {
            assert!(Instant::now() < end, "timed out waiting for {n} targets");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    std::fs::write(&file, "- targets: ['127.0.0.1:1', '127.0.0.1:2']\n").expect("write");
    wait_len(2);
    // A broken file keeps its targets.
    std::fs::write(&file, "- targets: ['127.0.0.1:1', \n").expect("write");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(m.targets().len(), 2);
    std::fs::write(&file, "[]\n").expect("write");
    wait_len(0);
    m.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
