//! The runs of an experiment on disk: run in parallel into `results/<name>/<run-id>/`
//! ([`run_experiment`]), copied from a sibling experiment that has them
//! ([`copy_from_siblings`]), and found complete ([`complete_runs`], [`summaries`]).

use super::plan::PlannedRun;
use crate::error::RunnerError;
use crate::progress::RunEvent;
use crate::resolve::RunConfig;
use crate::run::{RunOptions, RunProgress, train_checked};
use crate::run_dir::{checkpoint_dir, is_complete};
use crate::summary::{Summary, read_summary};
use pdmrl_envs::Registry;
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// What [`run_experiment`] did.
#[derive(Debug, Default)]
pub struct ExperimentReport {
    /// Runs trained now.
    pub done: Vec<String>,
    /// Runs already complete with the same config, skipped.
    pub skipped: Vec<String>,
    /// Runs copied from another experiment's folder beside this one, where the same run
    /// (the same id and config) was complete ([`copy_from_siblings`]); not trained again.
    pub copied: Vec<String>,
    /// Runs that failed, with their error.
    pub failed: Vec<(String, String)>,
}

/// thread), with a checkpoint every `checkpoint_every` updates. A run whose `summary.json`
/// exists and whose `config.toml` equals its resolved config is skipped; a run with the
/// same config and a checkpoint is resumed from it; any other run is (re)started from
/// scratch.
///
/// `progress` receives what happens to each run as it happens ([`RunEvent`]): skipped,
/// started or resumed (with the step it resumes at), steps trained, completed or failed.
///
/// # Errors
/// Only for a failure to build the thread pool; failed runs are listed in the report.
pub fn run_experiment(
    runs: &[PlannedRun],
    dir: &Path,
    jobs: usize,
    checkpoint_every: usize,
    registry: &Registry,
    progress: &(dyn Fn(RunEvent<'_>) + Sync),
) -> Result<ExperimentReport, RunnerError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.clamp(1, runs.len().max(1)))
        .build()
        .map_err(|e| RunnerError::Input(format!("cannot start {jobs} worker threads: {e}")))?;
    // A run complete in another experiment's folder is copied, not trained again.
    let mut copied = Vec::new();
    for run in runs {
        if copy_from_siblings(run, dir)? {
            copied.push(run.id.clone());
        }
    }
    // Complete runs are reported first, so that progress counts them from the start.
    let up_to_date: Vec<bool> = runs
        .iter()
        .map(|run| is_up_to_date(&dir.join(&run.id), &run.config))
        .collect();
    for (run, _) in runs.iter().zip(&up_to_date).filter(|(_, done)| **done) {
        progress(RunEvent::Skipped {
            id: &run.id,
            steps: run_steps(&run.config) as u64,
        });
    }
    let outcomes: Vec<(String, Result<bool, RunnerError>)> = pool.install(|| {
        runs.par_iter()
            .zip(&up_to_date)
            .map(|(run, &complete)| {
                let out = dir.join(&run.id);
                let (id, steps) = (run.id.as_str(), run_steps(&run.config) as u64);
                let outcome = if complete {
                    Ok(false)
                } else {
                    // Steps done so far (resumed at, then trained): the rest of a failed
                    // run is never trained.
                    let done = AtomicU64::new(0);
                    let report = |p: RunProgress| match p {
                        RunProgress::Start { at } => {
                            done.store(at, Ordering::Relaxed);
                            progress(RunEvent::Started {
                                id,
                                resumed_at: at,
                                steps,
                            });
                        }
                        RunProgress::Trained { steps } => {
                            done.fetch_add(steps, Ordering::Relaxed);
                            progress(RunEvent::Trained { steps });
                        }
                    };
                    let options = RunOptions {
                        force: true,
                        resume: is_resumable(&out, &run.config),
                        checkpoint_every,
                        ..RunOptions::new(&report)
                    };
                    let outcome =
                        train_checked(&run.config, registry, &out, &options).map(|_| true);
                    match &outcome {
                        Ok(_) => progress(RunEvent::Completed { id }),
                        Err(_) => progress(RunEvent::Failed {
                            id,
                            untrained: steps.saturating_sub(done.load(Ordering::Relaxed)),
                        }),
                    }
                    outcome
                };
                (run.id.clone(), outcome)
            })
            .collect()
    });
    let mut report = ExperimentReport::default();
    for (id, outcome) in outcomes {
        match outcome {
            Ok(true) => report.done.push(id),
            Ok(false) if copied.contains(&id) => report.copied.push(id),
            Ok(false) => report.skipped.push(id),
            Err(e) => report.failed.push((id, e.to_string())),
        }
    }
    Ok(report)
}

/// The files of a complete run that a copy takes, `summary.json` last (its presence marks
/// the copy complete); `updates.csv` where the source has it.
const RUN_FILES: [&str; 5] = [
    "config.toml",
    "metrics.csv",
    "eval.csv",
    "updates.csv",
    "summary.json",
];

/// A run cache across experiments: if `dir/<run id>` does not exist and a folder of the
/// same name beside `dir` (`dir/../<other experiment>/<run id>`) holds the run complete
/// with the same config, copies its result files into `dir/<run id>` and returns true.
/// Runs are deterministic (same config and seed, same bits: the determinism tests), so the
/// copy is the run this experiment would train. The files are copied through temporary
/// names, `summary.json` last, so an interrupted copy is an incomplete run that is trained
/// again.
///
/// # Errors
/// [`RunnerError::Io`] naming a file that cannot be copied.
pub fn copy_from_siblings(run: &PlannedRun, dir: &Path) -> Result<bool, RunnerError> {
    let out = dir.join(&run.id);
    if out.exists() {
        return Ok(false);
    }
    let Some(parent) = dir.parent() else {
        return Ok(false);
    };
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Ok(false);
    };
    let mut siblings: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path().join(&run.id))
        .filter(|p| p.parent() != Some(dir) && is_up_to_date(p, &run.config))
        .collect();
    // Runs written by the current code first (older ones lack fields newer tables show,
    // such as the entropy and the mid-run diagnostics), then by path.
    siblings.sort_by_key(|p| (!in_current_format(p), p.clone()));
    let Some(source) = siblings.first() else {
        return Ok(false);
    };
    std::fs::create_dir_all(&out).map_err(|e| RunnerError::io("cannot create folder", &out, e))?;
    for name in RUN_FILES {
        let from = source.join(name);
        if !from.is_file() {
            continue;
        }
        let bytes = std::fs::read(&from).map_err(|e| RunnerError::io("cannot read", &from, e))?;
        crate::atomic::write_atomic(&out.join(name), &bytes)?;
    }
    Ok(true)
}

/// Whether `dir/summary.json` is exactly what the current code writes for it: it reads
/// back into [`Summary`] and writes out to the same text. A run completed by
/// older code holds the same returns but not every field the current code records.
fn in_current_format(dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join("summary.json")) else {
        return false;
    };
    serde_json::from_str::<Summary>(&text)
        .ok()
        .and_then(|s| serde_json::to_string_pretty(&s).ok())
        .is_some_and(|again| again == text)
}

/// Environment steps a run takes.
pub fn run_steps(config: &RunConfig) -> usize {
    config.planned_steps()
}

/// Whether `out/config.toml` equals `config`.
fn same_config(out: &Path, config: &RunConfig) -> bool {
    let Ok(text) = std::fs::read_to_string(out.join("config.toml")) else {
        return false;
    };
    toml::from_str::<RunConfig>(&text).is_ok_and(|c| &c == config)
}

/// Whether `out` holds a complete run of exactly `config`: its `summary.json` parses and
/// its `config.toml` equals `config`.
pub fn is_up_to_date(out: &Path, config: &RunConfig) -> bool {
    read_summary(out).is_ok() && same_config(out, config)
}

/// Whether `out` holds an incomplete run of exactly `config` with a checkpoint.
pub fn is_resumable(out: &Path, config: &RunConfig) -> bool {
    !is_complete(out) && checkpoint_dir(out).is_some() && same_config(out, config)
}

/// Folders of the planned runs that are complete with their current config.
pub fn complete_runs(runs: &[PlannedRun], dir: &Path) -> Vec<PathBuf> {
    runs.iter()
        .filter(|r| is_up_to_date(&dir.join(&r.id), &r.config))
        .map(|r| dir.join(&r.id))
        .collect()
}

/// Reads the summary of every planned run that is complete with its current config
/// (others are left out).
///
/// # Errors
/// A summary that exists but does not parse.
pub fn summaries(
    runs: &[PlannedRun],
    dir: &Path,
) -> Result<Vec<(PlannedRun, Summary)>, RunnerError> {
    runs.iter()
        .filter(|r| is_up_to_date(&dir.join(&r.id), &r.config))
        .map(|r| Ok((r.clone(), read_summary(&dir.join(&r.id))?)))
        .collect()
}
