//! The Fleet API's protobuf messages, generated at build time from flwr 1.42.0's descriptors.
#![allow(clippy::all, missing_docs)]
include!(concat!(env!("OUT_DIR"), "/flwr.proto.rs"));
