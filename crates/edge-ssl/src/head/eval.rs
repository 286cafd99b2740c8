//! How good a head is on labeled embeddings: accuracy, per-class counts, the confusion matrix,
//! and the plots (confusion matrix, 2-D PCA) a person looks at.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use edge_ssl_train::head::Head;
use ndarray::ArrayView2;
use serde::Serialize;

use crate::embed::classifier::Classifier;
use crate::error::bail;
use crate::plot;

/// One class's share of an [`Evaluation`].
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ClassScore {
    /// Labeled images of this class.
    pub n: usize,
    /// Of them, classified as this class.
    pub correct: usize,
    /// `correct / n`; `None` when the class had no image.
    pub accuracy: Option<f64>,
}

/// How a head did on labeled embeddings.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Evaluation {
    /// Fraction classified right (0 for no image).
    pub accuracy: f64,
    pub n: usize,
    pub correct: usize,
    /// Per class name.
    pub per_class: BTreeMap<String, ClassScore>,
    /// `confusion[truth][predicted]` counts, in the head's class order.
    pub confusion: Vec<Vec<usize>>,
    /// The head's class names.
    pub classes: Vec<String>,
}

/// Accuracy, per-class counts and the confusion matrix of `head` on rows `x` with `truth`
/// (class indices in the head's order).
///
/// ```
/// use edge_ssl::head::eval::evaluate;
/// use edge_ssl_train::head::{Head, HeadKind};
/// use ndarray::array;
///
/// let x = array![[1.0f32, 0.0], [0.0, 1.0], [0.9, 0.1]];
/// let names = vec!["a".to_string(), "b".to_string()];
/// let head = Head::fit(HeadKind::Imprint, x.view(), &[0, 1, 0], names).unwrap();
/// let e = evaluate(&head, x.view(), &[0, 1, 0]).unwrap();
/// assert_eq!(e.correct, 3);
/// assert_eq!(e.confusion, vec![vec![2, 0], vec![0, 1]]);
/// ```
pub fn evaluate(head: &Head, x: ArrayView2<f32>, truth: &[usize]) -> crate::Result<Evaluation> {
    if truth.len() != x.nrows() {
        bail!(Data, "{} rows but {} labels", x.nrows(), truth.len());
    }
    let predicted: Vec<usize> = head.predict(x)?.iter().map(|p| p.class).collect();
    score(&head.class_names, &predicted, truth)
}

/// The [`Evaluation`] of a whole classifier (for example an exported ONNX, whose own `scores`
/// decide as they would on the device) on image files `paths` with `truth` (indices into the
/// classifier's class names), `batch` images per call.
pub fn evaluate_classifier(
    classifier: &mut Classifier,
    paths: &[PathBuf],
    truth: &[usize],
    batch: usize,
) -> crate::Result<Evaluation> {
    let mut predicted = Vec::with_capacity(paths.len());
    for chunk in paths.chunks(batch.max(1)) {
        let images = chunk
            .iter()
            .map(|p| edge_ssl_core::decode_image(p))
            .collect::<Result<Vec<_>, _>>()?;
        let decisions = classifier.classify_batch(&images)?;
        predicted.extend(decisions.iter().map(|d| d.class_id));
    }
    score(classifier.class_names(), &predicted, truth)
}

/// The [`Evaluation`] of predicted classes against `truth`, both indices into `class_names`
/// (for a classifier whose head is not a [`Head`], such as an exported ONNX).
pub fn score(
    class_names: &[String],
    predicted: &[usize],
    truth: &[usize],
) -> crate::Result<Evaluation> {
    let k = class_names.len();
    if truth.len() != predicted.len() {
        bail!(
            Data,
            "{} predictions but {} labels",
            predicted.len(),
            truth.len()
        );
    }
    if let Some(bad) = truth.iter().chain(predicted).find(|&&t| t >= k) {
        bail!(Data, "class {bad} is not one of the {k} classes");
    }
    let mut confusion = vec![vec![0usize; k]; k];
    for (&p, &t) in predicted.iter().zip(truth) {
        confusion[t][p] += 1;
    }
    let n = truth.len();
    let correct: usize = (0..k).map(|i| confusion[i][i]).sum();
    let per_class = class_names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let total: usize = confusion[i].iter().sum();
            let score = ClassScore {
                n: total,
                correct: confusion[i][i],
                accuracy: (total > 0).then(|| confusion[i][i] as f64 / total as f64),
            };
            (name.clone(), score)
        })
        .collect();
    Ok(Evaluation {
        accuracy: if n == 0 {
            0.0
        } else {
            correct as f64 / n as f64
        },
        n,
        correct,
        per_class,
        confusion,
        classes: class_names.to_vec(),
    })
}

/// Writes confusion.png and pca.png into `dir`.
pub fn write_plots(
    dir: &Path,
    result: &Evaluation,
    x: ArrayView2<f32>,
    truth: &[usize],
    names: &[String],
) -> crate::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let (a, b) = (dir.join("confusion.png"), dir.join("pca.png"));
    plot::confusion(&result.confusion, names, &a)?;
    plot::scatter(plot::pca2(x).view(), truth, names, &b)?;
    Ok((a, b))
}
