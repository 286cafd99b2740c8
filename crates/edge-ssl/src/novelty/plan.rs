//! What a command that writes a head (`head`, `cluster`) does about the novelty model, decided
//! before it embeds anything: keep the model directory's own, fit a new one — on embeddings or
//! on feature means, which the embedder must then compute in the same pass
//! ([`Embedder::load_fitting`](crate::embed::embedder::Embedder::load_fitting)) — or none.

use edge_ssl_train::novelty::{NoveltyConfig, NoveltyModel};

use super::fit::{NoveltyOutcome, NoveltyReport, fit_parts};
use crate::embed::embedder::Embedded;
use crate::model::reference::ResolvedModel;
use crate::progress::Progress;

/// The novelty model a head will be written with.
#[derive(Clone, Debug)]
pub enum NoveltyPlan {
    /// The model directory's own (`adapt`'s, fitted on every frame it adapted on), loaded and
    /// checked against the directory's encoder and adapter.
    Keep(NoveltyModel),
    /// A new one with this config, fitted on the rows the head is fitted on (their embeddings or
    /// feature means, as the config says).
    Fit(NoveltyConfig),
    /// None (the caller asked for none).
    Disabled,
}

impl NoveltyPlan {
    /// The plan for a head written over `model`: with `keep`, the directory's own model when it
    /// has one that loads (one that does not is named on `progress` and a new one is fitted);
    /// otherwise `config`, whose input — when `auto_input` — becomes the encoder's feature means
    /// if it has any ([`super::prefer_feature_means`], as `adapt` resolves it). `None` plans none.
    /// The directory's model is read (and its sha256 ties checked) once, here.
    pub fn new(
        model: &ResolvedModel,
        keep: bool,
        config: Option<NoveltyConfig>,
        auto_input: bool,
        progress: &Progress,
    ) -> crate::Result<Self> {
        let Some(config) = config else {
            return Ok(NoveltyPlan::Disabled);
        };
        if keep {
            match super::file::load(model) {
                Ok(Some(own)) => return Ok(NoveltyPlan::Keep(own)),
                Ok(None) => {}
                Err(e) => progress.note(format!("novelty: not kept ({e}); fitting a new one")),
            }
        }
        Ok(NoveltyPlan::Fit(match auto_input {
            true => super::prefer_feature_means(config, &model.onnx)?,
            false => config,
        }))
    }

    /// The config of a model to fit (what the embedder must compute for it), if one is fitted.
    pub fn fitting(&self) -> Option<&NoveltyConfig> {
        match self {
            NoveltyPlan::Fit(config) => Some(config),
            _ => None,
        }
    }

    /// Carries the plan out on the head's rows, `parts` (labeled and unlabeled images).
    pub fn finish(
        self,
        parts: &[&Embedded],
        progress: &Progress,
    ) -> crate::Result<(Option<NoveltyModel>, NoveltyOutcome)> {
        match self {
            NoveltyPlan::Keep(own) => {
                let outcome = NoveltyOutcome::Kept(NoveltyReport::of(&own));
                Ok((Some(own), outcome))
            }
            NoveltyPlan::Fit(config) => fit_parts(parts, Some(&config), progress),
            NoveltyPlan::Disabled => Ok((None, NoveltyOutcome::Disabled)),
        }
    }
}
