use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use edge_ssl_source::open_source;
use serde_json::json;

use super::{BackendArgs, SourceArgs};
use crate::live::display_out::{DisplayOut, DisplaySpec};
use crate::live::frame_reader::{FrameReader, Next};
use crate::live::interrupt;
use crate::live::page_out::{PageArgs, PageOut};
use crate::live::serial_out::{self, SerialOut};
use crate::live::status_line::StatusLine;
use edge_ssl::embed::classifier::Classifier;
use edge_ssl::live::run_stats::RunStats;

/// How often a wait for the next frame looks for Ctrl-C.
const POLL: Duration = Duration::from_millis(100);

/// Run a model directory live: frames from a video, camera or folder through the encoder, its
/// adapter and head, to stdout, a serial device and a display.
///
/// SRC is a video file (any codec ffmpeg decodes), a V4L2 camera (/dev/videoN) or an image
/// folder. With --json, stdout carries one JSON object per frame ({"type":"frame", frame,
/// origin, timestamp, class, class_id, confidence, novelty, novel, latency_ms[, serial]};
/// novelty and novel are null for a model without a novelty model) and a last
/// {"type":"summary", …} line; otherwise a short summary is printed at the end: frames per
/// second, latency percentiles (preprocessing + encoder + adapter + head, per frame), frames
/// read and kept, predicted classes, novel frames, serial counters; on a terminal, a live line
/// on stderr meanwhile (frames, fps, last class and confidence). Ctrl-C stops after the current frame and
/// still prints the summary; a second Ctrl-C exits at once.
///
/// --serial sends one Prediction per frame, with its novelty, over the edge-ssl link protocol
/// version 2 (docs/link-protocol.md) and keeps running, reconnecting, if the device goes away;
/// a frame's `serial` says acked, sent, dropped (device away) or refused (the device's
/// firmware speaks another protocol version: said once on stderr, naming both).
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Model directory with a head (from `edge-ssl head` or `cluster`).
    #[arg(long, value_name = "DIR")]
    model: String,
    /// Video file, camera (/dev/videoN) or image folder.
    #[arg(long = "data", visible_alias = "source", value_name = "SRC")]
    source: String,
    #[command(flatten)]
    sampling: SourceArgs,
    /// Play a video or folder again from the start when it ends (until Ctrl-C or --max-frames):
    /// a soak test or a demo stand on a short clip. Frame numbers keep counting across passes.
    #[arg(long = "loop")]
    looping: bool,
    /// Serial device of a microcontroller speaking the edge-ssl link protocol.
    #[arg(long, value_name = "TTY")]
    serial: Option<PathBuf>,
    /// Milliseconds each send waits for the device's Ack; 0 sends without waiting (Acks are
    /// still counted as they arrive).
    #[arg(long, default_value_t = 0, value_name = "MS")]
    ack_timeout: u64,
    /// `png:DIR` writes what the device's panel would show as DIR/frame-NNNNNN.png; `none`.
    #[arg(long, default_value = "none", value_name = "png:DIR|none")]
    display: String,
    /// Panel the display PNGs show: ssd1306 (128x64 mono) or st7789 (240x240 colour).
    #[arg(long, default_value = "st7789", value_name = "PANEL")]
    panel: String,
    /// Write every Nth screen only, so a long run does not fill the disk.
    #[arg(long, default_value_t = 1, value_name = "N")]
    display_every: u32,
    /// One JSON line per frame and a summary line on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    page: PageArgs,
    #[command(flatten)]
    backend: BackendArgs,
}

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let display_spec: DisplaySpec = args.display.parse()?;
    let model = super::model_arg::resolve(&args.model)?;
    let backend = args.backend.backend()?;
    let mut classifier = Classifier::load(backend.as_ref(), &model)?;
    let mut names = classifier.class_names().to_vec();
    let mut display = DisplayOut::create(&display_spec, &args.panel, args.display_every)?;
    let mut serial = match &args.serial {
        Some(path) => Some(SerialOut::open(
            path,
            Duration::from_millis(args.ack_timeout),
        )?),
        None => None,
    };
    let options = args.sampling.options_for(&model).with_looping(args.looping);
    let source = open_source(&args.source, &options).context("opening --data")?;
    let reader = FrameReader::spawn(source)?;
    eprintln!("{}", reader.info());
    eprintln!(
        "model: {} on {}",
        model.onnx.display(),
        classifier.describe()
    );
    let mut page = PageOut::start(&args.page, &model, &args.backend, &names)?;
    interrupt::install()?;

    let mut stats = RunStats::new(names.len());
    let status = StatusLine::new(!args.json);
    let mut out = std::io::stdout().lock();
    let mut failure = None;
    while !interrupt::requested() {
        let frame = match reader.next(POLL) {
            Next::Frame(frame) => frame,
            Next::Waiting => continue,
            Next::End => break,
            Next::Failed(e) => {
                failure = Some(anyhow::Error::new(e).context("reading --data"));
                break;
            }
        };
        stats.frame_arrived();
        let decision = classifier
            .classify(&frame.image)
            .with_context(|| format!("classifying {}", frame.origin))?;
        stats.record(&decision);
        let name = &names[decision.class_id];
        status.update(&stats, name, &decision);
        let sent = serial
            .as_mut()
            .map(|s| s.send(frame.index, &decision, name));
        if let Some(d) = display.as_mut() {
            d.show(
                name,
                decision.confidence,
                decision.novel == Some(true),
                stats.live_fps(),
                stats.frames(),
            )?;
        }
        if args.json {
            let mut line = json!({
                "type": "frame", "frame": frame.index, "origin": frame.origin,
                "timestamp": frame.timestamp, "class": name, "class_id": decision.class_id,
                "confidence": decision.confidence,
                "novelty": decision.novelty, "novel": decision.novel,
                "latency_ms": decision.latency.as_secs_f64() * 1e3,
            });
            if let Some(outcome) = sent {
                line["serial"] = serial_out::outcome_name(outcome).into();
            }
            writeln!(out, "{line}").context("writing to stdout")?;
        }
        if let Some(p) = page.as_mut() {
            p.show(frame.index, name, &decision, frame.image);
            if let Some(refitted) = p.refitted() {
                classifier = refitted;
                names = classifier.class_names().to_vec();
            }
        }
    }
    status.finish();
    let interrupted = interrupt::requested();
    let source_stats = reader.finish();
    let serial = serial.map(SerialOut::finish);
    let (seconds, fps) = stats.seconds_and_fps();
    let latency = stats.latency();
    for warning in &source_stats.warnings {
        eprintln!("warning: {warning}");
    }
    if args.json {
        let summary = json!({
            "type": "summary", "frames": stats.frames(), "seconds": seconds, "fps": fps,
            "latency_ms": latency, "interrupted": interrupted,
            "classes": stats.classes_json(&names), "source": source_stats,
            "novel": stats.novel().map(|(novel, of)| json!({"frames": novel, "of": of})),
            "serial": serial.as_ref().map(|s| &s.json),
            "display": display.as_ref().map(|d| d.summary().1),
        });
        writeln!(out, "{summary}").context("writing to stdout")?;
    } else {
        writeln!(
            out,
            "{} {} frames in {seconds:.1} s: {fps:.1} fps; latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms",
            if interrupted {
                "interrupted after"
            } else {
                "ran"
            },
            stats.frames(),
            latency.p50,
            latency.p90,
            latency.p99
        )?;
        writeln!(out, "source: {source_stats}")?;
        writeln!(out, "classes: {}", stats.classes_line(&names))?;
        if let Some((novel, of)) = stats.novel() {
            writeln!(
                out,
                "novel: {novel} of {of} frames (unlike anything the model was fitted on)"
            )?;
        }
        if let Some(s) = &serial {
            writeln!(out, "{}", s.line())?;
        }
        if let Some(d) = &display {
            writeln!(out, "{}", d.summary().0)?;
        }
    }
    out.flush()?;
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
