//! `results/study/README.md`: the design-space study's report. Its prose is written by
//! hand; its tables are filled in here from the complete runs of the `configs/study_*.toml`
//! experiments, between the markers `<!-- table:NAME -->` and `<!-- /table:NAME -->`
//! (NAME an experiment), every time `cargo xtask reproduce` or `cargo xtask figures`
//! processes a study config.
//!
//! One row per group (trainer and the point of the options it reads) and env: the IQM of
//! the final evaluation returns over seeds with its 95% bootstrap CI, the probability of
//! improvement over the `bp` and the `frozen` group of the same network and budget, and
//! the diagnostics that explain the outcome: the mean pairwise distance of the actor's
//! first and last hidden layers' outputs at the end of training, and the drift of its last
//! hidden layer (relative change of its outputs on a fixed probe batch over one
//! iteration).

use anyhow::{Context, Result, bail};
use pdmrl_runner::aggregate::{evaluation_stats, iqm_ci};
use pdmrl_runner::experiment::{Experiment, summaries};
use pdmrl_runner::stats;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The study report, relative to the workspace root.
pub const README: &str = "results/study/README.md";

/// Whether `config` (a path under `configs/`) is a study experiment.
pub fn is_study(config: &Path) -> bool {
    config
        .file_stem()
        .is_some_and(|s| s.to_string_lossy().starts_with("study_"))
}

/// Fills the table of each experiment of `configs` that the report has markers for;
/// returns the report's path if it changed anything.
///
/// # Errors
/// An unreadable report or results, or a marker without its end.
pub fn fill(root: &Path, configs: &[PathBuf]) -> Result<Option<PathBuf>> {
    let path = root.join(README);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading `{}`", path.display()))?;
    let registry = pdmrl_agents::pdmrl_envs::Registry::with_builtins();
    let mut out = text.clone();
    for config in configs.iter().filter(|c| is_study(c)) {
        let experiment = Experiment::from_file(config)?;
        let (open, close) = (
            format!("<!-- table:{} -->\n", experiment.name),
            format!("<!-- /table:{} -->", experiment.name),
        );
        let Some(start) = out.find(&open).map(|i| i + open.len()) else {
            continue;
        };
        let Some(end) = out[start..].find(&close).map(|i| start + i) else {
            bail!("`{}`: `{open}` has no `{close}`", path.display());
        };
        let table = table(&experiment, &registry, &root.join("results"))?;
        out.replace_range(start..end, &table);
    }
    if out == text {
        return Ok(None);
    }
    pdmrl_runner::atomic::write_atomic(&path, out.as_bytes())?;
    Ok(Some(path))
}

/// The Markdown table of one experiment (empty when no run is complete).
fn table(
    experiment: &Experiment,
    registry: &pdmrl_agents::pdmrl_envs::Registry,
    results: &Path,
) -> Result<String> {
    let runs = experiment.plan(registry)?;
    let dir = results.join(&experiment.name);
    let done = summaries(&runs, &dir)?;
    let mut md = String::from(
        "| env | group | runs | IQM [95% CI] | P(> bp) | P(> frozen) | distance L1 / last | drift |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for env in &experiment.envs {
        let of_env: Vec<_> = done
            .iter()
            .filter(|(r, _)| &r.config.env_id == env)
            .cloned()
            .collect();
        let groups = evaluation_stats(&of_env, &dir)?;
        for g in &groups {
            let (iqm, lo, hi) = iqm_ci(&g.finals);
            let p = |label: &str| {
                groups
                    .iter()
                    .find(|b| b.label == label)
                    .map_or("–".to_string(), |b| {
                        format!(
                            "{:.2}",
                            stats::probability_of_improvement(&g.finals, &b.finals)
                        )
                    })
            };
            let layers: Vec<_> = of_env
                .iter()
                .filter(|(r, _)| r.label == g.label)
                .map(|(_, s)| &s.final_layers.actor)
                .filter(|a| !a.is_empty())
                .collect();
            let mean_of = |f: &dyn Fn(&[pdmrl_runner::run::LayerStatsRecord]) -> f64| {
                stats::mean(&layers.iter().map(|a| f(a)).collect::<Vec<_>>())
            };
            let first = mean_of(&|a| a[0].mean_distance);
            let last = mean_of(&|a| a[a.len() - 1].mean_distance);
            let drift = mean_of(&|a| a[a.len() - 1].drift);
            let drift = if drift == 0.0 {
                "0".to_string()
            } else {
                format!("{drift:.1e}")
            };
            let _ = writeln!(
                md,
                "| {env} | `{}` | {} | {iqm:.1} [{lo:.1}, {hi:.1}] | {} | {} | {first:.2} / {last:.2} | {drift} |",
                g.label,
                g.finals.len(),
                p(&g.baseline),
                p(&g.frozen_baseline),
            );
        }
    }
    Ok(md)
}
