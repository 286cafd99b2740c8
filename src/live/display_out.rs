//! `run --display png:DIR`: what the device's panel would show, as PNG files — every frame, or
//! every Nth with `--display-every`, so an all-day run does not fill the disk.
//! `none` (the default) draws nothing. A panel driver on the host would be a new variant here.

use std::path::PathBuf;

use anyhow::{Context, bail};
use edge_ssl_display::{PanelKind, PngSink, PngSinkOptions, StatusView};

/// Where `--display` sends screens.
#[derive(Clone, Debug, PartialEq)]
pub enum DisplaySpec {
    None,
    Png(PathBuf),
}

impl std::str::FromStr for DisplaySpec {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<Self> {
        match s.split_once(':') {
            _ if s == "none" => Ok(DisplaySpec::None),
            Some(("png", dir)) if !dir.is_empty() => Ok(DisplaySpec::Png(dir.into())),
            _ => bail!("unknown display `{s}`; expected png:DIR or none"),
        }
    }
}

pub struct DisplayOut {
    sink: PngSink,
    written: u64,
}

impl DisplayOut {
    /// `None` for `--display none`.
    pub fn create(spec: &DisplaySpec, panel: &str, every: u32) -> anyhow::Result<Option<Self>> {
        let panel: PanelKind = panel.parse().map_err(anyhow::Error::msg)?;
        let DisplaySpec::Png(dir) = spec else {
            return Ok(None);
        };
        if every == 0 {
            bail!("--display-every must be at least 1");
        }
        let options = PngSinkOptions::default()
            .with_panel(panel)
            .with_every(every);
        let sink = PngSink::create(dir, options)
            .with_context(|| format!("--display png:{}", dir.display()))?;
        Ok(Some(DisplayOut { sink, written: 0 }))
    }

    /// Shows a frame's class; a `novel` frame's class is a guess, and the panel says so.
    pub fn show(
        &mut self,
        class_name: &str,
        confidence: f32,
        novel: bool,
        fps: f32,
        frames: u64,
    ) -> anyhow::Result<()> {
        let frames = u32::try_from(frames).unwrap_or(u32::MAX);
        let view = StatusView::new(class_name, confidence, fps, frames).with_novel(novel);
        if self
            .sink
            .show(&view)
            .context("writing a display PNG")?
            .is_some()
        {
            self.written += 1;
        }
        Ok(())
    }

    /// `display: 80 PNG(s) in out/`, and the same as JSON.
    pub fn summary(&self) -> (String, serde_json::Value) {
        let dir = self.sink.dir();
        (
            format!("display: {} PNG(s) in {}", self.written, dir.display()),
            serde_json::json!({ "dir": dir, "written": self.written, "shown": self.sink.shown() }),
        )
    }
}
