//! # pdmrl-agents
//!
//! Policy-gradient agents whose networks are trained either end to end by backprop
//! (`bp`) or layer-locally (`pdm`, `pdm_guided`, and the `frozen` control), seed for seed
//! the same otherwise.
//!
//! * [`Agent`]: PPO, A2C and REINFORCE ([`Algo`]) for discrete actions (categorical
//!   policy) and continuous actions (diagonal Gaussian with a state-independent log-std),
//!   with the defaults of CleanRL and Stable-Baselines3 ([`AgentConfig::defaults`]),
//!   deterministic evaluation, and checkpoints that resume bit-exactly ([`checkpoint`]);
//! * [`ActorCritic`] and [`TrainerKind`]: how actor and critic networks learn from one
//!   minibatch (see [`trainer`]);
//! * [`Mlp`]: the networks; [`gae()`]: advantages; [`algo_loss`]: the losses and their
//!   exact gradients; [`policy`]: the distributions; [`normalizer`]: observation and
//!   reward normalisation.
//!
//! Agents do no I/O: they report [`Event`]s to an observer closure and hand checkpoints
//! over as values.

pub mod agent;
pub mod categorical;
pub mod checkpoint;
pub mod config;
pub mod error;
pub mod gae;
pub mod loss;
// A measurement harness, public only for `cargo xtask memory`/`bench` and tests/memory.rs.
#[doc(hidden)]
pub mod memory;
pub mod mlp;
pub mod normalizer;
pub mod policy;
pub mod spec;
pub mod trainer;
pub mod valid;

// Types that appear in this crate's public API, re-exported for users of this crate alone.
pub use ndarray;
pub use pdmrl_envs;
pub use pdmrl_local_loss::{LocalLossError, MdsLoss, Metric, Normalize, Pairs, PdmOptions, Target};
pub use pdmrl_tensor::Activation;

pub use agent::{
    Agent, EpisodeRecord, EvalRecord, Event, IterationStats, PhaseTimes, explained_variance,
    guidance_signal,
};
pub use checkpoint::{Checkpoint, CheckpointMeta, NamedTensor, TensorData};
pub use config::{AgentConfig, Algo, BatchMode};
pub use error::AgentError;
pub use gae::gae;
pub use loss::{AlgoLoss, LossBatch, LossCoefs, PolicyObjective, algo_loss, normalize_advantages};
pub use mlp::{Mlp, MlpWorkspace};
pub use policy::{Actions, ActionsView, PolicyKind};
pub use spec::{AgentSpec, check_trainer_fits};
pub use trainer::{
    ActorCritic, FeatureScale, Features, GuidanceConfig, GuidanceSignal, HeadGrads, HeadLoss,
    HeadOutputs, LayerStats, LocalLrSchedule, LocalOptimizer, LocalOptions, LocalState, LocalSteps,
    NonFiniteParameter, TrainerConfig, TrainerKind, TrainerOptions, UnreadOption, UpdateReport,
};
pub use valid::{Check, Valid};
