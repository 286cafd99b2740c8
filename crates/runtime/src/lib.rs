//! # edge-ssl-runtime
//!
//! One seam, two engines. Every caller — `embed`, `adapt`, `run`, `bench` — asks a [`Backend`] to
//! load a model and gets a [`Session`] that maps input tensors to output tensors. Nothing above
//! this crate knows which engine runs underneath, and nothing above it carries a `cfg`.
//!
//! * **tract** ([`TractBackend`]) is pure Rust and always compiled: it is the backend that works on
//!   any device we can cross-compile to. tract optimizes a model for one concrete input shape, so a
//!   session keeps the optimized plan per shape and pays the optimization once per shape. Two
//!   measured departures from running tract as it comes: a batch above 1 of a model with a dynamic
//!   batch runs as batch-1 runs spread over `--threads` single-threaded states (`tract::split`:
//!   tract's batched convolutions materialize an im2col buffer that costs more than batching
//!   saves), and depthwise convolutions run on an AVX2+FMA kernel of ours where the CPU has one
//!   (tract's own is scalar on x86_64), channel-last where that is faster ([`tract::optimize`]).
//!   At batch 1, matrix products run on a rayon pool of `--threads` workers (default: every core)
//!   unless timing at load finds one thread faster (`tract::threads`).
//! * **ONNX Runtime** ([`OrtBackend`], cargo feature `ort`, on by default) is loaded at run time
//!   (`load-dynamic`), never linked: a device either has `libonnxruntime.so` (JetPack, Debian, a
//!   Python wheel) or it does not, and the binary must run either way. [`onnxruntime::library`]
//!   finds the library in a fixed, documented order and, when none is found, says the one command
//!   that fixes it. CUDA and TensorRT execution providers sit behind the `cuda`/`tensorrt`
//!   features; asking for one that cannot be registered is an error unless the caller allowed a
//!   CPU fallback, and the session then reports the fallback so the CLI can print it.
//!
//! When a feature is off, its backend still exists and answers "not compiled with …", so the
//! choice of backends is a run-time question ([`BackendKind`], [`select_backend`]).
//!
//! [`onnx::inspect`] reads an ONNX file without running it: inputs and outputs, parameter count and
//! an estimate of the FLOPs per sample (from tract's own cost model of Conv and MatMul-like ops).
//! [`GraphBuilder`] appends plain ONNX math after a model's output — how `edge-ssl export` turns an
//! encoder, its adapter and its head into one graph.
//! [`card_for`] pairs an ONNX with its model card, or builds one from what the ONNX declares.
//!
//! The source shows the same split: the seam itself ([`Backend`], [`Session`], [`SessionPool`],
//! [`BackendOptions`], [`select_backend`], [`RuntimeError`]) at the top, and one folder per
//! subsystem below it — [`tract`], [`onnxruntime`], and [`onnx`] for everything that reads or
//! writes ONNX files without running them.

mod backend;
mod error;
pub mod onnx;
pub mod onnxruntime;
mod options;
mod select;
mod session_pool;
pub mod tract;

pub use backend::{Backend, Session, TensorInfo};
pub use error::{Result, RuntimeError};
pub use onnx::{
    BnLayerReport, BnProgress, BnReport, EMBEDDED_CARD_KEY, GraphBuilder, card_for,
    reestimate_batch_norm, reestimate_batch_norm_stream,
};
pub use onnxruntime::OrtBackend;
pub use options::{BackendOptions, ExecutionProvider, TensorRtOptions};
pub use select::{BackendKind, select_backend};
pub use session_pool::SessionPool;
pub use tract::TractBackend;
