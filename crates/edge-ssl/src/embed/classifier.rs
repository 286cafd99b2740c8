//! One frame to one class: the card's preprocessing, the encoder, the directory's adapter (all
//! inside [`Embedder`]), the head and the novelty model when the directory has one, timed
//! together — the latency `run` reports is what a frame costs from decoded image to decision,
//! without decoding and without the outputs.

use std::time::{Duration, Instant};

use crate::error::{Context, bail};
use edge_ssl_runtime::Backend;
use edge_ssl_train::head::{Head, Prediction};
use edge_ssl_train::novelty::{NoveltyInput, NoveltyModel};
use image::DynamicImage;

use crate::embed::embedder::Embedder;
use crate::model::directory as model_dir;
use crate::model::exported::{ExportedHead, exported_head_of};
use crate::model::reference::ResolvedModel;

/// A frame's decision.
#[derive(Clone, Debug)]
pub struct Decision {
    pub class_id: usize,
    pub confidence: f32,
    /// The novelty score (higher is more unusual), when the model has a novelty model.
    pub novelty: Option<f32>,
    /// Whether `novelty` is above the calibrated threshold: the frame is unlike anything the
    /// model was fitted on, whatever class the head names.
    pub novel: Option<bool>,
    pub latency: Duration,
}

/// What turns an image's embedding into a class: a model directory's head, or the head inside
/// an exported ONNX (its `scores` output).
#[derive(Clone, Debug)]
pub enum Scorer {
    Head(Head),
    Exported(ExportedHead),
}

impl Scorer {
    /// The scorer of `model`: its directory's head (checked against encoder and adapter), or
    /// the one an exported ONNX carries; [`Error::NoHead`](crate::Error::NoHead) otherwise.
    pub fn of(model: &ResolvedModel) -> crate::Result<Self> {
        if let Some(head) = exported_head_of(model)? {
            return Ok(Scorer::Exported(head));
        }
        Ok(Scorer::Head(model_dir::load_head(model)?))
    }

    /// Class names in score order.
    pub fn class_names(&self) -> &[String] {
        match self {
            Scorer::Head(h) => &h.class_names,
            Scorer::Exported(e) => &e.class_names,
        }
    }
}

/// Encoder, adapter, head and novelty model: images in, classes (and novelty) out.
pub struct Classifier {
    embedder: Embedder,
    scorer: Scorer,
    novelty: Option<NoveltyModel>,
}

impl Classifier {
    /// Loads the head and the novelty model first: a directory without a head, or with a
    /// mismatched novelty model, fails before the encoder is compiled.
    pub fn load(backend: &dyn Backend, model: &ResolvedModel) -> crate::Result<Self> {
        let scorer = Scorer::of(model)?;
        let novelty = crate::novelty::file::load(model)?;
        if !novelty
            .as_ref()
            .is_some_and(|n| n.input() == NoveltyInput::Features)
        {
            return Ok(Self::from_parts(backend, model, scorer)?.with_novelty(novelty));
        }
        let embedder = Embedder::load_with_features(backend, model)?;
        if let (Some(n), Some(width)) = (&novelty, embedder.features_width())
            && n.dim() != width
        {
            bail!(
                Model,
                "mismatched model directory: its novelty model takes {} feature means, the encoder gives {width}",
                n.dim()
            );
        }
        Ok(Classifier {
            embedder,
            scorer,
            novelty,
        })
    }

    /// A classifier from a scorer already loaded (and checked) for `model`, without novelty.
    pub fn from_parts(
        backend: &dyn Backend,
        model: &ResolvedModel,
        scorer: Scorer,
    ) -> crate::Result<Self> {
        let embedder = Embedder::load(backend, model)?;
        Ok(Classifier {
            embedder,
            scorer,
            novelty: None,
        })
    }

    /// Scores every decision with `novelty` (already checked for this model's embeddings).
    #[must_use]
    pub fn with_novelty(mut self, novelty: Option<NoveltyModel>) -> Self {
        self.novelty = novelty;
        self
    }

    /// The novelty model decisions are scored with, if any.
    pub fn novelty(&self) -> Option<&NoveltyModel> {
        self.novelty.as_ref()
    }

    /// What the backend said when it fell back from the requested execution provider.
    pub fn fallback_note(&self) -> Option<String> {
        self.embedder.fallback_note()
    }

    pub fn class_names(&self) -> &[String] {
        self.scorer.class_names()
    }

    pub fn describe(&self) -> String {
        self.embedder.describe()
    }

    /// The class of one image; `latency` is the whole decision (preprocessing included).
    pub fn classify(&mut self, image: &DynamicImage) -> crate::Result<Decision> {
        let started = Instant::now();
        let mut decision = (self
            .predict(std::slice::from_ref(image))?
            .into_iter()
            .next())
        .context("the head returned no prediction")?;
        decision.latency = started.elapsed();
        Ok(decision)
    }

    /// The classes of a batch of images, run as one encoder batch; each decision's `latency`
    /// is the batch's time divided by its size.
    pub fn classify_batch(&mut self, images: &[DynamicImage]) -> crate::Result<Vec<Decision>> {
        let started = Instant::now();
        let mut decisions = self.predict(images)?;
        let each = started.elapsed() / images.len().max(1) as u32;
        for d in &mut decisions {
            d.latency = each;
        }
        Ok(decisions)
    }

    /// The name of a decision's class.
    pub fn class_name(&self, decision: &Decision) -> &str {
        self.class_names()
            .get(decision.class_id)
            .map_or("?", String::as_str)
    }

    /// Decisions with a zero latency, which the callers fill in.
    fn predict(&mut self, images: &[DynamicImage]) -> crate::Result<Vec<Decision>> {
        let decide = |p: Prediction| Decision {
            class_id: p.class,
            confidence: p.confidence,
            novelty: None,
            novel: None,
            latency: Duration::ZERO,
        };
        match &self.scorer {
            Scorer::Head(head) => {
                let embedded = self.embedder.embed_images_with_features(images)?;
                let rows = embedded.rows;
                let mut decisions: Vec<Decision> =
                    head.predict(rows.view())?.into_iter().map(decide).collect();
                if let Some(novelty) = &self.novelty {
                    let scored = match (novelty.input(), &embedded.features) {
                        (NoveltyInput::Features, Some(f)) => f.view(),
                        (NoveltyInput::Features, None) => {
                            bail!(
                                Model,
                                "the novelty model scores feature means the encoder was not loaded with"
                            )
                        }
                        (NoveltyInput::Embedding, _) => rows.view(),
                    };
                    let scores = novelty.score(scored)?;
                    for (d, &s) in decisions.iter_mut().zip(&scores) {
                        d.novelty = Some(s);
                        d.novel = Some(s > novelty.threshold());
                    }
                }
                Ok(decisions)
            }
            Scorer::Exported(e) => {
                let (index, logits, classes) = (e.output_index, e.logits, e.class_names.len());
                let mut outputs = self.embedder.run_images(images)?;
                let novelty = match e.novelty {
                    Some((i, threshold)) => {
                        let n = outputs
                            .get(i)
                            .context("the exported model returned no novelty")?;
                        if n.len() != images.len() {
                            bail!(
                                Model,
                                "the exported model returned {} novelty scores for {} image(s)",
                                n.len(),
                                images.len()
                            );
                        }
                        Some((n.iter().copied().collect::<Vec<f32>>(), threshold))
                    }
                    None => None,
                };
                let scores = (index < outputs.len())
                    .then(|| outputs.swap_remove(index))
                    .context("the exported model returned no scores")?;
                if scores.len() != images.len() * classes {
                    bail!(
                        Model,
                        "the exported model returned {} scores for {} image(s) of {classes} classes",
                        scores.len(),
                        images.len()
                    );
                }
                let scores = scores.as_standard_layout().into_owned();
                let rows = scores.into_shape_with_order((images.len(), classes))?;
                let mut decisions: Vec<Decision> = rows
                    .rows()
                    .into_iter()
                    .map(|r| decide(best(r, logits)))
                    .collect();
                if let Some((scores, threshold)) = novelty {
                    for (d, s) in decisions.iter_mut().zip(scores) {
                        d.novelty = Some(s);
                        d.novel = Some(s > threshold);
                    }
                }
                Ok(decisions)
            }
        }
    }
}

/// The top class of one row of scores; logits are turned into probabilities first.
fn best(row: ndarray::ArrayView1<f32>, logits: bool) -> Prediction {
    let max = row.fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let (mut class, mut top) = (0, f32::NEG_INFINITY);
    for (i, &v) in row.iter().enumerate() {
        if v > top {
            (class, top) = (i, v);
        }
    }
    let confidence = if logits {
        1.0 / row.iter().map(|&v| (v - max).exp()).sum::<f32>()
    } else {
        top
    };
    Prediction { class, confidence }
}
