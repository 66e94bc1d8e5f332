//! Criterion bench of one PDM loss + gradient at PPO-on-CartPole shapes
//! (minibatch 128, 64 -> 64), at larger minibatches, and of the sampled-pairs loss
//! (`pairs = { sampled = { k = 32 } }`) next to the full one at minibatch 1024.

use criterion::{Criterion, criterion_group, criterion_main};
use ndarray::Array2;
use pdmrl_local_loss::{LocalRule, Pairs, Pdm, PdmOptions};
use pdmrl_tensor::{Activation, Dense, rng_from_seed};
use std::hint::black_box;

/// A deterministic `[batch, 64]` input and its layer output `tanh(x W + b)`, 64 -> 64.
fn batch(batch: usize) -> (Array2<f32>, Array2<f32>) {
    let x = Array2::<f32>::from_shape_fn((batch, 64), |(i, j)| {
        (((i * 31 + j * 17) % 23) as f32 / 23.0) - 0.5
    });
    let layer =
        Dense::<f32>::orthogonal(64, 64, 2f64.sqrt(), Activation::Tanh, &mut rng_from_seed(0));
    let h = layer.forward(x.view());
    (x, h)
}

fn bench_rule(c: &mut Criterion, name: &str, rule: &mut Pdm, x: &Array2<f32>, h: &Array2<f32>) {
    c.bench_function(name, |b| {
        b.iter(|| {
            black_box(
                rule.loss_and_grad(black_box(x.view()), black_box(h.view()), None)
                    .unwrap(),
            )
        })
    });
}

fn pdm(c: &mut Criterion) {
    let mut rule = Pdm::default();
    for b in [128usize, 512, 1024] {
        let (x, h) = batch(b);
        bench_rule(c, &format!("pdm_loss_and_grad_{b}x64"), &mut rule, &x, &h);
    }
    // Sampled pairs: O(B k d) instead of O(B^2 d); includes drawing the pairs.
    let k = 32;
    let mut sampled = Pdm::with_seed(
        PdmOptions {
            pairs: Pairs::Sampled { k },
            ..PdmOptions::default()
        },
        0,
    )
    .expect("valid options");
    let (x, h) = batch(1024);
    bench_rule(
        c,
        &format!("pdm_sampled_k{k}_loss_and_grad_1024x64"),
        &mut sampled,
        &x,
        &h,
    );
}

criterion_group!(benches, pdm);
criterion_main!(benches);
