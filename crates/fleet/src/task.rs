//! The device side of a round: what a node does with the arrays a ServerApp sent. The
//! client handles the protocol; a [`FleetTask`] only trains and evaluates.

use crate::records::arrays::Arrays;
use crate::records::config::Config;
use crate::records::metrics::Metrics;

/// An error a task reports; it goes back to the ServerApp as the reply's error reason.
pub type TaskError = Box<dyn std::error::Error + Send + Sync>;

/// Local training and evaluation on one device.
///
/// `arrays` are the global arrays of this round (FedAvg's `arrays` record) and `config` the
/// ServerApp's config (FedAvg adds `server-round`). A train reply's metrics must hold
/// [`crate::NUM_EXAMPLES`]: FedAvg weights every node's arrays by it.
pub trait FleetTask {
    /// Trains from `arrays`; returns the updated arrays (same names) and metrics.
    fn train(&mut self, arrays: &Arrays, config: &Config) -> Result<(Arrays, Metrics), TaskError>;

    /// Evaluates `arrays` locally; returns metrics (with `num-examples`). By default a node
    /// does not evaluate, and says so to the ServerApp.
    fn evaluate(&mut self, arrays: &Arrays, config: &Config) -> Result<Metrics, TaskError> {
        let _ = (arrays, config);
        Err("this node does not evaluate".into())
    }
}
