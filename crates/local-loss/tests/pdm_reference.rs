//! The PDM loss and gradients against the float64 PyTorch reference values in
//! `tests/fixtures/pdm/cases.json` (provenance: tests/fixtures/pdm/README.md).

use ndarray::{Array1, Array2, NdFloat};
use pdmrl_local_loss::{LocalRule, Metric, Normalize, Pdm, PdmOptions};
use pdmrl_tensor::{Activation, Dense};
use serde_json::Value;

fn matrix(v: &Value) -> Array2<f64> {
    let rows: Vec<Vec<f64>> = serde_json::from_value(v.clone()).unwrap();
    let (n, m) = (rows.len(), rows[0].len());
    Array2::from_shape_vec((n, m), rows.into_iter().flatten().collect()).unwrap()
}

fn vector(v: &Value) -> Array1<f64> {
    Array1::from(serde_json::from_value::<Vec<f64>>(v.clone()).unwrap())
}

fn cases() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/pdm/cases.json");
    let text = std::fs::read_to_string(path).expect("fixture cases.json");
    let all: Value = serde_json::from_str(&text).unwrap();
    all["cases"].as_array().unwrap().clone()
}

fn options(case: &Value) -> PdmOptions {
    let o = &case["options"];
    assert_eq!(o["target"], "layer_input");
    PdmOptions {
        normalize: o["normalize"]
            .as_str()
            .unwrap()
            .parse::<Normalize>()
            .unwrap(),
        metric: o["metric"].as_str().unwrap().parse::<Metric>().unwrap(),
        eps: case["eps"].as_f64().unwrap(),
        guidance_weight: o["guidance_weight"].as_f64().unwrap(),
        ..PdmOptions::default()
    }
}

/// Loss, grad_w, grad_b of one case computed in float type `A`.
fn compute<A: NdFloat>(case: &Value) -> (f64, Array2<f64>, Array1<f64>) {
    let to_a = |x: f64| pdmrl_tensor::cast::<A>(x);
    let x = matrix(&case["x"]).mapv(to_a);
    let layer = Dense::new(
        matrix(&case["w"]).mapv(to_a),
        vector(&case["b"]).mapv(to_a),
        Activation::Tanh,
    )
    .unwrap();
    let g = vector(&case["guidance_signal"]).mapv(to_a);
    let h = layer.forward(x.view());
    let mut rule = Pdm::new(options(case)).unwrap();
    let out = rule
        .loss_and_grad(x.view(), h.view(), Some(g.view()))
        .unwrap();
    let grads = layer.backward(x.view(), h.view(), out.grad_output.view(), false);
    assert!(grads.input.is_none());
    let f = |a: A| a.to_f64().unwrap();
    (f(out.loss), grads.weight.mapv(f), grads.bias.mapv(f))
}

fn rel_close(got: f64, want: f64, rtol: f64, scale: f64) -> bool {
    (got - want).abs() <= rtol * want.abs().max(scale)
}

fn check_all<A: NdFloat>(rtol: f64) {
    let cases = cases();
    assert_eq!(cases.len(), 25, "fixture must hold 25 cases");
    let mut seen = std::collections::BTreeSet::new();
    for (k, case) in cases.iter().enumerate() {
        let o = options(case);
        seen.insert((o.normalize.name(), o.metric.name(), o.guidance_weight > 0.0));
        let (loss, gw, gb) = compute::<A>(case);
        let want_loss = case["loss"].as_f64().unwrap();
        let want_gw = matrix(&case["grad_w"]);
        let want_gb = vector(&case["grad_b"]);
        // Gradient components are compared relative to the largest component of the
        // case, so that near-zero components do not demand absolute 1e-9 in f32.
        let gscale = want_gw
            .iter()
            .chain(want_gb.iter())
            .fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(
            rel_close(loss, want_loss, rtol, 0.0),
            "case {k} {o:?}: loss {loss} want {want_loss}"
        );
        for (i, (g, w)) in gw.iter().zip(want_gw.iter()).enumerate() {
            assert!(
                rel_close(*g, *w, rtol, gscale),
                "case {k} {o:?}: grad_w[{i}] {g} want {w}"
            );
        }
        for (i, (g, w)) in gb.iter().zip(want_gb.iter()).enumerate() {
            assert!(
                rel_close(*g, *w, rtol, gscale),
                "case {k} {o:?}: grad_b[{i}] {g} want {w}"
            );
        }
    }
    // Every normalize x metric x guidance combination was exercised.
    assert_eq!(seen.len(), 12);
}

#[test]
fn matches_reference_in_f64() {
    check_all::<f64>(1e-9);
}

#[test]
fn matches_reference_in_f32() {
    check_all::<f32>(1e-4);
}
