//! Criterion benches of the hot kernels at the shapes PPO on CartPole uses
//! (minibatch 128, 4 -> 64 -> 64 tanh).

use criterion::{Criterion, criterion_group, criterion_main};
use ndarray::Array2;
use pdmrl_tensor::{Activation, Dense, pairwise_distances, rng_from_seed};
use std::hint::black_box;

fn kernels(c: &mut Criterion) {
    let mut rng = rng_from_seed(0);
    let layer = Dense::<f32>::orthogonal(64, 64, 2f64.sqrt(), Activation::Tanh, &mut rng);
    let x = Array2::<f32>::from_shape_fn((128, 64), |(i, j)| ((i * 7 + j * 3) % 11) as f32 / 11.0);
    c.bench_function("dense_forward_128x64x64", |b| {
        b.iter(|| black_box(layer.forward(black_box(x.view()))))
    });
    // The forward product alone: pdmrl's kernel vs matrixmultiply (ndarray's `dot`).
    let w = Array2::<f32>::from_shape_fn((64, 64), |(i, j)| ((i * 5 + j) % 13) as f32 / 13.0);
    for rows in [4, 128] {
        let xs = x.slice(ndarray::s![..rows, ..]);
        c.bench_function(&format!("product_{rows}x64x64_pdmrl"), |b| {
            b.iter(|| black_box(pdmrl_tensor::mat_mul(black_box(xs), w.view())))
        });
        c.bench_function(&format!("product_{rows}x64x64_matrixmultiply"), |b| {
            b.iter(|| black_box(black_box(xs).dot(&w)))
        });
    }
    // The products of a MinAtar minibatch update ([256, 256] on 400 inputs; weight
    // gradients take the transposed input).
    for (m, k, n) in [(128, 400, 256), (128, 256, 256)] {
        let a = Array2::<f32>::from_shape_fn((m, k), |(i, j)| ((i * 7 + j * 3) % 11) as f32 / 11.0);
        let b = Array2::<f32>::from_shape_fn((k, n), |(i, j)| ((i * 5 + j) % 13) as f32 / 13.0);
        c.bench_function(&format!("product_{m}x{k}x{n}_pdmrl"), |bench| {
            bench.iter(|| black_box(pdmrl_tensor::mat_mul(black_box(a.view()), b.view())))
        });
        c.bench_function(&format!("product_{m}x{k}x{n}_matrixmultiply"), |bench| {
            bench.iter(|| black_box(black_box(&a).dot(&b)))
        });
        let g = Array2::<f32>::from_shape_fn((m, n), |(i, j)| ((i + j) % 7) as f32 / 7.0);
        c.bench_function(&format!("weight_grad_{k}x{m}x{n}_pdmrl"), |bench| {
            bench.iter(|| black_box(pdmrl_tensor::mat_mul(black_box(a.t()), g.view())))
        });
    }
    let y = layer.forward(x.view());
    c.bench_function("dense_backward_128x64x64", |b| {
        b.iter(|| black_box(layer.backward(x.view(), y.view(), y.view(), true)))
    });
    // The hidden activation of one minibatch forward: ours (vectorised) vs the C library's
    // scalar tanhf.
    let z: Vec<f32> = x.iter().map(|v| 4.0 * v - 2.0).collect();
    c.bench_function("tanh_128x64_pdmrl", |b| {
        b.iter(|| {
            let mut v = z.clone();
            pdmrl_tensor::tanh::tanh_slice(black_box(&mut v));
            v
        })
    });
    c.bench_function("tanh_128x64_libm", |b| {
        b.iter(|| {
            let mut v = z.clone();
            black_box(&mut v).iter_mut().for_each(|x| *x = x.tanh());
            v
        })
    });
    c.bench_function("pairwise_distances_128x64", |b| {
        b.iter(|| black_box(pairwise_distances(black_box(y.view()), 1e-8)))
    });
}

criterion_group!(benches, kernels);
criterion_main!(benches);
