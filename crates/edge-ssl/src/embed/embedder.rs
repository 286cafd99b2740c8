//! Images in, embedding rows out: the path every command that looks at pictures shares
//! (`embed`, `adapt`, `head`, `eval`, `run`). Decoding failures are the caller's policy, so
//! this takes already-decoded images or [0, 1] CHW units.

use crate::error::{Context, bail};
use edge_ssl_core::{Preprocessor, Tensor, TensorView};
use edge_ssl_runtime::onnx::feature_means;
use edge_ssl_runtime::{Backend, Session};
use edge_ssl_train::nn::Adapter;
use edge_ssl_train::novelty::NoveltyInput;
use image::DynamicImage;
use ndarray::{Array2, Array3, ArrayView2};

use crate::model::reference::ResolvedModel;

pub struct Embedder {
    session: Box<dyn Session>,
    pre: Preprocessor,
    /// A model directory's adapter `A`, applied to every row so callers see `A(E(x))`.
    adapter: Option<Adapter>,
    outputs: Outputs,
}

/// What the session returns and which rows the `embed_*` calls give.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outputs {
    /// The embedding only.
    Embedding,
    /// The embedding and feature means of this width ([`Embedder::load_with_features`]).
    WithFeatures(usize),
    /// The same outputs, and the rows are the feature means ([`Embedder::load_for_novelty`]).
    FeatureRows(usize),
    /// The rows are this output of the graph, as it gives it ([`Embedder::load_output`]).
    Output(usize),
}

/// Embedding rows and, from an embedder loaded with features, the feature-mean rows of the
/// same images.
pub struct Embedded {
    pub rows: Array2<f32>,
    pub features: Option<Array2<f32>>,
}

impl Embedded {
    /// The parts' rows one after the other (and their feature means, when every part has them).
    pub fn concat(parts: &[Embedded]) -> crate::Result<Embedded> {
        let rows: Vec<_> = parts.iter().map(|p| p.rows.view()).collect();
        let features: Option<Vec<_>> = parts
            .iter()
            .map(|p| p.features.as_ref().map(|f| f.view()))
            .collect();
        Ok(Embedded {
            rows: ndarray::concatenate(ndarray::Axis(0), &rows)?,
            features: match features {
                Some(f) => Some(ndarray::concatenate(ndarray::Axis(0), &f)?),
                None => None,
            },
        })
    }

    /// The rows a novelty model of `input` scores: the embedding rows, or the feature means
    /// (an error when the embedder was not loaded with them).
    pub fn novelty_rows(&self, input: NoveltyInput) -> crate::Result<ArrayView2<'_, f32>> {
        match (input, &self.features) {
            (NoveltyInput::Embedding, _) => Ok(self.rows.view()),
            (NoveltyInput::Features, Some(f)) => Ok(f.view()),
            (NoveltyInput::Features, None) => bail!(
                Options,
                "a novelty model of feature means needs the images embedded with them"
            ),
        }
    }
}

impl Embedder {
    /// Loads `model` on `backend` (see [`Embedder::fallback_note`] for a provider fallback).
    pub fn load(backend: &dyn Backend, model: &ResolvedModel) -> crate::Result<Self> {
        Ok(Embedder {
            session: Self::session(backend, model)?,
            pre: Preprocessor::new(model.card.input.clone()),
            adapter: crate::model::directory::load_adapter(model)?,
            outputs: Outputs::Embedding,
        })
    }

    /// An embedder whose rows are what a novelty model of `input` scores: the adapted
    /// embedding ([`Embedder::load`]) or the encoder's feature means (the adapter, which comes
    /// after them, is not loaded), so every helper that embeds images gives novelty rows.
    pub fn load_for_novelty(
        backend: &dyn Backend,
        model: &ResolvedModel,
        input: NoveltyInput,
    ) -> crate::Result<Self> {
        match input {
            NoveltyInput::Embedding => Self::load(backend, model),
            NoveltyInput::Features => {
                let (session, width) = Self::feature_session(backend, model)?;
                Ok(Embedder {
                    session,
                    pre: Preprocessor::new(model.card.input.clone()),
                    adapter: None,
                    outputs: Outputs::FeatureRows(width),
                })
            }
        }
    }

    /// [`Embedder::load`], or [`Embedder::load_with_features`] when `novelty` scores feature
    /// means: an embedder whose passes give the rows a command fits its head on and the rows its
    /// novelty model fits on ([`Embedded::novelty_rows`]) at once.
    pub fn load_fitting(
        backend: &dyn Backend,
        model: &ResolvedModel,
        novelty: Option<&edge_ssl_train::novelty::NoveltyConfig>,
    ) -> crate::Result<Self> {
        match novelty.map(|c| c.input()) {
            Some(NoveltyInput::Features) => Self::load_with_features(backend, model),
            _ => Self::load(backend, model),
        }
    }

    /// An embedder whose rows are output `index` of `model`'s graph as the graph gives it, with
    /// no adapter: an exported ONNX's `novelty` column, which the helpers that embed images then
    /// compute for images, folders and videos alike.
    pub fn load_output(
        backend: &dyn Backend,
        model: &ResolvedModel,
        index: usize,
    ) -> crate::Result<Self> {
        Ok(Embedder {
            session: Self::session(backend, model)?,
            pre: Preprocessor::new(model.card.input.clone()),
            adapter: None,
            outputs: Outputs::Output(index),
        })
    }

    /// `model`'s graph on `backend`, as it is.
    fn session(backend: &dyn Backend, model: &ResolvedModel) -> crate::Result<Box<dyn Session>> {
        backend
            .load(&model.onnx, &model.card)
            .with_context(|| format!("loading {} with {}", model.onnx.display(), backend.name()))
    }

    /// Loads `model`'s encoder with a second output, the channel means of its convolutional
    /// activation maps ([`edge_ssl_runtime::onnx::feature_means`]), for a novelty model that
    /// scores those. The extended graph is written to a private temporary directory, loaded,
    /// and removed. An encoder without convolutional activations (a ViT) is an error.
    pub fn load_with_features(backend: &dyn Backend, model: &ResolvedModel) -> crate::Result<Self> {
        let (session, width) = Self::feature_session(backend, model)?;
        Ok(Embedder {
            session,
            pre: Preprocessor::new(model.card.input.clone()),
            adapter: crate::model::directory::load_adapter(model)?,
            outputs: Outputs::WithFeatures(width),
        })
    }

    /// The session of [`Embedder::load_with_features`] and the width of its feature means.
    fn feature_session(
        backend: &dyn Backend,
        model: &ResolvedModel,
    ) -> crate::Result<(Box<dyn Session>, usize)> {
        let (mut sessions, width) = Self::feature_sessions(backend, model, false)?;
        match sessions.pop() {
            Some(session) => Ok((session, width)),
            None => bail!(Model, "{}: no session loaded", model.onnx.display()),
        }
    }

    /// Sessions of what [`Embedder::load_for_novelty`] runs, as [`Backend::load_parallel`]
    /// gives them (one per thread, for a [`SessionPool`](edge_ssl_runtime::SessionPool)), and
    /// which of their outputs holds the novelty rows: the embedding (0) or the feature means
    /// (1, with the width they must have). The adapter is not applied to these rows.
    pub fn novelty_sessions(
        backend: &dyn Backend,
        model: &ResolvedModel,
        input: NoveltyInput,
    ) -> crate::Result<NoveltySessions> {
        match input {
            NoveltyInput::Embedding => {
                let sessions = backend
                    .load_parallel(&model.onnx, &model.card)
                    .with_context(|| {
                        format!("loading {} with {}", model.onnx.display(), backend.name())
                    })?;
                Ok((sessions, 0, None))
            }
            NoveltyInput::Features => {
                let (sessions, width) = Self::feature_sessions(backend, model, true)?;
                Ok((sessions, 1, Some(width)))
            }
        }
    }

    /// The encoder with feature means ([`Embedder::load_with_features`]), one session or one
    /// per thread (`parallel`), and the feature rows' width.
    fn feature_sessions(
        backend: &dyn Backend,
        model: &ResolvedModel,
        parallel: bool,
    ) -> crate::Result<(Vec<Box<dyn Session>>, usize)> {
        let built = feature_means::feature_model(&model.onnx, &model.card.output)
            .with_context(|| format!("adding feature means to {}", model.onnx.display()))?;
        let Some((graph, features)) = built else {
            bail!(
                Model,
                "{} has no convolutional activation to take feature means of (score the embedding instead)",
                model.onnx.display()
            );
        };
        let dir = tempfile::Builder::new()
            .prefix("edge-ssl-features")
            .tempdir()
            .context("creating a temporary directory for the feature model")?;
        let path = dir.path().join("features.onnx");
        graph.save(&path)?;
        let sessions = match parallel {
            true => backend.load_parallel(&path, &model.card),
            false => backend.load(&path, &model.card).map(|s| vec![s]),
        }
        .with_context(|| format!("loading {} with feature means", model.onnx.display()))?;
        Ok((sessions, features.width))
    }

    /// Width of the feature-mean rows, when loaded with them.
    pub fn features_width(&self) -> Option<usize> {
        match self.outputs {
            Outputs::Embedding | Outputs::Output(_) => None,
            Outputs::WithFeatures(w) | Outputs::FeatureRows(w) => Some(w),
        }
    }

    /// The rows callers asked for: the feature means of a [`Embedder::load_for_novelty`]
    /// embedder, the (adapted) embedding otherwise.
    fn chosen_rows(&self, embedded: Embedded) -> Array2<f32> {
        self.chosen(embedded).rows
    }

    /// `embedded` as callers asked for it: its rows are [`Embedder::chosen_rows`]'s, and the
    /// feature means stay beside them when the embedder was loaded with them
    /// ([`Embedder::load_with_features`]).
    pub(crate) fn chosen(&self, embedded: Embedded) -> Embedded {
        match (self.outputs, embedded.features) {
            (Outputs::FeatureRows(_), Some(features)) => Embedded {
                rows: features,
                features: None,
            },
            (Outputs::WithFeatures(_), features) => Embedded {
                rows: embedded.rows,
                features,
            },
            _ => Embedded {
                rows: embedded.rows,
                features: None,
            },
        }
    }

    /// What the backend said when it fell back from the requested execution provider.
    pub fn fallback_note(&self) -> Option<String> {
        self.session.fallback_note().map(|n| n.to_string())
    }

    pub fn preprocessor(&self) -> &Preprocessor {
        &self.pre
    }

    pub fn describe(&self) -> String {
        self.session.describe()
    }

    /// Whether rows go through a model directory's adapter.
    pub fn has_adapter(&self) -> bool {
        self.adapter.is_some()
    }

    /// Embeds decoded images (resized by the card's rule).
    pub fn embed_images(&mut self, images: &[DynamicImage]) -> crate::Result<Array2<f32>> {
        let units: Vec<Array3<f32>> = images.iter().map(|i| self.pre.unit_image(i)).collect();
        self.embed_units(&units)
    }

    /// [`Embedder::embed_images`], with the feature-mean rows when loaded with them.
    pub fn embed_images_with_features(
        &mut self,
        images: &[DynamicImage],
    ) -> crate::Result<Embedded> {
        let units: Vec<Array3<f32>> = images.iter().map(|i| self.pre.unit_image(i)).collect();
        self.embed_units_with_features(&units)
    }

    /// Embeds [0, 1] CHW images already at the input size, in calls of at most
    /// [`CALL_INPUT_FLOATS`] input values (a caller's batch of large images is split).
    pub fn embed_units(&mut self, units: &[Array3<f32>]) -> crate::Result<Array2<f32>> {
        let embedded = self.embed_units_with_features(units)?;
        Ok(self.chosen_rows(embedded))
    }

    /// [`Embedder::embed_units`], with the feature-mean rows when loaded with them.
    pub fn embed_units_with_features(&mut self, units: &[Array3<f32>]) -> crate::Result<Embedded> {
        if units.is_empty() {
            let features = self.features_width().map(|w| Array2::zeros((0, w)));
            return Ok(Embedded {
                rows: Array2::zeros((0, 0)),
                features,
            });
        }
        let per_call = images_per_call(units[0].len(), units.len(), CALL_INPUT_FLOATS);
        let mut parts = Vec::new();
        for chunk in units.chunks(per_call) {
            let batch = self.pre.batch(chunk)?;
            parts.push(self.embed_batch_with_features(batch.view())?);
        }
        if parts.len() == 1 {
            return Ok(parts.swap_remove(0));
        }
        Embedded::concat(&parts)
    }

    /// Every output of the model for decoded images, as the model gives them (no adapter): for
    /// a graph with more than one output, such as an exported ONNX's `scores`.
    pub fn run_images(&mut self, images: &[DynamicImage]) -> crate::Result<Vec<Tensor>> {
        let units: Vec<Array3<f32>> = images.iter().map(|i| self.pre.unit_image(i)).collect();
        let batch = self.pre.batch(&units)?;
        Ok(self.session.run(&[batch.view()])?)
    }

    /// Embeds one model-ready input batch (normalized, in the card's layout): one row per image.
    pub fn embed_batch(&mut self, batch: TensorView) -> crate::Result<Array2<f32>> {
        let embedded = self.embed_batch_with_features(batch)?;
        Ok(self.chosen_rows(embedded))
    }

    /// [`Embedder::embed_batch`], with the feature-mean rows when loaded with them.
    pub fn embed_batch_with_features(&mut self, batch: TensorView) -> crate::Result<Embedded> {
        let n = batch.shape().first().copied().unwrap_or(0);
        if let Outputs::Output(index) = self.outputs {
            let output = self.session.run(&[batch])?.into_iter().nth(index);
            let rows = embedding_rows(output.into_iter().collect(), n)?;
            return Ok(Embedded {
                rows,
                features: None,
            });
        }
        let (rows, features) = match self.features_width() {
            None => (embedding_rows(vec![self.session.run_one(batch)?], n)?, None),
            Some(width) => {
                let mut out = self.session.run(&[batch])?.into_iter();
                let rows = embedding_rows(out.next().into_iter().collect(), n)?;
                let f = embedding_rows(out.next().into_iter().collect(), n)?;
                if f.ncols() != width {
                    bail!(
                        Model,
                        "the feature model returned {} feature means per image, not {width}",
                        f.ncols()
                    );
                }
                (rows, Some(f))
            }
        };
        let rows = match &self.adapter {
            Some(a) => a.apply(rows.view()).context("applying the adapter")?,
            None => rows,
        };
        Ok(Embedded { rows, features })
    }
}

/// [`Embedder::novelty_sessions`]: one session per thread, the output holding the novelty rows,
/// and the width the feature means must have (`None` for embeddings).
pub type NoveltySessions = (Vec<Box<dyn Session>>, usize, Option<usize>);

/// Input values one encoder call may take (2^22 floats, 16 MiB): a call's activations grow
/// with its batch times the input size, so 64 images of 224×224 cost gigabytes while 64 of
/// 28×28 cost almost nothing. Whatever `--batch` says, a call holds at least one image.
pub const CALL_INPUT_FLOATS: usize = 1 << 22;

/// Images of `per_image` values each that one call of at most `limit` input values takes,
/// out of `wanted` (at least one).
pub fn images_per_call(per_image: usize, wanted: usize, limit: usize) -> usize {
    wanted.min(limit / per_image.max(1)).max(1)
}

/// The first of a session's `outputs` for a batch of `n` images, as `n` embedding rows.
pub fn embedding_rows(outputs: Vec<Tensor>, n: usize) -> crate::Result<Array2<f32>> {
    let Some(out) = outputs.into_iter().next() else {
        bail!(Model, "the model returned no output");
    };
    if n == 0 || out.shape().first() != Some(&n) || out.is_empty() {
        bail!(
            Model,
            "the model returned shape {:?} for a batch of {n}",
            out.shape()
        );
    }
    // A broken export or a diverged fine-tune outputs NaN: rows of it would label every frame
    // class 0 with no confidence, or poison a head fitted on them.
    let bad = out.iter().filter(|v| !v.is_finite()).count();
    if bad > 0 {
        bail!(
            Model,
            "the model's output holds NaN or infinite values ({bad} of {}): it cannot embed",
            out.len()
        );
    }
    let width = out.len() / n;
    let out = out.as_standard_layout().into_owned();
    Ok(out.into_shape_with_order((n, width))?)
}
