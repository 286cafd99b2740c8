//! `adapt` with a few labeled images (issue 14): which of them teach and which judge, their
//! two views through the frozen prefix for joint training, the held-out accuracy of an encoder
//! before and after training (so a training that made things worse is not shipped), and the
//! softmax head written into the finished model directory.
//!
//! Every fifth image of each class (by file order; the last one of a class of three or four,
//! none from a class of fewer than three) is held out: it never reaches the trainer, and a softmax head fitted on the others' embeddings
//! classifies it with the encoder as BN re-estimation left it and again with the trained one.
//! The trained encoder is kept unless it classifies fewer held-out images right.

use std::path::Path;

use edge_ssl_core::{ModelCard, Preprocessor};
use edge_ssl_runtime::Backend;
use edge_ssl_train::head::{Head, HeadKind};
use serde::{Deserialize, Serialize};

use super::{AdaptOptions, paired_cache};
use crate::embed::embedder::Embedder;
use crate::frames::frame_list::FrameList;
use crate::frames::image_set::{LabeledSet, embed_strict};
use crate::model::reference::ResolvedModel;
use crate::progress::Progress;
use crate::tune::{LabeledViews, Split};

/// Copies of the labeled training images rendered (2 views each) when [`MANY_COPIES`] of them
/// would take more than [`COPIES_BUDGET`]: 8 views of each image.
const COPIES: usize = 4;
/// Copies rendered when they fit in [`COPIES_BUDGET`] (16 views of each image). Measured on the
/// demo's shifted domain (`--train all`, 80 labeled images, 10-shot head): 4 copies 61.71 %
/// shifted / 69.39 % in-domain, 8 copies 62.37 % / 69.98 %.
const MANY_COPIES: usize = 8;
/// What [`MANY_COPIES`] may take, counted at the input size (a frozen prefix's outputs are
/// usually smaller): 4 MB for the bundled 28×28 encoder's 80 demo images; a 224×224 RGB
/// encoder's stay at [`COPIES`].
const COPIES_BUDGET: usize = 64 << 20;

/// How many copies of `images` labeled images to render for an input of `input_floats` values.
fn copies(images: usize, input_floats: usize) -> usize {
    // Saturating: the input size comes from a card (bounded there, but not trusted here).
    let bytes = [2, images, input_floats, std::mem::size_of::<f32>()]
        .into_iter()
        .fold(MANY_COPIES, usize::saturating_mul);
    if bytes <= COPIES_BUDGET {
        MANY_COPIES
    } else {
        COPIES
    }
}

/// One labeled image in this many is held out to judge (see [`judges`]).
const HOLD_OUT_EVERY: usize = 5;

/// Whether the `nth` image (from 1) of a class of `count` is held out: every
/// [`HOLD_OUT_EVERY`]-th, or the last of a class too small to have one (three or four images);
/// none from a class of fewer than three. Measured on the demo's shifted domain (`--train all`,
/// 10 labels per class, 10-shot head): holding out every third image (70 trained on) gave
/// 59.10 %, every fifth (80) 61.86 %, none (100, nothing to judge with) 62.43 %.
fn judges(nth: usize, count: usize) -> bool {
    match count {
        0..=2 => false,
        3..HOLD_OUT_EVERY => nth == count,
        _ => nth.is_multiple_of(HOLD_OUT_EVERY),
    }
}

/// The labeled set split into images that train and images that judge.
pub struct LabeledSplit<'a> {
    pub set: &'a LabeledSet,
    pub train: Vec<usize>,
    pub held_out: Vec<usize>,
}

/// What the labels did; part of the encoder-training report.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct LabelsReport {
    pub classes: Vec<String>,
    /// Labeled images trained on, and held out to judge.
    pub trained_on: usize,
    pub held_out: usize,
    /// Held-out accuracy of a softmax head on the encoder before and after training (`None`
    /// when nothing could be held out).
    pub accuracy_before: Option<f64>,
    pub accuracy_after: Option<f64>,
    /// `trained`, or `original` when training lowered the held-out accuracy.
    pub kept: String,
}

impl<'a> LabeledSplit<'a> {
    pub fn of(set: &'a LabeledSet) -> Self {
        let (mut train, mut held_out) = (Vec::new(), Vec::new());
        let mut seen = vec![0usize; set.class_names.len()];
        let counts = set.labels.iter().fold(vec![0; seen.len()], |mut c, &l| {
            c[l] += 1;
            c
        });
        for (i, &label) in set.labels.iter().enumerate() {
            seen[label] += 1;
            if judges(seen[label], counts[label]) {
                held_out.push(i);
            } else {
                train.push(i);
            }
        }
        LabeledSplit {
            set,
            train,
            held_out,
        }
    }

    fn paths(&self, idx: &[usize]) -> Vec<std::path::PathBuf> {
        idx.iter().map(|&i| self.set.paths[i].clone()).collect()
    }

    fn labels(&self, idx: &[usize]) -> Vec<usize> {
        idx.iter().map(|&i| self.set.labels[i]).collect()
    }

    /// Augmented views of each training image through the prefix ([`copies`] of two views
    /// each), with their classes.
    #[allow(clippy::too_many_arguments)]
    pub fn views(
        &self,
        backend: &dyn Backend,
        card: &ModelCard,
        pre: &Preprocessor,
        split: &Split,
        opts: &AdaptOptions,
        work: &Path,
        resuming: bool,
        progress: &Progress,
    ) -> crate::Result<LabeledViews> {
        let once = self.paths(&self.train);
        let input = &card.input;
        let copies = copies(once.len(), input.channels * input.height * input.width);
        let paths: Vec<_> = (0..copies).flat_map(|_| once.iter().cloned()).collect();
        // Each copy is a frame index of its own, so its two views are drawn afresh.
        let images = FrameList::strict_files(&paths, pre, progress)?;
        let views = paired_cache::build(
            backend,
            card,
            pre,
            split,
            &images,
            opts,
            work,
            resuming,
            progress,
            paired_cache::LABELED_CACHE,
        )?;
        let labels = self.labels(&self.train).repeat(copies);
        let views = LabeledViews::new(views, labels, self.set.class_names.len())?;
        Ok(views.in_copies(copies)?)
    }

    /// Held-out accuracy of a softmax head fitted on the training images' embeddings by the
    /// encoder `onnx` (`None` when nothing is held out).
    pub fn held_out_accuracy(
        &self,
        backend: &dyn Backend,
        onnx: &Path,
        card: &ModelCard,
        opts: &AdaptOptions,
        progress: &Progress,
    ) -> crate::Result<Option<f64>> {
        if self.held_out.is_empty() {
            return Ok(None);
        }
        let model = ResolvedModel {
            onnx: onnx.to_owned(),
            card: card.clone(),
            dir: None,
        };
        let mut embedder = Embedder::load(backend, &model)?;
        let batch = opts.images_per_call(&card.input);
        let embed = |embedder: &mut Embedder, idx: &[usize]| {
            embed_strict(embedder, &self.paths(idx), batch, "labeled", progress)
        };
        let train = embed(&mut embedder, &self.train)?;
        let held = embed(&mut embedder, &self.held_out)?;
        let names = self.set.class_names.clone();
        let head = Head::fit(
            HeadKind::Softmax,
            train.view(),
            &self.labels(&self.train),
            names,
        )?;
        let truth = self.labels(&self.held_out);
        Ok(Some(
            crate::head::eval::evaluate(&head, held.view(), &truth)?.accuracy,
        ))
    }
}

/// Fits a softmax head on every labeled image through the finished model directory `out` and
/// writes it there (as `edge-ssl head` would).
pub fn write_head(
    backend: &dyn Backend,
    out: &Path,
    set: &LabeledSet,
    opts: &AdaptOptions,
    progress: &Progress,
) -> crate::Result<()> {
    let model = crate::model::reference::resolve_path(out)?;
    let mut embedder = Embedder::load(backend, &model)?;
    let batch = opts.images_per_call(&model.card.input);
    let x = embed_strict(&mut embedder, &set.paths, batch, "labeled", progress)?;
    let head = Head::fit(
        HeadKind::Softmax,
        x.view(),
        &set.labels,
        set.class_names.clone(),
    )?;
    crate::head::write::write_head_unlocked(&model, out, &head, HeadKind::Softmax.name(), None)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::judges;

    #[test]
    fn small_inputs_get_more_copies() {
        // The demo: 80 images of 28×28 gray; a 224×224 RGB encoder's.
        assert_eq!(super::copies(80, 28 * 28), super::MANY_COPIES);
        assert_eq!(super::copies(80, 3 * 224 * 224), super::COPIES);
        assert_eq!(super::copies(0, 3 * 224 * 224), super::MANY_COPIES);
        assert_eq!(super::copies(usize::MAX, usize::MAX), super::COPIES);
    }

    #[test]
    fn one_image_in_five_of_each_class_judges() {
        let held =
            |count: usize| -> Vec<usize> { (1..=count).filter(|&n| judges(n, count)).collect() };
        assert_eq!(held(10), [5, 10]);
        assert_eq!(held(7), [5]);
        assert_eq!(held(5), [5]);
        assert_eq!(held(4), [4]);
        assert_eq!(held(3), [3]);
        assert!(held(2).is_empty() && held(1).is_empty());
    }
}
