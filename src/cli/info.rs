use anyhow::Context;
use clap::Args;
use edge_ssl_runtime::{Backend, BackendOptions, OrtBackend, inspect};
use serde_json::json;

use edge_ssl::model::directory::{self, HEAD};

/// Describe a model: inputs and outputs, parameters, FLOPs per sample, its card, which
/// backends can run it on this machine, and a model directory's adapter and head (each
/// loaded and checked, so a damaged part shows here first).
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// ONNX file, model directory, or `default`.
    #[arg(default_value = "default")]
    model: String,
    /// Print one JSON object on stdout instead of text.
    #[arg(long)]
    json: bool,
    /// Path to libonnxruntime.so, to report whether it loads.
    #[arg(long, value_name = "PATH")]
    ort_lib: Option<std::path::PathBuf>,
}

pub fn run(args: InfoArgs) -> anyhow::Result<()> {
    let model = super::model_arg::resolve(&args.model)?;
    let facts = inspect::facts(&model.onnx)?;
    let shape = model.card.input.batch_shape(1);
    let flops =
        inspect::flops_per_sample(&model.onnx, &shape).with_context(|| "estimating FLOPs")?;
    let ort = OrtBackend::new(BackendOptions::default().with_ort_lib(args.ort_lib.clone()));
    let ort_status = match ort.check() {
        Ok(()) => Ok(
            edge_ssl_runtime::ort_library::candidates(args.ort_lib.as_deref())
                .first()
                .map(|c| c.path.display().to_string())
                .unwrap_or_else(|| "libonnxruntime.so".into()),
        ),
        Err(e) => Err(e.to_string()),
    };
    let adapter = directory::load_adapter(&model)?;
    let head = match &model.dir {
        Some(dir) if dir.join(HEAD).is_file() => Some(directory::load_head(&model)?),
        _ => None,
    };
    let card_json = serde_json::to_value(&model.card)?;
    if args.json {
        let out = json!({
            "model": model.onnx,
            "inputs": facts.inputs,
            "outputs": facts.outputs,
            "parameters": facts.parameters,
            "flops_per_sample": flops,
            "opset": facts.opset,
            "producer": facts.producer,
            "operators": facts.operators.iter().map(|(k, v)| json!({"op": k, "count": v})).collect::<Vec<_>>(),
            "card": card_json,
            "card_assumed": !model.card.assumptions.is_empty(),
            "assumptions": model.card.assumptions,
            "adapter": adapter.as_ref().map(|a| json!({"dim": a.dim(), "hidden": a.hidden()})),
            "head": head.as_ref().map(|h| json!({"kind": h.kind().name(), "classes": h.class_names})),
            "backends": {
                "tract": {"available": true},
                "ort": match &ort_status {
                    Ok(lib) => json!({"available": true, "library": lib}),
                    Err(e) => json!({"available": false, "error": e}),
                },
            },
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let show = |shape: &[Option<usize>]| {
        let dims: Vec<String> = shape
            .iter()
            .map(|d| d.map_or("N".into(), |d| d.to_string()))
            .collect();
        format!("[{}]", dims.join(", "))
    };
    println!("model       {}", model.onnx.display());
    println!(
        "producer    {} (opset {})",
        facts.producer,
        facts.opset.map_or("?".into(), |o| o.to_string())
    );
    for i in &facts.inputs {
        println!("input       {} {}", i.name, show(&i.shape));
    }
    for o in &facts.outputs {
        println!("output      {} {}", o.name, show(&o.shape));
    }
    println!(
        "parameters  {} ({:.2} MB as f32)",
        facts.parameters,
        facts.parameters as f64 * 4.0 / 1e6
    );
    println!("FLOPs       {:.2} M per sample", flops as f64 / 1e6);
    let ops: Vec<String> = facts
        .operators
        .iter()
        .map(|(k, v)| format!("{k}×{v}"))
        .collect();
    println!("operators   {}", ops.join(" "));
    let c = &model.card;
    println!(
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
        println!("pretrained  {method}");
    }
    for (k, v) in &c.metrics {
        println!("metric      {k} = {v}");
    }
    if let Some(a) = &adapter {
        println!("adapter     residual MLP {0}→{1}→{0}", a.dim(), a.hidden());
    }
    if let Some(h) = &head {
        println!(
            "head        {} over {} classes: {}",
            h.kind().name(),
            h.class_names.len(),
            h.class_names.join(", ")
        );
    }
    println!("backend     tract: available");
    match ort_status {
        Ok(lib) => println!("backend     ort: available ({lib})"),
        Err(e) => println!("backend     ort: unavailable — {e}"),
    }
    Ok(())
}
