use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::{BackendArgs, SourceArgs};
use edge_ssl::embed::classifier::{Classifier, Scorer};
use edge_ssl::frames::image_set;
use edge_ssl::head::eval::evaluate_classifier;
use edge_ssl::model::reference as model_ref;

/// Evaluate a model directory's head on a labeled ImageFolder tree (ROOT/<class>/*).
///
/// Class folders are matched to the head's classes by name. With --json, stdout is one JSON
/// object: accuracy (0..1), n, per_class {name: {n, correct, accuracy}}, confusion (rows: true
/// class, columns: predicted, in `classes` order), classes. --plots DIR writes confusion.png
/// and pca.png (2-D PCA of the embeddings, coloured by true class).
///
/// --novelty-ood PATH measures the model's novelty score: the labeled images are the in-domain
/// frames, PATH (a video, folder or camera) the out-of-domain ones; it prints the AUROC and the
/// fraction of each set above the calibrated threshold (JSON: `novelty_ood`).
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Model directory with a head (from `head` or `cluster`), or an ONNX from `export`.
    #[arg(long, value_name = "DIR")]
    model: String,
    /// Labeled ImageFolder root.
    #[arg(long, value_name = "ROOT")]
    labeled: PathBuf,
    /// Print the result as one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// Write confusion.png and pca.png into this folder.
    #[arg(long, value_name = "DIR")]
    plots: Option<PathBuf>,
    /// Out-of-domain frames to measure the novelty score against: a video, folder or camera.
    #[arg(long, value_name = "PATH")]
    novelty_ood: Option<PathBuf>,
    #[command(flatten)]
    sampling: SourceArgs,
    /// Images per inference call while embedding.
    #[arg(long, default_value_t = 64, value_name = "N")]
    batch: usize,
    #[command(flatten)]
    backend: BackendArgs,
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let model = model_ref::resolve(&args.model)?;
    let backend = args.backend.backend()?;
    // The embedder first: it validates the adapter, so a corrupt adapter is named as such
    // rather than reported as a head fitted on other embeddings.
    let mut embedder = super::model_arg::embedder(backend.as_ref(), &model, None)?;
    let scorer = Scorer::of(&model)?;
    let class_names = scorer.class_names().to_vec();
    let set = image_set::LabeledSet::read(&args.labeled)?;
    let truth = set
        .labels_in(&class_names)
        .with_context(|| args.labeled.display().to_string())?;
    // Before the in-domain images are embedded: a missing novelty model is an error at once.
    let ood = match &args.novelty_ood {
        Some(path) => Some(
            edge_ssl::novelty::ood::measure_images(
                backend.as_ref(),
                &model,
                &set.paths,
                path,
                &args.sampling.options(),
                args.batch,
                &crate::progress_bars::terminal(),
            )
            .with_context(|| format!("--novelty-ood {}", path.display()))?,
        ),
        None => None,
    };
    let x = image_set::embed_strict(
        &mut embedder,
        &set.paths,
        args.batch,
        "evaluating",
        &crate::progress_bars::terminal(),
    )?;
    let result = match &scorer {
        Scorer::Head(head) => edge_ssl::head::eval::evaluate(head, x.view(), &truth)?,
        // An exported ONNX: its own `scores` decide, as they would on the device.
        Scorer::Exported(_) => {
            let mut classifier = Classifier::from_parts(backend.as_ref(), &model, scorer.clone())?;
            evaluate_classifier(&mut classifier, &set.paths, &truth, args.batch)?
        }
    };
    if let Some(dir) = &args.plots {
        let (a, b) =
            edge_ssl::head::eval::write_plots(dir, &result, x.view(), &truth, &class_names)?;
        eprintln!("plots: {} {}", a.display(), b.display());
    }
    if args.json {
        let mut json = serde_json::to_value(&result)?;
        if let Some(ood) = &ood {
            json["novelty_ood"] = serde_json::to_value(ood)?;
        }
        println!("{json}");
    } else {
        println!(
            "accuracy {:.2} % on {} image(s)",
            100.0 * result.accuracy,
            set.paths.len()
        );
        if let Some(ood) = &ood {
            println!("{}", ood.line());
        }
    }
    Ok(())
}
