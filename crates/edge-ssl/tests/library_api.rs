//! The library as a Rust program uses it: open, classify, adapt with a progress observer that
//! cancels, and the typed errors a program matches on.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use edge_ssl::progress::{Event, Progress};
use edge_ssl::{
    AdaptOptions, BackendKind, BackendOptions, Encoder, Error, ModelDir, select_backend,
};
use edge_ssl_train::head::{Head, HeadKind};

fn backend() -> Box<dyn edge_ssl::Backend> {
    let options = BackendOptions::default().with_threads(Some(1));
    select_backend(BackendKind::Tract, &options).unwrap().0
}

/// Fashion-MNIST test images 0..n with their labels, written as PNGs into `dir/<label>/`.
fn fmnist_folder(dir: &Path, n: usize) -> Vec<(PathBuf, usize)> {
    let test =
        edge_ssl::datasets::fmnist::load(Path::new("/usr/share/datasets/fashion-mnist"), "t10k")
            .expect("Fashion-MNIST (Debian dataset-fashion-mnist; scripts/setup.sh installs it)");
    (0..n)
        .map(|i| {
            let label = test.labels[i] as usize;
            let class = dir.join(format!("c{label}"));
            std::fs::create_dir_all(&class).unwrap();
            let path = class.join(format!("{i}.png"));
            let img = image::GrayImage::from_raw(28, 28, test.images[i].to_vec()).unwrap();
            img.save(&path).unwrap();
            (path, label)
        })
        .collect()
}

#[test]
fn a_bare_encoder_is_not_a_model_dir_and_says_so_by_type() {
    let encoder = Encoder::bundled().unwrap();
    let err = ModelDir::open(encoder.onnx()).unwrap_err();
    assert!(matches!(err.root(), Error::NoHead { .. }), "{err:?}");
    assert!(
        !err.to_string().contains("--"),
        "a flag in a library error: {err}"
    );
}

#[test]
fn a_model_dir_classifies_single_images_like_a_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let labeled = fmnist_folder(&tmp.path().join("labeled"), 60);
    let backend = backend();
    let encoder = Encoder::bundled().unwrap();
    let mut embedder = encoder.load(backend.as_ref()).unwrap();
    let images: Vec<_> = labeled
        .iter()
        .map(|(p, _)| image::open(p).unwrap())
        .collect();
    let x = embedder.embed_images(&images).unwrap();
    let mut names: Vec<usize> = labeled.iter().map(|(_, l)| *l).collect();
    names.sort();
    names.dedup();
    let class_names: Vec<String> = names.iter().map(|l| format!("c{l}")).collect();
    let truth: Vec<usize> = labeled
        .iter()
        .map(|(_, l)| names.iter().position(|n| n == l).unwrap())
        .collect();
    let head = Head::fit(HeadKind::Softmax, x.view(), &truth, class_names).unwrap();
    // A model directory: the encoder's card and ONNX plus the head, written by the library.
    let dir = tmp.path().join("model");
    edge_ssl::model::directory::materialize(encoder.resolved(), &dir).unwrap();
    let resolved = edge_ssl::model::reference::resolve(dir.to_str().unwrap()).unwrap();
    edge_ssl::model::directory::save_head(&head, &resolved, &dir, &[]).unwrap();

    let model = ModelDir::open(&dir).unwrap();
    assert_eq!(model.class_names(), head.class_names.as_slice());
    let mut classifier = model.load(backend.as_ref()).unwrap();
    let batch = classifier.classify_batch(&images).unwrap();
    let eval = edge_ssl::head::eval::evaluate(&head, x.view(), &truth).unwrap();
    let right = batch
        .iter()
        .zip(&truth)
        .filter(|(d, t)| d.class_id == **t)
        .count();
    assert_eq!(
        right, eval.correct,
        "classify_batch disagrees with the head on the same rows"
    );
    for (image, d) in images.iter().zip(&batch).take(10) {
        let one = classifier.classify(image).unwrap();
        assert_eq!(one.class_id, d.class_id);
        assert!((one.confidence - d.confidence).abs() < 1e-4);
    }
}

#[test]
fn adapt_reports_phases_and_a_cancel_leaves_no_model_behind() {
    let tmp = tempfile::tempdir().unwrap();
    fmnist_folder(&tmp.path().join("frames"), 40);
    let out = tmp.path().join("site");
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = seen.clone();
    let progress = Progress::new(move |e: &Event| {
        if let Event::Start { phase, .. } = e {
            log.lock().unwrap().push(phase.to_string());
            // Cancel once the views start: BN statistics were already written to the work dir.
            if *phase == "views" {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    let options = AdaptOptions {
        epochs: 1,
        views: 2,
        batch: 8,
        ..AdaptOptions::default()
    };
    let err = Encoder::bundled()
        .unwrap()
        .adapt(
            backend().as_ref(),
            &tmp.path().join("frames"),
            &out,
            &options,
            &progress,
        )
        .unwrap_err();
    assert!(err.is_cancelled(), "{err:?}");
    let phases = seen.lock().unwrap().clone();
    assert!(
        phases.ends_with(&["BN statistics".to_string(), "views".to_string()]) && phases.len() >= 3,
        "{phases:?}"
    );
    assert!(
        !out.join("edge-ssl.toml").exists(),
        "a cancelled run wrote a model"
    );

    // The same call, observed silently, finishes and reports what it did.
    let report = Encoder::bundled()
        .unwrap()
        .adapt(
            backend().as_ref(),
            &tmp.path().join("frames"),
            &out,
            &options,
            &Progress::silent(),
        )
        .unwrap();
    assert_eq!(report.frames, 40);
    assert_eq!(report.loss_curve.len() as u64, report.steps);
    assert!(Encoder::open(&out).is_ok());
}

/// Frames larger than the input are held as `run` reads them and handed to the BN pass while the
/// listing reads them: the phases still come in order and the report says where BN ran; a cancel
/// during the listing stops both and writes no model.
#[test]
fn a_cancel_while_listing_stops_the_bn_pass_beside_it() {
    let tmp = tempfile::tempdir().unwrap();
    let small = tmp.path().join("small");
    let frames = tmp.path().join("frames");
    std::fs::create_dir_all(&frames).unwrap();
    for (i, (path, _)) in fmnist_folder(&small, 120).iter().enumerate() {
        // 56×56: twice the bundled encoder's input, so each frame is resized to it.
        let img =
            image::open(path)
                .unwrap()
                .resize_exact(56, 56, image::imageops::FilterType::Triangle);
        img.save(frames.join(format!("{i:03}.png"))).unwrap();
    }
    let out = tmp.path().join("site");
    let options = AdaptOptions {
        epochs: 1,
        views: 2,
        batch: 8,
        ..AdaptOptions::default()
    };
    let adapt = |progress: &Progress| {
        Encoder::bundled()
            .unwrap()
            .adapt(backend().as_ref(), &frames, &out, &options, progress)
    };
    let cancelling = Progress::new(|e: &Event| match e {
        // After the first block of files, while the BN pass runs beside the listing.
        Event::Advance {
            phase: "reading frames",
            done,
            ..
        } if *done >= 32 => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    });
    let err = adapt(&cancelling).unwrap_err();
    assert!(err.is_cancelled(), "{err:?}");
    assert!(
        !out.join("edge-ssl.toml").exists(),
        "a cancelled run wrote a model"
    );

    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = seen.clone();
    let observed = Progress::new(move |e: &Event| {
        if let Event::Start { phase, .. } = e {
            log.lock().unwrap().push(phase.to_string());
        }
        ControlFlow::Continue(())
    });
    let report = adapt(&observed).unwrap();
    assert_eq!(report.frames, 120);
    assert_eq!(report.bn["beside_listing"], true, "{}", report.bn);
    assert_eq!(report.bn["frames"], 120, "{}", report.bn);
    let phases = seen.lock().unwrap().clone();
    let at = |name: &str| phases.iter().position(|p| p == name).unwrap();
    assert!(
        at("reading frames") < at("BN statistics") && at("BN statistics") < at("views"),
        "{phases:?}"
    );
}

/// The BN pass beside the listing loads its probe once the listing says frames will come,
/// making the output directory for it; a source that then gives none (a folder of files that
/// do not decode) is an error that leaves no directory behind where there was none, and so is
/// one that never opens (a file that is no video).
#[test]
fn a_source_without_frames_leaves_no_output_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let noise: Vec<u8> = (0..100_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let folder = tmp.path().join("frames");
    std::fs::create_dir(&folder).unwrap();
    for i in 0..3 {
        std::fs::write(folder.join(format!("{i}.png")), &noise[i * 1000..]).unwrap();
    }
    let video = tmp.path().join("noise.avi");
    std::fs::write(&video, &noise).unwrap();
    for data in [folder, video] {
        let out = tmp.path().join("site");
        let err = Encoder::bundled()
            .unwrap()
            .adapt(
                backend().as_ref(),
                &data,
                &out,
                &AdaptOptions::default(),
                &Progress::silent(),
            )
            .unwrap_err();
        assert!(!err.is_cancelled(), "{err}");
        assert!(
            !out.exists(),
            "{}: {} was left behind",
            data.display(),
            out.display()
        );
    }
}

/// Encoder training (`train: Tail(1)`) stopped part-way through its epochs, then resumed,
/// writes the same encoder bytes and loss curve as a run that was never stopped.
#[test]
fn encoder_training_resumed_after_a_cancel_equals_an_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let frames = tmp.path().join("frames");
    fmnist_folder(&frames, 200);
    let options = AdaptOptions {
        train: edge_ssl::tune::Train::Tail(1),
        tune: edge_ssl::tune::TuneConfig::default()
            .with_epochs(3)
            .with_batch_size(48),
        adapter: false,
        checkpoint_every: 100,
        ..AdaptOptions::default()
    };
    let run = |out: &Path, options: &AdaptOptions, progress: &Progress| {
        Encoder::bundled()
            .unwrap()
            .adapt(backend().as_ref(), &frames, out, options, progress)
    };
    let whole = tmp.path().join("whole");
    let want = run(&whole, &options, &Progress::silent()).unwrap();
    let trained = want.encoder.as_ref().expect("an encoder-training report");
    assert_eq!(trained.steps, 12, "200 frames / 48 = 4 steps × 3 epochs");
    assert_eq!(trained.loss_curve.len(), 12);
    assert_eq!(trained.trained_blocks, 1);
    assert_ne!(
        std::fs::read(whole.join("encoder.onnx")).unwrap(),
        std::fs::read(Encoder::bundled().unwrap().onnx()).unwrap()
    );

    let resumed = tmp.path().join("resumed");
    let stop = Progress::new(|e: &Event| match e {
        Event::Advance {
            phase: "training encoder",
            done: 5,
            ..
        } => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    });
    let err = run(&resumed, &options, &stop).unwrap_err();
    assert!(err.is_cancelled(), "{err:?}");
    assert!(!resumed.join("edge-ssl.toml").exists());
    let again = AdaptOptions {
        resume: true,
        ..options.clone()
    };
    let got = run(&resumed, &again, &Progress::silent()).unwrap();
    assert!(got.resumed);
    assert_eq!(got.encoder, want.encoder, "reports differ");
    assert!(
        std::fs::read(resumed.join("encoder.onnx")).unwrap()
            == std::fs::read(whole.join("encoder.onnx")).unwrap(),
        "the resumed run wrote other weights"
    );
}

/// More images than one encoder call may take (`CALL_INPUT_FLOATS` of input) are split into
/// calls: the rows are those of embedding the same images a few at a time, in order.
#[test]
fn a_batch_larger_than_one_call_is_split_and_gives_the_same_rows() {
    use edge_ssl::embed::embedder::{CALL_INPUT_FLOATS, Embedder};
    let model = edge_ssl::model::reference::resolve("default").unwrap();
    let per_image = 28 * 28;
    let n = CALL_INPUT_FLOATS / per_image + 37;
    // The premise: one call cannot take them all, so the split path runs.
    let per_call = edge_ssl::embed::embedder::images_per_call(per_image, n, CALL_INPUT_FLOATS);
    assert!(per_call < n, "{per_call} images per call");
    let units: Vec<ndarray::Array3<f32>> = (0..n)
        .map(|i| {
            ndarray::Array3::from_shape_fn((1, 28, 28), |(_, y, x)| {
                ((i * 7 + y * 3 + x * 5) % 29) as f32 / 28.0
            })
        })
        .collect();
    let backend = backend();
    let mut embedder = Embedder::load(backend.as_ref(), &model).unwrap();
    let whole = embedder.embed_units(&units).unwrap();
    assert_eq!(whole.nrows(), n);
    let mut parts = Vec::new();
    for chunk in units.chunks(500) {
        parts.push(embedder.embed_units(chunk).unwrap());
    }
    let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
    let by_parts = ndarray::concatenate(ndarray::Axis(0), &views).unwrap();
    assert_eq!(whole, by_parts);
}
