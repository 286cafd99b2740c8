use image::RgbImage;

/// Converts one packed YUYV 4:2:2 buffer (`Y0 U Y1 V` per two pixels, BT.601 limited range, as
/// UVC cameras deliver it) to RGB.
///
/// `stride` is the driver's bytes per line, which may exceed `width × 2` when it pads rows. Each
/// chroma pair is shared by the two pixels it was sampled from, without interpolation: at
/// encoder input sizes (tens of pixels) the difference vanishes in the resize, and this keeps
/// the conversion a single pass with integer math that costs ~1 ms per VGA frame on a Pi.
pub fn yuyv_to_rgb(
    data: &[u8],
    width: u32,
    height: u32,
    stride: usize,
) -> Result<RgbImage, String> {
    let (w, h) = (width as usize, height as usize);
    if w == 0 || h == 0 || w % 2 != 0 {
        return Err(format!(
            "YUYV needs a positive, even width, got {width}x{height}"
        ));
    }
    if stride < w * 2 {
        return Err(format!("YUYV stride {stride} is below 2 x width {width}"));
    }
    let needed = stride * (h - 1) + w * 2;
    if data.len() < needed {
        return Err(format!(
            "YUYV buffer has {} bytes, a {width}x{height} frame needs {needed}",
            data.len()
        ));
    }
    let mut out = vec![0u8; w * h * 3];
    for (row, rgb_row) in out.chunks_exact_mut(w * 3).enumerate() {
        let line = &data[row * stride..row * stride + w * 2];
        for (yuyv, rgb) in line.chunks_exact(4).zip(rgb_row.chunks_exact_mut(6)) {
            let (u, v) = (yuyv[1], yuyv[3]);
            rgb[..3].copy_from_slice(&ycbcr_to_rgb(yuyv[0], u, v));
            rgb[3..].copy_from_slice(&ycbcr_to_rgb(yuyv[2], u, v));
        }
    }
    Ok(RgbImage::from_raw(width, height, out).expect("sized from width and height"))
}

/// BT.601 limited range (Y 16–235, Cb/Cr 16–240) to full-range RGB in 8.8 fixed point.
#[inline]
fn ycbcr_to_rgb(y: u8, cb: u8, cr: u8) -> [u8; 3] {
    let c = 298 * (i32::from(y) - 16) + 128;
    let d = i32::from(cb) - 128;
    let e = i32::from(cr) - 128;
    let clamp = |x: i32| (x >> 8).clamp(0, 255) as u8;
    [
        clamp(c + 409 * e),
        clamp(c - 100 * d - 208 * e),
        clamp(c + 516 * d),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_colours() {
        // Black, white and the BT.601 primaries at 75 % are where a swapped channel or a missed
        // range offset shows at once.
        assert_eq!(ycbcr_to_rgb(16, 128, 128), [0, 0, 0]);
        assert_eq!(ycbcr_to_rgb(235, 128, 128), [255, 255, 255]);
        let red = ycbcr_to_rgb(81, 90, 240);
        assert!(red[0] > 250 && red[1] < 5 && red[2] < 5, "{red:?}");
        let blue = ycbcr_to_rgb(41, 240, 110);
        assert!(blue[2] > 250 && blue[0] < 5 && blue[1] < 5, "{blue:?}");
    }

    #[test]
    fn padded_rows_and_short_buffers() {
        // 2x2 frame, rows padded to 8 bytes: the padding must be skipped, not decoded.
        let row = [235, 128, 16, 128, 0xAA, 0xAA, 0xAA, 0xAA];
        let data = [row, row].concat();
        let img = yuyv_to_rgb(&data, 2, 2, 8).unwrap();
        assert_eq!(img.get_pixel(0, 1).0, [255, 255, 255]);
        assert_eq!(img.get_pixel(1, 1).0, [0, 0, 0]);
        assert!(yuyv_to_rgb(&data[..10], 2, 2, 8).is_err());
        assert!(yuyv_to_rgb(&data, 3, 2, 8).is_err());
    }
}
