//! Finite-difference checks of `Dense::backward` for every activation.

use ndarray::{Array1, Array2};
use pdmrl_tensor::gradcheck::assert_grad_close;
use pdmrl_tensor::{Activation, Dense, rng_from_seed};
use rand::Rng;

/// Loss `sum(c * y)` with fixed random coefficients `c`, so dL/dy = c.
fn check(activation: Activation) {
    let mut rng = rng_from_seed(11);
    let (b, din, dout) = (5, 3, 4);
    let layer = Dense::<f64>::orthogonal(din, dout, 1.3, activation, &mut rng);
    let mut layer = layer;
    layer.bias = Array1::from_shape_fn(dout, |_| rng.random_range(-0.5..0.5));
    // Inputs away from ReLU's kink: |z| is checked below.
    let x = Array2::from_shape_fn((b, din), |_| rng.random_range(-1.0..1.0));
    let c = Array2::from_shape_fn((b, dout), |_| rng.random_range(-1.0..1.0));
    let z = x.dot(&layer.weight) + &layer.bias;
    assert!(
        z.iter().all(|v: &f64| v.abs() > 1e-3),
        "test point too close to a kink"
    );
    let y = layer.forward(x.view());
    let grads = layer.backward(x.view(), y.view(), c.view(), true);

    let loss = |l: &Dense<f64>, x: &Array2<f64>| (l.forward(x.view()) * &c).sum();
    // Weight.
    let w0: Vec<f64> = layer.weight.iter().copied().collect();
    let mut fw = |w: &[f64]| {
        let mut l = layer.clone();
        l.weight = Array2::from_shape_vec((din, dout), w.to_vec()).unwrap();
        loss(&l, &x)
    };
    let gw: Vec<f64> = grads.weight.iter().copied().collect();
    assert_grad_close(&format!("{activation} dW"), &mut fw, &w0, &gw, 1e-6);
    // Bias.
    let b0: Vec<f64> = layer.bias.to_vec();
    let mut fb = |bv: &[f64]| {
        let mut l = layer.clone();
        l.bias = Array1::from(bv.to_vec());
        loss(&l, &x)
    };
    assert_grad_close(
        &format!("{activation} db"),
        &mut fb,
        &b0,
        &grads.bias.to_vec(),
        1e-6,
    );
    // Input.
    let x0: Vec<f64> = x.iter().copied().collect();
    let mut fx = |xv: &[f64]| {
        loss(
            &layer,
            &Array2::from_shape_vec((b, din), xv.to_vec()).unwrap(),
        )
    };
    let gx: Vec<f64> = grads.input.unwrap().iter().copied().collect();
    assert_grad_close(&format!("{activation} dx"), &mut fx, &x0, &gx, 1e-6);
}

#[test]
fn dense_backward_tanh() {
    check(Activation::Tanh);
}

#[test]
fn dense_backward_relu() {
    check(Activation::Relu);
}

#[test]
fn dense_backward_identity() {
    check(Activation::Identity);
}

#[test]
fn dense_new_rejects_bad_bias() {
    let err =
        Dense::<f32>::new(Array2::zeros((3, 4)), Array1::zeros(3), Activation::Tanh).unwrap_err();
    assert!(err.to_string().contains("bias"), "{err}");
}
