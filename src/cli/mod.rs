mod adapt;
mod backend_args;
mod bench;
mod bundle;
mod cluster;
mod demo;
mod embed;
mod eval;
mod export;
#[cfg(feature = "fleet")]
mod fleet;
mod head;
#[cfg(test)]
mod help_lines;
mod info;
pub(crate) mod limits;
pub(crate) mod model_arg;
mod novelty_args;
mod run;
mod source_args;

use clap::{Parser, Subcommand};

pub use backend_args::BackendArgs;
pub use novelty_args::NoveltyArgs;
pub use source_args::SourceArgs;

/// Run and adapt self-supervised ONNX encoders on edge devices.
///
/// MODEL arguments accept an ONNX file (its card `x.toml` beside `x.onnx` is read when present),
/// a model directory (with `edge-ssl.toml`), or `default` for the bundled Fashion-MNIST encoder.
#[derive(Debug, Parser)]
#[command(name = "edge-ssl", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Info(info::InfoArgs),
    Embed(embed::EmbedArgs),
    Adapt(adapt::AdaptArgs),
    Head(head::HeadArgs),
    Cluster(cluster::ClusterArgs),
    Eval(eval::EvalArgs),
    Export(export::ExportArgs),
    Demo(demo::DemoArgs),
    Run(run::RunArgs),
    Bench(bench::BenchArgs),
    Bundle(bundle::BundleArgs),
    #[cfg(feature = "fleet")]
    Fleet(fleet::FleetArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Info(args) => info::run(args),
        Command::Embed(args) => embed::run(args),
        Command::Adapt(args) => adapt::run(args),
        Command::Head(args) => head::run(args),
        Command::Cluster(args) => cluster::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Export(args) => export::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Run(args) => run::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Bundle(args) => bundle::run(args),
        #[cfg(feature = "fleet")]
        Command::Fleet(args) => fleet::run(args),
    }
}
