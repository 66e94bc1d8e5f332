//! Global gradient-norm clipping.

use ndarray::NdFloat;

/// PyTorch's `torch.nn.utils.clip_grad_norm_(params, max_norm)` with the L2 norm:
/// `total = sqrt(sum_k ||g_k||^2)` over all tensors, `coef = max_norm / (total + 1e-6)`,
/// and every gradient is multiplied by `min(coef, 1)`. Returns `total` (before clipping).
/// A non-finite total is returned as is and the gradients are scaled by a non-finite
/// factor, as PyTorch does with `error_if_nonfinite = False`; callers check it.
pub fn clip_grad_norm<A: NdFloat>(grads: &mut [&mut [A]], max_norm: f64) -> A {
    let total_sq: A = grads
        .iter()
        .map(|g| g.iter().fold(A::zero(), |s, &x| s + x * x))
        .fold(A::zero(), |s, x| s + x);
    let total = total_sq.sqrt();
    let coef: A = crate::cast::<A>(max_norm) / (total + crate::cast(1e-6));
    let coef = if coef < A::one() { coef } else { A::one() };
    for g in grads.iter_mut() {
        for x in g.iter_mut() {
            *x *= coef;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_scales_to_bound() {
        // Two tensors with total norm sqrt(9 + 16 + 144) = 13.
        let mut a = [3.0f64, 4.0];
        let mut b = [12.0f64];
        let total = clip_grad_norm(&mut [&mut a[..], &mut b[..]], 0.5);
        assert!((total - 13.0).abs() < 1e-12);
        let after = (a[0] * a[0] + a[1] * a[1] + b[0] * b[0]).sqrt();
        let want = 0.5 * 13.0 / (13.0 + 1e-6);
        assert!((after - want).abs() < 1e-12, "{after} vs {want}");
        assert!(after <= 0.5);
        // Direction kept.
        assert!((a[0] / b[0] - 0.25).abs() < 1e-12);
    }

    #[test]
    fn clip_leaves_small_gradients() {
        let mut a = [0.1f32, -0.2];
        let total = clip_grad_norm(&mut [&mut a[..]], 0.5);
        assert!((total - 0.05f32.sqrt()).abs() < 1e-7);
        assert_eq!(a, [0.1, -0.2]);
    }
}
