//! An [`Experiment`] expanded into runs (envs × algorithms × sweep points × trainers ×
//! seeds), each resolved and checked before any starts: [`Experiment::plan`], the run's
//! id ([`run_id`]) and label, and the slices of the run list ([`Shard`]).

use super::file::{Budget, Experiment, bundle_options};
use crate::error::RunnerError;
use crate::resolve::{CheckedRun, RunConfig, dotted, is_continuous, leaves, merge_tables, overlay};
use crate::schema::{self, Source};
use pdmrl_agents::{AgentConfig, Algo, TrainerKind, TrainerOptions};
use pdmrl_envs::Registry;
use std::collections::BTreeMap;

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
    /// Its resolved config, checked.
    pub config: CheckedRun,
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
    let Err(whole) = overlay(base, overrides, what) else {
        return overlay(base, overrides, what);
    };
    let mut items = Vec::new();
    leaves(overrides, "", &mut items);
    for (key, value) in items {
        if let Err(e) = overlay(base, &dotted(&key, value.clone()), what) {
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
        self.check_trainer_options_read()?;
        let mut runs = Vec::new();
        for env in &self.envs {
            let continuous = is_continuous(registry, env)
                .map_err(|e| self.source.error(Some("env.id"), e.to_string()))?;
            for &algo in &self.algos {
                self.check_keys_used_by(algo)?;
                let base = self.base_agent(env, algo, continuous)?;
                for point in self.points() {
                    self.plan_point(registry, env, algo, &base, &point, &mut runs)?;
                }
            }
        }
        self.check_distinct_ids(&runs)?;
        Ok(runs)
    }

    /// Rejects a trainer option, set or varied, that no trainer of the experiment reads.
    fn check_trainer_options_read(&self) -> Result<(), RunnerError> {
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
                return Err(self.source.error(
                    Some(&at),
                    format!(
                        "no trainer of this experiment ({}) reads `{key}`: it would change no run",
                        names.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The agent config of `algo` on `env` before any sweep point: the defaults, the
    /// file's keys, and the budget.
    fn base_agent(
        &self,
        env: &str,
        algo: Algo,
        continuous: bool,
    ) -> Result<AgentConfig, RunnerError> {
        let defaults = AgentConfig::defaults(algo, env, continuous);
        let mut base = overlay_located(
            &self.source,
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
        Ok(base)
    }

    /// Adds the runs of one point (every trainer and seed) of `algo` on `env` to `runs`,
    /// each checked; a trainer that ignores some of the point's keys runs once for the
    /// points that differ only in those.
    fn plan_point(
        &self,
        registry: &Registry,
        env: &str,
        algo: Algo,
        base: &AgentConfig,
        point: &[(String, toml::Value)],
        runs: &mut Vec<PlannedRun>,
    ) -> Result<(), RunnerError> {
        let (agent, base_trainer) = self.resolve_point(base, point)?;
        for &kind in &self.trainers {
            let ignores_some = point.iter().any(|(k, _)| {
                k.strip_prefix("trainer.")
                    .is_some_and(|o| !kind.uses_option(o))
            });
            for &seed in &self.seeds {
                let config = RunConfig::new(
                    env.to_string(),
                    seed,
                    TrainerOptions {
                        kind,
                        ..base_trainer
                    }
                    .config(),
                    agent.clone(),
                );
                let config = config
                    .check(registry)
                    .map_err(|e| self.check_error(&e, env, algo, point, kind))?;
                let id = run_id(&config);
                if ignores_some && runs.iter().any(|r: &PlannedRun| r.id == id) {
                    continue;
                }
                runs.push(PlannedRun {
                    id,
                    label: self.label(algo, kind, point),
                    bp_label: self.label(algo, TrainerKind::Bp, point),
                    frozen_label: self.label(algo, TrainerKind::Frozen, point),
                    config,
                });
            }
        }
        Ok(())
    }

    /// The agent config (`base` with the point's agent keys) and the trainer options (the
    /// file's, with the point's on top) at `point`; an error names the key as the file
    /// gives it (`sweep.KEY` or `ablate.KEY` for a varied one).
    fn resolve_point(
        &self,
        base: &AgentConfig,
        point: &[(String, toml::Value)],
    ) -> Result<(AgentConfig, TrainerOptions), RunnerError> {
        let (mut agent_over, mut trainer_over) = (toml::Table::new(), self.trainer.clone());
        for (key, value) in point {
            let (section, rest) = key.split_once('.').unwrap_or((key, ""));
            if section == "trainer" {
                merge_tables(&mut trainer_over, &dotted(rest, value.clone()));
            } else {
                agent_over.insert(rest.to_string(), value.clone());
            }
        }
        // `k` is a dotted leaf (`total_timesteps.CartPole-v1` for a table value): the
        // varied key is its first segment.
        let sweep_key = |k: &str| {
            let top = Self::agent_key(k.split('.').next().unwrap_or(k));
            if point.iter().any(|(p, _)| *p == top) {
                self.varied_at(&top)
            } else {
                Self::agent_key(k)
            }
        };
        let agent = overlay_located(
            &self.source,
            base,
            &agent_over,
            "agent settings",
            &sweep_key,
        )?;
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
        let trainer = overlay_located(
            &self.source,
            &TrainerOptions::default(),
            &trainer_over,
            "trainer settings",
            &trainer_key,
        )?;
        Ok((agent, trainer))
    }

    /// The label of the runs of `kind` (and `algo`, if the experiment has several) at
    /// `point`. It names only the point's keys the trainer reads: `bp` and `frozen` at a
    /// point that varies only PDM options are the one `bp` and `frozen` group, run once
    /// (their configs are equal: [`TrainerOptions::config`] drops what they do not read).
    fn label(&self, algo: Algo, kind: TrainerKind, point: &[(String, toml::Value)]) -> String {
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
    }

    /// Rejects two runs that resolve to the same config (the same id), blaming the varied
    /// key that makes them equal.
    fn check_distinct_ids(&self, runs: &[PlannedRun]) -> Result<(), RunnerError> {
        let mut ids = std::collections::BTreeMap::new();
        for run in runs {
            let Some(first) = ids.insert(run.id.clone(), run) else {
                continue;
            };
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
            return Err(self.source.error(
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
        Ok(())
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

/// The folder name of a run: `<algo>-<env>-<trainer>-seed<seed>-<hash>`, the hash being
/// the low 32 bits of FNV-1a over its resolved `config.toml` without the results version
/// ([`RunConfig::identity_text`]), in hex: a run of another results version (stale) has
/// the id of the current one, in the same folder.
pub fn run_id(config: &RunConfig) -> String {
    let text = config.identity_text();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in text.as_bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!(
        "{}-{}-{}-seed{}-{:08x}",
        config.agent.algo,
        config.env_id,
        config.trainer.kind().name(),
        config.seed,
        h as u32
    )
    .replace('/', "_")
}
