//! Multilayer perceptrons: hidden layers plus one output head.

use ndarray::{Array2, ArrayView2};
use pdmrl_tensor::{Activation, Dense, DenseGrads, Rng};

/// An MLP `obs: [batch, d_0] -> hidden layers (phi) -> head (identity): [batch, d_out]`.
///
/// Hidden layers and the head are kept apart because the trainers treat them apart: `bp`
/// trains both through one backward pass, the local trainers train `hidden` layer by
/// layer and the `head` on the algorithm's loss alone.
#[derive(Debug, Clone, PartialEq)]
pub struct Mlp {
    /// Hidden layers `l = 1..L`, `[d_{l-1}] -> [d_l]`.
    pub hidden: Vec<Dense<f32>>,
    /// Output head `[d_L] -> [d_out]`, identity activation.
    pub head: Dense<f32>,
    /// Multipliers of the hidden layers' outputs, one per hidden layer, applied after the
    /// activation in every forward pass (the `scale_features` option of the local
    /// trainers); empty (the default) multiplies by nothing. [`Mlp::forward_cached`] and
    /// [`Mlp::backward`] (backprop) do not support them.
    pub feature_scales: Vec<f32>,
}

/// Gradients of every layer of an [`Mlp`], in the order of [`Mlp::hidden`], then the head.
#[derive(Debug, Clone)]
pub struct MlpGrads {
    /// One entry per hidden layer.
    pub hidden: Vec<DenseGrads<f32>>,
    /// The head's.
    pub head: DenseGrads<f32>,
}

impl MlpGrads {
    /// Every layer's gradients, mutably, in the order of [`Mlp::layers`].
    pub fn layers_mut(&mut self) -> impl Iterator<Item = &mut DenseGrads<f32>> {
        self.hidden
            .iter_mut()
            .chain(std::iter::once(&mut self.head))
    }
}

/// Reused buffers of [`Mlp::forward_into`]: the output of every layer of the last call.
#[derive(Debug, Clone, Default)]
pub struct MlpWorkspace {
    outputs: Vec<Array2<f32>>,
}

impl Mlp {
    /// CleanRL's `layer_init` network: orthogonal weights, zero biases, gain
    /// `hidden_gain` (sqrt 2) on hidden layers and `head_gain` on the head (0.01 for a
    /// policy, 1.0 for a value function). Draws from `rng` layer by layer.
    pub fn new(
        inputs: usize,
        hidden_sizes: &[usize],
        outputs: usize,
        activation: Activation,
        hidden_gain: f64,
        head_gain: f64,
        rng: &mut Rng,
    ) -> Self {
        let mut hidden = Vec::with_capacity(hidden_sizes.len());
        let mut d = inputs;
        for &h in hidden_sizes {
            hidden.push(Dense::orthogonal(d, h, hidden_gain, activation, rng));
            d = h;
        }
        let head = Dense::orthogonal(d, outputs, head_gain, Activation::Identity, rng);
        Mlp {
            hidden,
            head,
            feature_scales: Vec::new(),
        }
    }

    /// Inference: `x: [batch, d_0] -> [batch, d_out]`, keeping no activations.
    pub fn forward(&self, x: ArrayView2<f32>) -> Array2<f32> {
        let features = self.features(x);
        self.head.forward(features.view())
    }

    /// [`Mlp::forward`] through `workspace`, whose buffers (one per layer) are reused from
    /// call to call: returns the output `[batch, n_out]`, the same bits as `forward`.
    /// A call with the batch size of the previous one allocates nothing (a rollout's
    /// forward pass; [`pdmrl_tensor::gemm`]).
    ///
    /// # Panics
    /// If `x.ncols()` is not the network's input width.
    pub fn forward_into<'w>(
        &self,
        x: ArrayView2<f32>,
        workspace: &'w mut MlpWorkspace,
    ) -> ArrayView2<'w, f32> {
        let layers = self.hidden.len() + 1;
        workspace
            .outputs
            .resize_with(layers, || Array2::zeros((0, 0)));
        for (l, layer) in self.layers().enumerate() {
            let (done, rest) = workspace.outputs.split_at_mut(l);
            let input = done.last().map_or(x, |h| h.view());
            layer.forward_into(input, &mut rest[0]);
            if let Some(&c) = self.feature_scales.get(l) {
                rest[0].mapv_inplace(|v| v * c);
            }
        }
        workspace.outputs[layers - 1].view()
    }

    /// The last hidden layer's output `X_L: [batch, d_L]` (the input itself if there is
    /// no hidden layer).
    pub fn features(&self, x: ArrayView2<f32>) -> Array2<f32> {
        let mut x = x.to_owned();
        for (l, layer) in self.hidden.iter().enumerate() {
            x = layer.forward(x.view());
            self.scale(l, &mut x);
        }
        x
    }

    /// Multiplies the output of hidden layer `l` by its feature multiplier, if any.
    fn scale(&self, l: usize, h: &mut Array2<f32>) {
        if let Some(&c) = self.feature_scales.get(l) {
            h.mapv_inplace(|v| v * c);
        }
    }

    /// Forward pass that keeps every activation for backprop: returns
    /// `[X_0, X_1, ..., X_L, Y]` (input, each hidden output, head output).
    pub fn forward_cached(&self, x: ArrayView2<f32>) -> Vec<Array2<f32>> {
        debug_assert!(
            self.feature_scales.is_empty(),
            "backprop does not support feature multipliers"
        );
        let mut acts = Vec::with_capacity(self.hidden.len() + 2);
        acts.push(x.to_owned());
        for layer in self.layers() {
            let next = layer.forward(acts.last().expect("non-empty").view());
            acts.push(next);
        }
        acts
    }

    /// Backprop of `dy = dL/dY: [batch, d_out]` through every layer, given the activations
    /// from [`Mlp::forward_cached`].
    ///
    /// # Panics
    /// If `acts` does not come from this network.
    pub fn backward(&self, acts: &[Array2<f32>], dy: ArrayView2<f32>) -> MlpGrads {
        let n = self.hidden.len();
        assert_eq!(
            acts.len(),
            n + 2,
            "Mlp::backward: activations of another network"
        );
        let mut head = self
            .head
            .backward(acts[n].view(), acts[n + 1].view(), dy, n > 0);
        let mut hidden = Vec::with_capacity(n);
        // Input gradients are moved down the stack, not copied: each is dropped once the
        // layer below has used it (the returned grads hold no input gradients).
        let mut grad = head.input.take();
        for l in (0..n).rev() {
            let dx = grad.take().expect("input gradient requested");
            let mut g =
                self.hidden[l].backward(acts[l].view(), acts[l + 1].view(), dx.view(), l > 0);
            grad = g.input.take();
            hidden.push(g);
        }
        hidden.reverse();
        MlpGrads { hidden, head }
    }

    /// The output of every hidden layer, `[X_1, ..., X_L]`, each `[batch, d_l]`.
    pub fn hidden_outputs(&self, x: ArrayView2<f32>) -> Vec<Array2<f32>> {
        let mut outs: Vec<Array2<f32>> = Vec::with_capacity(self.hidden.len());
        for (l, layer) in self.hidden.iter().enumerate() {
            let input = outs.last().map_or(x, |h| h.view());
            let mut next = layer.forward(input);
            self.scale(l, &mut next);
            outs.push(next);
        }
        outs
    }

    /// Every layer, hidden layers first, then the head.
    pub fn layers(&self) -> impl Iterator<Item = &Dense<f32>> {
        self.hidden.iter().chain(std::iter::once(&self.head))
    }

    /// Every layer, mutably, in the order of [`Mlp::layers`].
    pub fn layers_mut(&mut self) -> impl Iterator<Item = &mut Dense<f32>> {
        self.hidden
            .iter_mut()
            .chain(std::iter::once(&mut self.head))
    }

    /// Number of parameters.
    pub fn num_parameters(&self) -> usize {
        self.hidden.iter().map(Dense::num_parameters).sum::<usize>() + self.head.num_parameters()
    }
}

/// Flat mutable views of a layer's parameters, `[weight, bias]`, for the optimiser.
pub(crate) fn layer_params(layer: &mut Dense<f32>) -> [&mut [f32]; 2] {
    [
        layer.weight.as_slice_mut().expect("standard layout"),
        layer.bias.as_slice_mut().expect("standard layout"),
    ]
}

/// Flat views of a layer's gradients, `[weight, bias]`.
pub(crate) fn layer_grads(grads: &mut DenseGrads<f32>) -> [&mut [f32]; 2] {
    [
        grads.weight.as_slice_mut().expect("standard layout"),
        grads.bias.as_slice_mut().expect("standard layout"),
    ]
}

/// Sizes `[in * out, out]` of each layer's parameter tensors, flattened, for the optimiser.
pub(crate) fn param_sizes<'a>(layers: impl IntoIterator<Item = &'a Dense<f32>>) -> Vec<usize> {
    layers
        .into_iter()
        .flat_map(|l| [l.weight.len(), l.bias.len()])
        .collect()
}
