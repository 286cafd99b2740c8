//! What one timed call of `bench` runs: the whole model a device would run. A bare ONNX file
//! runs as it is (an exported one holds its adapter and head inside); a model directory runs
//! its encoder, its adapter and, when it has one, its head — not only `encoder.onnx`, whose
//! latency would leave out what the directory adds.

use edge_ssl_core::TensorView;
use edge_ssl_runtime::{Backend, Session};
use edge_ssl_train::head::Head;

use crate::embed::embedder::Embedder;
use crate::error::Context;
use crate::model::directory::{self as model_dir, HEAD};
use crate::model::reference::ResolvedModel;

/// What one timed call runs: a bare ONNX file as it is, or a model directory's encoder with
/// its adapter and (when it has one) its head — the classification a device makes per batch.
pub enum ModelRunner {
    Graph(Box<dyn Session>),
    Directory {
        embedder: Box<Embedder>,
        head: Option<Box<Head>>,
    },
}

impl ModelRunner {
    /// Loads `model` on `backend`; a directory's adapter and head are checked as every command
    /// checks them, so a damaged part is refused rather than left out of the measurement.
    pub fn load(backend: &dyn Backend, model: &ResolvedModel) -> crate::Result<Self> {
        let Some(dir) = &model.dir else {
            let session = backend.load(&model.onnx, &model.card).with_context(|| {
                format!("loading {} with {}", model.onnx.display(), backend.name())
            })?;
            return Ok(ModelRunner::Graph(session));
        };
        let head = match model_dir::part(dir, HEAD)? {
            Some(_) => Some(Box::new(model_dir::load_head(model)?)),
            None => None,
        };
        let embedder = Box::new(Embedder::load(backend, model)?);
        Ok(ModelRunner::Directory { embedder, head })
    }

    /// One call on a model-ready batch.
    pub fn run(&mut self, input: TensorView) -> crate::Result<()> {
        match self {
            ModelRunner::Graph(session) => {
                std::hint::black_box(session.run_one(input)?);
            }
            ModelRunner::Directory { embedder, head } => {
                let rows = embedder.embed_batch(input)?;
                if let Some(head) = head {
                    std::hint::black_box(head.predict(rows.view())?);
                }
            }
        }
        Ok(())
    }

    /// The backend's description, and for a directory what runs besides the encoder.
    pub fn describe(&self) -> String {
        match self {
            ModelRunner::Graph(session) => session.describe(),
            ModelRunner::Directory { embedder, head } => format!(
                "{} (encoder{}{})",
                embedder.describe(),
                if embedder.has_adapter() {
                    " + adapter"
                } else {
                    ""
                },
                head.as_ref()
                    .map_or(String::new(), |h| format!(" + {} head", h.kind().name()))
            ),
        }
    }
}
