//! How good a head is on labeled embeddings: accuracy, per-class counts, the confusion matrix,
//! and the plots (confusion matrix, 2-D PCA) a person looks at.

use std::path::{Path, PathBuf};

use edge_ssl_train::head::Head;
use ndarray::ArrayView2;
use serde_json::json;

use crate::plot;

/// Accuracy, per-class counts and the confusion matrix of `head` on rows `x` with `truth`.
pub fn evaluate(
    head: &Head,
    x: ArrayView2<f32>,
    truth: &[usize],
) -> crate::Result<serde_json::Value> {
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
) -> crate::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let matrix: Vec<Vec<usize>> = serde_json::from_value(result["confusion"].clone())?;
    let (a, b) = (dir.join("confusion.png"), dir.join("pca.png"));
    plot::confusion(&matrix, names, &a)?;
    plot::scatter(plot::pca2(x).view(), truth, names, &b)?;
    Ok((a, b))
}
