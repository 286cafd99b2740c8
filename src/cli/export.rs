use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;

use edge_ssl::export::{self, EXPORTABLE, ExportOptions, NOVELTY_THRESHOLD_KEY, SCORES};
use edge_ssl::model::directory as model_dir;
use edge_ssl::model::reference as model_ref;

/// Write a model directory as one plain ONNX graph: encoder + adapter + head.
///
/// For TensorRT, ONNX Runtime or tract on a device that runs no edge-ssl. The graph is the
/// directory's encoder (with the BatchNorm statistics `adapt` re-estimated), its adapter and its
/// head, appended as plain ONNX operators in the encoder's opset; the input is the encoder's
/// (the preprocessed image batch the directory's card describes; the batch stays dynamic).
///
/// Outputs: the adapted embedding under the encoder's output name (N×D), and `scores` (N×C,
/// classes in the head's order): logits such that softmax(scores) is what `edge-ssl eval` and
/// `run` compute — W·x̂+b for softmax heads, scale·cos for imprint, −‖x̂−c‖²/T for k-means
/// (`cluster`) — or, with --with-softmax, those probabilities. Class names, head kind and the
/// directory's card (input preprocessing) are stored in the ONNX metadata_props
/// (`edge-ssl.classes`, `edge-ssl.head`, `edge-ssl.card`), so `edge-ssl embed`/`bench`
/// --model FILE.onnx need no card beside it.
///
/// With a novelty model (ae or vae), a third output `novelty` [N, 1] is its score, and
/// `edge-ssl.novelty_threshold` in the metadata its threshold (novel when above).
///
/// Heads that export: softmax, imprint, kmeans. k-NN heads are refused (refit with --kind
/// imprint or softmax). The file is written atomically: on any error nothing is written.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Model directory with a head (from `edge-ssl head` or `cluster`).
    #[arg(long, value_name = "DIR")]
    model: String,
    /// The ONNX file to write.
    #[arg(long, value_name = "FILE.onnx")]
    out: PathBuf,
    /// End the graph with a Softmax: `scores` are class probabilities.
    #[arg(long)]
    with_softmax: bool,
    /// Also print one JSON object on stdout: the file, its outputs, head, classes and opset.
    #[arg(long)]
    json: bool,
}

pub fn run(args: ExportArgs) -> anyhow::Result<()> {
    let out_dir = match args.out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    if !out_dir.is_dir() {
        bail!("{}: output directory does not exist", out_dir.display());
    }
    if args.out.is_dir() {
        bail!(
            "{}: is a directory; --out names the ONNX file to write",
            args.out.display()
        );
    }
    let model = model_ref::resolve(&args.model)?;
    // The export must not replace a file of the model it exports (its encoder, card, head…).
    edge_ssl_core::ensure_not_input(&args.out, super::model_arg::model_files(&model))?;
    // The adapter first: a corrupt adapter is named as such rather than reported as a head
    // fitted on other embeddings.
    let adapter = model_dir::load_adapter(&model)?;
    let head = model_dir::load_head(&model)?;
    let novelty = edge_ssl::novelty::file::load(&model)?;
    let options = ExportOptions::default().with_softmax(args.with_softmax);
    let exported = export::build(&model, adapter.as_ref(), &head, novelty.as_ref(), options)
        .with_context(|| format!("exporting {} (heads that export: {EXPORTABLE})", args.model))?;
    exported
        .graph
        .save(&args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    let scores = if args.with_softmax {
        "probabilities"
    } else {
        "logits"
    };
    let adapter_note = match &adapter {
        Some(a) => format!("adapter {}→{}→{}", a.dim(), a.hidden(), a.dim()),
        None => "no adapter".into(),
    };
    eprintln!(
        "wrote {}: encoder + {adapter_note} + {} head; outputs `{}` [N, {}] and `{SCORES}` [N, {}] ({}), opset {}",
        args.out.display(),
        head.kind(),
        exported.embedding,
        exported.dim,
        exported.classes,
        scores,
        exported.graph.opset()
    );
    let mut outputs = vec![
        serde_json::json!({"name": exported.embedding, "shape": ["N", exported.dim]}),
        serde_json::json!({"name": SCORES, "shape": ["N", exported.classes], "values": scores}),
    ];
    match &exported.novelty {
        Ok(true) => {
            outputs.push(serde_json::json!({"name": "novelty", "shape": ["N", 1]}));
            eprintln!("and `novelty` [N, 1] (novel above {NOVELTY_THRESHOLD_KEY} in the metadata)");
        }
        Ok(false) => {}
        Err(why) => eprintln!("note: no `novelty` output: {why}"),
    }
    if args.json {
        let out = serde_json::json!({
            "out": args.out, "head": head.kind().to_string(), "classes": head.class_names,
            "adapter": adapter.as_ref().map(|a| serde_json::json!({"dim": a.dim(), "hidden": a.hidden()})),
            "outputs": outputs,
            "opset": exported.graph.opset(),
        });
        println!("{out}");
    }
    Ok(())
}
