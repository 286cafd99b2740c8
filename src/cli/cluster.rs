use std::path::PathBuf;

use clap::Args;
use edge_ssl::head::cluster::{self, ClusterOptions};

use super::{BackendArgs, NoveltyArgs, SourceArgs};
use edge_ssl::frames::image_set;
use edge_ssl::model::reference as model_ref;

/// Group unlabeled frames into K clusters (k-means with k-means++ seeding) when there are no
/// labels at all. Writes a head whose classes are cluster-0..K-1 into DIR/head.safetensors and
/// DIR/clusters.json (size and example paths of each cluster), and prints the same summary.
///
/// A novelty model is fitted on the same frames and written as DIR/novelty.safetensors, as `head`
/// does (at least 20 frames; a directory that has one keeps it, as with `head`).
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// ONNX file, model directory, or `default`.
    #[arg(long, default_value = "default")]
    model: String,
    /// Unlabeled frames: an image folder (recursive), a video file or a camera (with
    /// --max-frames).
    #[arg(long, value_name = "PATH")]
    data: PathBuf,
    #[command(flatten)]
    sampling: SourceArgs,
    /// Number of clusters.
    #[arg(long, value_name = "N")]
    k: usize,
    /// Model directory to write the head into.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Seed of the k-means++ initialisation.
    #[arg(long, default_value_t = 0, value_name = "S")]
    seed: u64,
    /// Example paths listed per cluster.
    #[arg(long, default_value_t = 5, value_name = "N")]
    examples: usize,
    /// Images per inference call while embedding.
    #[arg(long, default_value_t = 64, value_name = "N")]
    batch: usize,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    novelty: NoveltyArgs,
    #[command(flatten)]
    backend: BackendArgs,
}

pub fn run(args: ClusterArgs) -> anyhow::Result<()> {
    cluster::check_k(args.k, None, &args.data)?;
    let model = model_ref::resolve(&args.model)?;
    let progress = crate::progress_bars::terminal();
    let options = ClusterOptions {
        k: args.k,
        seed: args.seed,
        examples: args.examples,
        novelty: args.novelty.plan(&model, &progress)?,
    };
    let backend = args.backend.backend()?;
    let novelty = options.novelty.fitting();
    let mut embedder = super::model_arg::embedder(backend.as_ref(), &model, novelty)?;
    let frames = edge_ssl::frames::loader::decode(
        &args.data,
        embedder.preprocessor(),
        &args.sampling.options(),
        &progress,
    )?;
    cluster::check_k(args.k, Some(frames.len()), &args.data)?;
    if let Some(note) = frames.skipped_note() {
        eprintln!("{note}");
    }
    let x = image_set::embed_frames_with_features(&mut embedder, &frames, args.batch, &progress)?;
    let (paths, skipped) = (&frames.paths, frames.skipped.len());
    let report = cluster::cluster(&model, &x, paths, skipped, &args.out, options, &progress)?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        for c in &report.clusters {
            let examples = c.examples.join(", ");
            println!(
                "cluster {:>3}: {:>6} frame(s)  e.g. {examples}",
                c.cluster, c.size
            );
        }
    }
    eprintln!("{}", report.novelty.line());
    let (head, summary) = (report.head.display(), report.summary.display());
    eprintln!("wrote {head} and {summary}");
    Ok(())
}
