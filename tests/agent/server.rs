//! The HTTP side of the agent, through the real binary on loopback.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::util::{get, raw, start_picket};

/// Collectors that need nothing from the machine beyond /proc basics.
const LIGHT: &[&str] = &[
    "--collector.disable-defaults",
    "--collector.loadavg",
    "--collector.meminfo",
];

#[test]
fn metrics_are_served_as_text_0_0_4() {
    let p = start_picket(LIGHT);
    let r = get(&p.addr, "/metrics").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = r.text();
    assert!(
        text.contains("# TYPE node_load1 gauge\nnode_load1 "),
        "{text}"
    );
    assert!(text.contains("node_scrape_collector_success{collector=\"loadavg\"} 1"));
    assert!(text.contains("process_resident_memory_bytes "));
    assert!(text.contains("picket_build_info{"));
}

#[test]
fn gzip_when_asked() {
    let p = start_picket(LIGHT);
    let req =
        "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"
            .to_string();
    let r = raw(&p.addr, req.as_bytes()).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    let mut text = String::new();
    flate2::read::GzDecoder::new(&r.body[..])
        .read_to_string(&mut text)
        .unwrap();
    assert!(text.contains("node_load1 "), "{text}");
    // gzip;q=0 means no gzip.
    let req = "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip;q=0\r\nConnection: close\r\n\r\n";
    let r = raw(&p.addr, req.as_bytes()).unwrap();
    assert_eq!(r.header("content-encoding"), None);
}

#[test]
fn landing_health_404_405() {
    let p = start_picket(LIGHT);
    let r = get(&p.addr, "/").unwrap();
    assert_eq!(r.status, 200);
    assert!(r.text().contains("href=\"/metrics\""));
    assert_eq!(get(&p.addr, "/healthz").unwrap().status, 200);
    assert_eq!(get(&p.addr, "/nope").unwrap().status, 404);
    let r = raw(
        &p.addr,
        b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
    )
    .unwrap();
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
}

#[test]
fn custom_telemetry_path() {
    let mut args = LIGHT.to_vec();
    args.push("--web.telemetry-path=/node");
    let p = start_picket(&args);
    assert_eq!(get(&p.addr, "/metrics").unwrap().status, 404);
    assert!(get(&p.addr, "/node").unwrap().text().contains("node_load1"));
}

#[test]
fn collect_and_exclude_filters_like_node_exporter() {
    let p = start_picket(LIGHT);
    let r = get(&p.addr, "/metrics?collect%5B%5D=loadavg").unwrap();
    let t = r.text();
    assert!(t.contains("node_load1"));
    assert!(!t.contains("node_memory_"), "meminfo filtered out");
    let t = get(&p.addr, "/metrics?collect[]=loadavg&collect[]=meminfo")
        .unwrap()
        .text();
    assert!(t.contains("node_load1") && t.contains("node_memory_MemTotal_bytes"));
    let t = get(&p.addr, "/metrics?exclude[]=loadavg").unwrap().text();
    assert!(!t.contains("node_load1") && t.contains("node_memory_MemTotal_bytes"));
    let r = get(&p.addr, "/metrics?collect[]=cpu").unwrap();
    assert_eq!(r.status, 400, "cpu is not enabled here");
    assert!(r.text().contains("missing collector: cpu"));
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let p = start_picket(LIGHT);
    let mut s = TcpStream::connect(&p.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    for _ in 0..3 {
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut buf = [0u8; 256];
        let n = s.read(&mut buf).unwrap();
        let r = crate::util::parse_response(&buf[..n]).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"OK\n");
    }
}

#[test]
fn malformed_and_oversized_requests_get_4xx_and_the_server_carries_on() {
    let p = start_picket(LIGHT);
    let r = raw(&p.addr, b"GARBAGE\x00\x01 / HTTP/9\r\n\r\n").unwrap();
    assert_eq!(r.status, 400);
    let mut big = b"GET /metrics HTTP/1.1\r\n".to_vec();
    for i in 0..2000 {
        big.extend_from_slice(format!("X-Filler-{i}: aaaaaaaaaaaaaaaaaaaaaaa\r\n").as_bytes());
    }
    big.extend_from_slice(b"\r\n");
    let r = raw(&p.addr, &big).unwrap();
    assert_eq!(r.status, 431);
    let r = raw(
        &p.addr,
        b"GET /metrics HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(get(&p.addr, "/metrics").unwrap().status, 200);
}

#[test]
fn a_slow_client_does_not_block_other_scrapers() {
    let p = start_picket(LIGHT);
    // Several clients that open a connection and send half a request.
    let mut stalled = Vec::new();
    for _ in 0..5 {
        let mut s = TcpStream::connect(&p.addr).unwrap();
        s.write_all(b"GET /metr").unwrap();
        stalled.push(s);
    }
    let start = Instant::now();
    for _ in 0..5 {
        assert_eq!(get(&p.addr, "/metrics").unwrap().status, 200);
    }
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "scrapes waited on stalled clients"
    );
}

#[test]
fn idle_connections_are_closed_after_the_read_timeout() {
    let dir = crate::util::temp_dir("timeout");
    let cfg = dir.join("agent.toml");
    std::fs::write(&cfg, "[web]\nread_timeout_seconds = 1\n").unwrap();
    let mut args = LIGHT.to_vec();
    let cfg_s = cfg.to_str().unwrap().to_string();
    args.push("--config.file");
    args.push(&cfg_s);
    let p = start_picket(&args);
    let mut s = TcpStream::connect(&p.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /").unwrap();
    let start = Instant::now();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(800) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}

#[test]
fn concurrent_scrapes_all_succeed() {
    let p = start_picket(LIGHT);
    let addr = p.addr.clone();
    let handles: Vec<_> = (0..16)
        .map(|_| {
            let a = addr.clone();
            std::thread::spawn(move || {
                (0..10)
                    .map(|_| get(&a, "/metrics").map(|r| r.status).unwrap_or(0))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for h in handles {
        assert!(h.join().unwrap().iter().all(|&s| s == 200));
    }
}

#[test]
fn listen_failure_is_exit_1_with_a_message() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let out = crate::util::picket(&[&format!("--web.listen-address={addr}")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen on"));
}
