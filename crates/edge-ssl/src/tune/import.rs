//! ONNX encoder + [`Train`] selection → a frozen prefix (its own ONNX) and a trainable graph.

use std::collections::BTreeSet;
use std::path::Path;

use edge_ssl_runtime::onnx::graph::{OnnxGraph, OnnxModel};
use edge_ssl_train::graph::{Graph, SUPPORTED_OPS};

use super::blocks::Blocks;
use super::spec::{Trainable, spec};
use super::{Result, Train, TuneError};

/// An encoder split for training. The prefix (absent when the whole graph trains) is run by a
/// backend once per view and cached; [`Split::graph`] trains on what it outputs.
#[derive(Debug)]
pub struct Split {
    selection: Train,
    blocks: usize,
    trained_blocks: usize,
    cut: Option<String>,
    prefix: Option<OnnxModel>,
    graph: Graph,
    untied: Vec<String>,
}

impl Split {
    pub fn selection(&self) -> Train {
        self.selection
    }

    /// How many blocks the encoder has ([`super::blocks`]).
    pub fn blocks(&self) -> usize {
        self.blocks
    }

    /// How many of them train: `tail:N` past the model's size trains them all.
    pub fn trained_blocks(&self) -> usize {
        self.trained_blocks
    }

    /// The activation the prefix outputs and the graph reads; `None` when the graph reads the
    /// model's own input.
    pub fn cut(&self) -> Option<&str> {
        self.cut.as_deref()
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    pub fn into_graph(self) -> Graph {
        self.graph
    }

    /// Initializers the exporter had merged and that now train apart.
    pub fn untied(&self) -> &[String] {
        &self.untied
    }

    /// Writes the frozen prefix (one output: the cut activation) atomically; `false` when the
    /// whole graph trains and there is none.
    pub fn write_prefix(&self, path: &Path) -> Result<bool> {
        match &self.prefix {
            Some(p) => p.save(path).map(|()| true).map_err(Into::into),
            None => Ok(false),
        }
    }
}

fn unsupported(g: &OnnxGraph, nodes: &[usize]) -> Option<usize> {
    nodes
        .iter()
        .copied()
        .find(|&k| !SUPPORTED_OPS.contains(&g.nodes[k].op_type.as_str()))
}

/// Imports the part of `model` that `train` selects; the graph must have one output (see
/// [`import_output`] for a model with several).
pub fn import(model: &Path, train: Train) -> Result<Split> {
    import_with(model, None, train)
}

/// [`import`] toward the graph output `output` (the card's embedding) of a model that may have
/// others: they, and what computes only them, are left out of training (and keep their values
/// in the written model).
pub fn import_output(model: &Path, output: &str, train: Train) -> Result<Split> {
    import_with(model, Some(output), train)
}

fn import_with(model: &Path, output: Option<&str>, train: Train) -> Result<Split> {
    let onnx = OnnxModel::open(model)?;
    // Weights are decoded only for the part that trains: a frozen ResNet-18 prefix is most
    // of its 45 MB.
    let mut g = onnx.structure()?;
    // A model's other outputs, and what computes only them, take no part in training.
    if let Some(name) = output {
        g.keep_output(name).map_err(|reason| TuneError::Data {
            what: "the embedding output",
            reason,
        })?;
    }
    let blocks = Blocks::of(&g);
    let total = blocks.len();
    // (first node that trains, the tensor it reads, blocks trained); `None`: the whole graph.
    let cut: Option<(usize, String, usize)> = match train {
        Train::None => {
            let [out] = &g.outputs[..] else {
                return Err(TuneError::Outputs(g.outputs.len()));
            };
            Some((g.nodes.len(), out.clone(), 0))
        }
        Train::Tail(n) if n < total => blocks.tail_start(n).map(|(k, t)| (k, t.to_string(), n)),
        Train::Tail(_) | Train::Bn | Train::All => None,
    };
    let (start, inputs, trained) = match &cut {
        Some((k, t, n)) => (*k, vec![t.clone()], *n),
        None => (0, g.inputs.clone(), total),
    };
    let nodes = blocks.nodes_from(&g, start);
    if let Some(bad) = unsupported(&g, &nodes) {
        let largest_tail = (1..=total)
            .take_while(|&n| {
                let (k, _) = blocks.tail_start(n).expect("n <= total");
                unsupported(&g, &blocks.nodes_from(&g, k)).is_none()
            })
            .last();
        let node = &g.nodes[bad];
        return Err(TuneError::UnsupportedOp {
            op: node.op_type.clone(),
            node: node.name.clone(),
            largest_tail,
        });
    }
    let which = if train == Train::Bn {
        Trainable::BnAffine
    } else {
        Trainable::Weights
    };
    let read: BTreeSet<&str> = nodes
        .iter()
        .flat_map(|&k| g.nodes[k].inputs.iter().map(String::as_str))
        .collect();
    g.floats = onnx.float_initializers(&|name| read.contains(name))?;
    let (spec, untied) = spec(&g, &nodes, inputs, which);
    drop(g);
    let graph = Graph::from_spec(spec)?.with_input_grads(false);
    let prefix = match &cut {
        Some((_, t, _)) => Some(onnx.prefix(t)?),
        None => None,
    };
    Ok(Split {
        selection: train,
        blocks: total,
        trained_blocks: trained,
        cut: cut.map(|(_, t, _)| t),
        prefix,
        graph,
        untied,
    })
}
