//! `pdmrl`: train agents and check environments from the command line.

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use pdmrl_agents::{Algo, TrainerConfig, TrainerKind};
use pdmrl_envs::Registry;
use pdmrl_runner::experiment::{Experiment, Shard};
use pdmrl_runner::progress::{RunEvent, Tracker};
use pdmrl_runner::resolve::{
    KeyHome, RunConfig, key_home, merge_tables, read_run_config, resolve_agent, resolve_trainer,
};
use pdmrl_runner::rollout::{parse_actions, parse_state, rollout};
use pdmrl_runner::run::{RunOptions, RunOutcome, RunProgress, train_checked};
use pdmrl_runner::run_dir::is_complete;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(
    name = "pdmrl",
    version,
    about = "Backpropagation-free reinforcement learning: train agents with bp or pdm, evaluate them, check environments"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train one agent and write metrics.csv, eval.csv, updates.csv, config.toml,
    /// checkpoint/ and summary.json to --out (or continue a run with --resume DIR).
    Train(TrainArgs),
    /// Evaluate a run's saved policy: deterministic episodes (argmax / mean action) with
    /// the saved normalisation statistics, frozen. Prints a JSON object.
    Eval {
        /// A run folder (or its checkpoint/ folder).
        #[arg(long, value_name = "DIR")]
        checkpoint: PathBuf,
        /// Episodes, one per env copy.
        #[arg(long, default_value_t = 10)]
        episodes: usize,
        /// Seed of the evaluation envs (default: the run's seed, as its evaluations during
        /// training).
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Run experiment files into RESULTS/NAME/ (resumably: complete runs are skipped,
    /// interrupted ones resume from their checkpoint; runs of another results version
    /// are trained again), then write each one's tables and figures
    /// (RESULTS/NAME/summary.md, RESULTS/figures/) from every complete run found, marking
    /// those drawn from stale runs.
    /// `cargo xtask reproduce` does this for the project's configs/. Progress goes to
    /// stderr: a bar in a terminal, else a line per run start and end and every
    /// PDMRL_PROGRESS_EVERY seconds (default 30; 0: none between).
    Reproduce {
        /// The experiment files, one after the other (e.g. `configs/*.toml`).
        #[arg(required = true, num_args = 1..)]
        files: Vec<PathBuf>,
        /// The results folder.
        #[arg(long, default_value = "results")]
        results: PathBuf,
        /// Worker threads (one run per thread); default: the number of cores.
        #[arg(long)]
        jobs: Option<usize>,
        /// Run only the I-th of N disjoint, deterministic slices of each experiment's runs
        /// (run k goes to slice k % N + 1), e.g. one per task of a Slurm job array sharing
        /// RESULTS; tables and figures use every complete run found.
        #[arg(long, value_name = "I/N")]
        shard: Option<Shard>,
    },
    /// Experiment files.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Environment tools.
    Env {
        #[command(subcommand)]
        command: EnvCommand,
    },
}

// The options of `pdmrl train` (no doc comment: the variant's is the command's help).
#[derive(Args)]
struct TrainArgs {
    /// Gymnasium environment id.
    #[arg(long, default_value = "CartPole-v1")]
    env: String,
    /// Algorithm: ppo, a2c or reinforce (defaults per algorithm and env: see
    /// `pdmrl_agents::config`).
    #[arg(long, default_value = "ppo")]
    algo: String,
    /// Trainer: bp (backprop), pdm (local pairwise distance matching), pdm_guided (PDM
    /// with reward guidance), frozen (hidden layers fixed: the control).
    #[arg(long, default_value = "bp")]
    trainer: String,
    /// Run seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Environment steps (default: the algorithm's for this env; fixed-size batches
    /// round it down to whole iterations).
    #[arg(long)]
    total_steps: Option<usize>,
    /// Set a hyperparameter, as a TOML `key=value` with the keys of experiment files
    /// (`algo.KEY`, `network.KEY`, `run.KEY`, `trainer.KEY`; the section may be left
    /// out of algo, network and run keys) (repeatable), e.g. `--set
    /// algo.learning_rate=1e-3 --set network.hidden_sizes=[64,64,64] --set
    /// trainer.local_lr=1e-4 --set 'trainer.pdm.normalize="none"'` (quote TOML strings for
    /// the shell).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Output folder.
    #[arg(long, required_unless_present = "resume", conflicts_with = "resume")]
    out: Option<PathBuf>,
    /// Continue the interrupted run in this folder from its checkpoint, with its saved
    /// config.toml (the other run options are not allowed); a run of another results
    /// version than this code's is refused.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["env", "algo", "trainer", "seed", "total_steps", "set", "force"])]
    resume: Option<PathBuf>,
    /// Write a checkpoint every this many updates (and after the last); 0: only the last.
    #[arg(long, default_value_t = pdmrl_runner::run::DEFAULT_CHECKPOINT_EVERY)]
    checkpoint_every: usize,
    /// Overwrite an output folder that already holds a complete run.
    #[arg(long)]
    force: bool,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate an experiment file and print every run it expands into (sweeps, trainers,
    /// seeds): its id, its label and its fully resolved config, as `config.toml` will hold it.
    Show {
        /// The experiment file, e.g. configs/quick.toml.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum EnvCommand {
    /// Print the registered environment ids with their spaces.
    List,
    /// Set an env's internal state, apply actions, print one JSON object per step.
    ///
    /// Or, with --seed instead of --init-state: reset with that seed and play
    /// --actions (one episode) or --episodes-file (a JSON array of action arrays, one per
    /// episode, played back to back in one env with resets without a seed between them);
    /// each line then carries `"episode": k`. MinAtar observations are the flat
    /// `[10, 10, C]` grid, row-major, channels last.
    Rollout(RolloutArgs),
}

// The options of `pdmrl env rollout` (no doc comment: the variant's is the command's
// help).
#[derive(Args)]
struct RolloutArgs {
    /// Gymnasium environment id.
    #[arg(long)]
    env: String,
    /// Internal state as a JSON array, e.g. `[0.01,0,-0.02,0.03]` for CartPole.
    #[arg(long, required_unless_present = "seed", conflicts_with = "seed")]
    init_state: Option<String>,
    /// Seed of a seeded reset (instead of --init-state).
    #[arg(long)]
    seed: Option<u64>,
    /// Constructor options as a JSON object, e.g.
    /// `{"sticky_action_prob":0.1,"difficulty_ramping":true}`.
    #[arg(long)]
    kwargs: Option<String>,
    /// Actions as a JSON array, e.g. `[0,1,1]`.
    #[arg(
        long,
        conflicts_with_all = ["actions_file", "episodes_file"],
        required_unless_present_any = ["actions_file", "episodes_file"]
    )]
    actions: Option<String>,
    /// File holding the JSON array of actions.
    #[arg(long, conflicts_with = "episodes_file")]
    actions_file: Option<PathBuf>,
    /// File holding a JSON array of action arrays, one per episode (needs --seed).
    #[arg(long, requires = "seed")]
    episodes_file: Option<PathBuf>,
}

fn main() {
    pdmrl_runner::allocator::keep_freed_memory();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let simd = pdmrl_tensor::simd::init_from_env();
    if let Err(e) = simd
        .map_err(anyhow::Error::from)
        .and_then(|_| run(Cli::parse()))
    {
        // A closed pipe (`pdmrl env list | head -1`) is not an error of ours.
        let broken_pipe = e.chain().any(|c| {
            c.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        });
        if broken_pipe {
            std::process::exit(0);
        }
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    let registry = Registry::with_builtins();
    match cli.command {
        Command::Train(args) => train(&registry, args),
        Command::Eval {
            checkpoint,
            episodes,
            seed,
        } => eval(&registry, &checkpoint, episodes, seed),
        Command::Reproduce {
            files,
            results,
            jobs,
            shard,
        } => reproduce(&files, &results, jobs, shard),
        Command::Config {
            command: ConfigCommand::Show { file },
        } => config_show(&registry, &file),
        Command::Env {
            command: EnvCommand::List,
        } => env_list(&registry),
        Command::Env {
            command: EnvCommand::Rollout(args),
        } => env_rollout(&registry, args),
    }
}

/// `pdmrl train`: one run into --out (or the run of --resume continued), its summary
/// printed.
fn train(registry: &Registry, args: TrainArgs) -> Result<()> {
    let resume = args.resume.is_some();
    let (config, out) = match (args.resume, args.out) {
        (Some(dir), _) => {
            if is_complete(&dir) {
                bail!(
                    "`{}` holds a complete run (its summary.json exists): nothing to resume",
                    dir.display()
                );
            }
            (read_run_config(&dir)?, dir)
        }
        (None, Some(out)) => {
            let algo: Algo = args.algo.parse()?;
            let kind: TrainerKind = args.trainer.parse()?;
            let mut overrides = set_overrides(&args.set)?;
            if let Some(steps) = args.total_steps {
                if steps == 0 {
                    bail!("--total-steps must be at least 1 (got 0)");
                }
                let steps = i64::try_from(steps).map_err(|_| {
                    anyhow::anyhow!("--total-steps {steps} is too large (at most {})", i64::MAX)
                })?;
                overrides.insert("total_timesteps".into(), toml::Value::Integer(steps));
            }
            let trainer = match overrides.remove("trainer") {
                Some(toml::Value::Table(t)) => resolve_trainer(kind, &t)?,
                Some(other) => bail!(
                    "--set trainer={other} is not a table of trainer options; set them one by one, e.g. --set trainer.local_lr=1e-4"
                ),
                None => TrainerConfig::new(kind),
            };
            let agent = resolve_agent(registry, &args.env, algo, &overrides)?;
            let config = RunConfig::new(args.env, args.seed, trainer, agent);
            (config, out)
        }
        (None, None) => bail!("give --out DIR (a new run) or --resume DIR"),
    };
    let (force, checkpoint_every) = (args.force, args.checkpoint_every);
    train_with_progress(registry, &config, &out, resume, force, checkpoint_every)
}

/// The overrides of `--set KEY=VALUE`, as one table: the keys of `[algo]`, `[network]` and
/// `[run]` (written `SECTION.KEY` or bare `KEY`) as agent keys, `trainer.KEY` under
/// `trainer`. Keys go where experiment files put them ([`key_home`]); a key that is not a
/// setting of one run (`algo.name`, `run.seeds`, ...) names the option to use instead.
fn set_overrides(set: &[String]) -> Result<toml::Table> {
    let mut overrides = toml::Table::new();
    for kv in set {
        let table: toml::Table = toml::from_str(kv).with_context(|| {
            format!("--set `{kv}` is not a TOML `key=value` (strings need quotes)")
        })?;
        merge_tables(&mut overrides, &table);
    }
    // `algo.KEY`, `network.KEY` and `run.KEY`, as in experiment files, are agent keys like
    // the bare `KEY`.
    for section in pdmrl_runner::resolve::AGENT_SECTIONS {
        let Some(value) = overrides.remove(section) else {
            continue;
        };
        let toml::Value::Table(keys) = value else {
            if section == "algo" {
                bail!(
                    "--set algo={value} is not allowed: choose the algorithm with --algo (hyperparameters are --set algo.KEY=VALUE)"
                );
            }
            bail!(
                "--set {section}={value} is not a key; set them one by one, e.g. --set {section}.KEY=VALUE"
            );
        };
        for (k, v) in keys {
            use pdmrl_runner::schema::{NETWORK_KEYS, RUN_AGENT_KEYS};
            match (section, key_home(section, &k)) {
                ("algo", KeyHome::Runs) => {
                    bail!("--set algo.name is not allowed: choose the algorithm with --algo")
                }
                ("run", KeyHome::Runs) if k == "seeds" => {
                    bail!("--set run.seeds: choose the seed with --seed")
                }
                ("run", KeyHome::Runs) => {
                    bail!("--set run.checkpoint_every: use --checkpoint-every")
                }
                ("run", KeyHome::Unknown) => bail!(
                    "--set run.{k}: unknown key `{k}` in [run]; allowed: {}, checkpoint_every (--checkpoint-every), seeds (--seed)",
                    RUN_AGENT_KEYS.join(", ")
                ),
                ("network", KeyHome::Unknown) => bail!(
                    "--set network.{k}: unknown key `{k}` in [network]; allowed: {}",
                    NETWORK_KEYS.join(", ")
                ),
                _ => {}
            }
            let home = pdmrl_runner::schema::section_of_agent_key(&k);
            if home != section {
                bail!("--set {section}.{k}: `{k}` is a [{home}] key (use {home}.{k} or just {k})");
            }
            overrides.insert(k, v);
        }
    }
    Ok(overrides)
}

/// Trains `config` into `out` (resuming it, overwriting a complete run, with a checkpoint
/// every `checkpoint_every` updates), showing progress on stderr, and prints the summary
/// of the completed run.
fn train_with_progress(
    registry: &Registry,
    config: &RunConfig,
    out: &Path,
    resume: bool,
    force: bool,
    checkpoint_every: usize,
) -> Result<()> {
    let config = &config.check(registry)?;
    let steps = config.planned_steps() as u64;
    let id = out.file_name().map_or_else(
        || out.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let tracker = Tracker::new(&id, 1, steps)?;
    tracing::info!(
        env = %config.env_id,
        algo = %config.agent.algo,
        trainer = %config.trainer.kind(),
        seed = config.seed,
        steps,
        out = %out.display(),
        resume,
        "training"
    );
    let progress = |p: RunProgress| match p {
        RunProgress::Start { at } => tracker.event(RunEvent::Started {
            id: &id,
            resumed_at: at,
            steps,
        }),
        RunProgress::Trained { steps } => tracker.event(RunEvent::Trained { steps }),
    };
    let options = RunOptions {
        force,
        resume,
        checkpoint_every,
        ..RunOptions::new(&progress)
    };
    let outcome = train_checked(config, registry, out, &options);
    tracker.event(match &outcome {
        Ok(RunOutcome::Complete(_)) => RunEvent::Completed { id: &id },
        _ => RunEvent::Failed {
            id: &id,
            untrained: steps.saturating_sub(tracker.counts().steps_done()),
        },
    });
    tracker.finish();
    let outcome = outcome.with_context(|| format!("run into `{}` failed", out.display()))?;
    let RunOutcome::Complete(summary) = outcome else {
        bail!(
            "the run stopped before its end; continue it with --resume {}",
            out.display()
        );
    };
    tracing::info!(
        final_return_mean = summary.final_return_mean,
        final_eval_return_mean = summary.final_eval_return_mean,
        steps_per_second = format!("{:.0}", summary.steps_per_second),
        "done"
    );
    print_json(&summary, "the summary")
}

/// `pdmrl eval`: a checkpoint's deterministic return, printed as JSON.
fn eval(registry: &Registry, checkpoint: &Path, episodes: usize, seed: Option<u64>) -> Result<()> {
    let report = pdmrl_runner::evaluate::evaluate_checkpoint(registry, checkpoint, episodes, seed)
        .with_context(|| format!("cannot evaluate `{}`", checkpoint.display()))?;
    print_json(&report, "the report")
}

/// `pdmrl reproduce`: every experiment file checked, then run (this shard of it) and
/// reported, one after the other.
fn reproduce(
    files: &[PathBuf],
    results: &Path,
    jobs: Option<usize>,
    shard: Option<Shard>,
) -> Result<()> {
    let jobs = jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    // Every file is checked before any run starts; two must not share a results folder.
    let mut names: Vec<(String, &PathBuf)> = Vec::new();
    for file in files {
        let name = Experiment::from_file(file)?.name;
        if let Some((_, other)) = names.iter().find(|(n, _)| *n == name) {
            bail!(
                "`{}` and `{}` both have name = \"{name}\" ({}/{name}/); give each experiment its own name",
                other.display(),
                file.display(),
                results.display()
            );
        }
        names.push((name, file));
    }
    let mut failed = 0;
    for file in files {
        let r = pdmrl_runner::reproduce::reproduce_shard(file, results, jobs, shard)
            .with_context(|| format!("reproducing `{}`", file.display()))?;
        eprint!("{}", r.report_text());
        failed += r.report.failed.len();
    }
    if failed > 0 {
        bail!("{failed} runs failed");
    }
    Ok(())
}

/// `pdmrl config show`: every run of an experiment file with its resolved config.
fn config_show(registry: &Registry, file: &Path) -> Result<()> {
    let experiment = Experiment::from_file(file)?;
    let runs = experiment.plan(registry)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "# {}: {} runs into results/{}/",
        file.display(),
        runs.len(),
        experiment.name
    )?;
    for run in runs {
        writeln!(stdout, "\n# run {} ({})", run.id, run.label)?;
        write!(stdout, "{}", toml::to_string(&run.config)?)?;
    }
    Ok(())
}

/// `pdmrl env list`: the registered env ids with their spaces.
fn env_list(registry: &Registry) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    for id in registry.ids() {
        let env = registry.make(&id)?;
        let limit = registry
            .spec(&id)
            .and_then(|s| s.max_episode_steps)
            .map_or("none".to_string(), |n| n.to_string());
        writeln!(
            stdout,
            "{id}\tobservation {}\taction {}\tmax_episode_steps {limit}",
            env.observation_space(),
            env.action_space()
        )?;
    }
    Ok(())
}

/// `pdmrl env rollout`: a seeded rollout (--seed) or one from a set state (--init-state),
/// one JSON line per step.
fn env_rollout(registry: &Registry, args: RolloutArgs) -> Result<()> {
    let kwargs: toml::Table = match &args.kwargs {
        None => toml::Table::new(),
        Some(text) => {
            let json: serde_json::Value = serde_json::from_str(text)
                .with_context(|| format!("--kwargs `{text}` is not JSON"))?;
            match toml::Value::try_from(&json) {
                Ok(toml::Value::Table(t)) => t,
                _ => bail!("--kwargs `{text}` must be a JSON object of options"),
            }
        }
    };
    let space = registry.make_with(&args.env, &kwargs)?.action_space();
    if let Some(seed) = args.seed {
        return rollout_from_seed(registry, &args, &kwargs, &space, seed);
    }
    if !kwargs.is_empty() {
        bail!("--kwargs needs --seed (a rollout from --init-state uses the default env)");
    }
    rollout_from_state(registry, args, &space)
}

/// `pdmrl env rollout --seed`: --actions, --actions-file (one episode) or --episodes-file
/// played from a reset with `seed`.
fn rollout_from_seed(
    registry: &Registry,
    args: &RolloutArgs,
    kwargs: &toml::Table,
    space: &pdmrl_envs::Space,
    seed: u64,
) -> Result<()> {
    let episodes = match (&args.actions, &args.actions_file, &args.episodes_file) {
        (Some(a), _, _) => vec![parse_actions(a, space, "--actions")?],
        (None, Some(path), _) => {
            let what = format!("--actions-file `{}`", path.display());
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read {what}"))?;
            vec![parse_actions(&text, space, &what)?]
        }
        (None, None, Some(path)) => {
            let what = format!("--episodes-file `{}`", path.display());
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read {what}"))?;
            pdmrl_runner::rollout::parse_episodes(&text, space, &what)?
        }
        (None, None, None) => {
            bail!("give --actions, --actions-file or --episodes-file")
        }
    };
    let steps =
        pdmrl_runner::rollout::rollout_seeded(registry, &args.env, kwargs, seed, &episodes)?;
    let mut stdout = std::io::stdout().lock();
    for step in steps {
        writeln!(stdout, "{}", serde_json::to_string(&step)?)?;
    }
    Ok(())
}

/// `pdmrl env rollout --init-state`: --actions or --actions-file played from that state.
fn rollout_from_state(
    registry: &Registry,
    args: RolloutArgs,
    space: &pdmrl_envs::Space,
) -> Result<()> {
    let init_state = args.init_state.unwrap_or_default();
    let (text, what) = match (args.actions, args.actions_file) {
        (Some(a), _) => (a, "--actions".to_string()),
        (None, Some(path)) => (
            std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read --actions-file `{}`", path.display()))?,
            format!("--actions-file `{}`", path.display()),
        ),
        (None, None) => bail!("give --actions or --actions-file"),
    };
    let actions = parse_actions(&text, space, &what)?;
    let state = parse_state(&init_state, "--init-state")?;
    let steps = rollout(registry, &args.env, &state, &actions)?;
    if steps.len() < actions.len() {
        eprintln!(
            "note: the episode ended after {} of {} actions; the rest were not applied",
            steps.len(),
            actions.len()
        );
    }
    let mut stdout = std::io::stdout().lock();
    for step in steps {
        writeln!(stdout, "{}", serde_json::to_string(&step)?)?;
    }
    Ok(())
}

/// Prints `value` as pretty JSON on stdout; `what` names it in the error.
fn print_json<T: serde::Serialize>(value: &T, what: &str) -> Result<()> {
    writeln!(
        std::io::stdout().lock(),
        "{}",
        serde_json::to_string_pretty(value)?
    )
    .with_context(|| format!("cannot write {what} to stdout"))
}
