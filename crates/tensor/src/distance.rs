//! Pairwise distances between the rows of a matrix.

use ndarray::{Array2, ArrayView2, NdFloat};

/// Squared Euclidean distances `s[i, j] = ||x_i - x_j||^2` between the rows of
/// `x: [batch, features]`, returned as `[batch, batch]`.
///
/// Computed through the Gram-matrix identity `s_ij = G_ii + G_jj - 2 G_ij` with
/// `G = x x^T` (one matrix product), clamped at 0 (rounding can make it slightly negative)
/// and with an exactly zero diagonal.
pub fn pairwise_sq_distances<A: NdFloat>(x: ArrayView2<A>) -> Array2<A> {
    let mut s = crate::gemm::mat_mul(x, x.t());
    let norms: Vec<A> = s.diag().to_vec();
    let two = A::one() + A::one();
    for (i, mut row) in s.rows_mut().into_iter().enumerate() {
        let ni = norms[i];
        // Row by row over zipped slices: no index arithmetic, the loop vectorises.
        for (v, &nj) in row.iter_mut().zip(&norms) {
            let d = ni + nj - two * *v;
            *v = if d < A::zero() { A::zero() } else { d };
        }
        row[i] = A::zero();
    }
    s
}

/// Euclidean distances `d[i, j] = sqrt(s_ij + eps)` between the rows of
/// `x: [batch, features]`, `[batch, batch]`, with `s` from [`pairwise_sq_distances`]
/// (clamped at 0 before the square root). `eps > 0` keeps the gradient finite for
/// coincident rows (docs/method.md uses 1e-8). The diagonal is `sqrt(eps)`.
pub fn pairwise_distances<A: NdFloat>(x: ArrayView2<A>, eps: A) -> Array2<A> {
    let mut s = pairwise_sq_distances(x);
    s.mapv_inplace(|v| (v + eps).sqrt());
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn matches_direct_differences() {
        let x = array![[0.0f64, 0.0], [3.0, 4.0], [1.0, -1.0], [3.0, 4.0]];
        let s = pairwise_sq_distances(x.view());
        for i in 0..4 {
            for j in 0..4 {
                let d = &x.row(i) - &x.row(j);
                let want = d.dot(&d);
                assert!((s[[i, j]] - want).abs() < 1e-12, "s[{i},{j}]");
            }
        }
        assert_eq!(s[[1, 3]], 0.0);
        let d = pairwise_distances(x.view(), 0.0);
        assert!((d[[0, 1]] - 5.0).abs() < 1e-12);
    }

    #[test]
    fn clamps_rounding_below_zero() {
        // Large, nearly equal rows: the Gram identity cancels; the result must stay >= 0.
        let x = array![[1e4f32, 1e4 + 1e-3], [1e4, 1e4]];
        let s = pairwise_sq_distances(x.view());
        assert!(s.iter().all(|&v| v >= 0.0));
        let d = pairwise_distances(x.view(), 1e-8);
        assert!(d.iter().all(|v| v.is_finite()));
    }
}
