//! Typed reads of ONNX attributes with ONNX's defaults.

use crate::graph::{Attr, NodeSpec, Tensor};

use super::op::OpResult;

pub(crate) fn int(node: &NodeSpec, name: &str, default: i64) -> OpResult<i64> {
    match node.attrs.get(name) {
        None => Ok(default),
        Some(Attr::Int(v)) => Ok(*v),
        Some(other) => Err(format!("attribute {name} must be an int, got {other:?}")),
    }
}

pub(crate) fn float(node: &NodeSpec, name: &str, default: f32) -> OpResult<f32> {
    match node.attrs.get(name) {
        None => Ok(default),
        Some(Attr::Float(v)) => Ok(*v),
        Some(Attr::Int(v)) => Ok(*v as f32),
        Some(other) => Err(format!("attribute {name} must be a float, got {other:?}")),
    }
}

pub(crate) fn ints(node: &NodeSpec, name: &str) -> OpResult<Option<Vec<i64>>> {
    match node.attrs.get(name) {
        None => Ok(None),
        Some(Attr::Ints(v)) => Ok(Some(v.clone())),
        Some(Attr::Int(v)) => Ok(Some(vec![*v])),
        Some(other) => Err(format!("attribute {name} must be ints, got {other:?}")),
    }
}

pub(crate) fn string(node: &NodeSpec, name: &str, default: &str) -> OpResult<String> {
    match node.attrs.get(name) {
        None => Ok(default.to_string()),
        Some(Attr::String(v)) => Ok(v.clone()),
        Some(other) => Err(format!("attribute {name} must be a string, got {other:?}")),
    }
}

pub(crate) fn tensor(node: &NodeSpec, name: &str) -> Option<Tensor> {
    match node.attrs.get(name) {
        Some(Attr::Tensor(t)) => Some(t.clone()),
        _ => None,
    }
}

/// An axis in `[-rank, rank)` made non-negative.
pub(crate) fn axis(axis: i64, rank: usize) -> OpResult<usize> {
    let r = rank as i64;
    if (-r..r).contains(&axis) {
        Ok(if axis < 0 { axis + r } else { axis } as usize)
    } else {
        Err(format!("axis {axis} out of range for rank {rank}"))
    }
}
