// Guards the cost of each SSL loss's value + gradient at batch 256, D = 128 (and K = 4 views for
// EMP, a 4096-key queue for MoCo), apart from the MLPs around them. The adapter_step bench sees
// only VICReg and SimCLR inside a whole step; a loss that turns quadratic in D or N by accident
// (a D×D covariance recomputed per column, a dense 2N×2N mask materialized twice, EMP's Cholesky
// gone back to a generic inverse) shows up here as one row jumping while the others stay put.
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use edge_ssl_train::Rng;
use edge_ssl_train::loss::{BarlowTwins, Byol, Emp, Loss, Margin, MocoQueue, NtXent, VicReg};
use ndarray::Array2;

const N: usize = 256;
const D: usize = 128;

fn views(k: usize) -> Vec<Array2<f32>> {
    let mut rng = Rng::new(7);
    let base = Array2::from_shape_simple_fn((N, D), || rng.normal());
    (0..k)
        .map(|_| &base + &Array2::from_shape_simple_fn((N, D), || 0.3 * rng.normal()))
        .collect()
}

fn losses(c: &mut Criterion) {
    let pair = views(2);
    let four = views(4);
    let pair_views: Vec<_> = pair.iter().map(|v| v.view()).collect();
    let four_views: Vec<_> = four.iter().map(|v| v.view()).collect();
    let moco = MocoQueue::new(4096, D, 0.2, &mut Rng::new(3)).unwrap();
    type Case<'a> = (
        &'static str,
        Box<dyn Loss>,
        &'a [ndarray::ArrayView2<'a, f32>],
    );
    let cases: Vec<Case> = vec![
        ("vicreg", Box::new(VicReg::default()), &pair_views),
        (
            "barlow_twins",
            Box::new(BarlowTwins::default()),
            &pair_views,
        ),
        ("nt_xent", Box::new(NtXent::default()), &pair_views),
        ("moco_q4096", Box::new(moco), &pair_views),
        ("byol", Box::new(Byol), &pair_views),
        ("margin", Box::new(Margin::default()), &pair_views),
        ("emp_k4", Box::new(Emp::default()), &four_views),
    ];
    let mut group = c.benchmark_group("loss_b256_d128");
    for (name, loss, inputs) in &cases {
        loss.loss(inputs).unwrap();
        group.bench_function(*name, |b| {
            b.iter(|| black_box(loss.loss(black_box(inputs)).unwrap()))
        });
    }
    group.finish();
}

criterion_group!(benches, losses);
criterion_main!(benches);
