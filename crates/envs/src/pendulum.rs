//! Pendulum-v1: Gymnasium 1.4.0's `PendulumEnv`
//! (`gymnasium/envs/classic_control/pendulum.py`), ported to Rust.
//!
//! The dynamics, constants and rewards are those of Gymnasium 1.4.0, **including its
//! float32 arithmetic**. The state is float64, but the torque is the float32 action, and
//! numpy 2 (NEP 50) keeps a numpy float32 combined with a Python float in float32 (the
//! Python float rounded to float32 first):
//!
//! * `u = np.clip(action, -2.0, 2.0)[0]` is a float32;
//! * in the cost, `u**2` is a float32 power and `0.001 * u**2` a float32 product (with
//!   `0.001` rounded to float32), added to the float64 angle and speed terms;
//! * in the dynamics, `3.0 / (m * l**2) * u` is a float32 product `3.0f32 * u`, added to
//!   the float64 gravity term.
//!
//! Everything else is float64, in Gymnasium's operation order. A plain-f64 port drifts
//! from Gymnasium's trajectories by up to 1.4e-4 in state/observations and 3.6e-4 in
//! rewards over 200 steps; this one matches the recorded Gymnasium 1.4.0 trajectories in
//! `tests/pendulum_parity.rs`. Squares of numpy scalars (`x**2`) are evaluated, like numpy,
//! through the C library's `pow(x, 2)` rather than `x * x` (they can differ by one ulp).
//!
//! Deliberate differences from Gymnasium:
//!
//! * **Random initial state.** Gymnasium draws the initial state from numpy's PCG64
//!   `Generator`; this port draws it from [`EnvRng`] (ChaCha8). The distribution is the same
//!   (`theta` uniform in `[-pi, pi)`, `theta_dot` uniform in `[-1, 1)`), the numbers are not.
//!   To reproduce a Gymnasium episode, start it with [`Env::set_state`] from Gymnasium's
//!   state instead.
//! * **Non-finite actions are an error.** A torque that is NaN or ±inf is
//!   [`EnvError::InvalidAction`] (Gymnasium would propagate NaN into the state, or clip
//!   ±inf). Finite torques outside the action space's `[-2, 2]` are **accepted** and clipped
//!   exactly as Gymnasium does, so this env does not validate actions with
//!   [`Space::contains`], which would reject them.
//! * **Stepping before the first reset is an error** ([`EnvError::StepAfterDone`], as with
//!   Gymnasium's `OrderEnforcing` wrapper). The pendulum never terminates; its episodes end
//!   through the time limit.
//! * **No rendering** (the `render_mode` kwarg is rejected) and **no reset options**
//!   (Gymnasium's `options={"x_init": .., "y_init": ..}`).
//!
//! Time limits are not part of this env (as in Gymnasium): `Registry::make("Pendulum-v1")`
//! wraps it in [`crate::TimeLimit`] with 200 steps.

use crate::env::{Env, EnvRng, Info, Step};
use crate::error::EnvError;
use crate::phase::Phase;
use crate::space::{Action, Space};
use ndarray::Array1;
use rand::SeedableRng;
use std::f64::consts::PI;

/// The inverted pendulum swing-up task, `Pendulum-v1`, as implemented by Gymnasium 1.4.0's
/// `PendulumEnv` (`gymnasium/envs/classic_control/pendulum.py`).
///
/// * Internal state: `[theta, theta_dot]`, f64 (radians, radians per second; `theta = 0` is
///   upright). `theta` is never wrapped: it grows without bound as the pendulum spins.
///   See [`Env::state`].
/// * Observation: `[cos(theta), sin(theta), theta_dot]` as f32, `[3]`.
/// * Observation space: `Box([-1, -1, -8], [1, 1, 8], (3,), float32)`.
/// * Action space: `Box(-2.0, 2.0, (1,), float32)`: the torque applied at the pivot.
/// * Dynamics (`dt = 0.05` s, `m = l = 1`): `u = clip(a, -2, 2)`;
///   `theta_dot' = clip(theta_dot + (3g/(2l) sin(theta) + 3/(m l²) u) dt, -8, 8)`;
///   `theta' = theta + theta_dot' dt`. Precision as in the module docs.
/// * Reward: `-(angle_normalize(theta)² + 0.1 theta_dot² + 0.001 u²)` of the state
///   *before* the step, in `[-16.27, 0]`; `angle_normalize` maps to `[-pi, pi)`.
/// * Never terminates or truncates by itself.
/// * Reset: `theta` uniform in `[-pi, pi)`, `theta_dot` uniform in `[-1, 1)`, from the env's
///   own [`EnvRng`].
///
/// Actions must be `Action::Continuous` of length 1 with a finite value; out-of-bounds
/// finite values are clipped (see the module docs).
#[derive(Debug, Clone)]
pub struct Pendulum {
    /// `[theta, theta_dot]`; meaningful only once started.
    state: [f64; 2],
    /// Where the episode is (Pendulum never terminates: `NotStarted` or `Running`).
    phase: Phase,
    /// The env's RNG (Gymnasium's `self.np_random`), used only by `reset`.
    rng: EnvRng,
    /// Gravitational acceleration (Gymnasium's `g` constructor argument).
    g: f64,
}

impl Default for Pendulum {
    fn default() -> Self {
        Self::new()
    }
}

impl Pendulum {
    /// Registry id, `"Pendulum-v1"` (Gymnasium's `gymnasium/envs/__init__.py`).
    pub const ID: &'static str = "Pendulum-v1";
    /// Speed limit, `8` rad/s (Gymnasium `self.max_speed`).
    pub const MAX_SPEED: f64 = 8.0;
    /// Torque limit, `2.0` (Gymnasium `self.max_torque`).
    pub const MAX_TORQUE: f64 = 2.0;
    /// Seconds per step, `0.05` (Gymnasium `self.dt`).
    pub const DT: f64 = 0.05;
    /// Default gravitational acceleration, `10.0` (Gymnasium's `g=10.0`).
    pub const DEFAULT_G: f64 = 10.0;
    /// Mass of the pendulum, `1.0` (Gymnasium `self.m`).
    pub const M: f64 = 1.0;
    /// Length of the pendulum, `1.0` (Gymnasium `self.l`).
    pub const L: f64 = 1.0;
    /// Half-width of the reset distribution of `theta`: `pi` (Gymnasium `DEFAULT_X`).
    pub const RESET_THETA: f64 = PI;
    /// Half-width of the reset distribution of `theta_dot`: `1.0` (Gymnasium `DEFAULT_Y`).
    pub const RESET_THETA_DOT: f64 = 1.0;

    /// A Pendulum with Gymnasium's defaults (`g = 10.0`), not yet reset. Its RNG is seeded
    /// with 0, so a first `reset(None)` behaves as `reset(Some(0))`.
    pub fn new() -> Self {
        Self::with_g(Self::DEFAULT_G)
    }

    /// A Pendulum with gravitational acceleration `g` (Gymnasium's constructor argument of
    /// the same name).
    pub fn with_g(g: f64) -> Self {
        Pendulum {
            state: [0.0; 2],
            phase: Phase::NotStarted,
            rng: EnvRng::seed_from_u64(0),
            g,
        }
    }

    /// A Pendulum from Gymnasium-style constructor kwargs
    /// (`gymnasium.make("Pendulum-v1", **kwargs)`), given as a TOML table.
    ///
    /// Accepted keys: `g` (finite float or integer, default `10.0`).
    ///
    /// # Errors
    /// [`EnvError::InvalidKwargs`] naming the key, for an unknown key (including
    /// `render_mode`: this port does not render), a value of the wrong type or a non-finite
    /// `g`.
    pub fn from_kwargs(kwargs: &toml::Table) -> Result<Self, EnvError> {
        let g = crate::numeric::number_kwarg(Self::ID, kwargs, "g")?;
        Ok(Self::with_g(g.unwrap_or(Self::DEFAULT_G)))
    }

    /// The gravitational acceleration of this env.
    pub fn g(&self) -> f64 {
        self.g
    }

    /// Gymnasium's `angle_normalize`: `((x + pi) % (2 pi)) - pi` with Python's floored
    /// modulo (result in `[-pi, pi)` up to rounding).
    pub fn angle_normalize(x: f64) -> f64 {
        let modulus = 2.0 * PI;
        // numpy's float remainder: fmod, then shifted into the sign of the divisor.
        let mut r = (x + PI) % modulus;
        if r != 0.0 {
            if r < 0.0 {
                r += modulus;
            }
        } else {
            r = 0.0;
        }
        r - PI
    }

    /// The observation of the current state: `[cos(theta), sin(theta), theta_dot]` as f32,
    /// `[3]` (Gymnasium's `_get_obs`).
    fn observation(&self) -> Array1<f32> {
        let [th, thdot] = self.state;
        Array1::from(vec![th.cos() as f32, th.sin() as f32, thdot as f32])
    }

    /// The single action value, if `action` is `Continuous` of length 1 and finite.
    fn action_value(&self, action: &Action) -> Result<f32, EnvError> {
        match action {
            Action::Continuous(v) if v.len() == 1 && v[0].is_finite() => Ok(v[0]),
            other => Err(EnvError::invalid_action(other, self.action_space())),
        }
    }
}

impl Env for Pendulum {
    /// `"Pendulum-v1"`.
    fn id(&self) -> &str {
        Self::ID
    }

    /// `Box([-1, -1, -8], [1, 1, 8], (3,), float32)` (Gymnasium 1.4.0).
    fn observation_space(&self) -> Space {
        let high = vec![1.0_f32, 1.0, Self::MAX_SPEED as f32];
        let low = high.iter().map(|h| -h).collect();
        Space::box1(low, high)
    }

    /// `Box(-2.0, 2.0, (1,), float32)` (Gymnasium 1.4.0). Finite torques outside it are still
    /// accepted by [`Env::step`] and clipped (see the module docs).
    fn action_space(&self) -> Space {
        Space::box1(
            vec![-Self::MAX_TORQUE as f32],
            vec![Self::MAX_TORQUE as f32],
        )
    }

    /// Starts an episode: `reset(Some(seed))` re-creates the RNG with
    /// `EnvRng::seed_from_u64(seed)`, `reset(None)` continues it. Draws `theta` uniform in
    /// `[-pi, pi)`, then `theta_dot` uniform in `[-1, 1)`, and returns the observation
    /// `[cos(theta), sin(theta), theta_dot]` as f32, `[3]`, with an empty info.
    fn reset(&mut self, seed: Option<u64>) -> (Array1<f32>, Info) {
        if let Some(seed) = seed {
            self.rng = EnvRng::seed_from_u64(seed);
        }
        let th =
            crate::numeric::uniform_half_open(&mut self.rng, -Self::RESET_THETA, Self::RESET_THETA);
        let thdot = crate::numeric::uniform_half_open(
            &mut self.rng,
            -Self::RESET_THETA_DOT,
            Self::RESET_THETA_DOT,
        );
        self.state = [th, thdot];
        self.phase = Phase::Running;
        (self.observation(), Info::new())
    }

    /// Applies the torque `Action::Continuous([a])` (clipped to `[-2, 2]`) for one
    /// `DT` = 0.05 s step. Returns the new observation `[3]`, the reward (minus the cost of
    /// the state before the step and of the torque), `terminated = false`,
    /// `truncated = false`, empty info.
    ///
    /// # Errors
    /// [`EnvError::InvalidAction`] for a discrete action, a length other than 1 or a
    /// non-finite value (finite out-of-bounds values are accepted);
    /// [`EnvError::StepAfterDone`] before the first reset.
    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        let a = self.action_value(action)?;
        self.phase.ensure_running(Self::ID)?;
        let [th, thdot] = self.state;
        // u = np.clip(u, -max_torque, max_torque)[0]: stays float32.
        let max_torque = Self::MAX_TORQUE as f32;
        let u: f32 = a.clamp(-max_torque, max_torque);
        // costs = angle_normalize(th)**2 + 0.1 * thdot**2 + 0.001 * (u**2); the last term is
        // a float32 product (0.001 rounded to f32) joining the f64 sum.
        let torque_cost: f32 = (0.001_f64 as f32) * crate::numeric::np_square_f32(u);
        let costs = crate::numeric::np_square(Self::angle_normalize(th))
            + 0.1 * crate::numeric::np_square(thdot)
            + f64::from(torque_cost);

        // newthdot = thdot + (3 * g / (2 * l) * np.sin(th) + 3.0 / (m * l**2) * u) * dt;
        // `3.0 / (m * l**2) * u` is a float32 product.
        let gravity_coef = 3.0 * self.g / (2.0 * Self::L);
        let torque_coef = (3.0 / (Self::M * crate::numeric::np_square(Self::L))) as f32;
        let torque_term: f32 = torque_coef * u;
        let newthdot = thdot + (gravity_coef * th.sin() + f64::from(torque_term)) * Self::DT;
        let newthdot = newthdot.clamp(-Self::MAX_SPEED, Self::MAX_SPEED);
        let newth = th + newthdot * Self::DT;
        self.state = [newth, newthdot];
        Ok(Step {
            observation: self.observation(),
            reward: -costs,
            terminated: false,
            truncated: false,
            info: Info::new(),
        })
    }

    /// `[theta, theta_dot]`, f64 (Gymnasium's `env.unwrapped.state`; `theta` unwrapped).
    ///
    /// # Errors
    /// [`EnvError::InvalidState`] before the first reset/set_state.
    fn state(&self) -> Result<Vec<f64>, EnvError> {
        self.phase.state_of(Self::ID, &self.state)
    }

    /// Starts an episode from `state = [theta, theta_dot]` (as Gymnasium's
    /// `env.reset(); env.unwrapped.state = np.array(state, dtype=np.float64)`) and returns
    /// its observation `[3]`. The RNG is not touched. Any finite state is accepted (`theta`
    /// of any size; `|theta_dot| > 8` too, it is clipped by the next step).
    ///
    /// # Errors
    /// [`EnvError::InvalidState`] if `state.len() != 2` or a component is not finite; the env
    /// is then unchanged.
    fn set_state(&mut self, state: &[f64]) -> Result<Array1<f32>, EnvError> {
        let state = crate::numeric::checked_state(Self::ID, state, ["theta", "theta_dot"])?;
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

    fn act(a: f32) -> Action {
        Action::Continuous(Array1::from(vec![a]))
    }

    #[test]
    fn spaces_match_gymnasium_1_4_0() {
        let env = Pendulum::new();
        assert_eq!(env.id(), "Pendulum-v1");
        assert_eq!(
            env.action_space(),
            Space::Box {
                low: Array1::from(vec![-2.0_f32]),
                high: Array1::from(vec![2.0_f32]),
                shape: vec![1],
            }
        );
        assert_eq!(
            env.observation_space(),
            Space::Box {
                low: Array1::from(vec![-1.0_f32, -1.0, -8.0]),
                high: Array1::from(vec![1.0_f32, 1.0, 8.0]),
                shape: vec![3],
            }
        );
    }

    #[test]
    fn invalid_actions_are_rejected_without_changing_the_state() {
        let mut env = Pendulum::new();
        env.reset(Some(0));
        let before = env.state().unwrap();
        for action in [
            act(f32::NAN),
            act(f32::INFINITY),
            act(f32::NEG_INFINITY),
            Action::Continuous(Array1::from(vec![0.5, 0.5])),
            Action::Continuous(Array1::from(Vec::<f32>::new())),
            Action::Discrete(0),
        ] {
            match env.step(&action) {
                Err(EnvError::InvalidAction { space, .. }) => {
                    assert_eq!(*space, env.action_space())
                }
                other => panic!("expected InvalidAction for {action:?}, got {other:?}"),
            }
        }
        assert_eq!(env.state().unwrap(), before);
    }

    #[test]
    fn out_of_bounds_torques_are_clipped() {
        let mut big = Pendulum::new();
        let mut two = Pendulum::new();
        for (a, clipped) in [(7.5_f32, 2.0_f32), (-1e6, -2.0)] {
            big.set_state(&[0.3, -0.2]).unwrap();
            two.set_state(&[0.3, -0.2]).unwrap();
            assert!(!big.action_space().contains(&act(a)));
            assert_eq!(big.step(&act(a)).unwrap(), two.step(&act(clipped)).unwrap());
            assert_eq!(big.state().unwrap(), two.state().unwrap());
        }
    }

    #[test]
    fn step_before_reset_is_an_error_and_it_never_terminates() {
        let mut env = Pendulum::new();
        assert!(matches!(
            env.step(&act(0.0)),
            Err(EnvError::StepAfterDone { id }) if id == "Pendulum-v1"
        ));
        assert!(matches!(env.state(), Err(EnvError::InvalidState { .. })));
        env.reset(Some(1));
        for _ in 0..1000 {
            let s = env.step(&act(2.0)).unwrap();
            assert!(!s.terminated && !s.truncated);
            assert!((-16.2736..=0.0).contains(&s.reward), "{}", s.reward);
            assert!(
                env.observation_space()
                    .contains_observation(s.observation.as_slice().unwrap())
            );
        }
    }

    #[test]
    fn seeded_reset_is_deterministic_and_within_bounds() {
        let mut a = Pendulum::new();
        let mut b = Pendulum::new();
        let (oa, info) = a.reset(Some(42));
        assert!(info.is_empty());
        assert_eq!(oa, b.reset(Some(42)).0);
        let (oa2, _) = a.reset(None);
        assert_ne!(oa2, oa);
        assert_eq!(oa2, b.reset(None).0);
        assert_eq!(a.reset(Some(42)).0, oa);
        assert_eq!(
            Pendulum::new().reset(None).0,
            Pendulum::new().reset(Some(0)).0
        );
        let mut env = Pendulum::new();
        for seed in 0..200 {
            let (obs, _) = env.reset(if seed % 2 == 0 { Some(seed) } else { None });
            let [th, thdot] = env.state().unwrap()[..] else {
                panic!("state has 2 components");
            };
            assert!((-PI..PI).contains(&th), "seed {seed}: theta {th}");
            assert!(
                (-1.0..1.0).contains(&thdot),
                "seed {seed}: theta_dot {thdot}"
            );
            assert_eq!(
                obs,
                Array1::from(vec![th.cos() as f32, th.sin() as f32, thdot as f32])
            );
        }
    }

    #[test]
    fn set_state_validates_and_restarts_the_episode() {
        let mut env = Pendulum::new();
        let err = env.set_state(&[0.0]).unwrap_err();
        assert!(err.to_string().contains("got 1"), "{err}");
        let err = env.set_state(&[f64::INFINITY, 0.0]).unwrap_err();
        assert!(err.to_string().contains("`theta`"), "{err}");
        let err = env.set_state(&[0.0, f64::NAN]).unwrap_err();
        assert!(err.to_string().contains("`theta_dot`"), "{err}");
        assert!(env.state().is_err(), "a failed set_state changes nothing");
        let obs = env.set_state(&[PI / 2.0, 3.0]).unwrap();
        assert_eq!(obs, Array1::from(vec![(PI / 2.0).cos() as f32, 1.0, 3.0]));
        assert_eq!(env.state().unwrap(), vec![PI / 2.0, 3.0]);
        // Theta is never wrapped.
        env.set_state(&[70.0, 0.0]).unwrap();
        env.step(&act(0.0)).unwrap();
        assert!(env.state().unwrap()[0] > 69.0);
    }

    #[test]
    fn reward_and_dynamics_of_a_hand_computed_step() {
        let mut env = Pendulum::new();
        // Upright at rest with no torque: no cost, no motion.
        env.set_state(&[0.0, 0.0]).unwrap();
        let s = env.step(&act(0.0)).unwrap();
        assert_eq!(s.reward, 0.0);
        assert_eq!(env.state().unwrap(), vec![0.0, 0.0]);

        // Horizontal (theta = pi/2), theta_dot = 1, torque 1.5.
        env.set_state(&[PI / 2.0, 1.0]).unwrap();
        let s = env.step(&act(1.5)).unwrap();
        // cost = (pi/2)^2 + 0.1 * 1 + f32(0.001) * 2.25 (in f32)
        let torque_cost = f64::from((0.001_f64 as f32) * 2.25_f32);
        let want_cost = (PI / 2.0) * (PI / 2.0) + 0.1 + torque_cost;
        assert!((s.reward + want_cost).abs() < 1e-15, "{}", s.reward);
        assert!(
            (s.reward + 2.569_651_100_272_34).abs() < 1e-9,
            "{}",
            s.reward
        );
        // theta_dot' = 1 + (15 * sin(pi/2) + 3 * 1.5) * 0.05 = 1.975
        let thdot = 1.0 + (15.0 * (PI / 2.0).sin() + 4.5) * 0.05;
        assert_eq!(env.state().unwrap(), vec![PI / 2.0 + thdot * 0.05, thdot]);
        assert!((thdot - 1.975).abs() < 1e-15);
        assert_eq!(s.observation[2], thdot as f32);

        // The speed is clipped to 8; a reward is minus the cost of the state *before* the step.
        env.set_state(&[PI, 7.9]).unwrap();
        let s = env.step(&act(2.0)).unwrap();
        assert_eq!(env.state().unwrap()[1], 8.0);
        let want = -(crate::numeric::np_square(Pendulum::angle_normalize(PI))
            + 0.1 * crate::numeric::np_square(7.9)
            + f64::from((0.001_f64 as f32) * 4.0));
        assert_eq!(s.reward, want);
    }

    #[test]
    fn angle_normalize_is_floored_modulo() {
        assert_eq!(Pendulum::angle_normalize(0.0), 0.0);
        assert_eq!(Pendulum::angle_normalize(PI), -PI);
        assert!((Pendulum::angle_normalize(-PI) + PI).abs() < 1e-15);
        assert!((Pendulum::angle_normalize(3.0 * PI / 2.0) + PI / 2.0).abs() < 1e-12);
        assert!((Pendulum::angle_normalize(-3.0 * PI / 2.0) - PI / 2.0).abs() < 1e-12);
        assert!((Pendulum::angle_normalize(70.0) - (70.0 - 22.0 * PI)).abs() < 1e-12);
        assert!((Pendulum::angle_normalize(-70.0) - (-70.0 + 22.0 * PI)).abs() < 1e-12);
    }

    #[test]
    fn g_kwarg() {
        assert_eq!(
            Pendulum::from_kwargs(&toml::Table::new()).unwrap().g(),
            10.0
        );
        assert_eq!(
            Pendulum::from_kwargs(&kwargs("g = 9.81")).unwrap().g(),
            9.81
        );
        let mut env = Pendulum::from_kwargs(&kwargs("g = 0")).unwrap();
        assert_eq!(env.g(), 0.0);
        // No gravity: a horizontal pendulum at rest stays put.
        env.set_state(&[PI / 2.0, 0.0]).unwrap();
        env.step(&act(0.0)).unwrap();
        assert_eq!(env.state().unwrap(), vec![PI / 2.0, 0.0]);
    }

    #[test]
    fn kwargs_errors_name_the_key() {
        for (text, key) in [
            ("gravity = 3.0", "`gravity`"),
            ("g = \"ten\"", "`g`"),
            ("g = nan", "`g`"),
            ("g = -inf", "`g`"),
            ("render_mode = \"human\"", "`render_mode`"),
        ] {
            let err = Pendulum::from_kwargs(&kwargs(text)).unwrap_err();
            assert!(matches!(err, EnvError::InvalidKwargs { .. }), "{err}");
            assert!(err.to_string().contains(key), "{text}: {err}");
        }
    }
}
