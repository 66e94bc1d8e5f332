//! Experiments: a TOML file in `configs/` expands into runs, which run in parallel (one
//! thread each, so results do not depend on the number of workers) into
//! `results/<name>/<run-id>/`.
//!
//! The file format is in [`crate::schema`]. A run's id is
//! `<algo>-<env>-<trainer>-seed<seed>-<hash>`, the hash (FNV-1a, 32 bits, hex) of its
//! resolved config: sweep points get distinct folders, and renaming the file or reordering
//! its keys re-runs nothing.

use crate::error::RunnerError;
use crate::progress::RunEvent;
use crate::run::{RunConfig, RunOptions, RunProgress, read_summary, train_run};
use crate::schema::{self, Source};
use pdmrl_agents::{AgentConfig, Algo, TrainerConfig, TrainerKind};
use pdmrl_envs::Registry;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Environment steps per run: the algorithm's default, one number, or one per env id.
#[derive(Debug, Clone, PartialEq)]
pub enum Budget {
    /// The default of the algorithm for each env ([`AgentConfig::defaults`]).
    Default,
    /// The same for every env.
    All(usize),
    /// Per env id (every env of the experiment must be listed).
    PerEnv(BTreeMap<String, usize>),
}

/// An experiment file, parsed and checked key by key ([`crate::schema`] lists the keys).
#[derive(Debug, Clone)]
pub struct Experiment {
    /// Name; results go to `results/<name>/`.
    pub name: String,
    /// Gymnasium env ids (`[env] id`).
    pub envs: Vec<String>,
    /// The algorithms (`[algo] name`: one or a list; the other `[algo]` keys apply to each).
    pub algos: Vec<Algo>,
    /// Trainers to compare (`[trainer] kind`).
    pub trainers: Vec<TrainerKind>,
    /// Seeds (`[run] seeds`), each run for every trainer.
    pub seeds: Vec<u64>,
    /// Environment steps per run (`[run] total_timesteps`).
    pub budget: Budget,
    /// Updates between checkpoints (`[run] checkpoint_every`).
    pub checkpoint_every: usize,
    /// [`AgentConfig`] keys set by `[algo]`, `[network]` and `[run]` (CleanRL names;
    /// `total_timesteps` is in `budget`).
    pub agent: toml::Table,
    /// [`TrainerConfig`] keys set by `[trainer]` (without `kind`).
    pub trainer: toml::Table,
    /// `[sweep]`: dotted key (`algo.learning_rate`, `trainer.pdm.normalize`, ...) to a
    /// non-empty list of values.
    pub sweep: BTreeMap<String, Vec<toml::Value>>,
    /// `[ablate]`: dotted key to a non-empty list of values, each run on its own against
    /// the defaults (one at a time, not combined).
    pub ablate: BTreeMap<String, Vec<toml::Value>>,
    /// The file, for errors with lines.
    pub source: Source,
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
    /// The label of the `bp` group it is compared with: `bp` with the same algorithm and
    /// at the same point, without the trainer options `bp` does not read
    /// (`pdm trainer.local_lr=0.01 network.hidden_sizes=[64]*8` is compared with
    /// `bp network.hidden_sizes=[64]*8`).
    pub bp_label: String,
    /// The label of the `frozen` group it is compared with, likewise.
    pub frozen_label: String,
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
    /// Runs copied from another experiment's folder beside this one, where the same run
    /// (the same id and config) was complete ([`copy_from_siblings`]); not trained again.
    pub copied: Vec<String>,
    /// Runs that failed, with their error.
    pub failed: Vec<(String, String)>,
}

/// The options a bundle of `[ablate] trainer` sets, as dotted keys with their values
/// (`trainer.local_steps`, `trainer.guidance.weight`, ...); none for a non-table (which
/// the file check rejects).
fn bundle_options(bundle: &toml::Value) -> Vec<(String, toml::Value)> {
    let mut set = Vec::new();
    if let toml::Value::Table(t) = bundle {
        leaves(t, "trainer", &mut set);
    }
    set
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

/// `base` with `overrides` on top; if that fails, the error names the first key that
/// fails on its own (`key_of` turns its dotted path into the file's key) with its line.
fn overlay_located<T: serde::Serialize + serde::de::DeserializeOwned>(
    source: &Source,
    base: &T,
    overrides: &toml::Table,
    what: &str,
    key_of: &dyn Fn(&str) -> String,
) -> Result<T, RunnerError> {
    let Err(whole) = crate::run::overlay(base, overrides, what) else {
        return crate::run::overlay(base, overrides, what);
    };
    let mut items = Vec::new();
    leaves(overrides, "", &mut items);
    for (key, value) in items {
        if let Err(e) = crate::run::overlay(base, &dotted(&key, value.clone()), what) {
            let file_key = key_of(&key);
            let message = e.to_string();
            let message = message
                .strip_prefix(&format!("in the {what}: "))
                .unwrap_or(&message);
            return Err(source.error(
                Some(&file_key),
                format!("`{file_key}` = {value}: {}", message.trim()),
            ));
        }
    }
    Err(source.error(None, whole.to_string()))
}

impl Experiment {
    /// Reads and parses an experiment file, checking every section and key.
    ///
    /// # Errors
    /// [`RunnerError::Config`] naming the file, the key and its line, and what is allowed.
    pub fn from_file(path: &Path) -> Result<Self, RunnerError> {
        let (source, doc) = Source::read(path)?;
        Self::from_document(source, &doc)
    }

    /// Parses an experiment from its TOML text (`path` names it in errors).
    ///
    /// # Errors
    /// As [`Experiment::from_file`].
    pub fn from_text(path: &Path, text: &str) -> Result<Self, RunnerError> {
        let (source, doc) = Source::parse(path, text)?;
        Self::from_document(source, &doc)
    }

    fn from_document(source: Source, doc: &toml::Table) -> Result<Self, RunnerError> {
        let err = |key: &str, message: String| source.error(Some(key), message);
        schema::deny_unknown(&source, "", doc, &schema::TOP_LEVEL)?;
        let section = |name: &str| -> Result<toml::Table, RunnerError> {
            match doc.get(name) {
                None => Ok(toml::Table::new()),
                Some(toml::Value::Table(t)) => Ok(t.clone()),
                Some(other) => Err(err(
                    name,
                    format!(
                        "`{name}` must be a section ([{name}]), not a {}",
                        other.type_str()
                    ),
                )),
            }
        };
        let name = match doc.get("name") {
            Some(toml::Value::String(s)) => s.clone(),
            Some(other) => {
                return Err(err(
                    "name",
                    format!("`name` must be a string, not a {}", other.type_str()),
                ));
            }
            None => {
                return Err(
                    source.error(None, "`name` is missing: the results go to results/<name>/")
                );
            }
        };
        let name_ok = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !name_ok {
            return Err(err(
                "name",
                format!(
                    "`name` = {name:?} must be 1 to 64 ASCII letters, digits, `_` and `-` (it names the folder results/<name>/)"
                ),
            ));
        }
        if ["figures", "memory"].contains(&name.as_str()) {
            return Err(err(
                "name",
                format!(
                    "`name` = {name:?} is reserved: results/{name}/ holds the project's own output"
                ),
            ));
        }

        let env = section("env")?;
        schema::deny_unknown(&source, "env", &env, &["id"])?;
        let envs: Vec<String> = schema::one_or_many(
            env.get("id").ok_or_else(|| {
                err(
                    "env",
                    "`[env] id` is missing: a Gymnasium env id or a list of them, e.g. id = \"CartPole-v1\"".into(),
                )
            })?,
            "`env.id`",
        )
        .map_err(|m| err("env.id", m))?;
        if let Some(dup) = (0..envs.len()).find(|&i| envs[..i].contains(&envs[i])) {
            return Err(err(
                "env.id",
                format!("`{}` is listed twice in `env.id`", envs[dup]),
            ));
        }

        let mut agent = section("algo")?;
        let algo_keys = schema::algo_keys();
        let allowed: Vec<&str> = std::iter::once("name")
            .chain(algo_keys.iter().map(String::as_str))
            .collect();
        schema::deny_unknown(&source, "algo", &agent, &allowed)?;
        let algos: Vec<Algo> = schema::one_or_many(
            &agent.remove("name").ok_or_else(|| {
                err(
                    "algo",
                    "`[algo] name` is missing: one or a list of ppo, a2c, reinforce".into(),
                )
            })?,
            "`algo.name` (ppo, a2c or reinforce)",
        )
        .map_err(|m| err("algo.name", m))?;
        if let Some(dup) = (0..algos.len()).find(|&i| algos[..i].contains(&algos[i])) {
            return Err(err(
                "algo.name",
                format!("`{}` is listed twice in `algo.name`", algos[dup].name()),
            ));
        }
        let network = section("network")?;
        schema::deny_unknown(&source, "network", &network, &schema::NETWORK_KEYS)?;
        agent.extend(network);

        let mut trainer = section("trainer")?;
        // Every key, those left out at their defaults (`local_until`, ...) included.
        let trainer_keys = toml::Table::try_from(TrainerConfig::with_every_key())
            .expect("TrainerConfig serialises to a table");
        let allowed: Vec<&str> = trainer_keys.keys().map(String::as_str).collect();
        schema::deny_unknown(&source, "trainer", &trainer, &allowed)?;
        let trainers: Vec<TrainerKind> = schema::one_or_many(
            &trainer.remove("kind").ok_or_else(|| {
                err(
                    "trainer",
                    "`[trainer] kind` is missing: one or a list of bp, pdm, pdm_guided, frozen"
                        .into(),
                )
            })?,
            "`trainer.kind`",
        )
        .map_err(|m| err("trainer.kind", m))?;
        if let Some(dup) = (0..trainers.len()).find(|&i| trainers[..i].contains(&trainers[i])) {
            return Err(err(
                "trainer.kind",
                format!(
                    "trainer `{}` is listed twice in `trainer.kind`",
                    trainers[dup]
                ),
            ));
        }

        let mut run = section("run")?;
        schema::deny_unknown(&source, "run", &run, &schema::RUN_KEYS)?;
        let seeds: Vec<u64> = schema::one_or_many(
            &run.remove("seeds").ok_or_else(|| {
                err(
                    "run",
                    "`[run] seeds` is missing: a list of non-negative integers, e.g. seeds = [1, 2, 3]".into(),
                )
            })?,
            "`run.seeds` (non-negative integers)",
        )
        .map_err(|m| err("run.seeds", m))?;
        let mut seen = std::collections::BTreeSet::new();
        if let Some(dup) = seeds.iter().find(|s| !seen.insert(**s)) {
            return Err(err(
                "run.seeds",
                format!("seed {dup} is listed twice in `run.seeds`"),
            ));
        }
        let positive = |key: &str, v: &toml::Value| -> Result<usize, RunnerError> {
            v.as_integer()
                .filter(|&n| n >= 1)
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| err(key, format!("`{key}` = {v} must be an integer >= 1")))
        };
        let budget = match run.remove("total_timesteps") {
            None => Budget::Default,
            Some(toml::Value::Table(per_env)) => {
                let mut m = BTreeMap::new();
                for (id, v) in &per_env {
                    if !envs.contains(id) {
                        return Err(err(
                            &format!("run.total_timesteps.{id}"),
                            format!(
                                "`run.total_timesteps` names `{id}`, which is not in `env.id` ({})",
                                envs.join(", ")
                            ),
                        ));
                    }
                    m.insert(
                        id.clone(),
                        positive(&format!("run.total_timesteps.{id}"), v)?,
                    );
                }
                if let Some(missing) = envs.iter().find(|e| !m.contains_key(*e)) {
                    return Err(err(
                        "run.total_timesteps",
                        format!(
                            "`run.total_timesteps` gives no budget for `{missing}`: list every env of `env.id`, or give one number"
                        ),
                    ));
                }
                Budget::PerEnv(m)
            }
            Some(v) => Budget::All(positive("run.total_timesteps", &v)?),
        };
        let checkpoint_every = match run.remove("checkpoint_every") {
            None => crate::run::DEFAULT_CHECKPOINT_EVERY,
            Some(v) => v
                .as_integer()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| {
                    err(
                        "run.checkpoint_every",
                        format!("`run.checkpoint_every` = {v} must be an integer >= 0 (updates; 0: only the last)"),
                    )
                })?,
        };
        agent.extend(run);

        let sweep = Self::varied(
            &source,
            "sweep",
            section("sweep")?,
            &algo_keys,
            &trainer_keys,
        )?;
        let ablate = Self::varied(
            &source,
            "ablate",
            section("ablate")?,
            &algo_keys,
            &trainer_keys,
        )?;
        if let Some(both) = sweep.keys().find(|k| ablate.contains_key(*k)) {
            return Err(err(
                &format!("ablate.{both}"),
                format!("`{both}` is in both [sweep] and [ablate]: give it in one of them"),
            ));
        }
        for bundle in ablate.get("trainer").into_iter().flatten() {
            let set = bundle_options(bundle);
            if let Some((both, _)) = set.iter().find(|(k, _)| sweep.contains_key(k)) {
                return Err(err(
                    "ablate.trainer",
                    format!(
                        "`{both}` is set by a bundle of [ablate] trainer and swept in [sweep] too: give it in one place"
                    ),
                ));
            }
        }
        Ok(Experiment {
            name,
            envs,
            algos,
            trainers,
            seeds,
            budget,
            checkpoint_every,
            agent,
            trainer,
            sweep,
            ablate,
            source,
        })
    }

    /// The keys of `[sweep]` or `[ablate]` (`section`), each a non-empty list of values.
    fn varied(
        source: &Source,
        section: &str,
        table: toml::Table,
        algo_keys: &[String],
        trainer_keys: &toml::Table,
    ) -> Result<BTreeMap<String, Vec<toml::Value>>, RunnerError> {
        let mut out = BTreeMap::new();
        for (key, values) in table {
            let at = format!("{section}.{key}");
            if section == "ablate" && key == "trainer" {
                out.insert(key, Self::bundles(source, &at, values, trainer_keys)?);
                continue;
            }
            let (group, rest) = key.split_once('.').unwrap_or((&key, ""));
            let ok = match group {
                "algo" => algo_keys.iter().any(|k| k == rest),
                "network" => schema::NETWORK_KEYS.contains(&rest),
                "run" => schema::RUN_AGENT_KEYS.contains(&rest),
                "trainer" => {
                    let first = rest.split('.').next().unwrap_or("");
                    first != "kind" && trainer_keys.contains_key(first)
                }
                _ => false,
            };
            if !ok {
                return Err(source.error(
                    Some(&at),
                    format!(
                        "{section} key `{key}` must be `algo.KEY`, `network.KEY`, `run.total_timesteps|eval_every|eval_episodes` or `trainer.KEY` (KEY a key of that section; list envs, trainers and seeds in their sections)"
                    ),
                ));
            }
            match values {
                toml::Value::Array(v) if !v.is_empty() => {
                    out.insert(key, v);
                }
                toml::Value::Array(_) => {
                    return Err(
                        source.error(Some(&at), format!("{section} key `{key}` lists no values"))
                    );
                }
                other => {
                    return Err(source.error(
                        Some(&at),
                        format!("{section} key `{key}` must be a list of values, not {other}"),
                    ));
                }
            }
        }
        Ok(out)
    }

    /// `[ablate] trainer = [{ KEY = VALUE, ... }, ...]`: each table a bundle of trainer
    /// options run together as one point (`{ local_adam_eps = 0.01, local_steps =
    /// "iteration" }`); every key must be a trainer option (not `kind`).
    fn bundles(
        source: &Source,
        at: &str,
        values: toml::Value,
        trainer_keys: &toml::Table,
    ) -> Result<Vec<toml::Value>, RunnerError> {
        let toml::Value::Array(list) = values else {
            return Err(source.error(
                Some(at),
                "ablate key `trainer` must be a list of tables of trainer options, e.g. [{ local_adam_eps = 0.01, local_steps = \"iteration\" }]".to_string(),
            ));
        };
        if list.is_empty() {
            return Err(source.error(Some(at), "ablate key `trainer` lists no values".to_string()));
        }
        for bundle in &list {
            let toml::Value::Table(t) = bundle else {
                return Err(source.error(
                    Some(at),
                    format!(
                        "ablate key `trainer` takes tables of trainer options (run together), not {bundle}; one option on its own is `\"trainer.KEY\" = [...]`"
                    ),
                ));
            };
            if t.is_empty() {
                return Err(source.error(
                    Some(at),
                    "ablate key `trainer` lists an empty table".to_string(),
                ));
            }
            for k in t.keys() {
                if k == "kind" || !trainer_keys.contains_key(k) {
                    return Err(source.error(
                        Some(at),
                        format!(
                            "ablate key `trainer`: `{k}` is not a trainer option (one of: {})",
                            trainer_keys
                                .keys()
                                .filter(|k| *k != "kind")
                                .cloned()
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(list)
    }

    /// Every varied key, dotted: the `[sweep]` and `[ablate]` keys, a bundle of trainer
    /// options (`[ablate] trainer`) as the keys it sets (`trainer.local_steps`, ...).
    fn varied_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.sweep.keys().cloned().collect();
        for (key, values) in &self.ablate {
            if key == "trainer" {
                for v in values {
                    keys.extend(bundle_options(v).into_iter().map(|(k, _)| k));
                }
            } else {
                keys.push(key.clone());
            }
        }
        keys.sort();
        keys.dedup();
        keys
    }

    /// Where the file gives a varied key: `sweep.KEY` or `ablate.KEY` (`ablate.trainer`
    /// for a key of a bundle).
    fn varied_at(&self, key: &str) -> String {
        if self.ablate.contains_key(key) {
            format!("ablate.{key}")
        } else if self.sweep.contains_key(key) {
            format!("sweep.{key}")
        } else if key.starts_with("trainer.") && self.ablate.contains_key("trainer") {
            "ablate.trainer".to_string()
        } else {
            format!("sweep.{key}")
        }
    }

    /// The points to run: every combination of the `[sweep]` values, each with the
    /// defaults and then each `[ablate]` value on its own (a bundle's options together).
    fn points(&self) -> Vec<Vec<(String, toml::Value)>> {
        let mut single: Vec<Vec<(String, toml::Value)>> = vec![Vec::new()];
        for (key, values) in &self.ablate {
            if key == "trainer" {
                single.extend(values.iter().map(bundle_options));
                continue;
            }
            single.extend(values.iter().map(|v| vec![(key.clone(), v.clone())]));
        }
        sweep_points(&self.sweep)
            .into_iter()
            .flat_map(|p| {
                single
                    .iter()
                    .map(move |a| p.iter().chain(a).cloned().collect())
            })
            .collect()
    }

    /// The file key of an [`AgentConfig`] key (`learning_rate` → `algo.learning_rate`).
    fn agent_key(key: &str) -> String {
        let top = key.split('.').next().unwrap_or(key);
        format!("{}.{key}", schema::section_of_agent_key(top))
    }

    /// Expands into runs (envs × algorithms × sweep points × trainers × seeds) and validates every run
    /// before any starts.
    ///
    /// # Errors
    /// [`RunnerError::Config`] naming the file, the key and its line, and the problem.
    pub fn plan(&self, registry: &Registry) -> Result<Vec<PlannedRun>, RunnerError> {
        let source = &self.source;
        let mut runs = Vec::new();
        let mut set = Vec::new();
        leaves(&self.trainer, "trainer", &mut set);
        let varied = self.varied_keys();
        for key in varied.iter().chain(set.iter().map(|(k, _)| k)) {
            if let Some(option) = key.strip_prefix("trainer.")
                && !self.trainers.iter().any(|k| k.uses_option(option))
            {
                let names: Vec<&str> = self.trainers.iter().map(|k| k.name()).collect();
                let at = if varied.contains(key) {
                    self.varied_at(key)
                } else {
                    key.clone()
                };
                return Err(source.error(
                    Some(&at),
                    format!(
                        "no trainer of this experiment ({}) reads `{key}`: it would change no run",
                        names.join(", ")
                    ),
                ));
            }
        }
        for env in &self.envs {
            let continuous = crate::run::is_continuous(registry, env)
                .map_err(|e| source.error(Some("env.id"), e.to_string()))?;
            for &algo in &self.algos {
                self.check_keys_used_by(algo)?;
                let defaults = AgentConfig::defaults(algo, env, continuous);
                let mut base = overlay_located(
                    source,
                    &defaults,
                    &self.agent,
                    "agent settings",
                    &Self::agent_key,
                )?;
                match &self.budget {
                    Budget::Default => {}
                    Budget::All(n) => base.total_timesteps = *n,
                    Budget::PerEnv(m) => base.total_timesteps = m[env],
                }
                for point in self.points() {
                    let (mut agent_over, mut trainer_over) =
                        (toml::Table::new(), self.trainer.clone());
                    for (key, value) in &point {
                        let (section, rest) = key.split_once('.').unwrap_or((key, ""));
                        if section == "trainer" {
                            crate::run::merge_tables(
                                &mut trainer_over,
                                &dotted(rest, value.clone()),
                            );
                        } else {
                            agent_over.insert(rest.to_string(), value.clone());
                        }
                    }
                    // `k` is a dotted leaf (`total_timesteps.CartPole-v1` for a table value):
                    // the varied key is its first segment.
                    let sweep_key = |k: &str| {
                        let top = Self::agent_key(k.split('.').next().unwrap_or(k));
                        if point.iter().any(|(p, _)| *p == top) {
                            self.varied_at(&top)
                        } else {
                            Self::agent_key(k)
                        }
                    };
                    let agent =
                        overlay_located(source, &base, &agent_over, "agent settings", &sweep_key)?;
                    let trainer_key = |k: &str| {
                        let full = format!("trainer.{k}");
                        let varied = point
                            .iter()
                            .find(|(p, _)| *p == full || full.starts_with(&format!("{p}.")));
                        match varied {
                            Some((p, _)) => self.varied_at(p),
                            None => full,
                        }
                    };
                    let base_trainer = overlay_located(
                        source,
                        &TrainerConfig::default(),
                        &trainer_over,
                        "trainer settings",
                        &trainer_key,
                    )?;
                    // A trainer's label names only the point's keys it reads: `bp` and
                    // `frozen` at a point that varies only PDM options are the one `bp`
                    // and `frozen` group, run once (their configs are equal after
                    // `TrainerConfig::effective`).
                    let label_of = |kind: TrainerKind| {
                        let algo_name = (self.algos.len() > 1).then(|| algo.name().to_string());
                        algo_name
                            .into_iter()
                            .chain(std::iter::once(kind.name().to_string()))
                            .chain(
                                point
                                    .iter()
                                    .filter(|(k, _)| {
                                        k.strip_prefix("trainer.")
                                            .is_none_or(|o| kind.uses_option(o))
                                    })
                                    .map(|(k, v)| format!("{k}={}", short_value(v))),
                            )
                            .collect::<Vec<_>>()
                            .join(" ")
                    };
                    for &kind in &self.trainers {
                        let ignores_some = point.iter().any(|(k, _)| {
                            k.strip_prefix("trainer.")
                                .is_some_and(|o| !kind.uses_option(o))
                        });
                        for &seed in &self.seeds {
                            let config = RunConfig {
                                env_id: env.clone(),
                                seed,
                                trainer: TrainerConfig {
                                    kind,
                                    ..base_trainer
                                }
                                .effective(),
                                agent: agent.clone(),
                            };
                            if let Err(e) = config.check(registry) {
                                return Err(self.check_error(&e, env, algo, &point, kind));
                            }
                            let id = run_id(&config);
                            if ignores_some && runs.iter().any(|r: &PlannedRun| r.id == id) {
                                continue;
                            }
                            runs.push(PlannedRun {
                                id,
                                label: label_of(kind),
                                bp_label: label_of(TrainerKind::Bp),
                                frozen_label: label_of(TrainerKind::Frozen),
                                config,
                            });
                        }
                    }
                }
            }
        }
        let mut ids = std::collections::BTreeMap::new();
        for run in &runs {
            if let Some(first) = ids.insert(run.id.clone(), run) {
                // The varied key to blame: the first point segment (`KEY=VALUE`) the two
                // labels do not share, else the first they share (a value listed twice).
                let segments = |r: &PlannedRun| -> Vec<String> {
                    r.label
                        .split(' ')
                        .filter(|s| s.contains('='))
                        .map(str::to_string)
                        .collect()
                };
                let (a, b) = (segments(first), segments(run));
                let blamed = b
                    .iter()
                    .chain(&a)
                    .find(|s| !(a.contains(s) && b.contains(s)))
                    .or_else(|| b.first())
                    .and_then(|s| s.split_once('='))
                    .map(|(k, _)| k.to_string());
                let at = blamed.as_deref().map(|k| self.varied_at(k));
                return Err(source.error(
                    at.as_deref(),
                    format!(
                        "runs `{}` and `{}` resolve to the same config ({}): {} lists a value twice, or a key's default",
                        first.label,
                        run.label,
                        run.id,
                        at.as_deref().map_or("[sweep] or [ablate]".to_string(), |k| format!("`{k}`"))
                    ),
                ));
            }
        }
        Ok(runs)
    }

    /// Rejects a hyperparameter set in the file (directly, or varied) that `algo` does not
    /// use: PPO's clipping keys under A2C and REINFORCE, REINFORCE's episode keys under the
    /// others. Accepting them would silently run identical configs.
    fn check_keys_used_by(&self, algo: Algo) -> Result<(), RunnerError> {
        const PPO_ONLY: [&str; 3] = ["clip_coef", "clip_vloss", "target_kl"];
        const REINFORCE_ONLY: [&str; 4] =
            ["baseline", "batch", "num_episodes", "normalize_returns"];
        let unused = |k: &str| match algo {
            Algo::Ppo => REINFORCE_ONLY.contains(&k),
            Algo::A2c => REINFORCE_ONLY.contains(&k) || PPO_ONLY.contains(&k),
            Algo::Reinforce => PPO_ONLY.contains(&k),
        };
        let varied = self.sweep.keys().chain(self.ablate.keys());
        let set = self
            .agent
            .keys()
            .map(|k| (Self::agent_key(k), Self::agent_key(k)))
            .chain(varied.filter_map(|k| {
                k.strip_prefix("algo.")
                    .map(|_| (k.clone(), self.varied_at(k)))
            }));
        for (key, at) in set {
            let name = key.strip_prefix("algo.").unwrap_or(&key);
            if unused(name) {
                return Err(self.source.error(
                    Some(&at),
                    format!(
                        "`{key}` is not used by {} (it would run identical configs): remove it, or give it only to the algorithms that use it, in their own file",
                        algo.name()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// A failed [`RunConfig::check`] as a config error at the key it names.
    fn check_error(
        &self,
        e: &RunnerError,
        env: &str,
        algo: Algo,
        point: &[(String, toml::Value)],
        kind: TrainerKind,
    ) -> RunnerError {
        let name = match e {
            RunnerError::Agent(pdmrl_agents::AgentError::InvalidConfig { name, .. }) => {
                if name.starts_with("trainer.") {
                    name.to_string()
                } else {
                    Self::agent_key(name)
                }
            }
            RunnerError::Agent(pdmrl_agents::AgentError::LocalLoss(
                pdmrl_agents::LocalLossError::InvalidOption { name, .. },
            )) => format!("trainer.{name}"),
            RunnerError::Env(_) => "env.id".to_string(),
            _ => String::new(),
        };
        let key = if point.iter().any(|(k, _)| *k == name) {
            self.varied_at(&name)
        } else if name == "run.total_timesteps" && matches!(self.budget, Budget::PerEnv(_)) {
            format!("run.total_timesteps.{env}")
        } else {
            name
        };
        let default = if key.is_empty() || self.source.has(&key) {
            String::new()
        } else {
            format!(
                " (not set in the file: the default of {} on {env}; set it in [{}])",
                algo.name(),
                key.split('.').next().unwrap_or("algo")
            )
        };
        self.source.error(
            (!key.is_empty()).then_some(key.as_str()),
            format!("{e}{default}, for {env} with trainer `{kind}`"),
        )
    }
}

/// A value as labels show it: a list of three or more equal values as `[x]*n` (e.g. the
/// hidden sizes of a deep network), anything else as TOML writes it.
fn short_value(v: &toml::Value) -> String {
    if let toml::Value::Array(items) = v
        && items.len() >= 3
        && items.iter().all(|x| x == &items[0])
    {
        return format!("[{}]*{}", items[0], items.len());
    }
    v.to_string()
}

/// The points of a sweep: every combination of the listed values, keys in order; one
/// empty point without a sweep.
fn sweep_points(sweep: &BTreeMap<String, Vec<toml::Value>>) -> Vec<Vec<(String, toml::Value)>> {
    let mut points: Vec<Vec<(String, toml::Value)>> = vec![Vec::new()];
    for (key, values) in sweep {
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
    points
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
/// thread), with a checkpoint every `checkpoint_every` updates. A run whose `summary.json`
/// exists and whose `config.toml` equals its resolved config is skipped; a run with the
/// same config and a checkpoint is resumed from it; any other run is (re)started from
/// scratch.
///
/// `progress` receives what happens to each run as it happens ([`RunEvent`]): skipped,
/// started or resumed (with the step it resumes at), steps trained, completed or failed.
///
/// # Errors
/// Only for a failure to build the thread pool; failed runs are listed in the report.
pub fn run_experiment(
    runs: &[PlannedRun],
    dir: &Path,
    jobs: usize,
    checkpoint_every: usize,
    registry: &Registry,
    progress: &(dyn Fn(RunEvent<'_>) + Sync),
) -> Result<ExperimentReport, RunnerError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.clamp(1, runs.len().max(1)))
        .build()
        .map_err(|e| RunnerError::Input(format!("cannot start {jobs} worker threads: {e}")))?;
    // A run complete in another experiment's folder is copied, not trained again.
    let mut copied = Vec::new();
    for run in runs {
        if copy_from_siblings(run, dir)? {
            copied.push(run.id.clone());
        }
    }
    // Complete runs are reported first, so that progress counts them from the start.
    let up_to_date: Vec<bool> = runs
        .iter()
        .map(|run| is_up_to_date(&dir.join(&run.id), &run.config))
        .collect();
    for (run, _) in runs.iter().zip(&up_to_date).filter(|(_, done)| **done) {
        progress(RunEvent::Skipped {
            id: &run.id,
            steps: run_steps(&run.config) as u64,
        });
    }
    let outcomes: Vec<(String, Result<bool, RunnerError>)> = pool.install(|| {
        runs.par_iter()
            .zip(&up_to_date)
            .map(|(run, &complete)| {
                let out = dir.join(&run.id);
                let (id, steps) = (run.id.as_str(), run_steps(&run.config) as u64);
                let outcome = if complete {
                    Ok(false)
                } else {
                    // Steps done so far (resumed at, then trained): the rest of a failed
                    // run is never trained.
                    let done = AtomicU64::new(0);
                    let report = |p: RunProgress| match p {
                        RunProgress::Start { at } => {
                            done.store(at, Ordering::Relaxed);
                            progress(RunEvent::Started {
                                id,
                                resumed_at: at,
                                steps,
                            });
                        }
                        RunProgress::Trained { steps } => {
                            done.fetch_add(steps, Ordering::Relaxed);
                            progress(RunEvent::Trained { steps });
                        }
                    };
                    let options = RunOptions {
                        force: true,
                        resume: is_resumable(&out, &run.config),
                        checkpoint_every,
                        ..RunOptions::new(&report)
                    };
                    let outcome = train_run(&run.config, registry, &out, &options).map(|_| true);
                    match &outcome {
                        Ok(_) => progress(RunEvent::Completed { id }),
                        Err(_) => progress(RunEvent::Failed {
                            id,
                            untrained: steps.saturating_sub(done.load(Ordering::Relaxed)),
                        }),
                    }
                    outcome
                };
                (run.id.clone(), outcome)
            })
            .collect()
    });
    let mut report = ExperimentReport::default();
    for (id, outcome) in outcomes {
        match outcome {
            Ok(true) => report.done.push(id),
            Ok(false) if copied.contains(&id) => report.copied.push(id),
            Ok(false) => report.skipped.push(id),
            Err(e) => report.failed.push((id, e.to_string())),
        }
    }
    Ok(report)
}

/// The files of a complete run that a copy takes, `summary.json` last (its presence marks
/// the copy complete); `updates.csv` where the source has it.
const RUN_FILES: [&str; 5] = [
    "config.toml",
    "metrics.csv",
    "eval.csv",
    "updates.csv",
    "summary.json",
];

/// A run cache across experiments: if `dir/<run id>` does not exist and a folder of the
/// same name beside `dir` (`dir/../<other experiment>/<run id>`) holds the run complete
/// with the same config, copies its result files into `dir/<run id>` and returns true.
/// Runs are deterministic (same config and seed, same bits: the determinism tests), so the
/// copy is the run this experiment would train. The files are copied through temporary
/// names, `summary.json` last, so an interrupted copy is an incomplete run that is trained
/// again.
///
/// # Errors
/// [`RunnerError::Io`] naming a file that cannot be copied.
pub fn copy_from_siblings(run: &PlannedRun, dir: &Path) -> Result<bool, RunnerError> {
    let out = dir.join(&run.id);
    if out.exists() {
        return Ok(false);
    }
    let Some(parent) = dir.parent() else {
        return Ok(false);
    };
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Ok(false);
    };
    let mut siblings: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path().join(&run.id))
        .filter(|p| p.parent() != Some(dir) && is_up_to_date(p, &run.config))
        .collect();
    // Runs written by the current code first (older ones lack fields newer tables show,
    // such as the entropy and the mid-run diagnostics), then by path.
    siblings.sort_by_key(|p| (!in_current_format(p), p.clone()));
    let Some(source) = siblings.first() else {
        return Ok(false);
    };
    std::fs::create_dir_all(&out).map_err(|e| RunnerError::io("cannot create folder", &out, e))?;
    for name in RUN_FILES {
        let from = source.join(name);
        if !from.is_file() {
            continue;
        }
        let bytes = std::fs::read(&from).map_err(|e| RunnerError::io("cannot read", &from, e))?;
        crate::atomic::write_atomic(&out.join(name), &bytes)?;
    }
    Ok(true)
}

/// Whether `dir/summary.json` is exactly what the current code writes for it: it reads
/// back into [`crate::run::Summary`] and writes out to the same text. A run completed by
/// older code holds the same returns but not every field the current code records.
fn in_current_format(dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join("summary.json")) else {
        return false;
    };
    serde_json::from_str::<crate::run::Summary>(&text)
        .ok()
        .and_then(|s| serde_json::to_string_pretty(&s).ok())
        .is_some_and(|again| again == text)
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
