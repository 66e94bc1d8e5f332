//! `results/study/README.md`: the design-space study's report. Its prose is written by
//! hand; its tables are filled in here from the complete runs of the `configs/study_*.toml`
//! experiments, between the markers `<!-- table:NAME -->` and `<!-- /table:NAME -->`
//! (NAME an experiment), every time `cargo xtask reproduce` or `cargo xtask figures`
//! processes a study config.
//!
//! One row per group (trainer and the point of the options it reads) and env, under both
//! metrics (greedy evaluation, training episodes): the IQM of the final returns over seeds
//! with its 95% bootstrap CI, the probability of improvement over the `bp` and the
//! `frozen` group of the same network and budget with its 95% bootstrap CI; the policy's
//! entropy at the end; and the diagnostics that explain the outcome: the mean pairwise
//! distance of the actor's first and last hidden layers' outputs at the end of training,
//! and the drift of its last hidden layer (relative change of its outputs on a fixed probe
//! batch over one iteration) at the middle of the run, alone and per unit of the hidden
//! layers' learning rate there.

use anyhow::{Context, Result, bail};
use pdmrl_agents::{LocalLrSchedule, LocalOptimizer, TrainerKind};
use pdmrl_runner::aggregate::{Metric, evaluation_stats, format_or_dash, format_p, iqm_ci, of_env};
use pdmrl_runner::experiment::{Experiment, PlannedRun, summaries};
use pdmrl_runner::reference::References;
use pdmrl_runner::reproduce::short_label;
use pdmrl_runner::resolve::{RunConfig, leaves};
use pdmrl_runner::stats;
use pdmrl_runner::summary::Summary;
use pdmrl_runner::version::stale_markdown;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The study report, relative to the results folder (`results/study/README.md`).
pub const README: &str = "study/README.md";

/// Whether `config` (a path under `configs/`) is a study experiment.
pub fn is_study(config: &Path) -> bool {
    config
        .file_stem()
        .is_some_and(|s| s.to_string_lossy().starts_with("study_"))
}

/// A table block of the report: the experiment it holds and the 0-based lines of its
/// start and end markers.
struct Block {
    name: String,
    start: usize,
    end: usize,
}

/// The marker on `line` (trailing whitespace and `\r` ignored): `Some((true, name))` for
/// `<!-- table:NAME -->`, `Some((false, name))` for `<!-- /table:NAME -->`.
fn marker(line: &str) -> Option<(bool, &str)> {
    let inner = line
        .trim()
        .strip_prefix("<!--")?
        .strip_suffix("-->")?
        .trim();
    if let Some(name) = inner.strip_prefix("/table:") {
        Some((false, name))
    } else {
        inner.strip_prefix("table:").map(|name| (true, name))
    }
}

/// The table blocks of the report, each marker on a line of its own.
///
/// # Errors
/// `README.md:LINE` and what is wrong: a start marker repeated or without its end, an end
/// without its start, a marker sharing its line with other text or another marker.
fn blocks(path: &Path, text: &str) -> Result<Vec<Block>> {
    let at = |i: usize| format!("{}:{}", path.display(), i + 1);
    let mut blocks: Vec<Block> = Vec::new();
    let mut open: Option<(String, usize)> = None;
    for (i, line) in text.lines().enumerate() {
        let Some((is_start, name)) = marker(line) else {
            if line.contains("table:") && line.contains("<!--") {
                bail!(
                    "{}: a table marker must be alone on its line: `{}`",
                    at(i),
                    line.trim()
                );
            }
            continue;
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            bail!(
                "{}: `{}` is not a table marker (`<!-- table:NAME -->` alone on its line, NAME a config of configs/)",
                at(i),
                line.trim()
            );
        }
        match (is_start, &open) {
            (true, Some((other, j))) => bail!(
                "{}: `<!-- table:{name} -->` inside the table `{other}` opened on line {} (close it with `<!-- /table:{other} -->` first)",
                at(i),
                j + 1
            ),
            (true, None) => {
                if let Some(b) = blocks.iter().find(|b| b.name == name) {
                    bail!(
                        "{}: a second `<!-- table:{name} -->` (the first is on line {}): each table once",
                        at(i),
                        b.start + 1
                    );
                }
                open = Some((name.to_string(), i));
            }
            (false, Some((other, j))) if other == name => {
                blocks.push(Block {
                    name: name.to_string(),
                    start: *j,
                    end: i,
                });
                open = None;
            }
            (false, _) => bail!(
                "{}: `<!-- /table:{name} -->` has no `<!-- table:{name} -->` before it",
                at(i)
            ),
        }
    }
    if let Some((name, j)) = open {
        bail!(
            "{}: `<!-- table:{name} -->` has no `<!-- /table:{name} -->` after it",
            at(j)
        );
    }
    Ok(blocks)
}

/// Checks the report's markers (before any work, so that a broken report is found
/// first); a missing report is not an error.
///
/// # Errors
/// As [`fill`].
pub fn check(results: &Path) -> Result<()> {
    let path = results.join(README);
    if let Ok(text) = std::fs::read_to_string(&path) {
        blocks(&path, &text)?;
    }
    Ok(())
}

/// Fills the table of each experiment of `configs` that the report `results/study/README.md`
/// has markers for, from the runs under `results`; returns the report's path if it changed
/// anything. Markers naming no config of `root/configs/` are reported on stderr and left
/// as they are. Holds the lock `results/study/.report.lock` from reading the runs to
/// writing the report, so that of concurrent writers (the shards of a reproduction) the
/// last to write saw the latest runs.
///
/// # Errors
/// An unreadable report or results, or broken markers (see [`blocks`]).
pub fn fill(root: &Path, results: &Path, configs: &[PathBuf]) -> Result<Option<PathBuf>> {
    let path = results.join(README);
    let _lock = pdmrl_runner::atomic::lock_exclusive(&results.join("study/.report.lock"))?;
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading `{}`", path.display()))?;
    let blocks = blocks(&path, &text)?;
    for b in &blocks {
        let names = ranked_experiments(&b.name).unwrap_or_else(|| vec![b.name.as_str()]);
        if let Some(missing) = names
            .iter()
            .find(|n| !root.join("configs").join(format!("{n}.toml")).is_file())
        {
            eprintln!(
                "{}:{}: no configs/{missing}.toml; this table is left as it is",
                path.display(),
                b.start + 1,
            );
            continue;
        }
        if names.len() > 1 || ranked_experiments(&b.name).is_some() {
            continue;
        }
        if !root
            .join("configs")
            .join(format!("{}.toml", b.name))
            .is_file()
        {
            eprintln!(
                "{}:{}: no configs/{}.toml; this table is left as it is",
                path.display(),
                b.start + 1,
                b.name
            );
        }
    }
    let registry = pdmrl_agents::pdmrl_envs::Registry::with_builtins();
    let mut tables = std::collections::BTreeMap::new();
    for config in configs.iter().filter(|c| is_study(c)) {
        let experiment = Experiment::from_file(config)?;
        if blocks.iter().any(|b| b.name == experiment.name) {
            let t = table(&experiment, &registry, results)?;
            tables.insert(experiment.name.clone(), t);
        }
    }
    // Rankings: filled when every experiment they rank is among `configs`.
    let stems: Vec<String> = configs
        .iter()
        .filter_map(|c| c.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    for b in &blocks {
        if let Some(names) = ranked_experiments(&b.name)
            && names.iter().all(|n| stems.iter().any(|s| s == n))
        {
            let experiments = names
                .iter()
                .map(|n| Experiment::from_file(&root.join("configs").join(format!("{n}.toml"))))
                .collect::<Result<Vec<_>, _>>()?;
            let t = ranking(&experiments, &registry, results)?;
            tables.insert(b.name.clone(), t);
        }
    }
    let out = splice(&text, &blocks, &tables);
    if out == text {
        return Ok(None);
    }
    pdmrl_runner::atomic::write_atomic(&path, out.as_bytes())?;
    Ok(Some(path))
}

/// `text` with the lines between each block's markers replaced by its table in `tables`
/// (blocks without one keep their lines).
fn splice(
    text: &str,
    blocks: &[Block],
    tables: &std::collections::BTreeMap<String, String>,
) -> String {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < lines.len() {
        out.push_str(lines[i]);
        if let Some(b) = blocks.iter().find(|b| b.start == i)
            && let Some(t) = tables.get(&b.name)
        {
            if !lines[i].ends_with('\n') {
                out.push('\n');
            }
            out.push_str(t);
            i = b.end;
            continue;
        }
        i += 1;
    }
    out
}

/// The experiments a ranking block names: `ranking-A-B` ranks the PDM configurations of
/// the experiments `A` and `B` (names hold no `-`); `None` for a plain table block.
fn ranked_experiments(block: &str) -> Option<Vec<&str>> {
    let rest = block.strip_prefix("ranking-")?;
    Some(rest.split('-').filter(|n| !n.is_empty()).collect())
}

/// The ranking of the PDM configurations (groups that are neither `bp` nor `frozen`) of
/// `experiments` by the screening's selection rule. A configuration is a trainer with its
/// non-default options ([`trainer_options`]), whatever the network; one that two
/// experiments share (the same runs) is ranked once. A cell is an env and a number of
/// hidden layers. In
/// each cell and under each metric (greedy evaluation, training episodes) a configuration
/// scores `(IQM - random play) / (best IQM - random play)`, the best IQM being the highest
/// of every group of the cell in `experiments` (`bp`, `frozen` and every configuration): 0
/// is random play, 1 the best group of the cell. The selection score is the mean of the
/// scores over the cells and both metrics. (Normalising by `bp` alone would let a cell
/// where `bp` fails, such as Acrobot-v1 with 8 layers, dominate the mean.) Only
/// configurations with every cell are ranked.
fn ranking(
    experiments: &[Experiment],
    registry: &pdmrl_agents::pdmrl_envs::Registry,
    results: &Path,
) -> Result<String> {
    struct Row {
        experiment: String,
        config: String,
        /// Per cell: the IQM under each metric.
        cells: Vec<(String, [f64; 2])>,
        /// The run ids of every cell: a configuration two experiments share (the same
        /// runs, copied) is ranked once, under the experiment listed first.
        ids: Vec<String>,
    }
    let mut rows: Vec<Row> = Vec::new();
    let mut cell_names: Vec<String> = Vec::new();
    // Per cell: random play, and the best IQM under each metric.
    let mut cells: Vec<(String, f64, [f64; 2])> = Vec::new();
    let mut refs = References::default();
    // The results version of every run ranked from, for the stale mark.
    let mut versions: Vec<u32> = Vec::new();
    for experiment in experiments {
        let runs = experiment.plan(registry)?;
        let dir = results.join(&experiment.name);
        let done = summaries(&runs, &dir)?;
        versions.extend(done.iter().map(|(r, _)| r.config.results_version));
        for env in &experiment.envs {
            let of_env = of_env(&done, env);
            let groups = evaluation_stats(&of_env, &dir)?;
            let random = refs.of(registry, env)?.random_play;
            for g in &groups {
                let Some((run, _)) = of_env.iter().find(|(r, _)| r.label == g.label) else {
                    continue;
                };
                let cell = format!("{env} ({} layers)", run.config.agent.hidden_sizes.len());
                let iqms = Metric::BOTH.map(|m| stats::iqm(&g.values(m)));
                match cells.iter_mut().find(|c| c.0 == cell) {
                    Some(c) => {
                        for (best, iqm) in c.2.iter_mut().zip(iqms) {
                            *best = best.max(iqm);
                        }
                    }
                    None => cells.push((cell.clone(), random, iqms)),
                }
                if g.label == g.baseline || g.label == g.frozen_baseline {
                    continue;
                }
                if !cell_names.contains(&cell) {
                    cell_names.push(cell.clone());
                }
                let config = trainer_options(&run.config.trainer);
                let ids = of_env
                    .iter()
                    .filter(|(r, _)| r.label == g.label)
                    .map(|(r, _)| r.id.clone());
                match rows
                    .iter_mut()
                    .find(|r| r.experiment == experiment.name && r.config == config)
                {
                    Some(r) => {
                        r.cells.push((cell, iqms));
                        r.ids.extend(ids);
                    }
                    None => rows.push(Row {
                        experiment: experiment.name.clone(),
                        config,
                        cells: vec![(cell, iqms)],
                        ids: ids.collect(),
                    }),
                }
            }
        }
    }
    let score = |cell: &str, k: usize, iqm: f64| {
        let (_, random, best) = cells.iter().find(|c| c.0 == cell).expect("every cell");
        (iqm - random) / (best[k] - random)
    };
    let scores = |r: &Row| -> Vec<(String, [f64; 2])> {
        r.cells
            .iter()
            .map(|(c, iqms)| (c.clone(), [score(c, 0, iqms[0]), score(c, 1, iqms[1])]))
            .collect()
    };
    for r in &mut rows {
        r.ids.sort();
    }
    type Scored<'a> = (f64, Vec<(String, [f64; 2])>, &'a Row);
    let mut ranked: Vec<Scored> = rows
        .iter()
        .enumerate()
        .filter(|(i, r)| !rows[..*i].iter().any(|earlier| earlier.ids == r.ids))
        .map(|(_, r)| r)
        .filter(|r| {
            cell_names
                .iter()
                .all(|c| r.cells.iter().any(|(n, _)| n == c))
        })
        .map(|r| {
            let s = scores(r);
            let all: Vec<f64> = s.iter().flat_map(|(_, v)| *v).collect();
            (stats::mean(&all), s, r)
        })
        .filter(|(s, _, _)| s.is_finite())
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    if ranked.is_empty() {
        return Ok("_No configuration is complete in every cell yet._\n".to_string());
    }
    let mut md = format!(
        "| rank | experiment | configuration | selection score | {} |\n|---|---|---|---|{}\n",
        cell_names
            .iter()
            .map(|c| format!("{c} eval / train"))
            .collect::<Vec<_>>()
            .join(" | "),
        "---|".repeat(cell_names.len())
    );
    for (i, (score, s, r)) in ranked.iter().enumerate() {
        let cells: Vec<String> = cell_names
            .iter()
            .map(|c| {
                let v = s.iter().find(|(n, _)| n == c).expect("complete").1;
                format!("{:.2} / {:.2}", v[0], v[1])
            })
            .collect();
        let _ = writeln!(
            md,
            "| {} | {} | `{}` | {score:.3} | {} |",
            i + 1,
            r.experiment,
            r.config,
            cells.join(" | ")
        );
    }
    if let Some(line) = stale_markdown(versions) {
        md.push('\n');
        md.push_str(&line);
    }
    Ok(md)
}

/// A PDM configuration as the ranking names it: the trainer kind and every option it
/// reads that differs from that kind's default (`pdm local_optimizer=sgd local_lr=0.01`),
/// whichever of them an experiment file swept or set in `[trainer]`.
fn trainer_options(trainer: &pdmrl_agents::TrainerConfig) -> String {
    let options = |t: pdmrl_agents::TrainerConfig| {
        let mut out = Vec::new();
        if let Ok(toml::Value::Table(t)) = toml::Value::try_from(t) {
            leaves(&t, "", &mut out);
        }
        out
    };
    let defaults = options(pdmrl_agents::TrainerConfig::new(trainer.kind()));
    let mut label = trainer.kind().to_string();
    for (k, v) in options(*trainer) {
        if k != "kind" && !defaults.contains(&(k.clone(), v.clone())) {
            let _ = write!(label, " {k}={}", v.to_string().replace('"', ""));
        }
    }
    label
}

/// The learning rate of a run's hidden layers at its iteration `iteration` (1-based), as
/// the trainer sets it: `bp` the algorithm's (annealed if `anneal_lr`), a local trainer
/// `local_lr` under its schedule (0 from `local_until` on), `frozen` 0.
fn hidden_lr(config: &RunConfig, iteration: usize) -> f64 {
    let a = &config.agent;
    let n = a.num_iterations().max(1) as f64;
    let progress = (iteration.max(1) - 1) as f64 / n;
    let t = config.trainer.local();
    match config.trainer.kind() {
        TrainerKind::Bp if a.anneal_lr => a.learning_rate * (1.0 - progress),
        TrainerKind::Bp => a.learning_rate,
        TrainerKind::Frozen => 0.0,
        TrainerKind::Pdm | TrainerKind::PdmGuided => {
            if progress >= t.local_until {
                0.0
            } else {
                match t.local_lr_schedule {
                    LocalLrSchedule::Constant => t.local_lr,
                    LocalLrSchedule::Linear => t.local_lr * (1.0 - progress),
                }
            }
        }
    }
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
    if done.is_empty() {
        return Ok(format!(
            "_No complete run of `{}` yet: `cargo xtask reproduce --only {}`._\n",
            experiment.name, experiment.name
        ));
    }
    let mut md = String::from(
        "| env | group | runs | eval IQM [95% CI] | eval P(> bp) | eval P(> frozen) | train IQM [95% CI] | train P(> bp) | train P(> frozen) | entropy | distance L1 / last | drift mid-run | drift / lr |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let mut rows = 0;
    for env in &experiment.envs {
        let of_env = of_env(&done, env);
        let groups = evaluation_stats(&of_env, &dir)?;
        if groups.is_empty() {
            continue;
        }
        for g in &groups {
            let iqm = |metric| {
                let (iqm, lo, hi) = iqm_ci(&g.values(metric));
                if iqm.is_nan() {
                    "–".to_string()
                } else {
                    format!("{iqm:.1} [{lo:.1}, {hi:.1}]")
                }
            };
            let p = |label: &str, metric| format_p(g.p_over_ci(&groups, label, metric));
            let members: Vec<&(PlannedRun, Summary)> =
                of_env.iter().filter(|(r, _)| r.label == g.label).collect();
            let layers: Vec<_> = members
                .iter()
                .map(|(_, s)| &s.final_layers.actor)
                .filter(|a| !a.is_empty())
                .collect();
            let mean_of = |xs: Vec<f64>| {
                let xs: Vec<f64> = xs.into_iter().filter(|x| x.is_finite()).collect();
                if xs.is_empty() {
                    f64::NAN
                } else {
                    stats::mean(&xs)
                }
            };
            let first = mean_of(layers.iter().map(|a| a[0].mean_distance).collect());
            let last = mean_of(
                layers
                    .iter()
                    .map(|a| a[a.len() - 1].mean_distance)
                    .collect(),
            );
            let distances = if layers.is_empty() {
                "–".to_string()
            } else {
                format!("{first:.2} / {last:.2}")
            };
            // Drift of the actor's last hidden layer at the middle of the run, and per unit
            // of the hidden layers' learning rate there (Adam's steps are about the rate;
            // SGD's are not: no ratio for it).
            let mids: Vec<(f64, f64)> = members
                .iter()
                .filter(|(_, s)| !s.mid_layers.actor.is_empty())
                .map(|(r, s)| {
                    let drift = s.mid_layers.actor[s.mid_layers.actor.len() - 1].drift;
                    let batch = r.config.agent.batch_size().max(1);
                    let lr = hidden_lr(&r.config, s.mid_step.div_ceil(batch));
                    (drift, lr)
                })
                .collect();
            let drift = mean_of(mids.iter().map(|m| m.0).collect());
            let adam = members.iter().all(|(r, _)| {
                r.config.trainer.kind() == TrainerKind::Bp
                    || r.config.trainer.local().local_optimizer == LocalOptimizer::Adam
            });
            let per_lr = if adam {
                mean_of(
                    mids.iter()
                        .filter(|m| m.1 > 0.0)
                        .map(|m| m.0 / m.1)
                        .collect(),
                )
            } else {
                f64::NAN
            };
            let drift = match drift {
                d if d.is_nan() => "–".to_string(),
                0.0 => "0".to_string(),
                d => format!("{d:.1e}"),
            };
            let per_lr = if per_lr.is_nan() {
                "–".to_string()
            } else {
                format!("{per_lr:.0}")
            };
            let entropy = mean_of(g.entropies.clone());
            rows += 1;
            let _ = writeln!(
                md,
                "| {env} | `{}` | {} | {} | {} | {} | {} | {} | {} | {} | {distances} | {drift} | {per_lr} |",
                short_label(&g.label),
                g.finals.len(),
                iqm(Metric::Eval),
                p(&g.baseline, Metric::Eval),
                p(&g.frozen_baseline, Metric::Eval),
                iqm(Metric::Train),
                p(&g.baseline, Metric::Train),
                p(&g.frozen_baseline, Metric::Train),
                format_or_dash(entropy, 2),
            );
        }
    }
    if rows == 0 {
        md = format!(
            "_The complete runs of `{}` have no evaluations (`run.eval_every = 0`?): nothing to tabulate._\n",
            experiment.name
        );
    }
    // Under the table, whether it is drawn from runs of another results version.
    if let Some(line) = stale_markdown(done.iter().map(|(r, _)| r.config.results_version)) {
        md.push('\n');
        md.push_str(&line);
    }
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A study table drawn from stale runs (of another results version than the code's)
    /// says so under its rows, naming the version; drawn from current runs, it does not.
    #[test]
    fn a_table_of_stale_runs_is_marked() {
        let root = std::env::temp_dir().join(format!("pdmrl-study-stale-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let file = root.join("study_stale.toml");
        std::fs::write(
            &file,
            "name = \"study_stale\"\n[env]\nid = \"CartPole-v1\"\n[algo]\nname = \"ppo\"\nnum_steps = 64\n[trainer]\nkind = [\"bp\", \"frozen\"]\n[run]\nseeds = [1]\ntotal_timesteps = 512\neval_every = 256\neval_episodes = 2\n",
        )
        .unwrap();
        let results = root.join("results");
        let r = pdmrl_runner::reproduce::reproduce(&file, &results, 2).unwrap();
        assert_eq!(r.report.done.len(), 2, "{:?}", r.report.failed);
        let registry = pdmrl_agents::pdmrl_envs::Registry::with_builtins();
        let experiment = Experiment::from_file(&file).unwrap();
        let current = table(&experiment, &registry, &results).unwrap();
        assert_eq!(current.matches("| CartPole-v1 | `").count(), 2, "{current}");
        assert!(!current.contains("stale"), "{current}");
        // One of the two runs made version 1: its config.toml without the key.
        let runs = experiment.plan(&registry).unwrap();
        let config = results
            .join("study_stale")
            .join(&runs[0].id)
            .join("config.toml");
        let text = std::fs::read_to_string(&config).unwrap();
        let version = format!("results_version = {}\n", pdmrl_runner::RESULTS_VERSION);
        std::fs::write(&config, text.strip_prefix(&version).unwrap()).unwrap();
        let stale = table(&experiment, &registry, &results).unwrap();
        assert_eq!(
            stale,
            format!(
                "{current}\n_1 of 2 runs of results version 1 (current code: {}): stale until regenerated._\n",
                pdmrl_runner::RESULTS_VERSION
            )
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    fn errors_of(text: &str) -> String {
        blocks(Path::new("R.md"), text)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    /// Tables replace the lines between their markers and nothing else; CRLF lines and
    /// trailing spaces still mark.
    #[test]
    fn splice_replaces_only_the_marked_lines() {
        let text = "# T\r\n<!-- table:a --> \r\nold\r\n<!-- /table:a -->\r\nprose\n<!-- table:b -->\n<!-- /table:b -->\n";
        let b = blocks(Path::new("R.md"), text).unwrap();
        assert_eq!(
            b.iter()
                .map(|b| (b.name.as_str(), b.start, b.end))
                .collect::<Vec<_>>(),
            [("a", 1, 3), ("b", 5, 6)]
        );
        let tables = [("a".to_string(), "| new |\n".to_string())].into();
        assert_eq!(
            splice(text, &b, &tables),
            "# T\r\n<!-- table:a --> \r\n| new |\n<!-- /table:a -->\r\nprose\n<!-- table:b -->\n<!-- /table:b -->\n"
        );
    }

    /// A ranked configuration is named by every option that differs from its kind's
    /// default, whether the file swept it or set it in `[trainer]`; options the kind does
    /// not read are left out.
    #[test]
    fn configurations_are_named_by_their_options() {
        use pdmrl_agents::{TrainerKind, TrainerOptions};
        let mut t = TrainerOptions::new(TrainerKind::Pdm);
        assert_eq!(trainer_options(&t.config()), "pdm");
        t.local_optimizer = LocalOptimizer::Sgd;
        t.local_lr = 0.01;
        t.guidance.weight = 0.6; // pdm does not read it
        assert_eq!(
            trainer_options(&t.config()),
            "pdm local_lr=0.01 local_optimizer=sgd"
        );
        t.kind = TrainerKind::PdmGuided;
        assert_eq!(
            trainer_options(&t.config()),
            "pdm_guided guidance.weight=0.6 local_lr=0.01 local_optimizer=sgd"
        );
        assert_eq!(
            short_label("pdm trainer.local_steps=\"epoch\" trainer.pdm.loss=\"sammon\""),
            "pdm local_steps=epoch pdm.loss=sammon"
        );
    }

    /// Every broken marker is an error naming its line, before anything is written.
    #[test]
    fn broken_markers_are_errors_naming_their_line() {
        for (text, needles) in [
            (
                "<!-- table:a -->\nx\n<!-- table:a -->\n<!-- /table:a -->\n",
                &["R.md:3", "inside the table `a` opened on line 1"][..],
            ),
            (
                "<!-- table:a -->\n<!-- /table:a -->\n<!-- table:a -->\n<!-- /table:a -->\n",
                &[
                    "R.md:3",
                    "a second `<!-- table:a -->` (the first is on line 1)",
                ][..],
            ),
            (
                "x\n<!-- table:a -->\n",
                &["R.md:2", "has no `<!-- /table:a -->` after it"][..],
            ),
            (
                "<!-- /table:a -->\n<!-- table:a -->\n",
                &["R.md:1", "has no `<!-- table:a -->` before it"][..],
            ),
            (
                "<!-- table:a --><!-- /table:a -->\n",
                &["R.md:1", "not a table marker"][..],
            ),
            (
                "see <!-- table:a -->\n",
                &["R.md:1", "alone on its line"][..],
            ),
        ] {
            let e = errors_of(text);
            assert!(
                !e.contains('\n') && needles.iter().all(|n| e.contains(n)),
                "{text:?}: {e}"
            );
        }
    }
}
