//! # edge-ssl-display
//!
//! The small screen next to an edge-ssl camera: which class the model sees, how sure it is, how
//! fast it runs, and how many frames it has seen. The same code draws on a microcontroller's
//! panel (it is `#![no_std]` and allocates nothing) and on the host, where
//! `edge-ssl run --display png:DIR` writes what the panel would show as PNG files.
//!
//! Drawing goes through embedded-graphics' `DrawTarget`, which every panel driver in that
//! ecosystem (ssd1306, mipidsi for ST7789, …) implements, so the firmware passes its driver and
//! the host passes a [`Framebuffer`]. A screen is three separate things:
//!
//! * [`StatusView`] — *what* to show, borrowed from the last [`edge_ssl_link::Prediction`];
//! * [`Layout`] — *where*, as data: one constant per panel size ([`Layout::SSD1306_128X64`],
//!   [`Layout::ST7789_240X240`]), so a new panel is a new constant, not new drawing code;
//! * [`Theme`] — *in which colours*, so one layout serves monochrome and colour panels.
//!
//! [`Panel`] puts a layout and a theme together and draws a view. Class names longer than the
//! panel is wide drop from the large font to the small one, then are cut with a trailing `~`;
//! the built-in fonts are ASCII, so other characters draw as `?`.
//!
//! Features: `std` adds [`Framebuffer`]; `png` adds [`write_png`] and [`PngSink`], the host
//! "panel" behind `--display png:DIR` (with the `png` crate, no SDL).
//! The golden-image tests under `tests/golden/` hold the exact pixels of each layout.

#![cfg_attr(not(feature = "std"), no_std)]

#[cfg(feature = "std")]
mod framebuffer;
mod layout;
mod panel;
#[cfg(feature = "png")]
mod png_out;
#[cfg(feature = "png")]
mod png_sink;
mod scaled;
mod theme;
mod view;

#[cfg(feature = "std")]
pub use framebuffer::Framebuffer;
pub use layout::Layout;
pub use panel::Panel;
#[cfg(feature = "png")]
pub use png_out::{PngError, encode_png, read_png_rgb8, write_png};
#[cfg(feature = "png")]
pub use png_sink::{PanelKind, PngSink, PngSinkOptions};
pub use scaled::Scaled;
pub use theme::Theme;
pub use view::{StatusView, fit_chars};

pub use embedded_graphics::pixelcolor::{BinaryColor, Rgb565};
