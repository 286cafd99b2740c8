use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use edge_ssl_runtime::{
    Backend, BackendKind, BackendOptions, ExecutionProvider, TensorRtOptions, select_backend,
};

/// Flags shared by every command that runs a model.
#[derive(Debug, Clone, Args)]
pub struct BackendArgs {
    /// Inference engine: `tract` (pure Rust), `ort` (ONNX Runtime) or `auto` (ort when it loads,
    /// else tract).
    #[arg(long, default_value = "auto", value_name = "B")]
    pub backend: String,
    /// Worker threads for inference (default: every core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Path to libonnxruntime.so (else ORT_DYLIB_PATH, the project's .venv, the system).
    #[arg(long, value_name = "PATH")]
    pub ort_lib: Option<PathBuf>,
    /// ONNX Runtime execution provider: cpu, cuda or tensorrt.
    #[arg(long, default_value = "cpu", value_name = "EP")]
    pub provider: String,
    /// `cpu`: run on the CPU when the requested provider cannot be used (and say so).
    #[arg(long, value_name = "cpu")]
    pub fallback: Option<String>,
    /// TensorRT: build FP16 engines.
    #[arg(long)]
    pub trt_fp16: bool,
    /// TensorRT: directory where built engines are cached between runs.
    #[arg(long, value_name = "DIR")]
    pub trt_cache: Option<PathBuf>,
}

impl BackendArgs {
    /// `--threads`, capped at a few per core (said on stderr).
    pub fn threads(&self) -> Option<usize> {
        self.threads.map(super::limits::cap_threads)
    }

    pub fn options(&self) -> anyhow::Result<BackendOptions> {
        let provider = ExecutionProvider::parse(&self.provider).with_context(|| {
            format!(
                "unknown provider `{}` (expected cpu, cuda or tensorrt)",
                self.provider
            )
        })?;
        let fallback_cpu = match self.fallback.as_deref() {
            None => false,
            Some("cpu") => true,
            Some(other) => bail!("unknown fallback `{other}` (only `cpu` is supported)"),
        };
        if self.threads == Some(0) {
            bail!("--threads must be at least 1");
        }
        Ok(BackendOptions::default()
            .with_threads(self.threads())
            .with_ort_lib(self.ort_lib.clone())
            .with_provider(provider)
            .with_fallback_cpu(fallback_cpu)
            .with_tensorrt(TensorRtOptions {
                fp16: self.trt_fp16,
                engine_cache_dir: self.trt_cache.clone(),
            }))
    }

    /// The backend the flags ask for; what `auto` picked is printed to stderr.
    pub fn backend(&self) -> anyhow::Result<Box<dyn Backend>> {
        let mut kind = BackendKind::parse(&self.backend)?;
        let options = self.options()?;
        // A GPU provider only exists in ONNX Runtime: `auto` must not quietly fall back to
        // tract on the CPU unless the user allowed a CPU fallback.
        if kind == BackendKind::Auto
            && options.provider != ExecutionProvider::Cpu
            && !options.fallback_cpu
        {
            kind = BackendKind::Ort;
        }
        if kind == BackendKind::Tract && options.provider != ExecutionProvider::Cpu {
            bail!("--provider {} needs --backend ort", self.provider);
        }
        let (backend, note) = select_backend(kind, &options)?;
        if let Some(note) = note {
            eprintln!("{note}");
        }
        Ok(backend)
    }
}
