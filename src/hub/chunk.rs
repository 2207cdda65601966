//! Chunk codec (experimental draft).

use std::io::{Read, Write};

use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::Compression;

/// Format byte: the body follows as is.
const RAW: u8 = 0x01;
/// Format byte: the body follows deflated (raw DEFLATE, RFC 1951).
const DEFLATED: u8 = 0x02;

/// Most samples a chunk may hold.
const MAX_SAMPLES: usize = 1 << 24;
/// Largest decimal scale tried.
const MAX_SCALE: usize = 9;
const POW10: [f64; MAX_SCALE + 1] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];
/// Largest integer every f64 up to which is exact.
const EXACT: f64 = 9_007_199_254_740_992.0;

/// Timestamp predictor (the others are kept for report_sizes' comparison).
#[allow(dead_code)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum TsMode {
    Dod = 0,
    Nominal = 1,
    Grid = 2,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Opts {
    pub ts: TsMode,
    pub level: Option<u32>,
    pub scale: bool,
    pub unit: bool,
}

const DEFAULT: Opts = Opts {
    ts: TsMode::Grid,
    level: Some(6),
    scale: true,
    unit: true,
};

/// Encodes samples (strictly increasing timestamps in ms, any f64 incl. NaN with payload bits) into a chunk.
pub fn encode(samples: &[(i64, f64)]) -> Vec<u8> {
    encode_with(samples, DEFAULT)
}

pub(crate) fn encode_with(samples: &[(i64, f64)], o: Opts) -> Vec<u8> {
    let owned;
    let mut samples = samples;
    if !strictly_increasing(samples) {
        owned = normalize(samples);
        samples = &owned;
    }
    if samples.len() > MAX_SAMPLES {
        samples = &samples[..MAX_SAMPLES];
    }
    let n = samples.len();
    let mut out = Vec::with_capacity(16 + n / 2);
    let (first, last) = match (samples.first(), samples.last()) {
        (Some(f), Some(l)) => (f.0, l.0),
        _ => {
            out.push(RAW);
            put_varint(&mut out, 0);
            return out;
        }
    };
    let mut head = Vec::with_capacity(24);
    put_varint(&mut head, n as u64);
    put_varint(&mut head, zigzag(first));
    put_varint(&mut head, last.wrapping_sub(first) as u64);

    let mut body = Vec::with_capacity(n * 3 + 16);
    encode_times(samples, o.ts, &mut body);
    encode_values(samples, o, &mut body);

    if let Some(level) = o.level {
        let mut enc =
            DeflateEncoder::new(Vec::with_capacity(body.len() / 2), Compression::new(level));
        let z = match enc.write_all(&body) {
            Ok(()) => enc.finish().ok(),
            Err(_) => None,
        };
        if let Some(z) = z {
            if z.len() < body.len() {
                out.push(DEFLATED);
                out.extend_from_slice(&head);
                out.extend_from_slice(&z);
                return out;
            }
        }
    }
    out.push(RAW);
    out.extend_from_slice(&head);
    out.extend_from_slice(&body);
    out
}

fn median_delta(samples: &[(i64, f64)]) -> u64 {
    let mut d: Vec<u64> = samples
        .windows(2)
        .map(|w| w[1].0.wrapping_sub(w[0].0) as u64)
        .collect();
    if d.is_empty() {
        return 0;
    }
    let mid = d.len() / 2;
    *d.select_nth_unstable(mid).1
}

fn encode_times(samples: &[(i64, f64)], mode: TsMode, body: &mut Vec<u8>) {
    body.push(mode as u8);
    match mode {
        TsMode::Dod => {
            let mut prev_t = samples[0].0;
            let mut prev_d = 0i64;
            for &(t, _) in &samples[1..] {
                let d = t.wrapping_sub(prev_t);
                put_varint(body, zigzag(d.wrapping_sub(prev_d)));
                prev_d = d;
                prev_t = t;
            }
        }
        TsMode::Nominal => {
            let nd = median_delta(samples) as i64;
            put_varint(body, nd as u64);
            let mut prev_t = samples[0].0;
            for &(t, _) in &samples[1..] {
                let d = t.wrapping_sub(prev_t);
                put_varint(body, zigzag(d.wrapping_sub(nd)));
                prev_t = t;
            }
        }
        TsMode::Grid => {
            let nd = median_delta(samples) as i64;
            put_varint(body, nd as u64);
            let tol = grid_tolerance(nd);
            let mut g = samples[0].0;
            for &(t, _) in &samples[1..] {
                let pred = g.wrapping_add(nd);
                let r = t.wrapping_sub(pred);
                put_varint(body, zigzag(r));
                g = if r.unsigned_abs() <= tol { pred } else { t };
            }
        }
    }
}

fn grid_tolerance(nd: i64) -> u64 {
    (nd as u64 / 8).min(1000)
}

/// The decimal scale (0..=MAX_SCALE) at which the values cost least as
/// integer steps.
fn pick_scale(samples: &[(i64, f64)]) -> usize {
    let mut best = (usize::MAX, 0);
    for (e, &p) in POW10.iter().enumerate() {
        let mut cost = 0usize;
        let mut all = true;
        let mut prev = 0u64;
        let mut pk = Some(0i64);
        for &(_, v) in samples {
            let b = v.to_bits();
            let k = scaled(v, p);
            if k.is_none() && v.is_finite() && b != NEG_ZERO {
                all = false;
            }
            cost += if b == prev {
                1
            } else {
                match (pk, k) {
                    (Some(a), Some(c)) => step_len(zigzag(c - a)),
                    _ => xor_len(b ^ prev),
                }
            };
            prev = b;
            pk = k;
        }
        if cost < best.0 {
            best = (cost, e);
        }
        if all {
            break;
        }
    }
    best.1
}

const NEG_ZERO: u64 = 0x8000_0000_0000_0000;

fn scaled(v: f64, p: f64) -> Option<i64> {
    let x = (v * p).round();
    if x.is_nan() || x.abs() > EXACT {
        return None;
    }
    let k = x as i64;
    ((k as f64 / p).to_bits() == v.to_bits()).then_some(k)
}

fn step_len(z: u64) -> usize {
    if z < 0x40 {
        1
    } else {
        1 + varint_len(z >> 6)
    }
}

fn xor_len(x: u64) -> usize {
    let lead = (x.leading_zeros() / 8).min(7);
    let trail = (x.trailing_zeros() / 8).min(7 - lead);
    1 + 8 - lead as usize - trail as usize
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn encode_values(samples: &[(i64, f64)], o: Opts, body: &mut Vec<u8>) {
    let e = if o.scale { pick_scale(samples) } else { 0 };
    let p = POW10[e];
    let ks: Vec<Option<i64>> = samples.iter().map(|s| scaled(s.1, p)).collect();
    let mut unit = 0u64;
    if o.unit {
        for w in ks.windows(2) {
            if let (Some(a), Some(b)) = (w[0], w[1]) {
                unit = gcd(unit, (b - a).unsigned_abs());
            }
        }
    }
    let unit = unit.max(1);
    body.push(e as u8);
    put_varint(body, unit);
    let mut prev = 0u64;
    let mut pk = Some(0i64);
    for (i, (&(_, v), &k)) in samples.iter().zip(&ks).enumerate() {
        let b = v.to_bits();
        let x = b ^ prev;
        let u = if i == 0 { 1 } else { unit as i64 };
        prev = b;
        let old = pk;
        pk = k;
        if x == 0 {
            body.push(0);
            continue;
        }
        if let (Some(a), Some(c)) = (old, k) {
            let z = zigzag((c - a) / u);
            if step_len(z) <= xor_len(x) {
                if z < 0x40 {
                    body.push(z as u8);
                } else {
                    body.push(0x40 | (z & 0x3f) as u8);
                    put_varint(body, z >> 6);
                }
                continue;
            }
        }
        let lead = (x.leading_zeros() / 8).min(7);
        let trail = (x.trailing_zeros() / 8).min(7 - lead);
        body.push(0x80 | (lead as u8) << 3 | trail as u8);
        let be = x.to_be_bytes();
        body.extend_from_slice(&be[lead as usize..8 - trail as usize]);
    }
}

/// Decodes a chunk; Err with a human message on any malformed input, never panics (input may be corrupt).
pub fn decode(data: &[u8]) -> Result<Vec<(i64, f64)>, String> {
    let mut r = Reader { b: data, i: 0 };
    let (n, first, last) = read_header(&mut r)?;
    let format = data.first().copied().unwrap_or(0);
    let rest = r.b.get(r.i..).unwrap_or(&[]);
    if n == 0 {
        if !rest.is_empty() {
            return Err("bytes after an empty chunk".into());
        }
        return Ok(Vec::new());
    }
    let inflated;
    let body = if format == DEFLATED {
        inflated = inflate(rest, n)?;
        &inflated[..]
    } else {
        rest
    };
    decode_body(body, n, first, last)
}

/// Inflates a body of `n` samples, refusing output larger than such a body
/// can be.
fn inflate(z: &[u8], n: usize) -> Result<Vec<u8>, String> {
    // Per sample at most a 10-byte timestamp varint and a 9-byte value,
    // plus the body's parameters; and deflate cannot expand more than
    // 1032 times.
    let limit = (n as u64 * 19 + 32).min(z.len() as u64 * 1032 + 64);
    let mut dec = DeflateDecoder::new(z);
    let mut raw = Vec::new();
    (&mut dec)
        .take(limit + 1)
        .read_to_end(&mut raw)
        .map_err(|e| format!("inflate: {e}"))?;
    if raw.len() as u64 > limit {
        return Err("inflated body larger than its sample count allows".into());
    }
    if dec.total_in() != z.len() as u64 {
        return Err("bytes after the deflated body".into());
    }
    Ok(raw)
}

fn decode_body(body: &[u8], n: usize, first: i64, last: i64) -> Result<Vec<(i64, f64)>, String> {
    // Every sample takes at least one body byte (its value).
    if n > body.len() {
        return Err("sample count larger than the body".into());
    }
    let mut r = Reader { b: body, i: 0 };
    let mut out: Vec<(i64, f64)> = Vec::with_capacity(n);
    out.push((first, 0.0));
    let mode = r.byte()?;
    let mut t = first;
    match mode {
        0 => {
            let mut d = 0i64;
            for _ in 1..n {
                d = d.wrapping_add(unzigzag(r.varint()?));
                let nt = t.wrapping_add(d);
                if nt <= t {
                    return Err("timestamps not increasing".into());
                }
                t = nt;
                out.push((t, 0.0));
            }
        }
        1 => {
            let nd = r.varint()? as i64;
            for _ in 1..n {
                let d = nd.wrapping_add(unzigzag(r.varint()?));
                let nt = t.wrapping_add(d);
                if nt <= t {
                    return Err("timestamps not increasing".into());
                }
                t = nt;
                out.push((t, 0.0));
            }
        }
        2 => {
            let nd = r.varint()? as i64;
            let tol = grid_tolerance(nd);
            let mut g = first;
            for _ in 1..n {
                let pred = g.wrapping_add(nd);
                let res = unzigzag(r.varint()?);
                let nt = pred.wrapping_add(res);
                if nt <= t {
                    return Err("timestamps not increasing".into());
                }
                g = if res.unsigned_abs() <= tol { pred } else { nt };
                t = nt;
                out.push((t, 0.0));
            }
        }
        m => return Err(format!("unknown timestamp mode {m}")),
    }
    if t != last {
        return Err("last timestamp does not match the header".into());
    }
    let e = usize::from(r.byte()?);
    let p = *POW10
        .get(e)
        .ok_or_else(|| format!("bad decimal scale {e}"))?;
    let unit = r.varint()?;
    if unit == 0 || unit > 1 << 54 {
        return Err(format!("bad step unit {unit}"));
    }
    let mut prev = 0u64;
    for (i, s) in out.iter_mut().enumerate() {
        let h = r.byte()?;
        let bits = if h == 0 {
            prev
        } else if h < 0x80 {
            let z = if h < 0x40 {
                u64::from(h)
            } else {
                let hi = r.varint()?;
                if hi >= 1 << 58 {
                    return Err("integer step too large".into());
                }
                u64::from(h & 0x3f) | hi << 6
            };
            let u = if i == 0 { 1 } else { unit as i64 };
            let k = scaled(f64::from_bits(prev), p)
                .ok_or("integer step from a value that is not a scaled integer")?;
            let k = unzigzag(z)
                .checked_mul(u)
                .and_then(|s| s.checked_add(k))
                .filter(|k| k.unsigned_abs() <= 1 << 53)
                .ok_or("integer step out of range")?;
            (k as f64 / p).to_bits()
        } else if h < 0xc0 {
            let lead = usize::from(h >> 3 & 7);
            let trail = usize::from(h & 7);
            if lead + trail > 7 {
                return Err(format!("bad value header {h:#x}"));
            }
            let mut be = [0u8; 8];
            be[lead..8 - trail].copy_from_slice(r.take(8 - lead - trail)?);
            prev ^ u64::from_be_bytes(be)
        } else {
            return Err(format!("bad value header {h:#x}"));
        };
        s.1 = f64::from_bits(bits);
        prev = bits;
    }
    if r.i != body.len() {
        return Err("trailing bytes after the values".into());
    }
    Ok(out)
}

fn read_header(r: &mut Reader<'_>) -> Result<(usize, i64, i64), String> {
    let format = r.byte()?;
    if format != RAW && format != DEFLATED {
        return Err(format!("unknown chunk format {format:#x}"));
    }
    let n = r.varint()?;
    if n > MAX_SAMPLES as u64 {
        return Err(format!("sample count {n} over the limit"));
    }
    let n = n as usize;
    if n == 0 {
        return Ok((0, 0, 0));
    }
    let first = unzigzag(r.varint()?);
    let span = r.varint()?;
    let last = i64::try_from(i128::from(first) + i128::from(span))
        .map_err(|_| "timestamp span out of range")?;
    if span < n as u64 - 1 {
        return Err("timestamp span too short for the sample count".into());
    }
    Ok((n, first, last))
}

/// Reads only the header: (number of samples, min timestamp, max timestamp), cheap.
pub fn header(data: &[u8]) -> Result<(usize, i64, i64), String> {
    read_header(&mut Reader { b: data, i: 0 })
}

/// Merges two sorted sample lists; on equal timestamps the one from `newer` wins. Output strictly increasing.
pub fn merge(older: &[(i64, f64)], newer: &[(i64, f64)]) -> Vec<(i64, f64)> {
    let (a, b);
    let (mut older, mut newer) = (older, newer);
    if !strictly_increasing(older) {
        a = normalize(older);
        older = &a;
    }
    if !strictly_increasing(newer) {
        b = normalize(newer);
        newer = &b;
    }
    let mut out = Vec::with_capacity(older.len() + newer.len());
    let (mut i, mut j) = (0, 0);
    while let (Some(&o), Some(&n)) = (older.get(i), newer.get(j)) {
        if o.0 < n.0 {
            out.push(o);
            i += 1;
        } else {
            out.push(n);
            j += 1;
            if o.0 == n.0 {
                i += 1;
            }
        }
    }
    out.extend_from_slice(older.get(i..).unwrap_or(&[]));
    out.extend_from_slice(newer.get(j..).unwrap_or(&[]));
    out
}

fn strictly_increasing(s: &[(i64, f64)]) -> bool {
    s.windows(2).all(|w| w[0].0 < w[1].0)
}

/// Sorts by timestamp; of equal timestamps the last one in `s` stays.
fn normalize(s: &[(i64, f64)]) -> Vec<(i64, f64)> {
    let mut v = s.to_vec();
    v.sort_by_key(|x| x.0);
    let mut out: Vec<(i64, f64)> = Vec::with_capacity(v.len());
    for x in v {
        match out.last_mut() {
            Some(l) if l.0 == x.0 => *l = x,
            _ => out.push(x),
        }
    }
    out
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, String> {
        let v = *self.b.get(self.i).ok_or("chunk cut short")?;
        self.i += 1;
        Ok(v)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let s = self
            .b
            .get(self.i..self.i.saturating_add(n))
            .ok_or("chunk cut short")?;
        self.i += n;
        Ok(s)
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint too long".into())
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    (v >> 1) as i64 ^ -((v & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

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

    const T0: i64 = 1_700_000_000_000;

    fn times(rng: &mut Rng, n: usize, jitter: i64) -> Vec<i64> {
        (0..n as i64)
            .map(|i| T0 + i * 15_000 + rng.range(0, jitter))
            .collect()
    }

    fn shape(name: &str, n: usize, seed: u64) -> Vec<(i64, f64)> {
        let mut rng = Rng(seed | 1);
        let ts = times(&mut rng, n, 5);
        let mut v = 0.0f64;
        let mut k = 0i64;
        let mut out = Vec::with_capacity(n);
        for (i, &t) in ts.iter().enumerate() {
            let val = match name {
                "constant" => 8_123_456_789.0,
                "idle counter" => {
                    if rng.next() % 200 == 0 {
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
                "memory" => {
                    k += rng.range(-300, 300) * 4096;
                    (4_000_000_000 + k) as f64
                }
                "load" => {
                    k = (k + rng.range(-5, 5)).max(0);
                    k as f64 / 100.0
                }
                "cpu seconds" => {
                    k += rng.range(1200, 1500);
                    (123_456_789 + k) as f64 / 100.0
                }
                "temperature" => {
                    // millidegrees / 1000, as hwmon
                    k = 45_000 + rng.range(-500, 500);
                    k as f64 / 1000.0
                }
                "ratio" => rng.next() as f64 / u64::MAX as f64,
                _ => panic!("{name}"),
            };
            let _ = i;
            out.push((t, val));
        }
        out
    }

    const SHAPES: [&str; 9] = [
        "constant",
        "idle counter",
        "packets",
        "bytes",
        "memory",
        "load",
        "cpu seconds",
        "temperature",
        "ratio",
    ];

    #[test]
    #[ignore]
    fn report_sizes() {
        let variants = [
            ("grid", DEFAULT),
            (
                "dod",
                Opts {
                    ts: TsMode::Dod,
                    ..DEFAULT
                },
            ),
            (
                "nominal",
                Opts {
                    ts: TsMode::Nominal,
                    ..DEFAULT
                },
            ),
            (
                "no deflate",
                Opts {
                    level: None,
                    ..DEFAULT
                },
            ),
            (
                "deflate 1",
                Opts {
                    level: Some(1),
                    ..DEFAULT
                },
            ),
            (
                "deflate 9",
                Opts {
                    level: Some(9),
                    ..DEFAULT
                },
            ),
            (
                "no scale",
                Opts {
                    scale: false,
                    ..DEFAULT
                },
            ),
            (
                "no unit",
                Opts {
                    unit: false,
                    ..DEFAULT
                },
            ),
        ];
        for n in [120usize, 5760] {
            print!("{:>14}", n);
            for (name, _) in &variants {
                print!(" {:>10}", name);
            }
            println!();
            for s in SHAPES {
                print!("{:>14}", s);
                for (_, o) in &variants {
                    let mut total = 0;
                    let reps = 20;
                    for seed in 0..reps {
                        let d = shape(s, n, 0x9e37_79b9 + seed);
                        let c = encode_with(&d, *o);
                        let back = decode(&c).unwrap();
                        assert_eq!(back.len(), d.len());
                        total += c.len();
                    }
                    print!(" {:>10.3}", total as f64 / (reps as usize * n) as f64);
                }
                println!();
            }
        }
        let data: Vec<Vec<(i64, f64)>> = SHAPES.iter().map(|s| shape(s, 5760, 7)).collect();
        let t = Instant::now();
        let mut chunks = Vec::new();
        for _ in 0..5 {
            chunks = data.iter().map(|d| encode(d)).collect::<Vec<_>>();
        }
        let enc = t.elapsed();
        let t = Instant::now();
        for _ in 0..5 {
            for c in &chunks {
                decode(c).unwrap();
            }
        }
        let dec = t.elapsed();
        let total = (5 * 5760 * SHAPES.len()) as f64;
        println!(
            "encode {:.1} M samples/s, decode {:.1} M samples/s",
            total / enc.as_secs_f64() / 1e6,
            total / dec.as_secs_f64() / 1e6
        );
    }
}
