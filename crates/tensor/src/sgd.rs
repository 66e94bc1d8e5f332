//! Stochastic gradient descent with momentum, PyTorch's semantics; and [`Optimiser`], Adam
//! or SGD behind one interface.

use crate::adam::{Adam, AdamConfig};
use crate::error::TensorError;
use ndarray::NdFloat;
use serde::{Deserialize, Serialize};

/// Hyperparameters of [`Sgd`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SgdConfig {
    /// Learning rate (step size), > 0.
    pub lr: f64,
    /// Momentum factor, in [0, 1) (PyTorch's default 0: plain gradient descent).
    pub momentum: f64,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig {
            lr: 1e-3,
            momentum: 0.0,
        }
    }
}

impl SgdConfig {
    /// Checks the ranges documented on the fields.
    ///
    /// # Errors
    /// [`TensorError::Hyperparameter`] naming the first field out of range.
    pub fn check(&self) -> Result<(), TensorError> {
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(TensorError::Hyperparameter {
                name: "lr",
                value: self.lr,
                allowed: "must be finite and > 0",
            });
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return Err(TensorError::Hyperparameter {
                name: "momentum",
                value: self.momentum,
                allowed: "must be in [0, 1)",
            });
        }
        Ok(())
    }
}

/// SGD exactly as `torch.optim.SGD` (no dampening, no Nesterov, no weight decay) computes
/// it: without momentum `p = p - lr g`; with momentum `mu`, a buffer `b = g` at the first
/// step and `b = mu b + g` after, and `p = p - lr b`. Steps scale with the gradient, unlike
/// Adam's, whose steps are about `lr` whatever the gradient's size.
#[derive(Debug, Clone, PartialEq)]
pub struct Sgd<A = f32> {
    config: SgdConfig,
    step: u64,
    /// One momentum buffer per parameter tensor (empty vectors without momentum).
    buffers: Vec<Vec<A>>,
}

impl<A: NdFloat> Sgd<A> {
    /// A fresh optimiser for parameter tensors of the given sizes (number of elements).
    ///
    /// # Errors
    /// [`TensorError::Hyperparameter`] from [`SgdConfig::check`].
    pub fn new(config: SgdConfig, sizes: &[usize]) -> Result<Self, TensorError> {
        config.check()?;
        let keep = config.momentum > 0.0;
        Ok(Sgd {
            config,
            step: 0,
            buffers: sizes
                .iter()
                .map(|&n| vec![A::zero(); if keep { n } else { 0 }])
                .collect(),
        })
    }

    /// The hyperparameters.
    pub fn config(&self) -> &SgdConfig {
        &self.config
    }

    /// Number of steps taken.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// Sets the learning rate (for schedules).
    pub fn set_lr(&mut self, lr: f64) {
        self.config.lr = lr;
    }

    /// The momentum buffers, one flat vector per parameter tensor (empty without
    /// momentum), for checkpoints.
    pub fn buffers(&self) -> &[Vec<A>] {
        &self.buffers
    }

    /// Restores a saved state: the step count and the momentum buffers.
    ///
    /// # Errors
    /// [`TensorError::Shape`] if the number or sizes of the buffers differ from this
    /// optimiser's; the state is then unchanged.
    pub fn restore(&mut self, step: u64, buffers: Vec<Vec<A>>) -> Result<(), TensorError> {
        let sizes = |x: &[Vec<A>]| x.iter().map(Vec::len).collect::<Vec<_>>();
        if sizes(&buffers) != sizes(&self.buffers) {
            return Err(TensorError::Shape {
                what: "SGD momentum buffers",
                expected: format!("{:?}", sizes(&self.buffers)),
                got: format!("{:?}", sizes(&buffers)),
            });
        }
        self.step = step;
        self.buffers = buffers;
        Ok(())
    }

    /// One step on every tensor.
    ///
    /// # Panics
    /// If the number or sizes of `params`/`grads` differ from those given to [`Sgd::new`].
    pub fn step(&mut self, params: &mut [&mut [A]], grads: &[&[A]]) {
        assert_eq!(
            params.len(),
            self.buffers.len(),
            "SGD: number of parameter tensors"
        );
        assert_eq!(
            grads.len(),
            self.buffers.len(),
            "SGD: number of gradient tensors"
        );
        let first = self.step == 0;
        self.step += 1;
        let lr: A = crate::cast(self.config.lr);
        let mu: A = crate::cast(self.config.momentum);
        let momentum = self.config.momentum > 0.0;
        for (k, (p, g)) in params.iter_mut().zip(grads).enumerate() {
            assert_eq!(p.len(), g.len(), "SGD: size of gradient tensor {k}");
            if momentum {
                let b = &mut self.buffers[k];
                assert_eq!(p.len(), b.len(), "SGD: size of parameter tensor {k}");
                for i in 0..b.len() {
                    b[i] = if first { g[i] } else { mu * b[i] + g[i] };
                    p[i] -= lr * b[i];
                }
            } else {
                for i in 0..p.len() {
                    p[i] -= lr * g[i];
                }
            }
        }
    }
}

/// Reads one state buffer of an optimiser: its name (`exp_avg`, ...), the index of its
/// parameter tensor and its expected length (see [`Optimiser::restore_with`]).
pub type ReadBuffer<'a, A, E> = dyn FnMut(&str, usize, usize) -> Result<Vec<A>, E> + 'a;

/// Adam or SGD behind one interface: what a hidden layer of a local trainer steps with.
#[derive(Debug, Clone, PartialEq)]
pub enum Optimiser<A = f32> {
    /// [`Adam`].
    Adam(Adam<A>),
    /// [`Sgd`].
    Sgd(Sgd<A>),
}

impl<A: NdFloat> Optimiser<A> {
    /// A fresh Adam.
    ///
    /// # Errors
    /// As [`Adam::new`].
    pub fn adam(config: AdamConfig, sizes: &[usize]) -> Result<Self, TensorError> {
        Adam::new(config, sizes).map(Optimiser::Adam)
    }

    /// A fresh SGD.
    ///
    /// # Errors
    /// As [`Sgd::new`].
    pub fn sgd(config: SgdConfig, sizes: &[usize]) -> Result<Self, TensorError> {
        Sgd::new(config, sizes).map(Optimiser::Sgd)
    }

    /// One step, see [`Adam::step`] and [`Sgd::step`].
    ///
    /// # Panics
    /// As theirs.
    pub fn step(&mut self, params: &mut [&mut [A]], grads: &[&[A]]) {
        match self {
            Optimiser::Adam(o) => o.step(params, grads),
            Optimiser::Sgd(o) => o.step(params, grads),
        }
    }

    /// Sets the learning rate.
    pub fn set_lr(&mut self, lr: f64) {
        match self {
            Optimiser::Adam(o) => o.set_lr(lr),
            Optimiser::Sgd(o) => o.set_lr(lr),
        }
    }

    /// The learning rate.
    pub fn lr(&self) -> f64 {
        match self {
            Optimiser::Adam(o) => o.config().lr,
            Optimiser::Sgd(o) => o.config().lr,
        }
    }

    /// Number of steps taken.
    pub fn steps(&self) -> u64 {
        match self {
            Optimiser::Adam(o) => o.steps(),
            Optimiser::Sgd(o) => o.steps(),
        }
    }

    /// The state buffers by PyTorch's names, each a list with one flat vector per
    /// parameter tensor: Adam's `exp_avg` and `exp_avg_sq`, SGD's `momentum_buffer` (none
    /// without momentum).
    pub fn state(&self) -> Vec<(&'static str, &[Vec<A>])> {
        match self {
            Optimiser::Adam(o) => {
                let (m, v) = o.moments();
                vec![("exp_avg", m), ("exp_avg_sq", v)]
            }
            Optimiser::Sgd(o) if o.config().momentum > 0.0 => {
                vec![("momentum_buffer", o.buffers())]
            }
            Optimiser::Sgd(_) => Vec::new(),
        }
    }

    /// Restores a state saved by [`Optimiser::steps`] and [`Optimiser::state`]: `read`
    /// returns the buffer of a name and tensor index, given its expected length.
    ///
    /// # Errors
    /// The first error of `read`, or [`TensorError::Shape`] from the optimiser's restore.
    pub fn restore_with<E: From<TensorError>>(
        &mut self,
        step: u64,
        read: &mut ReadBuffer<'_, A, E>,
    ) -> Result<(), E> {
        let sizes: Vec<(&'static str, Vec<usize>)> = self
            .state()
            .into_iter()
            .map(|(name, bufs)| (name, bufs.iter().map(Vec::len).collect()))
            .collect();
        let mut read_all = |name: &str| -> Result<Vec<Vec<A>>, E> {
            let lens = &sizes
                .iter()
                .find(|(n, _)| *n == name)
                .expect("own buffer")
                .1;
            lens.iter()
                .enumerate()
                .map(|(j, &len)| read(name, j, len))
                .collect()
        };
        match self {
            Optimiser::Adam(o) => {
                let (m, v) = (read_all("exp_avg")?, read_all("exp_avg_sq")?);
                o.restore(step, m, v)?;
            }
            Optimiser::Sgd(o) => {
                let buffers = if o.config().momentum > 0.0 {
                    read_all("momentum_buffer")?
                } else {
                    o.buffers().to_vec()
                };
                o.restore(step, buffers)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three steps with and without momentum against the update rule of
    /// `torch.optim.SGD` written out by hand.
    #[test]
    fn sgd_matches_pytorch_update_rule() {
        let grads = [[0.5, -1.0], [0.1, 0.2], [-0.3, 0.0]];
        // Without momentum: p -= 0.1 g.
        let mut sgd: Sgd<f64> = Sgd::new(
            SgdConfig {
                lr: 0.1,
                momentum: 0.0,
            },
            &[2],
        )
        .unwrap();
        let mut p = [1.0, -2.0];
        for g in &grads {
            sgd.step(&mut [&mut p[..]], &[&g[..]]);
        }
        assert!((p[0] - (1.0 - 0.1 * 0.3)).abs() < 1e-15, "{p:?}");
        assert!((p[1] - (-2.0 - 0.1 * -0.8)).abs() < 1e-15, "{p:?}");
        // With momentum 0.9: b1 = g1, b2 = 0.9 b1 + g2, b3 = 0.9 b2 + g3.
        let mut sgd: Sgd<f64> = Sgd::new(
            SgdConfig {
                lr: 0.1,
                momentum: 0.9,
            },
            &[2],
        )
        .unwrap();
        let mut p = [1.0, -2.0];
        let mut want = p;
        let mut b = [0.0; 2];
        for (t, g) in grads.iter().enumerate() {
            sgd.step(&mut [&mut p[..]], &[&g[..]]);
            for i in 0..2 {
                b[i] = if t == 0 { g[i] } else { 0.9 * b[i] + g[i] };
                want[i] -= 0.1 * b[i];
            }
        }
        assert_eq!(p, want);
        assert_eq!(sgd.steps(), 3);
        // A restored copy continues exactly; a wrong shape is refused.
        let mut copy: Sgd<f64> = Sgd::new(*sgd.config(), &[2]).unwrap();
        copy.restore(3, sgd.buffers().to_vec()).unwrap();
        let mut q = p;
        sgd.step(&mut [&mut p[..]], &[&[0.2, -0.2][..]]);
        copy.step(&mut [&mut q[..]], &[&[0.2, -0.2][..]]);
        assert_eq!(p, q);
        assert!(copy.restore(1, vec![vec![0.0; 3]]).is_err());
    }

    #[test]
    fn sgd_rejects_bad_hyperparameters() {
        for (config, name) in [
            (
                SgdConfig {
                    lr: -1.0,
                    momentum: 0.0,
                },
                "lr",
            ),
            (
                SgdConfig {
                    lr: 0.1,
                    momentum: 1.0,
                },
                "momentum",
            ),
        ] {
            let err = Sgd::<f32>::new(config, &[1]).unwrap_err().to_string();
            assert!(err.contains(name), "{err}");
        }
    }

    /// The enum forwards to the optimiser it holds and restores it from its named state.
    #[test]
    fn optimiser_state_round_trips() {
        for mut o in [
            Optimiser::<f64>::adam(AdamConfig::default(), &[3, 1]).unwrap(),
            Optimiser::sgd(
                SgdConfig {
                    lr: 0.5,
                    momentum: 0.5,
                },
                &[3, 1],
            )
            .unwrap(),
            Optimiser::sgd(SgdConfig::default(), &[3, 1]).unwrap(),
        ] {
            let mut p = ([1.0, 2.0, 3.0], [4.0]);
            o.step(
                &mut [&mut p.0[..], &mut p.1[..]],
                &[&[0.1, -0.2, 0.3], &[1.0]],
            );
            let saved: Vec<(String, Vec<Vec<f64>>)> = o
                .state()
                .into_iter()
                .map(|(n, b)| (n.to_string(), b.to_vec()))
                .collect();
            let mut copy = match &o {
                Optimiser::Adam(a) => Optimiser::adam(*a.config(), &[3, 1]).unwrap(),
                Optimiser::Sgd(s) => Optimiser::sgd(*s.config(), &[3, 1]).unwrap(),
            };
            copy.restore_with::<TensorError>(o.steps(), &mut |name, j, len| {
                let b = saved.iter().find(|(n, _)| n == name).unwrap().1[j].clone();
                assert_eq!(b.len(), len);
                Ok(b)
            })
            .unwrap();
            assert_eq!(copy, o);
        }
    }
}
