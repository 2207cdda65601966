//! Scrape relay end to end: picket fetches HAProxy's built-in Prometheus
//! exporter (a real HAProxy 2.6 with promex), serves its samples with
//! `job`/`instance` labels, pushes them to a real Prometheus, and survives
//! endpoints that are down or hang.

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

/// A real HAProxy serving its built-in exporter at `/metrics`.
fn start_haproxy_promex(dir: &std::path::Path) -> Proc {
    let port = free_port();
    let p = start_haproxy(
        dir,
        port,
        &format!(
            "global\n  log stderr format raw local0 emerg\n\n\
             defaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n\n\
             frontend prometheus\n  bind 127.0.0.1:{port}\n  http-request use-service prometheus-exporter if {{ path /metrics }}\n  no log\n"
        ),
    );
    wait_http(&p.addr, "/metrics", Duration::from_secs(10));
    p
}

fn relay_config(dir: &std::path::Path, body: &str) -> String {
    let cfg = dir.join("agent.toml");
    std::fs::write(&cfg, body).expect("write config");
    format!("--config.file={}", cfg.display())
}

#[test]
#[ignore = "needs haproxy, prometheus and promtool (tests/run.sh installs them)"]
fn haproxys_own_exporter_is_relayed_to_metrics_and_through_push() {
    require("prometheus");
    let dir = temp_dir("relay-haproxy");
    let hap = start_haproxy_promex(&dir);
    std::fs::write(
        dir.join("prometheus.yml"),
        "global: {scrape_interval: 15s}\n",
    )
    .expect("prometheus.yml");
    let prom_addr = format!("127.0.0.1:{}", free_port());
    let _prom = start_prometheus(&dir, &prom_addr, &["--web.enable-remote-write-receiver"]);
    let cfg = relay_config(
        &dir,
        &format!(
            "[push]\ninterval = \"200ms\"\nbuffer_path = \"{}\"\n\n\
             [[push.remote_write]]\nurl = \"http://{prom_addr}/api/v1/write\"\n\n\
             [[relay]]\nurl = \"http://{}/metrics\"\njob = \"haproxy\"\n",
            dir.join("buf").display(),
            hap.addr
        ),
    );
    let p = start_picket(&["--collector.disable-defaults", &cfg]);
    let text = get(&p.addr, "/metrics").expect("scrape").text();
    let instance = format!("instance=\"{}\"", hap.addr);
    let relayed: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("haproxy_process_nbthread"))
        .collect();
    assert_eq!(relayed.len(), 1, "{relayed:?}");
    assert!(
        relayed[0].contains("job=\"haproxy\"") && relayed[0].contains(&instance),
        "{relayed:?}"
    );
    assert!(
        text.contains(&format!("picket_relay_up{{{instance},job=\"haproxy\"}} 1")),
        "picket_relay_up missing or 0"
    );
    // What HAProxy serves itself, family for family, is relayed.
    let direct = get(&hap.addr, "/metrics").expect("haproxy").text();
    let families = |t: &str| -> std::collections::BTreeSet<String> {
        t.lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter(|l| l.starts_with("haproxy_"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(families(&text), families(&direct));
    // The whole exposition still lints.
    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    {
        use std::io::Write;
        let mut stdin = check.stdin.take().expect("stdin");
        stdin.write_all(text.as_bytes()).expect("write");
    }
    let out = check.wait_with_output().expect("promtool");
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(
        !errors.contains("error while linting") && !errors.contains("parse"),
        "promtool: {errors}"
    );
    // And it rides the push path, under the board's identity: as when
    // Prometheus scrapes the board (honor_labels false), the relay's own
    // job is kept as exported_job.
    poll(
        "the relayed series in Prometheus",
        Duration::from_secs(20),
        Duration::from_millis(200),
        || {
            let r = promql(
                &prom_addr,
                "haproxy_process_nbthread{job=\"node\",exported_job=\"haproxy\"}",
            );
            if r.contains("haproxy_process_nbthread") {
                Ok(())
            } else {
                Err(format!("not in Prometheus: {r}"))
            }
        },
    );
}

#[test]
fn a_down_or_hanging_endpoint_costs_at_most_its_timeout() {
    // One endpoint refuses connections, one accepts and never answers.
    let refused = format!("127.0.0.1:{}", free_port());
    let hang = TcpListener::bind("127.0.0.1:0").expect("bind");
    let hang_addr = hang.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in hang.incoming().flatten() {
            held.push(c);
        }
    });
    let dir = temp_dir("relay-down");
    let cfg = relay_config(
        &dir,
        &format!(
            "[[relay]]\nurl = \"http://{refused}/metrics\"\n\n\
             [[relay]]\nurl = \"http://{hang_addr}/metrics\"\ntimeout = \"1s\"\n"
        ),
    );
    let p = start_picket(&["--collector.disable-defaults", "--collector.loadavg", &cfg]);
    for round in 0..3 {
        let start = Instant::now();
        let text = get(&p.addr, "/metrics").expect("scrape").text();
        let took = start.elapsed();
        assert!(
            took < Duration::from_millis(2500),
            "round {round}: scrape took {took:?}"
        );
        assert!(text.contains("node_load1 "), "other collectors carry on");
        for addr in [&refused, &hang_addr] {
            let up = format!("picket_relay_up{{instance=\"{addr}\",job=\"relay\"}} 0");
            assert!(text.contains(&up), "round {round}: no {up}");
        }
        assert!(text.contains("node_scrape_collector_success{collector=\"relay\"} 0"));
    }
}

#[test]
fn a_garbled_body_relays_nothing_and_says_why() {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let body = "good_metric 1\nthis is { not a metric\n";
            let _ = std::io::Write::write_all(
                &mut c,
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        }
    });
    let dir = temp_dir("relay-garbled");
    let cfg = relay_config(
        &dir,
        &format!("[[relay]]\nurl = \"http://{addr}/metrics\"\n"),
    );
    let mut p = start_picket(&["--collector.disable-defaults", &cfg]);
    let text = get(&p.addr, "/metrics").expect("scrape").text();
    assert!(!text.contains("good_metric"), "half a body was relayed");
    assert!(text.contains(&format!(
        "picket_relay_up{{instance=\"{addr}\",job=\"relay\"}} 0"
    )));
    let _ = p.child.kill();
    let mut err = String::new();
    if let Some(mut e) = p.child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    assert!(err.contains("line 2"), "the log names the bad line: {err}");
}
