//! Images in, embeddings and decisions out: [`embedder`] (encoder + adapter),
//! [`classifier`] (embedder + head, timed) and [`source_matrix`] (a whole frame source into one
//! embedding matrix).

pub mod classifier;
pub mod embedder;
pub mod source_matrix;
