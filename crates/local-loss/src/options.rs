//! Options of the PDM rule (docs/method.md, "The local loss of one hidden layer").

use crate::error::LocalLossError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How pairwise distances are normalised before they are compared.
///
/// **\[choice\]** of this project (docs/method.md): `mean` (default) lets a layer change the scale
/// of its representation while keeping its geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Normalize {
    /// Divide by the mean over pairs.
    #[default]
    Mean,
    /// Divide by the maximum over pairs.
    Max,
    /// No normalisation.
    None,
}

/// The distance between two rows.
///
/// **\[choice\]**: `euclidean` (default) `sqrt(||a - b||^2 + eps)`; `squared_euclidean`
/// `||a - b||^2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// `sqrt(s + eps)`, `s` the squared distance.
    #[default]
    Euclidean,
    /// `s`, the squared distance.
    SquaredEuclidean,
}

/// Which pairs of rows the PDM loss compares.
///
/// **\[choice\]** of this project (not in the paper): `all` (default) is docs/method.md's loss
/// over all `B(B-1)/2` pairs, cost O(B² d), memory O(B²) ([`crate::pdm_loss`]). `sampled`
/// pairs each row `i` with `k` partners `j != i` drawn without replacement (per row) from the
/// rule's seeded RNG, fresh on every call, and evaluates the same formula over those
/// `B·k` ordered pairs, cost O(B k (d_in + d_out)), memory O(B k)
/// ([`crate::pdm_loss_sampled`]); it needs `1 <= k <= B - 1`.
///
/// In configs (externally tagged, snake_case):
///
/// ```toml
/// pairs = "all"                      # the default
/// pairs = { sampled = { k = 32 } }   # 32 partners per row
/// ```
///
/// With `normalize = "none"` the sampled loss and gradient are unbiased estimates of the
/// full ones (every ordered pair is drawn with the same probability `k / (B - 1)`); with
/// `mean` the normaliser is estimated from the same pairs, so the estimate is a ratio and
/// biased by O(1/(B k)); with `max` the maximum over the sample is below the full one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Pairs {
    /// Every pair `i < j` of the minibatch.
    #[default]
    All,
    /// `k` partners per row, drawn without replacement from the other `B - 1` rows.
    Sampled {
        /// Partners per row, `1 <= k <= B - 1` (`k = 0` is rejected by
        /// [`PdmOptions::check`], `k >= B` when the rule is called).
        k: usize,
    },
}

/// Where the target distances of every hidden layer come from.
///
/// **\[choice\]** (docs/method.md): `layer_input` (default) matches each layer's output to its
/// own input `X_{l-1}`; `observation` matches every layer's output to the raw network input
/// `X_0`.
///
/// The rule cannot see the observation: it always takes its target distances from the
/// `input` argument of [`crate::LocalRule::loss_and_grad`]. With `target = "observation"` it
/// is the **caller** (the trainer) that passes the observation batch `[B, d_0]` as `input`
/// for every layer instead of the layer's input; it asks the rule through
/// [`crate::LocalRule::target`]. The loss functions themselves never read this option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// The layer's own input `X_{l-1}`.
    #[default]
    LayerInput,
    /// The observation batch `X_0`, for every layer.
    Observation,
}

macro_rules! name_enum {
    ($ty:ident, $what:literal, $($variant:ident => $name:literal),+) => {
        impl $ty {
            /// The name used in configs.
            pub fn name(self) -> &'static str {
                match self { $($ty::$variant => $name),+ }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
        impl FromStr for $ty {
            type Err = LocalLossError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($name => Ok($ty::$variant),)+
                    other => Err(LocalLossError::InvalidOption {
                        name: $what,
                        value: other.to_string(),
                        allowed: concat!("one of: ", $($name, " "),+),
                    }),
                }
            }
        }
    };
}

name_enum!(Normalize, "normalize", Mean => "mean", Max => "max", None => "none");
name_enum!(Metric, "metric", Euclidean => "euclidean", SquaredEuclidean => "squared_euclidean");
name_enum!(Target, "target", LayerInput => "layer_input", Observation => "observation");

impl fmt::Display for Pairs {
    /// `all` or `sampled(k = 32)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pairs::All => f.write_str("all"),
            Pairs::Sampled { k } => write!(f, "sampled(k = {k})"),
        }
    }
}

/// Options of the PDM rule. Defaults are docs/method.md's: `normalize = "mean"`,
/// `metric = "euclidean"`, `eps = 1e-8`, `guidance_weight = 0` (plain PDM),
/// `pairs = "all"`, `target = "layer_input"`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PdmOptions {
    /// Normalisation of every set of distances (input, output, guidance).
    pub normalize: Normalize,
    /// Distance between rows.
    pub metric: Metric,
    /// Added inside the square root of the euclidean metric, > 0 (docs/method.md: 1e-8).
    pub eps: f64,
    /// Weight `lambda` in [0, 1] of the guidance distances in the target; 0 = plain PDM.
    pub guidance_weight: f64,
    /// Which pairs the loss compares: all (default) or `k` sampled partners per row.
    pub pairs: Pairs,
    /// Where the target distances come from; read by the caller, see [`Target`].
    pub target: Target,
}

impl Default for PdmOptions {
    fn default() -> Self {
        PdmOptions {
            normalize: Normalize::Mean,
            metric: Metric::Euclidean,
            eps: 1e-8,
            guidance_weight: 0.0,
            pairs: Pairs::All,
            target: Target::LayerInput,
        }
    }
}

impl PdmOptions {
    /// Checks the ranges documented on the fields. The upper bound `k <= B - 1` of
    /// `pairs.sampled.k` depends on the batch and is checked when the rule is called.
    ///
    /// # Errors
    /// [`LocalLossError::InvalidOption`] naming the option.
    pub fn check(&self) -> Result<(), LocalLossError> {
        if !(0.0..=1.0).contains(&self.guidance_weight) {
            return Err(LocalLossError::InvalidOption {
                name: "pdm.guidance_weight",
                value: self.guidance_weight.to_string(),
                allowed: "must be in [0, 1]",
            });
        }
        if !(self.eps > 0.0 && self.eps.is_finite()) {
            return Err(LocalLossError::InvalidOption {
                name: "pdm.eps",
                value: self.eps.to_string(),
                allowed: "must be finite and > 0",
            });
        }
        if self.pairs == (Pairs::Sampled { k: 0 }) {
            return Err(LocalLossError::InvalidOption {
                name: "pdm.pairs.sampled.k",
                value: "0".to_string(),
                allowed: "must be >= 1 (and below the batch size)",
            });
        }
        Ok(())
    }
}
