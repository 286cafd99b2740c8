//! An operator the trainable graph lacks: an error naming it and its node, and the largest
//! tail that would train; the selections that avoid it still import.

use std::path::{Path, PathBuf};

use super::fixtures::bundled;
use crate::tune::{Train, TuneError, import};

/// The bundled encoder with the activation of conv block `block` (0-based) turned into a
/// `Selu`: the node's op_type field follows its name in the protobuf, so the patch touches
/// that one node (same length, so the file stays valid).
fn with_selu(dir: &Path, block: usize) -> PathBuf {
    let bytes = std::fs::read(bundled()).unwrap();
    let name = format!("/features/features.{block}/features.{block}.2/Relu\x22\x04Relu");
    let at = bytes
        .windows(name.len())
        .position(|w| w == name.as_bytes())
        .expect("the node's name then its op_type");
    let mut patched = bytes;
    patched[at + name.len() - 4] = b'S';
    patched[at + name.len() - 3] = b'e';
    let path = dir.join(format!("selu{block}.onnx"));
    std::fs::write(&path, patched).unwrap();
    path
}

fn unsupported(model: &Path, train: Train) -> (String, String, Option<usize>, String) {
    match import(model, train) {
        Err(e @ TuneError::UnsupportedOp { .. }) => {
            let message = e.to_string();
            let TuneError::UnsupportedOp {
                op,
                node,
                largest_tail,
            } = e
            else {
                unreachable!()
            };
            (op, node, largest_tail, message)
        }
        other => panic!("{train}: expected an unsupported-operator error, got {other:?}"),
    }
}

#[test]
fn unsupported_op_names_node_and_the_tail_that_works() {
    let dir = tempfile::tempdir().unwrap();
    let model = with_selu(dir.path(), 5);
    for train in [Train::Tail(2), Train::Tail(5), Train::All, Train::Bn] {
        let (op, node, largest, message) = unsupported(&model, train);
        assert_eq!(op, "Selu");
        assert_eq!(node, "/features/features.5/features.5.2/Relu");
        assert_eq!(largest, Some(1));
        assert!(
            message.contains("Selu") && message.contains(&node) && message.contains("tail:1"),
            "{message}"
        );
    }
    for train in [Train::None, Train::Tail(1)] {
        import(&model, train).unwrap();
    }

    let model = with_selu(dir.path(), 6);
    let (_, _, largest, message) = unsupported(&model, Train::Tail(1));
    assert_eq!(largest, None);
    assert!(message.contains("only none works"), "{message}");
    import(&model, Train::None).unwrap();
}
