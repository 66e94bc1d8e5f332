//! Episode return and length: Gymnasium 1.4.0's `RecordEpisodeStatistics`
//! (`gymnasium/wrappers/common.py`).

use crate::env::{Env, Info, Step, impl_wrapper};
use crate::error::EnvError;
use crate::space::Action;
use ndarray::Array1;

/// The return and length of one finished episode.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpisodeRecord {
    /// Sum of the episode's rewards, f64 (Gymnasium's `info["episode"]["r"]`).
    pub episode_return: f64,
    /// Number of steps of the episode (Gymnasium's `info["episode"]["l"]`).
    pub length: usize,
}

/// Records each episode's undiscounted return and length (Gymnasium 1.4.0's
/// `gymnasium.wrappers.RecordEpisodeStatistics`).
///
/// Every successful step adds its reward to the running return (f64) and 1 to the length.
/// On the step that ends the episode (`terminated || truncated`) both are written into that
/// step's `info` under [`EpisodeStatistics::RETURN_KEY`] (`"episode_return"`) and
/// [`EpisodeStatistics::LENGTH_KEY`] (`"episode_length"`, as f64), and kept as
/// [`EpisodeStatistics::last_episode`]. [`Env::reset`] and a successful [`Env::set_state`]
/// start a new count. A step that returns an error is not counted.
///
/// Differences from Gymnasium: the two values are flat `info` entries (this crate's `Info`
/// holds named scalars) instead of `info["episode"] = {"r", "l", "t"}`; no wall-clock time
/// and no 100-episode queues (read [`EpisodeStatistics::last_episode`] after each ended
/// episode instead).
///
/// # Where to put it
///
/// Innermost, directly around the (time-limited) env, so that it sums the **raw** rewards,
/// and below every wrapper that changes rewards; its `info` entries pass through the outer
/// wrappers unchanged. CleanRL's stack, for example, reads in Rust
/// `NormalizeReward<NormalizeObservation<EpisodeStatistics<TimeLimit<E>>>>`. Wrapped the
/// other way round (`EpisodeStatistics<NormalizeReward<..>>`) it reports sums of
/// *normalised* rewards.
///
/// # Panics
/// `step` panics if the inner env already put one of the two keys into the info of an
/// episode's last step (e.g. two `EpisodeStatistics` in one stack; Gymnasium asserts the
/// same).
#[derive(Debug, Clone)]
pub struct EpisodeStatistics<E: Env> {
    /// The wrapped env.
    env: E,
    /// Sum of the rewards of the current episode.
    episode_return: f64,
    /// Steps of the current episode.
    episode_length: usize,
    /// The last finished episode.
    last_episode: Option<EpisodeRecord>,
    /// Number of finished episodes since this wrapper was made.
    episode_count: usize,
}

impl<E: Env> EpisodeStatistics<E> {
    /// The `info` key of the episode's return, `"episode_return"`.
    pub const RETURN_KEY: &'static str = "episode_return";
    /// The `info` key of the episode's length (as f64), `"episode_length"`.
    pub const LENGTH_KEY: &'static str = "episode_length";

    /// Wraps `env`.
    pub fn new(env: E) -> Self {
        EpisodeStatistics {
            env,
            episode_return: 0.0,
            episode_length: 0,
            last_episode: None,
            episode_count: 0,
        }
    }

    /// Sum of the rewards of the current episode so far (of the ended one, until the next
    /// reset).
    pub fn episode_return(&self) -> f64 {
        self.episode_return
    }

    /// Steps of the current episode so far (of the ended one, until the next reset).
    pub fn episode_length(&self) -> usize {
        self.episode_length
    }

    /// The most recently finished episode, `None` before the first one ends.
    pub fn last_episode(&self) -> Option<EpisodeRecord> {
        self.last_episode
    }

    /// Number of episodes finished since this wrapper was made (Gymnasium's
    /// `episode_count`).
    pub fn episode_count(&self) -> usize {
        self.episode_count
    }

    /// Clears the running counts (a new episode starts).
    fn start_episode(&mut self) {
        self.episode_return = 0.0;
        self.episode_length = 0;
    }
}

impl_wrapper!(EpisodeStatistics, env);

impl<E: Env> Env for EpisodeStatistics<E> {
    crate::forward_to_inner!(id, observation_space, action_space, state);

    /// Resets the inner env (same seeding) and the episode's return and length.
    fn reset(&mut self, seed: Option<u64>) -> (Array1<f32>, Info) {
        let out = self.env.reset(seed);
        self.start_episode();
        out
    }

    /// Steps the inner env, adds the reward to the return and 1 to the length, and on the
    /// episode's last step writes both into `info`. Observation, reward and flags are
    /// passed through unchanged.
    ///
    /// # Errors
    /// Any error of the inner env (the step is then not counted).
    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        let mut step = self.env.step(action)?;
        self.episode_return += step.reward;
        self.episode_length += 1;
        if step.terminated || step.truncated {
            for key in [Self::RETURN_KEY, Self::LENGTH_KEY] {
                assert!(
                    !step.info.contains_key(key),
                    "EpisodeStatistics: the inner env of `{}` already set info[\"{key}\"] \
                     (two EpisodeStatistics wrappers in one stack?)",
                    self.env.id()
                );
            }
            step.info
                .insert(Self::RETURN_KEY.to_string(), self.episode_return);
            step.info
                .insert(Self::LENGTH_KEY.to_string(), self.episode_length as f64);
            self.last_episode = Some(EpisodeRecord {
                episode_return: self.episode_return,
                length: self.episode_length,
            });
            self.episode_count += 1;
        }
        Ok(step)
    }

    /// Sets the inner env's state (starting an episode from it) and, on success, resets the
    /// episode's return and length.
    fn set_state(&mut self, state: &[f64]) -> Result<Array1<f32>, EnvError> {
        let obs = self.env.set_state(state)?;
        self.start_episode();
        Ok(obs)
    }
}
