//! [`OrtBackend`], the same on every build: with the `ort` feature it hands checking and loading
//! to the session (`imp` is `super::session`); without it both answer "not compiled with `ort`",
//! so choosing a backend stays a run-time question. On the CPU it loads one single-threaded
//! session per thread for a [`SessionPool`](crate::SessionPool); a GPU provider gets one session.
use std::path::Path;

use edge_ssl_core::ModelCard;

use crate::{Backend, BackendOptions, ExecutionProvider, Result, Session};

/// ONNX Runtime, loaded at run time (cargo feature `ort`).
#[derive(Clone, Debug, Default)]
pub struct OrtBackend {
    options: BackendOptions,
}

impl OrtBackend {
    pub fn new(options: BackendOptions) -> Self {
        OrtBackend { options }
    }
}

impl Backend for OrtBackend {
    fn name(&self) -> &'static str {
        "ort"
    }

    fn check(&self) -> Result<()> {
        imp::check(&self.options)
    }

    fn load(&self, onnx: &Path, card: &ModelCard) -> Result<Box<dyn Session>> {
        imp::load(&self.options, onnx, card)
    }

    fn load_parallel(&self, onnx: &Path, card: &ModelCard) -> Result<Vec<Box<dyn Session>>> {
        if self.options.provider != ExecutionProvider::Cpu {
            return Ok(vec![self.load(onnx, card)?]);
        }
        let single = self.options.clone().with_threads(Some(1));
        crate::backend::load_side_by_side(onnx, self.options.thread_count(), || {
            imp::load(&single, onnx, card)
        })
    }

    /// ONNX Runtime's CPU kernel has the training mode (checked against numpy and PyTorch by
    /// the BN tests); the GPU providers are left on the decomposed probe.
    fn runs_training_batch_norm(&self) -> bool {
        self.options.provider == ExecutionProvider::Cpu
    }
}

#[cfg(not(feature = "ort"))]
mod imp {
    use super::*;
    use crate::RuntimeError;

    fn not_compiled() -> RuntimeError {
        RuntimeError::NotCompiled {
            backend: "ort",
            feature: "ort",
        }
    }

    pub(crate) fn check(_: &BackendOptions) -> Result<()> {
        Err(not_compiled())
    }

    pub(crate) fn load(_: &BackendOptions, _: &Path, _: &ModelCard) -> Result<Box<dyn Session>> {
        Err(not_compiled())
    }
}

#[cfg(feature = "ort")]
use super::session as imp;
