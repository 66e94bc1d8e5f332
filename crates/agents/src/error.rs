//! The error type of this crate.

use pdmrl_envs::EnvError;
use pdmrl_local_loss::LocalLossError;
use pdmrl_tensor::TensorError;

/// Everything that can stop an agent from being built or trained.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A hyperparameter outside its allowed range (checked before any work starts).
    #[error("invalid hyperparameter `{name}` = {value}: {allowed}")]
    InvalidConfig {
        /// Name as in configs (CleanRL's spelling), e.g. `num_minibatches`.
        name: &'static str,
        /// The value given, as text.
        value: String,
        /// What is allowed.
        allowed: String,
    },
    /// The algorithm does not support the environment's action space.
    #[error("{algo} does not support action space {space} of `{env}`")]
    UnsupportedActionSpace {
        /// Algorithm name.
        algo: &'static str,
        /// Environment id.
        env: String,
        /// The action space, as text.
        space: String,
    },
    /// A loss or parameter became NaN or infinite.
    #[error("non-finite {what} at update {update} in the {network} network")]
    NonFinite {
        /// 1-based update (iteration) number.
        update: usize,
        /// `actor` or `critic`.
        network: &'static str,
        /// What was non-finite and where, e.g. `ppo loss (minibatch 3)`,
        /// `local loss of hidden layer 1`, `parameter of hidden layer 2 (after minibatch 1)`.
        what: String,
    },
    /// An environment returned a non-finite reward or observation.
    #[error(
        "environment `{env}` (copy {copy}) returned a non-finite {what} at rollout step {step} of update {update}"
    )]
    NonFiniteEnv {
        /// Environment id.
        env: String,
        /// Index of the copy in the vector env.
        copy: usize,
        /// 1-based update (iteration) number.
        update: usize,
        /// Rollout step within the update.
        step: usize,
        /// What was non-finite.
        what: String,
    },
    /// A checkpoint that cannot be written, read or applied to this agent.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// From the environment.
    #[error(transparent)]
    Env(#[from] EnvError),
    /// From the local rule.
    #[error(transparent)]
    LocalLoss(#[from] LocalLossError),
    /// From the kernels (optimiser hyperparameters, shapes).
    #[error(transparent)]
    Tensor(#[from] TensorError),
}

impl From<pdmrl_tensor::UnknownName> for AgentError {
    /// An unknown name of a config enum ([`pdmrl_tensor::name_enum!`]'s `FromStr`, e.g.
    /// `algo`, `trainer`) as [`AgentError::InvalidConfig`].
    fn from(e: pdmrl_tensor::UnknownName) -> Self {
        AgentError::InvalidConfig {
            name: e.what,
            value: e.value,
            allowed: e.allowed.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Algo, TrainerKind};

    /// The names' parse errors read as they did before `name_enum!`, byte for byte.
    #[test]
    fn unknown_names_read_as_before() {
        assert_eq!(
            "sac".parse::<Algo>().unwrap_err().to_string(),
            "invalid hyperparameter `algo` = sac: one of: ppo, a2c, reinforce"
        );
        assert_eq!(
            "hebb".parse::<TrainerKind>().unwrap_err().to_string(),
            "invalid hyperparameter `trainer` = hebb: one of: bp, pdm, pdm_guided, frozen"
        );
        assert_eq!(Algo::ALL.map(Algo::name), ["ppo", "a2c", "reinforce"]);
        assert_eq!(format!("[{:<4}]", TrainerKind::Bp), "[bp  ]");
        assert_eq!(
            "pdm_guided".parse::<TrainerKind>().unwrap(),
            TrainerKind::PdmGuided
        );
    }
}
