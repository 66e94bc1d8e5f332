//! The sampled-pairs PDM loss (`pairs = { sampled = { k } }`, `pdm_loss_sampled`) and the
//! `target` option: finite differences, agreement with `pdm_loss` on the full pair set,
//! unbiasedness, determinism, validation, serde names.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use pdmrl_local_loss::{
    LocalLoss, LocalLossError, LocalRule, Metric, Normalize, Pairs, Pdm, PdmOptions, Target,
    pdm_loss, pdm_loss_sampled, sample_pairs,
};
use pdmrl_tensor::gradcheck::assert_grad_close;
use pdmrl_tensor::{Activation, Dense, rng_from_seed};
use rand::Rng;

fn random(rows: usize, cols: usize, seed: u64) -> Array2<f64> {
    let mut rng = rng_from_seed(seed);
    Array2::from_shape_fn((rows, cols), |_| rng.random_range(-1.5..1.5))
}

fn combos() -> Vec<(Normalize, Metric, f64)> {
    let mut out = Vec::new();
    for normalize in [Normalize::Mean, Normalize::Max, Normalize::None] {
        for metric in [Metric::Euclidean, Metric::SquaredEuclidean] {
            for weight in [0.0, 0.3] {
                out.push((normalize, metric, weight));
            }
        }
    }
    out
}

fn opts(normalize: Normalize, metric: Metric, guidance_weight: f64) -> PdmOptions {
    PdmOptions {
        normalize,
        metric,
        guidance_weight,
        ..PdmOptions::default()
    }
}

/// Every ordered pair `(i, j)`, `i != j`, of a batch of `b` rows.
fn all_ordered_pairs(b: usize) -> Vec<(usize, usize)> {
    (0..b)
        .flat_map(|i| (0..b).filter(move |&j| j != i).map(move |j| (i, j)))
        .collect()
}

/// A fixed pair set with 3 partners per row, offsets 1, 3, 5 (mod b): it holds pairs in
/// both orders ((i, i+3) and (i+3, i)) and pairs with i > j.
fn fixed_pairs(b: usize) -> Vec<(usize, usize)> {
    (0..b)
        .flat_map(|i| [1, 3, 5].map(|o| (i, (i + o) % b)))
        .collect()
}

/// (a) dL/dH of `pdm_loss_sampled` against central differences on a fixed pair set, for
/// every normalize x metric x guidance combination, also with two coincident rows.
#[test]
fn sampled_gradient_matches_finite_differences() {
    let b = 8;
    let x = random(b, 3, 7);
    let layer = Dense::<f64>::orthogonal(3, 5, 1.0, Activation::Tanh, &mut rng_from_seed(9));
    let mut rng = rng_from_seed(5);
    let g = Array1::from_shape_fn(b, |_| rng.random_range(-2.0..2.0));
    let pairs = fixed_pairs(b);
    for dup in [false, true] {
        let mut h = layer.forward(x.view());
        if dup {
            let r0 = h.row(0).to_owned();
            h.row_mut(1).assign(&r0);
        }
        for (normalize, metric, weight) in combos() {
            let o = opts(normalize, metric, weight);
            let what = format!("dup={dup} {normalize} {metric} lambda={weight}");
            let out = pdm_loss_sampled(x.view(), h.view(), Some(g.view()), &o, &pairs).unwrap();
            assert!(out.loss > 1e-6, "{what}: loss {}", out.loss);
            let h0: Vec<f64> = h.iter().copied().collect();
            let mut f = |hv: &[f64]| {
                let hm = Array2::from_shape_vec((b, 5), hv.to_vec()).unwrap();
                pdm_loss_sampled(x.view(), hm.view(), Some(g.view()), &o, &pairs)
                    .unwrap()
                    .loss
            };
            let analytic: Vec<f64> = out.grad_output.iter().copied().collect();
            assert_grad_close(&format!("{what} dH"), &mut f, &h0, &analytic, 1e-5);
        }
    }
}

/// Relative agreement of two results: loss and diagnostic within `rtol` relative, every
/// gradient component within `rtol` of the largest one. Returns the worst relative error.
fn assert_same(what: &str, a: &LocalLoss<f64>, b: &LocalLoss<f64>, rtol: f64) -> f64 {
    let rel =
        |u: f64, v: f64, scale: f64| (u - v).abs() / scale.max(v.abs()).max(f64::MIN_POSITIVE);
    let e_loss = rel(a.loss, b.loss, 0.0);
    assert!(e_loss <= rtol, "{what}: loss {} vs {}", a.loss, b.loss);
    let e_dist = rel(a.mean_output_distance, b.mean_output_distance, 0.0);
    assert!(
        e_dist <= rtol,
        "{what}: mean distance {} vs {}",
        a.mean_output_distance,
        b.mean_output_distance
    );
    let scale = b.grad_output.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(scale > 0.0, "{what}: zero gradient");
    let mut worst = e_loss.max(e_dist);
    for (k, (u, v)) in a.grad_output.iter().zip(b.grad_output.iter()).enumerate() {
        let e = rel(*u, *v, scale);
        assert!(e <= rtol, "{what}: grad[{k}] {u} vs {v}");
        worst = worst.max(e);
    }
    worst
}

/// (b) On the full set of ordered pairs, `pdm_loss_sampled` is `pdm_loss` (loss, gradient
/// and diagnostic within 1e-12 relative in f64), for every option combination; and a
/// rule with `k = B - 1` draws exactly that set (in another order).
///
/// A batch with two coincident rows is held to 1e-10 only: there `pdm_loss`'s Gram-identity
/// squared distance is a rounding residue (~1e-16) instead of the exact 0, which
/// `sqrt(s + eps)` turns into a relative change of ~1e-8 of a distance of 1e-4.
#[test]
fn full_pair_set_equals_pdm_loss() {
    let mut worst = [0.0f64; 2];
    for (b, dup) in [(9usize, false), (16, false), (9, true), (2, false)] {
        let rtol = if dup { 1e-10 } else { 1e-12 };
        let mut x = random(b, 4, 11);
        if dup {
            let r0 = x.row(0).to_owned();
            x.row_mut(2).assign(&r0);
        }
        let layer = Dense::<f64>::orthogonal(4, 6, 1.3, Activation::Tanh, &mut rng_from_seed(3));
        let h = layer.forward(x.view());
        let g = Array1::from_shape_fn(b, |i| (i as f64 * 1.3).cos());
        let pairs = all_ordered_pairs(b);
        for (normalize, metric, weight) in combos() {
            let o = opts(normalize, metric, weight);
            let what = format!("B={b} dup={dup} {normalize} {metric} lambda={weight}");
            let full = pdm_loss(x.view(), h.view(), Some(g.view()), &o).unwrap();
            let sampled = pdm_loss_sampled(x.view(), h.view(), Some(g.view()), &o, &pairs).unwrap();
            if b == 2 && normalize != Normalize::None {
                // One pair: normalised distance 1, loss and gradient 0 in both.
                assert!(
                    full.loss.abs() < 1e-12 && sampled.loss.abs() < 1e-12,
                    "{what}"
                );
                continue;
            }
            let e = assert_same(&what, &sampled, &full, rtol);
            let mut rule = Pdm::with_seed(
                PdmOptions {
                    pairs: Pairs::Sampled { k: b - 1 },
                    ..o
                },
                4,
            )
            .unwrap();
            let drawn = rule
                .loss_and_grad(x.view(), h.view(), Some(g.view()))
                .unwrap();
            let e2 = assert_same(&format!("{what} k=B-1"), &drawn, &full, rtol);
            worst[usize::from(dup)] = worst[usize::from(dup)].max(e).max(e2);
        }
    }
    println!(
        "worst relative difference to pdm_loss: {:.2e} (distinct rows), {:.2e} (coincident rows)",
        worst[0], worst[1]
    );
}

/// Flattened dL/dH.
fn flat(a: &Array2<f64>) -> Array1<f64> {
    Array1::from_iter(a.iter().copied())
}

/// (c) Over 2000 draws with k = 8 on a fixed batch (B = 64, d = 8, default options:
/// mean normalisation), the mean sampled loss is within 2% of the full loss, and the mean
/// sampled gradient points the way of the full one. With `normalize = "none"` (an exactly
/// unbiased estimator) the same holds more tightly.
#[test]
fn sampled_loss_is_nearly_unbiased() {
    let (b, d, k, draws) = (64usize, 8usize, 8usize, 2000usize);
    let x = random(b, d, 21);
    let layer = Dense::<f64>::orthogonal(d, d, 1.5, Activation::Tanh, &mut rng_from_seed(22));
    let h = layer.forward(x.view());
    for (normalize, tol) in [(Normalize::Mean, 0.02), (Normalize::None, 0.01)] {
        let base = PdmOptions {
            normalize,
            ..PdmOptions::default()
        };
        let full = pdm_loss(x.view(), h.view(), None, &base).unwrap();
        let mut rule = Pdm::with_seed(
            PdmOptions {
                pairs: Pairs::Sampled { k },
                ..base
            },
            23,
        )
        .unwrap();
        let mut loss_sum = 0.0;
        let mut grad_sum = Array1::<f64>::zeros(b * d);
        for _ in 0..draws {
            let out = rule.loss_and_grad(x.view(), h.view(), None).unwrap();
            loss_sum += out.loss;
            grad_sum += &flat(&out.grad_output);
        }
        let ratio = loss_sum / draws as f64 / full.loss;
        let mean_grad = grad_sum / draws as f64;
        let full_grad = flat(&full.grad_output);
        let cosine = mean_grad.dot(&full_grad)
            / (mean_grad.dot(&mean_grad).sqrt() * full_grad.dot(&full_grad).sqrt());
        let grad_rel = (&mean_grad - &full_grad).mapv(|v| v * v).sum().sqrt()
            / full_grad.dot(&full_grad).sqrt();
        println!(
            "{normalize}: full loss {:.6e}, mean sampled / full = {ratio:.5}, gradient cosine {cosine:.5}, relative error {grad_rel:.4}",
            full.loss
        );
        assert!((ratio - 1.0).abs() < tol, "{normalize}: ratio {ratio}");
        assert!(cosine > 0.99, "{normalize}: gradient cosine {cosine}");
    }
}

fn sampled_rule(seed: u64, k: usize) -> Pdm {
    Pdm::with_seed(
        PdmOptions {
            pairs: Pairs::Sampled { k },
            guidance_weight: 0.3,
            ..PdmOptions::default()
        },
        seed,
    )
    .unwrap()
}

fn three_calls(
    rule: &mut Pdm,
    x: ArrayView2<f64>,
    h: ArrayView2<f64>,
    g: ArrayView1<f64>,
) -> Vec<LocalLoss<f64>> {
    (0..3)
        .map(|_| rule.loss_and_grad(x, h, Some(g)).unwrap())
        .collect()
}

/// (d) The same seed gives identical results call after call; another seed differs;
/// consecutive calls draw fresh pairs; the draws are valid (k distinct partners != i).
#[test]
fn sampling_is_deterministic_per_seed() {
    let (b, k) = (32usize, 4usize);
    let x = random(b, 5, 31);
    let layer = Dense::<f64>::orthogonal(5, 7, 1.0, Activation::Tanh, &mut rng_from_seed(32));
    let h = layer.forward(x.view());
    let g = Array1::from_shape_fn(b, |i| (i as f64).sqrt());
    let a = three_calls(&mut sampled_rule(7, k), x.view(), h.view(), g.view());
    let same = three_calls(&mut sampled_rule(7, k), x.view(), h.view(), g.view());
    let other = three_calls(&mut sampled_rule(8, k), x.view(), h.view(), g.view());
    assert_eq!(a, same, "same seed, same results");
    for (u, v) in a.iter().zip(&other) {
        assert_ne!(
            u.loss, v.loss,
            "different seeds should draw different pairs"
        );
    }
    assert_ne!(a[0].loss, a[1].loss, "fresh pairs on every call");

    let mut rng = rng_from_seed(1);
    let pairs = sample_pairs(&mut rng, b, k).unwrap();
    assert_eq!(pairs.len(), b * k);
    for (i, row) in pairs.chunks(k).enumerate() {
        let mut js: Vec<usize> = row
            .iter()
            .map(|&(ii, j)| {
                assert_eq!(ii, i);
                assert!(j != i && j < b, "bad partner {j} of {i}");
                j
            })
            .collect();
        js.sort_unstable();
        js.dedup();
        assert_eq!(js.len(), k, "row {i}: partners repeat");
    }
    // k = B - 1: every other row exactly once.
    let pairs = sample_pairs(&mut rng, 5, 4).unwrap();
    let mut sorted = pairs.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, all_ordered_pairs(5));
}

/// The default `pairs = "all"` does not touch the RNG: results do not depend on the seed.
#[test]
fn all_pairs_ignore_the_seed() {
    let x = random(10, 3, 41);
    let h = x.mapv(f64::tanh);
    let mut a = Pdm::with_seed(PdmOptions::default(), 1).unwrap();
    let mut b = Pdm::with_seed(PdmOptions::default(), 2).unwrap();
    let ra = a.loss_and_grad(x.view(), h.view(), None).unwrap();
    let rb = b.loss_and_grad(x.view(), h.view(), None).unwrap();
    assert_eq!(ra, rb);
    assert_eq!(
        ra,
        pdm_loss(x.view(), h.view(), None, &PdmOptions::default()).unwrap()
    );
}

/// (e) Invalid `k` and pair sets are clear errors.
#[test]
fn invalid_sampling_is_an_error() {
    let err = Pdm::new(PdmOptions {
        pairs: Pairs::Sampled { k: 0 },
        ..PdmOptions::default()
    })
    .unwrap_err();
    assert!(
        matches!(err, LocalLossError::InvalidOption { name, .. } if name.contains("pairs.sampled.k")),
        "{err}"
    );

    let x = random(6, 3, 1);
    for k in [6usize, 7, 100] {
        let mut rule = sampled_rule(0, k);
        let err = rule.loss_and_grad(x.view(), x.view(), None).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("pairs.sampled.k")
                && msg.contains("6 rows")
                && msg.contains(&k.to_string()),
            "{msg}"
        );
    }
    // k = B - 1 is fine; shape errors come before the k check.
    assert!(
        sampled_rule(0, 5)
            .loss_and_grad(x.view(), x.view(), None)
            .is_ok()
    );
    let one = random(1, 3, 1);
    assert_eq!(
        sampled_rule(0, 1)
            .loss_and_grad(one.view(), one.view(), None)
            .unwrap_err(),
        LocalLossError::BatchTooSmall(1)
    );
    let h = random(5, 3, 1);
    assert!(matches!(
        sampled_rule(0, 2).loss_and_grad(x.view(), h.view(), None),
        Err(LocalLossError::BatchMismatch { .. })
    ));

    let o = PdmOptions::default();
    for bad in [vec![], vec![(0, 1), (2, 2)], vec![(0, 6)], vec![(9, 1)]] {
        let err = pdm_loss_sampled(x.view(), x.view(), None, &o, &bad).unwrap_err();
        assert!(err.to_string().contains("pdm.pairs"), "{bad:?}: {err}");
    }
    let mut rng = rng_from_seed(0);
    assert!(sample_pairs(&mut rng, 4, 0).is_err());
    assert!(sample_pairs(&mut rng, 4, 4).is_err());
}

/// Serde names as in configs; unknown fields stay errors.
#[test]
fn options_serde_names() {
    let o: PdmOptions =
        serde_json::from_str(r#"{"pairs": {"sampled": {"k": 32}}, "target": "observation"}"#)
            .unwrap();
    assert_eq!(o.pairs, Pairs::Sampled { k: 32 });
    assert_eq!(o.target, Target::Observation);
    let o: PdmOptions =
        serde_json::from_str(r#"{"pairs": "all", "target": "layer_input"}"#).unwrap();
    assert_eq!(o, PdmOptions::default());
    let o: PdmOptions = serde_json::from_str("{}").unwrap();
    assert_eq!((o.pairs, o.target), (Pairs::All, Target::LayerInput));
    let text = serde_json::to_string(&PdmOptions {
        pairs: Pairs::Sampled { k: 4 },
        ..PdmOptions::default()
    })
    .unwrap();
    assert!(text.contains(r#""pairs":{"sampled":{"k":4}}"#), "{text}");
    assert!(text.contains(r#""target":"layer_input""#), "{text}");
    for bad in [
        r#"{"pairs": "some"}"#,
        r#"{"pairs": {"sampled": {"k": 3, "n": 1}}}"#,
        r#"{"pairs": {"sampled": {}}}"#,
        r#"{"target": "obs"}"#,
        r#"{"targets": "observation"}"#,
    ] {
        assert!(serde_json::from_str::<PdmOptions>(bad).is_err(), "{bad}");
    }
    assert_eq!(
        "observation".parse::<Target>().unwrap(),
        Target::Observation
    );
    assert_eq!(Target::LayerInput.to_string(), "layer_input");
    assert_eq!(Pairs::Sampled { k: 3 }.to_string(), "sampled(k = 3)");
    assert!(
        "raw"
            .parse::<Target>()
            .unwrap_err()
            .to_string()
            .contains("target")
    );
}

/// A rule without a `target` opinion asks for the layer input.
struct Null;

impl LocalRule<f64> for Null {
    fn name(&self) -> &str {
        "null"
    }
    fn uses_guidance(&self) -> bool {
        false
    }
    fn loss_and_grad(
        &mut self,
        _input: ArrayView2<f64>,
        output: ArrayView2<f64>,
        _guidance: Option<ArrayView1<f64>>,
    ) -> Result<LocalLoss<f64>, LocalLossError> {
        Ok(LocalLoss {
            loss: 0.0,
            grad_output: Array2::zeros(output.dim()),
            mean_output_distance: 0.0,
        })
    }
}

/// `LocalRule::target`: the default is the layer input, `Pdm` reports its option.
#[test]
fn rules_report_their_target() {
    let rules: Vec<Box<dyn LocalRule<f64>>> = vec![
        Box::new(Null),
        Box::new(Pdm::default()),
        Box::new(
            Pdm::new(PdmOptions {
                target: Target::Observation,
                ..PdmOptions::default()
            })
            .unwrap(),
        ),
    ];
    let got: Vec<Target> = rules.iter().map(|r| r.target()).collect();
    assert_eq!(
        got,
        [Target::LayerInput, Target::LayerInput, Target::Observation]
    );
}
