//! `run --http`: the live page (crate `edge-ssl-page`) fed from the run loop, and the head it
//! refits swapped into the loop between two frames. The loop's cost per frame is one
//! `offer` (a short lock and a channel `try_send`) and one `try_recv`.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use clap::Args;
use edge_ssl::embed::classifier::{Classifier, Decision};
use edge_ssl::model::reference::ResolvedModel;
use edge_ssl_page::{
    EncoderOptions, FrameEncoder, LiveState, Prediction, RefitFn, Server, ServerOptions,
};
use image::DynamicImage;

use crate::cli::BackendArgs;
use crate::live::head_refit;

/// The live page's flags.
#[derive(Debug, Args)]
pub struct PageArgs {
    /// Serve a live page at ADDR: the current frame, its class, confidence and novelty, recent
    /// frames, fps and latency percentiles over time, class counts, and labeling. A bare port
    /// (`8080`) binds loopback; give `0.0.0.0:8080` to let other machines in.
    #[arg(long, value_name = "ADDR")]
    http: Option<String>,
    /// Token that labeling and refitting from the page need (`Authorization: Bearer` or
    /// `?token=`); open the page as `/?token=TOKEN` to use them. Viewing needs none.
    #[arg(long, value_name = "TOKEN", requires = "http")]
    http_token: Option<String>,
    /// Where frames labeled on the page are saved, as an ImageFolder DIR/<class>/*.jpg
    /// (default: <model dir>/labels). The page's refit fits a softmax head on it.
    #[arg(long, value_name = "DIR", requires = "http")]
    labels_dir: Option<PathBuf>,
}

pub struct PageOut {
    encoder: FrameEncoder,
    refitted: Receiver<Classifier>,
    _server: Server,
}

impl PageOut {
    /// Starts the server when `--http` was given.
    pub fn start(
        args: &PageArgs,
        model: &ResolvedModel,
        backend: &BackendArgs,
        names: &[String],
    ) -> anyhow::Result<Option<PageOut>> {
        let Some(addr) = &args.http else {
            return Ok(None);
        };
        let addr = if addr.bytes().all(|b| b.is_ascii_digit()) {
            format!("127.0.0.1:{addr}")
        } else {
            addr.clone()
        };
        let labels = args
            .labels_dir
            .clone()
            .or_else(|| model.dir.as_ref().map(|d| d.join("labels")));
        let state = Arc::new(LiveState::new(names));
        let (tx, refitted) = channel();
        let refit: Option<Arc<RefitFn>> = model.dir.as_ref().map(|_| {
            let (model, backend, tx) = (model.clone(), backend.clone(), Mutex::new(tx));
            let state = state.clone();
            let f: Arc<RefitFn> = Arc::new(move |dir: &std::path::Path| {
                let (classifier, line) = head_refit::refit(&model, &backend, dir)?;
                state.set_class_names(classifier.class_names());
                tx.lock()
                    .map_err(|_| "the run loop is gone")?
                    .send(classifier)
                    .map_err(|_| "the run loop is gone")?;
                Ok(line)
            });
            f
        });
        let options = ServerOptions::default()
            .with_token(args.http_token.clone())
            .with_labels_dir(labels.as_deref())
            .with_refit(refit);
        let server = Server::start(&addr, state.clone(), options)
            .with_context(|| format!("--http {addr}"))?;
        let encoder = FrameEncoder::spawn(state.clone(), EncoderOptions::default())?;
        eprintln!(
            "http: live page on http://{}/{}",
            server.local_addr(),
            if args.http_token.is_some() {
                " (labeling needs the token: open /?token=…)"
            } else {
                ""
            }
        );
        if let Some(dir) = &labels {
            eprintln!("http: labels go to {}", dir.display());
        }
        Ok(Some(PageOut {
            encoder,
            refitted,
            _server: server,
        }))
    }

    /// Publishes a frame's decision; the image goes to the page's JPEG thread if it is free.
    pub fn show(&mut self, frame: u64, class: &str, decision: &Decision, image: DynamicImage) {
        let prediction = Prediction {
            frame,
            class: class.to_string(),
            confidence: decision.confidence,
            novelty: decision.novelty,
            novel: decision.novel,
            latency: decision.latency,
        };
        self.encoder.offer(prediction, image);
    }

    /// A classifier with the head a refit just wrote, if one finished since the last call.
    pub fn refitted(&self) -> Option<Classifier> {
        let mut newest = None;
        while let Ok(c) = self.refitted.try_recv() {
            newest = Some(c);
        }
        newest
    }
}
