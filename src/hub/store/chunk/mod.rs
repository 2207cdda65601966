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

mod choose;
mod rc;
mod values;

use picket_core::varint::{self, put as put_varint, unzigzag, zigzag};

use choose::{pick_interval, pick_scale, pick_step_delta, pick_unit, scaled};
use rc::{RcDec, RcEnc, UintModel};
use values::{decode_values, encode_values};

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
pub(crate) fn decode(data: &[u8]) -> Result<Vec<(i64, f64)>, String> {
    let split = data.len().checked_sub(4).ok_or("chunk cut short")?;
    let (data, sum) = data.split_at(split);
    let mut crc = flate2::Crc::new();
    crc.update(data);
    if sum != crc.sum().to_le_bytes() {
        return Err("chunk checksum mismatch".into());
    }
    decode_unchecked(data)
}

#[cfg(test)]
/// Reads only the header: (number of samples, min timestamp, max timestamp), cheap.
///
/// An empty chunk gives (0, 0, 0). Neither the checksum nor the body is
/// looked at: [`decode`] may still fail.
pub(crate) fn header(data: &[u8]) -> Result<(usize, i64, i64), String> {
    read_header(&mut Reader { b: data, i: 0 })
}

/// Merges two sorted sample lists; on equal timestamps the one from `newer` wins. Output strictly increasing.
///
/// A list that is not strictly increasing is sorted first (of equal
/// timestamps within it, the last one is kept).
pub(crate) fn merge(older: &[(i64, f64)], newer: &[(i64, f64)]) -> Vec<(i64, f64)> {
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

    decode_values(&mut rc, &mut out, p, unit, delta)?;
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
mod tests;
