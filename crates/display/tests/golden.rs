//! Golden-image tests: each layout, drawn from a fixed view, must match the committed PNG pixel
//! for pixel. Regenerate with `UPDATE_GOLDEN=1 cargo test -p edge-ssl-display` after a deliberate
//! change, and look at the new images before committing them.

use std::path::{Path, PathBuf};

use edge_ssl_display::{Framebuffer, Panel, StatusView, read_png_rgb8, write_png};
use embedded_graphics::pixelcolor::{BinaryColor, Rgb565, Rgb888};
use embedded_graphics::prelude::*;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn check<C: PixelColor + Into<Rgb888> + Default>(
    name: &str,
    panel: &Panel<C>,
    view: &StatusView<'_>,
) {
    let mut fb = Framebuffer::new(panel.size());
    panel.draw(view, &mut fb).unwrap();
    let path = golden_dir().join(format!("{name}.png"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        write_png(&fb, 1, &path).unwrap();
        return;
    }
    let (w, h, want) = read_png_rgb8(&path)
        .unwrap_or_else(|e| panic!("{e}; run with UPDATE_GOLDEN=1 to create it"));
    assert_eq!(
        (w, h),
        (panel.size().width, panel.size().height),
        "{name}: size"
    );
    let got = fb.to_rgb8(1);
    let differing = got
        .chunks(3)
        .zip(want.chunks(3))
        .filter(|(a, b)| a != b)
        .count();
    if differing > 0 {
        let actual = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.actual.png"));
        write_png(&fb, 1, &actual).unwrap();
        panic!(
            "{name}: {differing} pixels differ from {}; actual image: {}",
            path.display(),
            actual.display()
        );
    }
}

#[test]
fn ssd1306_typical() {
    check(
        "ssd1306_sneaker",
        &Panel::ssd1306(),
        &StatusView::new("Sneaker", 0.87, 29.7, 1234),
    );
}

#[test]
fn ssd1306_long_name_low_confidence() {
    let view = StatusView::new("Ankle boot or maybe a sandal", 0.31, 4.2, 7);
    check("ssd1306_long_name", &Panel::ssd1306(), &view);
}

#[test]
fn st7789_typical() {
    check(
        "st7789_sneaker",
        &Panel::st7789(),
        &StatusView::new("Sneaker", 0.87, 29.7, 1234),
    );
}

#[test]
fn st7789_mid_confidence_medium_name() {
    let view = StatusView::new("Pullover hoodie", 0.62, 12.0, 99_999);
    check("st7789_medium_name", &Panel::st7789(), &view);
}

#[test]
fn st7789_before_first_measurement() {
    check(
        "st7789_empty",
        &Panel::st7789(),
        &StatusView::new("", 0.0, 0.0, 0),
    );
}

#[test]
fn confidence_bar_grows_with_confidence() {
    let panel = Panel::ssd1306();
    let lit = |confidence| {
        let mut fb = Framebuffer::new(panel.size());
        panel
            .draw(&StatusView::new("x", confidence, 1.0, 1), &mut fb)
            .unwrap();
        let bar = panel.layout.bar;
        bar.points()
            .filter(|p| fb.pixel(*p) == Some(BinaryColor::On))
            .count()
    };
    let (low, mid, high) = (lit(0.1), lit(0.5), lit(1.0));
    assert!(low < mid && mid < high, "{low} < {mid} < {high}");
}

#[test]
fn bar_colour_follows_the_theme_thresholds() {
    let panel = Panel::st7789();
    let inside = panel.layout.bar.top_left + Point::new(4, 4);
    for (confidence, want) in [
        (0.2, panel.theme.bar_low),
        (0.6, panel.theme.bar_mid),
        (0.95, panel.theme.bar_high),
    ] {
        let mut fb = Framebuffer::<Rgb565>::new(panel.size());
        panel
            .draw(&StatusView::new("x", confidence, 1.0, 1), &mut fb)
            .unwrap();
        assert_eq!(fb.pixel(inside), Some(want), "confidence {confidence}");
    }
}

#[test]
fn drawing_off_screen_is_clipped_not_a_panic() {
    // A framebuffer smaller than the layout: every draw call lands partly outside it.
    let mut fb = Framebuffer::<BinaryColor>::new(Size::new(20, 10));
    Panel::ssd1306()
        .draw(
            &StatusView::new("Trouser", 2.0, f32::NAN, u32::MAX),
            &mut fb,
        )
        .unwrap();
}

#[test]
fn png_sink_writes_numbered_frames_and_honours_every() {
    use edge_ssl_display::{PanelKind, PngSink, PngSinkOptions};
    let dir = std::env::temp_dir().join(format!("edge-ssl-display-sink-{}", std::process::id()));
    let options = PngSinkOptions::default()
        .with_panel("ssd1306".parse().unwrap())
        .with_scale(2)
        .with_every(2);
    let mut sink = PngSink::create(&dir, options).unwrap();
    let written: Vec<_> = (0..5)
        .map(|i| sink.show(&StatusView::new("Bag", 0.5, 10.0, i)).unwrap())
        .collect();
    assert_eq!(written.iter().filter(|w| w.is_some()).count(), 3);
    let first = written[0].as_ref().unwrap();
    assert!(first.ends_with("frame-000000.png"));
    assert_eq!(
        read_png_rgb8(first).unwrap().0,
        256,
        "scale 2 doubles the 128-pixel width"
    );
    assert!("lcd".parse::<PanelKind>().is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}
