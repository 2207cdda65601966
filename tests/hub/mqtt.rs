//! MQTT forwarding against a real Mosquitto (Debian's, started on a free
//! loopback port in a temp dir): agent → broker → hub, with and without
//! auth; the text payload as `mosquitto_sub` shows it; the retained status
//! flipping to `offline` when the agent dies; a broker outage and a
//! `kill -9` of the agent during it losing nothing; garbage on the hub's
//! topics counted and dropped; `mqtts://` through a TLS listener with a
//! throwaway CA made by the `openssl` tool (the right CA file connects,
//! the webpki roots or another CA are refused, logged and counted, never a
//! panic). A bad `ca_file` is a hub config error. The broker tests are
//! `#[ignore]`d: tests/run.sh installs mosquitto, mosquitto-clients and
//! openssl and runs them.

use std::collections::BTreeSet;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::hub::{export, now_ms, start_hub};
use crate::util::*;

/// Starts Mosquitto on `port` with its files in `dir` (persistence on, so a
/// restart keeps the hub's session); with `auth`, anonymous clients are
/// refused and `user` / `pass` is the one account.
pub(crate) fn start_mosquitto(dir: &Path, port: u16, auth: Option<(&str, &str)>) -> Proc {
    start_mosquitto_with(dir, port, auth, "")
}

/// [`start_mosquitto`] with `listener_extra` lines after the `listener`
/// line (its TLS settings).
pub(crate) fn start_mosquitto_with(
    dir: &Path,
    port: u16,
    auth: Option<(&str, &str)>,
    listener_extra: &str,
) -> Proc {
    // Debian installs the broker in /usr/sbin, off a normal user's PATH.
    let bin = if have("mosquitto") {
        "mosquitto"
    } else {
        "/usr/sbin/mosquitto"
    };
    assert!(
        have("mosquitto") || Path::new(bin).exists(),
        "mosquitto is not installed: run tests/run.sh, which installs the test peers"
    );
    let mut conf = format!(
        "listener {port} 127.0.0.1\n{listener_extra}persistence true\npersistence_location {}/\nuser root\n",
        dir.display()
    );
    match auth {
        None => conf.push_str("allow_anonymous true\n"),
        Some((u, p)) => {
            let pw = dir.join("passwd");
            let ok = Command::new("mosquitto_passwd")
                .args(["-c", "-b", &show(&pw), u, p])
                .status()
                .expect("mosquitto_passwd");
            assert!(ok.success());
            conf.push_str(&format!(
                "allow_anonymous false\npassword_file {}\n",
                pw.display()
            ));
        }
    }
    let cf = dir.join("mosquitto.conf");
    std::fs::write(&cf, conf).expect("write mosquitto.conf");
    let log = std::fs::File::create(dir.join("mosquitto.log")).expect("log");
    let child = Command::new(bin)
        .arg("-c")
        .arg(&cf)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn mosquitto");
    let addr = format!("127.0.0.1:{port}");
    let start = Instant::now();
    while TcpStream::connect(&addr).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "mosquitto did not listen on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Proc { child, addr }
}

/// SIGTERM (Mosquitto saves its persistence file) and wait.
pub(crate) fn stop(p: &mut Proc) {
    let _ = Command::new("kill").arg(p.pid().to_string()).status();
    let _ = p.child.wait();
}

pub(crate) fn metric(addr: &str, line_prefix: &str) -> Option<f64> {
    let text = get(addr, "/metrics").ok()?.text();
    text.lines()
        .find(|l| l.starts_with(line_prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// The value of an instant query's first result, if any.
fn query(addr: &str, q: &str) -> Option<String> {
    let q = q
        .replace('{', "%7B")
        .replace('}', "%7D")
        .replace('"', "%22")
        .replace('=', "%3D");
    let r = get(addr, &format!("/api/v1/query?query={q}")).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&r.body).ok()?;
    v["data"]["result"][0]["value"][1]
        .as_str()
        .map(str::to_string)
}

/// One message of `topic` as `mosquitto_sub` prints it (retained ones
/// included), with `extra` arguments (credentials).
fn sub_one(port: u16, topic: &str, extra: &[&str]) -> String {
    require("mosquitto_sub");
    let out = Command::new("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-C",
            "1",
            "-W",
            "10",
        ])
        .args(["-t", topic])
        .args(extra)
        .output()
        .expect("mosquitto_sub");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn pub_file(port: u16, topic: &str, payload: &[u8], dir: &Path) {
    require("mosquitto_pub");
    let f = dir.join("payload.bin");
    std::fs::write(&f, payload).expect("payload");
    let ok = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1"])
        .args(["-t", topic, "-f", &show(&f)])
        .status()
        .expect("mosquitto_pub");
    assert!(ok.success());
}

/// Stamps of `node_load1{instance}` stored on the hub.
fn stamps(hub: &str, instance: &str) -> Vec<i64> {
    export(hub, &format!(r#"node_load1{{instance="{instance}"}}"#))
        .into_iter()
        .flat_map(|(_, v)| v.into_iter().map(|p| p.0))
        .collect()
}

/// Asserts no gap above `max_gap` ms in sorted `v`.
fn assert_contiguous(v: &[i64], max_gap: i64, what: &str) {
    for w in v.windows(2) {
        assert!(
            w[1] - w[0] <= max_gap,
            "{what}: gap of {} ms between {} and {} ({} stamps)",
            w[1] - w[0],
            w[0],
            w[1],
            v.len()
        );
    }
}

#[test]
#[ignore]
fn agent_to_mosquitto_to_hub_with_auth_and_status() {
    let dir = temp_dir("mqtt-auth");
    let port = free_port();
    let _broker = start_mosquitto(&dir, port, Some(("board", "s3cret pass")));
    let url = format!("mqtt://127.0.0.1:{port}");
    std::fs::write(dir.join("pw"), "s3cret pass\n").expect("pw");
    // The hub, from a config file with the credentials.
    let hub_cfg = dir.join("hub.toml");
    std::fs::write(
        &hub_cfg,
        format!(
            "[mqtt]\nurl = \"{url}\"\nusername = \"board\"\npassword_file = \"{}\"\nstatus_interval = \"1s\"\n",
            dir.join("pw").display()
        ),
    )
    .expect("hub.toml");
    let hub = start_hub(&dir, &[&format!("--config.file={}", hub_cfg.display())]);
    // The agent, likewise.
    let agent_cfg = dir.join("agent.toml");
    std::fs::write(
        &agent_cfg,
        format!(
            "[push]\ninstance = \"board1\"\n[push.mqtt]\nurl = \"{url}\"\nusername = \"board\"\npassword_file = \"{}\"\ntopic = \"picket/board1/metrics\"\nstatus_topic = \"picket/board1/status\"\n",
            dir.join("pw").display()
        ),
    )
    .expect("agent.toml");
    let mut agent = start_picket(&[
        "--collector.disable-defaults",
        "--collector.loadavg",
        "--push-interval=200ms",
        &format!("--buffer-path={}", dir.join("buf").display()),
        &format!("--config.file={}", agent_cfg.display()),
    ]);
    let creds = ["-u", "board", "-P", "s3cret pass"];
    // mosquitto_sub shows readable text lines: name, value, timestamp.
    let text = sub_one(port, "picket/board1/metrics", &creds);
    let line = text
        .lines()
        .find(|l| l.starts_with("node_load1{instance=\"board1\",job=\"node\"} "))
        .unwrap_or_else(|| panic!("no node_load1 line in {text:?}"));
    let fields: Vec<&str> = line.split(' ').collect();
    assert_eq!(fields.len(), 3, "{line}");
    assert!(fields[1].parse::<f64>().is_ok(), "{line}");
    let ts: i64 = fields[2].parse().expect("timestamp");
    assert!((ts - now_ms()).abs() < 60_000, "{line}");
    // Anonymous clients are refused by this broker.
    assert_eq!(sub_one(port, "picket/board1/metrics", &[]), "");
    // The samples are queryable on the hub under the board's identity
    // (`[push] instance`, job "node"), and so is its `up`.
    wait_until(Duration::from_secs(15), "node_load1 on the hub", || {
        query(&hub.addr, r#"node_load1{instance="board1"}"#).is_some()
    });
    wait_until(Duration::from_secs(15), "up 1 on the hub", || {
        query(&hub.addr, r#"up{instance="board1",job="node"}"#).as_deref() == Some("1")
    });
    assert_eq!(
        sub_one(port, "picket/board1/status", &creds).trim(),
        "online"
    );
    let acked = format!("picket_mqtt_acked_samples_total{{url=\"{url}\"}}");
    wait_until(Duration::from_secs(10), "acks counted", || {
        metric(&agent.addr, &acked).unwrap_or(0.0) > 0.0
    });
    // Killed: the broker publishes the retained last will.
    agent.child.kill().expect("kill -9");
    let _ = agent.child.wait();
    wait_until(Duration::from_secs(15), "status offline", || {
        sub_one(port, "picket/board1/status", &creds).trim() == "offline"
    });
    wait_until(Duration::from_secs(15), "up 0 on the hub", || {
        query(&hub.addr, r#"up{instance="board1",job="node"}"#).as_deref() == Some("0")
    });
    assert_eq!(
        metric(&hub.addr, "picket_hub_mqtt_rejected_messages_total"),
        Some(0.0)
    );
    assert_eq!(metric(&hub.addr, "picket_hub_mqtt_connected"), Some(1.0));
}

#[test]
#[ignore]
fn broker_outage_and_kill_9_lose_nothing() {
    let dir = temp_dir("mqtt-outage");
    let port = free_port();
    let mut broker = start_mosquitto(&dir, port, None);
    let url = format!("mqtt://127.0.0.1:{port}");
    let hub = start_hub(&dir, &[&format!("--mqtt-url={url}")]);
    let cfg = dir.join("agent.toml");
    // Small rounds, so the backlog goes out in several of them.
    std::fs::write(
        &cfg,
        format!(
            "[push]\ninstance = \"b2\"\n[push.mqtt]\nurl = \"{url}\"\ntopic = \"picket/b2/metrics\"\nstatus_topic = \"picket/b2/status\"\nmax_samples_per_send = 100\nmax_backoff = \"1s\"\n"
        ),
    )
    .expect("agent.toml");
    let args = [
        "--collector.disable-defaults".to_string(),
        "--collector.loadavg".to_string(),
        "--push-interval=200ms".to_string(),
        format!("--buffer-path={}", dir.join("buf").display()),
        format!("--config.file={}", cfg.display()),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut agent = start_picket(&args);
    wait_until(Duration::from_secs(15), "first samples on the hub", || {
        stamps(&hub.addr, "b2").len() >= 3
    });
    let buffered = format!("picket_buffer_batches{{url=\"{url}\"}}");
    // The broker goes away for many intervals.
    stop(&mut broker);
    wait_until(Duration::from_secs(20), "batches buffered", || {
        metric(&agent.addr, &buffered).unwrap_or(0.0) >= 15.0
    });
    // kill -9 during the outage, then a new agent on the same buffer.
    let killed_at = now_ms();
    agent.child.kill().expect("kill -9");
    let _ = agent.child.wait();
    // (collected after the last read: counted from the restarted agent's
    // first read, which holds them all)
    let agent = start_picket(&args);
    let restarted_at = now_ms();
    let at_restart = metric(&agent.addr, &buffered).unwrap_or(0.0);
    wait_until(Duration::from_secs(20), "more batches buffered", || {
        metric(&agent.addr, &buffered).unwrap_or(0.0) >= at_restart + 11.0
    });
    // The broker comes back (with the hub's session): everything drains.
    let _broker = start_mosquitto(&dir, port, None);
    wait_until(Duration::from_secs(60), "backlog published", || {
        metric(&agent.addr, &buffered) == Some(0.0)
    });
    let last = now_ms();
    wait_until(Duration::from_secs(30), "hub caught up", || {
        stamps(&hub.addr, "b2")
            .last()
            .is_some_and(|&t| t >= last - 1000)
    });
    let got: Vec<i64> = stamps(&hub.addr, "b2")
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // First run: every interval from the first sample to the kill.
    let first: Vec<i64> = got.iter().copied().filter(|&t| t < killed_at).collect();
    assert_contiguous(&first, 300, "first run");
    assert!(
        first.last().is_some_and(|&t| t >= killed_at - 500),
        "the batches collected just before the kill are missing: last {:?}, killed at {killed_at}",
        first.last()
    );
    // Second run: every interval from its start to now.
    let second: Vec<i64> = got
        .iter()
        .copied()
        .filter(|&t| t >= restarted_at - 1000 && t > killed_at)
        .collect();
    // (the restarted agent collects from its start, before /healthz answers)
    assert!(
        second.first().is_some_and(|&t| t <= restarted_at) && second.len() >= 10,
        "second run starts late: {:?} (restarted at {restarted_at}, {} stamps)",
        second.first(),
        second.len()
    );
    assert_contiguous(&second, 300, "second run");
    // No round of the second run was lost in flight: none published twice.
    let published = metric(
        &agent.addr,
        &format!("picket_mqtt_published_samples_total{{url=\"{url}\"}}"),
    );
    let acked = metric(
        &agent.addr,
        &format!("picket_mqtt_acked_samples_total{{url=\"{url}\"}}"),
    );
    assert!(
        published.is_some() && published == acked,
        "{published:?} {acked:?}"
    );
    assert!(
        metric(
            &agent.addr,
            &format!("picket_mqtt_reconnects_total{{url=\"{url}\"}}")
        )
        .unwrap_or(0.0)
            >= 1.0
    );
    assert!(metric(&hub.addr, "picket_hub_mqtt_reconnects_total").unwrap_or(0.0) >= 1.0);
}

#[test]
#[ignore]
fn garbage_on_the_hub_topics_is_counted_and_dropped() {
    let dir = temp_dir("mqtt-garbage");
    let port = free_port();
    let _broker = start_mosquitto(&dir, port, None);
    let hub = start_hub(&dir, &[&format!("--mqtt-url=mqtt://127.0.0.1:{port}")]);
    wait_until(Duration::from_secs(10), "hub connected", || {
        metric(&hub.addr, "picket_hub_mqtt_connected") == Some(1.0)
    });
    // Subscriptions go out right after CONNACK; give the SUBACK a moment.
    std::thread::sleep(Duration::from_millis(500));
    let mut junk: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    junk[0] = 0xff;
    let bad: [(&str, &[u8]); 6] = [
        ("picket/x/metrics", &junk),
        ("picket/x/metrics", b"hello {world"),
        ("picket/x/metrics", b"[{\"name\": 1}]"),
        (
            "picket/x/metrics",
            b"{\"name\":\"ok_metric\",\"value\":\"lots\"}",
        ),
        ("picket/x/metrics", b"\x0a\x05\x0a\x03\x0a\x01"),
        ("picket/x/status", b"maybe"),
    ];
    for (t, p) in bad {
        pub_file(port, t, p, &dir);
    }
    // A good message after them (same client order on one broker).
    let ts = now_ms();
    pub_file(
        port,
        "picket/x/metrics",
        format!("probe_ok{{a=\"b\"}} 7 {ts}\n").as_bytes(),
        &dir,
    );
    wait_until(Duration::from_secs(10), "the good message stored", || {
        query(&hub.addr, r#"probe_ok{instance="x"}"#).as_deref() == Some("7")
    });
    assert_eq!(
        metric(&hub.addr, "picket_hub_mqtt_rejected_messages_total"),
        Some(6.0)
    );
    assert_eq!(
        metric(&hub.addr, "picket_hub_mqtt_received_messages_total"),
        Some(1.0)
    );
    assert_eq!(metric(&hub.addr, "picket_hub_mqtt_connected"), Some(1.0));
    assert!(
        query(&hub.addr, "ok_metric").is_none(),
        "part of a bad message was stored"
    );
}

/// Kills `p` (kill -9) and returns what it wrote on its piped stderr.
fn kill_and_read_stderr(p: &mut Proc) -> String {
    use std::io::Read;
    let err = p.child.stderr.take();
    p.child.kill().expect("kill");
    let _ = p.child.wait();
    let mut s = String::new();
    if let Some(mut e) = err {
        let _ = e.read_to_string(&mut s);
    }
    s
}

/// picket-hub with `--config.file=cfg`, its stderr kept in `log` (start_hub
/// discards it).
pub(crate) fn start_hub_logged(dir: &Path, cfg: &Path, log: &Path) -> Proc {
    Launch::hub(dir)
        .args([format!("--config.file={}", cfg.display())])
        .log(log)
        .start()
}

#[test]
#[ignore]
fn mqtts_with_a_ca_file_delivers_and_a_wrong_ca_is_refused() {
    let dir = temp_dir("mqtts");
    make_ca(&dir, "ca");
    make_ca(&dir, "other-ca");
    make_server_cert(&dir, "ca");
    // The server certificate names 127.0.0.1 and localhost in its SAN and
    // chains to our CA (openssl's own check, before rustls's).
    let san = openssl(
        &dir,
        &[
            "x509",
            "-in",
            "server.pem",
            "-noout",
            "-ext",
            "subjectAltName",
        ],
    );
    assert!(
        san.contains("IP Address:127.0.0.1") && san.contains("DNS:localhost"),
        "{san}"
    );
    let verify = openssl(&dir, &["verify", "-CAfile", "ca.pem", "server.pem"]);
    assert!(verify.contains("server.pem: OK"), "{verify}");

    let port = free_port();
    let tls = format!(
        "cafile {0}/ca.pem\ncertfile {0}/server.pem\nkeyfile {0}/server.key\n",
        dir.display()
    );
    let _broker = start_mosquitto_with(&dir, port, None, &tls);
    let url = format!("mqtts://127.0.0.1:{port}");
    let ca = dir.join("ca.pem");

    // The hub with the right CA, and one trusting another CA.
    let hub_dir = dir.join("hub");
    let bad_hub_dir = dir.join("bad-hub");
    for d in [&hub_dir, &bad_hub_dir] {
        std::fs::create_dir_all(d).expect("hub dir");
    }
    let hub_cfg = dir.join("hub.toml");
    std::fs::write(
        &hub_cfg,
        format!(
            "[mqtt]\nurl = \"{url}\"\nca_file = \"{}\"\nstatus_interval = \"1s\"\n",
            ca.display()
        ),
    )
    .expect("hub.toml");
    let bad_hub_cfg = dir.join("bad-hub.toml");
    std::fs::write(
        &bad_hub_cfg,
        format!(
            "[mqtt]\nurl = \"{url}\"\nca_file = \"{}\"\n",
            dir.join("other-ca.pem").display()
        ),
    )
    .expect("bad-hub.toml");
    let hub = start_hub_logged(&hub_dir, &hub_cfg, &dir.join("hub.log"));
    let mut bad_hub = start_hub_logged(&bad_hub_dir, &bad_hub_cfg, &dir.join("bad-hub.log"));

    // The agent with the right CA, and one with the webpki roots (no
    // ca_file), each on its own topic.
    let agent_cfg = |name: &str, ca_line: &str| {
        let f = dir.join(format!("{name}.toml"));
        std::fs::write(
            &f,
            format!(
                "[push]\ninstance = \"{name}\"\n[push.mqtt]\nurl = \"{url}\"\n{ca_line}topic = \"picket/{name}/metrics\"\nstatus_topic = \"picket/{name}/status\"\nmax_backoff = \"1s\"\n"
            ),
        )
        .expect("agent toml");
        f
    };
    let good_cfg = agent_cfg("tlsboard", &format!("ca_file = \"{}\"\n", ca.display()));
    let bad_cfg = agent_cfg("badca", "");
    let agent_args = |cfg: &Path, buf: &str| {
        vec![
            "--collector.disable-defaults".to_string(),
            "--collector.loadavg".to_string(),
            "--push-interval=200ms".to_string(),
            format!("--buffer-path={}", dir.join(buf).display()),
            format!("--config.file={}", cfg.display()),
        ]
    };
    let a = agent_args(&good_cfg, "buf");
    let agent = start_picket(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let b = agent_args(&bad_cfg, "bad-buf");
    let mut bad_agent = start_picket(&b.iter().map(String::as_str).collect::<Vec<_>>());

    // Right CA: agent → Mosquitto → hub over TLS.
    wait_until(Duration::from_secs(15), "node_load1 on the hub", || {
        query(&hub.addr, r#"node_load1{instance="tlsboard"}"#).is_some()
    });
    wait_until(Duration::from_secs(15), "up 1 on the hub", || {
        query(&hub.addr, r#"up{instance="tlsboard",job="node"}"#).as_deref() == Some("1")
    });
    let acked = format!("picket_mqtt_acked_samples_total{{url=\"{url}\"}}");
    wait_until(Duration::from_secs(10), "acks counted", || {
        metric(&agent.addr, &acked).unwrap_or(0.0) > 0.0
    });
    assert_eq!(
        metric(
            &agent.addr,
            &format!("picket_mqtt_connected{{url=\"{url}\"}}")
        ),
        Some(1.0)
    );
    assert_eq!(metric(&hub.addr, "picket_hub_mqtt_connected"), Some(1.0));
    // mosquitto_sub over TLS with the same CA reads the text payload.
    let text = sub_one(port, "picket/tlsboard/metrics", &["--cafile", &show(&ca)]);
    assert!(
        text.contains("node_load1{instance=\"tlsboard\",job=\"node\"} "),
        "{text:?}"
    );
    // The listener speaks TLS only: without it, nothing.
    assert_eq!(sub_one(port, "picket/tlsboard/metrics", &[]), "");

    // Wrong CA: several attempts, each refused; counted, logged, no panic.
    let reconnects = format!("picket_mqtt_reconnects_total{{url=\"{url}\"}}");
    wait_until(Duration::from_secs(15), "bad agent retried", || {
        metric(&bad_agent.addr, &reconnects).unwrap_or(0.0) >= 3.0
    });
    wait_until(Duration::from_secs(15), "bad hub retried", || {
        metric(&bad_hub.addr, "picket_hub_mqtt_reconnects_total").unwrap_or(0.0) >= 2.0
    });
    assert_eq!(
        metric(
            &bad_agent.addr,
            &format!("picket_mqtt_connected{{url=\"{url}\"}}")
        ),
        Some(0.0)
    );
    assert_eq!(
        metric(&bad_agent.addr, &acked),
        Some(0.0),
        "nothing acknowledged through an untrusted broker"
    );
    // Its samples wait in its buffer instead.
    assert!(
        metric(
            &bad_agent.addr,
            &format!("picket_buffer_batches{{url=\"{url}\"}}")
        )
        .unwrap_or(0.0)
            > 0.0
    );
    assert_eq!(
        metric(&bad_hub.addr, "picket_hub_mqtt_connected"),
        Some(0.0)
    );
    assert_eq!(
        metric(&bad_hub.addr, "picket_hub_mqtt_received_messages_total"),
        Some(0.0)
    );
    assert!(
        query(&bad_hub.addr, r#"node_load1{instance="tlsboard"}"#).is_none(),
        "the hub with the wrong CA stored something"
    );
    assert!(
        stamps(&hub.addr, "badca").is_empty(),
        "the agent with the wrong CA got samples through"
    );
    // Both still running (no panic), then their logs name the cause.
    assert!(bad_agent.child.try_wait().expect("try_wait").is_none());
    assert!(bad_hub.child.try_wait().expect("try_wait").is_none());
    let agent_log = kill_and_read_stderr(&mut bad_agent);
    bad_hub.child.kill().expect("kill");
    let _ = bad_hub.child.wait();
    let hub_log = std::fs::read_to_string(dir.join("bad-hub.log")).expect("hub log");
    for (who, log) in [("agent", &agent_log), ("hub", &hub_log)] {
        assert!(!log.contains("panicked"), "{who}: {log}");
        assert!(
            log.contains(&url) && log.contains("UnknownIssuer"),
            "{who}'s log does not say the certificate's issuer is unknown: {log}"
        );
    }
    // Never connected: a failure, not a lost connection.
    assert!(
        hub_log.contains("broker connection failed"),
        "hub: {hub_log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// picket-hub: an `[mqtt] ca_file` that is missing or holds no PEM
/// certificate is a config error (exit 2) naming file, line and key, as
/// the agent's (tests/configs/invalid/mqtt-ca-file-*.toml). Needs no
/// broker.
#[test]
fn hub_bad_ca_file_is_a_config_error_naming_file_line_and_key() {
    let dir = temp_dir("mqtts-hub-cfg");
    let f = dir.join("hub.toml");
    for (ca, want) in [
        (
            "/nonexistent/picket-ca.pem",
            "hub.toml:3: mqtt.ca_file: cannot read /nonexistent/picket-ca.pem: ",
        ),
        (
            "/dev/null",
            "hub.toml:3: mqtt.ca_file: /dev/null: no PEM certificate in it",
        ),
    ] {
        std::fs::write(
            &f,
            format!("[mqtt]\nurl = \"mqtts://127.0.0.1:8883\"\nca_file = \"{ca}\"\n"),
        )
        .expect("hub.toml");
        let out = hub_cmd()
            .args(["check-config", &show(&f)])
            .output()
            .expect("picket-hub");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{ca}: {err}");
        assert!(err.contains(want), "{ca}: expected {want:?} in {err:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
