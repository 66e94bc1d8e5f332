//! Matrix products `C = A B` in `f32`, without packing or allocation, with one fixed
//! arithmetic on every vector path (results version 2).
//!
//! Every element is one chain of fused multiply-adds over `k` in order, from `+0`:
//! `c_ij = fma(a_i,k-1, b_k-1,j, ... fma(a_i1, b_1j, fma(a_i0, b_0j, 0)))`. The AVX2 path
//! computes tiles of 6 rows by 16 (or 8, or the last 1–7) columns in registers, the
//! portable path one element at a time with `f32::mul_add`; both give the same bits
//! (tests force each path). Generic code
//! calls [`mat_mul`] / [`mat_mul_into`], which take this path for `f32` and ndarray's
//! `dot` for other float types (the `f64` gradient checks).
//!
//! Why not a library: matrixmultiply (ndarray's `dot`) packs both operands into a buffer it
//! allocates on every call (a fifth of PPO's time at these shapes) and fuses the
//! multiply-add only on CPUs with FMA, so its results depend on the CPU; faer's `gemm`
//! chooses its kernels and blocking (hence its summation order) by CPU and size. Neither
//! keeps the determinism rule "the same bits on every vector path".

use ndarray::{Array2, ArrayView2, ArrayViewMut2, NdFloat};

use crate::simd::SimdPath;

/// Rows of a register tile on the AVX2 path.
const MR: usize = 6;
/// Steps of the chain per block on the AVX2 path (a block of `b` fits L1 beside `a`'s).
const KC: usize = 128;

/// `a: [m, k] · b: [k, n] -> [m, n]` (standard layout). Any strides for `a` and `b`.
///
/// # Panics
/// If `a.ncols() != b.nrows()`.
pub fn mat_mul<A: NdFloat>(a: ArrayView2<A>, b: ArrayView2<A>) -> Array2<A> {
    let mut c = Array2::zeros((a.nrows(), b.ncols()));
    mat_mul_into(a, b, c.view_mut());
    c
}

/// [`mat_mul`] into `c: [m, n]` (overwritten; any layout). Allocates nothing for `f32`
/// when `b`'s rows are contiguous (unit column stride) and `c` is in standard layout;
/// otherwise copies the operand into a standard-layout buffer first (the same bits).
///
/// # Panics
/// If the shapes do not fit.
pub fn mat_mul_into<A: NdFloat>(a: ArrayView2<A>, b: ArrayView2<A>, mut c: ArrayViewMut2<A>) {
    assert_eq!(a.ncols(), b.nrows(), "mat_mul: inner dimensions");
    assert_eq!(c.dim(), (a.nrows(), b.ncols()), "mat_mul: output shape");
    if let (Some(a), Some(b), Some(c)) = (as_f32(a), as_f32(b), as_f32_mut(c.view_mut())) {
        return mat_mul_f32(a, b, c);
    }
    ndarray::linalg::general_mat_mul(A::one(), &a, &b, A::zero(), &mut c);
}

/// The `f32` product (see the module docs).
///
/// # Panics
/// If the shapes do not fit.
pub fn mat_mul_f32(a: ArrayView2<f32>, b: ArrayView2<f32>, mut c: ArrayViewMut2<f32>) {
    assert_eq!(a.ncols(), b.nrows(), "mat_mul: inner dimensions");
    assert_eq!(c.dim(), (a.nrows(), b.ncols()), "mat_mul: output shape");
    if a.is_empty() || b.is_empty() {
        c.fill(0.0); // empty chains (k = 0) are +0
        return;
    }
    if b.strides()[1] != 1 && b.ncols() > 1 {
        let b = b.as_standard_layout();
        return mat_mul_f32(a, b.view(), c);
    }
    if !c.is_standard_layout() {
        let mut tmp = Array2::zeros(c.dim());
        mat_mul_f32(a, b, tmp.view_mut());
        c.assign(&tmp);
        return;
    }
    let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
    let op = Operands {
        a: a.as_ptr(),
        rsa: a.strides()[0],
        csa: a.strides()[1],
        b: b.as_ptr(),
        rsb: b.strides()[0],
        k,
    };
    let out = c.as_slice_mut().expect("standard layout (checked above)");
    match crate::simd::active() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `active` returns `Avx2Fma` only where the CPU has AVX2 and FMA; the
        // operands' pointers and strides describe the views `a` and `b`, alive here.
        SimdPath::Avx2Fma => unsafe { avx2::product(&op, m, n, out) },
        // SAFETY: as above.
        _ => unsafe { portable(&op, m, n, out) },
    }
}

/// The operands as raw parts: `a[i, p] = *a.offset(i rsa + p csa)`,
/// `b[p, j] = *b.offset(p rsb + j)`.
struct Operands {
    a: *const f32,
    rsa: isize,
    csa: isize,
    b: *const f32,
    rsb: isize,
    k: usize,
}

impl Operands {
    /// A pointer to `a[i, p]` (wrapping arithmetic: computing it is safe, reading it is
    /// valid for `i < m`, `p < k` of the view the operands came from).
    #[inline(always)]
    fn a_ptr(&self, i: usize, p: usize) -> *const f32 {
        self.a
            .wrapping_offset((i as isize).wrapping_mul(self.rsa))
            .wrapping_offset((p as isize).wrapping_mul(self.csa))
    }

    /// A pointer to `b[p, j]` (as [`Operands::a_ptr`]: valid to read for `p < k`, `j < n`).
    #[inline(always)]
    fn b(&self, p: usize, j: usize) -> *const f32 {
        self.b
            .wrapping_offset((p as isize).wrapping_mul(self.rsb))
            .wrapping_add(j)
    }

    /// `c_ij` as one chain of `f32::mul_add` over `p` in order, from `+0`.
    ///
    /// # Safety
    /// `i < m`, `j < n` of the views the operands came from.
    #[inline(always)]
    unsafe fn chain(&self, i: usize, j: usize) -> f32 {
        let (mut a, mut b) = (self.a_ptr(i, 0), self.b(0, j));
        let mut acc = 0.0f32;
        for _ in 0..self.k {
            acc = unsafe { (*a).mul_add(*b, acc) };
            a = a.wrapping_offset(self.csa);
            b = b.wrapping_offset(self.rsb);
        }
        acc
    }
}

/// Every element by [`Operands::chain`].
///
/// # Safety
/// The operands describe live views of `[m, k]` and `[k, n]`; `out` holds `m * n`.
unsafe fn portable(op: &Operands, m: usize, n: usize, out: &mut [f32]) {
    for i in 0..m {
        for j in 0..n {
            out[i * n + j] = unsafe { op.chain(i, j) };
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{KC, MR, Operands};
    use std::arch::x86_64::{
        _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_loadu_si256, _mm256_maskload_ps, _mm256_set1_ps,
        _mm256_setzero_ps, _mm256_storeu_ps,
    };

    /// Tiles of `MR` rows by 16, then 8, then the last `n % 8` columns (masked loads).
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; as [`super::portable`].
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn product(op: &Operands, m: usize, n: usize, out: &mut [f32]) {
        let mut j = 0;
        while j + 16 <= n {
            unsafe { rows::<2>(op, m, n, j, out) };
            j += 16;
        }
        if j + 8 <= n {
            unsafe { rows::<1>(op, m, n, j, out) };
            j += 8;
        }
        if j < n {
            unsafe { rows::<0>(op, m, n, j, out) };
        }
    }

    /// Columns `j .. j + 8 NV` of every row, `MR` rows at a time; `NV = 0`: the last
    /// `n - j < 8` columns.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn rows<const NV: usize>(op: &Operands, m: usize, n: usize, j: usize, out: &mut [f32]) {
        // Blocks of KC steps of the chain: the block of `b` (KC x 16 floats) stays in L1
        // across the row tiles; a later block goes on from the partial chains in `out`.
        let mut k0 = 0;
        while k0 < op.k.max(1) {
            let ks = k0..(k0 + KC).min(op.k);
            let mut i = 0;
            while i + MR <= m {
                unsafe { tile::<MR, NV>(op, i, j, n, ks.clone(), out) };
                i += MR;
            }
            unsafe {
                match m - i {
                    0 => {}
                    1 => tile::<1, NV>(op, i, j, n, ks, out),
                    2 => tile::<2, NV>(op, i, j, n, ks, out),
                    3 => tile::<3, NV>(op, i, j, n, ks, out),
                    4 => tile::<4, NV>(op, i, j, n, ks, out),
                    5 => tile::<5, NV>(op, i, j, n, ks, out),
                    _ => unreachable!("fewer than MR rows remain"),
                }
            }
            k0 += KC;
        }
    }

    /// Steps `ks` of the chains of `out[i .. i + R, j .. j + 8 NV]`, in `R * NV` registers
    /// (from `+0` when `ks` starts at 0, else from the partial chains in `out`); `NV = 0`:
    /// `out[i .. i + R, j .. n]` (fewer than 8 columns) in `R` registers, from masked loads
    /// (the lanes past `n` compute values that are never stored).
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn tile<const R: usize, const NV: usize>(
        op: &Operands,
        i: usize,
        j: usize,
        n: usize,
        ks: std::ops::Range<usize>,
        out: &mut [f32],
    ) {
        const LANES: [i32; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];
        let partial = NV == 0;
        let vectors = if partial { 1 } else { NV };
        let width = if partial { n - j } else { 8 * NV };
        // Lane l loads when l < width (only read when partial).
        let mask = unsafe { _mm256_loadu_si256(LANES.as_ptr().add(8 - width.min(8)).cast()) };
        let mut acc = [[_mm256_setzero_ps(); 2]; R];
        if ks.start > 0 {
            for (r, row) in acc.iter_mut().enumerate() {
                let src = out[(i + r) * n + j..].as_ptr();
                for (v, c) in row.iter_mut().enumerate().take(vectors) {
                    *c = if partial {
                        unsafe { _mm256_maskload_ps(src, mask) }
                    } else {
                        unsafe { _mm256_loadu_ps(src.wrapping_add(8 * v)) }
                    };
                }
            }
        }
        // Pointers walked with wrapping offsets: no index arithmetic (nor its overflow
        // checks, in profiles that keep them) in the loop.
        let mut a_at = [std::ptr::null::<f32>(); R];
        for (r, at) in a_at.iter_mut().enumerate() {
            *at = op.a_ptr(i + r, ks.start);
        }
        let mut bp = op.b(ks.start, j);
        for _ in ks {
            let mut bv = [_mm256_setzero_ps(); 2];
            for (v, b) in bv.iter_mut().enumerate().take(vectors) {
                *b = if partial {
                    unsafe { _mm256_maskload_ps(bp, mask) }
                } else {
                    unsafe { _mm256_loadu_ps(bp.wrapping_add(8 * v)) }
                };
            }
            for (row, at) in acc.iter_mut().zip(a_at.iter_mut()) {
                let a = _mm256_set1_ps(unsafe { **at });
                *at = at.wrapping_offset(op.csa);
                for (c, b) in row.iter_mut().zip(&bv).take(vectors) {
                    *c = _mm256_fmadd_ps(a, *b, *c);
                }
            }
            bp = bp.wrapping_offset(op.rsb);
        }
        for (r, row) in acc.iter().enumerate() {
            let dst = &mut out[(i + r) * n + j..(i + r) * n + j + width];
            if partial {
                let mut lanes = [0.0f32; 8];
                unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), row[0]) };
                dst.copy_from_slice(&lanes[..width]);
            } else {
                for (v, c) in row.iter().enumerate().take(vectors) {
                    unsafe { _mm256_storeu_ps(dst.as_mut_ptr().wrapping_add(8 * v), *c) };
                }
            }
        }
    }
}

/// `x` as an `f32` view when `A` is `f32`.
fn as_f32<A: NdFloat>(x: ArrayView2<'_, A>) -> Option<ArrayView2<'_, f32>> {
    (std::any::TypeId::of::<A>() == std::any::TypeId::of::<f32>())
        // SAFETY: `A` is `f32` (same TypeId): the same type.
        .then(|| unsafe { std::mem::transmute::<ArrayView2<'_, A>, ArrayView2<'_, f32>>(x) })
}

/// `x` as a mutable `f32` view when `A` is `f32`.
fn as_f32_mut<A: NdFloat>(x: ArrayViewMut2<'_, A>) -> Option<ArrayViewMut2<'_, f32>> {
    (std::any::TypeId::of::<A>() == std::any::TypeId::of::<f32>()).then(|| {
        // SAFETY: `A` is `f32` (same TypeId): the same type.
        unsafe { std::mem::transmute::<ArrayViewMut2<'_, A>, ArrayViewMut2<'_, f32>>(x) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng_from_seed;
    use crate::simd::{SimdPath, force};
    use ndarray::s;
    use rand_distr::{Distribution, StandardNormal};

    fn random(m: usize, n: usize, seed: u64) -> Array2<f32> {
        let mut rng = rng_from_seed(seed);
        Array2::from_shape_fn((m, n), |_| {
            let v: f32 = StandardNormal.sample(&mut rng);
            v
        })
    }

    fn bits(a: &Array2<f32>) -> Vec<u32> {
        a.iter().map(|v| v.to_bits()).collect()
    }

    /// The chain of the module docs, written out element by element.
    fn reference(a: ArrayView2<f32>, b: ArrayView2<f32>) -> Array2<f32> {
        Array2::from_shape_fn((a.nrows(), b.ncols()), |(i, j)| {
            (0..a.ncols()).fold(0.0f32, |acc, p| a[[i, p]].mul_add(b[[p, j]], acc))
        })
    }

    const SHAPES: &[(usize, usize, usize)] = &[
        (1, 4, 64),
        (4, 4, 64),
        (4, 64, 2),
        (4, 64, 1),
        (5, 7, 33),
        (7, 13, 23),
        (128, 64, 64),
        (64, 128, 64),
        (17, 400, 256),
        (13, 300, 3),
        (0, 4, 4),
        (3, 0, 5),
    ];

    /// Every path the CPU has gives the chain's bits, for standard, transposed and strided
    /// operands and outputs (one test: forcing a path is process-wide).
    #[test]
    fn every_path_computes_the_chain_bit_for_bit() {
        let mut paths = 0;
        for path in [SimdPath::Portable, SimdPath::Avx2Fma] {
            if force(Some(path)).is_err() {
                continue;
            }
            paths += 1;
            for &(m, k, n) in SHAPES {
                let a = random(m, k, (m * 1000 + k) as u64);
                let b = random(k, n, (k * 1000 + n) as u64);
                let want = bits(&reference(a.view(), b.view()));
                assert_eq!(
                    bits(&mat_mul(a.view(), b.view())),
                    want,
                    "{path} [{m},{k}]x[{k},{n}]"
                );
                let at = a.t().to_owned();
                assert_eq!(
                    bits(&mat_mul(at.t(), b.view())),
                    want,
                    "{path} transposed a"
                );
                let bt = b.t().to_owned();
                assert_eq!(
                    bits(&mat_mul(a.view(), bt.t())),
                    want,
                    "{path} transposed b"
                );
                let wide = random(m, 2 * k, 7);
                let strided = wide.slice(s![.., ..;2]);
                let want = bits(&reference(strided, b.view()));
                assert_eq!(bits(&mat_mul(strided, b.view())), want, "{path} strided a");
                let mut ct = Array2::<f32>::zeros((n, m));
                mat_mul_into(a.view(), b.view(), ct.view_mut().reversed_axes());
                let want = bits(&reference(a.view(), b.view()));
                assert_eq!(bits(&ct.t().to_owned()), want, "{path} transposed output");
            }
        }
        force(None).unwrap();
        assert!(paths >= 1);
    }

    /// `f64` goes through ndarray's `dot`.
    #[test]
    fn f64_equals_dot() {
        let a = random(5, 6, 1).mapv(f64::from);
        let b = random(6, 7, 2).mapv(f64::from);
        assert_eq!(mat_mul(a.view(), b.view()), a.dot(&b));
    }
}
