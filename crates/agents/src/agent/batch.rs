//! How an iteration's batch is cut, decided once per agent: `num_steps` vector steps of
//! every env (PPO, A2C, and REINFORCE with `batch = "steps"`), or `num_episodes` whole
//! episodes of one env (REINFORCE with `batch = "episodes"`). The plan answers what
//! depends on that choice: the run's progress and end, when the rollout is full, and the
//! minibatches of an update.

use crate::config::{AgentConfig, MAX_BATCH_SIZE};
use crate::error::AgentError;

/// The batch plan of a run (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BatchPlan {
    /// `num_steps` steps of each env per iteration, `num_iterations` iterations
    /// (CleanRL's `total_timesteps // batch_size`).
    Steps {
        num_steps: usize,
        num_iterations: usize,
        num_minibatches: usize,
    },
    /// `num_episodes` whole episodes of one env per iteration, until `total_timesteps`
    /// steps are reached (the last batch may end early at the budget).
    Episodes {
        num_episodes: usize,
        total_timesteps: usize,
        num_minibatches: usize,
    },
}

/// Steps per env reserved for an episode batch's rollout before its size is known.
const EPISODE_CAPACITY: usize = 1024;

impl BatchPlan {
    /// The plan of a config.
    pub(crate) fn of(c: &AgentConfig) -> Self {
        if c.episode_batches() {
            BatchPlan::Episodes {
                num_episodes: c.num_episodes,
                total_timesteps: c.total_timesteps,
                num_minibatches: c.num_minibatches,
            }
        } else {
            BatchPlan::Steps {
                num_steps: c.num_steps,
                num_iterations: c.num_iterations(),
                num_minibatches: c.num_minibatches,
            }
        }
    }

    /// The fraction of the run done before iteration `iteration` (1-based), in [0, 1):
    /// `(iteration - 1) / num_iterations`, or for episode batches
    /// `global_step / total_timesteps`. Every schedule reads it.
    pub(crate) fn progress(&self, iteration: usize, global_step: usize) -> f64 {
        match *self {
            BatchPlan::Steps { num_iterations, .. } => {
                (iteration - 1) as f64 / num_iterations as f64
            }
            BatchPlan::Episodes {
                total_timesteps, ..
            } => global_step as f64 / total_timesteps as f64,
        }
    }

    /// Whether training is finished after `iteration` iterations and `global_step` steps.
    pub(crate) fn is_done(&self, iteration: usize, global_step: usize) -> bool {
        match *self {
            BatchPlan::Steps { num_iterations, .. } => iteration >= num_iterations,
            BatchPlan::Episodes {
                total_timesteps, ..
            } => global_step >= total_timesteps,
        }
    }

    /// Vector steps to reserve room for in a rollout.
    pub(crate) fn capacity(&self) -> usize {
        match *self {
            BatchPlan::Steps { num_steps, .. } => num_steps,
            BatchPlan::Episodes { .. } => EPISODE_CAPACITY,
        }
    }

    /// Whether a rollout of `len` vector steps of `num_envs` envs, in which `episodes`
    /// episodes ended, is complete (`global_step` steps taken in the run).
    ///
    /// # Errors
    /// [`AgentError::InvalidConfig`] naming `num_episodes` if an episode batch has grown
    /// to [`MAX_BATCH_SIZE`] steps.
    pub(crate) fn rollout_full(
        &self,
        len: usize,
        num_envs: usize,
        episodes: usize,
        global_step: usize,
    ) -> Result<bool, AgentError> {
        match *self {
            BatchPlan::Steps { num_steps, .. } => Ok(len == num_steps),
            BatchPlan::Episodes {
                num_episodes,
                total_timesteps,
                ..
            } => {
                if episodes >= num_episodes || global_step >= total_timesteps {
                    return Ok(true);
                }
                if len * num_envs >= MAX_BATCH_SIZE {
                    return Err(AgentError::InvalidConfig {
                        name: "num_episodes",
                        value: num_episodes.to_string(),
                        allowed: format!(
                            "the episodes of one batch exceeded {MAX_BATCH_SIZE} steps; use batch = \"steps\""
                        ),
                    });
                }
                Ok(false)
            }
        }
    }

    /// The `[lo, hi)` row ranges of an epoch's minibatches over a batch of `batch` rows:
    /// `num_minibatches` equal ones; episode batches vary in size and are cut into
    /// near-equal minibatches of at least 2 rows (pairs for the local rule), fewer than
    /// `num_minibatches` if need be.
    pub(crate) fn minibatch_bounds(&self, batch: usize) -> Vec<(usize, usize)> {
        let num_mb = match *self {
            BatchPlan::Steps {
                num_minibatches, ..
            } => num_minibatches,
            BatchPlan::Episodes {
                num_minibatches, ..
            } => num_minibatches.min((batch / 2).max(1)),
        };
        (0..num_mb)
            .map(|k| (k * batch / num_mb, (k + 1) * batch / num_mb))
            .collect()
    }
}
