//! Signed checkpoints: a signature over the chain hash at one record and, since format v2, over
//! the root of the Merkle tree of the records up to it (a signed tree head).
//!
//! A v2 checkpoint signs exactly
//! `enact-checkpoint-v2\n{seq}\n{hash}\n{root}\n{signed_at}\n`, with both hashes in lowercase
//! hex and `signed_at` in microseconds since the Unix epoch. `seq` is also the tree's size. A v1
//! checkpoint, as enact wrote before the tree existed, has no `root` and signs
//! `enact-checkpoint-v1\n{seq}\n{hash}\n{signed_at}\n`. The `key` field only names the
//! signer; it is not signed, and verification uses the key the auditor supplies.

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
    /// The root of the Merkle tree of records 1 to `seq`, lowercase hex; absent in v1
    /// checkpoints, which sign the chain only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    /// When the checkpoint was signed, in microseconds since the Unix epoch.
    pub signed_at: Timestamp,
    /// The signer's Ed25519 verifying key, lowercase hex.
    pub key: String,
    /// The Ed25519 signature, base64 with padding.
    pub signature: String,
}

impl Checkpoint {
    /// Signs the chain hash `hash` and the tree root `root` at record `seq` (format v2).
    pub(crate) fn sign(
        seq: u64,
        hash: &Hash,
        root: &Hash,
        signed_at: Timestamp,
        key: &SigningKey,
    ) -> Self {
        let hash = hex::encode(hash);
        let root = Some(hex::encode(root));
        let signature = key.sign(&signed_message(seq, &hash, root.as_deref(), signed_at));
        Checkpoint {
            seq,
            hash,
            root,
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
        let message = signed_message(self.seq, &self.hash, self.root.as_deref(), self.signed_at);
        key.verify_strict(&message, &signature).is_ok()
    }

    /// Decodes the signed hash, if it is 64 lowercase hex digits.
    pub(crate) fn hash_bytes(&self) -> Option<Hash> {
        parse_hash(self.hash.as_bytes())
    }

    /// Decodes the signed tree root: `Ok(None)` for a v1 checkpoint, an error if the root is
    /// not 64 lowercase hex digits.
    pub(crate) fn root_bytes(&self) -> Result<Option<Hash>, &'static str> {
        match &self.root {
            None => Ok(None),
            Some(root) => parse_hash(root.as_bytes())
                .map(Some)
                .ok_or("root is not 64 lowercase hex digits"),
        }
    }

    /// Returns the checkpoint's format: 2 for a signed tree head, 1 for a chain-only
    /// checkpoint.
    pub fn format(&self) -> u8 {
        if self.root.is_some() {
            2
        } else {
            1
        }
    }

    /// Parses a checkpoint from one line of JSON as `checkpoints.jsonl` holds it, such as a line
    /// an auditor kept from an earlier audit. Surrounding whitespace is ignored.
    pub fn from_json(text: &str) -> Result<Self, String> {
        Checkpoint::parse_line(text.trim().as_bytes())
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

/// Builds the exact bytes a checkpoint signature covers: format v2 with a tree root, v1
/// without.
fn signed_message(
    seq: u64,
    hash_hex: &str,
    root_hex: Option<&str>,
    signed_at: Timestamp,
) -> Vec<u8> {
    match root_hex {
        Some(root) => format!(
            "enact-checkpoint-v2\n{seq}\n{hash_hex}\n{root}\n{}\n",
            signed_at.0
        ),
        None => format!("enact-checkpoint-v1\n{seq}\n{hash_hex}\n{}\n", signed_at.0),
    }
    .into_bytes()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn signature_covers_each_field() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let verifying = key.verifying_key();
        let checkpoint = Checkpoint::sign(4, &[1; 32], &[3; 32], Timestamp(1_000), &key);
        assert!(checkpoint.signature_is_valid(&verifying));

        let mut root = checkpoint.clone();
        root.root = Some(hex::encode([4; 32]));
        assert!(!root.signature_is_valid(&verifying));

        // Dropping the root must not turn a v2 signature into a valid v1 one.
        let mut chain_only = checkpoint.clone();
        chain_only.root = None;
        assert!(!chain_only.signature_is_valid(&verifying));

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
        let checkpoint = Checkpoint::sign(4, &[1; 32], &[3; 32], Timestamp(1_000), &key);
        let line = checkpoint.to_line();
        assert_eq!(Checkpoint::parse_line(line.as_bytes()), Ok(checkpoint));

        let spaced = line.replacen(":", ": ", 1);
        assert!(Checkpoint::parse_line(spaced.as_bytes()).is_err());
    }

    #[test]
    fn v1_checkpoint_still_verifies() {
        // A checkpoint as enact wrote it before the tree: no root, the v1 message.
        let key = SigningKey::from_bytes(&[9; 32]);
        let hash = hex::encode([1; 32]);
        let message = signed_message(4, &hash, None, Timestamp(1_000));
        assert!(message.starts_with(b"enact-checkpoint-v1\n"));
        let signature = key.sign(&message);
        let line = format!(
            "{{\"seq\":4,\"hash\":\"{hash}\",\"signed_at\":1000,\"key\":\"{}\",\"signature\":\"{}\"}}",
            hex::encode(key.verifying_key().as_bytes()),
            BASE64.encode(signature.to_bytes())
        );
        let checkpoint = Checkpoint::parse_line(line.as_bytes()).unwrap();
        assert_eq!(checkpoint.format(), 1);
        assert_eq!(checkpoint.root_bytes(), Ok(None));
        assert!(checkpoint.signature_is_valid(&key.verifying_key()));
    }
}
