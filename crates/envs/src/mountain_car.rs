//! MountainCar-v0: Gymnasium 1.4.0's `MountainCarEnv`
//! (`gymnasium/envs/classic_control/mountain_car.py`), ported to Rust.
//!
//! The dynamics, constants, clipping, left-wall rule, termination test and rewards are those
//! of Gymnasium 1.4.0, evaluated in plain f64 in the same operation order, so a trajectory
//! started from the same state matches Gymnasium's (checked against recorded Gymnasium 1.4.0
//! trajectories in `tests/mountain_car_parity.rs`).
//!
//! Deliberate differences from Gymnasium:
//!
//! * **Random initial state.** Gymnasium draws the initial position from numpy's PCG64
//!   `Generator`; this port draws it from [`EnvRng`] (ChaCha8). The distribution is the same
//!   (position uniform in `[-0.6, -0.4)`, velocity 0), the numbers are not. To reproduce a
//!   Gymnasium episode, start it with [`Env::set_state`] from Gymnasium's state instead.
//! * **Stepping a finished episode is an error.** Gymnasium keeps stepping after a
//!   termination; here `step` after termination, or before the first
//!   [`Env::reset`]/[`Env::set_state`], returns [`EnvError::StepAfterDone`].
//! * **No rendering**: the `render_mode` kwarg is rejected.
//! * **No reset options**: Gymnasium's `options={"low": .., "high": ..}` reset bounds are not
//!   supported; the bounds are always `[-0.6, -0.4)`.
//!
//! Time limits are not part of this env (as in Gymnasium): `Registry::make("MountainCar-v0")`
//! wraps it in [`crate::TimeLimit`] with 200 steps.

use crate::env::{
    Env, EnvRng, Info, Step, Transition, reset_through_into, step_through_into, write_observation,
};
use crate::error::EnvError;
use crate::phase::Phase;
use crate::space::{Action, Space};
use ndarray::Array1;
use rand::{Rng, SeedableRng};

/// The mountain-car task with discrete actions, `MountainCar-v0` (Moore 1990), as
/// implemented by Gymnasium 1.4.0's `MountainCarEnv`
/// (`gymnasium/envs/classic_control/mountain_car.py`): an underpowered car in a valley
/// (height `sin(3 x)`) must rock back and forth to reach the flag on the right hill.
///
/// * Internal state: `[position, velocity]`, f64 (Gymnasium's `self.state`), see
///   [`Env::state`]. Position in `[-1.2, 0.6]`, velocity in `[-0.07, 0.07]` (position units
///   per step).
/// * Observation: that state cast to f32, `[2]`.
/// * Observation space: `Box([-1.2, -0.07], [0.6, 0.07], (2,), float32)` (bounds cast to
///   f32).
/// * Action space: `Discrete(3)`: 0 accelerates left, 1 does nothing, 2 accelerates right.
/// * Dynamics, per step with action `a`:
///   `velocity += (a - 1) * 0.001 + cos(3 * position) * (-0.0025)`, clipped to
///   `[-0.07, 0.07]`; `position += velocity`, clipped to `[-1.2, 0.6]`; if the position is
///   then exactly `-1.2` and the velocity negative, the velocity becomes 0 (an inelastic
///   left wall; the right clip does not zero the velocity).
/// * Termination: `position >= 0.5 && velocity >= goal_velocity` (`goal_velocity` 0 by
///   default, see [`MountainCar::from_kwargs`]). Never truncates by itself.
/// * Reward: `-1.0` on every step, including the terminating one.
/// * Reset: position uniform in `[-0.6, -0.4)` from the env's own [`EnvRng`], velocity 0;
///   see the module docs for how seeding differs from Gymnasium.
///
/// Stepping after termination or before the first reset is [`EnvError::StepAfterDone`]
/// (a deliberate difference: Gymnasium continues).
#[derive(Debug, Clone)]
pub struct MountainCar {
    /// `[position, velocity]`; meaningful only when `phase != NotStarted`.
    state: [f64; 2],
    /// Where the current episode is.
    phase: Phase,
    /// The env's RNG (Gymnasium's `self.np_random`), used only by `reset`.
    rng: EnvRng,
    /// Gymnasium's `goal_velocity` constructor argument.
    goal_velocity: f64,
}

impl Default for MountainCar {
    fn default() -> Self {
        Self::new()
    }
}

impl MountainCar {
    /// Registry id, `"MountainCar-v0"` (Gymnasium's `gymnasium/envs/__init__.py`).
    pub const ID: &'static str = "MountainCar-v0";
    /// Left end of the track, `-1.2` (Gymnasium `self.min_position`); a wall.
    pub const MIN_POSITION: f64 = -1.2;
    /// Right end of the track, `0.6` (Gymnasium `self.max_position`).
    pub const MAX_POSITION: f64 = 0.6;
    /// Bound on `|velocity|`, `0.07` (Gymnasium `self.max_speed`).
    pub const MAX_SPEED: f64 = 0.07;
    /// Position of the flag, `0.5` (Gymnasium `self.goal_position`).
    pub const GOAL_POSITION: f64 = 0.5;
    /// Default `goal_velocity`, `0.0` (Gymnasium's `goal_velocity=0`).
    pub const DEFAULT_GOAL_VELOCITY: f64 = 0.0;
    /// Velocity change per step from the engine, `0.001` (Gymnasium `self.force`).
    pub const FORCE: f64 = 0.001;
    /// Gravity factor, `0.0025` (Gymnasium `self.gravity`).
    pub const GRAVITY: f64 = 0.0025;
    /// Reset range of the position, `[-0.6, -0.4)` (Gymnasium's default reset bounds).
    pub const RESET_LOW: f64 = -0.6;
    /// Upper (excluded) end of the reset range of the position, `-0.4`.
    pub const RESET_HIGH: f64 = -0.4;

    /// A MountainCar with Gymnasium's defaults (`goal_velocity = 0`), not yet reset. Its RNG
    /// is seeded with 0, so a first `reset(None)` behaves as `reset(Some(0))`.
    pub fn new() -> Self {
        MountainCar {
            state: [0.0; 2],
            phase: Phase::NotStarted,
            rng: EnvRng::seed_from_u64(0),
            goal_velocity: Self::DEFAULT_GOAL_VELOCITY,
        }
    }

    /// A MountainCar that terminates only when `velocity >= goal_velocity` at the flag
    /// (Gymnasium's `goal_velocity` constructor argument).
    ///
    /// # Errors
    /// [`EnvError::InvalidKwargs`] naming `goal_velocity` if it is not finite.
    pub fn with_goal_velocity(goal_velocity: f64) -> Result<Self, EnvError> {
        if !goal_velocity.is_finite() {
            return Err(EnvError::InvalidKwargs {
                id: Self::ID.to_string(),
                reason: format!("`goal_velocity` must be finite, got {goal_velocity}"),
            });
        }
        Ok(MountainCar {
            goal_velocity,
            ..Self::new()
        })
    }

    /// A MountainCar from Gymnasium-style constructor kwargs (`gymnasium.make(
    /// "MountainCar-v0", **kwargs)`), given as a TOML table.
    ///
    /// Accepted keys: `goal_velocity` (integer or float, finite, default `0`).
    ///
    /// # Errors
    /// [`EnvError::InvalidKwargs`] naming the key, for an unknown key (including
    /// `render_mode`: this port does not render) or a bad value.
    pub fn from_kwargs(kwargs: &toml::Table) -> Result<Self, EnvError> {
        let goal_velocity = crate::numeric::number_kwarg(Self::ID, kwargs, "goal_velocity")?;
        Self::with_goal_velocity(goal_velocity.unwrap_or(Self::DEFAULT_GOAL_VELOCITY))
    }

    /// The velocity the car must have (at least) at the flag to terminate (see
    /// [`MountainCar::from_kwargs`]).
    pub fn goal_velocity(&self) -> f64 {
        self.goal_velocity
    }

    /// The observation of the current state: `[position, velocity]` cast to f32, `[2]`.
    fn observation(&self) -> Array1<f32> {
        Array1::from(self.observation_values().to_vec())
    }

    /// [`Self::observation`] as an array (no allocation).
    fn observation_values(&self) -> [f32; 2] {
        self.state.map(|v| v as f32)
    }
}

impl Env for MountainCar {
    /// `"MountainCar-v0"`.
    fn id(&self) -> &str {
        Self::ID
    }

    /// `Box([-1.2, -0.07], [0.6, 0.07], (2,), float32)`, bounds cast to f32 (Gymnasium
    /// 1.4.0).
    fn observation_space(&self) -> Space {
        Space::box1(
            vec![Self::MIN_POSITION as f32, -Self::MAX_SPEED as f32],
            vec![Self::MAX_POSITION as f32, Self::MAX_SPEED as f32],
        )
    }

    /// `Discrete(3)`.
    fn action_space(&self) -> Space {
        Space::Discrete { n: 3 }
    }

    /// Starts an episode: `reset(Some(seed))` re-creates the RNG with
    /// `EnvRng::seed_from_u64(seed)`, `reset(None)` continues it. Draws the position
    /// uniform in `[-0.6, -0.4)`, sets the velocity to 0 and returns the state as f32,
    /// `[2]`, with an empty info.
    fn reset(&mut self, seed: Option<u64>) -> (Array1<f32>, Info) {
        reset_through_into(self, seed)
    }

    fn reset_into(&mut self, seed: Option<u64>, observation: &mut [f32]) -> Result<Info, EnvError> {
        if let Some(seed) = seed {
            self.rng = EnvRng::seed_from_u64(seed);
        }
        let position = loop {
            // numpy's `Generator.uniform`: low + (high - low) * u, u in [0, 1).
            let u: f64 = self.rng.random();
            let v = Self::RESET_LOW + (Self::RESET_HIGH - Self::RESET_LOW) * u;
            if v < Self::RESET_HIGH {
                break v;
            }
        };
        self.state = [position, 0.0];
        self.phase = Phase::Running;
        write_observation(Self::ID, "reset", &self.observation_values(), observation)?;
        Ok(Info::new())
    }

    /// Applies `Action::Discrete(a)`, `a` in `0..3` (push left, none, right) for one step
    /// (see the type's docs for the update). Returns the new state as f32 `[2]`, reward
    /// `-1.0`, `terminated` when the car is at the flag fast enough, `truncated = false`,
    /// empty info.
    ///
    /// # Errors
    /// [`EnvError::InvalidAction`] for anything but `Discrete(0..3)`;
    /// [`EnvError::StepAfterDone`] after termination or before the first reset.
    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        step_through_into(self, action)
    }

    fn step_into(
        &mut self,
        action: &Action,
        observation: &mut [f32],
    ) -> Result<Transition, EnvError> {
        let push = match action {
            Action::Discrete(a) if *a < 3 => *a as f64 - 1.0,
            other => return Err(EnvError::invalid_action(other, self.action_space())),
        };
        self.phase.ensure_running(Self::ID)?;
        let [mut position, mut velocity] = self.state;
        velocity += push * Self::FORCE + (3.0 * position).cos() * (-Self::GRAVITY);
        velocity = velocity.clamp(-Self::MAX_SPEED, Self::MAX_SPEED);
        position += velocity;
        position = position.clamp(Self::MIN_POSITION, Self::MAX_POSITION);
        if position == Self::MIN_POSITION && velocity < 0.0 {
            velocity = 0.0;
        }
        let terminated = position >= Self::GOAL_POSITION && velocity >= self.goal_velocity;
        self.state = [position, velocity];
        if terminated {
            self.phase = Phase::Terminated;
        }
        write_observation(Self::ID, "step", &self.observation_values(), observation)?;
        Ok(Transition {
            reward: -1.0,
            terminated,
            truncated: false,
            info: Info::new(),
        })
    }

    /// `[position, velocity]`, f64 (Gymnasium's `env.unwrapped.state`).
    ///
    /// # Errors
    /// [`EnvError::InvalidState`] before the first reset/set_state.
    fn state(&self) -> Result<Vec<f64>, EnvError> {
        self.phase.state_of(Self::ID, &self.state)
    }

    /// Starts an episode from `state = [position, velocity]` (as Gymnasium's
    /// `env.reset(); env.unwrapped.state = np.array(state, dtype=np.float64)`), clears the
    /// terminated flag and returns the state as f32 `[2]`. The RNG is not touched. Any finite
    /// state is accepted as is (values beyond the bounds are clipped by the next step; a
    /// state at the goal only terminates at the next step).
    ///
    /// # Errors
    /// [`EnvError::InvalidState`] if `state.len() != 2` or a component is not finite; the env
    /// is then unchanged.
    fn set_state(&mut self, state: &[f64]) -> Result<Array1<f32>, EnvError> {
        let state = crate::numeric::checked_state(Self::ID, state, ["position", "velocity"])?;
        self.state = state;
        self.phase = Phase::Running;
        Ok(self.observation())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kwargs(text: &str) -> toml::Table {
        text.parse::<toml::Table>().expect("test kwargs parse")
    }

    #[test]
    fn spaces_match_gymnasium_1_4_0() {
        let env = MountainCar::new();
        assert_eq!(env.action_space(), Space::Discrete { n: 3 });
        assert_eq!(
            env.observation_space(),
            Space::box1(vec![-1.2_f32, -0.07_f32], vec![0.6_f32, 0.07_f32])
        );
    }

    #[test]
    fn step_before_reset_is_an_error() {
        let mut env = MountainCar::new();
        assert!(matches!(
            env.step(&Action::Discrete(1)),
            Err(EnvError::StepAfterDone { .. })
        ));
        assert!(matches!(env.state(), Err(EnvError::InvalidState { .. })));
    }

    #[test]
    fn invalid_actions_are_rejected() {
        let mut env = MountainCar::new();
        env.reset(Some(0));
        let before = env.state().unwrap();
        for action in [
            Action::Discrete(3),
            Action::Discrete(usize::MAX),
            Action::Continuous(Array1::from(vec![1.0])),
            Action::Continuous(Array1::from(vec![f32::NAN])),
        ] {
            match env.step(&action) {
                Err(EnvError::InvalidAction { space, .. }) => {
                    assert_eq!(*space, Space::Discrete { n: 3 })
                }
                other => panic!("expected InvalidAction for {action:?}, got {other:?}"),
            }
        }
        assert_eq!(
            env.state().unwrap(),
            before,
            "a rejected action changes nothing"
        );
    }

    #[test]
    fn step_after_termination_is_an_error_until_reset() {
        let mut env = MountainCar::new();
        env.set_state(&[0.49, 0.02]).unwrap();
        let s = env.step(&Action::Discrete(2)).unwrap();
        assert!(s.terminated);
        assert!(!s.truncated);
        assert_eq!(s.reward, -1.0, "reward -1 on the terminating step too");
        assert!(matches!(
            env.step(&Action::Discrete(1)),
            Err(EnvError::StepAfterDone { id }) if id == "MountainCar-v0"
        ));
        env.reset(None);
        let s = env.step(&Action::Discrete(1)).unwrap();
        assert!(!s.terminated);
        assert_eq!(s.reward, -1.0);
    }

    #[test]
    fn same_seed_same_observation_and_none_continues() {
        let mut a = MountainCar::new();
        let mut b = MountainCar::new();
        let (oa, info) = a.reset(Some(42));
        let (ob, _) = b.reset(Some(42));
        assert!(info.is_empty());
        assert_eq!(oa, ob);
        let (oa2, _) = a.reset(None);
        assert_ne!(oa2, oa);
        let (ob2, _) = b.reset(None);
        assert_eq!(oa2, ob2);
        let (oc, _) = b.reset(Some(43));
        assert_ne!(oc, oa);
        let (oa3, _) = a.reset(Some(42));
        assert_eq!(oa3, oa);
        assert_eq!(
            MountainCar::new().reset(None).0,
            MountainCar::new().reset(Some(0)).0
        );
    }

    #[test]
    fn initial_state_is_within_bounds() {
        let mut env = MountainCar::new();
        for seed in 0..200 {
            let (obs, _) = env.reset(if seed % 2 == 0 { Some(seed) } else { None });
            let state = env.state().unwrap();
            assert!((-0.6..-0.4).contains(&state[0]), "seed {seed}: {state:?}");
            assert_eq!(state[1], 0.0);
            assert_eq!(obs, Array1::from(vec![state[0] as f32, 0.0]));
            assert!(
                env.observation_space()
                    .contains_observation(obs.as_slice().unwrap())
            );
        }
    }

    #[test]
    fn set_state_validates_and_restarts_the_episode() {
        let mut env = MountainCar::new();
        let err = env.set_state(&[0.0; 3]).unwrap_err();
        assert!(err.to_string().contains("got 3"), "{err}");
        let err = env.set_state(&[f64::NAN, 0.0]).unwrap_err();
        assert!(err.to_string().contains("`position`"), "{err}");
        let err = env.set_state(&[0.0, f64::NEG_INFINITY]).unwrap_err();
        assert!(err.to_string().contains("`velocity`"), "{err}");
        assert!(
            env.state().is_err(),
            "failed set_state leaves the env unchanged"
        );
        let obs = env.set_state(&[-0.5, 0.01]).unwrap();
        assert_eq!(obs, Array1::from(vec![-0.5_f32, 0.01]));
        assert_eq!(env.state().unwrap(), vec![-0.5, 0.01]);
    }

    #[test]
    fn dynamics_clip_and_left_wall() {
        let mut env = MountainCar::new();
        // One step by hand: v' = v + (a - 1) * force - cos(3 p) * gravity; p' = p + v'.
        env.set_state(&[-0.5, 0.0]).unwrap();
        env.step(&Action::Discrete(2)).unwrap();
        let v = 0.0 + (1.0 * 0.001 + (3.0 * -0.5_f64).cos() * (-0.0025));
        assert_eq!(env.state().unwrap(), vec![-0.5 + v, v]);
        // Speed limit.
        env.set_state(&[-0.5, 0.0699]).unwrap();
        env.step(&Action::Discrete(2)).unwrap();
        assert_eq!(env.state().unwrap()[1], MountainCar::MAX_SPEED);
        // The left wall stops the car.
        env.set_state(&[-1.19, -0.05]).unwrap();
        let s = env.step(&Action::Discrete(0)).unwrap();
        assert_eq!(env.state().unwrap(), vec![-1.2, 0.0]);
        assert_eq!(s.observation, Array1::from(vec![-1.2_f32, 0.0]));
        // The right end clips the position but keeps the velocity.
        let mut env = MountainCar::with_goal_velocity(0.5).unwrap();
        env.set_state(&[0.59, 0.06]).unwrap();
        let s = env.step(&Action::Discrete(2)).unwrap();
        let st = env.state().unwrap();
        assert_eq!(st[0], 0.6);
        assert!(st[1] > 0.05);
        assert!(!s.terminated, "below goal_velocity 0.5");
    }

    #[test]
    fn goal_velocity_gates_termination() {
        let mut env = MountainCar::from_kwargs(&kwargs("goal_velocity = 0.05")).unwrap();
        assert_eq!(env.goal_velocity(), 0.05);
        env.set_state(&[0.49, 0.02]).unwrap();
        assert!(!env.step(&Action::Discrete(2)).unwrap().terminated);
        let mut env = MountainCar::from_kwargs(&kwargs("goal_velocity = -1")).unwrap();
        assert_eq!(env.goal_velocity(), -1.0);
        env.set_state(&[0.55, -0.01]).unwrap();
        assert!(env.step(&Action::Discrete(1)).unwrap().terminated);
    }

    #[test]
    fn kwargs_are_checked() {
        assert_eq!(
            MountainCar::from_kwargs(&toml::Table::new())
                .unwrap()
                .goal_velocity(),
            0.0
        );
        let err = MountainCar::from_kwargs(&kwargs("force = 0.002")).unwrap_err();
        assert!(matches!(err, EnvError::InvalidKwargs { .. }));
        assert!(err.to_string().contains("`force`"), "{err}");
        let err = MountainCar::from_kwargs(&kwargs("goal_velocity = \"fast\"")).unwrap_err();
        assert!(err.to_string().contains("`goal_velocity`"), "{err}");
        let err = MountainCar::from_kwargs(&kwargs("goal_velocity = nan")).unwrap_err();
        assert!(err.to_string().contains("`goal_velocity`"), "{err}");
        let err = MountainCar::from_kwargs(&kwargs("render_mode = \"human\"")).unwrap_err();
        assert!(err.to_string().contains("`render_mode`"), "{err}");
    }
}
