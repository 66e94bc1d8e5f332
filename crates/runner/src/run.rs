//! One training run on disk: `config.toml`, `metrics.csv`, `updates.csv`, and, last and
//! atomically, `summary.json`.
//!
//! | file | rows | columns |
//! |---|---|---|
//! | `metrics.csv` | one per finished training episode | `global_step, episodic_return, episodic_length` |
//! | `updates.csv` | one per PPO iteration | `iteration, global_step, learning_rate, value_loss, policy_loss, entropy, old_approx_kl, approx_kl, clipfrac, explained_variance, grad_norm, sps`, then per hidden layer `{actor,critic}_l{k}_{local_loss,mean_distance,saturated,weight_norm,drift}` |
//! | `summary.json` | one object | see [`Summary`] |
//!
//! `metrics.csv` holds results only (no timings), so the same config and seed give the
//! same bytes whatever the machine load or thread count.

use crate::atomic::{tmp_path, write_atomic};
use crate::error::RunnerError;
use pdmrl_agents::{Event, IterationStats, LayerStats, Ppo, PpoConfig, TrainerConfig};
use pdmrl_envs::{Registry, SyncVectorEnv};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

/// Algorithms the runner knows.
pub const ALGOS: [&str; 1] = ["ppo"];

/// The fully resolved configuration of one run, written as `config.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Gymnasium environment id, e.g. `CartPole-v1`.
    pub env_id: String,
    /// Algorithm: `ppo`.
    pub algo: String,
    /// Run seed; every RNG of the run derives from it.
    pub seed: u64,
    /// Trainer and local-rule options.
    pub trainer: TrainerConfig,
    /// PPO hyperparameters (CleanRL names), including `total_timesteps`.
    pub ppo: PpoConfig,
}

impl RunConfig {
    /// Checks the algorithm name, the env id and every hyperparameter.
    ///
    /// # Errors
    /// [`RunnerError::Input`] for an unknown algorithm, [`RunnerError::Env`] for an unknown
    /// env id, [`RunnerError::Agent`] for hyperparameters.
    pub fn check(&self, registry: &Registry) -> Result<(), RunnerError> {
        if !ALGOS.contains(&self.algo.as_str()) {
            return Err(RunnerError::Input(format!(
                "unknown algo `{}`; known algos: {}",
                self.algo,
                ALGOS.join(", ")
            )));
        }
        // Unknown ids give the registry's error with suggestions; PPO here is discrete-only.
        let env = registry.make(&self.env_id)?;
        if !matches!(env.action_space(), pdmrl_envs::Space::Discrete { .. }) {
            return Err(RunnerError::Input(format!(
                "`env_id` = `{}` has action space {}; algo `{}` supports discrete action spaces \
                 only (continuous PPO is not implemented yet)",
                self.env_id,
                env.action_space(),
                self.algo
            )));
        }
        self.ppo.check()?;
        self.trainer.check()?;
        pdmrl_agents::check_trainer_fits(&self.ppo, &self.trainer)?;
        Ok(())
    }
}

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

fn nan() -> f64 {
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
    /// Trainer name (`bp`, `pdm`, `frozen`).
    pub trainer: String,
    /// Run seed.
    pub seed: u64,
    /// Environment steps taken (whole iterations: `num_iterations * num_envs * num_steps`).
    pub total_steps: usize,
    /// Finished training episodes.
    pub episodes: usize,
    /// Mean return of the last 10 finished training episodes (fewer if fewer finished;
    /// NaN if none, stored as `null`).
    #[serde(with = "nan_as_null")]
    pub final_return_mean: f64,
    /// Wall-clock seconds of training.
    pub wall_seconds: f64,
    /// `total_steps / wall_seconds`.
    pub steps_per_second: f64,
    /// Local-rule diagnostics of each hidden layer at the last iteration.
    pub final_layers: FinalLayers,
}

/// Options of [`train_run`].
pub struct RunOptions<'a> {
    /// Overwrite an output folder that already holds a complete run.
    pub force: bool,
    /// Called with the number of environment steps taken since the last call.
    pub progress: &'a (dyn Fn(u64) + Sync),
}

/// Whether `dir` holds a complete run (its `summary.json` exists).
pub fn is_complete(dir: &Path) -> bool {
    dir.join("summary.json").is_file()
}

/// Trains one run and writes its files into `out`.
///
/// `metrics.csv` and `updates.csv` are written to temporary names during the run and
/// renamed at its end; `summary.json` is written last, atomically. A run that fails
/// leaves no file that looks complete.
///
/// # Errors
/// An invalid config, an `out` folder that holds a complete run (unless `force`), I/O
/// errors naming the file, or a training error.
pub fn train_run(
    config: &RunConfig,
    registry: &Registry,
    out: &Path,
    options: &RunOptions<'_>,
) -> Result<Summary, RunnerError> {
    config.check(registry)?;
    if is_complete(out) && !options.force {
        return Err(RunnerError::RunExists(out.to_path_buf()));
    }
    std::fs::create_dir_all(out).map_err(|e| RunnerError::io("cannot create folder", out, e))?;
    let _lock = lock_run_folder(out)?;
    if is_complete(out) && !options.force {
        return Err(RunnerError::RunExists(out.to_path_buf()));
    }
    let summary_path = out.join("summary.json");
    let metrics_path = out.join("metrics.csv");
    let updates_path = out.join("updates.csv");
    // The summary first: from here on the folder does not look complete. Then the files
    // of an earlier run, so none is left beside this run's config.
    for path in [&summary_path, &metrics_path, &updates_path] {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(RunnerError::io("cannot remove", path.clone(), e)),
        }
    }
    let config_text = toml::to_string(config)
        .map_err(|e| RunnerError::Input(format!("cannot serialise config: {e}")))?;
    write_atomic(&out.join("config.toml"), config_text.as_bytes())?;

    let envs = SyncVectorEnv::from_registry(registry, &config.env_id, config.ppo.num_envs)?;
    let mut ppo = Ppo::new(config.ppo.clone(), config.trainer, envs, config.seed)?;

    let csv_err = |path: &Path| {
        let path = path.to_path_buf();
        move |e: csv::Error| RunnerError::io("cannot write", path.clone(), std::io::Error::other(e))
    };
    let mut metrics =
        csv::Writer::from_path(tmp_path(&metrics_path)).map_err(csv_err(&metrics_path))?;
    metrics
        .write_record(["global_step", "episodic_return", "episodic_length"])
        .map_err(csv_err(&metrics_path))?;
    let mut updates =
        csv::Writer::from_path(tmp_path(&updates_path)).map_err(csv_err(&updates_path))?;

    let start = Instant::now();
    let mut returns: Vec<f64> = Vec::new();
    let mut last_stats: Option<IterationStats> = None;
    let mut write_error: Option<RunnerError> = None;
    let mut last_step = 0usize;
    let result = ppo.train(&mut |event| {
        let r = match event {
            Event::Episode(ep) => {
                returns.push(ep.episodic_return);
                metrics
                    .write_record([
                        ep.global_step.to_string(),
                        ep.episodic_return.to_string(),
                        ep.episodic_length.to_string(),
                    ])
                    .map_err(csv_err(&metrics_path))
            }
            Event::Iteration(it) => {
                (options.progress)((it.global_step - last_step) as u64);
                last_step = it.global_step;
                let sps = it.global_step as f64 / start.elapsed().as_secs_f64().max(1e-9);
                let r = write_update(&mut updates, it, sps, last_stats.is_none())
                    .map_err(csv_err(&updates_path));
                last_stats = Some(it.clone());
                r
            }
        };
        if let Err(e) = r
            && write_error.is_none()
        {
            write_error = Some(e);
        }
    });
    result?;
    if let Some(e) = write_error {
        return Err(e);
    }
    let wall_seconds = start.elapsed().as_secs_f64();
    for (w, path) in [(&mut metrics, &metrics_path), (&mut updates, &updates_path)] {
        w.flush()
            .map_err(|e| RunnerError::io("cannot write", path.clone(), e))?;
    }
    drop((metrics, updates));
    for path in [&metrics_path, &updates_path] {
        std::fs::rename(tmp_path(path), path)
            .map_err(|e| RunnerError::io("cannot rename into", path.clone(), e))?;
    }

    let total_steps = ppo.global_step();
    let tail = &returns[returns.len().saturating_sub(10)..];
    let final_return_mean = if tail.is_empty() {
        f64::NAN
    } else {
        tail.iter().sum::<f64>() / tail.len() as f64
    };
    let final_layers = last_stats
        .map(|s| FinalLayers {
            actor: s.actor_layers.iter().map(Into::into).collect(),
            critic: s.critic_layers.iter().map(Into::into).collect(),
        })
        .unwrap_or_default();
    let summary = Summary {
        env_id: config.env_id.clone(),
        algo: config.algo.clone(),
        trainer: config.trainer.kind.name().to_string(),
        seed: config.seed,
        total_steps,
        episodes: returns.len(),
        final_return_mean,
        wall_seconds,
        steps_per_second: total_steps as f64 / wall_seconds.max(1e-9),
        final_layers,
    };
    let json = serde_json::to_string_pretty(&summary).expect("summary serialises");
    write_atomic(&summary_path, json.as_bytes())?;
    Ok(summary)
}

/// Takes an exclusive advisory lock on `<dir>/.lock` for the life of the returned file, so
/// two processes never write one run folder at once. The operating system releases it
/// when the process ends, however it ends, so a killed run does not block a rerun.
///
/// # Errors
/// [`RunnerError::RunLocked`] if another process holds it; I/O errors naming the file.
fn lock_run_folder(dir: &Path) -> Result<std::fs::File, RunnerError> {
    let path = dir.join(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| RunnerError::io("cannot open", &path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(RunnerError::RunLocked(dir.to_path_buf())),
        Err(std::fs::TryLockError::Error(e)) => Err(RunnerError::io("cannot lock", &path, e)),
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

fn write_update(
    w: &mut csv::Writer<std::fs::File>,
    it: &IterationStats,
    sps: f64,
    header: bool,
) -> Result<(), csv::Error> {
    let layers = [("actor", &it.actor_layers), ("critic", &it.critic_layers)];
    if header {
        let mut h: Vec<String> = [
            "iteration",
            "global_step",
            "learning_rate",
            "value_loss",
            "policy_loss",
            "entropy",
            "old_approx_kl",
            "approx_kl",
            "clipfrac",
            "explained_variance",
            "grad_norm",
            "sps",
        ]
        .map(String::from)
        .to_vec();
        for (net, ls) in layers {
            for k in 1..=ls.len() {
                for q in [
                    "local_loss",
                    "mean_distance",
                    "saturated",
                    "weight_norm",
                    "drift",
                ] {
                    h.push(format!("{net}_l{k}_{q}"));
                }
            }
        }
        w.write_record(&h)?;
    }
    let mut row: Vec<String> = vec![it.iteration.to_string(), it.global_step.to_string()];
    row.extend(
        [
            it.learning_rate,
            it.value_loss,
            it.policy_loss,
            it.entropy,
            it.old_approx_kl,
            it.approx_kl,
            it.clipfrac,
            it.explained_variance,
            it.grad_norm,
            sps,
        ]
        .map(|v| v.to_string()),
    );
    for (_, ls) in layers {
        for s in ls.iter() {
            row.extend(
                [
                    s.local_loss,
                    s.mean_distance,
                    s.saturated,
                    s.weight_norm,
                    s.drift,
                ]
                .map(|v| v.to_string()),
            );
        }
    }
    w.write_record(&row)
}

/// JSON has no NaN: store a NaN `f64` as `null` and read `null` back as NaN.
mod nan_as_null {
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
