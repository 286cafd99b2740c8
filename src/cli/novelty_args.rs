use clap::Args;
use edge_ssl::model::reference::ResolvedModel;
use edge_ssl::novelty::{
    NoveltyConfig, NoveltyInput, NoveltyKind, NoveltyPlan, prefer_feature_means,
};
use edge_ssl::progress::Progress;

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

    /// Whether the input is left to `auto` (feature means when the encoder has any).
    fn auto_input(&self) -> bool {
        matches!(self.novelty_input.as_deref(), None | Some("auto"))
    }

    /// What head and cluster do: keep the directory's own model unless a kind or input is given.
    pub fn plan(&self, model: &ResolvedModel, progress: &Progress) -> anyhow::Result<NoveltyPlan> {
        let (keep, auto) = (!self.explicit(), self.auto_input());
        Ok(NoveltyPlan::new(
            model,
            keep,
            self.config()?,
            auto,
            progress,
        )?)
    }

    /// [`NoveltyArgs::config`] with `auto` resolved: feature means if `model` has any.
    pub fn adapt_config(&self, model: &ResolvedModel) -> anyhow::Result<Option<NoveltyConfig>> {
        match (self.config()?, self.auto_input()) {
            (Some(c), true) => Ok(Some(prefer_feature_means(c, &model.onnx)?)),
            (config, _) => Ok(config),
        }
    }
}
