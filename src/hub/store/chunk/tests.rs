//! The chunk codec's tests: round trips bit for bit, refusal of every
//! kind of damage, and the sizes (`report_sizes`) quoted in the design.

use super::*;
use std::time::Instant;

const STALE: u64 = 0x7ff0_0000_0000_0002;
const T0: i64 = 1_700_000_000_000;

/// xorshift64: deterministic data without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in lo..=hi.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
}

fn bits(s: &[(i64, f64)]) -> Vec<(i64, u64)> {
    s.iter().map(|&(t, v)| (t, v.to_bits())).collect()
}

fn round_trip(s: &[(i64, f64)]) -> Vec<u8> {
    let c = encode(s);
    let back = decode(&c).unwrap_or_else(|e| panic!("{e}: {s:?}"));
    assert_eq!(bits(&back), bits(s));
    let (n, min, max) = header(&c).unwrap();
    assert_eq!(n, s.len());
    if let (Some(f), Some(l)) = (s.first(), s.last()) {
        assert_eq!((min, max), (f.0, l.0));
    } else {
        assert_eq!((min, max), (0, 0));
    }
    c
}

/// 15 s samples with 0 to `jitter` ms of jitter.
fn scrape_times(rng: &mut Rng, n: usize, jitter: i64) -> Vec<i64> {
    (0..n as i64)
        .map(|i| T0 + i * 15_000 + rng.range(0, jitter))
        .collect()
}

/// Series shaped like node_exporter's.
const SHAPES: [&str; 9] = [
    "constant",
    "idle counter",
    "packets",
    "bytes",
    "memory",
    "cpu seconds",
    "load",
    "temperature",
    "random float",
];

/// Share of each shape in the node mix (sums to 100): node_exporter on a
/// small board is mostly info, limits, sizes and error counters that
/// never move.
const MIX: [u32; 9] = [45, 20, 10, 5, 8, 6, 3, 1, 2];

/// `n` samples of a shape at 15 s with 0 to 5 ms of jitter.
fn shape(name: &str, n: usize, seed: u64) -> Vec<(i64, f64)> {
    shape_jitter(name, n, seed, 5)
}

fn shape_jitter(name: &str, n: usize, seed: u64, jitter: i64) -> Vec<(i64, f64)> {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let ts = scrape_times(&mut rng, n, jitter);
    let mut v = 0.0f64;
    let mut k = 0i64;
    let mut out = Vec::with_capacity(n);
    for &t in &ts {
        let val = match name {
            // A filesystem size, an info metric.
            "constant" => 31_914_983_424.0,
            // An error counter: a rare increment.
            "idle counter" => {
                if rng.next().is_multiple_of(500) {
                    v += 1.0;
                }
                v
            }
            "packets" => {
                v += rng.range(0, 40) as f64;
                v + 123_456_789.0
            }
            "bytes" => {
                v += rng.range(0, 200_000) as f64;
                v + 9_876_543_210.0
            }
            // Free memory, in pages of 4 KiB.
            "memory" => {
                k += rng.range(-300, 300) * 4096;
                (4_000_000_000 + k) as f64
            }
            // Ticks / 100, 13 to 15 s busy of every 15.
            "cpu seconds" => {
                k += rng.range(1300, 1500);
                (123_456_789 + k) as f64 / 100.0
            }
            // A load average, 2 decimals.
            "load" => {
                k = (k + rng.range(-5, 5)).max(0);
                k as f64 / 100.0
            }
            // hwmon millidegrees / 1000.
            "temperature" => (45_000 + rng.range(-500, 500)) as f64 / 1000.0,
            "random float" => rng.next() as f64 / u64::MAX as f64,
            _ => unreachable!("{name}"),
        };
        out.push((t, val));
    }
    out
}

/// Average bytes per sample of `reps` chunks of `n` samples.
fn bytes_per_sample(name: &str, n: usize, reps: u64, jitter: i64) -> f64 {
    let mut total = 0;
    for seed in 0..reps {
        total += round_trip(&shape_jitter(name, n, seed, jitter)).len();
    }
    total as f64 / (reps as usize * n) as f64
}

fn mix_bytes_per_sample(per_shape: &[f64]) -> f64 {
    let w: u32 = MIX.iter().sum();
    per_shape
        .iter()
        .zip(MIX)
        .map(|(b, m)| b * f64::from(m))
        .sum::<f64>()
        / f64::from(w)
}

#[test]
fn empty_and_single_samples() {
    let c = round_trip(&[]);
    assert_eq!(header(&c).unwrap(), (0, 0, 0));
    assert!(c.len() <= 6, "{}", c.len());
    round_trip(&[(T0, 1.0)]);
    round_trip(&[(0, 0.0)]);
    round_trip(&[(-1, f64::from_bits(STALE))]);
    round_trip(&[(i64::MIN, f64::NAN)]);
    round_trip(&[(i64::MAX, -0.0)]);
    round_trip(&[(T0, 1.0), (T0 + 1, 1.0)]);
}

#[test]
fn special_floats_round_trip_bit_for_bit() {
    let specials = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        f64::NAN,
        -f64::NAN,
        f64::from_bits(STALE),
        f64::from_bits(0x7ff8_0000_dead_beef),
        f64::from_bits(0xfff0_0000_0000_0001),
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MIN_POSITIVE,
        f64::from_bits(1),
        -f64::from_bits(1),
        f64::MAX,
        f64::MIN,
        f64::EPSILON,
        EXACT,
        EXACT + 2.0,
        -EXACT,
        EXACT - 1.0,
        1e300,
        0.1,
        0.52,
        123_456.78,
        1.234_567_891,
        1e-9,
        4.5e15,
    ];
    // Each after each, so every pair of kinds meets (steps, XORs, and
    // steps from values that are not scaled integers).
    let mut s = Vec::new();
    for (i, &a) in specials.iter().enumerate() {
        for (j, &b) in specials.iter().enumerate() {
            s.push(a);
            s.push(b);
            if (i + j) % 3 == 0 {
                s.push(b);
            }
        }
    }
    let samples: Vec<(i64, f64)> = (0..).map(|i| T0 + i * 15_000).zip(s).collect();
    round_trip(&samples);
    // In small chunks too, where the scale is chosen from few values.
    for w in samples.chunks(3) {
        round_trip(w);
    }
    // Stale markers ending a counter, and after the series comes back.
    let mut s: Vec<(i64, f64)> = (0..50).map(|i| (T0 + i * 15_000, i as f64 * 3.0)).collect();
    s.push((T0 + 50 * 15_000, f64::from_bits(STALE)));
    s.extend((51..100).map(|i| (T0 + i * 15_000, i as f64 / 100.0)));
    s.push((T0 + 100 * 15_000, f64::from_bits(STALE)));
    round_trip(&s);
}

#[test]
fn every_shape_round_trips() {
    for name in SHAPES {
        for n in [1, 2, 3, 119, 120, 1000] {
            round_trip(&shape(name, n, n as u64));
        }
    }
}

#[test]
fn timestamps_round_trip() {
    let mut rng = Rng(42);
    // Big jitter: ±7 s around a 15 s grid, and irregular spacing.
    let mut t = T0;
    let mut s = Vec::new();
    for i in 0..500 {
        t += 15_000 + rng.range(-7_000, 7_000);
        s.push((t, i as f64));
    }
    round_trip(&s);
    let mut t = 0;
    let irregular: Vec<(i64, f64)> = (0..300)
        .map(|_| {
            let bits = rng.next() % 40;
            t += rng.range(1, 1 << bits);
            (t, 1.0)
        })
        .collect();
    round_trip(&irregular);
    // Negative timestamps, crossing zero.
    let neg: Vec<(i64, f64)> = (-100..100).map(|i| (i * 15_001 - 7, 2.5)).collect();
    round_trip(&neg);
    // Gaps over 2^32 ms, and the extremes of i64.
    let gaps = [
        (i64::MIN, 1.0),
        (i64::MIN + 1, 2.0),
        (-(1 << 40), 3.0),
        (0, 4.0),
        (1 << 33, 5.0),
        ((1 << 33) + 15_000, 6.0),
        ((1 << 33) + 30_000, 7.0),
        (1 << 62, 8.0),
        (i64::MAX - 1, 9.0),
        (i64::MAX, 10.0),
    ];
    round_trip(&gaps);
    round_trip(&[(i64::MIN, 0.0), (i64::MAX, 1.0)]);
    // Missed scrapes, a restart off the grid, an interval change, drift.
    let mut s: Vec<(i64, f64)> = Vec::new();
    let mut t = T0;
    for i in 0..400 {
        t += match i {
            50 | 51 => 45_000,
            100 => 7_777,
            200..=300 => 30_000,
            _ => 15_000 + i64::from(i % 7 == 0),
        };
        s.push((t, 1.0));
    }
    round_trip(&s);
}

#[test]
fn random_series_round_trip() {
    // Every kind of value after every other, at random scales, units
    // and spacings.
    let mut rng = Rng(2024);
    for round in 0..300 {
        let n = rng.range(0, 400) as usize;
        let e = rng.range(0, 10) as i32;
        let unit = [1, 2, 7, 1024, 4096, 1 << 40][rng.range(0, 5) as usize];
        let mut t = rng.next() as i64 >> rng.range(1, 40);
        let mut v = 0.0f64;
        let mut k = rng.range(-1000, 1000);
        let mut s = Vec::with_capacity(n);
        for _ in 0..n {
            v = match rng.range(0, 9) {
                0 | 1 => v,
                2 | 3 => {
                    k += rng.range(-3, 30) * unit;
                    k as f64 / 10f64.powi(e)
                }
                4 => f64::from_bits(rng.next()),
                5 => f64::from_bits(STALE),
                6 => [0.0, -0.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN]
                    [rng.range(0, 4) as usize],
                7 => rng.range(-1 << 53, 1 << 53) as f64,
                _ => (rng.next() >> rng.range(0, 63)) as f64,
            };
            s.push((t, v));
            let step = match rng.range(0, 9) {
                0 => {
                    let shift = rng.range(1, 62);
                    rng.range(1, i64::MAX >> shift)
                }
                1 => 1,
                _ => 15_000 + rng.range(-20, 20),
            };
            match t.checked_add(step) {
                Some(next) => t = next,
                None => break,
            }
        }
        let c = encode(&s);
        let back = decode(&c).unwrap_or_else(|err| panic!("round {round}: {err}"));
        assert_eq!(bits(&back), bits(&s), "round {round}");
    }
}

#[test]
fn unsorted_input_is_sorted_and_deduplicated() {
    let s = [(30, 3.0), (10, 1.0), (20, 2.0), (10, 1.5)];
    let back = decode(&encode(&s)).unwrap();
    assert_eq!(bits(&back), bits(&[(10, 1.5), (20, 2.0), (30, 3.0)]));
}

#[test]
fn header_reads_count_and_range() {
    let s = shape("packets", 120, 1);
    let c = encode(&s);
    assert_eq!(header(&c).unwrap(), (120, s[0].0, s[119].0));
    // The header needs only its own bytes.
    let end = 1 + 1 + 6 + 3;
    assert_eq!(header(&c[..end]).unwrap(), (120, s[0].0, s[119].0));
    assert!(header(&c[..end - 1]).is_err());
    assert!(header(&[]).is_err());
    assert!(header(&[0x02, 0]).is_err());
    // A count over 2^24.
    let mut big = vec![FORMAT];
    put_varint(&mut big, (MAX_SAMPLES + 1) as u64);
    big.extend_from_slice(&[0, 0xff, 0xff, 0xff, 0x0f]);
    assert!(header(&big).is_err());
    // A span too short for the count.
    assert!(header(&[FORMAT, 3, 0, 1]).is_err());
}

fn with_crc(mut body: Vec<u8>) -> Vec<u8> {
    let mut crc = flate2::Crc::new();
    crc.update(&body);
    body.extend_from_slice(&crc.sum().to_le_bytes());
    body
}

fn corpus() -> Vec<Vec<u8>> {
    let mut s: Vec<(i64, f64)> = shape("cpu seconds", 40, 3);
    s.push((s[39].0 + 15_000, f64::from_bits(STALE)));
    s.push((s[40].0 + (1 << 35), -0.0));
    vec![
        encode(&[]),
        encode(&[(T0, 1.0)]),
        encode(&shape("constant", 30, 1)),
        encode(&shape("memory", 30, 2)),
        encode(&shape("random float", 10, 5)),
        encode(&s),
    ]
}

#[test]
fn truncated_or_flipped_chunks_are_errors() {
    for c in corpus() {
        for len in 0..c.len() {
            assert!(decode(&c[..len]).is_err(), "prefix {len} of {c:?}");
        }
        for i in 0..c.len() {
            for flip in [0x01, 0x10, 0x80, 0xff] {
                let mut bad = c.clone();
                bad[i] ^= flip;
                assert!(decode(&bad).is_err(), "flip {flip:#x} at {i} of {c:?}");
            }
        }
        let mut longer = c.clone();
        longer.push(0);
        assert!(decode(&longer).is_err());
    }
}

#[test]
fn corrupt_bodies_with_valid_checksums_never_panic() {
    // The checksum is fixed up, so the parser itself sees the damage.
    let mut rng = Rng(7);
    let mut errors = 0;
    let mut tries = 0;
    for c in corpus() {
        let body = &c[..c.len() - 4];
        for len in 0..body.len() {
            tries += 1;
            errors += usize::from(decode(&with_crc(body[..len].to_vec())).is_err());
        }
        for i in 0..body.len() {
            for _ in 0..8 {
                let mut bad = body.to_vec();
                bad[i] ^= 1 << (rng.next() % 8);
                tries += 1;
                if let Ok(s) = decode(&with_crc(bad)) {
                    assert!(s.windows(2).all(|w| w[0].0 < w[1].0));
                } else {
                    errors += 1;
                }
            }
        }
    }
    // Most damage is caught even without the checksum.
    assert!(errors * 2 > tries, "{errors} errors in {tries}");
    // Random bytes after a plausible header.
    for _ in 0..2000 {
        let n = rng.range(0, 300) as u64;
        let mut b = vec![FORMAT];
        put_varint(&mut b, n);
        put_varint(&mut b, zigzag(T0));
        put_varint(&mut b, n * 15_000);
        for _ in 0..rng.range(0, 80) {
            b.push(rng.next() as u8);
        }
        let _ = decode(&with_crc(b));
    }
}

#[test]
fn huge_counts_with_tiny_bodies_fail_fast() {
    // 2^24 samples claimed, a few bytes of stream.
    let mut b = vec![FORMAT];
    put_varint(&mut b, MAX_SAMPLES as u64);
    put_varint(&mut b, 0);
    put_varint(&mut b, MAX_SAMPLES as u64 * 15_000);
    put_varint(&mut b, 15_000);
    b.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    let t = Instant::now();
    assert!(decode(&with_crc(b)).is_err());
    assert!(t.elapsed().as_secs() < 2);
    // Over the limit.
    let mut b = vec![FORMAT];
    put_varint(&mut b, MAX_SAMPLES as u64 + 1);
    assert!(decode(&with_crc(b)).is_err());
}

#[test]
fn merge_prefers_newer_and_stays_strictly_increasing() {
    let older = [(10, 1.0), (20, 2.0), (30, 3.0), (40, 4.0)];
    let newer = [(5, 0.5), (20, f64::from_bits(STALE)), (35, 3.5), (50, 5.0)];
    let m = merge(&older, &newer);
    assert_eq!(
        bits(&m),
        bits(&[
            (5, 0.5),
            (10, 1.0),
            (20, f64::from_bits(STALE)),
            (30, 3.0),
            (35, 3.5),
            (40, 4.0),
            (50, 5.0),
        ])
    );
    assert!(merge(&[], &[]).is_empty());
    assert_eq!(bits(&merge(&older, &[])), bits(&older));
    assert_eq!(bits(&merge(&[], &newer)), bits(&newer));
    // Same timestamps everywhere: all newer.
    let same: Vec<(i64, f64)> = older.iter().map(|&(t, _)| (t, -0.0)).collect();
    assert_eq!(bits(&merge(&older, &same)), bits(&same));
    // Unsorted input with duplicates still gives a strictly increasing list.
    let m = merge(
        &[(3, 3.0), (1, 1.0), (1, 1.1)],
        &[(2, 2.0), (2, 2.2), (0, 0.0)],
    );
    assert_eq!(bits(&m), bits(&[(0, 0.0), (1, 1.1), (2, 2.2), (3, 3.0)]));
    // A merged chunk round-trips.
    let a = shape("load", 120, 1);
    let b: Vec<(i64, f64)> = shape("load", 120, 2)
        .into_iter()
        .map(|(t, v)| (t + 7, v))
        .collect();
    round_trip(&merge(&a, &b));
}

#[test]
fn decimal_scale_and_step_unit_are_found() {
    let at = |s: &[(i64, f64)]| {
        let c = encode(s);
        let mut r = Reader { b: &c, i: 0 };
        read_header(&mut r).unwrap();
        r.varint().unwrap();
        let params = r.byte().unwrap();
        (params & SCALE_MASK, r.varint().unwrap())
    };
    assert_eq!(at(&shape("constant", 100, 1)).0, 0);
    assert_eq!(at(&shape("cpu seconds", 100, 1)).0, 2);
    assert_eq!(at(&shape("temperature", 100, 1)).0, 3);
    assert_eq!(at(&shape("memory", 100, 1)), (0, 4096));
    let ns: Vec<(i64, f64)> = (0..100)
        .map(|i| (i, (i * 15_000_000_007) as f64 / 1e9))
        .collect();
    assert_eq!(at(&ns).0, 9);
    round_trip(&ns);
}

#[test]
fn node_exporter_shaped_data_fits_a_byte_per_sample() {
    // Bounds a little above what the codec measures (see report_sizes).
    let limits_120 = [0.58, 0.54, 1.32, 2.95, 1.85, 1.75, 1.0, 2.0, 8.1];
    let limits_5760 = [0.345, 0.345, 1.05, 2.65, 1.55, 1.46, 0.8, 1.73, 7.4];
    let mut mix = Vec::new();
    for (n, limits, reps) in [(120, limits_120, 20), (5760, limits_5760, 2)] {
        let per: Vec<f64> = SHAPES
            .iter()
            .map(|s| bytes_per_sample(s, n, reps, 5))
            .collect();
        for ((s, b), l) in SHAPES.iter().zip(&per).zip(limits) {
            assert!(*b <= l, "{s} at {n}: {b:.3} bytes per sample");
        }
        mix.push(mix_bytes_per_sample(&per));
    }
    // With 0 to 5 ms of jitter the daily chunks make the byte, the
    // 30-minute ones not quite (timestamp jitter alone is 0.33).
    assert!(mix[0] <= 1.1, "mix at 120: {:.3}", mix[0]);
    assert!(mix[1] <= 0.87, "mix at 5760: {:.3}", mix[1]);
    // With 0 to 2 ms both do.
    let per: Vec<f64> = SHAPES
        .iter()
        .map(|s| bytes_per_sample(s, 120, 20, 2))
        .collect();
    let m = mix_bytes_per_sample(&per);
    assert!(m <= 1.0, "mix at 120, 0-2 ms: {m:.3}");
}

#[test]
#[ignore]
fn report_sizes() {
    println!("bytes per sample, 15 s samples (20 chunks of 120, 5 of 5760)");
    println!("{:>14} {:>15} {:>15}", "", "0-5 ms jitter", "0-2 ms jitter");
    println!(
        "{:>14} {:>7} {:>7} {:>7} {:>7}",
        "", "120", "5760", "120", "5760"
    );
    let mut per = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
    for s in SHAPES {
        let b = [
            bytes_per_sample(s, 120, 20, 5),
            bytes_per_sample(s, 5760, 5, 5),
            bytes_per_sample(s, 120, 20, 2),
            bytes_per_sample(s, 5760, 5, 2),
        ];
        for (p, b) in per.iter_mut().zip(b) {
            p.push(b);
        }
        println!(
            "{s:>14} {:>7.3} {:>7.3} {:>7.3} {:>7.3}",
            b[0], b[1], b[2], b[3]
        );
    }
    let m: Vec<f64> = per.iter().map(|p| mix_bytes_per_sample(p)).collect();
    println!(
        "{:>14} {:>7.3} {:>7.3} {:>7.3} {:>7.3}",
        "node mix", m[0], m[1], m[2], m[3]
    );
    println!();
    println!("a constant series by timestamp jitter (uniform 0..=j ms)");
    for j in [0, 1, 2, 5, 10, 50] {
        let size = |n: usize| {
            let mut rng = Rng(99);
            let s: Vec<(i64, f64)> = (0..n as i64)
                .map(|i| (T0 + i * 15_000 + rng.range(0, j), 1.0))
                .collect();
            round_trip(&s).len() as f64 / n as f64
        };
        println!("{:>11} ms {:>7.3} {:>7.3}", j, size(120), size(5760));
    }
    println!();
    println!("speed, M samples/s (5760-sample chunks)");
    println!("{:>14} {:>7} {:>7}", "", "encode", "decode");
    let mut all = (0.0, 0.0, 0.0);
    let mut weighted = (0.0, 0.0);
    for (s, w) in SHAPES.iter().zip(MIX) {
        let data: Vec<Vec<(i64, f64)>> = (0..10).map(|i| shape(s, 5760, i)).collect();
        let t = Instant::now();
        let chunks: Vec<Vec<u8>> = data.iter().map(|d| encode(d)).collect();
        let enc = t.elapsed().as_secs_f64();
        let t = Instant::now();
        for c in &chunks {
            std::hint::black_box(decode(c).unwrap());
        }
        let dec = t.elapsed().as_secs_f64();
        let n = 10.0 * 5760.0;
        println!("{s:>14} {:>7.1} {:>7.1}", n / enc / 1e6, n / dec / 1e6);
        all = (all.0 + n, all.1 + enc, all.2 + dec);
        weighted = (
            weighted.0 + f64::from(w) * enc / n,
            weighted.1 + f64::from(w) * dec / n,
        );
    }
    println!(
        "{:>14} {:>7.1} {:>7.1}",
        "node mix",
        100.0 / weighted.0 / 1e6,
        100.0 / weighted.1 / 1e6
    );
    println!(
        "{:>14} {:>7.1} {:>7.1}",
        "all alike",
        all.0 / all.1 / 1e6,
        all.0 / all.2 / 1e6
    );
}
