//! MQTT forwarding against a real Mosquitto (Debian's, started on a free
//! loopback port in a temp dir): agent → broker → hub, with and without
//! auth; the text payload as `mosquitto_sub` shows it; the retained status
//! flipping to `offline` when the agent dies; a broker outage and a
//! `kill -9` of the agent during it losing nothing; garbage on the hub's
//! topics counted and dropped. All `#[ignore]`d: tests/run.sh installs
//! mosquitto and mosquitto-clients and runs them.

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
fn start_mosquitto(dir: &Path, port: u16, auth: Option<(&str, &str)>) -> Proc {
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
        "listener {port} 127.0.0.1\npersistence true\npersistence_location {}/\nuser root\n",
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
fn stop(p: &mut Proc) {
    let _ = Command::new("kill").arg(p.pid().to_string()).status();
    let _ = p.child.wait();
}

fn wait_until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn metric(addr: &str, line_prefix: &str) -> Option<f64> {
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
            "[push.mqtt]\nurl = \"{url}\"\nusername = \"board\"\npassword_file = \"{}\"\ntopic = \"picket/board1/metrics\"\nstatus_topic = \"picket/board1/status\"\n",
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
        .find(|l| l.starts_with("node_load1 "))
        .unwrap_or_else(|| panic!("no node_load1 line in {text:?}"));
    let fields: Vec<&str> = line.split(' ').collect();
    assert_eq!(fields.len(), 3, "{line}");
    assert!(fields[1].parse::<f64>().is_ok(), "{line}");
    let ts: i64 = fields[2].parse().expect("timestamp");
    assert!((ts - now_ms()).abs() < 60_000, "{line}");
    // Anonymous clients are refused by this broker.
    assert_eq!(sub_one(port, "picket/board1/metrics", &[]), "");
    // The samples are queryable on the hub with instance from the topic.
    wait_until(Duration::from_secs(15), "node_load1 on the hub", || {
        query(&hub.addr, r#"node_load1{instance="board1"}"#).is_some()
    });
    wait_until(Duration::from_secs(15), "up 1 on the hub", || {
        query(&hub.addr, r#"up{instance="board1",job="mqtt"}"#).as_deref() == Some("1")
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
        query(&hub.addr, r#"up{instance="board1",job="mqtt"}"#).as_deref() == Some("0")
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
            "[push.mqtt]\nurl = \"{url}\"\ntopic = \"picket/b2/metrics\"\nstatus_topic = \"picket/b2/status\"\nmax_samples_per_send = 100\nmax_backoff = \"1s\"\n"
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
    let agent = start_picket(&args);
    let restarted_at = now_ms();
    wait_until(Duration::from_secs(20), "more batches buffered", || {
        metric(&agent.addr, &buffered).unwrap_or(0.0) >= 25.0
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
