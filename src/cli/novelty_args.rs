use clap::Args;
use edge_ssl::model::reference::ResolvedModel;
use edge_ssl::novelty::{NoveltyConfig, NoveltyInput, NoveltyKind, prefer_feature_means};

/// The novelty model `head`, `adapt`, `cluster` and `fleet join` fit beside what they write.
#[derive(Debug, Clone, Args)]
pub struct NoveltyArgs {
    /// Novelty score written as novelty.safetensors (`run` then flags frames unlike those fitted
    /// on): ae (autoencoder reconstruction error), vae, or knn (distance to the k-th nearest).
    #[arg(long, default_value = "ae", value_name = "KIND")]
    novelty: String,
    /// What it scores: embedding, features (channel means of the encoder's conv activations;
    /// adapt only) or auto (features in adapt when the encoder has any, else embedding).
    #[arg(long, default_value = "auto", value_name = "INPUT")]
    novelty_input: String,
    /// Fit no novelty model.
    #[arg(long, conflicts_with = "novelty")]
    no_novelty: bool,
}

impl NoveltyArgs {
    pub fn config(&self) -> anyhow::Result<Option<NoveltyConfig>> {
        if self.no_novelty {
            return Ok(None);
        }
        let kind: NoveltyKind = self.novelty.parse()?;
        let input = match self.novelty_input.as_str() {
            "auto" => NoveltyInput::Embedding,
            input => input.parse()?,
        };
        Ok(Some(
            NoveltyConfig::default().with_kind(kind).with_input(input),
        ))
    }

    /// [`NoveltyArgs::config`] for `adapt`, where `auto` means feature means if `model` has any.
    pub fn adapt_config(&self, model: &ResolvedModel) -> anyhow::Result<Option<NoveltyConfig>> {
        match (self.config()?, self.novelty_input == "auto") {
            (Some(c), true) => Ok(Some(prefer_feature_means(c, &model.onnx)?)),
            (config, _) => Ok(config),
        }
    }
}
