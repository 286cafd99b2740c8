// Guards: the cost of rendering one camera-like view (crop + resize from a 64×64 8-bit frame to
// 28×28, exposure, blur, noise), which `edge-ssl adapt` repeats 40,000 times for 5,000 frames ×
// 8 views. It must stay a small fraction of the encoder's ~0.1–0.3 ms per image; a regression
// (an allocation per view, a lost vectorized loop, libm `powf` per pixel) shows up here first.
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use edge_ssl_train::Rng;
use edge_ssl_train::augment::{AugmentConfig, Augmenter};
use ndarray::Array3;

fn augment(c: &mut Criterion) {
    let mut rng = Rng::new(1);
    let frame = Array3::from_shape_simple_fn((1, 64, 64), || rng.below(256) as u8);
    let augmenter = Augmenter::new(AugmentConfig::camera(), 28, 28, 0).unwrap();
    let mut out = vec![0.0f32; 28 * 28];
    let mut scratch = Vec::new();
    let mut view = 0u64;
    c.bench_function("camera_view_64_to_28", |b| {
        b.iter(|| {
            view += 1;
            augmenter
                .render(frame.view(), 7, view, &mut out, &mut scratch)
                .unwrap();
            black_box(&out);
        })
    });
}

criterion_group!(benches, augment);
criterion_main!(benches);
