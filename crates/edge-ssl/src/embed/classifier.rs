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

pub struct Classifier {
    embedder: Embedder,
    head: Head,
}

impl Classifier {
    /// Loads the head first: a directory without one fails before the encoder is compiled.
    pub fn load(backend: &dyn Backend, model: &ResolvedModel) -> crate::Result<Self> {
        let head = model_dir::load_head(model)?;
        let embedder = Embedder::load(backend, model)?;
        Ok(Classifier { embedder, head })
    }

    pub fn class_names(&self) -> &[String] {
        &self.head.class_names
    }

    pub fn describe(&self) -> String {
        self.embedder.describe()
    }

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
}
