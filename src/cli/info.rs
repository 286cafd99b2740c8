use clap::Args;
use edge_ssl_runtime::inspect::{self, Flops};
use edge_ssl_runtime::{Backend, BackendOptions, OrtBackend};
use serde_json::json;

use edge_ssl::model::directory::{self, HEAD};

/// Describe a model: inputs and outputs, parameters, FLOPs per sample, its card, which
/// backends can run it on this machine, and a model directory's adapter and head (each
/// loaded and checked, so a damaged part shows here first).
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// ONNX file, model directory, or `default` (the default).
    #[arg(value_name = "MODEL", conflicts_with = "model_flag")]
    model: Option<String>,
    /// The same as the MODEL argument, as the other commands spell it.
    #[arg(long = "model", value_name = "MODEL")]
    model_flag: Option<String>,
    /// The input shape to estimate FLOPs at, in the input's own order: `N,C,H,W` with the batch
    /// or `CxHxW` without it (batch 1). By default the card's size; a card-less ONNX with free
    /// dimensions is assumed 224×224, which a graph built for another size may not take.
    #[arg(long, value_name = "SHAPE")]
    input_shape: Option<String>,
    /// Print one JSON object on stdout instead of text.
    #[arg(long)]
    json: bool,
    /// Path to libonnxruntime.so, to report whether it loads.
    #[arg(long, value_name = "PATH")]
    ort_lib: Option<std::path::PathBuf>,
}

pub fn run(args: InfoArgs) -> anyhow::Result<()> {
    let spec = args
        .model
        .as_deref()
        .or(args.model_flag.as_deref())
        .unwrap_or("default");
    let model = super::model_arg::resolve(spec)?;
    let facts = inspect::facts(&model.onnx)?;
    let (shape, shape_from) = match &args.input_shape {
        Some(text) => (
            parse_input_shape(text, facts.inputs.first().map(|i| i.shape.as_slice()))?,
            "the given size",
        ),
        None if model.card.assumptions.is_empty() => {
            (model.card.input.batch_shape(1).to_vec(), "the card's size")
        }
        None => (model.card.input.batch_shape(1).to_vec(), "the assumed size"),
    };
    // A graph that imports but cannot be analysed at this size still gets described.
    let batch = shape.first().copied().unwrap_or(1).max(1) as u64;
    let flops = match inspect::flops_at(&model.onnx, &shape)? {
        Flops::Known(n) => Ok(n / batch),
        Flops::Unknown(why) => Err(why),
    };
    let shape_text = shape
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("x");
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
            "flops_per_sample": flops.as_ref().ok(),
            "flops_input_shape": shape,
            "flops_unknown": flops.as_ref().err(),
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
    match &flops {
        Ok(n) if args.input_shape.is_some() => {
            println!(
                "FLOPs       {:.2} M per sample at {shape_text}",
                *n as f64 / 1e6
            )
        }
        Ok(n) => println!("FLOPs       {:.2} M per sample", *n as f64 / 1e6),
        Err(why) => println!(
            "FLOPs       unknown at {shape_from} {shape_text} ({why}); give the size with --input-shape N,C,H,W"
        ),
    }
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

/// `--input-shape`: `N,C,H,W` (every dimension, batch first) or `CxHxW` (without the batch, which
/// is 1), checked against the rank and the fixed dimensions the ONNX declares for its input.
fn parse_input_shape(text: &str, declared: Option<&[Option<usize>]>) -> anyhow::Result<Vec<usize>> {
    let bad = |why: String| {
        anyhow::anyhow!(
            "--input-shape {text:?}: {why} (write N,C,H,W, for example 1,3,48,320, or CxHxW)"
        )
    };
    let (parts, with_batch): (Vec<&str>, bool) = if text.contains(',') {
        (text.split(',').collect(), true)
    } else {
        (text.split(['x', 'X']).collect(), false)
    };
    let mut shape = Vec::new();
    if !with_batch {
        shape.push(1);
    }
    for part in parts {
        match part.trim().parse::<usize>() {
            Ok(d) if d > 0 => shape.push(d),
            _ => {
                return Err(bad(format!(
                    "{:?} is not a positive whole number",
                    part.trim()
                )));
            }
        }
    }
    if let Some(declared) = declared.filter(|d| !d.is_empty()) {
        if declared.len() != shape.len() {
            return Err(bad(format!(
                "the model's input has {} dimensions, this gives {}",
                declared.len(),
                shape.len()
            )));
        }
        for (axis, (want, got)) in declared.iter().zip(&shape).enumerate() {
            if let Some(want) = want
                && want != got
            {
                return Err(bad(format!(
                    "dimension {axis} of the model's input is fixed at {want}, this gives {got}"
                )));
            }
        }
    }
    Ok(shape)
}
