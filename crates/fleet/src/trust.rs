//! Which certificates the node trusts for HTTPS: the ones it was given (Flower's
//! `--root-certificates`), or the operating system's trust store.
//!
//! The system store is read from the CA bundle file every Linux distribution keeps (Debian,
//! Ubuntu, Raspberry Pi OS and NVIDIA's Jetson Linux: `/etc/ssl/certs/ca-certificates.crt`), or
//! from `SSL_CERT_FILE` when that is set, as OpenSSL does. Reading it instead of compiling
//! Mozilla's roots into the binary keeps the device's trust where its administrator manages it
//! (`update-ca-certificates`) and keeps ~0.3 MB of certificates out of every binary.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{FleetError, Result};

/// Where distributions keep their CA bundle, most common first.
pub const SYSTEM_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Raspberry Pi OS, Jetson Linux, Arch
    "/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL
    "/etc/ssl/ca-bundle.pem",             // openSUSE
    "/etc/ssl/cert.pem",                  // Alpine
];

/// A CA bundle larger than this is not one (Debian's is ~0.2 MB).
const MAX_BUNDLE: u64 = 16 * 1024 * 1024;

/// The PEM of the system's root certificates and the file it came from: `SSL_CERT_FILE` when
/// set (and then only that file), else the first of [`SYSTEM_BUNDLES`] that exists.
pub fn system_roots() -> Result<(PathBuf, Vec<u8>)> {
    if let Some(file) = std::env::var_os("SSL_CERT_FILE") {
        let path = PathBuf::from(file);
        let pem = read_bundle(&path)?;
        return Ok((path, pem));
    }
    for path in SYSTEM_BUNDLES.iter().map(PathBuf::from) {
        if path.exists() {
            let pem = read_bundle(&path)?;
            return Ok((path, pem));
        }
    }
    Err(FleetError::Tls {
        reason: format!(
            "no system CA bundle (looked for SSL_CERT_FILE and {}); give the SuperLink's CA \
             certificate explicitly",
            SYSTEM_BUNDLES.join(", ")
        ),
    })
}

/// A regular file of at most [`MAX_BUNDLE`] bytes.
fn read_bundle(path: &Path) -> Result<Vec<u8>> {
    let fail = |reason: String| FleetError::Tls {
        reason: format!("{}: {reason}", path.display()),
    };
    let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let meta = file.metadata().map_err(|e| fail(e.to_string()))?;
    if !meta.is_file() {
        return Err(fail("not a regular file".into()));
    }
    let mut pem = Vec::new();
    file.take(MAX_BUNDLE + 1)
        .read_to_end(&mut pem)
        .map_err(|e| fail(e.to_string()))?;
    if pem.len() as u64 > MAX_BUNDLE {
        return Err(fail(format!("larger than {MAX_BUNDLE} bytes")));
    }
    Ok(pem)
}

/// rustls settings trusting exactly the certificates in `pem` (other PEM sections, such as
/// private keys, are skipped; no certificate at all is an error).
#[cfg(feature = "tls")]
pub(crate) fn tls_config(pem: &[u8]) -> Result<ureq::tls::TlsConfig> {
    use ureq::tls::{PemItem, RootCerts, TlsConfig};
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        if let PemItem::Certificate(c) = item.map_err(|e| FleetError::Tls {
            reason: e.to_string(),
        })? {
            certs.push(c);
        }
    }
    if certs.is_empty() {
        return Err(FleetError::Tls {
            reason: "no certificate in the PEM".into(),
        });
    }
    Ok(TlsConfig::builder()
        .root_certs(RootCerts::new_with_certs(&certs))
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_must_be_a_regular_file_of_bounded_size() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            read_bundle(dir.path()),
            Err(FleetError::Tls { .. })
        ));
        let missing = read_bundle(&dir.path().join("none.pem")).unwrap_err();
        assert!(missing.to_string().contains("none.pem"), "{missing}");
        let big = dir.path().join("big.pem");
        std::fs::write(&big, vec![b'A'; MAX_BUNDLE as usize + 1]).unwrap();
        assert!(
            read_bundle(&big)
                .unwrap_err()
                .to_string()
                .contains("larger than")
        );
        let ok = dir.path().join("ok.pem");
        std::fs::write(&ok, b"pem").unwrap();
        assert_eq!(read_bundle(&ok).unwrap(), b"pem");
    }

    #[cfg(feature = "tls")]
    #[test]
    fn a_pem_without_certificates_is_refused() {
        let err = tls_config(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
            .unwrap_err();
        assert!(err.to_string().contains("no certificate"), "{err}");
    }
}
