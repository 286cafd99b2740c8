use edge_ssl_core::DecodeSize;
use image::DynamicImage;

/// Decodes one MJPEG camera frame, no larger than `size` needs (a frame larger than what it is
/// shrunk to next is decoded at 1/2, 1/4 or 1/8 scale, see [`DecodeSize`]).
///
/// Many UVC cameras send "abbreviated" JPEGs without Huffman tables (no DHT segment), relying on
/// the decoder to assume the standard tables of JPEG Annex K.3, as the AVI MJPEG convention
/// says. General-purpose decoders reject those frames unless they carry an `AVI1` APP0 marker, so
/// the standard tables are spliced in before the first scan when the frame has none.
pub fn decode_mjpeg(data: &[u8], size: DecodeSize) -> Result<DynamicImage, String> {
    let owned;
    let jpeg = match scan_start_without_huffman_tables(data)? {
        Some(sos) => {
            owned = [&data[..sos], &standard_dht_segment()[..], &data[sos..]].concat();
            &owned[..]
        }
        None => data,
    };
    // The jpeg decoder has panicked on adversarial input before, and a frame's header can
    // declare 65535 × 65535: the core's decoder catches panics and bounds the pixels, so a
    // garbled frame costs one frame, not the process or its memory.
    edge_ssl_core::decode_image_bytes_at_least(jpeg, size)
}

/// Where the first SOS marker starts when no DHT segment precedes it; `None` when the frame
/// brings its own tables.
fn scan_start_without_huffman_tables(data: &[u8]) -> Result<Option<usize>, String> {
    if !data.starts_with(&[0xFF, 0xD8]) {
        return Err("not a JPEG frame (no SOI marker)".into());
    }
    let mut pos = 2;
    loop {
        // Markers may be preceded by any number of 0xFF fill bytes.
        while data.get(pos) == Some(&0xFF) && data.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        let (Some(&0xFF), Some(&marker)) = (data.get(pos), data.get(pos + 1)) else {
            return Err(format!(
                "JPEG frame ends or is garbled at byte {pos} before any scan"
            ));
        };
        match marker {
            0xC4 => return Ok(None),
            0xDA => return Ok(Some(pos)),
            // Standalone markers carry no length.
            0x01 | 0xD0..=0xD7 => pos += 2,
            _ => {
                let len = data
                    .get(pos + 2..pos + 4)
                    .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
                    .ok_or("JPEG frame ends inside a segment header")?;
                if len < 2 {
                    return Err(format!(
                        "JPEG segment at byte {pos} has invalid length {len}"
                    ));
                }
                pos += 2 + len;
            }
        }
    }
}

/// One DHT segment holding the four tables of JPEG Annex K.3 (luma/chroma × DC/AC).
fn standard_dht_segment() -> Vec<u8> {
    const TABLES: [(u8, &[u8; 16], &[u8]); 4] = [
        (0x00, &LUMA_DC_BITS, &DC_VALUES),
        (0x10, &LUMA_AC_BITS, &LUMA_AC_VALUES),
        (0x01, &CHROMA_DC_BITS, &DC_VALUES),
        (0x11, &CHROMA_AC_BITS, &CHROMA_AC_VALUES),
    ];
    let body: Vec<u8> = TABLES
        .iter()
        .flat_map(|(class_id, bits, values)| {
            std::iter::once(*class_id)
                .chain(bits.iter().copied())
                .chain(values.iter().copied())
        })
        .collect();
    let len = (body.len() + 2) as u16;
    [&[0xFF, 0xC4][..], &len.to_be_bytes(), &body].concat()
}

const LUMA_DC_BITS: [u8; 16] = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
const CHROMA_DC_BITS: [u8; 16] = [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0];
const DC_VALUES: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const LUMA_AC_BITS: [u8; 16] = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D];
#[rustfmt::skip]
const LUMA_AC_VALUES: [u8; 162] = [
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
    0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xA1, 0x08, 0x23, 0x42, 0xB1, 0xC1, 0x15, 0x52, 0xD1, 0xF0,
    0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0A, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x25, 0x26, 0x27, 0x28,
    0x29, 0x2A, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
    0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
    0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
    0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7,
    0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3, 0xC4, 0xC5,
    0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xE1, 0xE2,
    0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8,
    0xF9, 0xFA,
];
const CHROMA_AC_BITS: [u8; 16] = [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77];
#[rustfmt::skip]
const CHROMA_AC_VALUES: [u8; 162] = [
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
    0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xA1, 0xB1, 0xC1, 0x09, 0x23, 0x33, 0x52, 0xF0,
    0x15, 0x62, 0x72, 0xD1, 0x0A, 0x16, 0x24, 0x34, 0xE1, 0x25, 0xF1, 0x17, 0x18, 0x19, 0x1A, 0x26,
    0x27, 0x28, 0x29, 0x2A, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
    0x49, 0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
    0x69, 0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
    0x88, 0x89, 0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5,
    0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3,
    0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA,
    0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8,
    0xF9, 0xFA,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_consistent() {
        // The number of codes of each length must add up to the number of symbols.
        for (bits, values) in [
            (&LUMA_DC_BITS, &DC_VALUES[..]),
            (&CHROMA_DC_BITS, &DC_VALUES[..]),
            (&LUMA_AC_BITS, &LUMA_AC_VALUES[..]),
            (&CHROMA_AC_BITS, &CHROMA_AC_VALUES[..]),
        ] {
            assert_eq!(
                bits.iter().map(|&b| usize::from(b)).sum::<usize>(),
                values.len()
            );
        }
        assert_eq!(standard_dht_segment().len(), 2 + 0x1A2);
    }

    #[test]
    fn a_frame_declaring_more_pixels_than_the_bound_is_refused() {
        // A real 16×16 JPEG whose frame header (SOF0) is then rewritten to say 9000×9000:
        // 243 MB of RGB, under the decoder's default byte limit but over the pixel bound.
        let mut jpeg = Vec::new();
        image::RgbImage::from_pixel(16, 16, image::Rgb([200, 100, 50]))
            .write_to(
                &mut std::io::Cursor::new(&mut jpeg),
                image::ImageFormat::Jpeg,
            )
            .unwrap();
        assert_eq!(decode_mjpeg(&jpeg, DecodeSize::Full).unwrap().width(), 16);
        let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        // FF C0, length (2), precision (1), height (2), width (2).
        jpeg[sof + 5..sof + 9].copy_from_slice(&[0x23, 0x28, 0x23, 0x28]);
        // Not `unwrap_err`: a decoded image would be printed whole.
        match decode_mjpeg(&jpeg, DecodeSize::Full) {
            Ok(img) => panic!("decoded {}×{}", img.width(), img.height()),
            Err(err) => assert!(err.contains("9000×9000"), "{err}"),
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode_mjpeg(b"", DecodeSize::Full).is_err());
        assert!(decode_mjpeg(&[0xFF, 0xD8, 0xFF], DecodeSize::Full).is_err());
        assert!(decode_mjpeg(&[0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x01], DecodeSize::Full).is_err());
        assert!(
            decode_mjpeg(
                &[0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x08, 1, 2, 3],
                DecodeSize::Full
            )
            .is_err()
        );
    }
}
