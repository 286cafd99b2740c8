//! How the demo scores a model: the variants it compares and, for each, 10-shot accuracy on the
//! shifted and the clean domain.
//!
//! A variant is a name and the [`AdaptOptions`] that make it from the bundled encoder ("BN
//! only", "adapter only (vicreg)", "BN + adapter (vicreg)", "encoder tail:2", …). A score fits a
//! softmax head on the ten labeled images per class of a domain and evaluates it on that domain's
//! held-out images; on the shifted domain also with the unlabeled frames added to the head (label
//! propagation). Confusion-matrix and t-SNE-style plots of the shifted evaluation go under
//! `plots/<slug>/` beside the data. The CLI's `demo` prints and reports these rows; a program can
//! call the same functions to compare its own variants.

use std::path::PathBuf;

use edge_ssl_runtime::Backend;
use edge_ssl_train::head::HeadKind;
use edge_ssl_train::trainer::Method;
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::adapt::AdaptOptions;
use crate::datasets::demo_data::DemoData;
use crate::embed::embedder::Embedder;
use crate::frames::image_set::{self, LabeledSet};
use crate::head::eval::{self, Evaluation};
use crate::head::fit::fit_head;
use crate::model::reference::ResolvedModel;
use crate::progress::Progress;
use crate::tune::Train;

/// Images per encoder call while scoring.
const BATCH: usize = 256;

/// The labeled sets of the demo's data, read once and shared by every variant.
pub struct DemoSets {
    pub shifted_labeled: LabeledSet,
    pub shifted_eval: LabeledSet,
    pub clean_labeled: LabeledSet,
    pub clean_eval: LabeledSet,
}

impl DemoSets {
    pub fn read(d: &DemoData) -> crate::Result<Self> {
        Ok(DemoSets {
            shifted_labeled: LabeledSet::read(&d.shifted_labeled)?,
            shifted_eval: LabeledSet::read(&d.shifted_eval)?,
            clean_labeled: LabeledSet::read(&d.clean_labeled)?,
            clean_eval: LabeledSet::read(&d.clean_eval)?,
        })
    }
}

/// One row of the demo's table (also a row of its `results.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VariantScore {
    pub variant: String,
    /// 10-shot accuracy on the shifted domain, 0–1.
    pub shifted: f64,
    /// The same head with label propagation over the unlabeled shifted frames.
    pub shifted_with_unlabeled: f64,
    /// 10-shot accuracy on the clean domain.
    pub in_domain: f64,
    /// Wall time of the adaptation that made the variant (none for the frozen encoder).
    pub adapt_seconds: Option<f64>,
    /// Confusion matrix and embedding plot of the shifted evaluation.
    pub plots: Vec<PathBuf>,
    /// Shifted evaluation images.
    pub n_eval: usize,
}

/// The variants the demo adapts, in table order: BN only; per method, adapter only and BN +
/// adapter; per encoder selection, SimCLR on the encoder alone (as issue 14's reference) and,
/// when `labeled` images are given, the same with them (joint training, `AdaptOptions::labeled`).
pub fn variants(
    methods: &[Method],
    trains: &[Train],
    labeled: Option<&std::path::Path>,
    base: &AdaptOptions,
) -> Vec<(String, AdaptOptions)> {
    let mut out = vec![(
        "BN only".to_string(),
        AdaptOptions {
            adapter: false,
            ..base.clone()
        },
    )];
    for &method in methods {
        out.push((
            format!("adapter only ({method})"),
            AdaptOptions {
                method,
                bn_adapt: false,
                ..base.clone()
            },
        ));
        out.push((
            format!("BN + adapter ({method})"),
            AdaptOptions {
                method,
                ..base.clone()
            },
        ));
    }
    for train in trains {
        let encoder = AdaptOptions {
            train: *train,
            bn_adapt: false,
            adapter: false,
            ..base.clone()
        };
        out.push((format!("encoder {train}"), encoder.clone()));
        if let Some(root) = labeled {
            let with_labels = AdaptOptions {
                labeled: Some(root.to_owned()),
                ..encoder
            };
            out.push((format!("encoder {train} + labels"), with_labels));
        }
    }
    out
}

/// Scores `model` (encoder, and adapter if it has one) as the variant `name`.
pub fn score(
    name: &str,
    model: &ResolvedModel,
    backend: &dyn Backend,
    data: &DemoData,
    sets: &DemoSets,
    adapt_seconds: Option<f64>,
    progress: &Progress,
) -> crate::Result<VariantScore> {
    let mut e = Embedder::load(backend, model)?;
    if let Some(note) = e.fallback_note() {
        progress.note(note);
    }
    let (shifted, result, shifted_eval) = accuracy(
        &mut e,
        &sets.shifted_labeled,
        &sets.shifted_eval,
        None,
        progress,
    )?;
    let (in_domain, ..) = accuracy(
        &mut e,
        &sets.clean_labeled,
        &sets.clean_eval,
        None,
        progress,
    )?;
    let frames = image_set::decode_frames(&data.shifted_unlabeled, e.preprocessor(), progress)?;
    let unlabeled = image_set::embed_frames(&mut e, &frames, BATCH, progress)?;
    drop(frames);
    let (shifted_with_unlabeled, ..) = accuracy(
        &mut e,
        &sets.shifted_labeled,
        &sets.shifted_eval,
        Some(&unlabeled),
        progress,
    )?;
    let mut plots = Vec::new();
    let root = data.shifted_eval.parent().and_then(|p| p.parent());
    if let Some(root) = root {
        let (a, b) = eval::write_plots(
            &root.join("plots").join(slug(name)),
            &result,
            shifted_eval.view(),
            &sets.shifted_eval.labels,
            &sets.shifted_eval.class_names,
        )?;
        plots = vec![a, b];
    }
    Ok(VariantScore {
        variant: name.to_string(),
        shifted,
        shifted_with_unlabeled,
        in_domain,
        adapt_seconds,
        plots,
        n_eval: sets.shifted_eval.paths.len(),
    })
}

/// Fits a softmax head on `train` (with `unlabeled` for label propagation) and evaluates it on
/// `test`: accuracy, the evaluation and `test`'s embeddings.
fn accuracy(
    e: &mut Embedder,
    train: &LabeledSet,
    test: &LabeledSet,
    unlabeled: Option<&Array2<f32>>,
    progress: &Progress,
) -> crate::Result<(f64, Evaluation, Array2<f32>)> {
    let x = image_set::embed_strict(e, &train.paths, BATCH, "labeled", progress)?;
    let (head, _) = fit_head(
        HeadKind::Softmax,
        x.view(),
        &train.labels,
        &train.class_names,
        unlabeled.map(|u| u.view()),
    )?;
    let xe = image_set::embed_strict(e, &test.paths, BATCH, "eval", progress)?;
    let r = eval::evaluate(&head, xe.view(), &test.labels)?;
    Ok((r.accuracy, r, xe))
}

/// A variant name as a folder name: lower-case letters and digits, words joined by `-`
/// ("BN + adapter (vicreg)" → `bn-adapter-vicreg`).
pub fn slug(name: &str) -> String {
    name.chars()
        .filter_map(|c| match c {
            'a'..='z' | '0'..='9' => Some(c),
            'A'..='Z' => Some(c.to_ascii_lowercase()),
            ' ' | '+' => Some('-'),
            _ => None,
        })
        .collect::<String>()
        .split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_folder_names() {
        assert_eq!(slug("BN + adapter (vicreg)"), "bn-adapter-vicreg");
        assert_eq!(slug("encoder tail:2"), "encoder-tail2");
        assert_eq!(slug("../x"), "x");
    }

    #[test]
    fn variants_follow_methods_and_selections() {
        let base = AdaptOptions::default();
        let labeled = std::path::Path::new("L");
        let v = variants(
            &[Method::Vicreg],
            &["tail:2".parse().unwrap()],
            Some(labeled),
            &base,
        );
        let names: Vec<_> = v.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "BN only",
                "adapter only (vicreg)",
                "BN + adapter (vicreg)",
                "encoder tail:2",
                "encoder tail:2 + labels"
            ]
        );
        assert_eq!(v[3].1.labeled, None);
        assert_eq!(v[4].1.labeled.as_deref(), Some(labeled));
        assert!(!v[0].1.adapter && v[0].1.bn_adapt);
        assert!(v[1].1.adapter && !v[1].1.bn_adapt);
        assert!(!v[3].1.adapter && !v[3].1.bn_adapt);
    }
}
