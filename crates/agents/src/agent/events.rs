//! What an agent reports while it trains ([`Event`]) and the records it carries.

use crate::trainer::LayerStats;
use serde::Serialize;

/// What the agent reports while it trains.
#[derive(Debug, Clone)]
pub enum Event {
    /// An episode of a training env finished.
    Episode(EpisodeRecord),
    /// An iteration (rollout + update) finished.
    Iteration(IterationStats),
    /// A deterministic evaluation finished.
    Evaluation(EvalRecord),
}

/// One finished training episode.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EpisodeRecord {
    /// Environment steps taken over all envs when the episode ended.
    pub global_step: usize,
    /// Undiscounted sum of the raw (unnormalised) rewards.
    pub episodic_return: f64,
    /// Number of steps.
    pub episodic_length: usize,
}

/// One deterministic evaluation: an episode on each eval env copy, greedy actions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalRecord {
    /// Environment steps of training when the evaluation ran.
    pub global_step: usize,
    /// Raw return of each episode, `[eval_episodes]`.
    pub returns: Vec<f64>,
    /// Length of each episode.
    pub lengths: Vec<usize>,
}

impl EvalRecord {
    /// Mean of the returns (NaN if none).
    pub fn mean(&self) -> f64 {
        self.returns.iter().sum::<f64>() / self.returns.len() as f64
    }

    /// Population standard deviation of the returns (NaN if none).
    pub fn std(&self) -> f64 {
        let mean = self.mean();
        let n = self.returns.len() as f64;
        (self.returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / n).sqrt()
    }

    /// Smallest and largest return (`(inf, -inf)` if none).
    pub fn range(&self) -> (f64, f64) {
        let min = self.returns.iter().copied().fold(f64::INFINITY, f64::min);
        let max = self
            .returns
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        (min, max)
    }
}

/// Diagnostics of one iteration (CleanRL's logged scalars plus the local-rule ones).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IterationStats {
    /// 1-based iteration.
    pub iteration: usize,
    /// Environment steps taken so far.
    pub global_step: usize,
    /// Learning rate of this iteration (heads, or everything under bp).
    pub learning_rate: f64,
    /// Mean over minibatches of the value loss.
    pub value_loss: f64,
    /// Mean over minibatches of the policy loss.
    pub policy_loss: f64,
    /// Mean over minibatches of the policy entropy.
    pub entropy: f64,
    /// Mean over minibatches of `mean(-logratio)`.
    pub old_approx_kl: f64,
    /// Mean over minibatches of `mean((ratio - 1) - logratio)`.
    pub approx_kl: f64,
    /// Mean over minibatches of the clipped fraction.
    pub clipfrac: f64,
    /// `1 - Var(returns - values) / Var(returns)` over the rollout (NaN if Var = 0).
    pub explained_variance: f64,
    /// Mean global gradient norm before clipping.
    pub grad_norm: f64,
    /// Per hidden layer of the actor, averaged over the iteration's measurements
    /// (local trainers: every minibatch; bp/frozen: the first minibatch).
    pub actor_layers: Vec<LayerStats>,
    /// Per hidden layer of the critic, likewise.
    pub critic_layers: Vec<LayerStats>,
}

/// Wall-clock seconds an [`super::Agent`] has spent in each phase of its iterations since it was
/// built (not restored from checkpoints; measurement only, never an input to training).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct PhaseTimes {
    /// Collecting rollouts: policy and value forwards, action sampling, env steps, seconds.
    pub rollout_seconds: f64,
    /// Advantages (GAE) and the epochs of minibatch updates, seconds.
    pub update_seconds: f64,
    /// Iterations measured.
    pub iterations: usize,
}
