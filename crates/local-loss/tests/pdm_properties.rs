//! Finite-difference checks and properties of the PDM loss (docs/method.md).

use ndarray::{Array1, Array2, ArrayView1, s};
use pdmrl_local_loss::{LocalLossError, LocalRule, Metric, Normalize, Pdm, PdmOptions, Target};
use pdmrl_tensor::gradcheck::assert_grad_close;
use pdmrl_tensor::{Activation, Dense, orthogonal, rng_from_seed};
use rand::Rng;

fn random(rows: usize, cols: usize, seed: u64) -> Array2<f64> {
    let mut rng = rng_from_seed(seed);
    Array2::from_shape_fn((rows, cols), |_| rng.random_range(-1.5..1.5))
}

/// The layer's loss as a trainer computes it: the output from the layer's input `x`, the
/// target from `target_input` (`x` itself, or the observation for `target = observation`).
fn layer_loss(
    rule: &mut Pdm,
    layer: &Dense<f64>,
    x: &Array2<f64>,
    target_input: &Array2<f64>,
    g: Option<ArrayView1<f64>>,
) -> f64 {
    let h = layer.forward(x.view());
    rule.loss_and_grad(target_input.view(), h.view(), g)
        .unwrap()
        .loss
}

/// dL/dW and dL/db against central differences, B = 8, d_in = 3, d_out = 5, for every
/// normalize x metric x target x guidance combination, plus B = 2 and a batch with
/// coincident rows.
#[test]
fn gradient_matches_finite_differences() {
    let mut rng = rng_from_seed(5);
    let gsig = Array1::from_shape_fn(8, |_| rng.random_range(-2.0..2.0));
    for (batch, dup, target) in [
        (8usize, false, Target::LayerInput),
        (8, false, Target::Observation),
        (2, false, Target::LayerInput),
        (8, true, Target::LayerInput),
        (8, true, Target::Observation),
    ] {
        for normalize in [Normalize::Mean, Normalize::Max, Normalize::None] {
            for metric in [Metric::Euclidean, Metric::SquaredEuclidean] {
                for weight in [0.0, 0.3] {
                    let mut rule = Pdm::new(PdmOptions {
                        normalize,
                        metric,
                        guidance_weight: weight,
                        ..PdmOptions::default()
                    })
                    .unwrap();
                    let mut x = random(batch, 3, 7);
                    if dup {
                        let r0 = x.row(0).to_owned();
                        x.row_mut(1).assign(&r0);
                    }
                    // With `target = observation` the trainer passes the network input
                    // (here a [B, 4] "observation") instead of the layer's input.
                    let target_input = match target {
                        Target::LayerInput => x.clone(),
                        Target::Observation => random(batch, 4, 11),
                    };
                    let mut layer = Dense::<f64>::orthogonal(
                        3,
                        5,
                        1.0,
                        Activation::Tanh,
                        &mut rng_from_seed(9),
                    );
                    layer.bias = Array1::from_shape_fn(5, |_| rng.random_range(-0.3..0.3));
                    let g = gsig.slice(s![..batch]);
                    let h = layer.forward(x.view());
                    let out = rule
                        .loss_and_grad(target_input.view(), h.view(), Some(g))
                        .unwrap();
                    let grads = layer.backward(x.view(), h.view(), out.grad_output.view(), false);
                    let what = format!(
                        "B={batch} dup={dup} {target} {normalize} {metric} lambda={weight}"
                    );
                    if batch == 2 && normalize != Normalize::None {
                        // One pair: its normalised distance is always 1, loss and gradient 0.
                        assert!(out.loss.abs() < 1e-12, "{what}: loss {}", out.loss);
                        continue;
                    }
                    let w0: Vec<f64> = layer.weight.iter().copied().collect();
                    let mut fw = |w: &[f64]| {
                        let mut l = layer.clone();
                        l.weight = Array2::from_shape_vec((3, 5), w.to_vec()).unwrap();
                        layer_loss(&mut rule, &l, &x, &target_input, Some(g))
                    };
                    let gw: Vec<f64> = grads.weight.iter().copied().collect();
                    assert_grad_close(&format!("{what} dW"), &mut fw, &w0, &gw, 1e-3);
                    let b0 = layer.bias.to_vec();
                    let mut fb = |bv: &[f64]| {
                        let mut l = layer.clone();
                        l.bias = Array1::from(bv.to_vec());
                        layer_loss(&mut rule, &l, &x, &target_input, Some(g))
                    };
                    assert_grad_close(
                        &format!("{what} db"),
                        &mut fb,
                        &b0,
                        &grads.bias.to_vec(),
                        1e-3,
                    );
                }
            }
        }
    }
}

/// An orthogonal linear map with identity activation preserves all distances up to a
/// common scale, so the mean-normalised loss is 0 (and so is the gradient).
#[test]
fn isometry_up_to_scale_has_zero_loss() {
    let x = random(16, 4, 1);
    let w: Array2<f64> = orthogonal(4, 9, 3.7, &mut rng_from_seed(2));
    let layer = Dense::new(w, Array1::from_elem(9, 0.25), Activation::Identity).unwrap();
    let h = layer.forward(x.view());
    for normalize in [Normalize::Mean, Normalize::Max] {
        let mut rule = Pdm::new(PdmOptions {
            normalize,
            ..PdmOptions::default()
        })
        .unwrap();
        let out = rule.loss_and_grad(x.view(), h.view(), None).unwrap();
        assert!(out.loss < 1e-12, "{normalize}: loss {}", out.loss);
        assert!(
            out.grad_output.iter().all(|g| g.abs() < 1e-6),
            "{normalize}: nonzero grad"
        );
    }
    // The same map scaled without normalisation is not an isometry: loss > 0.
    let mut rule = Pdm::new(PdmOptions {
        normalize: Normalize::None,
        ..PdmOptions::default()
    })
    .unwrap();
    let out = rule.loss_and_grad(x.view(), h.view(), None).unwrap();
    assert!(
        out.loss > 1.0,
        "unnormalised loss of a 3.7x scaling: {}",
        out.loss
    );
}

/// Permuting the rows of the batch permutes the gradient rows and keeps the loss.
#[test]
fn invariant_to_row_permutation() {
    let x = random(10, 3, 3);
    let layer = Dense::<f64>::orthogonal(3, 6, 1.4, Activation::Tanh, &mut rng_from_seed(4));
    let g = Array1::from_shape_fn(10, |i| (i as f64 * 0.7).sin());
    let mut rule = Pdm::new(PdmOptions {
        guidance_weight: 0.4,
        ..PdmOptions::default()
    })
    .unwrap();
    let h = layer.forward(x.view());
    let a = rule
        .loss_and_grad(x.view(), h.view(), Some(g.view()))
        .unwrap();
    let perm = [3usize, 7, 0, 9, 1, 5, 2, 8, 6, 4];
    let xp = x.select(ndarray::Axis(0), &perm);
    let hp = h.select(ndarray::Axis(0), &perm);
    let gp = g.select(ndarray::Axis(0), &perm);
    let b = rule
        .loss_and_grad(xp.view(), hp.view(), Some(gp.view()))
        .unwrap();
    assert!((a.loss - b.loss).abs() < 1e-12 * a.loss.abs().max(1.0));
    for (k, &p) in perm.iter().enumerate() {
        for j in 0..6 {
            assert!((b.grad_output[[k, j]] - a.grad_output[[p, j]]).abs() < 1e-12);
        }
    }
}

/// Duplicate rows (and an all-identical batch) give finite values in f32.
#[test]
fn duplicate_rows_give_no_nan() {
    let mut x = random(6, 3, 8).mapv(|v| v as f32);
    let r0 = x.row(0).to_owned();
    x.row_mut(1).assign(&r0);
    x.row_mut(2).assign(&r0);
    let layer = Dense::<f32>::orthogonal(3, 4, 1.0, Activation::Tanh, &mut rng_from_seed(1));
    for metric in [Metric::Euclidean, Metric::SquaredEuclidean] {
        for normalize in [Normalize::Mean, Normalize::Max, Normalize::None] {
            let mut rule = Pdm::new(PdmOptions {
                metric,
                normalize,
                ..PdmOptions::default()
            })
            .unwrap();
            let h = layer.forward(x.view());
            let out = rule.loss_and_grad(x.view(), h.view(), None).unwrap();
            assert!(out.loss.is_finite() && out.grad_output.iter().all(|v| v.is_finite()));
            // All rows identical: no geometry at all, still finite.
            let same = Array2::from_shape_fn((4, 3), |(_, j)| j as f32);
            let hs = layer.forward(same.view());
            let out = rule.loss_and_grad(same.view(), hs.view(), None).unwrap();
            assert!(out.loss.is_finite() && out.grad_output.iter().all(|v| v.is_finite()));
        }
    }
}

/// A guidance signal that is equal for every sample is dropped: the result equals the
/// unguided loss exactly.
#[test]
fn constant_guidance_is_dropped() {
    let x = random(8, 3, 10);
    let layer = Dense::<f64>::orthogonal(3, 5, 1.0, Activation::Tanh, &mut rng_from_seed(2));
    let h = layer.forward(x.view());
    let mut guided = Pdm::new(PdmOptions {
        guidance_weight: 0.5,
        ..PdmOptions::default()
    })
    .unwrap();
    let mut plain = Pdm::default();
    let g = Array1::from_elem(8, 3.0);
    let a = guided
        .loss_and_grad(x.view(), h.view(), Some(g.view()))
        .unwrap();
    let b = plain.loss_and_grad(x.view(), h.view(), None).unwrap();
    assert_eq!(a, b);
    // A varying signal does change it.
    let g = Array1::from_shape_fn(8, |i| i as f64);
    let c = guided
        .loss_and_grad(x.view(), h.view(), Some(g.view()))
        .unwrap();
    assert!((c.loss - b.loss).abs() > 1e-6);
}

#[test]
fn bad_input_is_an_error() {
    let mut rule = Pdm::default();
    let x = random(1, 3, 1);
    let err = LocalRule::<f64>::loss_and_grad(&mut rule, x.view(), x.view(), None).unwrap_err();
    assert_eq!(err, LocalLossError::BatchTooSmall(1));
    let x = random(4, 3, 1);
    let h = random(5, 3, 1);
    assert!(matches!(
        rule.loss_and_grad(x.view(), h.view(), None),
        Err(LocalLossError::BatchMismatch { .. })
    ));
    let err = Pdm::new(PdmOptions {
        guidance_weight: 1.5,
        ..PdmOptions::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("pdm.guidance_weight"), "{err}");
    let err = "average".parse::<Normalize>().unwrap_err();
    assert!(
        err.to_string().contains("normalize") && err.to_string().contains("mean"),
        "{err}"
    );
}

/// The loss falls when its own gradient is followed (a sanity check of the sign).
#[test]
fn gradient_descent_reduces_loss() {
    let x = random(32, 4, 12);
    let mut layer =
        Dense::<f64>::orthogonal(4, 16, 2f64.sqrt(), Activation::Tanh, &mut rng_from_seed(3));
    let mut rule = Pdm::default();
    let h = layer.forward(x.view());
    let first = rule.loss_and_grad(x.view(), h.view(), None).unwrap();
    let mut loss = first.loss;
    for _ in 0..200 {
        let h = layer.forward(x.view());
        let out = rule.loss_and_grad(x.view(), h.view(), None).unwrap();
        loss = out.loss;
        let g = layer.backward(x.view(), h.view(), out.grad_output.view(), false);
        layer.weight.scaled_add(-0.5, &g.weight);
        layer.bias.scaled_add(-0.5, &g.bias);
    }
    assert!(loss < 0.5 * first.loss, "loss {} -> {loss}", first.loss);
}
