//! The on-disk encoding of one buffered batch (one collection).
//!
//! Why not store the remote_write body itself (vmagent's choice)? Its labels
//! repeat in every request: 20 to 30 bytes per sample after Snappy, against a
//! budget of 4. Here a batch is a list of series ids (the labels live once in
//! the `series` table) and its values, each XORed with the same series'
//! value in the previous batch of the file (Gorilla's idea: counters and
//! gauges that did not move XOR to zero, and ones that moved keep only
//! their changed middle bytes), the whole deflated.
//!
//! Layout before deflate:
//!
//! ```text
//! flags u8            bit 0: keyframe (XOR base is zero, series list present)
//!                     bit 1: series list present (else: same as previous batch)
//! [n varint, n × series id delta (zigzag varint)]      when bit 1
//! n × value            0x00 for an unchanged value;
//!                      0x01..=0x3f: an integer step of unzigzag(byte);
//!                      0x40, zigzag varint: a larger integer step;
//!                      0x80 | lead << 3 | trail, then the 8-lead-trail middle
//!                      bytes (big-endian) of the XOR
//! m varint, m × (index varint, timestamp delta zigzag varint)
//!                      points whose timestamp is not the batch's
//! ```
//!
//! Integer steps (format 2) are for counters: a byte counter that grew by
//! 1500 XORs to four or five changed bytes but steps by two. They are used
//! only when both values are integers of at most 2^53 and the step decodes
//! to the very same bits; anything else is XORed.
//!
//! The XOR base of a batch is the previous batch only (series absent there
//! XOR with zero), so deleting the oldest batches needs only the new oldest
//! rewritten as a keyframe.

use std::collections::HashMap;
use std::io::{Read, Write};

use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::Compression;

use picket_core::varint::{self, put as put_varint, unzigzag, zigzag};

const KEYFRAME: u8 = 1;
const SERIES: u8 = 2;

/// Series ids below this are kept in a [`Chain`]'s vector (8 MB at most);
/// larger ones in a map, so that memory follows the batch, not the ids.
const DENSE_IDS: usize = 1 << 20;

/// One batch as the buffer stores it: series ids, values and timestamps.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Rows {
    /// Series ids (keys of the `series` table), one per point.
    pub series: Vec<u32>,
    /// Values, one per point.
    pub values: Vec<f64>,
    /// Points whose timestamp differs from the batch's: (index, ms).
    pub stamps: Vec<(u32, i64)>,
}

/// The previous batch of a chain: what the next one is XORed against.
#[derive(Clone, Debug, Default)]
pub(crate) struct Chain {
    /// Value bits by series id, for the series of the previous batch with
    /// an id below [`DENSE_IDS`].
    bits: Vec<u64>,
    /// The same for larger ids (none in a buffer of fewer series; a
    /// corrupt row may name any id, and must not cost memory by its value).
    sparse: HashMap<u32, u64>,
    /// The previous batch's series list (to clear `bits` and to detect a
    /// repeated list).
    series: Vec<u32>,
    /// False until a batch was seen; the next one must be a keyframe.
    started: bool,
}

impl Chain {
    /// Forgets the previous batch: the next one is (or is read as) a keyframe.
    pub(crate) fn reset(&mut self) {
        for &id in &self.series {
            if let Some(b) = self.bits.get_mut(id as usize) {
                *b = 0;
            }
        }
        self.sparse.clear();
        self.series.clear();
        self.started = false;
    }

    /// True when a previous batch is known.
    pub(crate) fn started(&self) -> bool {
        self.started
    }

    fn base(&self, id: u32) -> u64 {
        match self.bits.get(id as usize) {
            Some(&b) => b,
            None => self.sparse.get(&id).copied().unwrap_or(0),
        }
    }

    fn advance(&mut self, rows: &Rows) {
        self.reset();
        for (&id, v) in rows.series.iter().zip(&rows.values) {
            let i = id as usize;
            if i >= DENSE_IDS {
                self.sparse.insert(id, v.to_bits());
                continue;
            }
            if i >= self.bits.len() {
                self.bits.resize(i + 1, 0);
            }
            self.bits[i] = v.to_bits();
        }
        self.series.clone_from(&rows.series);
        self.started = true;
    }
}

/// Encodes `rows` into `out` (replacing its contents) after the chain's
/// previous batch (or as a keyframe when `keyframe` is set or the chain is
/// new), and advances the chain.
/// `level` trades time for size: appends use the default, the keyframe
/// rewrite on the drain path uses the fastest.
pub(crate) fn encode(
    rows: &Rows,
    chain: &mut Chain,
    keyframe: bool,
    level: Compression,
    out: &mut Vec<u8>,
) {
    let keyframe = keyframe || !chain.started;
    if keyframe {
        chain.reset();
    }
    let list = keyframe || rows.series != chain.series;
    let mut raw = Vec::with_capacity(rows.series.len() * 3 + 16);
    raw.push(if keyframe {
        KEYFRAME | SERIES
    } else if list {
        SERIES
    } else {
        0
    });
    if list {
        put_varint(&mut raw, rows.series.len() as u64);
        let mut prev = 0i64;
        for &id in &rows.series {
            put_varint(&mut raw, zigzag(i64::from(id) - prev));
            prev = i64::from(id);
        }
    }
    for (&id, v) in rows.series.iter().zip(&rows.values) {
        let base = chain.base(id);
        let x = v.to_bits() ^ base;
        if x == 0 {
            raw.push(0);
            continue;
        }
        if let Some(step) = int_step(f64::from_bits(base), *v) {
            let z = zigzag(step);
            if z < 0x40 {
                raw.push(z as u8);
            } else {
                raw.push(0x40);
                put_varint(&mut raw, z);
            }
            continue;
        }
        let lead = (x.leading_zeros() / 8).min(7);
        let trail = (x.trailing_zeros() / 8).min(7 - lead);
        raw.push(0x80 | (lead as u8) << 3 | trail as u8);
        let be = x.to_be_bytes();
        raw.extend_from_slice(&be[lead as usize..8 - trail as usize]);
    }
    put_varint(&mut raw, rows.stamps.len() as u64);
    let mut prev = 0i64;
    for &(i, ts) in &rows.stamps {
        put_varint(&mut raw, u64::from(i));
        put_varint(&mut raw, zigzag(ts.wrapping_sub(prev)));
        prev = ts;
    }
    out.clear();
    let mut enc = DeflateEncoder::new(std::mem::take(out), level);
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(&raw);
    *out = enc.finish().unwrap_or_default();
    chain.advance(rows);
}

/// Largest integer every f64 up to which is exact.
const EXACT: f64 = 9_007_199_254_740_992.0;

/// The integer step from `prev` to `v`, when both are integers and the step
/// decodes back to exactly `v`'s bits.
fn int_step(prev: f64, v: f64) -> Option<i64> {
    let int = |x: f64| x.fract() == 0.0 && x.abs() <= EXACT;
    if !int(prev) || !int(v) {
        return None;
    }
    let step = (v as i64).checked_sub(prev as i64)?;
    // A step of zero between different bits (-0.0 to 0.0) would be written
    // as 0x00, which reads as "unchanged": such a change is XORed.
    (step != 0 && apply_step(prev, step)?.to_bits() == v.to_bits()).then_some(step)
}

/// `prev` plus an integer step, as the decoder computes it.
fn apply_step(prev: f64, step: i64) -> Option<f64> {
    if prev.fract() != 0.0 || prev.abs() > EXACT {
        return None;
    }
    Some((prev as i64).checked_add(step)? as f64)
}

/// True when an encoded batch is a keyframe (decodable on its own).
pub(crate) fn is_keyframe(data: &[u8]) -> bool {
    let mut first = [0u8; 1];
    matches!(DeflateDecoder::new(data).read(&mut first), Ok(1) if first[0] & KEYFRAME != 0)
}

/// Decodes a batch written by [`encode`] after the chain's previous batch,
/// and advances the chain. A non-keyframe on a chain that has not started,
/// or bytes that are not a batch, give an error and leave the chain reset.
pub(crate) fn decode(data: &[u8], chain: &mut Chain) -> Result<Rows, String> {
    let res = decode_inner(data, chain);
    match &res {
        Ok(rows) => chain.advance(rows),
        Err(_) => chain.reset(),
    }
    res
}

fn decode_inner(data: &[u8], chain: &mut Chain) -> Result<Rows, String> {
    let mut raw = Vec::with_capacity(data.len() * 4);
    DeflateDecoder::new(data)
        .read_to_end(&mut raw)
        .map_err(|e| format!("inflate: {e}"))?;
    let mut r = Reader { b: &raw, i: 0 };
    let flags = r.byte()?;
    if flags & KEYFRAME != 0 {
        chain.reset();
    } else if !chain.started {
        return Err("delta batch without its predecessor".into());
    }
    let mut rows = Rows::default();
    if flags & SERIES != 0 {
        let n = r.varint()?;
        if n > raw.len() as u64 {
            return Err("series count larger than the batch".into());
        }
        let mut prev = 0i64;
        for _ in 0..n {
            prev = prev
                .checked_add(unzigzag(r.varint()?))
                .ok_or("series id out of range")?;
            rows.series
                .push(u32::try_from(prev).map_err(|_| "series id out of range")?);
        }
    } else {
        rows.series.clone_from(&chain.series);
    }
    rows.values.reserve(rows.series.len());
    for &id in &rows.series {
        let h = r.byte()?;
        let base = chain.base(id);
        if h != 0 && h & 0x80 == 0 {
            let z = if h == 0x40 {
                r.varint()?
            } else if h < 0x40 {
                u64::from(h)
            } else {
                return Err(format!("bad value header {h:#x}"));
            };
            let v = apply_step(f64::from_bits(base), unzigzag(z))
                .ok_or("integer step from a value that is not an integer")?;
            rows.values.push(v);
            continue;
        }
        let x = if h == 0 {
            0
        } else {
            let lead = usize::from(h >> 3 & 7);
            let trail = usize::from(h & 7);
            if lead + trail > 7 {
                return Err(format!("bad value header {h:#x}"));
            }
            let mut be = [0u8; 8];
            be[lead..8 - trail].copy_from_slice(r.take(8 - lead - trail)?);
            u64::from_be_bytes(be)
        };
        rows.values.push(f64::from_bits(x ^ base));
    }
    let m = r.varint()?;
    let mut prev = 0i64;
    for _ in 0..m {
        let i = u32::try_from(r.varint()?).map_err(|_| "stamp index out of range")?;
        if i as usize >= rows.series.len() {
            return Err("stamp index out of range".into());
        }
        prev = prev.wrapping_add(unzigzag(r.varint()?));
        rows.stamps.push((i, prev));
    }
    if r.i != raw.len() {
        return Err("trailing bytes after the batch".into());
    }
    Ok(rows)
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, String> {
        let v = *self.b.get(self.i).ok_or("batch cut short")?;
        self.i += 1;
        Ok(v)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let s = self.b.get(self.i..self.i + n).ok_or("batch cut short")?;
        self.i += n;
        Ok(s)
    }

    fn varint(&mut self) -> Result<u64, String> {
        varint::read(self.b, &mut self.i).map_err(|e| format!("batch cut short: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(series: &[u32], values: &[f64]) -> Rows {
        Rows {
            series: series.to_vec(),
            values: values.to_vec(),
            stamps: Vec::new(),
        }
    }

    fn same(a: &Rows, b: &Rows) -> bool {
        a.series == b.series
            && a.stamps == b.stamps
            && a.values
                .iter()
                .map(|v| v.to_bits())
                .eq(b.values.iter().map(|v| v.to_bits()))
    }

    #[test]
    fn chain_round_trip_with_changing_series_and_special_values() {
        let batches = [
            rows(&[1, 2, 3], &[1.0, 2.5, f64::NAN]),
            rows(&[1, 2, 3], &[1.0, 2.75, f64::INFINITY]),
            rows(&[1, 3, 7], &[1.5, -0.0, 1e300]),
            Rows {
                series: vec![7, 1],
                values: vec![1e300, 1.5],
                stamps: vec![(1, 1_700_000_000_123), (0, -5)],
            },
            rows(&[], &[]),
            rows(&[2], &[f64::from_bits(0x7ff0000000000002)]),
        ];
        let (mut w, mut r) = (Chain::default(), Chain::default());
        for (i, b) in batches.iter().enumerate() {
            let mut data = Vec::new();
            encode(b, &mut w, false, Compression::default(), &mut data);
            assert_eq!(is_keyframe(&data), i == 0);
            let got = decode(&data, &mut r).expect("decodes");
            assert!(same(&got, b), "batch {i}: {got:?} != {b:?}");
        }
    }

    #[test]
    fn a_rewritten_keyframe_decodes_the_rest_of_the_chain() {
        let a = rows(&[1, 2], &[10.0, 20.0]);
        let b = rows(&[1, 2], &[11.0, 20.0]);
        let c = rows(&[1, 2], &[12.0, 21.0]);
        let mut w = Chain::default();
        let (mut da, mut db, mut dc) = (Vec::new(), Vec::new(), Vec::new());
        encode(&a, &mut w, false, Compression::default(), &mut da);
        encode(&b, &mut w, false, Compression::default(), &mut db);
        encode(&c, &mut w, false, Compression::default(), &mut dc);
        // Drop a: rewrite b as a keyframe, then c still decodes after it.
        let mut r = Chain::default();
        decode(&da, &mut r).expect("a");
        let b2 = decode(&db, &mut r).expect("b");
        let mut kb = Vec::new();
        encode(
            &b2,
            &mut Chain::default(),
            true,
            Compression::default(),
            &mut kb,
        );
        let mut fresh = Chain::default();
        assert!(same(&decode(&kb, &mut fresh).expect("kb"), &b));
        assert!(same(&decode(&dc, &mut fresh).expect("c"), &c));
    }

    #[test]
    fn delta_without_predecessor_and_garbage_are_errors() {
        let mut w = Chain::default();
        let mut d1 = Vec::new();
        let mut d2 = Vec::new();
        encode(
            &rows(&[1], &[1.0]),
            &mut w,
            false,
            Compression::default(),
            &mut d1,
        );
        encode(
            &rows(&[1], &[2.0]),
            &mut w,
            false,
            Compression::default(),
            &mut d2,
        );
        assert!(decode(&d2, &mut Chain::default()).is_err());
        for bad in [&b""[..], b"\x00", b"garbage!", &d1[..d1.len() / 2]] {
            assert!(decode(bad, &mut Chain::default()).is_err(), "{bad:?}");
        }
    }

    /// `raw` (a batch before deflate) as the buffer stores it.
    fn deflated(raw: &[u8]) -> Vec<u8> {
        let mut enc = DeflateEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(raw).unwrap();
        enc.finish().unwrap()
    }

    /// Fuzz finding (tests/fuzz, buffer_codec): a corrupt row naming a
    /// series id near 2^31 made the chain grow a vector to that index
    /// (16 GB, out of memory) instead of costing what the batch holds.
    #[test]
    fn a_huge_series_id_costs_no_memory_by_its_value() {
        // Keyframe, 3 series: ids 0, 1207959551 (zigzag varint), same again.
        let raw = [3, 3, 0, 0xfe, 0xff, 0xff, 0xff, 0x08, 0, 0, 0, 0, 0];
        let mut chain = Chain::default();
        let first = decode(&deflated(&raw), &mut chain).expect("decodes");
        assert_eq!(first.series, [0, 1_207_959_551, 1_207_959_551]);
        assert!(chain.bits.len() <= DENSE_IDS);
        // Its values are the XOR base of the next batch all the same.
        let next = rows(&[0, 1_207_959_551], &[1.0, 2.5]);
        let (mut w, mut r) = (Chain::default(), Chain::default());
        for b in [&first, &next] {
            let mut data = Vec::new();
            encode(b, &mut w, false, Compression::default(), &mut data);
            assert!(same(&decode(&data, &mut r).expect("decodes"), b));
        }
    }

    /// Fuzz finding (tests/fuzz, buffer_codec): a series id delta of
    /// nearly 2^63 after a valid id overflowed the running sum (a panic
    /// with overflow checks) instead of being refused.
    #[test]
    fn a_series_id_delta_that_overflows_is_an_error() {
        let mut raw = vec![3, 2, 0x0a];
        raw.extend_from_slice(&[0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        raw.extend_from_slice(&[0, 0, 0]);
        let err = decode(&deflated(&raw), &mut Chain::default()).unwrap_err();
        assert!(err.contains("series id out of range"), "{err}");
    }

    #[test]
    fn steady_counters_cost_about_a_byte_per_sample() {
        // 1000 series: 700 constant, 300 counters moving by small steps.
        let ids: Vec<u32> = (1..=1000).collect();
        let mut w = Chain::default();
        let mut total = 0;
        for t in 0..20 {
            let values: Vec<f64> = ids
                .iter()
                .map(|&i| {
                    if i <= 700 {
                        i as f64
                    } else {
                        (i * 1000 + t * (i % 7)) as f64
                    }
                })
                .collect();
            let mut d = Vec::new();
            encode(
                &rows(&ids, &values),
                &mut w,
                false,
                Compression::default(),
                &mut d,
            );
            if t > 0 {
                total += d.len();
            }
        }
        let per_sample = total as f64 / (19.0 * 1000.0);
        assert!(per_sample < 1.0, "{per_sample} bytes per sample");
    }

    /// Found by a 10-minute fuzz run: a gauge going from -0.0 to 0.0 is an
    /// integer step of zero, whose byte (0x00) means "unchanged", so it
    /// read back as -0.0.
    #[test]
    fn a_change_of_zero_sign_round_trips() {
        let batches = [
            rows(&[1, 2], &[-0.0, 0.0]),
            rows(&[1, 2], &[0.0, -0.0]),
            rows(&[1, 2], &[-0.0, -0.0]),
        ];
        let (mut w, mut r) = (Chain::default(), Chain::default());
        for b in &batches {
            let mut out = Vec::new();
            encode(b, &mut w, false, Compression::fast(), &mut out);
            let back = decode(&out, &mut r).unwrap();
            assert!(same(b, &back), "{b:?} != {back:?}");
        }
    }

    #[test]
    fn integer_steps_round_trip_exactly_and_save_bytes() {
        // Integers near the exact limit, negative, -0.0 (not an integer
        // step: its sign would be lost), huge steps, then non-integers.
        let seq = [
            0.0,
            -0.0,
            1.0,
            1e15,
            -1e15,
            EXACT,
            EXACT + 2.0,
            -EXACT,
            EXACT,
            12.5,
            f64::NAN,
            3.0,
            f64::INFINITY,
            -7.0,
        ];
        let (mut w, mut r) = (Chain::default(), Chain::default());
        for (i, v) in seq.iter().enumerate() {
            let b = rows(&[5], &[*v]);
            let mut d = Vec::new();
            encode(&b, &mut w, false, Compression::default(), &mut d);
            let got = decode(&d, &mut r).expect("decodes");
            assert!(same(&got, &b), "value {i}: {got:?} != {v}");
        }
        // A byte counter growing by a few kB: integer steps beat XOR.
        let ids: Vec<u32> = (1..=500).collect();
        let mut w = Chain::default();
        let mut total = 0;
        for t in 0..20u32 {
            let values: Vec<f64> = ids
                .iter()
                .map(|&i| f64::from(i) * 1e9 + f64::from(t * (1000 + i * 7)))
                .collect();
            let mut d = Vec::new();
            encode(
                &rows(&ids, &values),
                &mut w,
                false,
                Compression::default(),
                &mut d,
            );
            if t > 0 {
                total += d.len();
            }
        }
        let per_sample = total as f64 / (19.0 * 500.0);
        assert!(per_sample < 2.5, "{per_sample} bytes per sample");
    }
}
