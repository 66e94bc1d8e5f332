//! CartPole-v1: Gymnasium 1.4.0's `CartPoleEnv`
//! (`gymnasium/envs/classic_control/cartpole.py`), ported to Rust.
//!
//! The dynamics, constants, termination test and rewards are those of Gymnasium 1.4.0,
//! evaluated in plain f64 in the same operation order, so a trajectory started from the same
//! state matches Gymnasium's (checked against recorded Gymnasium 1.4.0 trajectories in
//! `tests/cartpole_parity.rs`).
//!
//! Deliberate differences from Gymnasium:
//!
//! * **Random initial state.** Gymnasium draws the initial state from numpy's PCG64
//!   `Generator`; this port draws it from [`EnvRng`] (ChaCha8). The distribution is the same
//!   (each component uniform in `[-0.05, 0.05)`), the numbers are not: a seed here does not
//!   give the same first observation as the same seed in Gymnasium. To reproduce a Gymnasium
//!   episode, start it with [`Env::set_state`] from Gymnasium's state instead.
//! * **Stepping a finished episode is an error.** Gymnasium logs a warning and keeps
//!   stepping (reward 0, or -1 with `sutton_barto_reward`); here `step` after termination, or
//!   before the first [`Env::reset`]/[`Env::set_state`], returns
//!   [`EnvError::StepAfterDone`] (Gymnasium's `OrderEnforcing` wrapper raises for the
//!   latter too).
//! * **No rendering**: the `render_mode` kwarg is rejected.
//! * **No reset options**: Gymnasium's `options={"low": .., "high": ..}` reset bounds are not
//!   supported (the [`Env`] trait has no options); the bounds are always `±0.05`.
//!
//! Time limits are not part of this env (as in Gymnasium): `Registry::make("CartPole-v1")`
//! wraps it in [`crate::TimeLimit`] with 500 steps.

use crate::env::{
    Env, EnvRng, Info, Step, Transition, reset_through_into, step_through_into, write_observation,
};
use crate::error::EnvError;
use crate::phase::Phase;
use crate::space::{Action, Space};
use ndarray::Array1;
use rand::SeedableRng;

/// The classic cart-pole balancing task, `CartPole-v1` (Barto, Sutton & Anderson 1983), as
/// implemented by Gymnasium 1.4.0's `CartPoleEnv`
/// (`gymnasium/envs/classic_control/cartpole.py`).
///
/// * Internal state: `[x, x_dot, theta, theta_dot]`, f64 (Gymnasium's `self.state`,
///   float64), see [`Env::state`].
/// * Observation: that state cast to f32, `[4]`.
/// * Observation space: `Box(-high, high, (4,), float32)` with
///   `high = [2 * x_threshold, inf, 2 * theta_threshold_radians, inf]` cast to f32,
///   exactly as in Gymnasium 1.4.0 (older Gymnasium/Gym versions used
///   `np.finfo(np.float32).max` instead of `inf` for the two velocities).
/// * Action space: `Discrete(2)`: 0 pushes the cart left (force `-10`), 1 pushes it right
///   (force `+10`).
/// * Reward: `1.0` for every step, including the terminating one; with
///   `sutton_barto_reward`, `0.0` for every step and `-1.0` for the terminating one
///   (Gymnasium >= 1.0).
/// * Termination: `|x| > 2.4` or `|theta| > 12°` (strict comparisons, as in Gymnasium).
///   Never truncates by itself.
/// * Reset: each component uniform in `[-0.05, 0.05)` from the env's own [`EnvRng`]; see the
///   module docs for how seeding differs from Gymnasium's numpy stream.
///
/// Stepping after termination or before the first reset is [`EnvError::StepAfterDone`]
/// (a deliberate difference: Gymnasium warns and continues).
#[derive(Debug, Clone)]
pub struct CartPole {
    /// `[x, x_dot, theta, theta_dot]`; meaningful only when `phase != NotStarted`.
    state: [f64; 4],
    /// Where the current episode is.
    phase: Phase,
    /// The env's RNG (Gymnasium's `self.np_random`), used only by `reset`.
    rng: EnvRng,
    /// Gymnasium's `sutton_barto_reward` constructor argument.
    sutton_barto_reward: bool,
}

impl Default for CartPole {
    fn default() -> Self {
        Self::new()
    }
}

impl CartPole {
    /// Registry id, `"CartPole-v1"` (Gymnasium's `gymnasium/envs/__init__.py`).
    pub const ID: &'static str = "CartPole-v1";
    /// Gravitational acceleration, `9.8` (Gymnasium `self.gravity`).
    pub const GRAVITY: f64 = 9.8;
    /// Mass of the cart, `1.0` (Gymnasium `self.masscart`).
    pub const MASSCART: f64 = 1.0;
    /// Mass of the pole, `0.1` (Gymnasium `self.masspole`).
    pub const MASSPOLE: f64 = 0.1;
    /// `MASSPOLE + MASSCART` (Gymnasium `self.total_mass`, same addition order).
    pub const TOTAL_MASS: f64 = Self::MASSPOLE + Self::MASSCART;
    /// Half the pole's length, `0.5` (Gymnasium `self.length`).
    pub const LENGTH: f64 = 0.5;
    /// `MASSPOLE * LENGTH` (Gymnasium `self.polemass_length`).
    pub const POLEMASS_LENGTH: f64 = Self::MASSPOLE * Self::LENGTH;
    /// Magnitude of the force applied to the cart, `10.0` (Gymnasium `self.force_mag`).
    pub const FORCE_MAG: f64 = 10.0;
    /// Seconds between state updates, `0.02` (Gymnasium `self.tau`). The integrator is
    /// Gymnasium's default `"euler"`.
    pub const TAU: f64 = 0.02;
    /// Pole angle beyond which the episode terminates: `12 * 2 * pi / 360` rad = 12°
    /// (Gymnasium `self.theta_threshold_radians`, same operation order).
    pub const THETA_THRESHOLD_RADIANS: f64 = 12.0 * 2.0 * std::f64::consts::PI / 360.0;
    /// Cart position beyond which the episode terminates, `2.4` (Gymnasium
    /// `self.x_threshold`).
    pub const X_THRESHOLD: f64 = 2.4;
    /// Half-width of the uniform reset distribution: each state component is drawn in
    /// `[-RESET_BOUND, RESET_BOUND)` (Gymnasium's default reset bounds `-0.05, 0.05`).
    pub const RESET_BOUND: f64 = 0.05;

    /// A CartPole with Gymnasium's defaults (`sutton_barto_reward = false`), not yet reset.
    /// Its RNG is seeded with 0, so a first `reset(None)` behaves as `reset(Some(0))`.
    pub fn new() -> Self {
        Self::with_sutton_barto_reward(false)
    }

    /// A CartPole with the given `sutton_barto_reward` (Gymnasium's constructor argument of
    /// the same name): when true, the reward is `0.0` per step and `-1.0` on the terminating
    /// step instead of `1.0` everywhere.
    pub fn with_sutton_barto_reward(sutton_barto_reward: bool) -> Self {
        CartPole {
            state: [0.0; 4],
            phase: Phase::NotStarted,
            rng: EnvRng::seed_from_u64(0),
            sutton_barto_reward,
        }
    }

    /// A CartPole from Gymnasium-style constructor kwargs (`gymnasium.make("CartPole-v1",
    /// **kwargs)`), given as a TOML table.
    ///
    /// Accepted keys: `sutton_barto_reward` (bool, default `false`).
    ///
    /// # Errors
    /// [`EnvError::InvalidKwargs`] naming the key, for an unknown key (including
    /// `render_mode`: this port does not render) or a value of the wrong type.
    pub fn from_kwargs(kwargs: &toml::Table) -> Result<Self, EnvError> {
        let mut sutton_barto_reward = false;
        for (key, value) in kwargs {
            match key.as_str() {
                "sutton_barto_reward" => match value {
                    toml::Value::Boolean(b) => sutton_barto_reward = *b,
                    other => {
                        return Err(EnvError::InvalidKwargs {
                            id: Self::ID.to_string(),
                            reason: format!(
                                "`sutton_barto_reward` must be a boolean, got {} `{other}`",
                                other.type_str()
                            ),
                        });
                    }
                },
                "render_mode" => {
                    return Err(EnvError::InvalidKwargs {
                        id: Self::ID.to_string(),
                        reason: "`render_mode` is not supported: this port does not render"
                            .to_string(),
                    });
                }
                other => {
                    return Err(EnvError::InvalidKwargs {
                        id: Self::ID.to_string(),
                        reason: format!(
                            "unknown key `{other}`; accepted keys: `sutton_barto_reward`"
                        ),
                    });
                }
            }
        }
        Ok(Self::with_sutton_barto_reward(sutton_barto_reward))
    }

    /// Whether this env uses the Sutton-Barto reward (see [`CartPole::from_kwargs`]).
    pub fn sutton_barto_reward(&self) -> bool {
        self.sutton_barto_reward
    }

    /// The observation of the current state: `[x, x_dot, theta, theta_dot]` cast to f32,
    /// `[4]` (Gymnasium's `np.array(self.state, dtype=np.float32)`).
    fn observation(&self) -> Array1<f32> {
        Array1::from(self.observation_values().to_vec())
    }

    /// [`Self::observation`] as an array (no allocation).
    fn observation_values(&self) -> [f32; 4] {
        self.state.map(|v| v as f32)
    }

    /// One Euler step of the dynamics from `self.state` under `force`; Gymnasium's
    /// `CartPoleEnv.step`, same operation order (`np.square(v)` is `v * v`).
    fn integrate(&mut self, force: f64) {
        let [x, x_dot, theta, theta_dot] = self.state;
        let costheta = theta.cos();
        let sintheta = theta.sin();

        // For the interested reader: https://coneural.org/florian/papers/05_cart_pole.pdf
        let temp =
            (force + Self::POLEMASS_LENGTH * (theta_dot * theta_dot) * sintheta) / Self::TOTAL_MASS;
        let thetaacc = (Self::GRAVITY * sintheta - costheta * temp)
            / (Self::LENGTH
                * (4.0 / 3.0 - Self::MASSPOLE * (costheta * costheta) / Self::TOTAL_MASS));
        let xacc = temp - Self::POLEMASS_LENGTH * thetaacc * costheta / Self::TOTAL_MASS;

        // kinematics_integrator == "euler"
        self.state = [
            x + Self::TAU * x_dot,
            x_dot + Self::TAU * xacc,
            theta + Self::TAU * theta_dot,
            theta_dot + Self::TAU * thetaacc,
        ];
    }

    /// Gymnasium's termination test (strict inequalities; a NaN state, reachable only
    /// through overflow, does not terminate, exactly as in Gymnasium).
    #[allow(clippy::manual_range_contains)] // `!contains` would terminate on NaN
    fn is_terminal(&self) -> bool {
        let [x, _, theta, _] = self.state;
        x < -Self::X_THRESHOLD
            || x > Self::X_THRESHOLD
            || theta < -Self::THETA_THRESHOLD_RADIANS
            || theta > Self::THETA_THRESHOLD_RADIANS
    }
}

impl Env for CartPole {
    /// `"CartPole-v1"`.
    fn id(&self) -> &str {
        Self::ID
    }

    /// `Box(-high, high, (4,), float32)` with
    /// `high = [4.8, inf, 2 * THETA_THRESHOLD_RADIANS, inf]` as f32 (Gymnasium 1.4.0).
    fn observation_space(&self) -> Space {
        let high = vec![
            (Self::X_THRESHOLD * 2.0) as f32,
            f32::INFINITY,
            (Self::THETA_THRESHOLD_RADIANS * 2.0) as f32,
            f32::INFINITY,
        ];
        let low = high.iter().map(|h| -h).collect();
        Space::box1(low, high)
    }

    /// `Discrete(2)`.
    fn action_space(&self) -> Space {
        Space::Discrete { n: 2 }
    }

    /// Starts an episode: `reset(Some(seed))` re-creates the RNG with
    /// `EnvRng::seed_from_u64(seed)`, `reset(None)` continues it. Draws `x, x_dot, theta,
    /// theta_dot` in that order, each uniform in `[-0.05, 0.05)`, and returns the state as
    /// f32, `[4]`, with an empty info.
    fn reset(&mut self, seed: Option<u64>) -> (Array1<f32>, Info) {
        reset_through_into(self, seed)
    }

    fn reset_into(&mut self, seed: Option<u64>, observation: &mut [f32]) -> Result<Info, EnvError> {
        if let Some(seed) = seed {
            self.rng = EnvRng::seed_from_u64(seed);
        }
        for v in &mut self.state {
            *v = crate::numeric::uniform_half_open(
                &mut self.rng,
                -Self::RESET_BOUND,
                Self::RESET_BOUND,
            );
        }
        self.phase = Phase::Running;
        write_observation(Self::ID, "reset", &self.observation_values(), observation)?;
        Ok(Info::new())
    }

    /// Applies `Action::Discrete(0)` (push left) or `Action::Discrete(1)` (push right) for
    /// one `TAU` = 0.02 s Euler step. Returns the new state as f32 `[4]`, the reward,
    /// `terminated` when the cart or pole left its bounds, `truncated = false`, empty info.
    ///
    /// # Errors
    /// [`EnvError::InvalidAction`] for anything but `Discrete(0)`/`Discrete(1)`;
    /// [`EnvError::StepAfterDone`] after termination or before the first reset.
    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        step_through_into(self, action)
    }

    fn step_into(
        &mut self,
        action: &Action,
        observation: &mut [f32],
    ) -> Result<Transition, EnvError> {
        let force = match action {
            Action::Discrete(1) => Self::FORCE_MAG,
            Action::Discrete(0) => -Self::FORCE_MAG,
            other => {
                return Err(EnvError::invalid_action(other, self.action_space()));
            }
        };
        self.phase.ensure_running(Self::ID)?;
        self.integrate(force);
        let terminated = self.is_terminal();
        // Gymnasium: `1.0`, or with sutton_barto_reward `0.0` / `-1.0` on termination.
        let reward = if !self.sutton_barto_reward {
            1.0
        } else if terminated {
            -1.0
        } else {
            0.0
        };
        if terminated {
            self.phase = Phase::Terminated;
        }
        write_observation(Self::ID, "step", &self.observation_values(), observation)?;
        Ok(Transition {
            reward,
            terminated,
            truncated: false,
            info: Info::new(),
        })
    }

    /// `[x, x_dot, theta, theta_dot]`, f64 (Gymnasium's `env.unwrapped.state`).
    ///
    /// # Errors
    /// [`EnvError::InvalidState`] before the first reset/set_state (Gymnasium's state is
    /// `None` then).
    fn state(&self) -> Result<Vec<f64>, EnvError> {
        self.phase.state_of(Self::ID, &self.state)
    }

    /// Starts an episode from `state = [x, x_dot, theta, theta_dot]` (as Gymnasium's
    /// `env.reset(); env.unwrapped.state = np.array(state, dtype=np.float64)`), clears the
    /// terminated flag and returns the observation, the state as f32 `[4]`. The RNG is not
    /// touched. Any finite state is accepted, even one outside the termination bounds (the
    /// next step then terminates).
    ///
    /// # Errors
    /// [`EnvError::InvalidState`] if `state.len() != 4` or a component is not finite; the env
    /// is then unchanged.
    fn set_state(&mut self, state: &[f64]) -> Result<Array1<f32>, EnvError> {
        let state =
            crate::numeric::checked_state(Self::ID, state, ["x", "x_dot", "theta", "theta_dot"])?;
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
        let env = CartPole::new();
        assert_eq!(env.action_space(), Space::Discrete { n: 2 });
        let Space::Box { low, high, shape } = env.observation_space() else {
            panic!("observation space must be a Box");
        };
        assert_eq!(shape, vec![4]);
        assert_eq!(high[0], 4.8_f32);
        assert_eq!(high[1], f32::INFINITY);
        // np.float32(12 * 2 * math.pi / 360 * 2)
        assert_eq!(high[2], 0.41887903_f32);
        assert_eq!(high[3], f32::INFINITY);
        assert_eq!(low, high.mapv(|h| -h));
        assert_eq!(
            CartPole::THETA_THRESHOLD_RADIANS,
            12.0 * 2.0 * std::f64::consts::PI / 360.0
        );
        assert!((CartPole::THETA_THRESHOLD_RADIANS - 12f64.to_radians()).abs() < 1e-15);
    }

    #[test]
    fn step_before_reset_is_an_error() {
        let mut env = CartPole::new();
        assert!(matches!(
            env.step(&Action::Discrete(0)),
            Err(EnvError::StepAfterDone { .. })
        ));
        assert!(matches!(env.state(), Err(EnvError::InvalidState { .. })));
    }

    #[test]
    fn step_after_termination_is_an_error_until_reset() {
        let mut env = CartPole::new();
        env.reset(Some(3));
        let mut steps = 0;
        loop {
            let s = env
                .step(&Action::Discrete(1))
                .expect("running episode steps");
            steps += 1;
            assert_eq!(s.reward, 1.0, "reward 1 on every step including the last");
            assert!(!s.truncated, "CartPole never truncates by itself");
            if s.terminated {
                break;
            }
            assert!(steps < 1000, "constant push must terminate");
        }
        assert!(matches!(
            env.step(&Action::Discrete(1)),
            Err(EnvError::StepAfterDone { id }) if id == "CartPole-v1"
        ));
        env.reset(None);
        assert!(env.step(&Action::Discrete(1)).is_ok());
    }

    #[test]
    fn invalid_actions_are_rejected() {
        let mut env = CartPole::new();
        env.reset(Some(0));
        let before = env.state().unwrap();
        for action in [
            Action::Discrete(2),
            Action::Discrete(usize::MAX),
            Action::Continuous(Array1::from(vec![1.0])),
            Action::Continuous(Array1::from(vec![f32::NAN])),
        ] {
            match env.step(&action) {
                Err(EnvError::InvalidAction { space, .. }) => {
                    assert_eq!(*space, Space::Discrete { n: 2 })
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
    fn same_seed_same_observation_and_none_continues() {
        let mut a = CartPole::new();
        let mut b = CartPole::new();
        let (oa, info) = a.reset(Some(42));
        let (ob, _) = b.reset(Some(42));
        assert!(info.is_empty());
        assert_eq!(oa, ob);
        // Continuing the RNG gives a different state than re-seeding.
        let (oa2, _) = a.reset(None);
        assert_ne!(oa2, oa);
        // ... and the continuation is itself reproducible.
        let (ob2, _) = b.reset(None);
        assert_eq!(oa2, ob2);
        // A different seed gives a different state.
        let (oc, _) = b.reset(Some(43));
        assert_ne!(oc, oa);
        // Re-seeding with the same seed restarts the stream.
        let (oa3, _) = a.reset(Some(42));
        assert_eq!(oa3, oa);
    }

    #[test]
    fn never_seeded_behaves_as_seed_zero() {
        let mut a = CartPole::new();
        let mut b = CartPole::new();
        assert_eq!(a.reset(None).0, b.reset(Some(0)).0);
    }

    #[test]
    fn initial_state_is_within_bounds_and_observation_is_its_f32_cast() {
        let mut env = CartPole::new();
        for seed in 0..200 {
            let (obs, _) = env.reset(if seed % 2 == 0 { Some(seed) } else { None });
            let state = env.state().unwrap();
            assert_eq!(state.len(), 4);
            for (i, &v) in state.iter().enumerate() {
                assert!(
                    (-0.05..0.05).contains(&v),
                    "seed {seed}: component {i} = {v}"
                );
                assert_eq!(obs[i], v as f32);
            }
            assert!(
                env.observation_space()
                    .contains_observation(obs.as_slice().unwrap())
            );
        }
    }

    #[test]
    fn set_state_validates_and_restarts_the_episode() {
        let mut env = CartPole::new();
        let err = env.set_state(&[0.0; 3]).unwrap_err();
        assert!(err.to_string().contains("got 3"), "{err}");
        let err = env.set_state(&[0.0, 0.0, f64::NAN, 0.0]).unwrap_err();
        assert!(err.to_string().contains("theta"), "{err}");
        let err = env.set_state(&[0.0, f64::INFINITY, 0.0, 0.0]).unwrap_err();
        assert!(err.to_string().contains("x_dot"), "{err}");
        assert!(
            env.state().is_err(),
            "failed set_state leaves the env unchanged"
        );

        // A state beyond the bounds: the next step terminates, then set_state clears it.
        let obs = env.set_state(&[2.5, 0.0, 0.0, 0.0]).unwrap();
        assert_eq!(obs, Array1::from(vec![2.5_f32, 0.0, 0.0, 0.0]));
        assert!(env.step(&Action::Discrete(0)).unwrap().terminated);
        assert!(env.step(&Action::Discrete(0)).is_err());
        env.set_state(&[0.0, 0.0, 0.0, 0.0]).unwrap();
        let s = env.step(&Action::Discrete(1)).unwrap();
        assert!(!s.terminated);
        // From rest, a push right accelerates the cart right and tips the pole left.
        let st = env.state().unwrap();
        assert_eq!(st[0], 0.0);
        assert!(st[1] > 0.0);
        assert_eq!(st[2], 0.0);
        assert!(st[3] < 0.0);
    }

    #[test]
    fn kwargs_are_checked() {
        assert!(
            !CartPole::from_kwargs(&toml::Table::new())
                .unwrap()
                .sutton_barto_reward()
        );
        assert!(
            CartPole::from_kwargs(&kwargs("sutton_barto_reward = true"))
                .unwrap()
                .sutton_barto_reward()
        );
        let err = CartPole::from_kwargs(&kwargs("gravity = 3.0")).unwrap_err();
        assert!(matches!(err, EnvError::InvalidKwargs { .. }));
        assert!(err.to_string().contains("`gravity`"), "{err}");
        let err = CartPole::from_kwargs(&kwargs("sutton_barto_reward = 1")).unwrap_err();
        assert!(err.to_string().contains("`sutton_barto_reward`"), "{err}");
        assert!(err.to_string().contains("boolean"), "{err}");
        let err = CartPole::from_kwargs(&kwargs("render_mode = \"human\"")).unwrap_err();
        assert!(err.to_string().contains("`render_mode`"), "{err}");
    }

    #[test]
    fn sutton_barto_reward_is_zero_then_minus_one() {
        let mut env = CartPole::from_kwargs(&kwargs("sutton_barto_reward = true")).unwrap();
        let mut plain = CartPole::new();
        env.reset(Some(5));
        plain.reset(Some(5));
        loop {
            let s = env.step(&Action::Discrete(0)).unwrap();
            let p = plain.step(&Action::Discrete(0)).unwrap();
            assert_eq!(
                s.observation, p.observation,
                "the reward does not change dynamics"
            );
            assert_eq!(s.terminated, p.terminated);
            if s.terminated {
                assert_eq!(s.reward, -1.0);
                break;
            }
            assert_eq!(s.reward, 0.0);
        }
    }
}
