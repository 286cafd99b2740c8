//! Wall time of a full `adapt`-sized run (5,000 frames × 8 views × 128-d, 10 epochs, batch 256)
//! for each method, on synthetic embeddings: the MLP-math half of the 15 s budget.
//!
//! `cargo run --release -p edge-ssl-train --example adapt_speed [method…]`
use std::ops::ControlFlow;
use std::time::Instant;

use edge_ssl_train::Rng;
use edge_ssl_train::trainer::{Method, TrainConfig, Views, adapt};
use ndarray::Array3;

fn main() {
    let mut rng = Rng::new(1);
    let views = Views::new(Array3::from_shape_simple_fn((8, 5000, 128), || {
        rng.normal()
    }))
    .unwrap();
    let methods: Vec<Method> = match std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(m) if !m.is_empty() => m,
        Ok(_) => Method::ALL.to_vec(),
        Err(e) => panic!("{e}"),
    };
    for method in methods {
        let start = Instant::now();
        let out = adapt(&views, TrainConfig::default().with_method(method), |_| {
            ControlFlow::Continue(())
        })
        .unwrap();
        println!(
            "{method:>7}: {} steps in {:.2} s, loss {:.4} -> {:.4}",
            out.loss_curve.len(),
            start.elapsed().as_secs_f64(),
            out.loss_curve[0],
            out.loss_curve.last().unwrap()
        );
    }
}
