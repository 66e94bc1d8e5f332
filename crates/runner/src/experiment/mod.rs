//! Experiments: a TOML file in `configs/` expands into runs, which run in parallel (one
//! thread each, so results do not depend on the number of workers) into
//! `results/<name>/<run-id>/`.
//!
//! The file format is in [`crate::schema`]. A run's id is
//! `<algo>-<env>-<trainer>-seed<seed>-<hash>`, the hash (FNV-1a, 32 bits, hex) of its
//! resolved config: sweep points get distinct folders, and renaming the file or reordering
//! its keys re-runs nothing.
//!
//! Three steps, one file each: `file` reads and checks an experiment file
//! ([`Experiment`]), `plan` expands it into runs ([`Experiment::plan`], [`PlannedRun`],
//! [`run_id`]), `execute` runs them and finds them on disk ([`run_experiment`],
//! [`summaries`]).

mod execute;
mod file;
mod plan;

pub use execute::{
    ExperimentReport, complete_runs, copy_from_siblings, is_resumable, is_up_to_date,
    run_experiment, run_steps, stale_version, summaries,
};
pub use file::{Budget, Experiment};
pub use plan::{PlannedRun, Shard, run_id};
