//! The systemd collector against a real `dbus-daemon`, side by side with
//! node_exporter (Debian's 1.5.0): both talk to the same fake systemd
//! (`fixtures/systemd/fake-systemd.py`, the one stand-in, since no systemd
//! can run on the test machine) through `DBUS_SYSTEM_BUS_ADDRESS`, and
//! their `node_systemd_*` lines (HELP, TYPE, names, labels, values) must be
//! the same text, apart from the differences listed in [`ONLY_PICKET`].
//! Then a bus that stops answering (`dbus-daemon` under SIGSTOP) costs a
//! scrape at most the collector's timeout, reports
//! `node_scrape_collector_success{collector="systemd"} 0`, and the rest
//! of /metrics is still served.
//!
//! `#[ignore]`d: they need dbus-daemon (dbus), python3-dbus, python3-gi and
//! prometheus-node-exporter, which tests/run.sh installs, and picket built
//! with the `systemd` feature (`cargo test --features systemd`, as
//! tests/run.sh runs the suite).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::start_node_exporter_env;
use crate::util::{fixture, get, poll, require, series_part, temp_dir, Launch};

/// Debian's interpreter, where python3-dbus and python3-gi live.
const PYTHON: &str = "/usr/bin/python3";

/// Series picket serves and node_exporter 1.5.0 does not, and why.
const ONLY_PICKET: &[(&str, &str)] = &[(
    "node_systemd_virtualization_info",
    "added in node_exporter 1.9.0 (#3254); picket follows 1.12, Debian ships 1.5.0",
)];

/// The collector's timeout in the hang test (`[collector.systemd] timeout`).
const TIMEOUT: Duration = Duration::from_secs(1);

const BUS_CONF: &str = r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <listen>unix:path=SOCKET</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#;

/// A private dbus-daemon with the fake systemd on it; both stop on drop.
struct Bus {
    daemon: Child,
    fake: Child,
    addr: String,
    dir: PathBuf,
}

impl Bus {
    fn start() -> Bus {
        if cfg!(not(feature = "systemd")) {
            panic!(
                "picket was built without the `systemd` feature (not a default one): \
                 run `cargo test --features systemd` (tests/run.sh does)"
            );
        }
        require("dbus-daemon");
        assert!(
            Command::new(PYTHON)
                .args(["-c", "import dbus, gi"])
                .status()
                .is_ok_and(|s| s.success()),
            "python3-dbus or python3-gi is not installed: run tests/run.sh"
        );
        let dir = temp_dir("systemd");
        let conf = dir.join("bus.conf");
        let socket = dir.join("bus");
        std::fs::write(
            &conf,
            BUS_CONF.replace("SOCKET", &socket.display().to_string()),
        )
        .expect("write bus.conf");
        let mut daemon = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", conf.display()))
            .args(["--nofork", "--print-address"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn dbus-daemon");
        let mut addr = String::new();
        BufReader::new(daemon.stdout.take().expect("stdout"))
            .read_line(&mut addr)
            .expect("dbus-daemon address");
        let addr = addr.trim().to_string();
        assert!(addr.starts_with("unix:"), "dbus-daemon printed {addr:?}");
        let mut fake = Command::new(PYTHON)
            .arg(fixture("systemd/fake-systemd.py"))
            .env("DBUS_SYSTEM_BUS_ADDRESS", &addr)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the fake systemd");
        let mut ready = String::new();
        let _ = BufReader::new(fake.stdout.take().expect("stdout")).read_line(&mut ready);
        if ready.trim() != "ready" {
            let mut err = String::new();
            let _ = fake.stderr.take().map(|mut e| e.read_to_string(&mut err));
            panic!("the fake systemd did not start: {err}");
        }
        Bus {
            daemon,
            fake,
            addr,
            dir,
        }
    }

    fn env(&self) -> [(&str, &str); 1] {
        [("DBUS_SYSTEM_BUS_ADDRESS", self.addr.as_str())]
    }

    /// SIGSTOP or SIGCONT to the daemon, returning once it took effect.
    fn signal(&self, sig: i32) {
        let pid = self.daemon.id() as i32;
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
        let want_stopped = sig == libc::SIGSTOP;
        let what = format!("signal {sig} to be taken");
        poll(
            &what,
            Duration::from_secs(5),
            Duration::from_millis(5),
            || {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                let state = stat
                    .rsplit(')')
                    .next()
                    .and_then(|r| r.split_whitespace().next());
                match (state == Some("T")) == want_stopped {
                    true => Ok(()),
                    false => Err(String::new()),
                }
            },
        )
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid; it may be stopped.
        unsafe { libc::kill(self.daemon.id() as i32, libc::SIGCONT) };
        for c in [&mut self.fake, &mut self.daemon] {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The systemd collector's lines of an exposition: `node_systemd_*`
/// (with HELP and TYPE) and its success sample.
fn systemd_lines(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| {
            let name = series_part(l);
            name.starts_with("node_systemd_")
                || name.starts_with("node_scrape_collector_success{collector=\"systemd\"}")
        })
        .map(str::to_string)
        .collect()
}

fn scrape(addr: &str) -> String {
    let r = get(addr, "/metrics").expect("GET /metrics");
    assert_eq!(r.status, 200);
    r.text()
}

/// The value of `name` (a series name with its labels, as written).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

#[test]
#[ignore = "needs dbus-daemon, python3-dbus and node_exporter (tests/run.sh installs them)"]
fn same_series_as_node_exporter_over_one_fake_systemd() {
    let bus = Bus::start();
    let sets: [(&str, &[&str], &[&str]); 2] = [
        (
            "defaults",
            &[],
            &[
                r#"node_systemd_unit_state{name="broken.service",state="failed",type="simple"} 1"#,
                r#"node_systemd_unit_state{name="getty@tty1.service",state="activating",type="idle"} 1"#,
                r#"node_systemd_units{state="inactive"} 3"#,
                r#"node_systemd_unit_state{name="systemd-fsck@dev-disk-by\\x2duuid-0A1B.service",state="inactive",type="oneshot"} 1"#,
                r#"node_systemd_socket_refused_connections_total{name="web.socket"} 7"#,
                r#"node_systemd_timer_last_trigger_seconds{name="logrotate.timer"} 1.70000010025e+09"#,
                r#"node_systemd_version{version="252.22-1~deb12u1"} 252.22"#,
                "node_systemd_system_running 0",
                r#"node_scrape_collector_success{collector="systemd"} 1"#,
            ],
        ),
        (
            "optional metrics, mounts included, one service excluded",
            &[
                "--collector.systemd.enable-restarts-metrics",
                "--collector.systemd.enable-task-metrics",
                "--collector.systemd.enable-start-time-metrics",
                "--collector.systemd.unit-include=.+\\.(service|socket|timer|mount)",
                "--collector.systemd.unit-exclude=idle\\.service",
            ],
            &[
                r#"node_systemd_unit_state{name="boot.mount",state="active",type="ext4"} 1"#,
                r#"node_systemd_service_restart_total{name="broken.service"} 5"#,
                r#"node_systemd_unit_tasks_current{name="ssh.service"} 3"#,
                r#"node_systemd_unit_tasks_max{name="broken.service"} 4915"#,
                r#"node_systemd_unit_start_time_seconds{name="ssh.service"} 1.700000000123456e+09"#,
                r#"node_systemd_unit_start_time_seconds{name="broken.service"} 0"#,
            ],
        ),
    ];
    for (what, extra, expect) in sets {
        let mut args = vec!["--collector.disable-defaults", "--collector.systemd"];
        args.extend_from_slice(extra);
        let pk = Launch::agent().args(&args).envs(bus.env()).start();
        let ne = start_node_exporter_env(&args, &bus.env());
        let ours = systemd_lines(&scrape(&pk.addr));
        let theirs = systemd_lines(&scrape(&ne.addr));
        for l in expect {
            assert!(ours.contains(*l), "{what}: picket lacks {l}\n{ours:#?}");
        }
        if !extra.is_empty() {
            assert!(
                !ours.iter().any(|l| l.contains("idle.service")),
                "{what}: not excluded"
            );
        }
        let only_ours: Vec<&String> = ours
            .difference(&theirs)
            .filter(|l| !ONLY_PICKET.iter().any(|(f, _)| l.contains(f)))
            .collect();
        let only_theirs: Vec<&String> = theirs.difference(&ours).collect();
        assert!(
            only_ours.is_empty() && only_theirs.is_empty(),
            "{what}:\nonly picket: {only_ours:#?}\nonly node_exporter: {only_theirs:#?}"
        );
        // The listed differences are still differences (else drop them).
        for (family, why) in ONLY_PICKET {
            assert!(
                ours.iter().any(|l| l.contains(family))
                    && !theirs.iter().any(|l| l.contains(family)),
                "{what}: {family} ({why}) no longer differs"
            );
        }
    }
}

#[test]
#[ignore = "needs dbus-daemon and python3-dbus (tests/run.sh installs them)"]
fn a_hung_bus_costs_a_scrape_at_most_the_timeout() {
    let bus = Bus::start();
    let dir = temp_dir("systemd-hang");
    let conf = dir.join("agent.toml");
    std::fs::write(
        &conf,
        format!(
            "[collector.systemd]\ntimeout = \"{}s\"\n",
            TIMEOUT.as_secs()
        ),
    )
    .expect("write agent.toml");
    let conf_arg = format!("--config.file={}", conf.display());
    let pk = Launch::agent()
        .args([&conf_arg, "--collector.systemd"])
        .envs(bus.env())
        .start();
    let success = r#"node_scrape_collector_success{collector="systemd"}"#;
    assert_eq!(value(&scrape(&pk.addr), success), Some(1.0), "before");

    bus.signal(libc::SIGSTOP);
    // The first scrape finds the kept connection stuck; later ones find
    // the call still running or a new connection stuck in its handshake.
    for i in 0..3 {
        let start = Instant::now();
        let text = scrape(&pk.addr);
        let took = start.elapsed();
        assert_eq!(value(&text, success), Some(0.0), "scrape {i}");
        assert!(
            took < TIMEOUT + Duration::from_millis(700),
            "scrape {i} took {took:?} with the bus stopped"
        );
        // The rest of /metrics is there.
        assert_eq!(
            value(
                &text,
                r#"node_scrape_collector_success{collector="loadavg"}"#
            ),
            Some(1.0)
        );
        assert!(value(&text, "node_load1").is_some(), "scrape {i}");
        assert!(!text.contains("node_systemd_units"), "scrape {i}");
    }
    bus.signal(libc::SIGCONT);

    // Back once the bus answers again.
    let start = Instant::now();
    while value(&scrape(&pk.addr), success) != Some(1.0) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the collector did not recover"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
