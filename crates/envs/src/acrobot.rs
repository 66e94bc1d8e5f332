//! Acrobot-v1: Gymnasium 1.4.0's `AcrobotEnv`
//! (`gymnasium/envs/classic_control/acrobot.py`), ported to Rust.
//!
//! The dynamics (Sutton & Barto's "book" equations), the fourth-order Runge-Kutta step, the
//! angle wrapping, velocity clipping, termination test and rewards are those of Gymnasium
//! 1.4.0, evaluated in plain f64 in the same operation order, so a trajectory started from
//! the same state matches Gymnasium's (checked against recorded Gymnasium 1.4.0 trajectories
//! in `tests/acrobot_parity.rs`). numpy evaluates `x ** 2` on float64 scalars with the C
//! library's `pow`, which is sometimes one ulp away from `x * x`; this port squares the
//! state-dependent values with the platform's `pow` too, which reproduces the recorded
//! Gymnasium trajectories bit for bit on x86-64 Linux/glibc (with `x * x` the states drift
//! by up to `8e-14` over 500 steps; on other C libraries `pow` may differ in the last bit).
//!
//! Deliberate differences from Gymnasium:
//!
//! * **Random initial state.** Gymnasium draws the initial state from numpy's PCG64
//!   `Generator`; this port draws it from [`EnvRng`] (ChaCha8). The distribution is the same
//!   (each component uniform in `[-0.1, 0.1)`, then rounded to f32 as Gymnasium's
//!   `.astype(np.float32)` does), the numbers are not. To reproduce a Gymnasium episode,
//!   start it with [`Env::set_state`] from Gymnasium's state instead.
//! * **Stepping a finished episode is an error.** Gymnasium keeps stepping after a
//!   termination; here `step` after termination, or before the first
//!   [`Env::reset`]/[`Env::set_state`], returns [`EnvError::StepAfterDone`].
//! * **Angles far outside `[-pi, pi]`.** Gymnasium wraps angles with loops that subtract or
//!   add `2 pi` one turn at a time (and never finish for an infinite angle). This port runs
//!   the same loops while the angle is within 64 turns of the range, which covers every
//!   state reachable from `[-pi, pi]` angles, and reduces farther angles (only reachable
//!   through [`Env::set_state`]) in one step with a remainder; a non-finite angle becomes NaN.
//! * **No rendering**: the `render_mode` kwarg is rejected. The class attributes Gymnasium
//!   lets users patch on the unwrapped env (`dt`, `book_or_nips`, `torque_noise_max`) are
//!   fixed at their defaults: `0.2`, `"book"`, `0.0`.
//! * **No reset options**: Gymnasium's `options={"low": .., "high": ..}` reset bounds are not
//!   supported; the bounds are always `±0.1`.
//!
//! Time limits are not part of this env (as in Gymnasium): `Registry::make("Acrobot-v1")`
//! wraps it in [`crate::TimeLimit`] with 500 steps.

use crate::env::{
    Env, EnvRng, Info, Step, Transition, reset_through_into, step_through_into, write_observation,
};
use crate::error::EnvError;
use crate::phase::Phase;
use crate::space::{Action, Space};
use ndarray::Array1;
use rand::SeedableRng;
use std::f64::consts::PI;

/// The acrobot swing-up task, `Acrobot-v1` (Sutton 1996; Sutton & Barto's book), as
/// implemented by Gymnasium 1.4.0's `AcrobotEnv`
/// (`gymnasium/envs/classic_control/acrobot.py`): two links hanging from a fixed pivot, with
/// a motor at the joint between them; swing the tip of the second link above a line one link
/// length above the pivot.
///
/// * Internal state: `[theta1, theta2, theta1_dot, theta2_dot]`, f64 (Gymnasium's
///   `self.state`), see [`Env::state`]. `theta1` (rad) is the angle of the first link from
///   straight down, `theta2` (rad) the angle of the second link relative to the first;
///   both are wrapped into `[-pi, pi]` after every step. The angular velocities (rad/s) are
///   clipped to `[-4 pi, 4 pi]` and `[-9 pi, 9 pi]`.
/// * Observation: `[cos theta1, sin theta1, cos theta2, sin theta2, theta1_dot,
///   theta2_dot]` computed in f64 and cast to f32, `[6]`.
/// * Observation space: `Box(-high, high, (6,), float32)` with
///   `high = [1, 1, 1, 1, 4 pi, 9 pi]` cast to f32.
/// * Action space: `Discrete(3)`: actions 0, 1, 2 apply a torque of `-1`, `0`, `+1` (N m)
///   to the joint between the links (no torque noise).
/// * Dynamics: one fourth-order Runge-Kutta step of length [`Acrobot::DT`] = 0.2 s of the
///   "book" equations of motion.
/// * Termination: `-cos(theta1) - cos(theta2 + theta1) > 1.0` (strict; the tip is more than
///   one link length above the pivot). Never truncates by itself.
/// * Reward: `-1.0` per step, `0.0` on the terminating step.
/// * Reset: each state component uniform in `[-0.1, 0.1)` from the env's own [`EnvRng`],
///   rounded to f32 (Gymnasium stores the reset state as float32), so each lies in
///   `[-0.1f32, 0.1f32]`; see the module docs for how seeding differs from Gymnasium.
///
/// Stepping after termination or before the first reset is [`EnvError::StepAfterDone`]
/// (a deliberate difference: Gymnasium continues).
#[derive(Debug, Clone)]
pub struct Acrobot {
    /// `[theta1, theta2, theta1_dot, theta2_dot]`; meaningful only when
    /// `phase != NotStarted`.
    state: [f64; 4],
    /// Where the current episode is.
    phase: Phase,
    /// The env's RNG (Gymnasium's `self.np_random`), used only by `reset`.
    rng: EnvRng,
}

impl Default for Acrobot {
    fn default() -> Self {
        Self::new()
    }
}

impl Acrobot {
    /// Registry id, `"Acrobot-v1"` (Gymnasium's `gymnasium/envs/__init__.py`).
    pub const ID: &'static str = "Acrobot-v1";
    /// Integration time step, `0.2` s (Gymnasium `AcrobotEnv.dt`).
    pub const DT: f64 = 0.2;
    /// Length of link 1, `1.0` m (Gymnasium `LINK_LENGTH_1`).
    pub const LINK_LENGTH_1: f64 = 1.0;
    /// Length of link 2, `1.0` m (Gymnasium `LINK_LENGTH_2`; it only matters for rendering).
    pub const LINK_LENGTH_2: f64 = 1.0;
    /// Mass of link 1, `1.0` kg (Gymnasium `LINK_MASS_1`).
    pub const LINK_MASS_1: f64 = 1.0;
    /// Mass of link 2, `1.0` kg (Gymnasium `LINK_MASS_2`).
    pub const LINK_MASS_2: f64 = 1.0;
    /// Position of the centre of mass of link 1 along it, `0.5` m (Gymnasium
    /// `LINK_COM_POS_1`).
    pub const LINK_COM_POS_1: f64 = 0.5;
    /// Position of the centre of mass of link 2 along it, `0.5` m (Gymnasium
    /// `LINK_COM_POS_2`).
    pub const LINK_COM_POS_2: f64 = 0.5;
    /// Moment of inertia of either link, `1.0` kg m² (Gymnasium `LINK_MOI`).
    pub const LINK_MOI: f64 = 1.0;
    /// Gravitational acceleration, `9.8` m/s² (Gymnasium's `g` in `_dsdt`).
    pub const GRAVITY: f64 = 9.8;
    /// Bound on `|theta1_dot|`, `4 pi` rad/s (Gymnasium `MAX_VEL_1`).
    pub const MAX_VEL_1: f64 = 4.0 * PI;
    /// Bound on `|theta2_dot|`, `9 pi` rad/s (Gymnasium `MAX_VEL_2`).
    pub const MAX_VEL_2: f64 = 9.0 * PI;
    /// Torque (N m) applied to the joint by actions 0, 1, 2 (Gymnasium `AVAIL_TORQUE`).
    pub const AVAIL_TORQUE: [f64; 3] = [-1.0, 0.0, 1.0];
    /// Half-width of the uniform reset distribution: each state component is drawn in
    /// `[-RESET_BOUND, RESET_BOUND)` before the f32 rounding (Gymnasium's default reset
    /// bounds `-0.1, 0.1`).
    pub const RESET_BOUND: f64 = 0.1;

    /// An Acrobot with Gymnasium's defaults, not yet reset. Its RNG is seeded with 0, so a
    /// first `reset(None)` behaves as `reset(Some(0))`.
    pub fn new() -> Self {
        Acrobot {
            state: [0.0; 4],
            phase: Phase::NotStarted,
            rng: EnvRng::seed_from_u64(0),
        }
    }

    /// An Acrobot from Gymnasium-style constructor kwargs (`gymnasium.make("Acrobot-v1",
    /// **kwargs)`), given as a TOML table. Gymnasium's only kwarg is `render_mode`, which
    /// this port does not support, so the table must be empty.
    ///
    /// # Errors
    /// [`EnvError::InvalidKwargs`] naming the key, for any key (`render_mode` included).
    pub fn from_kwargs(kwargs: &toml::Table) -> Result<Self, EnvError> {
        if let Some(key) = kwargs.keys().next() {
            let reason = if key == "render_mode" {
                "`render_mode` is not supported: this port does not render".to_string()
            } else {
                format!("unknown key `{key}`; Acrobot-v1 accepts no kwargs")
            };
            return Err(EnvError::InvalidKwargs {
                id: Self::ID.to_string(),
                reason,
            });
        }
        Ok(Self::new())
    }

    /// The observation of the current state, `[cos θ1, sin θ1, cos θ2, sin θ2, θ1_dot,
    /// θ2_dot]` computed in f64 and cast to f32, `[6]` (Gymnasium's `_get_ob`).
    fn observation(&self) -> Array1<f32> {
        Array1::from(self.observation_values().to_vec())
    }

    /// [`Self::observation`] as an array (no allocation).
    fn observation_values(&self) -> [f32; 6] {
        let [theta1, theta2, dtheta1, dtheta2] = self.state;
        [
            theta1.cos(),
            theta1.sin(),
            theta2.cos(),
            theta2.sin(),
            dtheta1,
            dtheta2,
        ]
        .map(|v| v as f32)
    }

    /// Time derivative of `s = [theta1, theta2, dtheta1, dtheta2]` under `torque`:
    /// Gymnasium's `_dsdt` with `book_or_nips == "book"`, same operation order (`x ** 2` of
    /// state-dependent values is [`np_square`]; of the constants it is exact, `x * x`).
    fn dsdt(s: [f64; 4], torque: f64) -> [f64; 4] {
        let m1 = Self::LINK_MASS_1;
        let m2 = Self::LINK_MASS_2;
        let l1 = Self::LINK_LENGTH_1;
        let lc1 = Self::LINK_COM_POS_1;
        let lc2 = Self::LINK_COM_POS_2;
        let i1 = Self::LINK_MOI;
        let i2 = Self::LINK_MOI;
        let g = Self::GRAVITY;
        let a = torque;
        let [theta1, theta2, dtheta1, dtheta2] = s;
        let d1 =
            m1 * (lc1 * lc1) + m2 * (l1 * l1 + lc2 * lc2 + 2.0 * l1 * lc2 * theta2.cos()) + i1 + i2;
        let d2 = m2 * (lc2 * lc2 + l1 * lc2 * theta2.cos()) + i2;
        let phi2 = m2 * lc2 * g * (theta1 + theta2 - PI / 2.0).cos();
        let phi1 = -m2 * l1 * lc2 * crate::numeric::np_square(dtheta2) * theta2.sin()
            - 2.0 * m2 * l1 * lc2 * dtheta2 * dtheta1 * theta2.sin()
            + (m1 * lc1 + m2 * l1) * g * (theta1 - PI / 2.0).cos()
            + phi2;
        // "book" dynamics (the "nips" variant drops the `dtheta1 ** 2` term).
        let ddtheta2 = (a + d2 / d1 * phi1
            - m2 * l1 * lc2 * crate::numeric::np_square(dtheta1) * theta2.sin()
            - phi2)
            / (m2 * (lc2 * lc2) + i2 - crate::numeric::np_square(d2) / d1);
        let ddtheta1 = -(d2 * ddtheta2 + phi1) / d1;
        [dtheta1, dtheta2, ddtheta1, ddtheta2]
    }

    /// One fourth-order Runge-Kutta step of length `DT` from `y0` under `torque`:
    /// Gymnasium's `rk4(self._dsdt, s_augmented, [0, self.dt])`, same operation order
    /// (the augmented torque component has derivative 0 and stays constant).
    fn rk4(y0: [f64; 4], torque: f64) -> [f64; 4] {
        let dt = Self::DT;
        let dt2 = dt / 2.0;
        let add = |y: [f64; 4], h: f64, k: [f64; 4]| -> [f64; 4] {
            std::array::from_fn(|i| y[i] + h * k[i])
        };
        let k1 = Self::dsdt(y0, torque);
        let k2 = Self::dsdt(add(y0, dt2, k1), torque);
        let k3 = Self::dsdt(add(y0, dt2, k2), torque);
        let k4 = Self::dsdt(add(y0, dt, k3), torque);
        let h = dt / 6.0;
        std::array::from_fn(|i| y0[i] + h * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]))
    }

    /// Gymnasium's termination test, `-cos(s[0]) - cos(s[1] + s[0]) > 1.0` (false for a NaN
    /// state, as in Gymnasium).
    fn is_terminal(&self) -> bool {
        let [theta1, theta2, _, _] = self.state;
        -theta1.cos() - (theta2 + theta1).cos() > 1.0
    }
}

/// Gymnasium's `wrap(x, -pi, pi)` (`acrobot.py`): subtracts `2 pi` while `x > pi`, then adds
/// it while `x < -pi` (so `±pi` itself is kept). Angles more than 64 turns away, which
/// Gymnasium would take that many loop iterations over (or forever, for infinities), are
/// first reduced with a Euclidean remainder; non-finite angles give NaN.
fn wrap_angle(mut x: f64) -> f64 {
    let (m, big_m) = (-PI, PI);
    let diff = big_m - m;
    if !x.is_finite() {
        return f64::NAN;
    }
    if (x - m).abs() > 64.0 * diff {
        x = m + (x - m).rem_euclid(diff);
    }
    while x > big_m {
        x -= diff;
    }
    while x < m {
        x += diff;
    }
    x
}

/// Gymnasium's `bound(x, m, M)`, `min(max(x, m), M)`: `x` clamped to `[m, M]`, NaN passing
/// through (as with Python's `min`/`max` when `x` comes first).
fn bound(x: f64, m: f64, big_m: f64) -> f64 {
    x.clamp(m, big_m)
}

impl Env for Acrobot {
    /// `"Acrobot-v1"`.
    fn id(&self) -> &str {
        Self::ID
    }

    /// `Box(-high, high, (6,), float32)` with `high = [1, 1, 1, 1, 4 pi, 9 pi]` as f32
    /// (Gymnasium 1.4.0).
    fn observation_space(&self) -> Space {
        let high = vec![
            1.0,
            1.0,
            1.0,
            1.0,
            Self::MAX_VEL_1 as f32,
            Self::MAX_VEL_2 as f32,
        ];
        let low = high.iter().map(|h| -h).collect();
        Space::box1(low, high)
    }

    /// `Discrete(3)`.
    fn action_space(&self) -> Space {
        Space::Discrete { n: 3 }
    }

    /// Starts an episode: `reset(Some(seed))` re-creates the RNG with
    /// `EnvRng::seed_from_u64(seed)`, `reset(None)` continues it. Draws `theta1, theta2,
    /// theta1_dot, theta2_dot` in that order, each uniform in `[-0.1, 0.1)` and rounded to
    /// f32, and returns their observation, `[6]`, with an empty info.
    fn reset(&mut self, seed: Option<u64>) -> (Array1<f32>, Info) {
        reset_through_into(self, seed)
    }

    fn reset_into(&mut self, seed: Option<u64>, observation: &mut [f32]) -> Result<Info, EnvError> {
        if let Some(seed) = seed {
            self.rng = EnvRng::seed_from_u64(seed);
        }
        for v in &mut self.state {
            let x = crate::numeric::uniform_half_open(
                &mut self.rng,
                -Self::RESET_BOUND,
                Self::RESET_BOUND,
            );
            *v = f64::from(x as f32);
        }
        self.phase = Phase::Running;
        write_observation(Self::ID, "reset", &self.observation_values(), observation)?;
        Ok(Info::new())
    }

    /// Applies the torque of `Action::Discrete(a)`, `a` in `0..3` (torque `a - 1`), for one
    /// RK4 step of `DT` = 0.2 s, then wraps the angles into `[-pi, pi]` and clips the
    /// velocities. Returns the observation `[6]`, reward `-1.0` (`0.0` when terminated),
    /// `terminated` when the tip is above the line, `truncated = false`, empty info.
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
        let torque = match action {
            Action::Discrete(a) if *a < Self::AVAIL_TORQUE.len() => Self::AVAIL_TORQUE[*a],
            other => return Err(EnvError::invalid_action(other, self.action_space())),
        };
        self.phase.ensure_running(Self::ID)?;
        let ns = Self::rk4(self.state, torque);
        self.state = [
            wrap_angle(ns[0]),
            wrap_angle(ns[1]),
            bound(ns[2], -Self::MAX_VEL_1, Self::MAX_VEL_1),
            bound(ns[3], -Self::MAX_VEL_2, Self::MAX_VEL_2),
        ];
        let terminated = self.is_terminal();
        let reward = if terminated { 0.0 } else { -1.0 };
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

    /// `[theta1, theta2, theta1_dot, theta2_dot]`, f64 (Gymnasium's `env.unwrapped.state`).
    ///
    /// # Errors
    /// [`EnvError::InvalidState`] before the first reset/set_state.
    fn state(&self) -> Result<Vec<f64>, EnvError> {
        self.phase.state_of(Self::ID, &self.state)
    }

    /// Starts an episode from `state = [theta1, theta2, theta1_dot, theta2_dot]` (as
    /// Gymnasium's `env.reset(); env.unwrapped.state = np.array(state, dtype=np.float64)`),
    /// clears the terminated flag and returns its observation, `[6]`. The RNG is not touched.
    /// Any finite state is accepted as is: angles outside `[-pi, pi]` and velocities beyond
    /// the bounds are only wrapped/clipped by the next step, and a state above the line only
    /// terminates at the next step.
    ///
    /// # Errors
    /// [`EnvError::InvalidState`] if `state.len() != 4` or a component is not finite; the env
    /// is then unchanged.
    fn set_state(&mut self, state: &[f64]) -> Result<Array1<f32>, EnvError> {
        let state = crate::numeric::checked_state(
            Self::ID,
            state,
            ["theta1", "theta2", "theta1_dot", "theta2_dot"],
        )?;
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
        let env = Acrobot::new();
        assert_eq!(env.action_space(), Space::Discrete { n: 3 });
        let Space::Box { low, high, shape } = env.observation_space() else {
            panic!("observation space must be a Box");
        };
        assert_eq!(shape, vec![6]);
        assert_eq!(&high.as_slice().unwrap()[..4], &[1.0_f32; 4]);
        // np.float32(4 * pi), np.float32(9 * pi)
        assert_eq!(high[4], 12.566371_f32);
        assert_eq!(high[5], 28.274334_f32);
        assert_eq!(low, high.mapv(|h| -h));
    }

    #[test]
    fn step_before_reset_is_an_error() {
        let mut env = Acrobot::new();
        assert!(matches!(
            env.step(&Action::Discrete(1)),
            Err(EnvError::StepAfterDone { .. })
        ));
        assert!(matches!(env.state(), Err(EnvError::InvalidState { .. })));
    }

    #[test]
    fn invalid_actions_are_rejected() {
        let mut env = Acrobot::new();
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
        let mut env = Acrobot::new();
        // Both links pointing up: -cos(pi) - cos(pi + 0) = 2 > 1.
        env.set_state(&[PI, 0.0, 0.0, 0.0]).unwrap();
        let s = env.step(&Action::Discrete(1)).unwrap();
        assert!(s.terminated);
        assert!(!s.truncated);
        assert_eq!(s.reward, 0.0);
        assert!(matches!(
            env.step(&Action::Discrete(1)),
            Err(EnvError::StepAfterDone { id }) if id == "Acrobot-v1"
        ));
        env.reset(None);
        let s = env.step(&Action::Discrete(1)).unwrap();
        assert!(!s.terminated);
        assert_eq!(s.reward, -1.0);
    }

    #[test]
    fn same_seed_same_observation_and_none_continues() {
        let mut a = Acrobot::new();
        let mut b = Acrobot::new();
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
        // A never-seeded env behaves as seed 0.
        assert_eq!(
            Acrobot::new().reset(None).0,
            Acrobot::new().reset(Some(0)).0
        );
    }

    #[test]
    fn initial_state_is_f32_within_bounds() {
        let mut env = Acrobot::new();
        let bound = f64::from(0.1_f32);
        for seed in 0..200 {
            let (obs, _) = env.reset(if seed % 2 == 0 { Some(seed) } else { None });
            let state = env.state().unwrap();
            assert_eq!(state.len(), 4);
            for (i, &v) in state.iter().enumerate() {
                assert!((-bound..=bound).contains(&v), "seed {seed}: [{i}] = {v}");
                assert_eq!(v, f64::from(v as f32), "reset state is float32");
            }
            assert_eq!(obs[0], state[0].cos() as f32);
            assert_eq!(obs[1], state[0].sin() as f32);
            assert_eq!(obs[2], state[1].cos() as f32);
            assert_eq!(obs[3], state[1].sin() as f32);
            assert_eq!(obs[4], state[2] as f32);
            assert_eq!(obs[5], state[3] as f32);
            assert!(
                env.observation_space()
                    .contains_observation(obs.as_slice().unwrap())
            );
        }
    }

    #[test]
    fn set_state_validates_and_restarts_the_episode() {
        let mut env = Acrobot::new();
        let err = env.set_state(&[0.0; 3]).unwrap_err();
        assert!(err.to_string().contains("got 3"), "{err}");
        let err = env.set_state(&[0.0, f64::NAN, 0.0, 0.0]).unwrap_err();
        assert!(err.to_string().contains("`theta2`"), "{err}");
        let err = env.set_state(&[0.0, 0.0, 0.0, f64::INFINITY]).unwrap_err();
        assert!(err.to_string().contains("`theta2_dot`"), "{err}");
        assert!(
            env.state().is_err(),
            "failed set_state leaves the env unchanged"
        );
        let obs = env.set_state(&[0.0; 4]).unwrap();
        assert_eq!(obs, Array1::from(vec![1.0_f32, 0.0, 1.0, 0.0, 0.0, 0.0]));
        assert_eq!(env.state().unwrap(), vec![0.0; 4]);
        // Hanging at rest with no torque is an equilibrium (up to `cos(-pi / 2) != 0` in
        // floating point, as in Gymnasium).
        let s = env.step(&Action::Discrete(1)).unwrap();
        assert!(env.state().unwrap().iter().all(|v| v.abs() < 1e-15));
        assert_eq!(s.reward, -1.0);
        assert!(!s.terminated);
        // Positive torque accelerates the second joint positively, the first negatively.
        let s = env.step(&Action::Discrete(2)).unwrap();
        assert!(s.observation[5] > 0.0 && s.observation[4] < 0.0);
    }

    #[test]
    fn velocities_are_clipped_and_angles_wrapped() {
        let mut env = Acrobot::new();
        env.set_state(&[3.0, -3.0, 100.0, -100.0]).unwrap();
        env.step(&Action::Discrete(0)).unwrap();
        let s = env.state().unwrap();
        // The coupled links swap the signs of the huge velocities within one step.
        assert_eq!(s[2], -Acrobot::MAX_VEL_1);
        assert_eq!(s[3], Acrobot::MAX_VEL_2);
        assert!((-PI..=PI).contains(&s[0]), "{}", s[0]);
        assert!((-PI..=PI).contains(&s[1]), "{}", s[1]);

        assert_eq!(wrap_angle(PI), PI);
        assert_eq!(wrap_angle(-PI), -PI);
        assert_eq!(wrap_angle(PI + 1.0), PI + 1.0 - 2.0 * PI);
        assert_eq!(wrap_angle(-PI - 1.0), -PI - 1.0 + 2.0 * PI);
        assert_eq!(wrap_angle(0.5), 0.5);
        // Far and non-finite angles do not loop forever.
        let far = wrap_angle(1e20);
        assert!((-PI..=PI).contains(&far), "{far}");
        assert!(wrap_angle(f64::INFINITY).is_nan());
        assert!(bound(f64::NAN, -1.0, 1.0).is_nan());
    }

    #[test]
    fn far_angles_from_set_state_step_without_hanging() {
        let mut env = Acrobot::new();
        env.set_state(&[1e300, -1e300, 0.0, 0.0]).unwrap();
        env.step(&Action::Discrete(1)).unwrap();
        let s = env.state().unwrap();
        assert!(
            (-PI..=PI).contains(&s[0]) && (-PI..=PI).contains(&s[1]),
            "{s:?}"
        );
    }

    #[test]
    fn kwargs_are_checked() {
        assert!(Acrobot::from_kwargs(&toml::Table::new()).is_ok());
        let err = Acrobot::from_kwargs(&kwargs("dt = 0.1")).unwrap_err();
        assert!(matches!(err, EnvError::InvalidKwargs { .. }));
        assert!(err.to_string().contains("`dt`"), "{err}");
        let err = Acrobot::from_kwargs(&kwargs("render_mode = \"human\"")).unwrap_err();
        assert!(err.to_string().contains("`render_mode`"), "{err}");
    }
}
