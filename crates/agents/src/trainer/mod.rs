//! Trainers: how the parameters of an actor-critic pair learn from one minibatch.
//!
//! | trainer | hidden layers | heads |
//! |---|---|---|
//! | `bp` | end-to-end backprop of the algorithm loss | same |
//! | `pdm` | local PDM loss during the forward pass (docs/method.md) | algorithm loss on the features as constants |
//! | `pdm_guided` | local PDM loss with reward guidance ([`GuidanceConfig`]) | algorithm loss on the features as constants |
//! | `frozen` | never trained (random features at init), the control | algorithm loss |
//!
//! A Gaussian policy's log-std ([`ActorCritic::with_log_std`]) is a head parameter: it
//! learns from the algorithm's loss under every trainer.
//!
//! The local trainers never run a backward pass through a hidden layer: each hidden layer
//! is stepped by its own Adam as soon as its output is computed, and only its input and
//! output live at that moment.

mod actor_critic;
mod config;
mod local;
mod stats;

pub use actor_critic::{ActorCritic, HeadGrads, HeadLoss, HeadOutputs, NonFiniteParameter};
pub use config::*;
pub use local::{FeatureScale, LocalState};
pub use stats::{LayerStats, UpdateReport};
