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
use pdmrl_runner::aggregate::{evaluation_stats, iqm_ci, of_env};
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
pub fn check(root: &Path) -> Result<()> {
    let path = root.join(README);
    if let Ok(text) = std::fs::read_to_string(&path) {
        blocks(&path, &text)?;
    }
    Ok(())
}

/// Fills the table of each experiment of `configs` that the report has markers for;
/// returns the report's path if it changed anything. Markers naming no config of
/// `configs/` are reported on stderr and left as they are.
///
/// # Errors
/// An unreadable report or results, or broken markers (see [`blocks`]).
pub fn fill(root: &Path, configs: &[PathBuf]) -> Result<Option<PathBuf>> {
    let path = root.join(README);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading `{}`", path.display()))?;
    let blocks = blocks(&path, &text)?;
    for b in &blocks {
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
            let t = table(&experiment, &registry, &root.join("results"))?;
            tables.insert(experiment.name.clone(), t);
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
        "| env | group | runs | IQM [95% CI] | P(> bp) | P(> frozen) | distance L1 / last | drift |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    let mut rows = 0;
    for env in &experiment.envs {
        let of_env = of_env(&done, env);
        let groups = evaluation_stats(&of_env, &dir)?;
        for g in &groups {
            let (iqm, lo, hi) = iqm_ci(&g.finals);
            let p = |label: &str| match g.p_over(&groups, label) {
                p if p.is_nan() => "–".to_string(),
                p => format!("{p:.2}"),
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
            let (distances, drift) = if layers.is_empty() {
                ("–".to_string(), "–".to_string())
            } else if drift == 0.0 {
                (format!("{first:.2} / {last:.2}"), "0".to_string())
            } else {
                (format!("{first:.2} / {last:.2}"), format!("{drift:.1e}"))
            };
            rows += 1;
            let _ = writeln!(
                md,
                "| {env} | `{}` | {} | {iqm:.1} [{lo:.1}, {hi:.1}] | {} | {} | {distances} | {drift} |",
                g.label,
                g.finals.len(),
                p(&g.baseline),
                p(&g.frozen_baseline),
            );
        }
    }
    if rows == 0 {
        md = format!(
            "_The complete runs of `{}` have no evaluations (`run.eval_every = 0`?): nothing to tabulate._\n",
            experiment.name
        );
    }
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;

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
