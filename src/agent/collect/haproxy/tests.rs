//! The HAProxy collector on fixture bodies served by in-process fake
//! HTTP and socket servers: the same series as the real haproxy_exporter
//! 0.14 gave for the same CSV (tests/fixtures/haproxy/*.exporter-0.14.prom),
//! and bad input (truncated, garbled, old, empty, 401/500, hanging) giving a
//! clear error, the rows that parsed, and no panic.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;
use crate::collect::{Options, Root};
use crate::config::testing::{loc, parts};

fn fixture(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/haproxy")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Targets as `[[haproxy]]` tables with these URIs, `edit` applied to each.
fn targets(uris: &[&str], edit: impl Fn(&mut Section)) -> Vec<Arc<Target>> {
    let sections: Vec<Section> = uris
        .iter()
        .map(|u| {
            let mut s = Section {
                scrape_uri: Some(u.to_string()),
                timeout: Some("2s".into()),
                ..Section::default()
            };
            edit(&mut s);
            s
        })
        .collect();
    resolve(&sections, &Flags::default(), &loc()).expect("valid targets")
}

/// Runs the collector once on `targets`.
fn run(targets: &[Arc<Target>]) -> (Result<(), CollectError>, Vec<Sample>) {
    let opts = Options {
        haproxy: targets.to_vec(),
        ..Options::default()
    };
    let root = Root::default();
    let ctx = Ctx {
        root: &root,
        opts: &opts,
    };
    let mut samples = Vec::new();
    let r = update(&ctx, &mut Out::new(&mut samples));
    (r, samples)
}

/// `name{a="x",b="y"}` → value.
fn series(samples: &[Sample]) -> BTreeMap<String, f64> {
    samples
        .iter()
        .map(|s| {
            let l: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
            (format!("{}{{{}}}", s.name, l.join(",")), s.value)
        })
        .collect()
}

fn value(samples: &[Sample], key: &str) -> Option<f64> {
    series(samples).get(key).copied()
}

fn err_text(r: &Result<(), CollectError>) -> String {
    match r {
        Ok(()) => String::new(),
        Err(e) => e.to_string(),
    }
}

/// An HTTP server answering every request with `reply(request head)`;
/// the request heads are kept.
fn http_server(
    reply: impl Fn(&str) -> Vec<u8> + Send + Sync + 'static,
) -> (String, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let reply = Arc::new(reply);
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            let (reply, seen) = (reply.clone(), seen2.clone());
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut b = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match c.read(&mut b) {
                        Ok(1) => head.push(b[0]),
                        _ => return,
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let out = reply(&head);
                seen.lock().unwrap().push(head);
                let _ = c.write_all(&out);
            });
        }
    });
    (addr, seen)
}

fn ok_response(body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

fn status_response(code: &str) -> Vec<u8> {
    format!("HTTP/1.1 {code}\r\nContent-Length: 5\r\nConnection: close\r\n\r\nnope\n").into_bytes()
}

/// A stats socket in a temp dir, removed on drop.
struct Sock {
    dir: PathBuf,
    path: PathBuf,
}

impl Drop for Sock {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A stats socket answering each command with `reply(command)`; the
/// commands are kept.
fn unix_server(
    reply: impl Fn(&str) -> Vec<u8> + Send + 'static,
) -> (Sock, Arc<Mutex<Vec<String>>>) {
    let dir = std::env::temp_dir().join(format!(
        "picket-haproxy-unit-{}-{:?}",
        std::process::id(),
        Instant::now()
    ));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("admin.sock");
    let l = UnixListener::bind(&path).expect("bind");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            let mut cmd = Vec::new();
            let mut b = [0u8; 1];
            while !cmd.ends_with(b"\n") {
                match c.read(&mut b) {
                    Ok(1) => cmd.push(b[0]),
                    _ => break,
                }
            }
            // As HAProxy's non-interactive mode: `;`-separated commands in
            // turn, each answer ended by an empty line.
            let line = String::from_utf8_lossy(&cmd).into_owned();
            for one in line.trim_end_matches('\n').split(';') {
                let one = format!("{one}\n");
                let mut answer = reply(&one);
                while !answer.ends_with(b"\n\n") {
                    answer.push(b'\n');
                }
                if c.write_all(&answer).is_err() {
                    break;
                }
                seen2.lock().unwrap().push(one);
            }
        }
    });
    (Sock { dir, path }, seen)
}

/// The exporter's series for a fixture CSV, as it served them.
fn exporter_series(prom: &str) -> Vec<Sample> {
    let text = String::from_utf8(fixture(prom)).expect("utf-8");
    picket_core::decode::text::parse(&text).expect("exposition")
}

/// Serves `csv` over HTTP and checks that picket gives exactly the series,
/// values, types and help texts the real exporter gave for it.
fn same_as_exporter(csv: &str, prom: &str) -> (Result<(), CollectError>, Vec<Sample>) {
    let body = fixture(csv);
    let (addr, _) = http_server(move |_| ok_response(&body));
    let t = targets(&[&format!("http://{addr}/;csv")], |_| {});
    let (r, ours) = run(&t);
    let theirs = exporter_series(prom);
    let (o, th) = (series(&ours), series(&theirs));
    let missing: Vec<_> = th.keys().filter(|k| !o.contains_key(*k)).collect();
    let extra: Vec<_> = o.keys().filter(|k| !th.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{csv}: missing {missing:?}, extra {extra:?}"
    );
    for (k, v) in &th {
        assert_eq!(o[k], *v, "{csv}: {k}");
    }
    for s in &theirs {
        let mine = ours.iter().find(|m| m.name == s.name).expect("family");
        assert_eq!(mine.kind, s.kind, "{csv}: type of {}", s.name);
        assert_eq!(mine.help, s.help, "{csv}: help of {}", s.name);
    }
    (r, ours)
}

#[test]
fn a_real_2_6_csv_gives_what_the_exporter_gave() {
    let (r, s) = same_as_exporter("show-stat-2.6.csv", "show-stat-2.6.exporter-0.14.prom");
    assert!(r.is_ok(), "{}", err_text(&r));
    // Spot checks of the mapping itself.
    assert_eq!(value(&s, "haproxy_up{}"), Some(1.0));
    assert_eq!(
        value(&s, r#"haproxy_server_up{backend="app",server="up1"}"#),
        Some(1.0)
    );
    assert_eq!(
        value(&s, r#"haproxy_server_up{backend="app",server="down1"}"#),
        Some(0.0)
    );
    assert_eq!(
        value(&s, r#"haproxy_server_up{backend="app",server="maint1"}"#),
        Some(0.0)
    );
    assert_eq!(
        value(&s, r#"haproxy_server_up{backend="other",server="s1"}"#),
        Some(1.0),
        "no check counts as up"
    );
    // The type-3 listener row (sockstats/sock-1) gives nothing.
    assert!(s
        .iter()
        .all(|x| x.labels.iter().all(|(_, v)| v != "sock-1")));
    // An empty cell gives no series: s1 has no check, so no check duration.
    assert_eq!(
        value(
            &s,
            r#"haproxy_server_check_duration_seconds{backend="other",server="s1"}"#
        ),
        None
    );
}

#[test]
fn an_old_1_5_csv_gives_what_the_exporter_gave() {
    let (r, s) = same_as_exporter("stat-1.5.csv", "stat-1.5.exporter-0.14.prom");
    assert!(r.is_ok(), "{}", err_text(&r));
    // No conn_tot column (79) in 1.5: no haproxy_frontend_connections_total.
    assert!(s
        .iter()
        .all(|x| x.name != "haproxy_frontend_connections_total"));
    // Milliseconds become seconds; 1.5-era states map as the exporter maps them.
    assert_eq!(
        value(
            &s,
            r#"haproxy_server_http_total_time_average_seconds{backend="app",server="up1"}"#
        ),
        Some(0.015)
    );
    assert_eq!(
        value(
            &s,
            r#"haproxy_server_check_duration_seconds{backend="app",server="up1"}"#
        ),
        Some(0.003)
    );
    for (server, up) in [
        (r#"backend="app",server="up1""#, 1.0),      // UP 1/3
        (r#"backend="app",server="down1""#, 0.0),    // DOWN 1/2
        (r#"backend="app",server="maint1""#, 0.0),   // MAINT(via)
        (r#"backend="other",server="s1""#, 0.0),     // NOLB
        (r#"backend="sockstats",server="s2""#, 1.0), // DRAIN
    ] {
        assert_eq!(
            value(&s, &format!("haproxy_server_up{{{server}}}")),
            Some(up),
            "{server}"
        );
    }
}

#[test]
fn a_garbled_csv_keeps_its_good_rows_and_counts_failures_as_the_exporter() {
    let (r, s) = same_as_exporter("stat-garbled.csv", "stat-garbled.exporter-0.14.prom");
    assert_eq!(
        value(&s, "haproxy_exporter_csv_parse_failures_total{}"),
        Some(7.0)
    );
    assert_eq!(value(&s, "haproxy_up{}"), Some(1.0));
    let e = err_text(&r);
    assert!(e.contains("7 CSV parse failures"), "{e}");
    assert!(e.contains("line 3, column 3: bare \""), "{e}");
    // A bad cell costs that cell only; a quoted name keeps its comma.
    assert_eq!(
        value(&s, r#"haproxy_server_weight{backend="app",server="up1"}"#),
        Some(1.0)
    );
    assert_eq!(
        value(
            &s,
            r#"haproxy_server_current_sessions{backend="app",server="up1"}"#
        ),
        None
    );
    assert_eq!(
        value(&s, r#"haproxy_backend_up{backend="app,one"}"#),
        Some(1.0)
    );
}

#[test]
fn a_truncated_csv_keeps_its_complete_rows() {
    let (r, s) = same_as_exporter("stat-truncated.csv", "stat-truncated.exporter-0.14.prom");
    let e = err_text(&r);
    assert!(
        e.contains("1 CSV parse failure: line 8: wrong number of fields"),
        "{e}"
    );
    assert_eq!(value(&s, r#"haproxy_backend_up{backend="app"}"#), Some(1.0));
    assert!(s.iter().all(|x| x.labels.get("backend") != Some("other")));
}

#[test]
fn a_body_cut_by_the_connection_keeps_complete_rows_and_is_down() {
    // Content-Length promises more than is sent, then the server closes:
    // the exporter keeps the rows read so far and reports up 0; so do we.
    let body = fixture("show-stat-2.6.csv");
    let (addr, _) = http_server(move |_| {
        let mut r = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len() + 1000
        )
        .into_bytes();
        r.extend_from_slice(&body[..body.len() / 2]);
        r
    });
    let (r, s) = run(&targets(&[&format!("http://{addr}/;csv")], |_| {}));
    let e = err_text(&r);
    assert!(e.contains("reading the response"), "{e}");
    assert_eq!(value(&s, "haproxy_up{}"), Some(0.0));
    assert_eq!(
        value(&s, r#"haproxy_frontend_current_sessions{frontend="stats"}"#),
        Some(2.0)
    );
    // The half row at the cut is not parsed at all: no failure for it.
    assert_eq!(
        value(&s, "haproxy_exporter_csv_parse_failures_total{}"),
        Some(0.0)
    );
}

#[test]
fn empty_html_and_short_bodies_are_down_with_a_clear_error() {
    for (body, want, failures) in [
        ("", "empty response", 0.0),
        ("\r\n\n", "empty response", 0.0),
        (
            "<html><body>Statistics Report</body></html>\n",
            "not HAProxy CSV stats",
            1.0,
        ),
        // Rows of fewer than 33 fields are parse failures, as there.
        (
            "a,b,c\nd,e,f\n",
            "2 CSV parse failures: line 1: 3 fields",
            2.0,
        ),
    ] {
        let b = body.as_bytes().to_vec();
        let (addr, _) = http_server(move |_| ok_response(&b));
        let (r, s) = run(&targets(&[&format!("http://{addr}/;csv")], |_| {}));
        let e = err_text(&r);
        assert!(e.contains(want), "{body:?}: {e}");
        assert_eq!(value(&s, "haproxy_up{}"), Some(0.0), "{body:?}");
        assert_eq!(
            value(&s, "haproxy_exporter_csv_parse_failures_total{}"),
            Some(failures)
        );
        assert_eq!(s.len(), 3, "{body:?}: only the three meta series");
    }
}

#[test]
fn http_errors_and_basic_auth() {
    let csv = fixture("show-stat-2.6.csv");
    let (addr, seen) = http_server(move |head| {
        if head.starts_with("GET /fail") {
            status_response("500 Internal Server Error")
        } else if head
            .to_ascii_lowercase()
            .contains("authorization: basic dxnlcjpzm2nym3qtchc=")
        {
            ok_response(&csv)
        } else {
            status_response("401 Unauthorized")
        }
    });
    let good = format!("http://user:s3cr3t-pw@{addr}/stats;csv");
    let (r, s) = run(&targets(&[&good], |_| {}));
    assert!(r.is_ok(), "{}", err_text(&r));
    assert_eq!(value(&s, "haproxy_up{}"), Some(1.0));
    let head = seen.lock().unwrap()[0].clone();
    assert!(head.starts_with("GET /stats;csv HTTP/1.1\r\n"), "{head}");
    assert!(!head.contains("s3cr3t-pw@"), "{head}");

    let wrong = format!("http://user:wrong-pw@{addr}/stats;csv");
    let fail = format!("http://user:s3cr3t-pw@{addr}/fail;csv");
    for (uri, code) in [(&wrong, "401"), (&fail, "500")] {
        let t = targets(&[uri], |_| {});
        let (r, s) = run(&t);
        let e = err_text(&r);
        assert!(e.contains(&format!("HTTP status {code}")), "{e}");
        assert!(e.contains("user:xxxxx@"), "{e}");
        assert!(!e.contains("-pw"), "password in the error: {e}");
        assert_eq!(value(&s, "haproxy_up{}"), Some(0.0));
        assert_eq!(s.len(), 3);
        // The counters go on from scrape to scrape.
        let (_, s) = run(&t);
        assert_eq!(value(&s, "haproxy_exporter_scrapes_total{}"), Some(2.0));
    }
}

#[test]
fn a_dead_or_hanging_haproxy_is_down_within_the_timeout() {
    // Nothing listens there.
    let closed = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port");
    let (r, s) = run(&targets(&[&format!("http://{closed}/;csv")], |_| {}));
    assert!(err_text(&r).starts_with(&format!("http://{closed}/;csv: ")));
    assert_eq!(value(&s, "haproxy_up{}"), Some(0.0));

    // Accepts, never answers.
    let hang = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = hang.local_addr().expect("addr");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in hang.incoming() {
            held.push(c);
        }
    });
    for uri in [format!("http://{addr}/;csv"), format!("tcp://{addr}")] {
        let t = targets(&[&uri], |s| s.timeout = Some("400ms".into()));
        for _ in 0..3 {
            let start = Instant::now();
            let (r, s) = run(&t);
            let took = start.elapsed();
            assert!(took < Duration::from_millis(900), "{uri}: {took:?}");
            assert!(r.is_err());
            assert_eq!(value(&s, "haproxy_up{}"), Some(0.0), "{uri}");
        }
    }
}

#[test]
fn concurrent_scrapes_of_one_target_take_turns() {
    let csv = fixture("show-stat-2.6.csv");
    let (addr, _) = http_server(move |_| {
        std::thread::sleep(Duration::from_millis(150));
        ok_response(&csv)
    });
    let t = targets(&[&format!("http://{addr}/;csv")], |_| {});
    let runs: Vec<_> = (0..3)
        .map(|_| {
            let t = t.clone();
            std::thread::spawn(move || run(&t))
        })
        .collect();
    for h in runs {
        let (r, s) = h.join().expect("join");
        assert!(r.is_ok(), "{}", err_text(&r));
        assert_eq!(value(&s, "haproxy_up{}"), Some(1.0));
    }
    let (_, s) = run(&t);
    assert_eq!(value(&s, "haproxy_exporter_scrapes_total{}"), Some(4.0));
}

#[test]
fn the_stats_socket_gives_version_and_idle_time() {
    let (stat, info) = (fixture("show-stat-2.6.csv"), fixture("show-info-2.6.txt"));
    let (sock, seen) = unix_server(move |cmd| match cmd {
        "show info\n" => info.clone(),
        "show stat\n" => stat.clone(),
        _ => b"Unknown command.\n".to_vec(),
    });
    let uri = format!("unix:{}", sock.path.display());
    let (r, s) = run(&targets(&[&uri], |_| {}));
    assert!(r.is_ok(), "{}", err_text(&r));
    assert_eq!(
        *seen.lock().unwrap(),
        vec!["show info\n".to_string(), "show stat\n".to_string()]
    );
    assert_eq!(value(&s, "haproxy_up{}"), Some(1.0));
    assert_eq!(
        value(
            &s,
            r#"haproxy_version_info{release_date="2026/10/17",version="2.6.12-1+deb12u4"}"#
        ),
        Some(1.0)
    );
    assert_eq!(value(&s, "haproxy_process_idle_time_percent{}"), Some(99.0));
    // The same series as over HTTP, plus the two from show info.
    let (_, http) = same_as_exporter("show-stat-2.6.csv", "show-stat-2.6.exporter-0.14.prom");
    assert_eq!(s.len(), http.len() + 2);

    // A socket that refuses `show stat` (level too low): down, with the answer.
    let (sock, _) = unix_server(|cmd| match cmd {
        "show info\n" => b"Name: HAProxy\nVersion: 2.6\nIdle_pct: 250\n".to_vec(),
        _ => b"Permission denied\n".to_vec(),
    });
    let (r, s) = run(&targets(
        &[&format!("unix://{}", sock.path.display())],
        |_| {},
    ));
    assert!(
        err_text(&r).contains("\"Permission denied\""),
        "{}",
        err_text(&r)
    );
    assert_eq!(value(&s, "haproxy_up{}"), Some(0.0));
    assert_eq!(
        value(&s, r#"haproxy_version_info{release_date="",version="2.6"}"#),
        Some(1.0)
    );
    assert_eq!(value(&s, "haproxy_process_idle_time_percent{}"), None);

    // No socket: show info fails, so the scrape does, as the exporter's.
    let (r, s) = run(&targets(&["unix:/nonexistent/haproxy.sock"], |_| {}));
    assert!(
        err_text(&r).starts_with("unix:/nonexistent/haproxy.sock: show info: connect:"),
        "{}",
        err_text(&r)
    );
    assert_eq!(value(&s, "haproxy_up{}"), Some(0.0));
    assert_eq!(s.len(), 3);
}

#[test]
fn server_filters_work_as_the_exporter_flags() {
    let body = fixture("show-stat-2.6.csv");
    let (addr, _) = http_server(move |_| ok_response(&body));
    let uri = format!("http://{addr}/;csv");
    let t = targets(&[&uri], |s| {
        s.server_metric_fields = Some("17, 18,999".into());
        s.server_exclude_states = Some("maint,DOWN".into());
    });
    let (r, s) = run(&t);
    assert!(r.is_ok(), "{}", err_text(&r));
    let servers: BTreeMap<String, f64> = series(&s)
        .into_iter()
        .filter(|(k, _)| k.starts_with("haproxy_server_"))
        .collect();
    let names: Vec<&str> = servers.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            r#"haproxy_server_up{backend="app",server="up1"}"#,
            r#"haproxy_server_up{backend="other",server="s1"}"#,
            r#"haproxy_server_up{backend="sockstats",server="s2"}"#,
            r#"haproxy_server_weight{backend="app",server="up1"}"#,
            r#"haproxy_server_weight{backend="other",server="s1"}"#,
            r#"haproxy_server_weight{backend="sockstats",server="s2"}"#,
        ]
    );
    // Frontends and backends are not filtered.
    assert_eq!(value(&s, r#"haproxy_backend_up{backend="app"}"#), Some(1.0));
}

#[test]
fn several_targets_are_told_apart_by_a_label_and_fail_alone() {
    let body = fixture("show-stat-2.6.csv");
    let (addr, _) = http_server(move |_| ok_response(&body));
    let closed = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port");
    let good = format!("http://u:pw@{addr}/;csv");
    let bad = format!("tcp://{closed}");
    let t = targets(&[&good, &bad], |_| {});
    let (r, s) = run(&t);
    let e = err_text(&r);
    assert!(
        e.starts_with(&format!("tcp://{closed}: show info: connect:")),
        "{e}"
    );
    assert!(!e.contains(&addr), "{e}");
    assert!(s.iter().all(|x| x.labels.get(TARGET_LABEL).is_some()));
    let good_label = format!("http://u:xxxxx@{addr}/;csv");
    assert_eq!(
        value(&s, &format!("haproxy_up{{scrape_uri={good_label:?}}}")),
        Some(1.0)
    );
    assert_eq!(
        value(&s, &format!("haproxy_up{{scrape_uri={bad:?}}}")),
        Some(0.0)
    );
    // The same URI twice stays two targets.
    let t = targets(&[&good, &good], |_| {});
    assert_eq!(
        t[0].label.as_deref(),
        Some(format!("{good_label}#1").as_str())
    );
    assert_eq!(
        t[1].label.as_deref(),
        Some(format!("{good_label}#2").as_str())
    );
    // One target has no extra label.
    assert_eq!(targets(&[&good], |_| {})[0].label, None);
}

#[test]
fn config_errors_name_the_key_and_hide_the_password() {
    let bad = |s: Section| {
        resolve(&[s], &Flags::default(), &loc())
            .map(|_| ())
            .map_err(parts)
            .unwrap_err()
    };
    let (k, m, flag) = bad(Section {
        scrape_uri: Some("ftp://u:secret@h/".into()),
        ..Section::default()
    });
    assert_eq!((k.as_str(), flag), ("haproxy[0].scrape_uri", false));
    assert!(m.contains("u:xxxxx@") && !m.contains("secret"), "{m}");
    let (k, m, _) = bad(Section {
        scrape_uri: Some("http://u:secret@/;csv".into()),
        ..Section::default()
    });
    assert_eq!(k, "haproxy[0].scrape_uri");
    assert!(!m.contains("secret"), "{m}");
    let (k, _, _) = bad(Section {
        scrape_uri: Some("unix:/x".into()),
        server_metric_fields: Some("2,x".into()),
        ..Section::default()
    });
    assert_eq!(k, "haproxy[0].server_metric_fields");
    let flags = Flags {
        scrape_uri: vec!["unix:/x".into()],
        timeout: Some("0s".into()),
        ..Flags::default()
    };
    let (k, _, flag) = resolve(&[], &flags, &loc())
        .map(|_| ())
        .map_err(parts)
        .unwrap_err();
    assert_eq!((k.as_str(), flag), ("--haproxy.timeout", true));
}

#[test]
fn status_mapping_is_the_exporters_to_the_letter() {
    for s in ["UP", "UP 1/3", "UP 2/3", "OPEN", "no check", "DRAIN"] {
        assert_eq!(status_up(s), 1.0, "{s}");
    }
    for s in [
        "DOWN",
        "DOWN 1/2",
        "NOLB",
        "MAINT",
        "MAINT(via)",
        "MAINT(resolution)",
        "UP 1/2",
        "up",
        "",
        "\u{fffd}",
    ] {
        assert_eq!(status_up(s), 0.0, "{s}");
    }
}

#[test]
fn garbage_bodies_never_panic() {
    let t = targets(&["unix:/x"], |s| {
        s.server_exclude_states = Some(String::new())
    });
    let filter = RowFilter {
        server_fields: t[0].server_metric_fields.as_deref(),
        exclude: &t[0].server_exclude_states,
    };
    let real = fixture("show-stat-2.6.csv");
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..300 {
        let mut body = real.clone();
        for _ in 0..(round % 20) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let i = (seed % body.len() as u64) as usize;
            body[i] = [b',', b'"', b'\n', b'x', 0xff, b'2', b'#'][(seed >> 32) as usize % 7];
        }
        body.truncate((seed >> 20) as usize % (body.len() + 1));
        let mut samples = Vec::new();
        let mut em = Emit {
            out: Out::new(&mut samples),
            target: None,
        };
        let p = parse_stat(&body, &filter, &mut em);
        assert!(p.reported.len() <= MAX_REPORTED);
        emit_info(&mut em, &body);
    }
}
