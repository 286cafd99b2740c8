//! Colours, kept apart from geometry so one layout serves panels of any colour depth.

use embedded_graphics::pixelcolor::{BinaryColor, Rgb565, RgbColor, WebColors};

/// The colours a panel draws with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme<C> {
    pub background: C,
    pub text: C,
    /// Header strip behind the FPS and frame count.
    pub header: C,
    pub header_text: C,
    pub bar_border: C,
    /// Bar fill below [`Theme::LOW`], below [`Theme::HIGH`], and above it: a glance tells how sure.
    pub bar_low: C,
    pub bar_mid: C,
    pub bar_high: C,
}

impl<C: Copy> Theme<C> {
    /// Confidence under which the bar shows `bar_low`.
    pub const LOW: f32 = 0.5;
    /// Confidence from which the bar shows `bar_high`.
    pub const HIGH: f32 = 0.8;

    pub fn bar_color(&self, confidence: f32) -> C {
        if confidence < Self::LOW {
            self.bar_low
        } else if confidence < Self::HIGH {
            self.bar_mid
        } else {
            self.bar_high
        }
    }
}

impl Theme<BinaryColor> {
    /// Lit pixels on black, for SSD1306-class OLEDs.
    pub const MONOCHROME: Self = Theme {
        background: BinaryColor::Off,
        text: BinaryColor::On,
        header: BinaryColor::Off,
        header_text: BinaryColor::On,
        bar_border: BinaryColor::On,
        bar_low: BinaryColor::On,
        bar_mid: BinaryColor::On,
        bar_high: BinaryColor::On,
    };
}

impl Theme<Rgb565> {
    /// Dark background, traffic-light bar, for ST7789-class TFTs.
    pub const COLOR: Self = Theme {
        background: Rgb565::BLACK,
        text: Rgb565::WHITE,
        header: Rgb565::CSS_DARK_SLATE_BLUE,
        header_text: Rgb565::WHITE,
        bar_border: Rgb565::CSS_LIGHT_GRAY,
        bar_low: Rgb565::CSS_CRIMSON,
        bar_mid: Rgb565::CSS_ORANGE,
        bar_high: Rgb565::CSS_LIME_GREEN,
    };
}
