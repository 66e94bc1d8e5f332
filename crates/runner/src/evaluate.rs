//! `pdmrl eval`: the deterministic return of a run's saved policy.

use crate::error::RunnerError;
use crate::resolve::{RunConfig, read_run_config};
use crate::run::build_agent;
use crate::run_dir::read_checkpoint;
use serde::Serialize;
use std::path::Path;

/// What `pdmrl eval` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalReport {
    /// Environment id.
    pub env_id: String,
    /// Algorithm.
    pub algo: String,
    /// Trainer.
    pub trainer: String,
    /// Training steps of the checkpoint.
    pub global_step: usize,
    /// Seed of the evaluation envs' streams (`derive_seed(seed, "eval-envs")`).
    pub seed: u64,
    /// Episodes played.
    pub episodes: usize,
    /// Mean return.
    pub mean: f64,
    /// Population standard deviation of the returns.
    pub std: f64,
    /// Smallest return.
    pub min: f64,
    /// Largest return.
    pub max: f64,
    /// Every episode's return.
    pub returns: Vec<f64>,
    /// Every episode's length.
    pub lengths: Vec<usize>,
}

/// Plays `episodes` deterministic episodes (greedy / mean actions) with the policy and the
/// frozen normalisation statistics of the checkpoint in `dir` (a run folder or its
/// `checkpoint/` folder), on envs seeded from `seed` (default: the run's seed, which
/// replays the starting states of the run's own evaluations).
///
/// # Errors
/// [`RunnerError::Input`] for `episodes = 0` or a folder without a checkpoint; I/O and
/// parse errors naming the file; a checkpoint that does not fit the run's config.
pub fn evaluate_checkpoint(
    registry: &pdmrl_envs::Registry,
    dir: &Path,
    episodes: usize,
    seed: Option<u64>,
) -> Result<EvalReport, RunnerError> {
    let max = pdmrl_agents::config::MAX_NUM_ENVS;
    if !(1..=max).contains(&episodes) {
        return Err(RunnerError::Input(format!(
            "--episodes must be in 1..={max} (one env copy per episode), got {episodes}"
        )));
    }
    let run_dir = if dir.join("checkpoint.json").is_file() {
        dir.parent().unwrap_or(dir)
    } else {
        dir
    };
    let saved = read_run_config(run_dir)?;
    let loaded = read_checkpoint(dir)?;
    let config = RunConfig {
        seed: seed.unwrap_or(saved.seed),
        agent: pdmrl_agents::AgentConfig {
            eval_every: saved.agent.eval_every.max(1),
            eval_episodes: episodes,
            ..saved.agent.clone()
        },
        ..saved
    };
    let mut agent = build_agent(&config.check(registry)?, registry)?;
    agent.load_policy(&loaded.checkpoint)?;
    let record = agent
        .evaluate()?
        .expect("build_agent gives eval envs when eval_every > 0");
    let (mean, std, (min, max)) = (record.mean(), record.std(), record.range());
    Ok(EvalReport {
        env_id: config.env_id.clone(),
        algo: config.agent.algo.name().into(),
        trainer: config.trainer.kind().name().into(),
        global_step: loaded.checkpoint.meta.global_step,
        seed: config.seed,
        episodes,
        mean,
        std,
        min,
        max,
        returns: record.returns,
        lengths: record.lengths,
    })
}
