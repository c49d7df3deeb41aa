//! The offline audit of the evidence log.

use super::batch::{check_batches, BatchEnd, CheckedLine};
use super::checkpoint::Checkpoint;
use super::line::{Hash, ZERO_HASH};
use super::tail::{read_line, LineRead};
use super::{evidence_dir, CHECKPOINTS_FILE, LOG_FILE};
use crate::error::{CheckpointProblem, LineProblem, RecordProblem, VerifyError};
use crate::tree::{empty_root, Frontier};
use ed25519_dalek::VerifyingKey;
use enact_model::Timestamp;
use std::fs::File;
use std::io::{self, BufReader};
use std::path::Path;

/// The result of an audit that found no damage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// The number of records, which is also the last record's seq.
    pub records: u64,
    /// The chain hash of the last record, lowercase hex; 64 zeros for an empty log.
    pub last_hash: String,
    /// The number of checkpoints, all with valid signatures.
    pub checkpoints: u64,
    /// The last record a checkpoint covers; 0 if there is no checkpoint.
    pub signed_through: u64,
    /// When the last checkpoint was signed.
    pub last_signed_at: Option<Timestamp>,
    /// Records after the last checkpoint. Their chain is intact, but no signature covers them,
    /// so anyone with write access to the files could have rewritten them.
    pub unsigned_records: u64,
    /// The root of the Merkle tree over all records, lowercase hex.
    pub tree_root: String,
    /// Checkpoints of format v2, which sign a tree root (signed tree heads).
    pub tree_heads: u64,
    /// Checkpoints of format v1, which sign the chain hash only. enact wrote them before it
    /// kept a Merkle tree; they still verify, but no inclusion proof can refer to them.
    pub chain_only_checkpoints: u64,
    /// The format of the last checkpoint, 1 or 2; `None` without checkpoints.
    pub last_format: Option<u8>,
}

impl VerifyReport {
    /// Warnings that do not fail the audit, one sentence each.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.last_format == Some(1) {
            warnings.push(format!(
                "the last checkpoint is format v1 (chain only, written before enact signed Merkle tree heads); inclusion proofs need a v2 checkpoint, which the next `enact apply` signs{}",
                if self.tree_heads == 0 { "" } else { " (an earlier checkpoint is v2)" }
            ));
        }
        if self.unsigned_records > 0 {
            warnings.push(format!(
                "{} record(s) after record {} are not covered by a signed checkpoint",
                self.unsigned_records, self.signed_through
            ));
        }
        warnings
    }
}

/// A checkpoint whose form, order and key were checked, waiting for the chain to reach its
/// record.
struct PendingCheckpoint {
    index: u64,
    hash: Hash,
    /// The signed tree root; `None` for a v1 checkpoint.
    root: Option<Hash>,
    checkpoint: Checkpoint,
}

impl PendingCheckpoint {
    /// Checks the signature (`signature_valid` if a worker already checked it), then that the
    /// signed hash is the chain's hash `chain` at the checkpoint's record and that a signed
    /// root is the Merkle tree's `root` there. Checkpoints are settled in log order, as the
    /// chain reaches them, so the first problem in the log is the one reported.
    fn settle(
        &self,
        key: &VerifyingKey,
        signature_valid: Option<bool>,
        chain: &Hash,
        root: &Hash,
    ) -> Result<(), VerifyError> {
        let signature_valid =
            signature_valid.unwrap_or_else(|| self.checkpoint.signature_is_valid(key));
        let problem = if !signature_valid {
            CheckpointProblem::SignatureInvalid
        } else if self.hash != *chain {
            CheckpointProblem::HashMismatch {
                seq: self.checkpoint.seq,
            }
        } else if self.root.is_some_and(|signed| signed != *root) {
            CheckpointProblem::RootMismatch {
                seq: self.checkpoint.seq,
            }
        } else {
            return Ok(());
        };
        Err(VerifyError::Checkpoint {
            index: self.index,
            problem,
        })
    }
}

/// Checks the signatures of the checkpoints at the records of `lines` under `key`. Returns
/// each checkpoint's position in `checkpoints`, which is ordered by seq, with the result.
fn check_signatures(
    checkpoints: &[PendingCheckpoint],
    key: &VerifyingKey,
    lines: &[CheckedLine],
) -> Vec<(usize, bool)> {
    let (Some(first), Some(last)) = (lines.first(), lines.last()) else {
        return Vec::new();
    };
    // A tampered seq makes this range wrong, but the audit stops at that line anyway, and a
    // checkpoint left out here is checked when it is settled.
    let start = checkpoints.partition_point(|pending| pending.checkpoint.seq < first.seq);
    let end = checkpoints.partition_point(|pending| pending.checkpoint.seq <= last.seq);
    checkpoints
        .get(start..end.max(start))
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(offset, pending)| (start + offset, pending.checkpoint.signature_is_valid(key)))
        .collect()
}

/// Returns `seq` if it is the expected one, the line's number.
fn in_sequence(seq: u64, line: u64) -> Result<u64, VerifyError> {
    if seq == line {
        Ok(seq)
    } else {
        Err(VerifyError::Line {
            line,
            problem: LineProblem::Seq {
                found: seq,
                expected: line,
            },
        })
    }
}

/// Audits the evidence log offline with only the verifying key and the files. `path` is the
/// state directory or its `evidence` directory.
///
/// First every checkpoint must parse, be in canonical form, name records in order and name
/// `key` as its signer. Then the records are read in order. Every record line must be in
/// canonical form, have the next seq, link to its predecessor's hash and have a hash that
/// recomputes from its content. When the chain reaches a checkpoint's record, the checkpoint's
/// signature must be valid under `key`, its hash must equal the chain's and its tree root, if
/// it has one (format v2), must equal the root of the Merkle tree over the records up to it,
/// computed afresh from their bodies. A checkpoint past
/// the last record is an error. The error names the first problem in that order. Records after
/// the last checkpoint are reported as unsigned, not as an error.
pub fn verify(path: &Path, key: &VerifyingKey) -> Result<VerifyReport, VerifyError> {
    let dir = evidence_dir(path);
    let log_path = dir.join(LOG_FILE);
    let checkpoints_path = dir.join(CHECKPOINTS_FILE);
    let log = open(&log_path)?;
    let checkpoints = open(&checkpoints_path)?;

    let read_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source: io::Error| VerifyError::Read { path, source }
    };

    let (checkpoints, last_signed_at) =
        check_checkpoints(checkpoints, key).map_err(|error| match error {
            Failure::Io(source) => read_error(&checkpoints_path)(source),
            Failure::Verify(error) => error,
        })?;
    let checkpoint_count = checkpoints.len() as u64;
    let tree_heads = checkpoints
        .iter()
        .filter(|pending| pending.root.is_some())
        .count() as u64;
    let last_format = checkpoints
        .last()
        .map(|pending| pending.checkpoint.format());
    let signed_through = checkpoints
        .last()
        .map_or(0, |pending| pending.checkpoint.seq);
    let mut pending = checkpoints.iter().enumerate().peekable();
    // The signatures that workers checked, by position in `checkpoints`.
    let mut signatures: Vec<Option<bool>> = vec![None; checkpoints.len()];

    // Checkpoints of an empty log sign the zero hash.
    while let Some((_, checkpoint)) = pending.next_if(|(_, pending)| pending.checkpoint.seq == 0) {
        checkpoint.settle(key, None, &ZERO_HASH, &empty_root())?;
    }

    let mut line_number = 0u64;
    let mut prev = ZERO_HASH;
    let mut tree = Frontier::default();
    let stopped =
        || read_error(&log_path)(io::Error::other("a thread checking the log stopped early"));
    check_batches(
        log,
        |lines| check_signatures(&checkpoints, key, lines),
        |batch| {
            for (position, valid) in batch.extra {
                if let Some(slot) = signatures.get_mut(position) {
                    *slot = Some(valid);
                }
            }
            for line in batch.lines {
                line_number += 1;
                let seq = in_sequence(line.seq, line_number)?;
                let record_error = |problem| VerifyError::Record { seq, problem };
                if line.prev != prev {
                    return Err(record_error(RecordProblem::Prev { previous: seq - 1 }));
                }
                prev = line.hash;
                tree.push(line.leaf, |_| {});

                while let Some((position, checkpoint)) =
                    pending.next_if(|(_, pending)| pending.checkpoint.seq == seq)
                {
                    let valid = signatures.get(position).copied().flatten();
                    checkpoint.settle(key, valid, &line.hash, &tree.root())?;
                }
            }

            let Some(end) = batch.end else {
                return Ok(());
            };
            line_number += 1;
            Err(match end {
                BatchEnd::Line(problem) => VerifyError::Line {
                    line: line_number,
                    problem,
                },
                BatchEnd::Record {
                    seq,
                    prev: claimed,
                    problem,
                } => {
                    let seq = in_sequence(seq, line_number)?;
                    let problem = if claimed != prev {
                        RecordProblem::Prev { previous: seq - 1 }
                    } else {
                        problem
                    };
                    VerifyError::Record { seq, problem }
                }
                BatchEnd::Read(source) => read_error(&log_path)(source),
            })
        },
        stopped,
    )?;

    if let Some((_, pending)) = pending.next() {
        let problem = if pending.checkpoint.signature_is_valid(key) {
            CheckpointProblem::PastEnd {
                seq: pending.checkpoint.seq,
                last: line_number,
            }
        } else {
            CheckpointProblem::SignatureInvalid
        };
        return Err(VerifyError::Checkpoint {
            index: pending.index,
            problem,
        });
    }

    Ok(VerifyReport {
        records: line_number,
        last_hash: hex::encode(prev),
        checkpoints: checkpoint_count,
        signed_through,
        last_signed_at,
        unsigned_records: line_number.saturating_sub(signed_through),
        tree_root: hex::encode(tree.root()),
        tree_heads,
        chain_only_checkpoints: checkpoint_count - tree_heads,
        last_format,
    })
}

/// Opens a file of the log, naming it in the error.
fn open(path: &Path) -> Result<File, VerifyError> {
    File::open(path).map_err(|source| {
        if source.kind() == io::ErrorKind::NotFound {
            VerifyError::NotFound {
                path: path.to_path_buf(),
            }
        } else {
            VerifyError::Read {
                path: path.to_path_buf(),
                source,
            }
        }
    })
}

enum Failure {
    Io(io::Error),
    Verify(VerifyError),
}

/// Reads every checkpoint and checks its form, order and key. Returns them in file order with
/// the time of the last one.
fn check_checkpoints(
    file: File,
    key: &VerifyingKey,
) -> Result<(Vec<PendingCheckpoint>, Option<Timestamp>), Failure> {
    let expected_key = hex::encode(key.as_bytes());
    let mut reader = BufReader::new(file);
    let mut buf = Vec::new();
    let mut checked: Vec<PendingCheckpoint> = Vec::new();
    let mut last_signed_at = None;
    let mut index = 0u64;
    loop {
        let read = read_line(&mut reader, &mut buf).map_err(Failure::Io)?;
        if read == LineRead::End {
            break;
        }
        index += 1;
        let fail = |problem| Failure::Verify(VerifyError::Checkpoint { index, problem });
        match read {
            LineRead::TooLong => {
                return Err(fail(CheckpointProblem::Malformed("line too long".to_string())))
            }
            LineRead::Unterminated => {
                return Err(fail(CheckpointProblem::Malformed(
                    "incomplete last line (a write was interrupted); opening the log for writing repairs it"
                        .to_string(),
                )))
            }
            LineRead::End | LineRead::Complete => {}
        }

        let checkpoint = Checkpoint::parse_line(&buf)
            .map_err(|reason| fail(CheckpointProblem::Malformed(reason)))?;
        let Some(hash) = checkpoint.hash_bytes() else {
            return Err(fail(CheckpointProblem::Malformed(
                "hash is not 64 lowercase hex digits".to_string(),
            )));
        };
        let root = checkpoint
            .root_bytes()
            .map_err(|reason| fail(CheckpointProblem::Malformed(reason.to_string())))?;
        if let Some(previous) = checked.last() {
            if checkpoint.seq < previous.checkpoint.seq {
                return Err(fail(CheckpointProblem::Backwards {
                    seq: checkpoint.seq,
                    previous: previous.checkpoint.seq,
                }));
            }
        }
        if checkpoint.key != expected_key {
            return Err(fail(CheckpointProblem::OtherKey {
                found: checkpoint.key,
                expected: expected_key,
            }));
        }

        last_signed_at = Some(checkpoint.signed_at);
        checked.push(PendingCheckpoint {
            index,
            hash,
            root,
            checkpoint,
        });
    }
    Ok((checked, last_signed_at))
}
