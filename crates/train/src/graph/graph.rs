//! A trainable graph: forward, backward and parameters of an imported ONNX subgraph.
//!
//! Forward runs the nodes in their (topological) order. In training mode every value is kept
//! on a tape until `backward`, which walks the nodes in reverse, hands each op its inputs and
//! the gradients of its outputs, sums the gradients of values used more than once (residual
//! connections) and frees each node's values as soon as it is done with them. Parameter
//! gradients are *added* into [`Param::grad`], like every [`crate::nn::Module`].

use std::collections::BTreeMap;

use ndarray::{ArrayD, IxDyn};

use super::build::{as_matrix, from_spec};
use super::ops::{Inputs, Op};
use super::{GraphSpec, Tensor, TensorView};
use crate::nn::Param;
use crate::{Result, TrainError};

/// Where a node input comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Slot {
    /// A trainable initializer.
    Param(usize),
    /// A frozen initializer (BN running statistics are updated in place).
    Const(usize),
    /// A graph input (ids `0..inputs`) or a node output.
    Value(usize),
}

#[derive(Debug)]
pub(super) struct Node {
    pub name: String,
    pub op_type: String,
    pub op: Box<dyn Op>,
    pub inputs: Vec<Option<Slot>>,
    pub outputs: Vec<Option<usize>>,
}

/// An imported subgraph with hand-written forward and backward for every node.
#[derive(Debug)]
pub struct Graph {
    pub(super) input_names: Vec<String>,
    pub(super) output_names: Vec<String>,
    pub(super) params: Vec<Param>,
    pub(super) param_shapes: Vec<Vec<usize>>,
    pub(super) consts: Vec<(String, Tensor)>,
    pub(super) nodes: Vec<Node>,
    pub(super) n_values: usize,
    /// Whether a gradient can reach each value (input, node output).
    pub(super) requires: Vec<bool>,
    pub(super) output_slots: Vec<Slot>,
    pub(super) input_grads: bool,
    pub(super) tape: Option<Vec<Option<Tensor>>>,
}

fn node_error(node: &Node, reason: String) -> TrainError {
    TrainError::InvalidGraph {
        node: format!("{} ({})", node.name, node.op_type),
        reason,
    }
}

fn view_of<'a>(
    slot: Slot,
    values: &'a [Option<Tensor>],
    params: &'a [Param],
    shapes: &[Vec<usize>],
    consts: &'a [(String, Tensor)],
) -> Option<TensorView<'a>> {
    match slot {
        Slot::Param(p) => Some(TensorView::F32(
            params[p]
                .value
                .view()
                .into_shape_with_order(IxDyn(&shapes[p]))
                .expect("a parameter reshapes to its own shape"),
        )),
        Slot::Const(c) => Some(consts[c].1.view()),
        Slot::Value(v) => values[v].as_ref().map(Tensor::view),
    }
}

impl Graph {
    /// Builds the graph; every node's operator and attributes are checked here.
    pub fn from_spec(spec: GraphSpec) -> Result<Graph> {
        from_spec(spec)
    }

    /// Whether `backward` computes gradients for the graph inputs (default yes). A tail trained
    /// on cached features needs none, and skipping them saves the first layer's input GEMM.
    #[must_use]
    pub fn with_input_grads(mut self, on: bool) -> Self {
        self.input_grads = on;
        self.mark_requires();
        self
    }

    pub(super) fn mark_requires(&mut self) {
        let mut requires = vec![false; self.n_values];
        requires[..self.input_names.len()].fill(self.input_grads);
        for node in &self.nodes {
            let any = node.inputs.iter().flatten().any(|s| match *s {
                Slot::Param(_) => true,
                Slot::Const(_) => false,
                Slot::Value(v) => requires[v],
            });
            for v in node.outputs.iter().flatten() {
                requires[*v] = any && node.op.differentiable();
            }
        }
        self.requires = requires;
    }

    /// Whether a training forward couples the samples of a batch (BatchNormalization's batch
    /// statistics). A graph that does not gives the same outputs and summed gradients for a
    /// batch run whole or in parts.
    pub fn mixes_samples(&self) -> bool {
        self.nodes.iter().any(|n| n.op.mixes_samples())
    }

    pub fn input_names(&self) -> &[String] {
        &self.input_names
    }

    pub fn output_names(&self) -> &[String] {
        &self.output_names
    }

    /// Runs the graph on `inputs` (in the order of [`GraphSpec::inputs`]). `train` uses batch
    /// statistics in BatchNormalization, updates the running statistics and keeps what
    /// [`Graph::backward`] needs; otherwise values are freed as soon as no node needs them.
    pub fn forward(&mut self, inputs: Vec<ArrayD<f32>>, train: bool) -> Result<Vec<ArrayD<f32>>> {
        if inputs.len() != self.input_names.len() {
            return Err(TrainError::DimMismatch {
                what: "graph inputs".into(),
                expected: self.input_names.len(),
                got: inputs.len(),
            });
        }
        self.tape = None;
        let mut values: Vec<Option<Tensor>> = vec![None; self.n_values];
        for (i, x) in inputs.into_iter().enumerate() {
            values[i] = Some(Tensor::F32(x));
        }
        let last_use = if train { None } else { Some(self.last_uses()) };
        for k in 0..self.nodes.len() {
            let node = &mut self.nodes[k];
            let items = node
                .inputs
                .iter()
                .map(|s| {
                    s.and_then(|s| {
                        view_of(s, &values, &self.params, &self.param_shapes, &self.consts)
                    })
                })
                .collect();
            let result = node.op.forward(&Inputs::new(items), train);
            let outs = result.map_err(|e| node_error(node, e))?;
            if outs.len() < node.outputs.iter().flatten().count() {
                return Err(node_error(node, format!("produced {} outputs", outs.len())));
            }
            for (slot, out) in node.outputs.iter().zip(outs) {
                if let Some(v) = slot {
                    values[*v] = Some(out);
                }
            }
            if train {
                for (i, value) in node.op.take_updates() {
                    match node.inputs.get(i).copied().flatten() {
                        Some(Slot::Const(c)) if self.consts[c].1.shape() == value.shape() => {
                            self.consts[c].1 = Tensor::F32(value)
                        }
                        _ => {
                            return Err(node_error(
                                node,
                                format!(
                                    "input {i} holds running statistics and must be a frozen float initializer of shape {:?}",
                                    value.shape()
                                ),
                            ));
                        }
                    }
                }
            }
            if let Some(last) = &last_use {
                for (v, &l) in last.iter().enumerate() {
                    if l == Some(k) {
                        values[v] = None;
                    }
                }
            }
        }
        let outputs = self
            .output_slots
            .iter()
            .zip(&self.output_names)
            .map(|(&s, name)| {
                match view_of(s, &values, &self.params, &self.param_shapes, &self.consts) {
                    Some(TensorView::F32(a)) => Ok(a.to_owned()),
                    _ => Err(TrainError::InvalidGraph {
                        node: name.clone(),
                        reason: "graph output is not a float tensor".into(),
                    }),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        if train {
            self.tape = Some(values);
        }
        Ok(outputs)
    }

    /// For each value, the index of the last node reading it (graph outputs: never freed).
    fn last_uses(&self) -> Vec<Option<usize>> {
        let mut last = vec![None; self.n_values];
        for (k, node) in self.nodes.iter().enumerate() {
            for s in node.inputs.iter().flatten() {
                if let Slot::Value(v) = *s {
                    last[v] = Some(k);
                }
            }
        }
        for s in &self.output_slots {
            if let Slot::Value(v) = *s {
                last[v] = None;
            }
        }
        last
    }

    /// Back-propagates dL/d(outputs) through the last training forward, adds every parameter's
    /// gradient into its [`Param::grad`] and returns dL/d(input) for each graph input (`None`
    /// where input gradients are off or no path leads there). Consumes the tape: one backward
    /// per forward.
    pub fn backward(&mut self, grad_outputs: Vec<ArrayD<f32>>) -> Result<Vec<Option<ArrayD<f32>>>> {
        let mut values = self.tape.take().ok_or_else(|| {
            TrainError::InvalidConfig(
                "Graph::backward needs a forward with train = true first".into(),
            )
        })?;
        if grad_outputs.len() != self.output_slots.len() {
            return Err(TrainError::DimMismatch {
                what: "output gradients".into(),
                expected: self.output_slots.len(),
                got: grad_outputs.len(),
            });
        }
        let mut grads: Vec<Option<ArrayD<f32>>> = vec![None; self.n_values];
        for ((&slot, g), name) in self
            .output_slots
            .iter()
            .zip(grad_outputs)
            .zip(&self.output_names)
        {
            let shape = view_of(
                slot,
                &values,
                &self.params,
                &self.param_shapes,
                &self.consts,
            )
            .map(|v| v.shape().to_vec());
            if shape.as_deref() != Some(g.shape()) {
                return Err(TrainError::InvalidGraph {
                    node: name.clone(),
                    reason: format!(
                        "output gradient has shape {:?}, output {:?}",
                        g.shape(),
                        shape
                    ),
                });
            }
            accumulate(&mut self.params, &mut grads, slot, g);
        }
        for k in (0..self.nodes.len()).rev() {
            let node = &self.nodes[k];
            let dy: Vec<Option<ArrayD<f32>>> = node
                .outputs
                .iter()
                .map(|v| v.and_then(|v| grads[v].take()))
                .collect();
            let need: Vec<bool> = node
                .inputs
                .iter()
                .map(|s| match s {
                    Some(Slot::Param(_)) => true,
                    Some(Slot::Value(v)) => self.requires[*v],
                    _ => false,
                })
                .collect();
            if dy.iter().all(Option::is_none) || !need.iter().any(|&b| b) {
                continue;
            }
            let items = node
                .inputs
                .iter()
                .map(|s| {
                    s.and_then(|s| {
                        view_of(s, &values, &self.params, &self.param_shapes, &self.consts)
                    })
                })
                .collect();
            let node = &mut self.nodes[k];
            let result = node.op.backward_owned(&Inputs::new(items), dy, &need);
            let gx = result.map_err(|e| node_error(node, e))?;
            let node = &self.nodes[k];
            let inputs = node.inputs.clone();
            for (i, g) in gx.into_iter().enumerate() {
                let (Some(g), Some(Some(slot))) = (g, inputs.get(i)) else {
                    continue;
                };
                if !need[i] {
                    continue;
                }
                let want = view_of(
                    *slot,
                    &values,
                    &self.params,
                    &self.param_shapes,
                    &self.consts,
                )
                .map(|v| v.shape().to_vec());
                if want.as_deref() != Some(g.shape()) {
                    return Err(node_error(
                        node,
                        format!(
                            "gradient of input {i} has shape {:?}, input {:?}",
                            g.shape(),
                            want
                        ),
                    ));
                }
                accumulate(&mut self.params, &mut grads, *slot, g);
            }
            for v in self.nodes[k].outputs.iter().flatten() {
                values[*v] = None;
            }
        }
        Ok((0..self.input_names.len())
            .map(|i| {
                if self.input_grads {
                    grads[i].take()
                } else {
                    None
                }
            })
            .collect())
    }

    /// The trainable parameters, 2-D (`d0 × rest`), named by their initializer.
    pub fn params(&self) -> Vec<&Param> {
        self.params.iter().collect()
    }

    /// For the optimizers: `opt.step(graph.params_mut(), lr, t)`.
    pub fn params_mut(&mut self) -> Vec<&mut Param> {
        self.params.iter_mut().collect()
    }

    pub fn zero_grad(&mut self) {
        for p in &mut self.params {
            p.grad.fill(0.0);
        }
    }

    /// Every float initializer in its ONNX shape, with the trained weights and the updated BN
    /// running statistics: what goes back into the ONNX file.
    pub fn initializers(&self) -> BTreeMap<String, ArrayD<f32>> {
        let mut out = BTreeMap::new();
        for (p, shape) in self.params.iter().zip(&self.param_shapes) {
            let value = p
                .value
                .clone()
                .into_shape_with_order(IxDyn(shape))
                .expect("a parameter reshapes to its own shape");
            out.insert(p.name.clone(), value);
        }
        for (name, t) in &self.consts {
            if let Tensor::F32(a) = t {
                out.insert(name.clone(), a.clone());
            }
        }
        out
    }

    /// Replaces trainable or frozen float initializers by name (a checkpoint being restored).
    pub fn set_initializers(&mut self, values: &BTreeMap<String, ArrayD<f32>>) -> Result<()> {
        for (name, value) in values {
            let found = if let Some(p) = self.params.iter().position(|p| &p.name == name) {
                if value.shape() != self.param_shapes[p].as_slice() {
                    return Err(shape_error(name, &self.param_shapes[p], value.shape()));
                }
                self.params[p].value = as_matrix(value.clone());
                true
            } else if let Some((_, t)) = self.consts.iter_mut().find(|(n, _)| n == name) {
                if t.shape() != value.shape() || !matches!(t, Tensor::F32(_)) {
                    return Err(shape_error(name, t.shape(), value.shape()));
                }
                *t = Tensor::F32(value.clone());
                true
            } else {
                false
            };
            if !found {
                return Err(TrainError::InvalidGraph {
                    node: name.clone(),
                    reason: "no float initializer of that name".into(),
                });
            }
        }
        Ok(())
    }
}

fn accumulate(params: &mut [Param], grads: &mut [Option<ArrayD<f32>>], slot: Slot, g: ArrayD<f32>) {
    match slot {
        Slot::Param(p) => params[p].grad += &as_matrix(g),
        Slot::Const(_) => {}
        Slot::Value(v) => match &mut grads[v] {
            Some(acc) => *acc += &g,
            empty => *empty = Some(g),
        },
    }
}

fn shape_error(name: &str, want: &[usize], got: &[usize]) -> TrainError {
    TrainError::InvalidGraph {
        node: name.to_string(),
        reason: format!("initializer has shape {want:?}, got {got:?}"),
    }
}
