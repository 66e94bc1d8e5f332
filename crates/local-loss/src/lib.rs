//! # pdmrl-local-loss
//!
//! Layer-local learning rules: each hidden layer of a network learns during the forward
//! pass from a loss that sees only the layer's input and output over a minibatch. No
//! gradient crosses layers.
//!
//! * [`LocalRule`]: the interface a rule implements. Given a layer's input
//!   `X: [batch, d_in]`, its output `H: [batch, d_out]` and an optional per-sample guidance
//!   signal `g: [batch]`, it returns its loss and `dL/dH: [batch, d_out]`; the caller turns
//!   that into parameter gradients with `pdmrl_tensor::Dense::backward` (no input grad).
//! * [`Pdm`]: pairwise distance matching (Tanneberg, ECAI 2025, arXiv:2507.11367): the
//!   normalised pairwise distances among the outputs should match those among the inputs
//!   (the MDS principle), optionally bent toward the distances of a reward signal.
//!   [`pdm_loss`] is the kernel over all pairs (O(B² d)); see its docs for the exact
//!   definition. [`pdm_loss_sampled`] evaluates the same formula over `k` sampled partners
//!   per row (option [`Pairs::Sampled`], O(B k d)), with the pairs drawn by
//!   [`sample_pairs`] from the rule's seeded RNG.
//! * [`Target`]: whether the caller passes each layer's input or the observation as the
//!   rule's `input` ([`LocalRule::target`]).
//!
//! A second rule is added by implementing [`LocalRule`]; agents take `Box<dyn LocalRule>`.

pub mod error;
pub mod options;
pub mod pdm;
pub mod rule;

pub use error::LocalLossError;
pub use options::{MdsLoss, Metric, Normalize, Pairs, PdmOptions, SAMMON_FLOOR, Target};
pub use pdm::{Pdm, pdm_loss, pdm_loss_sampled, sample_pairs};
pub use rule::{LocalLoss, LocalRule};

/// The code in README.md, compiled and run as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
