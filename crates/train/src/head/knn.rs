use ndarray::{Array2, ArrayView2};

use crate::Result;
use crate::tensor_file::TensorFile;

/// Cosine k-nearest-neighbours with similarity-weighted votes (`exp(cos/τ)`, as in the kNN
/// evaluation of DINO), so a near-duplicate neighbour outweighs a distant one. Keeps every
/// labeled embedding — fine for the tens to hundreds of labels `head` sees.
#[derive(Clone, Debug, PartialEq)]
pub struct KnnHead {
    /// `M × D`, unit rows.
    pub points: Array2<f32>,
    pub labels: Vec<usize>,
    pub classes: usize,
    pub k: usize,
    pub temperature: f32,
}

impl KnnHead {
    pub(super) fn fit(unit: ArrayView2<f32>, labels: &[usize], classes: usize) -> Self {
        KnnHead {
            points: unit.to_owned(),
            labels: labels.to_vec(),
            classes,
            k: 10.min(unit.nrows()),
            temperature: 0.07,
        }
    }

    pub fn with_k(mut self, k: usize) -> Self {
        self.k = k.clamp(1, self.points.nrows());
        self
    }

    pub(super) fn probabilities(&self, unit: ArrayView2<f32>) -> Array2<f32> {
        let sims = unit.dot(&self.points.t());
        let mut out = Array2::zeros((unit.nrows(), self.classes));
        let mut order: Vec<usize> = (0..self.points.nrows()).collect();
        for (row, mut votes) in sims.rows().into_iter().zip(out.rows_mut()) {
            // Reset, then partial selection with ties broken by index: deterministic.
            order.iter_mut().enumerate().for_each(|(i, o)| *o = i);
            order.select_nth_unstable_by(self.k - 1, |&a, &b| {
                row[b].total_cmp(&row[a]).then(a.cmp(&b))
            });
            let max = order[..self.k]
                .iter()
                .map(|&j| row[j])
                .fold(f32::NEG_INFINITY, f32::max);
            for &j in &order[..self.k] {
                votes[self.labels[j]] += ((row[j] - max) / self.temperature).exp();
            }
            let total = votes.sum();
            votes /= total;
        }
        out
    }

    pub(super) fn write(&self, f: &mut TensorFile) {
        f.insert2("knn.points", &self.points);
        let labels = Array2::from_shape_fn((1, self.labels.len()), |(_, i)| self.labels[i] as f32);
        f.insert2("knn.labels", &labels);
        f.set("k", self.k);
        f.set("temperature", self.temperature);
    }

    pub(super) fn read(f: &mut TensorFile, classes: usize, dim: usize) -> Result<Self> {
        let points = f.take2("knn.points", None)?;
        if points.ncols() != dim || points.nrows() == 0 {
            return Err(f.corrupt("knn.points has the wrong shape"));
        }
        let raw = f.take2("knn.labels", Some((1, points.nrows())))?;
        let labels: Vec<usize> = raw.iter().map(|&v| v as usize).collect();
        if raw.iter().any(|&v| v < 0.0 || v.fract() != 0.0) || labels.iter().any(|&y| y >= classes)
        {
            return Err(f.corrupt("knn.labels out of range"));
        }
        let k: usize = f.parse("k")?;
        if k == 0 || k > points.nrows() {
            return Err(f.corrupt(format!("k = {k} for {} points", points.nrows())));
        }
        Ok(KnnHead {
            points,
            labels,
            classes,
            k,
            temperature: f.positive("temperature")?,
        })
    }
}
