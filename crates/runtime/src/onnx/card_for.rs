//! The model card that goes with an ONNX file. A card given or found beside the file is checked
//! against it (its sha256, and the names and sizes the graph declares); without one, a card
//! embedded in the ONNX's metadata is used, and failing that one is built from what the graph
//! declares, every guess listed in `assumptions`.
use std::path::{Path, PathBuf};

use edge_ssl_core::{
    InputSpec, Layout, MAX_OUTPUT_DIM, ModelCard, OutputSpec, ResizeMode, sha256_file,
};

use super::inspect::{self, ModelFacts};
use crate::{Result, RuntimeError};

/// `metadata_props` key under which an ONNX carries its own card (TOML), as `edge-ssl export`
/// writes it: a one-file export needs no card beside it.
pub const EMBEDDED_CARD_KEY: &str = "edge-ssl.card";

/// The card of an ONNX file: `card_path` if given, else `x.toml` beside `x.onnx`, else the card
/// embedded in the ONNX's metadata ([`EMBEDDED_CARD_KEY`]), else one built from what the ONNX
/// declares, with every guess listed in `assumptions`.
///
/// A card that records a sha256 must match the file: a card describing a different model is
/// worse than none.
pub fn card_for(onnx: &Path, card_path: Option<&Path>) -> Result<ModelCard> {
    let beside = ModelCard::path_beside(onnx);
    let path: Option<PathBuf> = card_path
        .map(Path::to_owned)
        .or_else(|| beside.is_file().then_some(beside));
    match path {
        Some(path) => {
            let card = ModelCard::load(&path)?;
            if let Some(expected) = &card.sha256 {
                let actual = sha256_file(onnx)?;
                if !expected.eq_ignore_ascii_case(&actual) {
                    return Err(RuntimeError::Model {
                        path: onnx.to_owned(),
                        message: format!(
                            "its sha256 is {actual} but the card {} says {expected}",
                            path.display()
                        ),
                    });
                }
            }
            check_against_graph(onnx, &card, &inspect::facts(onnx)?)?;
            Ok(card)
        }
        None => {
            let facts = inspect::facts(onnx)?;
            match embedded_card(onnx)? {
                Some(card) => {
                    check_against_graph(onnx, &card, &facts)?;
                    Ok(card)
                }
                None => assume_card(onnx, &facts),
            }
        }
    }
}

/// A card that names an input or output the graph lacks, or gives a size the graph fixes
/// otherwise, describes another model: refused before anything runs on it (a wrong
/// `output.dim` would otherwise size adapters and heads for embeddings that never come).
fn check_against_graph(onnx: &Path, card: &ModelCard, facts: &ModelFacts) -> Result<()> {
    let bad = |message: String| RuntimeError::Model {
        path: onnx.to_owned(),
        message: format!("its card does not describe it: {message}"),
    };
    let names = |list: &[crate::TensorInfo]| {
        list.iter()
            .map(|t| format!("`{}`", t.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(output) = facts.outputs.iter().find(|o| o.name == card.output.name) else {
        return Err(bad(format!(
            "output `{}` is not one of the graph's outputs ({})",
            card.output.name,
            names(&facts.outputs)
        )));
    };
    if let Some(width) = flat_width(&output.shape)
        && width != card.output.dim
    {
        return Err(bad(format!(
            "output.dim is {} but `{}` gives {width} values an image",
            card.output.dim, output.name
        )));
    }
    let Some(input) = facts.inputs.iter().find(|i| i.name == card.input.name) else {
        return Err(bad(format!(
            "input `{}` is not one of the graph's inputs ({})",
            card.input.name,
            names(&facts.inputs)
        )));
    };
    if input.shape.len() == 4 {
        let i = &card.input;
        let want = match i.layout {
            Layout::Nchw => [i.channels, i.height, i.width],
            Layout::Nhwc => [i.height, i.width, i.channels],
        };
        for (axis, (declared, carded)) in input.shape[1..].iter().zip(want).enumerate() {
            if let Some(d) = declared
                && *d != carded
            {
                return Err(bad(format!(
                    "input `{}` axis {} is {d} but the card says {carded} ({:?}, channels x height x width {}x{}x{})",
                    i.name,
                    axis + 1,
                    i.layout,
                    i.channels,
                    i.height,
                    i.width
                )));
            }
        }
    }
    Ok(())
}

fn embedded_card(onnx: &Path) -> Result<Option<ModelCard>> {
    let proto = inspect::read_proto(onnx)?;
    let Some(entry) = proto
        .metadata_props
        .iter()
        .find(|p| p.key == EMBEDDED_CARD_KEY)
    else {
        return Ok(None);
    };
    let card = ModelCard::parse(&entry.value, onnx).map_err(|e| RuntimeError::Model {
        path: onnx.to_owned(),
        message: format!("its embedded card ({EMBEDDED_CARD_KEY}) is invalid: {e}"),
    })?;
    Ok(Some(card))
}

/// The values per image of an output of `shape`: its dimensions after the batch, multiplied,
/// when the graph fixes them all.
fn flat_width(shape: &[Option<usize>]) -> Option<usize> {
    match shape {
        [] => None,
        [_, rest @ ..] => rest.iter().try_fold(1usize, |n, d| n.checked_mul((*d)?)),
    }
}

fn assume_card(onnx: &Path, facts: &ModelFacts) -> Result<ModelCard> {
    let bad = |message: String| RuntimeError::Model {
        path: onnx.to_owned(),
        message,
    };
    let input = facts
        .inputs
        .first()
        .ok_or_else(|| bad("it declares no input".into()))?;
    let output = facts
        .outputs
        .first()
        .ok_or_else(|| bad("it declares no output".into()))?;
    let mut assumptions = vec![format!(
        "no card beside the model ({} not found)",
        ModelCard::path_beside(onnx).display()
    )];
    let dims = &input.shape;
    if dims.len() != 4 {
        return Err(bad(format!(
            "its input `{}` has rank {}, not an image batch; write a card for it",
            input.name,
            dims.len()
        )));
    }
    // A small axis 1 (1 or 3) is channels-first; a small last axis is channels-last.
    let (layout, c, h, w) = match (dims[1], dims[3]) {
        (Some(c @ (1 | 3)), _) => (Layout::Nchw, Some(c), dims[2], dims[3]),
        (_, Some(c @ (1 | 3))) => (Layout::Nhwc, Some(c), dims[1], dims[2]),
        _ => (Layout::Nchw, None, dims[2], dims[3]),
    };
    assumptions.push(format!("layout {layout:?} from the input shape"));
    let channels = c.unwrap_or_else(|| {
        assumptions.push("3 channels (RGB)".into());
        3
    });
    let mut size = |d: Option<usize>, what: &str| {
        d.unwrap_or_else(|| {
            assumptions.push(format!("{what} 224 (the ONNX leaves it free)"));
            224
        })
    };
    let (height, width) = (size(h, "height"), size(w, "width"));
    let (mean, std) = if input.element == "uint8" {
        assumptions.push("pixel values 0–255 (a uint8 input: the graph normalizes them)".into());
        (vec![0.0; channels], vec![1.0 / 255.0; channels])
    } else if channels == 3 {
        assumptions.push("ImageNet mean/std normalization".into());
        (vec![0.485, 0.456, 0.406], vec![0.229, 0.224, 0.225])
    } else {
        assumptions.push("mean 0.5, std 0.5 normalization".into());
        (vec![0.5], vec![0.5])
    };
    assumptions.push("stretch resize".into());
    if facts.outputs.len() > 1 {
        let others: Vec<_> = facts.outputs[1..]
            .iter()
            .map(|o| format!("`{}`", o.name))
            .collect();
        assumptions.push(format!(
            "the embedding is the first output, `{}` (a card's `[output] name` can pick {})",
            output.name,
            others.join(", ")
        ));
    }
    // What a run gives per image: the output's dimensions after the batch, multiplied (a
    // feature map is flattened). Left symbolic by the graph, tract's shape analysis at the
    // input size works them out.
    let input_shape = match layout {
        Layout::Nchw => [1, channels, height, width],
        Layout::Nhwc => [1, height, width, channels],
    };
    let values = match flat_width(&output.shape) {
        Some(d) => Some(d),
        None => inspect::output_width_at(onnx, &input_shape, 0)?,
    };
    // A graph tract cannot analyse (an operator it lacks) can still run on ONNX Runtime, the only
    // engine that could run it then: one run of a zero image measures the width, so a head fitted
    // on its embeddings goes into a directory whose card says the same width.
    let (values, measured) = match values {
        Some(d) => (Some(d), false),
        None => {
            let input = input_spec(input.name.clone(), layout, height, width, channels);
            let measured = width_by_a_run(onnx, input, &output.name);
            (measured, measured.is_some())
        }
    };
    let dim = match values {
        Some(d) if d <= MAX_OUTPUT_DIM => {
            if measured {
                assumptions.push(format!(
                    "embedding width {d}: measured by one ONNX Runtime run (tract cannot analyse the graph)"
                ));
            }
            d
        }
        Some(d) => {
            // A segmentation map or the like: described (`info` never fails on a model that
            // runs), but no card can take it as an embedding.
            assumptions.push(format!(
                "`{}` gives {d} values an image, more than an embedding may have ({MAX_OUTPUT_DIM}): width unknown",
                output.name
            ));
            1
        }
        None => {
            assumptions.push("embedding width unknown until the first run".into());
            1
        }
    };
    let card = ModelCard::assumed(
        InputSpec {
            mean,
            std,
            ..input_spec(input.name.clone(), layout, height, width, channels)
        },
        OutputSpec {
            name: output.name.clone(),
            dim,
        },
        assumptions,
    );
    // What the graph declares is bounded like a card's sizes: a model declaring 3×8000×8000
    // asked for 768 MB per image, and a batch of them exhausted memory before any error.
    card.validate()
        .map_err(|e| bad(format!("the input it declares is too large: {e}")))?;
    Ok(card)
}

/// An input spec with the card's stretch resize and a placeholder normalization (what a zero
/// image needs; the card fills in the real one).
fn input_spec(
    name: String,
    layout: Layout,
    height: usize,
    width: usize,
    channels: usize,
) -> InputSpec {
    InputSpec {
        name,
        layout,
        height,
        width,
        channels,
        mean: vec![0.0; channels],
        std: vec![1.0; channels],
        resize: ResizeMode::Stretch,
    }
}

/// Values an image of `output`, measured by running one zero image through ONNX Runtime (one
/// thread); `None` when ONNX Runtime is not available here or the run fails.
fn width_by_a_run(onnx: &Path, input: InputSpec, output: &str) -> Option<usize> {
    let backend = crate::OrtBackend::new(crate::BackendOptions::default().with_threads(Some(1)));
    crate::Backend::check(&backend).ok()?;
    let shape = input.batch_shape(1);
    let probe = ModelCard::assumed(
        input,
        OutputSpec {
            name: output.to_owned(),
            dim: 1,
        },
        Vec::new(),
    );
    let mut session = crate::Backend::load(&backend, onnx, &probe).ok()?;
    let zeros = edge_ssl_core::Tensor::zeros(ndarray::IxDyn(&shape));
    let out = session.run_one(zeros.view()).ok()?;
    Some(out.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GraphBuilder;
    use tract_onnx::pb;

    /// A graph that carries its card in metadata needs none beside it; a broken one is an
    /// error naming the key, not a silent fallback to guessed preprocessing.
    #[test]
    fn card_for_reads_an_embedded_card_and_rejects_a_broken_one() {
        let encoder =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/fmnist-ssl/encoder.onnx");
        let real = card_for(&encoder, None).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("export.onnx");

        let mut g = GraphBuilder::open(&encoder).unwrap();
        let mut card = real.clone();
        (card.onnx, card.sha256) = (None, None);
        g.set_metadata(EMBEDDED_CARD_KEY, &card.to_toml().unwrap());
        g.save(&path).unwrap();
        let read = card_for(&path, None).unwrap();
        assert!(read.assumptions.is_empty(), "{:?}", read.assumptions);
        assert_eq!(read.input, real.input);

        for (field, value) in [("dim", 7usize), ("name", 0)] {
            let mut wrong = card.clone();
            if field == "dim" {
                wrong.output.dim = value;
            } else {
                wrong.output.name = "nope".into();
            }
            g.set_metadata(EMBEDDED_CARD_KEY, &wrong.to_toml().unwrap());
            g.save(&path).unwrap();
            let err = card_for(&path, None).unwrap_err().to_string();
            assert!(err.contains("does not describe it"), "{field}: {err}");
        }
        let mut wrong = card.clone();
        wrong.input.height += 1;
        g.set_metadata(EMBEDDED_CARD_KEY, &wrong.to_toml().unwrap());
        g.save(&path).unwrap();
        let err = card_for(&path, None).unwrap_err().to_string();
        let fixed = real.input.height;
        assert!(
            err.contains(&format!("is {fixed} but")),
            "the bundled encoder fixes its height: {err}"
        );

        g.set_metadata(EMBEDDED_CARD_KEY, "input = 3");
        g.save(&path).unwrap();
        let err = card_for(&path, None).unwrap_err().to_string();
        assert!(err.contains(EMBEDDED_CARD_KEY), "{err}");
    }

    /// The width of an output that is not `N × D` is what a run gives per image, flattened: a
    /// feature map declared `[N, 256, 4, 4]` is 4,096 wide (the card said 4, its last axis, and
    /// `head` wrote a directory `run` refused), the same map declared `[N, N, N, N]` too (tract
    /// works it out at the input size; the card said 1), and a card giving 4,096 for it is
    /// accepted where the last axis was demanded. A graph with more outputs says which it took;
    /// one wider than an embedding may be is described with its width unknown.
    #[test]
    fn an_assumed_card_gives_the_flattened_width_of_any_output() {
        let encoder =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/fmnist-ssl/encoder.onnx");
        let dir = tempfile::tempdir().unwrap();
        let relu = "/features/features.6/features.6.2/Relu_output_0";
        for symbolic in [false, true] {
            let mut g = GraphBuilder::open(&encoder).unwrap();
            g.set_fixed_outputs(&[
                (relu.to_string(), vec![1, 256, 4, 4]),
                ("embedding".to_string(), vec![1, 256]),
            ]);
            let mut proto = g.into_proto();
            let graph = proto.graph.as_mut().unwrap();
            for output in &mut graph.output {
                let Some(pb::type_proto::Value::TensorType(t)) =
                    output.r#type.as_mut().and_then(|t| t.value.as_mut())
                else {
                    panic!("tensor outputs");
                };
                for (axis, d) in t.shape.as_mut().unwrap().dim.iter_mut().enumerate() {
                    if axis == 0 || symbolic {
                        d.value = Some(pb::tensor_shape_proto::dimension::Value::DimParam(
                            format!("d{axis}"),
                        ));
                    }
                }
            }
            let path = dir.path().join(format!("two-{symbolic}.onnx"));
            std::fs::write(&path, prost::Message::encode_to_vec(&proto)).unwrap();
            let card = card_for(&path, None).unwrap();
            assert_eq!(
                (card.output.name.as_str(), card.output.dim),
                (relu, 4096),
                "symbolic {symbolic}"
            );
            let note = card.assumptions.join("; ");
            assert!(note.contains("can pick `embedding`"), "{note}");
            assert!(!note.contains("unknown"), "{note}");
            let facts = inspect::facts(&path).unwrap();
            check_against_graph(&path, &card, &facts).unwrap();
            if !symbolic {
                let mut last_axis = card.clone();
                last_axis.output.dim = 4;
                let err = check_against_graph(&path, &last_axis, &facts).unwrap_err();
                assert!(
                    err.to_string().contains("gives 4096 values an image"),
                    "{err}"
                );
            }
        }
        // An output wider than any embedding (a segmentation map) is described, not refused.
        let mut g = GraphBuilder::open(&encoder).unwrap();
        g.set_fixed_outputs(&[(relu.to_string(), vec![1, 2048, 1024])]);
        let path = dir.path().join("wide.onnx");
        g.save(&path).unwrap();
        let card = card_for(&path, None).unwrap();
        assert_eq!(card.output.dim, 1);
        let note = card.assumptions.join("; ");
        assert!(note.contains("gives 2097152 values an image"), "{note}");
        let map = [None, Some(256), Some(4), Some(4), None];
        assert_eq!(flat_width(&map[..4]), Some(4096));
        assert_eq!(flat_width(&map), None);
        assert_eq!(flat_width(&[]), None);
        assert_eq!(flat_width(&[None]), Some(1));
    }

    /// A graph tract cannot analyse (CenterCropPad, an operator tract lacks, after the bundled
    /// encoder; its output's width left symbolic) gets the width one ONNX Runtime run measures:
    /// with the placeholder width 1, `head` wrote a directory `run` and `info` refused.
    #[cfg(feature = "ort")]
    #[test]
    fn a_graph_tract_cannot_analyse_gets_the_width_measured_with_ort() {
        let encoder =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/fmnist-ssl/encoder.onnx");
        let mut g = GraphBuilder::open(&encoder).unwrap();
        let embedding = g.first_output();
        let crop = g.ints_constant("crop", &[200]);
        g.push_node(pb::NodeProto {
            op_type: "CenterCropPad".into(),
            input: vec![embedding, crop],
            output: vec!["cropped".into()],
            attribute: vec![pb::AttributeProto {
                name: "axes".into(),
                r#type: pb::attribute_proto::AttributeType::Ints as i32,
                ints: vec![1],
                ..Default::default()
            }],
            ..Default::default()
        });
        g.set_outputs(&[("cropped", "cropped", 200)]).unwrap();
        let mut proto = g.into_proto();
        for opset in &mut proto.opset_import {
            opset.version = 18;
        }
        let graph = proto.graph.as_mut().unwrap();
        let Some(pb::type_proto::Value::TensorType(t)) = graph.output[0]
            .r#type
            .as_mut()
            .and_then(|t| t.value.as_mut())
        else {
            panic!("a tensor output");
        };
        t.shape.as_mut().unwrap().dim[1].value = Some(
            pb::tensor_shape_proto::dimension::Value::DimParam("width".into()),
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("crop.onnx");
        std::fs::write(&path, prost::Message::encode_to_vec(&proto)).unwrap();
        let input = [1, 1, 28, 28];
        assert_eq!(inspect::output_width_at(&path, &input, 0).unwrap(), None);

        let card = card_for(&path, None).unwrap();
        assert_eq!(card.output.dim, 200);
        let note = card.assumptions.join("; ");
        assert!(
            note.contains("width 200: measured by one ONNX Runtime run"),
            "{note}"
        );
        let facts = inspect::facts(&path).unwrap();
        check_against_graph(&path, &card, &facts).unwrap();
    }
}
