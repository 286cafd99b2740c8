use clap::Args;
use edge_ssl::info::model_info::ModelInfo;

/// Describe a model: inputs and outputs, parameters, FLOPs per sample, its card, which
/// backends can run it on this machine, and a model directory's adapter, head and novelty
/// model (each loaded and checked, so a damaged part shows here first).
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
    let info = ModelInfo::gather(model, args.input_shape.as_deref(), args.ort_lib.as_deref())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&info.to_json()?)?);
    } else {
        print!(
            "{}",
            info.text("; give the size with --input-shape N,C,H,W")
        );
    }
    Ok(())
}
