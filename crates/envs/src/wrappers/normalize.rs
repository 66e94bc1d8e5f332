//! Observation and reward normalisation: Gymnasium 1.4.0's `NormalizeObservation`
//! (`gymnasium/wrappers/stateful_observation.py`) and `NormalizeReward`
//! (`gymnasium/wrappers/stateful_reward.py`), with CleanRL's clipping built in.

use super::running_mean_std::RunningMeanStd;
use crate::env::{Env, Info, Step, impl_wrapper};
use crate::error::EnvError;
use crate::space::{Action, Space};
use ndarray::Array1;

/// Options of [`NormalizeObservation`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NormalizeObservationConfig {
    /// Added to the variance under the square root, `> 0` (Gymnasium's `epsilon`,
    /// default `1e-8`).
    pub epsilon: f64,
    /// If set, normalised observations are clipped to `[-clip, clip]`, `clip > 0`
    /// (CleanRL's `TransformObservation(env, lambda obs: np.clip(obs, -10, 10))`). Default
    /// `None`, as Gymnasium's wrapper does not clip.
    pub clip: Option<f64>,
}

impl Default for NormalizeObservationConfig {
    /// Gymnasium's defaults: `epsilon = 1e-8`, no clipping.
    fn default() -> Self {
        NormalizeObservationConfig {
            epsilon: 1e-8,
            clip: None,
        }
    }
}

impl NormalizeObservationConfig {
    /// CleanRL's setting (`ppo_continuous_action.py`): `epsilon = 1e-8`, clip to
    /// `[-10, 10]`.
    pub fn cleanrl() -> Self {
        NormalizeObservationConfig {
            epsilon: 1e-8,
            clip: Some(10.0),
        }
    }
}

/// Options of [`NormalizeReward`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NormalizeRewardConfig {
    /// Discount of the return accumulator, in `[0, 1]` (Gymnasium's `gamma`, default
    /// `0.99`; use the agent's discount).
    pub gamma: f64,
    /// Added to the variance under the square root, `> 0` (Gymnasium's `epsilon`,
    /// default `1e-8`).
    pub epsilon: f64,
    /// If set, normalised rewards are clipped to `[-clip, clip]`, `clip > 0` (CleanRL's
    /// `TransformReward(env, lambda reward: np.clip(reward, -10, 10))`). Default `None`,
    /// as Gymnasium's wrapper does not clip.
    pub clip: Option<f64>,
}

impl Default for NormalizeRewardConfig {
    /// Gymnasium's defaults: `gamma = 0.99`, `epsilon = 1e-8`, no clipping.
    fn default() -> Self {
        NormalizeRewardConfig {
            gamma: 0.99,
            epsilon: 1e-8,
            clip: None,
        }
    }
}

impl NormalizeRewardConfig {
    /// CleanRL's setting (`ppo_continuous_action.py`): `gamma = 0.99`, `epsilon = 1e-8`,
    /// clip to `[-10, 10]`.
    pub fn cleanrl() -> Self {
        NormalizeRewardConfig {
            gamma: 0.99,
            epsilon: 1e-8,
            clip: Some(10.0),
        }
    }
}

/// [`EnvError::InvalidKwargs`] unless `epsilon > 0` and `clip` is `None` or `> 0`.
fn check_epsilon_clip(id: &str, epsilon: f64, clip: Option<f64>) -> Result<(), EnvError> {
    if !(epsilon.is_finite() && epsilon > 0.0) {
        return Err(EnvError::InvalidKwargs {
            id: id.to_string(),
            reason: format!("epsilon must be finite and > 0, got {epsilon}"),
        });
    }
    if let Some(c) = clip
        && (c.is_nan() || c <= 0.0)
    {
        return Err(EnvError::InvalidKwargs {
            id: id.to_string(),
            reason: format!("clip must be > 0 (or None for no clipping), got {c}"),
        });
    }
    Ok(())
}

/// `x.clamp(-c, c)` if `clip` is set (NaN stays NaN).
fn clip_to(x: f64, clip: Option<f64>) -> f64 {
    match clip {
        Some(c) => x.clamp(-c, c),
        None => x,
    }
}

/// A description of the first non-finite component of an observation, if any.
fn non_finite_observation(obs: &[f32]) -> Option<String> {
    obs.iter()
        .position(|x| !x.is_finite())
        .map(|i| format!("observation (component {i} is {})", obs[i]))
}

/// Where a normaliser's episode is with respect to non-finite inputs.
#[derive(Debug, Clone, PartialEq)]
enum Halt {
    /// Nothing wrong.
    Running,
    /// The last reset returned a non-finite observation (described); the next step
    /// reports it.
    AfterBadReset(String),
    /// A non-finite value was reported; stepping needs a reset.
    Halted,
}

/// Normalises each observation component to zero mean and unit variance with running
/// statistics (Gymnasium 1.4.0's `gymnasium.wrappers.NormalizeObservation`), then
/// optionally clips it (CleanRL).
///
/// * Every observation returned by the inner env's `reset` and `step` (and `set_state`)
///   first updates the running statistics (a batch of one sample, see
///   [`RunningMeanStd`]; prior `count = 1e-4`, mean 0, variance 1), unless updates are
///   frozen with [`NormalizeObservation::set_update_running_stats`] — exactly when
///   Gymnasium's `ObservationWrapper.observation` runs.
/// * Then each component becomes `(obs - mean) / sqrt(var + epsilon)`, clipped to
///   `[-clip, clip]` if [`NormalizeObservationConfig::clip`] is set, cast to f32, `[obs_dim]`.
/// * Observation space: `Box(-clip, clip)` (or `Box(-inf, inf)` without clipping) with the
///   inner space's shape (`[1]` for a `Discrete` inner space), as Gymnasium.
///
/// **Non-finite observations** never reach the statistics. A NaN or infinite observation
/// from `step` or `set_state` is [`EnvError::NonFinite`]; `reset` cannot fail, so it returns
/// NaN in the offending components (not clipped) and the following `step` reports
/// [`EnvError::NonFinite`]. After such an error the episode is over: `step` returns
/// [`EnvError::StepAfterDone`] until the next reset.
///
/// Differences from Gymnasium: the statistics are kept in f64 (Gymnasium keeps them in the
/// observation dtype, float32); the clip is built in; the non-finite handling above.
///
/// For checkpoints, save [`NormalizeObservation::stats`] (serde) and restore it with
/// [`NormalizeObservation::set_stats`]; for evaluation, freeze the statistics.
#[derive(Debug, Clone)]
pub struct NormalizeObservation<E: Env> {
    /// The wrapped env.
    env: E,
    /// Running statistics of the raw observations, `dim = obs_dim`.
    stats: RunningMeanStd,
    /// Added to the variance under the square root.
    epsilon: f64,
    /// Clip bound of the normalised observations.
    clip: Option<f64>,
    /// Whether observations update `stats` (Gymnasium's `update_running_mean`).
    update: bool,
    /// Non-finite observation handling.
    halt: Halt,
    /// Scratch buffer: the observation as f64.
    scratch: Vec<f64>,
}

impl<E: Env> NormalizeObservation<E> {
    /// Wraps `env` with Gymnasium's defaults ([`NormalizeObservationConfig::default`]: no
    /// clipping).
    pub fn new(env: E) -> Self {
        let dim = env.observation_space().flat_dim();
        let config = NormalizeObservationConfig::default();
        NormalizeObservation {
            env,
            stats: RunningMeanStd::new(dim),
            epsilon: config.epsilon,
            clip: config.clip,
            update: true,
            halt: Halt::Running,
            scratch: Vec::with_capacity(dim),
        }
    }

    /// Wraps `env` with the given options.
    ///
    /// # Errors
    /// [`EnvError::InvalidKwargs`] if `epsilon` is not finite and `> 0`, or `clip` is not
    /// `> 0` (Gymnasium raises `InvalidBound` for a non-positive epsilon).
    pub fn with_config(env: E, config: NormalizeObservationConfig) -> Result<Self, EnvError> {
        check_epsilon_clip(env.id(), config.epsilon, config.clip)?;
        let mut wrapper = Self::new(env);
        wrapper.epsilon = config.epsilon;
        wrapper.clip = config.clip;
        Ok(wrapper)
    }

    /// The running statistics of the raw observations (`dim = obs_dim`).
    pub fn stats(&self) -> &RunningMeanStd {
        &self.stats
    }

    /// Replaces the running statistics, e.g. with ones saved in a checkpoint.
    ///
    /// # Errors
    /// [`EnvError::InvalidState`] if the statistics' dimension is not the observation's
    /// `flat_dim`, or a value is not finite, or a variance or the count is negative; the
    /// statistics are then unchanged.
    pub fn set_stats(&mut self, stats: RunningMeanStd) -> Result<(), EnvError> {
        stats
            .validate(self.stats.dim())
            .map_err(|reason| EnvError::InvalidState {
                id: self.env.id().to_string(),
                reason: format!("observation statistics: {reason}"),
            })?;
        self.stats = stats;
        Ok(())
    }

    /// Whether observations update the statistics (Gymnasium's `update_running_mean`;
    /// `true` initially).
    pub fn update_running_stats(&self) -> bool {
        self.update
    }

    /// Freezes (`false`, e.g. for evaluation) or resumes (`true`) updating the statistics.
    pub fn set_update_running_stats(&mut self, update: bool) {
        self.update = update;
    }

    /// The variance offset under the square root.
    pub fn epsilon(&self) -> f64 {
        self.epsilon
    }

    /// The clip bound, if any.
    pub fn clip(&self) -> Option<f64> {
        self.clip
    }

    /// Normalises `observation` (`[obs_dim]`) with the current statistics, without updating
    /// them: `(obs - mean) / sqrt(var + epsilon)`, clipped; non-finite components give NaN.
    ///
    /// # Panics
    /// If `observation.len()` is not the statistics' dimension.
    pub fn normalize(&self, observation: &[f32]) -> Array1<f32> {
        assert_eq!(
            observation.len(),
            self.stats.dim(),
            "NormalizeObservation::normalize: observation of length {}, statistics of {}",
            observation.len(),
            self.stats.dim()
        );
        observation
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                if x.is_finite() {
                    let z = self.stats.normalize(i, f64::from(x), self.epsilon);
                    clip_to(z, self.clip) as f32
                } else {
                    f32::NAN
                }
            })
            .collect()
    }

    /// Updates the statistics with a finite observation (if updates are on) and normalises
    /// it.
    ///
    /// # Panics
    /// If the observation's length differs from the statistics' dimension (an env breaking
    /// its own observation space).
    fn observe(&mut self, observation: &[f32]) -> Array1<f32> {
        if self.update {
            assert_eq!(
                observation.len(),
                self.stats.dim(),
                "NormalizeObservation: `{}` returned an observation of length {}, but its \
                 observation space has flat_dim {}",
                self.env.id(),
                observation.len(),
                self.stats.dim()
            );
            self.scratch.clear();
            self.scratch
                .extend(observation.iter().map(|&x| f64::from(x)));
            self.stats.update_one(&self.scratch);
        }
        self.normalize(observation)
    }
}

impl_wrapper!(NormalizeObservation, env);

impl<E: Env> Env for NormalizeObservation<E> {
    crate::forward_to_inner!(id, action_space, state);

    /// `Box(-clip, clip)`, or `Box(-inf, inf)` without clipping, with the inner
    /// observation space's shape (`[1]` for `Discrete`).
    fn observation_space(&self) -> Space {
        let shape = match self.env.observation_space() {
            Space::Box { shape, .. } => shape,
            Space::Discrete { .. } => vec![1],
        };
        let bound = self.clip.map_or(f32::INFINITY, |c| c as f32);
        let n: usize = shape.iter().product();
        Space::Box {
            low: Array1::from_elem(n, -bound),
            high: Array1::from_elem(n, bound),
            shape,
        }
    }

    /// Resets the inner env (same seeding), updates the statistics with the first
    /// observation and returns it normalised. A non-finite first observation is not used
    /// for the statistics; its non-finite components are returned as NaN and the next
    /// `step` returns [`EnvError::NonFinite`].
    fn reset(&mut self, seed: Option<u64>) -> (Array1<f32>, Info) {
        let (obs, info) = self.env.reset(seed);
        let slice = obs.as_slice().expect("Array1 from an env is contiguous");
        match non_finite_observation(slice) {
            None => {
                self.halt = Halt::Running;
                (self.observe(slice), info)
            }
            Some(what) => {
                self.halt = Halt::AfterBadReset(what);
                (self.normalize(slice), info)
            }
        }
    }

    /// Steps the inner env, updates the statistics with the observation and returns it
    /// normalised; reward, flags and info are passed through.
    ///
    /// # Errors
    /// [`EnvError::NonFinite`] if the observation (or the last reset's) is not finite;
    /// [`EnvError::StepAfterDone`] after such an error until the next reset; any error of
    /// the inner env.
    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        match std::mem::replace(&mut self.halt, Halt::Running) {
            Halt::Running => {}
            Halt::AfterBadReset(what) => {
                self.halt = Halt::Halted;
                return Err(EnvError::NonFinite {
                    id: self.env.id().to_string(),
                    what: format!("{what} from reset"),
                });
            }
            Halt::Halted => {
                self.halt = Halt::Halted;
                return Err(EnvError::StepAfterDone {
                    id: self.env.id().to_string(),
                });
            }
        }
        let mut step = self.env.step(action)?;
        let slice = step
            .observation
            .as_slice()
            .expect("Array1 from an env is contiguous");
        if let Some(what) = non_finite_observation(slice) {
            self.halt = Halt::Halted;
            return Err(EnvError::NonFinite {
                id: self.env.id().to_string(),
                what,
            });
        }
        let normalized = self.observe(slice);
        step.observation = normalized;
        Ok(step)
    }

    /// Sets the inner env's state; its observation is treated as a reset's (updates the
    /// statistics) and returned normalised.
    ///
    /// # Errors
    /// Any error of the inner env; [`EnvError::NonFinite`] for a non-finite observation
    /// (then the episode must be reset).
    fn set_state(&mut self, state: &[f64]) -> Result<Array1<f32>, EnvError> {
        let obs = self.env.set_state(state)?;
        let slice = obs.as_slice().expect("Array1 from an env is contiguous");
        if let Some(what) = non_finite_observation(slice) {
            self.halt = Halt::Halted;
            return Err(EnvError::NonFinite {
                id: self.env.id().to_string(),
                what,
            });
        }
        self.halt = Halt::Running;
        Ok(self.observe(slice))
    }
}

/// Scales rewards by the running standard deviation of a discounted return (Gymnasium
/// 1.4.0's `gymnasium.wrappers.NormalizeReward`), then optionally clips them (CleanRL).
///
/// On every successful step, with `r` the inner env's reward:
///
/// 1. `R = R * gamma * (1 - terminated) + r` — Gymnasium's `discounted_reward`. Only
///    `terminated` clears the accumulator, and it does so *on* the terminating step (which
///    then holds just `r`); truncation, `reset` and `set_state` leave `R` as it is, exactly
///    as in Gymnasium 1.4.0 (and CleanRL's Gymnasium 0.29). `R` starts at 0.
/// 2. Unless frozen ([`NormalizeReward::set_update_running_stats`]), the running variance
///    of `R` is updated ([`RunningMeanStd`] of dimension 1, prior `count = 1e-4`).
/// 3. The returned reward is `r / sqrt(var + epsilon)` (not centred, as Gymnasium), clipped
///    to `[-clip, clip]` if [`NormalizeRewardConfig::clip`] is set.
///
/// Observations, flags and info pass through. Put [`super::EpisodeStatistics`] *inside*
/// this wrapper to record raw returns.
///
/// **Non-finite rewards** never reach the statistics: a NaN or infinite reward is
/// [`EnvError::NonFinite`] (`R` and the statistics unchanged) and ends the episode: `step`
/// returns [`EnvError::StepAfterDone`] until the next reset.
#[derive(Debug, Clone)]
pub struct NormalizeReward<E: Env> {
    /// The wrapped env.
    env: E,
    /// Running statistics of the discounted return, `dim = 1`.
    stats: RunningMeanStd,
    /// Discount of the accumulator.
    gamma: f64,
    /// Added to the variance under the square root.
    epsilon: f64,
    /// Clip bound of the normalised rewards.
    clip: Option<f64>,
    /// Whether steps update `stats` (Gymnasium's `update_running_mean`).
    update: bool,
    /// The discounted return accumulator `R` (Gymnasium's `discounted_reward`).
    discounted_return: f64,
    /// A non-finite reward was reported; stepping needs a reset.
    halted: bool,
}

impl<E: Env> NormalizeReward<E> {
    /// Wraps `env` with Gymnasium's defaults ([`NormalizeRewardConfig::default`]:
    /// `gamma = 0.99`, no clipping).
    pub fn new(env: E) -> Self {
        let config = NormalizeRewardConfig::default();
        NormalizeReward {
            env,
            stats: RunningMeanStd::new(1),
            gamma: config.gamma,
            epsilon: config.epsilon,
            clip: config.clip,
            update: true,
            discounted_return: 0.0,
            halted: false,
        }
    }

    /// Wraps `env` with the given options.
    ///
    /// # Errors
    /// [`EnvError::InvalidKwargs`] if `gamma` is not in `[0, 1]`, `epsilon` is not finite
    /// and `> 0`, or `clip` is not `> 0` (Gymnasium raises `InvalidBound` for the first
    /// two).
    pub fn with_config(env: E, config: NormalizeRewardConfig) -> Result<Self, EnvError> {
        if !(0.0..=1.0).contains(&config.gamma) {
            return Err(EnvError::InvalidKwargs {
                id: env.id().to_string(),
                reason: format!("gamma must be in [0, 1], got {}", config.gamma),
            });
        }
        check_epsilon_clip(env.id(), config.epsilon, config.clip)?;
        let mut wrapper = Self::new(env);
        wrapper.gamma = config.gamma;
        wrapper.epsilon = config.epsilon;
        wrapper.clip = config.clip;
        Ok(wrapper)
    }

    /// The running statistics of the discounted return (`dim = 1`).
    pub fn stats(&self) -> &RunningMeanStd {
        &self.stats
    }

    /// Replaces the running statistics, e.g. with ones saved in a checkpoint.
    ///
    /// # Errors
    /// [`EnvError::InvalidState`] if the statistics' dimension is not 1, or a value is not
    /// finite, or the variance or the count is negative; the statistics are then unchanged.
    pub fn set_stats(&mut self, stats: RunningMeanStd) -> Result<(), EnvError> {
        stats.validate(1).map_err(|reason| EnvError::InvalidState {
            id: self.env.id().to_string(),
            reason: format!("reward statistics: {reason}"),
        })?;
        self.stats = stats;
        Ok(())
    }

    /// Whether steps update the statistics (Gymnasium's `update_running_mean`; `true`
    /// initially). The accumulator `R` is updated either way.
    pub fn update_running_stats(&self) -> bool {
        self.update
    }

    /// Freezes (`false`, e.g. for evaluation) or resumes (`true`) updating the statistics.
    pub fn set_update_running_stats(&mut self, update: bool) {
        self.update = update;
    }

    /// The discounted return accumulator `R`.
    pub fn discounted_return(&self) -> f64 {
        self.discounted_return
    }

    /// The discount of the accumulator.
    pub fn gamma(&self) -> f64 {
        self.gamma
    }

    /// The variance offset under the square root.
    pub fn epsilon(&self) -> f64 {
        self.epsilon
    }

    /// The clip bound, if any.
    pub fn clip(&self) -> Option<f64> {
        self.clip
    }

    /// Scales `reward` with the current statistics, without updating anything:
    /// `reward / sqrt(var + epsilon)`, clipped.
    pub fn normalize(&self, reward: f64) -> f64 {
        clip_to(
            reward / (self.stats.var[0] + self.epsilon).sqrt(),
            self.clip,
        )
    }
}

impl_wrapper!(NormalizeReward, env);

impl<E: Env> Env for NormalizeReward<E> {
    crate::forward_to_inner!(id, observation_space, action_space, state);

    /// Resets the inner env (same seeding). `R` is kept (Gymnasium).
    fn reset(&mut self, seed: Option<u64>) -> (Array1<f32>, Info) {
        self.halted = false;
        self.env.reset(seed)
    }

    /// Steps the inner env and returns its step with the reward normalised (see the type's
    /// docs).
    ///
    /// # Errors
    /// [`EnvError::NonFinite`] for a non-finite reward (or a discounted return that
    /// overflows); [`EnvError::StepAfterDone`] after such an error until the next reset;
    /// any error of the inner env.
    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        if self.halted {
            return Err(EnvError::StepAfterDone {
                id: self.env.id().to_string(),
            });
        }
        let mut step = self.env.step(action)?;
        let reward = step.reward;
        if !reward.is_finite() {
            self.halted = true;
            return Err(EnvError::NonFinite {
                id: self.env.id().to_string(),
                what: format!("reward ({reward})"),
            });
        }
        let keep = if step.terminated { 0.0 } else { 1.0 };
        let discounted_return = self.discounted_return * self.gamma * keep + reward;
        if !discounted_return.is_finite() {
            self.halted = true;
            return Err(EnvError::NonFinite {
                id: self.env.id().to_string(),
                what: format!("discounted return (overflowed to {discounted_return})"),
            });
        }
        self.discounted_return = discounted_return;
        if self.update {
            self.stats.update_one(&[discounted_return]);
        }
        step.reward = self.normalize(reward);
        Ok(step)
    }

    /// Sets the inner env's state (as a reset: `R` is kept).
    fn set_state(&mut self, state: &[f64]) -> Result<Array1<f32>, EnvError> {
        let obs = self.env.set_state(state)?;
        self.halted = false;
        Ok(obs)
    }
}
