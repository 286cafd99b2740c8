//! A few labeled images beside the unlabeled frames (`adapt --labeled`): their two views'
//! cached activations and their classes. [`super::EncoderTrainer::with_labeled`] trains the
//! encoder part, a linear softmax head on the encoder's output and the SimCLR projector
//! together:
//!
//! loss = NT-Xent(frames' views) + λ_l·CE(head, labeled images) + λ_u·CE(head on one view of a
//! frame, the other view's confident prediction)
//!
//! The last term is FixMatch's: a frame whose view the head already classifies with
//! probability ≥ [`PSEUDO_LABEL_THRESHOLD`] teaches that class to the frame's other view
//! (the teacher's probabilities are constants, no gradient flows through them). Both views are
//! drawn from the same camera augmentations, so each view teaches the other.

use ndarray::ArrayD;

use super::{PairedViews, Result, TuneError};

/// Weight of the labeled cross-entropy beside NT-Xent. Measured on the demo's shifted domain
/// with a 10-shot head (`--train all`): with 70 labels, 1 gave 58.98 % and 3 gave 58.22 %; with
/// 80 labels in 8 copies, 1 gave 62.37 % shifted / 69.98 % in-domain and 0.5 gave 61.96 % /
/// 70.73 %, nearly the same gain for a clean domain that loses 3.7 points instead of 4.5.
pub const LABELED_WEIGHT: f32 = 0.5;
/// Confidence a pseudo-label needs (FixMatch's τ).
pub const PSEUDO_LABEL_THRESHOLD: f32 = 0.95;
/// Weight of the pseudo-label term (FixMatch's λ_u).
pub const PSEUDO_LABEL_WEIGHT: f32 = 1.0;

/// Two views of each labeled image, as the frozen prefix's activations, and its class;
/// optionally several copies of the set, each with its own two views (see
/// [`LabeledViews::in_copies`]).
#[derive(Clone, Debug, PartialEq)]
pub struct LabeledViews {
    views: PairedViews,
    labels: Vec<usize>,
    classes: usize,
    copies: usize,
}

impl LabeledViews {
    /// `labels[i]` is the class (below `classes`, at least 2 of them) of row `i` of `views`.
    pub fn new(views: PairedViews, labels: Vec<usize>, classes: usize) -> Result<Self> {
        let invalid = |reason: String| TuneError::Data {
            what: "labeled views",
            reason,
        };
        if labels.len() != views.len() {
            return Err(invalid(format!(
                "{} labels for {} images",
                labels.len(),
                views.len()
            )));
        }
        if classes < 2 {
            return Err(invalid(format!(
                "{classes} classes; two or more are needed"
            )));
        }
        if let Some(bad) = labels.iter().find(|&&l| l >= classes) {
            return Err(invalid(format!("label {bad} of {classes} classes")));
        }
        Ok(LabeledViews {
            views,
            labels,
            classes,
            copies: 1,
        })
    }

    /// The rows are `copies` copies of the same images (row `c·n + i` is copy `c` of image `i`,
    /// each copy with views of its own): a step shows every image once, through the next copy
    /// and view, so a few labeled images are seen in `2·copies` different views before one
    /// repeats, instead of two, and the cross-entropy does not just memorize two views.
    pub fn in_copies(mut self, copies: usize) -> Result<Self> {
        if copies == 0 || !self.len().is_multiple_of(copies) {
            return Err(TuneError::Data {
                what: "labeled views",
                reason: format!("{} rows are not {copies} equal copies", self.len()),
            });
        }
        self.copies = copies;
        Ok(self)
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn classes(&self) -> usize {
        self.classes
    }

    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    pub fn views(&self) -> &PairedViews {
        &self.views
    }

    /// Every labeled image once, and their classes: copy `step % copies`, its first view, then
    /// at the next round of copies its second.
    pub(super) fn batch(&self, step: u64) -> (ArrayD<f32>, &[usize]) {
        let copies = self.copies as u64;
        let n = self.len() / self.copies;
        let first = (step % copies) as usize * n;
        let rows: Vec<usize> = (first..first + n).collect();
        let x = self.views.one_view((step / copies) % 2 == 1, &rows);
        (x, &self.labels[first..first + n])
    }
}
