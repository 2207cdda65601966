//! The hub's write-ahead rows: what was appended since the last
//! checkpoint, one deflated blob per commit interval.
//!
//! A blob is `n` then `n` × (series id delta, timestamp delta, value bits),
//! ids and timestamps as zigzag varints against the previous sample, value
//! bits as 8 bytes (NaN payloads, stale markers included, kept exactly).
//! It is only read back after a crash, so it is built for cheap writing.

use std::io::{Read, Write};

use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::Compression;

use crate::varint::{put as put_uvarint, unzigzag, zigzag};

/// Most samples one blob may claim (a corrupt count cannot make the
/// reader allocate without bound).
const MAX_SAMPLES: u64 = 1 << 26;

/// Encodes samples (series id, ms, value).
pub fn encode(samples: &[(u32, i64, f64)]) -> Vec<u8> {
    let mut raw = Vec::with_capacity(samples.len() * 12 + 8);
    put_uvarint(&mut raw, samples.len() as u64);
    let (mut pid, mut pt) = (0i64, 0i64);
    for &(id, t, v) in samples {
        put_uvarint(&mut raw, zigzag(i64::from(id) - pid));
        put_uvarint(&mut raw, zigzag(t.wrapping_sub(pt)));
        raw.extend_from_slice(&v.to_bits().to_le_bytes());
        pid = i64::from(id);
        pt = t;
    }
    let mut enc = DeflateEncoder::new(Vec::new(), Compression::fast());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(&raw);
    enc.finish().unwrap_or_default()
}

/// Reads a varint at the start of `p`, advancing it.
fn uvarint(p: &mut &[u8]) -> Result<u64, String> {
    let mut i = 0;
    let v = crate::varint::read(p, &mut i)?;
    *p = &p[i..];
    Ok(v)
}

/// Decodes a blob; Err on anything malformed.
pub fn decode(data: &[u8]) -> Result<Vec<(u32, i64, f64)>, String> {
    let mut raw = Vec::new();
    DeflateDecoder::new(data)
        .take(MAX_SAMPLES * 28)
        .read_to_end(&mut raw)
        .map_err(|e| format!("inflate: {e}"))?;
    let mut p = raw.as_slice();
    let n = uvarint(&mut p)?;
    if n > MAX_SAMPLES || n > p.len() as u64 {
        return Err(format!("claims {n} samples in {} bytes", p.len()));
    }
    let mut out = Vec::with_capacity(n as usize);
    let (mut id, mut t) = (0i64, 0i64);
    for _ in 0..n {
        id += unzigzag(uvarint(&mut p)?);
        t = t.wrapping_add(unzigzag(uvarint(&mut p)?));
        let (bits, rest) = p.split_at_checked(8).ok_or("truncated value")?;
        let mut b = [0u8; 8];
        b.copy_from_slice(bits);
        p = rest;
        let id = u32::try_from(id).map_err(|_| format!("bad series id {id}"))?;
        out.push((id, t, f64::from_bits(u64::from_le_bytes(b))));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
