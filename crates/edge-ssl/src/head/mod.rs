//! Heads on top of (adapted) embeddings: fitting one ([`fit`]), or clustering frames without
//! labels into one ([`cluster`]), writing it into a model directory ([`mod@write`]) and measuring
//! one ([`eval`]).

pub mod cluster;
pub mod eval;
pub mod fit;
pub mod write;
