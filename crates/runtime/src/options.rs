use std::path::PathBuf;

/// Where ONNX Runtime runs the graph.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExecutionProvider {
    #[default]
    Cpu,
    Cuda,
    TensorRt,
}

impl ExecutionProvider {
    pub fn name(self) -> &'static str {
        match self {
            ExecutionProvider::Cpu => "CPUExecutionProvider",
            ExecutionProvider::Cuda => "CUDAExecutionProvider",
            ExecutionProvider::TensorRt => "TensorrtExecutionProvider",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "cpu" => Some(ExecutionProvider::Cpu),
            "cuda" => Some(ExecutionProvider::Cuda),
            "tensorrt" | "trt" => Some(ExecutionProvider::TensorRt),
            _ => None,
        }
    }
}

/// TensorRT settings; the engine cache matters because the first engine build takes minutes
/// on a Jetson.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TensorRtOptions {
    pub fp16: bool,
    pub engine_cache_dir: Option<PathBuf>,
}

/// How a backend loads and runs models. Build with `BackendOptions::default().with_*(…)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackendOptions {
    /// Worker threads; `None` means every core.
    pub threads: Option<usize>,
    /// Explicit `libonnxruntime.so`, first in the discovery order.
    pub ort_lib: Option<PathBuf>,
    pub provider: ExecutionProvider,
    /// Run on the CPU when `provider` cannot be registered, instead of failing.
    pub fallback_cpu: bool,
    pub tensorrt: TensorRtOptions,
}

impl BackendOptions {
    pub fn with_threads(mut self, threads: Option<usize>) -> Self {
        self.threads = threads;
        self
    }
    pub fn with_ort_lib(mut self, path: Option<PathBuf>) -> Self {
        self.ort_lib = path;
        self
    }
    pub fn with_provider(mut self, provider: ExecutionProvider) -> Self {
        self.provider = provider;
        self
    }
    pub fn with_fallback_cpu(mut self, fallback: bool) -> Self {
        self.fallback_cpu = fallback;
        self
    }
    pub fn with_tensorrt(mut self, tensorrt: TensorRtOptions) -> Self {
        self.tensorrt = tensorrt;
        self
    }

    /// The thread count to use: the explicit one, or the machine's cores.
    pub fn thread_count(&self) -> usize {
        self.threads
            .filter(|n| *n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}
