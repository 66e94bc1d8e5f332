//! Options of the PDM rule (docs/method.md, "The local loss of one hidden layer").

use crate::error::LocalLossError;
use pdmrl_tensor::name_enum;
use serde::{Deserialize, Serialize};
use std::fmt;

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

/// How the mismatch between the normalised output distances `n` and the target distances
/// `t` is measured: the loss of multidimensional scaling (MDS) the rule minimises.
///
/// **\[choice\]** of this project: `squared_error` (default) is docs/method.md's
/// `(1/P) sum_pairs (n - t)^2`. The others are the classical MDS losses (Borg & Groenen,
/// *Modern Multidimensional Scaling*, 2005, ch. 3, 11 and 12):
///
/// * `sammon`: Sammon's stress (Sammon, 1969), `sum_pairs (n - t)^2 / t / sum_pairs t`:
///   relative errors, so small target distances (local structure) weigh more. A target
///   below `SAMMON_FLOOR` times the mean target counts as that floor (coincident inputs
///   would otherwise get an infinite weight);
/// * `kruskal`: Kruskal's stress-1 (Kruskal, 1964),
///   `sqrt(sum_pairs (n - t)^2 / sum_pairs n^2)`: scale-free in the output distances; taken
///   as 1 with zero gradient when every `n` is 0 (identical rows);
/// * `strain`: classical (Torgerson) strain, `||B(n) - B(t)||_F^2 / ||B(t)||_F^2` with
///   `B(D) = -1/2 J (D o D) J` the double-centred Gram matrix of a distance matrix `D`
///   (`J = I - 11^T / B`, `o` elementwise): matches inner products rather than distances.
///   Needs every pair (`pairs = "all"`); 0 with zero gradient when `B(t) = 0`.
///
/// Every variant is differentiated exactly through the normaliser and the metric, as the
/// default is, and checked against finite differences (tests/pdm_variants.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MdsLoss {
    /// `(1/P) sum_pairs (n - t)^2` (docs/method.md).
    #[default]
    SquaredError,
    /// Sammon's stress.
    Sammon,
    /// Kruskal's stress-1.
    Kruskal,
    /// Classical (Torgerson) strain on double-centred Gram matrices.
    Strain,
}

/// The floor of Sammon's weights, relative to the mean target distance: a pair whose
/// target is below `SAMMON_FLOOR * mean_pairs(t)` is weighted as if it were at that floor
/// (see [`MdsLoss::Sammon`]).
pub const SAMMON_FLOOR: f64 = 1e-3;

name_enum!(Normalize, "normalize", LocalLossError; Mean => "mean", Max => "max", None => "none");
name_enum!(Metric, "metric", LocalLossError; Euclidean => "euclidean", SquaredEuclidean => "squared_euclidean");
name_enum!(Target, "target", LocalLossError; LayerInput => "layer_input", Observation => "observation");
name_enum!(MdsLoss, "loss", LocalLossError; SquaredError => "squared_error", Sammon => "sammon", Kruskal => "kruskal", Strain => "strain");

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
/// `pairs = "all"`, `target = "layer_input"`, `loss = "squared_error"`.
///
/// `loss` is left out of the serialized options at its default, so configs written before
/// it existed serialize (and hash into run ids) as before.
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
    /// The MDS loss between output and target distances, see [`MdsLoss`].
    #[serde(skip_serializing_if = "is_squared_error")]
    pub loss: MdsLoss,
}

fn is_squared_error(loss: &MdsLoss) -> bool {
    *loss == MdsLoss::SquaredError
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
            loss: MdsLoss::SquaredError,
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
        if self.loss == MdsLoss::Strain && self.pairs != Pairs::All {
            return Err(LocalLossError::InvalidOption {
                name: "pdm.loss",
                value: "strain".to_string(),
                allowed: "strain double-centres the full [B, B] distance matrices: it needs pairs = \"all\"",
            });
        }
        Ok(())
    }
}
