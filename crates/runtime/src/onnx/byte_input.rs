//! Models that take their image as bytes: a `uint8` input, with the conversion to floats and the
//! normalization inside the graph (TensorFlow exports through tf2onnx, vendor zoos, models
//! exported "end to end" with their preprocessing). edge-ssl feeds float32 batches everywhere,
//! so such a model is loaded with one more step in front: its input becomes float32 of the same
//! shape and name, rounded and clipped to the bytes the graph expects (`Floor(x + 0.5)`, `Max` 0,
//! `Min` 255, `Cast` to uint8; broadcasting operators, so opset 8 on). The card that goes
//! with it feeds pixel values 0–255 (mean 0, std 1/255), so the bytes the graph receives are the
//! image's own.
//!
//! Done where a backend loads a file, so every graph derived from the model (the BN probe, the
//! feature model, a trained tail's prefix, the one-file export) keeps the byte input on disk and
//! is rewritten the same way when it runs.

use std::path::Path;

use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::DataType;

use super::GraphBuilder;
use super::inspect::{self, ModelFacts};
use crate::Result;

/// A model as a backend runs it (see [`read_runnable`]).
pub(crate) struct Runnable {
    pub proto: pb::ModelProto,
    pub facts: ModelFacts,
    /// Whether the byte input was made float: the graph then exists only in memory, with its
    /// external data read in (a model loaded from memory has no directory to find them in).
    pub rewritten: bool,
}

/// `onnx` parsed, with its facts, and a uint8 image input made float32 (see the module).
pub(crate) fn read_runnable(onnx: &Path) -> Result<Runnable> {
    let proto = inspect::read_proto(onnx)?;
    let facts = inspect::facts_of(onnx, &proto)?;
    let Some(input) = facts.inputs.first().filter(|i| i.element == "uint8") else {
        return Ok(Runnable {
            proto,
            facts,
            rewritten: false,
        });
    };
    let mut proto = float_input(proto, &input.name, onnx)?;
    inspect::inline_external(onnx, &mut proto)?;
    let facts = inspect::facts_of(onnx, &proto)?;
    Ok(Runnable {
        proto,
        facts,
        rewritten: true,
    })
}

/// `proto` with its uint8 input `input` declared float32 and turned into the bytes its
/// consumers read by `Floor(x + 0.5)`, `Max` 0, `Min` 255 and `Cast`.
fn float_input(proto: pb::ModelProto, input: &str, onnx: &Path) -> Result<pb::ModelProto> {
    let mut g = GraphBuilder::from_proto(proto, &onnx.display().to_string())?;
    // The consumers read the bytes under a new name; the input keeps its name for the card.
    let bytes = g.rename_tensor(input, "bytes");
    let nodes = g.take_nodes();
    let (half, low, high) = (
        g.scalar("half", 0.5)?,
        g.scalar("low", 0.0)?,
        g.scalar("high", 255.0)?,
    );
    let shifted = g.add(input, &half);
    let floored = g.floor(&shifted);
    let above = g.max(&floored, &low);
    let clipped = g.min(&above, &high);
    let cast = g.cast(&clipped, DataType::Uint8);
    g.alias(&cast, &bytes);
    for node in nodes {
        g.push_node(node);
    }
    let mut proto = g.into_proto();
    let declared = proto
        .graph
        .iter_mut()
        .flat_map(|g| g.input.iter_mut())
        .find(|i| i.name == input)
        .and_then(|i| i.r#type.as_mut())
        .and_then(|t| t.value.as_mut());
    if let Some(pb::type_proto::Value::TensorType(t)) = declared {
        t.elem_type = DataType::Float as i32;
    }
    Ok(proto)
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
            eprintln!(
                "{}: byte input against float input, max abs diff {diff}",
                backend.name()
            );
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
