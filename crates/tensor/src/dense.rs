//! A fully connected layer with an analytic backward pass.

use crate::activation::Activation;
use crate::error::TensorError;
use crate::gemm::{mat_mul, mat_mul_into};
use crate::init::orthogonal;
use crate::rng::Rng;
use ndarray::{Array1, Array2, ArrayView2, Axis, NdFloat};

/// A dense layer `y = phi(x W + b)`.
///
/// `x: [batch, in]`, `W: [in, out]`, `b: [out]`, `y: [batch, out]`. The weight is stored
/// input-major (the transpose of PyTorch's `nn.Linear.weight`) so that the forward pass is
/// a single `x.dot(W)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dense<A = f32> {
    /// Weight `[in, out]`.
    pub weight: Array2<A>,
    /// Bias `[out]`.
    pub bias: Array1<A>,
    /// Activation applied after the affine map.
    pub activation: Activation,
}

/// Gradients of a loss with respect to a [`Dense`] layer's input and parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseGrads<A = f32> {
    /// dL/dx `[batch, in]`; `None` when not requested (first layer, or a local rule).
    pub input: Option<Array2<A>>,
    /// dL/dW `[in, out]`.
    pub weight: Array2<A>,
    /// dL/db `[out]`.
    pub bias: Array1<A>,
}

impl<A: NdFloat> Dense<A> {
    /// A layer from given parameters.
    ///
    /// # Errors
    /// [`TensorError::Shape`] if `bias.len() != weight.ncols()`.
    pub fn new(
        weight: Array2<A>,
        bias: Array1<A>,
        activation: Activation,
    ) -> Result<Self, TensorError> {
        if bias.len() != weight.ncols() {
            return Err(TensorError::Shape {
                what: "Dense::new bias",
                expected: format!("[{}]", weight.ncols()),
                got: format!("[{}]", bias.len()),
            });
        }
        Ok(Dense {
            weight,
            bias,
            activation,
        })
    }

    /// CleanRL's `layer_init`: orthogonal weight with `gain`, zero bias
    /// (`torch.nn.init.orthogonal_(layer.weight, std)`, `constant_(layer.bias, 0)`).
    /// CleanRL uses gain `sqrt(2)` for hidden layers, `0.01` for the policy head and `1.0`
    /// for the value head.
    pub fn orthogonal(
        inputs: usize,
        outputs: usize,
        gain: f64,
        activation: Activation,
        rng: &mut Rng,
    ) -> Self {
        Dense {
            weight: orthogonal(inputs, outputs, gain, rng),
            bias: Array1::zeros(outputs),
            activation,
        }
    }

    /// Number of inputs (`in`).
    pub fn inputs(&self) -> usize {
        self.weight.nrows()
    }

    /// Number of outputs (`out`).
    pub fn outputs(&self) -> usize {
        self.weight.ncols()
    }

    /// Number of parameters (`in * out + out`).
    pub fn num_parameters(&self) -> usize {
        self.weight.len() + self.bias.len()
    }

    /// Forward pass `x: [batch, in] -> y: [batch, out]`.
    ///
    /// # Panics
    /// If `x.ncols() != self.inputs()`.
    pub fn forward(&self, x: ArrayView2<A>) -> Array2<A> {
        let mut y = Array2::zeros((0, 0));
        self.forward_into(x, &mut y);
        y
    }

    /// [`Dense::forward`] into `y`, reusing its buffer when it already has the shape
    /// `[batch, out]` in standard layout (else it is replaced): the same bits. For `f32`
    /// this allocates nothing ([`crate::gemm`]).
    ///
    /// # Panics
    /// If `x.ncols() != self.inputs()`.
    pub fn forward_into(&self, x: ArrayView2<A>, y: &mut Array2<A>) {
        assert_eq!(x.ncols(), self.inputs(), "Dense::forward: input width");
        let shape = (x.nrows(), self.outputs());
        if y.dim() != shape || !y.is_standard_layout() {
            *y = Array2::zeros(shape);
        }
        mat_mul_into(x, self.weight.view(), y.view_mut());
        *y += &self.bias;
        self.activation.apply_inplace(y.view_mut());
    }

    /// Backward pass: given the layer's input `x: [batch, in]`, its output
    /// `y: [batch, out]` (from [`Dense::forward`]) and `dy = dL/dy: [batch, out]`, returns
    /// dL/dW, dL/db and, if `input_grad`, dL/dx.
    ///
    /// # Panics
    /// If the shapes do not fit the layer.
    pub fn backward(
        &self,
        x: ArrayView2<A>,
        y: ArrayView2<A>,
        dy: ArrayView2<A>,
        input_grad: bool,
    ) -> DenseGrads<A> {
        let dz = self.activation.backprop(dy, y);
        self.backward_pre_activation(x, dz.view(), input_grad)
    }

    /// Backward pass from `dz = dL/dz: [batch, out]`, the gradient with respect to the
    /// pre-activation `z = x W + b`.
    ///
    /// # Panics
    /// If the shapes do not fit the layer.
    pub fn backward_pre_activation(
        &self,
        x: ArrayView2<A>,
        dz: ArrayView2<A>,
        input_grad: bool,
    ) -> DenseGrads<A> {
        // Results in standard (row-major) layout, whatever the layout of the operands:
        // optimisers see parameters and gradients as flat slices in the same order.
        let weight = mat_mul(x.t(), dz);
        let input = input_grad.then(|| mat_mul(dz, self.weight.t()));
        DenseGrads {
            input,
            weight,
            bias: dz.sum_axis(Axis(0)),
        }
    }
}
