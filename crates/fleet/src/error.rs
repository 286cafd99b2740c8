//! One error type for the whole client, so a caller can tell a refused signature from a
//! tampered object from a SuperLink that went away, and decide whether to retry.

use std::path::PathBuf;

/// Everything that can go wrong while taking part in a Flower federation.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// The SuperLink could not be reached, or the connection broke (worth retrying).
    #[error("cannot reach the SuperLink at {url}: {reason}")]
    Transport { url: String, reason: String },
    /// The SuperLink answered with an HTTP error; `body` is its (bounded) JSON explanation.
    #[error("SuperLink refused {endpoint} with HTTP {status}: {body}")]
    Status {
        endpoint: &'static str,
        status: u16,
        body: String,
    },
    /// HTTP 401: the signature, the timestamp window or the node's identity was refused.
    #[error(
        "SuperLink refused this node's authentication on {endpoint} (HTTP 401: {body}); \
         check the clock (Flower accepts a timestamp at most 5 s ahead and 305 s behind) \
         and, with SuperNode authentication on, that this node's public key is registered"
    )]
    Unauthorized {
        endpoint: &'static str,
        body: String,
    },
    /// A response or object exceeded a configured bound.
    #[error("{what} is {size} bytes, over the limit of {limit}")]
    TooLarge { what: String, size: u64, limit: u64 },
    /// A response body was not the protobuf message the endpoint promises.
    #[error("malformed {endpoint} response")]
    Decode {
        endpoint: &'static str,
        #[source]
        source: prost::DecodeError,
    },
    /// An object's bytes do not hash to the id they were requested under.
    #[error("object {expected} was tampered with or corrupted: its content hashes to {actual}")]
    HashMismatch { expected: String, actual: String },
    /// An object is well-hashed but not a valid Flower object of the expected shape.
    #[error("object {id} is malformed: {reason}")]
    MalformedObject { id: String, reason: String },
    /// The SuperLink does not have an object the message tree names.
    #[error("SuperLink does not have object {id}")]
    ObjectNotFound { id: String },
    /// An object stayed unavailable for longer than the pull deadline.
    #[error("object {id} stayed unavailable for {waited_s:.1} s")]
    ObjectUnavailable { id: String, waited_s: f64 },
    /// An array uses a dtype or layout this client does not convert.
    #[error("array {name:?}: {reason}")]
    UnsupportedArray { name: String, reason: String },
    /// The SuperLink refused to store an object we pushed.
    #[error("SuperLink did not store object {id}")]
    PushRefused { id: String },
    /// The node key file exists but cannot be used.
    #[error("node key {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    /// Reading or writing the work directory failed.
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The TLS root certificates could not be used.
    #[error("root certificates: {reason}")]
    Tls { reason: String },
    /// The options cannot work together (e.g. TLS asked for in a build without it).
    #[error("{0}")]
    Config(String),
    /// The heartbeat told us the SuperLink no longer knows this node.
    #[error("SuperLink no longer recognizes node {node_id}")]
    NodeForgotten { node_id: u64 },
}

/// The result type of this crate.
pub type Result<T, E = FleetError> = std::result::Result<T, E>;
