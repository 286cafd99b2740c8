//! Generates the Fleet API's protobuf types from the committed descriptor set.
//!
//! flwr ships `_pb2.py` modules, not `.proto` files; `proto/dump_descriptors.py` dumps their
//! descriptors into `proto/flwr-1.42.0.fds.bin`. Compiling that set here (instead of
//! committing generated Rust) keeps one source of truth for the wire format and needs no
//! `protoc`: prost-build decodes the set itself.

use prost::Message as _;

const FDS: &str = "proto/flwr-1.42.0.fds.bin";

fn main() {
    println!("cargo:rerun-if-changed={FDS}");
    let bytes = std::fs::read(FDS).expect("the committed descriptor set is readable");
    let fds = prost_types::FileDescriptorSet::decode(bytes.as_slice())
        .expect("the committed descriptor set decodes");
    prost_build::Config::new()
        .compile_fds(fds)
        .expect("prost-build compiles the Fleet API descriptors");
}
