//! Running mean and variance: Gymnasium 1.4.0's `RunningMeanStd`
//! (`gymnasium/wrappers/utils.py`), the statistics behind the normalising wrappers.

use serde::{Deserialize, Serialize};

/// Per-component running mean and (population) variance of a stream of vectors, updated one
/// batch at a time with the parallel-variance rule (Chan et al.; Gymnasium 1.4.0's
/// `RunningMeanStd` and `update_mean_var_count_from_moments` in
/// `gymnasium/wrappers/utils.py`).
///
/// A fresh value holds a *prior* of weight `count = epsilon` (Gymnasium's default
/// `1e-4`) with mean 0 and variance 1, so the first normalised values are not divided by a
/// zero variance. With `epsilon = 0` the statistics are exactly the mean and population
/// variance (`ddof = 0`) of everything passed to [`RunningMeanStd::update`].
///
/// All components are f64 (Gymnasium keeps observation statistics in the observation's
/// dtype, float32; reward statistics in float64). Serialisable, so that a checkpoint can
/// save and restore a normaliser's statistics (`NormalizeObservation::stats` /
/// `set_stats`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunningMeanStd {
    /// Running mean per component, `[dim]`.
    pub mean: Vec<f64>,
    /// Running population variance per component, `[dim]`.
    pub var: Vec<f64>,
    /// Number of samples seen, plus the prior's weight `epsilon`.
    pub count: f64,
}

impl RunningMeanStd {
    /// Gymnasium's default prior weight, the initial `count`: `1e-4`.
    pub const DEFAULT_EPSILON: f64 = 1e-4;

    /// Statistics of `dim` components with Gymnasium's prior: mean 0, variance 1,
    /// `count = 1e-4`.
    pub fn new(dim: usize) -> Self {
        Self::with_epsilon(dim, Self::DEFAULT_EPSILON)
    }

    /// Statistics of `dim` components with mean 0, variance 1 and `count = epsilon`
    /// (Gymnasium's `RunningMeanStd(epsilon, shape)`). `epsilon = 0` gives plain sample
    /// statistics (the prior has no weight).
    ///
    /// # Panics
    /// If `epsilon` is negative or not finite.
    pub fn with_epsilon(dim: usize, epsilon: f64) -> Self {
        assert!(
            epsilon.is_finite() && epsilon >= 0.0,
            "RunningMeanStd epsilon must be finite and >= 0, got {epsilon}"
        );
        RunningMeanStd {
            mean: vec![0.0; dim],
            var: vec![1.0; dim],
            count: epsilon,
        }
    }

    /// Number of components.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// Adds a batch of samples, one row `[dim]` per sample (Gymnasium's
    /// `RunningMeanStd.update(x)` with `x` of shape `[batch, dim]`): computes the batch's
    /// mean and population variance and merges them with
    /// [`RunningMeanStd::update_from_moments`]. An empty batch changes nothing (Gymnasium
    /// would produce NaN).
    ///
    /// Non-finite samples are not rejected here (they make the statistics NaN); the wrappers
    /// check their inputs before calling this.
    ///
    /// # Panics
    /// If a row's length differs from [`RunningMeanStd::dim`].
    pub fn update<R: AsRef<[f64]>>(&mut self, batch: &[R]) {
        if batch.is_empty() {
            return;
        }
        let dim = self.dim();
        for (i, row) in batch.iter().enumerate() {
            assert_eq!(
                row.as_ref().len(),
                dim,
                "RunningMeanStd::update: row {i} has {} components, the statistics have {dim}",
                row.as_ref().len()
            );
        }
        let n = batch.len() as f64;
        let mut batch_mean = vec![0.0; dim];
        for row in batch {
            for (m, &x) in batch_mean.iter_mut().zip(row.as_ref()) {
                *m += x;
            }
        }
        for m in &mut batch_mean {
            *m /= n;
        }
        // Two-pass population variance (numpy's `np.var`, ddof = 0).
        let mut batch_var = vec![0.0; dim];
        for row in batch {
            for ((v, &x), &m) in batch_var.iter_mut().zip(row.as_ref()).zip(&batch_mean) {
                let d = x - m;
                *v += d * d;
            }
        }
        for v in &mut batch_var {
            *v /= n;
        }
        self.update_from_moments(&batch_mean, &batch_var, n);
    }

    /// Adds a single sample `[dim]` (a batch of one: the batch variance is 0). Same as
    /// `update(&[x])`, without allocating.
    ///
    /// # Panics
    /// If `x.len()` differs from [`RunningMeanStd::dim`].
    pub fn update_one(&mut self, x: &[f64]) {
        assert_eq!(
            x.len(),
            self.dim(),
            "RunningMeanStd::update_one: the sample has {} components, the statistics have {}",
            x.len(),
            self.dim()
        );
        let count = self.count;
        let tot_count = count + 1.0;
        for ((mean, var), &x) in self.mean.iter_mut().zip(&mut self.var).zip(x) {
            (*mean, *var) = merge(*mean, *var, count, x, 0.0, 1.0, tot_count);
        }
        self.count = tot_count;
    }

    /// Merges a batch given by its per-component mean and population variance, `[dim]`
    /// each, and its size (Gymnasium's `update_from_moments`, same operation order):
    ///
    /// ```text
    /// delta = batch_mean - mean;  tot = count + batch_count
    /// mean += delta * batch_count / tot
    /// var   = (var * count + batch_var * batch_count + delta² * count * batch_count / tot) / tot
    /// count = tot
    /// ```
    ///
    /// # Panics
    /// If `batch_mean` or `batch_var` has a length other than [`RunningMeanStd::dim`].
    pub fn update_from_moments(&mut self, batch_mean: &[f64], batch_var: &[f64], batch_count: f64) {
        assert!(
            batch_mean.len() == self.dim() && batch_var.len() == self.dim(),
            "RunningMeanStd::update_from_moments: batch moments have {} and {} components, \
             the statistics have {}",
            batch_mean.len(),
            batch_var.len(),
            self.dim()
        );
        let count = self.count;
        let tot_count = count + batch_count;
        for (((mean, var), &bm), &bv) in self
            .mean
            .iter_mut()
            .zip(&mut self.var)
            .zip(batch_mean)
            .zip(batch_var)
        {
            (*mean, *var) = merge(*mean, *var, count, bm, bv, batch_count, tot_count);
        }
        self.count = tot_count;
    }

    /// `(x - mean[i]) / sqrt(var[i] + epsilon)` for component `i`.
    ///
    /// # Panics
    /// If `i >= dim()`.
    pub fn normalize(&self, i: usize, x: f64, epsilon: f64) -> f64 {
        (x - self.mean[i]) / (self.var[i] + epsilon).sqrt()
    }

    /// Checks that these statistics can be used for `dim` components: `mean` and `var` of
    /// length `dim`, every value finite, `var >= 0`, `count >= 0`. Returns what is wrong.
    ///
    /// # Errors
    /// A description of the first problem found.
    pub fn validate(&self, dim: usize) -> Result<(), String> {
        if self.mean.len() != dim || self.var.len() != dim {
            return Err(format!(
                "statistics have {} means and {} variances, expected {dim} of each",
                self.mean.len(),
                self.var.len()
            ));
        }
        if let Some(i) = self.mean.iter().position(|m| !m.is_finite()) {
            return Err(format!("mean[{i}] = {} is not finite", self.mean[i]));
        }
        if let Some(i) = self.var.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
            return Err(format!(
                "var[{i}] = {} is not a finite non-negative number",
                self.var[i]
            ));
        }
        if !(self.count.is_finite() && self.count >= 0.0) {
            return Err(format!(
                "count = {} is not a finite non-negative number",
                self.count
            ));
        }
        Ok(())
    }
}

/// Gymnasium's `update_mean_var_count_from_moments` for one component; returns the new
/// `(mean, var)`. `tot_count = count + batch_count`, computed once by the caller.
fn merge(
    mean: f64,
    var: f64,
    count: f64,
    batch_mean: f64,
    batch_var: f64,
    batch_count: f64,
    tot_count: f64,
) -> (f64, f64) {
    let delta = batch_mean - mean;
    let new_mean = mean + delta * batch_count / tot_count;
    let m_a = var * count;
    let m_b = batch_var * batch_count;
    let m2 = m_a + m_b + delta * delta * count * batch_count / tot_count;
    (new_mean, m2 / tot_count)
}
