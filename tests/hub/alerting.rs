//! picket-hub alerting: rule files checked against promtool, rules
//! evaluated against live scrapes, alerts delivered to a real
//! Alertmanager 0.25 and to the hub's own receivers: webhooks, email to a
//! real SMTP server (aiosmtpd; plain, STARTTLS and implicit TLS with AUTH
//! and a throwaway CA), MQTT through a real Mosquitto; grouping,
//! silences, inhibition and the outbox's retries.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::util::*;

/// (exit code, stdout + stderr) of a command.
fn run(cmd: &mut Command) -> (Option<i32>, String) {
    let out = cmd.output().expect("run");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

fn promtool_check(file: &Path) -> (Option<i32>, String) {
    run(Command::new("promtool").args(["check", "rules"]).arg(file))
}

fn hub_check(file: &Path) -> (Option<i32>, String) {
    run(hub_cmd().arg("check-rules").arg(file))
}

/// Broken rule files: (file text, what picket-hub's error must say:
/// file:line, group, rule and reason).
const BROKEN: &[(&str, &str)] = &[
    (
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up ==\n",
        ":4: group \"g\", rule 1, \"A\": could not parse expression",
    ),
    (
        "groups:\n- name: g\n  rules:\n  - alert: A\n    record: b\n    expr: up\n",
        ":4: group \"g\", rule 1, \"A\": only one of 'record' and 'alert' must be set",
    ),
    (
        "groups:\n- name: g\n  rules:\n  - record: ok:up\n    expr: up\n  - record: bad-name\n    expr: up\n",
        ":6: group \"g\", rule 2, \"bad-name\": invalid recording rule name: bad-name",
    ),
    (
        "groups:\n- name: g\n  rules:\n  - record: r\n    expr: up\n    annotations:\n      a: b\n",
        ":4: group \"g\", rule 1, \"r\": invalid field 'annotations' in recording rule",
    ),
    (
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    labels:\n      bad-label: x\n",
        ":4: group \"g\", rule 1, \"A\": invalid label name: bad-label",
    ),
    (
        "groups:\n- name: g\n  rules:\n  - alert: Templ\n    expr: up\n    annotations:\n      summary: \"{{ nosuch $value }}\"\n",
        ":4: group \"g\", rule 1, \"Templ\": annotation \"summary\": template: __alert_Templ:1: function \"nosuch\" not defined",
    ),
    (
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    for: 5 minutes\n",
        ":4: group \"g\", rule 1, \"A\": for: \"5 minutes\" is not a duration",
    ),
    (
        "groups:\n- name: g\n  rules:\n  - alert: NoExpr\n",
        ":4: group \"g\", rule 1, \"NoExpr\": field 'expr' must be set in rule",
    ),
    (
        "groups:\n- name: g\n  rules: []\n- name: g\n  rules: []\n",
        ":4: group \"g\", groupname: \"g\" is repeated in the same file",
    ),
    (
        "groups:\n- name: g\n  rules:\n  - alert: A\n    exp: up\n",
        ":5: groups[0].rules[0]: unknown field `exp`",
    ),
];

#[test]
#[ignore = "needs promtool (tests/run.sh installs it)"]
fn shipped_rule_files_pass_promtool_and_check_rules_and_broken_ones_fail_both() {
    require("promtool");
    let dir = repo().join("configs/rules");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("configs/rules")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    for f in &files {
        let (code, out) = promtool_check(f);
        assert_eq!(code, Some(0), "promtool: {out}");
        let (code, out) = hub_check(f);
        assert_eq!(code, Some(0), "picket-hub: {out}");
        // Both count the same rules.
        let count = |o: &str| {
            o.lines()
                .find_map(|l| l.trim().strip_prefix("SUCCESS: "))
                .map(str::to_string)
        };
        assert_eq!(count(&out), count(&promtool_check(f).1), "{}", f.display());
    }
    let tmp = temp_dir("rules-broken");
    for (i, (text, want)) in BROKEN.iter().enumerate() {
        let f = tmp.join(format!("broken{i}.yml"));
        std::fs::write(&f, text).expect("write");
        let (code, out) = promtool_check(&f);
        assert_ne!(code, Some(0), "promtool accepted case {i}:\n{text}\n{out}");
        let (code, out) = hub_check(&f);
        assert_eq!(
            code,
            Some(2),
            "picket-hub accepted case {i}:\n{text}\n{out}"
        );
        let want = format!("{}{want}", f.display());
        assert!(out.contains(&want), "case {i}: want {want:?} in:\n{out}");
    }
    // The hub refuses to start on a broken rule file, naming it.
    let f = tmp.join("broken0.yml");
    let (code, out) = run(hub_cmd()
        .arg(format!("--rule-file={}", f.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            tmp.join("data").display()
        )));
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("rule 1, \"A\": could not parse expression"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

/// A webhook receiver that records every request body and answers with
/// the status it is told to (a fake: what no real part does on command).
pub(crate) struct Recorder {
    pub addr: String,
    pub bodies: Arc<Mutex<Vec<serde_json::Value>>>,
    /// Each recorded body's User-Agent (who sent it).
    pub agents: Arc<Mutex<Vec<String>>>,
    /// The status to answer with (200: record the body).
    pub status: Arc<AtomicU16>,
}

impl Recorder {
    pub fn start() -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let agents = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(AtomicU16::new(200));
        let (b, ag, st) = (bodies.clone(), agents.clone(), status.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut c) = conn else { continue };
                let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                // Headers, then Content-Length bytes of body.
                let body = loop {
                    let Ok(n) = c.read(&mut chunk) else {
                        break None;
                    };
                    if n == 0 {
                        break None;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        break Some(buf[end + 4..end + 4 + len].to_vec());
                    }
                };
                let code = st.load(Ordering::SeqCst);
                if let Some(body) = body {
                    if code == 200 {
                        if let Ok(v) = serde_json::from_slice(&body) {
                            let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
                            let agent = head
                                .lines()
                                .find_map(|l| l.strip_prefix("user-agent:"))
                                .unwrap_or("")
                                .trim()
                                .to_string();
                            // Both under one lock order: bodies, then agents.
                            let mut bl = b.lock().expect("lock");
                            bl.push(v);
                            ag.lock().expect("lock").push(agent);
                        }
                    }
                }
                let _ = c.write_all(
                    format!("HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                );
            }
        });
        Recorder {
            addr,
            bodies,
            agents,
            status,
        }
    }

    /// Answer with `code` from now on (non-200 bodies are not recorded).
    pub fn answer(&self, code: u16) {
        self.status.store(code, Ordering::SeqCst);
    }

    pub fn all(&self) -> Vec<serde_json::Value> {
        self.bodies.lock().expect("lock").clone()
    }

    /// The bodies whose User-Agent starts with `agent` (lower case).
    pub fn from(&self, agent: &str) -> Vec<serde_json::Value> {
        let bodies = self.bodies.lock().expect("lock");
        let agents = self.agents.lock().expect("lock");
        bodies
            .iter()
            .zip(agents.iter())
            .filter(|(_, a)| a.starts_with(agent))
            .map(|(b, _)| b.clone())
            .collect()
    }
}

/// Starts a real Alertmanager (no clustering) with `config` on a free port.
pub(crate) fn start_alertmanager(dir: &Path, config: &str) -> Proc {
    require("prometheus-alertmanager");
    let addr = format!("127.0.0.1:{}", free_port());
    let cfg = dir.join("alertmanager.yml");
    std::fs::write(&cfg, config).expect("write am config");
    let child = Command::new("prometheus-alertmanager")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.path={}", dir.join("am-data").display()))
        .arg(format!("--web.listen-address={addr}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn alertmanager");
    let p = Proc { child, addr };
    wait_http(&p.addr, "/-/ready", Duration::from_secs(30));
    p
}

/// Starts picket on a given address (to bring a "failed" target back).
fn start_picket_at(addr: &str) -> Proc {
    Launch::agent().at(addr).quiet().start()
}

fn json_get(addr: &str, path: &str) -> serde_json::Value {
    let r = get(addr, path).expect("get");
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    serde_json::from_slice(&r.body).expect("json")
}

/// The hub's alerts named `name`: (state, activeAt) pairs.
fn hub_alerts(hub: &str, name: &str) -> Vec<(String, String)> {
    let v = json_get(hub, "/api/v1/alerts");
    v["data"]["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .filter(|a| a["labels"]["alertname"] == name)
        .map(|a| {
            (
                a["state"].as_str().unwrap_or("").to_string(),
                a["activeAt"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// A scraped agent stops: up == 0 → pending → firing after `for` → a
/// real Alertmanager 0.25 lists it (and notifies its webhook) → the agent
/// comes back → the resolved alert reaches Alertmanager, which sends the
/// resolved notification.
#[test]
#[ignore = "needs prometheus-alertmanager (tests/run.sh installs it)"]
fn agent_down_fires_through_a_real_alertmanager_and_resolves() {
    let dir = temp_dir("alert-am");
    let hook = Recorder::start();
    hook.answer(200);
    let am = start_alertmanager(
        &dir,
        &format!(
            "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: http://{}/hook\n        send_resolved: true\n",
            hook.addr
        ),
    );
    let agent = start_picket(&[]);
    let agent_addr = agent.addr.clone();
    std::fs::write(
        dir.join("rules.yml"),
        "groups:\n  - name: liveness\n    interval: 1s\n    rules:\n      - alert: TargetDown\n        expr: up{job=\"board\"} == 0\n        for: 3s\n        labels:\n          severity: critical\n        annotations:\n          summary: \"{{ $labels.instance }} of {{ $labels.job }} is down ({{ $value }})\"\n      - record: job:up:sum\n        expr: sum by (job) (up)\n",
    )
    .expect("rules");
    std::fs::write(
        dir.join("hub.toml"),
        format!(
            "rule_files = [\"rules.yml\"]\n[global]\nscrape_interval = \"1s\"\nevaluation_interval = \"1s\"\nexternal_labels = {{ site = \"lab\" }}\n[alerting]\nresend_delay = \"1s\"\n[[alerting.alertmanagers]]\n[[alerting.alertmanagers.static_configs]]\ntargets = [\"{}\"]\n[[scrape_configs]]\njob_name = \"board\"\n[[scrape_configs.static_configs]]\ntargets = [\"{agent_addr}\"]\n",
            am.addr
        ),
    )
    .expect("config");
    let cfg = format!("--config.file={}", dir.join("hub.toml").display());
    let hub = crate::hub::start_hub(&dir, &[&cfg]);
    // The recording rule writes while the target is up.
    wait_for("job:up:sum", Duration::from_secs(20), || {
        let v = json_get(&hub.addr, "/api/v1/query?query=job:up:sum");
        (v["data"]["result"][0]["value"][1] == "1").then_some(())
    });
    assert!(hub_alerts(&hub.addr, "TargetDown").is_empty());
    let rules = json_get(&hub.addr, "/api/v1/rules");
    let g = &rules["data"]["groups"][0];
    assert_eq!(g["name"], "liveness");
    assert_eq!(g["interval"], 1.0);
    assert_eq!(g["rules"][0]["type"], "alerting");
    assert_eq!(g["rules"][0]["duration"], 3.0);
    assert_eq!(g["rules"][0]["health"], "ok");
    assert_eq!(g["rules"][1]["type"], "recording");

    drop(agent);
    let down = Instant::now();
    let (_, active_at) = wait_for("pending", Duration::from_secs(15), || {
        hub_alerts(&hub.addr, "TargetDown")
            .into_iter()
            .find(|(s, _)| s == "pending")
    });
    let pending_seen = Instant::now();
    wait_for("firing", Duration::from_secs(15), || {
        hub_alerts(&hub.addr, "TargetDown")
            .into_iter()
            .find(|(s, a)| s == "firing" && *a == active_at)
    });
    let firing_seen = Instant::now();
    // `for: 3s` at a 1 s interval: firing 3 s after pending, within an interval.
    let held = firing_seen - pending_seen;
    assert!(
        held >= Duration::from_millis(1900) && held <= Duration::from_millis(4500),
        "pending → firing took {held:?}"
    );
    // ALERTS as Prometheus writes it.
    let v = json_get(
        &hub.addr,
        "/api/v1/query?query=ALERTS%7Balertname%3D%22TargetDown%22%7D",
    );
    assert_eq!(v["data"]["result"][0]["metric"]["alertstate"], "firing");
    assert_eq!(v["data"]["result"][0]["metric"]["severity"], "critical");
    // Alertmanager has it, with the rendered annotation and external labels.
    let am_alert = wait_for("the alert in Alertmanager", Duration::from_secs(15), || {
        let v = json_get(&am.addr, "/api/v2/alerts");
        v.as_array()?
            .iter()
            .find(|a| a["labels"]["alertname"] == "TargetDown")
            .cloned()
    });
    assert_eq!(am_alert["status"]["state"], "active");
    assert_eq!(am_alert["labels"]["instance"], agent_addr.as_str());
    assert_eq!(am_alert["labels"]["site"], "lab");
    assert_eq!(
        am_alert["annotations"]["summary"],
        format!("{agent_addr} of board is down (0)").as_str()
    );
    assert!(am_alert["generatorURL"]
        .as_str()
        .is_some_and(|u| u.contains("/graph?g0.expr=up%7Bjob%3D%22board%22%7D+%3D%3D+0")));
    wait_for("the firing notification", Duration::from_secs(15), || {
        hook.all().into_iter().find(|b| b["status"] == "firing")
    });
    eprintln!("down → firing in AM: {:?}", down.elapsed());

    // The agent comes back: resolved, and Alertmanager learns it.
    let _agent = start_picket_at(&agent_addr);
    let resolved = wait_for("the resolved notification", Duration::from_secs(20), || {
        hook.all().into_iter().find(|b| b["status"] == "resolved")
    });
    assert_eq!(resolved["alerts"][0]["labels"]["alertname"], "TargetDown");
    assert_eq!(resolved["alerts"][0]["status"], "resolved");
    assert!(hub_alerts(&hub.addr, "TargetDown").is_empty());
    wait_for(
        "Alertmanager to drop the alert",
        Duration::from_secs(10),
        || {
            let v = json_get(&am.addr, "/api/v2/alerts");
            v.as_array()?
                .iter()
                .all(|a| a["labels"]["alertname"] != "TargetDown")
                .then_some(())
        },
    );
    let m = get(&hub.addr, "/metrics").expect("metrics").text();
    assert!(
        m.contains("prometheus_notifications_sent_total{alertmanager="),
        "{m}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Pushes `probe{instance=i} v` for each (i, v) at the current time.
fn push_probe(hub: &str, values: &[(&str, f64)]) {
    let now = crate::hub::now_ms();
    let labels: Vec<[(&str, &str); 2]> = values
        .iter()
        .map(|(i, _)| [("__name__", "probe"), ("instance", *i)])
        .collect();
    let points: Vec<[(i64, f64); 1]> = values.iter().map(|(_, v)| [(now, *v)]).collect();
    let series: Vec<crate::hub::Series<'_>> = labels
        .iter()
        .zip(&points)
        .map(|(l, p)| (&l[..], &p[..]))
        .collect();
    let r = crate::hub::post(hub, &crate::hub::body(&series));
    assert_eq!(r.status, 204, "{}", r.text());
}

fn instances(body: &serde_json::Value) -> Vec<String> {
    let mut v: Vec<String> = body["alerts"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| x["labels"]["instance"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Instances of the firing alerts of a notification.
fn firing(body: &serde_json::Value) -> Vec<String> {
    let mut v: Vec<String> = body["alerts"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|x| x["status"] == "firing")
                .map(|x| x["labels"]["instance"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn send_json(addr: &str, method: &str, path: &str, body: &str) -> Response {
    raw(
        addr,
        format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .expect("request")
}

/// Direct mode: the hub's own routing tree groups alerts into webhook
/// notifications with Alertmanager's v4 payload, repeats an unchanged
/// group after repeat_interval, leaves silenced alerts out, sends the
/// resolution, and keeps a notification that failed across a restart
/// until the receiver takes it.
#[test]
fn direct_webhook_groups_repeats_silences_resolves_and_retries_across_restart() {
    let dir = temp_dir("alert-direct");
    let hook = Recorder::start();
    std::fs::write(
        dir.join("rules.yml"),
        "groups:\n  - name: probes\n    interval: 1s\n    rules:\n      - alert: Probe\n        expr: probe > 0\n        labels:\n          severity: warning\n        annotations:\n          summary: \"{{ $labels.instance }} is {{ $value }}\"\n",
    )
    .expect("rules");
    std::fs::write(
        dir.join("hub.toml"),
        format!(
            "rule_files = [\"rules.yml\"]\n[web]\nexternal_url = \"http://hub.test:9090\"\n[alerting]\nresend_delay = \"1s\"\n[notify.route]\nreceiver = \"hook\"\ngroup_by = [\"alertname\"]\ngroup_wait = \"1s\"\ngroup_interval = \"1s\"\nrepeat_interval = \"4s\"\n[[notify.receivers]]\nname = \"hook\"\n[[notify.receivers.webhook_configs]]\nurl = \"http://{}/hook\"\n",
            hook.addr
        ),
    )
    .expect("config");
    let cfg = format!("--config.file={}", dir.join("hub.toml").display());
    let hub = crate::hub::start_hub(&dir, &[&cfg]);
    push_probe(&hub.addr, &[("a", 1.0), ("b", 2.0)]);
    let first = wait_for("the first notification", Duration::from_secs(15), || {
        hook.all()
            .into_iter()
            .find(|b| b["status"] == "firing" && instances(b) == ["a", "b"])
    });
    let first_at = Instant::now();
    // Alertmanager's webhook payload, version 4.
    assert_eq!(first["version"], "4");
    assert_eq!(first["receiver"], "hook");
    assert_eq!(first["groupKey"], "{}:{alertname=\"Probe\"}");
    assert_eq!(
        first["groupLabels"],
        serde_json::json!({"alertname": "Probe"})
    );
    assert_eq!(
        first["commonLabels"],
        serde_json::json!({"alertname": "Probe", "severity": "warning"})
    );
    assert_eq!(first["externalURL"], "http://hub.test:9090");
    assert_eq!(first["truncatedAlerts"], 0);
    let a = &first["alerts"][0];
    assert_eq!(a["status"], "firing");
    assert_eq!(a["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(a["annotations"]["summary"], "a is 1");
    assert_eq!(a["fingerprint"].as_str().map(str::len), Some(16));
    assert!(a["generatorURL"]
        .as_str()
        .is_some_and(|u| u.starts_with("http://hub.test:9090/graph?g0.expr=probe+%3E+0")));
    // Unchanged: repeated after repeat_interval (4 s), not before.
    let n = hook.all().len();
    std::thread::sleep(Duration::from_millis(2000));
    assert_eq!(hook.all().len(), n, "repeated before repeat_interval");
    wait_for("the repeat", Duration::from_secs(8), || {
        (hook.all().len() > n).then_some(())
    });
    let repeat_after = first_at.elapsed();
    assert!(
        repeat_after >= Duration::from_millis(3500),
        "{repeat_after:?}"
    );

    // A silence on instance "a": the next notification leaves it out.
    let r = send_json(
        &hub.addr,
        "POST",
        "/api/v2/silences",
        r#"{"matchers":[{"name":"instance","value":"a","isRegex":false,"isEqual":true}],"startsAt":"2000-01-01T00:00:00Z","endsAt":"2100-01-01T00:00:00Z","createdBy":"test","comment":"maintenance"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let id = serde_json::from_slice::<serde_json::Value>(&r.body).expect("json")["silenceID"]
        .as_str()
        .expect("id")
        .to_string();
    let list = json_get(&hub.addr, "/api/v2/silences");
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["status"]["state"], "active");
    let bad = send_json(&hub.addr, "POST", "/api/v2/silences", r#"{"matchers":[]}"#);
    assert_eq!(bad.status, 400, "{}", bad.text());
    push_probe(&hub.addr, &[("c", 3.0)]);
    wait_for(
        "a notification without the silenced alert",
        Duration::from_secs(10),
        || hook.all().into_iter().find(|b| instances(b) == ["b", "c"]),
    );

    // The condition clears: the resolution is sent.
    push_probe(&hub.addr, &[("a", 0.0), ("b", 0.0), ("c", 0.0)]);
    let resolved = wait_for("the resolved notification", Duration::from_secs(10), || {
        hook.all().into_iter().find(|b| b["status"] == "resolved")
    });
    assert_eq!(resolved["alerts"][0]["status"], "resolved");
    assert_ne!(resolved["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    let r = send_json(&hub.addr, "DELETE", &format!("/api/v2/silence/{id}"), "");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        json_get(&hub.addr, "/api/v2/silences")[0]["status"]["state"],
        "expired"
    );

    // The receiver fails: the notification stays in the outbox, is
    // retried and counted, survives a kill -9, and arrives afterwards.
    hook.answer(500);
    push_probe(&hub.addr, &[("d", 4.0)]);
    wait_for("a failed delivery", Duration::from_secs(15), || {
        let m = get(&hub.addr, "/metrics").ok()?.text();
        (m.contains("picket_hub_notifications_outbox 1")
            && !m.contains("picket_hub_notifications_failed_total 0"))
        .then_some(())
    });
    drop(hub); // SIGKILL
    hook.answer(200);
    let hub = crate::hub::start_hub(&dir, &[&cfg]);
    // The kept notification is delivered: the outbox empties (its only
    // way out besides a day of failures) and the receiver has it.
    wait_for("the kept notification", Duration::from_secs(20), || {
        let m = get(&hub.addr, "/metrics").ok()?.text();
        let delivered = m.contains("picket_hub_notifications_outbox 0")
            && !m.contains("picket_hub_notifications_delivered_total 0");
        (delivered && hook.all().iter().any(|b| firing(b) == ["d"])).then_some(())
    });
    drop(hub);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The hub's alert `name`'s activeAt in ms, if it is in state `state`.
fn active_at_ms(hub: &str, name: &str, state: &str) -> Option<i64> {
    hub_alerts(hub, name)
        .into_iter()
        .find(|(s, _)| s == state)
        .and_then(|(_, at)| picket_hub::api::parse_time(&at))
}

/// A `for` clock is not reset by a restart: the pending time before a
/// kill -9 counts, as Prometheus restores it from ALERTS_FOR_STATE.
#[test]
fn for_clock_survives_a_restart() {
    let dir = temp_dir("alert-restore");
    std::fs::write(
        dir.join("rules.yml"),
        "groups:\n  - name: probes\n    interval: 1s\n    rules:\n      - alert: Probe\n        expr: probe > 0\n        for: 20s\n",
    )
    .expect("rules");
    std::fs::write(
        dir.join("hub.toml"),
        "rule_files = [\"rules.yml\"]\n[storage]\ncommit_interval = \"200ms\"\n[alerting]\nfor_grace_period = \"2s\"\n",
    )
    .expect("config");
    let cfg = format!("--config.file={}", dir.join("hub.toml").display());
    let hub = crate::hub::start_hub(&dir, &[&cfg]);
    push_probe(&hub.addr, &[("a", 1.0)]);
    let t0 = wait_for("pending", Duration::from_secs(10), || {
        active_at_ms(&hub.addr, "Probe", "pending")
    });
    // Pending for about 12 s, then killed.
    std::thread::sleep(Duration::from_secs(12));
    assert!(active_at_ms(&hub.addr, "Probe", "pending").is_some());
    drop(hub); // SIGKILL
    let down_ms = crate::hub::now_ms();
    std::thread::sleep(Duration::from_secs(1));
    let hub = crate::hub::start_hub(&dir, &[&cfg]);
    let restarted = Instant::now();
    // Restored: activeAt is the old one shifted by the downtime (a few
    // seconds), so before the kill, not at the restart.
    wait_for("the restored activeAt", Duration::from_secs(10), || {
        let at = active_at_ms(&hub.addr, "Probe", "pending")?;
        (at < down_ms - 4_000).then_some(())
    });
    wait_for("firing", Duration::from_secs(25), || {
        active_at_ms(&hub.addr, "Probe", "firing")
    });
    let took = restarted.elapsed();
    // About 8 s of `for` were left; without the restore it would be 20 s.
    assert!(
        took < Duration::from_secs(16),
        "fired {took:?} after the restart (t0 {t0})"
    );
    drop(hub);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The `alertstate` of `ALERTS{alertname=name}` at each second of
/// [start, end] on a Prometheus API (`-` when absent).
fn alert_states(addr: &str, name: &str, start: f64, end: f64) -> Vec<(i64, String)> {
    let q = format!("ALERTS%7Balertname%3D%22{name}%22%7D");
    let v = json_get(
        addr,
        &format!("/api/v1/query_range?query={q}&start={start:.3}&end={end:.3}&step=1"),
    );
    let mut by_t: std::collections::BTreeMap<i64, String> = std::collections::BTreeMap::new();
    let mut t = start.round() as i64;
    while t as f64 <= end {
        by_t.insert(t, "-".into());
        t += 1;
    }
    for s in v["data"]["result"].as_array().expect("matrix") {
        let state = s["metric"]["alertstate"]
            .as_str()
            .unwrap_or("?")
            .to_string();
        for p in s["values"].as_array().expect("values") {
            let t = p[0].as_f64().unwrap_or(0.0).round() as i64;
            by_t.insert(t, state.clone());
        }
    }
    by_t.into_iter().collect()
}

/// Times at which the state changes: (second, new state).
fn transitions(states: &[(i64, String)]) -> Vec<(i64, String)> {
    states
        .windows(2)
        .filter(|w| w[0].1 != w[1].1)
        .map(|w| (w[1].0, w[1].1.clone()))
        .collect()
}

/// Each side evaluates at its own offset, so a transition within a second
/// of the window's start or end can fall just outside it on one side and
/// inside on the other: such a lone first or last transition is dropped
/// (the one inside is not lost from the comparison otherwise).
fn trim_edges(p: &mut Vec<(i64, String)>, h: &mut Vec<(i64, String)>, start: f64, end: f64) {
    let (first, last) = (start.round() as i64 + 1, end.round() as i64 - 1);
    if p.first().map(|x| &x.1) != h.first().map(|x| &x.1) {
        for side in [&mut *p, &mut *h] {
            if side.first().is_some_and(|x| x.0 <= first) {
                side.remove(0);
                break;
            }
        }
    }
    if p.last().map(|x| &x.1) != h.last().map(|x| &x.1) {
        for side in [&mut *p, &mut *h] {
            if side.last().is_some_and(|x| x.0 >= last) {
                side.pop();
                break;
            }
        }
    }
}

/// The same rule file on a real Prometheus 2.42 and on picket-hub: the
/// alerts go pending, fire and resolve at the same evaluation steps
/// (within one interval: each schedules its group at its own offset),
/// and the templates render the same annotations.
#[test]
#[ignore = "needs prometheus (tests/run.sh installs it)"]
fn same_rules_fire_at_the_same_steps_on_prometheus_and_the_hub() {
    require("prometheus");
    let dir = temp_dir("alert-diff");
    let rules = "groups:\n  - name: diff\n    interval: 1s\n    rules:\n      - alert: Tick\n        expr: vector(time() % 20) >= 10\n        for: 3s\n        labels:\n          severity: info\n      - alert: Templates\n        expr: vector(123456789) > 0\n        labels:\n          sev: '{{ if gt $value 1000.0 }}big{{ else }}small{{ end }}'\n        annotations:\n          v: '{{ $value }} {{ $value | humanize }} {{ $value | printf \"%.2f\" }}'\n          l: '{{ $labels }} {{ 90061 | humanizeDuration }} {{ 0.1234 | humanizePercentage }}'\n          e: '{{ $externalLabels.site }} {{ humanize1024 2048 }} {{ 1e21 | humanize }} {{ 0.000012345 }}'\n";
    std::fs::write(dir.join("rules.yml"), rules).expect("rules");
    let prom_dir = dir.join("prom");
    std::fs::create_dir_all(&prom_dir).expect("dir");
    std::fs::write(
        prom_dir.join("prometheus.yml"),
        format!(
            "global:\n  evaluation_interval: 1s\n  external_labels:\n    site: lab\nrule_files:\n  - {}\n",
            dir.join("rules.yml").display()
        ),
    )
    .expect("prometheus.yml");
    std::fs::write(
        dir.join("hub.toml"),
        "rule_files = [\"rules.yml\"]\n[global]\nexternal_labels = { site = \"lab\" }\n",
    )
    .expect("hub.toml");
    let prom_addr = format!("127.0.0.1:{}", free_port());
    let prom = start_prometheus(&prom_dir, &prom_addr, &[]);
    let cfg = format!("--config.file={}", dir.join("hub.toml").display());
    let hub = crate::hub::start_hub(&dir, &[&cfg]);
    let start = crate::hub::now_ms() as f64 / 1000.0 + 4.0;
    // Two 20 s cycles of Tick.
    std::thread::sleep(Duration::from_secs(46));
    let end = crate::hub::now_ms() as f64 / 1000.0 - 1.0;
    let mut p = transitions(&alert_states(&prom.addr, "Tick", start, end));
    let mut h = transitions(&alert_states(&hub.addr, "Tick", start, end));
    trim_edges(&mut p, &mut h, start, end);
    assert!(p.len() >= 4, "Prometheus: {p:?}");
    assert_eq!(
        p.iter().map(|x| &x.1).collect::<Vec<_>>(),
        h.iter().map(|x| &x.1).collect::<Vec<_>>(),
        "Prometheus {p:?}\nhub {h:?}"
    );
    for (a, b) in p.iter().zip(&h) {
        assert!((a.0 - b.0).abs() <= 1, "Prometheus {p:?}\nhub {h:?}");
    }
    // Templates: the same labels and annotations, byte for byte.
    let pick = |addr: &str| {
        let v = json_get(addr, "/api/v1/alerts");
        v["data"]["alerts"]
            .as_array()
            .expect("alerts")
            .iter()
            .find(|a| a["labels"]["alertname"] == "Templates")
            .map(|a| {
                (
                    a["labels"].clone(),
                    a["annotations"].clone(),
                    a["value"].clone(),
                )
            })
            .expect("Templates alert")
    };
    let (pl, pa, pv) = pick(&prom.addr);
    let (hl, ha, hv) = pick(&hub.addr);
    assert_eq!(hl, pl);
    assert_eq!(ha, pa);
    assert_eq!(hv, pv);
    drop(hub);
    drop(prom);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A Python that has aiosmtpd (Debian's python3-aiosmtpd is under
/// /usr/bin/python3, which a pyenv python3 on PATH may hide).
pub(crate) fn smtp_python() -> &'static str {
    for py in ["python3", "/usr/bin/python3"] {
        let ok = Command::new(py)
            .args(["-c", "import aiosmtpd"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return py;
        }
    }
    panic!("aiosmtpd is not installed: run tests/run.sh (it installs python3-aiosmtpd)");
}

/// Direct mode, email: a real SMTP server (aiosmtpd) receives the
/// notification with Alertmanager's default subject, the envelope and the
/// rendered annotations; then the resolution (send_resolved = true).
#[test]
#[ignore = "needs python3-aiosmtpd (tests/run.sh installs it)"]
fn direct_email_reaches_an_smtp_server() {
    let py = smtp_python();
    let dir = temp_dir("alert-email");
    let mails = dir.join("mails");
    std::fs::create_dir_all(&mails).expect("dir");
    let port = free_port();
    let sink = Command::new(py)
        .arg(fixture("alerting/smtp_sink.py"))
        .arg(port.to_string())
        .arg(&mails)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn smtp sink");
    let mut sink = Proc {
        child: sink,
        addr: format!("127.0.0.1:{port}"),
    };
    let mut line = String::new();
    if let Some(out) = sink.child.stdout.take() {
        let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line);
    }
    assert_eq!(line.trim(), "ready");
    std::fs::write(
        dir.join("rules.yml"),
        "groups:\n  - name: mail\n    interval: 1s\n    rules:\n      - alert: MailMe\n        expr: probe > 0\n        labels:\n          severity: critical\n        annotations:\n          summary: \"{{ $labels.instance }} probe at {{ $value | humanizePercentage }}\"\n",
    )
    .expect("rules");
    std::fs::write(
        dir.join("hub.toml"),
        format!(
            "rule_files = [\"rules.yml\"]\n[alerting]\nresend_delay = \"1s\"\n[notify.route]\nreceiver = \"mail\"\ngroup_by = [\"alertname\"]\ngroup_wait = \"1s\"\ngroup_interval = \"1s\"\n[[notify.receivers]]\nname = \"mail\"\n[[notify.receivers.email_configs]]\nto = \"ops@example.org\"\nfrom = \"hub@example.org\"\nsmarthost = \"{}\"\nrequire_tls = false\nsend_resolved = true\n",
            sink.addr
        ),
    )
    .expect("config");
    let cfg = format!("--config.file={}", dir.join("hub.toml").display());
    let hub = crate::hub::start_hub(&dir, &[&cfg]);
    push_probe(&hub.addr, &[("pi4", 0.5)]);
    let read = |n: usize| -> Option<String> {
        let mut files: Vec<_> = std::fs::read_dir(&mails)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        files.sort();
        std::fs::read_to_string(files.get(n)?).ok()
    };
    let first = wait_for("the firing mail", Duration::from_secs(15), || read(0));
    assert!(
        first.contains("X-Envelope-From: hub@example.org"),
        "{first}"
    );
    assert!(first.contains("X-Envelope-To: ops@example.org"), "{first}");
    assert!(
        first.contains("Subject: [FIRING:1] MailMe (pi4 critical)"),
        "{first}"
    );
    assert!(first.contains("summary: pi4 probe at 50%"), "{first}");
    push_probe(&hub.addr, &[("pi4", 0.0)]);
    let resolved = wait_for("the resolved mail", Duration::from_secs(15), || {
        (1..10)
            .filter_map(read)
            .find(|m| m.contains("Subject: [RESOLVED] MailMe"))
    });
    assert!(resolved.contains("[RESOLVED] since"), "{resolved}");
    drop(hub);
    drop(sink);
    let _ = std::fs::remove_dir_all(&dir);
}

fn amtool(hub: &str, args: &[&str]) -> (Option<i32>, String) {
    run(Command::new("amtool")
        .arg(format!("--alertmanager.url=http://{hub}"))
        .args(args))
}

/// amtool (Alertmanager 0.25's CLI) adds, lists and expires silences on
/// the hub's Alertmanager-shaped silence API; they survive a restart.
#[test]
#[ignore = "needs amtool (tests/run.sh installs prometheus-alertmanager)"]
fn amtool_manages_the_hubs_silences() {
    require("amtool");
    let dir = temp_dir("alert-amtool");
    std::fs::write(
        dir.join("hub.toml"),
        "[notify.route]\nreceiver = \"r\"\n[[notify.receivers]]\nname = \"r\"\n",
    )
    .expect("config");
    let cfg = format!("--config.file={}", dir.join("hub.toml").display());
    let hub = crate::hub::start_hub(&dir, &[&cfg]);
    let (code, out) = amtool(
        &hub.addr,
        &[
            "silence",
            "add",
            "alertname=Foo",
            "instance=~pi.*",
            "-c",
            "maintenance",
            "-d",
            "1h",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    let id = out.trim().to_string();
    assert_eq!(id.len(), 36, "{out}");
    let (code, out) = amtool(&hub.addr, &["silence", "query", "-o", "json"]);
    assert_eq!(code, Some(0), "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v[0]["id"], id.as_str());
    assert_eq!(v[0]["status"]["state"], "active");
    assert_eq!(v[0]["comment"], "maintenance");
    assert_eq!(v[0]["matchers"][1]["isRegex"], true);
    // Kept across a restart.
    drop(hub);
    let hub = crate::hub::start_hub(&dir, &[&cfg]);
    let (code, out) = amtool(&hub.addr, &["silence", "query", "alertname=Foo"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(&id), "{out}");
    let (code, out) = amtool(&hub.addr, &["silence", "expire", &id]);
    assert_eq!(code, Some(0), "{out}");
    let (_, out) = amtool(&hub.addr, &["silence", "query"]);
    assert!(!out.contains(&id), "still active: {out}");
    let (_, out) = amtool(&hub.addr, &["silence", "query", "--expired"]);
    assert!(out.contains(&id), "{out}");
    drop(hub);
    let _ = std::fs::remove_dir_all(&dir);
}

/// SIGHUP re-reads rule files with the config: a new rule appears in
/// /api/v1/rules; a broken rule file is refused (reload marked failed)
/// and the running rules carry on.
#[test]
fn sighup_reloads_rule_files_and_keeps_them_on_a_bad_one() {
    let dir = temp_dir("alert-reload");
    let rules = dir.join("rules.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - record: one:up\n        expr: vector(1)\n",
    )
    .expect("rules");
    std::fs::write(dir.join("hub.toml"), "rule_files = [\"rules.yml\"]\n").expect("config");
    let cfg = format!("--config.file={}", dir.join("hub.toml").display());
    let hub = crate::hub::start_hub(&dir, &[&cfg]);
    let names = |addr: &str| -> Vec<String> {
        let v = json_get(addr, "/api/v1/rules");
        v["data"]["groups"][0]["rules"]
            .as_array()
            .map(|r| {
                r.iter()
                    .map(|x| x["name"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(names(&hub.addr), ["one:up"]);
    let hup = || {
        let ok = Command::new("kill")
            .args(["-HUP", &hub.pid().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -HUP");
    };
    std::fs::write(
        &rules,
        "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - record: one:up\n        expr: vector(1)\n      - alert: Always\n        expr: vector(1) > 0\n",
    )
    .expect("rules");
    hup();
    wait_for("the new rule", Duration::from_secs(10), || {
        (names(&hub.addr) == ["one:up", "Always"]).then_some(())
    });
    wait_for("the new alert", Duration::from_secs(10), || {
        hub_alerts(&hub.addr, "Always").first().cloned()
    });
    std::fs::write(
        &rules,
        "groups:\n  - name: g\n    rules:\n      - alert: Bad\n        expr: up ==\n",
    )
    .expect("rules");
    hup();
    wait_for("the failed reload", Duration::from_secs(10), || {
        let m = get(&hub.addr, "/metrics").ok()?.text();
        m.contains("prometheus_config_last_reload_successful 0")
            .then_some(())
    });
    assert_eq!(names(&hub.addr), ["one:up", "Always"]);
    assert_eq!(hub_alerts(&hub.addr, "Always").len(), 1);
    drop(hub);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `mosquitto_sub` with a persistent session (`-c`, QoS 1) on `filter`:
/// the broker keeps what is published for it while it is away. Its lines
/// (`topic payload`) are collected in `lines`.
struct Sub {
    _proc: Proc,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Sub {
    fn start(port: u16, id: &str, filter: &str) -> Sub {
        require("mosquitto_sub");
        let mut child = Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(["-q", "1", "-c", "-i", id, "-v", "-t", filter])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn mosquitto_sub");
        let lines = Arc::new(Mutex::new(Vec::new()));
        if let Some(out) = child.stdout.take() {
            let l = lines.clone();
            std::thread::spawn(move || {
                use std::io::BufRead;
                for line in std::io::BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    l.lock().expect("lock").push(line);
                }
            });
        }
        Sub {
            _proc: Proc {
                child,
                addr: String::new(),
            },
            lines,
        }
    }

    /// Waits until the subscription is in place: a message published on
    /// `topic` (under the filter) comes through.
    fn ready(&self, port: u16, topic: &str) {
        wait_for(
            "mosquitto_sub to subscribe",
            Duration::from_secs(10),
            || {
                let _ = Command::new("mosquitto_pub")
                    .args(["-h", "127.0.0.1", "-p", &port.to_string()])
                    .args(["-q", "1", "-t", topic, "-m", "ready"])
                    .status();
                std::thread::sleep(Duration::from_millis(200));
                self.lines
                    .lock()
                    .expect("lock")
                    .iter()
                    .any(|l| l == &format!("{topic} ready"))
                    .then_some(())
            },
        );
    }

    /// The notifications received on `topic`, as JSON.
    fn notifications(&self, topic: &str) -> Vec<serde_json::Value> {
        let prefix = format!("{topic} ");
        self.lines
            .lock()
            .expect("lock")
            .iter()
            .filter_map(|l| l.strip_prefix(&prefix))
            .filter_map(|p| serde_json::from_str(p).ok())
            .collect()
    }
}

/// Direct mode, MQTT: an alert fires → a real Mosquitto delivers the
/// notification on the receiver's default topic `picket/alerts/<receiver>`
/// as exactly the JSON the webhook receiver of the same receiver gets
/// (Alertmanager's v4 payload). Then the broker is down: the next
/// notification fails, is logged and counted, stays in the outbox, and
/// is delivered once the broker is back (the subscriber's persistent
/// session gets it: nothing lost).
#[test]
#[ignore = "needs mosquitto and mosquitto-clients (tests/run.sh installs them)"]
fn direct_mqtt_publishes_the_webhook_payload_and_survives_a_broker_outage() {
    use crate::mqtt::{metric, start_hub_logged, start_mosquitto, stop};
    let dir = temp_dir("alert-mqtt");
    let port = free_port();
    let hook = Recorder::start();
    let mut broker = start_mosquitto(&dir, port, None);
    let topic = "picket/alerts/ops";
    let sub = Sub::start(port, "picket-test-alerts", "picket/alerts/#");
    sub.ready(port, "picket/alerts/ready");
    std::fs::write(
        dir.join("rules.yml"),
        "groups:\n  - name: probes\n    interval: 1s\n    rules:\n      - alert: Probe\n        expr: probe > 0\n        labels:\n          severity: warning\n        annotations:\n          summary: \"{{ $labels.instance }} is {{ $value }}\"\n",
    )
    .expect("rules");
    let cfg = dir.join("hub.toml");
    std::fs::write(
        &cfg,
        format!(
            "rule_files = [\"rules.yml\"]\n[web]\nexternal_url = \"http://hub.test:9090\"\n[alerting]\nresend_delay = \"1s\"\n[notify.route]\nreceiver = \"ops\"\ngroup_by = [\"alertname\"]\ngroup_wait = \"1s\"\ngroup_interval = \"1s\"\n[[notify.receivers]]\nname = \"ops\"\n[[notify.receivers.webhook_configs]]\nurl = \"http://{}/hook\"\n[[notify.receivers.mqtt_configs]]\nurl = \"mqtt://127.0.0.1:{port}\"\n",
            hook.addr
        ),
    )
    .expect("config");
    let log = dir.join("hub.log");
    let hub = start_hub_logged(&dir, &cfg, &log);
    push_probe(&hub.addr, &[("a", 1.0)]);
    let first = wait_for("the MQTT notification", Duration::from_secs(15), || {
        sub.notifications(topic).into_iter().next()
    });
    assert_eq!(first["version"], "4");
    assert_eq!(first["receiver"], "ops");
    assert_eq!(first["status"], "firing");
    assert_eq!(firing(&first), ["a"]);
    assert_eq!(first["groupKey"], "{}:{alertname=\"Probe\"}");
    assert_eq!(first["alerts"][0]["annotations"]["summary"], "a is 1");
    // The same notification as the webhook's, field for field.
    let hooked = wait_for("the webhook notification", Duration::from_secs(10), || {
        hook.all().into_iter().next()
    });
    assert_eq!(first, hooked);
    wait_for("the outbox to empty", Duration::from_secs(10), || {
        (metric(&hub.addr, "picket_hub_notifications_outbox ") == Some(0.0)).then_some(())
    });
    let failed_before =
        metric(&hub.addr, "picket_hub_notifications_failed_total ").expect("failed counter");
    assert_eq!(failed_before, 0.0);

    // The broker goes away (the subscriber's session stays in its
    // persistence file); a new alert joins the group.
    drop(sub);
    stop(&mut broker);
    push_probe(&hub.addr, &[("a", 1.0), ("b", 2.0)]);
    wait_for("a failed MQTT delivery", Duration::from_secs(15), || {
        let failed = metric(&hub.addr, "picket_hub_notifications_failed_total ")?;
        let outbox = metric(&hub.addr, "picket_hub_notifications_outbox ")?;
        (failed > 0.0 && outbox >= 1.0).then_some(())
    });
    let text = std::fs::read_to_string(&log).expect("hub log");
    assert!(
        text.contains("notification to mqtt:ops#0 failed")
            && text.contains(&format!("mqtt://127.0.0.1:{port} topic {topic}")),
        "{text}"
    );
    // Back: the kept notification is published and the outbox empties.
    let _broker = start_mosquitto(&dir, port, None);
    let sub = Sub::start(port, "picket-test-alerts", "picket/alerts/#");
    let second = wait_for("the kept notification", Duration::from_secs(30), || {
        sub.notifications(topic)
            .into_iter()
            .find(|n| firing(n) == ["a", "b"])
    });
    assert_eq!(second["status"], "firing");
    wait_for("the outbox to empty again", Duration::from_secs(10), || {
        (metric(&hub.addr, "picket_hub_notifications_outbox ") == Some(0.0)).then_some(())
    });
    drop(hub);
    drop(sub);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Starts tests/fixtures/alerting/smtp_sink.py on `host:port`, writing
/// mails to `mails`, with `extra` arguments (TLS, AUTH); waits for it.
pub(crate) fn start_smtp_sink(mails: &Path, host: &str, port: u16, extra: &[&str]) -> Proc {
    let py = smtp_python();
    std::fs::create_dir_all(mails).expect("dir");
    let child = Command::new(py)
        .arg(fixture("alerting/smtp_sink.py"))
        .arg(port.to_string())
        .arg(mails)
        .args(["--host", host])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn smtp sink");
    let mut sink = Proc {
        child,
        addr: format!("{host}:{port}"),
    };
    let mut line = String::new();
    if let Some(out) = sink.child.stdout.take() {
        let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line);
    }
    assert_eq!(
        line.trim(),
        "ready",
        "smtp sink on {host}:{port} did not start"
    );
    sink
}

/// The mails the sink wrote to `dir`, in order.
pub(crate) fn mails_in(dir: &Path) -> Vec<String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "eml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .collect()
}

/// Direct mode, email with TLS and AUTH against a real SMTP server
/// (aiosmtpd) holding a certificate of a throwaway CA that the hub trusts
/// through `tls_config.ca_file`:
/// * STARTTLS (required) with AUTH PLAIN, first with a wrong password:
///   every attempt is refused by the server (over TLS), logged, counted
///   and retried, the notification stays in the outbox and the hub keeps
///   running; the password file is fixed and SIGHUP reloads it: the kept
///   mail goes out, authenticated, over TLS.
/// * implicit TLS on port 465 (Alertmanager's rule: port 465 is TLS from
///   the first byte) with AUTH LOGIN, delivered at once.
#[test]
#[ignore = "needs python3-aiosmtpd and openssl (tests/run.sh installs them); binds port 465 (root)"]
fn direct_email_over_starttls_and_implicit_tls_with_auth() {
    use crate::mqtt::{metric, start_hub_logged};
    use crate::util::{make_ca, make_server_cert};
    let dir = temp_dir("alert-email-tls");
    make_ca(&dir, "ca");
    make_server_cert(&dir, "ca");
    let (cert, key) = (show(&dir.join("server.pem")), show(&dir.join("server.key")));
    let starttls_mails = dir.join("starttls");
    let implicit_mails = dir.join("implicit");
    let port = free_port();
    let _starttls = start_smtp_sink(
        &starttls_mails,
        "127.0.0.1",
        port,
        &[
            "--starttls",
            &cert,
            &key,
            "--auth",
            "hub",
            "right pass",
            "--mechanism",
            "PLAIN",
        ],
    );
    assert!(
        TcpListener::bind("127.0.0.1:465").is_ok(),
        "port 465 is taken or needs root: the implicit TLS part needs it free"
    );
    let _implicit = start_smtp_sink(
        &implicit_mails,
        "127.0.0.1",
        465,
        &[
            "--implicit-tls",
            &cert,
            &key,
            "--auth",
            "hub",
            "right pass",
            "--mechanism",
            "LOGIN",
        ],
    );
    let pass = dir.join("smtp.pass");
    std::fs::write(&pass, "wrong pass\n").expect("pass");
    std::fs::write(
        dir.join("rules.yml"),
        "groups:\n  - name: mail\n    interval: 1s\n    rules:\n      - alert: MailMe\n        expr: probe > 0\n        labels:\n          severity: critical\n",
    )
    .expect("rules");
    let cfg = dir.join("hub.toml");
    let ca = show(&dir.join("ca.pem"));
    std::fs::write(
        &cfg,
        format!(
            "rule_files = [\"rules.yml\"]\n[alerting]\nresend_delay = \"1s\"\n[notify.route]\nreceiver = \"mail\"\ngroup_by = [\"alertname\"]\ngroup_wait = \"1s\"\ngroup_interval = \"1s\"\n[[notify.receivers]]\nname = \"mail\"\n\
             [[notify.receivers.email_configs]]\nto = \"ops@example.org\"\nfrom = \"hub@example.org\"\nsmarthost = \"127.0.0.1:{port}\"\nauth_username = \"hub\"\nauth_password_file = \"{}\"\n[notify.receivers.email_configs.tls_config]\nca_file = \"{ca}\"\n\
             [[notify.receivers.email_configs]]\nto = \"oncall@example.org\"\nfrom = \"hub@example.org\"\nsmarthost = \"127.0.0.1:465\"\nauth_username = \"hub\"\nauth_password = \"right pass\"\n[notify.receivers.email_configs.tls_config]\nca_file = \"{ca}\"\n",
            show(&pass)
        ),
    )
    .expect("config");
    let log = dir.join("hub.log");
    let hub = start_hub_logged(&dir, &cfg, &log);
    push_probe(&hub.addr, &[("pi4", 1.0)]);

    // Implicit TLS, AUTH LOGIN: delivered.
    let m = wait_for(
        "the mail over implicit TLS",
        Duration::from_secs(15),
        || mails_in(&implicit_mails).into_iter().next(),
    );
    assert!(m.contains("X-Sink-Auth: hub LOGIN"), "{m}");
    assert!(m.contains("X-Sink-TLS: yes"), "{m}");
    assert!(m.contains("X-Envelope-To: oncall@example.org"), "{m}");
    assert!(m.contains("Subject: [FIRING:1] MailMe"), "{m}");

    // STARTTLS with the wrong password: refused over TLS, counted, logged,
    // retried; nothing delivered, the hub still serving.
    let auth_log = starttls_mails.join("auth.log");
    wait_for("two refused AUTH attempts", Duration::from_secs(20), || {
        let a = std::fs::read_to_string(&auth_log).ok()?;
        (a.lines().filter(|l| *l == "PLAIN hub refused tls").count() >= 2).then_some(())
    });
    let failed = metric(&hub.addr, "picket_hub_notifications_failed_total ").expect("failed");
    assert!(failed >= 2.0, "{failed}");
    assert!(metric(&hub.addr, "picket_hub_notifications_outbox ").is_some_and(|n| n >= 1.0));
    assert!(mails_in(&starttls_mails).is_empty());
    let text = std::fs::read_to_string(&log).expect("hub log");
    assert!(
        text.contains("notification to email:mail#0 failed") && text.contains("535"),
        "{text}"
    );
    assert_eq!(get(&hub.addr, "/-/ready").map(|r| r.status).ok(), Some(200));

    // The right password and a reload: the kept mail goes out.
    std::fs::write(&pass, "right pass\n").expect("pass");
    let ok = Command::new("kill")
        .args(["-HUP", &hub.pid().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -HUP");
    let m = wait_for("the mail over STARTTLS", Duration::from_secs(30), || {
        mails_in(&starttls_mails).into_iter().next()
    });
    assert!(m.contains("X-Sink-Auth: hub PLAIN"), "{m}");
    assert!(m.contains("X-Sink-TLS: yes"), "{m}");
    assert!(m.contains("X-Envelope-To: ops@example.org"), "{m}");
    wait_for("the outbox to empty", Duration::from_secs(10), || {
        (metric(&hub.addr, "picket_hub_notifications_outbox ") == Some(0.0)).then_some(())
    });
    // The reload kept the group: no second mail over implicit TLS.
    assert_eq!(mails_in(&implicit_mails).len(), 1);
    drop(hub);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Pushes `name{instance=i} v` for each (name, i, v) at the current time,
/// in one request.
fn push_series(hub: &str, values: &[(&str, &str, f64)]) {
    let now = crate::hub::now_ms();
    let labels: Vec<[(&str, &str); 2]> = values
        .iter()
        .map(|(n, i, _)| [("__name__", *n), ("instance", *i)])
        .collect();
    let points: Vec<[(i64, f64); 1]> = values.iter().map(|(_, _, v)| [(now, *v)]).collect();
    let series: Vec<crate::hub::Series<'_>> = labels
        .iter()
        .zip(&points)
        .map(|(l, p)| (&l[..], &p[..]))
        .collect();
    let r = crate::hub::post(hub, &crate::hub::body(&series));
    assert_eq!(r.status, 204, "{}", r.text());
}

/// Direct mode, inhibition end to end: InstanceDown{instance="a"} firing
/// mutes HighLoad (severity="warning") on the same instance, so the
/// webhook gets InstanceDown and HighLoad for "b" only (the hub itself
/// still lists HighLoad{a} as firing: inhibition mutes notifications, not
/// alerts). When InstanceDown resolves, its resolution is sent and
/// HighLoad{a} is notified.
#[test]
fn direct_inhibition_mutes_targets_while_the_source_fires() {
    let dir = temp_dir("alert-inhibit");
    let hook = Recorder::start();
    std::fs::write(
        dir.join("rules.yml"),
        "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - alert: InstanceDown\n        expr: down > 0\n        labels:\n          severity: critical\n      - alert: HighLoad\n        expr: load > 0\n        labels:\n          severity: warning\n",
    )
    .expect("rules");
    std::fs::write(
        dir.join("hub.toml"),
        format!(
            "rule_files = [\"rules.yml\"]\n[alerting]\nresend_delay = \"1s\"\n[notify.route]\nreceiver = \"hook\"\ngroup_by = [\"alertname\"]\ngroup_wait = \"1s\"\ngroup_interval = \"1s\"\nrepeat_interval = \"1h\"\n[[notify.receivers]]\nname = \"hook\"\n[[notify.receivers.webhook_configs]]\nurl = \"http://{}/hook\"\n[[notify.inhibit_rules]]\nsource_matchers = ['alertname=\"InstanceDown\"']\ntarget_matchers = ['severity=\"warning\"']\nequal = [\"instance\"]\n",
            hook.addr
        ),
    )
    .expect("config");
    let cfg = format!("--config.file={}", dir.join("hub.toml").display());
    let hub = crate::hub::start_hub(&dir, &[&cfg]);
    let named = |name: &str| -> Vec<serde_json::Value> {
        hook.all()
            .into_iter()
            .filter(|b| b["groupLabels"]["alertname"] == name)
            .collect()
    };
    push_series(
        &hub.addr,
        &[("down", "a", 1.0), ("load", "a", 1.0), ("load", "b", 1.0)],
    );
    wait_for("InstanceDown on a", Duration::from_secs(15), || {
        named("InstanceDown")
            .into_iter()
            .find(|b| firing(b) == ["a"])
    });
    wait_for("HighLoad on b", Duration::from_secs(15), || {
        named("HighLoad").into_iter().find(|b| firing(b) == ["b"])
    });
    // A few more group intervals: HighLoad on a stays muted, though the
    // hub fires it.
    std::thread::sleep(Duration::from_secs(3));
    let high: Vec<serde_json::Value> = named("HighLoad");
    assert!(
        high.iter().all(|b| instances(b) == ["b"]),
        "HighLoad on a was notified while InstanceDown fired: {high:?}"
    );
    let listed = json_get(&hub.addr, "/api/v1/alerts");
    let high_a = listed["data"]["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .any(|a| {
            a["labels"]["alertname"] == "HighLoad"
                && a["labels"]["instance"] == "a"
                && a["state"] == "firing"
        });
    assert!(high_a, "{listed}");

    // The source resolves: its resolution goes out and the target is
    // notified.
    push_series(
        &hub.addr,
        &[("down", "a", 0.0), ("load", "a", 1.0), ("load", "b", 1.0)],
    );
    wait_for("InstanceDown resolved", Duration::from_secs(15), || {
        named("InstanceDown")
            .into_iter()
            .find(|b| b["status"] == "resolved" && instances(b) == ["a"])
    });
    let both = wait_for("HighLoad on a and b", Duration::from_secs(15), || {
        named("HighLoad")
            .into_iter()
            .find(|b| firing(b) == ["a", "b"])
    });
    assert_eq!(both["status"], "firing");
    drop(hub);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A webhook that accepts the connection and never answers (no real
/// server hangs on command) does not hold back another receiver's
/// notification: destinations are delivered in parallel, each in order.
#[test]
fn a_hanging_webhook_does_not_hold_back_the_others() {
    let dir = temp_dir("alert-hang");
    let hook = Recorder::start();
    let hang = TcpListener::bind("127.0.0.1:0").expect("bind");
    let hang_addr = hang.local_addr().expect("addr");
    // Accepted (by the kernel's backlog) and never read or answered.
    std::fs::write(
        dir.join("rules.yml"),
        "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - alert: Down\n        expr: down > 0\n",
    )
    .expect("rules");
    // The hanging URL comes first, so its row is delivered first.
    std::fs::write(
        dir.join("hub.toml"),
        format!(
            "rule_files = [\"rules.yml\"]\n[notify.route]\nreceiver = \"both\"\ngroup_by = [\"alertname\"]\ngroup_wait = \"1s\"\ngroup_interval = \"1s\"\nrepeat_interval = \"1h\"\n[[notify.receivers]]\nname = \"both\"\n[[notify.receivers.webhook_configs]]\nurl = \"http://{hang_addr}/hook\"\n[[notify.receivers.webhook_configs]]\nurl = \"http://{}/hook\"\n",
            hook.addr
        ),
    )
    .expect("config");
    let cfg = format!("--config.file={}", dir.join("hub.toml").display());
    let hub = crate::hub::start_hub(&dir, &[&cfg]);
    let t = Instant::now();
    push_series(&hub.addr, &[("down", "a", 1.0)]);
    wait_for(
        "Down at the answering webhook",
        Duration::from_secs(15),
        || hook.all().into_iter().find(|b| firing(b) == ["a"]),
    );
    // Rule interval + group_wait + a round: about 3 s; the hanging one
    // times out only after 10 s.
    assert!(
        t.elapsed() < Duration::from_secs(8),
        "took {:?}: held back by the hanging webhook",
        t.elapsed()
    );
    drop(hub);
    drop(hang);
    let _ = std::fs::remove_dir_all(&dir);
}
