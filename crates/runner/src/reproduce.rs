//! Reproduce an experiment end to end: plan, run (resumably, in parallel), aggregate,
//! draw. `cargo xtask reproduce` calls [`reproduce`] for each config file.

use crate::aggregate::{
    GroupEvaluations, Metric, eval_curves, evaluation_stats, iqm_ci, learning_curves,
    read_evaluations, robust_statistics, summary_markdown,
};
use crate::atomic::{lock_exclusive, write_atomic};
use crate::error::RunnerError;
use crate::experiment::PlannedRun;
use crate::experiment::{
    Experiment, ExperimentReport, Shard, complete_runs, run_experiment, run_steps, stale_version,
    summaries,
};
use crate::figures::{Figure, Interval, Panel, PanelData, Reference, Series, save_figure};
use crate::progress::Tracker;
use crate::reference::{EnvReference, References};
use crate::version::{RESULTS_VERSION, stale_markdown, stale_note};
use pdmrl_agents::TrainerKind;
use pdmrl_envs::Registry;
use std::fmt::Write as _;
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
    /// The figures written (PNG and SVG of each).
    pub figures: Vec<PathBuf>,
}

impl Reproduction {
    /// What happened, for a terminal: runs done, skipped and failed (with their errors),
    /// and the files written, one per line.
    pub fn report_text(&self) -> String {
        let r = &self.report;
        let mut text = format!(
            "{}: {} runs done, {} skipped (complete), {} failed\n",
            self.name,
            r.done.len(),
            r.skipped.len(),
            r.failed.len()
        );
        if !r.stale.is_empty() {
            let mut versions: Vec<u32> = r.stale.iter().map(|(_, v)| *v).collect();
            versions.sort_unstable();
            versions.dedup();
            let versions: Vec<String> = versions.iter().map(u32::to_string).collect();
            let _ = writeln!(
                text,
                "  {} runs were stale (results version {}; this code: {}): trained again or copied, not skipped",
                r.stale.len(),
                versions.join(", "),
                crate::RESULTS_VERSION
            );
        }
        if !r.copied.is_empty() {
            let _ = writeln!(
                text,
                "  {} runs copied complete from another experiment's folder (the same run id and config)",
                r.copied.len()
            );
        }
        for (id, err) in &r.failed {
            let _ = writeln!(text, "  failed {id}: {err}");
        }
        if self.summary_md.is_file() {
            let _ = writeln!(text, "  table:   {}", self.summary_md.display());
        } else {
            let _ = writeln!(text, "  table:   none yet (no complete run)");
        }
        for f in &self.figures {
            let _ = writeln!(text, "  figure:  {}", f.display());
        }
        text
    }
}

/// Runs the experiment in `config` into `results/<name>/` on `jobs` threads, then writes
/// its tables and figures ([`write_report`]). Prints the plan (runs, complete, remaining,
/// CPU time left) to stderr, then the progress ([`Tracker`]): a bar when stderr is a
/// terminal, else a line per run start and end and every `PDMRL_PROGRESS_EVERY` seconds
/// (default 30).
///
/// # Errors
/// An invalid config (before any run starts), an invalid `PDMRL_PROGRESS_EVERY`, or a
/// failure to write the table or figure.
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
    let all_runs = experiment.plan(&registry)?;
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
    let stale: Vec<u32> = runs
        .iter()
        .filter_map(|r| stale_version(&dir.join(&r.id), &r.config))
        .collect();
    let total_steps: u64 = runs.iter().map(|r| run_steps(&r.config) as u64).sum();
    // CPU time left, from the speed of the runs already complete (if any, stale ones
    // too), for the runs not complete at the current results version.
    let done_before = summaries(&runs, &dir)?;
    let remaining_steps: u64 = runs
        .iter()
        .filter(|r| {
            !done_before
                .iter()
                .any(|(d, _)| d.id == r.id && d.config.results_version == RESULTS_VERSION)
        })
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
    let stale = match stale_note(stale.iter().copied()) {
        Some(_) => {
            let mut versions = stale.clone();
            versions.sort_unstable();
            versions.dedup();
            let versions: Vec<String> = versions.iter().map(u32::to_string).collect();
            format!(
                ", {} stale (results version {}; this code: {RESULTS_VERSION}): trained again or copied",
                stale.len(),
                versions.join(", ")
            )
        }
        None => String::new(),
    };
    eprintln!(
        "{}: {} runs ({} complete{stale}), {} environment steps in all, {} worker threads{estimate}",
        experiment.name,
        runs.len(),
        complete,
        total_steps,
        jobs
    );
    let tracker = Tracker::new(&experiment.name, runs.len(), total_steps)?;
    let report = run_experiment(
        &runs,
        &dir,
        jobs,
        experiment.checkpoint_every,
        &registry,
        &|event| tracker.event(event),
    )?;
    tracker.finish();

    let (summary_md, figures) = write_report(&experiment, &all_runs, results, &registry)?;
    Ok(Reproduction {
        name: experiment.name,
        report,
        summary_md,
        figures,
    })
}

/// The lock file of an experiment's tables and figures, in `results/<name>/`: held by
/// [`write_report`] while it reads the runs and writes.
pub const REPORT_LOCK: &str = ".report.lock";

/// Columns of the figures: panels per row.
const COLUMNS: usize = 3;
/// Size of one panel in pixels.
const PANEL: (u32, u32) = (640, 420);
/// Size of one panel of a figure of small multiples.
const SMALL_PANEL: (u32, u32) = (560, 340);
/// An env with more groups than this gets its learning curves as small multiples: one row
/// per PDM group, with its `bp` and `frozen` groups.
const MAX_GROUPS_PER_PANEL: usize = 4;

/// The reference lines of an env's panels: random play and, where Gymnasium has one, the
/// solved threshold.
fn references(reference: &EnvReference) -> Vec<Reference> {
    let mut out = vec![Reference {
        label: "random play".into(),
        value: reference.random_play,
    }];
    if let Some(t) = reference.solved {
        out.push(Reference {
            label: "solved".into(),
            value: t,
        });
    }
    out
}

/// One row of an env's learning curves: its title (the PDM group it is about, or none
/// when every group is drawn together) and its members, each a group label and the label
/// it is drawn under.
struct CurveRow {
    title: Option<String>,
    members: Vec<(String, String)>,
}

/// The panels of each row of an env's learning curves: the groups drawn together, and
/// how each is labelled. With few groups, one row of every group under its own label;
/// with more than [`MAX_GROUPS_PER_PANEL`], one row per group that is neither a `bp` nor a
/// `frozen` group, holding it with its `bp` and `frozen` groups, each labelled by its
/// trainer alone (the row's title names the group).
fn curve_rows(groups: &[(String, String, String)]) -> Vec<CurveRow> {
    if groups.len() <= MAX_GROUPS_PER_PANEL {
        let members = groups
            .iter()
            .map(|(l, _, _)| (l.clone(), l.clone()))
            .collect();
        return vec![CurveRow {
            title: None,
            members,
        }];
    }
    let trainer = |label: &str| {
        label
            .split_whitespace()
            .find(|w| TrainerKind::ALL.iter().any(|k| k.name() == *w))
            .unwrap_or(label)
            .to_string()
    };
    groups
        .iter()
        .filter(|(l, bp, frozen)| l != bp && l != frozen)
        .map(|(l, bp, frozen)| {
            let members = [bp, frozen, l]
                .into_iter()
                .filter(|m| groups.iter().any(|(g, _, _)| g == *m))
                .map(|m| (m.clone(), trainer(m)))
                .collect();
            CurveRow {
                title: Some(l.clone()),
                members,
            }
        })
        .collect()
}

/// Writes the tables and figures of an experiment from the complete runs in
/// `results/<name>/` (training nothing); `registry` makes the envs whose random play the
/// tables and figures are read against ([`crate::reference`]):
///
/// * `results/<name>/summary.md`: per env, the summary table, the hidden-layer
///   diagnostics and the robust statistics of both metrics ([`robust_statistics`]);
///   `summary.csv`: the robust statistics with an `env` column;
/// * `results/figures/<name>_curves.{png,svg}`: per env, the training-episode return
///   (left) and the greedy-evaluation return (right) against environment steps, IQM over
///   seeds with a 95% bootstrap band; small multiples (one row per PDM group, with its
///   `bp` and `frozen` groups) when an env has more than `MAX_GROUPS_PER_PANEL` groups;
/// * `<name>_final.{png,svg}`: per env, the final return under each metric (IQM over
///   seeds, 95% bootstrap CI, every seed as a dot); `<name>_stability.{png,svg}`: mean drop
///   between consecutive evaluations and std of the late evaluation returns (IQM over
///   seeds, CI);
/// * `<name>_depth.{png,svg}` if the experiment sweeps `network.hidden_sizes`: final
///   return against the number of hidden layers, one line per trainer.
///
/// Every line panel and final panel carries the env's random-play return and, where
/// Gymnasium has one, its solved threshold as reference lines; every trainer has its
/// colour ([`crate::figures::TRAINER_COLOURS`]).
///
/// Any number of processes and threads may call it on the same folder at once (the
/// shards of a reproduction as each ends): they take turns under the exclusive lock
/// `results/<name>/.report.lock` ([`REPORT_LOCK`]) from reading the runs to writing the
/// last file, and every file is written atomically under a temporary name of its own. (On
/// a file system that cannot lock, a warning says so and the redraw goes on unlocked.)
///
/// Returns the summary path and the figures written; with no complete run, nothing is
/// written (and no figure returned).
///
/// # Errors
/// A results file that cannot be read, an env that cannot be made, or a table or figure
/// that cannot be written.
pub fn write_report(
    experiment: &Experiment,
    all_runs: &[PlannedRun],
    results: &Path,
    registry: &Registry,
) -> Result<(PathBuf, Vec<PathBuf>), RunnerError> {
    let dir = results.join(&experiment.name);
    let summary_md = dir.join("summary.md");
    if !dir.is_dir() {
        // No run has started: nothing to report (and no folder to create).
        return Ok((summary_md, Vec::new()));
    }
    // Writers of one experiment (the shards of a reproduction) take turns, from reading
    // the runs to the last file written: the last to write saw every run complete
    // before it started.
    // A file system without locks (an old NFS without its lock service) does not stop
    // the report: every file is still written atomically, only the order of concurrent
    // redraws is not kept.
    let _lock = lock_exclusive(&dir.join(REPORT_LOCK))
        .inspect_err(|e| {
            eprintln!(
                "warning: {e}; drawing the tables and figures of {} without it (a concurrent redraw may leave older ones: redraw once every run is done)",
                experiment.name
            );
        })
        .ok();
    let done = summaries(all_runs, &dir)?;
    if done.is_empty() {
        // Nothing to report: no table or figure is written (none would hold a result).
        return Ok((summary_md, Vec::new()));
    }
    let algo = experiment
        .algos
        .iter()
        .map(|a| a.name().to_uppercase())
        .collect::<Vec<_>>()
        .join(", ");
    let steps: usize = done.iter().map(|(_, s)| s.total_steps).sum();
    let cpu_hours: f64 = done.iter().map(|(_, s)| s.wall_seconds).sum::<f64>() / 3600.0;
    let mut md = format!(
        "# {}: {algo} on {}\n\nGenerated by `cargo xtask reproduce` (or `cargo xtask figures`) from the complete runs in this folder; figures in `../figures/{}_*.{{png,svg}}`. {} of {} runs complete, {steps} environment steps, {cpu_hours:.2} CPU-hours (the sum of the runs' wall-clock times, one run per core).\n\n",
        experiment.name,
        experiment.envs.join(", "),
        experiment.name,
        done.len(),
        all_runs.len(),
    );
    // Runs of another results version than the code's: every table and figure says so.
    let versions_of = |runs: &[(PlannedRun, crate::summary::Summary)]| -> Vec<u32> {
        runs.iter().map(|(r, _)| r.config.results_version).collect()
    };
    let stale = stale_note(versions_of(&done));
    if let Some(line) = stale_markdown(versions_of(&done)) {
        md.push_str(&line);
        md.push('\n');
    }
    let mut csv = String::new();
    let mut refs = References::default();
    let (mut curves, mut finals, mut drops, mut late, mut depth) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut small_multiples = false;
    for env in &experiment.envs {
        let runs = crate::aggregate::of_env(&done, env);
        if runs.is_empty() {
            let _ = writeln!(md, "## {env}\n\nNo complete run yet.\n");
            continue;
        }
        let reference = refs.of(registry, env)?;
        md.push_str(&summary_markdown(env, &runs));
        if let Some((robust, rows)) = robust_statistics(&runs, &dir, &reference)? {
            md.push_str(&robust);
            md.push('\n');
            let mut lines = rows.lines();
            let header = lines.next().unwrap_or_default();
            if csv.is_empty() {
                let _ = writeln!(csv, "env,{header}");
            }
            for line in lines {
                let _ = writeln!(csv, "{env},{line}");
            }
        }
        // Under the env's tables, whether they are drawn from stale runs.
        if let Some(line) = stale_markdown(versions_of(&runs)) {
            md.push_str(&line);
            md.push('\n');
        }
        // Learning curves: training episodes | greedy evaluations, per row of groups.
        let train = learning_curves(&runs, &dir, 100)?;
        let eval = eval_curves(&runs, &dir)?;
        let mut groups: Vec<(String, String, String)> = Vec::new();
        for (r, _) in &runs {
            if !groups.iter().any(|g| g.0 == r.label) {
                groups.push((r.label.clone(), r.bp_label.clone(), r.frozen_label.clone()));
            }
        }
        let rows = curve_rows(&groups);
        small_multiples |= rows.len() > 1 || rows.iter().any(|r| r.title.is_some());
        for CurveRow { title, members } in rows {
            let pick = |all: &[Series]| -> Vec<Series> {
                members
                    .iter()
                    .filter_map(|(label, shown)| {
                        all.iter().find(|s| s.label == *label).map(|s| Series {
                            label: shown.clone(),
                            ..s.clone()
                        })
                    })
                    .collect()
            };
            let title = title.map_or(env.clone(), |t| format!("{env}: {t}"));
            for (series, what) in [
                (pick(&train), "training return (IQM, last 10 episodes)"),
                (pick(&eval), "greedy evaluation return (IQM)"),
            ] {
                if series.is_empty() {
                    continue;
                }
                curves.push(Panel {
                    title: title.clone(),
                    x_label: "environment steps".into(),
                    y_label: what.into(),
                    data: PanelData::Lines(series),
                    references: references(&reference),
                });
            }
        }
        let groups = evaluation_stats(&runs, &dir)?;
        let interval = |label: &str, xs: &[f64]| {
            let (value, lower, upper) = iqm_ci(xs);
            Interval {
                label: short_label(label),
                value,
                lower,
                upper,
                points: xs.to_vec(),
            }
        };
        let panel = |x_label: &str,
                     refs: Vec<Reference>,
                     f: &dyn Fn(&GroupEvaluations) -> Vec<f64>| Panel {
            title: env.clone(),
            x_label: x_label.into(),
            y_label: String::new(),
            data: PanelData::Intervals(
                groups
                    .iter()
                    .filter(|g| !f(g).is_empty())
                    .map(|g| interval(&g.label, &f(g)))
                    .collect(),
            ),
            references: refs,
        };
        if !groups.is_empty() {
            for metric in Metric::BOTH {
                finals.push(panel(
                    &format!(
                        "final return, {} (IQM, 95% CI; dots: seeds)",
                        metric.describe()
                    ),
                    references(&reference),
                    &|g| g.values(metric),
                ));
            }
            drops.push(panel(
                "mean drop between evaluations (IQM, 95% CI)",
                Vec::new(),
                &|g| g.drops.clone(),
            ));
            late.push(panel(
                "std of late evaluation returns (IQM, 95% CI)",
                Vec::new(),
                &|g| g.late_std.clone(),
            ));
        }
        if experiment.sweep.contains_key("network.hidden_sizes")
            && let Some(series) = depth_series(&runs, &dir)?
        {
            depth.push(Panel {
                title: env.clone(),
                x_label: "hidden layers".into(),
                y_label: "final evaluation return (IQM)".into(),
                data: PanelData::Lines(series),
                references: references(&reference),
            });
        }
    }
    std::fs::create_dir_all(&dir).map_err(|e| RunnerError::io("cannot create", &dir, e))?;
    write_atomic(&summary_md, md.as_bytes())?;
    if !csv.is_empty() {
        write_atomic(&dir.join("summary.csv"), csv.as_bytes())?;
    }
    let figures_dir = results.join("figures");
    let mut written = Vec::new();
    let name = &experiment.name;
    finals.retain(|p| !matches!(&p.data, PanelData::Intervals(v) if v.is_empty()));
    drops.retain(|p| !matches!(&p.data, PanelData::Intervals(v) if v.is_empty()));
    late.retain(|p| !matches!(&p.data, PanelData::Intervals(v) if v.is_empty()));
    let stability: Vec<Panel> = drops.into_iter().chain(late).collect();
    // One column per env: drops on the top row, late std on the bottom row.
    let stability_columns = experiment.envs.len().max(1);
    let curve_panel = if small_multiples { SMALL_PANEL } else { PANEL };
    for (stem, title, panels, columns, panel_size) in [
        (
            "curves",
            format!("{name}: {algo}, IQM over seeds, 95% CI"),
            curves,
            2,
            curve_panel,
        ),
        (
            "final",
            format!("{name}: {algo}, final return"),
            finals,
            2,
            PANEL,
        ),
        (
            "stability",
            format!("{name}: {algo}, stability within runs"),
            stability,
            stability_columns,
            PANEL,
        ),
        (
            "depth",
            format!("{name}: {algo}, return against depth"),
            depth,
            COLUMNS,
            PANEL,
        ),
    ] {
        if panels.is_empty() {
            continue;
        }
        // Interval panels are as tall as their rows need.
        let rows = panels
            .iter()
            .map(|p| match &p.data {
                PanelData::Intervals(v) => v.len(),
                PanelData::Lines(_) => 0,
            })
            .max()
            .unwrap_or(0) as u32;
        let (w, h) = panel_size;
        let h = if rows > 0 { 130 + 44 * rows } else { h };
        // ... and wide enough for their longest row label beside a chart of the usual width
        // (about 8 output pixels per character at the tick font).
        let longest = panels
            .iter()
            .filter_map(|p| match &p.data {
                PanelData::Intervals(v) => v.iter().map(|v| v.label.chars().count()).max(),
                PanelData::Lines(_) => None,
            })
            .max()
            .unwrap_or(0) as u32;
        let w = w.max(8 * longest + 480);
        let lines = panels.iter().any(|p| matches!(p.data, PanelData::Lines(_)));
        // A second title line marks a figure drawn from stale runs.
        let title = match &stale {
            Some(note) => format!("{title}\n{note}"),
            None => title,
        };
        let figure = Figure {
            title,
            panels,
            columns,
            panel_size: (w, h),
            legend: lines,
        };
        written.extend(save_figure(
            &figures_dir.join(format!("{name}_{stem}")),
            &figure,
        )?);
    }
    Ok((summary_md, written))
}

/// A group label as figures and the study's tables show it: the `trainer.`, `network.`
/// and `algo.` prefixes of its options and the quotes of string values dropped
/// (`pdm local_optimizer=sgd hidden_sizes=[64]*8`).
pub fn short_label(label: &str) -> String {
    label
        .split(' ')
        .map(|w| {
            w.strip_prefix("trainer.")
                .or_else(|| w.strip_prefix("network."))
                .or_else(|| w.strip_prefix("algo."))
                .unwrap_or(w)
                .replace('"', "")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// For a depth sweep: per trainer, the final return (IQM over seeds, 95% CI) against the
/// number of hidden layers; `None` if no run has evaluations.
fn depth_series(
    runs: &[(PlannedRun, crate::summary::Summary)],
    dir: &Path,
) -> Result<Option<Vec<Series>>, RunnerError> {
    let mut by_trainer: Vec<(String, Vec<(usize, f64)>)> = Vec::new();
    for (run, _) in runs {
        let path = dir.join(&run.id);
        if !path.join("eval.csv").is_file() {
            continue;
        }
        let means: Vec<f64> = read_evaluations(&path)?.iter().map(|e| e.0).collect();
        if means.is_empty() {
            continue;
        }
        let trainer = run.config.trainer.kind().name().to_string();
        let point = (
            run.config.agent.hidden_sizes.len(),
            crate::stats::final_return(&means),
        );
        match by_trainer.iter_mut().find(|(t, _)| *t == trainer) {
            Some((_, v)) => v.push(point),
            None => by_trainer.push((trainer, vec![point])),
        }
    }
    if by_trainer.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        by_trainer
            .into_iter()
            .map(|(label, points)| {
                let mut depths: Vec<usize> = points.iter().map(|p| p.0).collect();
                depths.sort_unstable();
                depths.dedup();
                let mut series = Series::new(label);
                for d in depths {
                    let ys: Vec<f64> = points.iter().filter(|p| p.0 == d).map(|p| p.1).collect();
                    series.push(d as f64, iqm_ci(&ys));
                }
                series
            })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::short_label;

    /// Figures and tables name a group by its options without prefixes or quotes.
    #[test]
    fn short_labels_drop_prefixes_and_quotes() {
        assert_eq!(
            short_label(
                "pdm network.hidden_sizes=[64, 64] trainer.local_optimizer=\"sgd\" trainer.pdm.loss=\"sammon\""
            ),
            "pdm hidden_sizes=[64, 64] local_optimizer=sgd pdm.loss=sammon"
        );
        assert_eq!(short_label("bp"), "bp");
    }
}
