//! Where things go on a panel, as data: adding a panel size is adding a constant, not code.

use embedded_graphics::geometry::{Point, Size};
use embedded_graphics::mono_font::MonoFont;
use embedded_graphics::mono_font::ascii::{FONT_6X10, FONT_10X20};
use embedded_graphics::primitives::Rectangle;
use embedded_graphics::text::Alignment;

/// Geometry and fonts of one status screen.
#[derive(Clone, Copy)]
pub struct Layout {
    pub size: Size,
    /// Strip at the top with FPS (left) and frame count (right).
    pub header: Rectangle,
    pub header_font: &'static MonoFont<'static>,
    /// Line under the header; `None` when the header is a filled strip.
    pub header_rule: Option<Rectangle>,
    /// Box the class name is centred in.
    pub class_area: Rectangle,
    pub class_font: &'static MonoFont<'static>,
    /// Integer scale of `class_font` when the name fits at that scale.
    pub class_scale: u32,
    /// Font for names too long for `class_font` at scale 1; they are cut to fit in this one.
    pub class_font_small: &'static MonoFont<'static>,
    /// Outline of the confidence bar; the fill goes inside the 1-pixel border.
    pub bar: Rectangle,
    pub percent_font: &'static MonoFont<'static>,
    /// Anchor of the percentage text (its top edge) and how it aligns there.
    pub percent_at: Point,
    pub percent_align: Alignment,
}

impl Layout {
    /// 128×64 monochrome, SSD1306-class.
    pub const SSD1306_128X64: Layout = Layout {
        size: Size::new(128, 64),
        header: Rectangle::new(Point::new(0, 0), Size::new(128, 11)),
        header_font: &FONT_6X10,
        header_rule: Some(Rectangle::new(Point::new(0, 11), Size::new(128, 1))),
        class_area: Rectangle::new(Point::new(0, 15), Size::new(128, 20)),
        class_font: &FONT_10X20,
        class_scale: 1,
        class_font_small: &FONT_6X10,
        bar: Rectangle::new(Point::new(0, 42), Size::new(98, 14)),
        percent_font: &FONT_6X10,
        percent_at: Point::new(127, 44),
        percent_align: Alignment::Right,
    };

    /// 240×240 RGB565, ST7789-class.
    pub const ST7789_240X240: Layout = Layout {
        size: Size::new(240, 240),
        header: Rectangle::new(Point::new(0, 0), Size::new(240, 30)),
        header_font: &FONT_10X20,
        header_rule: None,
        class_area: Rectangle::new(Point::new(0, 62), Size::new(240, 40)),
        class_font: &FONT_10X20,
        class_scale: 2,
        class_font_small: &FONT_10X20,
        bar: Rectangle::new(Point::new(20, 134), Size::new(200, 30)),
        percent_font: &FONT_10X20,
        percent_at: Point::new(120, 176),
        percent_align: Alignment::Center,
    };

    /// How many characters of `font` at `scale` fit across `width` pixels.
    pub fn chars_across(font: &MonoFont<'_>, scale: u32, width: u32) -> usize {
        let advance = (font.character_size.width + font.character_spacing) * scale.max(1);
        (width / advance.max(1)) as usize
    }
}
