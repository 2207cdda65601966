//! One series' samples in the head, packed.
//!
//! The head holds every series' open window, and while a backlog arrives
//! the window each series is filling: for 10,000 series at 15 s that is a
//! million samples or more. As `(i64, f64)` pairs in a growing `Vec` that
//! was 16 bytes a sample plus the `Vec`'s slack, 40 MiB at the benchmark's
//! peak; packed as below a node_exporter-shaped sample takes 2 to 4 bytes.
//!
//! Per sample, against the one before it (the first against zeros):
//!
//! ```text
//! ts    zigzag varint   the timestamp's change of step (delta of delta), ms
//! tz    u8              trailing zero bits of value bits XOR previous (64: equal)
//! xor   varint          (value bits XOR previous) >> tz; absent when tz = 64
//! ```
//!
//! Appends in time order (nearly all of them) are written at the end. An
//! older or repeated timestamp unpacks the series, merges (the later value
//! wins, so a retried push stores once) and packs it again. Values are kept
//! as bits: NaN payloads and stale markers come back exactly.

use super::chunk;
use super::Points;
use picket_core::varint::{put as put_uvarint, read as read_uvarint, unzigzag, zigzag};

/// A series' head samples, strictly increasing in time.
#[derive(Debug, Default)]
pub(crate) struct Packed {
    buf: Vec<u8>,
    n: usize,
    first_t: i64,
    last_t: i64,
    last_delta: i64,
    last_bits: u64,
}

impl Packed {
    /// Number of samples.
    pub(crate) fn len(&self) -> usize {
        self.n
    }

    /// True when it holds none.
    pub(crate) fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The first (oldest) timestamp.
    pub(crate) fn first_t(&self) -> Option<i64> {
        (self.n > 0).then_some(self.first_t)
    }

    /// The last (newest) timestamp.
    pub(crate) fn last_t(&self) -> Option<i64> {
        (self.n > 0).then_some(self.last_t)
    }

    /// Appends after the last sample (`t` greater than [`Packed::last_t`]).
    fn push(&mut self, t: i64, v: f64) {
        let (prev_t, prev_delta) = if self.n == 0 {
            self.first_t = t;
            (0, 0)
        } else {
            (self.last_t, self.last_delta)
        };
        let delta = t.wrapping_sub(prev_t);
        put_uvarint(&mut self.buf, zigzag(delta.wrapping_sub(prev_delta)));
        let bits = v.to_bits();
        let x = bits ^ self.last_bits;
        let tz = x.trailing_zeros();
        self.buf.push(tz as u8);
        if x != 0 {
            put_uvarint(&mut self.buf, x >> tz);
        }
        self.last_t = t;
        self.last_delta = delta;
        self.last_bits = bits;
        self.n += 1;
    }

    /// Adds samples in any order; a timestamp already held takes the new
    /// value. Returns how many timestamps are new.
    pub(crate) fn extend(&mut self, points: &[(i64, f64)]) -> usize {
        let in_order = points.windows(2).all(|w| w[0].0 < w[1].0)
            && points
                .first()
                .is_none_or(|p| self.n == 0 || p.0 > self.last_t);
        if in_order {
            for &(t, v) in points {
                self.push(t, v);
            }
            return points.len();
        }
        let before = self.n;
        *self = Packed::from_points(chunk::merge(&self.points(), points));
        self.n - before
    }

    /// Puts back samples taken out earlier: on a timestamp held, the held
    /// (newer) value stays. Returns how many timestamps are new.
    pub(crate) fn put_back(&mut self, older: &[(i64, f64)]) -> usize {
        let before = self.n;
        *self = Packed::from_points(chunk::merge(older, &self.points()));
        self.n - before
    }

    /// Packs strictly increasing samples.
    fn from_points(points: impl IntoIterator<Item = (i64, f64)>) -> Packed {
        let points = points.into_iter();
        let mut p = Packed {
            buf: Vec::with_capacity(points.size_hint().1.unwrap_or(0) * 3),
            ..Packed::default()
        };
        for (t, v) in points {
            p.push(t, v);
        }
        p
    }

    /// The samples, oldest first, unpacked as they are read.
    pub(crate) fn iter(&self) -> Cursor<'_> {
        Cursor {
            buf: &self.buf,
            pos: 0,
            left: self.n,
            t: 0,
            delta: 0,
            bits: 0,
        }
    }

    /// All samples.
    pub(crate) fn points(&self) -> Points {
        let mut out = Vec::with_capacity(self.n);
        out.extend(self.iter());
        out
    }

    /// The samples with `mint <= t <= maxt`.
    pub(crate) fn range(&self, mint: i64, maxt: i64) -> Points {
        if self.n == 0 || maxt < self.first_t || mint > self.last_t {
            return Vec::new();
        }
        self.iter()
            .skip_while(|p| p.0 < mint)
            .take_while(|p| p.0 <= maxt)
            .collect()
    }

    /// Takes out the samples before `cut`, still packed (None when there
    /// are none); the rest is packed again, in a tight allocation of its
    /// own. When all of them are before `cut` they move out as they are.
    pub(crate) fn split_before(&mut self, cut: i64) -> Option<Packed> {
        if self.n == 0 || self.first_t >= cut {
            return None;
        }
        if self.last_t < cut {
            return Some(std::mem::take(self));
        }
        // The older part is a prefix of the bytes, its state that of the
        // cursor after its last sample; the rest starts against zeros, so
        // it is packed again.
        let mut c = self.iter();
        let mut at = c;
        let mut older_n = 0;
        while c.next().is_some_and(|(t, _)| t < cut) {
            at = c;
            older_n += 1;
        }
        let older = Packed {
            buf: self.buf[..at.pos].to_vec(),
            n: older_n,
            first_t: self.first_t,
            last_t: at.t,
            last_delta: at.delta,
            last_bits: at.bits,
        };
        let mut rest = Packed::from_points(at);
        rest.buf.shrink_to_fit();
        *self = rest;
        Some(older)
    }
}

/// Reads a [`Packed`] series in order; `Copy`, so a place in it can be
/// kept and read from again (a checkpoint hands each window's place to
/// an encoder thread).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    left: usize,
    t: i64,
    delta: i64,
    bits: u64,
}

impl Cursor<'_> {
    /// Samples not yet read.
    pub(crate) fn remaining(&self) -> usize {
        self.left
    }
}

impl Iterator for Cursor<'_> {
    type Item = (i64, f64);

    fn next(&mut self) -> Option<(i64, f64)> {
        if self.left == 0 {
            return None;
        }
        // The bytes were written by `push`: they always read back; a short
        // read (which cannot happen) ends the series rather than panicking.
        let dod = read_uvarint(self.buf, &mut self.pos).ok()?;
        let tz = *self.buf.get(self.pos)?;
        self.pos += 1;
        if tz < 64 {
            let x = read_uvarint(self.buf, &mut self.pos).ok()?;
            self.bits ^= x << tz;
        }
        self.delta = self.delta.wrapping_add(unzigzag(dod));
        self.t = self.t.wrapping_add(self.delta);
        self.left -= 1;
        Some((self.t, f64::from_bits(self.bits)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(p: &[(i64, f64)]) -> Vec<(i64, u64)> {
        p.iter().map(|&(t, v)| (t, v.to_bits())).collect()
    }

    #[test]
    fn packs_in_order_samples_small_and_reads_them_back_bit_for_bit() {
        let stale = f64::from_bits(0x7ff0_0000_0000_0002);
        let mut want: Points = (0..120)
            .map(|i| {
                (
                    1_700_000_000_000 + i * 15_000 + (i * 7) % 5,
                    (i / 10) as f64 * 4096.0,
                )
            })
            .collect();
        want[50].1 = stale;
        want[51].1 = f64::NAN;
        want[52].1 = -0.0;
        want[53].1 = f64::NEG_INFINITY;
        want[54].1 = 0.1 + 0.2;
        let mut p = Packed::default();
        assert_eq!(p.extend(&want[..60]), 60);
        for &s in &want[60..] {
            assert_eq!(p.extend(&[s]), 1);
        }
        assert_eq!(p.len(), 120);
        assert_eq!(bits(&p.points()), bits(&want));
        assert_eq!(
            (p.first_t(), p.last_t()),
            (Some(want[0].0), Some(want[119].0))
        );
        // A mostly constant series with jitter: about 3 bytes a sample.
        assert!(p.buf.len() < 120 * 4, "{} bytes", p.buf.len());
        assert_eq!(bits(&p.range(want[10].0, want[19].0)), bits(&want[10..20]));
        assert!(p.range(0, want[0].0 - 1).is_empty());
    }

    #[test]
    fn late_and_repeated_timestamps_merge_and_the_later_value_wins() {
        let mut p = Packed::default();
        p.extend(&[(10, 1.0), (30, 3.0), (50, 5.0)]);
        // Out of order, a duplicate inside the batch (the last wins) and
        // one of a timestamp held.
        assert_eq!(p.extend(&[(40, 4.0), (20, 2.0), (20, 2.5), (30, -3.0)]), 2);
        assert_eq!(
            p.points(),
            vec![(10, 1.0), (20, 2.5), (30, -3.0), (40, 4.0), (50, 5.0)]
        );
        assert_eq!(p.extend(&[(50, 5.0)]), 0);
        // Put back: the held value of 40 stays, 45 is new.
        assert_eq!(p.put_back(&[(40, -4.0), (45, 4.5)]), 1);
        assert_eq!(p.points()[3..5], [(40, 4.0), (45, 4.5)]);
        assert_eq!(p.extend(&[(60, 6.0), (70, 7.0)]), 2);
        assert_eq!(p.len(), 8);
        assert_eq!(p.last_t(), Some(70));
    }

    #[test]
    fn split_before_takes_the_older_part_and_keeps_the_rest() {
        let all: Points = (0..10).map(|i| (i * 100, i as f64)).collect();
        let mut p = Packed::from_points(all.iter().copied());
        assert!(p.split_before(0).is_none());
        let mut older = p.split_before(350).expect("older samples");
        assert_eq!(older.points(), all[..4].to_vec());
        assert_eq!((older.first_t(), older.last_t()), (Some(0), Some(300)));
        // Its bytes are a prefix of the whole's, its state the whole's
        // after its last sample: it takes appends like any other.
        older.extend(&[(310, -1.0), (333, 0.5)]);
        let mut want = all[..4].to_vec();
        want.extend([(310, -1.0), (333, 0.5)]);
        assert_eq!(older.points(), want);
        assert_eq!(p.points(), all[4..].to_vec());
        assert_eq!(p.first_t(), Some(400));
        // Appends continue after a split.
        p.extend(&[(1000, 10.0)]);
        assert_eq!(p.len(), 7);
        let last = p.split_before(i64::MAX);
        assert_eq!(last.as_ref().map(|s| s.len()), Some(7));
        assert_eq!(last.and_then(|s| s.last_t()), Some(1000));
        assert!(p.is_empty());
        assert_eq!(p.first_t(), None);
        assert!(p.split_before(i64::MAX).is_none());
    }
}
