//! # pdmrl-agents
//!
//! Policy-gradient agents whose networks are trained either end to end by backprop
//! (`bp`) or layer-locally (`pdm`, and the `frozen` control), seed for seed the same
//! otherwise.
//!
//! * [`Ppo`]: PPO for discrete actions with CleanRL's `ppo.py` defaults ([`PpoConfig`]);
//! * [`ActorCritic`] and [`TrainerKind`]: how actor and critic networks learn from one
//!   minibatch (see [`trainer`]);
//! * [`Mlp`]: the networks; [`gae()`]: advantages; [`ppo_loss()`]: the loss and its
//!   exact gradient; [`categorical`]: the policy distribution.
//!
//! Agents do no I/O: they report [`Event`]s to an observer closure.

pub mod categorical;
pub mod error;
pub mod gae;
pub mod memory;
pub mod mlp;
pub mod ppo;
pub mod ppo_loss;
pub mod trainer;

// Types that appear in this crate's public API, re-exported for users of this crate alone.
pub use ndarray;
pub use pdmrl_envs;
pub use pdmrl_local_loss::{Metric, Normalize, Pairs, PdmOptions, Target};
pub use pdmrl_tensor::Activation;

pub use error::AgentError;
pub use gae::gae;
pub use mlp::Mlp;
pub use ppo::{
    EpisodeRecord, Event, IterationStats, Ppo, PpoConfig, check_trainer_fits, guidance_signal,
};
pub use ppo_loss::{PpoLoss, ppo_loss};
pub use trainer::{
    ActorCritic, Features, GuidanceConfig, GuidanceSignal, LayerStats, TrainerConfig, TrainerKind,
    UpdateReport,
};
