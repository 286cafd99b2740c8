// Guards: the cost of one adapter training step at batch 256, D = 128 (VICReg and SimCLR), the
// MLP math that `edge-ssl adapt` repeats ~190 times for 5,000 frames × 10 epochs. A regression
// here (a stray allocation per element, a lost matmul fast path) multiplies directly into
// adapt's wall time on a 2-core device.
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use edge_ssl_train::Rng;
use edge_ssl_train::trainer::{AdapterTrainer, Method, TrainConfig, Views};
use ndarray::Array3;

fn views() -> Views {
    let mut rng = Rng::new(1);
    Views::new(Array3::from_shape_simple_fn((8, 5000, 128), || {
        rng.normal()
    }))
    .unwrap()
}

fn adapter_step(c: &mut Criterion) {
    let views = views();
    let mut group = c.benchmark_group("adapter_step_b256_d128");
    for method in [Method::Vicreg, Method::Simclr] {
        let config = TrainConfig::default().with_method(method).with_batch(256);
        let mut trainer = AdapterTrainer::new(config, &views).unwrap();
        group.bench_function(method.name(), |b| {
            b.iter(|| black_box(trainer.step(&views).unwrap()))
        });
    }
    group.finish();
}

criterion_group!(benches, adapter_step);
criterion_main!(benches);
