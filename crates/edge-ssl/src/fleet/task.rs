//! [`ModelTask`]: a device's part in a round. At start it embeds K augmented views of its
//! frames once (the encoder is frozen); on a train message it continues the trainer from the
//! global adapter for the configured local epochs, refits the softmax head where it has
//! labels, and replies with the arrays and `num-examples` = its frame count; on an evaluate
//! message it scores the global head on its labeled set (or, without labels, reports how far
//! the global adapter moves its embeddings). Each global model it writes gets the device's own
//! novelty model behind it ([`LocalNovelty`]).

use std::path::{Path, PathBuf};

use edge_ssl_core::Preprocessor;
use edge_ssl_fleet::{Arrays, Config, ConfigValue, FleetTask, Metrics, TaskError};
use edge_ssl_runtime::{Backend, SessionPool};
use edge_ssl_source::{SourceKind, SourceOptions, detect_kind};
use edge_ssl_train::augment::{AugmentConfig, Augmenter};
use edge_ssl_train::head::{Head, HeadKind, HeadModel};
use edge_ssl_train::nn::Adapter;
use edge_ssl_train::novelty::{NoveltyConfig, NoveltyInput};
use edge_ssl_train::trainer::{AdapterTrainer, Method, TrainConfig, Views};
use ndarray::{Array2, Axis, s};

use super::arrays;
use super::error::{FleetTaskError, Result};
use super::global::{self, Provenance};
use super::novelty::LocalNovelty;
use crate::adapt::view_cache;
use crate::adapt::view_cache::Slots;
use crate::embed::embedder::Embedder;
use crate::error::Context;
use crate::frames::as_run_reads::{embed_as_run_reads, is_input_size};
use crate::frames::image_set::{self, LabeledSet};
use crate::model::reference::ResolvedModel;
use crate::novelty::NoveltyOutcome;
use crate::progress::Progress;

/// Config keys a ServerApp may send (FedAvg adds `server-round`).
pub const LOCAL_EPOCHS: &str = "local-epochs";
pub const METHOD: &str = "method";
pub const LEARNING_RATE: &str = "lr";
pub const HEAD_CLASSES: &str = "head-classes";
pub const SERVER_ROUND: &str = "server-round";

/// The view cache is held in memory for the whole federation.
const MAX_VIEW_CACHE_BYTES: u64 = 1 << 30;
const MAX_LOCAL_EPOCHS: i64 = 1000;

/// How a device prepares its data and trains. `Default` is 4 views, batch 256, VICReg, and the
/// default (autoencoder) novelty model.
#[derive(Debug, Clone)]
pub struct ModelTaskOptions {
    views: usize,
    batch: usize,
    seed: u64,
    method: Method,
    infer_batch: usize,
    render_workers: usize,
    augment: AugmentConfig,
    sampling: SourceOptions,
    novelty: Option<NoveltyConfig>,
}

impl Default for ModelTaskOptions {
    fn default() -> Self {
        Self {
            views: 4,
            batch: 256,
            seed: 0,
            method: Method::Vicreg,
            infer_batch: 64,
            render_workers: 1,
            augment: AugmentConfig::camera(),
            sampling: SourceOptions::default(),
            novelty: Some(NoveltyConfig::default()),
        }
    }
}

impl ModelTaskOptions {
    /// Augmented views per frame (at least 2).
    #[must_use]
    pub fn with_views(mut self, views: usize) -> Self {
        self.views = views;
        self
    }

    /// Frames per training step.
    #[must_use]
    pub fn with_batch(mut self, batch: usize) -> Self {
        self.batch = batch;
        self
    }

    /// Seeds the views and, plus the server round, each round's batches.
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The loss when the ServerApp does not name one.
    #[must_use]
    pub fn with_method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// Which frames of a video or camera are used.
    #[must_use]
    pub fn with_sampling(mut self, sampling: SourceOptions) -> Self {
        self.sampling = sampling;
        self
    }

    /// The novelty model fitted behind each global model (`None`: none).
    #[must_use]
    pub fn with_novelty(mut self, novelty: Option<NoveltyConfig>) -> Self {
        self.novelty = novelty;
        self
    }
}

struct Labeled {
    /// Encoder embeddings (before any adapter), one row per labeled image.
    x: Array2<f32>,
    class_names: Vec<String>,
    labels: Vec<usize>,
}

/// A model directory's adapter and head, trained in a federation on this device's frames.
pub struct ModelTask {
    encoder: ResolvedModel,
    views: Views,
    novelty: LocalNovelty,
    labeled: Option<Labeled>,
    options: ModelTaskOptions,
    global_dir: PathBuf,
    written: Option<PathBuf>,
    progress: Progress,
}

impl ModelTask {
    /// Decodes `data`, embeds its augmented views with `model`'s encoder (and `labeled`'s
    /// images, when given), ready to answer rounds; global models go to `global_dir`.
    /// `progress` hears about this and about every round's training, and cancels both.
    pub fn prepare(
        backend: &dyn Backend,
        model: &ResolvedModel,
        data: &Path,
        labeled: Option<&Path>,
        global_dir: impl Into<PathBuf>,
        options: ModelTaskOptions,
        progress: &Progress,
    ) -> Result<Self> {
        if options.views < 2 || options.batch < 2 {
            return Err(FleetTaskError::Config {
                key: "views/batch".into(),
                reason: "both must be at least 2".into(),
            });
        }
        crate::model::exported::ensure_not_exported(model, "trained in a federation")?;
        // The encoder alone: a model directory's own adapter is replaced by the federation's.
        let encoder = ResolvedModel {
            onnx: model.onnx.clone(),
            card: model.card.clone(),
            dir: None,
        };
        let (views, novelty) = embed_views(backend, &encoder, data, &options, progress)?;
        let labeled = match labeled {
            Some(root) => Some(embed_labeled(backend, &encoder, root, &options, progress)?),
            None => None,
        };
        Ok(Self {
            encoder,
            views,
            novelty,
            labeled,
            options,
            global_dir: global_dir.into(),
            written: None,
            progress: progress.clone(),
        })
    }

    /// Local frames (what `num-examples` reports for training).
    #[must_use]
    pub fn frames(&self) -> usize {
        self.views.frames()
    }

    /// Labeled images, if any.
    #[must_use]
    pub fn labeled(&self) -> usize {
        self.labeled.as_ref().map_or(0, |l| l.labels.len())
    }

    /// The model directory the last global arrays were written to.
    #[must_use]
    pub fn global_model(&self) -> Option<&Path> {
        self.written.as_deref()
    }

    /// What the novelty model of the last global model is.
    #[must_use]
    pub fn novelty(&self) -> &NoveltyOutcome {
        self.novelty.outcome()
    }

    /// One local training round from the global `arrays`.
    pub fn train_round(&mut self, arrays: &Arrays, config: &Config) -> Result<(Arrays, Metrics)> {
        let (adapter, head) = self.receive(arrays, config, "train")?;
        let epochs = match config.get(LOCAL_EPOCHS) {
            None => 1,
            Some(_) => match config.get_i64(LOCAL_EPOCHS) {
                Some(e) if (1..=MAX_LOCAL_EPOCHS).contains(&e) => e as usize,
                _ => return Err(config_error(LOCAL_EPOCHS, "an integer from 1 to 1000")),
            },
        };
        let method = match config.get(METHOD) {
            None => self.options.method,
            Some(ConfigValue::Str(m)) => m
                .parse()
                .map_err(|e: edge_ssl_train::TrainError| config_error(METHOD, &e.to_string()))?,
            Some(_) => return Err(config_error(METHOD, "a method name")),
        };
        let round = config.get_i64(SERVER_ROUND).unwrap_or(0);
        let mut cfg = TrainConfig::default()
            .with_method(method)
            .with_epochs(epochs)
            .with_batch(self.options.batch)
            .with_seed(self.options.seed.wrapping_add(round as u64))
            .with_adapter_hidden(adapter.hidden());
        if config.get(LEARNING_RATE).is_some() {
            match config.get_f64(LEARNING_RATE) {
                Some(lr) if lr.is_finite() && lr > 0.0 && lr < 10.0 => cfg = cfg.with_lr(lr as f32),
                _ => return Err(config_error(LEARNING_RATE, "a number in (0, 10)")),
            }
        }
        let mut trainer = AdapterTrainer::new(cfg, &self.views)?.with_initial_adapter(&adapter)?;
        let per_epoch = trainer.steps_per_epoch() as usize;
        let mut phase = self.progress.phase("adapting", Some(trainer.total_steps()));
        trainer.fit(&self.views, |step| {
            phase.training_step(step.step, step.loss)
        })?;
        phase.finish();
        self.progress.check()?;
        let losses = trainer.loss_curve().to_vec();
        let adapter = trainer.into_adapter();
        let metrics = Metrics::with_num_examples(self.frames() as u64)
            .with("steps", losses.len())
            .with(
                "loss-first-epoch",
                mean(&losses[..per_epoch.min(losses.len())]),
            )
            .with(
                "loss-last-epoch",
                mean(&losses[losses.len().saturating_sub(per_epoch)..]),
            );
        // Every node reports the same keys (FedAvg refuses replies whose metrics differ).
        let head = match (head, &self.labeled) {
            (Some(h), Some(l)) => Some(fit_softmax(&adapter, &h, l)?),
            (h, _) => h,
        };
        Ok((arrays::to_arrays(&adapter, head.as_ref())?, metrics))
    }

    /// Scores the global arrays on this device.
    pub fn evaluate_round(&mut self, arrays: &Arrays, config: &Config) -> Result<Metrics> {
        let (adapter, head) = self.receive(arrays, config, "evaluate")?;
        // How far the global adapter moves this device's embeddings, relative to their size
        // (0 = the bare encoder).
        let e = self.views.array().slice(s![0, .., ..]).to_owned();
        let moved = adapter.apply(e.view())? - &e;
        let shift = row_norm_mean(&moved) / row_norm_mean(&e).max(f64::MIN_POSITIVE);
        // The same keys on every node (FedAvg refuses replies whose metrics differ): a node
        // without labels or head reports `labeled = 0`, and the ServerApp in `fleet/` weights
        // `accuracy` by `labeled`.
        let (labeled, acc) = match (&head, &self.labeled) {
            (Some(h), Some(l)) => (l.labels.len(), accuracy(h, &adapter, l)?),
            _ => (0, 0.0),
        };
        Ok(Metrics::with_num_examples(self.frames() as u64)
            .with("adapter-shift", shift)
            .with("labeled", labeled)
            .with("accuracy", acc))
    }

    /// The global adapter and head of a message, written as the device's global model.
    fn receive(
        &mut self,
        arrays: &Arrays,
        config: &Config,
        message: &str,
    ) -> Result<(Adapter, Option<Head>)> {
        let dim = self.encoder.card.output.dim;
        let adapter = arrays::adapter(arrays, dim)?;
        let classes = match config.get(HEAD_CLASSES) {
            None => self.labeled.as_ref().map(|l| l.class_names.clone()),
            Some(ConfigValue::StrList(names)) => Some(names.clone()),
            Some(_) => return Err(config_error(HEAD_CLASSES, "a list of class names")),
        };
        let head = match arrays::head(arrays, dim, classes.as_deref()) {
            // Labeled folders that do not name every class do not name the head's classes.
            Err(FleetTaskError::ArrayShape { .. }) if config.get(HEAD_CLASSES).is_none() => {
                arrays::head(arrays, dim, None)?
            }
            other => other?,
        };
        let provenance = Provenance {
            message: message.into(),
            server_round: config.get_i64(SERVER_ROUND),
        };
        let novelty = self.novelty.behind(&adapter, &self.progress)?;
        let dir = global::write(
            &self.global_dir,
            &self.encoder,
            &adapter,
            head.as_ref(),
            novelty,
            &provenance,
        )?;
        self.written = Some(dir);
        Ok((adapter, head))
    }
}

impl FleetTask for ModelTask {
    fn train(&mut self, arrays: &Arrays, config: &Config) -> Result<(Arrays, Metrics), TaskError> {
        self.train_round(arrays, config).map_err(task_error)
    }

    fn evaluate(&mut self, arrays: &Arrays, config: &Config) -> Result<Metrics, TaskError> {
        self.evaluate_round(arrays, config).map_err(task_error)
    }
}

/// The whole cause chain in one line: the ServerApp sees only this text.
fn task_error(e: FleetTaskError) -> TaskError {
    let mut line = String::new();
    let mut next: Option<&dyn std::error::Error> = Some(&e);
    while let Some(err) = next {
        let text = err.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
        next = err.source();
    }
    line.into()
}

fn config_error(key: &str, expected: &str) -> FleetTaskError {
    FleetTaskError::Config {
        key: key.into(),
        reason: format!("expected {expected}"),
    }
}

fn embed_views(
    backend: &dyn Backend,
    encoder: &ResolvedModel,
    data: &Path,
    options: &ModelTaskOptions,
    progress: &Progress,
) -> Result<(Views, LocalNovelty)> {
    let pre = Preprocessor::new(encoder.card.input.clone());
    let frames = crate::frames::loader::decode(data, &pre, &options.sampling, progress)?;
    if frames.len() < 2 {
        return Err(FleetTaskError::Data(format!(
            "{}: training needs at least 2 decodable frames, found {}",
            data.display(),
            frames.len()
        )));
    }
    // The novelty model's rows (each frame un-augmented) ride in the same pass when they are
    // embeddings and the kept frames are what `run` reads; feature means, and frames shrunk when
    // kept, get a pass of their own after it.
    let wanted = LocalNovelty::wanted(options.novelty.as_ref(), frames.len());
    let at_input = frames.pixels.iter().all(|p| is_input_size(p, &pre));
    let scored = options
        .novelty
        .as_ref()
        .map_or(NoveltyInput::Embedding, NoveltyConfig::input);
    let slots = Slots {
        views: options.views,
        plain: wanted && at_input && scored == NoveltyInput::Embedding,
        first_view: 0,
    };
    let bytes = (frames.len() as u64)
        .saturating_mul(slots.count() as u64)
        .saturating_mul(encoder.card.output.dim as u64)
        .saturating_mul(4);
    if bytes > MAX_VIEW_CACHE_BYTES {
        return Err(FleetTaskError::Data(format!(
            "{} frames × {} views of {} floats need more than {} MiB of view cache; use fewer frames or views",
            frames.len(),
            options.views,
            encoder.card.output.dim,
            MAX_VIEW_CACHE_BYTES >> 20
        )));
    }
    let sessions = backend
        .load_parallel(&encoder.onnx, &encoder.card)
        .with_context(|| format!("loading {} with {}", encoder.onnx.display(), backend.name()))?;
    let mut pool = SessionPool::new(sessions).map_err(crate::Error::from)?;
    let input = &encoder.card.input;
    let augmenter = Augmenter::new(
        options.augment.clone(),
        input.height,
        input.width,
        options.seed,
    )?;
    let (cache, _) = view_cache::build_stream(
        frames.pixels.iter().map(|p| Ok(p.clone())),
        frames.len(),
        &augmenter,
        &pre,
        slots,
        options.infer_batch,
        options.render_workers,
        &mut pool,
        progress,
    )?;
    let (cache, mut plain) = slots.split(cache);
    if wanted && plain.is_none() {
        let raw = ResolvedModel {
            dir: None,
            ..encoder.clone()
        };
        let mut embedder = Embedder::load_for_novelty(backend, &raw, scored)?;
        let (sampling, batch) = (&options.sampling, options.infer_batch);
        plain = Some(if at_input {
            image_set::embed_frames(&mut embedder, &frames, batch, progress)?
        } else {
            let files = (detect_kind(&data.to_string_lossy()).ok() == Some(SourceKind::Images))
                .then_some(frames.paths.as_slice());
            embed_as_run_reads(&mut embedder, data, files, sampling, batch, progress)?
        });
    }
    let novelty = LocalNovelty::new(options.novelty.clone(), plain, frames.len());
    Ok((Views::new(cache)?, novelty))
}

fn embed_labeled(
    backend: &dyn Backend,
    encoder: &ResolvedModel,
    root: &Path,
    options: &ModelTaskOptions,
    progress: &Progress,
) -> Result<Labeled> {
    let set = LabeledSet::read(root)?;
    let mut embedder = Embedder::load(backend, encoder)?;
    let x = image_set::embed_strict(
        &mut embedder,
        &set.paths,
        options.infer_batch,
        "labeled",
        progress,
    )?;
    Ok(Labeled {
        x,
        class_names: set.class_names,
        labels: set.labels,
    })
}

/// The labels of `l` as indices into `classes` (matched by name).
fn truth(classes: &[String], l: &Labeled) -> Result<Vec<usize>> {
    let map: Vec<usize> = l
        .class_names
        .iter()
        .map(|name| {
            classes
                .iter()
                .position(|c| c == name)
                .ok_or_else(|| FleetTaskError::UnknownClass {
                    class: name.clone(),
                    known: classes.join(", "),
                })
        })
        .collect::<Result<_>>()?;
    Ok(l.labels.iter().map(|&i| map[i]).collect())
}

/// The softmax head refitted on this device's labels, over the federation's classes. A device
/// rarely has labels of every class (a door camera sees no forklifts); a softmax fitted on some
/// classes only learns to tell those apart, and averaged with the others' it did worse than the
/// head the federation started from (measured: 31 % against 44 % on class-disjoint devices,
/// `tests/cli_fleet.rs`). Such a device keeps the global head and trains the adapter only; its
/// labels still score the evaluate rounds.
fn fit_softmax(adapter: &Adapter, global: &Head, l: &Labeled) -> Result<Head> {
    let classes = &global.class_names;
    let truth = truth(classes, l)?;
    let mut present = vec![false; classes.len()];
    for &t in &truth {
        present[t] = true;
    }
    if present.iter().any(|p| !p) {
        return Ok(global.clone());
    }
    let x = adapter.apply(l.x.view())?;
    let head = Head::fit(HeadKind::Softmax, x.view(), &truth, classes.clone())?;
    debug_assert!(matches!(head.model, HeadModel::Softmax(_)));
    Ok(head)
}

fn accuracy(head: &Head, adapter: &Adapter, l: &Labeled) -> Result<f64> {
    let x = adapter.apply(l.x.view())?;
    let truth = truth(&head.class_names, l)?;
    let result = crate::head::eval::evaluate(head, x.view(), &truth)?;
    Ok(result.accuracy)
}

fn mean(v: &[f32]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len() as f64
}

fn row_norm_mean(m: &Array2<f32>) -> f64 {
    let n = m.nrows().max(1) as f64;
    m.map_axis(Axis(1), |r| {
        r.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt()
    })
    .sum()
        / n
}
