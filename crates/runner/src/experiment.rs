//! Experiments: a TOML file in `configs/` expands into runs, which run in parallel (one
//! thread each, so results do not depend on the number of workers) into
//! `results/<name>/<run-id>/`.
//!
//! The schema:
//!
//! ```toml
//! name = "quick"                 # results/<name>/
//! env_id = "CartPole-v1"
//! algo = "ppo"
//! trainers = ["bp", "pdm", "frozen"]
//! seeds = [1, 2, 3, 4, 5]
//! total_timesteps = 100000
//! [agent]                        # optional overrides of the algorithm's defaults (AgentConfig keys)
//! [trainer]                      # optional trainer options (local_lr, pdm.*)
//! [sweep]                        # optional: each key a list; runs for the cartesian product
//! "trainer.local_lr" = [1e-3, 1e-4]
//! "agent.hidden_sizes" = [[64, 64], [64, 64, 64, 64]]
//! ```
//!
//! A run's id is `<algo>-<env>-<trainer>-seed<seed>-<hash>`, the hash (FNV-1a, 32 bits,
//! hex) of its resolved config: sweep points get distinct folders, and renaming the file
//! or reordering its keys re-runs nothing.

use crate::error::RunnerError;
use crate::run::{RunConfig, RunOptions, read_summary, resolve_agent, train_run};
use pdmrl_agents::{Algo, TrainerConfig, TrainerKind};
use pdmrl_envs::Registry;
use rayon::prelude::*;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// An experiment file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// Name; results go to `results/<name>/`.
    pub name: String,
    /// Gymnasium env id.
    pub env_id: String,
    /// Algorithm (`ppo`, `a2c`, `reinforce`).
    pub algo: Algo,
    /// Trainers to compare.
    pub trainers: Vec<TrainerKind>,
    /// Seeds, each run for every trainer.
    pub seeds: Vec<u64>,
    /// Environment steps per run.
    pub total_timesteps: usize,
    /// Overrides of the algorithm's defaults for this env ([`pdmrl_agents::AgentConfig`]
    /// keys, CleanRL names); `total_timesteps` and `algo` belong at the top level.
    #[serde(default)]
    pub agent: toml::Table,
    /// Trainer option overrides (`local_lr`, `pdm.*`); the kind comes from `trainers`.
    #[serde(default)]
    pub trainer: TrainerConfig,
    /// Sweeps: `"agent.KEY"` or `"trainer.KEY"` (dotted for nested trainer keys, e.g.
    /// `"trainer.pdm.normalize"`) to a non-empty list of values; every combination (in
    /// key order) is run for every trainer and seed.
    #[serde(default)]
    pub sweep: std::collections::BTreeMap<String, Vec<toml::Value>>,
}

/// One of `count` disjoint, deterministic slices of an experiment's run list (`--shard
/// I/N`): run `k` (0-based, in plan order) belongs to slice `k % count`. The slices of
/// `1/N .. N/N` together hold every run once, so N machines sharing a results folder can
/// split a reproduction between them (a Slurm job array, GNU parallel, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1-based index, `1..=count`.
    pub index: usize,
    /// Number of slices, >= 1.
    pub count: usize,
}

impl Shard {
    /// Whether run `k` (0-based, in plan order) belongs to this slice.
    pub fn contains(&self, k: usize) -> bool {
        k % self.count == self.index - 1
    }
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let err = || format!("shard `{s}` must be I/N with 1 <= I <= N, e.g. 2/8");
        let (i, n) = s.split_once('/').ok_or_else(err)?;
        let (index, count) = (
            i.trim().parse::<usize>().map_err(|_| err())?,
            n.trim().parse::<usize>().map_err(|_| err())?,
        );
        if count == 0 || index == 0 || index > count {
            return Err(err());
        }
        Ok(Shard { index, count })
    }
}

/// One expanded run.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedRun {
    /// Folder name under `results/<experiment>/`.
    pub id: String,
    /// What tables and figures call its group: the trainer, followed by the sweep point
    /// (`pdm trainer.local_lr=0.0001`) if the experiment sweeps.
    pub label: String,
    /// Its resolved config.
    pub config: RunConfig,
}

/// What [`run_experiment`] did.
#[derive(Debug, Default)]
pub struct ExperimentReport {
    /// Runs trained now.
    pub done: Vec<String>,
    /// Runs already complete with the same config, skipped.
    pub skipped: Vec<String>,
    /// Runs that failed, with their error.
    pub failed: Vec<(String, String)>,
}

fn config_error(path: &Path, message: impl Into<String>) -> RunnerError {
    RunnerError::Config {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

impl Experiment {
    /// Reads and parses an experiment file.
    ///
    /// # Errors
    /// [`RunnerError::Config`] with toml's message (key, line and column).
    pub fn from_file(path: &Path) -> Result<Self, RunnerError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| RunnerError::io("cannot read", path, e))?;
        let experiment: Experiment =
            toml::from_str(&text).map_err(|e| config_error(path, e.to_string()))?;
        // Keys that the typed sections accept but that belong elsewhere here.
        let raw: toml::Table =
            toml::from_str(&text).map_err(|e| config_error(path, e.to_string()))?;
        for (section, key, instead) in [
            (
                "agent",
                "total_timesteps",
                "set the top-level `total_timesteps`",
            ),
            (
                "trainer",
                "kind",
                "list trainers in the top-level `trainers`",
            ),
        ] {
            if raw.get(section).and_then(|s| s.get(key)).is_some() {
                return Err(config_error(
                    path,
                    format!("`{section}.{key}` is not allowed here: {instead}"),
                ));
            }
        }
        let name_ok = !experiment.name.is_empty()
            && experiment
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !name_ok {
            return Err(config_error(
                path,
                format!(
                    "`name` = {:?} must be non-empty and use only ASCII letters, digits, `_` and `-` (it names the folder results/<name>/)",
                    experiment.name
                ),
            ));
        }
        if ["figures", "memory"].contains(&experiment.name.as_str()) {
            return Err(config_error(
                path,
                format!(
                    "`name` = {:?} is reserved: results/{}/ holds the project's own output",
                    experiment.name, experiment.name
                ),
            ));
        }
        Ok(experiment)
    }

    /// Expands into runs (trainers × seeds) and validates every run before any starts.
    ///
    /// # Errors
    /// [`RunnerError::Config`] naming the file and the problem.
    pub fn plan(&self, path: &Path, registry: &Registry) -> Result<Vec<PlannedRun>, RunnerError> {
        if self.trainers.is_empty() || self.seeds.is_empty() {
            return Err(config_error(
                path,
                "`trainers` and `seeds` must not be empty",
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        if let Some(dup) = self.seeds.iter().find(|s| !seen.insert(**s)) {
            return Err(config_error(
                path,
                format!("seed {dup} is listed twice in `seeds`"),
            ));
        }
        let repeated = |i: usize| self.trainers[..i].contains(&self.trainers[i]);
        if let Some(dup) = (0..self.trainers.len())
            .find(|&i| repeated(i))
            .map(|i| self.trainers[i])
        {
            return Err(config_error(
                path,
                format!("trainer `{dup}` is listed twice in `trainers`"),
            ));
        }
        let mut overrides = self.agent.clone();
        overrides.insert(
            "total_timesteps".into(),
            toml::Value::Integer(i64::try_from(self.total_timesteps).unwrap_or(i64::MAX)),
        );
        let mut runs = Vec::new();
        for point in sweep_points(&self.sweep).map_err(|e| config_error(path, e))? {
            let (mut agent_over, mut trainer_over) = (overrides.clone(), toml::Table::new());
            for (key, value) in &point {
                let (section, rest) = key.split_once('.').unwrap_or((key, ""));
                let forbidden = ["agent.total_timesteps", "agent.algo", "trainer.kind"];
                let target = match section {
                    _ if forbidden.contains(&key.as_str()) => None,
                    "agent" if !rest.is_empty() => Some(&mut agent_over),
                    "trainer" if !rest.is_empty() => Some(&mut trainer_over),
                    _ => None,
                };
                let Some(target) = target else {
                    return Err(config_error(
                        path,
                        format!(
                            "sweep key `{key}` must be `agent.KEY` or `trainer.KEY` (not algo, total_timesteps or kind: list those at the top level)"
                        ),
                    ));
                };
                crate::run::merge_tables(target, &dotted(rest, value.clone()));
            }
            let agent = resolve_agent(registry, &self.env_id, self.algo, &agent_over)
                .map_err(|e| config_error(path, e.to_string()))?;
            let base_trainer =
                crate::run::overlay(&self.trainer, &trainer_over, "trainer settings")
                    .map_err(|e| config_error(path, e.to_string()))?;
            let suffix: Vec<String> = point.iter().map(|(k, v)| format!("{k}={v}")).collect();
            for &kind in &self.trainers {
                for &seed in &self.seeds {
                    let config = RunConfig {
                        env_id: self.env_id.clone(),
                        seed,
                        trainer: TrainerConfig {
                            kind,
                            ..base_trainer
                        },
                        agent: agent.clone(),
                    };
                    config
                        .check(registry)
                        .map_err(|e| config_error(path, e.to_string()))?;
                    let label = std::iter::once(kind.name().to_string())
                        .chain(suffix.iter().cloned())
                        .collect::<Vec<_>>()
                        .join(" ");
                    runs.push(PlannedRun {
                        id: run_id(&config),
                        label,
                        config,
                    });
                }
            }
        }
        let mut ids = std::collections::BTreeSet::new();
        if let Some(dup) = runs.iter().find(|r| !ids.insert(r.id.clone())) {
            return Err(config_error(
                path,
                format!(
                    "two runs resolve to the same config ({}): a sweep lists a value twice",
                    dup.id
                ),
            ));
        }
        Ok(runs)
    }
}

/// The points of a sweep: every combination of the listed values, keys in order; one
/// empty point without a sweep.
fn sweep_points(
    sweep: &std::collections::BTreeMap<String, Vec<toml::Value>>,
) -> Result<Vec<Vec<(String, toml::Value)>>, String> {
    let mut points: Vec<Vec<(String, toml::Value)>> = vec![Vec::new()];
    for (key, values) in sweep {
        if values.is_empty() {
            return Err(format!("sweep key `{key}` lists no values"));
        }
        points = points
            .into_iter()
            .flat_map(|p| {
                values.iter().map(move |v| {
                    let mut q = p.clone();
                    q.push((key.clone(), v.clone()));
                    q
                })
            })
            .collect();
    }
    Ok(points)
}

/// `a.b.c = value` as nested tables.
fn dotted(path: &str, value: toml::Value) -> toml::Table {
    let mut parts: Vec<&str> = path.split('.').collect();
    let last = parts.pop().unwrap_or(path);
    let mut table = toml::Table::from_iter([(last.to_string(), value)]);
    while let Some(k) = parts.pop() {
        table = toml::Table::from_iter([(k.to_string(), toml::Value::Table(table))]);
    }
    table
}

/// The folder name of a run: `<algo>-<env>-<trainer>-seed<seed>-<hash>`, the hash being
/// the low 32 bits of FNV-1a over its resolved `config.toml`, in hex.
pub fn run_id(config: &RunConfig) -> String {
    let text = toml::to_string(config).unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in text.as_bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!(
        "{}-{}-{}-seed{}-{:08x}",
        config.agent.algo,
        config.env_id,
        config.trainer.kind.name(),
        config.seed,
        h as u32
    )
    .replace('/', "_")
}

/// Runs every planned run into `dir/<run-id>/` on `jobs` worker threads (each run on one
/// thread). A run whose `summary.json` exists and whose `config.toml` equals its resolved
/// config is skipped; a run with the same config and a checkpoint is resumed from it; any
/// other run is (re)started from scratch.
///
/// `progress` receives environment-step increments from all runs.
///
/// # Errors
/// Only for a failure to build the thread pool; failed runs are listed in the report.
pub fn run_experiment(
    runs: &[PlannedRun],
    dir: &Path,
    jobs: usize,
    registry: &Registry,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<ExperimentReport, RunnerError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.clamp(1, runs.len().max(1)))
        .build()
        .map_err(|e| RunnerError::Input(format!("cannot start {jobs} worker threads: {e}")))?;
    let outcomes: Vec<(String, Result<bool, RunnerError>)> = pool.install(|| {
        runs.par_iter()
            .map(|run| {
                let out = dir.join(&run.id);
                let outcome = if is_up_to_date(&out, &run.config) {
                    progress(run_steps(&run.config) as u64);
                    Ok(false)
                } else {
                    let options = RunOptions {
                        force: true,
                        resume: is_resumable(&out, &run.config),
                        ..RunOptions::new(progress)
                    };
                    train_run(&run.config, registry, &out, &options).map(|_| true)
                };
                (run.id.clone(), outcome)
            })
            .collect()
    });
    let mut report = ExperimentReport::default();
    for (id, outcome) in outcomes {
        match outcome {
            Ok(true) => report.done.push(id),
            Ok(false) => report.skipped.push(id),
            Err(e) => report.failed.push((id, e.to_string())),
        }
    }
    Ok(report)
}

/// Environment steps a run takes.
pub fn run_steps(config: &RunConfig) -> usize {
    config.planned_steps()
}

/// Whether `out/config.toml` equals `config`.
fn same_config(out: &Path, config: &RunConfig) -> bool {
    let Ok(text) = std::fs::read_to_string(out.join("config.toml")) else {
        return false;
    };
    toml::from_str::<RunConfig>(&text).is_ok_and(|c| &c == config)
}

/// Whether `out` holds a complete run of exactly `config`: its `summary.json` parses and
/// its `config.toml` equals `config`.
pub fn is_up_to_date(out: &Path, config: &RunConfig) -> bool {
    read_summary(out).is_ok() && same_config(out, config)
}

/// Whether `out` holds an incomplete run of exactly `config` with a checkpoint.
pub fn is_resumable(out: &Path, config: &RunConfig) -> bool {
    !crate::run::is_complete(out)
        && crate::run::checkpoint_dir(out).is_some()
        && same_config(out, config)
}

/// Folders of the planned runs that are complete with their current config.
pub fn complete_runs(runs: &[PlannedRun], dir: &Path) -> Vec<PathBuf> {
    runs.iter()
        .filter(|r| is_up_to_date(&dir.join(&r.id), &r.config))
        .map(|r| dir.join(&r.id))
        .collect()
}

/// Reads the summary of every planned run that is complete with its current config
/// (others are left out).
///
/// # Errors
/// A summary that exists but does not parse.
pub fn summaries(
    runs: &[PlannedRun],
    dir: &Path,
) -> Result<Vec<(PlannedRun, crate::run::Summary)>, RunnerError> {
    runs.iter()
        .filter(|r| is_up_to_date(&dir.join(&r.id), &r.config))
        .map(|r| Ok((r.clone(), read_summary(&dir.join(&r.id))?)))
        .collect()
}
