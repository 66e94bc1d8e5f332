//! The names of files being written: a run's files while it trains
//! ([`in_progress_path`]) and the temporary files of atomic writes ([`unique_temp_path`],
//! used by [`crate::atomic`] and the figures). Names only: nothing here touches the disk.

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
