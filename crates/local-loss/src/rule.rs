//! The interface of a layer-local learning rule.

use crate::error::LocalLossError;
use crate::options::Target;
use ndarray::{Array2, ArrayView1, ArrayView2, NdFloat};

/// What a [`LocalRule`] returns for one layer and one minibatch.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalLoss<A = f32> {
    /// The layer's local loss (a scalar).
    pub loss: A,
    /// dL/dH with respect to the layer's output `H`, `[batch, d_out]`.
    pub grad_output: Array2<A>,
    /// Mean pairwise Euclidean distance of the output rows (a diagnostic: a layer whose
    /// features collapse shows it shrinking), `sqrt(s + eps)` averaged over pairs.
    pub mean_output_distance: A,
}

/// A layer-local learning rule.
///
/// Called once per hidden layer and minibatch during the forward pass, with the layer's
/// input `X: [batch, d_in]` (the previous layer's output, or the observation for the
/// first layer), its output `H = phi(X W + b): [batch, d_out]`, and an optional
/// per-sample guidance signal `g: [batch]` supplied by the algorithm (advantage or return).
/// The caller steps the layer's own parameters with `dL/dH` pushed through the layer
/// (`Dense::backward(.., input_grad = false)`); nothing flows to earlier layers.
pub trait LocalRule<A: NdFloat = f32>: Send + Sync {
    /// Short name used in logs and configs, e.g. `"pdm"`.
    fn name(&self) -> &str;

    /// Whether the rule uses a guidance signal (the algorithm may skip computing one).
    fn uses_guidance(&self) -> bool;

    /// What the caller must pass as `input` to [`LocalRule::loss_and_grad`]: the layer's
    /// own input `X_{l-1}` ([`Target::LayerInput`], the default) or the observation batch
    /// `X_0: [batch, d_0]` for every layer ([`Target::Observation`]). The rule cannot see
    /// the observation itself; the trainer asks this before each layer's call.
    /// [`crate::Pdm`] returns its option `target`.
    fn target(&self) -> Target {
        Target::LayerInput
    }

    /// The state of the rule's RNG, if it has one, for checkpoints (default: `None`, a
    /// rule without randomness). A rule that draws random numbers must return it, or a
    /// resumed run will differ from an uninterrupted one.
    fn rng_state(&self) -> Option<pdmrl_tensor::RngState> {
        None
    }

    /// Restores the RNG state saved by [`LocalRule::rng_state`] (default: ignores it).
    ///
    /// # Errors
    /// [`LocalLossError::InvalidOption`] naming `rng_state` if the state is malformed.
    fn set_rng_state(&mut self, state: &pdmrl_tensor::RngState) -> Result<(), LocalLossError> {
        let _ = state;
        Ok(())
    }

    /// Loss and `dL/dH` of one layer on one minibatch.
    ///
    /// # Errors
    /// [`LocalLossError::BatchTooSmall`] for fewer than 2 rows,
    /// [`LocalLossError::BatchMismatch`] when `input`, `output`, `guidance` disagree.
    ///
    /// Takes `&mut self` so that a rule may keep state between calls (for example the
    /// seeded RNG of a rule that samples pairs).
    fn loss_and_grad(
        &mut self,
        input: ArrayView2<A>,
        output: ArrayView2<A>,
        guidance: Option<ArrayView1<A>>,
    ) -> Result<LocalLoss<A>, LocalLossError>;

    /// [`LocalRule::loss_and_grad`] for measuring a layer that is not stepped: the same
    /// `loss` and `mean_output_distance` (bit for bit) and the same draws from the rule's
    /// RNG, but `grad_output` may be left empty (`[0, 0]`) to save its cost. The default
    /// computes the gradient anyway.
    ///
    /// # Errors
    /// As [`LocalRule::loss_and_grad`].
    fn loss_only(
        &mut self,
        input: ArrayView2<A>,
        output: ArrayView2<A>,
        guidance: Option<ArrayView1<A>>,
    ) -> Result<LocalLoss<A>, LocalLossError> {
        self.loss_and_grad(input, output, guidance)
    }
}
