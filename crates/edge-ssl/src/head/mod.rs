//! Heads on top of (adapted) embeddings: fitting one ([`fit`]), writing it into a model
//! directory ([`write`](mod@write)) and measuring one ([`eval`]).

pub mod eval;
pub mod fit;
pub mod write;
