//! Placeholder chunk codec (raw), replaced by the compressed codec.
/// Encodes samples.
pub fn encode(samples: &[(i64, f64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(samples.len() * 16);
    for (t, v) in samples {
        out.extend_from_slice(&t.to_le_bytes());
        out.extend_from_slice(&v.to_bits().to_le_bytes());
    }
    out
}
/// Decodes a chunk.
pub fn decode(data: &[u8]) -> Result<Vec<(i64, f64)>, String> {
    if data.len() % 16 != 0 {
        return Err("bad length".into());
    }
    Ok(data
        .chunks_exact(16)
        .map(|c| {
            let mut t = [0u8; 8];
            let mut v = [0u8; 8];
            t.copy_from_slice(&c[..8]);
            v.copy_from_slice(&c[8..]);
            (i64::from_le_bytes(t), f64::from_bits(u64::from_le_bytes(v)))
        })
        .collect())
}
/// Merges two sorted lists; `newer` wins on equal timestamps.
pub fn merge(older: &[(i64, f64)], newer: &[(i64, f64)]) -> Vec<(i64, f64)> {
    let mut out = Vec::with_capacity(older.len() + newer.len());
    let (mut i, mut j) = (0, 0);
    while i < older.len() || j < newer.len() {
        match (older.get(i), newer.get(j)) {
            (Some(a), Some(b)) if a.0 < b.0 => {
                out.push(*a);
                i += 1
            }
            (Some(a), Some(b)) if a.0 == b.0 => {
                out.push(*b);
                i += 1;
                j += 1
            }
            (_, Some(b)) => {
                out.push(*b);
                j += 1
            }
            (Some(a), None) => {
                out.push(*a);
                i += 1
            }
            (None, None) => break,
        }
    }
    out
}
