//! Atomic file writes: write to a temporary name in the same folder, then rename, so an
//! interrupted run never leaves a file that looks complete.

use crate::error::RunnerError;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The temporary name used while `path` is written: `<path>.tmp`.
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename). Creates the parent
/// folder if missing.
///
/// # Errors
/// [`RunnerError::Io`] naming the path.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RunnerError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| RunnerError::io("cannot create folder", parent, e))?;
    }
    let tmp = tmp_path(path);
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    };
    write().map_err(|e| RunnerError::io("cannot write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| RunnerError::io("cannot rename into", path, e))
}
