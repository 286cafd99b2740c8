//! Trainer checkpoints: one safetensors file holding everything a resumed run needs.
//!
//! Tensors: every parameter by name (`adapter.fc1.weight`, `projector.…`, `predictor.…`), the
//! momentum target under `target/`, optimizer moments under `optimizer/` (`adamw.m.<param>`…),
//! the MoCo queue as `moco/queue`, and the loss curve as a 1-D `loss_curve`. Metadata: the
//! `TrainConfig` as JSON, the view-cache shape, the step counter and the queue's write position.
//! There is no generator state to store: every random draw is a function of (seed, step).

use std::collections::BTreeMap;
use std::path::Path;

use ndarray::{Array1, Ix1};

use super::{AdapterTrainer, TrainConfig};
use crate::Result;
use crate::nn::{Module, Param};
use crate::tensor_file::TensorFile;

const KIND: &str = "edge-ssl trainer checkpoint";
const VERSION: u32 = 1;

pub(super) fn save(t: &AdapterTrainer, path: &Path) -> Result<()> {
    let mut f = TensorFile::new(KIND);
    f.set("version", VERSION);
    f.set(
        "config",
        serde_json::to_string(&t.config).expect("config serializes"),
    );
    f.set(
        "shape",
        serde_json::to_string(&t.shape).expect("shape serializes"),
    );
    f.set("step", t.step);
    for p in online_params(t) {
        f.insert2(p.name.clone(), &p.value);
    }
    if let Some(target) = &t.target {
        for p in target.params() {
            f.insert2(format!("target/{}", p.name), &p.value);
        }
    }
    for (name, m) in t.optimizer.state() {
        f.insert2(format!("optimizer/{name}"), m);
    }
    if let Some(q) = &t.queue {
        f.insert2("moco/queue", &q.keys);
        f.set("moco_next", q.next);
    }
    f.insert("loss_curve", Array1::from(t.losses.clone()).into_dyn());
    f.write(path)
}

pub(super) fn load(path: &Path) -> Result<AdapterTrainer> {
    let mut f = TensorFile::read(path, KIND)?;
    let version: u32 = f.parse("version")?;
    if version != VERSION {
        return Err(f.corrupt(format!(
            "checkpoint version {version}, this build reads {VERSION}"
        )));
    }
    let config: TrainConfig = f.json("config")?;
    let shape: (usize, usize, usize) = f.json("shape")?;
    let mut t = AdapterTrainer::build(config, shape).map_err(|e| f.corrupt(e))?;
    t.step = f.parse("step")?;

    let mut restore = |name: String, value: &mut ndarray::Array2<f32>| -> Result<()> {
        *value = f.take2(&name, Some(value.dim()))?;
        Ok(())
    };
    for p in t
        .adapter
        .params_mut()
        .into_iter()
        .chain(t.projector.params_mut())
    {
        restore(p.name.clone(), &mut p.value)?;
    }
    if let Some(pred) = t.predictor.as_mut() {
        for p in pred.params_mut() {
            restore(p.name.clone(), &mut p.value)?;
        }
    }
    if let Some(target) = t.target.as_mut() {
        for p in target.params_mut() {
            restore(format!("target/{}", p.name), &mut p.value)?;
        }
    }
    if let Some(q) = t.queue.as_mut() {
        restore("moco/queue".into(), &mut q.keys)?;
        q.next = f.parse("moco_next")?;
        if q.next >= q.keys.nrows() {
            return Err(f.corrupt("MoCo queue position out of range"));
        }
    }
    let names: Vec<String> = f
        .tensors
        .keys()
        .filter(|k| k.starts_with("optimizer/"))
        .cloned()
        .collect();
    let mut state = BTreeMap::new();
    for name in names {
        let m = f.take2(&name, None)?;
        state.insert(name["optimizer/".len()..].to_string(), m);
    }
    t.optimizer.restore(state);

    let curve = f
        .tensors
        .remove("loss_curve")
        .ok_or_else(|| f.corrupt("missing tensor loss_curve"))?;
    let curve = curve
        .into_dimensionality::<Ix1>()
        .map_err(|_| f.corrupt("loss_curve is not 1-D"))?;
    if curve.len() as u64 != t.step {
        return Err(f.corrupt(format!(
            "loss curve has {} entries for {} steps",
            curve.len(),
            t.step
        )));
    }
    t.losses = curve.to_vec();
    let all_finite = online_params(&t)
        .iter()
        .all(|p| p.value.iter().all(|v| v.is_finite()));
    if !all_finite {
        return Err(f.corrupt("non-finite weights"));
    }
    Ok(t)
}

fn online_params(t: &AdapterTrainer) -> Vec<&Param> {
    let mut v = t.adapter.params();
    v.extend(t.projector.params());
    if let Some(p) = &t.predictor {
        v.extend(p.params());
    }
    v
}
