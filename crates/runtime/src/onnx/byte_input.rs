//! Models that take their image as bytes: a `uint8` input, with the conversion to floats and the
//! normalization inside the graph (TensorFlow exports through tf2onnx, vendor zoos, models
//! exported "end to end" with their preprocessing). edge-ssl feeds float32 batches everywhere,
//! so such a model is loaded with one more step in front: its input becomes float32 of the same
//! shape and name, rounded and clipped to the bytes the graph expects (`Floor(x + 0.5)`, `Max` 0,
//! `Min` 255, `Cast` to uint8 — operators of every opset both engines run). The card that goes
//! with it feeds pixel values 0–255 (mean 0, std 1/255), so the bytes the graph receives are the
//! image's own.
//!
//! Done where a backend loads a file, so every graph derived from the model (the BN probe, the
//! feature model, a trained tail's prefix, the one-file export) keeps the byte input on disk and
//! is rewritten the same way when it runs.

use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::DataType;

/// Whether the graph's first input is declared uint8.
pub(crate) fn takes_bytes(proto: &pb::ModelProto) -> bool {
    first_input_type(proto) == Some(DataType::Uint8 as i32)
}

fn first_input_type(proto: &pb::ModelProto) -> Option<i32> {
    let graph = proto.graph.as_ref()?;
    let initializers: std::collections::HashSet<&str> =
        graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let input = graph
        .input
        .iter()
        .find(|i| !initializers.contains(i.name.as_str()))?;
    let pb::type_proto::Value::TensorType(t) = input.r#type.as_ref()?.value.as_ref()?;
    Some(t.elem_type)
}

/// Makes the graph's uint8 image input a float32 one (see the module); `false` (nothing done)
/// when its first input is not uint8.
pub(crate) fn float_input(proto: &mut pb::ModelProto) -> bool {
    if !takes_bytes(proto) {
        return false;
    }
    let Some(graph) = proto.graph.as_mut() else {
        return false;
    };
    let initializers: std::collections::HashSet<String> =
        graph.initializer.iter().map(|t| t.name.clone()).collect();
    let Some(input) = graph
        .input
        .iter_mut()
        .find(|i| !initializers.contains(&i.name))
    else {
        return false;
    };
    let name = input.name.clone();
    if let Some(pb::type_proto::Value::TensorType(t)) =
        input.r#type.as_mut().and_then(|t| t.value.as_mut())
    {
        t.elem_type = DataType::Float as i32;
    }
    let taken: std::collections::HashSet<String> = graph
        .node
        .iter()
        .flat_map(|n| n.output.iter().chain(&n.input).cloned())
        .chain(initializers)
        .collect();
    let fresh = |hint: &str| {
        (0..)
            .map(|i| format!("edge_ssl/bytes/{hint}_{i}"))
            .find(|n| !taken.contains(n))
            .expect("an unused name")
    };
    let (half, low, high) = (fresh("half"), fresh("low"), fresh("high"));
    let (shifted, floored, above, clipped, bytes) = (
        fresh("shifted"),
        fresh("floored"),
        fresh("above"),
        fresh("clipped"),
        fresh("bytes"),
    );
    for node in &mut graph.node {
        for i in node.input.iter_mut().filter(|i| **i == name) {
            i.clone_from(&bytes);
        }
    }
    for output in graph.output.iter_mut().filter(|o| o.name == name) {
        output.name.clone_from(&bytes);
    }
    let scalar = |name: &str, value: f32| pb::TensorProto {
        name: name.to_owned(),
        dims: vec![],
        data_type: DataType::Float as i32,
        raw_data: value.to_le_bytes().to_vec(),
        ..Default::default()
    };
    graph
        .initializer
        .extend([scalar(&half, 0.5), scalar(&low, 0.0), scalar(&high, 255.0)]);
    let node = |op: &str, inputs: &[&str], output: &str, attribute: Vec<pb::AttributeProto>| {
        pb::NodeProto {
            op_type: op.into(),
            name: output.to_owned(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.to_owned()],
            attribute,
            ..Default::default()
        }
    };
    let to_uint8 = pb::AttributeProto {
        name: "to".into(),
        r#type: pb::attribute_proto::AttributeType::Int as i32,
        i: DataType::Uint8 as i64,
        ..Default::default()
    };
    let front = [
        node("Add", &[&name, &half], &shifted, vec![]),
        node("Floor", &[&shifted], &floored, vec![]),
        node("Max", &[&floored, &low], &above, vec![]),
        node("Min", &[&above, &high], &clipped, vec![]),
        node("Cast", &[&clipped], &bytes, vec![to_uint8]),
    ];
    graph.node.splice(0..0, front);
    true
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use ndarray::IxDyn;
    use tract_onnx::pb;
    use tract_onnx::pb::tensor_proto::DataType;

    use crate::onnx::GraphBuilder;
    use crate::{Backend, BackendOptions, OrtBackend, TractBackend, card_for};

    /// The bundled encoder with its preprocessing inside and a uint8 input, as TensorFlow
    /// exports come (`Cast` to float, `/ 255`, `- mean`, `/ std`): on both backends its card
    /// feeds pixel values 0–255, and its embeddings are the float encoder's on the same bytes
    /// normalized outside. Refused at load before ("its input is uint8, and edge-ssl feeds
    /// float32 images").
    #[test]
    fn a_byte_input_model_runs_like_the_float_one_with_tract() {
        byte_input_model_runs_like_the_float_one(Box::new(TractBackend::new(
            BackendOptions::default(),
        )));
    }

    #[test]
    fn a_byte_input_model_runs_like_the_float_one_with_ort() {
        byte_input_model_runs_like_the_float_one(Box::new(OrtBackend::new(
            BackendOptions::default(),
        )));
    }

    fn byte_input_model_runs_like_the_float_one(backend: Box<dyn Backend>) {
        let encoder =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/fmnist-ssl/encoder.onnx");
        let float_card = card_for(&encoder, None).unwrap();
        let (mean, std) = (float_card.input.mean[0], float_card.input.std[0]);
        let mut g = GraphBuilder::open(&encoder).unwrap();
        let scale = g.scalar("scale", 255.0).unwrap();
        let m = g.scalar("mean", mean).unwrap();
        let s = g.scalar("std", std).unwrap();
        let mut nodes = g.take_nodes();
        assert_eq!(nodes[0].input[0], "input");
        nodes[0].input[0] = "normalized".into();
        let node = |op: &str, inputs: &[&str], output: &str| pb::NodeProto {
            op_type: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            ..Default::default()
        };
        let mut cast = node("Cast", &["input"], "floats");
        cast.attribute.push(pb::AttributeProto {
            name: "to".into(),
            r#type: pb::attribute_proto::AttributeType::Int as i32,
            i: DataType::Float as i64,
            ..Default::default()
        });
        g.push_node(cast);
        g.push_node(node("Div", &["floats", &scale], "units"));
        g.push_node(node("Sub", &["units", &m], "centred"));
        g.push_node(node("Div", &["centred", &s], "normalized"));
        for n in nodes {
            g.push_node(n);
        }
        let mut proto = g.into_proto();
        let graph = proto.graph.as_mut().unwrap();
        let pb::type_proto::Value::TensorType(t) = graph.input[0]
            .r#type
            .as_mut()
            .unwrap()
            .value
            .as_mut()
            .unwrap();
        t.elem_type = DataType::Uint8 as i32;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bytes.onnx");
        std::fs::write(&path, prost::Message::encode_to_vec(&proto)).unwrap();

        let card = card_for(&path, None).unwrap();
        assert_eq!((card.input.mean[0], card.input.std[0]), (0.0, 1.0 / 255.0));
        let bytes = edge_ssl_core::Tensor::from_shape_fn(IxDyn(&[5, 1, 28, 28]), |i| {
            ((i[0] * 37 + i[2] * 11 + i[3] * 5) % 256) as f32
        });
        let normalized = bytes.mapv(|b| (b / 255.0 - mean) / std);
        {
            let got = backend
                .load(&path, &card)
                .unwrap()
                .run_one(bytes.view())
                .unwrap();
            let want = backend
                .load(&encoder, &float_card)
                .unwrap()
                .run_one(normalized.view())
                .unwrap();
            let diff = (&got - &want).mapv(f32::abs).fold(0.0f32, |a, &b| a.max(b));
            assert!(diff <= 1e-5, "{}: max abs diff {diff}", backend.name());
            // Values between bytes are rounded to the nearest, and clipped to 0–255.
            let off = bytes.mapv(|b| b + 0.3);
            let rounded = backend
                .load(&path, &card)
                .unwrap()
                .run_one(off.view())
                .unwrap();
            assert_eq!(rounded, got, "{}", backend.name());
        }
    }
}
