//! `tanh` for `f32` slices: fdlibm's algorithm (the `tanhf` of glibc up to 2.40, with its
//! `expm1f`), bit for bit, written without branches so that the compiler vectorises it.
//!
//! Why: the hidden activation is the hottest elementwise operation of every trainer (a
//! profile of PPO-bp on CartPole-v1 spent 38% of its time in glibc's scalar `tanhf` and
//! `expm1f`), and every committed result in `results/` was computed with that `tanhf`
//! (Debian 12's glibc 2.36). Reproducing its exact arithmetic keeps those results
//! bit-identical while running several lanes at once, and makes them independent of the
//! platform's libm (musl, macOS and glibc ≥ 2.41 each round `tanhf` differently).
//!
//! The arithmetic, per element (all in `f32`, round to nearest, no fused multiply-add):
//! `tanh(x) = sign(x) * z`, with for `|x| >= 1`: `z = 1 - 2 / (expm1(2|x|) + 2)`; for
//! `2^-55 <= |x| < 1`: `t = expm1(-2|x|)`, `z = -t / (t + 2)`; `|x| < 2^-55`: `x (1 + x)`;
//! `|x| >= 22`: `1`. `expm1(u)` reduces `u = k ln2 + r` (`k = ±1` for
//! `0.5 ln2 < |u| < 1.5 ln2`, else `k = trunc(u / ln2 ± 0.5)`; `k = 0` below `0.5 ln2`),
//! evaluates fdlibm's rational approximation with the degree-5 polynomial in `r²/2`, and
//! rebuilds `2^k (1 + expm1(r)) - 1` by the case of `k` (only `k = -3..-1, 0, 3..64` occur
//! for the arguments `tanh` passes). Tested exactly against reference values of glibc
//! 2.36's `tanhf` (`tests/fixtures/tanhf_glibc236.txt`) and, in an ignored test, against
//! the running libm over every `f32`.

// fdlibm's constants (Sun Microsystems, 1993), as f32 bit patterns.
const LN2_HI: f32 = f32::from_bits(0x3f31_7180);
const LN2_LO: f32 = f32::from_bits(0x3717_f7d1);
const INV_LN2: f32 = f32::from_bits(0x3fb8_aa3b);
const Q1: f32 = f32::from_bits(0xbd08_8889);
const Q2: f32 = f32::from_bits(0x3ad0_0d01);
const Q3: f32 = f32::from_bits(0xb8a6_70cd);
const Q4: f32 = f32::from_bits(0x3686_7e54);
const Q5: f32 = f32::from_bits(0xb457_edbb);

/// `2^23`: adding it to a float of magnitude below `2^22` rounds it to an integer held in
/// the low mantissa bits.
const MAGIC: f32 = 8_388_608.0;

/// `2^k` for an integral `k` in `[-126, 127]` given as `f32` (integer work in the float's
/// bits, so that the loop vectorises without float-to-int conversions).
#[inline(always)]
fn pow2(k: f32) -> f32 {
    let biased = (k + 127.0 + MAGIC).to_bits().wrapping_sub(MAGIC.to_bits());
    f32::from_bits(biased << 23)
}

/// `v` truncated toward zero, for `|v| < 2^22` (C's float-to-int conversion).
#[inline(always)]
fn trunc_small(v: f32) -> f32 {
    let r = (v.abs() + MAGIC) - MAGIC; // |v| rounded to nearest
    let r = if r > v.abs() { r - 1.0 } else { r };
    if v < 0.0 { -r } else { r }
}

/// `expm1(u)` for the arguments `tanh` passes: `u` in `[2, 44)` or `(-2, -2^-54]`.
#[inline(always)]
fn expm1_for_tanh(u: f32) -> f32 {
    let hu = u.to_bits() & 0x7fff_ffff;
    let positive = u >= 0.0;
    let reduce = hu > 0x3eb1_7218; // |u| > 0.5 ln2
    let near = hu < 0x3f85_1592; // |u| < 1.5 ln2
    let sign = if positive { 1.0 } else { -1.0 };
    let general = trunc_small(INV_LN2 * u + 0.5 * sign);
    let k = if near { sign } else { general };
    let k = if reduce { k } else { 0.0 };
    // `k * LN2_HI` is exact (fdlibm's split), and `k = ±1` gives fdlibm's `u ∓ LN2_HI`.
    let hi = u - k * LN2_HI;
    let lo = k * LN2_LO;
    let x = if reduce { hi - lo } else { u };
    let c = if reduce { (hi - x) - lo } else { 0.0 };

    let hfx = 0.5 * x;
    let hxs = x * hfx;
    let r1 = 1.0 + hxs * (Q1 + hxs * (Q2 + hxs * (Q3 + hxs * (Q4 + hxs * Q5))));
    let t = 3.0 - r1 * hfx;
    let e = hxs * ((r1 - t) / (6.0 - x * t));
    let k0 = x - (x * e - hxs);

    let e = (x * (e - c) - c) - hxs;
    let k_minus_1 = 0.5 * (x - e) - 0.5;
    // fdlibm adds k to the exponent of y; y * 2^k is the same number (no overflow, no
    // subnormal for these arguments). `1 - 2^-k` and `2^-k` are exact.
    let kc = k.clamp(-64.0, 64.0);
    let (scale, inv) = (pow2(kc), pow2(-kc));
    let k_far = (1.0 - (e - x)) * scale - 1.0;
    let k_small = ((1.0 - inv) - (e - x)) * scale;
    let k_large = ((x - (e + inv)) + 1.0) * scale;

    let r = if k < 23.0 { k_small } else { k_large };
    let r = if (k <= -2.0) | (k > 56.0) { k_far } else { r };
    let r = if k == -1.0 { k_minus_1 } else { r };
    let r = if k == 0.0 { k0 } else { r };
    if hu < 0x3300_0000 { u } else { r }
}

/// `tanh(x)`, bit-identical to fdlibm's `tanhf` (glibc 2.36), NaN for NaN.
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    let ix = x.to_bits() & 0x7fff_ffff;
    let ax = f32::from_bits(ix);
    let at_least_one = ix >= 0x3f80_0000;
    let u = if at_least_one { 2.0 * ax } else { -2.0 * ax };
    let t = expm1_for_tanh(u);
    let num = if at_least_one { 2.0 } else { -t };
    let q = num / (t + 2.0);
    let z = if at_least_one { 1.0 - q } else { q };
    let z = if ix >= 0x41b0_0000 { 1.0 } else { z };
    let z = f32::from_bits(z.to_bits() | (x.to_bits() & 0x8000_0000));
    let z = if ix < 0x2400_0000 { x * (1.0 + x) } else { z };
    if ix > 0x7f80_0000 { x + x } else { z }
}

/// Applies [`tanh_f32`] to every element of `xs` in place, on the widest vector unit the
/// CPU has (AVX-512 or AVX2 where detected at run time; the same arithmetic, element by
/// element, on every path, so the results are identical).
pub fn tanh_slice(xs: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked just above).
            return unsafe { tanh_slice_avx512(xs) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above).
            return unsafe { tanh_slice_avx2(xs) };
        }
    }
    tanh_slice_portable(xs);
}

#[inline(always)]
fn tanh_slice_portable(xs: &mut [f32]) {
    for v in xs.iter_mut() {
        *v = tanh_f32(*v);
    }
}

/// [`tanh_slice_portable`] compiled for AVX-512F (16 lanes). No FMA: Rust never contracts
/// a multiply and an add, so the rounding is that of the portable code.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn tanh_slice_avx512(xs: &mut [f32]) {
    tanh_slice_portable(xs);
}

/// [`tanh_slice_portable`] compiled for AVX2 (8 lanes).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn tanh_slice_avx2(xs: &mut [f32]) {
    tanh_slice_portable(xs);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_values() {
        assert_eq!(tanh_f32(0.0).to_bits(), 0.0f32.to_bits());
        assert_eq!(tanh_f32(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(tanh_f32(f32::INFINITY), 1.0);
        assert_eq!(tanh_f32(f32::NEG_INFINITY), -1.0);
        assert_eq!(tanh_f32(30.0), 1.0);
        assert_eq!(tanh_f32(-22.0), -1.0);
        assert!(tanh_f32(f32::NAN).is_nan());
        assert_eq!(tanh_f32(1e-20), 1e-20);
        assert_eq!(tanh_f32(f32::MIN_POSITIVE), f32::MIN_POSITIVE);
    }

    /// Within two ulps of the correctly rounded value on a dense sweep of `[-25, 25]` (as
    /// fdlibm's `tanhf` is).
    #[test]
    fn within_two_ulps_of_f64() {
        let mut worst = 0i64;
        let mut x = -25.0f32;
        while x < 25.0 {
            let want = (x as f64).tanh() as f32;
            let got = tanh_f32(x);
            let ulps = (i64::from(got.to_bits() as i32) - i64::from(want.to_bits() as i32)).abs();
            worst = worst.max(ulps);
            x += 1.0e-4 * (1.0 + x.abs());
        }
        assert!(worst <= 2, "{worst} ulps");
    }

    /// Every vector path gives the scalar function's bits (lengths that leave remainders).
    #[test]
    fn slice_equals_elementwise() {
        let v: Vec<f32> = (0..1003).map(|i| (i as f32 - 500.0) * 0.0537).collect();
        let want: Vec<u32> = v.iter().map(|&x| tanh_f32(x).to_bits()).collect();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let mut a = v.clone();
        tanh_slice(&mut a);
        assert_eq!(bits(&a), want);
        let mut b = v.clone();
        tanh_slice_portable(&mut b);
        assert_eq!(bits(&b), want);
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                let mut c = v.clone();
                // SAFETY: checked.
                unsafe { tanh_slice_avx512(&mut c) };
                assert_eq!(bits(&c), want);
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                let mut c = v.clone();
                // SAFETY: checked.
                unsafe { tanh_slice_avx2(&mut c) };
                assert_eq!(bits(&c), want);
            }
        }
    }
}
