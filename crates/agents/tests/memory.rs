//! The memory claim of docs/method.md ("Memory"), measured in bytes: the peak heap of one
//! `pdm` update is flat in depth, that of one `bp` update grows linearly with it.
//!
//! A counting global allocator tracks the bytes currently allocated and their peak. For
//! each depth, one warm-up update allocates everything that outlives an update (parameters,
//! optimiser state); then the peak is reset to the current level and the peak bytes
//! allocated *above it* during one more update are measured. Allocation sizes depend only
//! on shapes, so the numbers are deterministic.
//!
//! Every measurement runs in the single test function of this binary, one after the other:
//! no other test thread allocates meanwhile (the counter is process-wide, so it also sees
//! any worker thread a kernel might use).
//!
//! `cargo test -p pdmrl-agents --test memory -- --nocapture` prints the table;
//! `cargo xtask memory` measures the same into `results/memory/`.

use pdmrl_agents::TrainerKind;
use pdmrl_agents::memory::{BATCH, Variant, WIDTH, update_peak_bytes};
use peak_alloc::PeakAlloc;

#[global_allocator]
static ALLOC: PeakAlloc = PeakAlloc;

const DEPTHS: [usize; 4] = [2, 4, 8, 16];
/// One hidden activation `[BATCH, WIDTH]` of f32.
const ACTIVATION_BYTES: usize = BATCH * WIDTH * size_of::<f32>();
const KIB: usize = 1024;

/// Peak bytes above the current level while `f` runs (this test binary's only thread that
/// allocates meanwhile: all measurements run in one test function).
fn peak_above(f: &mut dyn FnMut()) -> usize {
    let base = ALLOC.current_usage();
    ALLOC.reset_peak_usage();
    f();
    ALLOC.peak_usage().saturating_sub(base)
}

fn update_peak(depth: usize, variant: Variant) -> usize {
    update_peak_bytes(depth, variant, &mut peak_above).expect("update")
}

/// pdm's criterion: the peak grows by less than 25% from the shallowest to the deepest net.
fn flat_in_depth(shallow: usize, deep: usize) -> bool {
    (deep as f64) < 1.25 * shallow as f64
}

#[test]
fn pdm_update_memory_is_flat_in_depth_and_bp_grows_linearly() {
    let measure = |variant| -> Vec<usize> { DEPTHS.map(|d| update_peak(d, variant)).to_vec() };
    let bp = measure(Variant::Trainer(TrainerKind::Bp));
    let pdm = measure(Variant::Trainer(TrainerKind::Pdm));
    let wasteful = measure(Variant::PdmKeepingActivations);

    println!("peak bytes allocated during one update, above parameters and optimiser state");
    println!("(width {WIDTH}, tanh, minibatch {BATCH}, actor + critic)");
    println!(
        "{:>6} {:>12} {:>12} {:>24}",
        "depth", "bp", "pdm", "pdm keeping activations"
    );
    for (i, d) in DEPTHS.iter().enumerate() {
        println!("{d:>6} {:>12} {:>12} {:>24}", bp[i], pdm[i], wasteful[i]);
    }

    let last = DEPTHS.len() - 1;
    let extra_layers = DEPTHS[last] - DEPTHS[0];

    // The counter sees the update at all: one [B, B] f32 distance matrix is allocated per
    // layer under pdm, and bp keeps at least its activations.
    assert!(
        pdm[0] >= BATCH * BATCH * size_of::<f32>(),
        "pdm peak {} B is below one [B, B] distance matrix: is the counter installed?",
        pdm[0]
    );

    // pdm: only one layer's input, output and distance buffers live at a time.
    assert!(
        flat_in_depth(pdm[0], pdm[last]),
        "pdm peak grew from {} B (depth {}) to {} B (depth {}): not flat in depth",
        pdm[0],
        DEPTHS[0],
        pdm[last],
        DEPTHS[last]
    );

    // bp: every hidden layer of both networks keeps its [B, W] f32 activation (256 KiB)
    // until the backward pass (its weight gradients add as much again, not counted here).
    // 14 more layers in two networks: at least 90% of 2 * 14 * 256 KiB = 7 MiB more.
    let bp_floor = 2 * extra_layers * ACTIVATION_BYTES * 9 / 10;
    assert!(
        bp[last] - bp[0] >= bp_floor,
        "bp peak grew by {} B from depth {} to {}; its activations alone need >= {} B",
        bp[last] as isize - bp[0] as isize,
        DEPTHS[0],
        DEPTHS[last],
        bp_floor
    );
    // ... at every step, not only overall.
    for i in 1..DEPTHS.len() {
        let floor = 2 * (DEPTHS[i] - DEPTHS[i - 1]) * ACTIVATION_BYTES * 9 / 10;
        assert!(
            bp[i] >= bp[i - 1] + floor,
            "bp peak at depth {} ({} B) is not >= depth {} ({} B) + {floor} B",
            DEPTHS[i],
            bp[i],
            DEPTHS[i - 1],
            bp[i - 1]
        );
    }

    // The pdm criterion can fail: keeping the actor's activations (14 more layers of
    // 256 KiB between depths 2 and 16) breaks it.
    assert!(
        wasteful[last] - wasteful[0] >= extra_layers * ACTIVATION_BYTES * 9 / 10,
        "the wasteful control did not keep its activations: {wasteful:?}"
    );
    assert!(
        !flat_in_depth(wasteful[0], wasteful[last]),
        "the pdm criterion passes an update that keeps activations ({} B -> {} B): it cannot fail",
        wasteful[0],
        wasteful[last]
    );
    println!(
        "bp(16) - bp(2) = {} KiB >= {} KiB; pdm(16) / pdm(2) = {:.3} < 1.25; \
         control: {:.3} >= 1.25",
        (bp[last] - bp[0]) / KIB,
        bp_floor / KIB,
        pdm[last] as f64 / pdm[0] as f64,
        wasteful[last] as f64 / wasteful[0] as f64
    );
}
