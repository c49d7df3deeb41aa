//! Inclusion and consistency proofs against signed tree heads (v2 checkpoints).
//!
//! An [`InclusionProof`] carries one record's body, its audit path and the checkpoint it leads
//! to, so an auditor checks it with the public key alone: the checkpoint's signature must be
//! valid, and the path must lead from the record's leaf hash to the signed root. A
//! [`ConsistencyProof`] shows that the log signed by one checkpoint is a prefix of the log
//! signed by a later one, so nothing signed earlier was changed or removed.
//!
//! Proofs are built from the stored tree ([`crate::tree`]) and checked with the `ct-merkle`
//! crate's RFC 6962 verifier, so the code that checks a proof is not the code that made it.

use crate::error::EvidenceError;
use crate::log::{
    evidence_dir, parse_hash, read_last_checkpoint, record_body, Checkpoint, Hash,
    CHECKPOINTS_FILE, LOG_FILE,
};
use crate::tree::file::TreeSource;
use crate::tree::{empty_root, Nodes};
use ct_merkle::RootHash;
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::digest::Output;
use sha2::Sha256;
use std::path::Path;

/// The `format` of an inclusion proof.
pub const INCLUSION_FORMAT: &str = "enact-inclusion-proof-v1";
/// The `format` of a consistency proof.
pub const CONSISTENCY_FORMAT: &str = "enact-consistency-proof-v1";

/// A proof that one record is in the log that a checkpoint signs.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionProof {
    /// Always [`INCLUSION_FORMAT`].
    pub format: String,
    /// The record's sequence number; its leaf index is `seq - 1`.
    pub seq: u64,
    /// The leaf index, `seq - 1`, as RFC 9162 counts leaves.
    pub leaf_index: u64,
    /// The number of leaves of the tree the path leads to: the checkpoint's `seq`.
    pub tree_size: u64,
    /// The record's body exactly as the log holds it; its leaf hash is SHA-256(0x00 ‖ body).
    pub record: Box<RawValue>,
    /// The audit path, sibling hashes from the leaf up, lowercase hex.
    pub path: Vec<String>,
    /// The signed tree head the path leads to.
    pub checkpoint: Checkpoint,
}

/// A proof that the log signed by `old` is a prefix of the log signed by `new`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProof {
    /// Always [`CONSISTENCY_FORMAT`].
    pub format: String,
    /// The earlier signed tree head.
    pub old: Checkpoint,
    /// The later signed tree head.
    pub new: Checkpoint,
    /// RFC 9162's PROOF(old size, new tree), deepest hash first, lowercase hex.
    pub path: Vec<String>,
}

/// A proof that could not be made, or that failed to verify.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    /// The log could not be read.
    #[error(transparent)]
    Evidence(#[from] EvidenceError),

    /// The log has no record with this sequence number.
    #[error("record {seq} not found; the log has {records} record(s)")]
    RecordNotFound { seq: u64, records: u64 },

    /// No signed tree head covers the record yet.
    #[error(
        "record {seq} is not covered by a signed tree head (the last one covers record {signed_through}); the next `enact apply` signs one"
    )]
    NotSigned { seq: u64, signed_through: u64 },

    /// The log has only v1 checkpoints, which sign no tree root.
    #[error(
        "the log has no signed tree head: its checkpoints are format v1 (chain only, written before enact kept a Merkle tree); the next `enact apply` signs one"
    )]
    NoTreeHead,

    /// A checkpoint is format v1, so it signs no root a proof could lead to.
    #[error("the {which} checkpoint is format v1 (chain only) and signs no tree root")]
    ChainOnly { which: &'static str },

    /// A checkpoint's signature is not valid under the given key.
    #[error("the {which} checkpoint's signature is invalid under the given public key")]
    SignatureInvalid { which: &'static str },

    /// The proof's fields contradict each other or its format.
    #[error("malformed proof: {0}")]
    Malformed(String),

    /// The hashes do not lead to the signed root.
    #[error("proof does not verify: {0}")]
    Mismatch(String),

    /// The earlier checkpoint covers more records than the later one.
    #[error("the earlier checkpoint covers {old} record(s), more than the later one's {new}")]
    OldIsNewer { old: u64, new: u64 },

    /// The log no longer matches a checkpoint that signed it.
    #[error(
        "the log does not match the checkpoint at record {seq} (the log was rewritten); run `enact evidence verify`"
    )]
    LogRewritten { seq: u64 },
}

/// Reads every checkpoint of the log under `path` (the state directory or its `evidence`
/// directory), in file order. Checkpoint signatures are not checked here.
pub fn read_checkpoints(path: &Path) -> Result<Vec<Checkpoint>, EvidenceError> {
    let file = evidence_dir(path).join(CHECKPOINTS_FILE);
    let text = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(EvidenceError::io("read", &file)(source)),
    };
    let mut checkpoints = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let checkpoint = Checkpoint::parse_line(line.as_bytes()).map_err(|reason| {
            EvidenceError::DamagedRecord {
                path: file.clone(),
                line: number as u64 + 1,
                reason: format!("not a valid checkpoint: {reason}"),
            }
        })?;
        checkpoints.push(checkpoint);
    }
    Ok(checkpoints)
}

/// Returns the sequence numbers of the action records for action `action_id`, oldest first.
/// An action has more than one when a later run verified it again.
pub fn find_action_records(path: &Path, action_id: &str) -> Result<Vec<u64>, EvidenceError> {
    let mut found = Vec::new();
    for record in crate::log::read_records(path)? {
        let (seq, body) = record?;
        let is_action = body.get("type").and_then(|kind| kind.as_str()) == Some("action");
        let id = body
            .get("action")
            .and_then(|action| action.get("id"))
            .and_then(|id| id.as_str());
        if is_action && id == Some(action_id) {
            found.push(seq);
        }
    }
    Ok(found)
}

/// Returns the last v2 checkpoint of the log in `dir`. Only the last line of the checkpoint
/// file is read when it is one, which is the case once enact has signed a tree head. Otherwise
/// every checkpoint is read, and a damaged one is an error.
fn last_tree_head(dir: &Path) -> Result<Option<Checkpoint>, EvidenceError> {
    if let Some(last) = read_last_checkpoint(dir)? {
        if last.root.is_some() {
            return Ok(Some(last));
        }
    }
    let checkpoints = read_checkpoints(dir)?;
    Ok(checkpoints
        .into_iter()
        .rev()
        .find(|checkpoint| checkpoint.root.is_some()))
}

/// Builds a proof with `build` from the stored tree of the first `size` records, and checks it
/// with `check`. A tree file can be damaged below the nodes the signed root depends on, so a
/// proof from it that fails the check is built once more from a tree computed from the log.
fn build_checked<T>(
    dir: &Path,
    size: u64,
    build: impl Fn(&TreeSource) -> Result<T, ProofError>,
    check: impl Fn(&TreeSource, &T) -> Result<(), ProofError>,
) -> Result<T, ProofError> {
    let log_path = dir.join(LOG_FILE);
    let source = TreeSource::open(dir, &log_path, size)?;
    if source.is_file() {
        let proof = build(&source)?;
        if check(&source, &proof).is_ok() {
            return Ok(proof);
        }
        tracing::warn!(
            path = %dir.display(),
            "the Merkle tree file gave a proof that does not verify; computing the tree from the log"
        );
    }
    let source = TreeSource::from_log(&log_path, size)?;
    let proof = build(&source)?;
    check(&source, &proof).map_err(|_| ProofError::LogRewritten { seq: size })?;
    Ok(proof)
}

/// Returns the error for a failed read of the stored tree.
fn tree_read_error(dir: &Path) -> impl FnOnce(std::io::Error) -> EvidenceError {
    EvidenceError::io("read", dir.join(crate::tree::file::TREE_FILE))
}

/// Decodes a checkpoint's root, which the callers have checked is present.
fn signed_root(checkpoint: &Checkpoint, which: &'static str) -> Result<Hash, ProofError> {
    checkpoint
        .root_bytes()
        .map_err(|reason| ProofError::Malformed(format!("the {which} checkpoint's {reason}")))?
        .ok_or(ProofError::ChainOnly { which })
}

/// Builds the inclusion proof of record `seq` in the log under `path`, leading to the last
/// signed tree head. The proof is checked against that head before it is returned.
pub fn prove_inclusion(path: &Path, seq: u64) -> Result<InclusionProof, ProofError> {
    let dir = evidence_dir(path);
    let Some(ref head) = last_tree_head(&dir)? else {
        return Err(ProofError::NoTreeHead);
    };
    if seq == 0 {
        return Err(ProofError::RecordNotFound {
            seq,
            records: head.seq,
        });
    }
    if seq > head.seq {
        return Err(ProofError::NotSigned {
            seq,
            signed_through: head.seq,
        });
    }
    signed_root(head, "latest")?;
    let body = record_body(&dir, seq)?;
    let record = String::from_utf8(body)
        .ok()
        .and_then(|text| RawValue::from_string(text).ok())
        .ok_or(ProofError::LogRewritten { seq })?;

    let build = |tree: &TreeSource| {
        let path = tree
            .inclusion_path(seq - 1, head.seq)
            .map_err(tree_read_error(&dir))?;
        Ok(InclusionProof {
            format: INCLUSION_FORMAT.to_string(),
            seq,
            leaf_index: seq - 1,
            tree_size: head.seq,
            record: record.clone(),
            path: path.iter().map(hex::encode).collect(),
            checkpoint: head.clone(),
        })
    };
    build_checked(&dir, head.seq, build, |_, proof| proof.check_hashes())
}

/// Computes the audit path of record `seq` in the tree of the first `tree_size` records from
/// the stored tree, without checking it against a signed root. [`prove_inclusion`] is the
/// checked form; this one exists to measure the tree on its own.
pub fn audit_path(path: &Path, seq: u64, tree_size: u64) -> Result<Vec<Hash>, EvidenceError> {
    let dir = evidence_dir(path);
    if seq == 0 || seq > tree_size {
        return Err(EvidenceError::DamagedRecord {
            path: dir.join(LOG_FILE),
            line: seq,
            reason: format!("record {seq} is not among the first {tree_size}"),
        });
    }
    let tree = TreeSource::open(&dir, &dir.join(LOG_FILE), tree_size)?;
    tree.inclusion_path(seq - 1, tree_size)
        .map_err(tree_read_error(&dir))
}

/// Builds the consistency proof from the signed tree head `old` to the last signed tree head
/// of the log under `path`.
pub fn prove_consistency(path: &Path, old: &Checkpoint) -> Result<ConsistencyProof, ProofError> {
    let dir = evidence_dir(path);
    let Some(ref new) = last_tree_head(&dir)? else {
        return Err(ProofError::NoTreeHead);
    };
    signed_root(old, "earlier")?;
    if old.seq > new.seq {
        return Err(ProofError::OldIsNewer {
            old: old.seq,
            new: new.seq,
        });
    }
    signed_root(new, "latest")?;
    let build = |tree: &TreeSource| {
        let path = if old.seq == 0 || old.seq == new.seq {
            Vec::new()
        } else {
            tree.consistency_path(old.seq, new.seq)
                .map_err(tree_read_error(&dir))?
        };
        Ok(ConsistencyProof {
            format: CONSISTENCY_FORMAT.to_string(),
            old: old.clone(),
            new: new.clone(),
            path: path.iter().map(hex::encode).collect(),
        })
    };
    // The later root must be the tree's. The earlier checkpoint may belong to another
    // history, which the proof must show rather than hide, so the path is checked only when
    // the tree reproduces the earlier root too.
    let check = |tree: &TreeSource, proof: &ConsistencyProof| {
        let new_root = signed_root(&proof.new, "latest")?;
        if tree.root(new.seq).ok() != Some(new_root) {
            return Err(ProofError::LogRewritten { seq: new.seq });
        }
        let old_root = signed_root(&proof.old, "earlier")?;
        if tree.root(old.seq).ok() == Some(old_root) {
            proof.check_hashes()?;
        }
        Ok(())
    };
    build_checked(&dir, new.seq, build, check)
}

/// Decodes a list of lowercase hex hashes.
fn decode_path(path: &[String]) -> Result<Vec<Output<Sha256>>, ProofError> {
    path.iter()
        .map(|hash| {
            parse_hash(hash.as_bytes())
                .map(Output::<Sha256>::from)
                .ok_or_else(|| {
                    ProofError::Malformed(format!(
                        "path hash `{hash}` is not 64 lowercase hex digits"
                    ))
                })
        })
        .collect()
}

/// Checks a checkpoint's signature and returns its signed root.
fn trusted_root(
    checkpoint: &Checkpoint,
    key: &VerifyingKey,
    which: &'static str,
) -> Result<Hash, ProofError> {
    let root = signed_root(checkpoint, which)?;
    if !checkpoint.signature_is_valid(key) {
        return Err(ProofError::SignatureInvalid { which });
    }
    Ok(root)
}

impl InclusionProof {
    /// Verifies the proof offline with only the public key `key`: the format, the
    /// checkpoint's signature, and that the audit path leads from the record's leaf hash to
    /// the signed root.
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), ProofError> {
        trusted_root(&self.checkpoint, key, "proof's")?;
        self.check_hashes()
    }

    /// Checks everything but the signature.
    fn check_hashes(&self) -> Result<(), ProofError> {
        if self.format != INCLUSION_FORMAT {
            return Err(ProofError::Malformed(format!(
                "format is `{}`, expected `{INCLUSION_FORMAT}`",
                self.format
            )));
        }
        if self.seq == 0 || self.leaf_index != self.seq - 1 {
            return Err(ProofError::Malformed(format!(
                "leaf index {} does not belong to record {}",
                self.leaf_index, self.seq
            )));
        }
        if self.tree_size != self.checkpoint.seq {
            return Err(ProofError::Malformed(format!(
                "tree size {} is not the checkpoint's {}",
                self.tree_size, self.checkpoint.seq
            )));
        }
        let root = signed_root(&self.checkpoint, "proof's")?;
        let path = decode_path(&self.path)?;
        let tree = RootHash::<Sha256>::new(Output::<Sha256>::from(root), self.tree_size);
        let proof = ct_merkle::InclusionProof::<Sha256>::from_digests(path.iter());
        tree.verify_inclusion(&self.record.get().as_bytes(), self.leaf_index, &proof)
            .map_err(|error| ProofError::Mismatch(format!("{error:?}").to_lowercase()))
    }
}

impl ConsistencyProof {
    /// Verifies the proof offline with only the public key `key`: the format, both
    /// checkpoints' signatures, and that the path connects the earlier root to the later one.
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), ProofError> {
        trusted_root(&self.old, key, "earlier")?;
        trusted_root(&self.new, key, "later")?;
        self.check_hashes()
    }

    /// Checks everything but the signatures.
    fn check_hashes(&self) -> Result<(), ProofError> {
        if self.format != CONSISTENCY_FORMAT {
            return Err(ProofError::Malformed(format!(
                "format is `{}`, expected `{CONSISTENCY_FORMAT}`",
                self.format
            )));
        }
        let old_root = signed_root(&self.old, "earlier")?;
        let new_root = signed_root(&self.new, "later")?;
        let (old_size, new_size) = (self.old.seq, self.new.seq);
        if old_size > new_size {
            return Err(ProofError::OldIsNewer {
                old: old_size,
                new: new_size,
            });
        }
        let path = decode_path(&self.path)?;

        // The verifier handles proper prefixes; an empty or equal tree needs no hashes.
        if old_size == 0 || old_size == new_size {
            let expected = if old_size == 0 {
                empty_root()
            } else {
                new_root
            };
            if !path.is_empty() {
                return Err(ProofError::Malformed(format!(
                    "a proof from {old_size} to {new_size} records has no hashes, this one has {}",
                    path.len()
                )));
            }
            if old_root != expected {
                return Err(ProofError::Mismatch(
                    "the earlier root is not the later tree's root at that size".to_string(),
                ));
            }
            return Ok(());
        }

        let old = RootHash::<Sha256>::new(Output::<Sha256>::from(old_root), old_size);
        let new = RootHash::<Sha256>::new(Output::<Sha256>::from(new_root), new_size);
        let proof = ct_merkle::ConsistencyProof::<Sha256>::from_digests(path.iter());
        new.verify_consistency(&old, &proof)
            .map_err(|error| ProofError::Mismatch(format!("{error:?}").to_lowercase()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::log::leaf_hash;
    use crate::tree::MemoryNodes;

    fn body(i: u64) -> Vec<u8> {
        format!("{{\"type\":\"test\",\"n\":{i}}}").into_bytes()
    }

    fn tree_of(count: u64) -> MemoryNodes {
        let mut tree = MemoryNodes::default();
        for i in 0..count {
            tree.push(leaf_hash(&body(i)));
        }
        tree
    }

    fn digests(path: &[Hash]) -> Vec<Output<Sha256>> {
        path.iter()
            .map(|hash| Output::<Sha256>::from(*hash))
            .collect()
    }

    #[test]
    fn every_inclusion_path_verifies_independently() {
        let tree = tree_of(40);
        for size in 1..=40u64 {
            let root = RootHash::<Sha256>::new(tree.root(size).unwrap().into(), size);
            for index in 0..size {
                let path = digests(&tree.inclusion_path(index, size).unwrap());
                let proof = ct_merkle::InclusionProof::<Sha256>::from_digests(path.iter());
                assert!(
                    root.verify_inclusion(&body(index), index, &proof).is_ok(),
                    "leaf {index} of {size}"
                );
                // The same path must not prove another record at that index.
                assert!(root
                    .verify_inclusion(&body(index + 1), index, &proof)
                    .is_err());
            }
        }
    }

    #[test]
    fn every_consistency_path_verifies_independently() {
        let tree = tree_of(40);
        for new in 2..=40u64 {
            let new_root = RootHash::<Sha256>::new(tree.root(new).unwrap().into(), new);
            for old in 1..new {
                let old_root = RootHash::<Sha256>::new(tree.root(old).unwrap().into(), old);
                let path = digests(&tree.consistency_path(old, new).unwrap());
                let proof = ct_merkle::ConsistencyProof::<Sha256>::from_digests(path.iter());
                assert!(
                    new_root.verify_consistency(&old_root, &proof).is_ok(),
                    "{old} to {new}"
                );
                // A different earlier root must fail with the same path.
                let other = RootHash::<Sha256>::new(tree.root(old - 1).unwrap().into(), old);
                assert!(new_root.verify_consistency(&other, &proof).is_err());
            }
        }
    }

    #[test]
    fn paths_match_rfc_9162_sizes() {
        // RFC 9162 section 2.1.5's example tree of 7 leaves: the path of leaf 0 (a) has three
        // hashes, that of leaf 6 (j) two; the consistency proof from 3 to 7 has four.
        let tree = tree_of(7);
        assert_eq!(tree.inclusion_path(0, 7).unwrap().len(), 3);
        assert_eq!(tree.inclusion_path(6, 7).unwrap().len(), 2);
        assert_eq!(tree.consistency_path(3, 7).unwrap().len(), 4);
        assert_eq!(tree.consistency_path(4, 7).unwrap().len(), 1);
        assert_eq!(tree.consistency_path(6, 7).unwrap().len(), 3);
        assert!(tree.consistency_path(7, 7).unwrap().is_empty());
    }
}
