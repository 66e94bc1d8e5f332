//! # pdmrl-tensor
//!
//! Small, dependency-light numerical kernels on [`ndarray`] that the rest of pdmrl builds
//! on. Nothing here knows about reinforcement learning.
//!
//! * [`Dense`]: a fully connected layer `y = phi(x W + b)`, `x: [batch, in]`,
//!   `y: [batch, out]`, with an analytic backward pass ([`Dense::backward`]);
//! * [`Activation`]: tanh, relu, identity and their derivatives;
//! * [`orthogonal`]: PyTorch's `nn.init.orthogonal_` (as CleanRL's `layer_init` uses it);
//! * [`Adam`]: PyTorch's Adam; [`Sgd`]: PyTorch's SGD with momentum; [`Optimiser`]: either;
//!   [`clip_grad_norm`]: PyTorch's `clip_grad_norm_`;
//!   [`linear_anneal`]: CleanRL's learning-rate annealing;
//! * [`pairwise_sq_distances`], [`pairwise_distances`]: distances between the rows of a
//!   `[batch, features]` matrix through the Gram-matrix identity;
//! * [`Rng`], [`rng_from_seed`], [`derive_seed`]: the one seeded RNG type of the project;
//! * [`mat_mul`], [`mat_mul_into`]: matrix products, for `f32` with one fixed arithmetic on
//!   every vector path ([`simd`] says which path runs and forces one);
//! * [`name_enum!`]: an enum's names in configs (`ALL`, `name`, `Display`, `FromStr`).
//!
//! Kernels are generic over the float type `A` ([`ndarray::NdFloat`]): networks use `f32`,
//! gradient checks use `f64`.

pub mod activation;
pub mod adam;
pub mod clip;
pub mod dense;
pub mod distance;
pub mod error;
pub mod gemm;
pub mod gradcheck;
pub mod init;
pub mod names;
pub mod rng;
pub mod schedule;
pub mod sgd;
pub mod simd;
pub mod tanh;

pub use activation::Activation;
pub use adam::{Adam, AdamConfig};
pub use clip::clip_grad_norm;
pub use dense::{Dense, DenseGrads};
pub use distance::{pairwise_distances, pairwise_sq_distances};
pub use error::TensorError;
pub use gemm::{mat_mul, mat_mul_into};
pub use init::orthogonal;
pub use names::UnknownName;
pub use rng::{Rng, RngState, derive_seed, rng_from_seed};
pub use schedule::{Schedule, linear_anneal};
pub use sgd::{Optimiser, Sgd, SgdConfig};

/// Converts an `f64` constant into the float type `A` (exact for f64, rounded for f32).
#[inline]
pub fn cast<A: ndarray::NdFloat>(x: f64) -> A {
    <A as num_traits::NumCast>::from(x).expect("f64 constant representable in A")
}

/// The code in README.md, compiled and run as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
