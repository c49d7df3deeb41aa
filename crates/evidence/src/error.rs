//! Errors of the evidence crate: [`EvidenceError`] for keys and writing, [`VerifyError`] for an
//! audit of the log.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// A failure to create or load the evidence keys, or to open, append to, commit or read the log.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// A file or directory operation failed.
    #[error("cannot {operation} `{}`: {source}", path.display())]
    Io {
        operation: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A key file does not exist.
    #[error("key file `{}` not found; run `enact init` to create the evidence keys", path.display())]
    KeyMissing { path: PathBuf },

    /// A secret key file can be read by users other than its owner.
    #[error(
        "key file `{}` is readable by group or others (mode {mode:03o}); run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    KeyPermissions { path: PathBuf, mode: u32 },

    /// A key file does not contain a key in the expected form.
    #[error("key file `{}` is invalid: {reason}", path.display())]
    KeyInvalid { path: PathBuf, reason: &'static str },

    /// The public key file does not belong to the signing key beside it.
    #[error(
        "key file `{}` does not match the signing key beside it; restore both files from one backup",
        path.display()
    )]
    KeyMismatch { path: PathBuf },

    /// The public key exists but the signing key does not, so a new pair would contradict it.
    #[error(
        "key file `{}` exists but the signing key `{}` is missing; restore it from backup or move the keys directory aside",
        public.display(),
        signing.display()
    )]
    SigningKeyLost { public: PathBuf, signing: PathBuf },

    /// A record body could not be serialized.
    #[error("cannot serialize an evidence record: {0}")]
    Serialize(#[source] serde_json::Error),

    /// A record body is not one that verification would accept, so it was not written.
    #[error("evidence record body rejected: {0}")]
    BodyRejected(String),

    /// Another process has the log open for writing.
    #[error("evidence log `{}` is in use by another enact process", path.display())]
    Locked { path: PathBuf },

    /// The last line of a log file is complete but cannot be read, so the chain cannot go on.
    #[error(
        "the last line of `{}` is damaged ({reason}); run `enact evidence verify` to find the first damaged record",
        path.display()
    )]
    DamagedTail { path: PathBuf, reason: String },

    /// The log's checkpoints were signed with another key than the one loaded.
    #[error(
        "evidence log `{}` was signed with key `{found}`, but the loaded key is `{expected}`",
        path.display()
    )]
    SignedByOtherKey {
        path: PathBuf,
        found: String,
        expected: String,
    },

    /// The last checkpoint names a record the log no longer contains.
    #[error(
        "the last checkpoint names record {checkpoint_seq}, but the log ends at record {last_seq} (log truncated?); run `enact evidence verify`"
    )]
    CheckpointAhead { checkpoint_seq: u64, last_seq: u64 },

    /// An earlier write failed part way, so the log's end is unknown until it is reopened.
    #[error("evidence log is in an unknown state after a failed write; reopen it to repair it")]
    Poisoned,

    /// The Merkle tree does not cover every record, so no tree head can be signed. It is a bug.
    #[error(
        "the Merkle tree covers {leaves} record(s) but the log has {records}; reopen the log to rebuild the tree"
    )]
    TreeBehind { leaves: u64, records: u64 },

    /// The system clock reads a time before 1970.
    #[error("the system clock is set before 1970")]
    Clock,

    /// The export could not be written to its destination.
    #[error("cannot write the evidence export: {0}")]
    Export(#[source] io::Error),

    /// A record line could not be read while exporting or listing records.
    #[error("`{}` line {line}: {reason}; run `enact evidence verify`", path.display())]
    DamagedRecord {
        path: PathBuf,
        line: u64,
        reason: String,
    },
}

impl EvidenceError {
    /// Builds an [`EvidenceError::Io`] for `operation` on `path`.
    pub(crate) fn io(
        operation: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| EvidenceError::Io {
            operation,
            path,
            source,
        }
    }
}

/// The first problem an audit of the evidence log found. Records are checked in order, so the
/// error names the first bad record: everything before it is intact.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The log or checkpoint file does not exist.
    #[error("`{}` not found; give the state directory or its `evidence` directory", path.display())]
    NotFound { path: PathBuf },

    /// A file could not be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A log line is not a well-formed record, so its sequence number is unknown.
    #[error("line {line}: {problem}")]
    Line { line: u64, problem: LineProblem },

    /// A well-formed record does not fit the chain. Its sequence number equals its line number.
    #[error("record {seq}: {problem}")]
    Record { seq: u64, problem: RecordProblem },

    /// A checkpoint, numbered by its line in the checkpoint file, is invalid.
    #[error("checkpoint {index}: {problem}")]
    Checkpoint {
        index: u64,
        problem: CheckpointProblem,
    },
}

impl VerifyError {
    /// Returns the line of the log that the error names, if it names one.
    pub fn log_line(&self) -> Option<u64> {
        match self {
            VerifyError::Line { line, .. } => Some(*line),
            VerifyError::Record { seq, .. } => Some(*seq),
            _ => None,
        }
    }
}

/// The reason a log line is not a well-formed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineProblem {
    /// The line is not of the form `{"seq":N,"prev":"…","body":{…},"hash":"…"}`.
    Malformed(&'static str),
    /// The line is longer than any record enact writes.
    TooLong { max: usize },
    /// The last line has no trailing newline: a write was interrupted.
    Torn,
    /// The line's sequence number is not the next one.
    Seq { found: u64, expected: u64 },
}

impl fmt::Display for LineProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineProblem::Malformed(what) => write!(f, "not a valid record line: {what}"),
            LineProblem::TooLong { max } => write!(f, "line is longer than {max} bytes"),
            LineProblem::Torn => write!(
                f,
                "incomplete last line (a write was interrupted); opening the log for writing repairs it"
            ),
            LineProblem::Seq { found, expected } => write!(
                f,
                "seq is {found}, expected {expected} (a record is missing, duplicated or out of order)"
            ),
        }
    }
}

/// The reason a well-formed record does not fit the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordProblem {
    /// `prev` is not the hash of the record before.
    Prev { previous: u64 },
    /// The body is not valid JSON.
    BodyInvalid(String),
    /// The body is valid JSON but not byte for byte its canonical serialization.
    BodyNotCanonical,
    /// The body is not a JSON object, or uses a field that the record envelope reserves.
    BodyShape(String),
    /// `hash` is not the hash of this record's content and position.
    Hash,
}

impl fmt::Display for RecordProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordProblem::Prev { previous } if *previous == 0 => {
                write!(f, "prev is not 64 zeros, as the first record's must be")
            }
            RecordProblem::Prev { previous } => {
                write!(f, "prev does not match the hash of record {previous}")
            }
            RecordProblem::BodyInvalid(reason) => write!(f, "body is not valid JSON: {reason}"),
            RecordProblem::BodyNotCanonical => {
                write!(f, "body is not in canonical form (its bytes were changed)")
            }
            RecordProblem::BodyShape(reason) => write!(f, "body {reason}"),
            RecordProblem::Hash => write!(f, "hash does not match its content"),
        }
    }
}

/// The reason a checkpoint is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointProblem {
    /// The line is not a checkpoint in canonical form.
    Malformed(String),
    /// The checkpoint names an earlier record than the checkpoint before it.
    Backwards { seq: u64, previous: u64 },
    /// The checkpoint names another signing key than the one given.
    OtherKey { found: String, expected: String },
    /// The signature does not verify under the given key.
    SignatureInvalid,
    /// The signed hash is not the chain's hash at that record.
    HashMismatch { seq: u64 },
    /// The signed tree root is not the root of the Merkle tree over the records up to it.
    RootMismatch { seq: u64 },
    /// The checkpoint names a record after the log's last one.
    PastEnd { seq: u64, last: u64 },
}

impl fmt::Display for CheckpointProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckpointProblem::Malformed(reason) => write!(f, "not a valid checkpoint: {reason}"),
            CheckpointProblem::Backwards { seq, previous } => write!(
                f,
                "names record {seq}, before record {previous} named by the checkpoint before it"
            ),
            CheckpointProblem::OtherKey { found, expected } => write!(
                f,
                "signed by key `{found}`, not by the given key `{expected}`"
            ),
            CheckpointProblem::SignatureInvalid => write!(f, "signature invalid"),
            CheckpointProblem::HashMismatch { seq } => write!(
                f,
                "signed hash does not match the hash of record {seq} (the log was rewritten)"
            ),
            CheckpointProblem::RootMismatch { seq } => write!(
                f,
                "signed tree root does not match the Merkle tree of records 1 to {seq} (the log was rewritten)"
            ),
            CheckpointProblem::PastEnd { seq, last } => write!(
                f,
                "names record {seq}, past the end of the log at record {last} (log truncated?)"
            ),
        }
    }
}
