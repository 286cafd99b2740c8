// Guards inference latency of the bundled encoder per backend at batch 1 and 32: the numbers
// quoted in the README come from here, and a regression in session caching (tract re-optimizing
// per call) or thread setup shows up as a jump of orders of magnitude.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use edge_ssl_runtime::{BackendKind, BackendOptions, card_for, select_backend};
use ndarray::ArrayD;

fn bench(c: &mut Criterion) {
    let onnx =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/fmnist-ssl/encoder.onnx");
    let card = card_for(&onnx, None).unwrap();
    let threads: usize = std::env::var("EDGE_SSL_BENCH_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(2);
    let mut group = c.benchmark_group(format!("infer_{threads}threads"));
    for (name, kind) in [("tract", BackendKind::Tract), ("ort", BackendKind::Ort)] {
        let options = BackendOptions::default().with_threads(Some(threads));
        let Ok((backend, _)) = select_backend(kind, &options) else {
            eprintln!("skipping {name}: backend unavailable");
            continue;
        };
        let mut session = backend.load(&onnx, &card).unwrap();
        for batch in [1usize, 32] {
            let input = ArrayD::from_shape_fn(card.input.batch_shape(batch).to_vec(), |idx| {
                ((idx[2] * 7 + idx[3] * 3 + idx[0]) % 17) as f32 / 17.0
            });
            session.run_one(input.view()).unwrap();
            group.bench_function(BenchmarkId::new(name, batch), |b| {
                b.iter(|| session.run_one(input.view()).unwrap())
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
