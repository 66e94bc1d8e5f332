//! The error type of the runner library.

use std::path::PathBuf;

/// Errors of the runner library. The `pdmrl` binary and `xtask` wrap them with `anyhow`
/// context.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// From the agent (invalid hyperparameters, env errors during training, ...).
    #[error(transparent)]
    Agent(#[from] pdmrl_agents::AgentError),
    /// Training stopped with an error; what was written is kept.
    #[error(
        "{error}; the metrics so far are in `{metrics}`, the last good checkpoint is {checkpoint}"
    )]
    Training {
        /// The agent's error (it names the update, network and layer).
        error: pdmrl_agents::AgentError,
        /// The metrics file written so far.
        metrics: PathBuf,
        /// The last good checkpoint folder, or `none yet`.
        checkpoint: String,
    },
    /// From the environment layer (unknown id, invalid action or state, ...).
    #[error(transparent)]
    Env(#[from] pdmrl_envs::EnvError),
    /// A file could not be read or written.
    #[error("{action} `{path}`: {cause}")]
    Io {
        /// What was being done, e.g. "cannot write".
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause (part of the message, so it is printed once).
        cause: std::io::Error,
    },
    /// A config file that does not parse or validate.
    #[error("invalid config `{}`{}: {message}", path.display(), line.map_or(String::new(), |l| format!(", line {l}")))]
    Config {
        /// The file.
        path: PathBuf,
        /// The 1-based line of the offending key, where the file has it.
        line: Option<usize>,
        /// What is wrong, naming the key.
        message: String,
    },
    /// Invalid command-line or JSON input.
    #[error("{0}")]
    Input(String),
    /// Another process is writing a run into the same folder.
    #[error(
        "another process is writing a run into `{0}` (its .lock is held); wait for it or pick another --out"
    )]
    RunLocked(PathBuf),
    /// The output folder already holds a complete run.
    #[error(
        "`{0}` already holds a complete run (summary.json exists); pass --force to overwrite it"
    )]
    RunExists(PathBuf),
    /// A results file that cannot be parsed.
    #[error("cannot parse `{path}`: {message}")]
    Results {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// From figure rendering.
    #[error(transparent)]
    Figure(#[from] crate::figures::FigureError),
}

impl RunnerError {
    /// An [`RunnerError::Io`] error.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        RunnerError::Io {
            action,
            path: path.into(),
            cause: source,
        }
    }
}
