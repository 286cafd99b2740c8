//! Writing a [`Framebuffer`] as a PNG file: how `--display png:DIR` shows what the panel would.

extern crate std;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::vec::Vec;

use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;

use crate::framebuffer::Framebuffer;

/// Why a PNG could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum PngError {
    #[error("cannot write {path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot encode PNG {path}")]
    Encode {
        path: PathBuf,
        source: png::EncodingError,
    },
    #[error("cannot decode PNG {path}")]
    Decode {
        path: PathBuf,
        source: png::DecodingError,
    },
    #[error("{path} is not an 8-bit RGB PNG")]
    Format { path: PathBuf },
}

/// Encodes `fb` (each pixel `scale`×`scale`) as an 8-bit RGB PNG into `out`.
pub fn encode_png<C, W>(fb: &Framebuffer<C>, scale: u32, out: W) -> Result<(), png::EncodingError>
where
    C: PixelColor + Into<Rgb888>,
    W: Write,
{
    let s = scale.max(1);
    let mut encoder = png::Encoder::new(out, fb.size().width * s, fb.size().height * s);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&fb.to_rgb8(s))?;
    writer.finish()
}

/// Writes `fb` to `path` as PNG (through a temporary file and a rename, so a reader polling the
/// directory never sees half an image).
pub fn write_png<C>(fb: &Framebuffer<C>, scale: u32, path: &Path) -> Result<(), PngError>
where
    C: PixelColor + Into<Rgb888>,
{
    let io = |source| PngError::Io {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("png.tmp");
    let file = File::create(&tmp).map_err(io)?;
    let mut writer = BufWriter::new(file);
    encode_png(fb, scale, &mut writer).map_err(|source| PngError::Encode {
        path: path.to_path_buf(),
        source,
    })?;
    writer.flush().map_err(io)?;
    drop(writer);
    std::fs::rename(&tmp, path).map_err(io)
}

/// Reads an 8-bit RGB PNG as (width, height, packed RGB bytes); used by golden-image tests.
pub fn read_png_rgb8(path: &Path) -> Result<(u32, u32, Vec<u8>), PngError> {
    let file = File::open(path).map_err(|source| PngError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let decoder = png::Decoder::new(std::io::BufReader::new(file));
    let decode = |source| PngError::Decode {
        path: path.to_path_buf(),
        source,
    };
    let mut reader = decoder.read_info().map_err(decode)?;
    let mut buf = std::vec![0; reader.output_buffer_size().ok_or(PngError::Format { path: path.to_path_buf() })?];
    let info = reader.next_frame(&mut buf).map_err(decode)?;
    if info.color_type != png::ColorType::Rgb || info.bit_depth != png::BitDepth::Eight {
        return Err(PngError::Format {
            path: path.to_path_buf(),
        });
    }
    buf.truncate(info.buffer_size());
    Ok((info.width, info.height, buf))
}
