//! Learning-rate schedules.

/// CleanRL's linear annealing (`ppo.py`, `anneal_lr`): at iteration `iteration`
/// (1-based) of `num_iterations`, `lr = (1 - (iteration - 1) / num_iterations) * lr0`.
/// The first iteration uses `lr0`; the last uses `lr0 / num_iterations`.
///
/// # Panics
/// If `num_iterations == 0` or `iteration` is 0.
pub fn linear_anneal(lr0: f64, iteration: usize, num_iterations: usize) -> f64 {
    assert!(
        num_iterations > 0 && iteration > 0,
        "linear_anneal: iterations are 1-based"
    );
    let frac = 1.0 - (iteration as f64 - 1.0) / num_iterations as f64;
    frac * lr0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anneals_linearly_from_lr0() {
        assert_eq!(linear_anneal(2.5e-4, 1, 4), 2.5e-4);
        assert!((linear_anneal(2.5e-4, 2, 4) - 1.875e-4).abs() < 1e-18);
        assert!((linear_anneal(2.5e-4, 4, 4) - 0.625e-4).abs() < 1e-18);
    }
}
