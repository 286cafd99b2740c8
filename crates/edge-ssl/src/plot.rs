//! The three PNG plots the commands write — loss curve (`adapt`), confusion matrix and 2-D PCA
//! scatter (`eval --plots`) — drawn into an `image` buffer with embedded-graphics' built-in
//! bitmap font, so no system font or plotting stack is needed on a device.

use std::path::Path;

use edge_ssl_core::write_atomic;
use embedded_graphics::mono_font::MonoTextStyle;
use embedded_graphics::mono_font::ascii::FONT_6X10;
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{Circle, Line, PrimitiveStyle, Rectangle};
use embedded_graphics::text::Text;
use image::{ImageEncoder, RgbImage};
use ndarray::ArrayView2;

/// An RGB image that embedded-graphics can draw on (pixels outside are dropped); shared by every PNG
/// edge-ssl writes (plots here, the bench bar chart in the CLI).
pub struct Canvas(RgbImage);

impl OriginDimensions for Canvas {
    fn size(&self) -> Size {
        Size::new(self.0.width(), self.0.height())
    }
}

impl DrawTarget for Canvas {
    type Color = Rgb888;
    type Error = std::convert::Infallible;

    fn draw_iter<I: IntoIterator<Item = Pixel<Rgb888>>>(
        &mut self,
        pixels: I,
    ) -> Result<(), Self::Error> {
        for Pixel(p, c) in pixels {
            if p.x >= 0
                && p.y >= 0
                && (p.x as u32) < self.0.width()
                && (p.y as u32) < self.0.height()
            {
                self.0
                    .put_pixel(p.x as u32, p.y as u32, image::Rgb([c.r(), c.g(), c.b()]));
            }
        }
        Ok(())
    }
}

impl Canvas {
    /// A white canvas of `w`×`h` pixels.
    pub fn new(w: u32, h: u32) -> Self {
        Canvas(RgbImage::from_pixel(w, h, image::Rgb([255, 255, 255])))
    }

    /// Draws `s` in the 6×10 bitmap font with its baseline at (`x`, `y`).
    pub fn text(&mut self, s: &str, x: i32, y: i32, color: Rgb888) {
        let _ = Text::new(s, Point::new(x, y), MonoTextStyle::new(&FONT_6X10, color)).draw(self);
    }

    fn line(&mut self, a: Point, b: Point, color: Rgb888) {
        let _ = Line::new(a, b)
            .into_styled(PrimitiveStyle::with_stroke(color, 1))
            .draw(self);
    }

    /// Writes the canvas as a PNG, atomically.
    pub fn save(self, path: &Path) -> crate::Result<()> {
        let img = self.0;
        write_atomic(path, |w| {
            image::codecs::png::PngEncoder::new(w)
                .write_image(
                    img.as_raw(),
                    img.width(),
                    img.height(),
                    image::ExtendedColorType::Rgb8,
                )
                .map_err(std::io::Error::other)
        })?;
        Ok(())
    }
}

/// Ten distinguishable colours (the tab10 palette), cycled for more classes.
fn palette(i: usize) -> Rgb888 {
    const P: [(u8, u8, u8); 10] = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ];
    let (r, g, b) = P[i % P.len()];
    Rgb888::new(r, g, b)
}

const AXIS: Rgb888 = Rgb888::new(60, 60, 60);

/// Loss per step as a line chart, with first/last values in the title.
pub fn loss_curve(losses: &[f32], title: &str, path: &Path) -> crate::Result<()> {
    let (w, h, left, top, bottom) = (640u32, 360u32, 60i32, 30i32, 30i32);
    let mut c = Canvas::new(w, h);
    let (pw, ph) = (w as i32 - left - 20, h as i32 - top - bottom);
    let finite: Vec<f32> = losses.iter().copied().filter(|v| v.is_finite()).collect();
    let lo = finite.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = finite.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let span = if hi > lo { hi - lo } else { 1.0 };
    c.text(title, left, 14, AXIS);
    c.line(Point::new(left, top), Point::new(left, top + ph), AXIS);
    c.line(
        Point::new(left, top + ph),
        Point::new(left + pw, top + ph),
        AXIS,
    );
    if !finite.is_empty() {
        c.text(&format!("{hi:.3}"), 2, top + 8, AXIS);
        c.text(&format!("{lo:.3}"), 2, top + ph, AXIS);
        c.text(
            &format!("step {}", losses.len()),
            left + pw - 60,
            top + ph + 20,
            AXIS,
        );
    }
    let n = losses.len().max(2) - 1;
    let to_point = |i: usize, v: f32| {
        Point::new(
            left + (i as i64 * pw as i64 / n as i64) as i32,
            top + ((hi - v) / span * ph as f32) as i32,
        )
    };
    for (i, pair) in losses.windows(2).enumerate() {
        if pair[0].is_finite() && pair[1].is_finite() {
            c.line(to_point(i, pair[0]), to_point(i + 1, pair[1]), palette(0));
        }
    }
    c.save(path)
}

/// A confusion matrix (rows: true class, columns: predicted), cells shaded by row fraction.
pub fn confusion(matrix: &[Vec<usize>], names: &[String], path: &Path) -> crate::Result<()> {
    let k = matrix.len().max(1) as i32;
    let cell = 36i32;
    let left = 96i32;
    let top = 40i32;
    let mut c = Canvas::new((left + k * cell + 10) as u32, (top + k * cell + 40) as u32);
    c.text("confusion (rows: true, cols: predicted)", 4, 14, AXIS);
    for (i, row) in matrix.iter().enumerate() {
        let total = row.iter().sum::<usize>().max(1) as f32;
        let name: String = names
            .get(i)
            .map_or(String::new(), |n| n.chars().take(15).collect());
        c.text(&name, 2, top + i as i32 * cell + cell / 2 + 3, AXIS);
        c.text(
            &format!("{i}"),
            left + i as i32 * cell + cell / 2 - 3,
            top + k * cell + 14,
            AXIS,
        );
        for (j, &v) in row.iter().enumerate() {
            let f = v as f32 / total;
            let shade = (255.0 * (1.0 - f)) as u8;
            let fill = Rgb888::new(shade, shade, 255);
            let origin = Point::new(left + j as i32 * cell, top + i as i32 * cell);
            let _ = Rectangle::new(origin, Size::new(cell as u32, cell as u32))
                .into_styled(PrimitiveStyle::with_fill(fill))
                .draw(&mut c);
            let ink = if f > 0.5 { Rgb888::WHITE } else { AXIS };
            c.text(&format!("{v}"), origin.x + 3, origin.y + cell / 2 + 3, ink);
        }
    }
    c.save(path)
}

/// The first two principal components of `x` (rows), computed by power iteration on the
/// covariance so no linear-algebra crate is needed.
pub fn pca2(x: ArrayView2<f32>) -> ndarray::Array2<f32> {
    let mean = x
        .mean_axis(ndarray::Axis(0))
        .unwrap_or_else(|| ndarray::Array1::zeros(x.ncols()));
    let centered = &x - &mean;
    let cov = centered.t().dot(&centered);
    let d = cov.nrows();
    let mut comps: Vec<ndarray::Array1<f32>> = Vec::new();
    for c in 0..2 {
        let mut v = ndarray::Array1::from_shape_fn(d, |i| ((i * 7 + c * 13) % 11) as f32 + 1.0);
        for _ in 0..100 {
            let mut w = cov.dot(&v);
            for p in &comps {
                let proj = w.dot(p);
                w.scaled_add(-proj, p);
            }
            let norm = w.dot(&w).sqrt().max(1e-12);
            v = w / norm;
        }
        comps.push(v);
    }
    let basis = ndarray::stack(ndarray::Axis(1), &[comps[0].view(), comps[1].view()])
        .expect("two components of equal length");
    centered.dot(&basis)
}

/// A 2-D scatter of `points` coloured by `labels`, with a legend of `names`.
pub fn scatter(
    points: ArrayView2<f32>,
    labels: &[usize],
    names: &[String],
    path: &Path,
) -> crate::Result<()> {
    let (w, h, plot) = (640u32, 480u32, 440i32);
    let mut c = Canvas::new(w, h);
    c.text("PCA of embeddings, coloured by class", 4, 14, AXIS);
    let col = |j: usize| {
        points
            .column(j)
            .iter()
            .copied()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), v| {
                (a.min(v), b.max(v))
            })
    };
    let ((x0, x1), (y0, y1)) = (col(0), col(1));
    let scale = |v: f32, lo: f32, hi: f32| {
        ((v - lo) / (hi - lo).max(1e-12) * (plot - 20) as f32) as i32 + 10
    };
    for (row, &label) in points.rows().into_iter().zip(labels) {
        let p = Point::new(scale(row[0], x0, x1), 20 + plot - scale(row[1], y0, y1));
        let _ = Circle::with_center(p, 3)
            .into_styled(PrimitiveStyle::with_fill(palette(label)))
            .draw(&mut c);
    }
    for (i, name) in names.iter().enumerate() {
        let y = 30 + i as i32 * 14;
        let _ = Rectangle::new(Point::new(plot + 30, y - 7), Size::new(8, 8))
            .into_styled(PrimitiveStyle::with_fill(palette(i)))
            .draw(&mut c);
        c.text(name, plot + 42, y, AXIS);
    }
    c.save(path)
}
