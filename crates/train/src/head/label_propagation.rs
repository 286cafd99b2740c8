use ndarray::{Array2, ArrayView2, Axis, concatenate, s};

use super::Prediction;
use super::classifier::argmax;
use super::labeled::validate_labeled;
use crate::Result;
use crate::error::{ensure_dim, ensure_finite};
use crate::nn::l2_normalize;

/// Options for [`propagate_labels`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PropagationOptions {
    /// Neighbours per point in the cosine k-NN graph.
    pub k: usize,
    /// How much a point listens to its neighbours versus its own label (Zhou et al.'s α).
    pub alpha: f32,
    pub iterations: usize,
    /// Edge weight `max(cos, 0)^γ`: sharpens the graph towards the closest neighbours.
    pub gamma: f32,
}

impl Default for PropagationOptions {
    fn default() -> Self {
        PropagationOptions {
            k: 10,
            alpha: 0.99,
            iterations: 20,
            gamma: 3.0,
        }
    }
}

/// Rows scored against the whole set at a time: bounds memory at `CHUNK × n` floats even for
/// tens of thousands of unlabeled frames.
const CHUNK: usize = 256;

/// Label propagation on a k-NN graph (Zhou et al. 2004; Iscen et al. 2019): labels spread from
/// the few labeled embeddings along the unlabeled data's own cluster structure, which is what
/// lets 10 labels per class label thousands of frames. Returns a class and a confidence (the
/// normalized propagated score) for every unlabeled row.
pub fn propagate_labels(
    labeled: ArrayView2<f32>,
    labels: &[usize],
    class_names: &[String],
    unlabeled: ArrayView2<f32>,
    opts: &PropagationOptions,
) -> Result<Vec<Prediction>> {
    validate_labeled(labeled, labels, class_names)?;
    ensure_dim(
        "unlabeled embedding width",
        labeled.ncols(),
        unlabeled.ncols(),
    )?;
    ensure_finite("unlabeled embeddings", &unlabeled)?;
    if unlabeled.nrows() == 0 {
        return Ok(Vec::new());
    }
    let x = l2_normalize(concatenate![Axis(0), labeled, unlabeled].view()).0;
    let n = x.nrows();
    let k = opts.k.clamp(1, n - 1);

    // Symmetric sparse W = W_knn + W_knnᵀ as adjacency lists.
    let mut edges: Vec<Vec<(usize, f32)>> = vec![Vec::new(); n];
    let mut order: Vec<usize> = (0..n).collect();
    for start in (0..n).step_by(CHUNK) {
        let end = (start + CHUNK).min(n);
        let sims = x.slice(s![start..end, ..]).dot(&x.t());
        for (r, row) in sims.rows().into_iter().enumerate() {
            let i = start + r;
            order.iter_mut().enumerate().for_each(|(j, o)| *o = j);
            order.swap_remove(i);
            order.select_nth_unstable_by(k - 1, |&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
            for &j in &order[..k] {
                let w = row[j].max(0.0).powf(opts.gamma);
                if w > 0.0 {
                    edges[i].push((j, w));
                    edges[j].push((i, w));
                }
            }
            order.push(i);
        }
    }
    let degree: Vec<f32> = edges
        .iter()
        .map(|e| e.iter().map(|(_, w)| w).sum::<f32>().max(1e-12))
        .collect();

    let classes = class_names.len();
    let mut y = Array2::<f32>::zeros((n, classes));
    for (i, &c) in labels.iter().enumerate() {
        y[[i, c]] = 1.0;
    }
    let mut f = y.clone();
    for _ in 0..opts.iterations {
        let mut next = &y * (1.0 - opts.alpha);
        for (i, e) in edges.iter().enumerate() {
            let mut acc = next.row_mut(i);
            for &(j, w) in e {
                let s = opts.alpha * w / (degree[i] * degree[j]).sqrt();
                acc.scaled_add(s, &f.row(j));
            }
        }
        f = next;
    }
    let unlabeled_scores = f.slice(s![labeled.nrows().., ..]);
    Ok(unlabeled_scores
        .rows()
        .into_iter()
        .map(|r| {
            let total: f32 = r.iter().map(|v| v.max(0.0)).sum();
            if total > 0.0 {
                argmax(r.iter().map(|v| v.max(0.0) / total))
            } else {
                // Isolated from every labeled point: no evidence either way.
                Prediction {
                    class: 0,
                    confidence: 1.0 / classes as f32,
                }
            }
        })
        .collect())
}
