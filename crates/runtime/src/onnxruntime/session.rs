//! The ONNX Runtime session, compiled with the `ort` feature.
//!
//! A model whose batch dimension is fixed runs any batch in chunks of what it declares
//! ([`fixed_batch`](crate::backend::fixed_batch)); ONNX Runtime itself would refuse the batch.
//! A model that quantizes its activations dynamically runs one image a call, so that no image's
//! output depends on the others batched with it.

use std::path::Path;

use edge_ssl_core::{ModelCard, Tensor, TensorView};
use ort::ep::ExecutionProviderDispatch;
use ort::session::Session as OrtInner;
use ort::value::TensorRef;

use super::library;
use crate::backend::card_output::card_output_first;
use crate::backend::check_inputs_match_card;
use crate::backend::fixed_batch::{
    batch_coupling, fixed_batch, normalizes_by_batch, run_in_chunks,
};
use crate::onnx::byte_input;
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
    let byte_input::Runnable {
        proto,
        facts,
        rewritten,
    } = byte_input::read_runnable(onnx)?;
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
    let inner = match rewritten {
        true => b.commit_from_memory(&crate::onnx::edit::to_bytes(&proto)),
        false => b.commit_from_file(onnx),
    }
    .map_err(model_error)?;
    // tract runs every batch as single images already (`tract::split`).
    let coupling = batch_coupling(&facts.operators).filter(|_| !normalizes_by_batch(&proto));
    drop(proto);
    let session = Box::new(OrtSession {
        inner,
        fixed_batch: fixed_batch(&facts.inputs).or(coupling.map(|_| 1)),
        inputs: facts.inputs,
        outputs: facts.outputs,
        describe: format!(
            "ort {} ({} thread{}, {}){}",
            provider.name(),
            threads,
            if threads == 1 { "" } else { "s" },
            lib.display(),
            coupling
                .map(|op| format!("; one image a call: {op} quantizes a whole batch at one scale"))
                .unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use ndarray::{Axis, IxDyn};
    use tract_onnx::pb;

    use crate::onnx::GraphBuilder;
    use crate::{Backend, BackendOptions, OrtBackend, card_for};

    /// The bundled encoder with its input quantized dynamically (`DynamicQuantizeLinear` →
    /// `DequantizeLinear` before the first convolution, as `quantize_dynamic` puts before every
    /// integer convolution): a batch gives each image the rows it gives alone, although one
    /// bright image in the batch would set the whole batch's quantization scale. Batched, the
    /// dark images' rows moved by up to 0.93 on MobileNetV3-Small quantized by
    /// `quantize_dynamic` (8 frames of vtest.avi, values up to 6.5).
    #[test]
    fn a_dynamically_quantized_model_gives_each_image_its_own_rows_with_ort() {
        let encoder =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/fmnist-ssl/encoder.onnx");
        let mut g = GraphBuilder::open(&encoder).unwrap();
        let mut nodes = g.take_nodes();
        let input = "input";
        assert_eq!(nodes[0].input[0], input);
        let node = |op: &str, inputs: &[&str], outputs: &[&str]| pb::NodeProto {
            op_type: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        g.push_node(node(
            "DynamicQuantizeLinear",
            &[input],
            &["q", "scale", "zero"],
        ));
        g.push_node(node(
            "DequantizeLinear",
            &["q", "scale", "zero"],
            &["dequantized"],
        ));
        nodes[0].input[0] = "dequantized".into();
        for n in nodes {
            g.push_node(n);
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dynamic.onnx");
        g.save(&path).unwrap();
        let card = card_for(&path, None).unwrap();
        let backend = OrtBackend::new(BackendOptions::default().with_threads(Some(1)));
        let mut session = backend.load(&path, &card).unwrap();
        assert!(
            session
                .describe()
                .contains("one image a call: DynamicQuantizeLinear"),
            "{}",
            session.describe()
        );

        let n = 6;
        let mut batch = edge_ssl_core::Tensor::from_shape_fn(IxDyn(&[n, 1, 28, 28]), |i| {
            ((i[0] * 7 + i[2] * 3 + i[3]) % 17) as f32 / 16.0 - 0.5
        });
        batch.index_axis_mut(Axis(0), 2).mapv_inplace(|v| v * 8.0);
        let whole = session.run_one(batch.view()).unwrap();
        for i in 0..n {
            let alone = session
                .run_one(batch.slice_axis(Axis(0), (i..i + 1).into()))
                .unwrap();
            assert_eq!(
                whole.index_axis(Axis(0), i),
                alone.index_axis(Axis(0), 0),
                "image {i}"
            );
        }

        // Its BN probe normalizes with the batch's statistics on purpose, so it runs batched:
        // one image a call, each batch of one was refused ("fixes its batch at 1 but output 0
        // has shape [32]"). Its statistics are the plain encoder's but for the input's 8-bit
        // rounding.
        let batches = vec![batch.clone(), batch.mapv(|v| 0.5 * v + 0.1)];
        let mut layers = Vec::new();
        for model in [&path, &encoder] {
            let out = dir.path().join("adapted.onnx");
            let report =
                crate::reestimate_batch_norm(&backend, model, &card, &batches, 1, &out).unwrap();
            assert_eq!(report.layers.len(), 7, "{}", model.display());
            layers.push(report.layers);
        }
        for (q, plain) in layers[0].iter().zip(&layers[1]) {
            eprintln!(
                "{}: mean shift {} against {}, variance ratio {} against {}",
                q.node, q.mean_shift, plain.mean_shift, q.var_ratio, plain.var_ratio
            );
            assert!(
                (q.mean_shift - plain.mean_shift).abs() <= 0.02 * plain.mean_shift.max(1.0)
                    && (q.var_ratio - plain.var_ratio).abs() <= 0.02 * plain.var_ratio,
                "{q:?} against {plain:?}"
            );
        }
    }
}
