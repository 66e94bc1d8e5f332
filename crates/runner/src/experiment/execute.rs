//! The runs of an experiment on disk: run in parallel into `results/<name>/<run-id>/`
//! ([`run_experiment`]), copied from a sibling experiment that has them
//! ([`copy_from_siblings`]), and found complete ([`complete_runs`], [`summaries`]).

use super::plan::PlannedRun;
use crate::error::RunnerError;
use crate::progress::RunEvent;
use crate::resolve::RunConfig;
use crate::run::{RunOptions, RunProgress, train_checked};
use crate::run_dir::{checkpoint_dir, is_complete, lock_run_folder, remove_run_files};
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
    /// Runs found stale (their `config.toml` of another results version than the code's,
    /// complete or not), with that version: each is also in `done` or `failed` (trained
    /// again from scratch) or in `copied` (replaced by a current copy).
    pub stale: Vec<(String, u32)>,
}

/// Runs `runs` into `dir/<run id>/`, `jobs` at a time (one run per worker
/// thread), with a checkpoint every `checkpoint_every` updates. A run whose `summary.json`
/// exists and whose `config.toml` equals its resolved config (results version included)
/// is skipped; a run with the same config and a checkpoint is resumed from it; any other
/// run is (re)started from scratch. A stale run (its `config.toml` that of the run but for
/// another results version, [`stale_version`]) is replaced: by a current copy from
/// another experiment's folder if there is one ([`copy_from_siblings`]), else by training
/// it again from scratch, never resumed from its checkpoint.
///
/// `progress` receives what happens to each run as it happens ([`RunEvent`]): stale and
/// replaced (with its version, and how), skipped, started or resumed (with the step it
/// resumes at), steps trained, completed or failed.
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
    // Runs of another results version are replaced; say which, and of what version.
    let stale: Vec<(String, u32)> = runs
        .iter()
        .filter_map(|run| {
            stale_version(&dir.join(&run.id), &run.config).map(|v| (run.id.clone(), v))
        })
        .collect();
    let stale_of = |id: &str| stale.iter().find(|(s, _)| s == id).map(|(_, v)| *v);
    // A run complete in another experiment's folder is copied, not trained again.
    let mut copied = Vec::new();
    for run in runs {
        if copy_from_siblings(run, dir)? {
            copied.push(run.id.clone());
            if let Some(version) = stale_of(&run.id) {
                progress(RunEvent::Stale {
                    id: &run.id,
                    version,
                    copied: true,
                });
            }
        }
    }
    // Complete runs are reported first, so that progress counts them from the start.
    let up_to_date: Vec<bool> = runs
        .iter()
        .map(|run| is_up_to_date(&dir.join(&run.id), &run.config))
        .collect();
    for (run, _) in runs.iter().zip(&up_to_date).filter(|(_, done)| !**done) {
        if let Some(version) = stale_of(&run.id) {
            progress(RunEvent::Stale {
                id: &run.id,
                version,
                copied: false,
            });
        }
    }
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
    let mut report = ExperimentReport {
        stale,
        ..ExperimentReport::default()
    };
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

/// A run cache across experiments: if `dir/<run id>` does not exist, or holds the run
/// stale (of another results version: [`stale_version`]), and a folder of the same name
/// beside `dir` (`dir/../<other experiment>/<run id>`) holds the run complete with the
/// same config (results version included), copies its result files into `dir/<run id>`
/// and returns true. Runs are deterministic (same config and seed, same bits: the
/// determinism tests), so the copy is the run this experiment would train. The files are
/// copied through temporary names, `summary.json` last, so an interrupted copy is an
/// incomplete run that is trained again. A stale run is replaced under its folder's lock
/// (not at all if another process holds it), its files removed first, `summary.json`
/// first of them, and `run.log` says what the copy replaced.
///
/// # Errors
/// [`RunnerError::Io`] naming a file that cannot be copied or removed.
pub fn copy_from_siblings(run: &PlannedRun, dir: &Path) -> Result<bool, RunnerError> {
    let out = dir.join(&run.id);
    let stale = stale_version(&out, &run.config);
    if out.exists() && stale.is_none() {
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
    let _lock = match stale {
        None => None,
        Some(version) => {
            let lock = match lock_run_folder(&out) {
                Ok(lock) => lock,
                // Another process is replacing it.
                Err(RunnerError::RunLocked(_)) => return Ok(false),
                Err(e) => return Err(e),
            };
            if stale_version(&out, &run.config).is_none() {
                return Ok(false);
            }
            remove_run_files(&out)?;
            let line = format!(
                "copied from `{}`, replacing a run of results version {version} (stale: this code's is {})\n",
                source.display(),
                run.config.results_version
            );
            crate::atomic::write_atomic(&out.join("run.log"), line.as_bytes())?;
            Some(lock)
        }
    };
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
/// its `config.toml` equals `config`, results version included.
pub fn is_up_to_date(out: &Path, config: &RunConfig) -> bool {
    read_summary(out).is_ok() && same_config(out, config)
}

/// The results version of the run in `out` if it is stale: its `config.toml` is that of
/// `config`'s run ([`RunConfig::same_run`]) but of another results version. Complete or
/// not: a stale checkpoint is not resumed either.
pub fn stale_version(out: &Path, config: &RunConfig) -> Option<u32> {
    let text = std::fs::read_to_string(out.join("config.toml")).ok()?;
    let saved = toml::from_str::<RunConfig>(&text).ok()?;
    (saved.same_run(config) && saved.results_version != config.results_version)
        .then_some(saved.results_version)
}

/// The results version of the complete run of `config`'s run in `out` (its
/// `summary.json` parses and its `config.toml` is that of the run, of whatever version).
fn complete_version(out: &Path, config: &RunConfig) -> Option<u32> {
    read_summary(out).ok()?;
    let text = std::fs::read_to_string(out.join("config.toml")).ok()?;
    let saved = toml::from_str::<RunConfig>(&text).ok()?;
    saved.same_run(config).then_some(saved.results_version)
}

/// Whether `out` holds an incomplete run of exactly `config` with a checkpoint.
pub fn is_resumable(out: &Path, config: &RunConfig) -> bool {
    !is_complete(out) && checkpoint_dir(out).is_some() && same_config(out, config)
}

/// Folders of the planned runs that are complete with their current config, results
/// version included (stale runs are left out: they are to be trained again).
pub fn complete_runs(runs: &[PlannedRun], dir: &Path) -> Vec<PathBuf> {
    runs.iter()
        .filter(|r| is_up_to_date(&dir.join(&r.id), &r.config))
        .map(|r| dir.join(&r.id))
        .collect()
}

/// Reads the summary of every planned run that is complete with its current config,
/// whatever its results version (others are left out): what tables and figures are
/// drawn from. Each run's config is of the results version found on disk, so that a
/// stale run shows as one (`config.results_version` other than
/// [`crate::RESULTS_VERSION`]; [`crate::version::stale_note`] marks what is drawn from it).
///
/// # Errors
/// A summary that exists but does not parse.
pub fn summaries(
    runs: &[PlannedRun],
    dir: &Path,
) -> Result<Vec<(PlannedRun, Summary)>, RunnerError> {
    runs.iter()
        .filter_map(|r| {
            let out = dir.join(&r.id);
            let version = complete_version(&out, &r.config)?;
            let run = PlannedRun {
                config: r.config.clone().at_results_version(version),
                ..r.clone()
            };
            Some(read_summary(&out).map(|s| (run, s)))
        })
        .collect()
}
