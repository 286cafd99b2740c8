//! An ONNX written by `export`: encoder, adapter and head in one graph, its class names and card
//! in the metadata. It classifies by itself, so it opens as a [`ModelDir`](super::ModelDir) too.

use std::path::Path;

use edge_ssl_runtime::onnx::inspect::read_proto;

use crate::error::Context;
use crate::export::{NOVELTY, NOVELTY_KIND_KEY, NOVELTY_THRESHOLD_KEY, SCORES};
use crate::model::reference::ResolvedModel;

/// Metadata key of the exported class names (a JSON array).
pub const CLASSES_KEY: &str = "edge-ssl.classes";
/// Metadata key saying whether `scores` are probabilities or logits.
pub const SCORES_KEY: &str = "edge-ssl.scores";

/// What an exported ONNX says about its `scores` output.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportedHead {
    /// Class names, in the order of `scores`.
    pub class_names: Vec<String>,
    /// `scores` are logits (the decision's confidence is their softmax), not probabilities.
    pub logits: bool,
    /// Position of `scores` among the graph's outputs.
    pub output_index: usize,
    /// Position of the `novelty` output and its threshold, when the file has them.
    pub novelty: Option<(usize, f32)>,
    /// Which score the `novelty` output is (`edge-ssl.novelty_kind`), when the file says.
    pub novelty_kind: Option<edge_ssl_train::novelty::NoveltyKind>,
}

impl ExportedHead {
    /// What `scores` holds: `logits` or `probabilities`.
    pub fn scores_kind(&self) -> &'static str {
        if self.logits {
            "logits"
        } else {
            "probabilities"
        }
    }
}

/// The head `model` carries when it is a file from `export`: `None` for a model directory
/// (whose head is its own file) and for any other ONNX.
pub fn exported_head_of(model: &ResolvedModel) -> crate::Result<Option<ExportedHead>> {
    match model.dir {
        Some(_) => Ok(None),
        None => exported_head(&model.onnx),
    }
}

/// Refuses a file from `export` where an encoder is to be adapted (`what`: "adapted",
/// "trained in a federation"). Such a file's `embedding` is the encoder *and* its adapter, and
/// its head and novelty score are more outputs of the same graph: adapted as an encoder, a new
/// adapter would stack on the old one and the directory written would carry the old head's
/// outputs, stale, in its `encoder.onnx`. The directory it was exported from (or the encoder
/// that directory started from) is what adapts.
pub fn ensure_not_exported(model: &ResolvedModel, what: &str) -> crate::Result<()> {
    ensure_adaptable(model, what, false)
}

/// [`ensure_not_exported`], and when `float32_weights` (BN re-estimation or encoder training
/// will edit the weights) refuses weights stored in half precision too: the statistics and
/// gradients are float32, and such a model is converted from a float32 one, which is what
/// adapts. The file is read once for both.
pub fn ensure_adaptable(
    model: &ResolvedModel,
    what: &str,
    float32_weights: bool,
) -> crate::Result<()> {
    if model.dir.is_some() && !float32_weights {
        return Ok(());
    }
    let proto = read_proto(&model.onnx)?;
    let exported = match model.dir {
        Some(_) => None,
        None => exported_head_in(&proto, &model.onnx)?,
    };
    if let Some(head) = exported {
        crate::error::bail!(
            Model,
            "{}: an exported model (encoder, adapter and a {}-class head in one graph) cannot be {what}; use the model directory it was exported from, or its encoder",
            model.onnx.display(),
            head.class_names.len()
        );
    }
    let reduced = edge_ssl_runtime::onnx::inspect::reduced_precision_weights(&proto);
    if let Some(precision) = reduced.filter(|_| float32_weights) {
        crate::error::bail!(
            Model,
            "{}: its weights are {precision}, and BN re-estimation and encoder training need float32 weights; adapt the float32 model it was converted from, or train the adapter alone",
            model.onnx.display()
        );
    }
    Ok(())
}

/// The head an exported ONNX carries, or `None` for any other ONNX.
pub fn exported_head(onnx: &Path) -> crate::Result<Option<ExportedHead>> {
    exported_head_in(&read_proto(onnx)?, onnx)
}

/// [`exported_head`] of the file `onnx`, already parsed as `proto`.
fn exported_head_in(
    proto: &edge_ssl_runtime::onnx::inspect::ModelProto,
    onnx: &Path,
) -> crate::Result<Option<ExportedHead>> {
    let meta = |key: &str| {
        proto
            .metadata_props
            .iter()
            .find(|p| p.key == key)
            .map(|p| p.value.clone())
    };
    let Some(classes) = meta(CLASSES_KEY) else {
        return Ok(None);
    };
    let class_names: Vec<String> = serde_json::from_str(&classes)
        .with_context(|| format!("{}: its {CLASSES_KEY} metadata", onnx.display()))?;
    if let Some(why) = class_names
        .iter()
        .find_map(|n| edge_ssl_core::class_name_problem(n))
    {
        crate::error::bail!(Model, "{}: {why}", onnx.display());
    }
    let output_index = proto
        .graph
        .as_ref()
        .and_then(|g| g.output.iter().position(|o| o.name == SCORES));
    let Some(output_index) = output_index else {
        crate::error::bail!(
            Model,
            "{}: has {CLASSES_KEY} metadata but no `{SCORES}` output",
            onnx.display()
        );
    };
    if class_names.is_empty() {
        crate::error::bail!(Model, "{}: its {CLASSES_KEY} list is empty", onnx.display());
    }
    let logits = meta(SCORES_KEY).is_none_or(|v| v != "probabilities");
    let novelty_index = proto
        .graph
        .as_ref()
        .and_then(|g| g.output.iter().position(|o| o.name == NOVELTY));
    let novelty = match (novelty_index, meta(NOVELTY_THRESHOLD_KEY)) {
        (Some(i), Some(t)) => match t.parse::<f32>() {
            Ok(t) if t.is_finite() => Some((i, t)),
            _ => crate::error::bail!(
                Model,
                "{}: its {NOVELTY_THRESHOLD_KEY} metadata {t:?} is not a finite number",
                onnx.display()
            ),
        },
        _ => None,
    };
    let novelty_kind = meta(NOVELTY_KIND_KEY).and_then(|k| k.parse().ok());
    Ok(Some(ExportedHead {
        class_names,
        logits,
        output_index,
        novelty,
        novelty_kind,
    }))
}
