//! The evidence log: a hash-chained, signed record of what enact intended, did and proved.
//! Depends on the model only.
//!
//! - [`keys`] creates and loads the installation's keys: the Ed25519 key that signs the log
//!   and the HMAC key for credential fingerprints.
//! - [`log`] appends records ([`EvidenceLog`]), signs them in groups ([`Checkpoint`]), and
//!   audits the files offline with only the public key ([`verify`]).
//! - [`proof`] builds inclusion and consistency proofs against signed tree heads and checks
//!   them offline with only the public key.
//! - [`record`] defines the content of each record.
//!
//! The crate uses Unix file modes and advisory locks, so it builds on Unix only.

pub mod error;
pub mod keys;
pub mod log;
pub mod proof;
pub mod record;
pub(crate) mod tree;

/// The Ed25519 public key that checks checkpoint signatures.
pub use ed25519_dalek::VerifyingKey;
pub use error::{CheckpointProblem, EvidenceError, LineProblem, RecordProblem, VerifyError};
pub use keys::{read_verifying_key, InitReport, Keys};
pub use log::{
    export_jsonl, read_records, verify, AppendedRecord, Checkpoint, EvidenceLog, Records, Repair,
    RepairKind, VerifyReport,
};
pub use proof::{
    audit_path, find_action_records, prove_consistency, prove_inclusion, read_checkpoints,
    ConsistencyProof, InclusionProof, ProofError,
};
pub use record::{
    ActionRecord, CredentialFingerprint, Outcome, RunCounts, RunRecord, SessionNote, StepRecord,
};
