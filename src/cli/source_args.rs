use clap::Args;
use edge_ssl::model::reference::ResolvedModel;
use edge_ssl_source::SourceOptions;

/// Which frames of a source are used; shared by every command that reads frames (`run --data`,
/// `adapt --data`, `cluster --data`, `head --unlabeled`, `fleet join --data`).
#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// Keep at most F frames per second of source time (video and camera clocks; a folder
    /// counts one image per second).
    #[arg(long, value_name = "F")]
    pub fps: Option<f64>,
    /// Skip near-duplicate frames: mean absolute difference of 16x16 gray thumbnails below T
    /// (0-255 scale; 2-4 ignores a static camera's sensor noise).
    #[arg(long, value_name = "T")]
    pub dedup: Option<f32>,
    /// Stop after N kept frames (a camera runs until Ctrl-C otherwise).
    #[arg(long, value_name = "N")]
    pub max_frames: Option<u64>,
}

impl SourceArgs {
    pub fn options(&self) -> SourceOptions {
        SourceOptions::default()
            .with_fps(self.fps)
            .with_dedup_threshold(self.dedup)
            .with_max_frames(self.max_frames)
    }

    /// [`SourceArgs::options`] for frames that go to `model`: decoded no larger than its input
    /// needs (a large JPEG at 1/2–1/8 of its size).
    pub fn options_for(&self, model: &ResolvedModel) -> SourceOptions {
        let pre = edge_ssl_core::Preprocessor::new(model.card.input.clone());
        self.options().with_decode_size(pre.decode_size())
    }
}
