//! The hub behind `--web.config.file`, with the agent on both sides of it:
//! every endpoint refuses without credentials; an agent pushes over https
//! to a private CA with basic auth; the hub scrapes an agent that is itself
//! behind TLS and auth (Prometheus's `tls_config` and `basic_auth` in the
//! scrape job); the secrets never show in logs, `/metrics`, the status
//! API or a target's `lastError`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::*;

fn curl(args: &[&str]) -> (String, String) {
    require("curl");
    let out = Command::new("curl")
        .args([
            "-s",
            "--http1.1",
            "--max-time",
            "10",
            "-w",
            "\n%{http_code}",
        ])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.to_string(), body.to_string())
}

fn web_config(dir: &Path, name: &str, users: &[(&str, &str)]) -> String {
    let mut s =
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\nbasic_auth_users:\n"
            .to_string();
    for (u, pw) in users {
        s.push_str(&format!("  {u}: {}\n", htpasswd(pw)));
    }
    let f = dir.join(name);
    std::fs::write(&f, s).unwrap();
    format!("--web.config.file={}", f.display())
}

#[test]
#[ignore = "needs openssl, curl and htpasswd (tests/run.sh installs them)"]
fn hub_behind_tls_and_auth_with_agents_on_both_sides() {
    const HUB_PW: &str = "hub-Secret-1";
    const BOARD_PW: &str = "board-Secret-2";
    let dir = temp_dir("hub-web");
    make_ca(&dir, "ca");
    make_server_cert(&dir, "ca");
    let ca = dir.join("ca.pem").display().to_string();

    // A board behind its own web config, scraped by the hub.
    let board_flag = web_config(&dir, "board-web.yml", &[("hub", BOARD_PW)]);
    let board = start_picket(&[
        &board_flag,
        "--collector.disable-defaults",
        "--collector.loadavg",
    ]);
    std::fs::write(dir.join("board.pw"), format!("{BOARD_PW}\n")).unwrap();

    let hub_flag = web_config(&dir, "hub-web.yml", &[("admin", HUB_PW), ("board", HUB_PW)]);
    let cfg = dir.join("hub.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[scrape_configs]]\njob_name = \"secured\"\nscheme = \"https\"\nscrape_interval = \"1s\"\n\
             basic_auth = {{ username = \"hub\", password_file = \"board.pw\" }}\n\
             tls_config = {{ ca_file = \"ca.pem\" }}\n\
             [[scrape_configs.static_configs]]\ntargets = [\"localhost:{}\"]\n",
            board.addr.rsplit_once(':').unwrap().1
        ),
    )
    .unwrap();
    let log = dir.join("hub.log");
    let hub = Launch::hub(&dir)
        .args([format!("--config.file={}", cfg.display()), hub_flag])
        .log(&log)
        .start();
    let base = format!("https://localhost:{}", hub.addr.rsplit_once(':').unwrap().1);

    // Every endpoint: 401 without credentials, and with wrong ones.
    for (method, path) in [
        ("GET", "/"),
        ("GET", "/-/healthy"),
        ("GET", "/-/ready"),
        ("GET", "/metrics"),
        ("GET", "/api/v1/query?query=up"),
        ("GET", "/api/v1/query_range?query=up&start=0&end=1&step=1"),
        ("GET", "/api/v1/series?match[]=up"),
        ("GET", "/api/v1/labels"),
        ("GET", "/api/v1/targets"),
        ("GET", "/api/v1/rules"),
        ("GET", "/api/v1/status/config"),
        ("POST", "/api/v1/write"),
        ("GET", "/api/v2/silences"),
        ("POST", "/api/v2/silences"),
    ] {
        let url = format!("{base}{path}");
        let (code, _) = curl(&["--cacert", &ca, "-X", method, "-g", &url]);
        assert_eq!(code, "401", "{method} {path} without credentials");
        let (code, _) = curl(&[
            "--cacert",
            &ca,
            "-X",
            method,
            "-g",
            "-u",
            "admin:wrong",
            &url,
        ]);
        assert_eq!(code, "401", "{method} {path} with a wrong password");
    }
    // Plain HTTP to the hub's TLS port.
    let r = raw(
        &hub.addr,
        b"GET /api/v1/query?query=up HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.status, 400);

    // An agent pushes over https: the private CA, the hub's basic auth.
    let agent_cfg = dir.join("agent.toml");
    std::fs::write(dir.join("push.pw"), HUB_PW).unwrap();
    std::fs::write(
        &agent_cfg,
        format!(
            "[push]\ninterval = \"1s\"\nbuffer_path = \"{}\"\njob = \"pushed\"\n\
             [[push.remote_write]]\nurl = \"{base}/api/v1/write\"\nusername = \"board\"\npassword_file = \"{}\"\n\
             tls_config = {{ ca_file = \"{ca}\" }}\n",
            dir.join("buf").display(),
            dir.join("push.pw").display()
        ),
    )
    .unwrap();
    let agent_log = dir.join("agent.log");
    let _agent = Launch::agent()
        .args([
            format!("--config.file={}", agent_cfg.display()),
            "--collector.disable-defaults".into(),
            "--collector.loadavg".into(),
        ])
        .log(&agent_log)
        .start();
    let q = |expr: &str| {
        let (code, body) = curl(&[
            "--cacert",
            &ca,
            "-u",
            &format!("admin:{HUB_PW}"),
            "--data-urlencode",
            &format!("query={expr}"),
            &format!("{base}/api/v1/query"),
        ]);
        assert_eq!(code, "200", "{body}");
        body
    };
    wait_until(Duration::from_secs(30), "pushed samples in the hub", || {
        q("count(node_load1{job=\"pushed\"})").contains("\"1\"")
    });
    wait_until(
        Duration::from_secs(30),
        "the secured board scraped (up 1)",
        || q("up{job=\"secured\"}").contains("\"1\"]"),
    );
    assert!(q("count(node_load1{job=\"secured\"})").contains("\"1\""));

    // A wrong scrape password: the target is down, and its lastError does
    // not show the password.
    std::fs::write(dir.join("board.pw"), "not-the-password").unwrap();
    wait_until(
        Duration::from_secs(30),
        "the board down with a wrong password",
        || q("up{job=\"secured\"}").contains("\"0\"]"),
    );
    // (The first check of a new password is a bcrypt, slow in a debug
    // build under load: that scrape may time out; the next one gets the
    // cached 401.)
    let targets = poll(
        "lastError to say 401",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || {
            let (_, t) = curl(&[
                "--cacert",
                &ca,
                "-u",
                &format!("admin:{HUB_PW}"),
                &format!("{base}/api/v1/targets"),
            ]);
            if t.contains("401") {
                Ok(t)
            } else {
                Err(t)
            }
        },
    );

    // No secret anywhere a user or an attacker could read.
    let (_, metrics) = curl(&[
        "--cacert",
        &ca,
        "-u",
        &format!("admin:{HUB_PW}"),
        &format!("{base}/metrics"),
    ]);
    let (_, status) = curl(&[
        "--cacert",
        &ca,
        "-u",
        &format!("admin:{HUB_PW}"),
        &format!("{base}/api/v1/status/config"),
    ]);
    let logs =
        std::fs::read_to_string(&log).unwrap() + &std::fs::read_to_string(&agent_log).unwrap();
    for (what, text) in [
        ("/metrics", &metrics),
        ("status/config", &status),
        ("targets", &targets),
        ("logs", &logs),
    ] {
        for secret in [HUB_PW, BOARD_PW, "not-the-password"] {
            assert!(!text.contains(secret), "{secret} in {what}");
        }
        assert!(!text.contains("$2y$"), "a bcrypt hash in {what}");
    }
}

#[test]
fn a_bad_web_config_stops_the_hub_naming_file_line_and_key() {
    let dir = temp_dir("hub-web-bad");
    let f = dir.join("web.yml");
    std::fs::write(
        &f,
        "http_server_config:\n  headers:\n    X-Powered-By: picket\n",
    )
    .unwrap();
    let out = hub_cmd()
        .arg(format!("--web.config.file={}", f.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:3: http_server_config.headers.X-Powered-By: HTTP header \"X-Powered-By\" can not be configured", f.display())),
        "{err}"
    );
}

/// The hub sends to an Alertmanager 0.25 that is behind its own web config
/// (TLS with a private CA, bcrypt basic auth): Prometheus's `scheme`,
/// `tls_config` and `basic_auth` in `[[alerting.alertmanagers]]`.
#[test]
#[ignore = "needs Alertmanager, openssl, curl and htpasswd (tests/run.sh installs them)"]
fn hub_notifies_an_alertmanager_behind_tls_and_auth() {
    require("prometheus-alertmanager");
    const AM_PW: &str = "am-Secret-3";
    let dir = temp_dir("hub-web-am");
    make_ca(&dir, "ca");
    make_server_cert(&dir, "ca");
    let ca = dir.join("ca.pem").display().to_string();
    let am_flag = web_config(&dir, "am-web.yml", &[("hub", AM_PW)]);
    std::fs::write(
        dir.join("alertmanager.yml"),
        "route:\n  receiver: none\nreceivers:\n  - name: none\n",
    )
    .unwrap();
    let am_addr = format!("127.0.0.1:{}", free_port());
    let child = Command::new("prometheus-alertmanager")
        .arg(format!(
            "--config.file={}",
            dir.join("alertmanager.yml").display()
        ))
        .arg(format!("--storage.path={}", dir.join("am-data").display()))
        .arg(format!("--web.listen-address={am_addr}"))
        .arg("--cluster.listen-address=")
        .arg(&am_flag)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn alertmanager");
    let _am = Proc {
        child,
        addr: am_addr.clone(),
    };
    wait_listening(&am_addr, Duration::from_secs(30));
    let am_port = am_addr.rsplit_once(':').unwrap().1;
    std::fs::write(dir.join("am.pw"), AM_PW).unwrap();
    std::fs::write(
        dir.join("rules.yml"),
        "groups:\n  - name: g\n    rules:\n      - alert: AlwaysOn\n        expr: vector(1)\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("hub.toml"),
        format!(
            "rule_files = [\"rules.yml\"]\n[global]\nevaluation_interval = \"1s\"\n[alerting]\nresend_delay = \"1s\"\n\
             [[alerting.alertmanagers]]\nscheme = \"https\"\n\
             basic_auth = {{ username = \"hub\", password_file = \"am.pw\" }}\n\
             tls_config = {{ ca_file = \"ca.pem\" }}\n\
             [[alerting.alertmanagers.static_configs]]\ntargets = [\"localhost:{am_port}\"]\n"
        ),
    )
    .unwrap();
    let log = dir.join("hub.log");
    let _hub = Launch::hub(&dir)
        .args([format!("--config.file={}", dir.join("hub.toml").display())])
        .log(&log)
        .start();
    let am_url = format!("https://localhost:{am_port}/api/v2/alerts");
    wait_until(
        Duration::from_secs(30),
        "AlwaysOn in the Alertmanager",
        || {
            let (code, body) = curl(&["--cacert", &ca, "-u", &format!("hub:{AM_PW}"), &am_url]);
            code == "200" && body.contains("AlwaysOn")
        },
    );
    // Without credentials the Alertmanager refuses: the hub's got through
    // because it sent them.
    assert_eq!(curl(&["--cacert", &ca, &am_url]).0, "401");
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(
        !logs.contains(AM_PW),
        "the Alertmanager password in the hub's log"
    );
}

/// One agent pushes over https to two receivers, each behind TLS with a
/// private CA: the hub (a bearer token from `[[remote_write_receiver.auth]]`)
/// and a real Prometheus 2.42 receiver started with a web config (basic
/// auth).
#[test]
#[ignore = "needs Prometheus, openssl, curl and htpasswd (tests/run.sh installs them)"]
fn agent_pushes_over_https_to_the_hub_and_to_prometheus() {
    require("prometheus");
    const TOKEN: &str = "board-token-4";
    const PROM_PW: &str = "prom-Secret-5";
    let dir = temp_dir("push-https");
    make_ca(&dir, "ca");
    make_server_cert(&dir, "ca");
    let ca = dir.join("ca.pem").display().to_string();
    let tls_only = dir.join("tls.yml");
    std::fs::write(
        &tls_only,
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("hub.toml"),
        format!("[[remote_write_receiver.auth]]\nbearer_token = \"{TOKEN}\"\n"),
    )
    .unwrap();
    let hub = Launch::hub(&dir)
        .args([
            format!("--config.file={}", dir.join("hub.toml").display()),
            format!("--web.config.file={}", tls_only.display()),
        ])
        .quiet()
        .start();
    let prom_flag = web_config(&dir, "prom-web.yml", &[("board", PROM_PW)]);
    std::fs::write(dir.join("prometheus.yml"), "global: {}\n").unwrap();
    let prom_addr = format!("127.0.0.1:{}", free_port());
    let _prom = start_prometheus(
        &dir,
        &prom_addr,
        &["--web.enable-remote-write-receiver", &prom_flag],
    );
    let port = |a: &str| a.rsplit_once(':').unwrap().1.to_string();
    std::fs::write(dir.join("token"), TOKEN).unwrap();
    let agent_cfg = dir.join("agent.toml");
    std::fs::write(
        &agent_cfg,
        format!(
            "[push]\ninterval = \"1s\"\nbuffer_path = \"{buf}\"\njob = \"pushed\"\n\
             [[push.remote_write]]\nurl = \"https://localhost:{hub}/api/v1/write\"\nbearer_token_file = \"{tok}\"\n\
             tls_config = {{ ca_file = \"{ca}\" }}\n\
             [[push.remote_write]]\nurl = \"https://localhost:{prom}/api/v1/write\"\nusername = \"board\"\npassword = \"{PROM_PW}\"\n\
             tls_config = {{ ca_file = \"{ca}\" }}\n",
            buf = dir.join("buf").display(),
            hub = port(&hub.addr),
            tok = dir.join("token").display(),
            prom = port(&prom_addr),
        ),
    )
    .unwrap();
    let _agent = Launch::agent()
        .args([
            format!("--config.file={}", agent_cfg.display()),
            "--collector.disable-defaults".into(),
            "--collector.loadavg".into(),
        ])
        .quiet()
        .start();
    for (what, base, creds) in [
        (
            "the hub",
            format!("https://localhost:{}", port(&hub.addr)),
            None,
        ),
        (
            "Prometheus",
            format!("https://localhost:{}", port(&prom_addr)),
            Some(format!("board:{PROM_PW}")),
        ),
    ] {
        wait_until(
            Duration::from_secs(30),
            &format!("pushed samples in {what}"),
            || {
                let mut args = vec!["--cacert".to_string(), ca.clone()];
                if let Some(c) = &creds {
                    args.extend(["-u".to_string(), c.clone()]);
                }
                args.extend([
                    "--data-urlencode".into(),
                    "query=count(node_load1{job=\"pushed\"})".into(),
                    format!("{base}/api/v1/query"),
                ]);
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let (code, body) = curl(&args);
                code == "200" && body.contains("\"1\"]")
            },
        );
    }
}

/// A scrape job reaches a board by IP whose certificate names only its
/// host (`tls_config.server_name`), presenting a client certificate the
/// board requires (mutual TLS); without `server_name` the same scrape fails
/// verification.
#[test]
#[ignore = "needs openssl (tests/run.sh installs it)"]
fn scrape_by_ip_with_server_name_and_a_client_certificate() {
    let dir = temp_dir("hub-web-sni");
    make_ca(&dir, "ca");
    make_leaf(&dir, "ca", "board", "serverAuth", "DNS:board.lan");
    make_client_cert(&dir, "ca", "hub");
    let web = dir.join("board-web.yml");
    std::fs::write(
        &web,
        "tls_server_config:\n  cert_file: board.pem\n  key_file: board.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n",
    )
    .unwrap();
    let board = start_picket(&[
        &format!("--web.config.file={}", web.display()),
        "--collector.disable-defaults",
        "--collector.loadavg",
    ]);
    let job = |name: &str, server_name: &str| {
        format!(
            "[[scrape_configs]]\njob_name = \"{name}\"\nscheme = \"https\"\nscrape_interval = \"1s\"\n\
             tls_config = {{ ca_file = \"ca.pem\", cert_file = \"hub.pem\", key_file = \"hub.key\"{server_name} }}\n\
             [[scrape_configs.static_configs]]\ntargets = [\"{}\"]\n",
            board.addr
        )
    };
    std::fs::write(
        dir.join("hub.toml"),
        job("named", ", server_name = \"board.lan\"") + &job("by_ip", ""),
    )
    .unwrap();
    let hub = Launch::hub(&dir)
        .args([format!("--config.file={}", dir.join("hub.toml").display())])
        .quiet()
        .start();
    let up = |job: &str| {
        let r = get(
            &hub.addr,
            &format!("/api/v1/query?query=up%7Bjob%3D%22{job}%22%7D"),
        )
        .ok()?;
        let v: serde_json::Value = serde_json::from_slice(&r.body).ok()?;
        v["data"]["result"][0]["value"][1]
            .as_str()
            .map(str::to_string)
    };
    wait_until(Duration::from_secs(30), "the named job up", || {
        up("named").as_deref() == Some("1")
    });
    wait_until(Duration::from_secs(30), "the by-IP job scraped", || {
        up("by_ip").is_some()
    });
    assert_eq!(
        up("by_ip").as_deref(),
        Some("0"),
        "verified by IP against a DNS-only certificate"
    );
    let targets = get(&hub.addr, "/api/v1/targets").unwrap().text();
    assert!(
        targets.contains("certificate") || targets.contains("Certificate"),
        "{targets}"
    );
}

/// A direct webhook behind TLS and basic auth (HAProxy terminating both in
/// front of the test's recording receiver): Alertmanager's `http_config`
/// in `webhook_configs`.
#[test]
#[ignore = "needs HAProxy and openssl (tests/run.sh installs them)"]
fn direct_webhook_over_https_with_http_config() {
    let dir = temp_dir("hub-web-hook");
    make_ca(&dir, "ca");
    make_server_cert(&dir, "ca");
    let pem = std::fs::read_to_string(dir.join("server.pem")).unwrap()
        + &std::fs::read_to_string(dir.join("server.key")).unwrap();
    std::fs::write(dir.join("haproxy.pem"), pem).unwrap();
    let hook = crate::alerting::Recorder::start();
    let port = free_port();
    let _haproxy = start_haproxy(
        &dir,
        port,
        &format!(
            "global\n  log stderr format raw local0 emerg\n\n\
             defaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n\n\
             userlist hooks\n  user hub insecure-password hook-Secret-6\n\n\
             frontend tls\n  bind 127.0.0.1:{port} ssl crt {}\n  http-request auth realm hook unless {{ http_auth(hooks) }}\n  default_backend rec\n\n\
             backend rec\n  server r {}\n",
            dir.join("haproxy.pem").display(),
            hook.addr
        ),
    );
    std::fs::write(dir.join("hook.pw"), "hook-Secret-6\n").unwrap();
    std::fs::write(
        dir.join("rules.yml"),
        "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - alert: AlwaysOn\n        expr: vector(1)\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("hub.toml"),
        format!(
            "rule_files = [\"rules.yml\"]\n[alerting]\nresend_delay = \"1s\"\n\
             [notify.route]\nreceiver = \"hook\"\ngroup_wait = \"1s\"\n\
             [[notify.receivers]]\nname = \"hook\"\n\
             [[notify.receivers.webhook_configs]]\nurl = \"https://localhost:{port}/hook\"\n\
             http_config = {{ basic_auth = {{ username = \"hub\", password_file = \"hook.pw\" }}, tls_config = {{ ca_file = \"ca.pem\" }} }}\n"
        ),
    )
    .unwrap();
    let log = dir.join("hub.log");
    let _hub = Launch::hub(&dir)
        .args([format!("--config.file={}", dir.join("hub.toml").display())])
        .log(&log)
        .start();
    wait_until(
        Duration::from_secs(30),
        "the notification through HAProxy",
        || {
            hook.bodies
                .lock()
                .unwrap()
                .iter()
                .any(|b| b["commonLabels"]["alertname"] == "AlwaysOn")
        },
    );
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(
        !logs.contains("hook-Secret-6"),
        "the webhook password in the log"
    );
}
