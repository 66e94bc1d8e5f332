//! A run folder on disk: `config.toml`, `metrics.csv`, `updates.csv`, `eval.csv`,
//! checkpoints, `run.log`, the lock, and, last and atomically, `summary.json`
//! ([`crate::summary`]); how they are read, written and swapped in.
//!
//! | file | rows | columns |
//! |---|---|---|
//! | `metrics.csv` | one per finished training episode | `global_step, episodic_return, episodic_length` |
//! | `eval.csv` | one per deterministic evaluation | `global_step, episodes, eval_return_mean, eval_return_std, eval_return_min, eval_return_max, returns` (space-separated) |
//! | `updates.csv` | one per iteration | `iteration, global_step, learning_rate, value_loss, policy_loss, entropy, old_approx_kl, approx_kl, clipfrac, explained_variance, grad_norm, sps`, then per hidden layer `{actor,critic}_l{k}_{local_loss,mean_distance,saturated,weight_norm,drift}` |
//! | `checkpoint/` | the last checkpoint | `model.safetensors` (CleanRL names, PyTorch layout), `state.safetensors`, `checkpoint.json`, `progress.json` |
//! | `actions.bin` | every action sent to the envs (f32, little-endian) | replayed on resume to restore the envs |
//! | `run.log` | one line per event | start/resume, checkpoints, evaluations, stop, failure, completion |
//! | `summary.json` | one object | see [`crate::summary::Summary`] |
//!
//! While a run trains, the CSV files have the suffix `.tmp`; they get their names when it
//! completes. `metrics.csv` and `eval.csv` hold results only (no timings), so the same
//! config and seed give the same bytes whatever the machine load or thread count, and a
//! run resumed from a checkpoint gives the bytes of an uninterrupted one.

use crate::atomic::write_atomic;
use crate::error::RunnerError;
use crate::summary::{FinalLayers, nan, nan_as_null};
use crate::temp_path::in_progress_path;
use pdmrl_agents::{
    Checkpoint, CheckpointMeta, EvalRecord, IterationStats, checkpoint::decode_safetensors,
    checkpoint::encode_safetensors,
};
use serde::{Deserialize, Serialize};
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Whether `dir` holds a complete run (its `summary.json` exists).
pub fn is_complete(dir: &Path) -> bool {
    dir.join("summary.json").is_file()
}

/// The checkpoint folder of a run folder (`checkpoint/`, or `checkpoint.old/` if a
/// replacement was interrupted between its two renames).
pub fn checkpoint_dir(run_dir: &Path) -> Option<PathBuf> {
    [CHECKPOINT, CHECKPOINT_OLD]
        .into_iter()
        .map(|d| run_dir.join(d))
        .find(|d| d.join("checkpoint.json").is_file())
}

pub(crate) const CHECKPOINT: &str = "checkpoint";
pub(crate) const CHECKPOINT_OLD: &str = "checkpoint.old";
pub(crate) const CHECKPOINT_NEW: &str = "checkpoint.new";

/// Where the run's files stood at a checkpoint (`checkpoint/progress.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Progress {
    pub(crate) metrics_bytes: u64,
    pub(crate) updates_bytes: u64,
    pub(crate) eval_bytes: u64,
    pub(crate) actions_bytes: u64,
    /// Wall-clock seconds spent before this checkpoint.
    pub(crate) wall_seconds: f64,
    /// The run's `config.toml` when the checkpoint was written: a resume refuses an
    /// edited config.
    pub(crate) config: String,
    /// The last iteration's layer diagnostics and evaluation mean, for the summary of a
    /// run resumed after its last update.
    pub(crate) final_layers: FinalLayers,
    #[serde(with = "nan_as_null")]
    pub(crate) final_eval_return_mean: f64,
    /// The last iteration's policy entropy, and the layer diagnostics of the middle
    /// iteration (see [`crate::summary::Summary::mid_layers`]) with its step, for the same reason.
    #[serde(with = "nan_as_null", default = "nan")]
    pub(crate) final_entropy: f64,
    #[serde(default)]
    pub(crate) mid_layers: FinalLayers,
    #[serde(default)]
    pub(crate) mid_step: usize,
}

/// A checkpoint read from disk.
pub struct LoadedCheckpoint {
    /// The agent's part.
    pub checkpoint: Checkpoint,
    pub(crate) progress: Progress,
}

/// Reads the checkpoint of a run folder (or of a checkpoint folder itself).
///
/// # Errors
/// [`RunnerError::Input`] if there is none; I/O and parse errors naming the file.
pub fn read_checkpoint(dir: &Path) -> Result<LoadedCheckpoint, RunnerError> {
    let ckpt = if dir.join("checkpoint.json").is_file() {
        dir.to_path_buf()
    } else {
        checkpoint_dir(dir).ok_or_else(|| {
            RunnerError::Input(format!(
                "`{}` holds no checkpoint (no checkpoint/checkpoint.json)",
                dir.display()
            ))
        })?
    };
    let read = |name: &str| {
        let path = ckpt.join(name);
        std::fs::read(&path).map_err(|e| RunnerError::io("cannot read", path, e))
    };
    let parse_err = |name: &str, message: String| RunnerError::Results {
        path: ckpt.join(name),
        message,
    };
    let meta: CheckpointMeta = serde_json::from_slice(&read("checkpoint.json")?)
        .map_err(|e| parse_err("checkpoint.json", e.to_string()))?;
    let progress: Progress = serde_json::from_slice(&read("progress.json")?)
        .map_err(|e| parse_err("progress.json", e.to_string()))?;
    let model = decode_safetensors(&read("model.safetensors")?)
        .map_err(|e| parse_err("model.safetensors", e.to_string()))?;
    let state = decode_safetensors(&read("state.safetensors")?)
        .map_err(|e| parse_err("state.safetensors", e.to_string()))?;
    Ok(LoadedCheckpoint {
        checkpoint: Checkpoint { model, state, meta },
        progress,
    })
}

/// Writes a checkpoint folder next to the old one and swaps it in: `checkpoint.new/` is
/// written in full, the old folder renamed to `checkpoint.old/`, the new one to
/// `checkpoint/`, and the old one removed. An interruption at any point leaves one
/// complete checkpoint ([`checkpoint_dir`] finds it).
pub(crate) fn write_checkpoint(
    run_dir: &Path,
    ckpt: &Checkpoint,
    progress: &Progress,
) -> Result<(), RunnerError> {
    let new = run_dir.join(CHECKPOINT_NEW);
    let (cur, old) = (run_dir.join(CHECKPOINT), run_dir.join(CHECKPOINT_OLD));
    remove_dir_if_exists(&new)?;
    write_atomic(
        &new.join("model.safetensors"),
        &encode_safetensors(&ckpt.model)?,
    )?;
    write_atomic(
        &new.join("state.safetensors"),
        &encode_safetensors(&ckpt.state)?,
    )?;
    write_atomic(&new.join("checkpoint.json"), pretty(&ckpt.meta).as_bytes())?;
    write_atomic(&new.join("progress.json"), pretty(progress).as_bytes())?;
    if cur.is_dir() {
        remove_dir_if_exists(&old)?;
        std::fs::rename(&cur, &old).map_err(|e| RunnerError::io("cannot rename", &cur, e))?;
    }
    std::fs::rename(&new, &cur).map_err(|e| RunnerError::io("cannot rename into", &cur, e))?;
    remove_dir_if_exists(&old)
}

/// Pretty JSON of a side file.
fn pretty<T: Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).expect("side files serialise")
}

pub(crate) fn remove_dir_if_exists(dir: &Path) -> Result<(), RunnerError> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(RunnerError::io("cannot remove", dir, e)),
    }
}

pub(crate) fn remove_file_if_exists(path: &Path) -> Result<(), RunnerError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(RunnerError::io("cannot remove", path, e)),
    }
}

/// Removes the files of a run from its folder, `summary.json` first (from then on the
/// folder does not look complete), then its checkpoints and action log (so that no
/// checkpoint of the old run is left to resume), its CSV files (done or in progress) and
/// `run.log`; the lock stays.
///
/// # Errors
/// [`RunnerError::Io`] naming what cannot be removed.
pub(crate) fn remove_run_files(dir: &Path) -> Result<(), RunnerError> {
    remove_file_if_exists(&dir.join("summary.json"))?;
    for d in [CHECKPOINT, CHECKPOINT_OLD, CHECKPOINT_NEW] {
        remove_dir_if_exists(&dir.join(d))?;
    }
    remove_file_if_exists(&dir.join("actions.bin"))?;
    for name in ["metrics.csv", "updates.csv", "eval.csv"] {
        let path = dir.join(name);
        remove_file_if_exists(&in_progress_path(&path))?;
        remove_file_if_exists(&path)?;
    }
    for name in ["run.log", "config.toml"] {
        remove_file_if_exists(&dir.join(name))?;
    }
    Ok(())
}

/// An append-mode file, truncated to `len` bytes (0 for a fresh one).
fn open_truncated(path: &Path, len: u64) -> Result<std::fs::File, RunnerError> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| RunnerError::io("cannot open", path, e))?;
    let have = f
        .metadata()
        .map_err(|e| RunnerError::io("cannot read", path, e))?
        .len();
    if have < len {
        return Err(RunnerError::Input(format!(
            "`{}` has {have} bytes, its checkpoint recorded {len}: the run folder was changed; start it again with --force",
            path.display()
        )));
    }
    f.set_len(len)
        .map_err(|e| RunnerError::io("cannot truncate", path, e))?;
    f.seek(std::io::SeekFrom::End(0))
        .map_err(|e| RunnerError::io("cannot seek", path, e))?;
    Ok(f)
}

/// The files a run writes as it goes.
pub(crate) struct RunFiles {
    pub(crate) metrics: csv::Writer<std::fs::File>,
    pub(crate) updates: csv::Writer<std::fs::File>,
    pub(crate) eval: csv::Writer<std::fs::File>,
    pub(crate) actions: std::io::BufWriter<std::fs::File>,
    pub(crate) paths: [PathBuf; 4],
}

impl RunFiles {
    /// Opens the four files at the lengths of `progress` (fresh files if `None`).
    pub(crate) fn open(out: &Path, progress: Option<&Progress>) -> Result<Self, RunnerError> {
        let paths = [
            in_progress_path(&out.join("metrics.csv")),
            in_progress_path(&out.join("updates.csv")),
            in_progress_path(&out.join("eval.csv")),
            out.join("actions.bin"),
        ];
        let lens = progress.map_or([0; 4], |p| {
            [
                p.metrics_bytes,
                p.updates_bytes,
                p.eval_bytes,
                p.actions_bytes,
            ]
        });
        let writer = |i: usize| -> Result<csv::Writer<std::fs::File>, RunnerError> {
            Ok(csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer(open_truncated(&paths[i], lens[i])?))
        };
        let mut files = RunFiles {
            metrics: writer(0)?,
            updates: writer(1)?,
            eval: writer(2)?,
            actions: std::io::BufWriter::new(open_truncated(&paths[3], lens[3])?),
            paths,
        };
        if progress.is_none() {
            files
                .metrics
                .write_record(["global_step", "episodic_return", "episodic_length"])
                .map_err(files.csv_err(0))?;
            files
                .eval
                .write_record([
                    "global_step",
                    "episodes",
                    "eval_return_mean",
                    "eval_return_std",
                    "eval_return_min",
                    "eval_return_max",
                    "returns",
                ])
                .map_err(files.csv_err(2))?;
        }
        Ok(files)
    }

    pub(crate) fn csv_err(&self, i: usize) -> impl Fn(csv::Error) -> RunnerError + use<> {
        let path = self.paths[i].clone();
        move |e| RunnerError::io("cannot write", path.clone(), std::io::Error::other(e))
    }

    /// Flushes everything and returns the byte lengths `[metrics, updates, eval, actions]`.
    pub(crate) fn flush(&mut self) -> Result<[u64; 4], RunnerError> {
        let io = |i: usize, paths: &[PathBuf; 4]| {
            let p = paths[i].clone();
            move |e| RunnerError::io("cannot write", p, e)
        };
        self.metrics.flush().map_err(io(0, &self.paths))?;
        self.updates.flush().map_err(io(1, &self.paths))?;
        self.eval.flush().map_err(io(2, &self.paths))?;
        self.actions.flush().map_err(io(3, &self.paths))?;
        let mut lens = [0u64; 4];
        for (i, len) in lens.iter_mut().enumerate() {
            *len = std::fs::metadata(&self.paths[i])
                .map_err(|e| RunnerError::io("cannot read", self.paths[i].clone(), e))?
                .len();
        }
        Ok(lens)
    }
}

/// The run's `run.log`: one line per event (start or resume, checkpoint, evaluation,
/// stop, failure, completion), each prefixed by the seconds since this process opened it.
/// Best effort: a line that cannot be written is dropped, never stopping the run.
pub(crate) struct RunLog {
    file: Option<std::fs::File>,
    opened: Instant,
}

impl RunLog {
    /// Opens `out/run.log`, emptied for a fresh run, appended to on resume.
    pub(crate) fn open(out: &Path, fresh: bool) -> Self {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(!fresh)
            .write(true)
            .truncate(fresh)
            .open(out.join("run.log"))
            .ok();
        RunLog {
            file,
            opened: Instant::now(),
        }
    }

    pub(crate) fn line(&self, message: &str) {
        if let Some(mut f) = self.file.as_ref() {
            let t = self.opened.elapsed().as_secs_f64();
            let _ = writeln!(f, "[{t:8.1} s] {message}");
        }
    }
}

/// The episodic returns in the first `len` bytes of a metrics CSV.
pub(crate) fn read_returns(path: &Path, len: u64) -> Result<Vec<f64>, RunnerError> {
    let bytes = std::fs::read(path).map_err(|e| RunnerError::io("cannot read", path, e))?;
    let bytes = &bytes[..(len as usize).min(bytes.len())];
    let mut reader = csv::Reader::from_reader(bytes);
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| RunnerError::Results {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let r = record
            .get(1)
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or_else(|| RunnerError::Results {
                path: path.to_path_buf(),
                message: format!("row without a numeric episodic_return: {record:?}"),
            })?;
        out.push(r);
    }
    Ok(out)
}

/// Takes an exclusive advisory lock on `<dir>/.lock` for the life of the returned file, so
/// two processes never write one run folder at once. The operating system releases it
/// when the process ends, however it ends, so a killed run does not block a rerun.
///
/// # Errors
/// [`RunnerError::RunLocked`] if another process holds it; I/O errors naming the file.
pub(crate) fn lock_run_folder(dir: &Path) -> Result<std::fs::File, RunnerError> {
    let path = dir.join(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| RunnerError::io("cannot open", &path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(RunnerError::RunLocked(dir.to_path_buf())),
        Err(std::fs::TryLockError::Error(e)) => Err(RunnerError::io("cannot lock", &path, e)),
    }
}

pub(crate) fn write_eval(
    w: &mut csv::Writer<std::fs::File>,
    ev: &EvalRecord,
) -> Result<(), csv::Error> {
    let (mean, std, (min, max)) = (ev.mean(), ev.std(), ev.range());
    let all: Vec<String> = ev.returns.iter().map(f64::to_string).collect();
    w.write_record([
        ev.global_step.to_string(),
        ev.returns.len().to_string(),
        mean.to_string(),
        std.to_string(),
        min.to_string(),
        max.to_string(),
        all.join(" "),
    ])
}

pub(crate) fn write_update(
    w: &mut csv::Writer<std::fs::File>,
    it: &IterationStats,
    sps: f64,
    header: bool,
) -> Result<(), csv::Error> {
    let layers = [("actor", &it.actor_layers), ("critic", &it.critic_layers)];
    if header {
        let mut h: Vec<String> = [
            "iteration",
            "global_step",
            "learning_rate",
            "value_loss",
            "policy_loss",
            "entropy",
            "old_approx_kl",
            "approx_kl",
            "clipfrac",
            "explained_variance",
            "grad_norm",
            "sps",
        ]
        .map(String::from)
        .to_vec();
        for (net, ls) in layers {
            for k in 1..=ls.len() {
                for q in [
                    "local_loss",
                    "mean_distance",
                    "saturated",
                    "weight_norm",
                    "drift",
                ] {
                    h.push(format!("{net}_l{k}_{q}"));
                }
            }
        }
        w.write_record(&h)?;
    }
    let mut row: Vec<String> = vec![it.iteration.to_string(), it.global_step.to_string()];
    row.extend(
        [
            it.learning_rate,
            it.value_loss,
            it.policy_loss,
            it.entropy,
            it.old_approx_kl,
            it.approx_kl,
            it.clipfrac,
            it.explained_variance,
            it.grad_norm,
            sps,
        ]
        .map(|v| v.to_string()),
    );
    for (_, ls) in layers {
        for s in ls.iter() {
            row.extend(
                [
                    s.local_loss,
                    s.mean_distance,
                    s.saturated,
                    s.weight_norm,
                    s.drift,
                ]
                .map(|v| v.to_string()),
            );
        }
    }
    w.write_record(&row)
}
