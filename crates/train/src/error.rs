use std::path::PathBuf;

use ndarray::{ArrayBase, Data, Dimension};

/// Everything a caller can get wrong, or a file can be wrong about. Each message is written to be
/// the one line the CLI prints, so it names the quantity and the numbers involved.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("no data: {0} is empty")]
    Empty(String),
    #[error("need at least 2 views per frame to learn invariance, got {0}")]
    TooFewViews(usize),
    #[error("need at least {needed} samples for {what}, got {got}")]
    TooFewSamples {
        what: String,
        needed: usize,
        got: usize,
    },
    #[error("need at least 2 classes with examples, got {0}")]
    TooFewClasses(usize),
    #[error("class {0:?} has no examples")]
    EmptyClass(String),
    #[error("k = {k} is larger than the {n} samples available")]
    KTooLarge { k: usize, n: usize },
    #[error("{0} contains NaN or infinite values")]
    NonFinite(String),
    #[error("dimension mismatch in {what}: expected {expected}, got {got}")]
    DimMismatch {
        what: String,
        expected: usize,
        got: usize,
    },
    #[error("invalid option: {0}")]
    InvalidConfig(String),
    #[error(
        "the encoder's output is {dim} values an image, too wide to train an adapter on (at most {max}): a feature map or a sequence, not a pooled embedding; use an encoder whose output is its pooled embedding, or adapt without an adapter"
    )]
    EmbeddingTooWide { dim: usize, max: usize },
    #[error("node {node}: operator {op} is not supported by the trainable graph")]
    UnsupportedOp { op: String, node: String },
    #[error("graph node {node}: {reason}")]
    InvalidGraph { node: String, reason: String },
    #[error("{path}: not a valid {kind}: {reason}")]
    Corrupt {
        path: PathBuf,
        kind: &'static str,
        reason: String,
    },
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = TrainError> = std::result::Result<T, E>;

/// NaN in an embedding spreads through every matmul of a step and silently ruins the run, so
/// every public entry point checks its arrays once, up front.
pub(crate) fn ensure_finite<S, D>(what: &str, x: &ArrayBase<S, D>) -> Result<()>
where
    S: Data<Elem = f32>,
    D: Dimension,
{
    if x.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(TrainError::NonFinite(what.to_string()))
    }
}

pub(crate) fn ensure_dim(what: &str, expected: usize, got: usize) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(TrainError::DimMismatch {
            what: what.to_string(),
            expected,
            got,
        })
    }
}
