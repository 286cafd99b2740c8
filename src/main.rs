//! `edge-ssl`: run self-supervised ONNX encoders on edge devices and adapt them to a camera's
//! own frames without labels. This binary only parses flags and wires the library crates
//! together; every piece of real work lives in a crate that can be tested on its own.

mod adapt;
mod bench;
mod cli;
mod demo_data;
mod embedder;
mod fmnist;
mod image_set;
mod live;
mod model_dir;
mod model_ref;
mod plot;
mod progress;
mod shifted_domain;

use clap::Parser;

fn main() {
    let args = cli::Cli::parse();
    if let Err(e) = cli::run(args) {
        // One line, the whole cause chain: what failed and why.
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
