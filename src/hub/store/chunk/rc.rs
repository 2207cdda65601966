//! LZMA's range coder and the adaptive binary models the chunk codes are
//! written with: a probability per coded bit, bit trees, and the uint
//! model (bit length, then the bits below the top one). Nothing in here
//! knows what a sample is.

pub(super) const PROB_BITS: u32 = 15;
pub(super) const PROB_ONE: u32 = 1 << PROB_BITS;
/// The range is renormalized (a byte shifted out) below this.
pub(super) const TOP: u32 = 1 << 24;
/// A probability moves by 1/(count + 2) until count + 2 reaches this, then
/// by 1/RATE_LIMIT.
pub(super) const RATE_LIMIT: u32 = 32;

/// 2^16 / d, for the probability updates.
pub(super) const RECIP: [u32; RATE_LIMIT as usize + 1] = {
    let mut t = [0u32; RATE_LIMIT as usize + 1];
    let mut d = 1;
    while d <= RATE_LIMIT as usize {
        t[d] = (1 << 16) / d as u32;
        d += 1;
    }
    t
};

/// An adaptive probability of a 0 bit (in 1/2^15), with its update count.
#[derive(Clone, Copy)]
pub(super) struct Prob {
    p: u16,
    n: u16,
}

pub(super) const HALF: Prob = Prob {
    p: 1 << (PROB_BITS - 1),
    n: 0,
};

impl Prob {
    #[inline]
    fn update(&mut self, bit: bool) {
        let d = (u32::from(self.n) + 2).min(RATE_LIMIT);
        let r = RECIP[d as usize];
        let p = u32::from(self.p);
        let p = if bit {
            p - ((p * r) >> 16)
        } else {
            p + (((PROB_ONE - p) * r) >> 16)
        };
        self.p = p.clamp(32, PROB_ONE - 32) as u16;
        self.n = self.n.saturating_add(1);
    }
}

/// Range encoder. The first byte LZMA writes is always 0 and is left out.
pub(super) struct RcEnc {
    low: u64,
    range: u32,
    cache: u8,
    pending: u64,
    out: Vec<u8>,
    /// Where the coder's bytes start in `out`.
    start: usize,
    skip: bool,
}

impl RcEnc {
    pub(super) fn new(out: Vec<u8>) -> Self {
        RcEnc {
            low: 0,
            range: u32::MAX,
            cache: 0,
            pending: 1,
            start: out.len(),
            out,
            skip: true,
        }
    }

    fn shift_low(&mut self) {
        if self.low < 0xff00_0000 || self.low >= 1 << 32 {
            let carry = (self.low >> 32) as u8;
            let mut b = self.cache;
            loop {
                if self.skip {
                    self.skip = false;
                } else {
                    self.out.push(b.wrapping_add(carry));
                }
                b = 0xff;
                self.pending -= 1;
                if self.pending == 0 {
                    break;
                }
            }
            self.cache = (self.low >> 24) as u8;
        }
        self.pending += 1;
        self.low = (self.low & 0x00ff_ffff) << 8;
    }

    #[inline]
    pub(super) fn bit(&mut self, p: &mut Prob, bit: bool) {
        let bound = (self.range >> PROB_BITS) * u32::from(p.p);
        if bit {
            self.low += u64::from(bound);
            self.range -= bound;
        } else {
            self.range = bound;
        }
        p.update(bit);
        while self.range < TOP {
            self.range <<= 8;
            self.shift_low();
        }
    }

    /// The low `n` bits of `v`, top first, at probability 1/2.
    pub(super) fn direct(&mut self, v: u64, n: u32) {
        for i in (0..n).rev() {
            self.range >>= 1;
            // Branch-free (see RcDec::direct).
            self.low += u64::from(self.range) & (v >> i & 1).wrapping_neg();
            if self.range < TOP {
                self.range <<= 8;
                self.shift_low();
            }
        }
    }

    /// Flushes the coder. Of the values in [low, low + range) it writes the
    /// one with the most zero bytes at the end and leaves those out (at most
    /// [`PAD`]): the decoder reads missing bytes as zeros.
    pub(super) fn finish(mut self) -> Vec<u8> {
        let end = self.low + u64::from(self.range);
        for zeros in (1..=4).rev() {
            let mask = (1u64 << (8 * zeros)) - 1;
            let v = (self.low + mask) & !mask;
            if v < end {
                self.low = v;
                break;
            }
        }
        for _ in 0..5 {
            self.shift_low();
        }
        for _ in 0..PAD {
            if self.out.len() <= self.start || self.out.last() != Some(&0) {
                break;
            }
            self.out.pop();
        }
        self.out
    }
}

/// The most zero bytes the encoder leaves off the end of its stream.
pub(super) const PAD: u32 = 4;

/// Range decoder. Reading past the end gives zeros; more than [`PAD`] of
/// them set `short`.
pub(super) struct RcDec<'a> {
    b: &'a [u8],
    pub(super) i: usize,
    range: u32,
    code: u32,
    over: u32,
    pub(super) short: bool,
}

impl<'a> RcDec<'a> {
    pub(super) fn new(b: &'a [u8]) -> Self {
        let mut d = RcDec {
            b,
            i: 0,
            range: u32::MAX,
            code: 0,
            over: 0,
            short: false,
        };
        for _ in 0..4 {
            d.code = d.code << 8 | d.byte();
        }
        d
    }

    #[inline]
    fn byte(&mut self) -> u32 {
        match self.b.get(self.i) {
            Some(&x) => {
                self.i += 1;
                u32::from(x)
            }
            None => {
                self.over = self.over.saturating_add(1);
                self.short = self.over > PAD;
                0
            }
        }
    }

    #[inline]
    pub(super) fn bit(&mut self, p: &mut Prob) -> bool {
        let bound = (self.range >> PROB_BITS) * u32::from(p.p);
        let bit = if self.code < bound {
            self.range = bound;
            false
        } else {
            self.code -= bound;
            self.range -= bound;
            true
        };
        p.update(bit);
        while self.range < TOP {
            self.range <<= 8;
            self.code = self.code << 8 | self.byte();
        }
        bit
    }

    /// `n` bits at probability 1/2, top first. Branch-free per bit: the
    /// bits of a float's mantissa are as good as random, so a branch on
    /// each would be mispredicted half the time.
    pub(super) fn direct(&mut self, n: u32) -> u64 {
        let mut v = 0u64;
        for _ in 0..n {
            self.range >>= 1;
            let bit = u32::from(self.code >= self.range);
            self.code -= self.range & bit.wrapping_neg();
            v = v << 1 | u64::from(bit);
            if self.range < TOP {
                self.range <<= 8;
                self.code = self.code << 8 | self.byte();
            }
        }
        v
    }
}

/// Codes the low `bits` bits of `v`, top first, each with the probability
/// of its prefix in `probs` (2^bits of them).
pub(super) fn put_tree(rc: &mut RcEnc, probs: &mut [Prob], bits: u32, v: u32) {
    let mut m = 1usize;
    for i in (0..bits).rev() {
        let b = v >> i & 1;
        if let Some(p) = probs.get_mut(m) {
            rc.bit(p, b == 1);
        }
        m = m << 1 | b as usize;
    }
}

pub(super) fn get_tree(rc: &mut RcDec<'_>, probs: &mut [Prob], bits: u32) -> u32 {
    let mut m = 1usize;
    for _ in 0..bits {
        let b = match probs.get_mut(m) {
            Some(p) => rc.bit(p),
            None => false,
        };
        m = m << 1 | usize::from(b);
    }
    (m - (1 << bits)) as u32
}

/// Bit lengths up to this are coded in unary, longer ones after it as a
/// 6-bit tree.
pub(super) const UNARY: u32 = 20;

/// Bits below the top one coded with a tree per bit length; the rest are
/// direct.
pub(super) const TOP_BITS: u32 = 3;

/// The adaptive model of an unsigned integer: its bit length, then up to
/// TOP_BITS bits below its top bit (a tree per bit length), then the rest
/// direct.
pub(super) struct UintModel {
    len: [Prob; UNARY as usize + 1],
    long: [Prob; 64],
    top: [[Prob; 1 << TOP_BITS]; 65],
}

impl UintModel {
    pub(super) fn new() -> Self {
        UintModel {
            len: [HALF; UNARY as usize + 1],
            long: [HALF; 64],
            top: [[HALF; 1 << TOP_BITS]; 65],
        }
    }

    pub(super) fn put(&mut self, rc: &mut RcEnc, v: u64) {
        let nb = bit_len(v);
        for (j, p) in self.len.iter_mut().enumerate() {
            let more = nb > j as u32;
            rc.bit(p, more);
            if !more {
                break;
            }
        }
        if nb > UNARY {
            put_tree(rc, &mut self.long, 6, nb - UNARY - 1);
        }
        if nb >= 2 {
            let extra = nb - 1;
            let t = extra.min(TOP_BITS);
            let rest = extra - t;
            let hi = (v >> rest) as u32 & ((1 << t) - 1);
            if let Some(top) = self.top.get_mut(nb as usize) {
                put_tree(rc, top, t, hi);
            }
            rc.direct(v & ((1u64 << rest) - 1), rest);
        }
    }

    pub(super) fn get(&mut self, rc: &mut RcDec<'_>) -> Result<u64, String> {
        let mut nb = 0;
        for p in self.len.iter_mut() {
            if !rc.bit(p) {
                break;
            }
            nb += 1;
        }
        if nb > UNARY {
            nb = UNARY + 1 + get_tree(rc, &mut self.long, 6);
        }
        if nb < 2 {
            return Ok(u64::from(nb));
        }
        let top = self.top.get_mut(nb as usize).ok_or("integer too long")?;
        let extra = nb - 1;
        let t = extra.min(TOP_BITS);
        let rest = extra - t;
        let hi = u64::from(get_tree(rc, top, t));
        let lo = rc.direct(rest);
        Ok(1u64 << extra | hi << rest | lo)
    }
}

/// An unsigned integer with no history to learn from (the first value):
/// its bit length as a 7-bit tree, then the bits below the top one direct.
pub(super) fn put_wide(rc: &mut RcEnc, probs: &mut [Prob; 128], v: u64) {
    let nb = bit_len(v);
    put_tree(rc, probs, 7, nb);
    if nb >= 2 {
        rc.direct(v, nb - 1);
    }
}

pub(super) fn get_wide(rc: &mut RcDec<'_>, probs: &mut [Prob; 128]) -> Result<u64, String> {
    let nb = get_tree(rc, probs, 7);
    match nb {
        0 | 1 => Ok(u64::from(nb)),
        2..=64 => Ok(1 << (nb - 1) | rc.direct(nb - 1)),
        _ => Err("integer too long".into()),
    }
}

/// The length of `v` in bits (0 for 0).
pub(super) fn bit_len(v: u64) -> u32 {
    64 - v.leading_zeros()
}
