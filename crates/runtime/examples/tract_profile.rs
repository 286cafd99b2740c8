//! Where tract spends its time: per-node wall time of the optimized plan.
//!
//! `cargo run --release --example tract_profile -- MODEL.onnx C H W [BATCH] [THREADS] [RUNS]`
//! prints the slowest nodes of the optimized plan (mean over RUNS after 5 warm-up runs),
//! grouped by op, so a regression or a slow kernel shows by name. The plan is the one the runtime
//! builds (with [`edge_ssl_runtime::tract::optimize`]); set `NO_REWRITE=1` for tract's plain one,
//! and `PROBE=1` to profile the model's BN probe (every BatchNormalization in training mode, as
//! `adapt` runs it) instead of the model; `DUMP=1` lists the decluttered model's nodes first
//! (op, name, output shape, inputs, and each einsum's expression), to see what a rewrite can match.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tract_onnx::prelude::*;
use tract_onnx::tract_core::plan::eval;
use tract_onnx::tract_core::tract_linalg::multithread::{Executor, multithread_tract_scope};

fn main() -> TractResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, d: usize| args.get(i).map_or(d, |s| s.parse().expect("number"));
    let path = args
        .first()
        .expect("usage: tract_profile MODEL.onnx C H W [BATCH] [THREADS] [RUNS]");
    let (c, h, w) = (num(1, 1), num(2, 28), num(3, 28));
    let (batch, threads, runs) = (num(4, 1), num(5, 1), num(6, 50));
    let probe = std::env::temp_dir().join(format!("tract-profile-{}.onnx", std::process::id()));
    let path = if std::env::var_os("PROBE").is_some() {
        let layers = edge_ssl_runtime::onnx::write_bn_probe(path.as_ref(), &probe)?;
        println!("BN probe of {path}: {layers} layer(s)");
        probe.to_str().expect("a UTF-8 temporary path")
    } else {
        path.as_str()
    };
    let model = edge_ssl_runtime::tract::importer().model_for_path(path);
    let _ = std::fs::remove_file(&probe);
    let model = model?
        .with_input_fact(0, f32::fact([batch, c, h, w]).into())?
        .into_typed()?
        .into_decluttered()?;
    if std::env::var_os("DUMP").is_some() {
        for node in &model.nodes {
            let inputs: Vec<String> = node
                .inputs
                .iter()
                .map(|i| format!("{}/{}", i.node, i.slot))
                .collect();
            println!(
                "#{} {} [{}] {:?} <- {}",
                node.id,
                node.op().name(),
                node.name,
                node.outputs[0].fact.shape,
                inputs.join(",")
            );
            if let Some(e) = node.op_as::<tract_onnx::tract_core::ops::einsum::EinSum>() {
                println!("    {:?}", e);
            }
        }
    }
    // The plan the runtime runs; `NO_REWRITE=1` for tract's plain optimization.
    let model = if std::env::var_os("NO_REWRITE").is_some() {
        model.into_optimized()?
    } else {
        edge_ssl_runtime::tract::optimize(model)?
    };
    let plan = model.into_runnable()?;
    let mut state = plan.spawn()?;
    let input: TValue = Tensor::zero::<f32>(&[batch, c, h, w])?.into_tvalue();
    let executor = if threads > 1 {
        Executor::multithread(threads)
    } else {
        Executor::SingleThread
    };
    let mut per_node: HashMap<usize, (String, String, Duration)> = HashMap::new();
    let mut total = Duration::ZERO;
    let mut fastest = Duration::MAX;
    for run in 0..runs + 5 {
        let t0 = Instant::now();
        multithread_tract_scope(executor.clone(), || {
            state.run_plan_with_eval(tvec!(input.clone()), |ctx, st, node, inputs| {
                let t = Instant::now();
                let out = eval(ctx, st, node, inputs);
                if run >= 5 {
                    let e = per_node.entry(node.id).or_insert_with(|| {
                        (
                            node.op().name().to_string(),
                            node.name.to_string(),
                            Duration::ZERO,
                        )
                    });
                    e.2 += t.elapsed();
                }
                out
            })
        })?;
        if run >= 5 {
            total += t0.elapsed();
            fastest = fastest.min(t0.elapsed());
        }
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3 / runs as f64;
    println!(
        "{path}: batch {batch}, {threads} thread(s): {:.3} ms per run (fastest {:.3} ms)",
        ms(total),
        fastest.as_secs_f64() * 1e3
    );
    let mut by_op: HashMap<String, Duration> = HashMap::new();
    for (op, _, d) in per_node.values() {
        *by_op.entry(op.clone()).or_default() += *d;
    }
    let mut ops: Vec<_> = by_op.into_iter().collect();
    ops.sort_by_key(|o| std::cmp::Reverse(o.1));
    for (op, d) in &ops {
        println!("  {:>8.3} ms  {op}", ms(*d));
    }
    let mut nodes: Vec<_> = per_node.into_iter().collect();
    nodes.sort_by_key(|n| std::cmp::Reverse(n.1.2));
    println!("slowest nodes:");
    for (id, (op, name, d)) in nodes.iter().take(15) {
        println!(
            "  {:>8.3} ms  #{id} {op} {name}  {:?}",
            ms(*d),
            plan.model().node(*id).outputs[0].fact
        );
    }
    Ok(())
}
