//! Images in, embeddings and decisions out: [`embedder`] (encoder + adapter) and
//! [`classifier`] (embedder + head, timed).

pub mod classifier;
pub mod embedder;
