use std::collections::BTreeMap;
use std::path::Path;

use ndarray::{Array2, ArrayView2};

use super::{Linear, Module, Norm, Param, Relu};
use crate::error::{ensure_dim, ensure_finite};
use crate::tensor_file::TensorFile;
use crate::{Result, Rng, TrainError};

const FILE_KIND: &str = "edge-ssl adapter";

/// The widest embedding an adapter trains on. Pooled embeddings are 128–4,096 values (ViT-L
/// 1,024, ResNet-50 2,048); a model whose output is a feature map or a sequence is far wider —
/// PaddleOCR's recognizer gives 523,880 values an image, whose adapter took a 1 GB file and
/// 20.8 GB of memory to train on 20 frames. Such an output is refused, saying what it is.
pub const MAX_ADAPTER_WIDTH: usize = 16_384;

/// Refuses embeddings wider than [`MAX_ADAPTER_WIDTH`] before anything their size is allocated.
pub fn check_adapter_width(dim: usize) -> Result<()> {
    if dim > MAX_ADAPTER_WIDTH {
        return Err(TrainError::EmbeddingTooWide {
            dim,
            max: MAX_ADAPTER_WIDTH,
        });
    }
    Ok(())
}

/// The deployable residual adapter `A(e) = e + W2·relu(W1·LayerNorm(e) + b1) + b2`.
///
/// `W2` and `b2` start at zero, so a fresh adapter is exactly the identity: the adapted model
/// starts as the frozen encoder and moves only as far as the self-supervised loss pushes it.
/// The residual form also means a badly trained adapter degrades gracefully towards the encoder
/// (weight decay pulls `W2` back to 0).
///
/// File layout (`adapter.safetensors`, all F32): `adapter.norm.weight`, `adapter.norm.bias`
/// (`1×D`), `adapter.fc1.weight` (`H×D`), `adapter.fc1.bias` (`1×H`), `adapter.fc2.weight`
/// (`D×H`), `adapter.fc2.bias` (`1×D`); metadata `format = "edge-ssl adapter"`, `dim`, `hidden`,
/// `eps` (finite and > 0), plus whatever provenance the caller adds. Loading refuses NaN or
/// infinite weights and sizes that disagree with the stored tensors. Linear weights are `out × in` (ONNX
/// `Gemm(transB=1)`), the norm is ONNX `LayerNormalization(axis=-1, epsilon=eps)`.
#[derive(Clone, Debug)]
pub struct Adapter {
    pub norm: Norm,
    pub fc1: Linear,
    relu: Relu,
    pub fc2: Linear,
}

impl Adapter {
    pub fn new(dim: usize, hidden: usize, rng: &mut Rng) -> Self {
        Adapter {
            norm: Norm::layer("adapter.norm", dim),
            fc1: Linear::new("adapter.fc1", dim, hidden, rng),
            relu: Relu::default(),
            fc2: Linear::zeros("adapter.fc2", hidden, dim),
        }
    }

    pub fn dim(&self) -> usize {
        self.fc1.inputs()
    }

    pub fn hidden(&self) -> usize {
        self.fc1.outputs()
    }

    /// Adapts a batch of embeddings, checking width and finiteness first.
    pub fn apply(&self, embeddings: ArrayView2<f32>) -> Result<Array2<f32>> {
        ensure_dim("adapter input width", self.dim(), embeddings.ncols())?;
        ensure_finite("embeddings", &embeddings)?;
        Ok(self.infer(embeddings))
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        self.save_with_metadata(path, &BTreeMap::new())
    }

    /// Writes `adapter.safetensors` atomically; `extra` (method, seed, encoder sha…) is stored in
    /// the safetensors metadata for provenance.
    pub fn save_with_metadata(&self, path: &Path, extra: &BTreeMap<String, String>) -> Result<()> {
        let mut f = TensorFile::new(FILE_KIND);
        for (k, v) in extra {
            f.set(k, v);
        }
        f.set("dim", self.dim());
        f.set("hidden", self.hidden());
        f.set("eps", self.norm.eps);
        for p in self.params() {
            f.insert2(p.name.clone(), &p.value);
        }
        f.write(path)
    }

    pub fn load(path: &Path) -> Result<Self> {
        Self::load_with_metadata(path).map(|(a, _)| a)
    }

    /// Returns the adapter and the file's metadata (without the format tag).
    pub fn load_with_metadata(path: &Path) -> Result<(Self, BTreeMap<String, String>)> {
        let mut f = TensorFile::read(path, FILE_KIND)?;
        let (d, h): (usize, usize) = (f.parse("dim")?, f.parse("hidden")?);
        if d == 0 || h == 0 {
            return Err(f.corrupt("zero dim or hidden"));
        }
        // The declared sizes must be those of the stored weights before anything is allocated
        // from them: the largest parameter is `H×D`, so this bounds the adapter by the file.
        f.expect_shape("adapter.fc1.weight", &[h, d])?;
        let eps = f.positive("eps")?;
        let mut a = Adapter::new(d, h, &mut Rng::new(0));
        a.norm.eps = eps;
        // Every tensor read is finite (the file reader refuses NaN and infinities).
        for p in a.params_mut() {
            p.value = f.take2(&p.name, Some(p.value.dim()))?;
        }
        Ok((a, f.metadata))
    }

    /// Copies another adapter's weights; errors if the shapes differ.
    pub fn load_weights_from(&mut self, other: &Adapter) -> Result<()> {
        if (self.dim(), self.hidden()) != (other.dim(), other.hidden()) {
            return Err(TrainError::DimMismatch {
                what: "adapter hidden width".into(),
                expected: self.hidden(),
                got: other.hidden(),
            });
        }
        for (p, q) in self.params_mut().into_iter().zip(other.params()) {
            p.value.assign(&q.value);
        }
        Ok(())
    }
}

impl Module for Adapter {
    fn forward(&mut self, x: ArrayView2<f32>) -> Array2<f32> {
        let h = self.norm.forward(x);
        let h = self.fc1.forward(h.view());
        let h = self.relu.forward(h.view());
        let mut y = self.fc2.forward(h.view());
        y += &x;
        y
    }

    fn backward(&mut self, g: ArrayView2<f32>) -> Array2<f32> {
        let gh = self.fc2.backward(g);
        let gh = self.relu.backward(gh.view());
        let gh = self.fc1.backward(gh.view());
        let mut gx = self.norm.backward(gh.view());
        gx += &g;
        gx
    }

    fn infer(&self, x: ArrayView2<f32>) -> Array2<f32> {
        let h = self.norm.infer(x);
        let h = self.relu.infer(self.fc1.infer(h.view()).view());
        let mut y = self.fc2.infer(h.view());
        y += &x;
        y
    }

    fn params(&self) -> Vec<&Param> {
        let mut v = self.norm.params();
        v.extend(self.fc1.params());
        v.extend(self.fc2.params());
        v
    }

    fn params_mut(&mut self) -> Vec<&mut Param> {
        let mut v = self.norm.params_mut();
        v.extend(self.fc1.params_mut());
        v.extend(self.fc2.params_mut());
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_module, random_matrix};

    #[test]
    fn starts_as_identity() {
        let a = Adapter::new(8, 16, &mut Rng::new(1));
        let x = random_matrix(5, 8, 2);
        assert_eq!(a.apply(x.view()).unwrap(), x);
    }

    #[test]
    fn backward_matches_finite_differences() {
        let mut a = Adapter::new(6, 10, &mut Rng::new(1));
        // Away from init, so the W2 = 0 start does not hide errors in the inner branch.
        a.fc2.weight.value = random_matrix(6, 10, 3);
        a.fc2.bias.value = random_matrix(1, 6, 4);
        check_module(&mut a, &random_matrix(4, 6, 5));
    }

    #[test]
    fn save_load_round_trip_and_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("adapter.safetensors");
        let mut a = Adapter::new(6, 10, &mut Rng::new(1));
        a.fc2.weight.value = random_matrix(6, 10, 3);
        let meta = BTreeMap::from([("method".to_string(), "vicreg".to_string())]);
        a.save_with_metadata(&path, &meta).unwrap();
        let (b, m) = Adapter::load_with_metadata(&path).unwrap();
        assert_eq!(m["method"], "vicreg");
        let x = random_matrix(3, 6, 7);
        assert_eq!(a.apply(x.view()).unwrap(), b.apply(x.view()).unwrap());

        assert!(matches!(
            a.apply(random_matrix(3, 5, 1).view()),
            Err(TrainError::DimMismatch { .. })
        ));
        let mut nan = x.clone();
        nan[[0, 0]] = f32::NAN;
        assert!(matches!(a.apply(nan.view()), Err(TrainError::NonFinite(_))));

        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        assert!(matches!(
            Adapter::load(&path),
            Err(TrainError::Corrupt { .. })
        ));
        assert!(matches!(
            Adapter::load(&dir.path().join("missing")),
            Err(TrainError::Io { .. })
        ));
    }

    /// Rewrites a saved adapter with `edit` applied to its file (metadata and tensors), the
    /// CRC recomputed so only the edited value is wrong, and tries to load it.
    fn load_edited(edit: impl FnOnce(&mut TensorFile)) -> Result<Adapter> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("adapter.safetensors");
        Adapter::new(6, 10, &mut Rng::new(1)).save(&path).unwrap();
        let mut f = TensorFile::read(&path, FILE_KIND).unwrap();
        edit(&mut f);
        f.write(&path).unwrap();
        Adapter::load(&path)
    }

    #[test]
    fn eps_must_be_finite_and_positive() {
        assert!(load_edited(|_| {}).is_ok());
        for eps in ["NaN", "-1e-5", "0", "inf", "-inf"] {
            let err = load_edited(|f| f.set("eps", eps)).unwrap_err();
            assert!(matches!(err, TrainError::Corrupt { .. }), "{eps}: {err}");
            assert!(err.to_string().contains("eps"), "{eps}: {err}");
        }
    }

    #[test]
    fn sizes_from_metadata_are_checked_before_allocating() {
        // The case: dim = u64::MAX with a valid CRC panicked ("Shape too large").
        for (key, value) in [
            ("dim", u64::MAX.to_string()),
            ("hidden", u64::MAX.to_string()),
            ("dim", (1u64 << 40).to_string()),
            ("hidden", "7".to_string()),
        ] {
            let err = load_edited(|f| f.set(key, &value)).unwrap_err();
            assert!(
                matches!(err, TrainError::Corrupt { .. }),
                "{key}={value}: {err}"
            );
            assert!(
                err.to_string().contains("metadata says"),
                "{key}={value}: {err}"
            );
        }
    }

    #[test]
    fn non_finite_weights_are_refused() {
        for bad in [f32::NAN, f32::INFINITY] {
            let err = load_edited(|f| {
                let mut w = f.take2("adapter.fc1.weight", None).unwrap();
                w[[2, 3]] = bad;
                f.insert2("adapter.fc1.weight", &w);
            })
            .unwrap_err();
            assert!(err.to_string().contains("non-finite"), "{err}");
        }
    }
}
