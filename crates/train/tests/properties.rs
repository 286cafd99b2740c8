//! Properties that must hold for any input shape the CLI can hand over: augmentation never
//! leaves [0, 1] or the requested size and is a pure function of (seed, frame, view); heads
//! always return a probability distribution; the adapter file round-trips exactly.

use edge_ssl_train::Rng;
use edge_ssl_train::augment::{AugmentConfig, Augmenter};
use edge_ssl_train::head::{Head, HeadKind};
use edge_ssl_train::nn::Adapter;
use ndarray::{Array2, Array3};
use proptest::prelude::*;

fn image(c: usize, h: usize, w: usize, seed: u64) -> Array3<f32> {
    let mut rng = Rng::new(seed);
    Array3::from_shape_simple_fn((c, h, w), || rng.next_f32())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn augmentation_is_bounded_sized_and_reproducible(
        c in 1usize..4, h in 1usize..24, w in 1usize..24,
        oh in 1usize..20, ow in 1usize..20, seed in any::<u64>(), frame in any::<u64>(), camera in any::<bool>(),
    ) {
        let config = if camera { AugmentConfig::camera() } else { AugmentConfig::default() };
        let a = Augmenter::new(config, oh, ow, seed).unwrap();
        let img = image(c, h, w, seed);
        let v = a.augment(img.view(), frame, 3).unwrap();
        prop_assert_eq!(v.dim(), (c, oh, ow));
        prop_assert!(v.iter().all(|x| (0.0..=1.0).contains(x)));
        prop_assert_eq!(v, a.augment(img.view(), frame, 3).unwrap());
    }

    #[test]
    fn head_probabilities_are_distributions(n_per in 1usize..6, classes in 2usize..5, d in 1usize..8, seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let n = n_per * classes;
        let x = Array2::from_shape_simple_fn((n, d), || rng.normal());
        let labels: Vec<usize> = (0..n).map(|i| i % classes).collect();
        let names: Vec<String> = (0..classes).map(|c| c.to_string()).collect();
        for kind in [HeadKind::Softmax, HeadKind::Imprint, HeadKind::Knn] {
            let head = Head::fit(kind, x.view(), &labels, names.clone()).unwrap();
            let p = head.probabilities(x.view()).unwrap();
            for row in p.rows() {
                prop_assert!((row.sum() - 1.0).abs() < 1e-4);
                prop_assert!(row.iter().all(|v| v.is_finite() && *v >= 0.0));
            }
        }
    }

    #[test]
    fn adapter_file_round_trips(d in 1usize..10, hidden in 1usize..10, seed in any::<u64>()) {
        let mut a = Adapter::new(d, hidden, &mut Rng::new(seed));
        let mut rng = Rng::new(seed ^ 1);
        a.fc2.weight.value.mapv_inplace(|_| rng.normal());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("adapter.safetensors");
        a.save(&path).unwrap();
        let b = Adapter::load(&path).unwrap();
        let x = Array2::from_shape_simple_fn((3, d), || rng.normal());
        prop_assert_eq!(a.apply(x.view()).unwrap(), b.apply(x.view()).unwrap());
    }
}
