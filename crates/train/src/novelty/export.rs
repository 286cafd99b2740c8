use ndarray::{Array1, Array2, s};

use super::model::{NoveltyModel, Scorer};
use crate::nn::Linear;

/// The novelty score as plain tensor math, for an exporter to write as ONNX nodes.
#[derive(Clone, Debug, PartialEq)]
pub enum ScoreGraph {
    /// AE and VAE: with `x` the `N × D` embeddings,
    /// `u = (x − mean) · inv_std` (`Sub`, `Mul`), then each layer in order,
    /// `h = h·Wᵀ + b` (`Gemm(transB=1)`) followed by `Relu` where `relu` says so, and finally
    /// `score = mean((h − u)², axis 1)` (`Sub`, `Mul` by itself, `ReduceMean(axes=[1],
    /// keepdims=0)`). For a VAE the second layer is already cut to the `μ` rows.
    Reconstruction {
        mean: Array1<f32>,
        inv_std: Array1<f32>,
        layers: Vec<DenseLayer>,
    },
    /// k-NN: `u = x / max(‖x‖, L2_FLOOR)` ([`crate::nn::L2_FLOOR`]),
    /// `sims = u·pointsᵀ` (`Gemm(transB=1)`), the `k`-th largest of each row (`TopK`, last
    /// column), `score = max(1 − that, 0)`.
    Knn { points: Array2<f32>, k: usize },
}

/// One `Gemm(transB=1)`: `weight` is `out × in`, `bias` has `out` entries.
#[derive(Clone, Debug, PartialEq)]
pub struct DenseLayer {
    pub weight: Array2<f32>,
    pub bias: Array1<f32>,
    pub relu: bool,
}

impl DenseLayer {
    fn of(l: &Linear, rows: usize, relu: bool) -> Self {
        DenseLayer {
            weight: l.weight.value.slice(s![..rows, ..]).to_owned(),
            bias: l.bias.value.slice(s![0, ..rows]).to_owned(),
            relu,
        }
    }
}

impl NoveltyModel {
    /// The constants and the order of operations that compute [`NoveltyModel::score`]; the
    /// threshold is [`NoveltyModel::threshold`] (novel when `score > threshold`).
    pub fn score_graph(&self) -> ScoreGraph {
        match &self.scorer {
            Scorer::Reconstruction {
                standardizer,
                network,
            } => {
                let (h, z, d) = (network.hidden(), network.latent, network.dim());
                ScoreGraph::Reconstruction {
                    mean: standardizer.mean.clone(),
                    inv_std: standardizer.inv_std.clone(),
                    layers: vec![
                        DenseLayer::of(&network.enc, h, true),
                        DenseLayer::of(&network.head, z, false),
                        DenseLayer::of(&network.dec, h, true),
                        DenseLayer::of(&network.out, d, false),
                    ],
                }
            }
            Scorer::Knn(knn) => ScoreGraph::Knn {
                points: knn.points.clone(),
                k: knn.k,
            },
        }
    }
}
