//! Heads on top of (adapted) embeddings: fitting one ([`fit`]) and measuring one ([`eval`]).

pub mod eval;
pub mod fit;
