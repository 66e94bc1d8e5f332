//! # pdmrl-envs
//!
//! Reinforcement-learning environments with Gymnasium semantics, in pure Rust:
//!
//! * [`Env`]: `reset(seed) -> (observation, info)`,
//!   `step(action) -> Step { observation, reward, terminated, truncated, info }`;
//! * [`Space`] (`Discrete`, `Box`) and [`Action`];
//! * [`Registry`]: make an env from its Gymnasium id (`"CartPole-v1"`), register your own;
//! * wrappers: [`TimeLimit`], and in [`wrappers`]: [`ClipAction`], [`EpisodeStatistics`],
//!   [`NormalizeObservation`], [`NormalizeReward`]; write your own with [`Wrapper`] and
//!   [`forward_to_inner!`] (Gymnasium's `Wrapper` base class);
//! * [`check_env`]: checks an [`Env`] implementation against the contract;
//! * [`SyncVectorEnv`]: N copies stepped together with same-step auto-reset;
//! * classic control, matched step for step against Gymnasium 1.4.0: [`CartPole`]
//!   (`CartPole-v1`), [`Acrobot`] (`Acrobot-v1`), [`MountainCar`] (`MountainCar-v0`),
//!   [`ContinuousMountainCar`] (`MountainCarContinuous-v0`), [`Pendulum`] (`Pendulum-v1`).
//!
//! This crate depends on no other crate of the workspace.

pub mod acrobot;
pub mod cartpole;
pub mod checker;
pub mod continuous_mountain_car;
pub mod env;
pub mod error;
pub mod minatar;
pub mod mountain_car;
mod numeric;
pub mod pendulum;
mod phase;
pub mod registry;
pub mod space;
pub mod time_limit;
pub mod vector;
pub mod wrappers;

// The crates in this crate's public API, re-exported so that a user's crate uses the same
// versions (`pdmrl_envs::ndarray::Array1`, `pdmrl_envs::rand::SeedableRng`, kwargs tables).
pub use ndarray;
pub use rand;
pub use toml;

pub use acrobot::Acrobot;
pub use cartpole::CartPole;
pub use checker::{CheckError, CheckReport, check_env};
pub use continuous_mountain_car::ContinuousMountainCar;
pub use env::{Env, EnvRng, Info, Step, Transition, Wrapper};
pub use error::EnvError;
pub use mountain_car::MountainCar;
pub use pendulum::Pendulum;
pub use registry::{EnvSpec, Registry};
pub use space::{Action, Space};
pub use time_limit::TimeLimit;
pub use vector::{SyncVectorEnv, VectorStep};
pub use wrappers::{
    ClipAction, EpisodeStatistics, NormalizeObservation, NormalizeReward, RunningMeanStd,
};
