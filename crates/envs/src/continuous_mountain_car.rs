//! MountainCarContinuous-v0: Gymnasium 1.4.0's `Continuous_MountainCarEnv`
//! (`gymnasium/envs/classic_control/continuous_mountain_car.py`), ported to Rust.
//!
//! The dynamics, constants, termination test and rewards are those of Gymnasium 1.4.0,
//! **including its float32 arithmetic**. Gymnasium's `step` mixes numpy scalars of different
//! precisions, and numpy 2 (NEP 50) evaluates each operation in the precision of its
//! operands: a numpy float32 combined with a Python float is computed in float32 (the
//! Python float is first rounded to float32), float32 combined with float64 in float64.
//! Concretely:
//!
//! * the action is float32, so `force * power` is a float32 product (`power` rounded to
//!   float32), and `force * power - 0.0025 * cos(3 * position)` a float32 difference;
//!   when the action is outside `[-1, 1]` the force is the Python float `±1.0` instead and
//!   that term is computed in float64;
//! * the state is stored back as `np.array([position, velocity], dtype=float32)` at the end
//!   of every step, so from the second step of an episode on, position and velocity are
//!   float32: the velocity update, `3 * position`, the position update and the comparisons
//!   against `0.07`, `0.6`, `-1.2` and the goal `0.45` are float32 operations against those
//!   constants rounded to float32 (clamped values are the Python floats themselves);
//! * after `reset` (or [`Env::set_state`]) the state is float64, so the first step is
//!   computed in float64 except for the float32 force term.
//!
//! This port tracks the numpy type of every intermediate value and applies those rules, so
//! a trajectory started from the same state matches Gymnasium's (checked against recorded
//! Gymnasium 1.4.0 trajectories in `tests/continuous_mountain_car_parity.rs`; a plain-f64
//! port misses the recommended observation tolerance by up to 4e-6).
//!
//! Deliberate differences from Gymnasium:
//!
//! * **Random initial state.** Gymnasium draws the initial position from numpy's PCG64
//!   `Generator`; this port draws it from [`EnvRng`] (ChaCha8). The distribution is the same
//!   (uniform in `[-0.6, -0.4)`, velocity 0), the numbers are not. To reproduce a Gymnasium
//!   episode, start it with [`Env::set_state`] from Gymnasium's state instead.
//! * **Non-finite actions are an error.** An action component that is NaN or ±inf is
//!   [`EnvError::InvalidAction`] (Gymnasium would propagate NaN into the state or return an
//!   infinite reward). Finite actions outside the action space's `[-1, 1]` are **accepted**
//!   and handled exactly as Gymnasium does (force clamped to `[-1, 1]`, penalty on the raw
//!   action), so this env does not validate actions with [`Space::contains`], which would
//!   reject them.
//! * **Stepping a finished episode is an error.** Gymnasium keeps stepping; here `step`
//!   after termination, or before the first [`Env::reset`]/[`Env::set_state`], returns
//!   [`EnvError::StepAfterDone`].
//! * **No rendering** (the `render_mode` kwarg is rejected) and **no reset options**
//!   (Gymnasium's `options={"low": .., "high": ..}`).
//!
//! Time limits are not part of this env (as in Gymnasium):
//! `Registry::make("MountainCarContinuous-v0")` wraps it in [`crate::TimeLimit`] with 999
//! steps.

use crate::env::{Env, EnvRng, Info, Step};
use crate::error::EnvError;
use crate::phase::Phase;
use crate::space::{Action, Space};
use ndarray::Array1;
use rand::SeedableRng;

/// A car in a valley that must build momentum to reach the hill top on the right, with a
/// continuous force, `MountainCarContinuous-v0` (Moore 1990), as implemented by Gymnasium
/// 1.4.0's `Continuous_MountainCarEnv`
/// (`gymnasium/envs/classic_control/continuous_mountain_car.py`).
///
/// * Internal state: `[position, velocity]` (see [`Env::state`]): float64 right after a
///   reset/`set_state`, float32 values after every step (as in Gymnasium, where the state
///   array becomes float32 after the first step); [`Env::state`] returns them as f64.
/// * Observation: that state as f32, `[2]`.
/// * Observation space: `Box([-1.2, -0.07], [0.6, 0.07], (2,), float32)`.
/// * Action space: `Box(-1.0, 1.0, (1,), float32)`: the force applied to the car.
/// * Dynamics: `force = min(max(a, -1), 1)`;
///   `velocity += force * 0.0015 - 0.0025 * cos(3 * position)`, clamped to `±0.07`;
///   `position += velocity`, clamped to `[-1.2, 0.6]`; hitting the left wall (`position ==
///   -1.2` with `velocity < 0`) sets the velocity to 0. Precision as in the module docs.
/// * Reward: `-0.1 * a²` with the **raw** (unclamped) action `a`, plus `100` on the
///   terminating step.
/// * Termination: `position >= 0.45 && velocity >= goal_velocity` (default 0). Never
///   truncates by itself.
/// * Reset: position uniform in `[-0.6, -0.4)` from the env's own [`EnvRng`], velocity 0.
///
/// Actions must be `Action::Continuous` of length 1 with a finite value; out-of-bounds
/// finite values are accepted (see the module docs).
#[derive(Debug, Clone)]
pub struct ContinuousMountainCar {
    /// `[position, velocity]`; meaningful only when `phase != NotStarted`.
    state: [f64; 2],
    /// Whether `state` holds float32 values (after a step) rather than float64 ones (after
    /// reset/set_state): decides the precision of the next step.
    state_is_f32: bool,
    /// Where the current episode is.
    phase: Phase,
    /// The env's RNG (Gymnasium's `self.np_random`), used only by `reset`.
    rng: EnvRng,
    /// Gymnasium's `goal_velocity` constructor argument.
    goal_velocity: f64,
}

/// A scalar as numpy 2 types it (NEP 50), to reproduce the precision of each operation of
/// Gymnasium's `step`.
#[derive(Debug, Clone, Copy)]
enum Scalar {
    /// A numpy float32 (`np.float32`): strongly typed.
    F32(f32),
    /// A numpy float64 (`np.float64`): strongly typed.
    F64(f64),
    /// A Python float or int: weakly typed, takes the precision of the other operand.
    Py(f64),
}

impl Scalar {
    /// The value as f64 (exact for every variant).
    fn value(self) -> f64 {
        match self {
            Scalar::F32(v) => f64::from(v),
            Scalar::F64(v) | Scalar::Py(v) => v,
        }
    }

    /// Applies a binary operation with numpy 2 promotion: float32 with float32 or a Python
    /// float is computed in f32 (the Python float rounded to f32 first); anything with a
    /// float64 is computed in f64; two Python floats give a Python float.
    fn binary(self, rhs: Scalar, op32: fn(f32, f32) -> f32, op64: fn(f64, f64) -> f64) -> Self {
        match (self, rhs) {
            (Scalar::F64(_), _) | (_, Scalar::F64(_)) => {
                Scalar::F64(op64(self.value(), rhs.value()))
            }
            (Scalar::F32(a), Scalar::F32(b)) => Scalar::F32(op32(a, b)),
            (Scalar::F32(a), Scalar::Py(b)) => Scalar::F32(op32(a, b as f32)),
            (Scalar::Py(a), Scalar::F32(b)) => Scalar::F32(op32(a as f32, b)),
            (Scalar::Py(a), Scalar::Py(b)) => Scalar::Py(op64(a, b)),
        }
    }

    fn add(self, rhs: Scalar) -> Self {
        self.binary(rhs, |a, b| a + b, |a, b| a + b)
    }

    fn sub(self, rhs: Scalar) -> Self {
        self.binary(rhs, |a, b| a - b, |a, b| a - b)
    }

    fn mul(self, rhs: Scalar) -> Self {
        self.binary(rhs, |a, b| a * b, |a, b| a * b)
    }

    /// Compares with a Python float constant: in f32 against the constant rounded to f32
    /// for a float32 scalar, in f64 otherwise.
    fn cmp_py(self, constant: f64) -> Option<std::cmp::Ordering> {
        match self {
            Scalar::F32(v) => v.partial_cmp(&(constant as f32)),
            Scalar::F64(v) | Scalar::Py(v) => v.partial_cmp(&constant),
        }
    }

    fn gt(self, constant: f64) -> bool {
        self.cmp_py(constant) == Some(std::cmp::Ordering::Greater)
    }

    fn lt(self, constant: f64) -> bool {
        self.cmp_py(constant) == Some(std::cmp::Ordering::Less)
    }

    fn eq(self, constant: f64) -> bool {
        self.cmp_py(constant) == Some(std::cmp::Ordering::Equal)
    }

    fn ge(self, constant: f64) -> bool {
        matches!(
            self.cmp_py(constant),
            Some(std::cmp::Ordering::Greater | std::cmp::Ordering::Equal)
        )
    }

    /// The value rounded to f32 (numpy's `np.array(.., dtype=np.float32)`).
    fn to_f32(self) -> f32 {
        match self {
            Scalar::F32(v) => v,
            Scalar::F64(v) | Scalar::Py(v) => v as f32,
        }
    }
}

impl Default for ContinuousMountainCar {
    fn default() -> Self {
        Self::new()
    }
}

impl ContinuousMountainCar {
    /// Registry id, `"MountainCarContinuous-v0"` (Gymnasium's `gymnasium/envs/__init__.py`).
    pub const ID: &'static str = "MountainCarContinuous-v0";
    /// Lower bound of the action space and of the force, `-1.0` (Gymnasium
    /// `self.min_action`).
    pub const MIN_ACTION: f64 = -1.0;
    /// Upper bound of the action space and of the force, `1.0` (Gymnasium
    /// `self.max_action`).
    pub const MAX_ACTION: f64 = 1.0;
    /// Left end of the track (the wall), `-1.2` (Gymnasium `self.min_position`).
    pub const MIN_POSITION: f64 = -1.2;
    /// Right end of the track, `0.6` (Gymnasium `self.max_position`).
    pub const MAX_POSITION: f64 = 0.6;
    /// Speed limit, `0.07` (Gymnasium `self.max_speed`).
    pub const MAX_SPEED: f64 = 0.07;
    /// Position at or beyond which the episode can terminate, `0.45` (Gymnasium
    /// `self.goal_position`).
    pub const GOAL_POSITION: f64 = 0.45;
    /// Default of the `goal_velocity` kwarg, `0` (Gymnasium's constructor default).
    pub const DEFAULT_GOAL_VELOCITY: f64 = 0.0;
    /// Velocity change per unit of force per step, `0.0015` (Gymnasium `self.power`; used
    /// rounded to f32 when the force is a float32 action).
    pub const POWER: f64 = 0.0015;
    /// Coefficient of the gravity term `-GRAVITY * cos(3 * position)`, `0.0025`.
    pub const GRAVITY: f64 = 0.0025;
    /// Bonus added to the reward of the terminating step, `100.0`.
    pub const GOAL_REWARD: f64 = 100.0;
    /// Coefficient of the action penalty `-ACTION_COST * a²`, `0.1`.
    pub const ACTION_COST: f64 = 0.1;
    /// Lower end of the uniform reset distribution of the position, `-0.6`.
    pub const RESET_LOW: f64 = -0.6;
    /// Upper end (exclusive) of the uniform reset distribution of the position, `-0.4`.
    pub const RESET_HIGH: f64 = -0.4;

    /// An env with Gymnasium's defaults (`goal_velocity = 0`), not yet reset. Its RNG is
    /// seeded with 0, so a first `reset(None)` behaves as `reset(Some(0))`.
    pub fn new() -> Self {
        Self::with_goal_velocity(Self::DEFAULT_GOAL_VELOCITY)
    }

    /// An env whose goal also requires `velocity >= goal_velocity` (Gymnasium's
    /// constructor argument of the same name; compared in the precision of the velocity,
    /// i.e. rounded to f32 once the state is float32).
    pub fn with_goal_velocity(goal_velocity: f64) -> Self {
        ContinuousMountainCar {
            state: [0.0; 2],
            state_is_f32: false,
            phase: Phase::NotStarted,
            rng: EnvRng::seed_from_u64(0),
            goal_velocity,
        }
    }

    /// An env from Gymnasium-style constructor kwargs
    /// (`gymnasium.make("MountainCarContinuous-v0", **kwargs)`), given as a TOML table.
    ///
    /// Accepted keys: `goal_velocity` (finite float or integer, default `0`).
    ///
    /// # Errors
    /// [`EnvError::InvalidKwargs`] naming the key, for an unknown key (including
    /// `render_mode`: this port does not render), a value of the wrong type or a non-finite
    /// `goal_velocity`.
    pub fn from_kwargs(kwargs: &toml::Table) -> Result<Self, EnvError> {
        let goal_velocity = crate::numeric::number_kwarg(Self::ID, kwargs, "goal_velocity")?;
        Ok(Self::with_goal_velocity(
            goal_velocity.unwrap_or(Self::DEFAULT_GOAL_VELOCITY),
        ))
    }

    /// The `goal_velocity` of this env (see [`ContinuousMountainCar::with_goal_velocity`]).
    pub fn goal_velocity(&self) -> f64 {
        self.goal_velocity
    }

    /// The observation of the current state: `[position, velocity]` as f32, `[2]`.
    fn observation(&self) -> Array1<f32> {
        self.state.iter().map(|&v| v as f32).collect()
    }

    /// The single action value, if `action` is `Continuous` of length 1 and finite.
    fn action_value(&self, action: &Action) -> Result<f32, EnvError> {
        match action {
            Action::Continuous(v) if v.len() == 1 && v[0].is_finite() => Ok(v[0]),
            other => Err(EnvError::invalid_action(other, self.action_space())),
        }
    }

    /// Gymnasium's `step` dynamics for the float32 action `a`, with numpy 2's precision for
    /// every operation (see the module docs). Returns `terminated`; updates `self.state`,
    /// which is float32 afterwards.
    fn integrate(&mut self, a: f32) -> bool {
        let wrap = |v: f64| {
            if self.state_is_f32 {
                Scalar::F32(v as f32)
            } else {
                Scalar::F64(v)
            }
        };
        let mut position = wrap(self.state[0]);
        let mut velocity = wrap(self.state[1]);

        // force = min(max(action[0], min_action), max_action): the float32 action itself, or
        // the Python float bound when the action lies outside it.
        let force = if Scalar::F32(a).lt(Self::MIN_ACTION) {
            Scalar::Py(Self::MIN_ACTION)
        } else if Scalar::F32(a).gt(Self::MAX_ACTION) {
            Scalar::Py(Self::MAX_ACTION)
        } else {
            Scalar::F32(a)
        };
        // velocity += force * power - 0.0025 * math.cos(3 * position)
        let three_position = Scalar::Py(3.0).mul(position);
        let gravity = Scalar::Py(Self::GRAVITY * three_position.value().cos());
        let dv = force.mul(Scalar::Py(Self::POWER)).sub(gravity);
        velocity = velocity.add(dv);
        if velocity.gt(Self::MAX_SPEED) {
            velocity = Scalar::Py(Self::MAX_SPEED);
        }
        if velocity.lt(-Self::MAX_SPEED) {
            velocity = Scalar::Py(-Self::MAX_SPEED);
        }
        position = position.add(velocity);
        if position.gt(Self::MAX_POSITION) {
            position = Scalar::Py(Self::MAX_POSITION);
        }
        if position.lt(Self::MIN_POSITION) {
            position = Scalar::Py(Self::MIN_POSITION);
        }
        if position.eq(Self::MIN_POSITION) && velocity.lt(0.0) {
            velocity = Scalar::Py(0.0);
        }
        let terminated = position.ge(Self::GOAL_POSITION) && velocity.ge(self.goal_velocity);
        // self.state = np.array([position, velocity], dtype=np.float32)
        self.state = [f64::from(position.to_f32()), f64::from(velocity.to_f32())];
        self.state_is_f32 = true;
        terminated
    }
}

impl Env for ContinuousMountainCar {
    /// `"MountainCarContinuous-v0"`.
    fn id(&self) -> &str {
        Self::ID
    }

    /// `Box([-1.2, -0.07], [0.6, 0.07], (2,), float32)` (Gymnasium 1.4.0).
    fn observation_space(&self) -> Space {
        Space::box1(
            vec![Self::MIN_POSITION as f32, -Self::MAX_SPEED as f32],
            vec![Self::MAX_POSITION as f32, Self::MAX_SPEED as f32],
        )
    }

    /// `Box(-1.0, 1.0, (1,), float32)` (Gymnasium 1.4.0). Finite actions outside it are
    /// still accepted by [`Env::step`] (see the module docs).
    fn action_space(&self) -> Space {
        Space::box1(vec![Self::MIN_ACTION as f32], vec![Self::MAX_ACTION as f32])
    }

    /// Starts an episode: `reset(Some(seed))` re-creates the RNG with
    /// `EnvRng::seed_from_u64(seed)`, `reset(None)` continues it. Draws the position uniform
    /// in `[-0.6, -0.4)`, sets the velocity to 0 (a float64 state, as in Gymnasium) and
    /// returns the state as f32, `[2]`, with an empty info.
    fn reset(&mut self, seed: Option<u64>) -> (Array1<f32>, Info) {
        if let Some(seed) = seed {
            self.rng = EnvRng::seed_from_u64(seed);
        }
        let position =
            crate::numeric::uniform_half_open(&mut self.rng, Self::RESET_LOW, Self::RESET_HIGH);
        self.state = [position, 0.0];
        self.state_is_f32 = false;
        self.phase = Phase::Running;
        (self.observation(), Info::new())
    }

    /// Applies the force `Action::Continuous([a])` for one step. Returns the new state as
    /// f32 `[2]`, the reward `-0.1 * a²` (raw `a`; `+100` on termination), `terminated`
    /// when the goal is reached, `truncated = false`, empty info.
    ///
    /// # Errors
    /// [`EnvError::InvalidAction`] for a discrete action, a length other than 1 or a
    /// non-finite value (finite out-of-bounds values are accepted);
    /// [`EnvError::StepAfterDone`] after termination or before the first reset.
    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        let a = self.action_value(action)?;
        self.phase.ensure_running(Self::ID)?;
        let terminated = self.integrate(a);
        // reward = 100.0 if terminated else 0; reward -= math.pow(action[0], 2) * 0.1
        // (in f64; the square of an f32 value is exact in f64).
        let a = f64::from(a);
        let bonus = if terminated { Self::GOAL_REWARD } else { 0.0 };
        let reward = bonus - a * a * Self::ACTION_COST;
        if terminated {
            self.phase = Phase::Terminated;
        }
        Ok(Step {
            observation: self.observation(),
            reward,
            terminated,
            truncated: false,
            info: Info::new(),
        })
    }

    /// `[position, velocity]` as f64 (Gymnasium's `env.unwrapped.state`: float64 after a
    /// reset/set_state, float32 values after a step).
    ///
    /// # Errors
    /// [`EnvError::InvalidState`] before the first reset/set_state.
    fn state(&self) -> Result<Vec<f64>, EnvError> {
        self.phase.state_of(Self::ID, &self.state)
    }

    /// Starts an episode from `state = [position, velocity]` (as Gymnasium's
    /// `env.reset(); env.unwrapped.state = np.array(state, dtype=np.float64)`: the next step
    /// starts from a float64 state), clears the terminated flag and returns the state as f32
    /// `[2]`. The RNG is not touched. Any finite state is accepted, even outside the
    /// observation space.
    ///
    /// # Errors
    /// [`EnvError::InvalidState`] if `state.len() != 2` or a component is not finite; the env
    /// is then unchanged.
    fn set_state(&mut self, state: &[f64]) -> Result<Array1<f32>, EnvError> {
        let state = crate::numeric::checked_state(Self::ID, state, ["position", "velocity"])?;
        self.state = state;
        self.state_is_f32 = false;
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

    fn act(a: f32) -> Action {
        Action::Continuous(Array1::from(vec![a]))
    }

    #[test]
    fn spaces_match_gymnasium_1_4_0() {
        let env = ContinuousMountainCar::new();
        assert_eq!(env.id(), "MountainCarContinuous-v0");
        assert_eq!(
            env.action_space(),
            Space::Box {
                low: Array1::from(vec![-1.0_f32]),
                high: Array1::from(vec![1.0_f32]),
                shape: vec![1],
            }
        );
        assert_eq!(
            env.observation_space(),
            Space::Box {
                low: Array1::from(vec![-1.2_f64 as f32, -0.07_f64 as f32]),
                high: Array1::from(vec![0.6_f64 as f32, 0.07_f64 as f32]),
                shape: vec![2],
            }
        );
    }

    #[test]
    fn invalid_actions_are_rejected_without_changing_the_state() {
        let mut env = ContinuousMountainCar::new();
        env.reset(Some(0));
        let before = env.state().unwrap();
        for action in [
            act(f32::NAN),
            act(f32::INFINITY),
            act(f32::NEG_INFINITY),
            Action::Continuous(Array1::from(vec![0.5, 0.5])),
            Action::Continuous(Array1::from(Vec::<f32>::new())),
            Action::Discrete(0),
            Action::Discrete(1),
        ] {
            match env.step(&action) {
                Err(EnvError::InvalidAction { space, .. }) => {
                    assert_eq!(*space, env.action_space())
                }
                other => panic!("expected InvalidAction for {action:?}, got {other:?}"),
            }
        }
        assert_eq!(env.state().unwrap(), before);
        // Finite out-of-bounds actions are accepted, although the space does not contain
        // them.
        assert!(!env.action_space().contains(&act(3.0)));
        assert!(env.step(&act(3.0)).is_ok());
        assert!(env.step(&act(-1e6)).is_ok());
    }

    #[test]
    fn step_before_reset_and_after_termination_is_an_error() {
        let mut env = ContinuousMountainCar::new();
        assert!(matches!(
            env.step(&act(0.0)),
            Err(EnvError::StepAfterDone { .. })
        ));
        assert!(matches!(env.state(), Err(EnvError::InvalidState { .. })));

        // Right next to the goal, moving right: the first step terminates.
        env.set_state(&[0.449, 0.05]).unwrap();
        let s = env.step(&act(1.0)).unwrap();
        assert!(s.terminated);
        assert!(!s.truncated);
        assert_eq!(s.reward, 100.0 - 0.1);
        assert!(matches!(
            env.step(&act(1.0)),
            Err(EnvError::StepAfterDone { id }) if id == "MountainCarContinuous-v0"
        ));
        env.reset(None);
        assert!(env.step(&act(1.0)).is_ok());
    }

    #[test]
    fn pumping_reaches_the_goal() {
        let mut env = ContinuousMountainCar::new();
        env.reset(Some(1));
        let mut steps = 0;
        loop {
            let v = env.state().unwrap()[1];
            let s = env.step(&act(if v >= 0.0 { 1.0 } else { -1.0 })).unwrap();
            steps += 1;
            if s.terminated {
                assert!(s.reward > 99.0);
                assert!(f64::from(s.observation[0]) >= 0.45);
                break;
            }
            assert!(s.reward <= 0.0);
            assert!(steps < 999, "pumping must reach the goal");
        }
    }

    #[test]
    fn seeded_reset_is_deterministic_and_within_bounds() {
        let mut a = ContinuousMountainCar::new();
        let mut b = ContinuousMountainCar::new();
        let (oa, info) = a.reset(Some(42));
        assert!(info.is_empty());
        assert_eq!(oa, b.reset(Some(42)).0);
        let (oa2, _) = a.reset(None);
        assert_ne!(oa2, oa);
        assert_eq!(oa2, b.reset(None).0);
        assert_eq!(a.reset(Some(42)).0, oa);
        assert_eq!(
            ContinuousMountainCar::new().reset(None).0,
            ContinuousMountainCar::new().reset(Some(0)).0
        );
        let mut env = ContinuousMountainCar::new();
        for seed in 0..200 {
            let (obs, _) = env.reset(if seed % 2 == 0 { Some(seed) } else { None });
            let [p, v] = env.state().unwrap()[..] else {
                panic!("state has 2 components");
            };
            assert!((-0.6..-0.4).contains(&p), "seed {seed}: position {p}");
            assert_eq!(v, 0.0);
            assert_eq!(obs, Array1::from(vec![p as f32, 0.0]));
            assert!(
                env.observation_space()
                    .contains_observation(obs.as_slice().unwrap())
            );
        }
    }

    #[test]
    fn set_state_validates_and_restarts_the_episode() {
        let mut env = ContinuousMountainCar::new();
        let err = env.set_state(&[0.0; 3]).unwrap_err();
        assert!(err.to_string().contains("got 3"), "{err}");
        let err = env.set_state(&[f64::NAN, 0.0]).unwrap_err();
        assert!(err.to_string().contains("`position`"), "{err}");
        let err = env.set_state(&[0.0, f64::NEG_INFINITY]).unwrap_err();
        assert!(err.to_string().contains("`velocity`"), "{err}");
        assert!(env.state().is_err(), "a failed set_state changes nothing");
        let obs = env.set_state(&[-0.5, 0.01]).unwrap();
        assert_eq!(obs, Array1::from(vec![-0.5_f32, 0.01_f64 as f32]));
        assert_eq!(env.state().unwrap(), vec![-0.5, 0.01]);
    }

    #[test]
    fn reward_and_dynamics_of_a_hand_computed_step() {
        let mut env = ContinuousMountainCar::new();
        // First step from a float64 state: f32 force term, f64 velocity update.
        env.set_state(&[-0.5, 0.0]).unwrap();
        let s = env.step(&act(0.5)).unwrap();
        let force_term = 0.5_f32 * (0.0015_f64 as f32);
        let dv = force_term - (0.0025 * (3.0_f64 * -0.5).cos()) as f32;
        let velocity = 0.0 + f64::from(dv);
        let position = -0.5 + velocity;
        assert_eq!(
            env.state().unwrap(),
            vec![f64::from(position as f32), f64::from(velocity as f32)]
        );
        assert_eq!(
            s.observation,
            Array1::from(vec![position as f32, velocity as f32])
        );
        assert_eq!(s.reward, -0.025);
        assert!(!s.terminated && !s.truncated);
        assert!(s.info.is_empty());

        // The penalty uses the raw action; the force is clamped to 1.
        let mut raw = ContinuousMountainCar::new();
        let mut clamped = ContinuousMountainCar::new();
        raw.set_state(&[-0.5, 0.0]).unwrap();
        clamped.set_state(&[-0.5, 0.0]).unwrap();
        let r = raw.step(&act(1e6)).unwrap();
        let c = clamped.step(&act(1.0)).unwrap();
        assert_eq!(r.observation, c.observation);
        assert_eq!(r.reward, -(1e12 * 0.1));
        assert_eq!(c.reward, -0.1);
    }

    #[test]
    fn left_wall_stops_the_car() {
        let mut env = ContinuousMountainCar::new();
        env.set_state(&[-1.19, -0.07]).unwrap();
        let s = env.step(&act(-1.0)).unwrap();
        assert_eq!(env.state().unwrap(), vec![f64::from(-1.2_f64 as f32), 0.0]);
        assert_eq!(s.observation, Array1::from(vec![-1.2_f64 as f32, 0.0]));
        // Speed limit: from the right end moving fast, velocity is clamped to -0.07.
        env.set_state(&[0.0, -0.07]).unwrap();
        env.step(&act(-1.0)).unwrap();
        assert_eq!(env.state().unwrap()[1], f64::from(-0.07_f64 as f32));
    }

    #[test]
    fn goal_velocity_kwarg() {
        let env = ContinuousMountainCar::from_kwargs(&toml::Table::new()).unwrap();
        assert_eq!(env.goal_velocity(), 0.0);
        let mut env = ContinuousMountainCar::from_kwargs(&kwargs("goal_velocity = 0.06")).unwrap();
        assert_eq!(env.goal_velocity(), 0.06);
        // At the goal position but slower than goal_velocity: not terminated.
        env.set_state(&[0.5, 0.01]).unwrap();
        let s = env.step(&act(0.0)).unwrap();
        assert!(!s.terminated);
        assert_eq!(
            ContinuousMountainCar::from_kwargs(&kwargs("goal_velocity = 1"))
                .unwrap()
                .goal_velocity(),
            1.0
        );
    }

    #[test]
    fn kwargs_errors_name_the_key() {
        for (text, key) in [
            ("gravity = 3.0", "`gravity`"),
            ("goal_velocity = \"fast\"", "`goal_velocity`"),
            ("goal_velocity = nan", "`goal_velocity`"),
            ("goal_velocity = inf", "`goal_velocity`"),
            ("render_mode = \"human\"", "`render_mode`"),
        ] {
            let err = ContinuousMountainCar::from_kwargs(&kwargs(text)).unwrap_err();
            assert!(matches!(err, EnvError::InvalidKwargs { .. }), "{err}");
            assert!(err.to_string().contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn scalar_promotion_follows_numpy_2() {
        // float32 with a Python float: f32 arithmetic on the rounded Python float.
        let x = Scalar::F32(0.1).add(Scalar::Py(0.2));
        assert!(matches!(x, Scalar::F32(v) if v == 0.1_f32 + 0.2_f64 as f32));
        // float32 with float64: f64 arithmetic.
        let x = Scalar::F32(0.1).add(Scalar::F64(0.2));
        assert!(matches!(x, Scalar::F64(v) if v == f64::from(0.1_f32) + 0.2));
        // Python floats stay Python floats.
        assert!(matches!(Scalar::Py(0.1).mul(Scalar::Py(3.0)), Scalar::Py(v) if v == 0.1 * 3.0));
        // Comparisons of float32 against constants rounded to f32.
        let p = Scalar::F32(0.45_f64 as f32);
        assert!(p.ge(0.45));
        assert!(f64::from(0.45_f64 as f32) < 0.45);
        assert!(!Scalar::F64(f64::from(0.45_f64 as f32)).ge(0.45));
    }
}
