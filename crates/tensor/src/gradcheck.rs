//! Central finite differences, the check every analytic gradient in pdmrl passes.
//!
//! Used by the tests of this crate, `pdmrl-local-loss` and `pdmrl-agents`; compute in f64.

/// Central finite-difference gradient of `f` at `x`: `(f(x + h e_i) - f(x - h e_i)) / 2h`.
pub fn finite_difference(f: &mut dyn FnMut(&[f64]) -> f64, x: &[f64], h: f64) -> Vec<f64> {
    let mut x = x.to_vec();
    (0..x.len())
        .map(|i| {
            let x0 = x[i];
            x[i] = x0 + h;
            let fp = f(&x);
            x[i] = x0 - h;
            let fm = f(&x);
            x[i] = x0;
            (fp - fm) / (2.0 * h)
        })
        .collect()
}

/// Relative error `||a - b|| / max(||a||, ||b||, floor)` of two gradient vectors.
pub fn relative_error(analytic: &[f64], numeric: &[f64], floor: f64) -> f64 {
    assert_eq!(analytic.len(), numeric.len(), "gradient lengths differ");
    let diff: f64 = analytic
        .iter()
        .zip(numeric)
        .map(|(a, b)| (a - b) * (a - b))
        .sum::<f64>()
        .sqrt();
    let na = analytic.iter().map(|a| a * a).sum::<f64>().sqrt();
    let nb = numeric.iter().map(|b| b * b).sum::<f64>().sqrt();
    diff / na.max(nb).max(floor)
}

/// Asserts that `analytic` matches the central finite differences of `f` at `x` with
/// relative error below `tol` (norm-wise, see [`relative_error`]), and that the gradient is
/// not trivially zero (a check that cannot fail is a defect).
///
/// # Panics
/// With a message naming `what`, the error, and the worst component.
pub fn assert_grad_close(
    what: &str,
    f: &mut dyn FnMut(&[f64]) -> f64,
    x: &[f64],
    analytic: &[f64],
    tol: f64,
) {
    let numeric = finite_difference(f, x, 1e-6);
    let err = relative_error(analytic, &numeric, 1e-12);
    let norm = analytic.iter().map(|a| a * a).sum::<f64>().sqrt();
    assert!(
        norm > 1e-10,
        "{what}: analytic gradient is zero, the check would be vacuous"
    );
    let worst = analytic
        .iter()
        .zip(&numeric)
        .enumerate()
        .max_by(|a, b| {
            let ea = (a.1.0 - a.1.1).abs();
            let eb = (b.1.0 - b.1.1).abs();
            ea.total_cmp(&eb)
        })
        .map(|(i, (a, n))| format!("index {i}: analytic {a:e}, numeric {n:e}"))
        .unwrap_or_default();
    assert!(
        err < tol,
        "{what}: relative error {err:e} >= {tol:e}; worst {worst}"
    );
}
