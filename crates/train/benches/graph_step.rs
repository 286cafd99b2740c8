// Guards: one training step (forward in train mode, backward, SGD update) of the imported graph
// for a 7-layer conv-BN-ReLU encoder (the bundled Fashion-MNIST encoder's shape: widths
// 32-32-64-64-128-128-256, strides 1,2,1,2,1,2,1, 3x3 kernels then 1x1, global average pool)
// at batch 64 on 28x28 inputs. `adapt --train all` repeats this step ~80 times per epoch over
// 5,000 frames; the issue's budget (54-77 ms for a hand-written im2col + sgemm step on this
// machine class) is what a regression here is measured against.
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use edge_ssl_train::Rng;
use edge_ssl_train::graph::{Attr, Graph, GraphSpec, NodeSpec};
use edge_ssl_train::optim::{Optimizer, Sgd};
use ndarray::{ArrayD, IxDyn};

fn encoder() -> Graph {
    let mut rng = Rng::new(0);
    let mut random = |shape: &[usize], scale: f32| {
        ArrayD::from_shape_simple_fn(IxDyn(shape), || rng.normal() * scale)
    };
    let layers = [
        (1, 32, 1, 3),
        (32, 32, 2, 3),
        (32, 64, 1, 3),
        (64, 64, 2, 3),
        (64, 128, 1, 3),
        (128, 128, 2, 3),
        (128, 256, 1, 1),
    ];
    let mut spec = GraphSpec {
        inputs: vec!["input".into()],
        outputs: vec!["embedding".into()],
        ..GraphSpec::default()
    };
    let mut x = "input".to_string();
    for (i, &(cin, cout, stride, k)) in layers.iter().enumerate() {
        let p = |s: &str| format!("features.{i}.{s}");
        let fan_in = (cin * k * k) as f32;
        spec.initializers.insert(
            p("0.weight"),
            random(&[cout, cin, k, k], (2.0 / fan_in).sqrt()),
        );
        spec.initializers
            .insert(p("1.weight"), ArrayD::ones(IxDyn(&[cout])));
        spec.initializers
            .insert(p("1.bias"), ArrayD::zeros(IxDyn(&[cout])));
        spec.initializers
            .insert(p("1.running_mean"), ArrayD::zeros(IxDyn(&[cout])));
        spec.initializers
            .insert(p("1.running_var"), ArrayD::ones(IxDyn(&[cout])));
        for t in ["0.weight", "1.weight", "1.bias"] {
            spec.trainable.insert(p(t));
        }
        let pad = (k / 2) as i64;
        spec.nodes.push(
            NodeSpec::new("Conv", &p("conv"), &[&x, &p("0.weight")], &[&p("c")])
                .with_attr("pads", Attr::Ints(vec![pad; 4]))
                .with_attr("strides", Attr::Ints(vec![stride; 2])),
        );
        let bn = [
            p("c"),
            p("1.weight"),
            p("1.bias"),
            p("1.running_mean"),
            p("1.running_var"),
        ];
        let bn: Vec<&str> = bn.iter().map(String::as_str).collect();
        spec.nodes.push(
            NodeSpec::new("BatchNormalization", &p("bn"), &bn, &[&p("b")])
                .with_attr("momentum", Attr::Float(0.9)),
        );
        spec.nodes
            .push(NodeSpec::new("Relu", &p("relu"), &[&p("b")], &[&p("r")]));
        x = p("r");
    }
    spec.nodes.push(NodeSpec::new(
        "GlobalAveragePool",
        "pool",
        &[&x],
        &["pooled"],
    ));
    spec.nodes.push(NodeSpec::new(
        "Flatten",
        "flatten",
        &["pooled"],
        &["embedding"],
    ));
    Graph::from_spec(spec)
        .expect("valid encoder")
        .with_input_grads(false)
}

fn graph_step(c: &mut Criterion) {
    let mut graph = encoder();
    let mut rng = Rng::new(1);
    let x = ArrayD::from_shape_simple_fn(IxDyn(&[64, 1, 28, 28]), || rng.normal());
    let r = ArrayD::from_shape_simple_fn(IxDyn(&[64, 256]), || rng.normal());
    let mut opt = Sgd::new(0.9, 1e-4);
    let mut t = 0;
    // One thread, then every core (the trainer's default): the ratio is what threading buys.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for threads in [1, cores] {
        edge_ssl_train::parallel::set_threads(threads);
        c.bench_function(
            &format!("graph_step_conv7_b64_28x28_threads{threads}"),
            |b| {
                b.iter(|| {
                    graph.zero_grad();
                    let y = graph.forward(vec![x.clone()], true).unwrap();
                    black_box(graph.backward(vec![r.clone()]).unwrap());
                    opt.step(graph.params_mut(), 0.01, t);
                    t += 1;
                    black_box(y)
                })
            },
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = graph_step
}
criterion_main!(benches);
