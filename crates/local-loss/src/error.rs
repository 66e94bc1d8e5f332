//! The error type of this crate.

/// Errors of local rules: invalid options or inputs that the rule cannot handle.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LocalLossError {
    /// An option outside its allowed range.
    #[error("invalid local-rule option `{name}` = {value}: {allowed}")]
    InvalidOption {
        /// Option name as in configs, e.g. `pdm.guidance_weight`.
        name: &'static str,
        /// The value given, as text.
        value: String,
        /// What is allowed.
        allowed: &'static str,
    },
    /// A minibatch with fewer than 2 rows has no pairs.
    #[error("the local loss needs a minibatch of at least 2 rows, got {0}")]
    BatchTooSmall(usize),
    /// Input, output and guidance disagree on the batch size.
    #[error("batch sizes differ: input {input}, output {output}, guidance {guidance}")]
    BatchMismatch {
        /// Rows of the layer input.
        input: usize,
        /// Rows of the layer output.
        output: usize,
        /// Length of the guidance signal (equal to `output` when absent).
        guidance: usize,
    },
}

impl From<pdmrl_tensor::UnknownName> for LocalLossError {
    /// An option's unknown name ([`pdmrl_tensor::name_enum!`]'s `FromStr`) as
    /// [`LocalLossError::InvalidOption`].
    fn from(e: pdmrl_tensor::UnknownName) -> Self {
        LocalLossError::InvalidOption {
            name: e.what,
            value: e.value,
            allowed: e.allowed,
        }
    }
}
