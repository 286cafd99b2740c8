//! A host "panel" that writes each screen to a PNG file: what `edge-ssl run --display png:DIR` uses.

extern crate std;

use std::format;
use std::path::{Path, PathBuf};
use std::string::String;

use embedded_graphics::pixelcolor::{BinaryColor, Rgb565};

use crate::framebuffer::Framebuffer;
use crate::panel::Panel;
use crate::png_out::{PngError, write_png};
use crate::view::StatusView;

/// Which panel the PNGs show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PanelKind {
    /// 128×64 monochrome.
    Ssd1306,
    /// 240×240 colour.
    #[default]
    St7789,
}

impl core::str::FromStr for PanelKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "ssd1306" | "128x64" => Ok(PanelKind::Ssd1306),
            "st7789" | "240x240" => Ok(PanelKind::St7789),
            other => Err(format!(
                "unknown panel {other:?}; expected ssd1306 (128x64) or st7789 (240x240)"
            )),
        }
    }
}

/// Options for [`PngSink`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PngSinkOptions {
    pub panel: PanelKind,
    /// Each panel pixel becomes `scale`×`scale` image pixels (the SSD1306 is tiny at 1).
    pub scale: u32,
    /// Write every `every`-th screen only (1 = all); the rest are drawn but not written.
    pub every: u32,
    /// Overwrite `latest.png` instead of writing one numbered file per screen.
    pub latest_only: bool,
}

impl Default for PngSinkOptions {
    fn default() -> Self {
        PngSinkOptions {
            panel: PanelKind::default(),
            scale: 1,
            every: 1,
            latest_only: false,
        }
    }
}

impl PngSinkOptions {
    pub fn with_panel(mut self, panel: PanelKind) -> Self {
        self.panel = panel;
        self
    }

    pub fn with_scale(mut self, scale: u32) -> Self {
        self.scale = scale.max(1);
        self
    }

    pub fn with_every(mut self, every: u32) -> Self {
        self.every = every.max(1);
        self
    }

    pub fn with_latest_only(mut self, latest_only: bool) -> Self {
        self.latest_only = latest_only;
        self
    }
}

enum Screen {
    Mono(Panel<BinaryColor>, Framebuffer<BinaryColor>),
    Color(Panel<Rgb565>, Framebuffer<Rgb565>),
}

/// Draws status screens and writes them as `DIR/frame-000042.png` (or `DIR/latest.png`).
pub struct PngSink {
    dir: PathBuf,
    options: PngSinkOptions,
    screen: Screen,
    shown: u64,
}

impl PngSink {
    /// Creates `dir` if needed.
    pub fn create(dir: impl AsRef<Path>, options: PngSinkOptions) -> Result<Self, PngError> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|source| PngError::Io {
            path: dir.clone(),
            source,
        })?;
        let screen = match options.panel {
            PanelKind::Ssd1306 => {
                let panel = Panel::ssd1306();
                Screen::Mono(panel, Framebuffer::new(panel.size()))
            }
            PanelKind::St7789 => {
                let panel = Panel::st7789();
                Screen::Color(panel, Framebuffer::new(panel.size()))
            }
        };
        Ok(PngSink {
            dir,
            options,
            screen,
            shown: 0,
        })
    }

    /// Draws `view`; returns the file written, or `None` when this screen was skipped by `every`.
    pub fn show(&mut self, view: &StatusView<'_>) -> Result<Option<PathBuf>, PngError> {
        let index = self.shown;
        self.shown += 1;
        if !index.is_multiple_of(u64::from(self.options.every)) {
            return Ok(None);
        }
        let name = if self.options.latest_only {
            "latest.png".into()
        } else {
            format!("frame-{index:06}.png")
        };
        let path = self.dir.join(name);
        let scale = self.options.scale;
        match &mut self.screen {
            Screen::Mono(panel, fb) => {
                let Ok(()) = panel.draw(view, fb);
                write_png(fb, scale, &path)?;
            }
            Screen::Color(panel, fb) => {
                let Ok(()) = panel.draw(view, fb);
                write_png(fb, scale, &path)?;
            }
        }
        Ok(Some(path))
    }

    /// Screens shown so far (written or skipped).
    pub fn shown(&self) -> u64 {
        self.shown
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
