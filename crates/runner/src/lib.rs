//! # pdmrl-runner
//!
//! Runs experiments and puts them on disk: one run ([`run::train_run`]) configured by
//! [`resolve`] into a run folder ([`run_dir`], [`summary`]), an experiment
//! file ([`schema`]) expanded into runs and run in parallel ([`experiment`]), aggregation over seeds
//! ([`aggregate`]), robust statistics over seeds ([`stats`]), figures ([`figures`]), and environment rollouts for parity checks
//! ([`rollout`]), progress on a terminal or in a log ([`progress`]). The `pdmrl` binary is the command-line face of this library;
//! `cargo xtask reproduce` drives it over `configs/`. Every run records the results
//! version of the code that trained it ([`RESULTS_VERSION`], [`version`]).

pub mod aggregate;
pub mod allocator;
pub mod atomic;
pub mod error;
pub mod evaluate;
pub mod experiment;
pub mod figures;
pub mod progress;
pub mod reference;
pub mod reproduce;
pub mod resolve;
pub mod rollout;
pub mod run;
pub mod run_dir;
pub mod schema;
pub mod stats;
pub mod summary;
pub mod temp_path;
pub mod version;

pub use error::RunnerError;
pub use version::RESULTS_VERSION;
