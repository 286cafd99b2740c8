//! Fitting a novelty model on the embeddings a command already has, and what it says about
//! the fit (for `metrics.json` and `--json`).

use std::ops::ControlFlow;

use edge_ssl_train::novelty::{
    Calibration, NoveltyConfig, NoveltyInput, NoveltyKind, NoveltyModel,
};
use ndarray::{Array2, ArrayView2, Axis, concatenate};
use serde::Serialize;

use crate::embed::embedder::Embedded;
use crate::error::Context;
use crate::progress::Progress;

/// Fewest embeddings a novelty model is fitted on: with fewer, the held-out fifth that sets
/// the threshold is a handful of rows and the threshold is whatever the largest of them is.
pub const MIN_ROWS: usize = 20;

/// How a fitted novelty model was calibrated and trained.
#[derive(Clone, Debug, Serialize)]
pub struct NoveltyReport {
    pub kind: NoveltyKind,
    /// What it scores: embeddings or feature means.
    pub input: NoveltyInput,
    /// Row width.
    pub dim: usize,
    /// Threshold, quantile and the score summaries of held-out and training rows.
    pub calibration: Calibration,
    /// Optimizer steps run (0 for k-NN).
    pub steps: u64,
}

impl NoveltyReport {
    pub fn of(model: &NoveltyModel) -> Self {
        NoveltyReport {
            kind: model.kind(),
            input: model.input(),
            dim: model.dim(),
            calibration: model.calibration().clone(),
            steps: model.training().steps_done,
        }
    }

    /// One line for a terminal.
    pub fn line(&self) -> String {
        format!("novelty: {}", self.summary())
    }

    /// What the model is and how it was calibrated, in words (the line without its lead-in).
    fn summary(&self) -> String {
        let c = &self.calibration;
        format!(
            "{} on {} {}; threshold {:.4} at the {} quantile of {} held-out frames (held-out median {:.4}, training median {:.4})",
            self.kind,
            c.trained_on,
            match self.input {
                NoveltyInput::Embedding => "embeddings",
                NoveltyInput::Features => "frames' feature means",
            },
            c.threshold,
            c.quantile,
            c.held_out,
            c.held_out_scores.median,
            c.train_scores.median
        )
    }
}

/// What a command did about novelty.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum NoveltyOutcome {
    /// A model was fitted (and written with the directory).
    Fitted(NoveltyReport),
    /// The model directory's own novelty model was kept (see [`NoveltyPlan`](super::NoveltyPlan)).
    Kept(NoveltyReport),
    /// Too few embeddings to calibrate a threshold on.
    Skipped { rows: usize, needed: usize },
    /// The caller asked for none.
    Disabled,
}

impl NoveltyOutcome {
    /// One line for a terminal.
    pub fn line(&self) -> String {
        match self {
            NoveltyOutcome::Fitted(r) => r.line(),
            NoveltyOutcome::Kept(r) => {
                format!("novelty: kept the model directory's own: {}", r.summary())
            }
            NoveltyOutcome::Skipped { rows, needed } => format!(
                "novelty: not fitted: {rows} embeddings, at least {needed} are needed (add unlabeled frames)"
            ),
            NoveltyOutcome::Disabled => "novelty: not fitted (disabled)".into(),
        }
    }
}

/// Fits `config`'s novelty model on `rows` (one embedding per row), or says why not: fewer
/// than [`MIN_ROWS`] rows is [`NoveltyOutcome::Skipped`] and no model. Training steps go to
/// `progress` as the phase `novelty`, which cancels the fit.
pub fn fit(
    rows: ArrayView2<f32>,
    config: &NoveltyConfig,
    progress: &Progress,
) -> crate::Result<(Option<NoveltyModel>, NoveltyOutcome)> {
    if rows.nrows() < MIN_ROWS {
        let outcome = NoveltyOutcome::Skipped {
            rows: rows.nrows(),
            needed: MIN_ROWS,
        };
        return Ok((None, outcome));
    }
    let mut phase = None;
    let model = NoveltyModel::fit(rows, config, |step| {
        let phase = phase.get_or_insert_with(|| progress.phase("novelty", Some(step.total_steps)));
        phase.loss(step.step, step.loss);
        match phase.advance(1) {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(()),
        }
    })
    .with_context(|| format!("fitting the {} novelty model", config.kind()))?;
    if let Some(p) = phase {
        p.finish();
    }
    progress.check()?;
    let outcome = NoveltyOutcome::Fitted(NoveltyReport::of(&model));
    Ok((Some(model), outcome))
}

/// [`fit`] on the rows of every part, one after the other (labeled and unlabeled images): their
/// embeddings, or their feature means when the config scores those (the parts must then have
/// been embedded with them: [`Embedder::load_fitting`](crate::embed::embedder::Embedder::load_fitting)).
/// [`NoveltyOutcome::Disabled`] without a config.
pub fn fit_parts(
    parts: &[&Embedded],
    config: Option<&NoveltyConfig>,
    progress: &Progress,
) -> crate::Result<(Option<NoveltyModel>, NoveltyOutcome)> {
    let Some(config) = config else {
        return Ok((None, NoveltyOutcome::Disabled));
    };
    let rows = parts
        .iter()
        .map(|p| p.novelty_rows(config.input()))
        .collect::<crate::Result<Vec<_>>>()?;
    let rows: Array2<f32> = concatenate(Axis(0), &rows)?;
    fit(rows.view(), config, progress)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn too_few_rows_are_skipped_and_enough_are_calibrated() {
        let small = Array2::<f32>::ones((MIN_ROWS - 1, 4));
        let (model, outcome) =
            fit(small.view(), &NoveltyConfig::default(), &Progress::silent()).unwrap();
        assert!(model.is_none());
        assert!(matches!(outcome, NoveltyOutcome::Skipped { rows, .. } if rows == MIN_ROWS - 1));
        let rows = Array2::from_shape_fn((50, 4), |(i, j)| ((i * 7 + j * 3) % 11) as f32);
        let config = NoveltyConfig::default().with_kind(NoveltyKind::Knn);
        let (model, outcome) = fit(rows.view(), &config, &Progress::silent()).unwrap();
        let model = model.unwrap();
        let json = serde_json::to_value(&outcome).unwrap();
        assert_eq!(json["status"], "fitted");
        assert_eq!(json["kind"], "knn");
        assert_eq!(json["calibration"]["held_out"], 10);
        assert_eq!(
            json["calibration"]["threshold"].as_f64().unwrap() as f32,
            model.threshold()
        );
    }

    /// Parts give their feature means to a config that scores them and their embedding rows
    /// otherwise; feature means the parts were not embedded with are an error, not embeddings.
    #[test]
    fn parts_give_the_rows_the_config_scores() {
        let part = |rows: usize, offset: f32, features: bool| Embedded {
            rows: Array2::from_shape_fn((rows, 3), |(i, j)| offset + (i * 3 + j) as f32),
            features: features.then(|| {
                Array2::from_shape_fn((rows, 5), |(i, j)| -offset - ((i * 7 + j) % 13) as f32)
            }),
        };
        let (a, b) = (part(30, 0.0, true), part(25, 100.0, true));
        let knn = NoveltyConfig::default().with_kind(NoveltyKind::Knn);
        for (input, width) in [(NoveltyInput::Embedding, 3), (NoveltyInput::Features, 5)] {
            let config = knn.clone().with_input(input);
            let (model, _) = fit_parts(&[&a, &b], Some(&config), &Progress::silent()).unwrap();
            let model = model.unwrap();
            assert_eq!((model.dim(), model.input()), (width, input));
            let expected: Array2<f32> = concatenate(
                Axis(0),
                &[
                    a.novelty_rows(input).unwrap(),
                    b.novelty_rows(input).unwrap(),
                ],
            )
            .unwrap();
            let direct = fit(expected.view(), &config, &Progress::silent())
                .unwrap()
                .0;
            assert_eq!(model.threshold(), direct.unwrap().threshold());
        }
        let bare = part(30, 0.0, false);
        let features = knn.with_input(NoveltyInput::Features);
        let err = fit_parts(&[&bare], Some(&features), &Progress::silent()).unwrap_err();
        assert!(err.to_string().contains("feature means"), "{err}");
        let (none, outcome) = fit_parts(&[&bare], None, &Progress::silent()).unwrap();
        assert!(none.is_none() && matches!(outcome, NoveltyOutcome::Disabled));
    }

    #[test]
    fn a_cancelled_progress_stops_the_fit() {
        let rows = Array2::from_shape_fn((50, 4), |(i, j)| ((i * 7 + j * 3) % 11) as f32);
        let progress = Progress::silent();
        progress.cancel();
        let err = fit(rows.view(), &NoveltyConfig::default(), &progress).unwrap_err();
        assert!(err.is_cancelled(), "{err}");
    }
}
