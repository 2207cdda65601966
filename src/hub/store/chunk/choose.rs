//! The encoder's choices for a chunk: the grid interval, the decimal
//! scale, the common integer step and whether steps are coded as changes
//! of step, each picked by a rough count of what it would cost; and those
//! rough costs, which the value coder uses too.

use picket_core::varint::zigzag;

use super::rc::bit_len;
use super::{grid_step, EXACT, NEG_ZERO, POW10};

/// The grid interval: of the median interval, the mean one and their
/// neighbours, the one whose offsets code smallest.
pub(super) fn pick_interval(samples: &[(i64, f64)]) -> u64 {
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
pub(super) fn pick_scale(samples: &[(i64, f64)]) -> usize {
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
pub(super) fn pick_unit(ks: &[Option<i64>]) -> u64 {
    let mut unit = 0u64;
    for w in ks.windows(2) {
        if let (Some(a), Some(b)) = (w[0], w[1]) {
            unit = gcd(unit, (b - a).unsigned_abs());
        }
    }
    unit.max(1)
}

/// True when the changes of step code smaller than the steps.
pub(super) fn pick_step_delta(ks: &[Option<i64>], unit: u64) -> bool {
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
pub(super) fn scaled(v: f64, p: f64) -> Option<i64> {
    let x = (v * p).round();
    if x.is_nan() || x.abs() > EXACT {
        return None;
    }
    let k = x as i64;
    ((k as f64 / p).to_bits() == v.to_bits()).then_some(k)
}

/// Rough bits for an integer step.
pub(super) fn step_cost(s: i64) -> u64 {
    u64::from(bit_len(s.unsigned_abs())) + 3
}

/// Rough bits for an XOR.
pub(super) fn xor_cost(x: u64) -> u64 {
    let (lead, trail) = lead_trail(x);
    8 * u64::from(8 - lead - trail) + 4
}

/// The zero bytes at the top and bottom of a non-zero XOR (at most 7 in all).
pub(super) fn lead_trail(x: u64) -> (u32, u32) {
    let lead = (x.leading_zeros() / 8).min(7);
    let trail = (x.trailing_zeros() / 8).min(7 - lead);
    (lead, trail)
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}
