//! Drawing a [`StatusView`] with a [`Layout`] and a [`Theme`] onto any `DrawTarget`.

use embedded_graphics::mono_font::{MonoFont, MonoTextStyle};
use embedded_graphics::pixelcolor::{BinaryColor, Rgb565};
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{PrimitiveStyle, Rectangle};
use embedded_graphics::text::{Alignment, Baseline, Text, TextStyleBuilder};

use crate::layout::Layout;
use crate::scaled::Scaled;
use crate::theme::Theme;
use crate::view::{StatusView, fit_chars};

/// A layout and the colours to draw it in: everything needed to draw a status screen.
#[derive(Clone, Copy)]
pub struct Panel<C> {
    pub layout: Layout,
    pub theme: Theme<C>,
}

impl Panel<BinaryColor> {
    /// 128×64 monochrome OLED (SSD1306 and friends).
    pub const fn ssd1306() -> Self {
        Panel {
            layout: Layout::SSD1306_128X64,
            theme: Theme::MONOCHROME,
        }
    }
}

impl Panel<Rgb565> {
    /// 240×240 colour TFT (ST7789 and friends).
    pub const fn st7789() -> Self {
        Panel {
            layout: Layout::ST7789_240X240,
            theme: Theme::COLOR,
        }
    }
}

impl<C: PixelColor> Panel<C> {
    pub const fn new(layout: Layout, theme: Theme<C>) -> Self {
        Panel { layout, theme }
    }

    pub fn with_theme(self, theme: Theme<C>) -> Self {
        Panel { theme, ..self }
    }

    pub fn size(&self) -> Size {
        self.layout.size
    }

    /// Clears `target` and draws `view`. The whole screen is redrawn each time: at a few frames per
    /// second on an SPI panel that is cheaper than tracking what changed.
    pub fn draw<D: DrawTarget<Color = C>>(
        &self,
        view: &StatusView<'_>,
        target: &mut D,
    ) -> Result<(), D::Error> {
        let (l, t) = (&self.layout, &self.theme);
        target.clear(t.background)?;

        l.header
            .into_styled(PrimitiveStyle::with_fill(t.header))
            .draw(target)?;
        if let Some(rule) = l.header_rule {
            rule.into_styled(PrimitiveStyle::with_fill(t.text))
                .draw(target)?;
        }
        let header_style = MonoTextStyle::new(l.header_font, t.header_text);
        let pad = 2;
        let middle = l.header.top_left.y
            + (l.header.size.height as i32 - l.header_font.character_size.height as i32) / 2;
        text(
            &view.fps_label(),
            Point::new(l.header.top_left.x + pad, middle),
            header_style,
            Alignment::Left,
        )
        .draw(target)?;
        let right = l.header.top_left.x + l.header.size.width as i32 - 1 - pad;
        text(
            &view.frames_label(),
            Point::new(right, middle),
            header_style,
            Alignment::Right,
        )
        .draw(target)?;

        self.draw_class_name(&view.class_label(), target)?;

        let confidence = view.clamped_confidence();
        l.bar
            .into_styled(PrimitiveStyle::with_stroke(t.bar_border, 1))
            .draw(target)?;
        let inner = Rectangle::new(
            l.bar.top_left + Point::new(2, 2),
            l.bar.size.saturating_sub(Size::new(4, 4)),
        );
        let filled = (inner.size.width as f32 * confidence + 0.5) as u32;
        Rectangle::new(
            inner.top_left,
            Size::new(filled.min(inner.size.width), inner.size.height),
        )
        .into_styled(PrimitiveStyle::with_fill(t.bar_color(confidence)))
        .draw(target)?;
        let percent_style = MonoTextStyle::new(l.percent_font, t.text);
        text(
            &view.percent_label(),
            l.percent_at,
            percent_style,
            l.percent_align,
        )
        .draw(target)?;
        Ok(())
    }

    /// The name in the largest font (and scale) it fits, cut to fit the smallest as a last resort.
    fn draw_class_name<D: DrawTarget<Color = C>>(
        &self,
        name: &str,
        target: &mut D,
    ) -> Result<(), D::Error> {
        let l = &self.layout;
        let area = l.class_area;
        let len = name.chars().count();
        let choices = [
            (l.class_font, l.class_scale),
            (l.class_font, 1),
            (l.class_font_small, 1),
        ];
        let fits = |&(font, scale): &(&MonoFont<'_>, u32)| {
            len <= Layout::chars_across(font, scale, area.size.width)
        };
        let (font, scale) = choices.iter().copied().find(fits).unwrap_or(choices[2]);
        let fitted = fit_chars(name, Layout::chars_across(font, scale, area.size.width));
        let glyph_h = (font.character_size.height * scale) as i32;
        let top = area.top_left.y + (area.size.height as i32 - glyph_h).max(0) / 2;
        let origin = Point::new(area.top_left.x, top);
        let centre = Point::new((area.size.width / scale / 2) as i32, 0);
        let mut scaled = Scaled::new(target, origin, scale);
        text(
            &fitted,
            centre,
            MonoTextStyle::new(font, self.theme.text),
            Alignment::Center,
        )
        .draw(&mut scaled)?;
        Ok(())
    }
}

fn text<'a, C: PixelColor>(
    s: &'a str,
    at: Point,
    style: MonoTextStyle<'a, C>,
    alignment: Alignment,
) -> Text<'a, MonoTextStyle<'a, C>> {
    let layout = TextStyleBuilder::new()
        .alignment(alignment)
        .baseline(Baseline::Top)
        .build();
    Text::with_text_style(s, at, style, layout)
}
