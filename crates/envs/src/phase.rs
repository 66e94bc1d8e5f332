//! Where a built-in environment's episode is, and the errors that follow from it.

use crate::error::EnvError;

/// Where the current episode is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Never reset (Gymnasium's `state is None`).
    NotStarted,
    /// An episode is running.
    Running,
    /// The last step terminated the episode.
    Terminated,
}

impl Phase {
    /// `Ok` while an episode is running.
    ///
    /// # Errors
    /// [`EnvError::StepAfterDone`] before the first reset/set_state or after termination.
    pub(crate) fn ensure_running(self, id: &str) -> Result<(), EnvError> {
        if self == Phase::Running {
            Ok(())
        } else {
            Err(EnvError::StepAfterDone { id: id.to_string() })
        }
    }

    /// `state` as the env's internal state (Gymnasium's `env.unwrapped.state`).
    ///
    /// # Errors
    /// [`EnvError::InvalidState`] before the first reset/set_state.
    pub(crate) fn state_of(self, id: &str, state: &[f64]) -> Result<Vec<f64>, EnvError> {
        if self == Phase::NotStarted {
            return Err(EnvError::InvalidState {
                id: id.to_string(),
                reason: "no state before the first reset or set_state".to_string(),
            });
        }
        Ok(state.to_vec())
    }
}
