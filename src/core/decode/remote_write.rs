//! A zero-copy reader of remote_write 1.0's `WriteRequest` protobuf, for
//! the hub's receiver.
//!
//! prost decodes every label name and value into a `String` of its own: a
//! node_exporter board's request of 500 series × 10 labels is 10,000
//! allocations, and at a million samples a second that (and glibc's arena
//! locks under it) was a fifth of the hub's CPU. Here labels are `&str`
//! slices of the decompressed body, and all of a request's labels and
//! samples sit in two flat vectors: four allocations a request. The
//! message is small and frozen (`prometheus/prompb/remote.proto`,
//! `types.proto`):
//!
//! ```text
//! WriteRequest { repeated TimeSeries timeseries = 1; (metadata = 3) }
//! TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2;
//!                (exemplars = 3, histograms = 4) }
//! Label        { string name = 1; string value = 2; }
//! Sample       { double value = 1; int64 timestamp = 2; }
//! ```
//!
//! Fields in parentheses, and any unknown field, are skipped by wire type,
//! as prost does; what prost refuses (a cut-short field, a wrong wire type
//! for a known field, invalid UTF-8, a bad varint, field number 0, groups)
//! is an error here too. The prost types in [`crate::encode::remote_write`]
//! stay the sender's encoder and this reader's reference in tests.

use std::ops::Range;

/// A decoded request: every series' labels and samples, in flat vectors.
#[derive(Debug, Default, PartialEq)]
pub struct WriteView<'a> {
    /// All labels, (name, value), series after series, in wire order.
    pub labels: Vec<(&'a str, &'a str)>,
    /// All samples, (ms, value), series after series, in wire order.
    pub samples: Vec<(i64, f64)>,
    /// Each series' part of `labels` and `samples`.
    pub series: Vec<SeriesView>,
}

/// One series of a [`WriteView`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeriesView {
    /// Its labels: `WriteView::labels[labels]`.
    pub labels: Range<usize>,
    /// Its samples: `WriteView::samples[samples]`.
    pub samples: Range<usize>,
}

/// Wire types.
const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LEN: u64 = 2;
const FIXED32: u64 = 5;

/// Reads an uncompressed `WriteRequest`; Err says what is malformed.
pub fn parse(pb: &[u8]) -> Result<WriteView<'_>, String> {
    let mut view = WriteView::default();
    let mut r = Reader(pb);
    while let Some((field, wt)) = r.key()? {
        if field == 1 {
            let ts = r.len_field(wt, "WriteRequest.timeseries")?;
            series(ts, &mut view).map_err(|e| format!("timeseries {}: {e}", view.series.len()))?;
        } else {
            r.skip(wt)?;
        }
    }
    Ok(view)
}

/// Reads one `TimeSeries` into `view`.
fn series<'a>(b: &'a [u8], view: &mut WriteView<'a>) -> Result<(), String> {
    let (l0, s0) = (view.labels.len(), view.samples.len());
    let mut r = Reader(b);
    while let Some((field, wt)) = r.key()? {
        match field {
            1 => {
                let l = r.len_field(wt, "TimeSeries.labels")?;
                view.labels.push(label(l)?);
            }
            2 => {
                let s = r.len_field(wt, "TimeSeries.samples")?;
                view.samples.push(sample(s)?);
            }
            _ => r.skip(wt)?,
        }
    }
    view.series.push(SeriesView {
        labels: l0..view.labels.len(),
        samples: s0..view.samples.len(),
    });
    Ok(())
}

fn label(b: &[u8]) -> Result<(&str, &str), String> {
    let (mut name, mut value) = ("", "");
    let mut r = Reader(b);
    while let Some((field, wt)) = r.key()? {
        match field {
            1 => name = utf8(r.len_field(wt, "Label.name")?)?,
            2 => value = utf8(r.len_field(wt, "Label.value")?)?,
            _ => r.skip(wt)?,
        }
    }
    Ok((name, value))
}

fn sample(b: &[u8]) -> Result<(i64, f64), String> {
    let (mut t, mut v) = (0i64, 0f64);
    let mut r = Reader(b);
    while let Some((field, wt)) = r.key()? {
        match field {
            1 => {
                expect(wt, FIXED64, "Sample.value")?;
                v = f64::from_bits(u64::from_le_bytes(r.fixed::<8>()?));
            }
            2 => {
                expect(wt, VARINT, "Sample.timestamp")?;
                t = r.varint()? as i64;
            }
            _ => r.skip(wt)?,
        }
    }
    Ok((t, v))
}

fn utf8(b: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(b).map_err(|e| format!("invalid UTF-8 in a string: {e}"))
}

fn expect(got: u64, want: u64, what: &str) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: wire type {got}, expected {want}"))
    }
}

/// The unread rest of a message.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    /// The next field's (number, wire type); None at the end.
    fn key(&mut self) -> Result<Option<(u64, u64)>, String> {
        if self.0.is_empty() {
            return Ok(None);
        }
        let k = self.varint()?;
        if k > u64::from(u32::MAX) {
            return Err(format!("invalid key value: {k}"));
        }
        let (field, wt) = (k >> 3, k & 7);
        if field == 0 {
            return Err("invalid tag value: 0".into());
        }
        Ok(Some((field, wt)))
    }

    /// A varint; as prost, at most 10 bytes and 64 bits.
    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for (i, &byte) in self.0.iter().enumerate().take(10) {
            if i == 9 && byte > 1 {
                break;
            }
            v |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                self.0 = &self.0[i + 1..];
                return Ok(v);
            }
        }
        Err("invalid varint".into())
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let (head, rest) = self.0.split_first_chunk::<N>().ok_or("buffer underflow")?;
        self.0 = rest;
        Ok(*head)
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.varint()?;
        if n > self.0.len() as u64 {
            return Err("buffer underflow".into());
        }
        let (b, rest) = self.0.split_at(n as usize);
        self.0 = rest;
        Ok(b)
    }

    /// A length-delimited field's bytes.
    fn len_field(&mut self, wt: u64, what: &str) -> Result<&'a [u8], String> {
        expect(wt, LEN, what)?;
        self.bytes()
    }

    /// Skips a field of an unknown number.
    fn skip(&mut self, wt: u64) -> Result<(), String> {
        match wt {
            VARINT => self.varint().map(drop),
            FIXED64 => self.fixed::<8>().map(drop),
            LEN => self.bytes().map(drop),
            FIXED32 => self.fixed::<4>().map(drop),
            _ => Err(format!("unsupported wire type {wt}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::remote_write::{Label, PbSample, TimeSeries, WriteRequest};

    /// The view as prost's types, to compare with prost's decoding.
    fn owned(v: &WriteView<'_>) -> WriteRequest {
        WriteRequest {
            timeseries: v
                .series
                .iter()
                .map(|s| TimeSeries {
                    labels: v.labels[s.labels.clone()]
                        .iter()
                        .map(|&(n, v)| Label {
                            name: n.into(),
                            value: v.into(),
                        })
                        .collect(),
                    samples: v.samples[s.samples.clone()]
                        .iter()
                        .map(|&(t, v)| PbSample {
                            value: v,
                            timestamp: t,
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    fn request() -> WriteRequest {
        let ts = |name: &str, n: i64| TimeSeries {
            labels: vec![
                Label {
                    name: "__name__".into(),
                    value: name.into(),
                },
                Label {
                    name: "instance".into(),
                    value: "pi-ü:9100".into(),
                },
                Label {
                    name: "empty".into(),
                    value: String::new(),
                },
            ],
            samples: (0..n)
                .map(|i| PbSample {
                    value: if i == 2 {
                        f64::from_bits(0x7ff0_0000_0000_0002)
                    } else {
                        i as f64 * -1.5
                    },
                    timestamp: 1_700_000_000_000 + i * 15_000 - 3,
                })
                .collect(),
        };
        WriteRequest {
            timeseries: vec![ts("up", 3), ts("node_load1", 0), ts("x", 40)],
        }
    }

    /// Compares bit for bit (NaN payloads included).
    fn same(a: &WriteRequest, b: &WriteRequest) -> bool {
        a.timeseries.len() == b.timeseries.len()
            && a.timeseries.iter().zip(&b.timeseries).all(|(x, y)| {
                x.labels == y.labels
                    && x.samples.len() == y.samples.len()
                    && x.samples.iter().zip(&y.samples).all(|(p, q)| {
                        p.timestamp == q.timestamp && p.value.to_bits() == q.value.to_bits()
                    })
            })
    }

    #[test]
    fn reads_what_prost_writes_bit_for_bit() {
        let req = request();
        let pb = prost::Message::encode_to_vec(&req);
        let v = parse(&pb).unwrap();
        assert_eq!(v.series.len(), 3);
        assert_eq!(v.labels[1], ("instance", "pi-ü:9100"));
        // As prost reads it back: proto3 leaves out the -0.0 of sample 0
        // (a default value), so both read +0.0 there.
        let want = <WriteRequest as prost::Message>::decode(pb.as_slice()).unwrap();
        assert!(same(&owned(&v), &want));
        assert_eq!(v.samples[2].1.to_bits(), 0x7ff0_0000_0000_0002);
        assert_eq!(v.samples.len(), 43);
        assert_eq!(parse(&[]).unwrap(), WriteView::default());
    }

    #[test]
    fn unknown_fields_are_skipped_and_a_later_scalar_wins() {
        let mut pb = prost::Message::encode_to_vec(&request());
        // metadata (3, LEN), a varint 7, a fixed32 9 and a fixed64 10 at
        // the top level, and a Sample with its timestamp twice.
        pb.extend_from_slice(&[0x1a, 2, 0x08, 1, 0x38, 0x96, 0x01, 0x4d, 1, 2, 3, 4]);
        pb.extend_from_slice(&[0x51, 0, 0, 0, 0, 0, 0, 0, 0]);
        let sample = [0x10, 5, 0x10, 6, 0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f];
        let mut ts = vec![0x12, sample.len() as u8];
        ts.extend_from_slice(&sample);
        pb.push(0x0a);
        pb.push(ts.len() as u8);
        pb.extend_from_slice(&ts);
        let want = <WriteRequest as prost::Message>::decode(pb.as_slice()).unwrap();
        let got = parse(&pb).unwrap();
        assert!(same(&owned(&got), &want));
        assert_eq!(got.samples.last(), Some(&(6, 1.0)));
    }

    #[test]
    fn refuses_what_prost_refuses_on_every_cut_and_flipped_byte() {
        let pb = prost::Message::encode_to_vec(&request());
        let mut cases: Vec<Vec<u8>> = (0..pb.len()).map(|n| pb[..n].to_vec()).collect();
        for i in 0..pb.len() {
            for bit in 0..8 {
                let mut b = pb.clone();
                b[i] ^= 1 << bit;
                cases.push(b);
            }
        }
        // Invalid UTF-8, a group, field 0, an 11-byte varint.
        cases.push(vec![0x0a, 4, 0x0a, 2, 0x0a, 0xff]);
        cases.push(vec![0x0b]);
        cases.push(vec![0x02, 0]);
        cases.push(vec![
            0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02,
        ]);
        let mut errors = 0;
        for (i, c) in cases.iter().enumerate() {
            let theirs = <WriteRequest as prost::Message>::decode(c.as_slice());
            match (parse(c), theirs) {
                (Ok(v), Ok(want)) => assert!(same(&owned(&v), &want), "case {i}"),
                (Err(_), Err(_)) => errors += 1,
                (ours, theirs) => panic!("case {i} {c:?}: ours {ours:?}, prost {theirs:?}"),
            }
        }
        assert!(errors > 100, "{errors} of {} refused", cases.len());
    }
}
