//! tract, the pure-Rust engine: always compiled, the backend that runs wherever we can
//! cross-compile to.
//!
//! [`TractBackend`] (`backend`) loads a checked ONNX file into tract and keeps one optimized plan
//! per input shape. The other files are measured departures from running tract as it comes, each
//! with its numbers in its own essay:
//!
//! * `split` — a batch above 1 of a model with a dynamic batch runs as batch-1 runs spread over
//!   `--threads` single-threaded states, because tract's batched convolutions materialize an
//!   im2col buffer that costs more than batching saves;
//! * `threads` — at batch 1, matrix products run on a pool of `--threads` workers unless timing at
//!   load finds one thread faster;
//! * `rewrite` ([`optimize`]) — depthwise convolutions move channel-last where that is faster;
//! * `depthwise` — and run on an AVX2+FMA kernel of ours where the CPU has one (tract's own is
//!   scalar on x86_64): `depthwise/plane` computes the NCHW form, `depthwise/hwc` the channel-last
//!   one;
//! * `broadcast_rows` — a per-channel operand behind a batch axis becomes one value per row, so
//!   tract runs the element-wise op with its row kernel instead of a call per value;
//! * `train_batch_norm` — ONNX's training-mode BatchNormalization, which tract does not import,
//!   so the BN probe is one node per layer as with ONNX Runtime.

mod backend;
mod broadcast_rows;
mod depthwise;
mod per_image;
mod pointwise;
mod replace;
mod rewrite;
mod split;
mod threads;
mod train_batch_norm;

pub use backend::TractBackend;
pub use rewrite::optimize;
/// tract's ONNX importer as the backend uses it (training-mode BatchNormalization included), for
/// the profiling example.
#[doc(hidden)]
pub use train_batch_norm::onnx as importer;
pub(crate) use train_batch_norm::onnx;
