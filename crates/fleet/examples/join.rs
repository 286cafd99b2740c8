//! Join a Flower federation as a device that adds a constant to every array it receives.
//!
//! ```text
//! flower-superlink --insecure --port 9093 &            # from PyPI flwr==1.42.0
//! cargo run -p edge-ssl-fleet --example join -- 127.0.0.1:9093 /tmp/node-a 1.0 10
//! flwr run fleet/ local                                 # the ServerApp in fleet/
//! ```
//!
//! Arguments: SuperLink address, work directory (the node key lives there), the value to
//! add, and the number of examples to report (FedAvg's weight). It leaves after one run.

use edge_ssl_fleet::{
    Arrays, Config, FleetEvent, FleetTask, JoinOptions, Metrics, TaskError, join,
};

/// A stand-in for on-device adaptation: shifts every value by `delta`.
struct AddDelta {
    delta: f32,
    examples: u64,
}

impl FleetTask for AddDelta {
    fn train(&mut self, arrays: &Arrays, config: &Config) -> Result<(Arrays, Metrics), TaskError> {
        let epochs = config.get_i64("local-epochs").unwrap_or(1);
        let mut out = arrays.clone();
        for (_, array) in out.iter_mut() {
            array.data_mut().iter_mut().for_each(|v| *v += self.delta);
        }
        let metrics = Metrics::with_num_examples(self.examples).with("local-epochs", epochs);
        Ok((out, metrics))
    }

    fn evaluate(&mut self, arrays: &Arrays, _config: &Config) -> Result<Metrics, TaskError> {
        let (sum, n) = arrays
            .iter()
            .flat_map(|(_, a)| a.data())
            .fold((0.0f64, 0usize), |(s, n), v| (s + f64::from(*v), n + 1));
        let loss = if n == 0 { 0.0 } else { sum / n as f64 };
        Ok(Metrics::with_num_examples(self.examples).with("loss", loss))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let superlink = args.first().map_or("127.0.0.1:9093", String::as_str);
    let work = args
        .get(1)
        .map_or("/tmp/edge-ssl-fleet-node", String::as_str);
    let delta: f32 = args.get(2).map_or(Ok(1.0), |s| s.parse())?;
    let examples: u64 = args.get(3).map_or(Ok(10), |s| s.parse())?;

    let options = JoinOptions::new(superlink, work).with_max_runs(1);
    let mut task = AddDelta { delta, examples };
    let summary = join(&options, &mut task, &mut |event: &FleetEvent| {
        eprintln!("{event:?}")
    })?;
    eprintln!("{summary:?}");
    Ok(())
}
