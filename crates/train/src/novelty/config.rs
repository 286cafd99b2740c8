use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Result, TrainError};

/// Which score a [`super::NoveltyModel`] computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NoveltyKind {
    /// Reconstruction error of a ReLU autoencoder `D → h → z → h → D`.
    #[serde(rename = "ae")]
    Autoencoder,
    /// Reconstruction error of the posterior mean of a VAE with the same shape, trained on the
    /// negative ELBO: the KL term keeps the latent space smooth, so a row far from the data
    /// cannot hide in an unused corner of it.
    #[serde(rename = "vae")]
    Vae,
    /// Cosine distance to the k-th nearest training row: no training, a baseline to beat.
    #[serde(rename = "knn")]
    Knn,
}

impl NoveltyKind {
    pub const ALL: [NoveltyKind; 3] =
        [NoveltyKind::Autoencoder, NoveltyKind::Vae, NoveltyKind::Knn];

    pub fn name(self) -> &'static str {
        match self {
            NoveltyKind::Autoencoder => "ae",
            NoveltyKind::Vae => "vae",
            NoveltyKind::Knn => "knn",
        }
    }
}

impl fmt::Display for NoveltyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for NoveltyKind {
    type Err = TrainError;

    fn from_str(s: &str) -> Result<Self> {
        NoveltyKind::ALL
            .into_iter()
            .find(|k| k.name() == s.to_ascii_lowercase())
            .ok_or_else(|| {
                TrainError::InvalidConfig(format!(
                    "unknown novelty model {s:?} (expected ae, vae or knn)"
                ))
            })
    }
}

/// What a novelty model scores: the adapted embedding the head sees, or the channel means of
/// the encoder's convolutional activation maps (`edge_ssl_runtime::onnx::feature_means`),
/// which keep the texture and contrast statistics the embedding was trained to ignore.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum NoveltyInput {
    #[default]
    #[serde(rename = "embedding")]
    Embedding,
    #[serde(rename = "features")]
    Features,
}

impl NoveltyInput {
    pub fn name(self) -> &'static str {
        match self {
            NoveltyInput::Embedding => "embedding",
            NoveltyInput::Features => "features",
        }
    }
}

impl fmt::Display for NoveltyInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for NoveltyInput {
    type Err = TrainError;

    fn from_str(s: &str) -> Result<Self> {
        [NoveltyInput::Embedding, NoveltyInput::Features]
            .into_iter()
            .find(|k| k.name() == s.to_ascii_lowercase())
            .ok_or_else(|| {
                TrainError::InvalidConfig(format!(
                    "unknown novelty input {s:?} (expected embedding or features)"
                ))
            })
    }
}

/// Everything that determines a novelty fit. Equal configs on equal rows give bit-identical
/// models. The defaults suit a few thousand 64–512-d embeddings: a fit takes seconds on two
/// cores, and 20 % held out puts the 99th percentile between real order statistics for
/// `n ≥ 500`. Serializable, to be kept as provenance next to the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoveltyConfig {
    kind: NoveltyKind,
    #[serde(default)]
    input: NoveltyInput,
    hidden: usize,
    latent: usize,
    epochs: usize,
    batch: usize,
    lr: f32,
    weight_decay: f32,
    beta: f32,
    k: usize,
    held_out: f32,
    quantile: f32,
    seed: u64,
}

impl Default for NoveltyConfig {
    fn default() -> Self {
        NoveltyConfig {
            kind: NoveltyKind::Autoencoder,
            input: NoveltyInput::Embedding,
            hidden: 128,
            latent: 16,
            epochs: 30,
            batch: 128,
            lr: 2e-3,
            weight_decay: 1e-4,
            beta: 0.1,
            k: 5,
            held_out: 0.2,
            quantile: 0.99,
            seed: 0,
        }
    }
}

impl NoveltyConfig {
    #[must_use]
    pub fn with_kind(mut self, kind: NoveltyKind) -> Self {
        self.kind = kind;
        self
    }

    /// What the model scores (the caller computes those rows; see [`NoveltyInput`]).
    #[must_use]
    pub fn with_input(mut self, input: NoveltyInput) -> Self {
        self.input = input;
        self
    }

    /// Widths of the hidden layers and of the bottleneck.
    #[must_use]
    pub fn with_shape(mut self, hidden: usize, latent: usize) -> Self {
        (self.hidden, self.latent) = (hidden, latent);
        self
    }

    #[must_use]
    pub fn with_epochs(mut self, epochs: usize) -> Self {
        self.epochs = epochs;
        self
    }

    #[must_use]
    pub fn with_batch(mut self, batch: usize) -> Self {
        self.batch = batch;
        self
    }

    /// Peak AdamW learning rate (5 % linear warmup, then cosine decay).
    #[must_use]
    pub fn with_lr(mut self, lr: f32) -> Self {
        self.lr = lr;
        self
    }

    #[must_use]
    pub fn with_weight_decay(mut self, weight_decay: f32) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// Weight of the VAE's KL term. `β = 1` is the ELBO of a decoder with unit variance, which
    /// on standardized rows is a feature's whole variance: the VAE then encodes only the
    /// coarsest structure (AUROC 0.84 where the AE reaches 1.00 in the shifted-cluster test).
    /// The default, 0.1, is a decoder variance of 0.1 (AUROC 0.997 there).
    #[must_use]
    pub fn with_beta(mut self, beta: f32) -> Self {
        self.beta = beta;
        self
    }

    /// Neighbour rank of the k-NN score.
    #[must_use]
    pub fn with_k(mut self, k: usize) -> Self {
        self.k = k;
        self
    }

    /// Fraction of the rows kept out of training to calibrate the threshold on.
    #[must_use]
    pub fn with_held_out(mut self, fraction: f32) -> Self {
        self.held_out = fraction;
        self
    }

    /// Quantile of held-out scores that becomes the threshold (0.99: about 1 % of frames like
    /// the training data are flagged).
    #[must_use]
    pub fn with_quantile(mut self, quantile: f32) -> Self {
        self.quantile = quantile;
        self
    }

    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    pub fn kind(&self) -> NoveltyKind {
        self.kind
    }

    pub fn input(&self) -> NoveltyInput {
        self.input
    }

    pub fn hidden(&self) -> usize {
        self.hidden
    }

    pub fn latent(&self) -> usize {
        self.latent
    }

    pub fn epochs(&self) -> usize {
        self.epochs
    }

    pub fn batch(&self) -> usize {
        self.batch
    }

    pub fn lr(&self) -> f32 {
        self.lr
    }

    pub fn weight_decay(&self) -> f32 {
        self.weight_decay
    }

    pub fn beta(&self) -> f32 {
        self.beta
    }

    pub fn k(&self) -> usize {
        self.k
    }

    pub fn held_out(&self) -> f32 {
        self.held_out
    }

    pub fn quantile(&self) -> f32 {
        self.quantile
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Rejects options no fit can use, before any work is done.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(TrainError::InvalidConfig(what));
        if self.kind != NoveltyKind::Knn {
            if self.hidden == 0 || self.latent == 0 {
                return bad(format!(
                    "novelty network widths must be positive (hidden {}, latent {})",
                    self.hidden, self.latent
                ));
            }
            if self.hidden > super::MAX_WIDTH || self.latent > super::MAX_WIDTH {
                return bad(format!(
                    "novelty network widths must be at most {} (hidden {}, latent {})",
                    super::MAX_WIDTH,
                    self.hidden,
                    self.latent
                ));
            }
            if self.epochs == 0 || self.batch == 0 {
                return bad(
                    "novelty training needs at least one epoch and a batch of at least one row"
                        .into(),
                );
            }
            if !(self.lr.is_finite() && self.lr > 0.0) {
                return bad(format!(
                    "novelty learning rate {} must be positive",
                    self.lr
                ));
            }
            if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
                return bad(format!(
                    "novelty weight decay {} must be ≥ 0",
                    self.weight_decay
                ));
            }
            if !(self.beta.is_finite() && self.beta >= 0.0) {
                return bad(format!("VAE beta {} must be ≥ 0", self.beta));
            }
        }
        if self.k == 0 {
            return bad("k-NN novelty needs k ≥ 1".into());
        }
        if !(self.held_out > 0.0 && self.held_out < 1.0) {
            return bad(format!(
                "held-out fraction {} must be strictly between 0 and 1",
                self.held_out
            ));
        }
        if !(self.quantile > 0.0 && self.quantile < 1.0) {
            return bad(format!(
                "calibration quantile {} must be strictly between 0 and 1",
                self.quantile
            ));
        }
        Ok(())
    }
}

/// Largest embedding, hidden or latent width a novelty model is built or loaded with: far
/// above any encoder's embedding, and small enough that one layer's weights stay under 16 GiB
/// whatever a file's metadata claims.
pub const MAX_WIDTH: usize = 1 << 16;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_agree_everywhere() {
        for kind in NoveltyKind::ALL {
            assert_eq!(kind.name().parse::<NoveltyKind>().unwrap(), kind);
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{kind}\""));
        }
        assert!("pca".parse::<NoveltyKind>().is_err());
    }

    #[test]
    fn defaults_validate_and_nonsense_does_not() {
        NoveltyConfig::default().validate().unwrap();
        let d = NoveltyConfig::default;
        for bad in [
            d().with_shape(0, 4),
            d().with_shape(8, MAX_WIDTH + 1),
            d().with_epochs(0),
            d().with_batch(0),
            d().with_lr(f32::NAN),
            d().with_weight_decay(-1.0),
            d().with_beta(f32::INFINITY),
            d().with_k(0),
            d().with_held_out(1.0),
            d().with_quantile(0.0),
        ] {
            assert!(
                matches!(bad.validate(), Err(TrainError::InvalidConfig(_))),
                "{bad:?}"
            );
        }
        // Network options do not matter to k-NN.
        d().with_kind(NoveltyKind::Knn)
            .with_epochs(0)
            .validate()
            .unwrap();
    }
}
