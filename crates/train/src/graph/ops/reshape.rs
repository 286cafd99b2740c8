//! Ops that only change the shape: `Reshape`, `Flatten`, `Squeeze`, `Unsqueeze`, and
//! `Identity`/`Dropout` (inference exports; the trainer does not drop). The gradient is `dy`
//! reshaped back. Integer tensors (shape arithmetic) are reshaped the same way.

use ndarray::{ArrayD, IxDyn};

use super::attrs;
use super::op::{Grads, Inputs, Op, OpResult, single};
use crate::graph::{NodeSpec, Tensor, TensorView};

#[derive(Debug)]
pub(crate) enum ShapeOnly {
    /// Target from input 1; `0` copies a dimension (unless `allowzero`), `-1` is inferred.
    Reshape {
        allowzero: bool,
    },
    Flatten {
        axis: i64,
    },
    Squeeze {
        axes: Option<Vec<i64>>,
    },
    Unsqueeze {
        axes: Option<Vec<i64>>,
    },
    Identity,
}

impl ShapeOnly {
    pub fn new(node: &NodeSpec) -> OpResult<Self> {
        Ok(match node.op_type.as_str() {
            "Reshape" => ShapeOnly::Reshape {
                allowzero: attrs::int(node, "allowzero", 0)? != 0,
            },
            "Flatten" => ShapeOnly::Flatten {
                axis: attrs::int(node, "axis", 1)?,
            },
            "Squeeze" => ShapeOnly::Squeeze {
                axes: attrs::ints(node, "axes")?,
            },
            "Unsqueeze" => ShapeOnly::Unsqueeze {
                axes: attrs::ints(node, "axes")?,
            },
            _ => ShapeOnly::Identity,
        })
    }

    fn target(&self, x: &Inputs<'_>, shape: &[usize]) -> OpResult<Vec<usize>> {
        let axes_of = |a: &Option<Vec<i64>>| -> OpResult<Option<Vec<i64>>> {
            match a {
                Some(a) => Ok(Some(a.clone())),
                None => x.opt_i64(1),
            }
        };
        match self {
            ShapeOnly::Identity => Ok(shape.to_vec()),
            ShapeOnly::Flatten { axis } => {
                let a = if *axis == shape.len() as i64 {
                    shape.len()
                } else {
                    attrs::axis(*axis, shape.len())?
                };
                Ok(vec![
                    shape[..a].iter().product(),
                    shape[a..].iter().product(),
                ])
            }
            ShapeOnly::Squeeze { axes } => {
                let axes = match axes_of(axes)? {
                    Some(a) => a
                        .iter()
                        .map(|&a| attrs::axis(a, shape.len()))
                        .collect::<OpResult<Vec<_>>>()?,
                    None => (0..shape.len()).filter(|&i| shape[i] == 1).collect(),
                };
                if let Some(&a) = axes.iter().find(|&&a| shape[a] != 1) {
                    return Err(format!("cannot squeeze axis {a} of size {}", shape[a]));
                }
                Ok(shape
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !axes.contains(i))
                    .map(|(_, &d)| d)
                    .collect())
            }
            ShapeOnly::Unsqueeze { axes } => {
                let axes = axes_of(axes)?.ok_or("Unsqueeze needs axes")?;
                let rank = shape.len() + axes.len();
                let mut axes = axes
                    .iter()
                    .map(|&a| attrs::axis(a, rank))
                    .collect::<OpResult<Vec<_>>>()?;
                axes.sort_unstable();
                let mut out = shape.to_vec();
                for a in axes {
                    out.insert(a, 1);
                }
                Ok(out)
            }
            ShapeOnly::Reshape { allowzero } => {
                let spec = x.i64(1)?;
                let total: usize = shape.iter().product();
                let mut out = Vec::with_capacity(spec.len());
                let mut infer = None;
                for (i, &d) in spec.iter().enumerate() {
                    out.push(match d {
                        -1 if infer.is_none() => {
                            infer = Some(i);
                            1
                        }
                        0 if !allowzero => *shape
                            .get(i)
                            .ok_or_else(|| format!("shape {spec} copies a missing dimension"))?,
                        d if d >= 0 => d as usize,
                        _ => return Err(format!("invalid target shape {spec}")),
                    });
                }
                if let Some(i) = infer {
                    let known: usize = out.iter().product();
                    if known == 0 || !total.is_multiple_of(known) {
                        return Err(format!("cannot reshape {shape:?} into {spec}"));
                    }
                    out[i] = total / known;
                }
                Ok(out)
            }
        }
    }
}

fn reshaped<T: Clone>(a: ndarray::ArrayViewD<T>, to: &[usize]) -> OpResult<ArrayD<T>> {
    a.as_standard_layout()
        .into_owned()
        .into_shape_with_order(IxDyn(to))
        .map_err(|_| format!("cannot reshape {:?} into {to:?}", a.shape()))
}

impl Op for ShapeOnly {
    fn forward(&mut self, x: &Inputs<'_>, _train: bool) -> OpResult<Vec<Tensor>> {
        let input = x.get(0).ok_or("input 0 is required")?;
        let to = self.target(x, input.shape())?;
        Ok(vec![match input {
            TensorView::F32(a) => Tensor::F32(reshaped(a.clone(), &to)?),
            TensorView::I64(a) => Tensor::I64(reshaped(a.clone(), &to)?),
        }])
    }

    fn backward(
        &mut self,
        x: &Inputs<'_>,
        dy: &[Option<ArrayD<f32>>],
        _need: &[bool],
    ) -> OpResult<Grads> {
        let shape = x.f32(0)?.shape().to_vec();
        Ok(vec![Some(reshaped(single(dy)?.view(), &shape)?), None])
    }
}

#[cfg(test)]
mod tests {
    use crate::graph::check::Case;
    use crate::graph::{Attr, NodeSpec};

    #[test]
    fn flatten_reshape_squeeze_unsqueeze() {
        Case::node(NodeSpec::new("Flatten", "f", &["x"], &["y"]))
            .input("x", &[2, 3, 1, 1], 1)
            .check();
        let c = Case::node(NodeSpec::new("Reshape", "r", &["x", "s"], &["y"]))
            .input("x", &[2, 3, 4], 2)
            .ints("s", &[0, -1, 2]);
        assert_eq!(
            c.build()
                .forward(vec![c.inputs[0].1.clone()], false)
                .unwrap()[0]
                .shape(),
            &[2, 6, 2]
        );
        c.check();
        Case::node(NodeSpec::new("Squeeze", "s", &["x", "a"], &["y"]))
            .input("x", &[2, 1, 3], 3)
            .ints("a", &[1])
            .check();
        Case::node(
            NodeSpec::new("Unsqueeze", "u", &["x"], &["y"])
                .with_attr("axes", Attr::Ints(vec![0, -1])),
        )
        .input("x", &[2, 3], 4)
        .check();
    }

    #[test]
    fn impossible_reshape_is_an_error() {
        let c = Case::node(NodeSpec::new("Reshape", "r", &["x", "s"], &["y"]))
            .input("x", &[2, 3], 1)
            .ints("s", &[4, -1]);
        let err = c
            .build()
            .forward(vec![c.inputs[0].1.clone()], false)
            .unwrap_err();
        assert!(err.to_string().contains("r (Reshape)"), "{err}");
    }
}
