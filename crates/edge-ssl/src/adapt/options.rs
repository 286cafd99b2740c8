use edge_ssl_source::SourceOptions;
use edge_ssl_train::augment::AugmentConfig;
use edge_ssl_train::novelty::NoveltyConfig;
use edge_ssl_train::trainer::Method;

use crate::tune::{Train, TuneConfig};

/// Everything `adapt` needs once flags are parsed (the demo builds these directly).
#[derive(Clone, Debug)]
pub struct AdaptOptions {
    pub method: Method,
    pub epochs: usize,
    pub views: usize,
    pub batch: usize,
    pub seed: u64,
    pub bn_adapt: bool,
    /// Which of the encoder's own weights train (SimCLR, after BN re-estimation and before the
    /// adapter, which then trains on the trained encoder's embeddings): `Train::None` keeps
    /// the encoder as BN re-estimation left it.
    pub train: Train,
    /// Settings of that encoder training; its seed is replaced by `seed`.
    pub tune: TuneConfig,
    /// A few labeled images (`ROOT/<class>/*`) that train with the encoder (cross-entropy and
    /// pseudo-labels beside SimCLR; needs `train` other than `Train::None`), judge whether the
    /// trained encoder is kept, and give the model directory a softmax head.
    pub labeled: Option<std::path::PathBuf>,
    pub adapter: bool,
    pub resume: bool,
    pub checkpoint_every: u64,
    /// Images per encoder call while embedding views and re-estimating BN.
    pub infer_batch: usize,
    pub bn_frames: usize,
    /// Threads that render augmented views (beside the encoder's own threads).
    pub render_workers: usize,
    /// Threads of the encoder trainer's convolutions and BatchNormalization (0: every core, up
    /// to 4). The trained weights do not depend on it.
    pub train_threads: usize,
    pub augment: AugmentConfig,
    /// Which frames of a video or camera `--data` are used (`--fps`, `--dedup`, `--max-frames`).
    pub sampling: SourceOptions,
    /// The novelty model fitted on the adapted, un-augmented embeddings of the frames
    /// (`None`: no novelty model).
    pub novelty: Option<NoveltyConfig>,
}

impl Default for AdaptOptions {
    fn default() -> Self {
        AdaptOptions {
            method: Method::Vicreg,
            epochs: 10,
            views: 8,
            batch: 256,
            seed: 0,
            bn_adapt: true,
            train: Train::None,
            tune: TuneConfig::default(),
            labeled: None,
            adapter: true,
            resume: false,
            checkpoint_every: 50,
            infer_batch: 64,
            bn_frames: 2048,
            render_workers: 1,
            train_threads: 0,
            augment: AugmentConfig::camera(),
            sampling: SourceOptions::default(),
            novelty: Some(NoveltyConfig::default()),
        }
    }
}

/// Input floats one encoder call of `adapt` may take (2^20, a quarter of
/// [`CALL_INPUT_FLOATS`](crate::embed::embedder::CALL_INPUT_FLOATS)): `adapt` runs a pool of
/// sessions side by side, each with one call's activations in flight.
const CALL_INPUT_FLOATS: usize = 1 << 20;

impl AdaptOptions {
    /// Images per encoder call for inputs of `input`: `infer_batch`, fewer for large inputs.
    pub fn images_per_call(&self, input: &edge_ssl_core::InputSpec) -> usize {
        let per_image = input.channels * input.height * input.width;
        crate::embed::embedder::images_per_call(per_image, self.infer_batch, CALL_INPUT_FLOATS)
    }

    pub fn with_render_workers(mut self, workers: usize) -> Self {
        self.render_workers = workers.max(1);
        self
    }

    /// See [`AdaptOptions::train_threads`].
    pub fn with_train_threads(mut self, threads: usize) -> Self {
        self.train_threads = threads;
        self
    }
}
