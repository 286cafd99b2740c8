//! What can go wrong when an encoder's own weights are imported, trained and written back.

use edge_ssl_runtime::RuntimeError;
use edge_ssl_train::TrainError;

/// Errors of [`super`]; each reads as one line. Messages name selections as `tail:N`, `bn`…
/// (the values a caller passes), never a command-line flag.
#[derive(Debug, thiserror::Error)]
pub enum TuneError {
    #[error("`{0}` is not a training selection (expected none, bn, tail:N with N >= 1, or all)")]
    Selection(String),
    #[error("operator {op} (node `{node}`) cannot be trained yet; {}", hint(.largest_tail))]
    UnsupportedOp {
        op: String,
        node: String,
        /// The most trailing blocks whose operators are all supported; `None` if not even the
        /// last one.
        largest_tail: Option<usize>,
    },
    #[error("the model has {0} graph outputs; encoder training needs exactly one embedding")]
    Outputs(usize),
    #[error("{what}: {reason}")]
    Data { what: &'static str, reason: String },
    #[error("the written model does not hold the trained weights: {0}")]
    WriteBack(String),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Train(#[from] TrainError),
}

fn hint(largest_tail: &Option<usize>) -> String {
    match largest_tail {
        Some(n) => format!("the last {n} block(s) can (tail:{n})"),
        None => "not even the last block can, so only none works".to_string(),
    }
}

pub type Result<T, E = TuneError> = std::result::Result<T, E>;
