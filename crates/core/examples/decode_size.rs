//! Measures downscale-on-decode: decodes an image file (or every image of a folder) for a
//! `SIDE × SIDE` RGB model input and turns it into that input, once at the reduced size the
//! model allows and once at full size (`full`), printing the decoded size and the time. Peak
//! memory comes from the caller: `/usr/bin/time -v`.
//!
//! `cargo run -p edge-ssl-core --example decode_size -- PHOTO.jpg 224 [full]`

use std::path::Path;
use std::time::Instant;

use edge_ssl_core::{
    DecodeSize, InputSpec, Layout, Preprocessor, ResizeMode, decode_image_at_least, image_files,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(side)) = (args.get(1), args.get(2)) else {
        return Err("usage: decode_size FILE|DIR SIDE [full]".into());
    };
    let side: usize = side.parse()?;
    let full = args.get(3).is_some_and(|a| a == "full");
    let pre = Preprocessor::new(InputSpec {
        name: "input".into(),
        layout: Layout::Nchw,
        height: side,
        width: side,
        channels: 3,
        mean: vec![0.0; 3],
        std: vec![1.0; 3],
        resize: ResizeMode::Stretch,
    });
    let size = if full {
        DecodeSize::Full
    } else {
        pre.decode_size()
    };
    let files = image_files(Path::new(path))?;
    let started = Instant::now();
    let mut decoded = (0, 0);
    for file in &files {
        let img = decode_image_at_least(file, size)?;
        decoded = (img.width(), img.height());
        std::hint::black_box(pre.unit_image(&img));
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{} image(s), decoded at {}x{} ({size:?}): {:.1} ms per image",
        files.len(),
        decoded.0,
        decoded.1,
        1000.0 * seconds / files.len() as f64
    );
    Ok(())
}
