//! Adam with PyTorch's semantics.

use crate::error::TensorError;
use ndarray::NdFloat;
use serde::{Deserialize, Serialize};

/// Hyperparameters of [`Adam`]. Defaults are PyTorch's (`lr` 1e-3, betas (0.9, 0.999),
/// eps 1e-8); CleanRL's PPO uses `eps = 1e-5`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamConfig {
    /// Learning rate (step size), > 0.
    pub lr: f64,
    /// Decay of the first-moment estimate, in [0, 1).
    pub beta1: f64,
    /// Decay of the second-moment estimate, in [0, 1).
    pub beta2: f64,
    /// Added to `sqrt(v_hat)` (outside the square root, as PyTorch), > 0.
    pub eps: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

impl AdamConfig {
    /// Checks the ranges documented on the fields.
    ///
    /// # Errors
    /// [`TensorError::Hyperparameter`] naming the first field out of range.
    pub fn check(&self) -> Result<(), TensorError> {
        let bad = |name, value, allowed| {
            Err(TensorError::Hyperparameter {
                name,
                value,
                allowed,
            })
        };
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad("lr", self.lr, "must be finite and > 0");
        }
        if !(0.0..1.0).contains(&self.beta1) {
            return bad("beta1", self.beta1, "must be in [0, 1)");
        }
        if !(0.0..1.0).contains(&self.beta2) {
            return bad("beta2", self.beta2, "must be in [0, 1)");
        }
        if !(self.eps > 0.0 && self.eps.is_finite()) {
            return bad("eps", self.eps, "must be finite and > 0");
        }
        Ok(())
    }
}

/// Adam (Kingma & Ba, 2015) exactly as `torch.optim.Adam` (single-tensor path, no
/// weight decay, no AMSGrad) computes it:
///
/// ```text
/// m = beta1 m + (1 - beta1) g
/// v = beta2 v + (1 - beta2) g^2
/// p = p - (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
/// ```
///
/// The bias corrections are computed in f64, as PyTorch computes them in Python floats.
/// The state holds one `(m, v)` pair per parameter tensor; tensors are passed as flat
/// slices in a fixed order.
#[derive(Debug, Clone, PartialEq)]
pub struct Adam<A = f32> {
    config: AdamConfig,
    step: u64,
    m: Vec<Vec<A>>,
    v: Vec<Vec<A>>,
}

impl<A: NdFloat> Adam<A> {
    /// A fresh optimiser for parameter tensors of the given sizes (number of elements).
    ///
    /// # Errors
    /// [`TensorError::Hyperparameter`] from [`AdamConfig::check`].
    pub fn new(config: AdamConfig, sizes: &[usize]) -> Result<Self, TensorError> {
        config.check()?;
        Ok(Adam {
            config,
            step: 0,
            m: sizes.iter().map(|&n| vec![A::zero(); n]).collect(),
            v: sizes.iter().map(|&n| vec![A::zero(); n]).collect(),
        })
    }

    /// The hyperparameters.
    pub fn config(&self) -> &AdamConfig {
        &self.config
    }

    /// Number of steps taken.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// Sets the learning rate (for schedules such as [`crate::linear_anneal`]).
    pub fn set_lr(&mut self, lr: f64) {
        self.config.lr = lr;
    }

    /// The moment estimates `(m, v)`, one flat vector per parameter tensor in the order
    /// given to [`Adam::new`] (for checkpoints).
    pub fn moments(&self) -> (&[Vec<A>], &[Vec<A>]) {
        (&self.m, &self.v)
    }

    /// Restores a saved state: the step count and the moments `m`, `v` (as returned by
    /// [`Adam::steps`] and [`Adam::moments`]).
    ///
    /// # Errors
    /// [`TensorError::Shape`] if the number or sizes of the tensors differ from this
    /// optimiser's; the state is then unchanged.
    pub fn restore(
        &mut self,
        step: u64,
        m: Vec<Vec<A>>,
        v: Vec<Vec<A>>,
    ) -> Result<(), TensorError> {
        let sizes = |x: &[Vec<A>]| x.iter().map(Vec::len).collect::<Vec<_>>();
        let want = sizes(&self.m);
        for (name, got) in [
            ("Adam first moments", sizes(&m)),
            ("Adam second moments", sizes(&v)),
        ] {
            if got != want {
                return Err(TensorError::Shape {
                    what: name,
                    expected: format!("{want:?}"),
                    got: format!("{got:?}"),
                });
            }
        }
        self.step = step;
        self.m = m;
        self.v = v;
        Ok(())
    }

    /// One Adam step on every tensor: `params[k] -= update(grads[k])`.
    ///
    /// # Panics
    /// If the number or sizes of `params`/`grads` differ from those given to [`Adam::new`].
    pub fn step(&mut self, params: &mut [&mut [A]], grads: &[&[A]]) {
        assert_eq!(
            params.len(),
            self.m.len(),
            "Adam: number of parameter tensors"
        );
        assert_eq!(
            grads.len(),
            self.m.len(),
            "Adam: number of gradient tensors"
        );
        self.step += 1;
        let c = self.config;
        let t = self.step as i32;
        let bias_correction1 = 1.0 - c.beta1.powi(t);
        let bias_correction2_sqrt = (1.0 - c.beta2.powi(t)).sqrt();
        let step_size: A = crate::cast(c.lr / bias_correction1);
        let bc2_sqrt: A = crate::cast(bias_correction2_sqrt);
        let (b1, b2, eps): (A, A, A) = (
            crate::cast(c.beta1),
            crate::cast(c.beta2),
            crate::cast(c.eps),
        );
        let (one_m_b1, one_m_b2): (A, A) = (crate::cast(1.0 - c.beta1), crate::cast(1.0 - c.beta2));
        for (k, (p, g)) in params.iter_mut().zip(grads).enumerate() {
            let (m, v) = (&mut self.m[k], &mut self.v[k]);
            assert_eq!(p.len(), m.len(), "Adam: size of parameter tensor {k}");
            assert_eq!(g.len(), m.len(), "Adam: size of gradient tensor {k}");
            // Zipped slices: no bounds checks, so the loop vectorises (sqrt and division
            // are exactly rounded in every lane width: the same bits on every path).
            for (((p, &g), m), v) in p
                .iter_mut()
                .zip(g.iter())
                .zip(m.iter_mut())
                .zip(v.iter_mut())
            {
                *m = b1 * *m + one_m_b1 * g;
                *v = b2 * *v + one_m_b2 * g * g;
                let denom = v.sqrt() / bc2_sqrt + eps;
                *p -= step_size * *m / denom;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three steps on p = [1.0, -2.0] with gradients [0.5, -1.0], [0.1, 0.2], [-0.3, 0.0],
    /// lr 0.1, betas (0.9, 0.999), eps 1e-8. Expected parameters after each step were
    /// computed by hand from PyTorch's update formula (Python floats, f64):
    /// step 1 moves each parameter by -lr * sign(g) (up to eps).
    #[test]
    fn adam_three_steps_match_hand_computation() {
        let cfg = AdamConfig {
            lr: 0.1,
            ..AdamConfig::default()
        };
        let mut adam: Adam<f64> = Adam::new(cfg, &[2]).unwrap();
        let mut p = [1.0, -2.0];
        let grads = [[0.5, -1.0], [0.1, 0.2], [-0.3, 0.0]];
        let want = [
            [0.9000000019999999, -1.900000001],
            [0.8196959063846516, -1.8488973939904945],
            [0.7986246117635079, -1.8093949307841701],
        ];
        for (t, g) in grads.iter().enumerate() {
            adam.step(&mut [&mut p[..]], &[&g[..]]);
            for i in 0..2 {
                assert!(
                    (p[i] - want[t][i]).abs() < 1e-14,
                    "step {} p[{i}] = {} want {}",
                    t + 1,
                    p[i],
                    want[t][i]
                );
            }
        }
        assert_eq!(adam.steps(), 3);
        // A restored copy continues exactly; a wrong shape is refused.
        let (m, v) = adam.moments();
        let (m, v) = (m.to_vec(), v.to_vec());
        let mut copy: Adam<f64> = Adam::new(cfg, &[2]).unwrap();
        copy.restore(3, m.clone(), v.clone()).unwrap();
        let mut q = p;
        adam.step(&mut [&mut p[..]], &[&[0.2, -0.2][..]]);
        copy.step(&mut [&mut q[..]], &[&[0.2, -0.2][..]]);
        assert_eq!(p, q);
        assert!(copy.restore(1, vec![vec![0.0; 3]], v).is_err());
    }

    #[test]
    fn adam_rejects_bad_hyperparameters() {
        let err = Adam::<f32>::new(
            AdamConfig {
                lr: 0.0,
                ..AdamConfig::default()
            },
            &[1],
        )
        .unwrap_err();
        assert!(err.to_string().contains("lr"), "{err}");
        let err = Adam::<f32>::new(
            AdamConfig {
                beta2: 1.0,
                ..AdamConfig::default()
            },
            &[1],
        )
        .unwrap_err();
        assert!(err.to_string().contains("beta2"), "{err}");
    }
}
