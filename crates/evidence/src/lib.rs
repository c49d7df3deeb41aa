//! The evidence log: a hash-chained, signed record of what enact intended, did and proved.
//! Depends on the model only.
//!
//! - [`keys`] creates and loads the installation's keys: the Ed25519 key that signs the log
//!   and the HMAC key for credential fingerprints.
//! - [`log`] appends records ([`EvidenceLog`]), signs them in groups ([`Checkpoint`]), and
//!   audits the files offline with only the public key ([`verify`]).
//! - [`record`] defines the content of each record.
//!
//! The crate uses Unix file modes and advisory locks, so it builds on Unix only.

pub mod error;
pub mod keys;
pub mod log;
pub mod record;

pub use error::{CheckpointProblem, EvidenceError, LineProblem, RecordProblem, VerifyError};
pub use keys::{read_verifying_key, InitReport, Keys};
pub use log::{
    export_jsonl, read_records, verify, AppendedRecord, Checkpoint, EvidenceLog, Records, Repair,
    RepairKind, VerifyReport,
};
pub use record::{
    ActionRecord, CredentialFingerprint, Outcome, RunCounts, RunRecord, SessionNote, StepRecord,
};
