//! The categorical policy over discrete actions, from logits.

use ndarray::{Array1, Array2, ArrayView2, Axis, NdFloat};
use rand::Rng as _;

/// Row-wise `log_softmax` of `logits: [batch, n_actions]`, computed stably
/// (max-shifted), as `torch.distributions.Categorical(logits=...)` normalises them.
pub fn log_softmax<A: NdFloat>(logits: ArrayView2<A>) -> Array2<A> {
    let mut out = logits.to_owned();
    for mut row in out.axis_iter_mut(Axis(0)) {
        let max = row
            .iter()
            .fold(A::neg_infinity(), |m, &v| if v > m { v } else { m });
        let lse = row.iter().fold(A::zero(), |s, &v| s + (v - max).exp()).ln() + max;
        row.mapv_inplace(|v| v - lse);
    }
    out
}

/// Entropy `-sum_k p_k log p_k` of each row, `[batch]`, from log-probabilities.
pub fn entropy<A: NdFloat>(logp: ArrayView2<A>) -> Array1<A> {
    logp.map_axis(Axis(1), |row| {
        row.iter().fold(A::zero(), |s, &lp| s - lp.exp() * lp)
    })
}

/// Samples one action per row of `logp: [batch, n_actions]` by inverse CDF with one
/// uniform draw per row from `rng`.
pub fn sample(logp: ArrayView2<f32>, rng: &mut pdmrl_tensor::Rng) -> Vec<usize> {
    logp.axis_iter(Axis(0))
        .map(|row| {
            let u: f32 = rng.random();
            let mut acc = 0.0f32;
            let last = row.len() - 1;
            for (k, &lp) in row.iter().enumerate() {
                acc += lp.exp();
                if u < acc {
                    return k;
                }
            }
            last
        })
        .collect()
}

/// The most probable action of each row (deterministic evaluation).
pub fn argmax(logits: ArrayView2<f32>) -> Vec<usize> {
    logits
        .axis_iter(Axis(0))
        .map(|row| {
            row.iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| {
                    if v > bv { (i, v) } else { (bi, bv) }
                })
                .0
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn log_softmax_normalises_and_is_stable() {
        let logits = array![[1.0f64, 2.0, 3.0], [1000.0, 1000.0, -1000.0]];
        let lp = log_softmax(logits.view());
        for row in lp.axis_iter(Axis(0)) {
            let total: f64 = row.iter().map(|v| v.exp()).sum();
            assert!((total - 1.0).abs() < 1e-12);
        }
        assert!((lp[[1, 0]] - 0.5f64.ln()).abs() < 1e-12);
        let h = entropy(lp.view());
        assert!((h[1] - 2f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn sampling_follows_probabilities() {
        let logits = array![[0.0f32, (3.0f32).ln()]]; // p = [0.25, 0.75]
        let lp = log_softmax(logits.view());
        let mut rng = pdmrl_tensor::rng_from_seed(0);
        let n = 20_000;
        let ones: usize = (0..n).map(|_| sample(lp.view(), &mut rng)[0]).sum();
        let frac = ones as f64 / n as f64;
        assert!((frac - 0.75).abs() < 0.015, "{frac}");
        assert_eq!(argmax(logits.view()), vec![1]);
    }
}
