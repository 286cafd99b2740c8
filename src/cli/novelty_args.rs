use clap::Args;
use edge_ssl::novelty::{NoveltyConfig, NoveltyKind};

/// The novelty model `head`, `adapt`, `cluster` and `fleet join` fit beside what they write.
#[derive(Debug, Clone, Args)]
pub struct NoveltyArgs {
    /// Novelty score fitted on the embeddings and written as novelty.safetensors: ae
    /// (autoencoder reconstruction error), vae, or knn (distance to the k-th nearest frame).
    /// `run` then says for each frame whether it is unlike anything fitted on.
    #[arg(long, default_value = "ae", value_name = "KIND")]
    novelty: String,
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
        Ok(Some(NoveltyConfig::default().with_kind(kind)))
    }
}
