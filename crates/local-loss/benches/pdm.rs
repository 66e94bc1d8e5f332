//! Criterion bench of one PDM loss + gradient at PPO-on-CartPole shapes
//! (minibatch 128, 64 -> 64) and at a larger minibatch.

use criterion::{Criterion, criterion_group, criterion_main};
use ndarray::Array2;
use pdmrl_local_loss::{LocalRule, Pdm};
use pdmrl_tensor::{Activation, Dense, rng_from_seed};
use std::hint::black_box;

fn pdm(c: &mut Criterion) {
    let mut rule = Pdm::default();
    for batch in [128usize, 512] {
        let x = Array2::<f32>::from_shape_fn((batch, 64), |(i, j)| {
            (((i * 31 + j * 17) % 23) as f32 / 23.0) - 0.5
        });
        let layer =
            Dense::<f32>::orthogonal(64, 64, 2f64.sqrt(), Activation::Tanh, &mut rng_from_seed(0));
        let h = layer.forward(x.view());
        c.bench_function(&format!("pdm_loss_and_grad_{batch}x64"), |b| {
            b.iter(|| {
                black_box(
                    rule.loss_and_grad(black_box(x.view()), black_box(h.view()), None)
                        .unwrap(),
                )
            })
        });
    }
}

criterion_group!(benches, pdm);
criterion_main!(benches);
