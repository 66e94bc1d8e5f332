//! A run's `summary.json` ([`Summary`]: its presence marks the run complete) and the
//! records it holds: the final and mid-run layer diagnostics ([`FinalLayers`]) and the
//! normalisation statistics ([`NormalizationStats`]). NaN is stored as `null`.

use crate::error::RunnerError;
use pdmrl_agents::{Agent, LayerStats};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Per-network final local-rule diagnostics (last iteration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct FinalLayers {
    /// Actor hidden layers, first to last.
    pub actor: Vec<LayerStatsRecord>,
    /// Critic hidden layers, first to last.
    pub critic: Vec<LayerStatsRecord>,
}

/// [`LayerStats`] as stored in `summary.json`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct LayerStatsRecord {
    /// Local (PDM) loss of the layer.
    pub local_loss: f64,
    /// Mean pairwise distance of the layer's outputs.
    pub mean_distance: f64,
    /// Fraction of saturated units.
    pub saturated: f64,
    /// Frobenius norm of the weight.
    pub weight_norm: f64,
    /// Relative change of the layer's outputs on the probe batch since the previous
    /// iteration (null at the first).
    #[serde(with = "nan_as_null", default = "nan")]
    pub drift: f64,
}

pub(crate) fn nan() -> f64 {
    f64::NAN
}

impl From<&LayerStats> for LayerStatsRecord {
    fn from(s: &LayerStats) -> Self {
        LayerStatsRecord {
            local_loss: s.local_loss,
            mean_distance: s.mean_distance,
            saturated: s.saturated,
            weight_norm: s.weight_norm,
            drift: s.drift,
        }
    }
}

/// What `summary.json` holds; its presence marks the run complete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Environment id.
    pub env_id: String,
    /// Algorithm.
    pub algo: String,
    /// Trainer name (`bp`, `pdm`, `pdm_guided`, `frozen`).
    pub trainer: String,
    /// Run seed.
    pub seed: u64,
    /// Environment steps taken.
    pub total_steps: usize,
    /// Finished training episodes.
    pub episodes: usize,
    /// Mean return of the last 10 finished training episodes (fewer if fewer finished;
    /// NaN if none, stored as `null`).
    #[serde(with = "nan_as_null")]
    pub final_return_mean: f64,
    /// Mean return of the last deterministic evaluation (null without evaluations).
    #[serde(with = "nan_as_null", default = "nan")]
    pub final_eval_return_mean: f64,
    /// Wall-clock seconds of training (summed over resumed sessions).
    pub wall_seconds: f64,
    /// `total_steps / wall_seconds`.
    pub steps_per_second: f64,
    /// Local-rule diagnostics of each hidden layer at the last iteration.
    pub final_layers: FinalLayers,
    /// The policy's entropy at the last iteration (mean over its minibatches; nats). Null
    /// in runs written before it was recorded.
    #[serde(with = "nan_as_null", default = "nan")]
    pub final_entropy: f64,
    /// Local-rule diagnostics of each hidden layer at the middle of the run: the first
    /// iteration that ends at or past half of the planned environment steps (drift there
    /// is compared at a matched point, where `bp`'s annealed learning rate is still about
    /// half its initial value). Empty in runs written before it was recorded.
    #[serde(default)]
    pub mid_layers: FinalLayers,
    /// The environment steps at the end of the iteration of `mid_layers` (0 if none).
    #[serde(default)]
    pub mid_step: usize,
    /// The final observation and reward normalisation statistics, those the policy was
    /// evaluated with (frozen); left out when the run normalises neither.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalization: Option<NormalizationStats>,
}

/// The statistics of a run's observation and reward normalisation at its end
/// (`normalize_observation`, `normalize_reward`), as `summary.json` records them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NormalizationStats {
    /// Observations: mean and variance per component, `[obs_dim]`, and the count of
    /// observation vectors seen (plus Gymnasium's prior weight 1e-4); observations are
    /// fed as `clip((o - mean) / sqrt(var + 1e-8), -obs_clip, obs_clip)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observation: Option<RunningStats>,
    /// Rewards: mean and variance of the discounted return, `[1]`, and the count;
    /// rewards are fed as `clip(r / sqrt(var + 1e-8), -reward_clip, reward_clip)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reward: Option<RunningStats>,
}

/// Running mean, variance and count (Gymnasium's `RunningMeanStd`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunningStats {
    /// Mean per component.
    pub mean: Vec<f64>,
    /// Population variance per component.
    pub var: Vec<f64>,
    /// Samples seen plus the prior's weight.
    pub count: f64,
}

impl From<&pdmrl_agents::pdmrl_envs::RunningMeanStd> for RunningStats {
    fn from(s: &pdmrl_agents::pdmrl_envs::RunningMeanStd) -> Self {
        RunningStats {
            mean: s.mean.clone(),
            var: s.var.clone(),
            count: s.count,
        }
    }
}

impl NormalizationStats {
    /// The statistics of `agent`'s normalisers; `None` if it has neither.
    pub fn of(agent: &Agent) -> Option<Self> {
        let observation = agent.observation_stats().map(RunningStats::from);
        let reward = agent.return_stats().map(RunningStats::from);
        (observation.is_some() || reward.is_some()).then_some(NormalizationStats {
            observation,
            reward,
        })
    }
}

/// Reads a run's `summary.json`.
///
/// # Errors
/// I/O or parse errors naming the file.
pub fn read_summary(dir: &Path) -> Result<Summary, RunnerError> {
    let path = dir.join("summary.json");
    let text =
        std::fs::read_to_string(&path).map_err(|e| RunnerError::io("cannot read", &path, e))?;
    serde_json::from_str(&text).map_err(|e| RunnerError::Results {
        path,
        message: e.to_string(),
    })
}

/// JSON has no NaN: store a NaN `f64` as `null` and read `null` back as NaN.
pub(crate) mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_nan() {
            s.serialize_none()
        } else {
            s.serialize_f64(*v)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}
