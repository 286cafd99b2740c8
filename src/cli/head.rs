use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use edge_ssl_train::head::{Head, HeadKind, SemiSupervised};
use ndarray::{Array2, ArrayView2, Axis};
use serde_json::json;

use super::BackendArgs;
use crate::embedder::Embedder;
use crate::{image_set, model_dir, model_ref};

/// Fit a classifier head on (adapted) embeddings of a few labeled images.
///
/// ROOT is an ImageFolder tree, ROOT/<class>/*.png|jpg, with at least two classes. The head is
/// written to DIR/head.safetensors with its class names; DIR may be the model directory itself,
/// and given a plain ONNX (or `default`) a new model directory is made. With --unlabeled, label
/// propagation over those frames adds pseudo-labels; the output says how much that helped,
/// measured by 2-fold cross-validation on the labeled images.
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
    /// Folder of unlabeled frames to self-train with.
    #[arg(long, value_name = "PATH")]
    unlabeled: Option<PathBuf>,
    #[arg(long, default_value_t = 64, value_name = "N")]
    batch: usize,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    backend: BackendArgs,
}

/// What using the unlabeled frames did: pseudo-labels kept, and 2-fold accuracy without/with.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SemiReport {
    pub unlabeled: usize,
    pub pseudo_labeled: usize,
    pub cv_accuracy_labeled_only: Option<f64>,
    pub cv_accuracy_with_unlabeled: Option<f64>,
}

pub fn run(args: HeadArgs) -> anyhow::Result<()> {
    let kind: HeadKind = args.kind.parse()?;
    if kind == HeadKind::KMeans {
        anyhow::bail!("--kind kmeans needs no labels: use `edge-ssl cluster`");
    }
    let model = model_ref::resolve(&args.model)?;
    let set = image_set::LabeledSet::read(&args.labeled)?;
    let backend = args.backend.backend()?;
    let mut embedder = Embedder::load(backend.as_ref(), &model)?;
    let x = image_set::embed_strict(&mut embedder, &set.paths, args.batch, "labeled")?;
    let unlabeled = match &args.unlabeled {
        Some(p) => {
            let frames = image_set::decode_frames(p, embedder.preprocessor())?;
            if let Some(note) = frames.skipped_note() {
                eprintln!("{note}");
            }
            Some(image_set::embed_frames(&mut embedder, &frames, args.batch)?)
        }
        None => None,
    };
    let (head, semi) = fit_head(
        kind,
        x.view(),
        &set.labels,
        &set.class_names,
        unlabeled.as_ref().map(|u| u.view()),
    )?;
    model_dir::materialize(&model, &args.out)?;
    let written = model_ref::resolve(&args.out.display().to_string())?;
    let path = model_dir::save_head(&head, &written, &args.out, &[("kind", kind.name().into())])?;
    eprintln!(
        "fitted a {kind} head on {} labeled image(s) of {} classes; wrote {}",
        set.paths.len(),
        set.class_names.len(),
        path.display()
    );
    if let Some(s) = &semi {
        let pct = |v: Option<f64>| v.map_or("n/a".into(), |a| format!("{:.1} %", 100.0 * a));
        eprintln!(
            "unlabeled: {} pseudo-labels from {} frames; 2-fold accuracy {} with labels only → {} with unlabeled",
            s.pseudo_labeled,
            s.unlabeled,
            pct(s.cv_accuracy_labeled_only),
            pct(s.cv_accuracy_with_unlabeled)
        );
    }
    if args.json {
        println!(
            "{}",
            json!({ "kind": kind.name(), "classes": set.class_names, "labeled": set.paths.len(),
                    "head": path, "semi_supervised": semi })
        );
    }
    Ok(())
}

/// Fits `kind` on labeled rows, with pseudo-labels from `unlabeled` when given.
pub fn fit_head(
    kind: HeadKind,
    x: ArrayView2<f32>,
    labels: &[usize],
    names: &[String],
    unlabeled: Option<ArrayView2<f32>>,
) -> anyhow::Result<(Head, Option<SemiReport>)> {
    let Some(u) = unlabeled else {
        return Ok((
            Head::fit(kind, x, labels, names.to_vec()).context("fitting the head")?,
            None,
        ));
    };
    let semi = SemiSupervised::default();
    let (head, report) = semi
        .fit(kind, x, labels, names.to_vec(), u)
        .context("fitting the head with pseudo-labels")?;
    let (plain, with) = match cross_validate(kind, x, labels, names, u, &semi) {
        Ok(Some((a, b))) => (Some(a), Some(b)),
        _ => (None, None),
    };
    Ok((
        head,
        Some(SemiReport {
            unlabeled: report.unlabeled,
            pseudo_labeled: report.pseudo_labeled,
            cv_accuracy_labeled_only: plain,
            cv_accuracy_with_unlabeled: with,
        }),
    ))
}

/// 2-fold cross-validation (alternate examples of each class): accuracy of a head fitted on one
/// half, without and with the unlabeled frames, on the other half. `None` when some class has
/// fewer than two examples.
fn cross_validate(
    kind: HeadKind,
    x: ArrayView2<f32>,
    labels: &[usize],
    names: &[String],
    u: ArrayView2<f32>,
    semi: &SemiSupervised,
) -> anyhow::Result<Option<(f64, f64)>> {
    let mut seen = vec![0usize; names.len()];
    let fold: Vec<usize> = labels
        .iter()
        .map(|&l| {
            seen[l] += 1;
            seen[l] % 2
        })
        .collect();
    if seen.iter().any(|&c| c < 2) {
        return Ok(None);
    }
    let (mut plain, mut with, mut total) = (0usize, 0usize, 0usize);
    for f in 0..2 {
        let train: Vec<usize> = (0..labels.len()).filter(|&i| fold[i] != f).collect();
        let test: Vec<usize> = (0..labels.len()).filter(|&i| fold[i] == f).collect();
        let xt = x.select(Axis(0), &train);
        let yt: Vec<usize> = train.iter().map(|&i| labels[i]).collect();
        let xe: Array2<f32> = x.select(Axis(0), &test);
        let a = Head::fit(kind, xt.view(), &yt, names.to_vec())?;
        let (b, _) = semi.fit(kind, xt.view(), &yt, names.to_vec(), u)?;
        let correct = |h: &Head| -> anyhow::Result<usize> {
            Ok(h.predict(xe.view())?
                .iter()
                .zip(&test)
                .filter(|(p, i)| p.class == labels[**i])
                .count())
        };
        plain += correct(&a)?;
        with += correct(&b)?;
        total += test.len();
    }
    Ok(Some((
        plain as f64 / total as f64,
        with as f64 / total as f64,
    )))
}
