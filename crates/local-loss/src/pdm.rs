//! Pairwise distance matching (PDM), the local loss of docs/method.md.

use crate::error::LocalLossError;
use crate::options::{MdsLoss, Metric, Normalize, Pairs, PdmOptions, SAMMON_FLOOR, Target};
use crate::rule::{LocalLoss, LocalRule};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis, NdFloat, Zip};
use pdmrl_tensor::{Rng, cast, mat_mul, pairwise_sq_distances, rng_from_seed};
use rand::Rng as _;

/// The PDM rule with its options; implements [`LocalRule`] through [`pdm_loss`]
/// (`pairs = "all"`) or [`pdm_loss_sampled`] (`pairs = { sampled = { k } }`).
///
/// Holds a seeded RNG ([`Pdm::with_seed`]) from which `pairs = { sampled = { k } }` draws
/// its partners, fresh on every call: two rules built with the same options and seed and
/// called with the same inputs give identical results. With `pairs = "all"` the RNG is
/// never used.
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

    fn target(&self) -> Target {
        self.options.target
    }

    fn rng_state(&self) -> Option<pdmrl_tensor::RngState> {
        Some(pdmrl_tensor::RngState::capture(&self.rng))
    }

    fn set_rng_state(&mut self, state: &pdmrl_tensor::RngState) -> Result<(), LocalLossError> {
        self.rng = state
            .restore()
            .map_err(|reason| LocalLossError::InvalidOption {
                name: "rng_state",
                value: reason,
                allowed: "a state saved by rng_state",
            })?;
        Ok(())
    }

    /// [`pdm_loss`] with `pairs = "all"`; with `pairs = { sampled = { k } }`, draws `k`
    /// partners per row (see [`sample_pairs`]) from the rule's RNG and calls
    /// [`pdm_loss_sampled`].
    ///
    /// # Errors
    /// As [`pdm_loss`], and [`LocalLossError::InvalidOption`] naming `pdm.pairs.sampled.k`
    /// when `k >= B`.
    fn loss_and_grad(
        &mut self,
        input: ArrayView2<A>,
        output: ArrayView2<A>,
        guidance: Option<ArrayView1<A>>,
    ) -> Result<LocalLoss<A>, LocalLossError> {
        match self.options.pairs {
            Pairs::All => pdm_loss(input, output, guidance, &self.options),
            Pairs::Sampled { k } => {
                let b = check_batch(input, output, guidance)?;
                let pairs = sample_pairs(&mut self.rng, b, k)?;
                pdm_loss_sampled(input, output, guidance, &self.options, &pairs)
            }
        }
    }

    /// With `pairs = "all"`, [`pdm_loss`] without its gradient (the Laplacian product and
    /// the passes over `[B, B]` that feed it); sampled pairs compute it (their gradient is
    /// cheap) and draw from the RNG as [`LocalRule::loss_and_grad`] does.
    fn loss_only(
        &mut self,
        input: ArrayView2<A>,
        output: ArrayView2<A>,
        guidance: Option<ArrayView1<A>>,
    ) -> Result<LocalLoss<A>, LocalLossError> {
        match self.options.pairs {
            Pairs::All => pdm_loss_with(input, output, guidance, &self.options, false),
            Pairs::Sampled { .. } => self.loss_and_grad(input, output, guidance),
        }
    }
}

/// Draws `k` partners `j != i` for every row `i` of a batch of `b` rows, without
/// replacement within a row, and returns the `b·k` ordered pairs `(i, j)`, row by row.
///
/// Each row's partners are a uniformly random `k`-subset of the other `b - 1` rows, drawn
/// by Floyd's algorithm (Bentley & Floyd, "A sample of brilliance", CACM 1987): one draw
/// `rng.random_range(0..=top)` for each `top` in `b-1-k ..= b-2`, no rejection, membership
/// through one `[b - 1]` scratch array. A pair may appear in both orders (`(i, j)` drawn for `i` and `(j, i)` for `j`);
/// the order of partners within a row is not uniform (the loss does not depend on it).
/// Cost O(b k) time, O(b k) memory for the result plus O(b) scratch.
///
/// # Errors
/// [`LocalLossError::InvalidOption`] naming `pdm.pairs.sampled.k` when `k = 0` or
/// `k >= b` (the message gives the batch size).
pub fn sample_pairs(
    rng: &mut Rng,
    b: usize,
    k: usize,
) -> Result<Vec<(usize, usize)>, LocalLossError> {
    if k == 0 || k >= b {
        return Err(LocalLossError::InvalidOption {
            name: "pdm.pairs.sampled.k",
            value: format!("{k} with a minibatch of {b} rows"),
            allowed: "must be in 1..=B-1 (each row needs k distinct partners among the other B-1 rows)",
        });
    }
    let m = b - 1;
    // chosen[c] == i: candidate c (row c, or c + 1 when c >= i) is already a partner of i.
    let mut chosen = vec![usize::MAX; m];
    let mut pairs = Vec::with_capacity(b * k);
    for i in 0..b {
        for top in (m - k)..m {
            let t = rng.random_range(0..=top);
            let c = if chosen[t] == i { top } else { t };
            chosen[c] = i;
            pairs.push((i, if c >= i { c + 1 } else { c }));
        }
    }
    Ok(pairs)
}

/// The batch size `B` of a layer's input, output and guidance; they must agree and
/// `B >= 2`.
fn check_batch<A>(
    x: ArrayView2<A>,
    h: ArrayView2<A>,
    g: Option<ArrayView1<A>>,
) -> Result<usize, LocalLossError> {
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
    Ok(b)
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
/// `options.pairs` and `options.target` are not read here: this is the full-pair kernel
/// ([`pdm_loss_sampled`] is the sampled one), and the target is whatever `x` the caller
/// passes.
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
    pdm_loss_with(x, h, g, options, true)
}

/// [`pdm_loss`], with the gradient only if `with_grad` (else `grad_output` is `[0, 0]`;
/// the loss and the mean distance are the same bits).
fn pdm_loss_with<A: NdFloat>(
    x: ArrayView2<A>,
    h: ArrayView2<A>,
    g: Option<ArrayView1<A>>,
    options: &PdmOptions,
    with_grad: bool,
) -> Result<LocalLoss<A>, LocalLossError> {
    let b = check_batch(x, h, g)?;
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
    let loss = match options.loss {
        MdsLoss::SquaredError => {
            let loss = r.iter().fold(A::zero(), |acc, &v| acc + v * v) / (pairs + pairs);
            // dL/dn per pair = 2 r / P.
            let two_over_p = (A::one() + A::one()) / pairs;
            r.mapv_inplace(|v| v * two_over_p);
            loss
        }
        MdsLoss::Strain => {
            let mut n = d_out.mapv(|d| d * inv_c);
            n.diag_mut().fill(A::zero());
            strain(&n, &target, &mut r)
        }
        kind => {
            let mut n = d_out.mapv(|d| d * inv_c);
            n.diag_mut().fill(A::zero());
            let slices = |a: &Array2<A>| a.as_slice().expect("owned, standard layout").to_vec();
            let (n, t) = (slices(&n), slices(&target));
            let g = r.as_slice_mut().expect("owned, standard layout");
            stress(kind, &n, &t, A::one() + A::one(), pairs, g)
        }
    };

    if !with_grad {
        return Ok(LocalLoss {
            loss,
            grad_output: Array2::zeros((0, 0)),
            mean_output_distance,
        });
    }

    // dL/dn per pair is in `r`. Then through the normaliser to dL/dd (stored in `r`).
    let g = r.as_slice_mut().expect("owned, standard layout");
    if degenerate {
        g.fill(A::zero());
    } else {
        let d = d_out.as_slice().expect("owned, standard layout");
        normaliser_backward(g, d, normalize, c_out, inv_c, pairs, 2);
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
    let mut grad = mat_mul(r.view(), h.view());
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

/// Backward through the normaliser `n = d / c` of both kernels: turns `dL/dn` (in `g`,
/// one value per entry) into `dL/dd`, where `d` holds the entries' distances, each pair
/// appearing `mult` times among the entries (2: both triangles of a `[B, B]` matrix with
/// a zero diagonal; 1: a list of pairs), `pairs` pairs in all, `c` the scale (`mean` or
/// `max` of the pair distances) and `inv_c = 1 / c`.
///
/// `mean`, `c = (1/P) sum_pairs d`: `dL/dd_p = (dL/dn_p - (1/P) sum_pairs dL/dn * n) / c`.
/// `max`, `c = max_pairs d`: `dL/dd_p = dL/dn_p / c`, and the pairs attaining the max also
/// get `-(sum_pairs dL/dn * n) / c`, shared equally.
fn normaliser_backward<A: NdFloat>(
    g: &mut [A],
    d: &[A],
    normalize: Normalize,
    c: A,
    inv_c: A,
    pairs: A,
    mult: usize,
) {
    if normalize == Normalize::None {
        return;
    }
    let sum_pairs = g
        .iter()
        .zip(d)
        .fold(A::zero(), |acc, (&gn, &dd)| acc + gn * dd)
        * inv_c
        / cast::<A>(mult as f64);
    match normalize {
        Normalize::None => {}
        Normalize::Mean => {
            let shift = sum_pairs / pairs;
            g.iter_mut().for_each(|gn| *gn = (*gn - shift) * inv_c);
        }
        Normalize::Max => {
            let ties = d.iter().filter(|&&v| v == c).count() / mult;
            let share = sum_pairs * inv_c / cast::<A>(ties.max(1) as f64);
            g.iter_mut().zip(d).for_each(|(gd, &v)| {
                *gd *= inv_c;
                if v == c {
                    *gd -= share;
                }
            });
        }
    }
}

/// Sammon's stress or Kruskal's stress-1 ([`MdsLoss`]) of normalised output distances `n`
/// against targets `t`, given entry by entry: each of the `pairs` pairs appears `mult`
/// times among the entries (2: both triangles of a `[B, B]` matrix whose diagonal is zero
/// in `n` and `t`; 1: a list of pairs). Returns the loss and writes into `g`, at each
/// entry, the derivative of the loss with respect to that entry's pair distance.
fn stress<A: NdFloat>(kind: MdsLoss, n: &[A], t: &[A], mult: A, pairs: A, g: &mut [A]) -> A {
    let sum = |f: &dyn Fn(A, A) -> A| {
        n.iter()
            .zip(t)
            .fold(A::zero(), |acc, (&n, &t)| acc + f(n, t))
            / mult
    };
    match kind {
        MdsLoss::Sammon => {
            // L = sum_p (n - t)^2 w / S, w = 1 / max(t, floor), S = sum_p t;
            // dL/dn_p = 2 (n - t) w / S.
            let total = sum(&|_, t| t);
            if total <= A::zero() {
                g.fill(A::zero());
                return A::zero();
            }
            let floor = cast::<A>(SAMMON_FLOOR) * total / pairs;
            let weight = |t: A| A::one() / if t > floor { t } else { floor };
            let loss = sum(&|n, t| (n - t) * (n - t) * weight(t)) / total;
            let two_over_total = (A::one() + A::one()) / total;
            for ((g, &n), &t) in g.iter_mut().zip(n).zip(t) {
                *g = (n - t) * weight(t) * two_over_total;
            }
            loss
        }
        MdsLoss::Kruskal => {
            // L = sqrt(A / N), A = sum_p (n - t)^2, N = sum_p n^2;
            // dL/dn_p = ((n - t) - L^2 n) / (L N).
            let (a, nn) = (sum(&|n, t| (n - t) * (n - t)), sum(&|n, _| n * n));
            if nn <= A::zero() {
                g.fill(A::zero());
                return A::one();
            }
            let loss = (a / nn).sqrt();
            if loss <= A::zero() {
                g.fill(A::zero());
                return loss;
            }
            let (l2, denom) = (loss * loss, loss * nn);
            for ((g, &n), &t) in g.iter_mut().zip(n).zip(t) {
                *g = ((n - t) - l2 * n) / denom;
            }
            loss
        }
        MdsLoss::SquaredError | MdsLoss::Strain => {
            unreachable!("stress() computes Sammon's and Kruskal's stress only")
        }
    }
}

/// Classical (Torgerson) strain ([`MdsLoss::Strain`]) of the normalised output distances
/// `n: [B, B]` against the targets `t: [B, B]` (symmetric, zero diagonal):
/// `L = ||B(n) - B(t)||_F^2 / ||B(t)||_F^2`, `B(D) = -1/2 J (D o D) J`. Returns the loss
/// and writes dL/dn per pair into `g` (both triangles): with `E = 2 (B(n) - B(t)) / Z`
/// (double-centred, so `J E J = E`), `dL/dn_ij = -2 n_ij E_ij`.
fn strain<A: NdFloat>(n: &Array2<A>, t: &Array2<A>, g: &mut Array2<A>) -> A {
    let centred = |d: &Array2<A>| -> Array2<A> {
        let sq = d.mapv(|v| v * v);
        let inv_b = A::one() / cast::<A>(sq.nrows() as f64);
        let rows = sq.sum_axis(Axis(1)).mapv(|v| v * inv_b);
        let grand = rows.sum() * inv_b;
        let minus_half: A = cast(-0.5);
        let mut out = sq;
        for ((i, j), v) in out.indexed_iter_mut() {
            *v = minus_half * (*v - rows[i] - rows[j] + grand);
        }
        out
    };
    let (b_out, b_in) = (centred(n), centred(t));
    let z = b_in.iter().fold(A::zero(), |acc, &v| acc + v * v);
    if z <= A::zero() {
        g.fill(A::zero());
        return A::zero();
    }
    let mut e = b_out - &b_in;
    let loss = e.iter().fold(A::zero(), |acc, &v| acc + v * v) / z;
    let minus_four_over_z = cast::<A>(-4.0) / z;
    e.mapv_inplace(|v| v * minus_four_over_z);
    Zip::from(g).and(&e).and(n).for_each(|g, &e, &n| *g = e * n);
    loss
}

/// The squared euclidean distance of two equally long rows, computed directly, with
/// eight independent partial sums (so that the loop vectorises instead of waiting on one
/// chain of additions).
#[inline]
fn sq_dist<A: NdFloat>(a: &[A], b: &[A]) -> A {
    const LANES: usize = 8;
    let mut acc = [A::zero(); LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (u, v) in ca.zip(cb) {
        for l in 0..LANES {
            let d = u[l] - v[l];
            acc[l] += d * d;
        }
    }
    let mut s = ra.iter().zip(rb).fold(A::zero(), |s, (&u, &v)| {
        let d = u - v;
        s + d * d
    });
    for v in acc {
        s += v;
    }
    s
}

/// Mutable views of rows `i != j` of the row-major `m: [_, dim]`.
#[inline]
fn two_rows_mut<A>(m: &mut [A], dim: usize, i: usize, j: usize) -> (&mut [A], &mut [A]) {
    debug_assert_ne!(i, j);
    if i < j {
        let (lo, hi) = m.split_at_mut(j * dim);
        (&mut lo[i * dim..(i + 1) * dim], &mut hi[..dim])
    } else {
        let (lo, hi) = m.split_at_mut(i * dim);
        (&mut hi[..dim], &mut lo[j * dim..(j + 1) * dim])
    }
}

/// Distances `d(r_i, r_j)` of the rows of the row-major `rows: [B, dim]` over the pairs.
fn pair_distances<A: NdFloat>(
    rows: &[A],
    dim: usize,
    pairs: &[(usize, usize)],
    metric: Metric,
    eps: A,
) -> Vec<A> {
    pairs
        .iter()
        .map(|&(i, j)| {
            let s = sq_dist(&rows[i * dim..(i + 1) * dim], &rows[j * dim..(j + 1) * dim]);
            match metric {
                Metric::Euclidean => (s + eps).sqrt(),
                Metric::SquaredEuclidean => s,
            }
        })
        .collect()
}

/// The normalising scale of distances over a pair set: their mean, maximum, or 1.
fn pair_scale<A: NdFloat>(d: &[A], normalize: Normalize) -> A {
    match normalize {
        Normalize::Mean => d.iter().fold(A::zero(), |acc, &v| acc + v) / cast(d.len() as f64),
        Normalize::Max => d.iter().fold(A::zero(), |m, &v| if v > m { v } else { m }),
        Normalize::None => A::one(),
    }
}

/// Divides by `c`; a zero scale gives zeros (as [`pdm_loss`]).
fn pair_normalise<A: NdFloat>(d: &mut [A], c: A) {
    if c > A::zero() {
        d.iter_mut().for_each(|v| *v /= c);
    } else {
        d.fill(A::zero());
    }
}

/// The PDM loss of one layer over a given set of ordered pairs, and its gradient with
/// respect to the layer output; the kernel of `pairs = { sampled = { k } }`.
///
/// Inputs as [`pdm_loss`] (`x: [B, d_in]`, `h: [B, d_out]`, `g: [B]`) plus the pair set
/// `S = pairs`, `M = |S|` ordered pairs `(i, j)` with `i != j`, both `< B` (the rule
/// passes `B·k` pairs from [`sample_pairs`]; a pair may appear several times, in either
/// order, and then counts as often). The formula is [`pdm_loss`]'s with every mean and
/// maximum taken over `S` instead of over all pairs:
///
/// ```text
/// s_p      = ||r_i - r_j||^2            (computed directly, not by the Gram identity)
/// d_p      = sqrt(s_p + eps)  (euclidean)  |  s_p  (squared_euclidean)
/// n(D)_p   = D_p / mean_S(D) | D_p / max_S(D) | D_p   (normalize = mean | max | none)
/// t_p      = (1 - lambda) n(d(x))_p + lambda n(d(g))_p
/// L        = (1/M) sum_{p in S} (n(d(h))_p - t_p)^2
/// ```
///
/// The guidance term is dropped under the same conditions as in [`pdm_loss`] (decided on
/// the whole `g`, not on the pairs); a zero normalising scale gives zero normalised
/// distances. Passing all `B(B-1)` ordered pairs gives [`pdm_loss`]'s loss and gradient up
/// to rounding (tests/pdm_sampled.rs checks 1e-12 in f64).
///
/// The gradient is exact for the given `S`, including the dependence of the normaliser
/// on `h`: with `q_p = dL/ds_p`, each pair scatters `2 q_p (h_i - h_j)` to row `i` and its
/// negative to row `j`. For `max`, pairs tied at the maximum share its gradient equally.
/// Cost O(M (d_in + d_out)) time, O(M) memory besides the `[B, d_out]` gradient: no
/// `[B, B]` matrix. `mean_output_distance` is the mean over `S` of `sqrt(s_p + eps)`.
///
/// # Errors
/// [`LocalLossError::BatchTooSmall`] for `B < 2`; [`LocalLossError::BatchMismatch`] when
/// the row counts differ; [`LocalLossError::InvalidOption`] naming `pdm.pairs` when `S` is
/// empty or holds a pair with `i == j` or an index `>= B`.
pub fn pdm_loss_sampled<A: NdFloat>(
    x: ArrayView2<A>,
    h: ArrayView2<A>,
    g: Option<ArrayView1<A>>,
    options: &PdmOptions,
    pairs: &[(usize, usize)],
) -> Result<LocalLoss<A>, LocalLossError> {
    let b = check_batch(x, h, g)?;
    if pairs.is_empty() {
        return Err(LocalLossError::InvalidOption {
            name: "pdm.pairs",
            value: "an empty pair set".to_string(),
            allowed: "needs at least one pair (i, j)",
        });
    }
    if let Some(&(i, j)) = pairs.iter().find(|&&(i, j)| i == j || i >= b || j >= b) {
        return Err(LocalLossError::InvalidOption {
            name: "pdm.pairs",
            value: format!("pair ({i}, {j}) in a minibatch of {b} rows"),
            allowed: "every pair (i, j) needs i != j and i, j < B",
        });
    }
    let eps: A = cast(options.eps);
    let metric = options.metric;
    let normalize = options.normalize;
    let m: A = cast(pairs.len() as f64);
    let two = A::one() + A::one();

    // Target from the layer input (and guidance) over S, a constant.
    let (d_in, d_out) = (x.ncols(), h.ncols());
    let xs = x.as_standard_layout();
    let xs = xs.as_slice().expect("standard layout is contiguous");
    let mut target = pair_distances(xs, d_in, pairs, metric, eps);
    let c_in = pair_scale(&target, normalize);
    pair_normalise(&mut target, c_in);
    let lambda = options.guidance_weight;
    if let Some(g) = g.filter(|g| lambda > 0.0 && g.iter().any(|&v| v != g[0])) {
        let gs = g.to_vec();
        let mut dg = pair_distances(&gs, 1, pairs, metric, eps);
        let c_g = pair_scale(&dg, normalize);
        pair_normalise(&mut dg, c_g);
        let (wl, wg): (A, A) = (cast(1.0 - lambda), cast(lambda));
        target
            .iter_mut()
            .zip(&dg)
            .for_each(|(t, &d)| *t = wl * *t + wg * d);
    }

    // Output distances over S: s (squared), d (metric).
    let hs = h.as_standard_layout();
    let hs = hs.as_slice().expect("standard layout is contiguous");
    let s_out: Vec<A> = pair_distances(hs, d_out, pairs, Metric::SquaredEuclidean, eps);
    let dist: Vec<A> = match metric {
        Metric::Euclidean => s_out.iter().map(|&s| (s + eps).sqrt()).collect(),
        Metric::SquaredEuclidean => s_out.clone(),
    };
    let mean_output_distance = match metric {
        Metric::Euclidean => dist.iter().fold(A::zero(), |acc, &d| acc + d),
        Metric::SquaredEuclidean => s_out
            .iter()
            .fold(A::zero(), |acc, &s| acc + (s + eps).sqrt()),
    } / m;
    let c_out = pair_scale(&dist, normalize);
    let degenerate = c_out <= A::zero();
    let inv_c = if degenerate {
        A::zero()
    } else {
        A::one() / c_out
    };

    // Residual r = n(d_out) - t and L = (1/M) sum_S r^2.
    let mut q: Vec<A> = dist
        .iter()
        .zip(&target)
        .map(|(&d, &t)| d * inv_c - t)
        .collect();
    let loss = match options.loss {
        MdsLoss::SquaredError => {
            let loss = q.iter().fold(A::zero(), |acc, &v| acc + v * v) / m;
            // dL/dn_p = 2 r_p / M.
            let two_over_m = two / m;
            q.iter_mut().for_each(|v| *v *= two_over_m);
            loss
        }
        MdsLoss::Strain => {
            return Err(LocalLossError::InvalidOption {
                name: "pdm.loss",
                value: "strain".to_string(),
                allowed: "strain double-centres the full [B, B] distance matrices: it needs pairs = \"all\"",
            });
        }
        kind => {
            let n: Vec<A> = dist.iter().map(|&d| d * inv_c).collect();
            stress(kind, &n, &target, A::one(), m, &mut q)
        }
    };

    // dL/dn_p is in `q`; then through the normaliser to dL/dd_p (stored in `q`).
    if degenerate {
        q.fill(A::zero());
    } else {
        normaliser_backward(&mut q, &dist, normalize, c_out, inv_c, m, 1);
    }

    // dL/ds_p: euclidean d = sqrt(s + eps) -> dd/ds = 1 / (2 d).
    if metric == Metric::Euclidean {
        let half: A = cast(0.5);
        q.iter_mut().zip(&dist).for_each(|(q, &d)| {
            if d > A::zero() {
                *q *= half / d;
            }
        });
    }

    // dL/dh: scatter 2 q_p (h_i - h_j) to row i and its negative to row j.
    let mut grad = vec![A::zero(); b * d_out];
    for (&(i, j), &qp) in pairs.iter().zip(&q) {
        if qp == A::zero() {
            continue;
        }
        let c = two * qp;
        let (hi, hj) = (
            &hs[i * d_out..(i + 1) * d_out],
            &hs[j * d_out..(j + 1) * d_out],
        );
        let (gi, gj) = two_rows_mut(&mut grad, d_out, i, j);
        for (((gi, gj), &u), &v) in gi.iter_mut().zip(gj.iter_mut()).zip(hi).zip(hj) {
            let w = c * (u - v);
            *gi += w;
            *gj -= w;
        }
    }
    let grad_output = Array2::from_shape_vec((b, d_out), grad).expect("B x d_out buffer");

    Ok(LocalLoss {
        loss,
        grad_output,
        mean_output_distance,
    })
}
