//! The fleet task without a network: what a device does with a round's arrays and config.
//! (On a real SuperLink: tests/cli_fleet.rs at the workspace root.) Needs Fashion-MNIST.
#![cfg(feature = "fleet")]

use std::path::Path;

use edge_ssl::fleet::arrays::{self, HEAD_BIAS, HEAD_WEIGHT};
use edge_ssl::fleet::edge_ssl_fleet::{Arrays, Config, ConfigValue, MetricValue, NdArray};
use edge_ssl::fleet::{FleetTaskError, ModelTask, ModelTaskOptions};
use edge_ssl::model::reference::resolve;
use edge_ssl::progress::Progress;
use edge_ssl_runtime::{BackendKind, BackendOptions, select_backend};
use edge_ssl_train::nn::Adapter;

fn fmnist_folder(dir: &Path, n: usize) -> bool {
    let Ok(test) =
        edge_ssl::datasets::fmnist::load(Path::new("/usr/share/datasets/fashion-mnist"), "t10k")
    else {
        eprintln!("SKIPPED: Fashion-MNIST is not installed");
        return false;
    };
    for i in 0..n {
        let class = dir.join(format!("c{}", test.labels[i]));
        std::fs::create_dir_all(&class).unwrap();
        let img = image::GrayImage::from_raw(28, 28, test.images[i].to_vec()).unwrap();
        img.save(class.join(format!("{i}.png"))).unwrap();
    }
    true
}

fn config(entries: &[(&str, ConfigValue)]) -> Config {
    let mut c = Config::default();
    for (k, v) in entries {
        c.insert(*k, v.clone());
    }
    c
}

fn keys(m: &edge_ssl::fleet::edge_ssl_fleet::Metrics) -> Vec<String> {
    m.iter().map(|(k, _)| k.to_owned()).collect()
}

#[test]
fn a_round_continues_the_global_adapter_and_writes_the_global_model() {
    let dir = tempfile::tempdir().unwrap();
    let frames = dir.path().join("frames");
    if !fmnist_folder(&frames, 48) {
        return;
    }
    let backend = select_backend(
        BackendKind::Tract,
        &BackendOptions::default().with_threads(Some(1)),
    )
    .unwrap()
    .0;
    let model = resolve("default").unwrap();
    let init =
        edge_ssl::fleet::initial::write(&model, &dir.path().join("init"), Some(32), 1).unwrap();
    let adapter = Adapter::load(&init.join("adapter.safetensors")).unwrap();
    let options = ModelTaskOptions::default().with_views(2).with_batch(16);
    let progress = Progress::silent();
    let mut labeled = ModelTask::prepare(
        backend.as_ref(),
        &model,
        &frames,
        Some(&frames),
        dir.path().join("global-a"),
        options.clone(),
        &progress,
    )
    .unwrap();
    let mut plain = ModelTask::prepare(
        backend.as_ref(),
        &model,
        &frames,
        None,
        dir.path().join("global-b"),
        options,
        &progress,
    )
    .unwrap();
    assert_eq!((labeled.frames(), labeled.labeled()), (48, 48));

    // A zero softmax head over the classes the labeled folder has.
    let mut classes: Vec<String> = std::fs::read_dir(&frames)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    classes.sort();
    let c = classes.len();
    let mut global = arrays::to_arrays(&adapter, None).unwrap();
    global.insert(
        HEAD_WEIGHT,
        NdArray::new(vec![c, 256], vec![0.0; c * 256]).unwrap(),
    );
    global.insert(HEAD_BIAS, NdArray::new(vec![1, c], vec![0.0; c]).unwrap());
    let cfg = config(&[
        ("local-epochs", ConfigValue::Int(2)),
        ("server-round", ConfigValue::Int(1)),
        ("head-classes", ConfigValue::StrList(classes.clone())),
    ]);

    let (sent, metrics) = labeled.train_round(&global, &cfg).unwrap();
    let names = |a: &Arrays| {
        a.iter()
            .map(|(n, a)| (n.to_owned(), a.shape().to_vec()))
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&sent), names(&global));
    assert_ne!(
        sent.get("adapter.fc2.weight"),
        global.get("adapter.fc2.weight")
    );
    assert_ne!(
        sent.get(HEAD_WEIGHT),
        global.get(HEAD_WEIGHT),
        "labels refit the head"
    );
    assert_eq!(metrics.get("num-examples"), Some(&MetricValue::Int(48)));
    // 48 frames in batches of 16, 2 epochs.
    assert_eq!(metrics.get("steps"), Some(&MetricValue::Int(6)));

    let (echoed, plain_metrics) = plain.train_round(&global, &cfg).unwrap();
    assert_eq!(
        echoed.get(HEAD_WEIGHT),
        global.get(HEAD_WEIGHT),
        "no labels: head as received"
    );
    assert_eq!(
        keys(&metrics),
        keys(&plain_metrics),
        "FedAvg needs the same keys from every node"
    );

    // The global arrays of the message are a model directory that loads.
    let written = resolve(labeled.global_model().unwrap().to_str().unwrap()).unwrap();
    let loaded = edge_ssl::model::directory::load_adapter(&written)
        .unwrap()
        .unwrap();
    assert_eq!(loaded.fc1.weight.value, adapter.fc1.weight.value);
    let head = edge_ssl::model::directory::load_head(&written).unwrap();
    assert_eq!(head.class_names, classes);

    let eval = labeled.evaluate_round(&sent, &cfg).unwrap();
    let plain_eval = plain.evaluate_round(&sent, &cfg).unwrap();
    // Each global model written has the device's own novelty model, tied to that model's
    // adapter (that it is refitted when the adapter changes: `fleet::novelty`'s unit tests).
    let written = resolve(labeled.global_model().unwrap().to_str().unwrap()).unwrap();
    let novelty = edge_ssl::novelty::file::load(&written).unwrap();
    assert_eq!(novelty.unwrap().dim(), 256);
    assert!(matches!(
        labeled.novelty(),
        edge_ssl::novelty::NoveltyOutcome::Fitted(_)
    ));
    assert_eq!(keys(&eval), keys(&plain_eval));
    assert_eq!(eval.get("labeled"), Some(&MetricValue::Int(48)));
    assert_eq!(plain_eval.get("labeled"), Some(&MetricValue::Int(0)));
    let Some(MetricValue::Double(acc)) = eval.get("accuracy") else {
        panic!("{eval:?}")
    };
    assert!(*acc > 0.3, "a head refit on these very labels: {acc}");

    // What a ServerApp may send wrong is a typed error, never a panic.
    let bad_epochs = config(&[("local-epochs", ConfigValue::Int(0))]);
    assert!(matches!(
        plain.train_round(&global, &bad_epochs),
        Err(FleetTaskError::Config { .. })
    ));
    let mut narrow = global.clone();
    narrow.insert(
        "adapter.fc1.weight",
        NdArray::new(vec![32, 8], vec![0.0; 256]).unwrap(),
    );
    assert!(matches!(
        plain.train_round(&narrow, &cfg),
        Err(FleetTaskError::ArrayShape { .. })
    ));
    let mut nan = global.clone();
    nan.get_mut("adapter.fc2.bias").unwrap().data_mut()[3] = f32::NAN;
    assert!(matches!(
        plain.evaluate_round(&nan, &cfg),
        Err(FleetTaskError::NonFinite { .. })
    ));
    let wrong_classes = config(&[(
        "head-classes",
        ConfigValue::StrList(vec!["x".into(), "y".into()]),
    )]);
    assert!(labeled.train_round(&global, &wrong_classes).is_err());

    // A federation's head may know classes this device has no labels of: the device keeps the
    // global head (a softmax fitted on some classes only does not average well) and still
    // trains the adapter.
    let mut wider_classes = classes.clone();
    wider_classes.push("zz-unseen".into());
    let mut wider = global.clone();
    let weight: Vec<f32> = (0..(c + 1) * 256)
        .map(|j| (j as f32 * 0.01).sin())
        .collect();
    wider.insert(HEAD_WEIGHT, NdArray::new(vec![c + 1, 256], weight).unwrap());
    let bias: Vec<f32> = (0..=c).map(|k| k as f32 * 0.1).collect();
    wider.insert(HEAD_BIAS, NdArray::new(vec![1, c + 1], bias).unwrap());
    let wider_cfg = config(&[
        ("local-epochs", ConfigValue::Int(1)),
        ("server-round", ConfigValue::Int(2)),
        ("head-classes", ConfigValue::StrList(wider_classes)),
    ]);
    let (sent, _) = labeled.train_round(&wider, &wider_cfg).unwrap();
    assert_eq!(sent.get(HEAD_WEIGHT), wider.get(HEAD_WEIGHT));
    assert_eq!(sent.get(HEAD_BIAS), wider.get(HEAD_BIAS));
    assert_ne!(
        sent.get("adapter.fc2.weight"),
        wider.get("adapter.fc2.weight"),
        "the adapter still trains"
    );
}
