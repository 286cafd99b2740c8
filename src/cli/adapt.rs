use std::path::PathBuf;

use clap::Args;

use super::{BackendArgs, NoveltyArgs, SourceArgs};
use edge_ssl::adapt::{AdaptOptions, adapt};

/// Adapt an encoder to a camera's frames without labels: re-estimate its BatchNorm statistics
/// on the frames, then train a residual adapter on embeddings of K augmented views per frame.
///
/// DIR becomes a model directory: edge-ssl.toml, encoder.onnx (BN-patched), adapter.safetensors,
/// novelty.safetensors, metrics.json (loss curve, timings, BN report, novelty calibration) and
/// loss.png. Checkpoints go to
/// DIR/.adapt-work/ every --checkpoint-every steps; after a crash, the same command with
/// --resume continues and ends with the same adapter as an uninterrupted run.
///
/// On the CPU, --threads N runs N single-threaded encoder sessions side by side on separate
/// batches, N threads render the augmented views and N threads train the encoder (default:
/// every core); the output does not depend on N.
#[derive(Debug, Args)]
pub struct AdaptArgs {
    /// ONNX file, model directory, or `default`.
    #[arg(long, default_value = "default")]
    model: String,
    /// Unlabeled frames: an image folder (recursive; undecodable files are skipped and counted),
    /// a video file, or a camera (/dev/videoN, with --max-frames).
    #[arg(long, value_name = "PATH")]
    data: PathBuf,
    #[command(flatten)]
    sampling: SourceArgs,
    /// Output model directory.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Self-supervised objective: vicreg, barlow, simclr, moco, byol, margin or emp.
    #[arg(long, default_value = "vicreg")]
    method: String,
    /// Training epochs of the adapter over the frames' cached views.
    #[arg(long, default_value_t = AdaptOptions::default().epochs, value_name = "N")]
    epochs: usize,
    /// Augmented views per frame (embedded once, then cached).
    #[arg(long, default_value_t = AdaptOptions::default().views, value_name = "K")]
    views: usize,
    /// Frames per training step.
    #[arg(long, default_value_t = AdaptOptions::default().batch, value_name = "N")]
    batch: usize,
    /// Seed of the augmentations, the adapter's initial weights and the batch order (the same
    /// seed and flags give the same model).
    #[arg(long, default_value_t = 0, value_name = "S")]
    seed: u64,
    /// Keep the encoder's BatchNorm statistics (skip AdaBN).
    #[arg(long)]
    no_bn_adapt: bool,
    /// Also train the encoder's own weights (SimCLR, after BN re-estimation, before the adapter):
    /// none, bn (BatchNorm scale and bias), tail:N (the last N blocks) or all; they are written
    /// into DIR/encoder.onnx and metrics.json gets the loss curve.
    #[arg(long, default_value = "none", value_name = "WHICH")]
    train: edge_ssl::tune::Train,
    /// Epochs of --train's encoder training (--epochs is the adapter's).
    #[arg(long, default_value_t = edge_ssl::tune::TuneConfig::default().epochs(), value_name = "N")]
    train_epochs: usize,
    /// A few labeled images (ROOT/<class>/*) trained with --train's encoder (cross-entropy and
    /// pseudo-labels beside SimCLR); a fifth are held out, the trained encoder is kept only if
    /// it classifies them no worse, and DIR gets a softmax head on all of them.
    #[arg(long, value_name = "ROOT", requires = "train")]
    labeled: Option<std::path::PathBuf>,
    /// Train no adapter (BN re-estimation, and --train, only).
    #[arg(long)]
    no_adapter: bool,
    /// Continue an interrupted run from DIR/.adapt-work/ (same flags required).
    #[arg(long)]
    resume: bool,
    /// Write a checkpoint (for --resume) every N training steps.
    #[arg(long, default_value_t = AdaptOptions::default().checkpoint_every, value_name = "N")]
    checkpoint_every: u64,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    novelty: NoveltyArgs,
    #[command(flatten)]
    backend: BackendArgs,
}

pub fn run(args: AdaptArgs) -> anyhow::Result<()> {
    let model = super::model_arg::resolve(&args.model)?;
    let opts = AdaptOptions {
        method: args.method.parse()?,
        epochs: args.epochs,
        views: args.views,
        batch: args.batch,
        seed: args.seed,
        bn_adapt: !args.no_bn_adapt,
        train: args.train,
        tune: edge_ssl::tune::TuneConfig::default().with_epochs(args.train_epochs),
        labeled: args.labeled,
        adapter: !args.no_adapter,
        resume: args.resume,
        checkpoint_every: args.checkpoint_every,
        sampling: args.sampling.options(),
        novelty: args.novelty.adapt_config(&model)?,
        ..AdaptOptions::default()
    }
    .with_render_workers(args.backend.threads().unwrap_or(1))
    .with_train_threads(args.backend.threads().unwrap_or(0));
    let backend = args.backend.backend()?;
    let _lock = edge_ssl::model::dir_lock::lock(&args.out)?;
    let report = adapt(
        backend.as_ref(),
        &model,
        &args.data,
        &args.out,
        &opts,
        &crate::progress_bars::terminal(),
    )?;
    // Views are rendered only for the adapter.
    let views = match report.adapter {
        true => format!(" × {} views", report.views),
        false => String::new(),
    };
    eprintln!(
        "adapted on {} frames{views} in {:.1} s ({}); wrote {}",
        report.frames,
        report.seconds.total,
        report.seconds.summary(),
        args.out.display()
    );
    eprintln!("{}", report.novelty.line());
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    }
    Ok(())
}
