//! A model directory as one ONNX graph: the directory's encoder (whose BatchNorm statistics
//! `adapt` already re-estimated), then its adapter and head written as plain ONNX operators
//! after the encoder's output. The graph computes exactly what [`crate::embed::embedder::Embedder`]
//! and [`Head::probabilities`] compute: `A(E(x))`, L2-normalized, through the head.
//!
//! Outputs: the adapted embedding, under the encoder's own output name (so the directory's
//! card still describes the exported file), and `scores`, `N × C`. Scores are logits in the
//! sense that `softmax(scores)` is the head's probability vector — `W·x̂ + b` for softmax
//! regression, `scale · cos` for imprinting, `−‖x̂ − c‖² / T` for k-means — or, with
//! `with_softmax`, the probabilities themselves.
//!
//! With a novelty model (AE or VAE), a third output `novelty` (`N × 1`) is its score on the
//! adapted embedding, or on the encoder's feature means for a model of those (the same
//! `ReduceMean`/`Concat` nodes the runtime adds) — standardize, the four dense layers, mean squared reconstruction error,
//! as [`NoveltyModel::score_graph`] lays it out — and the metadata carries its threshold
//! (`edge-ssl.novelty_threshold`: a frame is novel when its score is above it). A k-NN novelty
//! model is left out (it would need TopK over every stored embedding), and [`Exported`] says so.
//!
//! The directory's card (minus file name and hash) is embedded in the metadata, with the class
//! names and head kind, so the file is self-describing.
//!
//! k-NN heads are refused: a faithful export needs TopK and a gather over every stored
//! embedding, and a deployment that wants that head can refit it as imprinting in seconds.

use crate::error::{Context, bail};
use edge_ssl_runtime::{EMBEDDED_CARD_KEY, GraphBuilder};
use edge_ssl_train::head::{Head, HeadModel};
use edge_ssl_train::nn::{Adapter, L2_FLOOR};
use edge_ssl_train::novelty::{NoveltyInput, NoveltyKind, NoveltyModel, ScoreGraph};
use ndarray::Array2;

use crate::model::reference::ResolvedModel;

/// The output carrying class scores.
pub const SCORES: &str = "scores";
/// The output carrying the novelty score, when the directory has an exportable novelty model.
pub const NOVELTY: &str = "novelty";
/// Metadata key of the novelty threshold (a decimal number).
pub const NOVELTY_THRESHOLD_KEY: &str = "edge-ssl.novelty_threshold";
/// Metadata key of the novelty score's kind (`ae`, `vae`, `knn`).
pub const NOVELTY_KIND_KEY: &str = "edge-ssl.novelty_kind";

/// Head kinds [`build`] can write, for error and help texts.
pub const EXPORTABLE: &str = "softmax, imprint, kmeans";

#[derive(Clone, Copy, Debug, Default)]
pub struct ExportOptions {
    /// End the graph with a Softmax, so `scores` are probabilities.
    pub softmax: bool,
}

impl ExportOptions {
    pub fn with_softmax(mut self, softmax: bool) -> Self {
        self.softmax = softmax;
        self
    }
}

/// What [`build`] produced, for the command's summary.
pub struct Exported {
    pub graph: GraphBuilder,
    pub embedding: String,
    pub dim: usize,
    pub classes: usize,
    /// Whether the graph has the `novelty` output; `Err` says why a novelty model was left out.
    pub novelty: Result<bool, String>,
}

fn values(a: &Array2<f32>) -> Vec<f32> {
    a.iter().copied().collect()
}

/// Builds the one-file graph of `model` with its (optional) adapter, its head and its
/// (optional) novelty model.
pub fn build(
    model: &ResolvedModel,
    adapter: Option<&Adapter>,
    head: &Head,
    novelty: Option<&NoveltyModel>,
    options: ExportOptions,
) -> crate::Result<Exported> {
    let mut g = GraphBuilder::open(&model.onnx)
        .with_context(|| format!("reading {}", model.onnx.display()))?;
    // The card's output, which need not be the graph's first (the others are dropped).
    let name = model.card.output.name.clone();
    let encoder_rank = g
        .output_rank(&name)
        .with_context(|| format!("reading {}", model.onnx.display()))?;
    let raw = g.rename_tensor(&name, "encoder_output");
    let mut x = if encoder_rank == Some(2) {
        raw
    } else {
        g.flatten(&raw)
    };
    if let Some(a) = adapter {
        x = append_adapter(&mut g, &x, a)?;
    }
    let unit = g.l2_normalize(&x, L2_FLOOR)?;
    let mut scores = append_head(&mut g, &unit, head)?;
    if options.softmax {
        scores = g.softmax(&scores);
    }
    let dim = head.dim();
    let classes = head.class_names.len();
    let mut outputs = vec![
        (x.as_str(), name.as_str(), dim),
        (scores.as_str(), SCORES, classes),
    ];
    let (score, exported_novelty) = match novelty {
        Some(n) => {
            let rows = novelty_rows(&mut g, &x, n)?;
            match append_novelty(&mut g, &rows, n)? {
                Some(score) => (Some(score), Ok(true)),
                None => (
                    None,
                    Err(format!(
                        "{} novelty models do not export (only ae and vae do)",
                        n.kind()
                    )),
                ),
            }
        }
        None => (None, Ok(false)),
    };
    if let Some(score) = &score {
        outputs.push((score.as_str(), NOVELTY, 1));
    }
    g.set_outputs(&outputs)?;
    if let (Some(n), Some(_)) = (novelty, &score) {
        g.set_metadata(NOVELTY_THRESHOLD_KEY, &n.threshold().to_string());
        g.set_metadata(NOVELTY_KIND_KEY, n.kind().name());
    }
    g.set_producer("edge-ssl export", env!("CARGO_PKG_VERSION"));
    g.set_metadata(
        crate::model::exported::CLASSES_KEY,
        &serde_json::to_string(&head.class_names)?,
    );
    g.set_metadata("edge-ssl.head", head.kind().name());
    g.set_metadata(
        crate::model::exported::SCORES_KEY,
        if options.softmax {
            "probabilities"
        } else {
            "logits (softmax gives the head's probabilities)"
        },
    );
    // The card travels inside the file, so `edge-ssl embed/bench --model FILE.onnx` and a
    // device reading the metadata know the preprocessing without a card beside it.
    let mut card = model.card.clone();
    (card.onnx, card.sha256) = (None, None);
    card.output.name = name.clone();
    card.output.dim = dim;
    let card = card.to_toml().map_err(crate::Error::Format)?;
    g.set_metadata(EMBEDDED_CARD_KEY, &card);
    Ok(Exported {
        graph: g,
        embedding: name,
        dim,
        classes,
        novelty: exported_novelty,
    })
}

/// The rows `n` scores: the adapted embedding `x`, or the encoder's feature means (appended
/// here, the same math as `edge_ssl_runtime::onnx::feature_means::feature_model`).
fn novelty_rows(g: &mut GraphBuilder, x: &str, n: &NoveltyModel) -> crate::Result<String> {
    // A k-NN model is not exported: no feature means for it either.
    if n.input() == NoveltyInput::Embedding || n.kind() == NoveltyKind::Knn {
        return Ok(x.to_string());
    }
    match g.append_feature_means() {
        Some(f) if f.width == n.dim() => Ok(f.tensor),
        Some(f) => bail!(
            Model,
            "the novelty model takes {} feature means, the encoder gives {}",
            n.dim(),
            f.width
        ),
        None => bail!(
            Model,
            "the novelty model scores feature means, the encoder has no convolutional activation"
        ),
    }
}

/// The novelty score of the rows `x` (`N × 1`), or `None` for a k-NN model.
fn append_novelty(
    g: &mut GraphBuilder,
    x: &str,
    n: &NoveltyModel,
) -> crate::Result<Option<String>> {
    let ScoreGraph::Reconstruction {
        mean,
        inv_std,
        layers,
    } = n.score_graph()
    else {
        return Ok(None);
    };
    let d = mean.len();
    let mean = g.constant("novelty_mean", &[d], &mean.to_vec())?;
    let inv_std = g.constant("novelty_inv_std", &[d], &inv_std.to_vec())?;
    let centered = g.sub(x, &mean);
    let u = g.mul(&centered, &inv_std);
    let mut h = u.clone();
    for layer in &layers {
        let (out, inp) = layer.weight.dim();
        h = g.linear(
            &h,
            &values(&layer.weight),
            (out, inp),
            &layer.bias.to_vec(),
            1.0,
        )?;
        if layer.relu {
            h = g.relu(&h);
        }
    }
    let error = g.sub(&h, &u);
    let squared = g.mul(&error, &error);
    Ok(Some(g.reduce_last("ReduceMean", &squared)))
}

/// `e + W2·relu(W1·LayerNorm(e) + b1) + b2`, as [`Adapter`] infers it.
fn append_adapter(g: &mut GraphBuilder, e: &str, a: &Adapter) -> crate::Result<String> {
    let (d, h) = (a.dim(), a.hidden());
    let norm = g.layer_norm(
        e,
        &values(&a.norm.gain.value),
        &values(&a.norm.bias.value),
        a.norm.eps,
    )?;
    let fc1 = &a.fc1;
    let hidden = g.linear(
        &norm,
        &values(&fc1.weight.value),
        (h, d),
        &values(&fc1.bias.value),
        1.0,
    )?;
    let hidden = g.relu(&hidden);
    let fc2 = &a.fc2;
    let delta = g.linear(
        &hidden,
        &values(&fc2.weight.value),
        (d, h),
        &values(&fc2.bias.value),
        1.0,
    )?;
    Ok(g.add(&delta, e))
}

/// The head's logits on unit rows: `softmax(logits)` is [`Head::probabilities`].
fn append_head(g: &mut GraphBuilder, unit: &str, head: &Head) -> crate::Result<String> {
    let (c, d) = (head.class_names.len(), head.dim());
    Ok(match &head.model {
        HeadModel::Softmax(s) => {
            g.linear(unit, &values(&s.weight), (c, d), &values(&s.bias), 1.0)?
        }
        HeadModel::Imprint(i) => {
            g.linear(unit, &values(&i.weight), (c, d), &vec![0.0; c], i.scale)?
        }
        HeadModel::KMeans(k) => {
            // ‖x̂ − c‖² = ‖x̂‖² − 2·x̂·c + ‖c‖², clamped at 0 as the head does.
            let cc: Vec<f32> = k.centroids.rows().into_iter().map(|r| r.dot(&r)).collect();
            let cross = g.linear(unit, &values(&k.centroids), (c, d), &cc, -2.0)?;
            let squared = g.mul(unit, unit);
            let xx = g.reduce_last("ReduceSum", &squared);
            let dist = g.add(&cross, &xx);
            let zero = g.scalar("zero", 0.0)?;
            let dist = g.max(&dist, &zero);
            g.scale(&dist, -1.0 / k.temperature)?
        }
        HeadModel::Knn(_) => bail!(
            Model,
            "k-NN heads do not export (they vote over every stored embedding); heads that export: {EXPORTABLE}; refit an imprint or softmax head"
        ),
    })
}
