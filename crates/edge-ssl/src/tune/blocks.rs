//! Where an encoder can be cut into a frozen prefix and a trainable tail.
//!
//! A **cut** is a point in the node order where exactly one activation crosses: every value
//! computed before it and still needed after it is that one tensor (so the prefix can be run
//! once per view and cached, and the tail reads nothing else). Not every such point starts a
//! block: between a Conv and its BatchNormalization, or a BatchNormalization and its ReLU, only
//! one tensor crosses too. A cut starts a **block** when the crossing tensor is read by a node
//! with weights of its own (a float initializer of two or more values, BatchNormalization's
//! excepted). That gives, counted from the output:
//!
//! * plain chains (the bundled encoder): one block per conv–BN–activation layer, the pooling
//!   joining the last one (7 blocks);
//! * ResNet: one per residual unit, plus the stem (9 for ResNet-18);
//! * MobileNetV3: one per residual unit, and one per convolution inside units without a
//!   shortcut, where each conv–BN–activation stands alone (22 for the small one);
//! * ViT: the attention half and the MLP half of every transformer block (each is a residual
//!   unit), the final norm with the class-token pick as the last block, and the patch and
//!   position embeddings first (27 for ViT-S/16).
//!
//! Nodes that compute from initializers alone (`Constant`, an exporter's `Identity` of a
//! weight) belong to no block: they go with whichever side reads them.

use std::collections::{BTreeMap, BTreeSet};

use edge_ssl_runtime::onnx::graph::OnnxGraph;

/// The block structure of a graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blocks {
    /// Per block, in graph order: the index of its first node and the one tensor it reads.
    starts: Vec<(usize, String)>,
    /// Whether each node computes from initializers only.
    constant: Vec<bool>,
}

/// The size of the float initializer `name` holds, looking through an `Identity` of one.
fn float_len(g: &OnnxGraph, aliases: &BTreeMap<&str, &str>, name: &str) -> usize {
    let name = aliases.get(name).copied().unwrap_or(name);
    g.float_shapes.get(name).map_or(0, |s| s.iter().product())
}

impl Blocks {
    pub fn of(g: &OnnxGraph) -> Blocks {
        let mut known: BTreeSet<&str> = g
            .float_shapes
            .keys()
            .chain(g.ints.keys())
            .map(String::as_str)
            .collect();
        let mut constant = vec![false; g.nodes.len()];
        let mut aliases = BTreeMap::new();
        for (k, n) in g.nodes.iter().enumerate() {
            if n.inputs
                .iter()
                .all(|i| i.is_empty() || known.contains(i.as_str()))
            {
                constant[k] = true;
                known.extend(n.outputs.iter().map(String::as_str));
                if let (Some(src), Some(dst)) = (n.inputs.first(), n.outputs.first())
                    && n.op_type == "Identity"
                {
                    aliases.insert(dst.as_str(), src.as_str());
                }
            }
        }
        let weighted = |k: usize| {
            let n = &g.nodes[k];
            n.op_type != "BatchNormalization"
                && n.inputs.iter().any(|i| float_len(g, &aliases, i) >= 2)
        };
        let mut last_use: BTreeMap<&str, usize> = BTreeMap::new();
        let mut readers: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (k, n) in g.nodes.iter().enumerate() {
            let reads = n.inputs.iter().map(String::as_str);
            for i in reads.filter(|i| !i.is_empty() && !known.contains(i)) {
                last_use.insert(i, k);
                readers.entry(i).or_default().push(k);
            }
        }
        for o in &g.outputs {
            last_use.insert(o.as_str(), g.nodes.len());
        }
        let mut live: Vec<&str> = g.inputs.iter().map(String::as_str).collect();
        let mut starts: Vec<(usize, String)> = Vec::new();
        for (k, n) in g.nodes.iter().enumerate() {
            if constant[k] {
                continue;
            }
            live.retain(|t| last_use.get(t).is_some_and(|&l| l >= k));
            if let [t] = live[..]
                && starts.last().is_none_or(|(_, s)| s != t)
                && readers
                    .get(t)
                    .is_some_and(|r| r.iter().any(|&r| weighted(r)))
            {
                starts.push((k, t.to_string()));
            }
            live.extend(
                n.outputs
                    .iter()
                    .filter(|o| !o.is_empty())
                    .map(String::as_str),
            );
        }
        Blocks { starts, constant }
    }

    /// How many blocks the graph has.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Where the last `n` blocks start (node index) and the tensor they read; `None` when
    /// `n` is 0 or the graph has fewer blocks.
    pub fn tail_start(&self, n: usize) -> Option<(usize, &str)> {
        let i = self.starts.len().checked_sub(n)?;
        (n > 0).then(|| (self.starts[i].0, self.starts[i].1.as_str()))
    }

    /// The nodes from node `start` on, with the constant nodes they read (wherever those
    /// sit), in graph order.
    pub fn nodes_from(&self, g: &OnnxGraph, start: usize) -> Vec<usize> {
        let mut take: Vec<bool> = (0..g.nodes.len())
            .map(|k| k >= start && !self.constant[k])
            .collect();
        let mut needed: BTreeSet<&str> = BTreeSet::new();
        for (k, n) in g.nodes.iter().enumerate() {
            if take[k] {
                needed.extend(n.inputs.iter().map(String::as_str));
            }
        }
        for (k, n) in g.nodes.iter().enumerate().rev() {
            if self.constant[k] && n.outputs.iter().any(|o| needed.contains(o.as_str())) {
                take[k] = true;
                needed.extend(n.inputs.iter().map(String::as_str));
            }
        }
        (0..g.nodes.len()).filter(|&k| take[k]).collect()
    }
}
