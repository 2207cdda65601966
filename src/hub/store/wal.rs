//! The hub's write-ahead rows: what was appended since the last
//! checkpoint, one deflated blob per commit interval.
//!
//! A blob is one or more segments, each `n` then `n` × (series id delta,
//! timestamp delta, value bits): ids and timestamps as zigzag varints
//! against the previous sample of the segment (the first against zeros),
//! value bits as 8 bytes (NaN payloads, stale markers included, kept
//! exactly). The first format had one segment a blob, so its rows still
//! read. It is only read back after a crash, so it is built for cheap
//! writing.
//!
//! The samples waiting for the next commit are kept in this form already
//! ([`Log`]): about 12 bytes a sample rather than 24 as `(u32, i64, f64)`,
//! in segments of a fixed size rather than one `Vec` that doubles (a
//! backlog arriving puts half a million samples here between commits),
//! and a commit deflates the segments as they are.

use std::io::{Read, Write};

use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::Compression;

use picket_core::varint::{put as put_uvarint, unzigzag, zigzag};

/// Most samples one blob may claim (a corrupt count cannot make the
/// reader allocate without bound).
const MAX_SAMPLES: u64 = 1 << 26;

/// Which samples (series id, ms) a commit writes: all when there is none.
pub(crate) type Keep<'a> = dyn Fn(u32, i64) -> bool + Sync + 'a;

/// Bytes of one segment of a [`Log`] (a record takes at most 28).
const SEGMENT: usize = 64 << 10;

/// Samples (series id, ms, value) in append order, encoded as segments.
#[derive(Debug, Default)]
pub(crate) struct Log {
    segments: Vec<Segment>,
    n: usize,
}

#[derive(Debug)]
struct Segment {
    raw: Vec<u8>,
    n: u64,
    max_t: i64,
    last_id: i64,
    last_t: i64,
}

impl Segment {
    fn new(capacity: usize) -> Segment {
        Segment {
            raw: Vec::with_capacity(capacity),
            n: 0,
            max_t: i64::MIN,
            last_id: 0,
            last_t: 0,
        }
    }

    fn push(&mut self, id: u32, t: i64, v: f64) {
        put_uvarint(&mut self.raw, zigzag(i64::from(id) - self.last_id));
        put_uvarint(&mut self.raw, zigzag(t.wrapping_sub(self.last_t)));
        self.raw.extend_from_slice(&v.to_bits().to_le_bytes());
        self.last_id = i64::from(id);
        self.last_t = t;
        self.max_t = self.max_t.max(t);
        self.n += 1;
    }

    /// Its samples; the bytes were written by `push`.
    fn iter(&self) -> impl Iterator<Item = (u32, i64, f64)> + '_ {
        let mut p = self.raw.as_slice();
        let (mut id, mut t) = (0i64, 0i64);
        (0..self.n).map_while(move |_| {
            let (i, tt, v) = record(&mut p, id, t).ok()?;
            (id, t) = (i64::from(i), tt);
            Some((i, tt, v))
        })
    }

    /// Writes it as a blob's segment.
    fn write(&self, out: &mut impl Write) {
        let mut n = Vec::with_capacity(10);
        put_uvarint(&mut n, self.n);
        // Into a Vec-backed encoder: cannot fail.
        let _ = out.write_all(&n);
        let _ = out.write_all(&self.raw);
    }
}

impl FromIterator<(u32, i64, f64)> for Log {
    fn from_iter<I: IntoIterator<Item = (u32, i64, f64)>>(samples: I) -> Log {
        let mut log = Log::default();
        for (id, t, v) in samples {
            log.push(id, t, v);
        }
        log
    }
}

impl Log {
    /// Appends a sample.
    pub(crate) fn push(&mut self, id: u32, t: i64, v: f64) {
        match self.segments.last_mut() {
            Some(s) if s.raw.len() + 28 <= SEGMENT => s.push(id, t, v),
            _ => {
                let mut s = Segment::new(SEGMENT);
                s.push(id, t, v);
                self.segments.push(s);
            }
        }
        self.n += 1;
    }

    /// Samples held.
    pub(crate) fn len(&self) -> usize {
        self.n
    }

    /// True when it holds none.
    pub(crate) fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Appends `later`'s samples after these (segments stand alone: no
    /// copy).
    pub(crate) fn append(&mut self, later: Log) {
        self.segments.extend(later.segments);
        self.n += later.n;
    }

    #[cfg(test)]
    /// The samples, in append order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, i64, f64)> + '_ {
        self.segments.iter().flat_map(Segment::iter)
    }

    /// Deflates the samples that `keep` keeps as wal blobs, at most
    /// `parts` of them (split at segments, deflated on as many threads),
    /// in order; each as (its newest timestamp, blob), with the samples
    /// kept.
    pub(crate) fn blobs(
        &self,
        keep: Option<&Keep<'_>>,
        parts: usize,
    ) -> (Vec<(i64, Vec<u8>)>, usize) {
        let per = self.n.div_ceil(parts.max(1)).max(1);
        let mut groups: Vec<&[Segment]> = Vec::new();
        let (mut from, mut count) = (0, 0);
        for (i, s) in self.segments.iter().enumerate() {
            count += s.n as usize;
            if count >= per {
                groups.push(&self.segments[from..=i]);
                (from, count) = (i + 1, 0);
            }
        }
        if from < self.segments.len() {
            groups.push(&self.segments[from..]);
        }
        let blob = |g: &[Segment]| encode_segments(g, keep);
        let out: Vec<(i64, Vec<u8>, usize)> = match groups.split_first() {
            None => Vec::new(),
            Some((first, [])) => vec![blob(first)],
            Some((first, rest)) => std::thread::scope(|s| {
                let others: Vec<_> = rest.iter().map(|g| s.spawn(move || blob(g))).collect();
                let mut out = vec![blob(first)];
                for h in others {
                    out.push(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
                }
                out
            }),
        };
        let kept = out.iter().map(|b| b.2).sum();
        let blobs = out
            .into_iter()
            .filter(|b| b.2 > 0)
            .map(|(t, d, _)| (t, d))
            .collect();
        (blobs, kept)
    }
}

/// One blob of the samples of `segments` that `keep` keeps: (newest
/// timestamp, deflated bytes, samples kept).
fn encode_segments(segments: &[Segment], keep: Option<&Keep<'_>>) -> (i64, Vec<u8>, usize) {
    let mut enc = DeflateEncoder::new(Vec::new(), Compression::fast());
    let (mut max_t, mut kept) = (i64::MIN, 0);
    for s in segments {
        let filtered;
        let s = match keep {
            None => s,
            Some(keep) => {
                let mut f = Segment::new(s.raw.len());
                for (id, t, v) in s.iter().filter(|&(id, t, _)| keep(id, t)) {
                    f.push(id, t, v);
                }
                // All kept: the segment as it is.
                if f.n == s.n {
                    s
                } else {
                    filtered = f;
                    &filtered
                }
            }
        };
        if s.n > 0 {
            s.write(&mut enc);
            max_t = max_t.max(s.max_t);
            kept += s.n as usize;
        }
    }
    (max_t, enc.finish().unwrap_or_default(), kept)
}

/// Reads a varint at the start of `p`, advancing it.
fn uvarint(p: &mut &[u8]) -> Result<u64, String> {
    let mut i = 0;
    let v = picket_core::varint::read(p, &mut i)?;
    *p = &p[i..];
    Ok(v)
}

/// Reads one record after the sample (`id`, `t`), advancing `p`.
fn record(p: &mut &[u8], id: i64, t: i64) -> Result<(u32, i64, f64), String> {
    let id = id + unzigzag(uvarint(p)?);
    let t = t.wrapping_add(unzigzag(uvarint(p)?));
    let (bits, rest) = p.split_at_checked(8).ok_or("truncated value")?;
    let mut b = [0u8; 8];
    b.copy_from_slice(bits);
    *p = rest;
    let id = u32::try_from(id).map_err(|_| format!("bad series id {id}"))?;
    Ok((id, t, f64::from_bits(u64::from_le_bytes(b))))
}

/// Decodes a blob; Err on anything malformed.
pub(crate) fn decode(data: &[u8]) -> Result<Vec<(u32, i64, f64)>, String> {
    let mut raw = Vec::new();
    DeflateDecoder::new(data)
        .take(MAX_SAMPLES * 28)
        .read_to_end(&mut raw)
        .map_err(|e| format!("inflate: {e}"))?;
    let mut p = raw.as_slice();
    let mut out = Vec::new();
    while !p.is_empty() {
        let n = uvarint(&mut p)?;
        if n > MAX_SAMPLES - out.len() as u64 || n > p.len() as u64 {
            return Err(format!("claims {n} samples in {} bytes", p.len()));
        }
        out.reserve(n as usize);
        let (mut id, mut t) = (0i64, 0i64);
        for _ in 0..n {
            let s = record(&mut p, id, t)?;
            (id, t) = (i64::from(s.0), s.1);
            out.push(s);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Samples (series id, ms, value) as one blob.
    fn encode(samples: &[(u32, i64, f64)]) -> Vec<u8> {
        let log: Log = samples.iter().copied().collect();
        encode_segments(&log.segments, None).1
    }

    #[test]
    fn blobs_round_trip_exactly_and_reject_garbage() {
        let stale = f64::from_bits(0x7ff0_0000_0000_0002);
        let s = vec![
            (3, 1_700_000_000_000, 1.5),
            (1, 1_700_000_015_000, stale),
            (70_000, -5, f64::NEG_INFINITY),
        ];
        let got = decode(&encode(&s)).unwrap();
        assert_eq!(got.len(), 3);
        for (a, b) in s.iter().zip(&got) {
            assert_eq!((a.0, a.1, a.2.to_bits()), (b.0, b.1, b.2.to_bits()));
        }
        let e = encode(&s);
        for cut in 0..e.len() {
            let _ = decode(&e[..cut]);
        }
        assert!(decode(b"garbage").is_err());
    }

    fn bits(s: &[(u32, i64, f64)]) -> Vec<(u32, i64, u64)> {
        s.iter().map(|&(i, t, v)| (i, t, v.to_bits())).collect()
    }

    /// Samples of a backlog: 500 series, interleaved, some NaN.
    fn backlog(n: usize) -> Vec<(u32, i64, f64)> {
        (0..n)
            .map(|i| {
                let v = if i % 97 == 0 {
                    f64::NAN
                } else {
                    i as f64 / 3.0
                };
                (
                    (i % 500) as u32,
                    1_700_000_000_000 + (i / 500) as i64 * 15_000,
                    v,
                )
            })
            .collect()
    }

    #[test]
    fn a_log_of_many_segments_makes_blobs_that_read_back_in_order() {
        let want = backlog(40_000);
        let log: Log = want.iter().copied().collect();
        assert_eq!(log.len(), want.len());
        assert!(log.segments.len() > 4, "{} segments", log.segments.len());
        // About 12 bytes a sample, in fixed-size segments.
        let bytes: usize = log.segments.iter().map(|s| s.raw.capacity()).sum();
        assert!(bytes <= want.len() * 14, "{bytes} bytes");
        assert_eq!(bits(&log.iter().collect::<Vec<_>>()), bits(&want));
        for parts in [1, 3, 8] {
            let (blobs, kept) = log.blobs(None, parts);
            assert_eq!(kept, want.len());
            assert!(blobs.len() <= parts && !blobs.is_empty());
            let mut got = Vec::new();
            for (max_t, b) in &blobs {
                let part = decode(b).unwrap();
                assert_eq!(Some(*max_t), part.iter().map(|s| s.1).max());
                got.extend(part);
            }
            assert_eq!(bits(&got), bits(&want), "{parts} parts");
        }
    }

    #[test]
    fn blobs_keep_only_what_the_filter_keeps_and_skip_empty_parts() {
        let want = backlog(30_000);
        let log: Log = want.iter().copied().collect();
        let cut = want[20_000].1;
        let keep = |id: u32, t: i64| id.is_multiple_of(2) || t >= cut;
        let (blobs, kept) = log.blobs(Some(&keep), 4);
        let got: Vec<_> = blobs.iter().flat_map(|b| decode(&b.1).unwrap()).collect();
        let kept_want: Vec<_> = want.iter().copied().filter(|s| keep(s.0, s.1)).collect();
        assert_eq!(kept, kept_want.len());
        assert_eq!(bits(&got), bits(&kept_want));
        let (blobs, kept) = log.blobs(Some(&|_, _| false), 4);
        assert_eq!((blobs.len(), kept), (0, 0));
    }

    #[test]
    fn a_log_put_back_before_later_samples_keeps_their_order() {
        let want = backlog(12_000);
        let mut first: Log = want[..7_000].iter().copied().collect();
        first.append(want[7_000..].iter().copied().collect());
        assert_eq!(first.len(), want.len());
        let got = decode(&first.blobs(None, 1).0[0].1).unwrap();
        assert_eq!(bits(&got), bits(&want));
    }

    #[test]
    fn a_row_of_the_first_format_still_reads() {
        // One count, then the records: what every row was before segments.
        let s = [(7u32, 1_000i64, 2.5f64), (5, 16_000, -1.0)];
        let mut raw = Vec::new();
        put_uvarint(&mut raw, 2);
        let (mut id, mut t) = (0i64, 0i64);
        for &(i, ts, v) in &s {
            put_uvarint(&mut raw, zigzag(i64::from(i) - id));
            put_uvarint(&mut raw, zigzag(ts - t));
            raw.extend_from_slice(&v.to_bits().to_le_bytes());
            (id, t) = (i64::from(i), ts);
        }
        let mut enc = DeflateEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(&raw).unwrap();
        let got = decode(&enc.finish().unwrap()).unwrap();
        assert_eq!(bits(&got), bits(&s));
    }
}
