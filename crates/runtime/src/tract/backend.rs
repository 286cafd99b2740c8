//! The tract backend and its session: a checked ONNX file becomes one `InferenceModel`, and each
//! input shape a caller runs gets its own optimized plan (tract specializes a model to concrete
//! shapes, and optimizing costs far more than running), built once through [`rewrite`] and kept
//! with its run state. Batches above 1 go through [`split`] or, for a model that fixes its batch,
//! in chunks of it; at batch 1 the executor [`threads`] chose at load runs the plan.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use edge_ssl_core::{ModelCard, Tensor, TensorView};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::tract_linalg::multithread::{Executor, multithread_tract_scope};

use super::rewrite;
use super::split::{self, Plan};
use super::threads;
use crate::backend::card_output::card_output_first;
use crate::backend::fixed_batch::{fixed_batch, run_in_chunks};
use crate::backend::{check_inputs_match_card, load_side_by_side};
use crate::onnx::inspect::{self, first_line};
use crate::{Backend, BackendOptions, Result, RuntimeError, Session, TensorInfo};

/// Pure-Rust CPU backend; always compiled.
#[derive(Clone, Debug, Default)]
pub struct TractBackend {
    options: BackendOptions,
}

impl TractBackend {
    pub fn new(options: BackendOptions) -> Self {
        TractBackend { options }
    }
}

impl Backend for TractBackend {
    fn name(&self) -> &'static str {
        "tract"
    }

    fn check(&self) -> Result<()> {
        Ok(())
    }

    /// Through `tract/train_batch_norm.rs`, which imports the node.
    fn runs_training_batch_norm(&self) -> bool {
        true
    }

    fn load(&self, onnx: &Path, card: &ModelCard) -> Result<Box<dyn Session>> {
        let crate::onnx::byte_input::Runnable { proto, facts, .. } =
            crate::onnx::byte_input::read_runnable(onnx)?;
        check_inputs_match_card(onnx, &facts.inputs, card)?;
        let model = inspect::tract_model(onnx, proto)?;
        let threads = self.options.thread_count();
        let executor = if threads > 1 {
            Executor::multithread(threads)
        } else {
            Executor::SingleThread
        };
        let fixed = fixed_batch(&facts.inputs);
        let mut session = TractSession {
            path: onnx.to_owned(),
            model,
            plans: HashMap::new(),
            // A model fixed at batch 1 is run sample by sample whatever its outputs declare.
            split: split::splittable(&facts.inputs, &facts.outputs) || fixed == Some(1),
            fixed_batch: fixed,
            workers: Vec::new(),
            worker_shape: Vec::new(),
            inputs: facts.inputs,
            outputs: facts.outputs,
            executor,
            threads,
            single_at_batch_1: false,
        };
        // Optimize for batch 1 (or the batch the model fixes) now, so a model tract cannot handle
        // fails at load time.
        let mut shape = card.input.batch_shape(fixed.unwrap_or(1)).to_vec();
        if let Some(first) = session.inputs.first()
            && first.shape.len() != shape.len()
        {
            shape = first.shape.iter().map(|d| d.unwrap_or(1)).collect();
        }
        let pool = session.executor.clone();
        let plan = session.plan(&shape)?;
        if threads > 1 {
            let (executor, single) = threads::faster_executor(plan, &shape, pool);
            session.executor = executor;
            session.single_at_batch_1 = single;
        }
        Ok(card_output_first(Box::new(session), card))
    }

    fn load_parallel(&self, onnx: &Path, card: &ModelCard) -> Result<Vec<Box<dyn Session>>> {
        let single = TractBackend::new(self.options.clone().with_threads(Some(1)));
        load_side_by_side(onnx, self.options.thread_count(), || {
            single.load(onnx, card)
        })
    }
}

struct TractSession {
    path: PathBuf,
    model: InferenceModel,
    /// Optimized plans (with their run state) by input shape: tract specializes a model to
    /// concrete shapes, and optimizing costs far more than running, so it is done once per batch
    /// size. A state is kept between calls: a fresh one per run (what `plan.run` does) re-creates
    /// every op's state and the value table each time.
    plans: HashMap<Vec<usize>, Plan>,
    /// Whether batches above 1 run sample by sample (see [`split`]).
    split: bool,
    /// The batch size the model declares, when it fixes one: other batches run in chunks of it.
    fixed_batch: Option<usize>,
    /// Single-threaded copies of the batch-1 state for split batches, one per thread, and the
    /// batch-1 input shape they were made for.
    workers: Vec<Plan>,
    worker_shape: Vec<usize>,
    inputs: Vec<TensorInfo>,
    outputs: Vec<TensorInfo>,
    executor: Executor,
    threads: usize,
    /// Whether timing at load found one thread faster than the pool at batch 1 (see
    /// [`threads`]); split batches use every thread either way.
    single_at_batch_1: bool,
}

impl TractSession {
    fn plan(&mut self, shape: &[usize]) -> Result<&mut Plan> {
        if self.plans.contains_key(shape) {
            return Ok(self.plans.get_mut(shape).expect("just checked"));
        }
        let model = self.model.clone();
        let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(
            move || -> TractResult<Plan> {
                let model = model
                    .with_input_fact(0, f32::fact(shape).into())?
                    .into_typed()?
                    .into_decluttered()?;
                rewrite::optimize(model)?.into_runnable()?.spawn()
            },
        ));
        let plan = match built {
            Ok(Ok(plan)) => plan,
            Ok(Err(e)) => {
                return Err(RuntimeError::Model {
                    path: self.path.clone(),
                    message: format!(
                        "tract cannot optimize it for input shape {shape:?}: {}",
                        first_line(&e)
                    ),
                });
            }
            Err(_) => {
                return Err(RuntimeError::Model {
                    path: self.path.clone(),
                    message: format!("tract crashed optimizing it for input shape {shape:?}"),
                });
            }
        };
        Ok(self.plans.entry(shape.to_vec()).or_insert(plan))
    }
}

impl TractSession {
    /// Runs a batch above 1 as batch-1 runs on up to `threads` worker states.
    fn run_split(&mut self, input: &TensorView) -> Result<Vec<Tensor>> {
        let mut sample_shape = input.shape().to_vec();
        sample_shape[0] = 1;
        let wanted = self.threads.min(input.shape()[0]).max(1);
        if self.worker_shape != sample_shape {
            self.workers.clear();
            self.worker_shape = sample_shape.clone();
        }
        while self.workers.len() < wanted {
            let state = self.plan(&sample_shape)?.clone();
            self.workers.push(state);
        }
        split::run_split(&mut self.workers, input).map_err(|e| RuntimeError::Run {
            backend: "tract".into(),
            message: first_line(&e),
        })
    }
}

impl Session for TractSession {
    fn inputs(&self) -> &[TensorInfo] {
        &self.inputs
    }

    fn outputs(&self) -> &[TensorInfo] {
        &self.outputs
    }

    fn describe(&self) -> String {
        format!(
            "tract ({} thread{}{})",
            self.threads,
            if self.threads == 1 { "" } else { "s" },
            if self.single_at_batch_1 {
                "; batch 1 on one thread, timed faster at load"
            } else {
                ""
            }
        )
    }

    fn run(&mut self, inputs: &[TensorView]) -> Result<Vec<Tensor>> {
        let [input] = inputs else {
            return Err(RuntimeError::Input(format!(
                "the tract backend runs single-input models; got {} inputs",
                inputs.len()
            )));
        };
        if self.split && input.shape().first().is_some_and(|&n| n > 1) {
            return self.run_split(input);
        }
        match self.fixed_batch {
            Some(batch) => run_in_chunks(batch, inputs, |chunk| self.run_whole(&chunk[0])),
            None => self.run_whole(input),
        }
    }
}

impl TractSession {
    /// Runs `input` as one batch on the plan optimized for its shape.
    fn run_whole(&mut self, input: &TensorView) -> Result<Vec<Tensor>> {
        let tensor = split::to_tract(input, input.shape())
            .map_err(|e| RuntimeError::Input(format!("bad input tensor: {}", first_line(&e))))?;
        let executor = self.executor.clone();
        let plan = self.plan(input.shape())?;
        let outputs = multithread_tract_scope(executor, || plan.run(tvec!(tensor.into_tvalue())))
            .map_err(|e| RuntimeError::Run {
            backend: "tract".into(),
            message: first_line(&e),
        })?;
        outputs
            .iter()
            .map(|t| {
                let view = t
                    .to_plain_array_view::<f32>()
                    .map_err(|e| RuntimeError::Run {
                        backend: "tract".into(),
                        message: format!("output is not f32: {}", first_line(&e)),
                    })?;
                Tensor::from_shape_vec(view.shape(), view.iter().copied().collect()).map_err(|e| {
                    RuntimeError::Run {
                        backend: "tract".into(),
                        message: e.to_string(),
                    }
                })
            })
            .collect()
    }
}
