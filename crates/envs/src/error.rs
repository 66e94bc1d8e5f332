//! The error type of this crate.

use crate::space::{Action, Space};

/// Everything that can go wrong when making or stepping an environment.
///
/// Returned at every boundary a user controls: ids, kwargs, actions, states.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    /// `make(id)` with an id no constructor is registered under.
    #[error("unknown environment id `{id}`; known ids: {}", known.join(", "))]
    UnknownId {
        /// The id asked for.
        id: String,
        /// Registered ids, closest matches first.
        known: Vec<String>,
    },
    /// `register` with an id that is already taken.
    #[error("environment id `{0}` is already registered")]
    DuplicateId(String),
    /// An action that is not in the action space (wrong type, out of range, wrong length, NaN).
    #[error("invalid action {action} for action space {space}")]
    InvalidAction {
        /// The action, as text.
        action: String,
        /// The action space it should belong to (boxed to keep `EnvError`, and so every
        /// `Result<_, EnvError>`, small; build it with [`EnvError::invalid_action`]).
        space: Box<Space>,
    },
    /// `step` was called after `terminated` or `truncated` without a `reset` in between,
    /// or before the first `reset`.
    #[error(
        "step called on `{id}` after the episode ended (or before the first reset); call reset first"
    )]
    StepAfterDone {
        /// Id of the environment.
        id: String,
    },
    /// `set_state` with a state of the wrong length or with non-finite values, or `state`
    /// before the env has a state (before the first `reset`/`set_state`).
    #[error("invalid state for `{id}`: {reason}")]
    InvalidState {
        /// Id of the environment.
        id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The environment does not expose its internal state.
    #[error("environment `{0}` does not support get/set of its internal state")]
    StateUnsupported(String),
    /// Constructor options (kwargs) that the constructor rejects.
    #[error("invalid kwargs for `{id}`: {reason}")]
    InvalidKwargs {
        /// Id of the environment.
        id: String,
        /// What is wrong with them.
        reason: String,
    },
    /// A vector env was given a number of actions different from its number of copies.
    #[error("vector env has {expected} copies but got {got} actions")]
    ActionCount {
        /// Number of copies.
        expected: usize,
        /// Number of actions given.
        got: usize,
    },
    /// A vector env that cannot be built or stepped: no copies, copies whose spaces differ,
    /// or a copy returning an observation whose length differs from its observation space.
    #[error("invalid vector env: {reason}")]
    InvalidVectorEnv {
        /// What is wrong.
        reason: String,
    },
    /// [`crate::Env::step_into`] or [`crate::Env::reset_into`] was given an observation
    /// buffer whose length differs from the observation the env produced.
    #[error(
        "environment `{id}` produced an observation of length {got} from {what}, but the buffer holds {expected}"
    )]
    ObservationLength {
        /// The env id.
        id: String,
        /// `step` or `reset`.
        what: &'static str,
        /// Length of the env's observation.
        got: usize,
        /// Length of the buffer.
        expected: usize,
    },
    /// An env produced a NaN or infinite value that a normalising wrapper
    /// ([`crate::wrappers::NormalizeObservation`], [`crate::wrappers::NormalizeReward`])
    /// refused to feed into its running statistics. The statistics are unchanged; the
    /// episode is over (reset before stepping again).
    #[error(
        "environment `{id}` produced a non-finite {what}; the running statistics were not \
         updated and the episode must be reset"
    )]
    NonFinite {
        /// Id of the environment.
        id: String,
        /// Which value, e.g. `"reward (NaN)"` or `"observation (component 2 is inf)"`.
        what: String,
    },
}

impl EnvError {
    /// [`EnvError::InvalidAction`] for `action`, which is not in `space`.
    pub fn invalid_action(action: &Action, space: Space) -> Self {
        EnvError::InvalidAction {
            action: action.to_string(),
            space: Box::new(space),
        }
    }
}
