//! Everything `edge-ssl info` says about a model, gathered once: as JSON ([`ModelInfo::to_json`])
//! and as aligned text ([`ModelInfo::text`]). A graph that imports but cannot be analysed at the
//! assumed size is still described, its FLOPs "unknown" with the reason.

use std::fmt::Write as _;
use std::path::Path;

use edge_ssl_runtime::onnx::inspect::{self, Flops, ModelFacts};
use edge_ssl_runtime::{Backend, BackendOptions, OrtBackend};
use edge_ssl_train::head::Head;
use edge_ssl_train::nn::Adapter;
use edge_ssl_train::novelty::NoveltyModel;
use serde_json::json;

use super::adaptation::Adaptation;
use super::input_shape;
use crate::model::directory::{self, HEAD};
use crate::model::exported::{ExportedHead, exported_head_of};
use crate::model::reference::ResolvedModel;

/// Where the shape FLOPs were counted at came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShapeFrom {
    Given,
    Card,
    /// A card-less ONNX with free dimensions: 224×224 was assumed.
    Assumed,
}

impl ShapeFrom {
    fn describe(self) -> &'static str {
        match self {
            ShapeFrom::Given => "the given size",
            ShapeFrom::Card => "the card's size",
            ShapeFrom::Assumed => "the assumed size",
        }
    }
}

pub struct ModelInfo {
    pub model: ResolvedModel,
    pub facts: ModelFacts,
    /// The input shape FLOPs were counted at, batch first.
    pub shape: Vec<usize>,
    pub shape_from: ShapeFrom,
    /// FLOPs per sample, or why they are unknown at [`ModelInfo::shape`].
    pub flops: Result<u64, String>,
    /// What `adapt` did to make the directory, when it did.
    pub adaptation: Option<Adaptation>,
    pub adapter: Option<Adapter>,
    pub head: Option<Head>,
    /// Why the directory's head is not used, when it was fitted on other embeddings (the
    /// directory was adapted again since): `info` still describes the rest.
    pub stale_head: Option<String>,
    /// The directory's novelty model (loaded and checked against the embeddings it scores).
    pub novelty: Option<NoveltyModel>,
    /// The head (and novelty score) inside a file from `export`, read from its metadata.
    pub exported: Option<ExportedHead>,
    /// ONNX Runtime's library when it loads, else why not.
    pub ort: Result<String, String>,
}

impl ModelInfo {
    /// Why tract cannot run this model at any input size: operators of the graph it has no
    /// implementation of (QLinearMul in ONNX Runtime's QOperator quantization, CenterCropPad).
    pub fn tract_cannot_run(&self) -> Option<String> {
        let lacking = inspect::operators_tract_lacks(&self.facts);
        match lacking.as_slice() {
            [] => None,
            [op] => Some(format!("it has no implementation of the operator {op}")),
            ops => Some(format!(
                "it has no implementation of the operators {}",
                ops.join(", ")
            )),
        }
    }

    /// Inspects `model`; `input_shape` ([`input_shape::parse`]) replaces the card's size for
    /// counting FLOPs; `ort_lib` is the ONNX Runtime library to try first.
    pub fn gather(
        model: ResolvedModel,
        input_shape: Option<&str>,
        ort_lib: Option<&Path>,
    ) -> crate::Result<Self> {
        let facts = inspect::facts(&model.onnx)?;
        let (shape, shape_from) = match input_shape {
            Some(text) => (
                input_shape::parse(text, facts.inputs.first().map(|i| i.shape.as_slice()))?,
                ShapeFrom::Given,
            ),
            None if model.card.assumptions.is_empty() => {
                (model.card.input.batch_shape(1).to_vec(), ShapeFrom::Card)
            }
            None => (model.card.input.batch_shape(1).to_vec(), ShapeFrom::Assumed),
        };
        let batch = shape.first().copied().unwrap_or(1).max(1) as u64;
        let flops = match inspect::flops_at(&model.onnx, &shape)? {
            Flops::Known(n) => Ok(n / batch),
            Flops::Unknown(why) => Err(why),
        };
        let ort =
            OrtBackend::new(BackendOptions::default().with_ort_lib(ort_lib.map(Path::to_owned)));
        let ort = match ort.check() {
            Ok(()) => Ok(edge_ssl_runtime::onnxruntime::library::candidates(ort_lib)
                .first()
                .map(|c| c.path.display().to_string())
                .unwrap_or_else(|| "libonnxruntime.so".into())),
            Err(e) => Err(e.to_string()),
        };
        let adapter = directory::load_adapter(&model)?;
        let adaptation = Adaptation::of(&model)?;
        let (head, stale_head) = match &model.dir {
            Some(dir) if dir.join(HEAD).is_file() => match directory::load_head(&model) {
                Ok(head) => (Some(head), None),
                Err(e @ crate::Error::StaleHead { .. }) => (None, Some(e.to_string())),
                Err(e) => return Err(e),
            },
            _ => (None, None),
        };
        let novelty = crate::novelty::file::load(&model)?;
        // Metadata `run` would refuse leaves the rest of the description standing.
        let exported = exported_head_of(&model).ok().flatten();
        Ok(ModelInfo {
            model,
            facts,
            shape,
            shape_from,
            flops,
            adaptation,
            adapter,
            head,
            stale_head,
            novelty,
            exported,
            ort,
        })
    }

    pub fn to_json(&self) -> crate::Result<serde_json::Value> {
        let (facts, model) = (&self.facts, &self.model);
        Ok(json!({
            "model": model.onnx,
            "inputs": facts.inputs,
            "outputs": facts.outputs,
            "parameters": facts.parameters,
            "flops_per_sample": self.flops.as_ref().ok(),
            "flops_input_shape": self.shape,
            "flops_unknown": self.flops.as_ref().err(),
            "opset": facts.opset,
            "producer": facts.producer,
            "operators": facts.operators.iter().map(|(k, v)| json!({"op": k, "count": v})).collect::<Vec<_>>(),
            "card": serde_json::to_value(&model.card)?,
            "card_assumed": !model.card.assumptions.is_empty(),
            "assumptions": model.card.assumptions,
            "adaptation": self.adaptation,
            "adapter": self.adapter.as_ref().map(|a| json!({"dim": a.dim(), "hidden": a.hidden()})),
            "head": self.head.as_ref().map(|h| json!({"kind": h.kind().name(), "classes": h.class_names})),
            "stale_head": self.stale_head,
            "novelty": self.novelty.as_ref().map(crate::novelty::NoveltyReport::of),
            "exported": self.exported.as_ref().map(|e| json!({
                "classes": e.class_names,
                "scores": e.scores_kind(),
                "novelty": e.novelty.map(|(_, threshold)| json!({
                    "kind": e.novelty_kind.map(|k| k.name()), "threshold": threshold})),
            })),
            "backends": {
                "tract": match self.tract_cannot_run() {
                    None => json!({"available": true}),
                    Some(why) => json!({"available": true, "runs_this_model": false, "error": why}),
                },
                "ort": match &self.ort {
                    Ok(lib) => json!({"available": true, "library": lib}),
                    Err(e) => json!({"available": false, "error": e}),
                },
            },
        }))
    }

    /// One aligned line per fact. `unknown_flops_hint` follows the reason when FLOPs are unknown
    /// (how the caller's user gives another size).
    pub fn text(&self, unknown_flops_hint: &str) -> String {
        let (facts, c) = (&self.facts, &self.model.card);
        let mut s = String::new();
        let show = |shape: &[Option<usize>]| {
            let dims: Vec<String> = shape
                .iter()
                .map(|d| d.map_or("N".into(), |d| d.to_string()))
                .collect();
            format!("[{}]", dims.join(", "))
        };
        // float32, what edge-ssl feeds and reads, goes without saying.
        let elem = |t: &edge_ssl_runtime::TensorInfo| match t.element {
            "float32" => String::new(),
            other => format!(" {other}"),
        };
        let _ = writeln!(s, "model       {}", self.model.onnx.display());
        let opset = facts.opset.map_or("?".into(), |o| o.to_string());
        let _ = writeln!(s, "producer    {} (opset {opset})", facts.producer);
        for i in &facts.inputs {
            let _ = writeln!(s, "input       {} {}{}", i.name, show(&i.shape), elem(i));
        }
        for o in &facts.outputs {
            let _ = writeln!(s, "output      {} {}{}", o.name, show(&o.shape), elem(o));
        }
        let mb = facts.parameters as f64 * 4.0 / 1e6;
        let _ = writeln!(s, "parameters  {} ({mb:.2} MB as f32)", facts.parameters);
        let shape = self
            .shape
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("x");
        let _ = match &self.flops {
            Ok(n) if self.shape_from == ShapeFrom::Given => {
                writeln!(
                    s,
                    "FLOPs       {:.2} M per sample at {shape}",
                    *n as f64 / 1e6
                )
            }
            Ok(n) => writeln!(s, "FLOPs       {:.2} M per sample", *n as f64 / 1e6),
            Err(why) => writeln!(
                s,
                "FLOPs       unknown at {} {shape} ({why}){unknown_flops_hint}",
                self.shape_from.describe()
            ),
        };
        let ops: Vec<String> = facts
            .operators
            .iter()
            .map(|(k, v)| format!("{k}×{v}"))
            .collect();
        let _ = writeln!(s, "operators   {}", ops.join(" "));
        let _ = writeln!(
            s,
            "card        {:?} {}x{}x{} mean {:?} std {:?} resize {:?} → {} ({}-d){}",
            c.input.layout,
            c.input.channels,
            c.input.height,
            c.input.width,
            c.input.mean,
            c.input.std,
            c.input.resize,
            c.output.name,
            c.output.dim,
            if c.assumptions.is_empty() {
                ""
            } else {
                " [assumed]"
            }
        );
        if let Some(method) = c.pretraining.get("method") {
            let _ = writeln!(s, "pretrained  {method}");
        }
        for (k, v) in &c.metrics {
            let _ = writeln!(s, "metric      {k} = {v}");
        }
        if let Some(a) = &self.adaptation {
            let _ = writeln!(s, "adapted     {}", a.line());
        }
        if let Some(a) = &self.adapter {
            let _ = writeln!(
                s,
                "adapter     residual MLP {0}→{1}→{0}",
                a.dim(),
                a.hidden()
            );
        }
        if let Some(h) = &self.head {
            let _ = writeln!(
                s,
                "head        {} over {} classes: {}",
                h.kind().name(),
                h.class_names.len(),
                h.class_names.join(", ")
            );
        }
        if let Some(why) = &self.stale_head {
            let _ = writeln!(s, "head        stale, not used: {why}");
        }
        if let Some(n) = &self.novelty {
            let c = n.calibration();
            let _ = writeln!(
                s,
                "novelty     {} on {}, threshold {:.4} (the {} quantile of {} held-out frames)",
                n.kind(),
                n.input(),
                c.threshold,
                c.quantile,
                c.held_out
            );
        }
        if let Some(e) = &self.exported {
            let scores = e.scores_kind();
            let classes = e.class_names.join(", ");
            let n = e.class_names.len();
            let _ = writeln!(
                s,
                "head        in the graph (`scores`: {scores}) over {n} classes: {classes}"
            );
            if let Some((_, threshold)) = e.novelty {
                let kind = e.novelty_kind.map_or("?", |k| k.name());
                let _ = writeln!(
                    s,
                    "novelty     {kind} in the graph (`novelty`), threshold {threshold:.4}"
                );
            }
        }
        let _ = match self.tract_cannot_run() {
            None => writeln!(s, "backend     tract: available"),
            Some(why) => writeln!(s, "backend     tract: cannot run this model — {why}"),
        };
        let _ = match &self.ort {
            Ok(lib) => writeln!(s, "backend     ort: available ({lib})"),
            Err(e) => writeln!(s, "backend     ort: unavailable — {e}"),
        };
        s
    }
}
