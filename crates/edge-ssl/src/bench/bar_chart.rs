//! Horizontal bar charts as PNG, drawn with embedded-graphics' built-in bitmap font into an
//! `image` buffer, so a device without fonts or a plotting stack can still write the report.
//! The canvas is [`crate::plot`]'s, shared with the training plots.

use std::path::Path;

use embedded_graphics::mono_font::MonoTextStyle;
use embedded_graphics::mono_font::ascii::FONT_6X10;
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{PrimitiveStyle, Rectangle};
use embedded_graphics::text::Text;

use crate::plot::Canvas;

const INK: Rgb888 = Rgb888::new(40, 40, 40);
const CHAR_W: i32 = 6;
const ROW_H: i32 = 16;

/// Bar colour per engine, so an engine keeps its colour across charts.
fn colour(engine: &str) -> Rgb888 {
    match engine {
        "tract" => Rgb888::new(31, 119, 180),
        "ort" => Rgb888::new(255, 127, 14),
        "onnxruntime-python" => Rgb888::new(44, 160, 44),
        "pytorch-eager" => Rgb888::new(214, 39, 40),
        _ => Rgb888::new(127, 127, 127),
    }
}

/// One bar: its label (left), engine (colour) and value.
pub struct Bar {
    pub label: String,
    pub engine: String,
    pub value: f64,
}

/// Draws `bars` top to bottom, scaled to the largest value, each with its value printed.
pub fn horizontal(title: &str, unit: &str, bars: &[Bar], path: &Path) -> crate::Result<()> {
    let label_w = bars.iter().map(|b| b.label.len()).max().unwrap_or(0) as i32 * CHAR_W + 12;
    let (plot_w, value_w, top) = (420i32, 90i32, 28i32);
    let width = (label_w + plot_w + value_w) as u32;
    let height = (top + ROW_H * bars.len() as i32 + 12) as u32;
    let mut c = Canvas::new(width, height);
    let style = MonoTextStyle::new(&FONT_6X10, INK);
    let _ = Text::new(&format!("{title} ({unit})"), Point::new(6, 14), style).draw(&mut c);
    let max = bars
        .iter()
        .map(|b| b.value)
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    for (i, bar) in bars.iter().enumerate() {
        let y = top + i as i32 * ROW_H;
        let _ = Text::new(&bar.label, Point::new(6, y + 10), style).draw(&mut c);
        let len = if max > 0.0 && bar.value.is_finite() {
            ((bar.value / max) * plot_w as f64).round().max(1.0) as u32
        } else {
            0
        };
        let _ = Rectangle::new(Point::new(label_w, y), Size::new(len, (ROW_H - 4) as u32))
            .into_styled(PrimitiveStyle::with_fill(colour(&bar.engine)))
            .draw(&mut c);
        let value = format_value(bar.value);
        let _ = Text::new(&value, Point::new(label_w + len as i32 + 4, y + 10), style).draw(&mut c);
    }
    c.save(path)
}

fn format_value(v: f64) -> String {
    match v.abs() {
        x if !x.is_finite() => "n/a".into(),
        x if x >= 100.0 => format!("{v:.0}"),
        x if x >= 10.0 => format!("{v:.1}"),
        _ => format!("{v:.2}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_bar_spans_the_plot_and_png_decodes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.png");
        let bars = vec![
            Bar {
                label: "tract t1 b1".into(),
                engine: "tract".into(),
                value: 4.0,
            },
            Bar {
                label: "ort t1 b1".into(),
                engine: "ort".into(),
                value: 1.0,
            },
        ];
        horizontal("latency", "ms", &bars, &path).unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        let label_w = 11 * CHAR_W + 12;
        let row = |i: i32, x: i32| *img.get_pixel(x as u32, (28 + i * ROW_H + 5) as u32);
        let tract = image::Rgb([31, 119, 180]);
        assert_eq!(row(0, label_w + 419), tract, "full-length bar");
        assert_eq!(
            row(1, label_w + 100),
            image::Rgb([255, 127, 14]),
            "quarter bar: 105 px"
        );
        assert_eq!(
            row(1, label_w + 200),
            image::Rgb([255, 255, 255]),
            "and no longer"
        );
    }
}
