//! The MDS loss variants of the PDM rule (`pdm.loss`: Sammon's stress, Kruskal's stress-1,
//! classical strain): their values against a direct computation from the definitions (plain
//! loops over pairs, in f64), their gradients against central finite differences on both
//! kernels, and their option handling.

use ndarray::{Array1, Array2, ArrayView1, s};
use pdmrl_local_loss::{
    LocalRule, MdsLoss, Metric, Normalize, Pairs, Pdm, PdmOptions, SAMMON_FLOOR, pdm_loss,
    pdm_loss_sampled,
};
use pdmrl_tensor::gradcheck::assert_grad_close;
use pdmrl_tensor::{Activation, Dense, orthogonal, rng_from_seed};
use rand::Rng;

const VARIANTS: [MdsLoss; 3] = [MdsLoss::Sammon, MdsLoss::Kruskal, MdsLoss::Strain];

fn random(rows: usize, cols: usize, seed: u64) -> Array2<f64> {
    let mut rng = rng_from_seed(seed);
    Array2::from_shape_fn((rows, cols), |_| rng.random_range(-1.5..1.5))
}

fn opts(loss: MdsLoss, normalize: Normalize, metric: Metric, weight: f64) -> PdmOptions {
    PdmOptions {
        loss,
        normalize,
        metric,
        guidance_weight: weight,
        ..PdmOptions::default()
    }
}

/// The metric's distance of two rows, from the definition.
fn dist(a: ArrayView1<f64>, b: ArrayView1<f64>, metric: Metric, eps: f64) -> f64 {
    let s: f64 = a.iter().zip(b).map(|(u, v)| (u - v) * (u - v)).sum();
    match metric {
        Metric::Euclidean => (s + eps).sqrt(),
        Metric::SquaredEuclidean => s,
    }
}

/// Normalised distances over the pairs `i < j`, as a full symmetric matrix.
fn normalised(x: &Array2<f64>, o: &PdmOptions) -> Array2<f64> {
    let b = x.nrows();
    let mut d = Array2::zeros((b, b));
    let mut values = Vec::new();
    for i in 0..b {
        for j in (i + 1)..b {
            let v = dist(x.row(i), x.row(j), o.metric, o.eps);
            d[[i, j]] = v;
            d[[j, i]] = v;
            values.push(v);
        }
    }
    let c = match o.normalize {
        Normalize::Mean => values.iter().sum::<f64>() / values.len() as f64,
        Normalize::Max => values.iter().copied().fold(0.0, f64::max),
        Normalize::None => 1.0,
    };
    if c > 0.0 { d / c } else { d * 0.0 }
}

/// The loss from the definitions in `MdsLoss`'s docs, by loops over pairs.
fn reference_loss(
    x: &Array2<f64>,
    h: &Array2<f64>,
    g: Option<&Array1<f64>>,
    o: &PdmOptions,
) -> f64 {
    let b = x.nrows();
    let mut t = normalised(x, o);
    if let Some(g) = g.filter(|_| o.guidance_weight > 0.0) {
        let dg = normalised(&g.clone().insert_axis(ndarray::Axis(1)), o);
        t = &t * (1.0 - o.guidance_weight) + &dg * o.guidance_weight;
    }
    let n = normalised(h, o);
    let pairs: Vec<(usize, usize)> = (0..b)
        .flat_map(|i| ((i + 1)..b).map(move |j| (i, j)))
        .collect();
    match o.loss {
        MdsLoss::SquaredError => {
            pairs
                .iter()
                .map(|&(i, j)| (n[[i, j]] - t[[i, j]]).powi(2))
                .sum::<f64>()
                / pairs.len() as f64
        }
        MdsLoss::Sammon => {
            let total: f64 = pairs.iter().map(|&(i, j)| t[[i, j]]).sum();
            let floor = SAMMON_FLOOR * total / pairs.len() as f64;
            pairs
                .iter()
                .map(|&(i, j)| (n[[i, j]] - t[[i, j]]).powi(2) / t[[i, j]].max(floor))
                .sum::<f64>()
                / total
        }
        MdsLoss::Kruskal => {
            let a: f64 = pairs
                .iter()
                .map(|&(i, j)| (n[[i, j]] - t[[i, j]]).powi(2))
                .sum();
            let nn: f64 = pairs.iter().map(|&(i, j)| n[[i, j]].powi(2)).sum();
            (a / nn).sqrt()
        }
        MdsLoss::Strain => {
            let j = Array2::<f64>::eye(b) - Array2::<f64>::from_elem((b, b), 1.0 / b as f64);
            let gram = |d: &Array2<f64>| j.dot(&d.mapv(|v| v * v)).dot(&j) * -0.5;
            let (bo, bi) = (gram(&n), gram(&t));
            (&bo - &bi).mapv(|v| v * v).sum() / bi.mapv(|v| v * v).sum()
        }
    }
}

/// Every variant's value equals the direct computation, for every normalisation, metric
/// and guidance weight; and the default's value is unchanged by the new option.
#[test]
fn values_match_the_definitions() {
    let x = random(9, 3, 1);
    let h = random(9, 5, 2).mapv(f64::tanh);
    let g = Array1::from_shape_fn(9, |i| (i as f64 * 0.7).sin());
    for loss in [
        MdsLoss::SquaredError,
        MdsLoss::Sammon,
        MdsLoss::Kruskal,
        MdsLoss::Strain,
    ] {
        for normalize in [Normalize::Mean, Normalize::Max, Normalize::None] {
            for metric in [Metric::Euclidean, Metric::SquaredEuclidean] {
                for weight in [0.0, 0.3] {
                    let o = opts(loss, normalize, metric, weight);
                    let got = pdm_loss(x.view(), h.view(), Some(g.view()), &o)
                        .unwrap()
                        .loss;
                    let want = reference_loss(&x, &h, Some(&g), &o);
                    assert!(
                        (got - want).abs() <= 1e-10 * want.abs().max(1.0),
                        "{loss} {normalize} {metric} lambda={weight}: {got} against {want}"
                    );
                    assert!(want > 1e-4, "{loss}: a vacuous comparison ({want})");
                }
            }
        }
    }
}

fn layer_loss(rule: &mut Pdm, layer: &Dense<f64>, x: &Array2<f64>, g: ArrayView1<f64>) -> f64 {
    let h = layer.forward(x.view());
    rule.loss_and_grad(x.view(), h.view(), Some(g))
        .unwrap()
        .loss
}

/// dL/dW and dL/db of every variant against central differences (through the layer, as a
/// trainer uses them), for every normalisation, metric, with and without guidance, with a
/// batch that holds two coincident rows (a zero target distance: Sammon's floor).
#[test]
fn gradients_match_finite_differences() {
    let mut rng = rng_from_seed(5);
    let gsig = Array1::from_shape_fn(8, |_| rng.random_range(-2.0..2.0));
    for dup in [false, true] {
        for loss in VARIANTS {
            for normalize in [Normalize::Mean, Normalize::Max, Normalize::None] {
                for metric in [Metric::Euclidean, Metric::SquaredEuclidean] {
                    for weight in [0.0, 0.3] {
                        let mut rule = Pdm::new(opts(loss, normalize, metric, weight)).unwrap();
                        let mut x = random(8, 3, 7);
                        if dup {
                            let r0 = x.row(0).to_owned();
                            x.row_mut(1).assign(&r0);
                        }
                        let mut layer = Dense::<f64>::orthogonal(
                            3,
                            5,
                            1.0,
                            Activation::Tanh,
                            &mut rng_from_seed(9),
                        );
                        layer.bias = Array1::from_shape_fn(5, |_| rng.random_range(-0.3..0.3));
                        let g = gsig.slice(s![..]);
                        let h = layer.forward(x.view());
                        let out = rule.loss_and_grad(x.view(), h.view(), Some(g)).unwrap();
                        let grads =
                            layer.backward(x.view(), h.view(), out.grad_output.view(), false);
                        let what = format!("{loss} dup={dup} {normalize} {metric} lambda={weight}");
                        let w0: Vec<f64> = layer.weight.iter().copied().collect();
                        let mut fw = |w: &[f64]| {
                            let mut l = layer.clone();
                            l.weight = Array2::from_shape_vec((3, 5), w.to_vec()).unwrap();
                            layer_loss(&mut rule, &l, &x, g)
                        };
                        let gw: Vec<f64> = grads.weight.iter().copied().collect();
                        assert_grad_close(&format!("{what} dW"), &mut fw, &w0, &gw, 1e-3);
                        let b0 = layer.bias.to_vec();
                        let mut fb = |bv: &[f64]| {
                            let mut l = layer.clone();
                            l.bias = Array1::from(bv.to_vec());
                            layer_loss(&mut rule, &l, &x, g)
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
}

/// Sammon and Kruskal on a list of pairs: dL/dH against central differences on a fixed
/// pair set, and on every ordered pair the same loss and gradient as the full kernel.
#[test]
fn sampled_kernel_matches_finite_differences_and_the_full_kernel() {
    let b = 7;
    let x = random(b, 3, 3);
    let h = random(b, 4, 4);
    let g = Array1::from_shape_fn(b, |i| (i as f64).cos());
    let fixed: Vec<(usize, usize)> = (0..b)
        .flat_map(|i| [(i, (i + 1) % b), (i, (i + 3) % b)])
        .collect();
    let all: Vec<(usize, usize)> = (0..b)
        .flat_map(|i| (0..b).filter(move |&j| j != i).map(move |j| (i, j)))
        .collect();
    for loss in [MdsLoss::Sammon, MdsLoss::Kruskal] {
        for normalize in [Normalize::Mean, Normalize::Max, Normalize::None] {
            for metric in [Metric::Euclidean, Metric::SquaredEuclidean] {
                for weight in [0.0, 0.3] {
                    let o = opts(loss, normalize, metric, weight);
                    let what = format!("{loss} {normalize} {metric} lambda={weight}");
                    let out =
                        pdm_loss_sampled(x.view(), h.view(), Some(g.view()), &o, &fixed).unwrap();
                    let h0: Vec<f64> = h.iter().copied().collect();
                    let mut f = |hv: &[f64]| {
                        let hm = Array2::from_shape_vec(h.dim(), hv.to_vec()).unwrap();
                        pdm_loss_sampled(x.view(), hm.view(), Some(g.view()), &o, &fixed)
                            .unwrap()
                            .loss
                    };
                    let analytic: Vec<f64> = out.grad_output.iter().copied().collect();
                    assert_grad_close(&format!("{what} sampled dH"), &mut f, &h0, &analytic, 1e-4);

                    let full = pdm_loss(x.view(), h.view(), Some(g.view()), &o).unwrap();
                    let on_all =
                        pdm_loss_sampled(x.view(), h.view(), Some(g.view()), &o, &all).unwrap();
                    assert!(
                        (full.loss - on_all.loss).abs() < 1e-12,
                        "{what}: {} vs {}",
                        full.loss,
                        on_all.loss
                    );
                    let diff = (&full.grad_output - &on_all.grad_output).mapv(f64::abs);
                    assert!(
                        diff.iter().all(|&d| d < 1e-10),
                        "{what}: gradients differ by {diff}"
                    );
                }
            }
        }
    }
}

/// A layer that preserves the input's geometry up to scale has zero loss and gradient
/// under every variant (mean normalisation), and a distorted one a positive loss.
#[test]
fn an_isometry_up_to_scale_has_zero_loss() {
    let x = random(12, 4, 1);
    let w: Array2<f64> = orthogonal(4, 9, 2.5, &mut rng_from_seed(2));
    let iso = Dense::new(w, Array1::from_elem(9, 0.25), Activation::Identity).unwrap();
    let h = iso.forward(x.view());
    let distorted = h.mapv(|v| v.powi(3));
    for loss in VARIANTS {
        let o = opts(loss, Normalize::Mean, Metric::Euclidean, 0.0);
        let out = pdm_loss(x.view(), h.view(), None, &o).unwrap();
        assert!(out.loss.abs() < 1e-9, "{loss}: loss {}", out.loss);
        // Kruskal's stress-1 is a square root: at a perfect fit its gradient has no limit.
        if loss != MdsLoss::Kruskal {
            assert!(
                out.grad_output.iter().all(|g| g.abs() < 1e-6),
                "{loss}: nonzero gradient"
            );
        }
        let bad = pdm_loss(x.view(), distorted.view(), None, &o).unwrap();
        assert!(
            bad.loss > 1e-3,
            "{loss}: a distorted layer has loss {}",
            bad.loss
        );
    }
}

/// Degenerate batches give finite losses and (up to rounding) zero gradients: identical
/// output rows, identical input rows; with the squared metric identical output rows have
/// distance exactly 0, where Kruskal's stress is 1 by convention.
#[test]
fn degenerate_batches_are_finite() {
    let x = random(6, 3, 1);
    let same = Array2::from_elem((6, 4), 0.3);
    for loss in VARIANTS {
        let o = opts(loss, Normalize::Mean, Metric::Euclidean, 0.0);
        let out = pdm_loss(x.view(), same.view(), None, &o).unwrap();
        assert!(out.loss.is_finite(), "{loss}: {}", out.loss);
        assert!(
            out.grad_output.iter().all(|g| g.abs() < 1e-7),
            "{loss}: gradient on identical rows"
        );
        let flat_in = Array2::from_elem((6, 3), -1.0);
        let h = random(6, 4, 2);
        let out = pdm_loss(flat_in.view(), h.view(), None, &o).unwrap();
        assert!(
            out.loss.is_finite() && out.grad_output.iter().all(|g| g.is_finite()),
            "{loss}"
        );
    }
    let o = opts(
        MdsLoss::Kruskal,
        Normalize::Mean,
        Metric::SquaredEuclidean,
        0.0,
    );
    let out = pdm_loss(x.view(), same.view(), None, &o).unwrap();
    assert_eq!(out.loss, 1.0);
    assert!(out.grad_output.iter().all(|g| *g == 0.0));
}

/// Strain needs every pair: rejected with sampled pairs by the options' check and by the
/// sampled kernel; names and serde forms of the option; the default is left out of the
/// serialized options (run ids of configs written before it existed do not change).
#[test]
fn option_handling() {
    let o = PdmOptions {
        loss: MdsLoss::Strain,
        pairs: Pairs::Sampled { k: 3 },
        ..PdmOptions::default()
    };
    let e = o.check().unwrap_err().to_string();
    assert!(
        e.contains("pdm.loss") && e.contains("pairs = \"all\""),
        "{e}"
    );
    assert!(Pdm::new(o).is_err());
    let x = random(5, 3, 1);
    let e = pdm_loss_sampled(
        x.view(),
        x.view(),
        None,
        &PdmOptions {
            pairs: Pairs::All,
            ..o
        },
        &[(0, 1)],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("strain"), "{e}");

    for (loss, name) in [
        (MdsLoss::SquaredError, "squared_error"),
        (MdsLoss::Sammon, "sammon"),
        (MdsLoss::Kruskal, "kruskal"),
        (MdsLoss::Strain, "strain"),
    ] {
        assert_eq!(loss.name(), name);
        assert_eq!(name.parse::<MdsLoss>().unwrap(), loss);
        let text = serde_json::to_string(&PdmOptions {
            loss,
            ..PdmOptions::default()
        })
        .unwrap();
        assert_eq!(
            text.contains("loss"),
            loss != MdsLoss::SquaredError,
            "{text}"
        );
        let back: PdmOptions = serde_json::from_str(&text).unwrap();
        assert_eq!(back.loss, loss);
    }
    let e = "stress".parse::<MdsLoss>().unwrap_err().to_string();
    assert!(e.contains("sammon") && e.contains("strain"), "{e}");
    let e = serde_json::from_str::<PdmOptions>(r#"{"loss": "sammonn"}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("sammon"), "{e}");
}

/// The rule trains with a variant: a few steps of plain gradient descent on the layer lower
/// its loss (the gradient points downhill, not only matches finite differences locally).
#[test]
fn descent_lowers_every_variant() {
    let x = random(16, 4, 3);
    for loss in VARIANTS {
        let mut rule = Pdm::new(opts(loss, Normalize::Mean, Metric::Euclidean, 0.0)).unwrap();
        let mut layer =
            Dense::<f64>::orthogonal(4, 6, 1.0, Activation::Tanh, &mut rng_from_seed(4));
        let first = layer_loss(&mut rule, &layer, &x, Array1::zeros(16).view());
        for _ in 0..50 {
            let h = layer.forward(x.view());
            let out = rule.loss_and_grad(x.view(), h.view(), None).unwrap();
            let grads = layer.backward(x.view(), h.view(), out.grad_output.view(), false);
            layer.weight = &layer.weight - &(grads.weight * 0.05);
            layer.bias = &layer.bias - &(grads.bias * 0.05);
        }
        let last = layer_loss(&mut rule, &layer, &x, Array1::zeros(16).view());
        assert!(last < 0.9 * first, "{loss}: {first} -> {last}");
    }
}

/// `loss_only` (what a measured, not trained, layer calls) gives `loss_and_grad`'s loss and
/// mean distance bit for bit for every loss, normaliser, metric and guidance, with all
/// pairs (where it skips the gradient) and sampled pairs (same RNG draws after it; not
/// with strain, which needs every pair).
#[test]
fn loss_only_equals_loss_and_grad() {
    let x = random(12, 5, 1).mapv(|v| v as f32);
    let h = random(12, 7, 2).mapv(|v| v as f32);
    let g = Array1::from_shape_fn(12, |i| (i as f32 * 0.37).sin());
    let bits =
        |l: &pdmrl_local_loss::LocalLoss<f32>| (l.loss.to_bits(), l.mean_output_distance.to_bits());
    let mut checked = 0;
    for loss in MdsLoss::ALL {
        for normalize in Normalize::ALL {
            for metric in Metric::ALL {
                for (weight, guidance) in [(0.0, None), (0.3, Some(g.view()))] {
                    for pairs in [Pairs::All, Pairs::Sampled { k: 4 }] {
                        if loss == MdsLoss::Strain && pairs != Pairs::All {
                            continue; // strain needs every pair (refused otherwise)
                        }
                        let options = PdmOptions {
                            pairs,
                            ..opts(loss, normalize, metric, weight)
                        };
                        let mut a = Pdm::with_seed(options, 9).unwrap();
                        let mut b = Pdm::with_seed(options, 9).unwrap();
                        let full = a.loss_and_grad(x.view(), h.view(), guidance).unwrap();
                        let only = b.loss_only(x.view(), h.view(), guidance).unwrap();
                        assert_eq!(
                            bits(&full),
                            bits(&only),
                            "{loss:?} {normalize:?} {metric:?} {weight} {pairs:?}"
                        );
                        assert!(full.loss.is_finite() && full.grad_output.dim() == (12, 7));
                        if pairs == Pairs::All {
                            assert_eq!(only.grad_output.dim(), (0, 0), "the gradient is skipped");
                        }
                        // The RNGs are in step: the next calls agree too.
                        let next_a = a.loss_and_grad(x.view(), h.view(), guidance).unwrap();
                        let next_b = b.loss_and_grad(x.view(), h.view(), guidance).unwrap();
                        assert_eq!(bits(&next_a), bits(&next_b));
                        checked += 1;
                    }
                }
            }
        }
    }
    assert_eq!(checked, 84);
}
