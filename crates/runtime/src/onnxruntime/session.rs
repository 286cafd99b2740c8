//! The ONNX Runtime session, compiled with the `ort` feature.
//!
//! A model whose batch dimension is fixed runs any batch in chunks of what it declares
//! ([`fixed_batch`](crate::backend::fixed_batch)); ONNX Runtime itself would refuse the batch.

use std::path::Path;

use edge_ssl_core::{ModelCard, Tensor, TensorView};
use ort::ep::ExecutionProviderDispatch;
use ort::session::Session as OrtInner;
use ort::value::TensorRef;

use super::library;
use crate::backend::card_output::card_output_first;
use crate::backend::check_inputs_match_card;
use crate::backend::fixed_batch::{fixed_batch, run_in_chunks};
use crate::onnx::inspect;
use crate::{BackendOptions, ExecutionProvider, Result, RuntimeError, Session, TensorInfo};

pub(crate) fn check(options: &BackendOptions) -> Result<()> {
    library::load(options.ort_lib.as_deref()).map(|_| ())
}

pub(crate) fn load(
    options: &BackendOptions,
    onnx: &Path,
    card: &ModelCard,
) -> Result<Box<dyn Session>> {
    // Parse with our own reader first: it gives the same clear error for a corrupt file on every
    // backend, and the declared shapes (ONNX Runtime reports only what it inferred).
    let facts = inspect::facts(onnx)?;
    check_inputs_match_card(onnx, &facts.inputs, card)?;
    let (lib, env) = library::environment(options.ort_lib.as_deref())?;
    let threads = options.thread_count();
    let model_error = |e: ort::Error| RuntimeError::Model {
        path: onnx.to_owned(),
        message: e.to_string(),
    };
    let builder = || {
        OrtInner::builder(env)
            .and_then(|b| b.with_intra_threads(threads).map_err(Into::into))
            .map_err(model_error)
    };
    let mut fallback_note = None;
    let mut provider = options.provider;
    let mut b = builder()?;
    if provider != ExecutionProvider::Cpu {
        let trt_shape = super::trt_cache::key_shape(facts.inputs.first(), card);
        let registered = providers(options, onnx, &trt_shape)
            .and_then(|eps| b.with_execution_providers(eps).map_err(|e| e.to_string()));
        b = match registered {
            Ok(b) => b,
            Err(message) if options.fallback_cpu => {
                fallback_note = Some(format!(
                    "{} unavailable ({message}); running on CPUExecutionProvider because --fallback cpu was given",
                    provider.name()
                ));
                provider = ExecutionProvider::Cpu;
                builder()?
            }
            Err(message) => {
                return Err(RuntimeError::ProviderUnavailable {
                    provider: provider.name(),
                    message,
                });
            }
        };
    }
    let inner = b.commit_from_file(onnx).map_err(model_error)?;
    let session = Box::new(OrtSession {
        inner,
        fixed_batch: fixed_batch(&facts.inputs),
        inputs: facts.inputs,
        outputs: facts.outputs,
        describe: format!(
            "ort {} ({} thread{}, {})",
            provider.name(),
            threads,
            if threads == 1 { "" } else { "s" },
            lib.display()
        ),
        fallback_note,
    });
    Ok(card_output_first(session, card))
}

/// The execution providers to register for `options.provider`, each failing loudly so that
/// the caller, not ONNX Runtime, decides about falling back.
/// `onnx` and `trt_shape` key the TensorRT engine cache (see `trt_cache`).
fn providers(
    options: &BackendOptions,
    onnx: &Path,
    trt_shape: &[Option<usize>],
) -> std::result::Result<Vec<ExecutionProviderDispatch>, String> {
    match options.provider {
        ExecutionProvider::Cpu => Ok(Vec::new()),
        ExecutionProvider::Cuda => cuda(),
        ExecutionProvider::TensorRt => {
            let mut eps = tensorrt(options, onnx, trt_shape)?;
            // TensorRT hands unsupported subgraphs to CUDA.
            eps.extend(cuda()?);
            Ok(eps)
        }
    }
}

#[cfg(feature = "cuda")]
fn cuda() -> std::result::Result<Vec<ExecutionProviderDispatch>, String> {
    Ok(vec![ort::ep::CUDA::default().build().error_on_failure()])
}

#[cfg(not(feature = "cuda"))]
fn cuda() -> std::result::Result<Vec<ExecutionProviderDispatch>, String> {
    Err("this build has no CUDA support (rebuild with `--features cuda`)".into())
}

#[cfg(feature = "tensorrt")]
fn tensorrt(
    options: &BackendOptions,
    onnx: &Path,
    trt_shape: &[Option<usize>],
) -> std::result::Result<Vec<ExecutionProviderDispatch>, String> {
    use super::trt_cache::{EngineCacheKey, engine_cache_dir};
    let trt = &options.tensorrt;
    let mut ep = ort::ep::TensorRT::default().with_fp16(trt.fp16);
    if let Some(root) = &trt.engine_cache_dir {
        // One subdirectory per (model sha256, input shape, precision).
        let key = EngineCacheKey::for_model(onnx, trt_shape.to_vec(), trt.fp16)
            .map_err(|e| e.to_string())?;
        let dir = engine_cache_dir(root, &key, onnx).map_err(|e| e.to_string())?;
        ep = ep
            .with_engine_cache(true)
            .with_engine_cache_path(dir.display())
            .with_timing_cache(true)
            .with_timing_cache_path(dir.display());
    }
    Ok(vec![ep.build().error_on_failure()])
}

#[cfg(not(feature = "tensorrt"))]
fn tensorrt(
    _: &BackendOptions,
    _: &Path,
    _: &[Option<usize>],
) -> std::result::Result<Vec<ExecutionProviderDispatch>, String> {
    Err("this build has no TensorRT support (rebuild with `--features tensorrt`)".into())
}

struct OrtSession {
    inner: OrtInner,
    /// The batch size the model declares, when it fixes one.
    fixed_batch: Option<usize>,
    inputs: Vec<TensorInfo>,
    outputs: Vec<TensorInfo>,
    describe: String,
    fallback_note: Option<String>,
}

impl Session for OrtSession {
    fn inputs(&self) -> &[TensorInfo] {
        &self.inputs
    }

    fn outputs(&self) -> &[TensorInfo] {
        &self.outputs
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn fallback_note(&self) -> Option<&str> {
        self.fallback_note.as_deref()
    }

    fn run(&mut self, inputs: &[TensorView]) -> Result<Vec<Tensor>> {
        if inputs.len() != self.inputs.len() {
            return Err(RuntimeError::Input(format!(
                "the model takes {} input(s), got {}",
                self.inputs.len(),
                inputs.len()
            )));
        }
        match self.fixed_batch {
            Some(batch) => run_in_chunks(batch, inputs, |chunk| self.run_as_given(chunk)),
            None => {
                let outputs = self.run_as_given(inputs)?;
                let n = inputs.first().and_then(|t| t.shape().first()).copied();
                match n {
                    Some(n) if n > 1 && self.merged_batch(&outputs, n) => {
                        self.retry_one_at_a_time(inputs, n, outputs)
                    }
                    _ => Ok(outputs),
                }
            }
        }
    }
}

impl OrtSession {
    /// Whether an output whose leading dimension the model declares free came back with
    /// other than the `n` rows of the batch: a graph that leaves the batch free at its input
    /// but fixes it at 1 inside (a `Reshape` to `[1, -1]`, common in traced exports), so a
    /// batch of 8 gave one row of 8 images' values.
    fn merged_batch(&self, outputs: &[Tensor], n: usize) -> bool {
        outputs
            .iter()
            .zip(&self.outputs)
            .any(|(t, info)| info.shape.first() == Some(&None) && t.shape().first() != Some(&n))
    }

    /// Runs `inputs` one image a call; when that gives every free-batch output its `n` rows,
    /// this session runs one image a call from now on (as tract's does for such a model).
    /// Otherwise the model's own answer, `batched`, stands.
    fn retry_one_at_a_time(
        &mut self,
        inputs: &[TensorView],
        n: usize,
        batched: Vec<Tensor>,
    ) -> Result<Vec<Tensor>> {
        let single = run_in_chunks(1, inputs, |chunk| self.run_as_given(chunk))?;
        if self.merged_batch(&single, n) {
            return Ok(batched);
        }
        self.fixed_batch = Some(1);
        self.describe
            .push_str("; one image a call: the graph fixes its batch at 1 inside");
        Ok(single)
    }
}

impl OrtSession {
    /// One call into ONNX Runtime with `inputs` as they are.
    fn run_as_given(&mut self, inputs: &[TensorView]) -> Result<Vec<Tensor>> {
        let run_error = |message: String| RuntimeError::Run {
            backend: "ort".into(),
            message,
        };
        let contiguous: Vec<_> = inputs.iter().map(|v| v.as_standard_layout()).collect();
        let values = contiguous
            .iter()
            .zip(&self.inputs)
            .map(|(array, info)| {
                TensorRef::from_array_view(array)
                    .map(|t| (info.name.clone(), t))
                    .map_err(|e| run_error(e.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        let outputs = self
            .inner
            .run(values)
            .map_err(|e| run_error(e.to_string()))?;
        outputs
            .values()
            .map(|v| {
                v.try_extract_array::<f32>()
                    .map(|a| a.to_owned())
                    .map_err(|e| run_error(format!("output is not f32: {e}")))
            })
            .collect()
    }
}
