//! Learning-rate schedules: one [`Schedule`] type for the heads' rate (CleanRL's
//! `anneal_lr`) and the hidden layers' local rate, both read at the run's progress.

use serde::{Deserialize, Serialize};

/// How a learning rate changes over a run, as a function of its progress `p` in [0, 1)
/// (the fraction of the run done before the current iteration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// `lr0` throughout.
    #[default]
    Constant,
    /// Annealed linearly towards 0: `lr0 * (1 - p)`, CleanRL's `anneal_lr`
    /// (`(1 - (iteration - 1) / num_iterations) * lr0`, see [`linear_anneal`]).
    Linear,
}

impl Schedule {
    /// The rate at progress `progress` of a run that starts at `lr0` (never below 0).
    pub fn rate(self, lr0: f64, progress: f64) -> f64 {
        match self {
            Schedule::Constant => lr0,
            Schedule::Linear => lr0 * (1.0 - progress).max(0.0),
        }
    }
}

/// CleanRL's linear annealing (`ppo.py`, `anneal_lr`): at iteration `iteration`
/// (1-based) of `num_iterations`, `lr = (1 - (iteration - 1) / num_iterations) * lr0`.
/// The first iteration uses `lr0`; the last uses `lr0 / num_iterations`.
///
/// # Panics
/// If `num_iterations == 0` or `iteration` is 0.
pub fn linear_anneal(lr0: f64, iteration: usize, num_iterations: usize) -> f64 {
    assert!(
        num_iterations > 0 && iteration > 0,
        "linear_anneal: iterations are 1-based"
    );
    let frac = 1.0 - (iteration as f64 - 1.0) / num_iterations as f64;
    frac * lr0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_matches_linear_anneal_bit_for_bit() {
        for n in [1usize, 3, 7, 244, 1953] {
            for it in 1..=n {
                let p = (it - 1) as f64 / n as f64;
                assert_eq!(
                    Schedule::Linear.rate(2.5e-4, p).to_bits(),
                    linear_anneal(2.5e-4, it, n).to_bits()
                );
                assert_eq!(Schedule::Constant.rate(2.5e-4, p), 2.5e-4);
            }
        }
        assert_eq!(Schedule::Linear.rate(1.0, 1.5), 0.0);
    }

    #[test]
    fn anneals_linearly_from_lr0() {
        assert_eq!(linear_anneal(2.5e-4, 1, 4), 2.5e-4);
        assert!((linear_anneal(2.5e-4, 2, 4) - 1.875e-4).abs() < 1e-18);
        assert!((linear_anneal(2.5e-4, 4, 4) - 0.625e-4).abs() < 1e-18);
    }
}
