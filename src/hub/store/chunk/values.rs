//! The value codes, both ways: each value against the previous one, as
//! "the same", an integer step of the chunk's scale or the XOR of the
//! bits (the layout in [`super`]).

use super::choose::{lead_trail, scaled, step_cost, xor_cost};
use super::rc::{get_tree, get_wide, put_tree, put_wide, Prob, RcDec, RcEnc, UintModel, HALF};
use super::MODELLED_BYTES;

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

/// Codes the values of `samples` (`ks`: each as a scaled integer, if it
/// is one) after the timestamps.
pub(super) fn encode_values(
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

/// Decodes the values into `out`, whose timestamps are decoded: `p` is
/// 10^e of the chunk's scale, `unit` its integer step, `delta` whether
/// steps are coded as changes of step.
pub(super) fn decode_values(
    rc: &mut RcDec<'_>,
    out: &mut [(i64, f64)],
    p: f64,
    unit: i64,
    delta: bool,
) -> Result<(), String> {
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
                        get_wide(rc, &mut m.first)?
                    } else {
                        m.step.get(rc)?
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
                    let lt = get_tree(rc, &mut m.lead_trail, 6) as usize;
                    let (lead, trail) = (lt >> 3, lt & 7);
                    if lead + trail > 7 {
                        return Err(format!("bad XOR byte range {lead}/{trail}"));
                    }
                    let mut be = [0u8; 8];
                    for (j, (b, probs)) in be.iter_mut().zip(m.bytes.iter_mut()).enumerate() {
                        if j >= lead && j < 8 - trail {
                            *b = if j < MODELLED_BYTES {
                                get_tree(rc, probs, 8) as u8
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
    Ok(())
}
