//! One suite, run against every backend: outputs must match ONNX Runtime's Python package
//! (the reference written by `models/reference_outputs.py`) on real Fashion-MNIST images.
//! `conformance.rs`, beside it, runs the same comparison over foreign and real-size models.

mod common;

use common::to_2d;
use edge_ssl_core::{Preprocessor, decode_image, image_files, npy};
use edge_ssl_runtime::{BackendKind, BackendOptions, card_for, select_backend};
use ndarray::{Array2, Axis, concatenate};

fn reference_batch() -> (
    Preprocessor,
    edge_ssl_core::Tensor,
    Array2<f32>,
    Array2<f32>,
) {
    let card = card_for(&common::bundled(), None).unwrap();
    let pre = Preprocessor::new(card.input.clone());
    let files = image_files(&common::reference_dir().join("images")).unwrap();
    let units: Vec<_> = files
        .iter()
        .map(|p| pre.unit_image(&decode_image(p).unwrap()))
        .collect();
    let batch = pre.batch(&units).unwrap();
    let input = npy::read_f32(&common::reference_dir().join("input.npy")).unwrap();
    let expected = npy::read_f32(&common::reference_dir().join("embedding.npy")).unwrap();
    assert_eq!(files.len(), expected.nrows());
    (pre, batch, input, expected)
}

macro_rules! backend_suite {
    ($name:ident, $kind:expr) => {
        mod $name {
            use super::*;

            fn session(threads: usize) -> Box<dyn edge_ssl_runtime::Session> {
                let options = BackendOptions::default().with_threads(Some(threads));
                let (backend, _) = select_backend($kind, &options).expect("backend available");
                let card = card_for(&common::bundled(), None).unwrap();
                backend.load(&common::bundled(), &card).unwrap()
            }

            #[test]
            fn preprocessing_matches_numpy() {
                let (_, batch, input, _) = reference_batch();
                let flat = to_2d(batch);
                assert!(common::max_abs_diff(&flat, &input) <= 1e-6);
            }

            #[test]
            fn matches_onnxruntime_python_within_tolerance() {
                let (_, batch, _, expected) = reference_batch();
                for threads in [1, 2] {
                    let got = to_2d(session(threads).run_one(batch.view()).unwrap());
                    let diff = common::max_abs_diff(&got, &expected);
                    assert!(
                        diff <= common::reference_atol(),
                        "{threads} thread(s): max abs diff {diff}"
                    );
                }
            }

            #[test]
            fn batch_of_one_and_batch_of_32_agree_with_the_full_batch() {
                let (_, batch, _, expected) = reference_batch();
                let mut s = session(2);
                let singles: Vec<Array2<f32>> = (0..batch.shape()[0])
                    .map(|i| {
                        let one = batch.slice_axis(Axis(0), (i..i + 1).into());
                        to_2d(s.run_one(one).unwrap())
                    })
                    .collect();
                let views: Vec<_> = singles.iter().map(|a| a.view()).collect();
                let singles = concatenate(Axis(0), &views).unwrap();
                assert!(common::max_abs_diff(&singles, &expected) <= common::reference_atol());
                let doubled = concatenate(Axis(0), &[batch.view(), batch.view()]).unwrap();
                let out = to_2d(s.run_one(doubled.view()).unwrap());
                assert_eq!(out.dim(), (32, expected.ncols()));
                let second = out.slice_axis(Axis(0), (16..32).into()).to_owned();
                assert!(common::max_abs_diff(&second, &expected) <= common::reference_atol());
            }

            #[test]
            fn declares_its_inputs_and_outputs() {
                let s = session(1);
                assert_eq!(s.inputs()[0].name, "input");
                assert_eq!(s.inputs()[0].shape, vec![None, Some(1), Some(28), Some(28)]);
                assert_eq!(s.outputs()[0].name, "embedding");
            }

            /// A graph whose first output is a feature map and whose card names its
            /// second, the embedding: the session hands the card's output first (and says
            /// so), the others after it; a card naming the map gets the map first.
            #[test]
            fn the_cards_output_comes_first_whatever_the_graph_order() {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("two.onnx");
                let mut g = edge_ssl_runtime::onnx::GraphBuilder::open(&common::bundled()).unwrap();
                let map = g.flatten("/features/features.6/features.6.2/Relu_output_0");
                g.set_outputs(&[(&map, "map", 4096), ("embedding", "embedding", 256)])
                    .unwrap();
                g.save(&path).unwrap();
                let (_, batch, _, expected) = reference_batch();
                let mut card = card_for(&common::bundled(), None).unwrap();
                let (backend, _) = select_backend($kind, &BackendOptions::default()).unwrap();
                let mut s = backend.load(&path, &card).unwrap();
                let names: Vec<_> = s.outputs().iter().map(|o| o.name.clone()).collect();
                assert_eq!(names, ["embedding", "map"]);
                let outs = s.run(&[batch.view()]).unwrap();
                let got = to_2d(outs[0].clone());
                assert!(common::max_abs_diff(&got, &expected) <= common::reference_atol());
                assert_eq!(to_2d(outs[1].clone()).ncols(), 4096);
                card.output.name = "map".into();
                card.output.dim = 4096;
                let mut s = backend.load(&path, &card).unwrap();
                assert_eq!(s.outputs()[0].name, "map");
                assert_eq!(to_2d(s.run_one(batch.view()).unwrap()).ncols(), 4096);
            }

            #[test]
            fn truncated_onnx_is_an_error_not_a_panic() {
                let dir = tempfile::tempdir().unwrap();
                let bytes = std::fs::read(common::bundled()).unwrap();
                let path = dir.path().join("cut.onnx");
                std::fs::write(&path, &bytes[..bytes.len() / 3]).unwrap();
                let card = card_for(&common::bundled(), None).unwrap();
                let (backend, _) = select_backend($kind, &BackendOptions::default()).unwrap();
                let err = backend.load(&path, &card).err().expect("must fail");
                assert!(err.to_string().contains("cut.onnx"), "{err}");
            }

            #[test]
            fn card_that_does_not_match_the_onnx_is_rejected() {
                let mut card = card_for(&common::bundled(), None).unwrap();
                card.input.height = 32;
                let (backend, _) = select_backend($kind, &BackendOptions::default()).unwrap();
                let err = backend
                    .load(&common::bundled(), &card)
                    .err()
                    .expect("must fail");
                assert!(err.to_string().contains("card says"), "{err}");
            }
        }
    };
}

backend_suite!(tract, BackendKind::Tract);
backend_suite!(ort, BackendKind::Ort);
