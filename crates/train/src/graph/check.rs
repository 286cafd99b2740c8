//! Finite-difference checks for graph ops (test-only): one node (or a small graph) with
//! random inputs and trainable initializers, the objective `Σ y ⊙ R` for a fixed random `R`
//! summed in f64, central differences on every input and parameter element, compared with
//! [`crate::gradcheck::relative_error`]'s whole-gradient measure. Elements whose one-sided
//! slopes disagree sit on a kink and are skipped, as in `gradcheck`.

use std::collections::BTreeMap;

use ndarray::{Array2, ArrayD, IxDyn};

use super::{Graph, GraphSpec, NodeSpec};
use crate::Rng;
use crate::gradcheck::relative_error;

const STEP: f32 = 1e-3;
const TOLERANCE: f64 = 1e-2;

pub fn random(shape: &[usize], seed: u64) -> ArrayD<f32> {
    let mut rng = Rng::new(seed);
    ArrayD::from_shape_simple_fn(IxDyn(shape), || rng.normal())
}

/// A graph of `nodes` whose float inputs are `inputs` (differentiated as graph inputs) and
/// `params` (trainable initializers); `consts` and `ints` are frozen.
pub struct Case {
    pub nodes: Vec<NodeSpec>,
    pub inputs: Vec<(&'static str, ArrayD<f32>)>,
    pub params: Vec<(&'static str, ArrayD<f32>)>,
    pub consts: Vec<(&'static str, ArrayD<f32>)>,
    pub ints: Vec<(&'static str, ArrayD<i64>)>,
}

impl Case {
    pub fn node(node: NodeSpec) -> Self {
        Case {
            nodes: vec![node],
            inputs: Vec::new(),
            params: Vec::new(),
            consts: Vec::new(),
            ints: Vec::new(),
        }
    }

    pub fn input(mut self, name: &'static str, shape: &[usize], seed: u64) -> Self {
        self.inputs.push((name, random(shape, seed)));
        self
    }

    pub fn input_value(mut self, name: &'static str, value: ArrayD<f32>) -> Self {
        self.inputs.push((name, value));
        self
    }

    pub fn param(mut self, name: &'static str, shape: &[usize], seed: u64) -> Self {
        self.params.push((name, random(shape, seed)));
        self
    }

    pub fn param_value(mut self, name: &'static str, value: ArrayD<f32>) -> Self {
        self.params.push((name, value));
        self
    }

    pub fn constant(mut self, name: &'static str, value: ArrayD<f32>) -> Self {
        self.consts.push((name, value));
        self
    }

    pub fn ints(mut self, name: &'static str, value: &[i64]) -> Self {
        let v = ArrayD::from_shape_vec(IxDyn(&[value.len()]), value.to_vec()).expect("vector");
        self.ints.push((name, v));
        self
    }

    pub fn build(&self) -> Graph {
        let mut initializers: BTreeMap<String, ArrayD<f32>> = BTreeMap::new();
        for (n, v) in self.params.iter().chain(&self.consts) {
            initializers.insert(n.to_string(), v.clone());
        }
        let spec = GraphSpec {
            inputs: self.inputs.iter().map(|(n, _)| n.to_string()).collect(),
            outputs: vec![self.nodes.last().expect("a node").outputs[0].clone()],
            nodes: self.nodes.clone(),
            initializers,
            int_initializers: self
                .ints
                .iter()
                .map(|(n, v)| (n.to_string(), v.clone()))
                .collect(),
            trainable: self.params.iter().map(|(n, _)| n.to_string()).collect(),
        };
        Graph::from_spec(spec).expect("valid test graph")
    }

    /// Checks dL/d(input) for every input and dL/d(param) for every param.
    /// Forward in training mode and backward give the same outputs, input and parameter
    /// gradients and updated initializers on 1 and on 4 threads, bit for bit.
    pub fn check_thread_independent(&self, seed: u64) {
        let run = |threads: usize| {
            crate::parallel::set_threads(threads);
            let mut g = self.build();
            let xs: Vec<ArrayD<f32>> = self.inputs.iter().map(|(_, v)| v.clone()).collect();
            let y = g.forward(xs, true).expect("forward").remove(0);
            let dx = g.backward(vec![random(y.shape(), seed)]).expect("backward");
            let grads: Vec<_> = g.params().iter().map(|p| p.grad.clone()).collect();
            (y, dx, grads, g.initializers())
        };
        let (one, four) = (run(1), run(4));
        crate::parallel::set_threads(0);
        assert!(one == four, "results differ between 1 and 4 threads");
    }

    pub fn check(&self) {
        let mut graph = self.build();
        let xs: Vec<ArrayD<f32>> = self.inputs.iter().map(|(_, v)| v.clone()).collect();
        let y = graph.forward(xs.clone(), true).expect("forward").remove(0);
        let r = random(y.shape(), 99);
        let gx = graph.backward(vec![r.clone()]).expect("backward");
        let objective = |g: &mut Graph, xs: &[ArrayD<f32>]| -> f64 {
            let y = g.forward(xs.to_vec(), true).expect("forward").remove(0);
            y.iter().zip(&r).map(|(&a, &b)| a as f64 * b as f64).sum()
        };
        for (i, (name, _)) in self.inputs.iter().enumerate() {
            let analytic = gx[i].clone().expect("input gradient");
            let mut xs = xs.clone();
            let numeric = numeric(xs[i].clone(), |v| {
                xs[i] = v.clone();
                objective(&mut graph, &xs)
            });
            assert_close(name, &analytic, &numeric);
        }
        let params: Vec<(String, Array2<f32>)> = graph
            .params()
            .iter()
            .map(|p| (p.name.clone(), p.grad.clone()))
            .collect();
        let shapes: BTreeMap<String, ArrayD<f32>> = graph.initializers();
        for (name, grad) in params {
            let value = shapes[&name].clone();
            let analytic = grad
                .into_shape_with_order(IxDyn(value.shape()))
                .expect("same size");
            let numeric = numeric(value.clone(), |v| {
                graph
                    .set_initializers(&BTreeMap::from([(name.clone(), v.clone())]))
                    .expect("set");
                objective(&mut graph, &xs)
            });
            graph
                .set_initializers(&BTreeMap::from([(name.clone(), value)]))
                .expect("restore");
            assert_close(&name, &analytic, &numeric);
        }
    }
}

fn numeric(mut x: ArrayD<f32>, mut f: impl FnMut(&ArrayD<f32>) -> f64) -> ArrayD<f64> {
    let center = f(&x);
    let h = STEP as f64;
    let mut g = ArrayD::zeros(x.raw_dim());
    for i in 0..x.len() {
        let orig = x.as_slice().expect("standard")[i];
        x.as_slice_mut().expect("standard")[i] = orig + STEP;
        let plus = f(&x);
        x.as_slice_mut().expect("standard")[i] = orig - STEP;
        let minus = f(&x);
        x.as_slice_mut().expect("standard")[i] = orig;
        let (right, left) = ((plus - center) / h, (center - minus) / h);
        let kink = (right - left).abs() > 0.01 + 0.01 * right.abs().max(left.abs());
        g.as_slice_mut().expect("standard")[i] = if kink {
            f64::NAN
        } else {
            (plus - minus) / (2.0 * h)
        };
    }
    g
}

fn assert_close(what: &str, analytic: &ArrayD<f32>, numeric: &ArrayD<f64>) {
    assert_eq!(analytic.shape(), numeric.shape(), "{what}: shape");
    let skipped = numeric.iter().filter(|v| v.is_nan()).count();
    assert!(
        skipped <= 1 || skipped * 10 <= numeric.len(),
        "{what}: {skipped} of {} elements on kinks",
        numeric.len()
    );
    let flat = |n: usize| (1, n);
    let a = analytic.iter().copied().collect::<Vec<_>>();
    let n = numeric.iter().copied().collect::<Vec<_>>();
    let a = Array2::from_shape_vec(flat(a.len()), a).expect("flat");
    let n = Array2::from_shape_vec(flat(n.len()), n).expect("flat");
    let err = relative_error(&a, &n);
    assert!(
        err < TOLERANCE,
        "{what}: relative error {err:.2e}\nanalytic {a:?}\nnumeric {n:?}"
    );
    assert!(
        a.iter().any(|&v| v != 0.0),
        "{what}: gradient is identically zero"
    );
}
