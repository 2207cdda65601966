//! HAProxy collector against a real HAProxy 2.6 (Debian's `haproxy`) and
//! side by side with the real haproxy_exporter (Debian's
//! `prometheus-haproxy-exporter`, 0.14.0): same families, types, label
//! names and values, equal stable gauges, counters that only moved
//! forward between the two scrapes; then HAProxy hanging, killed and
//! restarted under a running picket. Ignored unless --include-ignored
//! (tests/run.sh installs both programs).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use picket_core::decode::text::parse;
use picket_core::metric::{MetricType, Sample};

use crate::util::{
    free_port, get, poll, require, start_picket, temp_dir, wait_for, wait_http, wait_until, Proc,
};

const HAPROXY: &str = "haproxy";
const EXPORTER: &str = "prometheus-haproxy-exporter";

/// Families haproxy_exporter 0.14 serves that picket does not, and why.
const KNOWN_MISSING: &[(&str, &str)] = &[
    (
        "haproxy_exporter_build_info",
        "the exporter's own build; picket serves picket_build_info",
    ),
    ("go_", "Go runtime metrics: picket is not a Go program"),
    ("promhttp_", "client_golang's HTTP handler metrics"),
    (
        "process_",
        "the exporter process's own metrics; picket's are its own process",
    ),
];

/// Families picket serves that haproxy_exporter 0.14 does not, and why.
const KNOWN_EXTRA: &[(&str, &str)] = &[
    (
        "haproxy_process_idle_time_percent",
        "added in haproxy_exporter 0.15.0 (socket URIs); Debian ships 0.14.0",
    ),
    (
        "node_scrape_collector_",
        "picket's per-collector duration and success",
    ),
    ("picket_", "picket's own metrics"),
    ("process_", "picket's own process metrics"),
];

/// Where picket behaves differently on purpose, though not in the setup
/// compared here (each is covered by the unit tests in
/// src/collect/haproxy/tests.rs). Printed with any comparison failure.
const DELIBERATE: &[(&str, &str)] = &[
    (
        "several targets",
        "each target's series get scrape_uri=\"<uri, password redacted>\"; one haproxy_exporter serves one HAProxy",
    ),
    (
        "empty or non-CSV body",
        "haproxy_up 0 with an error; the exporter says 1 and serves no rows",
    ),
    (
        "CSV parse failures",
        "counted and haproxy_up 1 as the exporter, and node_scrape_collector_success{collector=\"haproxy\"} 0 with the failures logged",
    ),
    (
        "server_exclude_states",
        "matched without regard to case (maint = MAINT); the exporter matches exactly",
    ),
    (
        "server_metric_fields = \"\"",
        "all server fields, as configs/agent.toml documents; the exporter exports none",
    ),
    (
        "CSV field count",
        "set by the first well-formed record; Go's reader takes the first record even when it is broken",
    ),
];

/// Gauges whose value is the same in two scrapes a moment apart.
const STABLE: &[&str] = &[
    "haproxy_up",
    "haproxy_backend_up",
    "haproxy_server_up",
    "haproxy_backend_weight",
    "haproxy_server_weight",
    "haproxy_backend_current_server",
    "haproxy_frontend_limit_sessions",
    "haproxy_backend_limit_sessions",
    "haproxy_server_limit_sessions",
    "haproxy_frontend_limit_session_rate",
    "haproxy_backend_current_queue",
    "haproxy_server_current_queue",
    "haproxy_version_info",
];

/// Gauges that never go down (maxima): picket, scraped second, has at
/// least the exporter's value.
const MONOTONIC_GAUGES: &[&str] = &[
    "haproxy_frontend_max_sessions",
    "haproxy_backend_max_sessions",
    "haproxy_server_max_sessions",
    "haproxy_frontend_max_session_rate",
    "haproxy_backend_max_session_rate",
    "haproxy_server_max_session_rate",
    "haproxy_backend_max_queue",
    "haproxy_server_max_queue",
];

/// A private HAProxy: stats page with basic auth, admin sockets (unix and
/// tcp), a frontend whose backend has a server UP (the stats port), one
/// DOWN (a closed port) and one in MAINT, a second backend without checks,
/// and a `listen` section with socket stats (a type-3 row). Killed on drop.
struct HaProxy {
    dir: PathBuf,
    sock: PathBuf,
    stats: u16,
    web: u16,
    tcp: u16,
    proc: Option<Proc>,
}

impl HaProxy {
    fn start() -> HaProxy {
        require(HAPROXY);
        let dir = temp_dir("haproxy");
        let sock = dir.join("admin.sock");
        let (stats, web, tcp, listen, closed) = (
            free_port(),
            free_port(),
            free_port(),
            free_port(),
            free_port(),
        );
        let cfg = format!(
            "global
    stats socket {sock} mode 600 level admin
    stats socket ipv4@127.0.0.1:{tcp} level admin

defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s

frontend stats
    bind 127.0.0.1:{stats}
    stats enable
    stats uri /stats
    stats auth user:pass

frontend web
    bind 127.0.0.1:{web}
    default_backend app

backend app
    server up1 127.0.0.1:{stats} check inter 200ms
    server down1 127.0.0.1:{closed} check inter 200ms fall 1 rise 1
    server maint1 127.0.0.1:{stats} disabled

backend other
    server s1 127.0.0.1:{stats}

listen sockstats
    bind 127.0.0.1:{listen}
    option socket-stats
    server s2 127.0.0.1:{stats} check inter 200ms
",
            sock = sock.display()
        );
        std::fs::write(dir.join("haproxy.cfg"), cfg).expect("write haproxy.cfg");
        let mut h = HaProxy {
            dir,
            sock,
            stats,
            web,
            tcp,
            proc: None,
        };
        h.restart();
        h
    }

    /// (Re)starts HAProxy in the foreground (`-db`) and waits until its
    /// checks have settled (down1 DOWN, up1 UP).
    fn restart(&mut self) {
        self.proc = None;
        let log = std::fs::File::create(self.dir.join("haproxy.log")).expect("log");
        let child = Command::new(HAPROXY)
            .arg("-db")
            .arg("-f")
            .arg(self.dir.join("haproxy.cfg"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn haproxy");
        self.proc = Some(Proc {
            child,
            addr: format!("127.0.0.1:{}", self.stats),
        });
        poll(
            "haproxy to come up",
            Duration::from_secs(10),
            Duration::from_millis(50),
            || {
                let up = self.show("show stat\n").is_ok_and(|s| {
                    s.contains("app,down1,")
                        && stat_status(&s, "app", "down1") == Some("DOWN")
                        && stat_status(&s, "app", "up1") == Some("UP")
                });
                if up {
                    Ok(())
                } else {
                    Err(std::fs::read_to_string(self.dir.join("haproxy.log")).unwrap_or_default())
                }
            },
        )
    }

    fn pid(&self) -> i32 {
        self.proc.as_ref().map(|p| p.pid() as i32).expect("running")
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(self.pid(), sig) }, 0);
        // kill(2) only queues the signal: wait until every thread has
        // actually stopped (or resumed), or the next scrape races it.
        if sig == libc::SIGSTOP || sig == libc::SIGCONT {
            let want_stopped = sig == libc::SIGSTOP;
            let start = Instant::now();
            while self.all_threads_stopped() != want_stopped {
                assert!(
                    start.elapsed() < Duration::from_secs(5),
                    "signal {sig} not taken"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }

    /// Whether every thread of HAProxy is in state T (stopped).
    fn all_threads_stopped(&self) -> bool {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.pid())) else {
            return false;
        };
        tasks.flatten().all(|t| {
            std::fs::read_to_string(t.path().join("stat"))
                .ok()
                .and_then(|s| s.rsplit_once(") ").map(|(_, r)| r.starts_with('T')))
                .unwrap_or(false)
        })
    }

    fn kill(&mut self) {
        self.proc = None; // Proc's drop kills and reaps it
    }

    /// One command on the admin socket, answered and closed by HAProxy.
    fn show(&self, cmd: &str) -> std::io::Result<String> {
        let mut s = UnixStream::connect(&self.sock)?;
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
        s.write_all(cmd.as_bytes())?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    }

    fn http_uri(&self) -> String {
        format!("http://user:pass@127.0.0.1:{}/stats;csv", self.stats)
    }

    fn unix_uri(&self) -> String {
        format!("unix:{}", self.sock.display())
    }

    fn tcp_uri(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.tcp)
    }

    /// Some requests through the `web` frontend, so the counters are not all 0.
    fn traffic(&self) {
        let addr = format!("127.0.0.1:{}", self.web);
        for path in ["/stats", "/nothing", "/stats;csv"] {
            let _ = get(&addr, path);
        }
    }
}

impl Drop for HaProxy {
    fn drop(&mut self) {
        self.proc = None;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The status cell of one row of a `show stat` CSV.
fn stat_status<'a>(csv: &'a str, px: &str, sv: &str) -> Option<&'a str> {
    csv.lines()
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|f| f.len() > 17 && f[0] == px && f[1] == sv)
        .map(|f| f[17])
}

fn start_exporter(uri: &str) -> Proc {
    require(EXPORTER);
    let addr = format!("127.0.0.1:{}", free_port());
    let child = Command::new(EXPORTER)
        .arg(format!("--web.listen-address={addr}"))
        .arg(format!("--haproxy.scrape-uri={uri}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn haproxy_exporter");
    let p = Proc { child, addr };
    // The landing page, not /metrics: that would count a scrape.
    wait_http(&p.addr, "/", Duration::from_secs(10));
    p
}

fn scrape(addr: &str) -> Vec<Sample> {
    let r = get(addr, "/metrics").expect("GET /metrics");
    assert_eq!(r.status, 200, "{addr}: {}", r.text());
    parse(&r.text()).expect("exposition")
}

/// Labels as sorted (name, value) pairs.
type Series = Vec<(String, String)>;

/// family → (type, series → value), haproxy_* families only.
fn families(samples: &[Sample]) -> BTreeMap<String, (MetricType, BTreeMap<Series, f64>)> {
    let mut m: BTreeMap<String, (MetricType, BTreeMap<Series, f64>)> = BTreeMap::new();
    for s in samples.iter().filter(|s| s.name.starts_with("haproxy_")) {
        let labels = s
            .labels
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        m.entry(s.name.to_string())
            .or_insert((s.kind, BTreeMap::new()))
            .1
            .insert(labels, s.value);
    }
    m
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && s.labels.len() == labels.len()
                && labels.iter().all(|(n, v)| s.labels.get(n) == Some(*v))
        })
        .map(|s| s.value)
}

/// Compares the exporter's scrape (taken first) with picket's.
fn compare(what: &str, theirs: &[Sample], ours: &[Sample]) -> Vec<String> {
    let (tf, of) = (families(theirs), families(ours));
    let mut problems = Vec::new();
    for (name, (kind, series)) in &tf {
        if KNOWN_MISSING.iter().any(|(p, _)| name.starts_with(p)) {
            continue;
        }
        let Some((our_kind, our_series)) = of.get(name) else {
            problems.push(format!("{what}: missing family {name}"));
            continue;
        };
        if our_kind != kind {
            problems.push(format!("{what}: {name}: type {our_kind}, exporter {kind}"));
        }
        let (tk, ok): (BTreeSet<_>, BTreeSet<_>) =
            (series.keys().collect(), our_series.keys().collect());
        for s in tk.difference(&ok) {
            problems.push(format!("{what}: {name}{s:?}: missing"));
        }
        for s in ok.difference(&tk) {
            problems.push(format!("{what}: {name}{s:?}: extra"));
        }
        for (labels, t) in series {
            let Some(o) = our_series.get(labels) else {
                continue;
            };
            let stable = STABLE.contains(&name.as_str())
                || name == "haproxy_exporter_csv_parse_failures_total"
                || name == "haproxy_exporter_scrapes_total";
            let forward = *kind == MetricType::Counter || MONOTONIC_GAUGES.contains(&name.as_str());
            if (stable && o != t) || (forward && o < t) {
                problems.push(format!(
                    "{what}: {name}{labels:?}: picket {o}, exporter {t}"
                ));
            }
        }
    }
    for name in of.keys() {
        if !tf.contains_key(name) && !KNOWN_EXTRA.iter().any(|(p, _)| name.starts_with(p)) {
            problems.push(format!("{what}: extra family {name}"));
        }
    }
    problems
}

fn report(problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "{} differences:\n{}\n(deliberate differences, not exercised here:\n{})",
        problems.len(),
        problems.join("\n"),
        DELIBERATE
            .iter()
            .map(|(w, why)| format!("  {w}: {why}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
#[ignore = "needs haproxy and prometheus-haproxy-exporter (tests/run.sh installs them)"]
fn same_series_as_haproxy_exporter() {
    let h = HaProxy::start();
    h.traffic();
    // check_duration is empty until a server's first health check has run
    // (every 200 ms): wait for it, or the exporter (scraped first) and
    // picket may see different columns.
    {
        let probe = start_picket(&[
            "--collector.disable-defaults",
            &format!("--haproxy.scrape-uri={}", h.unix_uri()),
        ]);
        wait_until(Duration::from_secs(10), "the health checks to run", || {
            let s = scrape(&probe.addr);
            [("app", "up1"), ("sockstats", "s2")].iter().all(|(b, v)| {
                value(
                    &s,
                    "haproxy_server_check_duration_seconds",
                    &[("backend", b), ("server", v)],
                )
                .is_some()
            })
        });
    }
    let mut problems = Vec::new();
    for (what, uri) in [
        ("http ;csv with basic auth", h.http_uri()),
        ("unix socket", h.unix_uri()),
        ("tcp socket", h.tcp_uri()),
    ] {
        let ex = start_exporter(&uri);
        let pk = start_picket(&[
            "--collector.disable-defaults",
            &format!("--haproxy.scrape-uri={uri}"),
        ]);
        let theirs = scrape(&ex.addr);
        let ours = scrape(&pk.addr);
        assert_eq!(value(&theirs, "haproxy_up", &[]), Some(1.0), "{what}");
        assert_eq!(
            value(
                &ours,
                "node_scrape_collector_success",
                &[("collector", "haproxy")]
            ),
            Some(1.0),
            "{what}"
        );
        // The setup is what it should be (so the comparison means something).
        for (b, s, up) in [
            ("app", "up1", 1.0),
            ("app", "down1", 0.0),
            ("app", "maint1", 0.0),
            ("other", "s1", 1.0),
            ("sockstats", "s2", 1.0),
        ] {
            assert_eq!(
                value(&ours, "haproxy_server_up", &[("backend", b), ("server", s)]),
                Some(up),
                "{what}: {b}/{s}"
            );
        }
        if uri.starts_with("http") {
            assert!(value(&ours, "haproxy_version_info", &[]).is_none());
        } else {
            assert!(ours.iter().any(|s| s.name == "haproxy_version_info"
                && s.labels
                    .get("version")
                    .is_some_and(|v| v.starts_with("2.6"))));
            assert!(value(&ours, "haproxy_process_idle_time_percent", &[]).is_some());
        }
        problems.extend(compare(what, &theirs, &ours));
    }

    // Two targets in one picket: told apart by scrape_uri, password hidden.
    let (http, unix) = (h.http_uri(), h.unix_uri());
    let pk = start_picket(&[
        "--collector.disable-defaults",
        &format!("--haproxy.scrape-uri={http}"),
        &format!("--haproxy.scrape-uri={unix}"),
    ]);
    let ours = scrape(&pk.addr);
    let shown = http.replace(":pass@", ":xxxxx@");
    assert_eq!(
        value(&ours, "haproxy_up", &[("scrape_uri", &shown)]),
        Some(1.0)
    );
    assert_eq!(
        value(&ours, "haproxy_up", &[("scrape_uri", &unix)]),
        Some(1.0)
    );
    for s in ours.iter().filter(|s| s.name.starts_with("haproxy_")) {
        assert!(s.labels.get("scrape_uri").is_some(), "{s:?}");
    }
    report(problems);
}

#[test]
#[ignore = "needs haproxy and prometheus-haproxy-exporter (tests/run.sh installs them)"]
fn a_hanging_or_dead_haproxy_never_stalls_metrics() {
    const TIMEOUT: Duration = Duration::from_secs(1);
    let mut h = HaProxy::start();
    for uri in [h.unix_uri(), h.http_uri()] {
        let mut pk = start_picket(&[
            "--collector.disable-defaults",
            &format!("--haproxy.scrape-uri={uri}"),
            "--haproxy.timeout=1s",
        ]);
        let timed = |pk: &Proc| {
            let start = Instant::now();
            let s = scrape(&pk.addr);
            let took = start.elapsed();
            let up = value(&s, "haproxy_up", &[]).expect("haproxy_up is always there");
            let ok = value(
                &s,
                "node_scrape_collector_success",
                &[("collector", "haproxy")],
            );
            (up, ok, took)
        };
        let (up, ok, _) = timed(&pk);
        assert_eq!((up, ok), (1.0, Some(1.0)), "{uri}: before");

        // Hanging: accepts connections, answers nothing.
        h.signal(libc::SIGSTOP);
        for i in 0..3 {
            let (up, ok, took) = timed(&pk);
            assert_eq!((up, ok), (0.0, Some(0.0)), "{uri}: stopped, scrape {i}");
            assert!(
                took < TIMEOUT + Duration::from_millis(500),
                "{uri}: a scrape took {took:?} with HAProxy stopped"
            );
        }
        h.signal(libc::SIGCONT);

        // Dead.
        h.kill();
        for i in 0..2 {
            let (up, ok, took) = timed(&pk);
            assert_eq!((up, ok), (0.0, Some(0.0)), "{uri}: killed, scrape {i}");
            assert!(took < TIMEOUT + Duration::from_millis(500), "{took:?}");
        }

        // Back.
        h.restart();
        let ok = wait_for(
            &format!("{uri}: haproxy_up to return to 1"),
            Duration::from_secs(5),
            || {
                let (up, ok, _) = timed(&pk);
                (up == 1.0).then_some(ok)
            },
        );
        assert_eq!(ok, Some(1.0));

        // The failures were logged, without the password.
        let _ = pk.child.kill();
        let _ = pk.child.wait();
        let mut log = String::new();
        if let Some(mut e) = pk.child.stderr.take() {
            let _ = e.read_to_string(&mut log);
        }
        assert!(log.contains("haproxy"), "{uri}: nothing logged: {log}");
        assert!(!log.contains(":pass@"), "{uri}: password in the log: {log}");
        if uri.starts_with("http") {
            assert!(log.contains("user:xxxxx@"), "{log}");
        }
    }
}
