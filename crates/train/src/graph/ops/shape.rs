//! `Shape` (with opset-15 `start`/`end`), `Constant`, `ConstantOfShape`, `Cast`, `Equal`: the
//! integer plumbing of dynamic exports (timm's class-token `expand(B, -1, -1)` becomes
//! ConstantOfShape/Equal/Where/Expand). None of them carries a gradient; booleans are 0/1 i64.

use ndarray::{ArrayD, IxDyn};

use super::attrs;
use super::op::{Grads, Inputs, Op, OpResult};
use crate::graph::{NodeSpec, Tensor, TensorView};

#[derive(Debug)]
pub(crate) enum Plumbing {
    Shape {
        start: i64,
        end: Option<i64>,
    },
    Constant(Tensor),
    /// ONNX `to`: 1 = float, 6/7 = int32/int64 (held as i64), 9 = bool (0/1).
    Cast {
        to_float: bool,
    },
    ConstantOfShape(Tensor),
    Equal,
}

impl Plumbing {
    pub fn new(node: &NodeSpec) -> OpResult<Self> {
        Ok(match node.op_type.as_str() {
            "Shape" => Plumbing::Shape {
                start: attrs::int(node, "start", 0)?,
                end: node
                    .attrs
                    .get("end")
                    .map(|_| attrs::int(node, "end", 0))
                    .transpose()?,
            },
            "Constant" => Plumbing::Constant(constant(node)?),
            "Equal" => Plumbing::Equal,
            "ConstantOfShape" => {
                let value = attrs::tensor(node, "value")
                    .unwrap_or_else(|| Tensor::F32(ArrayD::zeros(IxDyn(&[1]))));
                if value.shape().iter().product::<usize>() != 1 {
                    return Err("ConstantOfShape value must hold one element".into());
                }
                Plumbing::ConstantOfShape(value)
            }
            _ => match attrs::int(node, "to", 0)? {
                1 => Plumbing::Cast { to_float: true },
                6 | 7 | 9 => Plumbing::Cast { to_float: false },
                to => return Err(format!("Cast to ONNX type {to} is not supported")),
            },
        })
    }
}

fn constant(node: &NodeSpec) -> OpResult<Tensor> {
    if let Some(t) = attrs::tensor(node, "value") {
        return Ok(t);
    }
    let scalar = |v: Vec<f32>, shape: &[usize]| {
        Tensor::F32(ArrayD::from_shape_vec(IxDyn(shape), v).expect("sized"))
    };
    if node.attrs.contains_key("value_float") {
        return Ok(scalar(vec![attrs::float(node, "value_float", 0.0)?], &[]));
    }
    if let Some(v) = attrs::ints(node, "value_ints")? {
        let n = v.len();
        return Ok(Tensor::I64(
            ArrayD::from_shape_vec(IxDyn(&[n]), v).expect("sized"),
        ));
    }
    if node.attrs.contains_key("value_int") {
        let v = attrs::int(node, "value_int", 0)?;
        return Ok(Tensor::I64(
            ArrayD::from_shape_vec(IxDyn(&[]), vec![v]).expect("sized"),
        ));
    }
    if let Some(crate::graph::Attr::Floats(v)) = node.attrs.get("value_floats") {
        return Ok(scalar(v.clone(), &[v.len()]));
    }
    Err("Constant without a value attribute".into())
}

impl Op for Plumbing {
    fn forward(&mut self, x: &Inputs<'_>, _train: bool) -> OpResult<Vec<Tensor>> {
        Ok(vec![match self {
            Plumbing::Constant(t) => t.clone(),
            Plumbing::Shape { start, end } => {
                let shape = x.get(0).ok_or("input 0 is required")?.shape().to_vec();
                let r = shape.len() as i64;
                let clamp = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
                let (s, e) = (clamp(*start), clamp(end.unwrap_or(r)));
                let dims: Vec<i64> = shape[s..e.max(s)].iter().map(|&d| d as i64).collect();
                Tensor::I64(ArrayD::from_shape_vec(IxDyn(&[dims.len()]), dims).expect("sized"))
            }
            Plumbing::ConstantOfShape(value) => {
                let dims = x.i64(0)?;
                let shape = dims
                    .iter()
                    .map(|&d| usize::try_from(d).map_err(|_| format!("negative dimension {d}")))
                    .collect::<OpResult<Vec<_>>>()?;
                match value {
                    Tensor::F32(v) => Tensor::F32(ArrayD::from_elem(
                        IxDyn(&shape),
                        v.iter().copied().next().unwrap_or(0.0),
                    )),
                    Tensor::I64(v) => Tensor::I64(ArrayD::from_elem(
                        IxDyn(&shape),
                        v.iter().copied().next().unwrap_or(0),
                    )),
                }
            }
            Plumbing::Equal => {
                let (a, b) = (
                    x.get(0).ok_or("input 0 is required")?,
                    x.get(1).ok_or("input 1 is required")?,
                );
                let shape = super::broadcast::broadcast_shape(a.shape(), b.shape())?;
                let eq = match (a, b) {
                    (TensorView::I64(a), TensorView::I64(b)) => {
                        let (a, b) = (
                            a.broadcast(IxDyn(&shape)).ok_or("broadcast")?,
                            b.broadcast(IxDyn(&shape)).ok_or("broadcast")?,
                        );
                        ndarray::Zip::from(&a)
                            .and(&b)
                            .map_collect(|x, y| i64::from(x == y))
                    }
                    (TensorView::F32(a), TensorView::F32(b)) => {
                        let (a, b) = (
                            a.broadcast(IxDyn(&shape)).ok_or("broadcast")?,
                            b.broadcast(IxDyn(&shape)).ok_or("broadcast")?,
                        );
                        ndarray::Zip::from(&a)
                            .and(&b)
                            .map_collect(|x, y| i64::from(x == y))
                    }
                    _ => return Err("Equal needs two inputs of one type".into()),
                };
                Tensor::I64(eq)
            }
            Plumbing::Cast { to_float } => {
                match (x.get(0).ok_or("input 0 is required")?, *to_float) {
                    (TensorView::F32(a), true) => Tensor::F32(a.to_owned()),
                    (TensorView::I64(a), true) => Tensor::F32(a.mapv(|v| v as f32)),
                    (TensorView::F32(a), false) => Tensor::I64(a.mapv(|v| v as i64)),
                    (TensorView::I64(a), false) => Tensor::I64(a.to_owned()),
                }
            }
        }])
    }

    fn backward(
        &mut self,
        _x: &Inputs<'_>,
        _dy: &[Option<ArrayD<f32>>],
        _need: &[bool],
    ) -> OpResult<Grads> {
        Ok(Vec::new())
    }

    fn differentiable(&self) -> bool {
        false
    }
}
