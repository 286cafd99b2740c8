//! One-pass BN re-estimation on the bundled encoder, on both backends: what must hold whatever
//! the reference. The statistics themselves are checked against PyTorch in `bn_torch.rs` and
//! against numpy + ONNX Runtime in `tests/verify_bn_onnx.py` (through `tests/cli_adapt_onnx.rs`).
//!
//! * tract and ONNX Runtime agree, and the pool size (one session or two racing) does not change
//!   a bit of the result: sums are added in batch order;
//! * unequal batches weigh by their frames: the statistics of [A, B] are the frame-weighted
//!   average of those of [A] and of [B], each measured alone;
//! * opset 18 (ReduceMean's axes as an input) gives what opset 17 gives;
//! * ONNX Runtime's training-mode BatchNormalization node gives what the decomposed probe gives;
//! * a model whose batch is fixed gets its frames cut into batches of that size;
//! * weights held in `Constant` nodes (PaddlePaddle's exports) are re-estimated as initializers are;
//! * weights in external data files are read in (and refused outside the model's directory);
//! * progress counts every frame, `Break` cancels without writing, a failing batch stops the run,
//!   and a model without BN is copied without pulling a batch.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use edge_ssl_core::{ModelCard, Tensor};
use edge_ssl_runtime::onnx::edit::{self, BatchNorm};
use edge_ssl_runtime::onnx::inspect;
use edge_ssl_runtime::{
    Backend, BackendOptions, BnProgress, BnReport, OrtBackend, RuntimeError, TractBackend,
    card_for, reestimate_batch_norm_stream,
};

fn encoder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/fmnist-ssl/encoder.onnx")
}

/// `n` 28×28 frames far from Fashion-MNIST (light background, dark blob), normalized as the card
/// says; frame `i` of any call is the same frame.
fn batch(card: &ModelCard, first: usize, n: usize) -> Tensor {
    let (mean, std) = (card.input.mean[0], card.input.std[0]);
    let data = (first..first + n)
        .flat_map(|i| {
            (0..28 * 28i32).map(move |p| {
                let (x, y) = (p % 28, p / 28);
                let d = (x - 14 - (i % 5) as i32).pow(2) + (y - 14).pow(2);
                let v = if d < 40 + 3 * i as i32 {
                    40.0
                } else {
                    200.0 + ((x * y + i as i32) % 40) as f32
                };
                (v / 255.0 - mean) / std
            })
        })
        .collect();
    Tensor::from_shape_vec(vec![n, 1, 28, 28], data).unwrap()
}

fn tract(threads: usize) -> TractBackend {
    TractBackend::new(BackendOptions::default().with_threads(Some(threads)))
}

/// ONNX Runtime when its library can be found (the project's .venv), else `None` with a note.
fn ort() -> Option<OrtBackend> {
    let b = OrtBackend::new(BackendOptions::default().with_threads(Some(2)));
    match b.check() {
        Ok(()) => Some(b),
        Err(e) => {
            eprintln!("ONNX Runtime unavailable, its part is skipped: {e}");
            None
        }
    }
}

struct Run {
    report: BnReport,
    /// Per BN layer in graph order: running mean and variance written to the patched model.
    stats: Vec<(Vec<f32>, Vec<f32>)>,
    progress: Vec<BnProgress>,
}

fn run(backend: &dyn Backend, onnx: &Path, card: &ModelCard, batches: &[Tensor]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("patched.onnx");
    let total = batches.iter().map(|b| b.shape()[0]).sum();
    let mut progress = Vec::new();
    let report = reestimate_batch_norm_stream(
        backend,
        onnx,
        card,
        &mut batches.iter().map(|b| Ok(b.clone())),
        Some(total),
        &out,
        &mut |p| {
            progress.push(p);
            ControlFlow::Continue(())
        },
    )
    .unwrap();
    Run {
        report,
        stats: statistics(&out),
        progress,
    }
}

/// Re-estimates `onnx` on `batches` with tract into `out`.
fn patch(onnx: &Path, card: &ModelCard, batches: &[Tensor], out: &Path) {
    reestimate_batch_norm_stream(
        &tract(1),
        onnx,
        card,
        &mut batches.iter().map(|b| Ok(b.clone())),
        None,
        out,
        &mut |_| ControlFlow::Continue(()),
    )
    .unwrap();
}

/// What `onnx` computes on `x`, with tract.
fn outputs(onnx: &Path, card: &ModelCard, x: &Tensor) -> Tensor {
    tract(1)
        .load(onnx, card)
        .unwrap()
        .run_one(x.view())
        .unwrap()
}

fn statistics(onnx: &Path) -> Vec<(Vec<f32>, Vec<f32>)> {
    let proto = inspect::read_proto(onnx).unwrap();
    edit::batch_norms(&proto)
        .iter()
        .map(|bn: &BatchNorm| {
            (
                edit::initializer_f32(&proto, &bn.mean).unwrap(),
                edit::initializer_f32(&proto, &bn.var).unwrap(),
            )
        })
        .collect()
}

/// Largest difference over every layer and channel, in the units the checks use: mean in
/// standard deviations, variance relative.
fn worst(a: &[(Vec<f32>, Vec<f32>)], b: &[(Vec<f32>, Vec<f32>)]) -> (f64, f64) {
    assert_eq!(a.len(), b.len());
    let (mut dm, mut dv) = (0.0f64, 0.0f64);
    for ((m1, v1), (m2, v2)) in a.iter().zip(b) {
        for c in 0..m1.len() {
            let v = f64::from(v2[c]).max(1e-12);
            dm = dm.max(f64::from(m1[c] - m2[c]).abs() / v.sqrt());
            dv = dv.max((f64::from(v1[c]) - v).abs() / v);
        }
    }
    (dm, dv)
}

#[test]
fn backends_agree_and_the_pool_size_changes_nothing() {
    let card = card_for(&encoder(), None).unwrap();
    let batches: Vec<Tensor> = (0..3).map(|b| batch(&card, 8 * b, 8)).collect();
    let one = run(&tract(1), &encoder(), &card, &batches);
    let two = run(&tract(2), &encoder(), &card, &batches);
    assert_eq!(one.stats, two.stats, "the pool size changed the statistics");
    assert_eq!((one.report.passes, one.report.frames), (1, 24));
    assert_eq!(one.report.layers.len(), 7);
    let done: Vec<usize> = one.progress.iter().map(|p| p.frames_done).collect();
    assert_eq!(done, [0, 8, 16, 24]);
    assert!(one.progress.iter().all(|p| p.frames_total == Some(24)));
    // The frames are far from Fashion-MNIST: the statistics must have moved.
    assert!(one.report.layers.iter().any(|l| l.mean_shift > 0.1));
    if let Some(ort) = ort() {
        let o = run(&ort, &encoder(), &card, &batches);
        let (dm, dv) = worst(&o.stats, &one.stats);
        eprintln!("ort vs tract: mean {dm:.1e} sd, var {dv:.1e} relative");
        assert!(
            dm < 1e-4 && dv < 1e-4,
            "ort vs tract: {dm:.1e} sd, {dv:.1e}"
        );
    }
}

#[test]
fn unequal_batches_weigh_by_frames() {
    let card = card_for(&encoder(), None).unwrap();
    let (a, b) = (batch(&card, 0, 8), batch(&card, 8, 4));
    let both = run(&tract(1), &encoder(), &card, &[a.clone(), b.clone()]);
    let only_a = run(&tract(1), &encoder(), &card, &[a]);
    let only_b = run(&tract(1), &encoder(), &card, &[b]);
    let weighted: Vec<(Vec<f32>, Vec<f32>)> = only_a
        .stats
        .iter()
        .zip(&only_b.stats)
        .map(|((ma, va), (mb, vb))| {
            let avg = |x: &[f32], y: &[f32]| -> Vec<f32> {
                x.iter()
                    .zip(y)
                    .map(|(x, y)| ((8.0 * f64::from(*x) + 4.0 * f64::from(*y)) / 12.0) as f32)
                    .collect()
            };
            (avg(ma, mb), avg(va, vb))
        })
        .collect();
    let (dm, dv) = worst(&both.stats, &weighted);
    assert!(dm < 1e-5 && dv < 1e-5, "{dm:.1e} sd, {dv:.1e}");
    // And not the equal-weight average PyTorch would take: the rule is visible on these frames.
    let equal: Vec<(Vec<f32>, Vec<f32>)> = only_a
        .stats
        .iter()
        .zip(&only_b.stats)
        .map(|((ma, va), (mb, vb))| {
            let avg = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(x, y)| (x + y) / 2.0).collect();
            (avg(ma, mb), avg(va, vb))
        })
        .collect();
    let (em, ev) = worst(&both.stats, &equal);
    assert!(
        em > 1e-3 || ev > 1e-3,
        "the test frames cannot tell the weightings apart"
    );
}

/// A copy of the bundled encoder edited by `edit`.
fn edited(dir: &Path, edit: impl FnOnce(&mut tract_onnx::pb::ModelProto)) -> PathBuf {
    let mut proto = inspect::read_proto(&encoder()).unwrap();
    edit(&mut proto);
    let path = dir.join("edited.onnx");
    edit::save(&proto, &path).unwrap();
    path
}

#[test]
fn opset_18_gives_what_opset_17_gives() {
    let card = card_for(&encoder(), None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The bundled encoder's ops (Conv, BatchNormalization, Relu, GlobalAveragePool, Flatten)
    // mean the same at 18; only the probe's ReduceMean changes form.
    let at_18 = edited(dir.path(), |p| {
        for o in &mut p.opset_import {
            if o.domain.is_empty() {
                assert_eq!(o.version, 17, "the bundled encoder changed opset");
                o.version = 18;
            }
        }
    });
    let batches: Vec<Tensor> = (0..2).map(|b| batch(&card, 8 * b, 8)).collect();
    let reference = run(&tract(1), &encoder(), &card, &batches);
    let mut backends: Vec<Box<dyn Backend>> = vec![Box::new(tract(1))];
    backends.extend(ort().map(|o| Box::new(o) as Box<dyn Backend>));
    for backend in backends {
        let r = run(backend.as_ref(), &at_18, &card, &batches);
        let (dm, dv) = worst(&r.stats, &reference.stats);
        assert!(
            dm < 1e-4 && dv < 1e-4,
            "{}: {dm:.1e} sd, {dv:.1e}",
            backend.name()
        );
    }
}

/// Both engines run the probe in two forms: ONNX's training-mode BatchNormalization (opset 14
/// on; tract through `tract/train_batch_norm.rs`) and the decomposed arithmetic (older models).
/// Opset 13 forces the second on the same graph; the statistics must agree, and the patched
/// encoders compute the same embeddings.
/// Paddle2ONNX writes every weight as a `Constant` node; the BN layers of such a model are
/// found and re-estimated exactly as when its weights are initializers, and the patched model
/// computes what the initializer model's patched copy computes.
#[test]
fn weights_in_constant_nodes_are_re_estimated_like_initializers() {
    use tract_onnx::pb;
    let card = card_for(&encoder(), None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let as_constants = edited(dir.path(), |p| {
        let g = p.graph.as_mut().unwrap();
        let constants = std::mem::take(&mut g.initializer)
            .into_iter()
            .map(|t| pb::NodeProto {
                op_type: "Constant".into(),
                name: format!("const_{}", t.name),
                output: vec![t.name.clone()],
                attribute: vec![pb::AttributeProto {
                    name: "value".into(),
                    r#type: pb::attribute_proto::AttributeType::Tensor as i32,
                    t: Some(t),
                    ..Default::default()
                }],
                ..Default::default()
            });
        g.node.splice(0..0, constants);
    });
    let proto = inspect::read_proto(&as_constants).unwrap();
    assert!(proto.graph.as_ref().unwrap().initializer.is_empty());
    assert!(
        edit::batch_norms(&proto).is_empty(),
        "not Paddle-like: BNs found as initializers"
    );
    let batches: Vec<Tensor> = (0..2).map(|b| batch(&card, 8 * b, 8)).collect();
    let mut backends: Vec<Box<dyn Backend>> = vec![Box::new(tract(1))];
    backends.extend(ort().map(|o| Box::new(o) as Box<dyn Backend>));
    for backend in backends {
        let reference = run(backend.as_ref(), &encoder(), &card, &batches);
        let r = run(backend.as_ref(), &as_constants, &card, &batches);
        assert_eq!(r.report.layers.len(), reference.report.layers.len());
        assert!(!r.stats.is_empty());
        assert_eq!(r.stats, reference.stats, "{}", backend.name());
    }
    // The patched model computes what the patched initializer model computes.
    let (a, b) = (dir.path().join("a.onnx"), dir.path().join("b.onnx"));
    patch(&encoder(), &card, &batches, &a);
    patch(&as_constants, &card, &batches, &b);
    let x = batch(&card, 100, 3);
    let y = |onnx: &Path| outputs(onnx, &card, &x);
    assert_eq!(y(&a), y(&b));
}

#[test]
fn the_training_node_gives_what_the_decomposed_probe_gives() {
    let card = card_for(&encoder(), None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Conv, BatchNormalization, Relu, GlobalAveragePool and Flatten mean the same at 13.
    let at_13 = edited(dir.path(), |p| {
        for o in &mut p.opset_import {
            if o.domain.is_empty() {
                o.version = 13;
            }
        }
    });
    let batches: Vec<Tensor> = (0..3).map(|b| batch(&card, 8 * b, 8)).collect();
    let mut backends: Vec<Box<dyn Backend>> = vec![Box::new(tract(1))];
    backends.extend(ort().map(|o| Box::new(o) as Box<dyn Backend>));
    for backend in backends {
        assert!(backend.runs_training_batch_norm(), "{}", backend.name());
        let training_node = run(backend.as_ref(), &encoder(), &card, &batches);
        let decomposed = run(backend.as_ref(), &at_13, &card, &batches);
        let (dm, dv) = worst(&training_node.stats, &decomposed.stats);
        assert!(
            dm < 1e-4 && dv < 1e-4,
            "{}: {dm:.1e} sd, {dv:.1e}",
            backend.name()
        );
        // And the forms differ in fact: the patched statistics are not bit-identical by
        // accident of both runs taking the same path (the decomposed probe's two-pass
        // variance rounds differently from the training node's).
        assert_ne!(training_node.stats, decomposed.stats, "{}", backend.name());
    }
}

#[test]
fn a_fixed_batch_model_gets_batches_of_its_size() {
    use tract_onnx::pb::tensor_shape_proto::dimension::Value;
    let card = card_for(&encoder(), None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fixed = edited(dir.path(), |p| {
        let input = &mut p.graph.as_mut().unwrap().input[0];
        let Some(tract_onnx::pb::type_proto::Value::TensorType(t)) =
            input.r#type.as_mut().unwrap().value.as_mut()
        else {
            panic!("the input is not a tensor")
        };
        t.shape.as_mut().unwrap().dim[0].value = Some(Value::DimValue(4));
    });
    let eights: Vec<Tensor> = (0..2).map(|b| batch(&card, 8 * b, 8)).collect();
    let fours: Vec<Tensor> = (0..4).map(|b| batch(&card, 4 * b, 4)).collect();
    let reference = run(&tract(1), &encoder(), &card, &fours);
    let mut backends: Vec<Box<dyn Backend>> = vec![Box::new(tract(1))];
    backends.extend(ort().map(|o| Box::new(o) as Box<dyn Backend>));
    for backend in backends {
        let r = run(backend.as_ref(), &fixed, &card, &eights);
        let (dm, dv) = worst(&r.stats, &reference.stats);
        assert!(
            dm < 1e-4 && dv < 1e-4,
            "{}: {dm:.1e} sd, {dv:.1e}",
            backend.name()
        );
        assert_eq!(r.report.frames, 16);
    }
    // 6 frames cannot be cut into batches of 4.
    let out = dir.path().join("never.onnx");
    let err = reestimate_batch_norm_stream(
        &tract(1),
        &fixed,
        &card,
        &mut std::iter::once(Ok(batch(&card, 0, 6))),
        None,
        &out,
        &mut |_| ControlFlow::Continue(()),
    );
    assert!(matches!(err, Err(RuntimeError::Input(_))), "{err:?}");
    assert!(!out.exists());
}

#[test]
fn cancelling_or_a_failing_batch_writes_nothing() {
    let card = card_for(&encoder(), None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("patched.onnx");
    let batches: Vec<Tensor> = (0..4).map(|b| batch(&card, 8 * b, 8)).collect();
    let mut calls = 0;
    let cancelled = reestimate_batch_norm_stream(
        &tract(1),
        &encoder(),
        &card,
        &mut batches.iter().map(|b| Ok(b.clone())),
        Some(32),
        &out,
        &mut |p| {
            calls += 1;
            if p.frames_done >= 8 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        },
    );
    assert!(
        matches!(cancelled, Err(RuntimeError::Cancelled)),
        "{cancelled:?}"
    );
    assert_eq!(calls, 2, "progress after the cancel");
    assert!(!out.exists());

    let failing = reestimate_batch_norm_stream(
        &tract(1),
        &encoder(),
        &card,
        &mut [
            Ok(batches[0].clone()),
            Err(RuntimeError::Input("bad frame".into())),
        ]
        .into_iter(),
        None,
        &out,
        &mut |_| ControlFlow::Continue(()),
    );
    assert!(
        matches!(&failing, Err(RuntimeError::Input(m)) if m == "bad frame"),
        "{failing:?}"
    );
    assert!(!out.exists());
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "the probe was left behind"
    );
}

/// The bundled encoder with every initializer's bytes moved to `dir/location` (offsets and
/// lengths as exporters write them), or, for a `location` outside `dir`, only pointing there.
fn external_copy(dir: &Path, location: &str) -> PathBuf {
    use tract_onnx::pb::{StringStringEntryProto, tensor_proto::DataLocation};
    let mut data = Vec::new();
    let path = edited(dir, |p| {
        for t in &mut p.graph.as_mut().unwrap().initializer {
            let bytes = std::mem::take(&mut t.raw_data);
            let entry = |key: &str, value: String| StringStringEntryProto {
                key: key.into(),
                value,
            };
            t.external_data = vec![
                entry("location", location.into()),
                entry("offset", data.len().to_string()),
                entry("length", bytes.len().to_string()),
            ];
            t.data_location = Some(DataLocation::External as i32);
            data.extend_from_slice(&bytes);
        }
    });
    if !location.contains("..") {
        std::fs::write(dir.join(location), data).unwrap();
    }
    path
}

/// torch's exporter writes weights beside the model (`model.onnx.data`) by default: they are
/// read in, the statistics are the inline model's, and the patched model holds its weights
/// (it runs with the data file gone).
#[test]
fn weights_in_external_data_are_read_in() {
    let card = card_for(&encoder(), None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let external = external_copy(dir.path(), "weights.bin");
    let batches: Vec<Tensor> = (0..2).map(|b| batch(&card, 8 * b, 8)).collect();
    let reference = run(&tract(1), &encoder(), &card, &batches);
    let out = dir.path().join("patched.onnx");
    patch(&external, &card, &batches, &out);
    std::fs::remove_file(dir.path().join("weights.bin")).unwrap();
    assert_eq!(statistics(&out), reference.stats);
    let x = batch(&card, 100, 3);
    let patched_inline = dir.path().join("inline.onnx");
    patch(&encoder(), &card, &batches, &patched_inline);
    let y = |onnx: &Path| outputs(onnx, &card, &x);
    assert_eq!(y(&out), y(&patched_inline));
}

#[test]
fn external_data_outside_the_model_directory_is_refused_before_anything_is_written() {
    let card = card_for(&encoder(), None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let inner = dir.path().join("model");
    std::fs::create_dir(&inner).unwrap();
    std::fs::write(dir.path().join("outside.bin"), vec![0u8; 1 << 20]).unwrap();
    let external = external_copy(&inner, "../outside.bin");
    let out = inner.join("patched.onnx");
    let err = reestimate_batch_norm_stream(
        &tract(1),
        &external,
        &card,
        &mut std::iter::once(Ok(batch(&card, 0, 8))),
        None,
        &out,
        &mut |_| ControlFlow::Continue(()),
    );
    let message = format!("{err:?}");
    assert!(
        matches!(err, Err(RuntimeError::Model { .. })) && message.contains("outside"),
        "{message}"
    );
    assert!(!out.exists());
}

#[test]
fn a_model_without_batch_norm_is_copied_without_pulling_a_batch() {
    let card = card_for(&encoder(), None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Rename every BatchNormalization so none is found (the copy need not run).
    let no_bn = edited(dir.path(), |p| {
        for n in &mut p.graph.as_mut().unwrap().node {
            if n.op_type == "BatchNormalization" {
                n.op_type = "NotABatchNorm".into();
            }
        }
    });
    let out = dir.path().join("copy.onnx");
    let mut pulled = 0;
    let report = reestimate_batch_norm_stream(
        &tract(1),
        &no_bn,
        &card,
        &mut std::iter::from_fn(|| {
            pulled += 1;
            None
        }),
        None,
        &out,
        &mut |_| ControlFlow::Continue(()),
    )
    .unwrap();
    assert_eq!(pulled, 0);
    assert_eq!(
        (report.passes, report.frames, report.layers.len()),
        (0, 0, 0)
    );
    assert_eq!(
        inspect::read_proto(&out).unwrap(),
        inspect::read_proto(&no_bn).unwrap()
    );
}
