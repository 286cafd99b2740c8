//! What BN re-estimation changed, for the adaptation report: per layer, how far the statistics
//! moved from the source model's, in units a reader can judge without knowing the layer.

use serde::Serialize;
use tract_onnx::pb;

use crate::Result;
use crate::onnx::edit::{self, BatchNorm};

/// How much each layer's statistics moved, for the adaptation report.
#[derive(Clone, Debug, Serialize)]
pub struct BnLayerReport {
    pub node: String,
    pub channels: usize,
    /// Mean over channels of |new mean − old mean| / sqrt(old var).
    pub mean_shift: f32,
    /// Mean over channels of new var / old var.
    pub var_ratio: f32,
}

#[derive(Clone, Debug, Serialize)]
pub struct BnReport {
    /// Frames the statistics were measured on (0 when the model has no BN layer to measure).
    pub frames: usize,
    /// Forward passes over the frames: 1, or 0 for a model without BN layers.
    pub passes: usize,
    pub layers: Vec<BnLayerReport>,
}

/// Compares each layer's statistics in `before` and `after` (the same graph).
pub(crate) fn layer_reports(
    before: &pb::ModelProto,
    after: &pb::ModelProto,
    bns: &[BatchNorm],
) -> Result<Vec<BnLayerReport>> {
    bns.iter()
        .map(|bn| {
            let (m0, v0) = (
                edit::initializer_f32(before, &bn.mean)?,
                edit::initializer_f32(before, &bn.var)?,
            );
            let (m1, v1) = (
                edit::initializer_f32(after, &bn.mean)?,
                edit::initializer_f32(after, &bn.var)?,
            );
            let c = bn.channels.max(1) as f32;
            let per_channel = m0.iter().zip(&v0).zip(m1.iter().zip(&v1));
            let (shift, ratio) =
                per_channel.fold((0.0f32, 0.0f32), |(s, r), ((m0, v0), (m1, v1))| {
                    let v0 = v0.max(1e-12);
                    (s + (m1 - m0).abs() / v0.sqrt(), r + v1 / v0)
                });
            Ok(BnLayerReport {
                node: bn.node.clone(),
                channels: bn.channels,
                mean_shift: shift / c,
                var_ratio: ratio / c,
            })
        })
        .collect()
}
