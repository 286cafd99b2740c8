//! Rewrites made while a graph is built: invisible from outside but for speed and memory.
//!
//! A BatchNormalization whose output only feeds a Relu (every conv block of ResNet and of the
//! bundled encoder) becomes one operator, [`BN_RELU`]: forward writes `max(0, BN(x))` and the
//! normalized values are never stored; backward recomputes `BN(x)` (bit for bit: the same
//! expression on the same cached statistics) for ReLU's mask. A training step then keeps one
//! activation-sized tensor per block less on its tape, and makes one pass less over it each way.
//! The operator keeps the BatchNormalization's name, so errors still point at the ONNX node.

use std::collections::HashMap;

use super::NodeSpec;

/// The fused operator's type.
pub(super) const BN_RELU: &str = "BatchNormalization+Relu";

/// `nodes` (in order) with every BatchNormalization → Relu pair whose intermediate value
/// nothing else reads (no other node, not a graph output) merged into one [`BN_RELU`] node.
pub(super) fn bn_relu(nodes: Vec<NodeSpec>, outputs: &[String]) -> Vec<NodeSpec> {
    let mut uses: HashMap<&str, usize> = HashMap::new();
    for name in nodes.iter().flat_map(|n| &n.inputs).chain(outputs) {
        *uses.entry(name.as_str()).or_default() += 1;
    }
    let consumer: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.op_type == "Relu" && n.inputs.len() == 1)
        .map(|(k, n)| (n.inputs[0].as_str(), k))
        .collect();
    let mut merge: HashMap<usize, usize> = HashMap::new();
    for (k, n) in nodes.iter().enumerate() {
        let Some(y) = n.outputs.first() else { continue };
        let single_output = n.outputs.iter().skip(1).all(String::is_empty);
        if n.op_type == "BatchNormalization"
            && single_output
            && uses.get(y.as_str()) == Some(&1)
            && let Some(&relu) = consumer.get(y.as_str()).filter(|&&j| j > k)
        {
            merge.insert(k, relu);
        }
    }
    let mut nodes: Vec<Option<NodeSpec>> = nodes.into_iter().map(Some).collect();
    for (bn, relu) in merge {
        let outputs = nodes[relu].take().map(|r| r.outputs).unwrap_or_default();
        if let Some(n) = &mut nodes[bn] {
            n.op_type = BN_RELU.to_string();
            n.outputs = outputs;
        }
    }
    nodes.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bn(name: &str, x: &str, y: &str) -> NodeSpec {
        NodeSpec::new("BatchNormalization", name, &[x, "s", "b", "m", "v"], &[y])
    }

    #[test]
    fn merges_only_pairs_whose_middle_value_nothing_else_reads() {
        let nodes = vec![
            bn("bn1", "x", "a"),
            NodeSpec::new("Relu", "r1", &["a"], &["ra"]),
            bn("bn2", "ra", "b"),
            NodeSpec::new("Relu", "r2", &["b"], &["rb"]),
            NodeSpec::new("Add", "add", &["rb", "b"], &["c"]),
            bn("bn3", "c", "d"),
            NodeSpec::new("Relu", "r3", &["d"], &["rd"]),
        ];
        let fused = bn_relu(nodes.clone(), &["rd".into()]);
        let kinds: Vec<(&str, &str)> = fused
            .iter()
            .map(|n| (n.name.as_str(), n.op_type.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("bn1", BN_RELU),
                ("bn2", "BatchNormalization"),
                ("r2", "Relu"),
                ("add", "Add"),
                ("bn3", BN_RELU),
            ]
        );
        assert_eq!(fused[0].outputs, ["ra"]);
        assert_eq!(fused[4].outputs, ["rd"]);
        // A BN output that is a graph output stays.
        let kept = bn_relu(nodes, &["rd".into(), "d".into()]);
        assert_eq!(kept.last().map(|n| n.op_type.as_str()), Some("Relu"));
    }
}
