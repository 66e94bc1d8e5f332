//! Weight initialisers.

use crate::rng::Rng;
use nalgebra::DMatrix;
use ndarray::{Array2, NdFloat};
use rand_distr::{Distribution, StandardNormal};

/// A `[inputs, outputs]` weight matrix with orthonormal rows or columns, times `gain`:
/// PyTorch's `nn.init.orthogonal_` applied to a `[outputs, inputs]` `nn.Linear.weight`,
/// returned transposed to this crate's input-major layout.
///
/// As PyTorch: draw a standard-normal `[rows, cols]` matrix (`rows = outputs`), transpose
/// it if `rows < cols`, take its QR decomposition (nalgebra, Householder), multiply the
/// columns of `Q` by the signs of `diag(R)` so the result is unique, transpose back, scale
/// by `gain`. Draws come from `rng`; the values differ from PyTorch's, the distribution
/// does not.
pub fn orthogonal<A: NdFloat>(
    inputs: usize,
    outputs: usize,
    gain: f64,
    rng: &mut Rng,
) -> Array2<A> {
    let (rows, cols) = (outputs, inputs);
    let (m, n) = if rows < cols {
        (cols, rows)
    } else {
        (rows, cols)
    };
    let normal: Vec<f64> = (0..m * n)
        .map(|_| StandardNormal.sample(&mut *rng))
        .collect();
    // Row-major m x n matrix of the draws.
    let flat = DMatrix::from_row_slice(m, n, &normal);
    let qr = flat.qr();
    let mut q = qr.q(); // m x n
    let r = qr.r(); // n x n
    for j in 0..n {
        let d = r[(j, j)];
        let sign = if d > 0.0 {
            1.0
        } else if d < 0.0 {
            -1.0
        } else {
            0.0
        };
        q.column_mut(j).scale_mut(sign);
    }
    // q is m x n; PyTorch weight is rows x cols = q (or q^T when transposed above).
    let weight_rows_cols =
        |i: usize, j: usize| -> f64 { if rows < cols { q[(j, i)] } else { q[(i, j)] } };
    // Our layout is [inputs, outputs] = [cols, rows]: element (c, r) = weight[r, c].
    Array2::from_shape_fn((inputs, outputs), |(c, r)| {
        crate::cast::<A>(gain * weight_rows_cols(r, c))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::rng_from_seed;

    fn check_orthogonal(inputs: usize, outputs: usize, gain: f64) {
        let w: Array2<f64> = orthogonal(inputs, outputs, gain, &mut rng_from_seed(3));
        assert_eq!(w.dim(), (inputs, outputs));
        // The smaller Gram matrix is gain^2 * I.
        let g = if inputs >= outputs {
            w.t().dot(&w)
        } else {
            w.dot(&w.t())
        };
        for ((i, j), v) in g.indexed_iter() {
            let want = if i == j { gain * gain } else { 0.0 };
            assert!((v - want).abs() < 1e-10, "gram[{i},{j}] = {v}, want {want}");
        }
    }

    #[test]
    fn orthogonal_tall_wide_square() {
        check_orthogonal(4, 64, 2f64.sqrt());
        check_orthogonal(64, 2, 0.01);
        check_orthogonal(64, 64, 1.0);
        check_orthogonal(64, 1, 1.0);
    }

    #[test]
    fn orthogonal_is_seeded() {
        let a: Array2<f32> = orthogonal(4, 8, 1.0, &mut rng_from_seed(1));
        let b: Array2<f32> = orthogonal(4, 8, 1.0, &mut rng_from_seed(1));
        let c: Array2<f32> = orthogonal(4, 8, 1.0, &mut rng_from_seed(2));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
