//! One frame to one class: the card's preprocessing, the encoder, the directory's adapter (all
//! inside [`Embedder`]) and the head, timed together — the latency `run` reports is what a
//! frame costs from decoded image to decision, without decoding and without the outputs.

use std::time::{Duration, Instant};

use crate::error::Context;
use edge_ssl_runtime::Backend;
use edge_ssl_train::head::Head;
use image::DynamicImage;

use crate::embed::embedder::Embedder;
use crate::model::directory as model_dir;
use crate::model::reference::ResolvedModel;

/// A frame's decision.
#[derive(Clone, Debug)]
pub struct Decision {
    pub class_id: usize,
    pub confidence: f32,
    pub latency: Duration,
}

/// Encoder, adapter and head: images in, classes out.
pub struct Classifier {
    embedder: Embedder,
    head: Head,
}

impl Classifier {
    /// Loads the head first: a directory without one fails before the encoder is compiled.
    pub fn load(backend: &dyn Backend, model: &ResolvedModel) -> crate::Result<Self> {
        let head = model_dir::load_head(model)?;
        Self::from_parts(backend, model, head)
    }

    /// A classifier from a head already loaded (and checked) for `model`.
    pub fn from_parts(
        backend: &dyn Backend,
        model: &ResolvedModel,
        head: Head,
    ) -> crate::Result<Self> {
        let embedder = Embedder::load(backend, model)?;
        Ok(Classifier { embedder, head })
    }

    /// What the backend said when it fell back from the requested execution provider.
    pub fn fallback_note(&self) -> Option<String> {
        self.embedder.fallback_note()
    }

    pub fn class_names(&self) -> &[String] {
        &self.head.class_names
    }

    pub fn describe(&self) -> String {
        self.embedder.describe()
    }

    /// The class of one image; `latency` is the whole decision (preprocessing included).
    pub fn classify(&mut self, image: &DynamicImage) -> crate::Result<Decision> {
        let started = Instant::now();
        let row = self.embedder.embed_images(std::slice::from_ref(image))?;
        let prediction = (self.head.predict(row.view())?.into_iter().next())
            .context("the head returned no prediction")?;
        Ok(Decision {
            class_id: prediction.class,
            confidence: prediction.confidence,
            latency: started.elapsed(),
        })
    }

    /// The classes of a batch of images, run as one encoder batch; each decision's `latency`
    /// is the batch's time divided by its size.
    pub fn classify_batch(&mut self, images: &[DynamicImage]) -> crate::Result<Vec<Decision>> {
        let started = Instant::now();
        let rows = self.embedder.embed_images(images)?;
        let predictions = self.head.predict(rows.view())?;
        let each = started.elapsed() / images.len().max(1) as u32;
        Ok(predictions
            .into_iter()
            .map(|p| Decision {
                class_id: p.class,
                confidence: p.confidence,
                latency: each,
            })
            .collect())
    }

    /// The name of a decision's class.
    pub fn class_name(&self, decision: &Decision) -> &str {
        self.head
            .class_names
            .get(decision.class_id)
            .map_or("?", String::as_str)
    }
}
