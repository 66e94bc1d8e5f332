//! Aggregation over seeds: the summary table and learning curves of an experiment.

use crate::error::RunnerError;
use crate::experiment::PlannedRun;
use crate::figures::Series;
use crate::run::Summary;
use crate::stats;
use std::fmt::Write as _;
use std::path::Path;

/// Mean, sample standard deviation, min and max of `xs` (NaN-free input; std 0 for one
/// value).
pub fn describe(xs: &[f64]) -> (f64, f64, f64, f64) {
    let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (stats::mean(xs), stats::std(xs), min, max)
}

/// Summaries grouped by their run's label (the trainer, and the sweep point if any), in
/// the order labels first appear.
fn by_trainer(summaries: &[(PlannedRun, Summary)]) -> Vec<(String, Vec<&Summary>)> {
    let mut groups: Vec<(String, Vec<&Summary>)> = Vec::new();
    for (run, s) in summaries {
        match groups.iter_mut().find(|(t, _)| *t == run.label) {
            Some((_, v)) => v.push(s),
            None => groups.push((run.label.clone(), vec![s])),
        }
    }
    groups
}

/// The Markdown summary of an experiment: per trainer the mean, standard deviation, min
/// and max over seeds of `final_return_mean`, and the mean steps/s; then the local-rule
/// diagnostics of each hidden layer at the end of training (means over seeds).
pub fn summary_markdown(title: &str, summaries: &[(PlannedRun, Summary)]) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "## {title}\n");
    if let Some((run, s)) = summaries.first() {
        let _ = writeln!(
            md,
            "{} on {}, {} environment steps per run. `final_return_mean`: mean return of the \
             last 10 training episodes of a run; `final eval mean`: mean return of the run's \
             last deterministic evaluation (10 episodes, greedy / mean actions, on envs \
             seeded apart from training); mean, sample standard deviation, min and max \
             over seeds.\n",
            s.algo.to_uppercase(),
            s.env_id,
            run.config.planned_steps()
        );
    }
    let _ = writeln!(
        md,
        "| trainer | seeds | final return mean | std | min | max | final eval mean | eval std | steps/s |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|");
    let groups = by_trainer(summaries);
    for (trainer, runs) in &groups {
        // Runs that finished no episode have no final return (NaN): counted, not averaged.
        let finals: Vec<f64> = runs
            .iter()
            .map(|s| s.final_return_mean)
            .filter(|v| v.is_finite())
            .collect();
        let sps = runs.iter().map(|s| s.steps_per_second).sum::<f64>() / runs.len() as f64;
        let seeds = match runs.len() - finals.len() {
            0 => runs.len().to_string(),
            k => format!("{} ({k} without a finished episode)", runs.len()),
        };
        let stats = if finals.is_empty() {
            "n/a | n/a | n/a | n/a".to_string()
        } else {
            let (mean, std, min, max) = describe(&finals);
            format!("{mean:.1} | {std:.1} | {min:.1} | {max:.1}")
        };
        let evals: Vec<f64> = runs
            .iter()
            .map(|s| s.final_eval_return_mean)
            .filter(|v| v.is_finite())
            .collect();
        let eval = if evals.len() == runs.len() {
            let (mean, std, _, _) = describe(&evals);
            format!("{mean:.1} | {std:.1}")
        } else {
            "n/a | n/a".to_string()
        };
        let _ = writeln!(
            md,
            "| `{trainer}` | {seeds} | {stats} | {eval} | {sps:.0} |"
        );
    }
    let _ = writeln!(
        md,
        "\nHidden-layer diagnostics at the last update (means over seeds; `bp` and `frozen` \
         measure the PDM loss without training on it): local PDM loss, mean pairwise \
         distance of the layer's outputs, fraction of saturated units (|tanh| > 0.99, or 0 for relu), Frobenius norm \
         of the weight, and drift: the relative change of the layer's outputs on a fixed \
         probe batch over the last iteration.\n"
    );
    let _ = writeln!(
        md,
        "| trainer | network | layer | local loss | mean distance | saturated | weight norm | drift |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|");
    for (trainer, runs) in &groups {
        for net in ["actor", "critic"] {
            let layers = |s: &Summary| match net {
                "actor" => s.final_layers.actor.clone(),
                _ => s.final_layers.critic.clone(),
            };
            let n_layers = runs.iter().map(|s| layers(s).len()).min().unwrap_or(0);
            for l in 0..n_layers {
                let avg = |f: &dyn Fn(&crate::run::LayerStatsRecord) -> f64| {
                    runs.iter().map(|s| f(&layers(s)[l])).sum::<f64>() / runs.len() as f64
                };
                let _ = writeln!(
                    md,
                    "| `{trainer}` | {net} | {} | {:.2e} | {:.3} | {:.3} | {:.2} | {:.2e} |",
                    l + 1,
                    avg(&|r| r.local_loss),
                    avg(&|r| r.mean_distance),
                    avg(&|r| r.saturated),
                    avg(&|r| r.weight_norm),
                    avg(&|r| r.drift),
                );
            }
        }
    }
    md
}

/// Reads the deterministic evaluations of a run (`eval.csv`), in order: each one's mean
/// return and the return of each of its episodes.
///
/// # Errors
/// I/O or parse errors naming the file.
pub fn read_evaluations(dir: &Path) -> Result<Vec<(f64, Vec<f64>)>, RunnerError> {
    let path = dir.join("eval.csv");
    let err = |message: String| RunnerError::Results {
        path: path.clone(),
        message,
    };
    let mut reader = csv::Reader::from_path(&path).map_err(|e| err(e.to_string()))?;
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| err(e.to_string()))?;
        let bad = || err(format!("malformed evaluation row: {record:?}"));
        let mean = record
            .get(2)
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or_else(bad)?;
        let episodes = record
            .get(6)
            .ok_or_else(bad)?
            .split_whitespace()
            .map(|v| v.parse::<f64>().map_err(|_| bad()))
            .collect::<Result<Vec<f64>, _>>()?;
        out.push((mean, episodes));
    }
    Ok(out)
}

/// Seed of the bootstrap of [`robust_statistics`] (fixed: the tables are reproducible).
pub const BOOTSTRAP_SEED: u64 = 0;
/// Resamples of the bootstrap of [`robust_statistics`] (Agarwal et al. use 2000+).
pub const BOOTSTRAP_RESAMPLES: usize = 2000;

/// Robust statistics of the evaluation returns per trainer (docs/method.md's claims,
/// measured as Agarwal et al. 2021 recommend), as a Markdown section and as CSV:
///
/// * final return of a run: the mean of the last 10% of its evaluations
///   ([`stats::final_return`]); over seeds its mean, median, IQM and the IQM's 95%
///   percentile bootstrap CI ([`BOOTSTRAP_RESAMPLES`] resamples, seed [`BOOTSTRAP_SEED`]);
/// * consistency across runs: the IQR and standard deviation of the final returns;
/// * stability within runs: the mean drop between consecutive evaluations (of their mean
///   returns) and the standard deviation of the episode returns of the last 10% of
///   evaluations, each averaged over seeds;
/// * `P(> bp)`: the probability of improvement of the group over the `bp` group of the
///   same algorithm and sweep point ([`GroupEvaluations::baseline`]; 0.5 for `bp`, `–` in
///   Markdown and empty in CSV where the experiment has no such group).
///
/// Runs without evaluations are left out; `None` if no run has any.
///
/// # Errors
/// An `eval.csv` that exists but cannot be read.
pub fn robust_statistics(
    summaries: &[(PlannedRun, Summary)],
    dir: &Path,
) -> Result<Option<(String, String)>, RunnerError> {
    let finals = evaluation_stats(summaries, dir)?;
    if finals.is_empty() {
        return Ok(None);
    }
    Ok(Some(format_robust(&finals)))
}

/// The evaluation statistics of one group of runs (a trainer, or a trainer at a sweep
/// point), one value per run.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupEvaluations {
    /// The group's label (as [`PlannedRun::label`]).
    pub label: String,
    /// The label of the group `P(> bp)` compares it with ([`PlannedRun::bp_label`]): `bp`
    /// with the same algorithm and at the same sweep point (`a2c pdm
    /// network.hidden_sizes=[64]*8` is compared with `a2c bp network.hidden_sizes=[64]*8`,
    /// never with another depth's or algorithm's `bp`), without the PDM options `bp` does
    /// not read.
    pub baseline: String,
    /// The label of the group `P(> frozen)` compares it with ([`PlannedRun::frozen_label`]).
    pub frozen_baseline: String,
    /// Final return of each run: mean of the last 10% of its evaluations.
    pub finals: Vec<f64>,
    /// Mean drop between consecutive evaluations of each run with at least two.
    pub drops: Vec<f64>,
    /// Standard deviation of the episode returns of the last 10% of evaluations, per run.
    pub late_std: Vec<f64>,
}

impl GroupEvaluations {
    /// The probability of improvement of this group over the group labelled `label` among
    /// `groups` ([`stats::probability_of_improvement`] of their final returns); NaN if
    /// there is no such group.
    pub fn p_over(&self, groups: &[GroupEvaluations], label: &str) -> f64 {
        groups
            .iter()
            .find(|b| b.label == label)
            .map_or(f64::NAN, |b| {
                stats::probability_of_improvement(&self.finals, &b.finals)
            })
    }
}

/// The runs of `done` on the env `env`, in their order.
pub fn of_env(done: &[(PlannedRun, Summary)], env: &str) -> Vec<(PlannedRun, Summary)> {
    done.iter()
        .filter(|(r, _)| r.config.env_id == env)
        .cloned()
        .collect()
}

/// Per group (in the order labels first appear), the evaluation statistics of its runs;
/// runs without evaluations are left out, and groups with none.
///
/// # Errors
/// An `eval.csv` that exists but cannot be read.
pub fn evaluation_stats(
    summaries: &[(PlannedRun, Summary)],
    dir: &Path,
) -> Result<Vec<GroupEvaluations>, RunnerError> {
    let mut groups = Vec::new();
    for (trainer, _) in by_trainer(summaries) {
        let Some((first, _)) = summaries.iter().find(|(r, _)| r.label == trainer) else {
            continue;
        };
        let (baseline, frozen_baseline) = (first.bp_label.clone(), first.frozen_label.clone());
        let (mut f, mut drops, mut late) = (Vec::new(), Vec::new(), Vec::new());
        for (run, _) in summaries {
            let path = dir.join(&run.id);
            if run.label != trainer || !path.join("eval.csv").is_file() {
                continue;
            }
            let evaluations = read_evaluations(&path)?;
            if evaluations.is_empty() {
                continue;
            }
            let means: Vec<f64> = evaluations.iter().map(|e| e.0).collect();
            f.push(stats::final_return(&means));
            if means.len() > 1 {
                drops.push(stats::mean_drop(&means));
            }
            let k = stats::tail(&means, 0.1).len();
            let late_episodes: Vec<f64> = evaluations[evaluations.len() - k..]
                .iter()
                .flat_map(|e| e.1.iter().copied())
                .collect();
            late.push(stats::std(&late_episodes));
        }
        if !f.is_empty() {
            groups.push(GroupEvaluations {
                label: trainer,
                baseline,
                frozen_baseline,
                finals: f,
                drops,
                late_std: late,
            });
        }
    }
    Ok(groups)
}

/// The IQM of `xs` and its 95% percentile bootstrap CI ([`BOOTSTRAP_RESAMPLES`]
/// resamples, seed [`BOOTSTRAP_SEED`]): `(iqm, low, high)`.
pub fn iqm_ci(xs: &[f64]) -> (f64, f64, f64) {
    let (lo, hi) = stats::bootstrap_ci(xs, stats::iqm, BOOTSTRAP_RESAMPLES, 0.95, BOOTSTRAP_SEED);
    (stats::iqm(xs), lo, hi)
}

/// The Markdown section and CSV rows of [`robust_statistics`].
fn format_robust(groups: &[GroupEvaluations]) -> (String, String) {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "\nRobust statistics of the deterministic evaluations (Agarwal et al., NeurIPS 2021). \
         Final return of a run: mean of the last 10% of its evaluations. Over seeds: mean, \
         median, interquartile mean (IQM) with its 95% percentile bootstrap CI ({BOOTSTRAP_RESAMPLES} \
         resamples, seed {BOOTSTRAP_SEED}); consistency: IQR and std of the final returns; \
         stability within runs: mean drop between consecutive evaluations and std of the \
         episode returns of the last 10% of evaluations (means over seeds); `P(> bp)`: probability that a run of the \
         group ends above a run of `bp` with the same algorithm and sweep point (`–`: the experiment has none); \
         `P(> frozen)`: likewise against `frozen`, the random-feature control.\n"
    );
    let _ = writeln!(
        md,
        "| trainer | seeds | mean | median | IQM | IQM 95% CI | IQR | std | mean drop | late std | P(> bp) | P(> frozen) |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    // Labels can hold commas (`network.hidden_sizes=[64, 64]`): the csv crate quotes them.
    let mut csv = csv::Writer::from_writer(Vec::new());
    let _ = csv.write_record([
        "trainer",
        "seeds",
        "mean",
        "median",
        "iqm",
        "iqm_ci_low",
        "iqm_ci_high",
        "iqr",
        "std",
        "mean_drop",
        "late_std",
        "p_improvement_over_bp",
        "p_improvement_over_frozen",
    ]);
    for g in groups {
        let (trainer, f, drops, late) = (&g.label, &g.finals, &g.drops, &g.late_std);
        let (_, lo, hi) = iqm_ci(f);
        let (p, p_frozen) = (
            g.p_over(groups, &g.baseline),
            g.p_over(groups, &g.frozen_baseline),
        );
        let shown = |p: f64| {
            if p.is_nan() {
                "–".to_string()
            } else {
                format!("{p:.2}")
            }
        };
        let in_csv = |p: f64| {
            if p.is_nan() {
                String::new()
            } else {
                p.to_string()
            }
        };
        let row = [
            stats::mean(f),
            stats::median(f),
            stats::iqm(f),
            lo,
            hi,
            stats::iqr(f),
            stats::std(f),
            stats::mean(drops),
            stats::mean(late),
            p,
        ];
        let _ = writeln!(
            md,
            "| `{trainer}` | {} | {:.1} | {:.1} | {:.1} | [{:.1}, {:.1}] | {:.1} | {:.1} | {:.1} | {:.1} | {} | {} |",
            f.len(),
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            row[5],
            row[6],
            row[7],
            row[8],
            shown(p),
            shown(p_frozen)
        );
        let record = [trainer.clone(), f.len().to_string()]
            .into_iter()
            .chain(row[..9].iter().map(f64::to_string))
            .chain([in_csv(p), in_csv(p_frozen)]);
        let _ = csv.write_record(record);
    }
    let csv = csv
        .into_inner()
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default();
    (md, csv)
}

/// Reads a run's `metrics.csv` as `(global_step, episodic_return)` pairs.
///
/// # Errors
/// I/O or parse errors naming the file.
pub fn read_returns(dir: &Path) -> Result<Vec<(usize, f64)>, RunnerError> {
    let path = dir.join("metrics.csv");
    let mut reader = csv::Reader::from_path(&path).map_err(|e| RunnerError::Results {
        path: path.clone(),
        message: e.to_string(),
    })?;
    reader
        .deserialize::<(usize, f64, usize)>()
        .map(|r| {
            r.map(|(step, ret, _)| (step, ret))
                .map_err(|e| RunnerError::Results {
                    path: path.clone(),
                    message: e.to_string(),
                })
        })
        .collect()
}

/// A run's learning curve on `grid`: at each step `x`, the mean return of the last 10
/// episodes that finished at or before `x` (`None` before the first episode).
pub fn curve_on_grid(returns: &[(usize, f64)], grid: &[usize]) -> Vec<Option<f64>> {
    let mut out = Vec::with_capacity(grid.len());
    let mut end = 0;
    for &x in grid {
        while end < returns.len() && returns[end].0 <= x {
            end += 1;
        }
        let tail = &returns[end.saturating_sub(10)..end];
        out.push(
            (!tail.is_empty()).then(|| tail.iter().map(|r| r.1).sum::<f64>() / tail.len() as f64),
        );
    }
    out
}

/// Learning curves per trainer: on a grid of `points` steps up to the runs' length, the
/// interquartile mean over seeds of [`curve_on_grid`] with its 95% percentile bootstrap
/// confidence band ([`BOOTSTRAP_RESAMPLES`] resamples, seed [`BOOTSTRAP_SEED`] + the grid
/// index), as Agarwal et al. (2021) plot learning curves.
/// Grid points where some seed has no finished episode yet are left out, and so is a
/// trainer with no point left.
///
/// # Errors
/// A `metrics.csv` that cannot be read.
pub fn learning_curves(
    summaries: &[(PlannedRun, Summary)],
    dir: &Path,
    points: usize,
) -> Result<Vec<Series>, RunnerError> {
    let max_steps = summaries
        .iter()
        .map(|(_, s)| s.total_steps)
        .max()
        .unwrap_or(0);
    let grid: Vec<usize> = (1..=points).map(|k| k * max_steps / points).collect();
    let order: Vec<String> = by_trainer(summaries).into_iter().map(|(t, _)| t).collect();
    let mut curves: Vec<Vec<Vec<Option<f64>>>> = vec![Vec::new(); order.len()];
    for (run, _) in summaries {
        let k = order
            .iter()
            .position(|t| *t == run.label)
            .expect("grouped above");
        curves[k].push(curve_on_grid(&read_returns(&dir.join(&run.id))?, &grid));
    }
    Ok(order
        .into_iter()
        .zip(curves)
        .map(|(label, curves)| {
            let mut series = Series::new(label);
            for (k, &x) in grid.iter().enumerate() {
                let ys: Option<Vec<f64>> = curves.iter().map(|c| c[k]).collect();
                if let Some(ys) = ys.filter(|ys| !ys.is_empty()) {
                    let (lo, hi) = stats::bootstrap_ci(
                        &ys,
                        stats::iqm,
                        BOOTSTRAP_RESAMPLES,
                        0.95,
                        BOOTSTRAP_SEED.wrapping_add(k as u64),
                    );
                    series.push(x as f64, (stats::iqm(&ys), lo, hi));
                }
            }
            series
        })
        .filter(|s| !s.x.is_empty())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A planned run and its summary, for tables built from hand-made files.
    fn fake_run(id: &str, trainer: &str, seed: u64, final_eval: f64) -> (PlannedRun, Summary) {
        let config = crate::run::RunConfig {
            env_id: "CartPole-v1".into(),
            seed,
            trainer: pdmrl_agents::TrainerConfig::new(trainer.parse().unwrap()),
            agent: pdmrl_agents::AgentConfig::default(),
        };
        let summary = Summary {
            env_id: "CartPole-v1".into(),
            algo: "ppo".into(),
            trainer: trainer.into(),
            seed,
            total_steps: 20,
            episodes: 1,
            final_return_mean: 0.0,
            final_eval_return_mean: final_eval,
            wall_seconds: 1.0,
            steps_per_second: 1.0,
            final_layers: Default::default(),
            final_entropy: f64::NAN,
            mid_layers: Default::default(),
            mid_step: 0,
        };
        let run = PlannedRun {
            id: id.into(),
            label: trainer.into(),
            bp_label: "bp".into(),
            frozen_label: "frozen".into(),
            config,
        };
        (run, summary)
    }

    /// Two trainers × two seeds with hand-made `eval.csv` files: the robust table holds
    /// the values computed by hand.
    #[test]
    fn robust_statistics_from_eval_files() {
        let d = tempfile::tempdir().unwrap();
        let evals: [(&str, u64, &[f64]); 4] = [
            ("bp", 1, &[0.0, 10.0, 6.0, 20.0]),
            ("bp", 2, &[0.0, 30.0]),
            ("pdm", 1, &[5.0, 5.0]),
            ("pdm", 2, &[8.0, 2.0, 40.0]),
        ];
        let mut done = Vec::new();
        for (trainer, seed, means) in evals {
            let id = format!("{trainer}-{seed}");
            let dir = d.path().join(&id);
            std::fs::create_dir_all(&dir).unwrap();
            let mut text = String::from(
                "global_step,episodes,eval_return_mean,eval_return_std,eval_return_min,eval_return_max,returns\n",
            );
            for (k, m) in means.iter().enumerate() {
                // Two episodes per evaluation, m - 1 and m + 1.
                text.push_str(&format!(
                    "{},2,{m},1,{},{},{} {}\n",
                    k * 100,
                    m - 1.0,
                    m + 1.0,
                    m - 1.0,
                    m + 1.0
                ));
            }
            std::fs::write(dir.join("eval.csv"), text).unwrap();
            done.push(fake_run(&id, trainer, seed, *means.last().unwrap()));
        }
        let (md, csv) = robust_statistics(&done, d.path()).unwrap().unwrap();
        // Final returns (last 10% = the last evaluation): bp [20, 30], pdm [5, 40].
        // bp: mean 25, IQR 5, mean drop mean(4/3, 0) = 2/3, P(> bp) 0.5.
        // pdm: mean 22.5, IQR 17.5, drops mean(0, 3) = 1.5, P(pdm > bp) = 2/4.
        let rows: Vec<Vec<String>> = csv
            .lines()
            .skip(1)
            .map(|l| l.split(',').map(String::from).collect())
            .collect();
        let num = |r: &[String], k: usize| r[k].parse::<f64>().unwrap();
        assert_eq!(rows[0][0], "bp");
        assert_eq!(num(&rows[0], 2), 25.0);
        assert_eq!(num(&rows[0], 7), 5.0);
        assert!((num(&rows[0], 9) - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(num(&rows[0], 11), 0.5);
        // Late std: the two episodes of the last evaluation, m -+ 1: sqrt(2).
        assert!((num(&rows[0], 10) - 2f64.sqrt()).abs() < 1e-12);
        assert_eq!(rows[1][0], "pdm");
        assert_eq!(num(&rows[1], 2), 22.5);
        assert_eq!(num(&rows[1], 7), 17.5);
        assert_eq!(num(&rows[1], 9), 1.5);
        assert_eq!(num(&rows[1], 11), 0.5);
        // The IQM CI lies within the range of the final returns.
        assert!(num(&rows[1], 5) >= 5.0 && num(&rows[1], 6) <= 40.0);
        assert!(md.contains("| `pdm` | 2 | 22.5 |"), "{md}");
    }

    /// `P(> bp)` and `P(> frozen)` compare each group with the `bp` and `frozen` groups
    /// its planned run names, and are left blank where there is none.
    #[test]
    fn probability_of_improvement_uses_the_matching_groups() {
        let d = tempfile::tempdir().unwrap();
        // (label, trainer, final evaluation return, bp label, frozen label), one run each.
        let groups = [
            ("a2c bp", "bp", 10.0, "a2c bp", "a2c frozen"),
            ("a2c pdm", "pdm", 20.0, "a2c bp", "a2c frozen"),
            ("ppo bp", "bp", 30.0, "ppo bp", "ppo frozen"),
            ("ppo pdm", "pdm", 20.0, "ppo bp", "ppo frozen"),
            ("ppo frozen", "frozen", 25.0, "ppo bp", "ppo frozen"),
            (
                "ppo pdm trainer.local_lr=0.01",
                "pdm",
                27.0,
                "ppo bp",
                "ppo frozen",
            ),
            ("pdm x=[1, 2]", "pdm", 5.0, "bp x=[1, 2]", "frozen x=[1, 2]"),
        ];
        let mut done = Vec::new();
        for (k, (label, trainer, ret, bp, frozen)) in groups.iter().enumerate() {
            let id = format!("run{k}");
            std::fs::create_dir_all(d.path().join(&id)).unwrap();
            std::fs::write(
                d.path().join(&id).join("eval.csv"),
                format!(
                    "global_step,episodes,eval_return_mean,eval_return_std,eval_return_min,eval_return_max,returns\n\
                     0,1,{ret},0,{ret},{ret},{ret}\n"
                ),
            )
            .unwrap();
            let (mut run, summary) = fake_run(&id, trainer, 1, *ret);
            run.label = label.to_string();
            run.bp_label = bp.to_string();
            run.frozen_label = frozen.to_string();
            done.push((run, summary));
        }
        let stats = evaluation_stats(&done, d.path()).unwrap();
        let baselines: Vec<&str> = stats.iter().map(|g| g.baseline.as_str()).collect();
        assert_eq!(
            baselines,
            [
                "a2c bp",
                "a2c bp",
                "ppo bp",
                "ppo bp",
                "ppo bp",
                "ppo bp",
                "bp x=[1, 2]"
            ]
        );
        let (md, csv) = robust_statistics(&done, d.path()).unwrap().unwrap();
        let column = |c: usize| -> Vec<String> {
            csv::Reader::from_reader(csv.as_bytes())
                .records()
                .map(|r| r.unwrap()[c].to_string())
                .collect()
        };
        // a2c pdm (20) beats a2c bp (10); ppo pdm (20) loses to ppo bp (30); the local_lr
        // point (27) is compared with the one ppo bp and ppo frozen (25).
        assert_eq!(column(11), ["0.5", "1", "0.5", "0", "0", "0", ""]);
        assert_eq!(column(12), ["", "", "1", "0", "0.5", "1", ""]);
        assert!(md.contains("| `pdm x=[1, 2]` | 1 |"), "{md}");
        assert!(
            md.lines()
                .any(|l| l.starts_with("| `pdm x=[1, 2]`") && l.ends_with("| – | – |")),
            "{md}"
        );
        assert!(
            md.lines()
                .any(|l| l.starts_with("| `ppo pdm trainer.local_lr=0.01`")
                    && l.ends_with("| 0.00 | 1.00 |")),
            "{md}"
        );
    }

    #[test]
    fn describe_by_hand() {
        let (m, s, lo, hi) = describe(&[1.0, 2.0, 3.0, 6.0]);
        assert_eq!(m, 3.0);
        assert!((s - (14.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!((lo, hi), (1.0, 6.0));
        assert_eq!(describe(&[5.0]).1, 0.0);
    }

    /// Four seeds, each with one episode of return 1, 2, 3 or 100 at step 10: the curve is
    /// the IQM (mean of 2 and 3) inside a CI within the seeds' range.
    #[test]
    fn learning_curves_are_iqm_with_a_bootstrap_band() {
        let d = tempfile::tempdir().unwrap();
        let mut done = Vec::new();
        for (seed, ret) in [(1u64, 1.0), (2, 2.0), (3, 3.0), (4, 100.0)] {
            let id = format!("bp-{seed}");
            std::fs::create_dir_all(d.path().join(&id)).unwrap();
            std::fs::write(
                d.path().join(&id).join("metrics.csv"),
                format!("global_step,episodic_return,episodic_length\n10,{ret},10\n"),
            )
            .unwrap();
            done.push(fake_run(&id, "bp", seed, f64::NAN));
        }
        let series = learning_curves(&done, d.path(), 2).unwrap();
        assert_eq!(series.len(), 1);
        assert_eq!(series[0].x, vec![10.0, 20.0]);
        assert_eq!(series[0].mean, vec![2.5, 2.5]);
        for (lo, hi) in series[0].lower.iter().zip(&series[0].upper) {
            assert!(*lo >= 1.0 && *hi <= 100.0 && lo <= hi, "{lo} {hi}");
        }
    }

    #[test]
    fn curve_uses_last_ten_finished_episodes() {
        let returns: Vec<(usize, f64)> = (1..=20).map(|k| (k * 10, k as f64)).collect();
        let c = curve_on_grid(&returns, &[5, 10, 55, 200, 1000]);
        assert_eq!(c[0], None);
        assert_eq!(c[1], Some(1.0));
        assert_eq!(c[2], Some(3.0)); // episodes 1..=5
        assert_eq!(c[3], Some(15.5)); // episodes 11..=20
        assert_eq!(c[4], Some(15.5));
    }
}
