//! The C allocator's settings for a training process.

/// Keeps freed memory in the process instead of handing it back to the kernel: on glibc,
/// the trim and mmap thresholds at 256 MiB (`mallopt`). A PPO update allocates and frees
/// the same `[batch, features]` and `[batch, batch]` arrays at every minibatch; with
/// glibc's defaults (128 KiB, adjusted upwards) the freed top of the heap is trimmed and
/// faulted in again at the next minibatch, which cost PDM updates about a tenth of their
/// time in page faults. A binary calls it once, first thing in `main` (the `pdmrl` binary
/// and `cargo xtask` do); a library never does. Elsewhere than glibc it does nothing.
/// Memory use stays bounded by the largest working set, which is what it was at its peak.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const THRESHOLD: libc::c_int = 256 << 20;
        // SAFETY: mallopt only changes allocator parameters; called before any thread.
        unsafe {
            libc::mallopt(libc::M_TRIM_THRESHOLD, THRESHOLD);
            libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD);
        }
    }
}
