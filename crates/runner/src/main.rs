//! `pdmrl`: train agents and check environments from the command line.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use pdmrl_agents::{PpoConfig, TrainerConfig, TrainerKind};
use pdmrl_envs::Registry;
use pdmrl_runner::rollout::{parse_actions, parse_state, rollout};
use pdmrl_runner::run::{RunConfig, RunOptions, train_run};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "pdmrl",
    version,
    about = "Backpropagation-free reinforcement learning: train agents with bp or pdm, check environments"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train one agent and write metrics.csv, updates.csv, config.toml and summary.json to --out.
    Train {
        /// Gymnasium environment id.
        #[arg(long, default_value = "CartPole-v1")]
        env: String,
        /// Algorithm.
        #[arg(long, default_value = "ppo")]
        algo: String,
        /// Trainer: bp (backprop), pdm (local pairwise distance matching), pdm_guided (PDM
        /// with reward guidance), frozen (hidden layers fixed: the control).
        #[arg(long, default_value = "bp")]
        trainer: String,
        /// Run seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Environment steps (rounded down to whole iterations of num_envs * num_steps = 512).
        #[arg(long, default_value_t = 500_000)]
        total_steps: usize,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// Overwrite an output folder that already holds a complete run.
        #[arg(long)]
        force: bool,
    },
    /// Environment tools.
    Env {
        #[command(subcommand)]
        command: EnvCommand,
    },
}

#[derive(Subcommand)]
enum EnvCommand {
    /// Print the registered environment ids with their spaces.
    List,
    /// Set an env's internal state, apply actions, print one JSON object per step.
    Rollout {
        /// Gymnasium environment id.
        #[arg(long)]
        env: String,
        /// Internal state as a JSON array, e.g. `[0.01,0,-0.02,0.03]` for CartPole.
        #[arg(long)]
        init_state: String,
        /// Actions as a JSON array, e.g. `[0,1,1]`.
        #[arg(
            long,
            conflicts_with = "actions_file",
            required_unless_present = "actions_file"
        )]
        actions: Option<String>,
        /// File holding the JSON array of actions.
        #[arg(long)]
        actions_file: Option<PathBuf>,
    },
}

fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    if let Err(e) = run(Cli::parse()) {
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
        Command::Train {
            env,
            algo,
            trainer,
            seed,
            total_steps,
            out,
            force,
        } => {
            if total_steps == 0 {
                bail!("--total-steps must be at least 1 (got 0)");
            }
            let kind: TrainerKind = trainer.parse()?;
            let config = RunConfig {
                env_id: env,
                algo,
                seed,
                trainer: TrainerConfig::new(kind),
                ppo: PpoConfig {
                    total_timesteps: total_steps,
                    ..PpoConfig::default()
                },
            };
            config.check(&registry)?;
            let steps = (config.ppo.num_iterations() * config.ppo.batch_size()) as u64;
            let bar = ProgressBar::new(steps).with_style(
                ProgressStyle::with_template("[{bar:40}] {pos}/{len} steps  {per_sec}  ETA {eta}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            tracing::info!(env = %config.env_id, trainer = %kind, seed, steps, out = %out.display(), "training");
            let options = RunOptions {
                force,
                progress: &|n| bar.inc(n),
            };
            let summary = train_run(&config, &registry, &out, &options)
                .with_context(|| format!("run into `{}` failed", out.display()))?;
            bar.finish_and_clear();
            tracing::info!(
                final_return_mean = summary.final_return_mean,
                steps_per_second = format!("{:.0}", summary.steps_per_second),
                "done"
            );
            writeln!(
                std::io::stdout().lock(),
                "{}",
                serde_json::to_string_pretty(&summary)?
            )
            .context("cannot write the summary to stdout")?;
        }
        Command::Env {
            command: EnvCommand::List,
        } => {
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
        }
        Command::Env {
            command:
                EnvCommand::Rollout {
                    env,
                    init_state,
                    actions,
                    actions_file,
                },
        } => {
            let space = registry.make(&env)?.action_space();
            let (text, what) = match (actions, actions_file) {
                (Some(a), _) => (a, "--actions".to_string()),
                (None, Some(path)) => (
                    std::fs::read_to_string(&path).with_context(|| {
                        format!("cannot read --actions-file `{}`", path.display())
                    })?,
                    format!("--actions-file `{}`", path.display()),
                ),
                (None, None) => bail!("give --actions or --actions-file"),
            };
            let actions = parse_actions(&text, &space, &what)?;
            let state = parse_state(&init_state, "--init-state")?;
            let steps = rollout(&registry, &env, &state, &actions)?;
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
        }
    }
    Ok(())
}
