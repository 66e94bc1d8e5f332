//! # pdmrl-envs
//!
//! Reinforcement-learning environments with Gymnasium semantics, in pure Rust:
//!
//! * [`Env`]: `reset(seed) -> (observation, info)`,
//!   `step(action) -> Step { observation, reward, terminated, truncated, info }`;
//! * [`Space`] (`Discrete`, `Box`) and [`Action`];
//! * [`Registry`]: make an env from its Gymnasium id (`"CartPole-v1"`), register your own;
//! * wrappers: [`TimeLimit`];
//! * [`SyncVectorEnv`]: N copies stepped together with same-step auto-reset;
//! * classic control: [`CartPole`].
//!
//! This crate depends on no other crate of the workspace.

pub mod cartpole;
// More environment and wrapper modules are declared above this line.
pub mod env;
pub mod error;
pub mod registry;
pub mod space;
pub mod time_limit;
pub mod vector;

// The crates in this crate's public API, re-exported so that a user's crate uses the same
// versions (`pdmrl_envs::ndarray::Array1`, `pdmrl_envs::rand::SeedableRng`, kwargs tables).
pub use ndarray;
pub use rand;
pub use toml;

pub use cartpole::CartPole;
pub use env::{Env, EnvRng, Info, Step};
pub use error::EnvError;
pub use registry::{EnvSpec, Registry};
pub use space::{Action, Space};
pub use time_limit::TimeLimit;
pub use vector::{SyncVectorEnv, VectorStep};
