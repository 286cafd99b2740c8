//! A Flower SuperNode in Rust: a device joins a Flower (flwr 1.42) federation with no Python
//! on it.
//!
//! ```no_run
//! use edge_ssl_fleet::{join, Arrays, Config, FleetTask, JoinOptions, Metrics, TaskError};
//!
//! struct AddOne;
//! impl FleetTask for AddOne {
//!     fn train(&mut self, arrays: &Arrays, _config: &Config) -> Result<(Arrays, Metrics), TaskError> {
//!         let mut out = arrays.clone();
//!         for (_, a) in out.iter_mut() {
//!             a.data_mut().iter_mut().for_each(|v| *v += 1.0);
//!         }
//!         Ok((out, Metrics::with_num_examples(10)))
//!     }
//! }
//!
//! let options = JoinOptions::new("127.0.0.1:8000", "/var/lib/edge-ssl").with_max_runs(1);
//! let summary = join(&options, &mut AddOne, &mut |event| eprintln!("{event:?}"))?;
//! # Ok::<(), edge_ssl_fleet::FleetError>(())
//! ```
//!
//! Flower's SuperLink speaks the Fleet API as protobuf over HTTP (`POST /v1/fleet/<name>`);
//! every request is signed with the node's ECDSA P-384 key ([`identity`]); a message's
//! content travels as content-addressed objects that are pulled one by one and verified
//! against their SHA-256 ids ([`objects`]). The server side stays Flower's own: the
//! SuperLink, a ServerApp with FedAvg, `flwr run`. This crate is only the protocol and the
//! node's loop; what a device learns is a [`FleetTask`].
//!
//! The wire format changes between flwr minor versions, so it is pinned: the protobuf types
//! are generated from descriptors dumped from the flwr 1.42.0 wheel
//! (`proto/dump_descriptors.py`), and the object encodings follow its sources byte for
//! byte, so a reply built here has the ids Python would compute.

pub mod error;
pub mod heartbeat;
pub mod identity;
pub mod join;
pub mod objects;
pub mod pem;
pub mod proto;
pub mod records;
pub mod reply;
pub mod session;
pub mod task;
pub mod timestamp;
pub mod transport;
pub mod trust;

pub use error::{FleetError, Result};
pub use identity::NodeKey;
pub use join::{FleetEvent, JoinOptions, JoinSummary, join};
pub use records::arrays::{Arrays, NdArray};
pub use records::config::{Config, ConfigValue};
pub use records::metrics::{MetricValue, Metrics, NUM_EXAMPLES};
pub use records::record_dict::{Record, RecordDict};
pub use session::{PullLimits, PushStats, Session};
pub use task::{FleetTask, TaskError};
pub use transport::{Limits, Security, Transport};
