//! Per-layer diagnostics of an update: [`LayerStats`] and how they are measured.

use crate::mlp::Mlp;
use ndarray::{Array2, ArrayView2};
use pdmrl_tensor::Activation;
use serde::Serialize;

/// Diagnostics of one hidden layer (docs/method.md: what explains a PDM result).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct LayerStats {
    /// The PDM loss of the layer on the minibatch (for `bp`/`frozen`: measured, not used).
    pub local_loss: f64,
    /// Mean pairwise euclidean distance of the layer's outputs over the minibatch.
    pub mean_distance: f64,
    /// Fraction of outputs with `|tanh| > 0.99` (for relu: outputs equal to 0), on the
    /// outputs the local loss saw (before the layer's step).
    pub saturated: f64,
    /// Frobenius norm of the layer's weight after the update.
    pub weight_norm: f64,
    /// Feature drift: `||H_now - H_prev|| / ||H_prev||` (Frobenius) of the layer's outputs
    /// on a fixed probe batch over one iteration's updates (NaN where not measured).
    pub drift: f64,
}

/// What one minibatch update reports.
#[derive(Debug, Clone, Default)]
pub struct UpdateReport {
    /// Global norm of the clipped-over gradients before clipping.
    pub grad_norm: f64,
    /// Per hidden layer of the actor; empty when not measured.
    pub actor_layers: Vec<LayerStats>,
    /// Per hidden layer of the critic; empty when not measured.
    pub critic_layers: Vec<LayerStats>,
}

pub(super) fn set_weight_norms(stats: &mut [LayerStats], net: &Mlp) {
    for (s, layer) in stats.iter_mut().zip(&net.hidden) {
        s.weight_norm = frobenius(&layer.weight);
    }
}

pub(super) fn frobenius(w: &Array2<f32>) -> f64 {
    w.iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum::<f64>()
        .sqrt()
}

pub(super) fn saturated_fraction(h: ArrayView2<f32>, activation: Activation) -> f64 {
    let n = h.len().max(1) as f64;
    let count = match activation {
        Activation::Tanh => h.iter().filter(|v| v.abs() > 0.99).count(),
        Activation::Relu => h.iter().filter(|&&v| v == 0.0).count(),
        Activation::Identity => 0,
    };
    count as f64 / n
}
