//! `tanh` for `f32` slices, written so that the compiler vectorises it and so that every
//! vector path gives the same bits (results version 2; see [`crate::simd`]).
//!
//! Why: the hidden activation is the hottest elementwise operation of every trainer. A
//! profile of PPO-bp on CartPole-v1 spent 34% of its time in the previous `tanh` (fdlibm's
//! `tanhf`, bit for bit, computed without branches: every case of its `expm1f` on every
//! element). This one is a single formula with no case split:
//!
//! `tanh(x) = sign(x) * e / (e + 2)` with `e = expm1(2 min(|x|, 9))`,
//!
//! and `expm1(u) = (2^k - 1) + 2^k expm1(r)`, `k = round(u / ln 2)`, `r = u - k ln 2`
//! (Cody–Waite: `ln 2` split into a head with trailing zero bits, so `k * LN2_HI` is exact,
//! and a tail), `|r| <= ln 2 / 2`, where `expm1(r)` is its Taylor polynomial to degree 7
//! (truncation error below `2^-26` relative). `e / (e + 2)` is well conditioned (relative
//! condition number `2 / (e + 2) <= 1`), so the result is within a few ulps of the correctly
//! rounded `tanh` (the tests bound it); `tanh(±9)` and beyond round to `±1`, `tanh(±0) =
//! ±0`, NaN stays NaN. All arithmetic is `f32` multiply, add and divide, rounded to nearest,
//! never fused, so the result does not depend on the vector unit or the platform's libm.

/// `ln 2` rounded to 15 significant bits: `k * LN2_HI` is exact for `|k| < 2^9`.
const LN2_HI: f32 = 0.693_145_75;
/// `ln 2 - LN2_HI`.
const LN2_LO: f32 = 1.428_606_8e-6;
const INV_LN2: f32 = std::f32::consts::LOG2_E;
/// Above this `|x|`, `tanh` rounds to 1 in `f32` (it does from about 8.7).
const CLAMP: f32 = 9.0;
/// `2^23`: adding it to a non-negative float below `2^22` rounds it to an integer held in
/// the low mantissa bits.
const MAGIC: f32 = 8_388_608.0;

/// `2^k` for an integral `k` in `[0, 127]` given as `f32` (integer work in the float's
/// bits, so that the loop vectorises without float-to-int conversions).
#[inline(always)]
fn pow2(k: f32) -> f32 {
    let biased = (k + 127.0 + MAGIC).to_bits().wrapping_sub(MAGIC.to_bits());
    f32::from_bits(biased << 23)
}

/// `expm1(u)` for `u` in `[0, 18]`.
#[inline(always)]
fn expm1_small(u: f32) -> f32 {
    let k = (u * INV_LN2 + MAGIC) - MAGIC; // round to nearest (u >= 0)
    let r = (u - k * LN2_HI) - k * LN2_LO;
    // Taylor: r + r^2 (1/2 + r (1/6 + r (1/24 + r (1/120 + r (1/720 + r / 5040))))).
    let q = 1.0 / 720.0 + r * (1.0 / 5040.0);
    let q = 1.0 / 120.0 + r * q;
    let q = 1.0 / 24.0 + r * q;
    let q = 1.0 / 6.0 + r * q;
    let q = 0.5 + r * q;
    let p = r + (r * r) * q;
    let scale = pow2(k);
    (scale - 1.0) + scale * p
}

/// `tanh(x)` (see the module docs for the formula and its accuracy).
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    let a = x.abs();
    // Not `min`, which would turn NaN into CLAMP: NaN goes on through the arithmetic (and
    // the loop stores every element, so it vectorises without masked stores).
    let a = if a > CLAMP { CLAMP } else { a };
    let e = expm1_small(a + a);
    (e / (e + 2.0)).copysign(x)
}

/// Applies [`tanh_f32`] to every element of `xs` in place, on the vector path of
/// [`crate::simd::active`] (the same bits on every path).
pub fn tanh_slice(xs: &mut [f32]) {
    match crate::simd::active() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `active` returns `Avx2Fma` only where the CPU has AVX2 and FMA.
        crate::simd::SimdPath::Avx2Fma => unsafe { tanh_slice_avx2(xs) },
        _ => tanh_slice_portable(xs),
    }
}

#[inline(always)]
fn tanh_slice_portable(xs: &mut [f32]) {
    for v in xs.iter_mut() {
        *v = tanh_f32(*v);
    }
}

/// [`tanh_slice_portable`] compiled for AVX2 (8 lanes). No FMA: Rust never contracts a
/// multiply and an add, so the rounding is that of the portable code.
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
        assert_eq!(tanh_f32(-9.0), -1.0);
        assert_eq!(tanh_f32(-22.0), -1.0);
        assert!(tanh_f32(f32::NAN).is_nan());
        assert_eq!(tanh_f32(1e-20), 1e-20);
        assert_eq!(tanh_f32(-1e-30), -1e-30);
        assert_eq!(tanh_f32(f32::MIN_POSITIVE), f32::MIN_POSITIVE);
    }

    fn ulps(got: f32, want: f32) -> i64 {
        (i64::from(got.to_bits() as i32) - i64::from(want.to_bits() as i32)).abs()
    }

    /// Within 2 ulps of the correctly rounded value (`f64` tanh, rounded) on every 7th
    /// `f32` of `[2^-30, 10]` (34 binades; by symmetry, the negatives too).
    #[test]
    fn within_two_ulps_of_f64() {
        let (mut worst, mut at) = (0, 0.0);
        let mut bits = (2.0f32).powi(-30).to_bits();
        while f32::from_bits(bits) <= 10.0 {
            let x = f32::from_bits(bits);
            let u = ulps(tanh_f32(x), (x as f64).tanh() as f32);
            if u > worst {
                (worst, at) = (u, x);
            }
            assert_eq!(tanh_f32(-x).to_bits(), (-tanh_f32(x)).to_bits());
            bits += 7;
        }
        assert!(worst <= 2, "{worst} ulps at {at}");
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
        if std::arch::is_x86_feature_detected!("avx2") {
            let mut c = v.clone();
            // SAFETY: checked.
            unsafe { tanh_slice_avx2(&mut c) };
            assert_eq!(bits(&c), want);
        }
    }
}
