use clap::Args;
use edge_ssl::model::reference::ResolvedModel;
use edge_ssl::novelty::{NoveltyConfig, NoveltyInput, NoveltyKind, prefer_feature_means};

/// The novelty model `head`, `adapt`, `cluster` and `fleet join` fit beside what they write.
#[derive(Debug, Clone, Args)]
pub struct NoveltyArgs {
    /// Novelty score written as novelty.safetensors (`run` then flags frames unlike those fitted
    /// on): ae (autoencoder reconstruction error; the default), vae, or knn (distance to the
    /// k-th nearest). Given to head or cluster, refits the model directory's own.
    #[arg(long, value_name = "KIND")]
    novelty: Option<String>,
    /// What it scores: embedding, features (channel means of the encoder's conv activations) or
    /// auto (the default: features when the encoder has any, else embedding). Given to head or
    /// cluster, refits the model directory's own.
    #[arg(long, value_name = "INPUT")]
    novelty_input: Option<String>,
    /// Fit no novelty model.
    #[arg(long, conflicts_with = "novelty")]
    no_novelty: bool,
}

impl NoveltyArgs {
    pub fn config(&self) -> anyhow::Result<Option<NoveltyConfig>> {
        if self.no_novelty {
            return Ok(None);
        }
        let kind: NoveltyKind = self.novelty.as_deref().unwrap_or("ae").parse()?;
        let input = match self.novelty_input.as_deref() {
            None | Some("auto") => NoveltyInput::Embedding,
            Some(input) => input.parse()?,
        };
        let config = NoveltyConfig::default().with_kind(kind);
        Ok(Some(config.with_input(input)))
    }

    /// Whether the novelty model was asked for by name (kind or input), not left to defaults.
    pub fn explicit(&self) -> bool {
        self.novelty.is_some() || self.novelty_input.is_some()
    }

    /// [`NoveltyArgs::adapt_config`] for head and cluster, which keep the directory's own model
    /// (one that loads) unless a kind or input is given; its config then only says "on".
    pub fn head_config(&self, model: &ResolvedModel) -> anyhow::Result<Option<NoveltyConfig>> {
        match self.explicit() || !edge_ssl::novelty::file::load(model).is_ok_and(|m| m.is_some()) {
            true => self.adapt_config(model),
            false => self.config(),
        }
    }

    /// [`NoveltyArgs::config`] with `auto` resolved: feature means if `model` has any.
    pub fn adapt_config(&self, model: &ResolvedModel) -> anyhow::Result<Option<NoveltyConfig>> {
        match (
            self.config()?,
            matches!(self.novelty_input.as_deref(), None | Some("auto")),
        ) {
            (Some(c), true) => Ok(Some(prefer_feature_means(c, &model.onnx)?)),
            (config, _) => Ok(config),
        }
    }
}
