//! ONNX Runtime (cargo feature `ort`, on by default), loaded at run time and never linked.
//!
//! A device either has `libonnxruntime.so` (JetPack, Debian, a Python wheel) or it does not, and
//! the binary must run either way, so the library is opened with `load-dynamic`: [`library`]
//! finds it in a fixed, documented order and, when none is found, says the one command that
//! fixes it. [`OrtBackend`] (`backend`) always exists; without the feature it answers "not
//! compiled with …", and with it hands loading to `session`, which registers the CUDA or
//! TensorRT execution provider the options ask for (features `cuda`/`tensorrt`). TensorRT
//! engines take minutes to build on a Jetson, so `trt_cache` keeps them on disk, one directory
//! per model, input shape and precision.

mod backend;
pub mod library;
#[cfg(feature = "ort")]
mod session;
// The cache key is computed and tested on every build; only a `tensorrt` build reads it.
#[cfg_attr(not(feature = "tensorrt"), allow(dead_code))]
mod trt_cache;

pub use backend::OrtBackend;
