use std::path::PathBuf;

use edge_ssl_core::CoreError;

/// Errors of loading and running models; each reads as one line a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("the {backend} backend is not compiled in (rebuild with `--features {feature}`)")]
    NotCompiled {
        backend: &'static str,
        feature: &'static str,
    },
    #[error(
        "ONNX Runtime library not found (looked in: {tried}); install it with `python3 -m venv .venv && .venv/bin/pip install onnxruntime==1.31.1`, or pass --ort-lib /path/to/libonnxruntime.so"
    )]
    OrtNotFound { tried: String },
    #[error("cannot load ONNX Runtime from {path}: {message}")]
    OrtLoad { path: PathBuf, message: String },
    #[error("{path}: not a usable ONNX model: {message}")]
    Model { path: PathBuf, message: String },
    #[error(
        "execution provider {provider} is unavailable: {message} (pass --fallback cpu to run on the CPU instead)"
    )]
    ProviderUnavailable {
        provider: &'static str,
        message: String,
    },
    #[error("{0}")]
    Input(String),
    #[error("{backend} failed to run the model: {message}")]
    Run { backend: String, message: String },
    /// The caller's progress callback asked to stop.
    #[error("cancelled")]
    Cancelled,
    #[error(transparent)]
    Core(#[from] CoreError),
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;
