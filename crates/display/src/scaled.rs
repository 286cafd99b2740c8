//! A `DrawTarget` adapter that draws every pixel as an `s`×`s` block.
//!
//! embedded-graphics' largest built-in font is 10×20, which is small on a 240-pixel panel; scaling
//! it 2× gives a class name readable across a room without shipping another font.

use embedded_graphics::Pixel;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::Rectangle;

/// Draws into `target` at `scale`× around `origin` (the origin of the unscaled coordinates).
pub struct Scaled<'t, D> {
    target: &'t mut D,
    origin: Point,
    scale: u32,
}

impl<'t, D: DrawTarget> Scaled<'t, D> {
    /// A scale of 0 is taken as 1.
    pub fn new(target: &'t mut D, origin: Point, scale: u32) -> Self {
        Scaled {
            target,
            origin,
            scale: scale.max(1),
        }
    }
}

impl<D: DrawTarget> Dimensions for Scaled<'_, D> {
    fn bounding_box(&self) -> Rectangle {
        let outer = self.target.bounding_box();
        let s = self.scale;
        Rectangle::new(
            Point::new(
                (outer.top_left.x - self.origin.x) / s as i32,
                (outer.top_left.y - self.origin.y) / s as i32,
            ),
            Size::new(outer.size.width / s, outer.size.height / s),
        )
    }
}

impl<D: DrawTarget> DrawTarget for Scaled<'_, D> {
    type Color = D::Color;
    type Error = D::Error;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Pixel<Self::Color>>,
    {
        let s = self.scale;
        for Pixel(p, color) in pixels {
            let top_left = self.origin + Point::new(p.x * s as i32, p.y * s as i32);
            self.target
                .fill_solid(&Rectangle::new(top_left, Size::new(s, s)), color)?;
        }
        Ok(())
    }
}
