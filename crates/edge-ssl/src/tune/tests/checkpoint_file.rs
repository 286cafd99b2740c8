//! A checkpoint is input: tensors that do not fit the trainer it restores are refused with
//! an error, never handed to an optimizer that would fail on them mid-step.

use std::ops::ControlFlow;

use edge_ssl_train::TensorStore;
use ndarray::{ArrayD, IxDyn};

use super::fixtures::{bundled, random};
use crate::tune::checkpoint::KIND;
use crate::tune::{EncoderTrainer, PairedViews, Train, TuneConfig, import};

#[test]
fn tampered_checkpoints_are_refused() {
    let views = PairedViews::new(random(&[8, 1, 28, 28], 1), random(&[8, 1, 28, 28], 2)).unwrap();
    let graph = || import(&bundled(), Train::Tail(7)).unwrap().into_graph();
    let config = TuneConfig::default()
        .with_epochs(2)
        .with_batch_size(4)
        .with_projector(16, 8);
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("tune.ckpt");
    let mut t = EncoderTrainer::new(graph(), config, &views)
        .unwrap()
        .with_checkpoint(&ckpt, 1);
    t.fit(&views, |p| {
        if p.step == 2 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .unwrap();
    EncoderTrainer::load_checkpoint(&ckpt, graph(), &views, None).unwrap();

    let good = TensorStore::read(&ckpt, KIND).unwrap();
    let moment = "optimizer/adamw.m.features.6.0.weight".to_string();
    assert!(good.tensors.contains_key(&moment));
    type Tamper<'a> = Box<dyn Fn(&mut TensorStore) + 'a>;
    let tampered: [(&str, Tamper<'_>); 5] = [
        (
            "moment shape",
            Box::new(|s| {
                s.tensors
                    .insert(moment.clone(), ArrayD::zeros(IxDyn(&[3, 3])));
            }),
        ),
        (
            "unknown moment",
            Box::new(|s| {
                s.tensors.insert(
                    "optimizer/adamw.m.nothing".into(),
                    ArrayD::zeros(IxDyn(&[1, 1])),
                );
            }),
        ),
        (
            "missing weight",
            Box::new(|s| {
                s.tensors.remove("graph/features.6.0.weight");
            }),
        ),
        (
            "huge projector",
            Box::new(|s| {
                let c = s.metadata["config"]
                    .replace("\"projector_hidden\":16", "\"projector_hidden\":4000000000");
                s.metadata.insert("config".into(), c);
            }),
        ),
        (
            "other frame count",
            Box::new(|s| {
                s.metadata.insert("frames".into(), "9".into());
            }),
        ),
    ];
    for (what, tamper) in tampered {
        let mut s = good.clone();
        tamper(&mut s);
        let path = dir.path().join("tampered.ckpt");
        s.write(&path, KIND).unwrap();
        let e = EncoderTrainer::load_checkpoint(&path, graph(), &views, None).err();
        assert!(e.is_some(), "{what}: loaded");
    }
}
