use ndarray::{ArrayView2, Axis, concatenate};

use super::label_propagation::{PropagationOptions, propagate_labels};
use super::{Head, HeadKind, SoftmaxOptions};
use crate::Result;

/// Few labels plus many unlabeled frames (`edge-ssl head --unlabeled`): propagate the labels
/// over the unlabeled embeddings, keep the most confident pseudo-labels of each class, and fit
/// the head on labeled ∪ pseudo-labeled.
///
/// Keeping a *fraction per class* rather than everything above one threshold keeps the
/// pseudo-labeled set as balanced as the propagation allows: a global threshold favours the
/// class that happens to be easiest, and the head then drifts towards it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SemiSupervised {
    pub propagation: PropagationOptions,
    /// Fraction of each class's pseudo-labels (most confident first) that is kept.
    pub keep_fraction: f32,
    pub softmax: SoftmaxOptions,
}

impl Default for SemiSupervised {
    fn default() -> Self {
        SemiSupervised {
            propagation: PropagationOptions::default(),
            keep_fraction: 0.5,
            softmax: SoftmaxOptions::default(),
        }
    }
}

/// What the pseudo-labeling did, for the CLI to print.
#[derive(Clone, Debug, PartialEq)]
pub struct SemiSupervisedReport {
    pub unlabeled: usize,
    pub pseudo_labeled: usize,
    /// Pseudo-labels kept per class.
    pub per_class: Vec<usize>,
    /// Mean confidence of the kept pseudo-labels.
    pub mean_confidence: f32,
}

impl SemiSupervised {
    pub fn with_keep_fraction(mut self, fraction: f32) -> Self {
        self.keep_fraction = fraction.clamp(0.0, 1.0);
        self
    }

    pub fn with_propagation(mut self, propagation: PropagationOptions) -> Self {
        self.propagation = propagation;
        self
    }

    pub fn fit(
        &self,
        kind: HeadKind,
        labeled: ArrayView2<f32>,
        labels: &[usize],
        class_names: Vec<String>,
        unlabeled: ArrayView2<f32>,
    ) -> Result<(Head, SemiSupervisedReport)> {
        let pseudo = propagate_labels(labeled, labels, &class_names, unlabeled, &self.propagation)?;
        let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); class_names.len()];
        for (i, p) in pseudo.iter().enumerate() {
            by_class[p.class].push(i);
        }
        let mut kept = Vec::new();
        let mut per_class = Vec::with_capacity(by_class.len());
        for rows in &mut by_class {
            rows.sort_by(|&a, &b| {
                pseudo[b]
                    .confidence
                    .total_cmp(&pseudo[a].confidence)
                    .then(a.cmp(&b))
            });
            let keep = (rows.len() as f32 * self.keep_fraction).floor() as usize;
            per_class.push(keep);
            kept.extend_from_slice(&rows[..keep]);
        }
        kept.sort_unstable();
        let x = concatenate![Axis(0), labeled, unlabeled.select(Axis(0), &kept)];
        let mut y = labels.to_vec();
        y.extend(kept.iter().map(|&i| pseudo[i].class));
        let head = Head::fit_with(kind, x.view(), &y, class_names, &self.softmax)?;
        let mean_confidence = if kept.is_empty() {
            0.0
        } else {
            kept.iter().map(|&i| pseudo[i].confidence).sum::<f32>() / kept.len() as f32
        };
        let report = SemiSupervisedReport {
            unlabeled: unlabeled.nrows(),
            pseudo_labeled: kept.len(),
            per_class,
            mean_confidence,
        };
        Ok((head, report))
    }
}
