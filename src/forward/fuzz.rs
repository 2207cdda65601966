//! Entry points for the fuzz targets in tests/fuzz (not an API: hidden
//! from the docs, and nothing else calls them). Each one takes arbitrary
//! bytes, must never panic, and checks what can be checked on the way.

use flate2::write::DeflateEncoder;
use flate2::Compression;
use std::io::Write;

use crate::buffer::codec::{decode, encode, Chain, Rows};

/// The buffer's row codec (what a corrupt or foreign buffer file hands
/// the reader): `data` is a chain of length-prefixed segments (one byte of
/// length each), decoded in order on one chain as the buffer reads its
/// rows. Bit 0 of the first byte: the segments are the raw batch bytes
/// (deflated here first, so the fuzzer reaches the batch layout rather
/// than spending itself on deflate); else they are the stored bytes.
///
/// Every batch that decodes is encoded again on a chain of its own and
/// must decode back to the same rows, bit for bit (the buffer's
/// round-trip promise), else this panics.
pub fn buffer_codec(data: &[u8]) {
    let Some((&flags, mut rest)) = data.split_first() else {
        return;
    };
    let (mut reader, mut writer, mut check) =
        (Chain::default(), Chain::default(), Chain::default());
    let mut stored = Vec::new();
    while let Some((&len, tail)) = rest.split_first() {
        let n = usize::from(len).min(tail.len());
        let (seg, tail) = tail.split_at(n);
        rest = tail;
        let seg = if flags & 1 != 0 {
            let mut enc = DeflateEncoder::new(Vec::new(), Compression::fast());
            // Writing into a Vec cannot fail.
            let _ = enc.write_all(seg);
            enc.finish().unwrap_or_default()
        } else {
            seg.to_vec()
        };
        match decode(&seg, &mut reader) {
            Ok(rows) => {
                // Stamps index the points; the encoder writes them as they are.
                encode(&rows, &mut writer, false, Compression::fast(), &mut stored);
                let again = decode(&stored, &mut check).expect("a re-encoded batch decodes");
                assert!(same(&rows, &again), "{rows:?} != {again:?}");
            }
            Err(_) => {
                // The reader starts over at the next keyframe: so do the others.
                writer.reset();
                check.reset();
            }
        }
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

#[cfg(test)]
mod tests {
    use std::io::Read;

    use flate2::read::DeflateDecoder;

    use super::*;

    /// Every committed input (seeds and the inputs of past findings)
    /// through the target: the fuzz target's regression test.
    #[test]
    fn committed_fuzz_corpus_passes() {
        picket_core::fuzz::replay("buffer_codec", buffer_codec);
    }

    /// Writes the seeds of the buffer_codec target into tests/fuzz/corpus:
    /// `cargo test -p picket-forward --lib fuzz::tests::write_seeds -- --ignored`.
    #[test]
    #[ignore]
    fn write_seeds() {
        let batches = [
            Rows {
                series: vec![1, 2, 3],
                values: vec![1.0, 2.5, f64::NAN],
                stamps: vec![],
            },
            Rows {
                series: vec![1, 2, 3],
                values: vec![1501.0, 2.75, f64::INFINITY],
                stamps: vec![(2, 1_700_000_000_123)],
            },
            Rows {
                series: vec![1, 3, 7],
                values: vec![1.5, -0.0, f64::from_bits(0x7ff0_0000_0000_0002)],
                stamps: vec![],
            },
            Rows::default(),
        ];
        let (mut stored, mut raw) = (vec![0u8], vec![1u8]);
        let mut chain = Chain::default();
        for b in &batches {
            let mut out = Vec::new();
            encode(b, &mut chain, false, Compression::default(), &mut out);
            let mut plain = Vec::new();
            DeflateDecoder::new(&out[..])
                .read_to_end(&mut plain)
                .unwrap();
            for (seg, to) in [(&out, &mut stored), (&plain, &mut raw)] {
                to.push(u8::try_from(seg.len()).unwrap());
                to.extend_from_slice(seg);
            }
        }
        let corpus = || picket_core::fuzz::corpus("buffer_codec");
        std::fs::create_dir_all(corpus()).unwrap();
        std::fs::write(corpus().join("seed-stored"), stored).unwrap();
        std::fs::write(corpus().join("seed-raw"), raw).unwrap();
    }
}
