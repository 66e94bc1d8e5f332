//! Wrappers of Gymnasium 1.4.0 (`gymnasium/wrappers/`): action clipping, episode
//! statistics and observation/reward normalisation. ([`crate::TimeLimit`] lives in its own module.)
//!
//! Each wrapper is a generic struct `W<E: Env>` that implements [`crate::Env`] itself, so
//! wrappers compose, and `W<Box<dyn Env>>` wraps an env made by the [`crate::Registry`].
//! Each implements [`Wrapper`] (the inner env: `inner`, `inner_mut`, `into_inner`) and
//! forwards the `Env` methods it does not change with [`crate::forward_to_inner!`], as
//! Gymnasium's `Wrapper` base class does.
//!
//! # Order
//!
//! The type reads from the outside in: `A<B<E>>` is `A` wrapped around `B` around `E`. Put
//! [`EpisodeStatistics`] innermost (right around the time-limited env) so that it records
//! the raw returns, and the normalisers outside it, as Gymnasium's docs and CleanRL do.
//! CleanRL's `ppo_continuous_action.py` stack (`RecordEpisodeStatistics`, then
//! `NormalizeObservation` + clip, then `NormalizeReward` + clip) is
//!
//! ```
//! use pdmrl_envs::wrappers::{
//!     EpisodeStatistics, NormalizeObservation, NormalizeObservationConfig, NormalizeReward,
//!     NormalizeRewardConfig,
//! };
//! use pdmrl_envs::{Action, Env, Registry};
//!
//! let env = Registry::with_builtins().make("CartPole-v1")?; // TimeLimit(500) inside
//! let env = EpisodeStatistics::new(env);
//! let env = NormalizeObservation::with_config(env, NormalizeObservationConfig::cleanrl())?;
//! let mut env = NormalizeReward::with_config(env, NormalizeRewardConfig::cleanrl())?;
//! env.reset(Some(0));
//! loop {
//!     let step = env.step(&Action::Discrete(1))?; // normalised observation and reward
//!     if step.terminated || step.truncated {
//!         // raw return and length, recorded below the normalisers
//!         assert!(step.info["episode_return"] >= 1.0);
//!         assert_eq!(step.info["episode_return"], step.info["episode_length"]);
//!         break;
//!     }
//! }
//! # Ok::<(), pdmrl_envs::EnvError>(())
//! ```

pub mod clip_action;
pub mod episode_statistics;
pub mod normalize;
pub mod running_mean_std;

pub use crate::env::Wrapper;
pub use clip_action::ClipAction;
pub use episode_statistics::{EpisodeRecord, EpisodeStatistics};
pub use normalize::{
    NormalizeObservation, NormalizeObservationConfig, NormalizeReward, NormalizeRewardConfig,
};
pub use running_mean_std::RunningMeanStd;
