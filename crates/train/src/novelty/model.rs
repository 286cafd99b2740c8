use std::ops::ControlFlow;

use ndarray::{Array1, ArrayView2, Axis};

use super::calibration::{Calibration, split};
use super::knn::KnnScorer;
use super::network::Network;
use super::standardizer::Standardizer;
use super::train::train_network;
use super::{NoveltyConfig, NoveltyInput, NoveltyKind};
use crate::error::{ensure_dim, ensure_finite};
use crate::trainer::{FitSummary, StepInfo};
use crate::{Result, TrainError};

/// A fitted novelty score and its calibrated threshold: "is this frame unlike the frames the
/// device adapted on?".
///
/// [`NoveltyModel::fit`] holds out a seeded fraction of the rows, fits the score on the rest,
/// scores the held-out rows and puts the threshold at the configured quantile of those
/// scores. Held-out rows are frames like the training ones that the model never saw, so at the
/// 0.99 quantile about 1 % of new in-distribution frames are flagged, whatever the score's
/// scale; training scores would set it too low for a model that memorized.
#[derive(Clone, Debug)]
pub struct NoveltyModel {
    pub(super) kind: NoveltyKind,
    pub(super) input: NoveltyInput,
    pub(super) scorer: Scorer,
    pub(super) calibration: Calibration,
    pub(super) training: FitSummary,
}

#[derive(Clone, Debug)]
pub(super) enum Scorer {
    Reconstruction {
        standardizer: Standardizer,
        network: Box<Network>,
    },
    Knn(KnnScorer),
}

impl Scorer {
    fn dim(&self) -> usize {
        match self {
            Scorer::Reconstruction { standardizer, .. } => standardizer.dim(),
            Scorer::Knn(k) => k.dim(),
        }
    }

    /// Scores of rows already checked for width and finiteness.
    fn score(&self, rows: ArrayView2<f32>) -> Array1<f32> {
        match self {
            Scorer::Reconstruction {
                standardizer,
                network,
            } => network.score(standardizer.apply(rows).view()),
            Scorer::Knn(k) => k.score(rows),
        }
    }
}

impl NoveltyModel {
    /// Fits the score of `config.kind()` on `rows` (one embedding per row) and calibrates its
    /// threshold. `progress` sees every optimizer step of the AE/VAE (none for k-NN); returning
    /// `Break` stops training early, and the model trained so far is calibrated and returned
    /// ([`NoveltyModel::training`] says it did not finish).
    pub fn fit(
        rows: ArrayView2<f32>,
        config: &NoveltyConfig,
        progress: impl FnMut(&StepInfo) -> ControlFlow<()>,
    ) -> Result<NoveltyModel> {
        config.validate()?;
        let (n, d) = rows.dim();
        if n == 0 || d == 0 {
            return Err(TrainError::Empty("the novelty training rows".into()));
        }
        if d > super::MAX_WIDTH {
            return Err(TrainError::InvalidConfig(format!(
                "embeddings of width {d} (novelty models take at most {})",
                super::MAX_WIDTH
            )));
        }
        ensure_finite("novelty training rows", &rows)?;
        let held = ((n as f64 * config.held_out() as f64).round() as usize).clamp(1, n);
        if n - held < 2 {
            return Err(TrainError::TooFewSamples {
                what: format!("novelty training after holding out {held} rows for calibration"),
                needed: 2,
                got: n - held,
            });
        }
        let (train_idx, held_idx) = split(n, held, config.seed());
        let train = rows.select(Axis(0), &train_idx);
        let held_out = rows.select(Axis(0), &held_idx);
        let (scorer, training) = match config.kind() {
            NoveltyKind::Knn => {
                let k = config.k();
                if k > train.nrows() {
                    return Err(TrainError::KTooLarge {
                        k,
                        n: train.nrows(),
                    });
                }
                let done = FitSummary {
                    steps_done: 0,
                    total_steps: 0,
                    finished: true,
                };
                (Scorer::Knn(KnnScorer::fit(train.view(), k)), done)
            }
            kind => {
                let standardizer = Standardizer::fit(train.view());
                let x = standardizer.apply(train.view());
                let variational = kind == NoveltyKind::Vae;
                let (network, done) = train_network(x.view(), config, variational, progress)?;
                let scorer = Scorer::Reconstruction {
                    standardizer,
                    network: Box::new(network),
                };
                (scorer, done)
            }
        };
        let held_scores = scorer.score(held_out.view());
        let train_scores = scorer.score(train.view());
        if !(held_scores
            .iter()
            .chain(&train_scores)
            .all(|v| v.is_finite()))
        {
            return Err(TrainError::NonFinite(
                "novelty scores of the training rows (training diverged: lower the learning rate)"
                    .into(),
            ));
        }
        let calibration =
            Calibration::new(config.quantile(), held_scores.view(), train_scores.view());
        Ok(NoveltyModel {
            kind: config.kind(),
            input: config.input(),
            scorer,
            calibration,
            training,
        })
    }

    pub fn kind(&self) -> NoveltyKind {
        self.kind
    }

    /// What the rows it scores are.
    pub fn input(&self) -> NoveltyInput {
        self.input
    }

    /// Embedding width the model takes.
    pub fn dim(&self) -> usize {
        self.scorer.dim()
    }

    pub fn threshold(&self) -> f32 {
        self.calibration.threshold
    }

    pub fn calibration(&self) -> &Calibration {
        &self.calibration
    }

    /// How training ended (k-NN: zero steps, finished).
    pub fn training(&self) -> &FitSummary {
        &self.training
    }

    /// One novelty score per row; higher is more unusual. AE/VAE: mean squared reconstruction
    /// error of the standardized row; k-NN: cosine distance to the k-th nearest training row.
    pub fn score(&self, rows: ArrayView2<f32>) -> Result<Array1<f32>> {
        ensure_dim("novelty input width", self.dim(), rows.ncols())?;
        ensure_finite("novelty input rows", &rows)?;
        // A row extreme enough to overflow the network's arithmetic is as novel as it gets.
        Ok(self
            .scorer
            .score(rows)
            .mapv(|v| if v.is_nan() { f32::INFINITY } else { v }))
    }

    /// Whether each row's score is above the calibrated threshold.
    pub fn is_novel(&self, rows: ArrayView2<f32>) -> Result<Vec<bool>> {
        Ok(self
            .score(rows)?
            .iter()
            .map(|&s| s > self.calibration.threshold)
            .collect())
    }
}
