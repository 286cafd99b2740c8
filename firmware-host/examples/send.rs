//! Sends N made-up predictions to a device at PATH and prints the link's statistics: a smoke test
//! for a real board or for the `emulator` example. Every fifth frame is marked novel.
//!
//!     cargo run -p edge-ssl-firmware-host --example send -- /dev/ttyACM0 100

use std::time::Duration;

use edge_ssl_firmware_host::{LinkOptions, Novelty, SerialLink};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: send PATH [COUNT]")?;
    let count: u32 = args.next().map(|n| n.parse()).transpose()?.unwrap_or(100);
    let classes = [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
    ];
    let mut link = SerialLink::open(&path, LinkOptions::default())?;
    for frame in 0..count {
        let class = frame as usize % classes.len();
        let novel = frame % 5 == 4;
        let score = if novel { 2.0 } else { 0.5 };
        let outcome = link.send_prediction(
            frame,
            class as u16,
            classes[class],
            0.5,
            Some(Novelty { score, novel }),
            Duration::from_millis(5),
        );
        for event in link.drain_events() {
            eprintln!("serial: {event:?}");
        }
        if frame % 10 == 0 {
            eprintln!("frame {frame}: {outcome:?}");
        }
        std::thread::sleep(Duration::from_millis(33));
    }
    link.drain(Duration::from_millis(200));
    println!("{:#?}", link.stats());
    Ok(())
}
