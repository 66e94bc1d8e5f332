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

/// Options of the PDM rule. Defaults are docs/method.md's: `normalize = "mean"`,
/// `metric = "euclidean"`, `eps = 1e-8`, `guidance_weight = 0` (plain PDM).
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
}

impl Default for PdmOptions {
    fn default() -> Self {
        PdmOptions {
            normalize: Normalize::Mean,
            metric: Metric::Euclidean,
            eps: 1e-8,
            guidance_weight: 0.0,
        }
    }
}

impl PdmOptions {
    /// Checks the ranges documented on the fields.
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
        Ok(())
    }
}
