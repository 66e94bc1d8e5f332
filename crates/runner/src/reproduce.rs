//! Reproduce an experiment end to end: plan, run (resumably, in parallel), aggregate,
//! draw. `cargo xtask reproduce` calls [`reproduce`] for each config file.

use crate::aggregate::{learning_curves, robust_statistics, summary_markdown};
use crate::atomic::write_atomic;
use crate::error::RunnerError;
use crate::experiment::{
    Experiment, ExperimentReport, Shard, complete_runs, run_experiment, run_steps, summaries,
};
use crate::figures::learning_curves_png;
use indicatif::{ProgressBar, ProgressStyle};
use pdmrl_envs::Registry;
use std::path::{Path, PathBuf};

/// What one reproduction produced.
#[derive(Debug)]
pub struct Reproduction {
    /// Experiment name.
    pub name: String,
    /// Runs done, skipped and failed.
    pub report: ExperimentReport,
    /// The summary table written.
    pub summary_md: PathBuf,
    /// The learning-curve figure written.
    pub figure: PathBuf,
}

/// The figure file name of an experiment: `<name>_<env>.png` with the env id's name
/// lower-cased and without its version, e.g. `quick_cartpole.png`.
pub fn figure_name(name: &str, env_id: &str) -> String {
    let base = env_id.rsplit('/').next().unwrap_or(env_id);
    let base = base.split("-v").next().unwrap_or(base);
    format!("{name}_{}.png", base.to_lowercase())
}

/// Runs the experiment in `config` into `results/<name>/` on `jobs` threads, then writes
/// `results/<name>/summary.md` and `results/figures/<name>_<env>.png`. Prints the plan
/// (runs, complete, remaining) to stderr and shows a progress bar when stderr is a
/// terminal.
///
/// # Errors
/// An invalid config (before any run starts), or a failure to write the table or figure.
/// Failed runs do not stop the others; they are listed in the report, and the table and
/// figure are drawn from the runs that completed.
pub fn reproduce(config: &Path, results: &Path, jobs: usize) -> Result<Reproduction, RunnerError> {
    reproduce_shard(config, results, jobs, None)
}

/// As [`reproduce`], running only the runs of `shard` (all with `None`); the table and
/// figure are drawn from every complete run in the folder, whichever shard wrote it.
///
/// # Errors
/// As [`reproduce`].
pub fn reproduce_shard(
    config: &Path,
    results: &Path,
    jobs: usize,
    shard: Option<Shard>,
) -> Result<Reproduction, RunnerError> {
    let registry = Registry::with_builtins();
    let experiment = Experiment::from_file(config)?;
    let all_runs = experiment.plan(config, &registry)?;
    let runs: Vec<_> = all_runs
        .iter()
        .enumerate()
        .filter(|(k, _)| shard.is_none_or(|s| s.contains(*k)))
        .map(|(_, r)| r.clone())
        .collect();
    if let Some(s) = shard {
        eprintln!(
            "{}: shard {}/{}: {} of {} runs",
            experiment.name,
            s.index,
            s.count,
            runs.len(),
            all_runs.len()
        );
    }
    let dir = results.join(&experiment.name);
    let complete = complete_runs(&runs, &dir).len();
    let total_steps: u64 = runs.iter().map(|r| run_steps(&r.config) as u64).sum();
    // CPU time left, from the speed of the runs already complete (if any).
    let done_before = summaries(&runs, &dir)?;
    let remaining_steps: u64 = runs
        .iter()
        .filter(|r| !done_before.iter().any(|(d, _)| d.id == r.id))
        .map(|r| run_steps(&r.config) as u64)
        .sum();
    let speeds: Vec<f64> = done_before
        .iter()
        .map(|(_, s)| s.steps_per_second)
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    let estimate = if remaining_steps == 0 {
        String::new()
    } else if speeds.is_empty() {
        ", no estimate of the time left yet (no complete run)".to_string()
    } else {
        let sps = speeds.iter().sum::<f64>() / speeds.len() as f64;
        format!(
            ", about {:.1} CPU-minutes left (at the {sps:.0} steps/s of the complete runs)",
            remaining_steps as f64 / sps / 60.0
        )
    };
    eprintln!(
        "{}: {} runs ({} complete), {} environment steps in all, {} worker threads{estimate}",
        experiment.name,
        runs.len(),
        complete,
        total_steps,
        jobs
    );
    let bar = ProgressBar::new(total_steps).with_style(
        ProgressStyle::with_template("{prefix} [{bar:40}] {pos}/{len} steps  {per_sec}  ETA {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(experiment.name.clone());
    let report = run_experiment(&runs, &dir, jobs, &registry, &|n| bar.inc(n))?;
    bar.finish_and_clear();

    let done = summaries(&all_runs, &dir)?;
    let title = format!(
        "{}: {} on {}",
        experiment.name,
        experiment.algo.name().to_uppercase(),
        experiment.env_id
    );
    let summary_md = dir.join("summary.md");
    let mut md = summary_markdown(&title, &done);
    if let Some((robust, csv)) = robust_statistics(&done, &dir)? {
        md.push_str(&robust);
        write_atomic(&dir.join("summary.csv"), csv.as_bytes())?;
    }
    write_atomic(&summary_md, md.as_bytes())?;
    let figure = results
        .join("figures")
        .join(figure_name(&experiment.name, &experiment.env_id));
    let series = learning_curves(&done, &dir, 100)?;
    if !series.is_empty() {
        learning_curves_png(
            &figure,
            &format!("{title} (IQM over seeds, 95% bootstrap CI)"),
            "environment steps",
            "episodic return (mean of last 10 episodes)",
            &series,
            (900, 560),
        )?;
    }
    Ok(Reproduction {
        name: experiment.name,
        report,
        summary_md,
        figure,
    })
}
