//! Encoder-trainer checkpoints: one checked tensor file holding the graph's initializers
//! (weights and BatchNormalization running statistics), the projector, the softmax head when
//! training with labels, the optimizer's
//! moments and the loss curve, with the settings and step counter as metadata. There is no
//! generator state: every random draw is a function of (seed, step).

use std::collections::BTreeMap;
use std::path::Path;

use edge_ssl_train::graph::Graph;
use edge_ssl_train::nn::Module;
use edge_ssl_train::{TensorStore, TrainError};
use ndarray::{Array1, ArrayD, Ix1, Ix2};

use super::{EncoderTrainer, LabeledViews, PairedViews, Result, TuneConfig, TuneError};

pub(super) const KIND: &str = "edge-ssl encoder-training checkpoint";
const VERSION: u32 = 1;
/// The optimizers' moment slots ([`edge_ssl_train::optim`]): keys are `<slot>.<param>`.
const SLOTS: [&str; 3] = ["adamw.m", "adamw.v", "sgd.momentum"];

fn corrupt(path: &Path, reason: impl ToString) -> TuneError {
    TuneError::Train(TrainError::Corrupt {
        path: path.to_owned(),
        kind: KIND,
        reason: reason.to_string(),
    })
}

fn take(store: &mut TensorStore, path: &Path, name: &str) -> Result<ArrayD<f32>> {
    store
        .tensors
        .remove(name)
        .ok_or_else(|| corrupt(path, format!("missing tensor {name}")))
}

impl EncoderTrainer {
    /// Writes everything a resumed run needs, atomically.
    pub fn save_checkpoint(&self, path: &Path) -> Result<()> {
        let mut s = TensorStore::default();
        s.metadata.insert("version".into(), VERSION.to_string());
        let config = serde_json::to_string(&self.config).expect("settings serialize");
        s.metadata.insert("config".into(), config);
        s.metadata.insert("step".into(), self.step.to_string());
        s.metadata.insert("frames".into(), self.frames.to_string());
        for (name, value) in self.graph.initializers() {
            s.tensors.insert(format!("graph/{name}"), value);
        }
        for p in self.projector.params() {
            s.tensors
                .insert(format!("projector/{}", p.name), p.value.clone().into_dyn());
        }
        if let Some(head) = self.head() {
            for p in head.params() {
                s.tensors
                    .insert(format!("head/{}", p.name), p.value.clone().into_dyn());
            }
        }
        for (name, m) in self.optimizer.state() {
            s.tensors
                .insert(format!("optimizer/{name}"), m.clone().into_dyn());
        }
        s.tensors.insert(
            "loss_curve".into(),
            Array1::from(self.losses.clone()).into_dyn(),
        );
        Ok(s.write(path, KIND)?)
    }

    /// Resumes from `path`: `graph` is the same import the run started from (its weights are
    /// replaced by the checkpoint's), `views` the same cache, `labeled` the same labeled views
    /// when the run trained with labels.
    pub fn load_checkpoint(
        path: &Path,
        graph: Graph,
        views: &PairedViews,
        labeled: Option<LabeledViews>,
    ) -> Result<EncoderTrainer> {
        let mut s = TensorStore::read(path, KIND)?;
        let meta = |key: &str| {
            s.metadata
                .get(key)
                .cloned()
                .ok_or_else(|| corrupt(path, format!("missing metadata entry {key:?}")))
        };
        if meta("version")? != VERSION.to_string() {
            return Err(corrupt(path, format!("not version {VERSION}")));
        }
        let config: TuneConfig =
            serde_json::from_str(&meta("config")?).map_err(|e| corrupt(path, e))?;
        let step: u64 = meta("step")?.parse().map_err(|e| corrupt(path, e))?;
        let frames: usize = meta("frames")?.parse().map_err(|e| corrupt(path, e))?;
        if frames != views.len() {
            return Err(corrupt(
                path,
                format!("made for {frames} frames, given {}", views.len()),
            ));
        }
        let mut t = EncoderTrainer::new(graph, config, views)?;
        if let Some(labeled) = labeled {
            t = t.with_labeled(labeled)?;
        }
        let mut weights = BTreeMap::new();
        for name in t.graph.initializers().into_keys() {
            weights.insert(name.clone(), take(&mut s, path, &format!("graph/{name}"))?);
        }
        t.graph
            .set_initializers(&weights)
            .map_err(|e| corrupt(path, e))?;
        let head = t.labeled.as_mut().map(|(head, _)| head.params_mut());
        let named = (t
            .projector
            .params_mut()
            .into_iter()
            .map(|p| ("projector", p)))
        .chain(head.into_iter().flatten().map(|p| ("head", p)));
        for (module, p) in named {
            let key = format!("{module}/{}", p.name);
            match take(&mut s, path, &key)?.into_dimensionality::<Ix2>() {
                Ok(v) if v.dim() == p.value.dim() => p.value = v,
                _ => return Err(corrupt(path, format!("{key} has the wrong shape"))),
            }
        }
        let curve = take(&mut s, path, "loss_curve")?
            .into_dimensionality::<Ix1>()
            .map_err(|_| corrupt(path, "loss_curve is not 1-D"))?;
        if curve.len() as u64 != step || step > t.total_steps() {
            return Err(corrupt(
                path,
                format!("{} losses for step {step}", curve.len()),
            ));
        }
        // A moment must belong to a parameter and have its shape: the optimizer would
        // otherwise fail on a shape mismatch inside its first step.
        let shapes: BTreeMap<String, (usize, usize)> = t
            .graph
            .params()
            .into_iter()
            .chain(t.projector.params())
            .chain(t.head().into_iter().flat_map(|h| h.params()))
            .flat_map(|p| SLOTS.map(|slot| (format!("{slot}.{}", p.name), p.value.dim())))
            .collect();
        let mut state = BTreeMap::new();
        for (name, m) in std::mem::take(&mut s.tensors) {
            let key = name.strip_prefix("optimizer/");
            let shape = key.and_then(|k| shapes.get(k));
            match (key, shape, m.into_dimensionality::<Ix2>()) {
                (Some(key), Some(&shape), Ok(m)) if m.dim() == shape => {
                    state.insert(key.to_string(), m);
                }
                _ => return Err(corrupt(path, format!("unexpected tensor {name}"))),
            }
        }
        t.optimizer.restore(state);
        t.step = step;
        t.losses = curve.to_vec();
        Ok(t)
    }
}
