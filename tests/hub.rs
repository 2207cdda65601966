//! picket-hub: remote_write in (from the agent and from a real Prometheus),
//! the read API out, as promtool sees it; duplicates, bad bodies, late and
//! out-of-order backlogs, kill -9.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use picket::encode::remote_write::{compress, Label, PbSample, TimeSeries, WriteRequest};

use crate::util::*;

fn hub_bin() -> &'static str {
    env!("CARGO_BIN_EXE_picket-hub")
}

fn start_hub(dir: &std::path::Path, extra: &[&str]) -> Proc {
    let addr = format!("127.0.0.1:{}", free_port());
    let child = Command::new(hub_bin())
        .arg(format!("--web.listen-address={addr}"))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn picket-hub");
    let p = Proc { child, addr };
    wait_http(&p.addr, "/-/ready", Duration::from_secs(10));
    p
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One series to send: its labels and samples.
type Series<'a> = (&'a [(&'a str, &'a str)], &'a [(i64, f64)]);

fn body(series: &[Series<'_>]) -> Vec<u8> {
    let req = WriteRequest {
        timeseries: series
            .iter()
            .map(|(l, s)| TimeSeries {
                labels: l
                    .iter()
                    .map(|(n, v)| Label {
                        name: n.to_string(),
                        value: v.to_string(),
                    })
                    .collect(),
                samples: s
                    .iter()
                    .map(|&(t, v)| PbSample {
                        value: v,
                        timestamp: t,
                    })
                    .collect(),
            })
            .collect(),
    };
    compress(&prost::Message::encode_to_vec(&req))
}

fn post(addr: &str, body: &[u8]) -> Response {
    let mut req = format!(
        "POST /api/v1/write HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\nX-Prometheus-Remote-Write-Version: 0.1.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    raw(addr, &req).expect("post")
}

/// (timestamp ms, value text) of every stored sample of `selector`.
fn export(addr: &str, selector: &str) -> Vec<(String, Vec<(i64, String)>)> {
    let q = selector
        .replace('{', "%7B")
        .replace('}', "%7D")
        .replace('"', "%22");
    let r = get(addr, &format!("/api/v1/export?match[]={q}")).expect("export");
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    let mut out = Vec::new();
    for s in v["data"]["result"].as_array().expect("result") {
        let metric = s["metric"].to_string();
        let values = s["values"]
            .as_array()
            .expect("values")
            .iter()
            .map(|p| {
                let t = (p[0].as_f64().expect("ts") * 1000.0).round() as i64;
                (t, p[1].as_str().expect("value").to_string())
            })
            .collect();
        out.push((metric, values));
    }
    out
}

#[test]
fn duplicates_store_once_backlogs_land_and_bad_bodies_store_nothing() {
    let dir = temp_dir("hub-ingest");
    let hub = start_hub(&dir, &[]);
    let now = now_ms();
    let l: &[(&str, &str)] = &[
        ("__name__", "node_load1"),
        ("instance", "pi4"),
        ("job", "node"),
    ];
    // Three hours of backlog at 15 s, sent newest half first, each request twice.
    let pts: Vec<(i64, f64)> = (0..720)
        .map(|i| (now - 3 * 3_600_000 + i * 15_000, i as f64))
        .collect();
    for part in [&pts[360..], &pts[..360]] {
        for chunk in part.chunks(100) {
            let b = body(&[(l, chunk)]);
            assert_eq!(post(&hub.addr, &b).status, 204);
            assert_eq!(post(&hub.addr, &b).status, 204);
        }
    }
    let got = export(&hub.addr, r#"node_load1{instance="pi4"}"#);
    assert_eq!(got.len(), 1);
    let want: Vec<(i64, String)> = pts.iter().map(|&(t, v)| (t, format!("{v}"))).collect();
    assert_eq!(got[0].1, want, "every sample once, in order");
    // Bad bodies: 400 with a message, and nothing of them stored.
    let good_then_bad = body(&[
        (&[("__name__", "x_ok")], &[(now, 1.0)]),
        (&[("__name__", "x bad")], &[(now, 1.0)]),
    ]);
    for (b, want) in [
        (b"definitely not snappy".to_vec(), "snappy"),
        (compress(b"\x0a\xff\xff"), "protobuf"),
        (good_then_bad, "metric name"),
    ] {
        let r = post(&hub.addr, &b);
        assert_eq!(r.status, 400, "{}", r.text());
        assert!(r.text().contains(want), "{}", r.text());
    }
    assert!(export(&hub.addr, "x_ok").is_empty());
    let r = get(&hub.addr, "/metrics").expect("metrics");
    assert!(
        r.text()
            .contains("picket_hub_remote_write_requests_total{code=\"400\"} 3"),
        "{}",
        r.text()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn kill_9_loses_at_most_the_commit_interval() {
    let dir = temp_dir("hub-kill");
    let cfg = dir.join("hub.toml");
    std::fs::write(&cfg, "[storage]\ncommit_interval = \"200ms\"\n").expect("write config");
    let cfg_arg = format!("--config.file={}", cfg.display());
    let mut hub = start_hub(&dir, &[&cfg_arg]);
    let now = now_ms();
    let l: &[(&str, &str)] = &[("__name__", "kept")];
    let pts: Vec<(i64, f64)> = (0..200)
        .map(|i| (now - 200_000 + i * 1000, i as f64))
        .collect();
    assert_eq!(post(&hub.addr, &body(&[(l, &pts)])).status, 204);
    std::thread::sleep(Duration::from_millis(1500));
    let _ = hub.child.kill(); // SIGKILL
    let _ = hub.child.wait();
    let hub = start_hub(&dir, &[&cfg_arg]);
    let got = export(&hub.addr, "kept");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1.len(), 200);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn config_files_check_and_errors_name_file_line_and_key() {
    let ok = Command::new(hub_bin())
        .args([
            "check-config",
            &repo().join("configs/hub.toml").display().to_string(),
        ])
        .output()
        .expect("run");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let dir = temp_dir("hub-cfg");
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[storage]\npath = \"d\"\nretention_time = \"forever\"\n",
    )
    .expect("write");
    let out = Command::new(hub_bin())
        .args(["check-config", &bad.display().to_string()])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:3: storage.retention_time:"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The agent pushes, a real Prometheus remote-writes what it scrapes, and
/// promtool reads both back from the hub.
#[test]
#[ignore]
fn agent_and_prometheus_push_and_promtool_reads_the_hub() {
    require("prometheus");
    require("promtool");
    let dir = temp_dir("hub-peers");
    let hub = start_hub(&dir, &[]);
    let buf = dir.join("buf");
    let agent = start_picket(&[
        &format!("--push-url=http://{}/api/v1/write", hub.addr),
        "--push-interval=1s",
        &format!("--buffer-path={}", buf.display()),
    ]);
    let prom_dir = dir.join("prom");
    std::fs::create_dir_all(&prom_dir).expect("dir");
    std::fs::write(
        prom_dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: board\n    static_configs:\n      - targets: ['{}']\nremote_write:\n  - url: http://{}/api/v1/write\n    queue_config:\n      batch_send_deadline: 1s\n",
            agent.addr, hub.addr
        ),
    )
    .expect("prometheus.yml");
    let prom_addr = format!("127.0.0.1:{}", free_port());
    let _prom = start_prometheus(&prom_dir, &prom_addr, &[]);
    let url = format!("http://{}", hub.addr);
    let start = Instant::now();
    loop {
        let out = Command::new("promtool")
            .args(["query", "series", "--match=node_load1", &url])
            .output()
            .expect("promtool");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        // One series from the agent's push, one from Prometheus's scrape.
        if text.contains("job=\"board\"") && text.lines().count() >= 2 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "promtool saw: {text}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let out = Command::new("promtool")
        .args(["query", "labels", &url, "job"])
        .output()
        .expect("promtool");
    assert!(String::from_utf8_lossy(&out.stdout).contains("board"));
    let up = export(&hub.addr, r#"up{job="board"}"#);
    assert_eq!(up.len(), 1);
    assert!(up[0].1.iter().any(|(_, v)| v == "1"));
    let _ = std::fs::remove_dir_all(&dir);
}
