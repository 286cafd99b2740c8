use std::collections::BTreeMap;
use std::path::Path;

use ndarray::{Array1, Array2};

use super::calibration::{Calibration, ScoreSummary};
use super::knn::KnnScorer;
use super::model::{NoveltyModel, Scorer};
use super::network::{Network, PARAM_PREFIX};
use super::standardizer::Standardizer;
use super::{MAX_WIDTH, NoveltyInput, NoveltyKind};
use crate::nn::Linear;
use crate::tensor_file::TensorFile;
use crate::trainer::FitSummary;
use crate::{Result, TrainError};

const FILE_KIND: &str = "edge-ssl novelty";
/// Checked before the file is read into memory: a k-NN model of 100,000 frames × 1,024-d is
/// 400 MB, so anything larger is not a novelty model.
const MAX_FILE_BYTES: u64 = 1 << 30;
const LAYERS: [&str; 4] = ["enc", "head", "dec", "out"];

/// File layout (`novelty.safetensors`, all F32): metadata `format = "edge-ssl novelty"`,
/// `kind` (`ae`, `vae`, `knn`), `input` (`embedding`, `features`; absent means embedding), `dim`, `quantile`, `threshold`, `held_out`, `trained_on`,
/// `steps_done`, `total_steps`, and `hidden`, `latent`, `beta` (AE/VAE) or `k` (k-NN);
/// tensors `calibration.held_out_scores` and `calibration.train_scores` (`1×5`: min, median,
/// mean, p99, max), then either `standardize.mean`, `standardize.inv_std` (`1×D`) and
/// `novelty.{enc,head,dec,out}.{weight,bias}` (weights `out × in`), or `knn.points` (`N×D`,
/// unit rows).
impl NoveltyModel {
    pub fn save(&self, path: &Path) -> Result<()> {
        self.save_with_metadata(path, &BTreeMap::new())
    }

    /// Writes the model atomically; `extra` (encoder sha, adapter sha…) is kept in the
    /// metadata for provenance.
    pub fn save_with_metadata(&self, path: &Path, extra: &BTreeMap<String, String>) -> Result<()> {
        let mut f = TensorFile::new(FILE_KIND);
        for (k, v) in extra {
            f.set(k, v);
        }
        let c = &self.calibration;
        f.set("kind", self.kind);
        f.set("input", self.input);
        f.set("dim", self.dim());
        f.set("quantile", c.quantile);
        f.set("threshold", c.threshold);
        f.set("held_out", c.held_out);
        f.set("trained_on", c.trained_on);
        f.set("steps_done", self.training.steps_done);
        f.set("total_steps", self.training.total_steps);
        f.insert2(
            "calibration.held_out_scores",
            &row(&c.held_out_scores.to_array()),
        );
        f.insert2("calibration.train_scores", &row(&c.train_scores.to_array()));
        match &self.scorer {
            Scorer::Reconstruction {
                standardizer,
                network,
            } => {
                f.set("hidden", network.hidden());
                f.set("latent", network.latent);
                f.set("beta", network.beta);
                f.insert2(
                    "standardize.mean",
                    &row(standardizer.mean.as_slice().expect("1-D")),
                );
                f.insert2(
                    "standardize.inv_std",
                    &row(standardizer.inv_std.as_slice().expect("1-D")),
                );
                for p in network.params() {
                    f.insert2(p.name.clone(), &p.value);
                }
            }
            Scorer::Knn(knn) => {
                f.set("k", knn.k);
                f.insert2("knn.points", &knn.points);
            }
        }
        f.write(path)
    }

    pub fn load(path: &Path) -> Result<Self> {
        Self::load_with_metadata(path).map(|(m, _)| m)
    }

    /// Returns the model and the metadata the caller added at save time (plus the model's own
    /// entries). Refuses files that are too large, inconsistent in shape, or hold a non-finite
    /// weight, constant or threshold.
    pub fn load_with_metadata(path: &Path) -> Result<(Self, BTreeMap<String, String>)> {
        let size = std::fs::metadata(path)
            .map_err(|source| TrainError::Io {
                path: path.to_path_buf(),
                source,
            })?
            .len();
        if size > MAX_FILE_BYTES {
            return Err(TrainError::Corrupt {
                path: path.to_path_buf(),
                kind: FILE_KIND,
                reason: format!("{size} bytes, more than a novelty model's {MAX_FILE_BYTES}"),
            });
        }
        let mut f = TensorFile::read(path, FILE_KIND)?;
        if f.tensors.values().flatten().any(|v| !v.is_finite()) {
            return Err(f.corrupt("non-finite values"));
        }
        let kind: NoveltyKind = f.get("kind")?.parse().map_err(|e| f.corrupt(e))?;
        // Files written before feature inputs existed scored embeddings.
        let input: NoveltyInput = match f.metadata.get("input") {
            Some(v) => v.parse().map_err(|e| f.corrupt(e))?,
            None => NoveltyInput::Embedding,
        };
        let dim: usize = bounded(&f, "dim", 1)?;
        let calibration = Calibration {
            quantile: f.parse("quantile")?,
            threshold: f.parse("threshold")?,
            held_out: f.parse("held_out")?,
            trained_on: f.parse("trained_on")?,
            held_out_scores: summary(&mut f, "calibration.held_out_scores")?,
            train_scores: summary(&mut f, "calibration.train_scores")?,
        };
        let (q, t) = (calibration.quantile, calibration.threshold);
        if !(t.is_finite() && q > 0.0 && q < 1.0) {
            return Err(f.corrupt(format!(
                "threshold {} at quantile {}",
                calibration.threshold, calibration.quantile
            )));
        }
        let (steps_done, total_steps): (u64, u64) =
            (f.parse("steps_done")?, f.parse("total_steps")?);
        let training = FitSummary {
            steps_done,
            total_steps,
            finished: steps_done >= total_steps,
        };
        let scorer = match kind {
            NoveltyKind::Knn => {
                let points = f.take2("knn.points", None)?;
                let k: usize = f.parse("k")?;
                if points.ncols() != dim || k == 0 || k > points.nrows() {
                    return Err(f.corrupt(format!(
                        "k = {k} over knn.points of shape {:?} for width {dim}",
                        points.dim()
                    )));
                }
                Scorer::Knn(KnnScorer { points, k })
            }
            NoveltyKind::Autoencoder | NoveltyKind::Vae => {
                let variational = kind == NoveltyKind::Vae;
                let (hidden, latent) = (bounded(&f, "hidden", 1)?, bounded(&f, "latent", 1)?);
                let beta: f32 = f.parse("beta")?;
                if !beta.is_finite() {
                    return Err(f.corrupt(format!("beta {beta}")));
                }
                let heads = if variational { 2 * latent } else { latent };
                let shapes = [
                    (hidden, dim),
                    (heads, hidden),
                    (hidden, latent),
                    (dim, hidden),
                ];
                let mut layers = Vec::with_capacity(4);
                for (name, (out, inp)) in LAYERS.into_iter().zip(shapes) {
                    let prefix = format!("{PARAM_PREFIX}.{name}");
                    let w = f.take2(&format!("{prefix}.weight"), Some((out, inp)))?;
                    let b = f.take2(&format!("{prefix}.bias"), Some((1, out)))?;
                    layers.push(Linear::from_parts(&prefix, w, b));
                }
                let layers: [Linear; 4] = layers.try_into().expect("four layers");
                let standardizer = Standardizer {
                    mean: vector(&mut f, "standardize.mean", dim)?,
                    inv_std: vector(&mut f, "standardize.inv_std", dim)?,
                };
                Scorer::Reconstruction {
                    standardizer,
                    network: Box::new(Network::from_layers(layers, variational, beta)),
                }
            }
        };
        let model = NoveltyModel {
            kind,
            input,
            scorer,
            calibration,
            training,
        };
        Ok((model, f.metadata))
    }
}

fn row(values: &[f32]) -> Array2<f32> {
    Array2::from_shape_vec((1, values.len()), values.to_vec()).expect("one row")
}

/// A width from the metadata, checked against [`MAX_WIDTH`] before anything is sized by it.
fn bounded(f: &TensorFile, key: &str, min: usize) -> Result<usize> {
    let v: usize = f.parse(key)?;
    if v < min || v > MAX_WIDTH {
        return Err(f.corrupt(format!("{key} = {v} is outside {min}..={MAX_WIDTH}")));
    }
    Ok(v)
}

fn vector(f: &mut TensorFile, name: &str, dim: usize) -> Result<Array1<f32>> {
    f.take2(name, Some((1, dim)))?
        .into_shape_with_order(dim)
        .map_err(|e| f.corrupt(e))
}

fn summary(f: &mut TensorFile, name: &str) -> Result<ScoreSummary> {
    let a = f.take2(name, Some((1, ScoreSummary::LEN)))?;
    let mut out = [0.0; ScoreSummary::LEN];
    out.iter_mut().zip(&a).for_each(|(o, &v)| *o = v);
    Ok(ScoreSummary::from_array(out))
}

#[cfg(test)]
mod tests {
    use std::ops::ControlFlow;

    use super::*;
    use crate::gradcheck::random_matrix;
    use crate::novelty::NoveltyConfig;

    /// Saves a small model, lets `edit` change the file's content, rewrites it with a valid
    /// CRC (so only the loader's own checks stand between the edit and a loaded model) and
    /// returns what loading says.
    fn load_edited(kind: NoveltyKind, edit: impl FnOnce(&mut TensorFile)) -> Result<NoveltyModel> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.safetensors");
        let cfg = NoveltyConfig::default()
            .with_kind(kind)
            .with_shape(6, 2)
            .with_epochs(1);
        NoveltyModel::fit(random_matrix(40, 5, 1).view(), &cfg, |_| {
            ControlFlow::Continue(())
        })
        .unwrap()
        .save(&path)
        .unwrap();
        let mut f = TensorFile::read(&path, FILE_KIND).unwrap();
        edit(&mut f);
        let mut out = TensorFile::new(FILE_KIND);
        out.tensors = f.tensors;
        out.metadata = f.metadata;
        out.write(&path).unwrap();
        NoveltyModel::load(&path)
    }

    fn reason(r: Result<NoveltyModel>) -> String {
        match r {
            Err(TrainError::Corrupt { reason, .. }) => reason,
            other => panic!("expected a corrupt-file error, got {other:?}"),
        }
    }

    #[test]
    fn an_unedited_file_loads() {
        for kind in NoveltyKind::ALL {
            load_edited(kind, |_| {}).unwrap();
        }
    }

    #[test]
    fn non_finite_values_are_refused() {
        let nan_weight = reason(load_edited(NoveltyKind::Vae, |f| {
            f.tensors.get_mut("novelty.dec.weight").unwrap()[[1, 1]] = f32::NAN;
        }));
        assert!(nan_weight.contains("non-finite"), "{nan_weight}");
        let inf_scale = reason(load_edited(NoveltyKind::Autoencoder, |f| {
            f.tensors.get_mut("standardize.inv_std").unwrap()[[0, 0]] = f32::INFINITY;
        }));
        assert!(inf_scale.contains("non-finite"), "{inf_scale}");
        let nan_point = reason(load_edited(NoveltyKind::Knn, |f| {
            f.tensors.get_mut("knn.points").unwrap()[[0, 0]] = f32::NAN;
        }));
        assert!(nan_point.contains("non-finite"), "{nan_point}");
        for bad in ["NaN", "inf"] {
            let r = reason(load_edited(NoveltyKind::Knn, |f| f.set("threshold", bad)));
            assert!(r.contains("threshold"), "{r}");
        }
        let r = reason(load_edited(NoveltyKind::Autoencoder, |f| {
            f.set("quantile", 1.5)
        }));
        assert!(r.contains("quantile"), "{r}");
    }

    #[test]
    fn widths_are_bounded_and_shapes_must_chain() {
        let r = reason(load_edited(NoveltyKind::Autoencoder, |f| {
            f.set("hidden", 1usize << 40)
        }));
        assert!(r.contains("hidden"), "{r}");
        let r = reason(load_edited(NoveltyKind::Vae, |f| f.set("latent", 3)));
        assert!(r.contains("shape"), "{r}");
        let r = reason(load_edited(NoveltyKind::Autoencoder, |f| f.set("dim", 0)));
        assert!(r.contains("dim"), "{r}");
        let r = reason(load_edited(NoveltyKind::Knn, |f| f.set("k", 1000)));
        assert!(r.contains("k = 1000"), "{r}");
        let r = reason(load_edited(NoveltyKind::Knn, |f| f.set("kind", "pca")));
        assert!(r.contains("pca"), "{r}");
    }

    /// The input travels with the file; a file without it (written before feature inputs)
    /// scored embeddings; an unknown one is refused.
    #[test]
    fn the_input_is_kept_and_defaults_to_embeddings() {
        let m = load_edited(NoveltyKind::Autoencoder, |f| f.set("input", "features")).unwrap();
        assert_eq!(m.input(), NoveltyInput::Features);
        let m = load_edited(NoveltyKind::Knn, |f| {
            f.metadata.remove("input");
        })
        .unwrap();
        assert_eq!(m.input(), NoveltyInput::Embedding);
        let r = reason(load_edited(NoveltyKind::Vae, |f| f.set("input", "pixels")));
        assert!(r.contains("pixels"), "{r}");
    }
}
