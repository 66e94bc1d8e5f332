//! `cargo xtask`: project automation (alias in `.cargo/config.toml`).
//!
//! * `cargo xtask reproduce --quick`: runs `configs/quick.toml` and
//!   `configs/minatar_quick.toml` into `results/quick/` and `results/minatar_quick/`, and
//!   writes their `summary.md` and `results/figures/{quick,minatar_quick}_*.{png,svg}`;
//! * `cargo xtask reproduce [--all] [--only NAME...] [--jobs N] [--shard I/N]
//!   [--results DIR]`: every config (or the named ones) in `configs/`, or one slice of
//!   their runs, into `results/` (or DIR).
//! * `cargo xtask figures [--only NAME...] [--results DIR]`: every table and figure again
//!   from the complete runs in `results/` (or DIR), training nothing.
//! * `cargo xtask reproduce --only study`: the design-space study (`configs/study_*.toml`),
//!   whose tables are also filled into `results/study/README.md` (see `study.rs`).
//! * `cargo xtask bench [--steps N] [--repeats R] [--python PATH | --no-python]`: speed
//!   and memory, pdmrl against PyTorch (`results/bench/bench.{md,json}`; see `bench.rs`).
//! * `cargo xtask memory`: peak memory of one `bp` and one `pdm` update against depth
//!   (`results/memory/memory_vs_depth.csv`, `results/figures/memory_vs_depth.{png,svg}`).
//! * `cargo xtask ci`: what `.ci/run` runs (format check, clippy with `-D warnings`, the
//!   workspace's tests, the Slurm test), in order, stopping at the first failure.
//!
//! Complete runs with an unchanged config are skipped and interrupted ones resume from
//! their checkpoint, so an interrupted reproduction continues where it stopped.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use pdmrl_runner::reproduce::{reproduce_shard, write_report};
use std::path::{Path, PathBuf};

mod alloc;
mod bench;
mod ci;
mod memory;
mod study;

/// Counts allocations on request only (see `alloc.rs`): free for timed runs.
#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "pdmrl project automation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run experiments from configs/ into results/ and regenerate their tables and figures.
    Reproduce {
        /// Only configs/quick.toml and configs/minatar_quick.toml (the main job: a few
        /// minutes on 2 cores).
        #[arg(long, conflicts_with_all = ["all", "only"])]
        quick: bool,
        /// Every config in configs/ (the default).
        #[arg(long)]
        all: bool,
        /// Only the named configs (file stems, e.g. `quick`); a name without a file of its
        /// own names its family (`study`: every `configs/study_*.toml`).
        #[arg(long, num_args = 1..)]
        only: Vec<String>,
        /// Worker threads (one run per thread); default: the number of cores.
        #[arg(long)]
        jobs: Option<usize>,
        /// Run only the I-th of N disjoint, deterministic slices of each experiment's runs
        /// (run k goes to slice k % N + 1), e.g. one per job of a Slurm array sharing
        /// results/; tables and figures use every complete run found.
        #[arg(long, value_name = "I/N")]
        shard: Option<pdmrl_runner::experiment::Shard>,
        /// The results folder (default: the workspace's results/).
        #[arg(long, value_name = "DIR")]
        results: Option<PathBuf>,
    },
    /// Regenerate the tables and figures of every config (or the named ones) from the
    /// complete runs in results/, training nothing; and the memory figure from
    /// results/memory/.
    Figures {
        /// Only the named configs (file stems; `study`: every `configs/study_*.toml`).
        #[arg(long, num_args = 1..)]
        only: Vec<String>,
        /// The results folder (default: the workspace's results/).
        #[arg(long, value_name = "DIR")]
        results: Option<PathBuf>,
    },
    /// Measure the peak memory of one bp and one pdm update against depth into
    /// results/memory/memory_vs_depth.csv and results/figures/memory_vs_depth.png.
    Memory,
    /// Speed and memory: pdmrl PPO (bp, pdm) on CartPole-v1 and Pendulum-v1 side by side
    /// with a CleanRL-equivalent PyTorch PPO (when a Python with torch and gymnasium is
    /// found), the machine's sgemm ceiling, FLOPs per env step, bp vs pdm update time, two
    /// concurrent runs vs one, and peak memory against depth; writes
    /// results/bench/bench.{md,json}.
    Bench(bench::Args),
    /// What `.ci/run` runs: `cargo fmt --all -- --check`, `cargo clippy --workspace
    /// --all-targets --locked -- -D warnings`, `cargo test --workspace --locked` and
    /// `.ci/slurm_test.sh`, in order, stopping at the first that fails.
    Ci,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}

/// Stems of the `*.toml` files in `configs/`.
fn available(configs_dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(configs_dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn main() {
    pdmrl_runner::allocator::keep_freed_memory();
    // Errors are printed with their causes, without a backtrace (RUST_BACKTRACE is for bugs).
    let simd = pdmrl_tensor::simd::init_from_env();
    if let Err(e) = simd.map_err(anyhow::Error::from).and_then(|_| run()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let root = workspace_root();
    let (quick, only, jobs, shard, results) = match Cli::parse().command {
        Command::Reproduce {
            quick,
            all: _,
            only,
            jobs,
            shard,
            results,
        } => (quick, only, jobs, shard, results),
        Command::Figures { only, results } => {
            return figures(&only, &results.unwrap_or_else(|| root.join("results")));
        }
        Command::Memory => return memory::run(&root).map(drop),
        Command::Bench(args) => return bench::run(&root, &args),
        Command::Ci => return ci::run(&root),
    };
    let results = results.unwrap_or_else(|| root.join("results"));
    let configs = select_configs(&root, &results, quick, &only)?;
    let jobs = jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let mut failed = 0;
    for config in &configs {
        let r = reproduce_shard(config, &results, jobs, shard)
            .with_context(|| format!("reproducing `{}`", config.display()))?;
        eprint!("{}", r.report_text());
        failed += r.report.failed.len();
        if quick && let Ok(md) = std::fs::read_to_string(&r.summary_md) {
            println!("{md}");
        }
    }
    fill_study(&root, &results, &configs)?;
    if failed > 0 {
        bail!("{failed} runs failed");
    }
    Ok(())
}

/// Fills the tables of `<results>/study/README.md` if `configs` hold a study experiment
/// and the report exists.
fn fill_study(root: &Path, results: &Path, configs: &[PathBuf]) -> Result<()> {
    if !configs.iter().any(|c| study::is_study(c)) {
        return Ok(());
    }
    let readme = results.join(study::README);
    if !readme.is_file() {
        eprintln!(
            "no {} (a file): the study's tables are in {}/study_*/summary.md only",
            readme.display(),
            results.display()
        );
        return Ok(());
    }
    if let Some(path) = study::fill(root, results, configs)? {
        eprintln!("study report: {}", path.display());
    }
    Ok(())
}

/// `cargo xtask figures`: tables and figures from `results`, no training.
fn figures(only: &[String], results: &Path) -> Result<()> {
    let root = workspace_root();
    let registry = pdmrl_agents::pdmrl_envs::Registry::with_builtins();
    let configs = select_configs(&root, results, false, only)?;
    for config in &configs {
        let experiment = pdmrl_runner::experiment::Experiment::from_file(config)?;
        let runs = experiment.plan(&registry)?;
        let (summary, figures) = write_report(&experiment, &runs, results, &registry)
            .with_context(|| format!("reporting `{}`", config.display()))?;
        let dir = results.join(&experiment.name);
        let complete = pdmrl_runner::experiment::complete_runs(&runs, &dir).len();
        // Stale runs (of another results version) are drawn too, and marked as such.
        let stale = pdmrl_runner::experiment::summaries(&runs, &dir)?
            .iter()
            .filter(|(r, _)| r.config.results_version != pdmrl_runner::RESULTS_VERSION)
            .count();
        let stale_text = if stale > 0 {
            format!(
                ", {stale} complete but stale (of another results version than the code's {}): drawn, and marked stale",
                pdmrl_runner::RESULTS_VERSION
            )
        } else {
            String::new()
        };
        eprintln!(
            "{}: {complete} of {} runs complete{stale_text}",
            experiment.name,
            runs.len()
        );
        if complete + stale == 0 {
            continue;
        }
        eprintln!("  table:   {}", summary.display());
        for f in figures {
            eprintln!("  figure:  {}", f.display());
        }
    }
    fill_study(&root, results, &configs)?;
    if only.is_empty() && results.join("memory/memory_vs_depth.csv").is_file() {
        for f in memory::figure(results)? {
            eprintln!("memory figure: {}", f.display());
        }
    }
    Ok(())
}

/// The config files to use: `quick.toml`, the named ones, or all in `configs/`; checks
/// that they exist, that no two share a name and (for the study) that the study report
/// under `results` has sound markers.
fn select_configs(
    root: &Path,
    results: &Path,
    quick: bool,
    only: &[String],
) -> Result<Vec<PathBuf>> {
    let configs_dir = root.join("configs");
    let mut configs: Vec<PathBuf> = if quick {
        vec![
            configs_dir.join("quick.toml"),
            configs_dir.join("minatar_quick.toml"),
        ]
    } else if !only.is_empty() {
        // A name with no file of its own is a family: `study` is every `study_*.toml`.
        let stems = available(&configs_dir);
        only.iter()
            .flat_map(|n| {
                let family: Vec<&String> = stems
                    .iter()
                    .filter(|s| {
                        s.strip_prefix(n.as_str())
                            .is_some_and(|r| r.starts_with('_'))
                    })
                    .collect();
                if stems.contains(n) || family.is_empty() {
                    vec![configs_dir.join(format!("{n}.toml"))]
                } else {
                    let names: Vec<&str> = family.iter().map(|s| s.as_str()).collect();
                    eprintln!("`{n}`: {}", names.join(", "));
                    family
                        .into_iter()
                        .map(|s| configs_dir.join(format!("{s}.toml")))
                        .collect()
                }
            })
            .collect()
    } else {
        let mut v: Vec<PathBuf> = std::fs::read_dir(&configs_dir)
            .with_context(|| format!("cannot read `{}`", configs_dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        v.sort();
        v
    };
    // Each config once, in the order first named (`--only study study_depth`).
    let mut seen = std::collections::BTreeSet::new();
    configs.retain(|c| seen.insert(c.clone()));
    for c in &configs {
        if !c.is_file() {
            bail!(
                "no config `{}` (nor a family `{}_*.toml`); available: {}",
                c.display(),
                c.file_stem().unwrap_or_default().to_string_lossy(),
                available(&configs_dir).join(", ")
            );
        }
    }
    if configs.iter().any(|c| study::is_study(c)) {
        study::check(results)?;
    }
    // Experiment names are folder names under results/: two configs must not share one.
    let mut names = std::collections::BTreeMap::new();
    for c in &configs {
        let name = pdmrl_runner::experiment::Experiment::from_file(c)?.name;
        if let Some(other) = names.insert(name.clone(), c.clone()) {
            bail!(
                "`{}` and `{}` both have name = \"{name}\" (results/{name}/); give each experiment its own name",
                other.display(),
                c.display()
            );
        }
    }
    Ok(configs)
}
