//! Atomic file writes: write to a temporary file of a unique name in the same folder
//! ([`unique_temp_path`]), then rename, so an interrupted writer never leaves a file that
//! looks complete and concurrent writers of one file (the shards of a reproduction
//! redrawing its tables) never trip over each other's temporary files.

use crate::error::RunnerError;
use crate::temp_path::unique_temp_path;
use std::io::Write;
use std::path::Path;

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
