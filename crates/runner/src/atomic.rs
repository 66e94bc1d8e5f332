//! Atomic file writes: write to a temporary file of a unique name in the same folder,
//! then rename, so an interrupted writer never leaves a file that looks complete and
//! concurrent writers of one file (the shards of a reproduction redrawing its tables)
//! never trip over each other's temporary files.

use crate::error::RunnerError;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The name a run's file has while the run writes it: `<path>.tmp` (`metrics.csv.tmp`,
/// ...). Fixed, unlike the names of [`unique_temp_path`], because a resumed run reopens
/// the file under it; only the process holding the run folder's lock writes it.
pub fn in_progress_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

/// A temporary name next to `path` that no other writer uses:
/// `.<file name>.<pid>-<counter>.tmp<extension>` in the same folder (so the rename into
/// place stays on one file system). The process id keeps processes apart (also processes
/// on different machines, up to a clash of pids, sharing a network file system: their
/// renames are atomic either way), the counter the threads of one process. `extension`
/// (e.g. `".png"`, or `""`) is appended for writers that pick their format from the name.
pub fn unique_temp_path(path: &Path, extension: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map_or_else(|| "file".to_owned(), |n| n.to_string_lossy().into_owned());
    let temp = format!(".{name}.{}-{n}.tmp{extension}", std::process::id());
    match path.parent() {
        Some(parent) => parent.join(temp),
        None => PathBuf::from(temp),
    }
}

/// Writes `bytes` to `path` atomically: a temporary file of a unique name
/// ([`unique_temp_path`]), fsync, rename. Creates the parent folder if missing. Any
/// number of threads and processes may write the same path at once: each renames its own
/// complete file into place, and the last rename wins. On failure the temporary file is
/// removed.
///
/// # Errors
/// [`RunnerError::Io`] naming the path.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RunnerError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| RunnerError::io("cannot create folder", parent, e))?;
    }
    // A name already taken (a process of the same pid on another machine sharing the
    // folder) is skipped for the next one: no two writers ever share a temporary file.
    let (tmp, mut file) = loop {
        let tmp = unique_temp_path(path, "");
        match std::fs::File::create_new(&tmp) {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(RunnerError::io("cannot create", &tmp, e)),
        }
    };
    let result = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| RunnerError::io("cannot write", &tmp, e))
        .and_then(|()| {
            std::fs::rename(&tmp, path).map_err(|e| RunnerError::io("cannot rename into", path, e))
        });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Takes an exclusive advisory lock on the file `path` (created if missing, never
/// removed), waiting for any other holder, for the life of the returned file. The
/// operating system releases it when the file is dropped or the process ends, however it
/// ends. Writers that read a folder's state and then write files derived from it (the
/// tables and figures of an experiment) hold it around both, so the last to write saw
/// the latest state.
///
/// # Errors
/// [`RunnerError::Io`] naming the file if it cannot be created, opened or locked.
pub fn lock_exclusive(path: &Path) -> Result<std::fs::File, RunnerError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| RunnerError::io("cannot create folder", parent, e))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| RunnerError::io("cannot open", path, e))?;
    file.lock()
        .map_err(|e| RunnerError::io("cannot lock", path, e))?;
    Ok(file)
}
