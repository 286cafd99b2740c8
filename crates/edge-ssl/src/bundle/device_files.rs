//! The two text files a bundle carries for the device: the systemd unit that starts
//! `edge-ssl run` on boot and restarts it when it fails (a camera unplugged, a crash), and the
//! README that says how to install it. Both assume the bundle is unpacked to [`INSTALL_DIR`].
//!
//! Camera and serial port are environment variables of the unit, so they can be changed on the
//! device with a drop-in (`systemctl edit edge-ssl`) without touching the bundled files, whose
//! hashes the manifest records.

use crate::error::bail;

use super::target::Target;

pub const INSTALL_DIR: &str = "/opt/edge-ssl";
pub const UNIT: &str = "edge-ssl.service";
pub const README: &str = "README.md";
/// The model directory inside a bundle.
pub const MODEL_DIR: &str = "model";

/// What the unit runs: which camera (or video, or folder) and which serial port.
#[derive(Debug, Clone)]
pub struct DeviceSetup {
    pub source: String,
    pub serial: Option<String>,
}

impl DeviceSetup {
    /// Refuses values that systemd would expand or split (`%`, `$`, quotes, spaces…).
    pub fn new(source: &str, serial: Option<&str>) -> crate::Result<Self> {
        for (what, value) in [("the source", Some(source)), ("the serial port", serial)] {
            if let Some(v) = value
                && (v.is_empty()
                    || !v
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "/._-:+@,=".contains(c)))
            {
                bail!(
                    Options,
                    "{what} `{v}`: use a plain path (letters, digits and / . _ - : + @ , =) in a systemd unit"
                );
            }
        }
        Ok(Self {
            source: source.to_owned(),
            serial: serial.map(str::to_owned),
        })
    }

    /// The unit's `run` flags: where predictions go. `--serial TTY` sends them to the device;
    /// without one, `--json` prints one JSON line per prediction, which the journal keeps
    /// (without either, `run` prints nothing until it stops, and on a camera it never stops).
    fn run_args(&self) -> String {
        self.serial
            .as_ref()
            .map_or_else(|| "--json".into(), |s| format!("--serial {s}"))
    }
}

pub fn systemd_unit(setup: &DeviceSetup) -> String {
    format!(
        "\
[Unit]
Description=edge-ssl: classify camera frames with the bundled model
Documentation=file://{INSTALL_DIR}/{README}
After=local-fs.target

[Service]
Type=simple
WorkingDirectory={INSTALL_DIR}
# Change these with `systemctl edit edge-ssl` (a drop-in), not here: this file is in the manifest.
Environment=EDGE_SSL_SOURCE={source}
Environment=\"EDGE_SSL_ARGS={serial}\"
ExecStart={INSTALL_DIR}/edge-ssl run --model {INSTALL_DIR}/{MODEL_DIR} --source ${{EDGE_SSL_SOURCE}} $EDGE_SSL_ARGS
Restart=on-failure
RestartSec=5s
# A throwaway user that may read the camera (video) and the serial port (dialout), nothing else.
DynamicUser=yes
SupplementaryGroups=video dialout
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes

[Install]
WantedBy=multi-user.target
",
        source = setup.source,
        serial = setup.run_args(),
    )
}

pub fn readme(target: Target, top: &str, setup: &DeviceSetup) -> String {
    let serial = setup
        .serial
        .as_deref()
        .unwrap_or("no serial port: the journal, one JSON line each");
    format!(
        "\
# edge-ssl device bundle ({target}, {triple})

`edge-ssl` (the binary), `{MODEL_DIR}/` (the model directory), `{UNIT}` (systemd unit) and
`MANIFEST.sha256` (sha256 of every file). `edge-ssl` checks the model's files against the manifest
before it loads them and refuses a changed file.

## Install

Copy the tarball this README came in to the device (BUNDLE.tar.gz below; its one folder is
`{top}/`), then:

    edge-ssl bundle --verify BUNDLE.tar.gz      # optional, where an edge-ssl is at hand
    sudo mkdir -p {INSTALL_DIR}
    sudo tar -xzf BUNDLE.tar.gz -C {INSTALL_DIR} --strip-components=1
    cd {INSTALL_DIR} && sha256sum -c MANIFEST.sha256

Try it by hand first (Ctrl-C stops it):

    {INSTALL_DIR}/edge-ssl run --model {INSTALL_DIR}/{MODEL_DIR} --source {source} {serial_args}

## Camera and serial port

The unit reads `{source}` and sends predictions to `{serial}`. To change either, run
`sudo systemctl edit edge-ssl` and add:

    [Service]
    Environment=EDGE_SSL_SOURCE=/dev/video1
    Environment=\"EDGE_SSL_ARGS=--serial /dev/ttyUSB0\"

Without a serial port the unit runs with `--json`: one JSON line per prediction goes to the
journal. (`EDGE_SSL_ARGS=` with nothing after it sends nothing over serial and logs only a
summary when `run` stops.) Other `edge-ssl run` flags
go in `EDGE_SSL_ARGS` too, e.g. `--backend ort --ort-lib PATH` for JetPack's ONNX Runtime on a
Jetson (docs/jetson.md in the source tree). The source can also be a video file or a folder of
images. The service runs as a throwaway user in the `video` and
`dialout` groups; `ls -l /dev/video0 /dev/ttyACM0` shows the groups your devices belong to.

## Start on boot

    sudo cp {INSTALL_DIR}/{UNIT} /etc/systemd/system/
    sudo systemctl daemon-reload
    sudo systemctl enable --now edge-ssl

It restarts 5 s after a failure (a camera unplugged, a crash). Logs go to the journal (with
`--json`, one line per prediction: frame, class, confidence, latency):

    journalctl -u edge-ssl -f
    systemctl status edge-ssl
",
        triple = target.triple(),
        source = setup.source,
        serial_args = setup.run_args(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_runs_the_bundled_model_with_the_chosen_devices_and_restarts() {
        let setup = DeviceSetup::new("/dev/video0", Some("/dev/ttyACM0")).unwrap();
        let unit = systemd_unit(&setup);
        assert!(unit.contains(
            "ExecStart=/opt/edge-ssl/edge-ssl run --model /opt/edge-ssl/model --source ${EDGE_SSL_SOURCE} $EDGE_SSL_ARGS"
        ));
        assert!(unit.contains("Environment=\"EDGE_SSL_ARGS=--serial /dev/ttyACM0\""));
        assert!(unit.contains("Restart=on-failure"));
        assert!(unit.contains("WorkingDirectory=/opt/edge-ssl"));
        // Without a serial port the predictions go to the journal, one JSON line each.
        let none = systemd_unit(&DeviceSetup::new("/dev/video0", None).unwrap());
        assert!(
            none.contains("Environment=\"EDGE_SSL_ARGS=--json\""),
            "{none}"
        );
    }

    #[test]
    fn values_systemd_would_expand_are_refused() {
        for bad in ["/dev/video0 --x", "%h/cam", "$HOME", "a\"b", ""] {
            assert!(DeviceSetup::new(bad, None).is_err(), "{bad:?}");
        }
        assert!(DeviceSetup::new("/dev/video0", Some("/dev/tty USB")).is_err());
    }
}
