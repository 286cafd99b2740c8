use ndarray::{Array2, ArrayView2, Axis};

use super::classifier::softmax_rows;
use super::{Head, HeadModel};
use crate::error::ensure_finite;
use crate::nn::l2_normalize;
use crate::tensor_file::TensorFile;
use crate::{Result, Rng, TrainError};

/// Options for [`KMeansHead::fit`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KMeansOptions {
    pub k: usize,
    pub seed: u64,
    pub max_iterations: usize,
}

impl KMeansOptions {
    pub fn new(k: usize) -> Self {
        KMeansOptions {
            k,
            seed: 0,
            max_iterations: 100,
        }
    }

    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    pub fn with_max_iterations(mut self, n: usize) -> Self {
        self.max_iterations = n;
        self
    }
}

/// The result of clustering: a head whose classes are `cluster-0…`, and what `edge-ssl
/// cluster` reports about it.
#[derive(Clone, Debug)]
pub struct Clustering {
    pub head: Head,
    /// Cluster of each input row.
    pub assignments: Vec<usize>,
    pub sizes: Vec<usize>,
    /// Mean squared distance of a unit embedding to its centroid.
    pub inertia: f32,
    pub iterations: usize,
}

/// k-means on unit embeddings, for when there are no labels at all: greedy k-means++ seeding
/// (Arthur & Vassilvitskii 2007) from a seeded generator, then Lloyd iterations until the
/// assignment stops changing. Probabilities are `softmax(−‖x̂ − cⱼ‖² / T)` with `T` the fitted
/// inertia, so "confidence" means "much closer to this centroid than to the next".
#[derive(Clone, Debug, PartialEq)]
pub struct KMeansHead {
    /// `K × D`.
    pub centroids: Array2<f32>,
    pub temperature: f32,
}

fn squared_distances(x: ArrayView2<f32>, c: ArrayView2<f32>) -> Array2<f32> {
    let xx = x.map_axis(Axis(1), |r| r.dot(&r));
    let cc = c.map_axis(Axis(1), |r| r.dot(&r));
    let mut d = x.dot(&c.t()) * -2.0;
    d += &xx.insert_axis(Axis(1));
    d += &cc.insert_axis(Axis(0));
    d.mapv_inplace(|v| v.max(0.0));
    d
}

impl KMeansHead {
    pub fn fit(x: ArrayView2<f32>, opts: &KMeansOptions) -> Result<Clustering> {
        let n = x.nrows();
        if n == 0 || x.ncols() == 0 {
            return Err(TrainError::Empty("the data to cluster".into()));
        }
        if opts.k < 2 {
            return Err(TrainError::TooFewClasses(opts.k));
        }
        if opts.k > n {
            return Err(TrainError::KTooLarge { k: opts.k, n });
        }
        ensure_finite("embeddings to cluster", &x)?;
        let unit = l2_normalize(x).0;
        let mut centroids = Self::seed_plus_plus(unit.view(), opts.k, &mut Rng::new(opts.seed));
        let mut assignments = vec![usize::MAX; n];
        let mut iterations = 0;
        let mut dist = squared_distances(unit.view(), centroids.view());
        while iterations < opts.max_iterations.max(1) {
            iterations += 1;
            let mut changed = false;
            for (i, row) in dist.rows().into_iter().enumerate() {
                let best = super::classifier::argmax(row.iter().map(|v| -v)).class;
                changed |= assignments[i] != best;
                assignments[i] = best;
            }
            if !changed {
                break;
            }
            let mut sums = Array2::<f32>::zeros(centroids.raw_dim());
            let mut counts = vec![0usize; opts.k];
            for (row, &a) in unit.rows().into_iter().zip(&assignments) {
                let mut s = sums.row_mut(a);
                s += &row;
                counts[a] += 1;
            }
            for (j, &c) in counts.iter().enumerate() {
                if c > 0 {
                    centroids.row_mut(j).assign(&(&sums.row(j) / c as f32));
                } else {
                    // An emptied cluster restarts at the point worst served by its centroid.
                    let far = (0..n).max_by(|&a, &b| {
                        dist[[a, assignments[a]]]
                            .total_cmp(&dist[[b, assignments[b]]])
                            .then(b.cmp(&a))
                    });
                    centroids.row_mut(j).assign(&unit.row(far.expect("n > 0")));
                }
            }
            dist = squared_distances(unit.view(), centroids.view());
        }
        let inertia = assignments
            .iter()
            .enumerate()
            .map(|(i, &a)| dist[[i, a]])
            .sum::<f32>()
            / n as f32;
        let mut sizes = vec![0usize; opts.k];
        assignments.iter().for_each(|&a| sizes[a] += 1);
        let head = Head {
            class_names: (0..opts.k).map(|j| format!("cluster-{j}")).collect(),
            model: HeadModel::KMeans(KMeansHead {
                centroids,
                temperature: inertia.max(1e-6),
            }),
        };
        Ok(Clustering {
            head,
            assignments,
            sizes,
            inertia,
            iterations,
        })
    }

    /// Greedy k-means++ (as scikit-learn does it): each next center is the best, by resulting
    /// potential, of `2 + ln k` candidates drawn with probability ∝ squared distance to the
    /// nearest chosen center. Plain k-means++ puts two seeds in one blob often enough to fail
    /// on two nearby classes; the greedy pick nearly never does. With fewer distinct points
    /// than `k`, the rest are taken in index order.
    fn seed_plus_plus(unit: ArrayView2<f32>, k: usize, rng: &mut Rng) -> Array2<f32> {
        let n = unit.nrows();
        let candidates = 2 + (k as f64).ln().floor() as usize;
        let mut chosen = vec![rng.below(n)];
        let mut nearest = squared_distances(unit, unit.select(Axis(0), &chosen).view())
            .column(0)
            .to_owned();
        while chosen.len() < k {
            let total: f64 = nearest.iter().map(|&v| v as f64).sum();
            if total <= 0.0 {
                chosen.push((0..n).find(|i| !chosen.contains(i)).expect("k ≤ n"));
                continue;
            }
            let draws: Vec<usize> = (0..candidates)
                .map(|_| {
                    let mut target = rng.next_f32() as f64 * total;
                    nearest
                        .iter()
                        .position(|&v| {
                            target -= v as f64;
                            target < 0.0 && v > 0.0
                        })
                        .unwrap_or_else(|| {
                            (0..n).rev().find(|&i| nearest[i] > 0.0).expect("total > 0")
                        })
                })
                .collect();
            let d = squared_distances(unit, unit.select(Axis(0), &draws).view());
            let potential = |c: usize| -> f64 {
                nearest
                    .iter()
                    .zip(d.column(c))
                    .map(|(&a, &b)| a.min(b) as f64)
                    .sum()
            };
            let best = (0..draws.len())
                .min_by(|&a, &b| potential(a).total_cmp(&potential(b)))
                .expect("≥ 2 candidates");
            chosen.push(draws[best]);
            nearest.zip_mut_with(&d.column(best), |a, &b| *a = a.min(b));
        }
        unit.select(Axis(0), &chosen)
    }

    pub(super) fn probabilities(&self, unit: ArrayView2<f32>) -> Array2<f32> {
        softmax_rows(
            squared_distances(unit, self.centroids.view()),
            -1.0 / self.temperature,
        )
    }

    pub(super) fn write(&self, f: &mut TensorFile) {
        f.insert2("kmeans.centroids", &self.centroids);
        f.set("temperature", self.temperature);
    }

    pub(super) fn read(f: &mut TensorFile, classes: usize, dim: usize) -> Result<Self> {
        let temperature = f.positive("temperature")?;
        Ok(KMeansHead {
            centroids: f.take2("kmeans.centroids", Some((classes, dim)))?,
            temperature,
        })
    }
}
