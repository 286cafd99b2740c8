//! A heap framebuffer that is a `DrawTarget`: the panel, minus the glass, for hosts and tests.

extern crate std;

use std::vec;
use std::vec::Vec;

use embedded_graphics::Pixel;
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;

/// `width × height` pixels of colour `C`, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Framebuffer<C> {
    size: Size,
    pixels: Vec<C>,
}

impl<C: PixelColor + Default> Framebuffer<C> {
    /// A framebuffer filled with `C::default()` (off / black).
    pub fn new(size: Size) -> Self {
        Framebuffer {
            size,
            pixels: vec![C::default(); (size.width * size.height) as usize],
        }
    }
}

impl<C: PixelColor> Framebuffer<C> {
    pub fn pixel(&self, at: Point) -> Option<C> {
        self.index(at).map(|i| self.pixels[i])
    }

    pub fn pixels(&self) -> &[C] {
        &self.pixels
    }

    fn index(&self, at: Point) -> Option<usize> {
        let (x, y) = (u32::try_from(at.x).ok()?, u32::try_from(at.y).ok()?);
        (x < self.size.width && y < self.size.height).then(|| (y * self.size.width + x) as usize)
    }
}

impl<C: PixelColor + Into<Rgb888>> Framebuffer<C> {
    /// Packed RGB, 3 bytes a pixel, each pixel repeated `scale`×`scale` times (0 is taken as 1).
    pub fn to_rgb8(&self, scale: u32) -> Vec<u8> {
        let s = scale.max(1) as usize;
        let (w, h) = (self.size.width as usize, self.size.height as usize);
        let mut out = Vec::with_capacity(w * h * s * s * 3);
        for row in self.pixels.chunks(w.max(1)).take(h) {
            let mut line = Vec::with_capacity(w * s * 3);
            for &c in row {
                let rgb: Rgb888 = c.into();
                for _ in 0..s {
                    line.extend_from_slice(&[rgb.r(), rgb.g(), rgb.b()]);
                }
            }
            for _ in 0..s {
                out.extend_from_slice(&line);
            }
        }
        out
    }
}

impl<C: PixelColor> OriginDimensions for Framebuffer<C> {
    fn size(&self) -> Size {
        self.size
    }
}

impl<C: PixelColor> DrawTarget for Framebuffer<C> {
    type Color = C;
    type Error = core::convert::Infallible;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Pixel<C>>,
    {
        for Pixel(at, color) in pixels {
            if let Some(i) = self.index(at) {
                self.pixels[i] = color;
            }
        }
        Ok(())
    }
}
