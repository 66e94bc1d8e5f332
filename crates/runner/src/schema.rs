//! The experiment file format: sections, the keys each accepts, and where in the file a
//! key is (so that every error names the file, the key and its line).
//!
//! ```toml
//! name = "classic_control"          # results/<name>/
//!
//! [env]
//! id = ["CartPole-v1", "Acrobot-v1"]  # one id or a list: the runs are made for each
//!
//! [algo]
//! name = "ppo"                      # ppo | a2c | reinforce (required)
//! learning_rate = 2.5e-4            # any hyperparameter, CleanRL's names (AgentConfig)
//!
//! [network]
//! hidden_sizes = [64, 64]           # hidden_sizes, activation, init_log_std
//!
//! [trainer]
//! kind = ["bp", "pdm", "pdm_guided", "frozen"]  # one or a list (required)
//! local_lr = 1e-3                   # trainer options: local_lr, local_lr_schedule,
//!                                   # local_until, local_adam_eps, local_optimizer,
//!                                   # local_momentum, local_steps, scale_features,
//!                                   # feature_ema, features, guidance.*, pdm.* (bp and
//!                                   # frozen read none of them, pdm all but guidance.*:
//!                                   # varying one runs bp and frozen once)
//!
//! [run]
//! seeds = [1, 2, 3]                 # required; each trainer runs every seed
//! total_timesteps = 500000          # or a table per env id; default: the algorithm's
//! eval_every = 10000                # env steps between deterministic evaluations
//! eval_episodes = 10
//! checkpoint_every = 10             # updates between checkpoints
//!
//! [sweep]                           # each key a list; runs for the cartesian product
//! "algo.learning_rate" = [1e-3, 3e-4]
//! "network.hidden_sizes" = [[64, 64], [64, 64, 64, 64]]
//!
//! [ablate]                          # each key a list; each value runs on its own
//! "trainer.pdm.normalize" = ["max", "none"]   # runs: defaults, max, none
//! trainer = [{ local_adam_eps = 1e-2, local_steps = "iteration" }]  # a bundle of
//!                                   # trainer options, run together as one point
//! ```
//!
//! Every key not given takes the default of the algorithm for the env
//! ([`pdmrl_agents::AgentConfig::defaults`]: CleanRL's `ppo.py` for PPO, SB3 for A2C) or
//! of the trainer ([`pdmrl_agents::TrainerOptions`]: docs/method.md).

use crate::error::RunnerError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::de::{DeTable, DeValue};

/// The sections of an experiment file (and the top-level `name`).
pub const TOP_LEVEL: [&str; 8] = [
    "name", "env", "algo", "network", "trainer", "run", "sweep", "ablate",
];

/// The [`pdmrl_agents::AgentConfig`] keys set in `[network]`.
pub const NETWORK_KEYS: [&str; 3] = ["hidden_sizes", "activation", "init_log_std"];

/// The [`pdmrl_agents::AgentConfig`] keys set in `[run]` (besides `seeds` and
/// `checkpoint_every`, which are not agent settings).
pub const RUN_AGENT_KEYS: [&str; 3] = ["total_timesteps", "eval_every", "eval_episodes"];

/// All keys of `[run]`.
pub const RUN_KEYS: [&str; 5] = [
    "seeds",
    "total_timesteps",
    "eval_every",
    "eval_episodes",
    "checkpoint_every",
];

/// The [`pdmrl_agents::AgentConfig`] keys set in `[algo]` (besides `name`): every key
/// that is neither a network nor a run key.
pub fn algo_keys() -> Vec<String> {
    let defaults = toml::Table::try_from(pdmrl_agents::AgentConfig::default())
        .expect("AgentConfig serialises to a table");
    // Optional keys are absent from the serialised defaults.
    let mut keys: Vec<String> = defaults
        .keys()
        .cloned()
        .chain(std::iter::once("target_kl".to_string()))
        .filter(|k| {
            k != "algo"
                && !NETWORK_KEYS.contains(&k.as_str())
                && !RUN_AGENT_KEYS.contains(&k.as_str())
        })
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// The section (`algo`, `network` or `run`) that holds an [`pdmrl_agents::AgentConfig`] key.
pub fn section_of_agent_key(key: &str) -> &'static str {
    if NETWORK_KEYS.contains(&key) {
        "network"
    } else if RUN_AGENT_KEYS.contains(&key) {
        "run"
    } else {
        "algo"
    }
}

/// An experiment file's text and the line of each of its keys.
#[derive(Debug, Clone)]
pub struct Source {
    /// The file.
    pub path: PathBuf,
    /// Dotted key path (`algo.learning_rate`, `sweep.algo.learning_rate`) to its 1-based
    /// line.
    lines: BTreeMap<String, usize>,
}

/// The 1-based line of byte `offset` of `text`.
fn line_at(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn index(table: &DeTable, prefix: &str, text: &str, out: &mut BTreeMap<String, usize>) {
    for (key, value) in table.iter() {
        let name: &str = key.get_ref();
        let path = if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}.{name}")
        };
        out.entry(path.clone())
            .or_insert_with(|| line_at(text, key.span().start));
        if let DeValue::Table(inner) = value.get_ref() {
            index(inner, &path, text, out);
        }
    }
}

/// A TOML error in `text` (the contents of `path`) as a [`RunnerError::Config`] with its
/// line.
pub fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> RunnerError {
    RunnerError::Config {
        path: path.to_path_buf(),
        line: e.span().map(|s| line_at(text, s.start)),
        message: format!("not valid: {}", e.message().trim_end()),
    }
}

impl Source {
    /// Reads and parses `path`.
    ///
    /// # Errors
    /// [`RunnerError::Io`] if it cannot be read; [`RunnerError::Config`] with the line of a
    /// TOML syntax error.
    pub fn read(path: &Path) -> Result<(Source, toml::Table), RunnerError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| RunnerError::io("cannot read", path, e))?;
        Source::parse(path, &text)
    }

    /// Parses `text`, the contents of `path`.
    ///
    /// # Errors
    /// [`RunnerError::Config`] with the line of a TOML syntax error.
    pub fn parse(path: &Path, text: &str) -> Result<(Source, toml::Table), RunnerError> {
        let syntax = |e: toml::de::Error| toml_error(path, text, &e);
        let document = DeTable::parse(text).map_err(syntax)?;
        let mut lines = BTreeMap::new();
        index(document.get_ref(), "", text, &mut lines);
        let table: toml::Table = toml::from_str(text).map_err(syntax)?;
        Ok((
            Source {
                path: path.to_path_buf(),
                lines,
            },
            table,
        ))
    }

    /// The line of `key` (dotted), or of its nearest enclosing key given in the file.
    pub fn line(&self, key: &str) -> Option<usize> {
        let mut key = key;
        loop {
            if let Some(&line) = self.lines.get(key) {
                return Some(line);
            }
            key = &key[..key.rfind('.')?];
        }
    }

    /// Whether the file gives `key` (dotted) itself.
    pub fn has(&self, key: &str) -> bool {
        self.lines.contains_key(key)
    }

    /// A [`RunnerError::Config`] about `key` (dotted; its line if the file has it or an
    /// enclosing table), or about the file as a whole.
    pub fn error(&self, key: Option<&str>, message: impl Into<String>) -> RunnerError {
        RunnerError::Config {
            path: self.path.clone(),
            line: key.and_then(|k| self.line(k)),
            message: message.into(),
        }
    }
}

/// One value or a list of them, as `[env] id` and `[trainer] kind` accept.
///
/// # Errors
/// A message if `value` is neither a `T` nor a non-empty list of `T`.
pub fn one_or_many<T: serde::de::DeserializeOwned>(
    value: &toml::Value,
    what: &str,
) -> Result<Vec<T>, String> {
    let items = match value {
        toml::Value::Array(items) if items.is_empty() => {
            return Err(format!("{what}: the list is empty"));
        }
        toml::Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    };
    items
        .into_iter()
        .map(|v| {
            let shown = v.to_string();
            v.try_into::<T>()
                .map_err(|e| format!("{what}: {shown} is not allowed: {}", e.message().trim()))
        })
        .collect()
}

/// The keys of `table` not in `allowed`, as an error naming the first with its line.
///
/// # Errors
/// [`RunnerError::Config`] for the first unknown key, listing what is allowed.
pub fn deny_unknown(
    source: &Source,
    section: &str,
    table: &toml::Table,
    allowed: &[&str],
) -> Result<(), RunnerError> {
    match table.keys().find(|k| !allowed.contains(&k.as_str())) {
        None => Ok(()),
        Some(key) => {
            let dotted = if section.is_empty() {
                key.clone()
            } else {
                format!("{section}.{key}")
            };
            let place = if section.is_empty() {
                "at the top level".to_string()
            } else {
                format!("in [{section}]")
            };
            Err(source.error(
                Some(&dotted),
                format!(
                    "unknown key `{key}` {place}; allowed: {}",
                    allowed.join(", ")
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_keys_headers_and_quoted_sweep_keys() {
        let text = "name = \"x\"\n\n[algo]\nname = \"ppo\"\nlearning_rate = 1e-3\n[trainer.pdm]\nnormalize = \"max\"\n[sweep]\n\"algo.gamma\" = [0.9]\n";
        let (source, table) = Source::parse(Path::new("x.toml"), text).unwrap();
        assert_eq!(source.line("name"), Some(1));
        assert_eq!(source.line("algo"), Some(3));
        assert_eq!(source.line("algo.learning_rate"), Some(5));
        assert_eq!(source.line("trainer.pdm.normalize"), Some(7));
        assert_eq!(source.line("sweep.algo.gamma"), Some(9));
        // A key not in the file falls back to its section, or to nothing.
        assert_eq!(source.line("algo.gamma"), Some(3));
        assert_eq!(source.line("run.seeds"), None);
        assert!(source.has("algo.learning_rate") && !source.has("algo.gamma"));
        assert_eq!(table["algo"]["learning_rate"].as_float(), Some(1e-3));
    }

    #[test]
    fn syntax_errors_carry_their_line() {
        let err = Source::parse(Path::new("x.toml"), "name = \"x\"\n[algo]\nname = \n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("x.toml") && err.contains("line 3"), "{err}");
    }

    #[test]
    fn algo_keys_partition_the_agent_config() {
        let keys = algo_keys();
        assert!(keys.contains(&"learning_rate".to_string()));
        assert!(keys.contains(&"target_kl".to_string()));
        for k in NETWORK_KEYS.iter().chain(&RUN_AGENT_KEYS).chain(&["algo"]) {
            assert!(!keys.contains(&k.to_string()), "{k}");
        }
        assert_eq!(section_of_agent_key("hidden_sizes"), "network");
        assert_eq!(section_of_agent_key("eval_every"), "run");
        assert_eq!(section_of_agent_key("gamma"), "algo");
    }

    #[test]
    fn one_or_many_accepts_a_value_or_a_list() {
        let v: Vec<String> = one_or_many(&toml::Value::from("a"), "id").unwrap();
        assert_eq!(v, ["a"]);
        let v: Vec<u64> =
            one_or_many(&toml::Value::Array(vec![1.into(), 2.into()]), "seeds").unwrap();
        assert_eq!(v, [1, 2]);
        assert!(one_or_many::<u64>(&toml::Value::Array(vec![]), "seeds").is_err());
        assert!(one_or_many::<u64>(&toml::Value::from("a"), "seeds").is_err());
    }
}
