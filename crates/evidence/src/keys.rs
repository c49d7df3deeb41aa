//! The installation's keys, in `state_dir/keys/`:
//!
//! - `evidence.ed25519`: the 32-byte Ed25519 seed that signs evidence checkpoints, hex, 0600.
//! - `evidence.pub`: its verifying key, hex, 0644, for auditors.
//! - `fingerprint.key`: 32 random bytes, hex, 0600, the HMAC key for credential fingerprints.
//!
//! Each file contains one line of 64 lowercase hex digits.

use crate::error::EvidenceError;
use ed25519_dalek::{SigningKey, VerifyingKey};
use enact_model::FingerprintKey;
use rand::rngs::OsRng;
use rand::RngCore;
use std::fmt;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The directory under the state directory that contains the keys.
pub const KEYS_DIR: &str = "keys";
/// The signing key's file name.
pub const SIGNING_KEY_FILE: &str = "evidence.ed25519";
/// The verifying key's file name.
pub const VERIFYING_KEY_FILE: &str = "evidence.pub";
/// The fingerprint key's file name.
pub const FINGERPRINT_KEY_FILE: &str = "fingerprint.key";

const SECRET_MODE: u32 = 0o600;
const PUBLIC_MODE: u32 = 0o644;

/// The keys loaded from the state directory. `Debug` shows no key material, public or secret.
pub struct Keys {
    signing: SigningKey,
    verifying: VerifyingKey,
    fingerprint: FingerprintKey,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Keys(..)")
    }
}

/// The key files [`Keys::init`] found or created.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InitReport {
    /// Files created by this call.
    pub created: Vec<PathBuf>,
    /// Files that already existed and were left as they were.
    pub existing: Vec<PathBuf>,
}

impl Keys {
    /// Creates the keys directory (0700) and whichever key files are missing, from the
    /// operating system's random source. Never overwrites a file, so it is safe to run again.
    ///
    /// A missing `evidence.pub` is derived from an existing signing key. A missing signing key
    /// beside an existing `evidence.pub` is an error, because a new key would not match the
    /// public key that auditors already hold.
    pub fn init(state_dir: &Path) -> Result<InitReport, EvidenceError> {
        let dir = state_dir.join(KEYS_DIR);
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(EvidenceError::io("create", &dir))?;
        let signing_path = dir.join(SIGNING_KEY_FILE);
        let verifying_path = dir.join(VERIFYING_KEY_FILE);
        let fingerprint_path = dir.join(FINGERPRINT_KEY_FILE);
        let mut report = InitReport::default();

        let signing = if exists(&signing_path)? {
            report.existing.push(signing_path.clone());
            read_signing_key(&signing_path)?
        } else if exists(&verifying_path)? {
            return Err(EvidenceError::SigningKeyLost {
                public: verifying_path,
                signing: signing_path,
            });
        } else {
            let key = SigningKey::generate(&mut OsRng);
            // Writing the seed to its own key file is the purpose of `init`.
            let seed = Zeroizing::new(hex::encode(key.to_bytes()));
            create_key_file(&signing_path, &seed, SECRET_MODE)?;
            report.created.push(signing_path.clone());
            key
        };

        if exists(&verifying_path)? {
            report.existing.push(verifying_path);
        } else {
            let public = hex::encode(signing.verifying_key().as_bytes());
            create_key_file(&verifying_path, &public, PUBLIC_MODE)?;
            report.created.push(verifying_path);
        }

        if exists(&fingerprint_path)? {
            report.existing.push(fingerprint_path);
        } else {
            let mut bytes = Zeroizing::new([0u8; 32]);
            OsRng.fill_bytes(bytes.as_mut());
            let text = Zeroizing::new(hex::encode(bytes.as_ref()));
            create_key_file(&fingerprint_path, &text, SECRET_MODE)?;
            report.created.push(fingerprint_path);
        }

        for path in &report.created {
            tracing::info!(path = %path.display(), "key file created");
        }
        Ok(report)
    }

    /// Loads the three keys from `state_dir/keys/`. A missing file, a secret file readable by
    /// group or others, a file that is not 64 hex digits, or a public key that does not match
    /// the signing key is an error that names the file.
    pub fn load(state_dir: &Path) -> Result<Keys, EvidenceError> {
        let dir = state_dir.join(KEYS_DIR);
        let signing_path = dir.join(SIGNING_KEY_FILE);
        let verifying_path = dir.join(VERIFYING_KEY_FILE);
        let signing = read_signing_key(&signing_path)?;
        let verifying = read_verifying_key(&verifying_path)?;
        if verifying != signing.verifying_key() {
            return Err(EvidenceError::KeyMismatch {
                path: verifying_path,
            });
        }
        let fingerprint_path = dir.join(FINGERPRINT_KEY_FILE);
        let fingerprint = FingerprintKey::from_bytes(*read_secret(&fingerprint_path)?);
        Ok(Keys {
            signing,
            verifying,
            fingerprint,
        })
    }

    /// Returns the key that signs evidence checkpoints.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// Returns the key that verifies evidence checkpoints.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.verifying
    }

    /// Returns the HMAC key for credential fingerprints.
    pub fn fingerprint_key(&self) -> &FingerprintKey {
        &self.fingerprint
    }

    /// Splits the keys into the signing key, the verifying key and the fingerprint key, so the
    /// signing key can move into [`crate::EvidenceLog::open`] without a copy.
    pub fn into_parts(self) -> (SigningKey, VerifyingKey, FingerprintKey) {
        (self.signing, self.verifying, self.fingerprint)
    }
}

/// Reads a verifying key file, such as the `evidence.pub` an auditor was given. Its mode is
/// not checked, because a public key may be readable by anyone.
pub fn read_verifying_key(path: &Path) -> Result<VerifyingKey, EvidenceError> {
    let text = read_key_text(path)?;
    let bytes = decode_hex32(&text).ok_or_else(|| EvidenceError::KeyInvalid {
        path: path.to_path_buf(),
        reason: "expected 64 hex digits",
    })?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| EvidenceError::KeyInvalid {
        path: path.to_path_buf(),
        reason: "not an Ed25519 public key",
    })
}

/// Reads the signing key file after checking that only its owner can read it.
fn read_signing_key(path: &Path) -> Result<SigningKey, EvidenceError> {
    let seed = read_secret(path)?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Reads 32 secret bytes from a hex key file that only its owner can read.
fn read_secret(path: &Path) -> Result<Zeroizing<[u8; 32]>, EvidenceError> {
    let metadata = fs::metadata(path).map_err(|source| missing_or_io(path, source))?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(EvidenceError::KeyPermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    let text = read_key_text(path)?;
    let mut bytes = Zeroizing::new([0u8; 32]);
    *bytes = decode_hex32(&text).ok_or_else(|| EvidenceError::KeyInvalid {
        path: path.to_path_buf(),
        reason: "expected 64 hex digits",
    })?;
    Ok(bytes)
}

/// Reads a key file's text, zeroized when dropped.
fn read_key_text(path: &Path) -> Result<Zeroizing<String>, EvidenceError> {
    fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(|source| missing_or_io(path, source))
}

/// Decodes 64 hex digits, ignoring surrounding whitespace.
fn decode_hex32(text: &str) -> Option<[u8; 32]> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut bytes).ok()?;
    Some(bytes)
}

fn missing_or_io(path: &Path, source: io::Error) -> EvidenceError {
    if source.kind() == io::ErrorKind::NotFound {
        EvidenceError::KeyMissing {
            path: path.to_path_buf(),
        }
    } else {
        EvidenceError::io("read", path)(source)
    }
}

fn exists(path: &Path) -> Result<bool, EvidenceError> {
    path.try_exists()
        .map_err(EvidenceError::io("inspect", path))
}

/// Writes `text` and a newline to a new file with `mode`, failing if the file exists.
///
/// The content is written and synced under a temporary name first, then hard-linked to
/// `path`, which fails if `path` exists. So a crash never leaves a partial key file that a
/// later `init` would keep. The mode is set again after opening, because the umask may have
/// narrowed the public key's.
fn create_key_file(path: &Path, text: &str, mode: u32) -> Result<(), EvidenceError> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);

    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&temporary)
        .map_err(EvidenceError::io("create", &temporary))?;
    file.set_permissions(fs::Permissions::from_mode(mode))
        .and_then(|()| file.write_all(text.as_bytes()))
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .map_err(EvidenceError::io("write", &temporary))?;
    drop(file);

    let linked = fs::hard_link(&temporary, path).map_err(EvidenceError::io("create", path));
    let removed = fs::remove_file(&temporary).map_err(EvidenceError::io("remove", &temporary));
    linked?;
    removed?;
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(EvidenceError::io("sync", dir))
}
