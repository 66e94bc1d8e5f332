//! A run's configuration and how it is resolved: [`RunConfig`] (what `config.toml`
//! holds), an algorithm's per-env defaults with overrides on top ([`resolve_agent`],
//! [`resolve_trainer`], [`overlay`]), the TOML table helpers ([`merge_tables`],
//! [`leaves`], [`dotted`]), and which section of an experiment file (or of `pdmrl train
//! --set`) a key belongs to ([`key_home`]). Experiment files ([`crate::experiment`]) and
//! the command line both resolve runs through this module.

use crate::error::RunnerError;
use crate::schema;
use crate::version::{FIRST_RESULTS_VERSION, RESULTS_VERSION};
use pdmrl_agents::{AgentConfig, AgentSpec, Algo, Check, TrainerConfig, TrainerOptions, Valid};
use pdmrl_envs::{Registry, Space};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The fully resolved configuration of one run, written as `config.toml`.
///
/// Two configs are equal (`==`) when they train the same bits: the results version
/// included. [`RunConfig::same_run`] compares them but for the version, which is what the
/// run id ([`crate::experiment::run_id`]) covers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// The results version of the code that trains (or trained) the run
    /// ([`crate::RESULTS_VERSION`] for a new run): the first line of `config.toml`,
    /// `results_version = 2`. A file without it is of version 1
    /// ([`FIRST_RESULTS_VERSION`]), and version 1 is written without it, so the
    /// `config.toml` of a version-1 run reads and writes back byte for byte.
    #[serde(
        default = "first_results_version",
        skip_serializing_if = "is_first_results_version"
    )]
    pub results_version: u32,
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

fn first_results_version() -> u32 {
    FIRST_RESULTS_VERSION
}

fn is_first_results_version(v: &u32) -> bool {
    *v == FIRST_RESULTS_VERSION
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

/// The trainer config of `kind`: its default options ([`TrainerOptions::new`]) with the
/// keys of `overrides` (a TOML table of [`TrainerOptions`] keys, e.g. `local_lr`,
/// `guidance.weight`, `pdm.normalize`; not `kind`) set on top, as a [`TrainerConfig`]
/// ([`TrainerOptions::config`]).
///
/// # Errors
/// [`RunnerError::Input`] naming an unknown key, a value of the wrong type, or a key
/// `kind` does not read, even at its default ([`pdmrl_agents::TrainerKind::uses_option`]:
/// the [`TrainerConfig`] variant of `kind` does not hold it).
pub fn resolve_trainer(
    kind: pdmrl_agents::TrainerKind,
    overrides: &toml::Table,
) -> Result<TrainerConfig, RunnerError> {
    if overrides.contains_key("kind") {
        return Err(RunnerError::Input(
            "`trainer.kind` is not allowed here: choose the trainer with --trainer".into(),
        ));
    }
    let options = overlay(&TrainerOptions::new(kind), overrides, "trainer settings")?;
    let mut keys = Vec::new();
    leaves(overrides, "", &mut keys);
    if let Some((key, _)) = keys.iter().find(|(k, _)| !kind.uses_option(k)) {
        return Err(RunnerError::Input(format!(
            "trainer `{}` does not read `trainer.{key}` (bp and frozen read no trainer option, pdm all but guidance.*): it would change nothing",
            kind.name()
        )));
    }
    Ok(options.config())
}

impl RunConfig {
    /// The config of a new run: of the current results version ([`RESULTS_VERSION`]).
    pub fn new(env_id: String, seed: u64, trainer: TrainerConfig, agent: AgentConfig) -> Self {
        RunConfig {
            results_version: RESULTS_VERSION,
            env_id,
            seed,
            trainer,
            agent,
        }
    }

    /// Whether `other` is the same run but perhaps for its results version: the same
    /// run id and folder; trained by code of another version, other bits.
    pub fn same_run(&self, other: &RunConfig) -> bool {
        *self
            == RunConfig {
                results_version: self.results_version,
                ..other.clone()
            }
    }

    /// The config as the run id hashes it: `config.toml` without the results version (as
    /// version-1 code wrote it), so a run keeps its id and folder when the version
    /// changes, and a stale run is found where its successor goes.
    pub fn identity_text(&self) -> String {
        let unversioned = RunConfig {
            results_version: FIRST_RESULTS_VERSION,
            ..self.clone()
        };
        toml::to_string(&unversioned).unwrap_or_default()
    }

    /// Checks the env id and every hyperparameter, once: the agent's and the trainer's
    /// configs together ([`AgentSpec`]). What needs a checked run
    /// ([`crate::run::build_agent`], [`crate::run::train_checked`]) takes the result and
    /// never checks again.
    ///
    /// # Errors
    /// [`RunnerError::Env`] for an unknown env id, [`RunnerError::Agent`] for
    /// hyperparameters.
    pub fn check(&self, registry: &Registry) -> Result<CheckedRun, RunnerError> {
        // Unknown ids give the registry's error with suggestions.
        registry.make(&self.env_id)?;
        let spec = AgentSpec {
            config: self.agent.clone(),
            trainer: self.trainer,
        }
        .check()?;
        Ok(CheckedRun {
            config: self.clone(),
            spec,
        })
    }

    /// Environment steps the run takes.
    pub fn planned_steps(&self) -> usize {
        self.agent.planned_steps()
    }
}

/// A [`RunConfig`] that passed [`RunConfig::check`]: its env id is registered and its
/// agent and trainer configs were checked together. Read the config through `Deref`;
/// it serializes as the config itself.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedRun {
    config: RunConfig,
    spec: Valid<AgentSpec>,
}

impl CheckedRun {
    /// The checked agent and trainer configs, what [`pdmrl_agents::Agent::from_checked`]
    /// builds from.
    pub fn spec(&self) -> &Valid<AgentSpec> {
        &self.spec
    }

    /// The config.
    pub fn config(&self) -> &RunConfig {
        &self.config
    }

    /// The same checked run with the results version `version`: a run found on disk, of
    /// whatever version trained it (the checks do not depend on the version).
    pub(crate) fn at_results_version(mut self, version: u32) -> Self {
        self.config.results_version = version;
        self
    }
}

impl std::ops::Deref for CheckedRun {
    type Target = RunConfig;
    fn deref(&self) -> &RunConfig {
        &self.config
    }
}

impl Serialize for CheckedRun {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.config.serialize(serializer)
    }
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

/// The dotted leaves of a table, each key under `prefix` (none if empty):
/// `{pdm = {normalize = "max"}}` gives `pdm.normalize`.
pub fn leaves(table: &toml::Table, prefix: &str, out: &mut Vec<(String, toml::Value)>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) if !t.is_empty() => leaves(t, &key, out),
            _ => out.push((key, v.clone())),
        }
    }
}

/// `a.b.c = value` as nested tables.
pub fn dotted(path: &str, value: toml::Value) -> toml::Table {
    let mut parts: Vec<&str> = path.split('.').collect();
    let last = parts.pop().unwrap_or(path);
    let mut table = toml::Table::from_iter([(last.to_string(), value)]);
    while let Some(k) = parts.pop() {
        table = toml::Table::from_iter([(k.to_string(), toml::Value::Table(table))]);
    }
    table
}

/// The sections of an experiment file whose keys are [`AgentConfig`] keys (`pdmrl train
/// --set` takes them as `SECTION.KEY` or bare `KEY`).
pub const AGENT_SECTIONS: [&str; 3] = ["algo", "network", "run"];

/// Where a key of a section of an experiment file (`[algo]`, `[network]`, `[run]`,
/// `[trainer]`) goes; `pdmrl train --set SECTION.KEY=VALUE` maps its keys the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyHome {
    /// An [`AgentConfig`] key: every `[algo]` key but `name`, the `[network]` keys, and
    /// the `[run]` keys of [`schema::RUN_AGENT_KEYS`].
    Agent,
    /// A [`TrainerOptions`] option: every `[trainer]` key but `kind`.
    Trainer,
    /// A key that chooses runs rather than setting one: `algo.name`, `trainer.kind`,
    /// `run.seeds`, `run.checkpoint_every`.
    Runs,
    /// No key of that section (or no such section).
    Unknown,
}

/// Where `key` (a top-level key of the section, e.g. `learning_rate`, `pdm`) of the
/// section `section` goes.
pub fn key_home(section: &str, key: &str) -> KeyHome {
    let home = |known: bool, home: KeyHome| if known { home } else { KeyHome::Unknown };
    match (section, key) {
        ("algo", "name") | ("trainer", "kind") | ("run", "seeds" | "checkpoint_every") => {
            KeyHome::Runs
        }
        ("algo", _) => home(schema::algo_keys().iter().any(|k| k == key), KeyHome::Agent),
        ("network", _) => home(schema::NETWORK_KEYS.contains(&key), KeyHome::Agent),
        ("run", _) => home(schema::RUN_AGENT_KEYS.contains(&key), KeyHome::Agent),
        ("trainer", _) => home(trainer_keys().contains_key(key), KeyHome::Trainer),
        _ => KeyHome::Unknown,
    }
}

/// Every key of a `[trainer]` table ([`TrainerOptions`], `kind` included), those left out
/// at their defaults (`local_until`, ...) too.
pub fn trainer_keys() -> toml::Table {
    toml::Table::try_from(TrainerOptions::with_every_key())
        .expect("TrainerOptions serialises to a table")
}
