//! `x W` for the small `f32` products of a dense layer's forward pass, without packing.
//!
//! ndarray's `dot` hands every product to matrixmultiply, which packs both operands into
//! an aligned buffer it allocates on every call. At the shapes of these networks (4 rows in
//! a rollout, 64–256 rows in a minibatch, 4–256 inputs) packing is a fifth of PPO's time.
//! On a CPU with FMA, matrixmultiply's kernels (AVX-512 or FMA+AVX2) compute every element
//! of `C = A B` as one fused multiply-add chain over `k` in order, starting from `+0`, when
//! `k` fits one block (`k <= 256`), and multiply it by `alpha = 1` (exact). This module
//! computes that same chain row by row, vectorised over the output columns, so its results
//! are bit-identical (`tests` compare with `dot` on every shape class); elsewhere (no FMA,
//! `k > 256`, more than 16 rows, a weight not in standard layout) the caller uses `dot`.

use ndarray::{Array2, ArrayView2};

/// Largest `k` for which matrixmultiply computes in one block (its `S_KC` for `f32`).
pub const MAX_K: usize = 256;
/// Most rows this kernel takes: beyond, matrixmultiply's register tiles win despite
/// packing (criterion `product_*`: 4 rows 3.7× faster here, 128 rows 1.4× slower).
pub const MAX_ROWS: usize = 16;

/// `x W` for `x: [m, k]` with `m <=` [`MAX_ROWS`] and a standard-layout `w: [k, n]`, or
/// `None` where the result could differ from `x.dot(&w)` (see the module docs), where
/// matrixmultiply is faster, or where no FMA unit is detected.
pub fn product(x: ArrayView2<f32>, w: ArrayView2<f32>) -> Option<Array2<f32>> {
    let mut out = Array2::<f32>::zeros((x.nrows(), w.ncols()));
    let slice = out.as_slice_mut().expect("fresh array is contiguous");
    product_into(x, w, slice).then_some(out)
}

/// [`product`] into `out` (`[m, n]` row-major, `m * n` floats; overwritten): `true` if it
/// computed the product, `false` (and `out` untouched) where [`product`] gives `None`.
/// Allocates nothing.
///
/// # Panics
/// If `out.len() != m * n` for a product it computes.
pub fn product_into(x: ArrayView2<f32>, w: ArrayView2<f32>, out: &mut [f32]) -> bool {
    let (k, n) = w.dim();
    if k > MAX_K || k == 0 || x.ncols() != k || x.nrows() > MAX_ROWS {
        return false;
    }
    let Some(w) = w.as_slice() else {
        return false;
    };
    #[cfg(target_arch = "x86_64")]
    {
        let kernel: unsafe fn(ArrayView2<f32>, &[f32], &mut [f32], usize) =
            if std::arch::is_x86_feature_detected!("avx512f") {
                rows_avx512
            } else if std::arch::is_x86_feature_detected!("fma")
                && std::arch::is_x86_feature_detected!("avx2")
            {
                rows_fma_avx2
            } else {
                return false;
            };
        assert_eq!(out.len(), x.nrows() * n, "product_into: output length");
        out.fill(0.0);
        // SAFETY: the CPU has the features the kernel is compiled for (checked above).
        unsafe { kernel(x, w, out, n) };
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (x, w, n, out);
        false
    }
}

/// Whether this CPU runs [`product`] (x86-64 with AVX-512F, or FMA and AVX2).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            || (std::arch::is_x86_feature_detected!("fma")
                && std::arch::is_x86_feature_detected!("avx2"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `out[i, :] = fma-chain over kk of x[i, kk] * w[kk, :]`, rows of `n` floats: each
/// element's chain runs over `k` in order from `+0`, vectorised over the columns.
#[inline(always)]
fn rows(x: ArrayView2<f32>, w: &[f32], out: &mut [f32], n: usize) {
    for (row, out_row) in x.rows().into_iter().zip(out.chunks_exact_mut(n)) {
        for (&a, w_row) in row.iter().zip(w.chunks_exact(n)) {
            for (o, &b) in out_row.iter_mut().zip(w_row) {
                *o = a.mul_add(b, *o);
            }
        }
    }
}

/// [`rows`] on AVX-512 (16 lanes of fused multiply-add).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn rows_avx512(x: ArrayView2<f32>, w: &[f32], out: &mut [f32], n: usize) {
    rows(x, w, out, n);
}

/// [`rows`] on FMA + AVX2 (8 lanes).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn rows_fma_avx2(x: ArrayView2<f32>, w: &[f32], out: &mut [f32], n: usize) {
    rows(x, w, out, n);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng_from_seed;
    use ndarray::{Array2, s};
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

    /// Bit-identical to `dot` wherever it applies: every row count of a rollout and a
    /// minibatch, edge widths, k up to the block size, strided and transposed inputs.
    #[test]
    fn equals_dot_bit_for_bit() {
        let mut checked = 0;
        for &(m, k, n) in &[
            (1, 4, 64),
            (4, 4, 64),
            (4, 64, 64),
            (4, 64, 2),
            (4, 64, 1),
            (5, 7, 33),
            (16, 256, 256),
            (16, 100, 250),
            (128, 64, 64),
            (17, 100, 250),
            (256, 256, 3),
        ] {
            let x = random(m, k, (m * 1000 + k) as u64);
            let w = random(k, n, (k * 1000 + n) as u64);
            let want = x.dot(&w);
            if let Some(got) = product(x.view(), w.view()) {
                assert_eq!(bits(&got), bits(&want), "[{m}, {k}] x [{k}, {n}]");
                checked += 1;
            }
            let xt = x.t().to_owned();
            if let Some(got) = product(xt.t(), w.view()) {
                assert_eq!(bits(&got), bits(&x.t().t().dot(&w)), "transposed x");
            }
            let wide = random(m, 2 * k, 7);
            let strided = wide.slice(s![.., ..;2]);
            if let Some(got) = product(strided, w.view()) {
                assert_eq!(bits(&got), bits(&strided.dot(&w)), "strided x");
            }
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("fma") {
            assert_eq!(
                checked, 8,
                "every shape of at most 16 rows takes the fast path"
            );
        }
    }

    #[test]
    fn declines_what_it_cannot_match() {
        let x = random(17, 8, 1);
        let w = random(8, 8, 2);
        assert!(
            product(x.view(), w.view()).is_none(),
            "more than MAX_ROWS rows"
        );
        let x = random(4, 300, 1);
        let w = random(300, 8, 2);
        assert!(product(x.view(), w.view()).is_none(), "k above one block");
        let w = random(8, 4, 3);
        let x = random(4, 4, 4);
        assert!(
            product(x.view(), w.t()).is_none(),
            "weight not in standard layout"
        );
    }
}
