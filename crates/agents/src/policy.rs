//! Policy distributions over a batch: categorical (discrete actions, from logits) and
//! diagonal Gaussian (continuous actions, from a mean and a state-independent log-std, as
//! CleanRL's `ppo_continuous_action.py`), with the log-probabilities and entropies the
//! algorithms need and their exact gradients.

use crate::categorical::{argmax, entropy, log_softmax, sample};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, NdFloat};
use pdmrl_tensor::{Rng, cast};
use rand_distr::{Distribution, StandardNormal};

/// Lower bound of the log-std the Gaussian uses (std `e^-20 ≈ 2e-9`): below it, log-probs
/// of f32 actions overflow. The bound of Stable-Baselines3's `LOG_STD_MIN`.
pub const LOG_STD_MIN: f64 = -20.0;
/// Upper bound of the log-std the Gaussian uses (std `e^2 ≈ 7.4`), Stable-Baselines3's
/// `LOG_STD_MAX`. The learned parameter itself is not clamped; the distribution uses
/// `clamp(log_std, LOG_STD_MIN, LOG_STD_MAX)`, whose gradient is 0 outside the range (as
/// `torch.clamp`), so a log-std driven to ±∞ leaves every quantity finite.
pub const LOG_STD_MAX: f64 = 2.0;

/// `ln(2π) / 2`.
const HALF_LN_2PI: f64 = 0.918_938_533_204_672_8;

/// Which distribution a policy head parameterises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// Categorical over `n` actions: the head outputs logits `[batch, n]`.
    Categorical {
        /// Number of actions.
        n: usize,
    },
    /// Diagonal Gaussian over `dim` action components: the head outputs the mean
    /// `[batch, dim]`; the log-std `[dim]` is a separate, state-independent parameter.
    Gaussian {
        /// Action dimension.
        dim: usize,
    },
}

impl PolicyKind {
    /// Number of outputs of the policy head.
    pub fn head_outputs(self) -> usize {
        match self {
            PolicyKind::Categorical { n } => n,
            PolicyKind::Gaussian { dim } => dim,
        }
    }
}

/// A batch of actions.
#[derive(Debug, Clone, Copy)]
pub enum ActionsView<'a, A> {
    /// Discrete action indices, `[batch]`.
    Discrete(&'a [usize]),
    /// Continuous actions, `[batch, dim]`, as sampled (before any clipping by the env).
    Continuous(ArrayView2<'a, A>),
}

/// A batch of actions, owned (as [`ActionsView`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Actions {
    /// `[batch]`.
    Discrete(Vec<usize>),
    /// `[batch, dim]`.
    Continuous(Array2<f32>),
}

impl Actions {
    /// A view.
    pub fn view(&self) -> ActionsView<'_, f32> {
        match self {
            Actions::Discrete(a) => ActionsView::Discrete(a),
            Actions::Continuous(a) => ActionsView::Continuous(a.view()),
        }
    }

    /// The action of row `i` as the env takes it.
    pub fn env_action(&self, i: usize) -> pdmrl_envs::Action {
        match self {
            Actions::Discrete(a) => pdmrl_envs::Action::Discrete(a[i]),
            Actions::Continuous(a) => pdmrl_envs::Action::Continuous(a.row(i).to_owned()),
        }
    }

    /// Row `i` as f32 values (`[1]` for a discrete action, `[dim]` otherwise), for logs.
    pub fn row_values(&self, i: usize) -> Vec<f32> {
        match self {
            Actions::Discrete(a) => vec![a[i] as f32],
            Actions::Continuous(a) => a.row(i).to_vec(),
        }
    }
}

/// `log_std` clamped to `[LOG_STD_MIN, LOG_STD_MAX]` and whether each component is inside
/// (the clamp passes the gradient there, boundaries included).
fn clamped<A: NdFloat>(log_std: ArrayView1<A>) -> (Array1<A>, Array1<A>) {
    let (lo, hi): (A, A) = (cast(LOG_STD_MIN), cast(LOG_STD_MAX));
    let c = log_std.mapv(|s| if s.is_nan() { s } else { s.max(lo).min(hi) });
    let pass = log_std.mapv(|s| {
        if s >= lo && s <= hi {
            A::one()
        } else {
            A::zero()
        }
    });
    (c, pass)
}

/// Log-probability of each row's action and entropy of each row's distribution, both
/// `[batch]` (nats).
///
/// * Categorical: `out` are logits `[batch, n]`; `log_std` is ignored.
/// * Gaussian: `out` is the mean `[batch, dim]`, `log_std: [dim]` (clamped, see
///   [`LOG_STD_MIN`]); `logp = sum_d -((a-μ)/σ)²/2 - ln σ - ln(2π)/2`,
///   `H = sum_d 1/2 + ln(2π)/2 + ln σ` (`torch.distributions.Normal`, summed over `d`).
///
/// # Panics
/// If the action kind does not match (`Continuous` without `log_std`) or shapes differ.
pub fn log_prob_entropy<A: NdFloat>(
    out: ArrayView2<A>,
    log_std: Option<ArrayView1<A>>,
    actions: ActionsView<A>,
) -> (Array1<A>, Array1<A>) {
    let n = out.nrows();
    match actions {
        ActionsView::Discrete(a) => {
            assert_eq!(a.len(), n, "log_prob_entropy: actions rows");
            let logp = log_softmax(out);
            let lp = Array1::from_shape_fn(n, |i| logp[[i, a[i]]]);
            (lp, entropy(logp.view()))
        }
        ActionsView::Continuous(a) => {
            let log_std = log_std.expect("a Gaussian policy has a log-std");
            assert_eq!(a.dim(), out.dim(), "log_prob_entropy: actions shape");
            let (ls, _) = clamped(log_std);
            let inv_std = ls.mapv(|s| (-s).exp());
            let half: A = cast(0.5);
            let c: A = cast(HALF_LN_2PI);
            let h = ls.iter().fold(A::zero(), |acc, &s| acc + half + c + s);
            let lp = Array1::from_shape_fn(n, |i| {
                let mut acc = A::zero();
                for d in 0..out.ncols() {
                    let z = (a[[i, d]] - out[[i, d]]) * inv_std[d];
                    acc += -half * z * z - ls[d] - c;
                }
                acc
            });
            (lp, Array1::from_elem(n, h))
        }
    }
}

/// Gradients of `sum_i dlogp[i] * logp_i + dent[i] * H_i` with respect to the head output
/// `[batch, n_out]` and, for a Gaussian, the log-std `[dim]` (summed over the batch).
///
/// # Panics
/// As [`log_prob_entropy`].
pub fn backward<A: NdFloat>(
    out: ArrayView2<A>,
    log_std: Option<ArrayView1<A>>,
    actions: ActionsView<A>,
    dlogp: ArrayView1<A>,
    dent: ArrayView1<A>,
) -> (Array2<A>, Option<Array1<A>>) {
    let (n, k) = out.dim();
    match actions {
        ActionsView::Discrete(a) => {
            let logp = log_softmax(out);
            let ent = entropy(logp.view());
            // dlogp(a)/dz_k = [k = a] - p_k; dH/dz_k = -p_k (log p_k + H).
            let g = Array2::from_shape_fn((n, k), |(i, j)| {
                let p = logp[[i, j]].exp();
                let onehot = if j == a[i] { A::one() } else { A::zero() };
                dlogp[i] * (onehot - p) + dent[i] * (-p * (logp[[i, j]] + ent[i]))
            });
            (g, None)
        }
        ActionsView::Continuous(a) => {
            let log_std = log_std.expect("a Gaussian policy has a log-std");
            let (ls, pass) = clamped(log_std);
            let inv_var = ls.mapv(|s| (-(s + s)).exp());
            let inv_std = ls.mapv(|s| (-s).exp());
            // dlogp/dμ = (a-μ)/σ²; dlogp/d ln σ = z² - 1; dH/d ln σ = 1.
            let g = Array2::from_shape_fn((n, k), |(i, d)| {
                dlogp[i] * (a[[i, d]] - out[[i, d]]) * inv_var[d]
            });
            let mut gs = Array1::<A>::zeros(k);
            for i in 0..n {
                for d in 0..k {
                    let z = (a[[i, d]] - out[[i, d]]) * inv_std[d];
                    gs[d] += dlogp[i] * (z * z - A::one()) + dent[i];
                }
            }
            (g, Some(gs * &pass))
        }
    }
}

/// Samples one action per row: a categorical draw (inverse CDF, one uniform per row) from
/// logits, or `μ + σ ε`, `ε ~ N(0, 1)` per component, from the Gaussian. With `greedy` the
/// mode instead (argmax / the mean): deterministic evaluation.
pub fn sample_actions(
    kind: PolicyKind,
    out: ArrayView2<f32>,
    log_std: Option<ArrayView1<f32>>,
    greedy: bool,
    rng: &mut Rng,
) -> Actions {
    match kind {
        PolicyKind::Categorical { .. } => {
            if greedy {
                Actions::Discrete(argmax(out))
            } else {
                Actions::Discrete(sample(log_softmax(out).view(), rng))
            }
        }
        PolicyKind::Gaussian { .. } => {
            if greedy {
                return Actions::Continuous(out.to_owned());
            }
            let (ls, _) = clamped(log_std.expect("a Gaussian policy has a log-std"));
            let std = ls.mapv(f32::exp);
            let mut a = out.to_owned();
            for mut row in a.rows_mut() {
                for (d, x) in row.iter_mut().enumerate() {
                    let eps: f32 = StandardNormal.sample(rng);
                    *x += std[d] * eps;
                }
            }
            Actions::Continuous(a)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use pdmrl_tensor::gradcheck::assert_grad_close;
    use rand::Rng as _;

    /// `f = sum_i w_i logp_i + u_i H_i` for fixed weights: the gradient of `backward` must
    /// match central finite differences in the mean and the log-std.
    #[test]
    fn gaussian_gradients_match_finite_differences() {
        let mut rng = pdmrl_tensor::rng_from_seed(4);
        let (n, k) = (5, 2);
        let mean = Array2::from_shape_fn((n, k), |_| rng.random_range(-1.0..1.0));
        let actions = Array2::from_shape_fn((n, k), |_| rng.random_range(-2.0..2.0));
        // One component inside the clamp range, one pinned above it (zero gradient).
        let log_std = array![-0.3f64, 3.0];
        let w = Array1::from_shape_fn(n, |i| 0.3 * i as f64 - 0.5);
        let u = Array1::from_elem(n, -0.1);
        let f = |m: &Array2<f64>, s: &Array1<f64>| {
            let (lp, h) = log_prob_entropy(
                m.view(),
                Some(s.view()),
                ActionsView::Continuous(actions.view()),
            );
            (&lp * &w).sum() + (&h * &u).sum()
        };
        let (gm, gs) = backward(
            mean.view(),
            Some(log_std.view()),
            ActionsView::Continuous(actions.view()),
            w.view(),
            u.view(),
        );
        let gs = gs.unwrap();
        assert_eq!(gs[1], 0.0, "clamped component gets no gradient");
        let x0: Vec<f64> = mean.iter().copied().collect();
        let mut fm = |x: &[f64]| {
            f(
                &Array2::from_shape_vec((n, k), x.to_vec()).unwrap(),
                &log_std,
            )
        };
        assert_grad_close(
            "dlogp/dmean",
            &mut fm,
            &x0,
            &gm.iter().copied().collect::<Vec<_>>(),
            1e-6,
        );
        let mut fs = |x: &[f64]| f(&mean, &Array1::from(x.to_vec()));
        assert_grad_close(
            "dlogp/dlog_std",
            &mut fs,
            &log_std.to_vec(),
            &gs.to_vec(),
            1e-6,
        );
    }

    #[test]
    fn categorical_gradients_match_finite_differences() {
        let mut rng = pdmrl_tensor::rng_from_seed(5);
        let (n, k) = (4, 3);
        let logits = Array2::from_shape_fn((n, k), |_| rng.random_range(-1.0..1.0));
        let actions = [0usize, 2, 1, 2];
        let w = array![0.5f64, -1.0, 0.2, 0.7];
        let u = array![0.1f64, 0.1, -0.3, 0.0];
        let (g, none) = backward(
            logits.view(),
            None,
            ActionsView::Discrete(&actions),
            w.view(),
            u.view(),
        );
        assert!(none.is_none());
        let mut f = |x: &[f64]| {
            let l = Array2::from_shape_vec((n, k), x.to_vec()).unwrap();
            let (lp, h) = log_prob_entropy(l.view(), None, ActionsView::Discrete(&actions));
            (&lp * &w).sum() + (&h * &u).sum()
        };
        let x0: Vec<f64> = logits.iter().copied().collect();
        assert_grad_close(
            "dlogp/dlogits",
            &mut f,
            &x0,
            &g.iter().copied().collect::<Vec<_>>(),
            1e-6,
        );
    }

    /// Issue 5: log-std driven to -120 or +50 is clamped to [LOG_STD_MIN, LOG_STD_MAX];
    /// log-probs, entropies, gradients and samples stay finite, no panic.
    #[test]
    fn extreme_log_std_is_clamped_and_everything_stays_finite() {
        let mean = array![[0.0f32, 1.0], [0.5, -0.5]];
        let actions = array![[0.3f32, 1.0], [-1.7, 2.0]];
        for ls in [-120.0f32, 50.0] {
            let log_std = array![ls, ls];
            let (lp, h) = log_prob_entropy(
                mean.view(),
                Some(log_std.view()),
                ActionsView::Continuous(actions.view()),
            );
            assert!(
                lp.iter().chain(h.iter()).all(|v| v.is_finite()),
                "{ls}: {lp} {h}"
            );
            let bound = if ls < 0.0 { LOG_STD_MIN } else { LOG_STD_MAX } as f32;
            let want_h = 2.0 * (0.5 + HALF_LN_2PI as f32 + bound);
            assert!(
                (h[0] - want_h).abs() < 1e-4,
                "entropy {} want {want_h}",
                h[0]
            );
            let (gm, gs) = backward(
                mean.view(),
                Some(log_std.view()),
                ActionsView::Continuous(actions.view()),
                array![1.0f32, 1.0].view(),
                array![0.1f32, 0.1].view(),
            );
            assert!(gm.iter().all(|v| v.is_finite()));
            assert_eq!(
                gs.unwrap(),
                array![0.0f32, 0.0],
                "outside the range: no gradient"
            );
            let mut rng = pdmrl_tensor::rng_from_seed(1);
            let a = sample_actions(
                PolicyKind::Gaussian { dim: 2 },
                mean.view(),
                Some(log_std.view()),
                false,
                &mut rng,
            );
            let Actions::Continuous(a) = a else {
                panic!("continuous")
            };
            assert!(a.iter().all(|v| v.is_finite()));
            if ls < 0.0 {
                // std = e^-20: the samples are the mean to f32 precision.
                assert!((&a - &mean).iter().all(|d| d.abs() < 1e-6));
            }
        }
    }

    #[test]
    fn greedy_actions_are_the_mode() {
        let mut rng = pdmrl_tensor::rng_from_seed(1);
        let out = array![[0.1f32, 2.0, -1.0], [3.0, 0.0, 0.0]];
        let a = sample_actions(
            PolicyKind::Categorical { n: 3 },
            out.view(),
            None,
            true,
            &mut rng,
        );
        assert_eq!(a, Actions::Discrete(vec![1, 0]));
        let a = sample_actions(
            PolicyKind::Gaussian { dim: 3 },
            out.view(),
            Some(array![0.0f32, 0.0, 0.0].view()),
            true,
            &mut rng,
        );
        assert_eq!(a, Actions::Continuous(out));
    }
}
