//! Aggregation over seeds: the summary table and learning curves of an experiment.

use crate::error::RunnerError;
use crate::experiment::PlannedRun;
use crate::figures::Series;
use crate::reference::EnvReference;
use crate::stats;
use crate::summary::Summary;
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
                let avg = |f: &dyn Fn(&crate::summary::LayerStatsRecord) -> f64| {
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

/// Seed of the bootstraps of [`robust_statistics`] (fixed: the tables are reproducible).
pub const BOOTSTRAP_SEED: u64 = 0;
/// Resamples of the bootstraps of the tables ([`robust_statistics`], [`iqm_ci`],
/// [`GroupEvaluations::p_over_ci`]); Agarwal et al. use 2000 or more.
pub const BOOTSTRAP_RESAMPLES: usize = 10_000;
/// Resamples of the bands of the learning curves (one bootstrap per grid point, for the
/// eye: fewer than the tables').
pub const CURVE_BOOTSTRAP_RESAMPLES: usize = 2000;
/// A group whose IQM score ([`Scale::score`]) is below this is stuck near random play:
/// its stability measures are not shown (a run that never leaves random play is steady,
/// not stable).
pub const STUCK_SCORE: f64 = 0.1;

/// Robust statistics per group (trainer, or trainer at a sweep point) of an env's runs
/// (docs/method.md's claims, measured as Agarwal et al. 2021 recommend), as a Markdown
/// section and as CSV rows, for both metrics:
///
/// * **greedy evaluation**: the final return of a run is the mean of the last 10% of its
///   deterministic evaluations ([`stats::final_return`]);
/// * **training episodes**: the final return of a run is the mean return of its last 10
///   training episodes (`summary.json`'s `final_return_mean`), and the policy's entropy
///   at the last update;
///
/// over seeds the mean, median, IQM and the IQM's 95% percentile bootstrap CI
/// ([`BOOTSTRAP_RESAMPLES`] resamples, seed [`BOOTSTRAP_SEED`]); consistency: the IQR and
/// std of the final returns; the **score** `(IQM - random play) / (bp's IQM - random play)`
/// ([`Scale`]); stability within runs (evaluations): the mean drop between consecutive
/// evaluations and the std of the episode returns of the last 10% of evaluations, averaged
/// over seeds and divided by the same range (`stuck` for a group whose score is below
/// [`STUCK_SCORE`]); `P(> bp)` and `P(> frozen)`: the probability that a run of the group
/// ends above a run of the `bp` (`frozen`) group of the same algorithm and sweep point,
/// with its 95% bootstrap CI ([`GroupEvaluations::p_over_ci`]).
///
/// Runs without evaluations are left out; `None` if no run has any.
///
/// # Errors
/// An `eval.csv` that exists but cannot be read.
pub fn robust_statistics(
    summaries: &[(PlannedRun, Summary)],
    dir: &Path,
    reference: &EnvReference,
) -> Result<Option<(String, String)>, RunnerError> {
    let finals = evaluation_stats(summaries, dir)?;
    if finals.is_empty() {
        return Ok(None);
    }
    Ok(Some(format_robust(&finals, reference)))
}

/// Which final return of a run a statistic is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// The greedy evaluations: the mean of the last 10% of a run's evaluation returns.
    Eval,
    /// The training episodes: the mean return of a run's last 10 training episodes.
    Train,
}

impl Metric {
    /// Both, in the order tables show them.
    pub const BOTH: [Metric; 2] = [Metric::Eval, Metric::Train];

    /// How tables and figures name it.
    pub fn describe(self) -> &'static str {
        match self {
            Metric::Eval => "greedy evaluation",
            Metric::Train => "training episodes",
        }
    }
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
    /// Final training return of each of the same runs: the mean return of its last 10
    /// training episodes (NaN for a run that finished none).
    pub train_finals: Vec<f64>,
    /// The policy's entropy at the last update of each of the same runs (NaN in runs
    /// written before it was recorded).
    pub entropies: Vec<f64>,
    /// Mean drop between consecutive evaluations of each run with at least two.
    pub drops: Vec<f64>,
    /// Standard deviation of the episode returns of the last 10% of evaluations, per run.
    pub late_std: Vec<f64>,
}

impl GroupEvaluations {
    /// The final returns of the runs under `metric` (runs without a value left out).
    pub fn values(&self, metric: Metric) -> Vec<f64> {
        let v = match metric {
            Metric::Eval => &self.finals,
            Metric::Train => &self.train_finals,
        };
        v.iter().copied().filter(|x| x.is_finite()).collect()
    }

    /// The probability of improvement of this group over the group labelled `label` among
    /// `groups` ([`stats::probability_of_improvement`] of their final evaluation returns);
    /// NaN if there is no such group.
    pub fn p_over(&self, groups: &[GroupEvaluations], label: &str) -> f64 {
        self.p_over_ci(groups, label, Metric::Eval).0
    }

    /// [`GroupEvaluations::p_over`] under `metric`, with its 95% percentile bootstrap CI
    /// ([`stats::bootstrap_probability_ci`], [`BOOTSTRAP_RESAMPLES`] resamples, seed
    /// [`BOOTSTRAP_SEED`]): `(p, lo, hi)`, NaN if there is no such group. The group itself
    /// has `(0.5, 0.5, 0.5)`.
    pub fn p_over_ci(
        &self,
        groups: &[GroupEvaluations],
        label: &str,
        metric: Metric,
    ) -> (f64, f64, f64) {
        let Some(other) = groups.iter().find(|b| b.label == label) else {
            return (f64::NAN, f64::NAN, f64::NAN);
        };
        if other.label == self.label {
            return (0.5, 0.5, 0.5);
        }
        let (xs, ys) = (self.values(metric), other.values(metric));
        let p = stats::probability_of_improvement(&xs, &ys);
        let (lo, hi) =
            stats::bootstrap_probability_ci(&xs, &ys, BOOTSTRAP_RESAMPLES, 0.95, BOOTSTRAP_SEED);
        (p, lo, hi)
    }

    /// The range `(random play, bp's IQM)` of `metric` this group's scores and stability
    /// are measured in: random play from `reference`, the top from the IQM of the group's
    /// `bp` group among `groups` (NaN without one).
    pub fn scale(
        &self,
        groups: &[GroupEvaluations],
        reference: &EnvReference,
        metric: Metric,
    ) -> Scale {
        let top = groups
            .iter()
            .find(|b| b.label == self.baseline)
            .map_or(f64::NAN, |b| stats::iqm(&b.values(metric)));
        Scale {
            random: reference.random_play,
            top,
        }
    }
}

/// A return range: random play at 0, `bp`'s final IQM at 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    /// The return of random play.
    pub random: f64,
    /// The return at 1 (`bp`'s IQM).
    pub top: f64,
}

impl Scale {
    /// `top - random`, NaN when `bp` is no better than random play (no range to measure
    /// in) or unknown.
    pub fn range(&self) -> f64 {
        let r = self.top - self.random;
        if r > 0.0 { r } else { f64::NAN }
    }

    /// `(x - random) / range`: 0 at random play, 1 at `bp`'s IQM.
    pub fn score(&self, x: f64) -> f64 {
        (x - self.random) / self.range()
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
        let mut g = GroupEvaluations {
            label: trainer.clone(),
            baseline,
            frozen_baseline,
            finals: Vec::new(),
            train_finals: Vec::new(),
            entropies: Vec::new(),
            drops: Vec::new(),
            late_std: Vec::new(),
        };
        for (run, summary) in summaries {
            let path = dir.join(&run.id);
            if run.label != trainer || !path.join("eval.csv").is_file() {
                continue;
            }
            let evaluations = read_evaluations(&path)?;
            if evaluations.is_empty() {
                continue;
            }
            let means: Vec<f64> = evaluations.iter().map(|e| e.0).collect();
            g.finals.push(stats::final_return(&means));
            g.train_finals.push(summary.final_return_mean);
            g.entropies.push(summary.final_entropy);
            if means.len() > 1 {
                g.drops.push(stats::mean_drop(&means));
            }
            let k = stats::tail(&means, 0.1).len();
            let late_episodes: Vec<f64> = evaluations[evaluations.len() - k..]
                .iter()
                .flat_map(|e| e.1.iter().copied())
                .collect();
            g.late_std.push(stats::std(&late_episodes));
        }
        if !g.finals.is_empty() {
            groups.push(g);
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

/// `p [lo, hi]` with two decimals, `–` for NaN.
pub fn format_p((p, lo, hi): (f64, f64, f64)) -> String {
    if p.is_nan() {
        "–".to_string()
    } else {
        format!("{p:.2} [{lo:.2}, {hi:.2}]")
    }
}

/// A number with `decimals` decimals, `–` for NaN.
pub fn format_or_dash(x: f64, decimals: usize) -> String {
    if x.is_nan() {
        "–".to_string()
    } else {
        format!("{x:.decimals$}")
    }
}

/// The Markdown section and CSV rows of [`robust_statistics`].
fn format_robust(groups: &[GroupEvaluations], reference: &EnvReference) -> (String, String) {
    let mut md = String::new();
    let solved = reference.solved.map_or(String::new(), |t| {
        format!(", solved at {t} (Gymnasium's threshold)")
    });
    let _ = writeln!(
        md,
        "\nRobust statistics (Agarwal et al., NeurIPS 2021), under both metrics. **Greedy \
         evaluation**: the final return of a run is the mean of the last 10% of its \
         deterministic evaluations; **training episodes**: the mean return of its last 10 \
         training episodes, with the policy's entropy at the last update. Over seeds: mean, \
         median, interquartile mean (IQM) with its 95% percentile bootstrap CI \
         ({BOOTSTRAP_RESAMPLES} resamples, seed {BOOTSTRAP_SEED}); consistency: IQR and std \
         of the final returns; score: `(IQM - random play) / (bp's IQM - random play)`, \
         random play {:.1} here{solved}; stability within runs (evaluations): mean drop \
         between consecutive evaluations and std of the episode returns of the last 10% of \
         evaluations, means over seeds divided by the same range (`stuck`: score below \
         {STUCK_SCORE}, a run at random play is steady, not stable); `P(> bp)`: probability \
         that a run of the group ends above a run of `bp` with the same algorithm and sweep \
         point, with its 95% bootstrap CI (`–`: the experiment has none); `P(> frozen)`: \
         likewise against `frozen`, the random-feature control.\n",
        reference.random_play
    );
    let _ = writeln!(
        md,
        "| trainer | metric | seeds | mean | median | IQM | IQM 95% CI | IQR | std | score | mean drop | late std | entropy | P(> bp) | P(> frozen) |"
    );
    let _ = writeln!(
        md,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    // Labels can hold commas (`network.hidden_sizes=[64, 64]`): the csv crate quotes them.
    let mut csv = csv::Writer::from_writer(Vec::new());
    let _ = csv.write_record([
        "trainer",
        "metric",
        "seeds",
        "mean",
        "median",
        "iqm",
        "iqm_ci_low",
        "iqm_ci_high",
        "iqr",
        "std",
        "score",
        "mean_drop_normalised",
        "late_std_normalised",
        "mean_drop",
        "late_std",
        "entropy",
        "p_improvement_over_bp",
        "p_improvement_over_bp_ci_low",
        "p_improvement_over_bp_ci_high",
        "p_improvement_over_frozen",
        "p_improvement_over_frozen_ci_low",
        "p_improvement_over_frozen_ci_high",
    ]);
    let in_csv = |p: f64| {
        if p.is_nan() {
            String::new()
        } else {
            p.to_string()
        }
    };
    for g in groups {
        for metric in Metric::BOTH {
            let f = g.values(metric);
            if f.is_empty() {
                continue;
            }
            let (iqm, lo, hi) = iqm_ci(&f);
            let scale = g.scale(groups, reference, metric);
            let score = scale.score(iqm);
            let (p, p_frozen) = (
                g.p_over_ci(groups, &g.baseline, metric),
                g.p_over_ci(groups, &g.frozen_baseline, metric),
            );
            // Stability: evaluations only, in units of the range, unless stuck.
            let (drop, late) = match metric {
                Metric::Eval => (stats::mean(&g.drops), stats::mean(&g.late_std)),
                Metric::Train => (f64::NAN, f64::NAN),
            };
            let (drop_n, late_n) = (drop / scale.range(), late / scale.range());
            let stability = |x: f64| match metric {
                Metric::Train => "–".to_string(),
                Metric::Eval if score < STUCK_SCORE => "stuck".to_string(),
                Metric::Eval => format_or_dash(x, 3),
            };
            let entropies: Vec<f64> = g
                .entropies
                .iter()
                .copied()
                .filter(|e| e.is_finite())
                .collect();
            let entropy = match metric {
                Metric::Train => stats::mean(&entropies),
                Metric::Eval => f64::NAN,
            };
            let _ = writeln!(
                md,
                "| `{}` | {} | {} | {:.1} | {:.1} | {iqm:.1} | [{lo:.1}, {hi:.1}] | {:.1} | {:.1} | {} | {} | {} | {} | {} | {} |",
                g.label,
                match metric {
                    Metric::Eval => "eval",
                    Metric::Train => "train",
                },
                f.len(),
                stats::mean(&f),
                stats::median(&f),
                stats::iqr(&f),
                stats::std(&f),
                format_or_dash(score, 2),
                stability(drop_n),
                stability(late_n),
                format_or_dash(entropy, 3),
                format_p(p),
                format_p(p_frozen),
            );
            let record = [
                g.label.clone(),
                format!("{metric:?}").to_lowercase(),
                f.len().to_string(),
            ]
            .into_iter()
            .chain(
                [
                    stats::mean(&f),
                    stats::median(&f),
                    iqm,
                    lo,
                    hi,
                    stats::iqr(&f),
                    stats::std(&f),
                    score,
                    drop_n,
                    late_n,
                    drop,
                    late,
                    entropy,
                    p.0,
                    p.1,
                    p.2,
                    p_frozen.0,
                    p_frozen.1,
                    p_frozen.2,
                ]
                .map(in_csv),
            );
            let _ = csv.write_record(record);
        }
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
/// confidence band ([`CURVE_BOOTSTRAP_RESAMPLES`] resamples, seed [`BOOTSTRAP_SEED`] + the
/// grid index), as Agarwal et al. (2021) plot learning curves.
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
                        CURVE_BOOTSTRAP_RESAMPLES,
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

/// Reads the steps of a run's deterministic evaluations (`eval.csv`'s `global_step`
/// column), in order.
///
/// # Errors
/// I/O or parse errors naming the file.
pub fn read_evaluation_steps(dir: &Path) -> Result<Vec<usize>, RunnerError> {
    let path = dir.join("eval.csv");
    let err = |message: String| RunnerError::Results {
        path: path.clone(),
        message,
    };
    let mut reader = csv::Reader::from_path(&path).map_err(|e| err(e.to_string()))?;
    reader
        .records()
        .map(|r| {
            let r = r.map_err(|e| err(e.to_string()))?;
            r.get(0)
                .and_then(|v| v.parse::<usize>().ok())
                .ok_or_else(|| err(format!("malformed evaluation row: {r:?}")))
        })
        .collect()
}

/// Greedy-evaluation curves per group: at the `k`-th evaluation (the same steps in every
/// run of a group), the interquartile mean over seeds of the evaluation's mean return, with
/// its 95% percentile bootstrap band ([`CURVE_BOOTSTRAP_RESAMPLES`] resamples); the x value
/// is the evaluation's environment step. Evaluations that not every run of the group has
/// are left out, and so is a group without evaluations.
///
/// # Errors
/// An `eval.csv` that exists but cannot be read.
pub fn eval_curves(
    summaries: &[(PlannedRun, Summary)],
    dir: &Path,
) -> Result<Vec<Series>, RunnerError> {
    let mut out = Vec::new();
    for (label, _) in by_trainer(summaries) {
        let mut runs: Vec<(Vec<usize>, Vec<f64>)> = Vec::new();
        for (run, _) in summaries.iter().filter(|(r, _)| r.label == label) {
            let path = dir.join(&run.id);
            if !path.join("eval.csv").is_file() {
                continue;
            }
            let means: Vec<f64> = read_evaluations(&path)?.iter().map(|e| e.0).collect();
            runs.push((read_evaluation_steps(&path)?, means));
        }
        let Some(n) = runs.iter().map(|r| r.1.len()).min().filter(|&n| n > 0) else {
            continue;
        };
        let mut series = Series::new(label);
        for k in 0..n {
            let ys: Vec<f64> = runs.iter().map(|r| r.1[k]).collect();
            let (lo, hi) = stats::bootstrap_ci(
                &ys,
                stats::iqm,
                CURVE_BOOTSTRAP_RESAMPLES,
                0.95,
                BOOTSTRAP_SEED.wrapping_add(k as u64),
            );
            series.push(runs[0].0[k] as f64, (stats::iqm(&ys), lo, hi));
        }
        out.push(series);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A planned run and its summary, for tables built from hand-made files.
    fn fake_run(id: &str, trainer: &str, seed: u64, final_eval: f64) -> (PlannedRun, Summary) {
        let config = crate::resolve::RunConfig::new(
            "CartPole-v1".into(),
            seed,
            pdmrl_agents::TrainerConfig::new(trainer.parse().unwrap()),
            pdmrl_agents::AgentConfig::default(),
        )
        .check(&pdmrl_envs::Registry::with_builtins())
        .unwrap();
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
            normalization: None,
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
        let reference = EnvReference {
            random_play: 0.0,
            solved: None,
        };
        let (md, csv) = robust_statistics(&done, d.path(), &reference)
            .unwrap()
            .unwrap();
        // Final returns (last 10% = the last evaluation): bp [20, 30], pdm [5, 40].
        // bp: mean 25, IQR 5, mean drop mean(4/3, 0) = 2/3, P(> bp) 0.5, score 1.
        // pdm: mean 22.5, IQR 17.5, drops mean(0, 3) = 1.5, P(pdm > bp) = 2/4, score 0.9.
        // Each group has an eval row, then a training row (the fake runs' training return
        // is 0).
        let rows: Vec<Vec<String>> = csv
            .lines()
            .skip(1)
            .map(|l| l.split(',').map(String::from).collect())
            .collect();
        let num = |r: &[String], k: usize| r[k].parse::<f64>().unwrap();
        assert_eq!((rows[0][0].as_str(), rows[0][1].as_str()), ("bp", "eval"));
        assert_eq!((rows[1][0].as_str(), rows[1][1].as_str()), ("bp", "train"));
        assert_eq!(num(&rows[0], 3), 25.0);
        assert_eq!(num(&rows[0], 8), 5.0);
        assert_eq!(num(&rows[0], 10), 1.0);
        assert!((num(&rows[0], 13) - 2.0 / 3.0).abs() < 1e-12);
        assert!((num(&rows[0], 11) - 2.0 / 3.0 / 25.0).abs() < 1e-12);
        assert_eq!(num(&rows[0], 16), 0.5);
        // Late std: the two episodes of the last evaluation, m -+ 1: sqrt(2).
        assert!((num(&rows[0], 14) - 2f64.sqrt()).abs() < 1e-12);
        assert_eq!((rows[2][0].as_str(), rows[2][1].as_str()), ("pdm", "eval"));
        assert_eq!(num(&rows[2], 3), 22.5);
        assert_eq!(num(&rows[2], 8), 17.5);
        assert_eq!(num(&rows[2], 10), 0.9);
        assert_eq!(num(&rows[2], 13), 1.5);
        assert_eq!(num(&rows[2], 16), 0.5);
        // The P CI brackets it; the IQM CI lies within the range of the final returns.
        assert!(num(&rows[2], 17) <= 0.5 && num(&rows[2], 18) >= 0.5);
        assert!(num(&rows[2], 6) >= 5.0 && num(&rows[2], 7) <= 40.0);
        // Training rows: no stability (evaluations only); bp's range is 0 there (its
        // training IQM equals random play): no score.
        assert_eq!(rows[1][10], "");
        assert_eq!(rows[1][13], "");
        assert!(md.contains("| `pdm` | eval | 2 | 22.5 |"), "{md}");
        assert!(md.contains("| `pdm` | train | 2 | 0.0 |"), "{md}");
    }

    /// Greedy-evaluation curves: at each evaluation step, the IQM over the group's runs of
    /// the evaluation means, inside a band within their range; evaluations only some runs
    /// have are left out.
    #[test]
    fn eval_curves_are_iqm_per_evaluation() {
        let d = tempfile::tempdir().unwrap();
        let mut done = Vec::new();
        for (seed, means) in [
            (1u64, vec![1.0, 10.0, 5.0]),
            (2, vec![3.0, 20.0]),
            (3, vec![2.0, 30.0]),
        ] {
            let id = format!("pdm-{seed}");
            let dir = d.path().join(&id);
            std::fs::create_dir_all(&dir).unwrap();
            let mut text = String::from(
                "global_step,episodes,eval_return_mean,eval_return_std,eval_return_min,eval_return_max,returns\n",
            );
            for (k, m) in means.iter().enumerate() {
                text.push_str(&format!("{},1,{m},0,{m},{m},{m}\n", (k + 1) * 1000));
            }
            std::fs::write(dir.join("eval.csv"), text).unwrap();
            done.push(fake_run(&id, "pdm", seed, *means.last().unwrap()));
        }
        let curves = eval_curves(&done, d.path()).unwrap();
        assert_eq!(curves.len(), 1);
        let c = &curves[0];
        assert_eq!(
            (c.label.as_str(), c.x.as_slice()),
            ("pdm", &[1000.0, 2000.0][..])
        );
        // Three runs: the IQM keeps all three (floor(3 / 4) = 0 cut from each end).
        assert_eq!(c.mean, [2.0, 20.0]);
        assert!(c.lower[1] >= 10.0 && c.upper[1] <= 30.0 && c.lower[1] < c.upper[1]);
    }

    /// A group stuck at random play gets no stability figures: `stuck`.
    #[test]
    fn stuck_groups_show_no_stability() {
        let d = tempfile::tempdir().unwrap();
        let mut done = Vec::new();
        for (trainer, seed, last) in [("bp", 1u64, 100.0), ("pdm", 1, 5.0)] {
            let id = format!("{trainer}-{seed}");
            let dir = d.path().join(&id);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                dir.join("eval.csv"),
                format!(
                    "global_step,episodes,eval_return_mean,eval_return_std,eval_return_min,eval_return_max,returns\n0,1,{last},0,{last},{last},{last}\n100,1,{last},0,{last},{last},{last}\n"
                ),
            )
            .unwrap();
            done.push(fake_run(&id, trainer, seed, last));
        }
        let reference = EnvReference {
            random_play: 0.0,
            solved: Some(90.0),
        };
        let (md, _) = robust_statistics(&done, d.path(), &reference)
            .unwrap()
            .unwrap();
        let pdm = md
            .lines()
            .find(|l| l.starts_with("| `pdm` | eval"))
            .unwrap();
        assert!(pdm.contains("| 0.05 | stuck | stuck |"), "{pdm}");
        assert!(md.contains("solved at 90"), "{md}");
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
        let reference = EnvReference {
            random_play: 0.0,
            solved: None,
        };
        let (md, csv) = robust_statistics(&done, d.path(), &reference)
            .unwrap()
            .unwrap();
        let column = |c: usize| -> Vec<String> {
            csv::Reader::from_reader(csv.as_bytes())
                .records()
                .map(|r| r.unwrap())
                .filter(|r| &r[1] == "eval")
                .map(|r| r[c].to_string())
                .collect()
        };
        // a2c pdm (20) beats a2c bp (10); ppo pdm (20) loses to ppo bp (30); the local_lr
        // point (27) is compared with the one ppo bp and ppo frozen (25).
        assert_eq!(column(16), ["0.5", "1", "0.5", "0", "0", "0", ""]);
        assert_eq!(column(19), ["", "", "1", "0", "0.5", "1", ""]);
        assert!(md.contains("| `pdm x=[1, 2]` | eval | 1 |"), "{md}");
        assert!(
            md.lines()
                .any(|l| l.starts_with("| `pdm x=[1, 2]` | eval") && l.ends_with("| – | – |")),
            "{md}"
        );
        assert!(
            md.lines().any(
                |l| l.starts_with("| `ppo pdm trainer.local_lr=0.01` | eval")
                    && l.ends_with("| 0.00 [0.00, 0.00] | 1.00 [1.00, 1.00] |")
            ),
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
