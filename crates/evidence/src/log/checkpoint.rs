//! Signed checkpoints: a signature over the chain hash at one record.
//!
//! The signature is Ed25519 over exactly `enact-checkpoint-v1\n{seq}\n{hash}\n{signed_at}\n`,
//! with the hash in lowercase hex and `signed_at` in microseconds since the Unix epoch. The
//! `key` field only names the signer; it is not signed, and verification uses the key the
//! auditor supplies.

use super::line::{parse_hash, Hash};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use enact_model::Timestamp;
use serde::{Deserialize, Serialize};

/// A signed statement that the log's chain hash at record `seq` is `hash`. Everything up to
/// that record is fixed by the signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// The last record covered; 0 for an empty log.
    pub seq: u64,
    /// The chain hash of record `seq`, lowercase hex.
    pub hash: String,
    /// When the checkpoint was signed, in microseconds since the Unix epoch.
    pub signed_at: Timestamp,
    /// The signer's Ed25519 verifying key, lowercase hex.
    pub key: String,
    /// The Ed25519 signature, base64 with padding.
    pub signature: String,
}

impl Checkpoint {
    /// Signs the chain hash `hash` at record `seq`.
    pub(crate) fn sign(seq: u64, hash: &Hash, signed_at: Timestamp, key: &SigningKey) -> Self {
        let hash = hex::encode(hash);
        let signature = key.sign(&signed_message(seq, &hash, signed_at));
        Checkpoint {
            seq,
            hash,
            signed_at,
            key: hex::encode(key.verifying_key().as_bytes()),
            signature: BASE64.encode(signature.to_bytes()),
        }
    }

    /// Checks whether the signature is valid under `key`. Strict verification rejects the malleable
    /// and small-order signatures that plain Ed25519 verification tolerates.
    pub fn signature_is_valid(&self, key: &VerifyingKey) -> bool {
        let Ok(bytes) = BASE64.decode(&self.signature) else {
            return false;
        };
        let Ok(signature) = Signature::from_slice(&bytes) else {
            return false;
        };
        let message = signed_message(self.seq, &self.hash, self.signed_at);
        key.verify_strict(&message, &signature).is_ok()
    }

    /// Decodes the signed hash, if it is 64 lowercase hex digits.
    pub(crate) fn hash_bytes(&self) -> Option<Hash> {
        parse_hash(self.hash.as_bytes())
    }

    /// Parses a checkpoint line (without its newline) and checks that it is written exactly as
    /// [`Checkpoint::to_line`] writes it.
    pub(crate) fn parse_line(line: &[u8]) -> Result<Self, String> {
        let checkpoint: Checkpoint =
            serde_json::from_slice(line).map_err(|error| error.to_string())?;
        if checkpoint.to_line().as_bytes() != line {
            return Err("not in canonical form".to_string());
        }
        Ok(checkpoint)
    }

    /// Serializes the checkpoint as one JSON line, without a newline.
    pub(crate) fn to_line(&self) -> String {
        // A struct of strings and integers always serializes; the fallback keeps this total.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Builds the exact bytes a checkpoint signature covers.
fn signed_message(seq: u64, hash_hex: &str, signed_at: Timestamp) -> Vec<u8> {
    format!("enact-checkpoint-v1\n{seq}\n{hash_hex}\n{}\n", signed_at.0).into_bytes()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn signature_covers_each_field() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let verifying = key.verifying_key();
        let checkpoint = Checkpoint::sign(4, &[1; 32], Timestamp(1_000), &key);
        assert!(checkpoint.signature_is_valid(&verifying));

        let mut seq = checkpoint.clone();
        seq.seq = 5;
        assert!(!seq.signature_is_valid(&verifying));

        let mut hash = checkpoint.clone();
        hash.hash = hex::encode([2; 32]);
        assert!(!hash.signature_is_valid(&verifying));

        let mut time = checkpoint.clone();
        time.signed_at = Timestamp(1_001);
        assert!(!time.signature_is_valid(&verifying));

        let other = SigningKey::from_bytes(&[8; 32]).verifying_key();
        assert!(!checkpoint.signature_is_valid(&other));
    }

    #[test]
    fn line_round_trips_and_rejects_other_spellings() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let checkpoint = Checkpoint::sign(4, &[1; 32], Timestamp(1_000), &key);
        let line = checkpoint.to_line();
        assert_eq!(Checkpoint::parse_line(line.as_bytes()), Ok(checkpoint));

        let spaced = line.replacen(":", ": ", 1);
        assert!(Checkpoint::parse_line(spaced.as_bytes()).is_err());
    }
}
