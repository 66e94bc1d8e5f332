//! What an agent is built from: [`AgentSpec`], the algorithm's hyperparameters and the
//! trainer's options, checked together ([`check_trainer_fits`] for what holds between
//! them).

use crate::config::AgentConfig;
use crate::error::AgentError;
use crate::trainer::{TrainerConfig, TrainerKind};
use crate::valid::{Check, Valid};

/// What an [`crate::Agent`] is built from: the algorithm's hyperparameters and the
/// trainer's options, checked together (each alone, then [`check_trainer_fits`]).
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSpec {
    /// The algorithm's hyperparameters.
    pub config: AgentConfig,
    /// The trainer's options.
    pub trainer: TrainerConfig,
}

impl Check for AgentSpec {
    type Error = AgentError;
    fn check_ref(&self) -> Result<(), AgentError> {
        self.config.check_ref()?;
        self.trainer.check_ref()?;
        check_trainer_fits(&self.config, &self.trainer)
    }
}

impl Valid<AgentSpec> {
    /// The checked parts.
    pub fn split(self) -> (Valid<AgentConfig>, Valid<TrainerConfig>) {
        let AgentSpec { config, trainer } = self.into_inner();
        (
            Valid::from_checked_part(config),
            Valid::from_checked_part(trainer),
        )
    }
}

/// Checks that hold between the algorithm's and the trainer's options: a local trainer needs
/// at least one hidden layer and minibatches of at least 2 rows (pairs).
///
/// # Errors
/// [`AgentError::InvalidConfig`] naming the key.
pub fn check_trainer_fits(config: &AgentConfig, trainer: &TrainerConfig) -> Result<(), AgentError> {
    let local = trainer.kind() != TrainerKind::Bp;
    if local && config.hidden_sizes.is_empty() {
        return Err(AgentError::InvalidConfig {
            name: "hidden_sizes",
            value: "[]".into(),
            allowed: format!(
                "trainer `{}` needs at least one hidden layer",
                trainer.kind()
            ),
        });
    }
    // The PDM loss is measured under every trainer (the diagnostics of `bp` and `frozen`
    // too), so its pairs must fit the minibatches whatever the trainer.
    if let pdmrl_local_loss::Pairs::Sampled { k } = trainer.local().pdm.pairs
        && !config.hidden_sizes.is_empty()
    {
        if config.episode_batches() {
            // Batch sizes vary; no fixed `k` fits every size.
            return Err(AgentError::InvalidConfig {
                name: "trainer.pdm.pairs.sampled.k",
                value: k.to_string(),
                allowed: "sampled pairs need fixed-size minibatches: use batch = \"steps\" with REINFORCE".into(),
            });
        }
        if k >= config.minibatch_size() {
            return Err(AgentError::InvalidConfig {
                name: "trainer.pdm.pairs.sampled.k",
                value: k.to_string(),
                allowed: format!(
                    "must be below the minibatch size num_envs * num_steps / num_minibatches = {}",
                    config.minibatch_size()
                ),
            });
        }
    }
    if !local || config.episode_batches() {
        return Ok(());
    }
    if config.minibatch_size() < 2 {
        return Err(AgentError::InvalidConfig {
            name: "num_minibatches",
            value: config.num_minibatches.to_string(),
            allowed: format!(
                "trainer `{}` needs minibatches of at least 2 rows: num_envs * num_steps / num_minibatches = {}",
                trainer.kind(),
                config.minibatch_size()
            ),
        });
    }
    Ok(())
}
