//! The fleet task's own error: what was wrong with the arrays a ServerApp sent, or with the
//! local data, model or files.

use edge_ssl_train::TrainError;

/// What went wrong preparing or running a federated round on this device.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FleetTaskError {
    /// The message lacks an array the device needs.
    #[error("the global arrays have no `{name}`")]
    MissingArray { name: String },
    /// An array has another shape than the device's model needs.
    #[error("array `{name}` has shape {got:?}, this device needs {expected}")]
    ArrayShape {
        name: String,
        got: Vec<usize>,
        expected: String,
    },
    /// An array holds NaN or an infinity.
    #[error("array `{name}` holds non-finite values")]
    NonFinite { name: String },
    /// Labeled folders whose classes are not the federation's.
    #[error("labeled class `{class}` is not one of the federation's classes ({known})")]
    UnknownClass { class: String, known: String },
    /// A config value of the wrong kind or out of range.
    #[error("config `{key}`: {reason}")]
    Config { key: String, reason: String },
    /// Too little local data to train on.
    #[error("{0}")]
    Data(String),
    /// The library failed (model, frames, files).
    #[error(transparent)]
    Library(#[from] crate::Error),
    /// Training or the head failed.
    #[error(transparent)]
    Train(#[from] TrainError),
}

/// `Result` with [`FleetTaskError`].
pub type Result<T, E = FleetTaskError> = std::result::Result<T, E>;
