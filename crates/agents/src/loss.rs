//! The losses of the policy-gradient algorithms on one minibatch, for a categorical or a
//! diagonal Gaussian policy, with their exact gradients with respect to the policy head's
//! output, the log-std and the values.

use crate::policy::{ActionsView, backward, log_prob_entropy};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, NdFloat};
use pdmrl_tensor::cast;

/// The policy term of the loss.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PolicyObjective {
    /// PPO's clipped surrogate `mean(max(-A r, -A clamp(r, 1 - c, 1 + c)))`,
    /// `r = exp(logp - old_logp)` (Schulman et al., 2017; CleanRL `clip_coef` 0.2).
    Clipped {
        /// The clipping coefficient `c`.
        clip_coef: f64,
    },
    /// The vanilla policy gradient `-mean(A logp)` (REINFORCE, A2C).
    Vanilla,
}

/// Coefficients of the loss (CleanRL `ppo.py` names).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossCoefs {
    /// The policy term.
    pub objective: PolicyObjective,
    /// Clip the value loss around the old values by this much, as PPO2 does (CleanRL
    /// `clip_vloss` with `clip_coef`); `None` for the plain squared error.
    pub value_clip: Option<f64>,
    /// Entropy bonus coefficient (`ent_coef`).
    pub ent_coef: f64,
    /// Value loss coefficient (`vf_coef`).
    pub vf_coef: f64,
}

/// One minibatch of rollout data, rows aligned with the head outputs and values.
#[derive(Debug, Clone, Copy)]
pub struct LossBatch<'a, A> {
    /// Actions taken, `[batch]` or `[batch, dim]`.
    pub actions: ActionsView<'a, A>,
    /// Log-probabilities of the actions under the rollout policy, `[batch]`.
    pub old_logprobs: ArrayView1<'a, A>,
    /// Advantages (already normalised if `norm_adv`), `[batch]`.
    pub advantages: ArrayView1<'a, A>,
    /// Value targets, `[batch]`.
    pub returns: ArrayView1<'a, A>,
    /// Values under the rollout critic, `[batch]` (used by the value clip).
    pub old_values: ArrayView1<'a, A>,
}

/// The loss, its parts (CleanRL's logged diagnostics) and its gradient.
#[derive(Debug, Clone)]
pub struct AlgoLoss<A> {
    /// `pg_loss - ent_coef * entropy + vf_coef * v_loss`.
    pub loss: A,
    /// Policy loss (clipped surrogate or vanilla).
    pub pg_loss: A,
    /// Value loss `0.5 * mean(max(unclipped, clipped))`, or `0.5 * mean(sq err)`.
    pub v_loss: A,
    /// Mean policy entropy (nats).
    pub entropy: A,
    /// `mean(-logratio)` (CleanRL's `old_approx_kl`).
    pub old_approx_kl: A,
    /// `mean((ratio - 1) - logratio)` (CleanRL's `approx_kl`, Schulman's k3 estimator).
    pub approx_kl: A,
    /// Fraction of samples with `|ratio - 1| > clip_coef` (0 for the vanilla objective).
    pub clipfrac: A,
    /// dLoss/d(policy head output) `[batch, n_out]` (logits or Gaussian mean).
    pub grad_policy: Array2<A>,
    /// dLoss/dlog_std `[dim]` for a Gaussian policy.
    pub grad_log_std: Option<Array1<A>>,
    /// dLoss/dvalues `[batch]`.
    pub grad_values: Array1<A>,
}

/// The loss of one minibatch and its exact gradient:
///
/// ```text
/// ratio  = exp(logp(a) - old_logp)
/// pg     = mean(max(-A ratio, -A clamp(ratio, 1 - c, 1 + c)))     (Clipped)
///        = -mean(A logp(a))                                       (Vanilla)
/// v      = 0.5 mean(max((v - R)^2, (v_old + clamp(v - v_old, -c, c) - R)^2))   (value_clip)
///        = 0.5 mean((v - R)^2)                                    (otherwise)
/// loss   = pg - ent_coef mean(H) + vf_coef v
/// ```
///
/// Where `max` has a tie, the gradient is shared equally between its arguments and
/// `clamp` passes the gradient on its closed interval, as PyTorch's autograd does.
/// `out: [batch, n_out]` (logits, or the Gaussian mean with `log_std: [dim]`),
/// `values: [batch]`.
///
/// # Panics
/// If the row counts differ, an action is out of range, or a Gaussian has no log-std.
pub fn algo_loss<A: NdFloat>(
    out: ArrayView2<A>,
    log_std: Option<ArrayView1<A>>,
    values: ArrayView1<A>,
    batch: &LossBatch<A>,
    coefs: &LossCoefs,
) -> AlgoLoss<A> {
    let n = out.nrows();
    assert_eq!(values.len(), n, "algo_loss: values rows");
    let inv_n = A::one() / cast::<A>(n as f64);
    let half: A = cast(0.5);
    let ent_coef: A = cast(coefs.ent_coef);
    let vf_coef: A = cast(coefs.vf_coef);

    let (logp, ent) = log_prob_entropy(out, log_std, batch.actions);
    let mut dlogp = Array1::<A>::zeros(n);
    let mut grad_values = Array1::<A>::zeros(n);
    let (mut pg_sum, mut v_sum, mut old_kl, mut kl, mut clipped) =
        (A::zero(), A::zero(), A::zero(), A::zero(), A::zero());

    for i in 0..n {
        let adv = batch.advantages[i];
        let logratio = logp[i] - batch.old_logprobs[i];
        let ratio = logratio.exp();
        old_kl += -logratio;
        kl += (ratio - A::one()) - logratio;
        match coefs.objective {
            PolicyObjective::Clipped { clip_coef } => {
                let clip: A = cast(clip_coef);
                let (lo, hi) = (A::one() - clip, A::one() + clip);
                if (ratio - A::one()).abs() > clip {
                    clipped += A::one();
                }
                // l = max(p1, p2), p1 = -A r, p2 = -A clamp(r).
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
                // d ratio / d logp = ratio.
                dlogp[i] = dl_dr * ratio * inv_n;
            }
            PolicyObjective::Vanilla => {
                pg_sum += -adv * logp[i];
                dlogp[i] = -adv * inv_n;
            }
        }
        // Value.
        let v = values[i];
        let ret = batch.returns[i];
        let dv = if let Some(c) = coefs.value_clip {
            let clip: A = cast(c);
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
    // Entropy term -ent_coef * mean(H).
    let dent = Array1::from_elem(n, -ent_coef * inv_n);
    let (grad_policy, grad_log_std) =
        backward(out, log_std, batch.actions, dlogp.view(), dent.view());
    let pg_loss = pg_sum * inv_n;
    let v_loss = half * v_sum * inv_n;
    let mean_ent = ent.sum() * inv_n;
    AlgoLoss {
        loss: pg_loss - ent_coef * mean_ent + vf_coef * v_loss,
        pg_loss,
        v_loss,
        entropy: mean_ent,
        old_approx_kl: old_kl * inv_n,
        approx_kl: kl * inv_n,
        clipfrac: clipped * inv_n,
        grad_policy,
        grad_log_std,
        grad_values,
    }
}

/// CleanRL's minibatch advantage normalisation `(A - mean) / (std + 1e-8)` with the
/// unbiased standard deviation (`torch.Tensor.std`), accumulated in f64.
///
/// A minibatch of one sample, or of equal advantages, gives all-zero advantages: PyTorch
/// gives NaN for one sample, and for equal f32 values a mean rounded one ulp away would
/// turn rounding noise into advantages of order 1.
pub fn normalize_advantages(adv: &mut Array1<f32>) {
    let n = adv.len();
    let first = adv.first().copied();
    if n < 2 || adv.iter().all(|&a| Some(a) == first) {
        adv.fill(0.0);
        return;
    }
    let mean = adv.iter().map(|&a| f64::from(a)).sum::<f64>() / n as f64;
    let var = adv
        .iter()
        .map(|&a| (f64::from(a) - mean).powi(2))
        .sum::<f64>()
        / (n - 1) as f64;
    let std = var.sqrt();
    adv.mapv_inplace(|a| ((f64::from(a) - mean) / (std + 1e-8)) as f32);
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use pdmrl_tensor::gradcheck::assert_grad_close;
    use rand::Rng;

    const PPO: LossCoefs = LossCoefs {
        objective: PolicyObjective::Clipped { clip_coef: 0.2 },
        value_clip: Some(0.2),
        ent_coef: 0.01,
        vf_coef: 0.5,
    };

    /// Finite-difference check of every gradient at a point where some ratios are
    /// clipped and some are not; `gaussian` switches the policy.
    fn check(coefs: LossCoefs, gaussian: bool, seed: u64) {
        let mut rng = pdmrl_tensor::rng_from_seed(seed);
        let (n, k) = (12, if gaussian { 2 } else { 3 });
        let out = Array2::from_shape_fn((n, k), |_| rng.random_range(-1.0..1.0));
        let values = Array1::from_shape_fn(n, |_| rng.random_range(-2.0..2.0));
        let discrete: Vec<usize> = (0..n).map(|i| i % k).collect();
        let continuous = Array2::from_shape_fn((n, k), |_| rng.random_range(-1.5..1.5));
        let log_std = array![-0.2f64, 0.4];
        let ls = gaussian.then(|| log_std.view());
        let actions = if gaussian {
            ActionsView::Continuous(continuous.view())
        } else {
            ActionsView::Discrete(&discrete)
        };
        let (logp, _) = log_prob_entropy(out.view(), ls, actions);
        // Old log-probs shifted so that ratios spread over [0.67, 1.49]: some clipped.
        let old = Array1::from_shape_fn(n, |i| logp[i] - ((i as f64) / 11.0 - 0.4));
        let adv = Array1::from_shape_fn(n, |i| {
            if i % 2 == 0 {
                1.0 + i as f64 * 0.1
            } else {
                -0.7
            }
        });
        let ret = Array1::from_shape_fn(n, |_| rng.random_range(-2.0..2.0));
        let old_v = Array1::from_shape_fn(n, |i| values[i] + if i % 3 == 0 { 0.5 } else { -0.05 });
        let batch = LossBatch {
            actions,
            old_logprobs: old.view(),
            advantages: adv.view(),
            returns: ret.view(),
            old_values: old_v.view(),
        };
        let l = algo_loss(out.view(), ls, values.view(), &batch, &coefs);
        if let PolicyObjective::Clipped { .. } = coefs.objective {
            assert!(
                l.clipfrac > 0.0 && l.clipfrac < 1.0,
                "test point must mix clipped and unclipped"
            );
        }
        let x0: Vec<f64> = out.iter().copied().collect();
        let mut f = |x: &[f64]| {
            let o = Array2::from_shape_vec((n, k), x.to_vec()).unwrap();
            algo_loss(o.view(), ls, values.view(), &batch, &coefs).loss
        };
        let g: Vec<f64> = l.grad_policy.iter().copied().collect();
        assert_grad_close("dloss/dout", &mut f, &x0, &g, 1e-6);
        let mut fv = |v: &[f64]| {
            let vv = Array1::from(v.to_vec());
            algo_loss(out.view(), ls, vv.view(), &batch, &coefs).loss
        };
        let v0 = values.to_vec();
        assert_grad_close("dloss/dvalues", &mut fv, &v0, &l.grad_values.to_vec(), 1e-6);
        if gaussian {
            let mut fs = |x: &[f64]| {
                let s = Array1::from(x.to_vec());
                algo_loss(out.view(), Some(s.view()), values.view(), &batch, &coefs).loss
            };
            let gs = l
                .grad_log_std
                .clone()
                .expect("Gaussian has a log-std gradient");
            assert_grad_close(
                "dloss/dlog_std",
                &mut fs,
                &log_std.to_vec(),
                &gs.to_vec(),
                1e-6,
            );
        } else {
            assert!(l.grad_log_std.is_none());
        }
    }

    #[test]
    fn gradient_matches_finite_differences() {
        for gaussian in [false, true] {
            check(PPO, gaussian, 1);
            check(
                LossCoefs {
                    value_clip: None,
                    ent_coef: 0.3,
                    ..PPO
                },
                gaussian,
                2,
            );
            check(
                LossCoefs {
                    objective: PolicyObjective::Vanilla,
                    value_clip: None,
                    ..PPO
                },
                gaussian,
                3,
            );
        }
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
        let batch = LossBatch {
            actions: ActionsView::Discrete(&[1]),
            old_logprobs: old.view(),
            advantages: adv.view(),
            returns: ret.view(),
            old_values: old_v.view(),
        };
        let out = algo_loss(logits.view(), None, values.view(), &batch, &PPO);
        assert!((out.pg_loss - (-2.0)).abs() < 1e-12);
        assert!((out.v_loss - 2.0).abs() < 1e-12); // 0.5 * (1 - 3)^2
        assert!((out.entropy - 2f64.ln()).abs() < 1e-12);
        assert!((out.loss - (-2.0 - 0.01 * 2f64.ln() + 1.0)).abs() < 1e-12);
        assert_eq!(out.approx_kl, 0.0);
        assert_eq!(out.clipfrac, 0.0);
        // Vanilla: pg = -A logp = -2 ln 0.5.
        let vanilla = LossCoefs {
            objective: PolicyObjective::Vanilla,
            ..PPO
        };
        let out = algo_loss(logits.view(), None, values.view(), &batch, &vanilla);
        assert!((out.pg_loss - (-2.0 * 0.5f64.ln())).abs() < 1e-12);
    }

    /// Issue 5: advantage normalisation of a minibatch of size 1 or of equal advantages
    /// gives finite, zero advantages (PyTorch's unbiased std of one sample is NaN).
    #[test]
    fn advantage_normalisation_edge_cases() {
        let mut one = array![5.0f32];
        normalize_advantages(&mut one);
        assert_eq!(one, array![0.0]);
        let mut equal = array![2.0f32, 2.0, 2.0];
        normalize_advantages(&mut equal);
        assert!(equal.iter().all(|&a| a == 0.0));
        for k in [3, 7] {
            let mut tenths = Array1::from_elem(k, 0.1f32);
            normalize_advantages(&mut tenths);
            assert!(tenths.iter().all(|&a| a == 0.0), "{tenths}");
        }
        let mut big = array![1e30f32, 1e30];
        normalize_advantages(&mut big);
        assert!(big.iter().all(|&a| a == 0.0));
        let mut a = array![1.0f32, 2.0, 3.0];
        normalize_advantages(&mut a);
        assert!((a[0] + 1.0).abs() < 1e-6 && a[1].abs() < 1e-6 && (a[2] - 1.0).abs() < 1e-6);
    }
}
