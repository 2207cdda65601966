//! picket-hub: remote_write in (from the agent and from a real Prometheus),
//! the read API out, as promtool sees it; duplicates, bad bodies, late and
//! out-of-order backlogs, kill -9.

use std::process::Command;
use std::time::{Duration, Instant};

use picket_core::encode::remote_write::{compress, Label, PbSample, TimeSeries, WriteRequest};

use crate::util::*;

/// The hub with its data under `dir` and `extra` flags, once ready.
pub fn start_hub(dir: &std::path::Path, extra: &[&str]) -> Proc {
    Launch::hub(dir).args(extra).start()
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One series to send: its labels and samples.
pub(crate) type Series<'a> = (&'a [(&'a str, &'a str)], &'a [(i64, f64)]);

pub(crate) fn body(series: &[Series<'_>]) -> Vec<u8> {
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

pub fn post(addr: &str, body: &[u8]) -> Response {
    let mut req = format!(
        "POST /api/v1/write HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\nX-Prometheus-Remote-Write-Version: 0.1.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    raw(addr, &req).expect("post")
}

/// (timestamp ms, value text) of every stored sample of `selector`.
pub fn export(addr: &str, selector: &str) -> Vec<(String, Vec<(i64, String)>)> {
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

/// A board that pushed and then fell silent while the hub was stopped
/// still gets its `up 0` after the restart: the hub learns its push
/// sources again from the stored `up` series. A board that keeps pushing
/// stays up.
#[test]
fn push_sources_survive_a_hub_restart() {
    let dir = temp_dir("hub-sources");
    let cfg = dir.join("hub.toml");
    // A 1 s default interval: silent for 3 s is down.
    std::fs::write(
        &cfg,
        "[global]\nscrape_interval = \"1s\"\nscrape_timeout = \"1s\"\n[storage]\ncommit_interval = \"200ms\"\n",
    )
    .expect("write config");
    let cfg_arg = format!("--config.file={}", cfg.display());
    let up = |inst: &'static str| -> Vec<(&'static str, &'static str)> {
        vec![("__name__", "up"), ("instance", inst), ("job", "node")]
    };
    let push = |addr: &str, inst: &'static str| {
        let t = now_ms();
        let l = up(inst);
        assert_eq!(post(addr, &body(&[(&l, &[(t, 1.0)])])).status, 204);
    };
    let mut hub = start_hub(&dir, &[&cfg_arg]);
    for _ in 0..3 {
        push(&hub.addr, "gone:9100");
        push(&hub.addr, "alive:9100");
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_millis(500));
    let _ = hub.child.kill();
    let _ = hub.child.wait();
    let hub = start_hub(&dir, &[&cfg_arg]);
    let last = |inst: &str| {
        export(&hub.addr, &format!("up{{instance=\"{inst}\"}}"))
            .first()
            .and_then(|(_, pts)| pts.last().cloned())
            .map(|p| p.1)
    };
    let start = std::time::Instant::now();
    while last("gone:9100").as_deref() != Some("0") {
        push(&hub.addr, "alive:9100");
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "no up 0 for the silent board after the restart"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(last("alive:9100").as_deref(), Some("1"));
    let targets = get(&hub.addr, "/api/v1/targets").expect("targets").text();
    assert!(
        targets.contains("\"transport\":\"remote_write\""),
        "{targets}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `picket-hub check-config FILE`: (exit code, stderr).
fn check_config(file: &std::path::Path) -> (Option<i32>, String) {
    let out = hub_cmd()
        .args(["check-config", &file.display().to_string()])
        .output()
        .expect("run");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn config_files_check_and_errors_name_file_line_and_key() {
    let (code, err) = check_config(&repo().join("configs/hub.toml"));
    assert_eq!(code, Some(0), "{err}");
    let dir = temp_dir("hub-cfg");
    let bad = dir.join("bad.toml");
    let cases = [
        (
            "[storage]\npath = \"d\"\nretention_time = \"forever\"\n",
            "bad.toml:3: storage.retention_time:",
        ),
        // A scrape job's key: the line of the key.
        (
            "[[scrape_configs]]\njob_name = \"a\"\n\n[[scrape_configs]]\njob_name = \"b\"\nscrape_interval = \"5s\"\nscrape_timeout = \"9s\"\n",
            "bad.toml:7: scrape_configs[1].scrape_timeout: scrape timeout greater than scrape interval",
        ),
        // Deeper keys point at their job's table.
        (
            "[[scrape_configs]]\njob_name = \"a\"\n\n[[scrape_configs]]\njob_name = \"b\"\n[[scrape_configs.static_configs]]\ntargets = [\"\"]\n",
            "bad.toml:4: scrape_configs[1].static_configs[0].targets: empty address",
        ),
        // Notification receivers: the key's own line, under the right
        // receiver and entry.
        (
            "[notify.route]\nreceiver = \"b\"\n[[notify.receivers]]\nname = \"a\"\n[[notify.receivers.mqtt_configs]]\nurl = \"mqtt://x\"\n[[notify.receivers]]\nname = \"b\"\n[[notify.receivers.mqtt_configs]]\nurl = \"mqtt://x\"\n[[notify.receivers.mqtt_configs]]\nurl = \"http://x\"\n",
            "bad.toml:12: notify.receivers[1].mqtt_configs[1].url: \"http://x\": must start with mqtt:// or mqtts://",
        ),
        (
            "[notify.route]\nreceiver = \"a\"\n[[notify.receivers]]\nname = \"a\"\n[[notify.receivers.mqtt_configs]]\nurl = \"mqtt://x\"\ntopic = \"alerts/#\"\n",
            "bad.toml:7: notify.receivers[0].mqtt_configs[0].topic:",
        ),
        (
            "[notify.route]\nreceiver = \"a\"\n[[notify.receivers]]\nname = \"a\"\n[[notify.receivers.email_configs]]\nto = \"t@x\"\nfrom = \"f@x\"\nsmarthost = \"x:25\"\n[notify.receivers.email_configs.tls_config]\nca_file = \"/nonexistent/ca.pem\"\n",
            "bad.toml:10: notify.receivers[0].email_configs[0].tls_config.ca_file: cannot read /nonexistent/ca.pem",
        ),
        (
            "[push_sources]\ndown_after_intervals = 3\nforget_after = \"soon\"\n",
            "bad.toml:3: push_sources.forget_after: \"soon\" is not a duration",
        ),
    ];
    for (text, want) in cases {
        std::fs::write(&bad, text).expect("write");
        let (code, err) = check_config(&bad);
        assert_eq!(code, Some(2), "{text}");
        assert!(err.contains(want), "{err}");
    }
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
    poll(
        "node_load1 pushed and scraped",
        Duration::from_secs(40),
        Duration::from_millis(500),
        || {
            let out = Command::new("promtool")
                .args(["query", "series", "--match=node_load1", &url])
                .output()
                .expect("promtool");
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            // One series from the agent's push, one from Prometheus's scrape.
            let both = text.contains("job=\"board\"") && text.lines().count() >= 2;
            if both {
                Ok(())
            } else {
                Err(format!("promtool saw: {text}"))
            }
        },
    );
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

/// Waits until `f` holds for the stored samples of `selector`.
fn wait_export(
    addr: &str,
    selector: &str,
    what: &str,
    f: impl Fn(&[(String, Vec<(i64, String)>)]) -> bool,
) -> Vec<(String, Vec<(i64, String)>)> {
    poll(
        what,
        Duration::from_secs(20),
        Duration::from_millis(200),
        || {
            let got = export(addr, selector);
            if f(&got) {
                Ok(got)
            } else {
                Err(format!("{selector} gave {got:?}"))
            }
        },
    )
}

fn last_value(series: &[(String, Vec<(i64, String)>)]) -> Option<&str> {
    series.first()?.1.last().map(|(_, v)| v.as_str())
}

fn hub_metric(addr: &str, name: &str) -> Option<f64> {
    let text = get(addr, "/metrics").expect("hub /metrics").text();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// The hub scrapes a real node_exporter (static_configs) and a picket
/// agent (file_sd), as Prometheus would: `up`, the synthetic series,
/// job/instance and group labels, stale markers when a target leaves its
/// file, `/api/v1/targets`, promtool reading it all, and SIGHUP reloads
/// (a good one adds a job, a bad one keeps the running config).
#[test]
#[ignore = "needs prometheus-node-exporter and promtool (tests/run.sh installs them)"]
fn hub_scrapes_node_exporter_and_an_agent_and_reloads_on_sighup() {
    require("promtool");
    let dir = temp_dir("hub-scrape");
    let node = crate::util::start_node_exporter(&[]);
    let agent = start_picket(&[]);
    let sd = dir.join("agents.json");
    std::fs::write(
        &sd,
        format!(
            r#"[{{"targets":["{}"],"labels":{{"board":"pi4"}}}}]"#,
            agent.addr
        ),
    )
    .expect("file_sd");
    let config = |extra: &str| {
        format!(
            "[global]\nscrape_interval = \"1s\"\n\n[[scrape_configs]]\njob_name = \"node\"\n[[scrape_configs.static_configs]]\ntargets = [\"{}\"]\n\n[[scrape_configs]]\njob_name = \"agents\"\n[[scrape_configs.file_sd_configs]]\nfiles = [\"agents.json\"]\nrefresh_interval = \"1s\"\n{extra}",
            node.addr
        )
    };
    let cfg = dir.join("hub.toml");
    std::fs::write(&cfg, config("")).expect("hub.toml");
    let hub = start_hub(&dir, &[&format!("--config.file={}", cfg.display())]);
    let hub_addr = hub.addr.clone();
    let up = |v: &[(String, Vec<(i64, String)>)]| last_value(v) == Some("1");
    wait_export(&hub.addr, r#"up{job="node"}"#, "node_exporter up", up);
    let agent_up = wait_export(&hub.addr, r#"up{job="agents"}"#, "agent up", up);
    assert!(agent_up[0].0.contains(r#""board":"pi4""#), "{agent_up:?}");
    assert!(agent_up[0]
        .0
        .contains(&format!(r#""instance":"{}""#, agent.addr)));
    for name in [
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "node_load1",
    ] {
        for job in ["node", "agents"] {
            let s = export(&hub.addr, &format!(r#"{name}{{job="{job}"}}"#));
            assert_eq!(s.len(), 1, "{name} of {job}: {s:?}");
        }
    }
    let scraped = export(&hub.addr, r#"scrape_samples_scraped{job="node"}"#);
    let n: f64 = last_value(&scraped)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(n > 100.0, "node_exporter gave only {n} samples");

    // promtool sees both jobs.
    let url = format!("http://{}", hub.addr);
    let out = Command::new("promtool")
        .args(["query", "series", "--match=up", &url])
        .output()
        .expect("promtool");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("job=\"node\"") && text.contains("job=\"agents\""),
        "{text}"
    );

    // /api/v1/targets, Prometheus-shaped.
    let r = get(&hub.addr, "/api/v1/targets").expect("targets");
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    let active = v["data"]["activeTargets"].as_array().expect("active");
    assert_eq!(active.len(), 2, "{v}");
    for t in active {
        assert_eq!(t["health"], "up", "{t}");
        assert_eq!(t["scrapeInterval"], "1s");
        assert!(t["lastScrape"].as_str().is_some_and(|s| s.ends_with('Z')));
        assert!(
            t["labels"]["instance"].is_string() && t["discoveredLabels"]["__address__"].is_string()
        );
    }

    // The agent leaves its file: its series get stale markers.
    std::fs::write(&sd, "[]").expect("file_sd");
    wait_export(
        &hub.addr,
        r#"node_load1{job="agents"}"#,
        "stale marker",
        |v| last_value(v) == Some("NaN"),
    );

    // SIGHUP with a new job (the hub scraping itself).
    std::fs::write(
        &cfg,
        config(&format!(
            "\n[[scrape_configs]]\njob_name = \"hub\"\n[[scrape_configs.static_configs]]\ntargets = [\"{hub_addr}\"]\n"
        )),
    )
    .expect("hub.toml");
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(hub.pid() as i32, libc::SIGHUP) }, 0);
    wait_export(&hub.addr, r#"up{job="hub"}"#, "self scrape", up);
    wait_export(
        &hub.addr,
        r#"picket_hub_samples_appended_total{job="hub"}"#,
        "hub's own metrics",
        |v| !v.is_empty(),
    );
    assert_eq!(
        hub_metric(&hub.addr, "prometheus_config_last_reload_successful"),
        Some(1.0)
    );
    // Its process and heap, as Prometheus exports its own: RSS as the
    // kernel tells it, the heap in use within what the allocator holds.
    let rss = hub_metric(&hub.addr, "process_resident_memory_bytes").expect("process RSS");
    let status = std::fs::read_to_string(format!("/proc/{}/status", hub.pid())).expect("status");
    let kernel_kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    assert!(
        (rss / 1024.0 / kernel_kb - 1.0).abs() < 0.5,
        "RSS {rss} bytes vs VmRSS {kernel_kb} kB"
    );
    assert!(hub_metric(&hub.addr, "process_cpu_seconds_total").is_some_and(|v| v > 0.0));
    let (inuse, sys) = (
        hub_metric(&hub.addr, "picket_hub_heap_inuse_bytes").expect("heap in use"),
        hub_metric(&hub.addr, "picket_hub_heap_sys_bytes").expect("heap held"),
    );
    assert!(inuse > 0.0 && inuse <= sys, "heap {inuse} of {sys}");

    // A bad file: reload fails, the running config carries on.
    std::fs::write(
        &cfg,
        "[[scrape_configs]]\njob_name = \"x\"\nscrape_interval = \"soon\"\n",
    )
    .expect("hub.toml");
    assert_eq!(unsafe { libc::kill(hub.pid() as i32, libc::SIGHUP) }, 0);
    let start = Instant::now();
    while hub_metric(&hub.addr, "prometheus_config_last_reload_successful") != Some(0.0) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "bad reload not reported"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let before = export(&hub.addr, r#"up{job="node"}"#)[0].1.len();
    wait_export(
        &hub.addr,
        r#"up{job="node"}"#,
        "scraping after a bad reload",
        |v| v.first().is_some_and(|s| s.1.len() > before + 1),
    );
    drop(hub);
    let _ = std::fs::remove_dir_all(&dir);
}

/// POSTs `form` (`application/x-www-form-urlencoded`) to `path`, as
/// Grafana and promtool send queries.
fn post_form(addr: &str, path: &str, form: &str) -> Response {
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    );
    raw(addr, req.as_bytes()).expect("post form")
}

fn json_of(r: &Response) -> serde_json::Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.text()))
}

/// Pushes a counter `req_total{job="a"}` (+1/s, one sample per 15 s for
/// ten minutes, from a whole minute) and a gauge `temp{board=..}` of two
/// boards; returns the first sample's time, ms.
fn push_query_data(addr: &str) -> i64 {
    let t0 = (now_ms() / 60_000) * 60_000 - 600_000;
    let counter: Vec<(i64, f64)> = (0..=40)
        .map(|i| (t0 + i * 15_000, (i * 15) as f64))
        .collect();
    let pi4: Vec<(i64, f64)> = (0..=40).map(|i| (t0 + i * 15_000, 40.5)).collect();
    let pi5: Vec<(i64, f64)> = (0..=40).map(|i| (t0 + i * 15_000, 0.25)).collect();
    let b = body(&[
        (&[("__name__", "req_total"), ("job", "a")], &counter),
        (&[("__name__", "temp"), ("board", "pi4")], &pi4),
        (&[("__name__", "temp"), ("board", "pi5")], &pi5),
    ]);
    assert_eq!(post(addr, &b).status, 204);
    t0
}

/// `/api/v1/query` and `/api/v1/query_range` over pushed samples, as
/// Grafana sends them (POST forms, its Save & test), with Prometheus's
/// JSON shapes, error types and codes, and the side endpoints Grafana
/// calls at start.
#[test]
fn query_api_answers_grafana_with_prometheus_shapes() {
    let dir = temp_dir("hub-query");
    let hub = start_hub(&dir, &[]);
    let t0 = push_query_data(&hub.addr);
    let s0 = t0 / 1000;

    // Grafana's "Save & test", byte for byte, as a form POST and a GET.
    let want = r#"{"status":"success","data":{"resultType":"scalar","result":[4,"2"]}}"#;
    let r = post_form(&hub.addr, "/api/v1/query", "query=1%2B1&time=4");
    assert_eq!((r.status, r.text().as_str()), (200, want));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let r = get(&hub.addr, "/api/v1/query?query=1%2B1&time=4").expect("get");
    assert_eq!((r.status, r.text().as_str()), (200, want));

    // An instant vector.
    let r = post_form(
        &hub.addr,
        "/api/v1/query",
        &format!("query=temp&time={}", s0 + 300),
    );
    assert_eq!(
        r.text(),
        format!(
            r#"{{"status":"success","data":{{"resultType":"vector","result":[{{"metric":{{"__name__":"temp","board":"pi4"}},"value":[{t},"40.5"]}},{{"metric":{{"__name__":"temp","board":"pi5"}},"value":[{t},"0.25"]}}]}}}}"#,
            t = s0 + 300
        )
    );

    // A dashboard panel: Grafana's form POST of query_range, with its
    // $__rate_interval written as a Go duration.
    let form = format!(
        "query=rate(req_total%5B1m0s%5D)&start={}&end={}&step=15",
        s0 + 120,
        s0 + 180
    );
    let r = post_form(&hub.addr, "/api/v1/query_range", &form);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = json_of(&r);
    assert_eq!(v["data"]["resultType"], "matrix");
    let values: Vec<String> = v["data"]["result"][0]["values"]
        .as_array()
        .expect("values")
        .iter()
        .map(|p| format!("{}={}", p[0], p[1].as_str().unwrap_or("?")))
        .collect();
    let want: Vec<String> = (0..5).map(|i| format!("{}=1", s0 + 120 + i * 15)).collect();
    assert_eq!(values, want);
    assert_eq!(
        v["data"]["result"][0]["metric"].to_string(),
        r#"{"job":"a"}"#
    );
    // A range query of sum by: one series, no __name__.
    let r = get(
        &hub.addr,
        &format!(
            "/api/v1/query_range?query=sum(temp)&start={}&end={}&step=1m",
            s0 + 60,
            s0 + 120
        ),
    )
    .expect("get");
    let v = json_of(&r);
    assert_eq!(
        v["data"]["result"].to_string(),
        format!(
            r#"[{{"metric":{{}},"values":[[{},"40.75"],[{},"40.75"]]}}]"#,
            s0 + 60,
            s0 + 120
        )
    );

    // Errors: Prometheus's envelope, type and status.
    let cases: &[(&str, &str, u16, &str, &str)] = &[
        ("/api/v1/query", "query=sum(", 400, "bad_data", "parse error"),
        ("/api/v1/query", "time=4", 400, "bad_data", "invalid parameter \"query\""),
        (
            "/api/v1/query",
            "query=up&time=later",
            400,
            "bad_data",
            "invalid parameter \"time\"",
        ),
        (
            "/api/v1/query_range",
            "query=up&start=20&end=10&step=1",
            400,
            "bad_data",
            "end timestamp must not be before start time",
        ),
        (
            "/api/v1/query_range",
            "query=up&start=10&end=20&step=0",
            400,
            "bad_data",
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ),
        (
            "/api/v1/query_range",
            "query=up&start=0&end=86400&step=1",
            400,
            "bad_data",
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ),
        (
            "/api/v1/query_range",
            "query=up%5B5m%5D&start=0&end=60&step=15",
            400,
            "bad_data",
            "invalid expression type \"range vector\" for range query",
        ),
        (
            "/api/v1/query",
            "query=temp%2Bon()temp",
            422,
            "execution",
            "many",
        ),
    ];
    for &(path, form, status, kind, msg) in cases {
        let r = post_form(&hub.addr, path, form);
        assert_eq!(r.status, status, "{path} {form}: {}", r.text());
        let v = json_of(&r);
        assert_eq!(
            (v["status"].as_str(), v["errorType"].as_str()),
            (Some("error"), Some(kind))
        );
        let e = v["error"].as_str().unwrap_or_default();
        assert!(e.contains(msg), "{path} {form}: {e}");
    }

    // The endpoints Grafana calls around queries answer well-formed data.
    for (path, data) in [
        ("/api/v1/metadata", "{}"),
        ("/api/v1/query_exemplars?query=test&start=1&end=2", "[]"),
        ("/api/v1/rules", r#"{"groups":[]}"#),
        ("/api/v1/alerts", r#"{"alerts":[]}"#),
        ("/api/v1/status/config", r#"{"yaml":""}"#),
    ] {
        let r = get(&hub.addr, path).expect("get");
        assert_eq!(
            (r.status, r.text()),
            (200, format!(r#"{{"status":"success","data":{data}}}"#)),
            "{path}"
        );
    }
    let v = json_of(&get(&hub.addr, "/api/v1/status/flags").expect("flags"));
    assert_eq!(v["data"]["query.max-samples"], "20000000");
    let v = json_of(&get(&hub.addr, "/api/v1/status/runtimeinfo").expect("runtimeinfo"));
    assert_eq!(v["data"]["storageRetention"], "15d");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The `--query.*` flags: a tiny sample limit makes a query fail with
/// Prometheus's 422, and the flags show in `/api/v1/status/flags`.
#[test]
fn query_limits_come_from_the_flags() {
    let dir = temp_dir("hub-query-limits");
    let hub = start_hub(
        &dir,
        &[
            "--query.max-samples=10",
            "--query.timeout=30s",
            "--query.lookback-delta=1m",
            "--query.max-series=1",
        ],
    );
    let t0 = push_query_data(&hub.addr);
    // Two `temp` series, one allowed.
    let r = post_form(
        &hub.addr,
        "/api/v1/query_range",
        &format!(
            "query=temp&start={}&end={}&step=15",
            t0 / 1000,
            t0 / 1000 + 600
        ),
    );
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("more than 1 series"), "{}", r.text());
    let r = post_form(
        &hub.addr,
        "/api/v1/query",
        &format!("query=req_total%5B10m%5D&time={}", t0 / 1000 + 600),
    );
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("too many samples"), "{}", r.text());
    // The 1m lookback: nothing two minutes after the last sample.
    let r = post_form(
        &hub.addr,
        "/api/v1/query",
        &format!("query=temp&time={}", t0 / 1000 + 720),
    );
    assert_eq!(
        r.text(),
        r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#
    );
    let v = json_of(&get(&hub.addr, "/api/v1/status/flags").expect("flags"));
    assert_eq!(v["data"]["query.timeout"], "30s");
    assert_eq!(v["data"]["query.lookback-delta"], "1m");
    let _ = std::fs::remove_dir_all(&dir);
}

/// promtool 2.42 (client_golang: form POSTs) reads query results back.
#[test]
#[ignore = "needs promtool (tests/run.sh installs it)"]
fn promtool_queries_the_hub_instant_and_range() {
    require("promtool");
    let dir = temp_dir("hub-promtool-query");
    let hub = start_hub(&dir, &[]);
    let t0 = push_query_data(&hub.addr);
    let s0 = t0 / 1000;
    let url = format!("http://{}", hub.addr);
    let promtool = |args: &[&str]| {
        let out = Command::new("promtool")
            .args(args)
            .output()
            .expect("promtool");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let at = format!("--time={}", s0 + 300);
    let (code, out, err) = promtool(&[
        "query",
        "instant",
        &at,
        &url,
        "sum by (job) (rate(req_total[1m]))",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.trim(), format!("{{job=\"a\"}} => 1 @[{}]", s0 + 300));
    let (code, out, err) = promtool(&["query", "instant", &at, &url, "temp * 2"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains(&format!("{{board=\"pi4\"}} => 81 @[{}]", s0 + 300)),
        "{out}"
    );
    assert!(
        out.contains(&format!("{{board=\"pi5\"}} => 0.5 @[{}]", s0 + 300)),
        "{out}"
    );
    let (code, out, err) = promtool(&["query", "instant", &at, &url, "1+1"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.trim(), format!("scalar: 2 @[{}]", s0 + 300));

    let (start, end) = (
        format!("--start={}", s0 + 60),
        format!("--end={}", s0 + 120),
    );
    let (code, out, err) = promtool(&[
        "query",
        "range",
        &start,
        &end,
        "--step=30s",
        "-o",
        "json",
        &url,
        "increase(req_total[1m])",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        v.to_string(),
        format!(
            r#"[{{"metric":{{"job":"a"}},"values":[[{},"60"],[{},"60"],[{},"60"]]}}]"#,
            s0 + 60,
            s0 + 90,
            s0 + 120
        )
    );
    // Errors reach promtool as Prometheus's: type and message, exit 1.
    let (code, _, err) = promtool(&["query", "instant", &url, "sum("]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("bad_data") && err.contains("parse error"),
        "{err}"
    );
    let (code, _, err) = promtool(&[
        "query",
        "range",
        &start,
        &end,
        "--step=30s",
        &url,
        "req_total[1m]",
    ]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("bad_data") && err.contains("range vector"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn help_shows_prometheus_spellings_and_survives_a_closed_pipe() {
    let help = help_of(hub_cmd);
    for typed in [
        "--config.file",
        "--storage.tsdb.retention.time",
        "--query.lookback-delta",
        "--web.external-url",
        "--rule-file",
    ] {
        assert!(help.contains(typed), "{typed} missing from --help:\n{help}");
    }
    for argh in [
        "--storage-tsdb-path",
        "--web-listen-address",
        "--query-timeout",
    ] {
        assert!(!help.contains(argh), "{argh} in --help:\n{help}");
    }
}
