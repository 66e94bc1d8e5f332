//! Gymnasium 1.4.0's `ClipAction` (`gymnasium/wrappers/transform_action.py`): continuous
//! actions are clipped to the inner action space before they reach the env.

use crate::env::{Env, Step, impl_wrapper};
use crate::error::EnvError;
use crate::space::{Action, Space};
use ndarray::Array1;

/// Clips every `Action::Continuous` to the inner env's `Box` bounds, component by component
/// (`np.clip(action, low, high)`), so that a policy may sample an unbounded action (a
/// Gaussian) and still step the env. The log-probability the agent keeps is that of the
/// unclipped action, as in CleanRL's `ppo_continuous_action.py`.
///
/// * Action space: `Box(-inf, inf)` of the inner shape (as Gymnasium's wrapper reports).
/// * Discrete actions and envs with a `Discrete` action space pass through unchanged.
/// * NaN components stay NaN (the inner env rejects them with
///   [`EnvError::InvalidAction`]); infinite components are clipped to the bound.
#[derive(Debug, Clone)]
pub struct ClipAction<E: Env> {
    env: E,
}

impl<E: Env> ClipAction<E> {
    /// Wraps `env`.
    pub fn new(env: E) -> Self {
        ClipAction { env }
    }

    /// `action` clipped to the inner action space's bounds.
    pub fn clip(&self, action: &Action) -> Action {
        match (action, self.env.action_space()) {
            (Action::Continuous(a), Space::Box { low, high, .. }) if a.len() == low.len() => {
                Action::Continuous(Array1::from_shape_fn(a.len(), |i| {
                    let x = a[i];
                    if x.is_nan() {
                        x
                    } else {
                        x.max(low[i]).min(high[i])
                    }
                }))
            }
            _ => action.clone(),
        }
    }
}

impl_wrapper!(ClipAction, env);

impl<E: Env> Env for ClipAction<E> {
    crate::forward_to_inner!(id, observation_space, reset, state, set_state);
    /// `Box(-inf, inf)` of the inner shape; a `Discrete` inner space unchanged.
    fn action_space(&self) -> Space {
        match self.env.action_space() {
            Space::Box { shape, low, .. } => Space::Box {
                low: Array1::from_elem(low.len(), f32::NEG_INFINITY),
                high: Array1::from_elem(low.len(), f32::INFINITY),
                shape,
            },
            other => other,
        }
    }
    /// Steps the inner env with the action clipped ([`ClipAction::clip`]).
    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        let clipped = self.clip(action);
        self.env.step(&clipped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;

    #[test]
    fn clips_to_the_inner_bounds_and_reports_an_unbounded_space() {
        let registry = Registry::with_builtins();
        let mut raw = registry.make("Pendulum-v1").unwrap();
        let mut clipped = ClipAction::new(registry.make("Pendulum-v1").unwrap());
        assert_eq!(
            clipped.clip(&Action::Continuous(ndarray::array![7.5])),
            Action::Continuous(ndarray::array![2.0])
        );
        assert_eq!(
            clipped.clip(&Action::Continuous(ndarray::array![f32::NEG_INFINITY])),
            Action::Continuous(ndarray::array![-2.0])
        );
        match clipped.action_space() {
            Space::Box { low, high, .. } => {
                assert!(low[0] == f32::NEG_INFINITY && high[0] == f32::INFINITY);
            }
            other => panic!("expected a Box, got {other}"),
        }
        raw.reset(Some(3));
        clipped.reset(Some(3));
        let a = raw.step(&Action::Continuous(ndarray::array![2.0])).unwrap();
        let b = clipped
            .step(&Action::Continuous(ndarray::array![1e30]))
            .unwrap();
        assert_eq!(a.observation, b.observation);
        assert_eq!(a.reward, b.reward);
        // NaN is not clipped away: the inner env refuses it.
        assert!(
            clipped
                .step(&Action::Continuous(ndarray::array![f32::NAN]))
                .is_err()
        );
    }

    #[test]
    fn discrete_actions_pass_through() {
        let mut env = ClipAction::new(Registry::with_builtins().make("CartPole-v1").unwrap());
        assert_eq!(env.action_space(), Space::Discrete { n: 2 });
        env.reset(Some(0));
        assert!(env.step(&Action::Discrete(1)).is_ok());
        assert!(env.step(&Action::Discrete(5)).is_err());
    }
}
