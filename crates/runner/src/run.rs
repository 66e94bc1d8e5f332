//! One training run on disk: `config.toml`, `metrics.csv`, `updates.csv`, `eval.csv`,
//! checkpoints, and, last and atomically, `summary.json`.
//!
//! | file | rows | columns |
//! |---|---|---|
//! | `metrics.csv` | one per finished training episode | `global_step, episodic_return, episodic_length` |
//! | `eval.csv` | one per deterministic evaluation | `global_step, episodes, eval_return_mean, eval_return_std, eval_return_min, eval_return_max, returns` (space-separated) |
//! | `updates.csv` | one per iteration | `iteration, global_step, learning_rate, value_loss, policy_loss, entropy, old_approx_kl, approx_kl, clipfrac, explained_variance, grad_norm, sps`, then per hidden layer `{actor,critic}_l{k}_{local_loss,mean_distance,saturated,weight_norm,drift}` |
//! | `checkpoint/` | the last checkpoint | `model.safetensors` (CleanRL names, PyTorch layout), `state.safetensors`, `checkpoint.json`, `progress.json` |
//! | `actions.bin` | every action sent to the envs (f32, little-endian) | replayed on resume to restore the envs |
//! | `run.log` | one line per event | start/resume, checkpoints, evaluations, stop, failure, completion |
//! | `summary.json` | one object | see [`Summary`] |
//!
//! While a run trains, the CSV files have the suffix `.tmp`; they get their names when it
//! completes. `metrics.csv` and `eval.csv` hold results only (no timings), so the same
//! config and seed give the same bytes whatever the machine load or thread count, and a
//! run resumed from a checkpoint gives the bytes of an uninterrupted one.

use crate::atomic::{in_progress_path, write_atomic};
use crate::error::RunnerError;
use pdmrl_agents::{
    Agent, AgentConfig, Algo, Checkpoint, CheckpointMeta, EvalRecord, Event, IterationStats,
    LayerStats, TrainerConfig, checkpoint::decode_safetensors, checkpoint::encode_safetensors,
};
use pdmrl_envs::{ClipAction, Env, Registry, Space, SyncVectorEnv};
use serde::{Deserialize, Serialize};
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The fully resolved configuration of one run, written as `config.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Gymnasium environment id, e.g. `CartPole-v1`.
    pub env_id: String,
    /// Run seed; every RNG of the run derives from it.
    pub seed: u64,
    /// Trainer and local-rule options.
    pub trainer: TrainerConfig,
    /// The algorithm (`agent.algo`) and its hyperparameters (CleanRL names), including
    /// `total_timesteps`.
    pub agent: AgentConfig,
}

/// Whether `env_id` has a continuous (`Box`) action space.
///
/// # Errors
/// [`RunnerError::Env`] for an unknown id (with suggestions).
pub fn is_continuous(registry: &Registry, env_id: &str) -> Result<bool, RunnerError> {
    Ok(matches!(
        registry.make(env_id)?.action_space(),
        Space::Box { .. }
    ))
}

/// The agent config of `algo` on `env_id`: [`AgentConfig::defaults`] for the algorithm,
/// the env and its action space, with the keys of `overrides` (a TOML table of
/// [`AgentConfig`] keys; `algo` is not allowed) set on top.
///
/// # Errors
/// [`RunnerError::Env`] for an unknown env id; [`RunnerError::Input`] naming an unknown key
/// or a value of the wrong type.
pub fn resolve_agent(
    registry: &Registry,
    env_id: &str,
    algo: Algo,
    overrides: &toml::Table,
) -> Result<AgentConfig, RunnerError> {
    if overrides.contains_key("algo") {
        return Err(RunnerError::Input(
            "`algo` is not a hyperparameter: choose the algorithm with --algo (or `[algo] name` in an experiment file)".into(),
        ));
    }
    let defaults = AgentConfig::defaults(algo, env_id, is_continuous(registry, env_id)?);
    overlay(&defaults, overrides, "agent settings")
}

/// Sets the keys of `overrides` on `base`, merging tables key by key (so `pdm.normalize`
/// changes one key of the `pdm` table and keeps the others).
pub fn merge_tables(base: &mut toml::Table, overrides: &toml::Table) {
    for (k, v) in overrides {
        match (base.get_mut(k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge_tables(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

/// `base` with the keys of `overrides` set on top (tables merged key by key), checked
/// against `T`'s schema; `what` names the section in errors.
///
/// # Errors
/// [`RunnerError::Input`] naming an unknown key or a value of the wrong type.
pub fn overlay<T: Serialize + serde::de::DeserializeOwned>(
    base: &T,
    overrides: &toml::Table,
    what: &str,
) -> Result<T, RunnerError> {
    let mut table = toml::Table::try_from(base)
        .map_err(|e| RunnerError::Input(format!("cannot serialise the {what}: {e}")))?;
    merge_tables(&mut table, overrides);
    toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| RunnerError::Input(format!("in the {what}: {}", e.message())))
}

/// The trainer options of `kind` ([`TrainerConfig::new`]) with the keys of `overrides` (a
/// TOML table of [`TrainerConfig`] keys, e.g. `local_lr`, `guidance.weight`,
/// `pdm.normalize`; not `kind`) set on top.
///
/// # Errors
/// [`RunnerError::Input`] naming an unknown key, a value of the wrong type, or a key
/// `kind` does not read ([`pdmrl_agents::TrainerKind::uses_option`]).
pub fn resolve_trainer(
    kind: pdmrl_agents::TrainerKind,
    overrides: &toml::Table,
) -> Result<TrainerConfig, RunnerError> {
    if overrides.contains_key("kind") {
        return Err(RunnerError::Input(
            "`trainer.kind` is not allowed here: choose the trainer with --trainer".into(),
        ));
    }
    let config = overlay(&TrainerConfig::new(kind), overrides, "trainer settings")?;
    let mut keys = Vec::new();
    crate::experiment::leaves(overrides, "", &mut keys);
    if let Some((key, _)) = keys.iter().find(|(k, _)| !kind.uses_option(k)) {
        return Err(RunnerError::Input(format!(
            "trainer `{}` does not read `trainer.{key}` (bp and frozen read no trainer option, pdm all but guidance.*): it would change nothing",
            kind.name()
        )));
    }
    Ok(config)
}

impl RunConfig {
    /// Checks the env id and every hyperparameter.
    ///
    /// # Errors
    /// [`RunnerError::Env`] for an unknown env id, [`RunnerError::Agent`] for
    /// hyperparameters.
    pub fn check(&self, registry: &Registry) -> Result<(), RunnerError> {
        // Unknown ids give the registry's error with suggestions.
        registry.make(&self.env_id)?;
        pdmrl_agents::Check::check_ref(&self.agent)?;
        pdmrl_agents::Check::check_ref(&self.trainer)?;
        pdmrl_agents::check_trainer_fits(&self.agent, &self.trainer)?;
        Ok(())
    }

    /// Environment steps the run takes.
    pub fn planned_steps(&self) -> usize {
        self.agent.planned_steps()
    }
}

/// `num_envs` copies of `env_id` from the registry; a continuous action space is wrapped in
/// [`ClipAction`] (CleanRL's `gym.wrappers.ClipAction`), so the Gaussian's samples reach
/// the env clipped to the space.
///
/// # Errors
/// Any error of [`Registry::make`] or [`SyncVectorEnv::new`].
pub fn make_envs(
    registry: &Registry,
    env_id: &str,
    n: usize,
) -> Result<SyncVectorEnv, RunnerError> {
    let mut envs: Vec<Box<dyn Env>> = Vec::with_capacity(n);
    for _ in 0..n {
        let env = registry.make(env_id)?;
        envs.push(if matches!(env.action_space(), Space::Box { .. }) {
            Box::new(ClipAction::new(env))
        } else {
            env
        });
    }
    Ok(SyncVectorEnv::new(envs)?)
}

/// The agent of a run with its training and evaluation envs, freshly initialised.
///
/// # Errors
/// Invalid configs or env errors.
pub fn build_agent(config: &RunConfig, registry: &Registry) -> Result<Agent, RunnerError> {
    let envs = make_envs(registry, &config.env_id, config.agent.num_envs)?;
    let mut agent = Agent::new(config.agent.clone(), config.trainer, envs, config.seed)?;
    if config.agent.eval_every > 0 {
        let eval = make_envs(registry, &config.env_id, config.agent.eval_episodes)?;
        agent = agent.with_eval_envs(eval)?;
    }
    Ok(agent)
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

/// Options of [`train_run`].
pub struct RunOptions<'a> {
    /// Overwrite an output folder that already holds a complete run.
    pub force: bool,
    /// Continue from the folder's checkpoint (its `config.toml` must equal the config).
    pub resume: bool,
    /// Write a checkpoint every this many updates (and always after the last); 0 writes
    /// only the last.
    pub checkpoint_every: usize,
    /// Stop, resumably, after this many updates in total (checkpoint written, no
    /// `summary.json`): a run cut into slices, or an interruption in tests.
    pub stop_after: Option<usize>,
    /// Called when training starts (at step 0, or where a resumed run's checkpoint
    /// stood) and after every update with the environment steps trained since.
    pub progress: &'a (dyn Fn(RunProgress) + Sync),
}

/// What [`train_run`] reports to [`RunOptions::progress`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunProgress {
    /// Training starts at environment step `at`: 0, or where the checkpoint of a resumed
    /// run stood (steps an earlier process took, not trained now).
    Start {
        /// The step training starts at.
        at: u64,
    },
    /// `steps` environment steps trained since the last report.
    Trained {
        /// Steps since the last report.
        steps: u64,
    },
}

impl<'a> RunOptions<'a> {
    /// Defaults: no force, no resume, a checkpoint every 10 updates, run to the end.
    pub fn new(progress: &'a (dyn Fn(RunProgress) + Sync)) -> Self {
        RunOptions {
            force: false,
            resume: false,
            checkpoint_every: DEFAULT_CHECKPOINT_EVERY,
            stop_after: None,
            progress,
        }
    }
}

/// Updates between checkpoints by default.
pub const DEFAULT_CHECKPOINT_EVERY: usize = 10;

/// What happened to a run.
#[derive(Debug, Clone, PartialEq)]
pub enum RunOutcome {
    /// The run completed; its summary.
    Complete(Box<Summary>),
    /// The run stopped at `stop_after` updates, resumable from its checkpoint.
    Stopped {
        /// Updates done.
        updates: usize,
    },
}

/// Reads the `config.toml` of a run folder.
///
/// # Errors
/// I/O errors naming the file; [`RunnerError::Config`] if it does not parse.
pub fn read_run_config(dir: &Path) -> Result<RunConfig, RunnerError> {
    let path = dir.join("config.toml");
    let text =
        std::fs::read_to_string(&path).map_err(|e| RunnerError::io("cannot read", &path, e))?;
    toml::from_str(&text).map_err(|e| crate::schema::toml_error(&path, &text, &e))
}

/// Whether `dir` holds a complete run (its `summary.json` exists).
pub fn is_complete(dir: &Path) -> bool {
    dir.join("summary.json").is_file()
}

/// The checkpoint folder of a run folder (`checkpoint/`, or `checkpoint.old/` if a
/// replacement was interrupted between its two renames).
pub fn checkpoint_dir(run_dir: &Path) -> Option<PathBuf> {
    [CHECKPOINT, CHECKPOINT_OLD]
        .into_iter()
        .map(|d| run_dir.join(d))
        .find(|d| d.join("checkpoint.json").is_file())
}

const CHECKPOINT: &str = "checkpoint";
const CHECKPOINT_OLD: &str = "checkpoint.old";
const CHECKPOINT_NEW: &str = "checkpoint.new";

/// Where the run's files stood at a checkpoint (`checkpoint/progress.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Progress {
    metrics_bytes: u64,
    updates_bytes: u64,
    eval_bytes: u64,
    actions_bytes: u64,
    /// Wall-clock seconds spent before this checkpoint.
    wall_seconds: f64,
    /// The run's `config.toml` when the checkpoint was written: a resume refuses an
    /// edited config.
    config: String,
    /// The last iteration's layer diagnostics and evaluation mean, for the summary of a
    /// run resumed after its last update.
    final_layers: FinalLayers,
    #[serde(with = "nan_as_null")]
    final_eval_return_mean: f64,
    /// The last iteration's policy entropy, and the layer diagnostics of the middle
    /// iteration (see [`Summary::mid_layers`]) with its step, for the same reason.
    #[serde(with = "nan_as_null", default = "nan")]
    final_entropy: f64,
    #[serde(default)]
    mid_layers: FinalLayers,
    #[serde(default)]
    mid_step: usize,
}

/// A checkpoint read from disk.
pub struct LoadedCheckpoint {
    /// The agent's part.
    pub checkpoint: Checkpoint,
    progress: Progress,
}

/// Reads the checkpoint of a run folder (or of a checkpoint folder itself).
///
/// # Errors
/// [`RunnerError::Input`] if there is none; I/O and parse errors naming the file.
pub fn read_checkpoint(dir: &Path) -> Result<LoadedCheckpoint, RunnerError> {
    let ckpt = if dir.join("checkpoint.json").is_file() {
        dir.to_path_buf()
    } else {
        checkpoint_dir(dir).ok_or_else(|| {
            RunnerError::Input(format!(
                "`{}` holds no checkpoint (no checkpoint/checkpoint.json)",
                dir.display()
            ))
        })?
    };
    let read = |name: &str| {
        let path = ckpt.join(name);
        std::fs::read(&path).map_err(|e| RunnerError::io("cannot read", path, e))
    };
    let parse_err = |name: &str, message: String| RunnerError::Results {
        path: ckpt.join(name),
        message,
    };
    let meta: CheckpointMeta = serde_json::from_slice(&read("checkpoint.json")?)
        .map_err(|e| parse_err("checkpoint.json", e.to_string()))?;
    let progress: Progress = serde_json::from_slice(&read("progress.json")?)
        .map_err(|e| parse_err("progress.json", e.to_string()))?;
    let model = decode_safetensors(&read("model.safetensors")?)
        .map_err(|e| parse_err("model.safetensors", e.to_string()))?;
    let state = decode_safetensors(&read("state.safetensors")?)
        .map_err(|e| parse_err("state.safetensors", e.to_string()))?;
    Ok(LoadedCheckpoint {
        checkpoint: Checkpoint { model, state, meta },
        progress,
    })
}

/// Writes a checkpoint folder next to the old one and swaps it in: `checkpoint.new/` is
/// written in full, the old folder renamed to `checkpoint.old/`, the new one to
/// `checkpoint/`, and the old one removed. An interruption at any point leaves one
/// complete checkpoint ([`checkpoint_dir`] finds it).
fn write_checkpoint(
    run_dir: &Path,
    ckpt: &Checkpoint,
    progress: &Progress,
) -> Result<(), RunnerError> {
    let new = run_dir.join(CHECKPOINT_NEW);
    let (cur, old) = (run_dir.join(CHECKPOINT), run_dir.join(CHECKPOINT_OLD));
    remove_dir_if_exists(&new)?;
    write_atomic(
        &new.join("model.safetensors"),
        &encode_safetensors(&ckpt.model)?,
    )?;
    write_atomic(
        &new.join("state.safetensors"),
        &encode_safetensors(&ckpt.state)?,
    )?;
    write_atomic(&new.join("checkpoint.json"), pretty(&ckpt.meta).as_bytes())?;
    write_atomic(&new.join("progress.json"), pretty(progress).as_bytes())?;
    if cur.is_dir() {
        remove_dir_if_exists(&old)?;
        std::fs::rename(&cur, &old).map_err(|e| RunnerError::io("cannot rename", &cur, e))?;
    }
    std::fs::rename(&new, &cur).map_err(|e| RunnerError::io("cannot rename into", &cur, e))?;
    remove_dir_if_exists(&old)
}

/// Pretty JSON of a side file.
fn pretty<T: Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).expect("side files serialise")
}

fn remove_dir_if_exists(dir: &Path) -> Result<(), RunnerError> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(RunnerError::io("cannot remove", dir, e)),
    }
}

fn remove_file_if_exists(path: &Path) -> Result<(), RunnerError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(RunnerError::io("cannot remove", path, e)),
    }
}

/// An append-mode file, truncated to `len` bytes (0 for a fresh one).
fn open_truncated(path: &Path, len: u64) -> Result<std::fs::File, RunnerError> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| RunnerError::io("cannot open", path, e))?;
    let have = f
        .metadata()
        .map_err(|e| RunnerError::io("cannot read", path, e))?
        .len();
    if have < len {
        return Err(RunnerError::Input(format!(
            "`{}` has {have} bytes, its checkpoint recorded {len}: the run folder was changed; start it again with --force",
            path.display()
        )));
    }
    f.set_len(len)
        .map_err(|e| RunnerError::io("cannot truncate", path, e))?;
    f.seek(std::io::SeekFrom::End(0))
        .map_err(|e| RunnerError::io("cannot seek", path, e))?;
    Ok(f)
}

/// The files a run writes as it goes.
struct RunFiles {
    metrics: csv::Writer<std::fs::File>,
    updates: csv::Writer<std::fs::File>,
    eval: csv::Writer<std::fs::File>,
    actions: std::io::BufWriter<std::fs::File>,
    paths: [PathBuf; 4],
}

impl RunFiles {
    /// Opens the four files at the lengths of `progress` (fresh files if `None`).
    fn open(out: &Path, progress: Option<&Progress>) -> Result<Self, RunnerError> {
        let paths = [
            in_progress_path(&out.join("metrics.csv")),
            in_progress_path(&out.join("updates.csv")),
            in_progress_path(&out.join("eval.csv")),
            out.join("actions.bin"),
        ];
        let lens = progress.map_or([0; 4], |p| {
            [
                p.metrics_bytes,
                p.updates_bytes,
                p.eval_bytes,
                p.actions_bytes,
            ]
        });
        let writer = |i: usize| -> Result<csv::Writer<std::fs::File>, RunnerError> {
            Ok(csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer(open_truncated(&paths[i], lens[i])?))
        };
        let mut files = RunFiles {
            metrics: writer(0)?,
            updates: writer(1)?,
            eval: writer(2)?,
            actions: std::io::BufWriter::new(open_truncated(&paths[3], lens[3])?),
            paths,
        };
        if progress.is_none() {
            files
                .metrics
                .write_record(["global_step", "episodic_return", "episodic_length"])
                .map_err(files.csv_err(0))?;
            files
                .eval
                .write_record([
                    "global_step",
                    "episodes",
                    "eval_return_mean",
                    "eval_return_std",
                    "eval_return_min",
                    "eval_return_max",
                    "returns",
                ])
                .map_err(files.csv_err(2))?;
        }
        Ok(files)
    }

    fn csv_err(&self, i: usize) -> impl Fn(csv::Error) -> RunnerError + use<> {
        let path = self.paths[i].clone();
        move |e| RunnerError::io("cannot write", path.clone(), std::io::Error::other(e))
    }

    /// Flushes everything and returns the byte lengths `[metrics, updates, eval, actions]`.
    fn flush(&mut self) -> Result<[u64; 4], RunnerError> {
        let io = |i: usize, paths: &[PathBuf; 4]| {
            let p = paths[i].clone();
            move |e| RunnerError::io("cannot write", p, e)
        };
        self.metrics.flush().map_err(io(0, &self.paths))?;
        self.updates.flush().map_err(io(1, &self.paths))?;
        self.eval.flush().map_err(io(2, &self.paths))?;
        self.actions.flush().map_err(io(3, &self.paths))?;
        let mut lens = [0u64; 4];
        for (i, len) in lens.iter_mut().enumerate() {
            *len = std::fs::metadata(&self.paths[i])
                .map_err(|e| RunnerError::io("cannot read", self.paths[i].clone(), e))?
                .len();
        }
        Ok(lens)
    }
}

/// Trains one run (or resumes it with [`RunOptions::resume`]) and writes its files into
/// `out`.
///
/// A checkpoint is written every [`RunOptions::checkpoint_every`] updates and after the
/// last; `summary.json` is written last, atomically. A run that fails keeps what it wrote
/// (`*.csv.tmp` and the last good checkpoint) and leaves no file that looks complete: the
/// error names the update, and `--resume` continues from the checkpoint.
///
/// # Errors
/// An invalid config, an `out` folder that holds a complete run (unless `force`), a
/// missing or mismatched checkpoint when resuming, I/O errors naming the file, or a
/// training error.
pub fn train_run(
    config: &RunConfig,
    registry: &Registry,
    out: &Path,
    options: &RunOptions<'_>,
) -> Result<RunOutcome, RunnerError> {
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
    let config_path = out.join("config.toml");
    let mut agent = build_agent(config, registry)?;
    let config_text = toml::to_string(config)
        .map_err(|e| RunnerError::Input(format!("cannot serialise config: {e}")))?;
    let mut last_layers = FinalLayers::default();
    let mut last_eval_mean = f64::NAN;
    let mut last_entropy = f64::NAN;
    let mut mid = (FinalLayers::default(), 0usize);
    let half_steps = config.planned_steps().div_ceil(2);
    let (mut files, wall_before, mut returns) = if options.resume {
        let saved = read_run_config(out)?;
        if &saved != config {
            return Err(RunnerError::Input(format!(
                "`{}` differs from the config of this run; resume with the saved config (pdmrl train --resume {})",
                config_path.display(),
                out.display()
            )));
        }
        let loaded = read_checkpoint(out)?;
        if loaded.progress.config != config_text {
            return Err(RunnerError::Input(format!(
                "`{}` was edited after the checkpoint was written; a resumed run must keep its config (restore it, or start again with --force)",
                config_path.display()
            )));
        }
        let actions_path = out.join("actions.bin");
        let bytes = std::fs::read(&actions_path)
            .map_err(|e| RunnerError::io("cannot read", &actions_path, e))?;
        let n = (loaded.progress.actions_bytes as usize).min(bytes.len());
        let log: Vec<f32> = bytes[..n]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        agent.restore(&loaded.checkpoint, &log).map_err(|e| {
            RunnerError::Input(format!(
                "cannot resume `{}` from its checkpoint and `{}`: {e}",
                out.display(),
                actions_path.display()
            ))
        })?;
        // A run stopped between renaming its CSV files and writing its summary: take the
        // files back under their in-progress names.
        for name in ["metrics.csv", "updates.csv", "eval.csv"] {
            let (done, tmp) = (out.join(name), in_progress_path(&out.join(name)));
            if done.is_file() && !tmp.exists() {
                std::fs::rename(&done, &tmp)
                    .map_err(|e| RunnerError::io("cannot rename", &done, e))?;
            }
        }
        let files = RunFiles::open(out, Some(&loaded.progress))?;
        let returns = read_returns(&files.paths[0], loaded.progress.metrics_bytes)?;
        last_layers = loaded.progress.final_layers.clone();
        last_eval_mean = loaded.progress.final_eval_return_mean;
        last_entropy = loaded.progress.final_entropy;
        mid = (loaded.progress.mid_layers.clone(), loaded.progress.mid_step);
        (files, loaded.progress.wall_seconds, returns)
    } else {
        // Never silently wipe a folder: one that holds anything but the lock needs --force.
        let mut entries: Vec<String> = std::fs::read_dir(out)
            .map_err(|e| RunnerError::io("cannot list", out, e))?
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .filter(|n| n != ".lock")
            .collect();
        entries.sort();
        if !entries.is_empty() && !options.force {
            let resumable = checkpoint_dir(out).is_some();
            return Err(RunnerError::Input(format!(
                "`{}` is not empty (it holds {}){}; pass --force to start a new run there (it removes the files of the old one)",
                out.display(),
                entries.join(", "),
                if resumable {
                    "; it holds an interrupted run: continue it with --resume"
                } else {
                    ""
                }
            )));
        }
        // The summary first: from here on the folder does not look complete. Then the
        // files of an earlier run, so none is left beside this run's config.
        for name in [
            "summary.json",
            "metrics.csv",
            "updates.csv",
            "eval.csv",
            "actions.bin",
        ] {
            remove_file_if_exists(&out.join(name))?;
        }
        for d in [CHECKPOINT, CHECKPOINT_OLD, CHECKPOINT_NEW] {
            remove_dir_if_exists(&out.join(d))?;
        }
        write_atomic(&config_path, config_text.as_bytes())?;
        (RunFiles::open(out, None)?, 0.0, Vec::new())
    };
    let log = RunLog::open(out, !options.resume);
    if options.resume {
        log.line(&format!(
            "resumed at update {} (step {})",
            agent.iteration(),
            agent.global_step()
        ));
    } else {
        log.line(&format!(
            "started: {} on {}, trainer {}, seed {}, {} steps",
            config.agent.algo,
            config.env_id,
            config.trainer.kind,
            config.seed,
            config.planned_steps()
        ));
    }
    let mut updates_header = agent.iteration() == 0;
    let start = Instant::now();
    let step0 = agent.global_step();
    let mut last_step = step0;
    (options.progress)(RunProgress::Start { at: step0 as u64 });
    let checkpoint =
        |agent: &mut Agent, files: &mut RunFiles, tracked: &Tracked| -> Result<(), RunnerError> {
            for v in agent.take_action_log() {
                files
                    .actions
                    .write_all(&v.to_le_bytes())
                    .map_err(|e| RunnerError::io("cannot write", files.paths[3].clone(), e))?;
            }
            let [metrics_bytes, updates_bytes, eval_bytes, actions_bytes] = files.flush()?;
            let progress = Progress {
                metrics_bytes,
                updates_bytes,
                eval_bytes,
                actions_bytes,
                wall_seconds: wall_before + start.elapsed().as_secs_f64(),
                config: config_text.clone(),
                final_layers: tracked.layers.clone(),
                final_eval_return_mean: tracked.eval_mean,
                final_entropy: tracked.entropy,
                mid_layers: tracked.mid.0.clone(),
                mid_step: tracked.mid.1,
            };
            write_checkpoint(out, &agent.checkpoint(), &progress)?;
            log.line(&format!(
                "checkpoint after update {} (step {})",
                agent.iteration(),
                agent.global_step()
            ));
            Ok(())
        };
    while !agent.is_done() {
        if options.stop_after.is_some_and(|k| agent.iteration() >= k) {
            let tracked = Tracked {
                layers: last_layers.clone(),
                eval_mean: last_eval_mean,
                entropy: last_entropy,
                mid: mid.clone(),
            };
            checkpoint(&mut agent, &mut files, &tracked)?;
            log.line(&format!(
                "stopped after update {} (resumable)",
                agent.iteration()
            ));
            return Ok(RunOutcome::Stopped {
                updates: agent.iteration(),
            });
        }
        let mut write_error: Option<RunnerError> = None;
        let result = agent.iterate(&mut |event| {
            let r = match event {
                Event::Episode(ep) => {
                    returns.push(ep.episodic_return);
                    files
                        .metrics
                        .write_record([
                            ep.global_step.to_string(),
                            ep.episodic_return.to_string(),
                            ep.episodic_length.to_string(),
                        ])
                        .map_err(files.csv_err(0))
                }
                Event::Iteration(it) => {
                    (options.progress)(RunProgress::Trained {
                        steps: (it.global_step - last_step) as u64,
                    });
                    last_step = it.global_step;
                    let secs = start.elapsed().as_secs_f64().max(1e-9);
                    let sps = (it.global_step - step0) as f64 / secs;
                    let r = write_update(&mut files.updates, it, sps, updates_header)
                        .map_err(files.csv_err(1));
                    updates_header = false;
                    last_layers = FinalLayers {
                        actor: it.actor_layers.iter().map(Into::into).collect(),
                        critic: it.critic_layers.iter().map(Into::into).collect(),
                    };
                    last_entropy = it.entropy;
                    if mid.1 == 0 && it.global_step >= half_steps {
                        mid = (last_layers.clone(), it.global_step);
                    }
                    r
                }
                Event::Evaluation(ev) => {
                    last_eval_mean = ev.mean();
                    log.line(&format!(
                        "evaluation at step {}: mean return {} over {} episodes",
                        ev.global_step,
                        ev.mean(),
                        ev.returns.len()
                    ));
                    write_eval(&mut files.eval, ev).map_err(files.csv_err(2))
                }
            };
            if let Err(e) = r
                && write_error.is_none()
            {
                write_error = Some(e);
            }
        });
        if let Err(error) = result {
            // Keep what was written; the last good checkpoint stays in place.
            let _ = files.flush();
            log.line(&format!("failed: {error}"));
            return Err(RunnerError::Training {
                error,
                metrics: files.paths[0].clone(),
                checkpoint: checkpoint_dir(out)
                    .map_or("none yet".to_string(), |d| format!("`{}`", d.display())),
            });
        }
        if let Some(e) = write_error {
            return Err(e);
        }
        let every = options.checkpoint_every;
        if agent.is_done() || (every > 0 && agent.iteration().is_multiple_of(every)) {
            let tracked = Tracked {
                layers: last_layers.clone(),
                eval_mean: last_eval_mean,
                entropy: last_entropy,
                mid: mid.clone(),
            };
            checkpoint(&mut agent, &mut files, &tracked)?;
        }
    }
    let wall_seconds = wall_before + start.elapsed().as_secs_f64();
    files.flush()?;
    let paths = files.paths.clone();
    drop(files);
    for (tmp, name) in paths.iter().zip(["metrics.csv", "updates.csv", "eval.csv"]) {
        let path = out.join(name);
        std::fs::rename(tmp, &path).map_err(|e| RunnerError::io("cannot rename into", path, e))?;
    }

    let total_steps = agent.global_step();
    let tail = &returns[returns.len().saturating_sub(10)..];
    let final_return_mean = if tail.is_empty() {
        f64::NAN
    } else {
        tail.iter().sum::<f64>() / tail.len() as f64
    };
    let summary = Summary {
        env_id: config.env_id.clone(),
        algo: config.agent.algo.name().to_string(),
        trainer: config.trainer.kind.name().to_string(),
        seed: config.seed,
        total_steps,
        episodes: returns.len(),
        final_return_mean,
        final_eval_return_mean: last_eval_mean,
        wall_seconds,
        steps_per_second: total_steps as f64 / wall_seconds.max(1e-9),
        final_layers: last_layers,
        final_entropy: last_entropy,
        mid_layers: mid.0,
        mid_step: mid.1,
        normalization: NormalizationStats::of(&agent),
    };
    let json = serde_json::to_string_pretty(&summary).expect("summary serialises");
    write_atomic(&summary_path, json.as_bytes())?;
    log.line(&format!(
        "complete: final return mean {}, final evaluation mean {}, {:.1} s",
        summary.final_return_mean, summary.final_eval_return_mean, summary.wall_seconds
    ));
    Ok(RunOutcome::Complete(Box::new(summary)))
}

/// What a run keeps track of for its summary between checkpoints.
struct Tracked {
    layers: FinalLayers,
    eval_mean: f64,
    entropy: f64,
    mid: (FinalLayers, usize),
}

/// The run's `run.log`: one line per event (start or resume, checkpoint, evaluation,
/// stop, failure, completion), each prefixed by the seconds since this process opened it.
/// Best effort: a line that cannot be written is dropped, never stopping the run.
struct RunLog {
    file: Option<std::fs::File>,
    opened: Instant,
}

impl RunLog {
    /// Opens `out/run.log`, emptied for a fresh run, appended to on resume.
    fn open(out: &Path, fresh: bool) -> Self {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(!fresh)
            .write(true)
            .truncate(fresh)
            .open(out.join("run.log"))
            .ok();
        RunLog {
            file,
            opened: Instant::now(),
        }
    }

    fn line(&self, message: &str) {
        if let Some(mut f) = self.file.as_ref() {
            let t = self.opened.elapsed().as_secs_f64();
            let _ = writeln!(f, "[{t:8.1} s] {message}");
        }
    }
}

/// The episodic returns in the first `len` bytes of a metrics CSV.
fn read_returns(path: &Path, len: u64) -> Result<Vec<f64>, RunnerError> {
    let bytes = std::fs::read(path).map_err(|e| RunnerError::io("cannot read", path, e))?;
    let bytes = &bytes[..(len as usize).min(bytes.len())];
    let mut reader = csv::Reader::from_reader(bytes);
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| RunnerError::Results {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let r = record
            .get(1)
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or_else(|| RunnerError::Results {
                path: path.to_path_buf(),
                message: format!("row without a numeric episodic_return: {record:?}"),
            })?;
        out.push(r);
    }
    Ok(out)
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

fn write_eval(w: &mut csv::Writer<std::fs::File>, ev: &EvalRecord) -> Result<(), csv::Error> {
    let (mean, std, (min, max)) = (ev.mean(), ev.std(), ev.range());
    let all: Vec<String> = ev.returns.iter().map(f64::to_string).collect();
    w.write_record([
        ev.global_step.to_string(),
        ev.returns.len().to_string(),
        mean.to_string(),
        std.to_string(),
        min.to_string(),
        max.to_string(),
        all.join(" "),
    ])
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
