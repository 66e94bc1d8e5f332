//! Pairwise distance matching (PDM), the local loss of docs/method.md.

use crate::error::LocalLossError;
use crate::options::{Metric, Normalize, PdmOptions};
use crate::rule::{LocalLoss, LocalRule};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis, NdFloat, Zip};
use pdmrl_tensor::{Rng, cast, pairwise_sq_distances, rng_from_seed};

/// The PDM rule with its options; implements [`LocalRule`] through [`pdm_loss`].
///
/// Holds a seeded RNG for the options that draw random numbers (none of the current
/// options does; a rule seeded the same way gives the same results).
#[derive(Debug, Clone, PartialEq)]
pub struct Pdm {
    options: PdmOptions,
    rng: Rng,
}

impl Default for Pdm {
    fn default() -> Self {
        Pdm {
            options: PdmOptions::default(),
            rng: rng_from_seed(0),
        }
    }
}

impl Pdm {
    /// A rule with checked options.
    ///
    /// # Errors
    /// [`LocalLossError::InvalidOption`] from [`PdmOptions::check`].
    pub fn new(options: PdmOptions) -> Result<Self, LocalLossError> {
        Self::with_seed(options, 0)
    }

    /// A rule with checked options whose RNG is seeded with `seed` (derive it from the run
    /// seed, e.g. `derive_seed(seed, "actor-local-rule")`).
    ///
    /// # Errors
    /// [`LocalLossError::InvalidOption`] from [`PdmOptions::check`].
    pub fn with_seed(options: PdmOptions, seed: u64) -> Result<Self, LocalLossError> {
        options.check()?;
        Ok(Pdm {
            options,
            rng: rng_from_seed(seed),
        })
    }

    /// The options.
    pub fn options(&self) -> &PdmOptions {
        &self.options
    }
}

impl<A: NdFloat> LocalRule<A> for Pdm {
    fn name(&self) -> &str {
        "pdm"
    }

    fn uses_guidance(&self) -> bool {
        self.options.guidance_weight > 0.0
    }

    fn loss_and_grad(
        &mut self,
        input: ArrayView2<A>,
        output: ArrayView2<A>,
        guidance: Option<ArrayView1<A>>,
    ) -> Result<LocalLoss<A>, LocalLossError> {
        let _ = &mut self.rng;
        pdm_loss(input, output, guidance, &self.options)
    }
}

/// Pair distances of the rows of `x: [batch, d]` under `metric`, `[batch, batch]`, with
/// an exactly zero diagonal (the diagonal is never a pair).
fn distances<A: NdFloat>(x: ArrayView2<A>, metric: Metric, eps: A) -> Array2<A> {
    let mut d = pairwise_sq_distances(x);
    if metric == Metric::Euclidean {
        d.mapv_inplace(|s| (s + eps).sqrt());
        d.diag_mut().fill(A::zero());
    }
    d
}

/// The normalising scale of a `[batch, batch]` distance matrix with zero diagonal:
/// its mean over the `P = B(B-1)/2` pairs, its maximum, or 1.
fn scale<A: NdFloat>(d: &Array2<A>, normalize: Normalize, pairs: A) -> A {
    match normalize {
        Normalize::Mean => d.sum() / (pairs + pairs),
        Normalize::Max => d.iter().fold(A::zero(), |m, &v| if v > m { v } else { m }),
        Normalize::None => A::one(),
    }
}

/// Divides `d` by `c` in place; a zero scale (every row identical) gives all-zero
/// normalised distances instead of NaN.
fn normalise_inplace<A: NdFloat>(d: &mut Array2<A>, c: A) {
    if c > A::zero() {
        d.mapv_inplace(|v| v / c);
    } else {
        d.fill(A::zero());
    }
}

/// The PDM loss of one layer and its gradient with respect to the layer output.
///
/// Inputs: the layer input `x: [B, d_in]`, the layer output `h: [B, d_out]`, an optional
/// guidance signal `g: [B]`. With `P = B(B-1)/2` pairs `i < j` (docs/method.md):
///
/// ```text
/// s(i,j)   = max(||r_i - r_j||^2, 0)    (Gram identity, pdmrl_tensor::pairwise_sq_distances)
/// d(i,j)   = sqrt(s + eps)  (euclidean)  |  s  (squared_euclidean)
/// n(D)     = D / mean_pairs(D) | D / max_pairs(D) | D     (normalize = mean | max | none)
/// t        = (1 - lambda) n(d(x)) + lambda n(d(g))        (lambda = guidance_weight)
/// L        = (1/P) sum_{i<j} (n(d(h))_ij - t_ij)^2
/// ```
///
/// The target `t` is a constant. The guidance term is dropped (`t = n(d(x))`) when
/// `lambda = 0`, when `g` is `None`, or when every `g_i` is equal (the eps alone must not
/// make a signal). A zero normalising scale (all rows identical) gives zero normalised
/// distances.
///
/// The gradient is exact, including the dependence of the normaliser on `h`: with
/// `q_ij = dL/ds_ij` (a symmetric `[B, B]` matrix with zero diagonal) it is the
/// graph-Laplacian product `dL/dh = 2 (diag(rowsum q) - q) h`, two `[B, B]` passes and one
/// matrix product, no loop over pairs. For `max`, ties in the maximum share its gradient
/// equally (as PyTorch's `max()`). Cost O(B^2 (d_in + d_out)), memory O(B^2).
///
/// Returns the loss, `dL/dh: [B, d_out]`, and the mean pairwise euclidean distance of the
/// outputs (a diagnostic).
///
/// # Errors
/// [`LocalLossError::BatchTooSmall`] for `B < 2`; [`LocalLossError::BatchMismatch`] when
/// the row counts differ.
pub fn pdm_loss<A: NdFloat>(
    x: ArrayView2<A>,
    h: ArrayView2<A>,
    g: Option<ArrayView1<A>>,
    options: &PdmOptions,
) -> Result<LocalLoss<A>, LocalLossError> {
    let b = h.nrows();
    let glen = g.map_or(b, |g| g.len());
    if x.nrows() != b || glen != b {
        return Err(LocalLossError::BatchMismatch {
            input: x.nrows(),
            output: b,
            guidance: glen,
        });
    }
    if b < 2 {
        return Err(LocalLossError::BatchTooSmall(b));
    }
    let eps: A = cast(options.eps);
    let pairs: A = cast((b * (b - 1) / 2) as f64);
    let metric = options.metric;
    let normalize = options.normalize;

    // Target from the layer input (and guidance), a constant.
    let mut target = distances(x, metric, eps);
    let c_in = scale(&target, normalize, pairs);
    normalise_inplace(&mut target, c_in);
    let lambda = options.guidance_weight;
    if let Some(g) = g.filter(|g| lambda > 0.0 && g.iter().any(|&v| v != g[0])) {
        let g2 = g.insert_axis(Axis(1));
        let mut dg = distances(g2, metric, eps);
        let c_g = scale(&dg, normalize, pairs);
        normalise_inplace(&mut dg, c_g);
        let (wl, wg): (A, A) = (cast(1.0 - lambda), cast(lambda));
        Zip::from(&mut target)
            .and(&dg)
            .for_each(|t, &d| *t = wl * *t + wg * d);
    }

    // Output distances: s (squared), d (metric), n = d / c.
    let s_out = pairwise_sq_distances(h);
    let d_out = match metric {
        Metric::Euclidean => {
            let mut d = s_out.mapv(|s| (s + eps).sqrt());
            d.diag_mut().fill(A::zero());
            d
        }
        Metric::SquaredEuclidean => s_out.clone(),
    };
    let mean_output_distance = {
        let total = match metric {
            Metric::Euclidean => d_out.sum(),
            Metric::SquaredEuclidean => {
                s_out
                    .iter()
                    .fold(A::zero(), |acc, &s| acc + (s + eps).sqrt())
                    - cast::<A>(b as f64) * eps.sqrt()
            }
        };
        total / (pairs + pairs)
    };
    let c_out = scale(&d_out, normalize, pairs);
    let degenerate = c_out <= A::zero();

    // Residual r = n(d_out) - t over the full matrix (both triangles, zero diagonal).
    // L = (1/P) sum_{i<j} r^2 = (1/2P) sum_{i != j} r^2.
    let inv_c = if degenerate {
        A::zero()
    } else {
        A::one() / c_out
    };
    let mut r = Array2::<A>::zeros((b, b));
    Zip::from(&mut r)
        .and(&d_out)
        .and(&target)
        .for_each(|r, &d, &t| *r = d * inv_c - t);
    r.diag_mut().fill(A::zero());
    let loss = r.iter().fold(A::zero(), |acc, &v| acc + v * v) / (pairs + pairs);

    // dL/dn per pair = 2 r / P. Then through the normaliser to dL/dd (stored in `r`).
    let two_over_p = (A::one() + A::one()) / pairs;
    r.mapv_inplace(|v| v * two_over_p);
    if degenerate {
        r.fill(A::zero());
    } else {
        match normalize {
            Normalize::None => {}
            Normalize::Mean => {
                // n = d / c, c = (1/P) sum_pairs d:
                // dL/dd_kl = (dL/dn_kl - (1/P) sum_pairs dL/dn * n) / c.
                let sum_pairs: A = Zip::from(&r)
                    .and(&d_out)
                    .fold(A::zero(), |acc, &gn, &d| acc + gn * d)
                    * inv_c
                    / (A::one() + A::one());
                let shift = sum_pairs / pairs;
                r.mapv_inplace(|gn| (gn - shift) * inv_c);
            }
            Normalize::Max => {
                // n = d / c, c = max_pairs d: dL/dd_kl = dL/dn_kl / c, and the pairs
                // attaining the max also get -(sum_pairs dL/dn * n) / c, shared equally.
                let sum_pairs: A = Zip::from(&r)
                    .and(&d_out)
                    .fold(A::zero(), |acc, &gn, &d| acc + gn * d)
                    * inv_c
                    / (A::one() + A::one());
                let ties = d_out.iter().filter(|&&d| d == c_out).count() / 2;
                let share = sum_pairs * inv_c / cast::<A>(ties.max(1) as f64);
                Zip::from(&mut r).and(&d_out).for_each(|gd, &d| {
                    *gd *= inv_c;
                    if d == c_out {
                        *gd -= share;
                    }
                });
            }
        }
    }
    r.diag_mut().fill(A::zero());

    // dL/ds: euclidean d = sqrt(s + eps) -> dd/ds = 1 / (2 d).
    if metric == Metric::Euclidean {
        let half: A = cast(0.5);
        Zip::from(&mut r).and(&d_out).for_each(|q, &d| {
            if d > A::zero() {
                *q *= half / d;
            }
        });
    }

    // dL/dh = 2 (diag(rowsum q) - q) h: the graph-Laplacian product.
    let rowsum: Array1<A> = r.sum_axis(Axis(1));
    let mut grad = r.dot(&h);
    let two = A::one() + A::one();
    Zip::from(grad.rows_mut())
        .and(h.rows())
        .and(&rowsum)
        .for_each(|mut gi, hi, &rs| {
            Zip::from(&mut gi)
                .and(&hi)
                .for_each(|gv, &hv| *gv = two * (rs * hv - *gv));
        });

    Ok(LocalLoss {
        loss,
        grad_output: grad,
        mean_output_distance,
    })
}
