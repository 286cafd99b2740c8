use std::path::{Path, PathBuf};

use anyhow::bail;
use clap::Args;
use edge_ssl_train::head::Head;
use ndarray::ArrayView2;
use serde_json::json;

use super::BackendArgs;
use crate::embedder::Embedder;
use crate::{image_set, model_dir, model_ref, plot};

/// Evaluate a model directory's head on a labeled ImageFolder tree (ROOT/<class>/*).
///
/// Class folders are matched to the head's classes by name. With --json, stdout is one JSON
/// object: accuracy (0..1), n, per_class {name: {n, correct, accuracy}}, confusion (rows: true
/// class, columns: predicted, in `classes` order), classes. --plots DIR writes confusion.png
/// and pca.png (2-D PCA of the embeddings, coloured by true class).
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Model directory with a head (from `edge-ssl head` or `cluster`).
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
    let mut embedder = Embedder::load(backend.as_ref(), &model)?;
    let head = model_dir::load_head(&model)?;
    let set = image_set::LabeledSet::read(&args.labeled)?;
    // Map the folder's classes onto the head's, by name.
    let mut truth = Vec::with_capacity(set.labels.len());
    for &l in &set.labels {
        let name = &set.class_names[l];
        match head.class_names.iter().position(|c| c == name) {
            Some(i) => truth.push(i),
            None => bail!(
                "{}: class `{name}` is not one the head knows ({})",
                args.labeled.display(),
                head.class_names.join(", ")
            ),
        }
    }
    let x = image_set::embed_strict(&mut embedder, &set.paths, args.batch, "evaluating")?;
    let result = evaluate(&head, x.view(), &truth)?;
    if let Some(dir) = &args.plots {
        let (a, b) = write_plots(dir, &result, x.view(), &truth, &head.class_names)?;
        eprintln!("plots: {} {}", a.display(), b.display());
    }
    if args.json {
        println!("{result}");
    } else {
        println!(
            "accuracy {:.2} % on {} image(s)",
            100.0 * result["accuracy"].as_f64().unwrap_or(0.0),
            set.paths.len()
        );
    }
    Ok(())
}

/// Accuracy, per-class counts and the confusion matrix of `head` on rows `x` with `truth`.
pub fn evaluate(
    head: &Head,
    x: ArrayView2<f32>,
    truth: &[usize],
) -> anyhow::Result<serde_json::Value> {
    let k = head.class_names.len();
    let mut confusion = vec![vec![0usize; k]; k];
    for (p, &t) in head.predict(x)?.iter().zip(truth) {
        confusion[t][p.class] += 1;
    }
    let n = truth.len();
    let correct: usize = (0..k).map(|i| confusion[i][i]).sum();
    let per_class: serde_json::Map<String, serde_json::Value> = head
        .class_names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let total: usize = confusion[i].iter().sum();
            let acc = if total == 0 {
                serde_json::Value::Null
            } else {
                json!(confusion[i][i] as f64 / total as f64)
            };
            (
                name.clone(),
                json!({ "n": total, "correct": confusion[i][i], "accuracy": acc }),
            )
        })
        .collect();
    Ok(json!({
        "accuracy": if n == 0 { 0.0 } else { correct as f64 / n as f64 },
        "n": n, "correct": correct, "per_class": per_class,
        "confusion": confusion, "classes": head.class_names,
    }))
}

/// Writes confusion.png and pca.png into `dir`.
pub fn write_plots(
    dir: &Path,
    result: &serde_json::Value,
    x: ArrayView2<f32>,
    truth: &[usize],
    names: &[String],
) -> anyhow::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let matrix: Vec<Vec<usize>> = serde_json::from_value(result["confusion"].clone())?;
    let (a, b) = (dir.join("confusion.png"), dir.join("pca.png"));
    plot::confusion(&matrix, names, &a)?;
    plot::scatter(plot::pca2(x).view(), truth, names, &b)?;
    Ok((a, b))
}
