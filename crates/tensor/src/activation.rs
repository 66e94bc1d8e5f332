//! Element-wise activation functions and their derivatives.

use crate::error::TensorError;
use ndarray::{ArrayViewMut2, NdFloat, Zip};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// An element-wise activation `phi`.
///
/// Derivatives are expressed through the output `y = phi(z)` (all three allow it), so a
/// layer need not keep its pre-activation `z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// `tanh(z)`; derivative `1 - y^2`. The default hidden activation (CleanRL PPO).
    #[default]
    Tanh,
    /// `max(z, 0)`; derivative `1` where `y > 0`, else `0` (PyTorch's choice at 0).
    Relu,
    /// `z`; derivative `1`. Used by output heads.
    Identity,
}

impl Activation {
    /// Applies the activation in place to `z: [batch, features]`.
    ///
    /// `tanh` of `f32` is [`crate::tanh::tanh_f32`] (within 2 ulps, the same bits on every
    /// vector path, several lanes at once); other float types use their `tanh`.
    pub fn apply_inplace<A: NdFloat>(self, mut z: ArrayViewMut2<A>) {
        match self {
            Activation::Tanh => {
                if std::any::TypeId::of::<A>() == std::any::TypeId::of::<f32>() {
                    if let Some(s) = z.as_slice_memory_order_mut() {
                        // SAFETY: `A` is `f32` (same TypeId): same layout, same values.
                        let s = unsafe {
                            std::slice::from_raw_parts_mut(s.as_mut_ptr().cast::<f32>(), s.len())
                        };
                        crate::tanh::tanh_slice(s);
                    } else {
                        z.mapv_inplace(|v| {
                            let v = v.to_f32().expect("f32");
                            A::from(crate::tanh::tanh_f32(v)).expect("f32")
                        });
                    }
                } else {
                    z.mapv_inplace(|v| v.tanh());
                }
            }
            Activation::Relu => z.mapv_inplace(|v| if v > A::zero() { v } else { A::zero() }),
            Activation::Identity => {}
        }
    }

    /// Derivative `phi'(z)` written in terms of the output `y = phi(z)`.
    #[inline]
    pub fn derivative_from_output<A: NdFloat>(self, y: A) -> A {
        match self {
            Activation::Tanh => A::one() - y * y,
            Activation::Relu => {
                if y > A::zero() {
                    A::one()
                } else {
                    A::zero()
                }
            }
            Activation::Identity => A::one(),
        }
    }

    /// Multiplies `grad: [batch, features]` (dL/dy) in place by `phi'` evaluated through the
    /// output `y`, giving dL/dz.
    ///
    /// # Panics
    /// If `grad` and `y` differ in shape.
    pub fn backprop_inplace<A: NdFloat>(self, grad: ArrayViewMut2<A>, y: ndarray::ArrayView2<A>) {
        if self == Activation::Identity {
            return;
        }
        Zip::from(grad)
            .and(y)
            .for_each(|g, &yv| *g *= self.derivative_from_output(yv));
    }

    /// `grad * phi'(y)` as a new array: [`Activation::backprop_inplace`] without the copy
    /// of `grad` first (one pass; the same bits).
    ///
    /// # Panics
    /// If `grad` and `y` differ in shape.
    pub fn backprop<A: NdFloat>(
        self,
        grad: ndarray::ArrayView2<A>,
        y: ndarray::ArrayView2<A>,
    ) -> ndarray::Array2<A> {
        // One arm per activation: the loop body has no branch on `self` and vectorises.
        match self {
            Activation::Identity => grad.to_owned(),
            Activation::Tanh => Zip::from(grad)
                .and(y)
                .map_collect(|&g, &yv| g * Activation::Tanh.derivative_from_output(yv)),
            Activation::Relu => Zip::from(grad)
                .and(y)
                .map_collect(|&g, &yv| g * Activation::Relu.derivative_from_output(yv)),
        }
    }

    /// The lower-case name used in configs: `tanh`, `relu`, `identity`.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
            Activation::Identity => "identity",
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Activation {
    type Err = TensorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "tanh" => Ok(Activation::Tanh),
            "relu" => Ok(Activation::Relu),
            "identity" | "linear" => Ok(Activation::Identity),
            other => Err(TensorError::UnknownActivation(other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, s};

    /// Contiguous, transposed and strided `f32` views all get the bits of
    /// [`crate::tanh::tanh_f32`]; `f64` gets its own `tanh`.
    #[test]
    fn tanh_on_every_layout() {
        let a = Array2::<f32>::from_shape_fn((6, 10), |(i, j)| {
            (i as f32 - 3.0) * 0.7 + j as f32 * 0.11
        });
        let want = a.mapv(|v| crate::tanh::tanh_f32(v).to_bits());
        let mut c = a.clone();
        Activation::Tanh.apply_inplace(c.view_mut());
        assert_eq!(c.mapv(f32::to_bits), want);
        let mut t = a.t().to_owned();
        Activation::Tanh.apply_inplace(t.view_mut());
        assert_eq!(t.t().mapv(f32::to_bits), want);
        let mut strided = a.clone();
        Activation::Tanh.apply_inplace(strided.slice_mut(s![.., ..;2]));
        for ((i, j), v) in strided.indexed_iter() {
            let expect = if j % 2 == 0 {
                want[[i, j]]
            } else {
                a[[i, j]].to_bits()
            };
            assert_eq!(v.to_bits(), expect, "[{i}, {j}]");
        }
        let mut d = a.mapv(f64::from);
        Activation::Tanh.apply_inplace(d.view_mut());
        assert_eq!(d, a.mapv(|v| f64::from(v).tanh()));
    }

    /// `backprop` gives `backprop_inplace`'s bits for every activation, also on a
    /// transposed gradient.
    #[test]
    fn backprop_equals_in_place() {
        let y = Array2::<f32>::from_shape_fn((5, 7), |(i, j)| ((i * 7 + j) as f32 * 0.29).sin());
        let g = Array2::<f32>::from_shape_fn((7, 5), |(i, j)| (i as f32 - j as f32) * 0.3);
        for act in [Activation::Tanh, Activation::Relu, Activation::Identity] {
            let mut want = g.t().to_owned();
            act.backprop_inplace(want.view_mut(), y.view());
            let got = act.backprop(g.t(), y.view());
            assert_eq!(got.mapv(f32::to_bits), want.mapv(f32::to_bits), "{act}");
            assert_eq!(got.dim(), (5, 7));
        }
    }
}
