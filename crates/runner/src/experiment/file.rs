//! An experiment file read and checked section by section and key by key into an
//! [`Experiment`] ([`crate::schema`] lists the keys); every error names the file, the
//! key and its line.

use crate::error::RunnerError;
use crate::resolve::{KeyHome, key_home, leaves, trainer_keys};
use crate::run::DEFAULT_CHECKPOINT_EVERY;
use crate::schema::{self, Source};
use pdmrl_agents::{Algo, TrainerKind};
use std::collections::BTreeMap;
use std::path::Path;

/// Environment steps per run: the algorithm's default, one number, or one per env id.
#[derive(Debug, Clone, PartialEq)]
pub enum Budget {
    /// The default of the algorithm for each env
    /// ([`AgentConfig::defaults`](pdmrl_agents::AgentConfig::defaults)).
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
    /// [`AgentConfig`](pdmrl_agents::AgentConfig) keys set by `[algo]`, `[network]` and
    /// `[run]` (CleanRL names; `total_timesteps` is in `budget`).
    pub agent: toml::Table,
    /// [`TrainerOptions`](pdmrl_agents::TrainerOptions) keys set by `[trainer]` (without
    /// `kind`).
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

/// The options a bundle of `[ablate] trainer` sets, as dotted keys with their values
/// (`trainer.local_steps`, `trainer.guidance.weight`, ...); none for a non-table (which
/// the file check rejects).
pub(super) fn bundle_options(bundle: &toml::Value) -> Vec<(String, toml::Value)> {
    let mut set = Vec::new();
    if let toml::Value::Table(t) = bundle {
        leaves(t, "trainer", &mut set);
    }
    set
}

/// The section `name` of an experiment file (empty if absent).
fn section(source: &Source, doc: &toml::Table, name: &str) -> Result<toml::Table, RunnerError> {
    match doc.get(name) {
        None => Ok(toml::Table::new()),
        Some(toml::Value::Table(t)) => Ok(t.clone()),
        Some(other) => Err(source.error(
            Some(name),
            format!(
                "`{name}` must be a section ([{name}]), not a {}",
                other.type_str()
            ),
        )),
    }
}

/// The experiment's `name`: 1 to 64 ASCII letters, digits, `_` and `-`, not reserved.
fn parse_name(source: &Source, doc: &toml::Table) -> Result<String, RunnerError> {
    let err = |message: String| source.error(Some("name"), message);
    let name = match doc.get("name") {
        Some(toml::Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(err(format!(
                "`name` must be a string, not a {}",
                other.type_str()
            )));
        }
        None => {
            return Err(source.error(None, "`name` is missing: the results go to results/<name>/"));
        }
    };
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !name_ok {
        return Err(err(format!(
            "`name` = {name:?} must be 1 to 64 ASCII letters, digits, `_` and `-` (it names the folder results/<name>/)"
        )));
    }
    if ["figures", "memory"].contains(&name.as_str()) {
        return Err(err(format!(
            "`name` = {name:?} is reserved: results/{name}/ holds the project's own output"
        )));
    }
    Ok(name)
}

/// Rejects a value that `values` (the list of the file key `key`) holds twice; `describe`
/// names it in the message (`` `CartPole-v1` ``, `seed 3`, ...).
fn check_listed_once<T: PartialEq>(
    source: &Source,
    key: &str,
    values: &[T],
    describe: impl Fn(&T) -> String,
) -> Result<(), RunnerError> {
    match (0..values.len()).find(|&i| values[..i].contains(&values[i])) {
        Some(dup) => Err(source.error(
            Some(key),
            format!("{} is listed twice in `{key}`", describe(&values[dup])),
        )),
        None => Ok(()),
    }
}

/// The required list key `key` (`section.name`) given as `value`: one value or a list of
/// distinct ones; `missing` is the error when it is absent, `expected` names what its
/// values must be, `describe` names a value listed twice.
fn distinct_list<T: serde::de::DeserializeOwned + PartialEq>(
    source: &Source,
    key: &str,
    value: Option<&toml::Value>,
    missing: &str,
    expected: &str,
    describe: impl Fn(&T) -> String,
) -> Result<Vec<T>, RunnerError> {
    let section = key.split('.').next().unwrap_or(key);
    let value = value.ok_or_else(|| source.error(Some(section), missing))?;
    let values: Vec<T> =
        schema::one_or_many(value, expected).map_err(|m| source.error(Some(key), m))?;
    check_listed_once(source, key, &values, describe)?;
    Ok(values)
}

/// `[env] id`: one env id or a list of distinct ones.
fn parse_envs(source: &Source, env: &toml::Table) -> Result<Vec<String>, RunnerError> {
    schema::deny_unknown(source, "env", env, &["id"])?;
    distinct_list(
        source,
        "env.id",
        env.get("id"),
        "`[env] id` is missing: a Gymnasium env id or a list of them, e.g. id = \"CartPole-v1\"",
        "`env.id`",
        |e: &String| format!("`{e}`"),
    )
}

/// `[algo] name` (taken out of the `[algo]` table `agent`, whose other keys must be
/// hyperparameters): one algorithm or a list of distinct ones.
fn parse_algos(source: &Source, agent: &mut toml::Table) -> Result<Vec<Algo>, RunnerError> {
    let algo_keys = schema::algo_keys();
    let allowed: Vec<&str> = std::iter::once("name")
        .chain(algo_keys.iter().map(String::as_str))
        .collect();
    schema::deny_unknown(source, "algo", agent, &allowed)?;
    distinct_list(
        source,
        "algo.name",
        agent.remove("name").as_ref(),
        "`[algo] name` is missing: one or a list of ppo, a2c, reinforce",
        "`algo.name` (ppo, a2c or reinforce)",
        |a: &Algo| format!("`{}`", a.name()),
    )
}

/// `[trainer] kind` (taken out of the `[trainer]` table `trainer`, whose other keys must
/// be trainer options): one trainer or a list of distinct ones.
fn parse_trainers(
    source: &Source,
    trainer: &mut toml::Table,
) -> Result<Vec<TrainerKind>, RunnerError> {
    // Every key, those left out at their defaults (`local_until`, ...) included.
    let trainer_keys = trainer_keys();
    let allowed: Vec<&str> = trainer_keys.keys().map(String::as_str).collect();
    schema::deny_unknown(source, "trainer", trainer, &allowed)?;
    distinct_list(
        source,
        "trainer.kind",
        trainer.remove("kind").as_ref(),
        "`[trainer] kind` is missing: one or a list of bp, pdm, pdm_guided, frozen",
        "`trainer.kind`",
        |k: &TrainerKind| format!("trainer `{k}`"),
    )
}

/// `[run] seeds` (taken out of `run`): distinct non-negative integers.
fn parse_seeds(source: &Source, run: &mut toml::Table) -> Result<Vec<u64>, RunnerError> {
    distinct_list(
        source,
        "run.seeds",
        run.remove("seeds").as_ref(),
        "`[run] seeds` is missing: a list of non-negative integers, e.g. seeds = [1, 2, 3]",
        "`run.seeds` (non-negative integers)",
        |s: &u64| format!("seed {s}"),
    )
}

/// `value` of the file key `key` as an integer >= 1.
fn positive(source: &Source, key: &str, v: &toml::Value) -> Result<usize, RunnerError> {
    v.as_integer()
        .filter(|&n| n >= 1)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| source.error(Some(key), format!("`{key}` = {v} must be an integer >= 1")))
}

/// `[run] total_timesteps` (taken out of `run`): absent, one number, or one per env of
/// `envs` (every one of them).
fn parse_budget(
    source: &Source,
    run: &mut toml::Table,
    envs: &[String],
) -> Result<Budget, RunnerError> {
    let per_env = match run.remove("total_timesteps") {
        None => return Ok(Budget::Default),
        Some(toml::Value::Table(per_env)) => per_env,
        Some(v) => return Ok(Budget::All(positive(source, "run.total_timesteps", &v)?)),
    };
    let mut m = BTreeMap::new();
    for (id, v) in &per_env {
        let key = format!("run.total_timesteps.{id}");
        if !envs.contains(id) {
            return Err(source.error(
                Some(&key),
                format!(
                    "`run.total_timesteps` names `{id}`, which is not in `env.id` ({})",
                    envs.join(", ")
                ),
            ));
        }
        m.insert(id.clone(), positive(source, &key, v)?);
    }
    if let Some(missing) = envs.iter().find(|e| !m.contains_key(*e)) {
        return Err(source.error(
            Some("run.total_timesteps"),
            format!(
                "`run.total_timesteps` gives no budget for `{missing}`: list every env of `env.id`, or give one number"
            ),
        ));
    }
    Ok(Budget::PerEnv(m))
}

/// `[run] checkpoint_every` (taken out of `run`): an integer >= 0, by default
/// [`DEFAULT_CHECKPOINT_EVERY`].
fn parse_checkpoint_every(source: &Source, run: &mut toml::Table) -> Result<usize, RunnerError> {
    match run.remove("checkpoint_every") {
        None => Ok(DEFAULT_CHECKPOINT_EVERY),
        Some(v) => v
            .as_integer()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| {
                source.error(
                    Some("run.checkpoint_every"),
                    format!("`run.checkpoint_every` = {v} must be an integer >= 0 (updates; 0: only the last)"),
                )
            }),
    }
}

/// Rejects a key both swept and ablated, directly or by a bundle of `[ablate] trainer`.
fn check_varied_once(
    source: &Source,
    sweep: &BTreeMap<String, Vec<toml::Value>>,
    ablate: &BTreeMap<String, Vec<toml::Value>>,
) -> Result<(), RunnerError> {
    if let Some(both) = sweep.keys().find(|k| ablate.contains_key(*k)) {
        return Err(source.error(
            Some(&format!("ablate.{both}")),
            format!("`{both}` is in both [sweep] and [ablate]: give it in one of them"),
        ));
    }
    for bundle in ablate.get("trainer").into_iter().flatten() {
        let set = bundle_options(bundle);
        if let Some((both, _)) = set.iter().find(|(k, _)| sweep.contains_key(k)) {
            return Err(source.error(
                Some("ablate.trainer"),
                format!(
                    "`{both}` is set by a bundle of [ablate] trainer and swept in [sweep] too: give it in one place"
                ),
            ));
        }
    }
    Ok(())
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
        schema::deny_unknown(&source, "", doc, &schema::TOP_LEVEL)?;
        let name = parse_name(&source, doc)?;
        let envs = parse_envs(&source, &section(&source, doc, "env")?)?;

        let mut agent = section(&source, doc, "algo")?;
        let algos = parse_algos(&source, &mut agent)?;
        let network = section(&source, doc, "network")?;
        schema::deny_unknown(&source, "network", &network, &schema::NETWORK_KEYS)?;
        agent.extend(network);

        let mut trainer = section(&source, doc, "trainer")?;
        let trainers = parse_trainers(&source, &mut trainer)?;

        let mut run = section(&source, doc, "run")?;
        schema::deny_unknown(&source, "run", &run, &schema::RUN_KEYS)?;
        let seeds = parse_seeds(&source, &mut run)?;
        let budget = parse_budget(&source, &mut run, &envs)?;
        let checkpoint_every = parse_checkpoint_every(&source, &mut run)?;
        agent.extend(run);

        let sweep = Self::varied(&source, "sweep", section(&source, doc, "sweep")?)?;
        let ablate = Self::varied(&source, "ablate", section(&source, doc, "ablate")?)?;
        check_varied_once(&source, &sweep, &ablate)?;
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
    ) -> Result<BTreeMap<String, Vec<toml::Value>>, RunnerError> {
        let mut out = BTreeMap::new();
        for (key, values) in table {
            let at = format!("{section}.{key}");
            if section == "ablate" && key == "trainer" {
                out.insert(key, Self::bundles(source, &at, values)?);
                continue;
            }
            let (group, rest) = key.split_once('.').unwrap_or((&key, ""));
            // An agent key is one key of its section; a trainer option may be a key of
            // one of its tables (`trainer.pdm.normalize`).
            let ok = if group == "trainer" {
                let first = rest.split('.').next().unwrap_or("");
                key_home(group, first) == KeyHome::Trainer
            } else {
                key_home(group, rest) == KeyHome::Agent
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
    ) -> Result<Vec<toml::Value>, RunnerError> {
        let trainer_keys = trainer_keys();
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
}
