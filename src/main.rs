//! `edge-ssl`: run self-supervised ONNX encoders on edge devices and adapt them to a camera's
//! own frames without labels. This binary only parses flags and wires the library crates
//! together; every piece of real work lives in a crate that can be tested on its own.

mod cli;
mod live;
mod progress_bars;

use clap::Parser;

fn main() {
    // Past a file-size limit (`ulimit -f`) the kernel sends SIGXFSZ, whose default action kills
    // the process mid-write. Ignored, the write fails with EFBIG instead, and the atomic-write
    // error path removes its temporary file and reports the file it could not write.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    edge_ssl::allocator::tune_for_training();
    let args = cli::Cli::parse();
    if let Err(e) = cli::run(args) {
        if interrupted(&e) {
            // 128 + SIGINT, as a shell reports a command Ctrl-C stopped.
            eprintln!(
                "error: interrupted; outputs were left as they were (`adapt --resume` continues from its last checkpoint)"
            );
            std::process::exit(130);
        }
        // One line, whatever the causes hold (ONNX Runtime's messages span several lines).
        eprintln!(
            "error: {}{}",
            edge_ssl_core::one_line(&format!("{e:#}")),
            advice(&e)
        );
        std::process::exit(1);
    }
}

/// Whether `e` is the library stopping because Ctrl-C or SIGTERM cancelled its progress (or
/// anything failing after one arrived).
fn interrupted(e: &anyhow::Error) -> bool {
    live::interrupt::requested()
        || e.chain()
            .filter_map(|c| c.downcast_ref::<edge_ssl::Error>())
            .any(edge_ssl::Error::is_cancelled)
}

/// The flag to change, for library errors that are about something a flag sets (the library's
/// messages do not know the CLI's flags).
fn advice(e: &anyhow::Error) -> &'static str {
    let Some(e) = e.chain().find_map(|c| c.downcast_ref::<edge_ssl::Error>()) else {
        return "";
    };
    match e.root() {
        edge_ssl::Error::ViewCacheTooLarge { .. } => "; lower --views or --max-frames",
        edge_ssl::Error::ActivationCacheTooLarge { .. } => {
            "; lower --max-frames or N of --train tail:N"
        }
        edge_ssl::Error::EndlessSource(_) => " (pass --max-frames N)",
        edge_ssl::Error::NoHead { .. } => {
            "; fit one first with `edge-ssl head --model MODEL --labeled DIR --out DIR`"
        }
        edge_ssl::Error::StaleHead { .. } => {
            " with `edge-ssl head --model DIR --labeled ROOT --out DIR`"
        }
        edge_ssl::Error::ResumeMismatch(_) => "; run without --resume to start over",
        _ => "",
    }
}
