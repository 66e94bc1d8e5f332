//! xtask's global allocator: the system allocator, counting bytes only while a measurement
//! asks for it.
//!
//! `peak_alloc::PeakAlloc` (which `crates/agents/tests/memory.rs` uses) updates two shared
//! atomics on every allocation of every thread, all the time. That is fine for a memory
//! measurement but not for `cargo xtask bench`, which times training runs, two of them in
//! concurrent threads whose allocations would then contend for one cache line. Here an
//! allocation costs one read of a thread-local flag, and only the thread that runs
//! [`peak_above`] is counted (so tests running in parallel threads do not disturb it).
//!
//! Bytes freed while counting that were allocated before it started lower the current
//! count below the starting level, as with `PeakAlloc`; [`peak_above`] measures the peak
//! above the level at its start, which is what the memory figure reports.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};

/// The system allocator with switchable counting.
pub struct Counting;

thread_local! {
    /// Whether this thread's allocations are counted (const-initialised: reading it never
    /// allocates).
    static ON: Cell<bool> = const { Cell::new(false) };
}

fn on() -> bool {
    ON.try_with(Cell::get).unwrap_or(false)
}
static CURRENT: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn add(bytes: usize) {
    let now = CURRENT.fetch_add(bytes as isize, Relaxed) + bytes as isize;
    PEAK.fetch_max(now, Relaxed);
}

// SAFETY: every call is forwarded unchanged to `System`; the counters have no effect on
// the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if on() {
            add(layout.size());
        }
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if on() {
            add(layout.size());
        }
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if on() {
            CURRENT.fetch_sub(layout.size() as isize, Relaxed);
        }
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if on() {
            CURRENT.fetch_sub(layout.size() as isize, Relaxed);
            add(new_size);
        }
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Peak bytes above the level at the start while `f` runs, counting this thread's
/// allocations only (one measurement at a time per process: the counters are shared).
pub fn peak_above(f: &mut dyn FnMut()) -> usize {
    CURRENT.store(0, Relaxed);
    PEAK.store(0, Relaxed);
    ON.with(|on| on.set(true));
    f();
    ON.with(|on| on.set(false));
    PEAK.load(Relaxed).max(0) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_peak_while_on_only() {
        let peak = peak_above(&mut || {
            let a = vec![0u8; 1000];
            let b = vec![0u8; 3000];
            drop(std::hint::black_box(a));
            drop(std::hint::black_box(b));
            let c = vec![0u8; 500];
            drop(std::hint::black_box(c));
        });
        assert_eq!(peak, 4000);
        // Off again: nothing counted afterwards.
        let before = CURRENT.load(Relaxed);
        drop(std::hint::black_box(vec![1u8; 64]));
        assert_eq!(CURRENT.load(Relaxed), before);
    }
}
