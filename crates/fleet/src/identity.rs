//! The node's identity: an ECDSA P-384 key pair that persists in the work directory, and
//! the three headers Flower's SuperLink checks on every Fleet request.
//!
//! The SuperLink (`superlink/routers/fleet/node_auth.py`) base64-decodes `flwr-public-key`
//! to the PEM SubjectPublicKeyInfo bytes, parses `flwr-timestamp` with
//! `datetime.fromisoformat`, accepts it only if it is less than 5 s ahead of and 305 s
//! behind its own clock, and verifies `flwr-signature` (base64 of a DER ECDSA signature,
//! hash SHA-256) over the timestamp's ASCII bytes. The PEM bytes must equal the
//! `public_key` in register/activate requests and, after that, identify the node.
//!
//! The private key is stored as PKCS#8 PEM, as flwr's own `private_key_to_bytes` writes it,
//! so the same file works with `flower-supernode --auth-supernode-private-key`; the public
//! key beside it is in OpenSSH format, which is what `flwr supernode register` reads (it
//! converts to the same PEM bytes the headers carry). A key is kept across restarts so a
//! device keeps its node identity.

use std::path::{Path, PathBuf};

use base64ct::{Base64, Encoding as _};
use p384::ecdsa::signature::hazmat::PrehashSigner as _;
use p384::ecdsa::{Signature, SigningKey};
use p384::elliptic_curve::zeroize::Zeroizing;
use p384::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, EncodePublicKey as _};
use sha2::{Digest as _, Sha256};

use crate::error::{FleetError, Result};
use crate::pem;
use crate::timestamp;

/// File name of the private key inside the work directory.
pub const PRIVATE_KEY_FILE: &str = "node-key.pem";
/// File name of the public key (OpenSSH format) inside the work directory.
pub const PUBLIC_KEY_FILE: &str = "node-key.pub";

/// A node's key pair and the PEM bytes of its public half.
#[derive(Clone)]
pub struct NodeKey {
    signing: SigningKey,
    public_pem: Vec<u8>,
}

impl std::fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeKey")
            .field("public_pem", &String::from_utf8_lossy(&self.public_pem))
            .finish_non_exhaustive()
    }
}

/// The signed headers of one request.
#[derive(Debug, Clone)]
pub struct AuthHeaders {
    pub public_key: String,
    pub timestamp: String,
    pub signature: String,
}

impl NodeKey {
    /// A fresh random key (from the operating system's generator).
    pub fn generate() -> Result<Self> {
        loop {
            let mut bytes = [0u8; 48];
            getrandom::fill(&mut bytes).map_err(|e| FleetError::Key {
                path: PathBuf::new(),
                reason: format!("no randomness from the operating system: {e}"),
            })?;
            // Out-of-range scalars (probability ~2^-190) are drawn again.
            if let Ok(secret) = p384::SecretKey::from_slice(&bytes) {
                return Self::from_secret(&secret, Path::new(""));
            }
        }
    }

    /// Loads `dir/node-key.pem`, or creates it (mode 0600) with its public half.
    pub fn load_or_create(dir: &Path) -> Result<Self> {
        let path = dir.join(PRIVATE_KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(pem) => {
                let key = Self::from_pkcs8_pem(&pem, &path)?;
                let public = dir.join(PUBLIC_KEY_FILE);
                if !public.exists() {
                    write_atomic(&public, key.public_key_openssh().as_bytes(), 0o644)?;
                }
                Ok(key)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate()?;
                std::fs::create_dir_all(dir).map_err(|source| FleetError::Io {
                    path: dir.to_owned(),
                    source,
                })?;
                let private = key.signing.as_nonzero_scalar();
                let secret = p384::SecretKey::from(private);
                let der = secret.to_pkcs8_der().map_err(|e| FleetError::Key {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
                let pem = Zeroizing::new(pem::encode("PRIVATE KEY", der.as_bytes()));
                write_atomic(
                    &dir.join(PUBLIC_KEY_FILE),
                    key.public_key_openssh().as_bytes(),
                    0o644,
                )?;
                write_atomic(&path, pem.as_bytes(), 0o600)?;
                Ok(key)
            }
            Err(source) => Err(FleetError::Io { path, source }),
        }
    }

    /// Parses a PKCS#8 PEM private key (`path` only names it in errors).
    pub fn from_pkcs8_pem(pem: &str, path: &Path) -> Result<Self> {
        let not_a_key = |e: String| FleetError::Key {
            path: path.to_owned(),
            reason: format!("not a PKCS#8 P-384 private key: {e}"),
        };
        let der = Zeroizing::new(pem::decode("PRIVATE KEY", pem).map_err(not_a_key)?);
        let secret = p384::SecretKey::from_pkcs8_der(&der).map_err(|e| not_a_key(e.to_string()))?;
        Self::from_secret(&secret, path)
    }

    fn from_secret(secret: &p384::SecretKey, path: &Path) -> Result<Self> {
        let der = secret
            .public_key()
            .to_public_key_der()
            .map_err(|e| FleetError::Key {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
        let public_pem = pem::encode("PUBLIC KEY", der.as_bytes()).into_bytes();
        Ok(Self {
            signing: SigningKey::from(secret),
            public_pem,
        })
    }

    /// The PEM SubjectPublicKeyInfo bytes Flower identifies this node by.
    #[must_use]
    pub fn public_key_pem(&self) -> &[u8] {
        &self.public_pem
    }

    /// The public key as an OpenSSH `ecdsa-sha2-nistp384` line (RFC 5656), for
    /// `flwr supernode register` when the SuperLink runs with `--enable-supernode-auth`.
    #[must_use]
    pub fn public_key_openssh(&self) -> String {
        let point = self.signing.verifying_key().to_encoded_point(false);
        let mut blob = Vec::new();
        for field in [
            b"ecdsa-sha2-nistp384".as_slice(),
            b"nistp384",
            point.as_bytes(),
        ] {
            // Fields are a few dozen bytes: the length always fits in u32.
            blob.extend_from_slice(&u32::try_from(field.len()).unwrap_or(u32::MAX).to_be_bytes());
            blob.extend_from_slice(field);
        }
        format!(
            "ecdsa-sha2-nistp384 {} edge-ssl-node\n",
            Base64::encode_string(&blob)
        )
    }

    /// Signs `now` for one request.
    pub fn headers(&self) -> Result<AuthHeaders> {
        self.headers_at(&timestamp::now_iso8601())
    }

    /// Signs a given timestamp string (tests use it to simulate clock skew).
    pub fn headers_at(&self, timestamp: &str) -> Result<AuthHeaders> {
        let digest = Sha256::digest(timestamp.as_bytes());
        let signature: Signature =
            self.signing
                .sign_prehash(&digest)
                .map_err(|e| FleetError::Key {
                    path: PathBuf::new(),
                    reason: format!("signing failed: {e}"),
                })?;
        Ok(AuthHeaders {
            public_key: Base64::encode_string(&self.public_pem),
            timestamp: timestamp.to_owned(),
            signature: Base64::encode_string(signature.to_der().as_bytes()),
        })
    }
}

/// Writes `bytes` to `path` through a synced temporary in the same directory, with `mode`
/// from the start (a key is never briefly world-readable), then renames it into place.
fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::io::Write as _;
    let io = |source| FleetError::Io {
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(&tmp).map_err(io)?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(io)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io)?;
    if let Some(dir) = path.parent().and_then(|d| std::fs::File::open(d).ok()) {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use p384::ecdsa::VerifyingKey;
    use p384::ecdsa::signature::hazmat::PrehashVerifier as _;
    use p384::pkcs8::DecodePublicKey as _;

    #[test]
    fn signature_verifies_over_sha256_of_the_timestamp() {
        let key = NodeKey::generate().unwrap();
        let h = key.headers_at("2026-12-04T05:35:28.123456+00:00").unwrap();
        let pem = String::from_utf8(Base64::decode_vec(&h.public_key).unwrap()).unwrap();
        assert!(
            pem.starts_with("-----BEGIN PUBLIC KEY-----\n")
                && pem.ends_with("-----END PUBLIC KEY-----\n")
        );
        let verifying = VerifyingKey::from_public_key_pem(&pem).unwrap();
        let sig = Signature::from_der(&Base64::decode_vec(&h.signature).unwrap()).unwrap();
        let digest = Sha256::digest(h.timestamp.as_bytes());
        verifying.verify_prehash(&digest, &sig).unwrap();
        let other = Sha256::digest(b"2026-12-04T05:35:29.123456+00:00");
        assert!(verifying.verify_prehash(&other, &sig).is_err());
    }

    #[test]
    fn key_persists_with_private_mode() {
        let dir = tempfile::tempdir().unwrap();
        let a = NodeKey::load_or_create(dir.path()).unwrap();
        let b = NodeKey::load_or_create(dir.path()).unwrap();
        assert_eq!(a.public_key_pem(), b.public_key_pem());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(PRIVATE_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let public = std::fs::read_to_string(dir.path().join(PUBLIC_KEY_FILE)).unwrap();
        assert_eq!(public, a.public_key_openssh());
        assert!(public.starts_with("ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQ"));
    }

    #[test]
    fn key_files_are_byte_exact_with_p384s_own_pem() {
        use p384::pkcs8::{EncodePrivateKey as _, LineEnding};
        let dir = tempfile::tempdir().unwrap();
        let key = NodeKey::load_or_create(dir.path()).unwrap();
        let written = std::fs::read_to_string(dir.path().join(PRIVATE_KEY_FILE)).unwrap();
        let secret = p384::SecretKey::from_pkcs8_pem(&written).unwrap();
        assert_eq!(*secret.to_pkcs8_pem(LineEnding::LF).unwrap(), written);
        let public = secret
            .public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        assert_eq!(key.public_key_pem(), public.as_bytes());
        // A file with CRLF line ends (edited on another system) is the same key.
        let crlf = written.replace('\n', "\r\n");
        let again = NodeKey::from_pkcs8_pem(&crlf, Path::new("k")).unwrap();
        assert_eq!(again.public_key_pem(), key.public_key_pem());
    }

    #[test]
    fn a_corrupt_key_file_is_a_key_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(PRIVATE_KEY_FILE), "not a key").unwrap();
        assert!(matches!(
            NodeKey::load_or_create(dir.path()),
            Err(FleetError::Key { .. })
        ));
    }
}
