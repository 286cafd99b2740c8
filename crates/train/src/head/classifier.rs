use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use ndarray::{Array2, ArrayView2, Axis};

use super::labeled::validate_labeled;
use super::{ImprintHead, KMeansHead, KnnHead, SoftmaxHead, SoftmaxOptions};
use crate::error::{ensure_dim, ensure_finite};
use crate::nn::l2_normalize;
use crate::tensor_file::TensorFile;
use crate::{Result, TrainError};

const FILE_KIND: &str = "edge-ssl head";

/// A predicted class index and the head's probability for it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prediction {
    pub class: usize,
    pub confidence: f32,
}

/// Which head `edge-ssl head --kind` fits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadKind {
    Softmax,
    Imprint,
    Knn,
    KMeans,
}

impl HeadKind {
    pub fn name(self) -> &'static str {
        match self {
            HeadKind::Softmax => "softmax",
            HeadKind::Imprint => "imprint",
            HeadKind::Knn => "knn",
            HeadKind::KMeans => "kmeans",
        }
    }
}

impl fmt::Display for HeadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for HeadKind {
    type Err = TrainError;

    fn from_str(s: &str) -> Result<Self> {
        [
            HeadKind::Softmax,
            HeadKind::Imprint,
            HeadKind::Knn,
            HeadKind::KMeans,
        ]
        .into_iter()
        .find(|k| k.name() == s.to_ascii_lowercase())
        .ok_or_else(|| {
            TrainError::InvalidConfig(format!(
                "unknown head kind {s:?} (softmax, imprint, knn, kmeans)"
            ))
        })
    }
}

/// The fitted parameters of one head kind. Every model sees L2-normalized embeddings.
#[derive(Clone, Debug, PartialEq)]
pub enum HeadModel {
    Softmax(SoftmaxHead),
    Imprint(ImprintHead),
    Knn(KnnHead),
    KMeans(KMeansHead),
}

/// A classifier on adapted embeddings, with its class names: what `head.safetensors` holds.
///
/// All heads work in cosine geometry: [`Head::probabilities`] L2-normalizes each embedding
/// first, so an exporter puts `x / ‖x‖` in front of the head's own math.
#[derive(Clone, Debug, PartialEq)]
pub struct Head {
    pub class_names: Vec<String>,
    pub model: HeadModel,
}

impl Head {
    /// Fits a supervised head (`Softmax`, `Imprint` or `Knn`) on labeled embeddings;
    /// `labels[i]` indexes `class_names`. `KMeans` needs no labels: use [`KMeansHead::fit`].
    pub fn fit(
        kind: HeadKind,
        x: ArrayView2<f32>,
        labels: &[usize],
        class_names: Vec<String>,
    ) -> Result<Head> {
        Self::fit_with(kind, x, labels, class_names, &SoftmaxOptions::default())
    }

    pub fn fit_with(
        kind: HeadKind,
        x: ArrayView2<f32>,
        labels: &[usize],
        class_names: Vec<String>,
        softmax: &SoftmaxOptions,
    ) -> Result<Head> {
        validate_labeled(x, labels, &class_names)?;
        let unit = l2_normalize(x).0;
        let c = class_names.len();
        let model = match kind {
            HeadKind::Softmax => {
                HeadModel::Softmax(SoftmaxHead::fit(unit.view(), labels, c, softmax)?)
            }
            HeadKind::Imprint => HeadModel::Imprint(ImprintHead::fit(unit.view(), labels, c)),
            HeadKind::Knn => HeadModel::Knn(KnnHead::fit(unit.view(), labels, c)),
            HeadKind::KMeans => {
                return Err(TrainError::InvalidConfig(
                    "k-means is fitted without labels: use KMeansHead::fit".into(),
                ));
            }
        };
        Ok(Head { class_names, model })
    }

    pub fn kind(&self) -> HeadKind {
        match self.model {
            HeadModel::Softmax(_) => HeadKind::Softmax,
            HeadModel::Imprint(_) => HeadKind::Imprint,
            HeadModel::Knn(_) => HeadKind::Knn,
            HeadModel::KMeans(_) => HeadKind::KMeans,
        }
    }

    pub fn dim(&self) -> usize {
        match &self.model {
            HeadModel::Softmax(h) => h.weight.ncols(),
            HeadModel::Imprint(h) => h.weight.ncols(),
            HeadModel::Knn(h) => h.points.ncols(),
            HeadModel::KMeans(h) => h.centroids.ncols(),
        }
    }

    /// `N × C` class probabilities.
    pub fn probabilities(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        ensure_dim("head input width", self.dim(), x.ncols())?;
        ensure_finite("embeddings", &x)?;
        let unit = l2_normalize(x).0;
        Ok(match &self.model {
            HeadModel::Softmax(h) => h.probabilities(unit.view()),
            HeadModel::Imprint(h) => h.probabilities(unit.view()),
            HeadModel::Knn(h) => h.probabilities(unit.view()),
            HeadModel::KMeans(h) => h.probabilities(unit.view()),
        })
    }

    pub fn predict(&self, x: ArrayView2<f32>) -> Result<Vec<Prediction>> {
        let p = self.probabilities(x)?;
        Ok(p.rows()
            .into_iter()
            .map(|r| argmax(r.iter().copied()))
            .collect())
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        self.save_with_metadata(path, &BTreeMap::new())
    }

    /// Writes `head.safetensors` atomically: the model's tensors, `head` (kind), `classes`
    /// (JSON array of names), `dim`, the model's scalars, and `extra` for provenance.
    pub fn save_with_metadata(&self, path: &Path, extra: &BTreeMap<String, String>) -> Result<()> {
        let mut f = TensorFile::new(FILE_KIND);
        for (k, v) in extra {
            f.set(k, v);
        }
        f.set("head", self.kind());
        f.set(
            "classes",
            serde_json::to_string(&self.class_names).expect("strings serialize"),
        );
        f.set("dim", self.dim());
        match &self.model {
            HeadModel::Softmax(h) => h.write(&mut f),
            HeadModel::Imprint(h) => h.write(&mut f),
            HeadModel::Knn(h) => h.write(&mut f),
            HeadModel::KMeans(h) => h.write(&mut f),
        }
        f.write(path)
    }

    pub fn load(path: &Path) -> Result<Head> {
        Self::load_with_metadata(path).map(|(h, _)| h)
    }

    /// Reads `head.safetensors`. A file from elsewhere is checked, not trusted: NaN or infinite
    /// weights (which would make every prediction class 0 with a `null` confidence), a
    /// temperature or scale that is not finite and positive, and tensors whose shapes disagree
    /// with the class list and `dim` are all [`TrainError::Corrupt`].
    pub fn load_with_metadata(path: &Path) -> Result<(Head, BTreeMap<String, String>)> {
        let mut f = TensorFile::read(path, FILE_KIND)?;
        let class_names: Vec<String> = f.json("classes")?;
        let kind: HeadKind = f.get("head")?.parse().map_err(|e| f.corrupt(e))?;
        let (c, d): (usize, usize) = (class_names.len(), f.parse("dim")?);
        let model = match kind {
            HeadKind::Softmax => HeadModel::Softmax(SoftmaxHead::read(&mut f, c, d)?),
            HeadKind::Imprint => HeadModel::Imprint(ImprintHead::read(&mut f, c, d)?),
            HeadKind::Knn => HeadModel::Knn(KnnHead::read(&mut f, c, d)?),
            HeadKind::KMeans => HeadModel::KMeans(KMeansHead::read(&mut f, c, d)?),
        };
        if c == 0 {
            return Err(f.corrupt("no classes"));
        }
        if let Some(why) = class_names
            .iter()
            .find_map(|n| edge_ssl_core::class_name_problem(n))
        {
            return Err(f.corrupt(why));
        }
        let head = Head { class_names, model };
        Ok((head, f.metadata))
    }
}

/// Index and value of the largest entry (first on ties).
pub(super) fn argmax(values: impl Iterator<Item = f32>) -> Prediction {
    let mut best = Prediction {
        class: 0,
        confidence: f32::NEG_INFINITY,
    };
    for (i, v) in values.enumerate() {
        if v > best.confidence {
            best = Prediction {
                class: i,
                confidence: v,
            };
        }
    }
    best
}

/// Row-wise softmax of `scale · logits`, in place, numerically stable.
pub(super) fn softmax_rows(mut logits: Array2<f32>, scale: f32) -> Array2<f32> {
    for mut row in logits.axis_iter_mut(Axis(0)) {
        row.mapv_inplace(|v| v * scale);
        let max = row.fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        row.mapv_inplace(|v| (v - max).exp());
        let sum = row.sum();
        row /= sum;
    }
    logits
}
