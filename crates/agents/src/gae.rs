//! Generalised advantage estimation (Schulman et al., 2016) with terminated and truncated
//! episodes kept apart.

use ndarray::{Array2, ArrayView1, ArrayView2};

/// Advantages and returns of a rollout of `T` steps over `N` envs.
///
/// Inputs, all `[T, N]` except `last_value: [N]`:
/// * `rewards[t, i]`: reward of step `t` of env `i`;
/// * `values[t, i]`: `V(s_t)`;
/// * `ended[t, i]`: the episode ended at step `t` (terminated or truncated); the next row
///   belongs to a new episode and must not leak into this one;
/// * `bootstrap[t, i]`: for an ended step, the value that stands in for `V(s_{t+1})`:
///   0 for a terminated episode, `V(final observation)` for a truncated one (or 0 if
///   truncation is treated as termination). Ignored where `ended` is false;
/// * `last_value[i]`: `V(s_T)`, the observation after the rollout.
///
/// ```text
/// next_v  = bootstrap[t]        if ended[t]
///         = values[t+1]         else if t < T-1,   last_value if t = T-1
/// delta_t = r_t + gamma next_v - V(s_t)
/// A_t     = delta_t + gamma lambda (0 if ended[t] else A_{t+1})
/// R_t     = A_t + V(s_t)
/// ```
///
/// With `lambda = 1` the advantages are discounted returns minus values; with
/// `lambda = 0` they are the one-step TD errors. Returns `(advantages, returns)`, `[T, N]`.
///
/// # Panics
/// If the shapes disagree.
pub fn gae(
    rewards: ArrayView2<f32>,
    values: ArrayView2<f32>,
    ended: ArrayView2<bool>,
    bootstrap: ArrayView2<f32>,
    last_value: ArrayView1<f32>,
    gamma: f32,
    lambda: f32,
) -> (Array2<f32>, Array2<f32>) {
    let (t_len, n) = rewards.dim();
    assert_eq!(values.dim(), (t_len, n), "gae: values shape");
    assert_eq!(ended.dim(), (t_len, n), "gae: ended shape");
    assert_eq!(bootstrap.dim(), (t_len, n), "gae: bootstrap shape");
    assert_eq!(last_value.len(), n, "gae: last_value shape");
    let mut adv = Array2::<f32>::zeros((t_len, n));
    for i in 0..n {
        let mut next_adv = 0.0f32;
        for t in (0..t_len).rev() {
            let (next_v, carry) = if ended[[t, i]] {
                (bootstrap[[t, i]], 0.0)
            } else if t + 1 < t_len {
                (values[[t + 1, i]], next_adv)
            } else {
                (last_value[i], next_adv)
            };
            let delta = rewards[[t, i]] + gamma * next_v - values[[t, i]];
            next_adv = delta + gamma * lambda * carry;
            adv[[t, i]] = next_adv;
        }
    }
    let returns = &adv + &values;
    (adv, returns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, array};

    /// Two episodes in one env: step 1 truncated (bootstrap V(final obs) = 5), step 3
    /// terminated; rewards 1, V = 5, gamma = lambda = 1. Episode one: A = [2, 1]; episode
    /// two: A_2 = 1 + 0 - 5 + (1 + 0 - 5)... computed below, and nothing of episode two
    /// leaks into episode one.
    #[test]
    fn truncation_bootstraps_and_episodes_do_not_leak() {
        let rewards = Array2::from_elem((4, 1), 1.0f32);
        let values = Array2::from_elem((4, 1), 5.0f32);
        let ended = array![[false], [true], [false], [true]];
        let bootstrap = array![[0.0f32], [5.0], [0.0], [0.0]];
        let (adv, ret) = gae(
            rewards.view(),
            values.view(),
            ended.view(),
            bootstrap.view(),
            Array1::from_elem(1, 123.0).view(),
            1.0,
            1.0,
        );
        // Episode one: step 1: 1 + 5 - 5 = 1; step 0: (1 + 5 - 5) + 1 = 2.
        assert_eq!(adv[[1, 0]], 1.0);
        assert_eq!(adv[[0, 0]], 2.0);
        // Episode two: step 3 terminated: 1 + 0 - 5 = -4; step 2: (1 + 5 - 5) - 4 = -3.
        assert_eq!(adv[[3, 0]], -4.0);
        assert_eq!(adv[[2, 0]], -3.0);
        assert_eq!(ret[[0, 0]], 7.0);
        // Changing episode two's rewards leaves episode one alone.
        let rewards2 = array![[1.0f32], [1.0], [100.0], [100.0]];
        let (adv2, _) = gae(
            rewards2.view(),
            values.view(),
            ended.view(),
            bootstrap.view(),
            Array1::from_elem(1, 123.0).view(),
            1.0,
            1.0,
        );
        assert_eq!(
            adv2.slice(ndarray::s![..2, ..]),
            adv.slice(ndarray::s![..2, ..])
        );
    }

    #[test]
    fn lambda_one_is_returns_minus_values_and_zero_is_td_error() {
        let rewards = array![[1.0f32, 0.5], [2.0, -1.0], [0.5, 3.0]];
        let values = array![[0.3f32, 0.1], [0.7, -0.2], [1.1, 0.4]];
        let ended = Array2::from_elem((3, 2), false);
        let bootstrap = Array2::zeros((3, 2));
        let last = array![0.9f32, -0.5];
        let g = 0.9f32;
        let (adv1, _) = gae(
            rewards.view(),
            values.view(),
            ended.view(),
            bootstrap.view(),
            last.view(),
            g,
            1.0,
        );
        let (adv0, _) = gae(
            rewards.view(),
            values.view(),
            ended.view(),
            bootstrap.view(),
            last.view(),
            g,
            0.0,
        );
        for i in 0..2 {
            let mut ret = last[i];
            for t in (0..3).rev() {
                ret = rewards[[t, i]] + g * ret;
                assert!((adv1[[t, i]] - (ret - values[[t, i]])).abs() < 1e-5);
                let next_v = if t == 2 { last[i] } else { values[[t + 1, i]] };
                let td = rewards[[t, i]] + g * next_v - values[[t, i]];
                assert!((adv0[[t, i]] - td).abs() < 1e-6);
            }
        }
    }
}
