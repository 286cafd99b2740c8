//! ONNX operator name → op. The one list of what the trainable graph supports.

use super::batch_norm::BatchNorm;
use super::binary::Binary;
use super::clip::Clip;
use super::concat::Concat;
use super::conv::Conv;
use super::erf::Erf;
use super::expand::Expand;
use super::gather::Gather;
use super::gemm::Gemm;
use super::hard_sigmoid::HardSigmoid;
use super::hard_swish::HardSwish;
use super::layer_norm::LayerNorm;
use super::matmul::MatMul;
use super::max_pool::MaxPool;
use super::op::Op;
use super::pointwise::PointwiseOp;
use super::reduce_mean::ReduceMean;
use super::relu::Relu;
use super::reshape::ShapeOnly;
use super::shape::Plumbing;
use super::sigmoid::Sigmoid;
use super::slice::Slice;
use super::softmax::Softmax;
use super::split::Split;
use super::sqrt::Sqrt;
use super::tanh::Tanh;
use super::transpose::Transpose;
use super::where_op::Where;
use crate::TrainError;
use crate::graph::NodeSpec;

/// Every ONNX operator the trainable graph builds (opset 13+ semantics; the exports use 17).
pub const SUPPORTED: &[&str] = &[
    "Add",
    "BatchNormalization",
    "Cast",
    "Clip",
    "Concat",
    "Constant",
    "ConstantOfShape",
    "Conv",
    "Div",
    "Equal",
    "Expand",
    "Dropout",
    "Erf",
    "Flatten",
    "Gather",
    "Gemm",
    "GlobalAveragePool",
    "HardSigmoid",
    "HardSwish",
    "Identity",
    "LayerNormalization",
    "MatMul",
    "MaxPool",
    "Mul",
    "Pow",
    "ReduceMean",
    "Relu",
    "Reshape",
    "Shape",
    "Sigmoid",
    "Slice",
    "Softmax",
    "Split",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Tanh",
    "Transpose",
    "Unsqueeze",
    "Where",
];

pub(crate) fn build(node: &NodeSpec) -> Result<Box<dyn Op>, TrainError> {
    let op: Result<Box<dyn Op>, String> = match node.op_type.as_str() {
        "Conv" => Conv::new(node).map(|o| Box::new(o) as _),
        "BatchNormalization" => BatchNorm::new(node).map(|o| Box::new(o) as _),
        crate::graph::fuse::BN_RELU => BatchNorm::new(node).map(|o| Box::new(o.with_relu()) as _),
        "Relu" => Ok(Box::new(PointwiseOp(Relu))),
        "Clip" => Clip::new(node).map(|o| Box::new(o) as _),
        "Sigmoid" => Ok(Box::new(PointwiseOp(Sigmoid))),
        "HardSigmoid" => HardSigmoid::new(node).map(|o| Box::new(PointwiseOp(o)) as _),
        "HardSwish" => Ok(Box::new(PointwiseOp(HardSwish))),
        "Erf" => Ok(Box::new(PointwiseOp(Erf))),
        "Sqrt" => Ok(Box::new(PointwiseOp(Sqrt))),
        "Tanh" => Ok(Box::new(PointwiseOp(Tanh))),
        "Add" => Ok(Box::new(Binary::Add)),
        "Sub" => Ok(Box::new(Binary::Sub)),
        "Mul" => Ok(Box::new(Binary::Mul)),
        "Div" => Ok(Box::new(Binary::Div)),
        "Pow" => Ok(Box::new(Binary::Pow)),
        "GlobalAveragePool" => Ok(Box::new(ReduceMean::global_average_pool())),
        "ReduceMean" => ReduceMean::new(node).map(|o| Box::new(o) as _),
        "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze" | "Identity" | "Dropout" => {
            ShapeOnly::new(node).map(|o| Box::new(o) as _)
        }
        "Gemm" => Gemm::new(node).map(|o| Box::new(o) as _),
        "MatMul" => Ok(Box::new(MatMul)),
        "LayerNormalization" => LayerNorm::new(node).map(|o| Box::new(o) as _),
        "Softmax" => Softmax::new(node).map(|o| Box::new(o) as _),
        "Transpose" => Transpose::new(node).map(|o| Box::new(o) as _),
        "Slice" => Ok(Box::new(Slice)),
        "Gather" => Gather::new(node).map(|o| Box::new(o) as _),
        "Where" => Ok(Box::new(Where)),
        "Expand" => Ok(Box::new(Expand)),
        "MaxPool" => MaxPool::new(node).map(|o| Box::new(o) as _),
        "Split" => Split::new(node).map(|o| Box::new(o) as _),
        "Concat" => Concat::new(node).map(|o| Box::new(o) as _),
        "Shape" | "Constant" | "Cast" | "ConstantOfShape" | "Equal" => {
            Plumbing::new(node).map(|o| Box::new(o) as _)
        }
        _ => {
            return Err(TrainError::UnsupportedOp {
                op: node.op_type.clone(),
                node: node.name.clone(),
            });
        }
    };
    op.map_err(|reason| TrainError::InvalidGraph {
        node: format!("{} ({})", node.name, node.op_type),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_what_build_accepts() {
        for op in SUPPORTED {
            let node = NodeSpec::new(op, "n", &["x"], &["y"]);
            assert!(
                !matches!(build(&node), Err(TrainError::UnsupportedOp { .. })),
                "{op} is listed but not built"
            );
        }
    }

    #[test]
    fn unsupported_op_names_op_and_node() {
        let node = NodeSpec::new("LSTM", "/rnn/lstm", &["x"], &["y"]);
        let err = build(&node).unwrap_err();
        assert!(matches!(err, TrainError::UnsupportedOp { .. }));
        let text = err.to_string();
        assert!(
            text.contains("LSTM") && text.contains("/rnn/lstm"),
            "{text}"
        );
    }
}
