//! A stand-in microcontroller for manual runs: creates a pty behind PATH (a symlink), acks what
//! arrives, prints each prediction (with its novelty score, `novel` when above the threshold),
//! and keeps its screen in DIR/latest.png. `--protocol N` plays firmware of link protocol
//! version N, to see what the host says to an outdated device.
//!
//!     cargo run -p edge-ssl-firmware-host --example emulator -- /tmp/ttyEDGE [--png DIR] [--seconds N] [--protocol N]
//!     edge-ssl run ... --serial /tmp/ttyEDGE        # or: --example send -- /tmp/ttyEDGE 100

use std::time::{Duration, Instant};

use edge_ssl_firmware_host::{DeviceEmulator, DeviceOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: emulator PATH [--png DIR] [--seconds N] [--protocol N]")?;
    let (mut png_dir, mut seconds) = (None, None);
    let mut options = DeviceOptions::default();
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--png" => {
                png_dir = Some(std::path::PathBuf::from(
                    args.next().ok_or("--png needs a directory")?,
                ))
            }
            "--seconds" => {
                seconds = Some(
                    args.next()
                        .ok_or("--seconds needs a number")?
                        .parse::<u64>()?,
                )
            }
            "--protocol" => {
                let version = args.next().ok_or("--protocol needs a version number")?;
                options = options.with_protocol(version.parse::<u8>()?);
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if let Some(dir) = &png_dir {
        std::fs::create_dir_all(dir)?;
    }
    let emulator = DeviceEmulator::spawn(&path, options)?;
    eprintln!(
        "emulated device at {path} -> {}",
        emulator.pty_path().unwrap_or(emulator.path()).display()
    );
    let started = Instant::now();
    let mut printed = 0;
    while seconds.is_none_or(|s| started.elapsed() < Duration::from_secs(s)) {
        std::thread::sleep(Duration::from_millis(50));
        let device = emulator.lock();
        for p in &device.predictions()[printed..] {
            let novelty = match p.novelty {
                Some(n) if n.novel => format!("novelty {:.4} novel", n.score),
                Some(n) => format!("novelty {:.4}", n.score),
                None => "no novelty model".to_string(),
            };
            println!(
                "seq {} frame {} class {} {:?} confidence {:.3} {novelty} latency {} us",
                p.seq,
                p.frame,
                p.class_id,
                p.class_name.as_str(),
                p.confidence,
                p.latency_us
            );
        }
        if device.predictions().len() > printed {
            printed = device.predictions().len();
            if let Some(dir) = &png_dir {
                edge_ssl_display::write_png(device.screen(), 1, &dir.join("latest.png"))?;
            }
        }
    }
    let device = emulator.lock();
    eprintln!(
        "received {} predictions, dropped {:?}, {} as another version's",
        device.predictions().len(),
        device.decoder_stats().dropped,
        device.version_drops()
    );
    Ok(())
}
