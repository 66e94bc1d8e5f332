//! Running normalisation of observations and rewards on the agent's side of a vector env
//! (Gymnasium's `NormalizeObservation` / `NormalizeReward` with CleanRL's clipping, with
//! statistics shared by every copy as SB3's `VecNormalize`), so that checkpoints can save
//! them and evaluation can use them frozen.

use ndarray::{Array2, ArrayView2};
use pdmrl_envs::RunningMeanStd;

/// Added to the variance under the square root (Gymnasium's `epsilon` 1e-8).
pub const NORM_EPSILON: f64 = 1e-8;

/// Observation normaliser: `clip((obs - mean) / sqrt(var + 1e-8), -clip, clip)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ObsNormalizer {
    /// Running statistics of the raw observations, `[obs_dim]` (Gymnasium's prior:
    /// mean 0, var 1, count 1e-4).
    pub stats: RunningMeanStd,
    /// The clip bound.
    pub clip: f64,
}

impl ObsNormalizer {
    /// Fresh statistics for `dim` components.
    pub fn new(dim: usize, clip: f64) -> Self {
        ObsNormalizer {
            stats: RunningMeanStd::new(dim),
            clip,
        }
    }

    /// Adds the rows of `raw: [batch, dim]` to the statistics (one batch update), then
    /// normalises them.
    pub fn update_and_normalize(&mut self, raw: ArrayView2<f32>) -> Array2<f32> {
        let rows: Vec<Vec<f64>> = raw
            .rows()
            .into_iter()
            .map(|r| r.iter().map(|&v| f64::from(v)).collect())
            .collect();
        self.stats.update(&rows);
        self.normalize(raw)
    }

    /// Normalises `raw: [batch, dim]` with the current statistics, leaving them unchanged.
    pub fn normalize(&self, raw: ArrayView2<f32>) -> Array2<f32> {
        Array2::from_shape_fn(raw.dim(), |(i, j)| {
            let z = self
                .stats
                .normalize(j, f64::from(raw[[i, j]]), NORM_EPSILON);
            z.clamp(-self.clip, self.clip) as f32
        })
    }
}

/// Reward normaliser: keeps the discounted return `R_i = gamma R_i + r_i` of each copy
/// (restarted when its episode ends), updates the statistics with the batch of `R`, and
/// returns `clip(r / sqrt(var + 1e-8), -clip, clip)` (not centred, as Gymnasium).
#[derive(Debug, Clone, PartialEq)]
pub struct RewardNormalizer {
    /// Running statistics of the discounted returns, `[1]`.
    pub stats: RunningMeanStd,
    /// The discounted return of each copy, `[num_envs]`.
    pub returns: Vec<f64>,
    /// The discount of the accumulator (the agent's `gamma`).
    pub gamma: f64,
    /// The clip bound.
    pub clip: f64,
}

impl RewardNormalizer {
    /// Fresh statistics for `num_envs` copies.
    pub fn new(num_envs: usize, gamma: f64, clip: f64) -> Self {
        RewardNormalizer {
            stats: RunningMeanStd::new(1),
            returns: vec![0.0; num_envs],
            gamma,
            clip,
        }
    }

    /// The normalised rewards of one vector step, `[num_envs]`; `ended[i]` restarts copy
    /// `i`'s accumulator after this step.
    pub fn normalize(&mut self, rewards: &[f64], ended: &[bool]) -> Vec<f64> {
        for (r, &x) in self.returns.iter_mut().zip(rewards) {
            *r = *r * self.gamma + x;
        }
        let rows: Vec<[f64; 1]> = self.returns.iter().map(|&r| [r]).collect();
        self.stats.update(&rows);
        let scale = (self.stats.var[0] + NORM_EPSILON).sqrt();
        let out = rewards
            .iter()
            .map(|&r| (r / scale).clamp(-self.clip, self.clip))
            .collect();
        for (r, &e) in self.returns.iter_mut().zip(ended) {
            if e {
                *r = 0.0;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn observations_are_standardised_and_clipped() {
        let mut n = ObsNormalizer::new(1, 10.0);
        let raw = array![[1.0f32], [3.0]];
        let z = n.update_and_normalize(raw.view());
        // Prior (count 1e-4, mean 0, var 1) merged with the batch (mean 2, var 1).
        assert!((n.stats.mean[0] - 2.0).abs() < 1e-3);
        assert!((z[[0, 0]] + 1.0).abs() < 1e-2 && (z[[1, 0]] - 1.0).abs() < 1e-2);
        let far = n.normalize(array![[1e6f32]].view());
        assert_eq!(far[[0, 0]], 10.0);
        // normalize() alone leaves the statistics frozen.
        assert!((n.stats.mean[0] - 2.0).abs() < 1e-3);
    }

    #[test]
    fn rewards_scale_by_the_return_std_and_restart_at_episode_ends() {
        let mut n = RewardNormalizer::new(2, 0.5, 10.0);
        let out = n.normalize(&[1.0, 2.0], &[false, true]);
        assert_eq!(n.returns, vec![1.0, 0.0]);
        let scale = (n.stats.var[0] + NORM_EPSILON).sqrt();
        assert!((out[0] - 1.0 / scale).abs() < 1e-12 && (out[1] - 2.0 / scale).abs() < 1e-12);
        n.normalize(&[1.0, 1.0], &[false, false]);
        assert_eq!(n.returns, vec![1.5, 1.0]);
        let mut tiny = RewardNormalizer::new(1, 0.0, 0.5);
        tiny.normalize(&[0.0], &[false]);
        assert_eq!(tiny.normalize(&[1e9], &[false])[0], 0.5); // 1e9 / std ≈ 2, clipped
    }
}
