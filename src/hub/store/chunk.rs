//! The hub's per-series sample chunk: one compressed BLOB per series per
//! time window (120 samples for the 30-minute head chunks at 15 s, 5760 for
//! the daily ones after compaction).
//!
//! # Why a codec of our own
//!
//! The hub keeps months of node_exporter data on an SD card, so the budget
//! is one byte per sample on disk. A sample is 16 bytes raw. Most series
//! are gauges that do not move and counters that move by a little, so
//! Gorilla's ideas apply (timestamps against a regular grid, values against
//! the previous one), but two things matter more than in Gorilla:
//!
//! - **Scrape jitter.** Timestamps are a 15 s grid plus a few ms of jitter,
//!   and that jitter is most of what a constant series costs. Delta of
//!   delta multiplies it (j(i) − 2 j(i−1) + j(i−2)); here each timestamp is
//!   coded as its offset from the grid, so the jitter costs its own entropy
//!   (2.6 bits for 0 to 5 ms) and no more.
//! - **Decimal floats.** `node_cpu_seconds_total` is ticks / 100, load is
//!   parsed from "0.52", hwmon temperatures are millidegrees / 1000: XOR
//!   leaves 5 to 7 changed bytes for these. A value that is exactly (bit
//!   for bit) `k / 10^e` is coded as a step of the integer `k`, like an
//!   integer counter, in multiples of the chunk's common step (memory moves
//!   by 4 KiB pages).
//!
//! The codes are entropy-coded with adaptive binary models and LZMA's range
//! coder, which learns within the chunk and has no table to send (deflate's
//! Huffman tables are 20 to 40 bytes, a third of a 120-sample chunk).
//!
//! # Layout
//!
//! ```text
//! format    u8        0x01
//! n         varint    number of samples, at most 2^24
//! first     varint    zigzag; the first (smallest) timestamp, ms         ┐ n > 0
//! span      varint    last − first (the largest timestamp is first+span) ┘
//! ── header() reads up to here ──────────────────────────────────────────
//! interval  varint    the grid's step, ms                                ┐
//! params    u8        bits 0-3: decimal scale e (0..=9); bit 4: steps    │
//!                     coded as change of step; other bits 0              │ n > 0
//! unit      varint    the common integer step (≥ 1)                      │
//! stream              range coder: n − 1 timestamps, then n values       ┘
//! crc       u32 LE    CRC-32 (IEEE) of all the bytes before it
//! ```
//!
//! In the stream, timestamp i is the zigzag of its offset r from the grid
//! point g + interval, g starting at `first`. g then moves to that grid
//! point, or to the timestamp itself when |r| > min(interval / 8, 1000)
//! (a missed scrape, a restart). The encoder picks the interval (the
//! median, the mean or a neighbour, whichever codes smallest).
//!
//! Each value is coded against the previous one (the first against 0.0):
//!
//! ```text
//! same   bit    1: the same bits as the previous value (context: the previous same bit)
//! kind   bit    only when not the same and the previous value is k / 10^e for an
//!               integer k: 0 integer step, 1 XOR (without the bit: XOR)
//! step   uint   s, with value = (k + s × unit) / 10^e (unit 1 for the first value),
//!               as |s| − 1 and a sign bit, or (params bit 4) as s − the previous
//!               step (0 after a value that was no step) and a sign bit unless 0;
//!               the first value's |s| − 1 as a 7-bit length and direct bits
//! XOR    6 bits lead << 3 | trail: the zero bytes at either end of value ^ previous
//!        bytes  the 8 − lead − trail bytes between: bytes 0 and 1 (sign, exponent,
//!               top of the mantissa) as 8-bit trees per position, the rest direct
//! ```
//!
//! A uint is its bit length (unary up to 20, then a 6-bit tree), the (up
//! to) 3 bits below its top bit (a tree per bit length), then the rest as
//! direct bits. Every coded bit has its own adaptive probability (15 bits;
//! it moves by 1/(count + 2) for its first 30 updates, then by 1/32), so a
//! short chunk learns fast and a long one settles. The coder leaves up to
//! 4 trailing zero bytes out; the decoder reads missing bytes as zeros.
//!
//! Values that are not `k / 10^e` at the chunk's scale (NaN and its
//! payloads, Prometheus' stale marker 0x7ff0000000000002, ±Inf, −0.0,
//! arbitrary floats) take the XOR path: every value round-trips bit for
//! bit.
//!
//! # Measured
//!
//! Bytes per sample, 15 s samples with 0 to 5 ms of jitter, chunks of 120 /
//! 5760 samples (`report_sizes` in the tests; "node mix" weighs the shapes
//! 45 % constant, 20 % idle counters, 10 % packet-like, 5 % byte-like
//! counters, 8 % memory, 6 % CPU seconds, 3 % load, 1 % temperature, 2 %
//! arbitrary floats). The alternative is the first design: byte codes
//! (0x00 unchanged, step bytes, XOR middle bytes; same grid, scale and
//! unit) deflated with flate2.
//!
//! ```text
//!                      range coder    byte codes + deflate (level 6)
//! constant gauge       0.56 / 0.33    0.79 / 0.42
//! packets (+0..40)     1.28 / 1.02    1.84 / 1.27
//! cpu seconds (/100)   1.70 / 1.42    2.41 / 1.75
//! node mix             1.07 / 0.84    1.47 / 1.04
//! decode, node mix     10 M samples/s 40 M samples/s   (x86-64, release)
//! ```
//!
//! Deflate levels 1, 6 and 9 were within 3 % of each other. Without the
//! decimal scale, load and CPU seconds cost about 5 bytes a sample. Deflate
//! decodes 4 times faster, but 10 million samples a second is a day of
//! 1000 series in 0.6 s, and the hub is bound by its SD card, so the
//! smaller codec wins.
//!
//! Timestamp jitter sets the floor: a constant series costs 0.005 bytes a
//! sample with no jitter, 0.21 with 0 to 2 ms, 0.33 with 0 to 5 ms (5760
//! samples). Per chunk there are about 22 bytes of header, parameters,
//! first value and checksum, 0.18 a sample at 120. So the daily chunks
//! make the byte a sample; the 30-minute ones do with 0 to 2 ms of jitter
//! (node mix 0.94) but not quite with 0 to 5 ms (1.07).
//!
//! # Robustness
//!
//! [`decode`] checks the CRC first, then every field: an unknown format, a
//! count over 2^24, timestamps that do not increase or do not end at the
//! header's last one, steps out of range, missing or extra bytes are errors,
//! never panics. Its output is bounded by the header's count (at most 2^24
//! samples), which must match the body.

use picket_core::varint::{self, put as put_varint, unzigzag, zigzag};

/// The format byte of the only format so far.
const FORMAT: u8 = 0x01;
/// The most samples a chunk may hold (the decoder refuses more).
const MAX_SAMPLES: usize = 1 << 24;
/// The largest decimal scale tried.
const MAX_SCALE: usize = 9;
/// 10^e for the decimal scales (all exact in f64).
const POW10: [f64; MAX_SCALE + 1] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];
/// The largest integer up to which every integer is an exact f64.
const EXACT: f64 = 9_007_199_254_740_992.0;
/// Bit 4 of the parameter byte: integer steps are coded as the change of
/// step (steady counters).
const STEP_DELTA: u8 = 0x10;
/// Bits 0-3 of the parameter byte: the decimal scale.
const SCALE_MASK: u8 = 0x0f;
/// XOR bytes at positions below this (sign, exponent, top of the
/// mantissa) are modelled; lower ones are near random and coded direct.
const MODELLED_BYTES: usize = 2;
/// Bits of -0.0 (not a scaled integer: its sign would be lost).
const NEG_ZERO: u64 = 0x8000_0000_0000_0000;

/// Encodes samples (strictly increasing timestamps in ms, any f64 incl. NaN with payload bits) into a chunk.
///
/// Samples that are not strictly increasing are sorted first, and of equal
/// timestamps the last one in `samples` is kept, so the chunk always
/// decodes. At most 2^24 samples are kept (the first ones).
pub fn encode(samples: &[(i64, f64)]) -> Vec<u8> {
    let owned;
    let mut samples = samples;
    if !strictly_increasing(samples) {
        owned = normalize(samples);
        samples = &owned;
    }
    let samples = samples.get(..MAX_SAMPLES).unwrap_or(samples);
    let mut out = Vec::with_capacity(32 + samples.len() / 2);
    out.push(FORMAT);
    put_varint(&mut out, samples.len() as u64);
    if let Some((&(first, _), rest)) = samples.split_first() {
        let last = rest.last().map_or(first, |s| s.0);
        put_varint(&mut out, zigzag(first));
        put_varint(&mut out, last.wrapping_sub(first) as u64);
        let interval = pick_interval(samples);
        let e = pick_scale(samples);
        let ks: Vec<Option<i64>> = samples.iter().map(|s| scaled(s.1, POW10[e])).collect();
        let unit = pick_unit(&ks);
        let delta = pick_step_delta(&ks, unit);
        put_varint(&mut out, interval);
        out.push(e as u8 | if delta { STEP_DELTA } else { 0 });
        put_varint(&mut out, unit);

        let mut rc = RcEnc::new(out);
        let mut model = UintModel::new();
        let mut grid = first;
        for &(t, _) in rest {
            let (r, g) = grid_step(grid, t, interval);
            model.put(&mut rc, zigzag(r));
            grid = g;
        }
        encode_values(&mut rc, samples, &ks, unit as i64, delta);
        out = rc.finish();
    }
    let mut crc = flate2::Crc::new();
    crc.update(&out);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out
}

/// Decodes a chunk; Err with a human message on any malformed input, never panics (input may be corrupt).
pub fn decode(data: &[u8]) -> Result<Vec<(i64, f64)>, String> {
    let split = data.len().checked_sub(4).ok_or("chunk cut short")?;
    let (data, sum) = data.split_at(split);
    let mut crc = flate2::Crc::new();
    crc.update(data);
    if sum != crc.sum().to_le_bytes() {
        return Err("chunk checksum mismatch".into());
    }
    decode_unchecked(data)
}

/// Reads only the header: (number of samples, min timestamp, max timestamp), cheap.
///
/// An empty chunk gives (0, 0, 0). Neither the checksum nor the body is
/// looked at: [`decode`] may still fail.
pub fn header(data: &[u8]) -> Result<(usize, i64, i64), String> {
    read_header(&mut Reader { b: data, i: 0 })
}

/// Merges two sorted sample lists; on equal timestamps the one from `newer` wins. Output strictly increasing.
///
/// A list that is not strictly increasing is sorted first (of equal
/// timestamps within it, the last one is kept).
pub fn merge(older: &[(i64, f64)], newer: &[(i64, f64)]) -> Vec<(i64, f64)> {
    let (sorted_older, sorted_newer);
    let (mut older, mut newer) = (older, newer);
    if !strictly_increasing(older) {
        sorted_older = normalize(older);
        older = &sorted_older;
    }
    if !strictly_increasing(newer) {
        sorted_newer = normalize(newer);
        newer = &sorted_newer;
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
    v.sort_by_key(|x| x.0); // stable: equal timestamps keep their order
    let mut out: Vec<(i64, f64)> = Vec::with_capacity(v.len());
    for x in v {
        match out.last_mut() {
            Some(l) if l.0 == x.0 => *l = x,
            _ => out.push(x),
        }
    }
    out
}

// ---- encoder's choices ----

/// The offset of `t` from the grid point after `grid`, and the next grid
/// point: that one, or `t` itself when the offset is too large to be jitter.
fn grid_step(grid: i64, t: i64, interval: u64) -> (i64, i64) {
    let pred = grid.wrapping_add(interval as i64);
    let r = t.wrapping_sub(pred);
    let tolerance = (interval / 8).min(1000);
    let next = if r.unsigned_abs() > tolerance {
        t
    } else {
        pred
    };
    (r, next)
}

/// The grid interval: of the median interval, the mean one and their
/// neighbours, the one whose offsets code smallest.
fn pick_interval(samples: &[(i64, f64)]) -> u64 {
    let mut d: Vec<u64> = samples
        .windows(2)
        .map(|w| w[1].0.wrapping_sub(w[0].0) as u64)
        .collect();
    if d.is_empty() {
        return 0;
    }
    let span = d.iter().fold(0u64, |a, &x| a.wrapping_add(x));
    let mean = span / d.len() as u64;
    let mid = d.len() / 2;
    let median = *d.select_nth_unstable(mid).1;
    let mut best = (f64::INFINITY, 0);
    for c in [
        median,
        median.wrapping_sub(1),
        median.wrapping_add(1),
        mean,
        mean.wrapping_sub(1),
        mean.wrapping_add(1),
    ] {
        if c > i64::MAX as u64 {
            continue;
        }
        let mut cost = Cost::default();
        let mut grid = samples[0].0;
        for &(t, _) in &samples[1..] {
            let (r, g) = grid_step(grid, t, c);
            cost.add(zigzag(r), false);
            grid = g;
        }
        if cost.bits() < best.0 {
            best = (cost.bits(), c);
        }
    }
    best.1
}

/// The decimal scale at which the values cost least (by a rough count of
/// bits): the smallest that makes every finite value a scaled integer, or
/// a smaller one if that is cheaper.
fn pick_scale(samples: &[(i64, f64)]) -> usize {
    let mut best = (u64::MAX, 0);
    for (e, &p) in POW10.iter().enumerate() {
        let mut cost = 0u64;
        let mut all = true;
        let mut prev = 0u64;
        let mut prev_k = Some(0i64);
        for &(_, v) in samples {
            let b = v.to_bits();
            let k = scaled(v, p);
            if k.is_none() && v.is_finite() && b != NEG_ZERO {
                all = false;
            }
            if b != prev {
                cost += match (prev_k, k) {
                    (Some(a), Some(c)) => step_cost(c - a).min(xor_cost(b ^ prev)),
                    _ => xor_cost(b ^ prev),
                };
            }
            prev = b;
            prev_k = k;
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

/// The greatest common divisor of the integer steps (1 if none; at most
/// 2^54, as steps are).
fn pick_unit(ks: &[Option<i64>]) -> u64 {
    let mut unit = 0u64;
    for w in ks.windows(2) {
        if let (Some(a), Some(b)) = (w[0], w[1]) {
            unit = gcd(unit, (b - a).unsigned_abs());
        }
    }
    unit.max(1)
}

/// True when the changes of step code smaller than the steps.
fn pick_step_delta(ks: &[Option<i64>], unit: u64) -> bool {
    let (mut plain, mut delta) = (Cost::default(), Cost::default());
    let mut prev_step = 0i64;
    for w in ks.windows(2) {
        let s = match (w[0], w[1]) {
            (Some(a), Some(b)) => (b - a) / unit as i64,
            _ => 0,
        };
        if s != 0 {
            plain.add(s.unsigned_abs() - 1, s < 0);
            let y = s - prev_step;
            delta.add(y.unsigned_abs(), y < 0);
        }
        prev_step = s;
    }
    delta.bits() < plain.bits()
}

/// An estimate of what a [`UintModel`] and a sign bit spend on some
/// numbers: the entropy of their bit lengths and signs, plus the bits below
/// the top one.
struct Cost {
    lengths: [u32; 65],
    low_bits: u64,
    n: u32,
    negative: u32,
}

impl Default for Cost {
    fn default() -> Self {
        Cost {
            lengths: [0; 65],
            low_bits: 0,
            n: 0,
            negative: 0,
        }
    }
}

impl Cost {
    fn add(&mut self, magnitude: u64, negative: bool) {
        let nb = bit_len(magnitude);
        if let Some(c) = self.lengths.get_mut(nb as usize) {
            *c += 1;
        }
        self.low_bits += u64::from(nb.saturating_sub(1));
        self.n += 1;
        self.negative += u32::from(negative);
    }

    fn bits(&self) -> f64 {
        let n = f64::from(self.n);
        let h = |c: u32| {
            if c == 0 {
                0.0
            } else {
                f64::from(c) * (n / f64::from(c)).log2()
            }
        };
        let lengths: f64 = self.lengths.iter().map(|&c| h(c)).sum();
        lengths + h(self.negative) + h(self.n - self.negative) + self.low_bits as f64
    }
}

/// `v` as an integer k with `k as f64 / p` == `v` bit for bit, if any.
#[inline]
fn scaled(v: f64, p: f64) -> Option<i64> {
    let x = (v * p).round();
    if x.is_nan() || x.abs() > EXACT {
        return None;
    }
    let k = x as i64;
    ((k as f64 / p).to_bits() == v.to_bits()).then_some(k)
}

/// Rough bits for an integer step.
fn step_cost(s: i64) -> u64 {
    u64::from(bit_len(s.unsigned_abs())) + 3
}

/// Rough bits for an XOR.
fn xor_cost(x: u64) -> u64 {
    let (lead, trail) = lead_trail(x);
    8 * u64::from(8 - lead - trail) + 4
}

/// The zero bytes at the top and bottom of a non-zero XOR (at most 7 in all).
fn lead_trail(x: u64) -> (u32, u32) {
    let lead = (x.leading_zeros() / 8).min(7);
    let trail = (x.trailing_zeros() / 8).min(7 - lead);
    (lead, trail)
}

fn bit_len(v: u64) -> u32 {
    64 - v.leading_zeros()
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

// ---- values ----

/// The adaptive models of the value codes.
struct ValueModel {
    same: [Prob; 2],
    kind: Prob,
    sign: Prob,
    step: UintModel,
    first: [Prob; 128],
    lead_trail: [Prob; 64],
    bytes: [[Prob; 256]; 8],
}

impl ValueModel {
    fn new() -> Self {
        ValueModel {
            same: [HALF; 2],
            kind: HALF,
            sign: HALF,
            step: UintModel::new(),
            first: [HALF; 128],
            lead_trail: [HALF; 64],
            bytes: [[HALF; 256]; 8],
        }
    }
}

fn encode_values(
    rc: &mut RcEnc,
    samples: &[(i64, f64)],
    ks: &[Option<i64>],
    unit: i64,
    delta: bool,
) {
    let mut m = ValueModel::new();
    let mut prev = 0u64;
    let mut prev_k = Some(0i64);
    let mut prev_step = 0i64;
    let mut was_same = 0;
    for (i, (&(_, v), &k)) in samples.iter().zip(ks).enumerate() {
        let b = v.to_bits();
        let x = b ^ prev;
        let u = if i == 0 { 1 } else { unit };
        let old_k = prev_k;
        prev = b;
        prev_k = k;
        rc.bit(&mut m.same[was_same], x == 0);
        was_same = usize::from(x == 0);
        let mut step = 0;
        if x != 0 {
            let mut xor = true;
            if let Some(a) = old_k {
                // Bits differ, so k differs from a, and u divides the step.
                let s = k.map(|c| (c - a) / u);
                let use_step = s.is_some_and(|s| step_cost(s) <= xor_cost(x));
                rc.bit(&mut m.kind, !use_step);
                if let (true, Some(s)) = (use_step, s) {
                    xor = false;
                    step = s;
                    if i == 0 {
                        put_wide(rc, &mut m.first, s.unsigned_abs() - 1);
                        rc.bit(&mut m.sign, s < 0);
                    } else {
                        let y = if delta { s - prev_step } else { s };
                        m.step.put(rc, y.unsigned_abs() - u64::from(!delta));
                        if y != 0 {
                            rc.bit(&mut m.sign, y < 0);
                        }
                    }
                }
            }
            if xor {
                let (lead, trail) = lead_trail(x);
                put_tree(rc, &mut m.lead_trail, 6, lead << 3 | trail);
                let be = x.to_be_bytes();
                for (j, probs) in m.bytes.iter_mut().enumerate() {
                    if j >= lead as usize && j < 8 - trail as usize {
                        if j < MODELLED_BYTES {
                            put_tree(rc, probs, 8, u32::from(be[j]));
                        } else {
                            rc.direct(u64::from(be[j]), 8);
                        }
                    }
                }
            }
        }
        if i > 0 {
            prev_step = step;
        }
    }
}

/// Decodes a chunk whose checksum was checked (or cut off).
fn decode_unchecked(data: &[u8]) -> Result<Vec<(i64, f64)>, String> {
    let mut r = Reader { b: data, i: 0 };
    let (n, first, last) = read_header(&mut r)?;
    if n == 0 {
        if r.i != data.len() {
            return Err("bytes after an empty chunk".into());
        }
        return Ok(Vec::new());
    }
    let interval = r.varint()?;
    if interval > i64::MAX as u64 {
        return Err("grid interval out of range".into());
    }
    let params = r.byte()?;
    if params & !(STEP_DELTA | SCALE_MASK) != 0 {
        return Err(format!("unknown chunk parameters {params:#x}"));
    }
    let delta = params & STEP_DELTA != 0;
    let e = usize::from(params & SCALE_MASK);
    let p = *POW10
        .get(e)
        .ok_or_else(|| format!("bad decimal scale {e}"))?;
    let unit = r.varint()?;
    if unit == 0 || unit > 1 << 54 {
        return Err(format!("bad step unit {unit}"));
    }
    let unit = unit as i64;
    let stream = data.get(r.i..).unwrap_or(&[]);
    let mut rc = RcDec::new(stream);

    // Grow as samples decode rather than trust the count up front.
    let mut out: Vec<(i64, f64)> = Vec::with_capacity(n.min(stream.len().saturating_mul(8)));
    out.push((first, 0.0));
    let mut model = UintModel::new();
    let (mut t, mut grid) = (first, first);
    for _ in 1..n {
        let r = unzigzag(model.get(&mut rc)?);
        let next = grid.wrapping_add(interval as i64).wrapping_add(r);
        if next <= t {
            return Err("timestamps not increasing".into());
        }
        grid = grid_step(grid, next, interval).1;
        t = next;
        out.push((t, 0.0));
        if rc.short {
            return Err("chunk cut short".into());
        }
    }
    if t != last {
        return Err("last timestamp does not match the header".into());
    }

    let mut m = ValueModel::new();
    let mut prev = 0u64;
    let mut prev_k = Some(0i64);
    let mut prev_step = 0i64;
    let mut was_same = 0;
    for (i, s) in out.iter_mut().enumerate() {
        let u = if i == 0 { 1 } else { unit };
        let same = rc.bit(&mut m.same[was_same]);
        was_same = usize::from(same);
        let mut step = 0;
        if !same {
            let is_step = prev_k.is_some() && !rc.bit(&mut m.kind);
            match (is_step, prev_k) {
                (true, Some(a)) => {
                    let plain = i == 0 || !delta;
                    let mag = if i == 0 {
                        get_wide(&mut rc, &mut m.first)?
                    } else {
                        m.step.get(&mut rc)?
                    };
                    let y = mag
                        .checked_add(u64::from(plain))
                        .and_then(|y| i64::try_from(y).ok())
                        .ok_or("integer step out of range")?;
                    let y = if y != 0 && rc.bit(&mut m.sign) { -y } else { y };
                    step = if plain {
                        Some(y)
                    } else {
                        y.checked_add(prev_step)
                    }
                    .ok_or("integer step out of range")?;
                    let k = step
                        .checked_mul(u)
                        .and_then(|d| d.checked_add(a))
                        .filter(|k| k.unsigned_abs() <= 1 << 53)
                        .ok_or("integer step out of range")?;
                    prev = (k as f64 / p).to_bits();
                    prev_k = Some(k);
                }
                _ => {
                    let lt = get_tree(&mut rc, &mut m.lead_trail, 6) as usize;
                    let (lead, trail) = (lt >> 3, lt & 7);
                    if lead + trail > 7 {
                        return Err(format!("bad XOR byte range {lead}/{trail}"));
                    }
                    let mut be = [0u8; 8];
                    for (j, (b, probs)) in be.iter_mut().zip(m.bytes.iter_mut()).enumerate() {
                        if j >= lead && j < 8 - trail {
                            *b = if j < MODELLED_BYTES {
                                get_tree(&mut rc, probs, 8) as u8
                            } else {
                                rc.direct(8) as u8
                            };
                        }
                    }
                    prev ^= u64::from_be_bytes(be);
                    prev_k = scaled(f64::from_bits(prev), p);
                }
            }
        }
        if i > 0 {
            prev_step = step;
        }
        s.1 = f64::from_bits(prev);
        if rc.short {
            return Err("chunk cut short".into());
        }
    }
    if rc.i != stream.len() {
        return Err("bytes after the samples".into());
    }
    Ok(out)
}

fn read_header(r: &mut Reader<'_>) -> Result<(usize, i64, i64), String> {
    let format = r.byte()?;
    if format != FORMAT {
        return Err(format!("unknown chunk format {format:#x}"));
    }
    let n = r.varint()?;
    if n > MAX_SAMPLES as u64 {
        return Err(format!("sample count {n} over the limit of {MAX_SAMPLES}"));
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

// ---- the range coder (LZMA's) and its adaptive models ----

const PROB_BITS: u32 = 15;
const PROB_ONE: u32 = 1 << PROB_BITS;
/// The range is renormalized (a byte shifted out) below this.
const TOP: u32 = 1 << 24;
/// A probability moves by 1/(count + 2) until count + 2 reaches this, then
/// by 1/RATE_LIMIT.
const RATE_LIMIT: u32 = 32;

/// 2^16 / d, for the probability updates.
const RECIP: [u32; RATE_LIMIT as usize + 1] = {
    let mut t = [0u32; RATE_LIMIT as usize + 1];
    let mut d = 1;
    while d <= RATE_LIMIT as usize {
        t[d] = (1 << 16) / d as u32;
        d += 1;
    }
    t
};

/// An adaptive probability of a 0 bit (in 1/2^15), with its update count.
#[derive(Clone, Copy)]
struct Prob {
    p: u16,
    n: u16,
}

const HALF: Prob = Prob {
    p: 1 << (PROB_BITS - 1),
    n: 0,
};

impl Prob {
    #[inline]
    fn update(&mut self, bit: bool) {
        let d = (u32::from(self.n) + 2).min(RATE_LIMIT);
        let r = RECIP[d as usize];
        let p = u32::from(self.p);
        let p = if bit {
            p - ((p * r) >> 16)
        } else {
            p + (((PROB_ONE - p) * r) >> 16)
        };
        self.p = p.clamp(32, PROB_ONE - 32) as u16;
        self.n = self.n.saturating_add(1);
    }
}

/// Range encoder. The first byte LZMA writes is always 0 and is left out.
struct RcEnc {
    low: u64,
    range: u32,
    cache: u8,
    pending: u64,
    out: Vec<u8>,
    /// Where the coder's bytes start in `out`.
    start: usize,
    skip: bool,
}

impl RcEnc {
    fn new(out: Vec<u8>) -> Self {
        RcEnc {
            low: 0,
            range: u32::MAX,
            cache: 0,
            pending: 1,
            start: out.len(),
            out,
            skip: true,
        }
    }

    fn shift_low(&mut self) {
        if self.low < 0xff00_0000 || self.low >= 1 << 32 {
            let carry = (self.low >> 32) as u8;
            let mut b = self.cache;
            loop {
                if self.skip {
                    self.skip = false;
                } else {
                    self.out.push(b.wrapping_add(carry));
                }
                b = 0xff;
                self.pending -= 1;
                if self.pending == 0 {
                    break;
                }
            }
            self.cache = (self.low >> 24) as u8;
        }
        self.pending += 1;
        self.low = (self.low & 0x00ff_ffff) << 8;
    }

    #[inline]
    fn bit(&mut self, p: &mut Prob, bit: bool) {
        let bound = (self.range >> PROB_BITS) * u32::from(p.p);
        if bit {
            self.low += u64::from(bound);
            self.range -= bound;
        } else {
            self.range = bound;
        }
        p.update(bit);
        while self.range < TOP {
            self.range <<= 8;
            self.shift_low();
        }
    }

    /// The low `n` bits of `v`, top first, at probability 1/2.
    fn direct(&mut self, v: u64, n: u32) {
        for i in (0..n).rev() {
            self.range >>= 1;
            // Branch-free (see RcDec::direct).
            self.low += u64::from(self.range) & (v >> i & 1).wrapping_neg();
            if self.range < TOP {
                self.range <<= 8;
                self.shift_low();
            }
        }
    }

    /// Flushes the coder. Of the values in [low, low + range) it writes the
    /// one with the most zero bytes at the end and leaves those out (at most
    /// [`PAD`]): the decoder reads missing bytes as zeros.
    fn finish(mut self) -> Vec<u8> {
        let end = self.low + u64::from(self.range);
        for zeros in (1..=4).rev() {
            let mask = (1u64 << (8 * zeros)) - 1;
            let v = (self.low + mask) & !mask;
            if v < end {
                self.low = v;
                break;
            }
        }
        for _ in 0..5 {
            self.shift_low();
        }
        for _ in 0..PAD {
            if self.out.len() <= self.start || self.out.last() != Some(&0) {
                break;
            }
            self.out.pop();
        }
        self.out
    }
}

/// The most zero bytes the encoder leaves off the end of its stream.
const PAD: u32 = 4;

/// Range decoder. Reading past the end gives zeros; more than [`PAD`] of
/// them set `short`.
struct RcDec<'a> {
    b: &'a [u8],
    i: usize,
    range: u32,
    code: u32,
    over: u32,
    short: bool,
}

impl<'a> RcDec<'a> {
    fn new(b: &'a [u8]) -> Self {
        let mut d = RcDec {
            b,
            i: 0,
            range: u32::MAX,
            code: 0,
            over: 0,
            short: false,
        };
        for _ in 0..4 {
            d.code = d.code << 8 | d.byte();
        }
        d
    }

    #[inline]
    fn byte(&mut self) -> u32 {
        match self.b.get(self.i) {
            Some(&x) => {
                self.i += 1;
                u32::from(x)
            }
            None => {
                self.over = self.over.saturating_add(1);
                self.short = self.over > PAD;
                0
            }
        }
    }

    #[inline]
    fn bit(&mut self, p: &mut Prob) -> bool {
        let bound = (self.range >> PROB_BITS) * u32::from(p.p);
        let bit = if self.code < bound {
            self.range = bound;
            false
        } else {
            self.code -= bound;
            self.range -= bound;
            true
        };
        p.update(bit);
        while self.range < TOP {
            self.range <<= 8;
            self.code = self.code << 8 | self.byte();
        }
        bit
    }

    /// `n` bits at probability 1/2, top first. Branch-free per bit: the
    /// bits of a float's mantissa are as good as random, so a branch on
    /// each would be mispredicted half the time.
    fn direct(&mut self, n: u32) -> u64 {
        let mut v = 0u64;
        for _ in 0..n {
            self.range >>= 1;
            let bit = u32::from(self.code >= self.range);
            self.code -= self.range & bit.wrapping_neg();
            v = v << 1 | u64::from(bit);
            if self.range < TOP {
                self.range <<= 8;
                self.code = self.code << 8 | self.byte();
            }
        }
        v
    }
}

/// Codes the low `bits` bits of `v`, top first, each with the probability
/// of its prefix in `probs` (2^bits of them).
fn put_tree(rc: &mut RcEnc, probs: &mut [Prob], bits: u32, v: u32) {
    let mut m = 1usize;
    for i in (0..bits).rev() {
        let b = v >> i & 1;
        if let Some(p) = probs.get_mut(m) {
            rc.bit(p, b == 1);
        }
        m = m << 1 | b as usize;
    }
}

fn get_tree(rc: &mut RcDec<'_>, probs: &mut [Prob], bits: u32) -> u32 {
    let mut m = 1usize;
    for _ in 0..bits {
        let b = match probs.get_mut(m) {
            Some(p) => rc.bit(p),
            None => false,
        };
        m = m << 1 | usize::from(b);
    }
    (m - (1 << bits)) as u32
}

/// Bit lengths up to this are coded in unary, longer ones after it as a
/// 6-bit tree.
const UNARY: u32 = 20;

/// Bits below the top one coded with a tree per bit length; the rest are
/// direct.
const TOP_BITS: u32 = 3;

/// The adaptive model of an unsigned integer: its bit length, then up to
/// TOP_BITS bits below its top bit (a tree per bit length), then the rest
/// direct.
struct UintModel {
    len: [Prob; UNARY as usize + 1],
    long: [Prob; 64],
    top: [[Prob; 1 << TOP_BITS]; 65],
}

impl UintModel {
    fn new() -> Self {
        UintModel {
            len: [HALF; UNARY as usize + 1],
            long: [HALF; 64],
            top: [[HALF; 1 << TOP_BITS]; 65],
        }
    }

    fn put(&mut self, rc: &mut RcEnc, v: u64) {
        let nb = bit_len(v);
        for (j, p) in self.len.iter_mut().enumerate() {
            let more = nb > j as u32;
            rc.bit(p, more);
            if !more {
                break;
            }
        }
        if nb > UNARY {
            put_tree(rc, &mut self.long, 6, nb - UNARY - 1);
        }
        if nb >= 2 {
            let extra = nb - 1;
            let t = extra.min(TOP_BITS);
            let rest = extra - t;
            let hi = (v >> rest) as u32 & ((1 << t) - 1);
            if let Some(top) = self.top.get_mut(nb as usize) {
                put_tree(rc, top, t, hi);
            }
            rc.direct(v & ((1u64 << rest) - 1), rest);
        }
    }

    fn get(&mut self, rc: &mut RcDec<'_>) -> Result<u64, String> {
        let mut nb = 0;
        for p in self.len.iter_mut() {
            if !rc.bit(p) {
                break;
            }
            nb += 1;
        }
        if nb > UNARY {
            nb = UNARY + 1 + get_tree(rc, &mut self.long, 6);
        }
        if nb < 2 {
            return Ok(u64::from(nb));
        }
        let top = self.top.get_mut(nb as usize).ok_or("integer too long")?;
        let extra = nb - 1;
        let t = extra.min(TOP_BITS);
        let rest = extra - t;
        let hi = u64::from(get_tree(rc, top, t));
        let lo = rc.direct(rest);
        Ok(1u64 << extra | hi << rest | lo)
    }
}

/// An unsigned integer with no history to learn from (the first value):
/// its bit length as a 7-bit tree, then the bits below the top one direct.
fn put_wide(rc: &mut RcEnc, probs: &mut [Prob; 128], v: u64) {
    let nb = bit_len(v);
    put_tree(rc, probs, 7, nb);
    if nb >= 2 {
        rc.direct(v, nb - 1);
    }
}

fn get_wide(rc: &mut RcDec<'_>, probs: &mut [Prob; 128]) -> Result<u64, String> {
    let nb = get_tree(rc, probs, 7);
    match nb {
        0 | 1 => Ok(u64::from(nb)),
        2..=64 => Ok(1 << (nb - 1) | rc.direct(nb - 1)),
        _ => Err("integer too long".into()),
    }
}

// ---- plain bytes ----

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, String> {
        let v = *self.b.get(self.i).ok_or("chunk cut short")?;
        self.i += 1;
        Ok(v)
    }

    fn varint(&mut self) -> Result<u64, String> {
        varint::read(self.b, &mut self.i).map_err(|e| format!("chunk cut short: {e}"))
    }
}

#[cfg(test)]
mod tests {
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
}
