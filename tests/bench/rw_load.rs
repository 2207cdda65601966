//! remote_write load generator for tests/bench/hub.sh: the same request
//! stream for picket-hub and for a real Prometheus receiver.
//!
//! ```text
//! rw-load gen  OUT TEMPLATE_A TEMPLATE_B GAP_S BOARDS START_MS POINTS [PER_REQ]
//! rw-load send IN URL CONNS
//! rw-load sizes IN
//! ```
//!
//! `gen` shapes series on a real node_exporter: TEMPLATE_A and TEMPLATE_B
//! are two of its scrapes GAP_S seconds apart. Each series keeps its labels
//! (plus `job="node"` and `instance="board-N:9100"` for BOARDS boards) and
//! its behaviour between the two scrapes: unchanged → constant; a counter
//! (or histogram/summary count, sum, bucket) → grows at its observed rate
//! with ±20% noise per step; a gauge that moved → a random walk of its
//! observed step. Values keep the decimal places the exporter gave them
//! (whole bytes stay whole, centiseconds stay centiseconds, Go's durations
//! stay whole nanoseconds), and whole values the power-of-two unit both
//! scrapes share (kB and pages of memory stay multiples of 1024 or 4096). POINTS samples per series
//! at 15 s from START_MS, with 0–5 ms of timestamp jitter as real scrapes
//! have. Requests hold one board's series × PER_REQ (10) consecutive
//! samples, in time order across boards, written as framed snappy bodies:
//! `u32 len, u32 samples, u32 board, body`.
//!
//! `send` replays the file to URL over CONNS keep-alive connections, each
//! board's requests in order on one connection (as one agent's queue),
//! time steps in lockstep across connections, and prints one JSON line: samples, requests, seconds, samples/s,
//! and responses by status. Bodies are made before the clock starts, so
//! only the receiver's work is timed.
//!
//! `sizes` encodes each series of the file as one chunk (as the hub's
//! daily compaction does) and prints what each metric name costs: where the
//! bytes per sample go.

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use picket_core::encode::remote_write::{compress, Label, PbSample, TimeSeries, WriteRequest};
use picket_core::metric::MetricType;

/// How one series evolves.
#[derive(Clone, Copy)]
enum Shape {
    Constant,
    /// Increase per 15 s step.
    Counter(f64),
    /// Typical step of a random walk.
    Gauge(f64),
}

struct Series {
    labels: Vec<Label>,
    shape: Shape,
    /// Decimal places the exporter's values have (`None`: full precision),
    /// kept so a centisecond counter stays one.
    decimals: Option<i32>,
    /// For whole values, the power-of-two unit they move in ([`unit`]).
    unit: f64,
    value: f64,
}

/// The fewest decimal places (up to 9) that write both values exactly, as
/// an exporter that counts in whole units, cs, ms, µs or ns produces them
/// (Go's `Duration.Seconds()`, behind every `*_duration_seconds`, is ns).
fn decimals(a: f64, b: f64) -> Option<i32> {
    (0..=9).find(|&d| {
        let m = 10f64.powi(d);
        [a, b]
            .iter()
            .all(|v| ((v * m).round() / m - v).abs() <= v.abs() * 1e-15)
    })
}

/// xorshift64*: deterministic noise, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The largest power of two (up to 64 Ki) dividing both whole values: the
/// kB of /proc/meminfo (×1024), the 4 KiB pages and the 8-byte-aligned
/// allocations behind memory gauges, which a random walk must keep.
fn unit(a: f64, b: f64) -> f64 {
    let mut u = 1.0;
    while u < 65536.0
        && [a, b]
            .iter()
            .all(|v| *v != 0.0 && (v / (2.0 * u)).fract() == 0.0)
    {
        u *= 2.0;
    }
    u
}

fn read_template(path: &str) -> Result<Vec<picket_core::metric::Sample>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    picket_core::decode::text::parse(&text).map_err(|e| format!("{path}: {e}"))
}

fn gen(args: &[String]) -> Result<(), String> {
    let [out, a, b, gap, boards, start, points, rest @ ..] = args else {
        return Err("gen OUT TEMPLATE_A TEMPLATE_B GAP_S BOARDS START_MS POINTS [PER_REQ]".into());
    };
    let num = |s: &String| s.parse::<i64>().map_err(|e| format!("{s}: {e}"));
    let (gap, boards, start, points) = (num(gap)? as f64, num(boards)?, num(start)?, num(points)?);
    let per_req = rest.first().map(num).transpose()?.unwrap_or(10).max(1);
    let first = read_template(a)?;
    let second = read_template(b)?;
    let key = |s: &picket_core::metric::Sample| {
        let mut k = s.series_name().into_owned();
        for (n, v) in s.labels.iter() {
            k.push_str(&format!(",{n}={v}"));
        }
        k
    };
    let later: std::collections::HashMap<String, f64> =
        second.iter().map(|s| (key(s), s.value)).collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut series = Vec::new();
    for board in 0..boards {
        for s in &first {
            if !s.value.is_finite() {
                continue;
            }
            let Some(&v2) = later.get(&key(s)) else {
                continue;
            };
            let delta = v2 - s.value;
            let counter = matches!(
                s.kind,
                MetricType::Counter | MetricType::Histogram | MetricType::Summary
            ) && s.labels.get("quantile").is_none();
            let shape = if delta == 0.0 {
                Shape::Constant
            } else if counter && delta > 0.0 {
                Shape::Counter(delta / gap * 15.0)
            } else {
                Shape::Gauge(delta.abs())
            };
            let mut labels = vec![Label {
                name: "__name__".into(),
                value: s.series_name().into_owned(),
            }];
            for (n, v) in s.labels.iter() {
                if n != "job" && n != "instance" {
                    labels.push(Label {
                        name: n.into(),
                        value: v.into(),
                    });
                }
            }
            labels.push(Label {
                name: "instance".into(),
                value: format!("board-{board}:9100"),
            });
            labels.push(Label {
                name: "job".into(),
                value: "node".into(),
            });
            labels.sort_by(|x, y| x.name.cmp(&y.name));
            series.push((
                board,
                Series {
                    labels,
                    shape,
                    decimals: decimals(s.value, v2),
                    unit: unit(s.value, v2),
                    value: s.value,
                },
            ));
        }
    }
    let file = std::fs::File::create(out).map_err(|e| format!("{out}: {e}"))?;
    let mut w = BufWriter::new(file);
    let mut total = 0u64;
    let mut requests = 0u64;
    let mut step = 0;
    while step < points {
        let n = per_req.min(points - step);
        for board in 0..boards {
            let mut req = WriteRequest::default();
            for (_, s) in series.iter_mut().filter(|(b, _)| *b == board) {
                let mut samples = Vec::with_capacity(n as usize);
                for i in step..step + n {
                    let jitter = (rng.next() % 6) as i64;
                    match s.shape {
                        Shape::Constant => {}
                        Shape::Counter(r) => s.value += r * (0.8 + 0.4 * rng.unit()),
                        Shape::Gauge(d) => s.value += d * (2.0 * rng.unit() - 1.0),
                    }
                    let mut v = s.value;
                    if let Some(d) = s.decimals {
                        let m = 10f64.powi(d);
                        v = (v * m).round() / m;
                    }
                    if s.decimals == Some(0) && s.unit > 1.0 {
                        v = (v / s.unit).round() * s.unit;
                    }
                    samples.push(PbSample {
                        value: v,
                        timestamp: start + i * 15_000 + jitter,
                    });
                }
                total += samples.len() as u64;
                req.timeseries.push(TimeSeries {
                    labels: s.labels.clone(),
                    samples,
                });
            }
            let body = compress(&prost::Message::encode_to_vec(&req));
            let count: usize = req.timeseries.iter().map(|t| t.samples.len()).sum();
            w.write_all(&(body.len() as u32).to_le_bytes())
                .and_then(|()| w.write_all(&(count as u32).to_le_bytes()))
                .and_then(|()| w.write_all(&(board as u32).to_le_bytes()))
                .and_then(|()| w.write_all(&body))
                .map_err(|e| format!("{out}: {e}"))?;
            requests += 1;
        }
        step += n;
    }
    w.flush().map_err(|e| format!("{out}: {e}"))?;
    println!(
        "{{\"series\":{},\"samples\":{total},\"requests\":{requests}}}",
        series.len()
    );
    Ok(())
}

/// One framed request: samples in it, board, body.
type Frame = (u32, u32, Vec<u8>);

/// Reads the framed bodies.
fn load(path: &str) -> Result<Vec<Frame>, String> {
    let mut all = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut all))
        .map_err(|e| format!("{path}: {e}"))?;
    let word = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let mut out = Vec::new();
    let mut rest = &all[..];
    while rest.len() >= 12 {
        let (len, n, board) = (word(rest) as usize, word(&rest[4..]), word(&rest[8..]));
        let body = rest
            .get(12..12 + len)
            .ok_or_else(|| format!("{path}: truncated"))?;
        out.push((n, board, body.to_vec()));
        rest = &rest[12 + len..];
    }
    Ok(out)
}

/// One POST on a kept connection; the status code.
fn post(
    conn: &mut Option<(TcpStream, BufReader<TcpStream>)>,
    addr: &str,
    path: &str,
    body: &[u8],
) -> Result<u16, String> {
    if conn.is_none() {
        let s = TcpStream::connect(addr).map_err(|e| format!("{addr}: {e}"))?;
        let _ = s.set_nodelay(true);
        let r = s.try_clone().map_err(|e| e.to_string())?;
        *conn = Some((s, BufReader::new(r)));
    }
    let Some((w, r)) = conn.as_mut() else {
        return Err("no connection".into());
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\nX-Prometheus-Remote-Write-Version: 0.1.0\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    w.write_all(head.as_bytes())
        .and_then(|()| w.write_all(body))
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    r.read_line(&mut line).map_err(|e| e.to_string())?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {line:?}"))?;
    let mut len = 0usize;
    let mut close = false;
    loop {
        line.clear();
        r.read_line(&mut line).map_err(|e| e.to_string())?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            let k = k.trim().to_ascii_lowercase();
            if k == "content-length" {
                len = v.trim().parse().unwrap_or(0);
            } else if k == "connection" && v.trim().eq_ignore_ascii_case("close") {
                close = true;
            }
        }
    }
    let mut sink = vec![0u8; len];
    r.read_exact(&mut sink).map_err(|e| e.to_string())?;
    if close {
        *conn = None;
    }
    Ok(status)
}

fn send(args: &[String]) -> Result<(), String> {
    let [input, url, conns] = args else {
        return Err("send IN URL CONNS".into());
    };
    let conns: usize = conns.parse().map_err(|e| format!("{conns}: {e}"))?;
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: http:// only"))?;
    let (addr, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let conns = conns.max(1);
    let bodies = Arc::new(load(input)?);
    let statuses = Arc::new(Mutex::new(std::collections::BTreeMap::<u16, u64>::new()));
    let boards = bodies.iter().map(|f| f.1 as usize + 1).max().unwrap_or(1);
    let barrier = Arc::new(std::sync::Barrier::new(conns));
    let started = Instant::now();
    let workers: Vec<_> = (0..conns)
        .map(|w| {
            let (bodies, statuses) = (bodies.clone(), statuses.clone());
            let (addr, path) = (addr.to_string(), path.to_string());
            let barrier = barrier.clone();
            std::thread::spawn(move || -> Result<(), String> {
                let mut conn = None;
                for step in bodies.chunks(boards) {
                    // Time steps in lockstep across connections: a
                    // receiver that refuses samples far behind its newest
                    // (Prometheus) sees no board left an hour behind.
                    barrier.wait();
                    let mine = step.iter().filter(|f| f.1 as usize % conns == w);
                    for (_, _, body) in mine {
                        let status = post(&mut conn, &addr, &path, body).or_else(|_| {
                            conn = None;
                            post(&mut conn, &addr, &path, body)
                        })?;
                        *statuses
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .entry(status)
                            .or_default() += 1;
                    }
                }
                Ok(())
            })
        })
        .collect();
    for w in workers {
        w.join().map_err(|_| "a sender panicked".to_string())??;
    }
    let secs = started.elapsed().as_secs_f64();
    let samples: u64 = bodies.iter().map(|f| u64::from(f.0)).sum();
    let statuses = statuses.lock().unwrap_or_else(|e| e.into_inner());
    let by: Vec<String> = statuses
        .iter()
        .map(|(k, v)| format!("\"{k}\":{v}"))
        .collect();
    println!(
        "{{\"samples\":{samples},\"requests\":{},\"seconds\":{secs:.3},\"rate\":{:.0},\"status\":{{{}}}}}",
        bodies.len(),
        samples as f64 / secs,
        by.join(",")
    );
    Ok(())
}

fn sizes(args: &[String]) -> Result<(), String> {
    let [input] = args else {
        return Err("sizes IN".into());
    };
    let mut series: std::collections::HashMap<String, (String, Vec<(i64, f64)>)> =
        std::collections::HashMap::new();
    for (_, _, body) in load(input)? {
        for (labels, points) in picket_hub::ingest::remote_write::decode(&body)? {
            let name = labels.get("__name__").unwrap_or_default().to_string();
            let e = series
                .entry(picket_hub::store::key(&labels))
                .or_insert_with(|| (name, Vec::new()));
            e.1.extend(points);
        }
    }
    // name -> (series, samples, bytes)
    let mut by: std::collections::BTreeMap<String, (u64, u64, u64)> = Default::default();
    for (name, points) in series.into_values() {
        let e = by.entry(name).or_default();
        e.0 += 1;
        e.1 += points.len() as u64;
        e.2 += picket_hub::store::chunk::encode(&points).len() as u64;
    }
    let (samples, bytes) = by.values().fold((0, 0), |a, v| (a.0 + v.1, a.1 + v.2));
    let mut rows: Vec<_> = by.into_iter().collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.1 .2));
    println!(
        "{:>7} {:>8} {:>6} {:>6}  name",
        "series", "B/sample", "share", "cum"
    );
    let mut cum = 0;
    for (name, (n, s, b)) in rows {
        cum += b;
        println!(
            "{n:>7} {:>8.3} {:>5.1}% {:>5.1}%  {name}",
            b as f64 / s as f64,
            100.0 * b as f64 / bytes as f64,
            100.0 * cum as f64 / bytes as f64
        );
    }
    println!(
        "total: {samples} samples, {bytes} bytes, {:.3} bytes/sample",
        bytes as f64 / samples as f64
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("gen") => gen(&args[1..]),
        Some("send") => send(&args[1..]),
        Some("sizes") => sizes(&args[1..]),
        _ => Err("usage: rw-load gen ... | rw-load send ... | rw-load sizes ...".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rw-load: {e}");
            ExitCode::FAILURE
        }
    }
}
