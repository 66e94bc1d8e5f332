//! The PPO loss for a categorical policy and a value function, with its analytic
//! gradient with respect to the policy logits and the values.

use crate::categorical::{entropy, log_softmax};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, NdFloat};
use pdmrl_tensor::cast;

/// Coefficients of the PPO loss (CleanRL `ppo.py` names and defaults).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PpoLossCoefs {
    /// Surrogate clipping coefficient (`clip_coef`, 0.2).
    pub clip_coef: f64,
    /// Clip the value loss as PPO2 does (`clip_vloss`, true).
    pub clip_vloss: bool,
    /// Entropy bonus coefficient (`ent_coef`, 0.01).
    pub ent_coef: f64,
    /// Value loss coefficient (`vf_coef`, 0.5).
    pub vf_coef: f64,
}

/// One minibatch of rollout data, rows aligned with the logits and values.
#[derive(Debug, Clone, Copy)]
pub struct PpoBatch<'a, A> {
    /// Actions taken, `[batch]`.
    pub actions: &'a [usize],
    /// Log-probabilities of the actions under the rollout policy, `[batch]`.
    pub old_logprobs: ArrayView1<'a, A>,
    /// Advantages, already normalised if `norm_adv`, `[batch]`.
    pub advantages: ArrayView1<'a, A>,
    /// Value targets (GAE returns), `[batch]`.
    pub returns: ArrayView1<'a, A>,
    /// Values under the rollout critic, `[batch]`.
    pub old_values: ArrayView1<'a, A>,
}

/// The loss, its parts (CleanRL's logged diagnostics) and its gradient.
#[derive(Debug, Clone)]
pub struct PpoLoss<A> {
    /// `pg_loss - ent_coef * entropy + vf_coef * v_loss`.
    pub loss: A,
    /// Clipped surrogate policy loss.
    pub pg_loss: A,
    /// Value loss (`0.5 * mean(max(unclipped, clipped))`, or `0.5 * mean(sq err)`).
    pub v_loss: A,
    /// Mean policy entropy (nats).
    pub entropy: A,
    /// `mean(-logratio)` (CleanRL's `old_approx_kl`).
    pub old_approx_kl: A,
    /// `mean((ratio - 1) - logratio)` (CleanRL's `approx_kl`, Schulman's k3 estimator).
    pub approx_kl: A,
    /// Fraction of samples with `|ratio - 1| > clip_coef`.
    pub clipfrac: A,
    /// dLoss/dlogits `[batch, n_actions]`.
    pub grad_logits: Array2<A>,
    /// dLoss/dvalues `[batch]`.
    pub grad_values: Array1<A>,
}

/// The PPO loss of CleanRL's `ppo.py` on one minibatch and its exact gradient:
///
/// ```text
/// ratio  = exp(logp(a) - old_logp)
/// pg     = mean(max(-A ratio, -A clamp(ratio, 1 - c, 1 + c)))
/// v      = 0.5 mean(max((v - R)^2, (v_old + clamp(v - v_old, -c, c) - R)^2))   (clip_vloss)
/// loss   = pg - ent_coef mean(H) + vf_coef v
/// ```
///
/// Where `max` has a tie, the gradient is shared equally between its arguments and
/// `clamp` passes the gradient on its closed interval, as PyTorch's autograd does.
/// `logits: [batch, n_actions]`, `values: [batch]`.
///
/// # Panics
/// If the row counts differ or an action is out of range.
pub fn ppo_loss<A: NdFloat>(
    logits: ArrayView2<A>,
    values: ArrayView1<A>,
    batch: &PpoBatch<A>,
    coefs: &PpoLossCoefs,
) -> PpoLoss<A> {
    let n = logits.nrows();
    assert_eq!(values.len(), n, "ppo_loss: values rows");
    assert_eq!(batch.actions.len(), n, "ppo_loss: actions rows");
    let inv_n = A::one() / cast::<A>(n as f64);
    let half: A = cast(0.5);
    let clip: A = cast(coefs.clip_coef);
    let (lo, hi) = (A::one() - clip, A::one() + clip);
    let ent_coef: A = cast(coefs.ent_coef);
    let vf_coef: A = cast(coefs.vf_coef);

    let logp = log_softmax(logits);
    let ent = entropy(logp.view());
    let mut grad_logits = Array2::<A>::zeros(logits.raw_dim());
    let mut grad_values = Array1::<A>::zeros(n);
    let (mut pg_sum, mut v_sum, mut old_kl, mut kl, mut clipped) =
        (A::zero(), A::zero(), A::zero(), A::zero(), A::zero());

    for i in 0..n {
        let a = batch.actions[i];
        let adv = batch.advantages[i];
        let logratio = logp[[i, a]] - batch.old_logprobs[i];
        let ratio = logratio.exp();
        old_kl += -logratio;
        kl += (ratio - A::one()) - logratio;
        if (ratio - A::one()).abs() > clip {
            clipped += A::one();
        }
        // Policy: l = max(p1, p2), p1 = -A r, p2 = -A clamp(r).
        let r_clamped = ratio.max(lo).min(hi);
        let (p1, p2) = (-adv * ratio, -adv * r_clamped);
        pg_sum += p1.max(p2);
        let clamp_pass = if ratio >= lo && ratio <= hi {
            A::one()
        } else {
            A::zero()
        };
        let dl_dr = if p1 > p2 {
            -adv
        } else if p2 > p1 {
            -adv * clamp_pass
        } else {
            half * (-adv) + half * (-adv * clamp_pass)
        };
        // d ratio / d logp(a) = ratio; d logp(a) / d z_k = [k = a] - p_k.
        let dlogp = dl_dr * ratio * inv_n;
        // Entropy: dH/dz_k = -p_k (log p_k + H); loss term -ent_coef * mean(H).
        let h = ent[i];
        for k in 0..logits.ncols() {
            let p = logp[[i, k]].exp();
            let onehot = if k == a { A::one() } else { A::zero() };
            let dh = -p * (logp[[i, k]] + h);
            grad_logits[[i, k]] = dlogp * (onehot - p) - ent_coef * inv_n * dh;
        }
        // Value.
        let v = values[i];
        let ret = batch.returns[i];
        let dv = if coefs.clip_vloss {
            let v_old = batch.old_values[i];
            let diff = v - v_old;
            let v_clipped = v_old + diff.max(-clip).min(clip);
            let (u, c) = ((v - ret) * (v - ret), (v_clipped - ret) * (v_clipped - ret));
            v_sum += u.max(c);
            let pass = if diff >= -clip && diff <= clip {
                A::one()
            } else {
                A::zero()
            };
            let (du, dc) = (
                cast::<A>(2.0) * (v - ret),
                cast::<A>(2.0) * (v_clipped - ret) * pass,
            );
            if u > c {
                du
            } else if c > u {
                dc
            } else {
                half * du + half * dc
            }
        } else {
            v_sum += (v - ret) * (v - ret);
            cast::<A>(2.0) * (v - ret)
        };
        grad_values[i] = vf_coef * half * dv * inv_n;
    }
    let pg_loss = pg_sum * inv_n;
    let v_loss = half * v_sum * inv_n;
    let mean_ent = ent.sum() * inv_n;
    PpoLoss {
        loss: pg_loss - ent_coef * mean_ent + vf_coef * v_loss,
        pg_loss,
        v_loss,
        entropy: mean_ent,
        old_approx_kl: old_kl * inv_n,
        approx_kl: kl * inv_n,
        clipfrac: clipped * inv_n,
        grad_logits,
        grad_values,
    }
}

/// CleanRL's minibatch advantage normalisation `(A - mean) / (std + 1e-8)` with the
/// unbiased standard deviation (`torch.Tensor.std`). A minibatch of one sample, or of
/// equal advantages, gives all-zero advantages (PyTorch would give NaN for one sample).
pub fn normalize_advantages(adv: &mut Array1<f32>) {
    let n = adv.len();
    if n == 0 {
        return;
    }
    let mean = adv.sum() / n as f32;
    let std = if n > 1 {
        (adv.iter().map(|a| (a - mean) * (a - mean)).sum::<f32>() / (n - 1) as f32).sqrt()
    } else {
        0.0
    };
    adv.mapv_inplace(|a| (a - mean) / (std + 1e-8));
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use pdmrl_tensor::gradcheck::assert_grad_close;
    use rand::Rng;

    fn check(coefs: PpoLossCoefs, seed: u64) {
        let mut rng = pdmrl_tensor::rng_from_seed(seed);
        let (n, k) = (12, 3);
        let logits = Array2::from_shape_fn((n, k), |_| rng.random_range(-1.0..1.0));
        let values = Array1::from_shape_fn(n, |_| rng.random_range(-2.0..2.0));
        let actions: Vec<usize> = (0..n).map(|i| i % k).collect();
        let logp = log_softmax(logits.view());
        // Old log-probs shifted so that ratios spread over [0.5, 1.6]: some clipped.
        let old = Array1::from_shape_fn(n, |i| logp[[i, actions[i]]] - ((i as f64) / 11.0 - 0.4));
        let adv = Array1::from_shape_fn(n, |i| {
            if i % 2 == 0 {
                1.0 + i as f64 * 0.1
            } else {
                -0.7
            }
        });
        let ret = Array1::from_shape_fn(n, |_| rng.random_range(-2.0..2.0));
        let old_v = Array1::from_shape_fn(n, |i| values[i] + if i % 3 == 0 { 0.5 } else { -0.05 });
        let batch = PpoBatch {
            actions: &actions,
            old_logprobs: old.view(),
            advantages: adv.view(),
            returns: ret.view(),
            old_values: old_v.view(),
        };
        let out = ppo_loss(logits.view(), values.view(), &batch, &coefs);
        assert!(
            out.clipfrac > 0.0 && out.clipfrac < 1.0,
            "test point must mix clipped and unclipped"
        );
        let x0: Vec<f64> = logits.iter().copied().collect();
        let mut f = |x: &[f64]| {
            let l = Array2::from_shape_vec((n, k), x.to_vec()).unwrap();
            ppo_loss(l.view(), values.view(), &batch, &coefs).loss
        };
        let g: Vec<f64> = out.grad_logits.iter().copied().collect();
        assert_grad_close("dloss/dlogits", &mut f, &x0, &g, 1e-6);
        let v0 = values.to_vec();
        let mut fv = |v: &[f64]| {
            let vv = Array1::from(v.to_vec());
            ppo_loss(logits.view(), vv.view(), &batch, &coefs).loss
        };
        assert_grad_close(
            "dloss/dvalues",
            &mut fv,
            &v0,
            &out.grad_values.to_vec(),
            1e-6,
        );
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let coefs = PpoLossCoefs {
            clip_coef: 0.2,
            clip_vloss: true,
            ent_coef: 0.01,
            vf_coef: 0.5,
        };
        check(coefs, 1);
        check(
            PpoLossCoefs {
                clip_vloss: false,
                ent_coef: 0.3,
                ..coefs
            },
            2,
        );
    }

    #[test]
    fn loss_parts_by_hand() {
        // One sample, two actions, equal logits: p = 0.5, H = ln 2. ratio = 1 (old = ln .5).
        let logits = array![[0.0f64, 0.0]];
        let values = array![1.0f64];
        let old = array![0.5f64.ln()];
        let adv = array![2.0f64];
        let ret = array![3.0f64];
        let old_v = array![1.0f64];
        let batch = PpoBatch {
            actions: &[1],
            old_logprobs: old.view(),
            advantages: adv.view(),
            returns: ret.view(),
            old_values: old_v.view(),
        };
        let coefs = PpoLossCoefs {
            clip_coef: 0.2,
            clip_vloss: true,
            ent_coef: 0.01,
            vf_coef: 0.5,
        };
        let out = ppo_loss(logits.view(), values.view(), &batch, &coefs);
        assert!((out.pg_loss - (-2.0)).abs() < 1e-12);
        assert!((out.v_loss - 2.0).abs() < 1e-12); // 0.5 * (1 - 3)^2
        assert!((out.entropy - 2f64.ln()).abs() < 1e-12);
        assert!((out.loss - (-2.0 - 0.01 * 2f64.ln() + 1.0)).abs() < 1e-12);
        assert_eq!(out.approx_kl, 0.0);
        assert_eq!(out.clipfrac, 0.0);
    }

    #[test]
    fn advantage_normalisation_edge_cases() {
        let mut one = array![5.0f32];
        normalize_advantages(&mut one);
        assert_eq!(one, array![0.0]);
        let mut equal = array![2.0f32, 2.0, 2.0];
        normalize_advantages(&mut equal);
        assert!(equal.iter().all(|&a| a == 0.0));
        let mut a = array![1.0f32, 2.0, 3.0];
        normalize_advantages(&mut a);
        assert!((a[0] + 1.0).abs() < 1e-6 && a[1].abs() < 1e-6 && (a[2] - 1.0).abs() < 1e-6);
    }
}
