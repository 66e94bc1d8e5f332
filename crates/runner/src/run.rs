//! Training one run into its folder: [`train_run`] starts a run afresh or resumes it from
//! its checkpoint, trains it update by update (writing the CSV files, `run.log` and a
//! checkpoint as it goes), and finishes it with `summary.json`. The folder's files are
//! described in [`crate::run_dir`], the configuration in [`crate::resolve`].

use crate::atomic::write_atomic;
use crate::error::RunnerError;
use crate::resolve::{CheckedRun, RunConfig, read_run_config};
use crate::run_dir::{
    CHECKPOINT, CHECKPOINT_NEW, CHECKPOINT_OLD, Progress, RunFiles, RunLog, checkpoint_dir,
    is_complete, lock_run_folder, read_checkpoint, read_returns, remove_dir_if_exists,
    remove_file_if_exists, write_checkpoint, write_eval, write_update,
};
use crate::summary::{FinalLayers, NormalizationStats, Summary};
use crate::temp_path::in_progress_path;
use crate::version::RESULTS_VERSION;
use pdmrl_agents::{Agent, AgentError, Event};
use pdmrl_envs::{ClipAction, Env, Registry, Space, SyncVectorEnv};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

/// `num_envs` copies of `env_id` from the registry; a continuous action space is wrapped in
/// [`ClipAction`] (CleanRL's `gym.wrappers.ClipAction`), so the Gaussian's samples reach
/// the env clipped to the space.
///
/// # Errors
/// Any error of [`Registry::make`] or [`SyncVectorEnv::new`].
pub fn make_envs(
    registry: &Registry,
    env_id: &str,
    n: usize,
) -> Result<SyncVectorEnv, RunnerError> {
    let mut envs: Vec<Box<dyn Env>> = Vec::with_capacity(n);
    for _ in 0..n {
        let env = registry.make(env_id)?;
        envs.push(if matches!(env.action_space(), Space::Box { .. }) {
            Box::new(ClipAction::new(env))
        } else {
            env
        });
    }
    Ok(SyncVectorEnv::new(envs)?)
}

/// The agent of a checked run with its training and evaluation envs, freshly initialised.
///
/// # Errors
/// Env errors, or envs the config does not fit (e.g. an unsupported action space).
pub fn build_agent(config: &CheckedRun, registry: &Registry) -> Result<Agent, RunnerError> {
    let envs = make_envs(registry, &config.env_id, config.agent.num_envs)?;
    let mut agent = Agent::from_checked(config.spec().clone(), envs, config.seed)?;
    if config.agent.eval_every > 0 {
        let eval = make_envs(registry, &config.env_id, config.agent.eval_episodes)?;
        agent = agent.with_eval_envs(eval)?;
    }
    Ok(agent)
}

/// Options of [`train_run`].
pub struct RunOptions<'a> {
    /// Overwrite an output folder that already holds a complete run.
    pub force: bool,
    /// Continue from the folder's checkpoint (its `config.toml` must equal the config).
    pub resume: bool,
    /// Write a checkpoint every this many updates (and always after the last); 0 writes
    /// only the last.
    pub checkpoint_every: usize,
    /// Stop, resumably, after this many updates in total (checkpoint written, no
    /// `summary.json`): a run cut into slices, or an interruption in tests.
    pub stop_after: Option<usize>,
    /// Called when training starts (at step 0, or where a resumed run's checkpoint
    /// stood) and after every update with the environment steps trained since.
    pub progress: &'a (dyn Fn(RunProgress) + Sync),
}

/// What [`train_run`] reports to [`RunOptions::progress`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunProgress {
    /// Training starts at environment step `at`: 0, or where the checkpoint of a resumed
    /// run stood (steps an earlier process took, not trained now).
    Start {
        /// The step training starts at.
        at: u64,
    },
    /// `steps` environment steps trained since the last report.
    Trained {
        /// Steps since the last report.
        steps: u64,
    },
}

impl<'a> RunOptions<'a> {
    /// Defaults: no force, no resume, a checkpoint every 10 updates, run to the end.
    pub fn new(progress: &'a (dyn Fn(RunProgress) + Sync)) -> Self {
        RunOptions {
            force: false,
            resume: false,
            checkpoint_every: DEFAULT_CHECKPOINT_EVERY,
            stop_after: None,
            progress,
        }
    }
}

/// Updates between checkpoints by default.
pub const DEFAULT_CHECKPOINT_EVERY: usize = 10;

/// What happened to a run.
#[derive(Debug, Clone, PartialEq)]
pub enum RunOutcome {
    /// The run completed; its summary.
    Complete(Box<Summary>),
    /// The run stopped at `stop_after` updates, resumable from its checkpoint.
    Stopped {
        /// Updates done.
        updates: usize,
    },
}

/// Trains one run (or resumes it with [`RunOptions::resume`]) and writes its files into
/// `out`.
///
/// A checkpoint is written every [`RunOptions::checkpoint_every`] updates and after the
/// last; `summary.json` is written last, atomically. A run that fails keeps what it wrote
/// (`*.csv.tmp` and the last good checkpoint) and leaves no file that looks complete: the
/// error names the update, and `--resume` continues from the checkpoint.
///
/// # Errors
/// An invalid config, an `out` folder that holds a complete run (unless `force`), a
/// missing or mismatched checkpoint when resuming, I/O errors naming the file, or a
/// training error.
pub fn train_run(
    config: &RunConfig,
    registry: &Registry,
    out: &Path,
    options: &RunOptions<'_>,
) -> Result<RunOutcome, RunnerError> {
    train_checked(&config.check(registry)?, registry, out, options)
}

/// As [`train_run`], for a config already checked ([`RunConfig::check`]).
///
/// # Errors
/// As [`train_run`], but for the config's checks.
pub fn train_checked(
    config: &CheckedRun,
    registry: &Registry,
    out: &Path,
    options: &RunOptions<'_>,
) -> Result<RunOutcome, RunnerError> {
    if config.results_version != RESULTS_VERSION {
        return Err(other_version(config.results_version, out, options.resume));
    }
    if is_complete(out) && !options.force {
        return Err(RunnerError::RunExists(out.to_path_buf()));
    }
    std::fs::create_dir_all(out).map_err(|e| RunnerError::io("cannot create folder", out, e))?;
    let _lock = lock_run_folder(out)?;
    if is_complete(out) && !options.force {
        return Err(RunnerError::RunExists(out.to_path_buf()));
    }
    let agent = build_agent(config, registry)?;
    let config_text = toml::to_string(config)
        .map_err(|e| RunnerError::Input(format!("cannot serialise config: {e}")))?;
    let mut session = if options.resume {
        Session::resume(config, config_text, out, agent)?
    } else {
        Session::start(config, config_text, out, agent, options.force)?
    };
    if let Some(updates) = session.train(options, config.planned_steps().div_ceil(2))? {
        return Ok(RunOutcome::Stopped { updates });
    }
    session.finish(config)
}

/// The error for a config of results version `version`, not this code's: this code
/// trains only [`RESULTS_VERSION`] (its numerics would give a run of `version` other bits
/// than its config says). `resume`: the config is that of the interrupted run in `out`.
fn other_version(version: u32, out: &Path, resume: bool) -> RunnerError {
    if resume {
        RunnerError::Input(format!(
            "`{}` holds a run of results version {version}, and this code trains results version {RESULTS_VERSION}: its numerics differ, so continuing the run would mix two versions in one run; start it again from scratch (`pdmrl reproduce` does so for a run of an experiment; for a single run, `pdmrl train --force --out {}` with its settings, which removes its files), or continue it with the code of version {version}",
            out.display(),
            out.display()
        ))
    } else {
        RunnerError::Input(format!(
            "the config is of results version {version}, and this code trains results version {RESULTS_VERSION} only: the run would not be what its config.toml says; train the config at version {RESULTS_VERSION} (`RunConfig::new`)"
        ))
    }
}

/// What a run keeps track of for its summary between checkpoints.
struct Tracked {
    layers: FinalLayers,
    eval_mean: f64,
    entropy: f64,
    mid: (FinalLayers, usize),
}

impl Tracked {
    /// Nothing yet: no layers, NaN means, no middle iteration.
    fn new() -> Self {
        Tracked {
            layers: FinalLayers::default(),
            eval_mean: f64::NAN,
            entropy: f64::NAN,
            mid: (FinalLayers::default(), 0),
        }
    }
}

/// A run being trained in this process: its agent and what it writes.
struct Session<'a> {
    agent: Agent,
    writer: RunWriter<'a>,
}

/// What a run writes as it trains in this process (its open files and log) and what its
/// summary will need.
struct RunWriter<'a> {
    out: &'a Path,
    /// The run's `config.toml`, kept in every checkpoint.
    config_text: String,
    files: RunFiles,
    log: RunLog,
    tracked: Tracked,
    /// The episodic returns of every finished training episode.
    returns: Vec<f64>,
    /// Wall-clock seconds spent by earlier processes.
    wall_before: f64,
    /// When this process started training.
    start: Instant,
}

/// What training in this process counts from event to event.
struct Counters {
    /// The environment step training started at in this process.
    step0: usize,
    /// The step of the last progress report.
    last_step: usize,
    /// Whether `updates.csv` still needs its header (a run at update 0).
    updates_header: bool,
    /// The step from which the mid-run diagnostics are taken.
    half_steps: usize,
}

impl<'a> Session<'a> {
    /// Takes the run folder `out` back at its checkpoint: checks that its config is
    /// `config` (`config_text` as TOML), restores `agent` from the checkpoint and the
    /// action log, opens the files at the lengths the checkpoint recorded, and appends to
    /// `run.log`.
    fn resume(
        config: &RunConfig,
        config_text: String,
        out: &'a Path,
        mut agent: Agent,
    ) -> Result<Self, RunnerError> {
        let config_path = out.join("config.toml");
        let saved = read_run_config(out)?;
        if saved.results_version != config.results_version && saved.same_run(config) {
            return Err(other_version(saved.results_version, out, true));
        }
        if &saved != config {
            return Err(RunnerError::Input(format!(
                "`{}` differs from the config of this run; resume with the saved config (pdmrl train --resume {})",
                config_path.display(),
                out.display()
            )));
        }
        let loaded = read_checkpoint(out)?;
        if loaded.progress.config != config_text {
            return Err(RunnerError::Input(format!(
                "`{}` was edited after the checkpoint was written; a resumed run must keep its config (restore it, or start again with --force)",
                config_path.display()
            )));
        }
        let actions_path = out.join("actions.bin");
        let bytes = std::fs::read(&actions_path)
            .map_err(|e| RunnerError::io("cannot read", &actions_path, e))?;
        let n = (loaded.progress.actions_bytes as usize).min(bytes.len());
        let actions: Vec<f32> = bytes[..n]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        agent.restore(&loaded.checkpoint, &actions).map_err(|e| {
            RunnerError::Input(format!(
                "cannot resume `{}` from its checkpoint and `{}`: {e}",
                out.display(),
                actions_path.display()
            ))
        })?;
        // A run stopped between renaming its CSV files and writing its summary: take the
        // files back under their in-progress names.
        for name in ["metrics.csv", "updates.csv", "eval.csv"] {
            let (done, tmp) = (out.join(name), in_progress_path(&out.join(name)));
            if done.is_file() && !tmp.exists() {
                std::fs::rename(&done, &tmp)
                    .map_err(|e| RunnerError::io("cannot rename", &done, e))?;
            }
        }
        let progress = &loaded.progress;
        let files = RunFiles::open(out, Some(progress))?;
        let returns = read_returns(&files.paths[0], progress.metrics_bytes)?;
        let tracked = Tracked {
            layers: progress.final_layers.clone(),
            eval_mean: progress.final_eval_return_mean,
            entropy: progress.final_entropy,
            mid: (progress.mid_layers.clone(), progress.mid_step),
        };
        let log = RunLog::open(out, false);
        log.line(&format!(
            "resumed at update {} (step {})",
            agent.iteration(),
            agent.global_step()
        ));
        Ok(Session {
            agent,
            writer: RunWriter {
                out,
                config_text,
                files,
                log,
                tracked,
                returns,
                wall_before: progress.wall_seconds,
                start: Instant::now(),
            },
        })
    }

    /// Makes `out` the folder of a new run of `config`: refuses a folder that holds
    /// anything but the lock unless `force`, removes the files of an earlier run, writes
    /// `config.toml` (`config_text`), opens fresh files and starts `run.log`.
    fn start(
        config: &RunConfig,
        config_text: String,
        out: &'a Path,
        agent: Agent,
        force: bool,
    ) -> Result<Self, RunnerError> {
        // Never silently wipe a folder: one that holds anything but the lock needs --force.
        let mut entries: Vec<String> = std::fs::read_dir(out)
            .map_err(|e| RunnerError::io("cannot list", out, e))?
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .filter(|n| n != ".lock")
            .collect();
        entries.sort();
        if !entries.is_empty() && !force {
            let resumable = checkpoint_dir(out).is_some();
            return Err(RunnerError::Input(format!(
                "`{}` is not empty (it holds {}){}; pass --force to start a new run there (it removes the files of the old one)",
                out.display(),
                entries.join(", "),
                if resumable {
                    "; it holds an interrupted run: continue it with --resume"
                } else {
                    ""
                }
            )));
        }
        // What the folder held, for run.log: a run of another results version (stale),
        // of another config, or leftovers.
        let replaced = (!entries.is_empty()).then(|| {
            let what = if is_complete(out) {
                "a complete run"
            } else {
                "an incomplete run"
            };
            match read_run_config(out) {
                Ok(old)
                    if old.same_run(config) && old.results_version != config.results_version =>
                {
                    format!(
                        "{what} of results version {} (stale: this code's is {})",
                        old.results_version, config.results_version
                    )
                }
                Ok(old) if &old == config => format!("{what} of the same config"),
                Ok(_) => format!("{what} of another config"),
                Err(_) => format!("files of an earlier run ({})", entries.join(", ")),
            }
        });
        // The summary first: from here on the folder does not look complete. Then the
        // files of an earlier run, so none is left beside this run's config.
        for name in [
            "summary.json",
            "metrics.csv",
            "updates.csv",
            "eval.csv",
            "actions.bin",
        ] {
            remove_file_if_exists(&out.join(name))?;
        }
        for d in [CHECKPOINT, CHECKPOINT_OLD, CHECKPOINT_NEW] {
            remove_dir_if_exists(&out.join(d))?;
        }
        write_atomic(&out.join("config.toml"), config_text.as_bytes())?;
        let files = RunFiles::open(out, None)?;
        let log = RunLog::open(out, true);
        log.line(&format!(
            "started: {} on {}, trainer {}, seed {}, {} steps, results version {}{}",
            config.agent.algo,
            config.env_id,
            config.trainer.kind(),
            config.seed,
            config.planned_steps(),
            config.results_version,
            replaced.map_or(String::new(), |r| format!("; replaces {r}"))
        ));
        Ok(Session {
            agent,
            writer: RunWriter {
                out,
                config_text,
                files,
                log,
                tracked: Tracked::new(),
                returns: Vec::new(),
                wall_before: 0.0,
                start: Instant::now(),
            },
        })
    }

    /// Trains update by update to the end, or until [`RunOptions::stop_after`] (then
    /// returns the updates done, checkpoint written); `half_steps` is the step of the
    /// mid-run diagnostics.
    fn train(
        &mut self,
        options: &RunOptions<'_>,
        half_steps: usize,
    ) -> Result<Option<usize>, RunnerError> {
        let step0 = self.agent.global_step();
        let mut counters = Counters {
            step0,
            last_step: step0,
            updates_header: self.agent.iteration() == 0,
            half_steps,
        };
        (options.progress)(RunProgress::Start { at: step0 as u64 });
        while !self.agent.is_done() {
            if options
                .stop_after
                .is_some_and(|k| self.agent.iteration() >= k)
            {
                self.writer.checkpoint(&mut self.agent)?;
                self.writer.log.line(&format!(
                    "stopped after update {} (resumable)",
                    self.agent.iteration()
                ));
                return Ok(Some(self.agent.iteration()));
            }
            let writer = &mut self.writer;
            let mut write_error: Option<RunnerError> = None;
            let result = self.agent.iterate(&mut |event| {
                if let Err(e) = writer.record(event, &mut counters, options.progress)
                    && write_error.is_none()
                {
                    write_error = Some(e);
                }
            });
            if let Err(error) = result {
                return Err(self.writer.fail(error));
            }
            if let Some(e) = write_error {
                return Err(e);
            }
            let every = options.checkpoint_every;
            if self.agent.is_done() || (every > 0 && self.agent.iteration().is_multiple_of(every)) {
                self.writer.checkpoint(&mut self.agent)?;
            }
        }
        Ok(None)
    }

    /// Completes the trained run: gives the CSV files their names and writes
    /// `summary.json`, atomically, last.
    fn finish(self, config: &RunConfig) -> Result<RunOutcome, RunnerError> {
        let Session { agent, writer } = self;
        let RunWriter {
            out,
            mut files,
            log,
            tracked,
            returns,
            wall_before,
            start,
            ..
        } = writer;
        let wall_seconds = wall_before + start.elapsed().as_secs_f64();
        files.flush()?;
        let paths = files.paths.clone();
        drop(files);
        for (tmp, name) in paths.iter().zip(["metrics.csv", "updates.csv", "eval.csv"]) {
            let path = out.join(name);
            std::fs::rename(tmp, &path)
                .map_err(|e| RunnerError::io("cannot rename into", path, e))?;
        }

        let total_steps = agent.global_step();
        let tail = &returns[returns.len().saturating_sub(10)..];
        let final_return_mean = if tail.is_empty() {
            f64::NAN
        } else {
            tail.iter().sum::<f64>() / tail.len() as f64
        };
        let summary = Summary {
            env_id: config.env_id.clone(),
            algo: config.agent.algo.name().to_string(),
            trainer: config.trainer.kind().name().to_string(),
            seed: config.seed,
            total_steps,
            episodes: returns.len(),
            final_return_mean,
            final_eval_return_mean: tracked.eval_mean,
            wall_seconds,
            steps_per_second: total_steps as f64 / wall_seconds.max(1e-9),
            final_layers: tracked.layers,
            final_entropy: tracked.entropy,
            mid_layers: tracked.mid.0,
            mid_step: tracked.mid.1,
            normalization: NormalizationStats::of(&agent),
        };
        let json = serde_json::to_string_pretty(&summary).expect("summary serialises");
        write_atomic(&out.join("summary.json"), json.as_bytes())?;
        log.line(&format!(
            "complete: final return mean {}, final evaluation mean {}, {:.1} s",
            summary.final_return_mean, summary.final_eval_return_mean, summary.wall_seconds
        ));
        Ok(RunOutcome::Complete(Box::new(summary)))
    }
}

impl RunWriter<'_> {
    /// Writes what `event` reports: an episode to `metrics.csv`, an iteration to
    /// `updates.csv` (and progress), an evaluation to `eval.csv` and `run.log`; keeps what
    /// the summary needs. A write error is returned after the values are kept.
    fn record(
        &mut self,
        event: &Event,
        counters: &mut Counters,
        progress: &(dyn Fn(RunProgress) + Sync),
    ) -> Result<(), RunnerError> {
        let files = &mut self.files;
        match event {
            Event::Episode(ep) => {
                self.returns.push(ep.episodic_return);
                files
                    .metrics
                    .write_record([
                        ep.global_step.to_string(),
                        ep.episodic_return.to_string(),
                        ep.episodic_length.to_string(),
                    ])
                    .map_err(files.csv_err(0))
            }
            Event::Iteration(it) => {
                progress(RunProgress::Trained {
                    steps: (it.global_step - counters.last_step) as u64,
                });
                counters.last_step = it.global_step;
                let secs = self.start.elapsed().as_secs_f64().max(1e-9);
                let sps = (it.global_step - counters.step0) as f64 / secs;
                let r = write_update(&mut files.updates, it, sps, counters.updates_header)
                    .map_err(files.csv_err(1));
                counters.updates_header = false;
                let tracked = &mut self.tracked;
                tracked.layers = FinalLayers {
                    actor: it.actor_layers.iter().map(Into::into).collect(),
                    critic: it.critic_layers.iter().map(Into::into).collect(),
                };
                tracked.entropy = it.entropy;
                if tracked.mid.1 == 0 && it.global_step >= counters.half_steps {
                    tracked.mid = (tracked.layers.clone(), it.global_step);
                }
                r
            }
            Event::Evaluation(ev) => {
                self.tracked.eval_mean = ev.mean();
                self.log.line(&format!(
                    "evaluation at step {}: mean return {} over {} episodes",
                    ev.global_step,
                    ev.mean(),
                    ev.returns.len()
                ));
                write_eval(&mut files.eval, ev).map_err(files.csv_err(2))
            }
        }
    }

    /// Writes `agent`'s action log and flushes the files, then writes a checkpoint that
    /// records their lengths and what the summary tracks.
    fn checkpoint(&mut self, agent: &mut Agent) -> Result<(), RunnerError> {
        for v in agent.take_action_log() {
            self.files
                .actions
                .write_all(&v.to_le_bytes())
                .map_err(|e| RunnerError::io("cannot write", self.files.paths[3].clone(), e))?;
        }
        let [metrics_bytes, updates_bytes, eval_bytes, actions_bytes] = self.files.flush()?;
        let tracked = &self.tracked;
        let progress = Progress {
            metrics_bytes,
            updates_bytes,
            eval_bytes,
            actions_bytes,
            wall_seconds: self.wall_before + self.start.elapsed().as_secs_f64(),
            config: self.config_text.clone(),
            final_layers: tracked.layers.clone(),
            final_eval_return_mean: tracked.eval_mean,
            final_entropy: tracked.entropy,
            mid_layers: tracked.mid.0.clone(),
            mid_step: tracked.mid.1,
        };
        write_checkpoint(self.out, &agent.checkpoint(), &progress)?;
        self.log.line(&format!(
            "checkpoint after update {} (step {})",
            agent.iteration(),
            agent.global_step()
        ));
        Ok(())
    }

    /// A training error, after keeping what was written (the last good checkpoint stays
    /// in place) and logging it.
    fn fail(&mut self, error: AgentError) -> RunnerError {
        let _ = self.files.flush();
        self.log.line(&format!("failed: {error}"));
        RunnerError::Training {
            error,
            metrics: self.files.paths[0].clone(),
            checkpoint: checkpoint_dir(self.out)
                .map_or("none yet".to_string(), |d| format!("`{}`", d.display())),
        }
    }
}
