//! The memory claim of docs/method.md ("Memory"), as a measurement: the peak heap bytes
//! allocated during one actor-critic update, above parameters and optimiser state.
//!
//! The bytes are counted by the caller's global allocator (the test
//! `tests/memory.rs` and `cargo xtask memory` install `peak_alloc::PeakAlloc`); this module
//! builds the networks and runs the update between the caller's "reset peak" and "read
//! peak".

use crate::error::AgentError;
use crate::mlp::Mlp;
use crate::trainer::{ActorCritic, HeadGrads, HeadOutputs, TrainerConfig, TrainerKind};
use crate::valid::Check;
use ndarray::{Array1, Array2};
use pdmrl_tensor::{Activation, rng_from_seed};

/// Width of every hidden layer.
pub const WIDTH: usize = 256;
/// Observation size.
pub const OBS_DIM: usize = 4;
/// Number of discrete actions.
pub const N_ACTIONS: usize = 2;
/// Minibatch rows.
pub const BATCH: usize = 256;

/// What runs inside the measured region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// One update of this trainer.
    Trainer(TrainerKind),
    /// One `pdm` update while the actor's activations are kept, as a backprop-style
    /// implementation would: a control that a flat-in-depth criterion must reject.
    PdmKeepingActivations,
}

/// Peak bytes allocated during one update of a `depth`-hidden-layer actor-critic pair
/// (width [`WIDTH`], tanh, minibatch [`BATCH`]), above what exists before it (parameters,
/// optimiser state after a warm-up update, inputs and fixed head gradients).
///
/// `peak_above` must run the closure it is given and return the peak number of bytes
/// allocated above the level at its start (e.g. reset the allocator's peak, run, read).
///
/// # Errors
/// A trainer error.
pub fn update_peak_bytes(
    depth: usize,
    variant: Variant,
    peak_above: &mut dyn FnMut(&mut dyn FnMut()) -> usize,
) -> Result<usize, AgentError> {
    let hidden = vec![WIDTH; depth];
    let gain = 2f64.sqrt();
    let tanh = Activation::Tanh;
    let actor = Mlp::new(
        OBS_DIM,
        &hidden,
        N_ACTIONS,
        tanh,
        gain,
        0.01,
        &mut rng_from_seed(1),
    );
    let critic = Mlp::new(OBS_DIM, &hidden, 1, tanh, gain, 1.0, &mut rng_from_seed(2));
    let kind = match variant {
        Variant::Trainer(kind) => kind,
        Variant::PdmKeepingActivations => TrainerKind::Pdm,
    };
    let mut ac = ActorCritic::new(
        actor,
        critic,
        TrainerConfig::new(kind).check()?,
        2.5e-4,
        1e-5,
    )?;
    // Distinct rows, so the distance matrices are not degenerate.
    let obs = Array2::from_shape_fn((BATCH, OBS_DIM), |(i, j)| {
        ((i * 31 + j * 17) as f32 * 0.37).sin()
    });
    // Fixed head gradients, allocated before the measured region and handed over once.
    let head_grads = || {
        (
            Array2::from_elem((BATCH, N_ACTIONS), 1e-3_f32),
            Array1::from_elem(BATCH, 1e-3_f32),
        )
    };
    let update = |ac: &mut ActorCritic, grads: (Array2<f32>, Array1<f32>)| {
        let mut grads = Some(grads);
        let mut loss = |_: HeadOutputs<'_>| {
            let (policy, values) = grads.take().expect("the loss is evaluated once per update");
            HeadGrads {
                policy,
                log_std: None,
                values,
            }
        };
        ac.update(obs.view(), (None, None), 0.5, false, &mut loss)
            .map(drop)
    };
    update(&mut ac, head_grads())?; // warm-up: optimiser state now exists
    let mut grads = Some(head_grads());
    let mut result = Ok(());
    let peak = peak_above(&mut || {
        let kept = (variant == Variant::PdmKeepingActivations)
            .then(|| ac.actor.forward_cached(obs.view()));
        result = update(&mut ac, grads.take().expect("measured once"));
        drop(kept);
    });
    result?;
    Ok(peak)
}
