use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use edge_ssl_core::write_atomic;
use edge_ssl_train::head::{KMeansHead, KMeansOptions};
use serde_json::json;

use super::{BackendArgs, SourceArgs};
use edge_ssl::frames::image_set;
use edge_ssl::head::write::write_head;
use edge_ssl::model::directory as model_dir;
use edge_ssl::model::reference as model_ref;

/// Group unlabeled frames into K clusters (k-means with k-means++ seeding) when there are no
/// labels at all. Writes a head whose classes are cluster-0..K-1 into DIR/head.safetensors and
/// DIR/clusters.json (size and example paths of each cluster), and prints the same summary.
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
    backend: BackendArgs,
}

pub fn run(args: ClusterArgs) -> anyhow::Result<()> {
    if args.k < 2 {
        bail!("--k must be at least 2");
    }
    let model = model_ref::resolve(&args.model)?;
    let backend = args.backend.backend()?;
    let mut embedder = super::model_arg::embedder(backend.as_ref(), &model)?;
    let progress = crate::progress_bars::terminal();
    let frames = edge_ssl::frames::loader::decode(
        &args.data,
        embedder.preprocessor(),
        &args.sampling.options(),
        &progress,
    )?;
    if frames.len() < args.k {
        bail!(
            "--k {} is larger than the {} decodable image(s) in {}",
            args.k,
            frames.len(),
            args.data.display()
        );
    }
    if let Some(note) = frames.skipped_note() {
        eprintln!("{note}");
    }
    let x = image_set::embed_frames(&mut embedder, &frames, args.batch, &progress)?;
    let clustering = KMeansHead::fit(x.view(), &KMeansOptions::new(args.k).with_seed(args.seed))
        .context("k-means")?;
    let clusters: Vec<_> = (0..args.k)
        .map(|c| {
            let examples: Vec<_> = (0..frames.len())
                .filter(|&i| clustering.assignments[i] == c)
                .take(args.examples)
                .map(|i| frames.paths[i].display().to_string())
                .collect();
            json!({ "cluster": c, "size": clustering.sizes[c], "examples": examples })
        })
        .collect();
    let summary = json!({
        "k": args.k, "frames": frames.len(), "skipped": frames.skipped.len(),
        "inertia": clustering.inertia, "iterations": clustering.iterations, "clusters": clusters,
    });
    write_head(&model, &args.out, &clustering.head, "kmeans", None)?;
    let path = args.out.join("clusters.json");
    write_atomic(&path, |w| {
        w.write_all(serde_json::to_string_pretty(&summary)?.as_bytes())
    })?;
    if args.json {
        println!("{summary}");
    } else {
        for c in &clusters {
            println!(
                "cluster {:>3}: {:>6} frame(s)  e.g. {}",
                c["cluster"],
                c["size"],
                c["examples"].as_array().map_or(String::new(), |e| e
                    .iter()
                    .filter_map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join(", "))
            );
        }
    }
    eprintln!(
        "wrote {} and {}",
        args.out.join(model_dir::HEAD).display(),
        path.display()
    );
    Ok(())
}
