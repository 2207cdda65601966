//! PostgreSQL: a private PostgreSQL 15 per test, and picket side by side
//! with the real postgres_exporter 0.11.1 (Debian's
//! prometheus-postgres-exporter) against it.
//!
//! For every `pg_*` family the exporter serves, picket serves the same name,
//! type, label names and label values, and the stable gauges agree
//! (settings exactly); known differences are listed below with their reason.
//! Then the failures: a server killed or frozen mid-run (`pg_up 0` within
//! the timeout, `/metrics` stays fast, `pg_up 1` again after a restart), a
//! wrong password, a role that cannot run one of the queries, DSNs that do
//! not parse; credentials never show in `/metrics` or in picket's log.
//!
//! PostgreSQL refuses to run as root: when the tests run as root, its
//! programs run as `nobody` (through `setpriv`, else `runuser`), in a temp
//! dir owned by it. The tests that need PostgreSQL are `#[ignore]`d for
//! plain `cargo test`; tests/run.sh installs the peers and runs them.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use picket_core::decode::text::parse;
use picket_core::metric::{MetricType, Sample};

use crate::util::{
    fixture, free_port, get, have, picket_cmd, require, temp_dir, wait_http, Launch, Proc,
};

/// The real exporter (Debian package, version 0.11.1).
const EXPORTER: &str = "prometheus-postgres-exporter";

/// The monitoring role's password, distinctive so a leak is easy to find.
const PW: &str = "Mon1tor-pw-7Qz";

/// Where picket's PostgreSQL series differ from postgres_exporter 0.11.1's
/// on a healthy PostgreSQL 15 (by family name prefix), and why.
///
/// Behaviour that differs only elsewhere, each shown by a test below or by
/// the collector's unit tests: on PostgreSQL 17 the `pg_stat_bgwriter_*`
/// series keep coming where 0.11.1's query fails
/// (`bgwriter_series_survive_the_postgresql_17_layout`); a setting with a
/// unit 0.11.1 does not know is left out where 0.11.1 panics; a DSN without
/// `sslmode` connects without TLS where lib/pq requires TLS, and
/// `sslmode=require` is refused (picket has no TLS client for PostgreSQL).
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    (
        "pg_exporter_user_queries_load_error",
        "the exporter reports the --extend.query-path file it read (here tests/fixtures/postgres/queries.yaml); \
         picket has those two queries built in and reads no file",
    ),
    (
        "pg_scrape_collector_",
        "picket adds the `server` label: with several DSNs 0.11.1 emits these twice with the same labels, \
         which makes client_golang fail the whole scrape (HTTP 500)",
    ),
];

/// Families whose values must agree, and how closely.
const STABLE: &[(&str, Tol)] = &[
    ("pg_up", Tol::Exact),
    ("pg_static", Tol::Exact),
    ("pg_settings_", Tol::Exact),
    ("pg_database_size_bytes", Tol::Rel(0.1)),
    ("pg_postmaster_start_time_seconds", Tol::Exact),
    ("pg_replication_lag", Tol::Exact),
    ("pg_replication_slots_active", Tol::Exact),
    ("pg_stat_bgwriter_stats_reset_total", Tol::Exact),
    ("pg_stat_database_stats_reset", Tol::Exact),
    ("pg_stat_database_conflicts_confl_", Tol::Exact),
    ("pg_stat_archiver_archived_count", Tol::Exact),
    ("pg_stat_archiver_failed_count", Tol::Exact),
    ("pg_exporter_last_scrape_error", Tol::Exact),
];

#[derive(Clone, Copy, Debug)]
enum Tol {
    Exact,
    Rel(f64),
}

// ---------------------------------------------------------------------------
// A private PostgreSQL.

/// The PostgreSQL binaries: version 15 as Debian installs it, else the
/// newest under /usr/lib/postgresql.
fn pg_bin() -> PathBuf {
    let fifteen = PathBuf::from("/usr/lib/postgresql/15/bin");
    if fifteen.join("initdb").exists() {
        return fifteen;
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b).unwrap_or_else(|| {
        panic!(
            "no PostgreSQL under /usr/lib/postgresql: run tests/run.sh, which installs postgresql"
        )
    })
}

/// Who PostgreSQL's programs run as.
#[derive(Clone, Debug)]
enum RunAs {
    /// This process's user (not root).
    Me,
    /// Root dropping to `nobody` with setpriv.
    Setpriv(u32, u32),
    /// Root dropping to `nobody` with runuser.
    Runuser(u32, u32),
}

impl RunAs {
    fn detect() -> RunAs {
        let uid = std::fs::metadata("/proc/self")
            .map(|m| m.uid())
            .expect("read /proc/self");
        if uid != 0 {
            return RunAs::Me;
        }
        let id = |flag: &str| -> u32 {
            let out = Command::new("id")
                .args([flag, "nobody"])
                .output()
                .expect("run id");
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .unwrap_or_else(|_| {
                    panic!("running as root and there is no `nobody` user to run PostgreSQL as")
                })
        };
        let (u, g) = (id("-u"), id("-g"));
        if have("setpriv") {
            RunAs::Setpriv(u, g)
        } else if have("runuser") {
            RunAs::Runuser(u, g)
        } else {
            panic!(
                "running as root, and neither setpriv nor runuser (util-linux) is there to run PostgreSQL as nobody"
            )
        }
    }

    fn command(&self, prog: &Path) -> Command {
        match self {
            RunAs::Me => Command::new(prog),
            RunAs::Setpriv(u, g) => {
                let mut c = Command::new("setpriv");
                c.arg(format!("--reuid={u}"))
                    .arg(format!("--regid={g}"))
                    .arg("--clear-groups")
                    .arg("--")
                    .arg(prog);
                c
            }
            RunAs::Runuser(..) => {
                let mut c = Command::new("runuser");
                c.args(["-u", "nobody", "--"]).arg(prog);
                c
            }
        }
    }

    /// Makes `path` belong to the user PostgreSQL runs as.
    fn own(&self, path: &Path) {
        if let RunAs::Setpriv(u, g) | RunAs::Runuser(u, g) = self {
            std::os::unix::fs::chown(path, Some(*u), Some(*g))
                .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
        }
    }
}

/// A PostgreSQL of its own: 127.0.0.1 and a unix socket in its temp dir,
/// scram-sha-256 over TCP, trust over the socket (for the superuser), and
/// a `pgexporter` role with pg_monitor. Stopped (immediately) on drop.
struct Pg {
    dir: PathBuf,
    bin: PathBuf,
    run: RunAs,
    port: u16,
    /// pg_receivewal processes streaming from it.
    receivers: Vec<Child>,
}

impl Pg {
    fn start(tag: &str) -> Pg {
        let bin = pg_bin();
        let run = RunAs::detect();
        let dir = temp_dir(&format!("pg-{tag}"));
        run.own(&dir);
        let sock = dir.join("sock");
        std::fs::create_dir(&sock).expect("socket dir");
        run.own(&sock);
        let data = dir.join("data");
        let out = run
            .command(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
                "-N",
            ])
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let mut conf = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .expect("postgresql.conf");
        // fsync off for speed; commits stay synchronous, so what the tests
        // created survives the immediate (crash-like) stops.
        writeln!(
            conf,
            "listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\n\
             fsync = off",
            sock.display()
        )
        .expect("write postgresql.conf");
        let pg = Pg {
            dir,
            bin,
            run,
            port,
            receivers: Vec::new(),
        };
        pg.start_again();
        pg.psql(&format!(
            "CREATE ROLE pgexporter LOGIN PASSWORD '{PW}';\nGRANT pg_monitor TO pgexporter;"
        ));
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn sock(&self) -> PathBuf {
        self.dir.join("sock")
    }

    fn pg_ctl(&self, args: &[&str]) -> std::process::Output {
        self.run
            .command(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.data())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run pg_ctl")
    }

    /// Starts the server (again) and waits until it accepts connections.
    fn start_again(&self) {
        let log = self.dir.join("postgres.log");
        let out = self.pg_ctl(&["-l", &log.display().to_string(), "-w", "-t", "60", "start"]);
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Stops the server the hard way (as a crash would).
    fn kill(&self) {
        self.signal("CONT");
        let out = self.pg_ctl(&["-m", "immediate", "-w", "-t", "30", "stop"]);
        assert!(
            out.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The postmaster and its children.
    fn pids(&self) -> Vec<u32> {
        let Some(master) = std::fs::read_to_string(self.data().join("postmaster.pid"))
            .ok()
            .and_then(|s| s.lines().next()?.trim().parse::<u32>().ok())
        else {
            return Vec::new();
        };
        let mut pids = vec![master];
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if ppid == Some(master) {
                pids.push(pid);
            }
        }
        pids
    }

    /// Sends SIG`sig` to the postmaster and its children.
    fn signal(&self, sig: &str) {
        for pid in self.pids() {
            let _ = Command::new("kill")
                .arg(format!("-{sig}"))
                .arg(pid.to_string())
                .stderr(Stdio::null())
                .status();
        }
        // kill(1) only queues SIGSTOP: wait until each process has stopped,
        // or the next scrape races it.
        if sig == "STOP" {
            let start = Instant::now();
            while !self.pids().iter().all(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .ok()
                    .and_then(|s| {
                        s.rsplit_once(") ")
                            .map(|(_, r)| r.starts_with(['T', 'Z', 'X']))
                    })
                    .unwrap_or(true)
            }) {
                assert!(
                    start.elapsed() < Duration::from_secs(5),
                    "SIGSTOP not taken"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }

    /// Runs SQL as the superuser over the socket; its output (unaligned).
    fn psql(&self, sql: &str) -> String {
        self.psql_in("postgres", sql)
    }

    fn psql_in(&self, db: &str, sql: &str) -> String {
        let mut child = self
            .run
            .command(&self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(self.sock())
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                db,
                "-f",
                "-",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run psql");
        child
            .stdin
            .take()
            .expect("psql stdin")
            .write_all(sql.as_bytes())
            .expect("write to psql");
        let out = child.wait_with_output().expect("psql");
        assert!(
            out.status.success(),
            "psql failed on {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A URI DSN over TCP.
    fn dsn(&self, user: &str, pw: &str) -> String {
        format!(
            "postgresql://{user}:{pw}@127.0.0.1:{}/postgres?sslmode=disable",
            self.port
        )
    }

    /// A physical replication slot with pg_receivewal streaming into it, so
    /// that pg_stat_replication and pg_replication_slots have a row.
    fn stream_wal(&mut self) {
        self.psql("SELECT pg_create_physical_replication_slot('picket_slot', true);");
        let wal = self.dir.join("wal");
        std::fs::create_dir(&wal).expect("wal dir");
        self.run.own(&wal);
        let child = self
            .run
            .command(&self.bin.join("pg_receivewal"))
            .arg("-D")
            .arg(&wal)
            .arg("-h")
            .arg(self.sock())
            .args(["-p", &self.port.to_string(), "-U", "postgres"])
            .args(["--slot=picket_slot", "--no-loop", "--no-sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run pg_receivewal");
        self.receivers.push(child);
        let start = Instant::now();
        while self.psql("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming';")
            != "1"
        {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "pg_receivewal never streamed"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        for r in &mut self.receivers {
            let _ = r.kill();
            let _ = r.wait();
        }
        self.signal("CONT");
        let _ = self.pg_ctl(&["-m", "immediate", "-w", "-t", "20", "stop"]);
        self.signal("KILL");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------------------
// The two programs.

/// Environment variables that would change what either program connects to.
const PG_ENV: &[&str] = &[
    "DATA_SOURCE_NAME",
    "DATA_SOURCE_URI",
    "DATA_SOURCE_URI_FILE",
    "DATA_SOURCE_USER",
    "DATA_SOURCE_USER_FILE",
    "DATA_SOURCE_PASS",
    "DATA_SOURCE_PASS_FILE",
    "PGHOST",
    "PGPORT",
    "PGUSER",
    "PGPASSWORD",
    "PGDATABASE",
    "PGSSLMODE",
];

/// A running program whose stderr goes to a file.
struct Running {
    proc: Proc,
    log: PathBuf,
}

impl Running {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// GET /metrics: the body, and how long it took.
    fn scrape(&self) -> (String, Duration) {
        let start = Instant::now();
        let r = get(&self.proc.addr, "/metrics").expect("GET /metrics");
        assert_eq!(r.status, 200, "{}", r.text());
        (r.text(), start.elapsed())
    }

    fn samples(&self) -> Vec<Sample> {
        parse(&self.scrape().0).expect("parse /metrics")
    }
}

fn spawn(prog: &Path, dir: &Path, env: &[(&str, &str)], args: &[String], ready: &str) -> Running {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let log = dir.join(format!(
        "{}-{port}.log",
        Path::new(prog)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("prog")
    ));
    let mut cmd = Command::new(prog);
    cmd.arg(format!("--web.listen-address={addr}")).args(args);
    for k in PG_ENV {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(File::create(&log).expect("log file"));
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", prog.display()));
    let p = Running {
        proc: Proc { child, addr },
        log,
    };
    wait_http(&p.proc.addr, ready, Duration::from_secs(15));
    p
}

/// picket with only the PostgreSQL collector (on because a server is
/// configured), debug logging, and `env`.
fn start_picket(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Running {
    let mut a = vec![
        "--collector.disable-defaults".to_string(),
        "--log.level=debug".to_string(),
    ];
    a.extend(args.iter().map(|s| s.to_string()));
    let addr = format!("127.0.0.1:{}", free_port());
    let log = dir.join(format!(
        "picket-{}.log",
        addr.rsplit(':').next().unwrap_or("0")
    ));
    let proc = Launch::agent()
        .at(&addr)
        .args(&a)
        .env_remove(PG_ENV)
        .envs(env.iter().copied())
        .log(&log)
        .start();
    Running { proc, log }
}

/// postgres_exporter 0.11.1 on `dsn`, with the two queries.yaml entries.
fn start_exporter(dir: &Path, dsn: &str) -> Running {
    require(EXPORTER);
    let queries = fixture("postgres/queries.yaml");
    spawn(
        Path::new(EXPORTER),
        dir,
        &[("DATA_SOURCE_NAME", dsn)],
        &[format!("--extend.query-path={}", queries.display())],
        "/metrics",
    )
}

// ---------------------------------------------------------------------------
// Comparing scrapes.

/// The value of the series `name{labels…}` (labels may be a subset).
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| s.value)
}

fn has(samples: &[Sample], name: &str) -> bool {
    samples.iter().any(|s| s.name == name)
}

fn known(family: &str) -> bool {
    KNOWN_DIFFERENCES.iter().any(|(p, _)| family.starts_with(p))
}

/// family → (type, label names), for `pg_*` families.
fn shapes(samples: &[Sample]) -> BTreeMap<String, (MetricType, BTreeSet<String>)> {
    let mut m: BTreeMap<String, (MetricType, BTreeSet<String>)> = BTreeMap::new();
    for s in samples.iter().filter(|s| s.name.starts_with("pg_")) {
        let e = m
            .entry(s.name.to_string())
            .or_insert((s.kind, BTreeSet::new()));
        e.1.extend(s.labels.iter().map(|(n, _)| n.to_string()));
    }
    m
}

type Series = Vec<(String, String)>;

fn series(samples: &[Sample], family: &str) -> BTreeMap<Series, f64> {
    samples
        .iter()
        .filter(|s| s.name == family)
        .map(|s| {
            (
                s.labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                s.value,
            )
        })
        .collect()
}

/// Everything that differs between the exporter's scrape and picket's,
/// outside [`KNOWN_DIFFERENCES`].
fn compare(theirs: &[Sample], ours: &[Sample]) -> Vec<String> {
    let mut problems = Vec::new();
    let (ts, os) = (shapes(theirs), shapes(ours));
    for (family, (kind, labels)) in &ts {
        if known(family) {
            continue;
        }
        let Some((our_kind, our_labels)) = os.get(family) else {
            problems.push(format!("missing family {family} {labels:?}"));
            continue;
        };
        if our_kind != kind {
            problems.push(format!(
                "{family}: type {our_kind} where the exporter has {kind}"
            ));
        }
        if our_labels != labels {
            problems.push(format!(
                "{family}: labels {our_labels:?} where the exporter has {labels:?}"
            ));
            continue;
        }
        let (tv, ov) = (series(theirs, family), series(ours, family));
        let (tk, ok): (BTreeSet<_>, BTreeSet<_>) = (tv.keys().collect(), ov.keys().collect());
        if tk != ok {
            problems.push(format!(
                "{family}: series only the exporter has {:?}; only picket has {:?}",
                tk.difference(&ok).take(3).collect::<Vec<_>>(),
                ok.difference(&tk).take(3).collect::<Vec<_>>()
            ));
            continue;
        }
        let Some((_, tol)) = STABLE.iter().find(|(p, _)| {
            if p.ends_with('_') {
                family.starts_with(p)
            } else {
                family == p
            }
        }) else {
            continue;
        };
        for (labels, t) in &tv {
            let o = ov[labels];
            let same = match tol {
                _ if t.is_nan() || o.is_nan() => t.is_nan() && o.is_nan(),
                Tol::Exact => *t == o,
                Tol::Rel(r) => (t - o).abs() <= r * t.abs().max(1.0),
            };
            if !same {
                problems.push(format!(
                    "{family}{labels:?}: picket {o}, the exporter {t} ({tol:?})"
                ));
            }
        }
    }
    for family in os.keys() {
        if !ts.contains_key(family) && !known(family) {
            problems.push(format!("picket serves {family}, the exporter does not"));
        }
    }
    problems
}

fn assert_no_problems(what: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{what}: {} differences:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Neither the text nor the log of a program shows `secret`.
fn assert_hidden(what: &str, text: &str, secret: &str) {
    assert!(
        !text.contains(secret),
        "{what} shows a credential ({secret:?}):\n{text}"
    );
}

// ---------------------------------------------------------------------------
// The tests.

#[test]
#[ignore = "needs postgresql and prometheus-postgres-exporter (tests/run.sh installs them)"]
fn same_families_labels_and_values_as_postgres_exporter() {
    let mut pg = Pg::start("compare");
    pg.stream_wal();
    let dsn = pg.dsn("pgexporter", PW);
    let exporter = start_exporter(&pg.dir, &dsn);
    let picket = start_picket(&pg.dir, &[("DATA_SOURCE_NAME", &dsn)], &[]);
    let theirs = exporter.samples();
    let (text, _) = picket.scrape();
    let ours = parse(&text).expect("parse picket");

    // The comparison means something only if both saw everything.
    let server = format!("127.0.0.1:{}", pg.port);
    for s in [&theirs, &ours] {
        assert_eq!(value(s, "pg_up", &[]), Some(1.0));
        assert_eq!(
            value(
                s,
                "pg_stat_replication_pg_current_wal_lsn_bytes",
                &[("application_name", "pg_receivewal"), ("server", &server)]
            )
            .map(|v| v > 0.0),
            Some(true)
        );
        assert_eq!(
            value(
                s,
                "pg_replication_slots_active",
                &[("slot_name", "picket_slot")]
            ),
            Some(1.0)
        );
        assert!(has(s, "pg_postmaster_start_time_seconds"));
    }
    assert_no_problems("side by side", &compare(&theirs, &ours));
    assert_eq!(
        value(
            &ours,
            "pg_scrape_collector_success",
            &[("collector", "database"), ("server", &server)]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &ours,
            "node_scrape_collector_success",
            &[("collector", "postgres")]
        ),
        Some(1.0)
    );
    assert_hidden("picket's /metrics", &text, PW);
    assert_hidden("picket's log", &picket.log(), PW);
}

#[test]
#[ignore = "needs postgresql and prometheus-postgres-exporter (tests/run.sh installs them)"]
fn a_dead_or_frozen_server_gives_pg_up_0_within_the_timeout() {
    let pg = Pg::start("dying");
    let pwfile = pg.dir.join("password");
    std::fs::write(&pwfile, format!("{PW}\n")).expect("password file");
    let cfg = pg.dir.join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[postgres]]\ndsn = \"postgresql://pgexporter@127.0.0.1:{}/postgres?sslmode=disable\"\n\
             password_file = \"{}\"\ntimeout = \"2s\"\n",
            pg.port,
            pwfile.display()
        ),
    )
    .expect("agent.toml");
    let picket = start_picket(&pg.dir, &[], &[&format!("--config.file={}", cfg.display())]);
    let limit = Duration::from_millis(3500); // the 2s timeout, and slack
    let up = |what: &str| -> f64 {
        let (text, took) = picket.scrape();
        assert!(took < limit, "{what}: /metrics took {took:?}");
        let s = parse(&text).expect("parse");
        value(&s, "pg_up", &[]).expect("pg_up is always there")
    };
    let eventually_up = |what: &str| {
        let start = Instant::now();
        while up(what) != 1.0 {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{what}: pg_up stays 0; picket's log:\n{}",
                picket.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    assert_eq!(up("running"), 1.0);

    // Killed: the kept connection breaks, reconnecting is refused.
    pg.kill();
    assert_eq!(up("killed"), 0.0);
    assert_eq!(up("still dead"), 0.0);
    pg.start_again();
    eventually_up("restarted");

    // Frozen: connections hang instead of failing; the deadline cuts the
    // scrape, and later scrapes do not wait for the stuck call again.
    pg.signal("STOP");
    assert_eq!(up("frozen"), 0.0);
    // The call is still stuck: this scrape does not wait for it at all.
    let (text, took) = picket.scrape();
    assert!(
        took < Duration::from_secs(1),
        "a scrape waited {took:?} on a stuck call"
    );
    let s = parse(&text).expect("parse");
    assert_eq!(value(&s, "pg_up", &[]), Some(0.0));
    assert_eq!(value(&s, "pg_exporter_last_scrape_error", &[]), Some(1.0));
    assert_eq!(
        value(
            &s,
            "pg_scrape_collector_success",
            &[("collector", "bgwriter")]
        ),
        Some(0.0)
    );
    pg.signal("CONT");
    eventually_up("thawed");
    let log = picket.log();
    assert!(log.contains("no answer within"), "{log}");
    assert_hidden("picket's log", &log, PW);
}

#[test]
#[ignore = "needs postgresql and prometheus-postgres-exporter (tests/run.sh installs them)"]
fn a_wrong_password_fails_clearly_without_showing_it() {
    let pg = Pg::start("badpw");
    let wrong = "Wr0ng-Secret-Pass";
    let picket = start_picket(
        &pg.dir,
        &[("DATA_SOURCE_NAME", &pg.dsn("pgexporter", wrong))],
        &[],
    );
    let (text, _) = picket.scrape();
    let (text2, _) = picket.scrape();
    let s = parse(&text2).expect("parse");
    assert_eq!(value(&s, "pg_up", &[]), Some(0.0));
    assert_eq!(value(&s, "pg_exporter_last_scrape_error", &[]), Some(1.0));
    assert_eq!(
        value(
            &s,
            "node_scrape_collector_success",
            &[("collector", "postgres")]
        ),
        Some(0.0)
    );
    assert!(!has(&s, "pg_static"));
    let log = picket.log();
    assert!(
        log.contains("password authentication failed for user"),
        "the log does not say why: {log}"
    );
    assert!(log.contains(&format!("127.0.0.1:{}", pg.port)), "{log}");
    for (what, t) in [("/metrics", &text), ("/metrics", &text2), ("the log", &log)] {
        assert_hidden(what, t, wrong);
    }
}

#[test]
#[ignore = "needs postgresql and prometheus-postgres-exporter (tests/run.sh installs them)"]
fn a_failing_query_keeps_the_rest_as_in_the_exporter() {
    // A role without pg_monitor, and a database it may not connect to: the
    // `database` collector's pg_database_size() fails on it; everything
    // else works (with NULLs where pg_stat_activity hides other roles).
    let pg = Pg::start("nomon");
    pg.psql(
        "CREATE ROLE nomon LOGIN PASSWORD 'NoMon-pw-3x';\n\
         CREATE DATABASE private;\n\
         REVOKE CONNECT ON DATABASE private FROM PUBLIC;",
    );
    let dsn = pg.dsn("nomon", "NoMon-pw-3x");
    let exporter = start_exporter(&pg.dir, &dsn);
    let picket = start_picket(&pg.dir, &[("DATA_SOURCE_NAME", &dsn)], &[]);
    let theirs = exporter.samples();
    let (text, _) = picket.scrape();
    let ours = parse(&text).expect("parse");
    for s in [&theirs, &ours] {
        assert_eq!(value(s, "pg_up", &[]), Some(1.0));
        assert_eq!(value(s, "pg_exporter_last_scrape_error", &[]), Some(0.0));
        assert_eq!(
            value(
                s,
                "pg_scrape_collector_success",
                &[("collector", "database")]
            ),
            Some(0.0)
        );
        assert_eq!(
            value(
                s,
                "pg_scrape_collector_success",
                &[("collector", "bgwriter")]
            ),
            Some(1.0)
        );
        // The sizes read before the failing database are kept (in the
        // exporter because Go's rows.Next only stops at the error).
        assert!(value(s, "pg_database_size_bytes", &[("datname", "private")]).is_none());
        for f in [
            "pg_static",
            "pg_settings_shared_buffers_bytes",
            "pg_stat_database_xact_commit",
            "pg_stat_activity_count",
            "pg_locks_count",
            "pg_stat_bgwriter_buffers_alloc_total",
        ] {
            assert!(has(s, f), "{f} is missing");
        }
    }
    assert_no_problems("without pg_monitor", &compare(&theirs, &ours));
    assert_eq!(
        value(
            &ours,
            "node_scrape_collector_success",
            &[("collector", "postgres")]
        ),
        Some(0.0)
    );
    let log = picket.log();
    assert!(
        log.contains("permission denied for database private"),
        "{log}"
    );
    assert_hidden("picket's log", &log, "NoMon-pw-3x");
    assert_hidden("picket's /metrics", &text, "NoMon-pw-3x");
}

#[test]
#[ignore = "needs postgresql and prometheus-postgres-exporter (tests/run.sh installs them)"]
fn several_servers_in_one_agent() {
    // Two ways into one server (TCP and the unix socket: two `server`
    // labels) and one address where nothing listens.
    let pg = Pg::start("several");
    let dead = free_port();
    let sock_dsn = format!(
        "host={} port={} user=pgexporter dbname=postgres sslmode=disable",
        pg.sock().display(),
        pg.port
    );
    let list = format!(
        "{},{sock_dsn},{}",
        pg.dsn("pgexporter", PW),
        format_args!("postgresql://pgexporter:{PW}@127.0.0.1:{dead}/postgres?sslmode=disable")
    );
    let picket = start_picket(&pg.dir, &[("DATA_SOURCE_NAME", &list)], &[]);
    let (text, _) = picket.scrape();
    let s = parse(&text).expect("parse");
    let tcp = format!("127.0.0.1:{}", pg.port);
    let unix = format!("{}:{}", pg.sock().display(), pg.port);
    let gone = format!("127.0.0.1:{dead}");
    assert_eq!(
        value(&s, "pg_up", &[]),
        Some(1.0),
        "up unless every server failed"
    );
    assert_eq!(value(&s, "pg_exporter_last_scrape_error", &[]), Some(1.0));
    for server in [&tcp, &unix] {
        assert_eq!(
            value(&s, "pg_static", &[("server", server)]),
            Some(1.0),
            "{server}"
        );
        assert!(value(&s, "pg_settings_max_connections", &[("server", server)]).is_some());
        assert_eq!(
            value(
                &s,
                "pg_scrape_collector_success",
                &[("collector", "database"), ("server", server)]
            ),
            Some(1.0)
        );
    }
    assert!(value(&s, "pg_static", &[("server", &gone)]).is_none());
    assert_eq!(
        value(
            &s,
            "pg_scrape_collector_success",
            &[("collector", "bgwriter"), ("server", &gone)]
        ),
        Some(0.0)
    );
    // Every series once.
    let mut seen = BTreeSet::new();
    for x in &s {
        let key = format!("{}{:?}", x.name, x.labels);
        assert!(seen.insert(key.clone()), "duplicate series {key}");
    }
    let log = picket.log();
    assert!(log.contains(&gone), "{log}");
    assert_hidden("picket's log", &log, PW);
    assert_hidden("picket's /metrics", &text, PW);
}

#[test]
#[ignore = "needs postgresql and prometheus-postgres-exporter (tests/run.sh installs them)"]
fn bgwriter_series_survive_the_postgresql_17_layout() {
    // PostgreSQL 17 moved the checkpointer's columns out of
    // pg_stat_bgwriter. A role whose search_path puts look-alikes first
    // (version() saying 17, pg_stat_bgwriter with only 17's columns,
    // pg_stat_checkpointer and pg_stat_io) shows both programs that layout.
    let pg = Pg::start("pg17");
    pg.psql(
        "CREATE ROLE pg17 LOGIN PASSWORD 'Pg17-pw-9k';\n\
         GRANT pg_monitor TO pg17;\n\
         CREATE SCHEMA fake17;\n\
         GRANT USAGE ON SCHEMA fake17 TO pg17;\n\
         CREATE FUNCTION fake17.version() RETURNS text LANGUAGE sql\n\
           AS $$ SELECT 'PostgreSQL 17.2 (look-alike) on x86_64-pc-linux-gnu' $$;\n\
         CREATE VIEW fake17.pg_stat_bgwriter AS SELECT buffers_clean, maxwritten_clean,\n\
           buffers_alloc, stats_reset FROM pg_catalog.pg_stat_bgwriter;\n\
         CREATE VIEW fake17.pg_stat_checkpointer AS SELECT checkpoints_timed AS num_timed,\n\
           checkpoints_req AS num_requested, 0::bigint AS restartpoints_timed,\n\
           0::bigint AS restartpoints_req, 0::bigint AS restartpoints_done,\n\
           checkpoint_write_time AS write_time, checkpoint_sync_time AS sync_time,\n\
           buffers_checkpoint AS buffers_written, stats_reset FROM pg_catalog.pg_stat_bgwriter;\n\
         CREATE VIEW fake17.pg_stat_io AS SELECT * FROM (VALUES\n\
           ('client backend', 'relation', 'normal', 7::bigint, 1::bigint),\n\
           ('autovacuum worker', 'relation', 'vacuum', 5::bigint, 0::bigint),\n\
           ('client backend', 'temp relation', 'normal', 1000::bigint, NULL::bigint),\n\
           ('checkpointer', 'relation', 'normal', 100::bigint, 9::bigint))\n\
           AS io(backend_type, object, context, writes, fsyncs);\n\
         GRANT SELECT ON ALL TABLES IN SCHEMA fake17 TO pg17;\n\
         ALTER ROLE pg17 SET search_path = fake17, pg_catalog;\n\
         CHECKPOINT;",
    );
    let dsn = pg.dsn("pg17", "Pg17-pw-9k");
    let exporter = start_exporter(&pg.dir, &dsn);
    let picket = start_picket(&pg.dir, &[("DATA_SOURCE_NAME", &dsn)], &[]);
    let theirs = exporter.samples();
    let ours = picket.samples();
    let server = format!("127.0.0.1:{}", pg.port);
    assert_eq!(
        value(&ours, "pg_static", &[("short_version", "17.2.0")]),
        Some(1.0)
    );
    // 0.11.1's bgwriter query fails on 17; picket's gathers the same series.
    assert_eq!(
        value(
            &theirs,
            "pg_scrape_collector_success",
            &[("collector", "bgwriter")]
        ),
        Some(0.0)
    );
    assert!(!has(&theirs, "pg_stat_bgwriter_buffers_alloc_total"));
    assert_eq!(
        value(
            &ours,
            "pg_scrape_collector_success",
            &[("collector", "bgwriter"), ("server", &server)]
        ),
        Some(1.0)
    );
    let real = pg.psql(
        "SELECT checkpoints_req || ' ' || buffers_checkpoint || ' ' || extract(epoch from date_trunc('second', stats_reset))::bigint FROM pg_stat_bgwriter;",
    );
    let real: Vec<f64> = real
        .split(' ')
        .map(|v| v.parse().expect("number"))
        .collect();
    for (name, want) in [
        ("pg_stat_bgwriter_buffers_backend_total", 12.0),
        ("pg_stat_bgwriter_buffers_backend_fsync_total", 1.0),
        ("pg_stat_bgwriter_checkpoints_req_total", real[0]),
        ("pg_stat_bgwriter_buffers_checkpoint_total", real[1]),
        ("pg_stat_bgwriter_stats_reset_total", real[2]),
    ] {
        assert_eq!(
            value(&ours, name, &[("server", &server)]),
            Some(want),
            "{name}"
        );
    }
    assert!(ours
        .iter()
        .filter(|s| s.name.starts_with("pg_stat_bgwriter_"))
        .all(|s| s.kind == MetricType::Counter && s.name.ends_with("_total")));
    assert_eq!(
        ours.iter()
            .filter(|s| s.name.starts_with("pg_stat_bgwriter_"))
            .count(),
        11
    );
}

#[test]
fn dsns_that_do_not_parse_are_config_errors_without_secrets() {
    let secret = "Sup3r-Secret";
    let dir = temp_dir("pg-baddsn");
    // In the config file: exit 2, naming the file, line and key.
    for (dsn, expect) in [
        (
            format!("host=127.0.0.1 user=u password={secret} port"),
            "postgres[0].dsn: parameter 4 is not key=value",
        ),
        (
            format!("postgresql://u:{secret}@127.0.0.1:5432/db?sslmode=require"),
            "postgres[0].dsn: sslmode requires TLS",
        ),
        (
            format!("mysql://u:{secret}@127.0.0.1/db"),
            "must start with postgresql://",
        ),
    ] {
        let path = dir.join("agent.toml");
        std::fs::write(&path, format!("# a server\n[[postgres]]\ndsn = '{dsn}'\n")).expect("write");
        let out = picket_cmd()
            .args(["check-config", path.to_str().expect("utf-8 path")])
            .env_remove("DATA_SOURCE_NAME")
            .output()
            .expect("run picket");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{dsn}: {stderr}");
        assert!(stderr.contains("agent.toml:3:"), "{dsn}: {stderr}");
        assert!(
            stderr.contains(expect),
            "{dsn}: expected {expect:?} in {stderr}"
        );
        assert_hidden("check-config's stderr", &stderr, secret);
        assert_hidden(
            "check-config's stdout",
            &String::from_utf8_lossy(&out.stdout),
            secret,
        );
    }
    // From the environment: the variable is named.
    for (dsn, expect) in [
        (
            format!("postgresql://u:{secret}@127.0.0.1:5432/db?sslmode=verify-full"),
            "DATA_SOURCE_NAME: sslmode requires TLS",
        ),
        (
            format!("host=h user=u sslmode=disable,host=h password='{secret}"),
            "DATA_SOURCE_NAME (DSN 2 of 2): parameter 2 has an unterminated quoted value",
        ),
    ] {
        let out = picket_cmd()
            .args(["once", "--collector.disable-defaults"])
            .env("DATA_SOURCE_NAME", &dsn)
            .output()
            .expect("run picket");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{dsn}: {stderr}");
        assert!(
            stderr.contains(expect),
            "{dsn}: expected {expect:?} in {stderr}"
        );
        assert_hidden("picket's stderr", &stderr, secret);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
