//! `--web.config.file` side by side: node_exporter 1.5 (exporter-toolkit
//! 0.8.2) and picket given the same file answer the same requests the same
//! way; a real Prometheus scrapes picket over https with basic auth and a
//! client certificate; certificates and users follow their files.
//!
//! Known differences, by design:
//! - node_exporter answers over HTTP/2 when the client offers it (ALPN);
//!   picket serves HTTP/1.1 only, which every client falls back to. The
//!   comparison pins curl to HTTP/1.1.
//! - A 401 closes the connection on picket (the body of the refused request
//!   is never read); Go keeps it open.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::*;

/// What curl saw: (exit code, HTTP status). With TLS 1.3 a refused client
/// certificate reaches curl after its handshake, while it sends (55) or
/// receives (56) depending on timing: both are reported as 56.
fn curl(url: &str, extra: &[&str]) -> (i32, String) {
    require("curl");
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--http1.1",
            "--max-time",
            "10",
        ])
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .expect("curl");
    let code = match out.status.code().unwrap_or(-1) {
        55 => 56,
        c => c,
    };
    (code, String::from_utf8_lossy(&out.stdout).into_owned())
}

/// CA, server and client certificates, and a client certificate from a CA
/// the server does not trust.
fn pki(dir: &Path) {
    make_ca(dir, "ca");
    make_server_cert(dir, "ca");
    make_client_cert(dir, "ca", "board1");
    make_ca(dir, "rogue");
    make_client_cert(dir, "rogue", "mallory");
}

fn start_both(cfg: &Path) -> (Proc, Proc) {
    let flag = format!("--web.config.file={}", cfg.display());
    let ne = start_node_exporter(&[&flag, "--collector.disable-defaults", "--collector.loadavg"]);
    let pk = start_picket(&[&flag, "--collector.disable-defaults", "--collector.loadavg"]);
    (ne, pk)
}

/// The same requests to both; every answer must match, and match `want`.
fn compare(ne: &Proc, pk: &Proc, scheme: &str, cases: &[(&str, Vec<String>, (i32, &str))]) {
    for (what, args, want) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let a = curl(
            &format!("{scheme}://{}/metrics", localhost(&ne.addr)),
            &args,
        );
        let b = curl(
            &format!("{scheme}://{}/metrics", localhost(&pk.addr)),
            &args,
        );
        assert_eq!(a, b, "{what}: node_exporter {a:?}, picket {b:?}");
        assert_eq!((a.0, a.1.as_str()), *want, "{what}");
    }
}

/// `127.0.0.1:port` as `localhost:port` (the certificate's name).
fn localhost(addr: &str) -> String {
    addr.replace("127.0.0.1", "localhost")
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
#[ignore = "needs node_exporter, curl, openssl and htpasswd (tests/run.sh installs them)"]
fn same_web_config_same_answers_as_node_exporter() {
    let dir = temp_dir("web-compat");
    pki(&dir);
    let hash = htpasswd("s3cret");
    let ca = dir.join("ca.pem").display().to_string();

    // 1. TLS and basic auth.
    let cfg = dir.join("web.yml");
    std::fs::write(
        &cfg,
        format!(
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\nbasic_auth_users:\n  alice: {hash}\n"
        ),
    )
    .unwrap();
    let (ne, pk) = start_both(&cfg);
    compare(
        &ne,
        &pk,
        "https",
        &[
            ("no credentials", s(&["--cacert", &ca]), (0, "401")),
            (
                "wrong password",
                s(&["--cacert", &ca, "-u", "alice:nope"]),
                (0, "401"),
            ),
            (
                "unknown user",
                s(&["--cacert", &ca, "-u", "bob:s3cret"]),
                (0, "401"),
            ),
            (
                "right credentials",
                s(&["--cacert", &ca, "-u", "alice:s3cret"]),
                (0, "200"),
            ),
            (
                "same again (cached)",
                s(&["--cacert", &ca, "-u", "alice:s3cret"]),
                (0, "200"),
            ),
            (
                "TLS 1.1 only",
                s(&[
                    "--cacert",
                    &ca,
                    "-u",
                    "alice:s3cret",
                    "--tlsv1.1",
                    "--tls-max",
                    "1.1",
                ]),
                (35, "000"),
            ),
            (
                "untrusted server certificate",
                s(&["-u", "alice:s3cret"]),
                (60, "000"),
            ),
        ],
    );
    // Plain HTTP to the TLS port: Go's exact bytes, from both.
    let plain = |addr: &str| {
        raw(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").map(|r| (r.status, r.body))
    };
    let (a, b) = (plain(&ne.addr).unwrap(), plain(&pk.addr).unwrap());
    assert_eq!(a, b, "plain HTTP on the TLS port");
    assert_eq!(a.0, 400);
    assert_eq!(
        String::from_utf8_lossy(&a.1),
        "Client sent an HTTP request to an HTTPS server.\n"
    );
    // The 401's headers: Basic challenge, nosniff, the configured header.
    for p in [&ne, &pk] {
        let out = Command::new("curl")
            .args(["-s", "-i", "--http1.1", "--cacert", &ca])
            .arg(format!("https://{}/metrics", localhost(&p.addr)))
            .output()
            .unwrap();
        let head = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
        for h in [
            "www-authenticate: basic",
            "x-content-type-options: nosniff",
            "x-frame-options: deny",
        ] {
            assert!(head.contains(h), "{} lacks {h:?}:\n{head}", p.addr);
        }
    }
    drop((ne, pk));

    // 2. Mutual TLS: a client certificate from the client CA is required.
    std::fs::write(
        &cfg,
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n",
    )
    .unwrap();
    let (ne, pk) = start_both(&cfg);
    let cert = |n: &str| {
        s(&[
            "--cacert",
            &ca,
            "--cert",
            &dir.join(format!("{n}.pem")).display().to_string(),
            "--key",
            &dir.join(format!("{n}.key")).display().to_string(),
        ])
    };
    compare(
        &ne,
        &pk,
        "https",
        &[
            ("no client certificate", s(&["--cacert", &ca]), (56, "000")),
            ("client certificate from the CA", cert("board1"), (0, "200")),
            (
                "client certificate from another CA",
                cert("mallory"),
                (56, "000"),
            ),
        ],
    );
    drop((ne, pk));

    // 3. Basic auth without TLS.
    std::fs::write(&cfg, format!("basic_auth_users:\n  alice: {hash}\n")).unwrap();
    let (ne, pk) = start_both(&cfg);
    compare(
        &ne,
        &pk,
        "http",
        &[
            ("no credentials", s(&[]), (0, "401")),
            ("wrong password", s(&["-u", "alice:x"]), (0, "401")),
            ("right credentials", s(&["-u", "alice:s3cret"]), (0, "200")),
        ],
    );
}

#[test]
#[ignore = "needs Prometheus, openssl and htpasswd (tests/run.sh installs them)"]
fn prometheus_scrapes_the_agent_over_https_with_auth_and_a_client_certificate() {
    require("prometheus");
    let dir = temp_dir("web-prom");
    pki(&dir);
    std::fs::write(
        dir.join("web.yml"),
        format!(
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n  client_allowed_sans: [board1]\nbasic_auth_users:\n  prom: {}\n",
            htpasswd("scrape-pw")
        ),
    )
    .unwrap();
    std::fs::write(dir.join("pw"), "scrape-pw\n").unwrap();
    let pk = start_picket(&[&format!(
        "--web.config.file={}",
        dir.join("web.yml").display()
    )]);
    let d = dir.display();
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: picket\n    scheme: https\n    basic_auth:\n      username: prom\n      password_file: {d}/pw\n    tls_config:\n      ca_file: {d}/ca.pem\n      cert_file: {d}/board1.pem\n      key_file: {d}/board1.key\n      server_name: localhost\n    static_configs:\n      - targets: ['{}']\n",
            pk.addr
        ),
    )
    .unwrap();
    let prom_addr = format!("127.0.0.1:{}", free_port());
    let _prom = start_prometheus(&dir, &prom_addr, &[]);
    wait_until(
        Duration::from_secs(30),
        "Prometheus's up{job=\"picket\"} == 1",
        || promql(&prom_addr, "up{job=\"picket\"}").contains("=> 1 @"),
    );
    let out = promql(&prom_addr, "count(node_load1{job=\"picket\"})");
    assert!(out.contains("=> 1 @"), "{out}");
    // A certificate whose SAN is not allowed is refused at the handshake.
    let (code, _) = curl(
        &format!("https://{}/metrics", localhost(&pk.addr)),
        &[
            "--cacert",
            &dir.join("ca.pem").display().to_string(),
            "--cert",
            &dir.join("server.pem").display().to_string(),
            "--key",
            &dir.join("server.key").display().to_string(),
            "-u",
            "prom:scrape-pw",
        ],
    );
    assert_ne!(
        code, 0,
        "a certificate outside client_allowed_sans got through"
    );
}

/// The subject CN of the certificate served at `addr`.
fn served_cn(addr: &str) -> String {
    let out = Command::new("openssl")
        .args(["s_client", "-connect", addr, "-servername", "localhost"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .expect("openssl s_client");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("subject="))
        .unwrap_or("")
        .to_string()
}

#[test]
#[ignore = "needs openssl, curl and htpasswd (tests/run.sh installs them)"]
fn certificates_and_users_follow_their_files_without_a_restart() {
    let dir = temp_dir("web-rotate");
    pki(&dir);
    let cfg = dir.join("web.yml");
    let tls = "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n";
    std::fs::write(&cfg, tls).unwrap();
    let pk = start_picket(&[&format!("--web.config.file={}", cfg.display())]);
    let ca = dir.join("ca.pem").display().to_string();
    let url = format!("https://{}/metrics", localhost(&pk.addr));
    assert_eq!(curl(&url, &["--cacert", &ca]), (0, "200".into()));
    assert!(
        served_cn(&pk.addr).contains("CN = server"),
        "{}",
        served_cn(&pk.addr)
    );

    // Rotate: a new key and certificate (CN "rotated") in the same files.
    make_leaf(&dir, "ca", "rotated", "serverAuth", "DNS:localhost");
    std::fs::rename(dir.join("rotated.key"), dir.join("rot.key")).unwrap();
    std::fs::rename(dir.join("rotated.pem"), dir.join("rot.pem")).unwrap();
    std::fs::rename(dir.join("rot.key"), dir.join("server.key")).unwrap();
    std::fs::rename(dir.join("rot.pem"), dir.join("server.pem")).unwrap();
    wait_until(
        Duration::from_secs(5),
        "the rotated certificate served",
        || served_cn(&pk.addr).contains("CN = rotated"),
    );
    assert_eq!(curl(&url, &["--cacert", &ca]), (0, "200".into()));

    // Users added to the file apply to the next request.
    std::fs::write(
        &cfg,
        format!("{tls}basic_auth_users:\n  alice: {}\n", htpasswd("pw")),
    )
    .unwrap();
    wait_until(Duration::from_secs(5), "basic auth required", || {
        curl(&url, &["--cacert", &ca]).1 == "401"
    });
    assert_eq!(
        curl(&url, &["--cacert", &ca, "-u", "alice:pw"]),
        (0, "200".into())
    );

    // A file broken while running fails closed, and recovers when fixed.
    std::fs::write(&cfg, format!("{tls}basic_auth_users: [\n")).unwrap();
    wait_until(Duration::from_secs(5), "a broken file refuses", || {
        curl(&url, &["--cacert", &ca, "-u", "alice:pw"]).1 != "200"
    });
    std::fs::write(&cfg, tls).unwrap();
    wait_until(
        Duration::from_secs(5),
        "the fixed file serves again",
        || curl(&url, &["--cacert", &ca]).1 == "200",
    );
}

#[test]
fn a_bad_web_config_stops_the_agent_naming_file_line_and_key() {
    let dir = temp_dir("web-bad");
    let cfg = dir.join("web.yml");
    std::fs::write(
        &cfg,
        "tls_server_config:\n  cert_file: a.pem\n  key_file: a.key\n  client_auth_type: Sometimes\n",
    )
    .unwrap();
    let out = picket(&[&format!("--web.config.file={}", cfg.display())]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:4: tls_server_config.client_auth_type: invalid ClientAuth",
            cfg.display()
        )),
        "{err}"
    );
    // Missing certificate files: refused at start, not at the first scrape.
    std::fs::write(
        &cfg,
        "tls_server_config:\n  cert_file: a.pem\n  key_file: a.key\n",
    )
    .unwrap();
    let out = picket(&[&format!("--web.config.file={}", cfg.display())]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:2: tls_server_config.cert_file: cannot read",
            cfg.display()
        )) && err.contains("a.pem"),
        "{err}"
    );
    assert_eq!(out.status.code(), Some(2), "a config error exits 2");
}

/// A ureq client trusting `ca` (PEM), one connection kept alive; a fresh
/// one per request when `fresh` (a new TLS handshake each time).
fn tls_client(ca: &Path) -> ureq::Agent {
    use ureq::tls::{Certificate, RootCerts, TlsConfig};
    let pem = std::fs::read(ca).unwrap();
    let cert = Certificate::from_pem(&pem).unwrap().to_owned();
    ureq::Agent::config_builder()
        .tls_config(
            TlsConfig::builder()
                .root_certs(RootCerts::Specific(std::sync::Arc::new(vec![cert])))
                .build(),
        )
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1]
}

/// Slow clients, oversized requests and a flood of TLS handshakes: each is
/// bounded, and scrapes go on. Prints the scrape latency with and without
/// the flood.
#[test]
#[ignore = "needs openssl (tests/run.sh installs it)"]
fn slow_big_and_flooding_clients_are_bounded_over_tls() {
    use std::io::Read;
    let dir = temp_dir("web-battery");
    make_ca(&dir, "ca");
    make_server_cert(&dir, "ca");
    let cfg = dir.join("web.yml");
    std::fs::write(
        &cfg,
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n",
    )
    .unwrap();
    // The read timeout is 10 s by default; 2 s here.
    let short_timeout = dir.join("agent.toml");
    std::fs::write(&short_timeout, "[web]\nread_timeout_seconds = 2\n").unwrap();
    let pk = Launch::agent()
        .args([
            format!("--web.config.file={}", cfg.display()),
            "--collector.disable-defaults".into(),
            "--collector.loadavg".into(),
            "--collector.meminfo".into(),
            format!("--config.file={}", short_timeout.display()),
        ])
        .quiet()
        .start();
    let ca = dir.join("ca.pem");
    let url = format!("https://{}/metrics", localhost(&pk.addr));
    let scrape = |agent: &ureq::Agent| -> f64 {
        let t = std::time::Instant::now();
        let mut r = agent.get(&url).call().expect("scrape");
        assert_eq!(r.status().as_u16(), 200);
        r.body_mut().read_to_string().unwrap();
        t.elapsed().as_secs_f64() * 1000.0
    };

    // A client that connects and never starts its handshake, and one that
    // sends half a request head inside TLS: both closed by the read timeout.
    let t = std::time::Instant::now();
    let mut silent = std::net::TcpStream::connect(&pk.addr).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let n = silent.read(&mut [0u8; 16]).unwrap_or(0);
    assert_eq!(n, 0, "a silent client got bytes instead of a close");
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(5),
        "a silent TLS client was closed after {waited:?} (read timeout 2 s)"
    );
    let half = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "(printf 'GET /metrics HTTP/1.1\\r\\nHost: x\\r\\n'; sleep 6) | openssl s_client -quiet -connect {} -CAfile {} 2>/dev/null",
            pk.addr,
            ca.display()
        ))
        .output()
        .unwrap();
    assert!(
        half.stdout.is_empty(),
        "half a request head got an answer: {}",
        String::from_utf8_lossy(&half.stdout)
    );

    // Oversized: a request head over 16 KiB gets 431, over TLS too.
    let agent = tls_client(&ca);
    let r = agent
        .get(&url)
        .header("X-Big", "x".repeat(20_000))
        .call()
        .map(|r| r.status().as_u16());
    assert!(matches!(r, Ok(431) | Err(_)), "{r:?}");
    assert_eq!(agent.get(&url).call().unwrap().status().as_u16(), 200);

    // A flood of handshakes from 4 threads while one client scrapes.
    let keep = tls_client(&ca);
    let mut base: Vec<f64> = (0..60).map(|_| scrape(&keep)).collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let count = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let flood: Vec<_> = (0..4)
        .map(|_| {
            let (stop, count, ca, url) = (
                stop.clone(),
                count.clone(),
                ca.clone(),
                url.replace("/metrics", "/healthz"),
            );
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    // A new client each time: a new TLS handshake.
                    if tls_client(&ca).get(&url).call().is_ok() {
                        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let t = std::time::Instant::now();
    let mut during: Vec<f64> = (0..60).map(|_| scrape(&keep)).collect();
    let secs = t.elapsed().as_secs_f64();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for f in flood {
        f.join().unwrap();
    }
    let handshakes = count.load(std::sync::atomic::Ordering::Relaxed) as f64;
    let (b50, b99) = (percentile(&mut base, 0.5), percentile(&mut base, 0.99));
    let (d50, d99) = (percentile(&mut during, 0.5), percentile(&mut during, 0.99));
    eprintln!(
        "scrape latency over TLS: alone p50 {b50:.2} ms p99 {b99:.2} ms; during a flood of \
         {:.0} handshakes/s: p50 {d50:.2} ms p99 {d99:.2} ms",
        handshakes / secs.max(0.001)
    );
    assert!(handshakes > 0.0, "the flood made no handshakes");
    assert!(
        d99 < 2000.0,
        "a handshake flood stalled scrapes: p99 {d99:.0} ms"
    );
}

/// The relay reaches an exporter behind its own web config: node_exporter
/// over https with a private CA and bcrypt basic auth (`tls_config` and
/// `basic_auth` in `[[relay]]`).
#[test]
#[ignore = "needs node_exporter, openssl and htpasswd (tests/run.sh installs them)"]
fn relay_reaches_an_exporter_behind_tls_and_auth() {
    let dir = temp_dir("web-relay");
    make_ca(&dir, "ca");
    make_server_cert(&dir, "ca");
    let cfg = dir.join("web.yml");
    std::fs::write(
        &cfg,
        format!(
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\nbasic_auth_users:\n  relay: {}\n",
            htpasswd("relay-pw")
        ),
    )
    .unwrap();
    let ne = start_node_exporter(&[
        &format!("--web.config.file={}", cfg.display()),
        "--collector.disable-defaults",
        "--collector.loadavg",
    ]);
    std::fs::write(dir.join("pw"), "relay-pw\n").unwrap();
    let agent_cfg = dir.join("agent.toml");
    std::fs::write(
        &agent_cfg,
        format!(
            "[[relay]]\nurl = \"https://{}/metrics\"\njob = \"ne\"\n\
             basic_auth = {{ username = \"relay\", password_file = \"{}\" }}\n\
             tls_config = {{ ca_file = \"{}\" }}\n",
            localhost(&ne.addr),
            dir.join("pw").display(),
            dir.join("ca.pem").display()
        ),
    )
    .unwrap();
    let pk = start_picket(&[
        &format!("--config.file={}", agent_cfg.display()),
        "--collector.disable-defaults",
        "--collector.relay",
    ]);
    let text = get(&pk.addr, "/metrics").unwrap().text();
    assert!(text.contains("picket_relay_up{instance=\""), "{text}");
    let up = text
        .lines()
        .find(|l| l.starts_with("picket_relay_up{"))
        .unwrap_or("");
    assert!(up.ends_with(" 1"), "{up}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("node_load1{") && l.contains("job=\"ne\"")),
        "{text}"
    );
}

/// `promtool check web-config` (Prometheus 2.42, exporter-toolkit 0.8.2)
/// and picket accept and refuse the same web config files.
///
/// Known differences, by design (each case says which side refuses):
/// - TLS 1.0/1.1, the CBC and RSA-key-exchange suites and P-521: Go has
///   them, rustls does not; picket refuses them at start rather than serve
///   something other than what the file asks for.
/// - `rate_limit`: exporter-toolkit 0.15's key; 0.8.2 does not know it.
/// - Unreadable certificate files: promtool checks only the YAML and the
///   key pairs' presence; picket reads the files at start (tested above).
#[test]
#[ignore = "needs promtool and htpasswd (tests/run.sh installs them)"]
fn web_configs_accepted_and_refused_as_promtool_does() {
    require("promtool");
    let dir = temp_dir("web-promtool");
    make_ca(&dir, "ca");
    make_server_cert(&dir, "ca");
    let hash = htpasswd("x");
    let tls = "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n";
    // (file text, promtool accepts, picket accepts)
    let cases: Vec<(String, bool, bool)> = vec![
        (String::new(), true, true),
        (tls.into(), true, true),
        (format!("basic_auth_users:\n  alice: {hash}\n"), true, true),
        (format!("{tls}basic_auth_users:\n  alice: {hash}\n  'bob': \"{hash}\"\n"), true, true),
        (format!("{tls}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n"), true, true),
        (format!("{tls}  client_auth_type: RequireAnyClientCert\n"), true, true),
        (format!("{tls}  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.pem\n"), true, true),
        (format!("{tls}  min_version: TLS13\n  max_version: TLS13\n"), true, true),
        (format!("{tls}  cipher_suites:\n    - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\n    - TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256\n"), true, true),
        (format!("{tls}  curve_preferences: [X25519, CurveP256, CurveP384]\n"), true, true),
        (format!("{tls}  prefer_server_cipher_suites: false\n"), true, true),
        ("http_server_config:\n  http2: false\n  headers:\n    X-Frame-Options: sameorigin\n    Strict-Transport-Security: max-age=1\n".into(), true, true),
        // Refused by both.
        ("tls_server_config:\n  cert_file: server.pem\n".into(), false, false),
        (format!("{tls}  client_ca_file: ca.pem\n"), false, false),
        (format!("{tls}  client_auth_type: Sometimes\n"), false, false),
        (format!("{tls}  min_version: TLS14\n"), false, false),
        (format!("{tls}  cipher_suites: [TLS_FOO]\n"), false, false),
        (format!("{tls}  cipher_suites: [TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305]\n"), false, false),
        (format!("{tls}  curve_preferences: [CurveP999]\n"), false, false),
        ("http_server_config:\n  headers:\n    X-Foo: bar\n".into(), false, false),
        ("http_server_config:\n  headers:\n    X-Frame-Options: allow\n".into(), false, false),
        ("basic_auth_users:\n  alice: secret\n".into(), false, false),
        ("unknown_key: 1\n".into(), false, false),
        ("tls_server_config:\n  cert_file: [\n".into(), false, false),
        (format!("{tls}  cert_fil: x\n"), false, false),
        // Known differences (see above).
        (format!("{tls}  min_version: TLS10\n"), true, false),
        (format!("{tls}  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]\n"), true, false),
        (format!("{tls}  curve_preferences: [CurveP521]\n"), true, false),
        ("rate_limit:\n  interval: 1s\n  burst: 5\n".into(), false, true),
    ];
    for (i, (text, promtool_ok, picket_ok)) in cases.iter().enumerate() {
        let f = dir.join(format!("web{i}.yml"));
        std::fs::write(&f, text).unwrap();
        let p = Command::new("promtool")
            .args(["check", "web-config"])
            .arg(&f)
            .output()
            .unwrap();
        let k = picket(&[
            &format!("--web.config.file={}", f.display()),
            "check-config",
            "/dev/null",
        ]);
        assert_eq!(
            p.status.success(),
            *promtool_ok,
            "promtool on case {i}:\n{text}\n{}{}",
            String::from_utf8_lossy(&p.stdout),
            String::from_utf8_lossy(&p.stderr)
        );
        assert_eq!(
            k.status.success(),
            *picket_ok,
            "picket on case {i}:\n{text}\n{}",
            String::from_utf8_lossy(&k.stderr)
        );
        if !picket_ok {
            // Refusals name the file.
            let err = String::from_utf8_lossy(&k.stderr);
            assert!(err.contains(&f.display().to_string()), "case {i}: {err}");
        }
    }
}
