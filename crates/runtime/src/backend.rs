use std::path::Path;

use edge_ssl_core::{ModelCard, Tensor, TensorView};

use crate::{Result, RuntimeError};

pub(crate) mod card_output;
pub(crate) mod fixed_batch;

/// Name, shape and element type of one model input or output; `None` marks a dimension the
/// model leaves free (typically the batch).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TensorInfo {
    pub name: String,
    pub shape: Vec<Option<usize>>,
    /// As the file declares it: `float32`, `float16`, `uint8`, … (`unknown` when it does not).
    pub element: &'static str,
}

/// A model loaded by one backend, ready to run.
pub trait Session: Send {
    fn inputs(&self) -> &[TensorInfo];
    fn outputs(&self) -> &[TensorInfo];

    /// Runs the model on one tensor per input, in the order of [`Session::inputs`].
    fn run(&mut self, inputs: &[TensorView]) -> Result<Vec<Tensor>>;

    /// Where the work runs, e.g. `tract (2 threads)` or `ort CPUExecutionProvider`.
    fn describe(&self) -> String;

    /// Set when the requested execution provider could not be used and the caller allowed the
    /// CPU instead; the CLI prints it.
    fn fallback_note(&self) -> Option<&str> {
        None
    }

    /// Runs a single-input model and returns its first output.
    fn run_one(&mut self, input: TensorView) -> Result<Tensor> {
        self.run(&[input])?
            .into_iter()
            .next()
            .ok_or_else(|| RuntimeError::Run {
                backend: self.describe(),
                message: "the model produced no output".into(),
            })
    }
}

/// An engine that can load ONNX models.
pub trait Backend {
    fn name(&self) -> &'static str;

    /// Whether this backend can load models on this machine (compiled in, library found).
    fn check(&self) -> Result<()>;

    /// Loads `onnx`, checking its declared input against `card`.
    fn load(&self, onnx: &Path, card: &ModelCard) -> Result<Box<dyn Session>>;

    /// Sessions for throughput over many independent batches, to run side by side in a
    /// [`SessionPool`](crate::SessionPool). CPU backends give one single-threaded session per
    /// thread they were allowed; the default (and GPU providers) is the one session of
    /// [`Backend::load`].
    fn load_parallel(&self, onnx: &Path, card: &ModelCard) -> Result<Vec<Box<dyn Session>>> {
        Ok(vec![self.load(onnx, card)?])
    }

    /// Whether this backend runs `BatchNormalization` with `training_mode = 1` (batch
    /// statistics out), which lets the BN probe use one node per layer instead of nine
    /// element-wise ones. `false` unless the backend knows it does.
    fn runs_training_batch_norm(&self) -> bool {
        false
    }
}

/// `count` sessions of `onnx` made by `load`, loaded on threads side by side: each load parses
/// the model and optimizes it (tract: a plan; ONNX Runtime: its graph), and one after the other
/// they made `adapt`'s BN phase on 200 frames of MobileNetV3-Small with tract 0.88–0.94 s
/// instead of 0.98–1.00 s. Every thread is joined before an error returns; a panic in one is an
/// error.
pub(crate) fn load_side_by_side(
    onnx: &Path,
    count: usize,
    load: impl Fn() -> Result<Box<dyn Session>> + Sync,
) -> Result<Vec<Box<dyn Session>>> {
    let load = &load;
    std::thread::scope(|scope| {
        let others: Vec<_> = (1..count.max(1)).map(|_| scope.spawn(load)).collect();
        let first = load();
        let others: Vec<_> = others
            .into_iter()
            .map(|other| {
                other.join().unwrap_or_else(|_| {
                    Err(RuntimeError::Model {
                        path: onnx.to_owned(),
                        message: "the engine crashed while loading it".into(),
                    })
                })
            })
            .collect();
        std::iter::once(first).chain(others).collect()
    })
}

/// Checks that the ONNX has one input, the one the card names, and that its fixed dimensions
/// agree with the card's layout and size, so a wrong card (or a model that wants more than an
/// image batch) fails at load time with both shapes in the message instead of deep inside a
/// backend.
pub(crate) fn check_inputs_match_card(
    path: &Path,
    inputs: &[TensorInfo],
    card: &ModelCard,
) -> Result<()> {
    match inputs {
        [] => Ok(()),
        [input] => check_input_matches_card(path, input, card),
        more => {
            let names: Vec<String> = more.iter().map(|i| format!("`{}`", i.name)).collect();
            Err(RuntimeError::Model {
                path: path.to_owned(),
                message: format!(
                    "it takes {} inputs ({}), and edge-ssl feeds one image batch; export the \
                     encoder with the image as its only input",
                    more.len(),
                    names.join(", ")
                ),
            })
        }
    }
}

/// [`check_inputs_match_card`] for the one input.
fn check_input_matches_card(path: &Path, input: &TensorInfo, card: &ModelCard) -> Result<()> {
    let spec = &card.input;
    let mismatch = |why: String| RuntimeError::Model {
        path: path.to_owned(),
        message: why,
    };
    if input.name != spec.name {
        return Err(mismatch(format!(
            "its input is named `{}` but the card says `{}`",
            input.name, spec.name
        )));
    }
    let expected = spec.batch_shape(1);
    crate::onnx::inspect::check_input_size(&spec.name, expected)
        .map_err(|why| mismatch(format!("the card's {why}")))?;
    if !matches!(input.element, "float32" | "unknown") {
        return Err(mismatch(format!(
            "its input `{}` is {}, and edge-ssl feeds float32 images; export it with float32 \
             inputs and outputs (a float16 model converted by onnxconverter-common: \
             keep_io_types=True)",
            input.name, input.element
        )));
    }
    if input.shape.len() != 4 {
        return Err(mismatch(format!(
            "its input has rank {} but the card describes a {:?} image batch",
            input.shape.len(),
            spec.layout
        )));
    }
    for (axis, (declared, want)) in input.shape.iter().zip(expected).enumerate().skip(1) {
        if let Some(d) = declared
            && *d != want
        {
            return Err(mismatch(format!(
                "its input shape is {} but the card says {:?} {}x{}x{} (axis {axis}: {d} vs {want})",
                show_shape(&input.shape),
                spec.layout,
                spec.channels,
                spec.height,
                spec.width
            )));
        }
    }
    Ok(())
}

pub(crate) fn show_shape(shape: &[Option<usize>]) -> String {
    let dims: Vec<String> = shape
        .iter()
        .map(|d| d.map_or("?".to_owned(), |d| d.to_string()))
        .collect();
    format!("[{}]", dims.join(", "))
}
