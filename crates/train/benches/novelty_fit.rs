// Guards the cost of fitting `adapt`'s default novelty model: an autoencoder trained for 30
// epochs on the feature means of the adapted frames. MobileNetV3-Small's means are 1,936 wide;
// on 1,000 frames this fit is a whole forward pass's worth of `adapt`'s time, spent after the
// encoder is done, so a lost vectorized optimizer loop or a GEMM that stops using both cores
// shows up directly in `bench --adapt`'s ratio — and here first.
use std::hint::black_box;
use std::ops::ControlFlow;

use criterion::{Criterion, criterion_group, criterion_main};
use edge_ssl_train::Rng;
use edge_ssl_train::novelty::{NoveltyConfig, NoveltyModel};
use ndarray::Array2;

fn novelty_fit(c: &mut Criterion) {
    let mut rng = Rng::new(11);
    // Feature means are non-negative and correlated across channels: a few latent factors
    // through a ReLU, as after the encoder's activations.
    let factors = Array2::from_shape_simple_fn((1000, 8), || rng.normal());
    let mixing = Array2::from_shape_simple_fn((8, 1936), || rng.normal());
    let rows = factors.dot(&mixing).mapv(|v| v.max(0.0));
    let config = NoveltyConfig::default();
    let mut group = c.benchmark_group("novelty");
    group.sample_size(10);
    group.bench_function("autoencoder_1000x1936", |b| {
        b.iter(|| {
            let model = NoveltyModel::fit(rows.view(), &config, |_| ControlFlow::Continue(()));
            black_box(model.expect("the fit runs"))
        })
    });
    group.finish();
}

criterion_group!(benches, novelty_fit);
criterion_main!(benches);
