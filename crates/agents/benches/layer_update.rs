//! Criterion benches of one hidden-layer update `[d -> d]` (tanh) on a minibatch of `B`
//! rows, local PDM rule against backprop, and the reference cost of two `B x B x d`
//! matrix products (the shape of PDM's B² terms).
//!
//! * `layer_update/pdm/B{B}_d{d}`: what `trainer::local_forward` does per layer: forward,
//!   PDM loss and `dL/dH` (default options), `Dense::backward(.., input_grad = false)`,
//!   Adam step on the layer.
//! * `layer_update/pdm_sampled_k32/B1024_d{d}`: the same update with
//!   `pairs = { sampled = { k = 32 } }` (32 partners per row, O(B k d) instead of
//!   O(B² d)); the pairs are drawn from the rule's seeded RNG, inside the timed region.
//! * `layer_update/pdm_loss/B{B}_d{d}`: the PDM loss and `dL/dH` alone (a breakdown of the
//!   line above).
//! * `layer_update/bp/B{B}_d{d}`: what backprop does per layer: forward,
//!   `Dense::backward(.., input_grad = true)` from a fixed upstream gradient `[B, d]`,
//!   Adam step.
//! * `layer_update/two_matmuls/B{B}_d{d}`: `G = x x^T` (`[B, d] x [d, B]`) then `G x`
//!   (`[B, B] x [B, d]`) with ndarray.
//!
//! Inputs are fixed (seeded); every measured update starts from the same layer and a
//! fresh Adam state (cloned outside the timed region), so all iterations do the same work.
//!
//! `cargo bench -p pdmrl-agents --bench layer_update`

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ndarray::Array2;
use pdmrl_local_loss::{LocalRule, Pairs, Pdm, PdmOptions};
use pdmrl_tensor::{Activation, Adam, AdamConfig, Dense, DenseGrads, Rng, rng_from_seed};
use rand::Rng as _;
use std::hint::black_box;

const BATCHES: [usize; 3] = [64, 256, 1024];
const WIDTHS: [usize; 2] = [64, 256];

/// A `[rows, cols]` matrix of uniform values in `[-1, 1)` from `rng`.
fn uniform(rows: usize, cols: usize, rng: &mut Rng) -> Array2<f32> {
    Array2::from_shape_simple_fn((rows, cols), || rng.random_range(-1.0f32..1.0))
}

/// One layer, its Adam state, and the fixed minibatch input and upstream gradient.
struct Setup {
    layer: Dense<f32>,
    adam: Adam<f32>,
    x: Array2<f32>,
    dy: Array2<f32>,
}

fn setup(batch: usize, d: usize) -> Setup {
    let mut rng = rng_from_seed(0x1a7e_0b3c);
    let layer = Dense::<f32>::orthogonal(d, d, 2f64.sqrt(), Activation::Tanh, &mut rng);
    let adam = Adam::new(
        AdamConfig::default(),
        &[layer.weight.len(), layer.bias.len()],
    )
    .expect("default Adam config is valid");
    let x = uniform(batch, d, &mut rng);
    let dy = uniform(batch, d, &mut rng);
    Setup { layer, adam, x, dy }
}

/// Adam step on a layer from its gradients (as `trainer.rs` does with `layer_params`).
fn adam_step(adam: &mut Adam<f32>, layer: &mut Dense<f32>, grads: &DenseGrads<f32>) {
    let params: &mut [&mut [f32]] = &mut [
        layer.weight.as_slice_mut().expect("standard layout"),
        layer.bias.as_slice_mut().expect("standard layout"),
    ];
    let grads: &[&[f32]] = &[
        grads.weight.as_slice().expect("standard layout"),
        grads.bias.as_slice().expect("standard layout"),
    ];
    adam.step(params, grads);
}

/// Forward, local rule, backward without input grad, Adam step: one local layer update.
fn local_update(
    rule: &mut dyn LocalRule<f32>,
    layer: &mut Dense<f32>,
    adam: &mut Adam<f32>,
    x: &Array2<f32>,
) -> f32 {
    let h = layer.forward(x.view());
    let out = rule
        .loss_and_grad(x.view(), h.view(), None)
        .expect("valid batch");
    let grads = layer.backward(x.view(), h.view(), out.grad_output.view(), false);
    adam_step(adam, layer, &grads);
    out.loss
}

fn layer_update(c: &mut Criterion) {
    let mut rule = Pdm::default();

    let mut group = c.benchmark_group("layer_update/pdm");
    for batch in BATCHES {
        for d in WIDTHS {
            let s = setup(batch, d);
            group.bench_function(format!("B{batch}_d{d}"), |b| {
                b.iter_batched_ref(
                    || (s.layer.clone(), s.adam.clone()),
                    |(layer, adam)| {
                        black_box(local_update(&mut rule, layer, adam, black_box(&s.x)))
                    },
                    BatchSize::LargeInput,
                )
            });
        }
    }
    group.finish();

    let mut sampled = Pdm::with_seed(
        PdmOptions {
            pairs: Pairs::Sampled { k: 32 },
            ..PdmOptions::default()
        },
        0,
    )
    .expect("valid options");
    let mut group = c.benchmark_group("layer_update/pdm_sampled_k32");
    for d in WIDTHS {
        let batch = 1024;
        let s = setup(batch, d);
        group.bench_function(format!("B{batch}_d{d}"), |b| {
            b.iter_batched_ref(
                || (s.layer.clone(), s.adam.clone()),
                |(layer, adam)| black_box(local_update(&mut sampled, layer, adam, black_box(&s.x))),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();

    let mut group = c.benchmark_group("layer_update/pdm_loss");
    for batch in BATCHES {
        for d in WIDTHS {
            let s = setup(batch, d);
            let h = s.layer.forward(s.x.view());
            group.bench_function(format!("B{batch}_d{d}"), |b| {
                b.iter(|| {
                    black_box(
                        rule.loss_and_grad(black_box(s.x.view()), black_box(h.view()), None)
                            .expect("valid batch"),
                    )
                })
            });
        }
    }
    group.finish();

    let mut group = c.benchmark_group("layer_update/bp");
    for batch in BATCHES {
        for d in WIDTHS {
            let s = setup(batch, d);
            group.bench_function(format!("B{batch}_d{d}"), |b| {
                b.iter_batched_ref(
                    || (s.layer.clone(), s.adam.clone()),
                    |(layer, adam)| {
                        let x = black_box(&s.x);
                        let h = layer.forward(x.view());
                        let grads =
                            layer.backward(x.view(), h.view(), black_box(s.dy.view()), true);
                        adam_step(adam, layer, &grads);
                        // dL/dx is what flows to the layer below.
                        black_box(grads.input)
                    },
                    BatchSize::LargeInput,
                )
            });
        }
    }
    group.finish();

    let mut group = c.benchmark_group("layer_update/two_matmuls");
    for batch in BATCHES {
        for d in WIDTHS {
            let s = setup(batch, d);
            group.bench_function(format!("B{batch}_d{d}"), |b| {
                b.iter(|| {
                    let x = black_box(&s.x);
                    let gram = x.dot(&x.t()); // [B, d] x [d, B]
                    black_box(gram.dot(x)) // [B, B] x [B, d]
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, layer_update);
criterion_main!(benches);
