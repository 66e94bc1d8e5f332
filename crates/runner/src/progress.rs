//! Progress of a reproduction (or of one run) on stderr: a bar in a terminal; elsewhere (a
//! Slurm log, a pipe, a file) one line when a run starts or ends and one every
//! [`DEFAULT_EVERY`] (or `PDMRL_PROGRESS_EVERY` seconds) while runs train, each saying
//! the runs done, the environment steps done, the rate and the time left.
//!
//! The rate and the time left count only the steps this process trains: runs found
//! complete and the steps a resumed run had taken before (by an earlier process) move the
//! bar, not the rate. (Counting them, a resumed reproduction once showed 139 million
//! steps/s and "ETA 0s" while its runs still trained.)

use crate::error::RunnerError;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The environment variable that sets the seconds between progress lines outside a
/// terminal (a number >= 0; 0: lines only when a run starts or ends).
pub const PROGRESS_EVERY_VAR: &str = "PDMRL_PROGRESS_EVERY";

/// Time between progress lines outside a terminal, unless [`PROGRESS_EVERY_VAR`] says
/// otherwise.
pub const DEFAULT_EVERY: Duration = Duration::from_secs(30);

/// What happens to the runs of a reproduction, as it happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEvent<'a> {
    /// A run was complete before this process started; it is skipped. `steps`: its
    /// environment steps.
    Skipped {
        /// The run's id.
        id: &'a str,
        /// Its environment steps.
        steps: u64,
    },
    /// A run starts training: from scratch (`resumed_at` = 0) or from a checkpoint an
    /// earlier process wrote at environment step `resumed_at`.
    Started {
        /// The run's id.
        id: &'a str,
        /// Steps already taken by an earlier process.
        resumed_at: u64,
        /// The run's environment steps in all.
        steps: u64,
    },
    /// `steps` more environment steps trained by this process.
    Trained {
        /// Steps since the last report.
        steps: u64,
    },
    /// A run completed.
    Completed {
        /// The run's id.
        id: &'a str,
    },
    /// A run failed; `untrained` of its steps will not be taken.
    Failed {
        /// The run's id.
        id: &'a str,
        /// Its steps left untrained.
        untrained: u64,
    },
    /// A run's folder holds it stale: of results version `version`, not the code's
    /// ([`crate::version`]). It is replaced: by a copy of the current run from another
    /// experiment's folder (`copied`), else by training it again from scratch (its
    /// `Started` follows).
    Stale {
        /// The run's id.
        id: &'a str,
        /// The results version of the run found.
        version: u32,
        /// Whether a current copy replaced it.
        copied: bool,
    },
}

/// Counts of a reproduction's progress, from its [`RunEvent`]s.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Runs complete: skipped, or completed now.
    pub runs_done: usize,
    /// Runs training now.
    pub runs_running: usize,
    /// Runs that failed.
    pub runs_failed: usize,
    /// Steps taken before this process: of skipped runs and of resumed runs before their
    /// checkpoint.
    pub steps_before: u64,
    /// Steps trained by this process.
    pub steps_trained: u64,
    /// Steps of failed runs that will not be taken.
    pub steps_abandoned: u64,
}

impl Counts {
    /// Counts `event` in.
    pub fn record(&mut self, event: &RunEvent<'_>) {
        match *event {
            RunEvent::Skipped { steps, .. } => {
                self.runs_done += 1;
                self.steps_before += steps;
            }
            RunEvent::Started { resumed_at, .. } => {
                self.runs_running += 1;
                self.steps_before += resumed_at;
            }
            RunEvent::Trained { steps } => self.steps_trained += steps,
            RunEvent::Completed { .. } => {
                self.runs_running = self.runs_running.saturating_sub(1);
                self.runs_done += 1;
            }
            RunEvent::Failed { untrained, .. } => {
                self.runs_running = self.runs_running.saturating_sub(1);
                self.runs_failed += 1;
                self.steps_abandoned += untrained;
            }
            // Counted by what follows: `Skipped` for a copy, `Started` for a rerun.
            RunEvent::Stale { .. } => {}
        }
    }

    /// Steps done (before this process and by it).
    pub fn steps_done(&self) -> u64 {
        self.steps_before + self.steps_trained
    }

    /// Steps left to train, of `total`.
    pub fn steps_left(&self, total: u64) -> u64 {
        total.saturating_sub(self.steps_done() + self.steps_abandoned)
    }
}

/// The rate of this process (`trained` steps in `elapsed`) and the time left to train
/// `remaining` steps at it. `None` for the rate before any step or time has passed, and
/// for the time left when the rate is unknown (nothing is left: `Some(0)`).
pub fn rate_and_eta(
    trained: u64,
    elapsed: Duration,
    remaining: u64,
) -> (Option<f64>, Option<Duration>) {
    let secs = elapsed.as_secs_f64();
    let rate = (trained > 0 && secs > 0.0).then(|| trained as f64 / secs);
    let eta = if remaining == 0 {
        Some(Duration::ZERO)
    } else {
        rate.map(|r| Duration::from_secs_f64(remaining as f64 / r))
    };
    (rate, eta)
}

/// A duration as people read it: `45s`, `3m 05s`, `2h 07m`.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs_f64().round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// The rate and time left as shown: `10234 steps/s, ETA 3m 05s`; `ETA unknown` before
/// this process has trained a step; `nothing left to train` (after the rate, if any) at
/// the end.
pub fn rate_text(counts: &Counts, total_steps: u64, elapsed: Duration) -> String {
    let left = counts.steps_left(total_steps);
    match rate_and_eta(counts.steps_trained, elapsed, left) {
        (Some(rate), _) if left == 0 => format!("{rate:.0} steps/s, nothing left to train"),
        (None, _) if left == 0 => "nothing left to train".to_string(),
        (Some(rate), Some(eta)) => format!("{rate:.0} steps/s, ETA {}", human_duration(eta)),
        _ => "ETA unknown (no step trained yet)".to_string(),
    }
}

/// One progress line: `quick [1m 05s]: 3/8 runs done (2 running), 61440/163840 steps,
/// 10234 steps/s, ETA 1m 20s`.
pub fn status_line(
    name: &str,
    counts: &Counts,
    runs: usize,
    total_steps: u64,
    elapsed: Duration,
) -> String {
    let mut running = Vec::new();
    if counts.runs_running > 0 {
        running.push(format!("{} running", counts.runs_running));
    }
    if counts.runs_failed > 0 {
        running.push(format!("{} failed", counts.runs_failed));
    }
    let running = if running.is_empty() {
        String::new()
    } else {
        format!(" ({})", running.join(", "))
    };
    format!(
        "{name} [{}]: {}/{runs} runs done{running}, {}/{total_steps} steps, {}",
        human_duration(elapsed),
        counts.runs_done,
        counts.steps_done(),
        rate_text(counts, total_steps, elapsed)
    )
}

/// The line of a stale run (`RunEvent::Stale`): `quick: ppo-CartPole-v1-bp-seed1-a34280b8
/// is of results version 1 (this code: 2): stale, trained again from scratch`.
pub fn stale_line(name: &str, id: &str, version: u32, copied: bool) -> String {
    let how = if copied {
        "replaced by the current run copied from another experiment's folder"
    } else {
        "trained again from scratch"
    };
    format!(
        "{name}: {id} is of results version {version} (this code: {}): stale, {how}",
        crate::RESULTS_VERSION
    )
}

/// Reads [`PROGRESS_EVERY_VAR`]: `None` for no periodic lines (the value 0).
///
/// # Errors
/// [`RunnerError::Input`] naming the variable if its value is not a number of seconds
/// >= 0.
pub fn every_from_env() -> Result<Option<Duration>, RunnerError> {
    match std::env::var(PROGRESS_EVERY_VAR) {
        Err(std::env::VarError::NotPresent) => Ok(Some(DEFAULT_EVERY)),
        Err(std::env::VarError::NotUnicode(v)) => Err(RunnerError::Input(format!(
            "{PROGRESS_EVERY_VAR} = {v:?} must be a number of seconds >= 0 (e.g. 30; 0: a line only when a run starts or ends)"
        ))),
        Ok(v) => parse_every(&v),
    }
}

/// Parses a value of [`PROGRESS_EVERY_VAR`] (see [`every_from_env`]).
///
/// # Errors
/// As [`every_from_env`].
pub fn parse_every(v: &str) -> Result<Option<Duration>, RunnerError> {
    let secs: f64 = v.trim().parse().ok().filter(|s: &f64| s.is_finite() && *s >= 0.0).ok_or_else(|| {
        RunnerError::Input(format!(
            "{PROGRESS_EVERY_VAR} = {v:?} must be a number of seconds >= 0 (e.g. 30; 0: a line only when a run starts or ends)"
        ))
    })?;
    Ok((secs > 0.0).then(|| Duration::from_secs_f64(secs)))
}

/// Where progress goes.
enum Output {
    /// A bar on a terminal.
    Bar(ProgressBar),
    /// Lines on stderr: at run starts and ends, and every `every` while steps are trained.
    Lines {
        every: Option<Duration>,
        last: Mutex<Instant>,
    },
}

/// Shows the progress of a reproduction (or of one run) on stderr: a bar if stderr is a
/// terminal, lines otherwise (see the module's documentation). Shared by the worker
/// threads.
pub struct Tracker {
    name: String,
    runs: usize,
    total_steps: u64,
    start: Instant,
    counts: Mutex<Counts>,
    output: Output,
}

impl Tracker {
    /// A tracker of `runs` runs of `total_steps` environment steps in all, named `name`
    /// in its lines; a bar if stderr is a terminal, else lines every
    /// `PDMRL_PROGRESS_EVERY` seconds (default [`DEFAULT_EVERY`]).
    ///
    /// # Errors
    /// An invalid `PDMRL_PROGRESS_EVERY` ([`every_from_env`]).
    pub fn new(name: &str, runs: usize, total_steps: u64) -> Result<Self, RunnerError> {
        let every = every_from_env()?;
        Ok(if std::io::stderr().is_terminal() {
            Self::with_bar(name, runs, total_steps)
        } else {
            Self::with_lines(name, runs, total_steps, every)
        })
    }

    /// A tracker that draws a bar on stderr.
    pub fn with_bar(name: &str, runs: usize, total_steps: u64) -> Self {
        let bar = ProgressBar::new(total_steps).with_style(
            ProgressStyle::with_template("{prefix} [{bar:40}] {pos}/{len} steps  {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(name.to_string());
        Self::with_output(name, runs, total_steps, Output::Bar(bar))
    }

    /// A tracker that prints lines on stderr: when a run starts or ends, and every
    /// `every` while steps are trained (never with `None`).
    pub fn with_lines(name: &str, runs: usize, total_steps: u64, every: Option<Duration>) -> Self {
        let last = Mutex::new(Instant::now());
        Self::with_output(name, runs, total_steps, Output::Lines { every, last })
    }

    fn with_output(name: &str, runs: usize, total_steps: u64, output: Output) -> Self {
        Tracker {
            name: name.to_string(),
            runs,
            total_steps,
            start: Instant::now(),
            counts: Mutex::new(Counts::default()),
            output,
        }
    }

    /// The counts so far.
    pub fn counts(&self) -> Counts {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Counts `event` in and shows it.
    pub fn event(&self, event: RunEvent<'_>) {
        let counts = {
            let mut c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
            c.record(&event);
            c.clone()
        };
        let elapsed = self.start.elapsed();
        if let RunEvent::Stale {
            id,
            version,
            copied,
        } = event
        {
            let line = stale_line(&self.name, id, version, copied);
            match &self.output {
                Output::Bar(bar) => bar.println(line),
                Output::Lines { .. } => eprintln!("{line}"),
            }
            return;
        }
        match &self.output {
            Output::Bar(bar) => {
                bar.set_position(counts.steps_done());
                bar.set_message(rate_text(&counts, self.total_steps, elapsed));
            }
            Output::Lines { every, last } => {
                let status =
                    || status_line(&self.name, &counts, self.runs, self.total_steps, elapsed);
                let line = match event {
                    RunEvent::Skipped { .. } => None,
                    RunEvent::Started {
                        id,
                        resumed_at: 0,
                        steps,
                    } => Some(format!("{}: started {id} ({steps} steps)", self.name)),
                    RunEvent::Started {
                        id,
                        resumed_at,
                        steps,
                    } => Some(format!(
                        "{}: resumed {id} at step {resumed_at} of {steps}",
                        self.name
                    )),
                    RunEvent::Completed { id } => {
                        Some(format!("{}: completed {id}; {}", self.name, status()))
                    }
                    RunEvent::Failed { id, .. } => {
                        Some(format!("{}: failed {id}; {}", self.name, status()))
                    }
                    RunEvent::Stale { .. } => None,
                    RunEvent::Trained { .. } => {
                        let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
                        every.filter(|e| last.elapsed() >= *e).map(|_| {
                            *last = Instant::now();
                            status()
                        })
                    }
                };
                if let Some(line) = line {
                    eprintln!("{line}");
                }
            }
        }
    }

    /// Ends the display: clears the bar, or prints a last line.
    pub fn finish(&self) {
        match &self.output {
            Output::Bar(bar) => bar.finish_and_clear(),
            Output::Lines { .. } => {
                let counts = self.counts();
                eprintln!(
                    "{}",
                    status_line(
                        &self.name,
                        &counts,
                        self.runs,
                        self.total_steps,
                        self.start.elapsed()
                    )
                );
            }
        }
    }
}
