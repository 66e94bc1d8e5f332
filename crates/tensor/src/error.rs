//! The error type of this crate.

/// Errors at the boundaries of the kernels (construction, hyperparameters). Hot kernels
/// panic on shape mismatches instead, which are internal invariants (see their `# Panics`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TensorError {
    /// Arrays whose shapes do not fit together.
    #[error("shape mismatch in {what}: expected {expected}, got {got}")]
    Shape {
        /// What was being built.
        what: &'static str,
        /// The expected shape, as text.
        expected: String,
        /// The shape given, as text.
        got: String,
    },
    /// A hyperparameter outside its allowed range.
    #[error("invalid hyperparameter {name} = {value}: {allowed}")]
    Hyperparameter {
        /// Its name.
        name: &'static str,
        /// Its value.
        value: f64,
        /// What is allowed.
        allowed: &'static str,
    },
    /// An unknown activation name.
    #[error("unknown activation `{0}`; expected one of: tanh, relu, identity")]
    UnknownActivation(String),
    /// Something this CPU or build cannot do (e.g. forcing a vector path it lacks).
    #[error("unsupported: {0}")]
    Unsupported(String),
}
