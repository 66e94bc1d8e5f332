//! The environment contract (Gymnasium's `Env`).

use crate::error::EnvError;
use crate::space::{Action, Space};
use ndarray::Array1;
use std::collections::BTreeMap;

/// Extra information returned by `reset` and `step` (Gymnasium's `info` dict), as named
/// scalars. Empty for the built-in classic-control envs.
pub type Info = BTreeMap<String, f64>;

/// The seeded random number generator every environment draws from (ChaCha8, the same
/// type as `pdmrl_tensor::Rng`).
pub type EnvRng = rand_chacha::ChaCha8Rng;

/// What one call to [`Env::step`] returns (Gymnasium's 5-tuple).
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Observation after the step, flattened, `[obs_dim]`, f32 as Gymnasium returns it.
    pub observation: Array1<f32>,
    /// Reward of the step (Gymnasium returns a Python float: f64).
    pub reward: f64,
    /// The MDP reached a terminal state (no bootstrapping past it).
    pub terminated: bool,
    /// The episode was cut short from outside the MDP (time limit); bootstrap from
    /// `observation`. Both flags may be set at once, as in Gymnasium's `TimeLimit`;
    /// then `terminated` wins for bootstrapping.
    pub truncated: bool,
    /// Extra information.
    pub info: Info,
}

/// An environment with Gymnasium semantics.
///
/// * `reset(Some(seed))` re-creates the env's RNG from `seed`; `reset(None)` continues the
///   current RNG (a never-seeded env uses seed 0). Never reseed on every reset.
/// * `step` after `terminated`/`truncated` (or before the first `reset`) is
///   [`EnvError::StepAfterDone`]; an action outside [`Env::action_space`] (including NaN)
///   is [`EnvError::InvalidAction`].
///
/// Object safe: the registry hands out `Box<dyn Env>`.
pub trait Env: Send {
    /// The registry id, e.g. `"CartPole-v1"`.
    fn id(&self) -> &str;
    /// The space observations belong to.
    fn observation_space(&self) -> Space;
    /// The space actions must belong to.
    fn action_space(&self) -> Space;
    /// Starts a new episode and returns its first observation `[obs_dim]` and info.
    fn reset(&mut self, seed: Option<u64>) -> (Array1<f32>, Info);
    /// Applies one action.
    ///
    /// # Errors
    /// [`EnvError::InvalidAction`], [`EnvError::StepAfterDone`].
    fn step(&mut self, action: &Action) -> Result<Step, EnvError>;
    /// The env's internal state (e.g. CartPole's `[x, x_dot, theta, theta_dot]` as f64),
    /// as recorded in the Gymnasium fixtures.
    ///
    /// # Errors
    /// [`EnvError::StateUnsupported`] for envs that do not expose it (the default);
    /// [`EnvError::InvalidState`] for an env that has no state yet (before the first
    /// `reset`/`set_state`).
    fn state(&self) -> Result<Vec<f64>, EnvError> {
        Err(EnvError::StateUnsupported(self.id().to_string()))
    }
    /// Sets the internal state and starts an episode from it (as if `reset` had been called
    /// and then `env.unwrapped.state = state` assigned), returning the observation of that
    /// state. Wrappers reset their own counters.
    ///
    /// # Errors
    /// [`EnvError::InvalidState`] (wrong length, non-finite), [`EnvError::StateUnsupported`].
    fn set_state(&mut self, state: &[f64]) -> Result<Array1<f32>, EnvError> {
        let _ = state;
        Err(EnvError::StateUnsupported(self.id().to_string()))
    }
    /// [`Env::step`] writing the observation into `observation` (`[obs_dim]`, the flat
    /// length of the observation space) instead of returning it: the same step, with the
    /// same bits. Envs override it to step without allocating (the built-in classic-control
    /// envs and [`crate::TimeLimit`] do); the default calls `step` and copies.
    ///
    /// # Errors
    /// As [`Env::step`]; [`EnvError::ObservationLength`] if `observation` has the wrong
    /// length (the step has been taken then).
    fn step_into(
        &mut self,
        action: &Action,
        observation: &mut [f32],
    ) -> Result<Transition, EnvError> {
        let s = self.step(action)?;
        write_observation(self.id(), "step", &s.observation.to_vec(), observation)?;
        Ok(Transition {
            reward: s.reward,
            terminated: s.terminated,
            truncated: s.truncated,
            info: s.info,
        })
    }
    /// [`Env::reset`] writing the first observation into `observation` (`[obs_dim]`);
    /// overridden as [`Env::step_into`] is.
    ///
    /// # Errors
    /// [`EnvError::ObservationLength`] if `observation` has the wrong length (the env has
    /// been reset then).
    fn reset_into(&mut self, seed: Option<u64>, observation: &mut [f32]) -> Result<Info, EnvError> {
        let (first, info) = self.reset(seed);
        write_observation(self.id(), "reset", &first.to_vec(), observation)?;
        Ok(info)
    }
}

/// What [`Env::step_into`] returns: a [`Step`] without its observation, which it wrote
/// into the caller's buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// Reward of the step.
    pub reward: f64,
    /// The MDP reached a terminal state.
    pub terminated: bool,
    /// The episode was cut short from outside the MDP (time limit).
    pub truncated: bool,
    /// Extra information (empty for the built-in envs: no allocation).
    pub info: Info,
}

impl Transition {
    /// The [`Step`] with this outcome and `observation`.
    pub fn into_step(self, observation: Array1<f32>) -> Step {
        Step {
            observation,
            reward: self.reward,
            terminated: self.terminated,
            truncated: self.truncated,
            info: self.info,
        }
    }
}

/// [`Env::step`] of an env that implements [`Env::step_into`].
pub(crate) fn step_through_into<E: Env>(env: &mut E, action: &Action) -> Result<Step, EnvError> {
    let mut o = vec![0.0; env.observation_space().flat_dim()];
    let t = env.step_into(action, &mut o)?;
    Ok(t.into_step(Array1::from(o)))
}

/// [`Env::reset`] of an env that implements [`Env::reset_into`].
pub(crate) fn reset_through_into<E: Env>(env: &mut E, seed: Option<u64>) -> (Array1<f32>, Info) {
    let mut o = vec![0.0; env.observation_space().flat_dim()];
    let info = env
        .reset_into(seed, &mut o)
        .expect("the buffer has the observation space's length");
    (Array1::from(o), info)
}

/// Copies `from` into `into`, or [`EnvError::ObservationLength`] if their lengths differ.
pub(crate) fn write_observation(
    id: &str,
    what: &'static str,
    from: &[f32],
    into: &mut [f32],
) -> Result<(), EnvError> {
    if from.len() != into.len() {
        return Err(EnvError::ObservationLength {
            id: id.to_string(),
            what,
            got: from.len(),
            expected: into.len(),
        });
    }
    into.copy_from_slice(from);
    Ok(())
}

impl<E: Env + ?Sized> Env for Box<E> {
    fn id(&self) -> &str {
        (**self).id()
    }
    fn observation_space(&self) -> Space {
        (**self).observation_space()
    }
    fn action_space(&self) -> Space {
        (**self).action_space()
    }
    fn reset(&mut self, seed: Option<u64>) -> (Array1<f32>, Info) {
        (**self).reset(seed)
    }
    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        (**self).step(action)
    }
    fn state(&self) -> Result<Vec<f64>, EnvError> {
        (**self).state()
    }
    fn set_state(&mut self, state: &[f64]) -> Result<Array1<f32>, EnvError> {
        (**self).set_state(state)
    }
    fn step_into(
        &mut self,
        action: &Action,
        observation: &mut [f32],
    ) -> Result<Transition, EnvError> {
        (**self).step_into(action, observation)
    }
    fn reset_into(&mut self, seed: Option<u64>, observation: &mut [f32]) -> Result<Info, EnvError> {
        (**self).reset_into(seed, observation)
    }
}

/// An env that wraps one inner env and changes part of its behaviour: Gymnasium's
/// `gymnasium.Wrapper` base class (`gymnasium/core.py`), whose `env` attribute is
/// [`Wrapper::inner`].
///
/// A wrapper implements [`Env`] itself (so wrappers compose: `A<B<E>>` is `A` around `B`
/// around `E`), writing only the methods it changes and forwarding the others to the
/// inner env with [`forward_to_inner!`](crate::forward_to_inner), as a subclass of
/// Gymnasium's `Wrapper` overrides only some methods and inherits the forwarding of the
/// rest:
///
/// ```
/// use pdmrl_envs::{Action, Env, EnvError, Step, Wrapper, forward_to_inner};
///
/// /// Doubles every reward.
/// struct DoubleReward<E: Env>(E);
///
/// impl<E: Env> Wrapper for DoubleReward<E> {
///     type Inner = E;
///     fn inner(&self) -> &E { &self.0 }
///     fn inner_mut(&mut self) -> &mut E { &mut self.0 }
///     fn into_inner(self) -> E { self.0 }
/// }
///
/// impl<E: Env> Env for DoubleReward<E> {
///     forward_to_inner!(id, observation_space, action_space, reset, state, set_state);
///     fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
///         let mut step = self.0.step(action)?;
///         step.reward *= 2.0;
///         Ok(step)
///     }
/// }
///
/// let mut env = DoubleReward(pdmrl_envs::CartPole::new());
/// env.reset(Some(0));
/// assert_eq!(env.step(&Action::Discrete(0))?.reward, 2.0);
/// assert_eq!(env.inner().id(), "CartPole-v1");
/// # Ok::<(), EnvError>(())
/// ```
///
/// The built-in wrappers ([`crate::TimeLimit`], [`crate::ClipAction`],
/// [`crate::EpisodeStatistics`], [`crate::NormalizeObservation`],
/// [`crate::NormalizeReward`]) implement it; bring the trait into scope
/// (`use pdmrl_envs::Wrapper`) to call its methods.
pub trait Wrapper {
    /// The type of the wrapped env.
    type Inner: Env;
    /// The wrapped env (Gymnasium's `wrapper.env`).
    fn inner(&self) -> &Self::Inner;
    /// The wrapped env, mutably. Stepping or resetting it directly bypasses this wrapper
    /// (its step count, episode statistics or running statistics).
    fn inner_mut(&mut self) -> &mut Self::Inner;
    /// Unwraps the env, dropping this wrapper's own state.
    fn into_inner(self) -> Self::Inner
    where
        Self: Sized;
}

/// Implements [`Env`] methods of a [`Wrapper`] by forwarding them unchanged to
/// [`Wrapper::inner`] / [`Wrapper::inner_mut`]: the default behaviour of Gymnasium's
/// `gymnasium.Wrapper`, for the methods a wrapper does not change.
///
/// Used inside an `impl Env for W` block, with the names of the [`Env`] methods to forward
/// (any of `id`, `observation_space`, `action_space`, `reset`, `step`, `state`,
/// `set_state`, `step_into`, `reset_into`); the block writes the others itself. See
/// [`Wrapper`] for an example.
///
/// Forward `step_into` (`reset_into`) only together with `step` (`reset`): a wrapper that
/// changes `step` but forwards `step_into` would step the inner env past itself. Left out,
/// they keep [`Env`]'s defaults, which call the wrapper's own `step`/`reset`.
#[macro_export]
macro_rules! forward_to_inner {
    (@ id) => {
        /// The inner env's id.
        fn id(&self) -> &str {
            $crate::Env::id($crate::Wrapper::inner(self))
        }
    };
    (@ observation_space) => {
        /// The inner env's observation space.
        fn observation_space(&self) -> $crate::Space {
            $crate::Env::observation_space($crate::Wrapper::inner(self))
        }
    };
    (@ action_space) => {
        /// The inner env's action space.
        fn action_space(&self) -> $crate::Space {
            $crate::Env::action_space($crate::Wrapper::inner(self))
        }
    };
    (@ reset) => {
        /// Resets the inner env (same seeding semantics).
        fn reset(
            &mut self,
            seed: ::std::option::Option<u64>,
        ) -> ($crate::ndarray::Array1<f32>, $crate::Info) {
            $crate::Env::reset($crate::Wrapper::inner_mut(self), seed)
        }
    };
    (@ step) => {
        /// Steps the inner env.
        fn step(
            &mut self,
            action: &$crate::Action,
        ) -> ::std::result::Result<$crate::Step, $crate::EnvError> {
            $crate::Env::step($crate::Wrapper::inner_mut(self), action)
        }
    };
    (@ state) => {
        /// The inner env's state.
        fn state(&self) -> ::std::result::Result<::std::vec::Vec<f64>, $crate::EnvError> {
            $crate::Env::state($crate::Wrapper::inner(self))
        }
    };
    (@ set_state) => {
        /// Sets the inner env's state (starting an episode from it).
        fn set_state(
            &mut self,
            state: &[f64],
        ) -> ::std::result::Result<$crate::ndarray::Array1<f32>, $crate::EnvError> {
            $crate::Env::set_state($crate::Wrapper::inner_mut(self), state)
        }
    };
    (@ step_into) => {
        /// Steps the inner env, writing the observation into `observation`.
        fn step_into(
            &mut self,
            action: &$crate::Action,
            observation: &mut [f32],
        ) -> ::std::result::Result<$crate::Transition, $crate::EnvError> {
            $crate::Env::step_into($crate::Wrapper::inner_mut(self), action, observation)
        }
    };
    (@ reset_into) => {
        /// Resets the inner env, writing the first observation into `observation`.
        fn reset_into(
            &mut self,
            seed: ::std::option::Option<u64>,
            observation: &mut [f32],
        ) -> ::std::result::Result<$crate::Info, $crate::EnvError> {
            $crate::Env::reset_into($crate::Wrapper::inner_mut(self), seed, observation)
        }
    };
    (@ $other:ident) => {
        ::std::compile_error!(::std::concat!(
            "forward_to_inner!: `",
            ::std::stringify!($other),
            "` is not a method of pdmrl_envs::Env"
        ));
    };
    ($($method:ident),+ $(,)?) => {
        $($crate::forward_to_inner!(@ $method);)+
    };
}

/// Implements [`Wrapper`] for the built-in wrappers, `W<E: Env>` holding the inner env in
/// the field `$field`.
macro_rules! impl_wrapper {
    ($wrapper:ident, $field:ident) => {
        impl<E: $crate::Env> $crate::Wrapper for $wrapper<E> {
            type Inner = E;
            fn inner(&self) -> &E {
                &self.$field
            }
            fn inner_mut(&mut self) -> &mut E {
                &mut self.$field
            }
            fn into_inner(self) -> E {
                self.$field
            }
        }
    };
}
pub(crate) use impl_wrapper;
