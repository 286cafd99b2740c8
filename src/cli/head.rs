use std::path::PathBuf;

use clap::Args;
use edge_ssl_train::head::HeadKind;
use serde_json::json;

use super::{BackendArgs, NoveltyArgs, SourceArgs};
use edge_ssl::frames::image_set::{self, embed_source_with_features};
use edge_ssl::head::write::write_head;
use edge_ssl::model::reference as model_ref;

/// Fit a classifier head on (adapted) embeddings of a few labeled images.
///
/// ROOT is an ImageFolder tree, ROOT/<class>/*.png|jpg, with at least two classes. The head is
/// written to DIR/head.safetensors with its class names; DIR may be the model directory itself,
/// and given a plain ONNX (or `default`) a new model directory is made. The output estimates
/// the head's accuracy on new images by 2-fold cross-validation on the labeled ones (each half
/// classified by a head fitted on the other; needs two images per class). With --unlabeled, label
/// propagation over those frames adds pseudo-labels; the output says how much that helped,
/// measured by 2-fold cross-validation on the labeled images.
///
/// A novelty model is fitted on the same images (their feature means when the encoder has conv
/// layers, else embeddings; at least 20, --unlabeled adds more) and written as
/// DIR/novelty.safetensors, its threshold at the 99th percentile of held-out scores; a directory
/// that has one (adapt's, on all its frames) keeps it unless --novelty or --novelty-input is given.
#[derive(Debug, Args)]
pub struct HeadArgs {
    /// ONNX file, model directory, or `default`.
    #[arg(long, default_value = "default")]
    model: String,
    /// Labeled ImageFolder root.
    #[arg(long, value_name = "ROOT")]
    labeled: PathBuf,
    /// Model directory to write head.safetensors into.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// softmax (L2-regularized regression), imprint (class means) or knn.
    #[arg(long, default_value = "softmax")]
    kind: String,
    /// Unlabeled frames to self-train with: an image folder, a video file or a camera (with
    /// --max-frames).
    #[arg(long, value_name = "PATH")]
    unlabeled: Option<PathBuf>,
    #[command(flatten)]
    sampling: SourceArgs,
    /// Images per inference call while embedding.
    #[arg(long, default_value_t = 64, value_name = "N")]
    batch: usize,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    novelty: NoveltyArgs,
    #[command(flatten)]
    backend: BackendArgs,
}

pub fn run(args: HeadArgs) -> anyhow::Result<()> {
    let kind: HeadKind = args.kind.parse()?;
    if kind == HeadKind::KMeans {
        anyhow::bail!("--kind kmeans needs no labels: use `edge-ssl cluster`");
    }
    let model = model_ref::resolve(&args.model)?;
    let progress = crate::progress_bars::terminal();
    let novelty = args.novelty.plan(&model, &progress)?;
    let set = image_set::LabeledSet::read(&args.labeled)?;
    let backend = args.backend.backend()?;
    let mut embedder = super::model_arg::embedder(backend.as_ref(), &model, novelty.fitting())?;
    let x = image_set::embed_strict_with_features(
        &mut embedder,
        &set.paths,
        args.batch,
        "labeled",
        &progress,
    )?;
    let (options, batch) = (args.sampling.options(), args.batch);
    let unlabeled = (args.unlabeled.as_ref())
        .map(|p| embed_source_with_features(&mut embedder, p, &options, batch, &progress))
        .transpose()?;
    if let Some(note) = unlabeled.as_ref().and_then(|u| u.1.as_ref()) {
        eprintln!("{note}");
    }
    let unlabeled = unlabeled.map(|u| u.0);
    let (xr, labels, names) = (x.rows.view(), &set.labels, &set.class_names);
    let u = unlabeled.as_ref().map(|u| u.rows.view());
    let (head, semi) = edge_ssl::head::fit::fit_head(kind, xr, labels, names, u)?;
    let parts: Vec<_> = std::iter::once(&x).chain(unlabeled.as_ref()).collect();
    let (novelty, novelty_outcome) = novelty.finish(&parts, &progress)?;
    let path = write_head(&model, &args.out, &head, kind.name(), novelty.as_ref())?;
    eprintln!(
        "fitted a {kind} head on {} labeled image(s) of {} classes; wrote {}",
        set.paths.len(),
        set.class_names.len(),
        path.display()
    );
    eprintln!("{}", novelty_outcome.line());
    let cv = match &semi {
        Some(s) => s.cv_accuracy_labeled_only,
        None => edge_ssl::head::fit::cv_accuracy(kind, xr, labels, names)?,
    };
    let estimate = cv.map_or(
        "n/a (a class has fewer than 2 labeled images)".into(),
        |a| format!("{:.1} % (2-fold cross-validation)", 100.0 * a),
    );
    eprintln!("estimated accuracy on new images: {estimate}");
    if let Some(s) = &semi {
        eprintln!("{}", s.line());
    }
    if args.json {
        println!(
            "{}",
            json!({ "kind": kind.name(), "classes": set.class_names, "labeled": set.paths.len(),
                    "head": path, "cv_accuracy": cv, "semi_supervised": semi, "novelty": novelty_outcome })
        );
    }
    Ok(())
}
