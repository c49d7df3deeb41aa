//! The evidence log: an append-only, hash-chained file of records with signed checkpoints.
//!
//! The files live in `state_dir/evidence/`:
//!
//! - `log.jsonl` contains one record per line,
//!   `{"seq":N,"prev":"<hex>","body":{…},"hash":"<hex>"}`. Record 1 has a `prev` of 64 zeros,
//!   and each later `prev` is the `hash` of the record before. The hashes are defined in
//!   [`line`].
//! - `checkpoints.jsonl` contains one [`Checkpoint`] per line. Each one signs the chain hash at a
//!   record and the root of the Merkle tree over the records up to it, and so fixes every
//!   record up to it.
//! - `tree.bin` stores the nodes of that Merkle tree (see [`crate::tree`]). It is derived from
//!   the log and rebuilt from it when missing or damaged.
//! - `offsets.bin` stores where each record line starts (see [`offsets`]), so that proofs read
//!   one record without scanning the log. It is derived from the log in the same way.
//!
//! [`EvidenceLog`] appends records in a buffer and signs them in a group on
//! [`EvidenceLog::commit`]. [`verify`] checks both files offline with only the public key.

mod batch;
mod canonical;
mod checkpoint;
mod line;
mod offsets;
mod read;
mod tail;
mod verify;

pub use checkpoint::Checkpoint;
pub use read::{export_jsonl, read_records, Records};
pub use verify::{verify, VerifyReport};

use crate::error::EvidenceError;
use crate::record::{ActionRecord, RunRecord};
use crate::tree::file::TreeFile;
use canonical::{BodyChecker, BodyError};
use ed25519_dalek::SigningKey;
use enact_model::Timestamp;
use line::{chain_hash, encode_hash, parse_line, write_line, MAX_LINE, ZERO_HASH};
pub(crate) use line::{leaf_hash, parse_hash, Hash};
use offsets::OffsetsFile;
pub(crate) use read::{for_each_leaf, read_last_checkpoint, record_body};
use rustix::fs::{flock, FlockOperation};
use serde::Serialize;
use std::fmt;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The directory under the state directory that contains the log.
pub const EVIDENCE_DIR: &str = "evidence";
/// The record file's name.
pub const LOG_FILE: &str = "log.jsonl";
/// The checkpoint file's name.
pub const CHECKPOINTS_FILE: &str = "checkpoints.jsonl";
const LOCK_FILE: &str = "lock";

/// The size of the write buffer. Records reach the file when it fills or on commit.
const WRITE_BUFFER: usize = 64 * 1024;

/// The position of a record that was appended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendedRecord {
    pub seq: u64,
    /// The record's chain hash, lowercase hex.
    pub hash: String,
}

/// A change [`EvidenceLog::open`] made to a file to recover from an interrupted write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repair {
    pub path: PathBuf,
    pub kind: RepairKind,
}

/// The change a [`Repair`] made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RepairKind {
    /// A last line without a newline that could not be read was cut off.
    RemovedTornLine { offset: u64, bytes: u64 },
    /// A last line that was complete but for its newline got its newline.
    AddedNewline,
    /// The Merkle tree file lacked the nodes of `leaves` records, or disagreed with the last
    /// signed root, and they were computed again from the log.
    RebuiltTree { leaves: u64 },
}

impl fmt::Display for Repair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            RepairKind::RemovedTornLine { offset, bytes } => write!(
                f,
                "removed an incomplete last line ({bytes} bytes at offset {offset}) from `{}`, left by an interrupted write",
                self.path.display()
            ),
            RepairKind::AddedNewline => write!(
                f,
                "added the missing newline after the last line of `{}`, left by an interrupted write",
                self.path.display()
            ),
            RepairKind::RebuiltTree { leaves } => write!(
                f,
                "computed the Merkle tree nodes of {leaves} record(s) in `{}` again from the log",
                self.path.display()
            ),
        }
    }
}

/// The evidence log, open for appending. Holds an exclusive lock on the log until dropped, so
/// only one process appends at a time.
///
/// Appended records are buffered. [`EvidenceLog::commit`] writes them, syncs them to disk and
/// signs a checkpoint over them. Records appended but not committed reach the file when the
/// buffer fills or the log is dropped, but remain unsigned until a later commit.
pub struct EvidenceLog {
    log_path: PathBuf,
    checkpoints_path: PathBuf,
    writer: BufWriter<File>,
    checkpoints: File,
    /// Held for its lock only.
    _lock: File,
    signing_key: SigningKey,
    tree: TreeFile,
    offsets: OffsetsFile,
    last_seq: u64,
    last_hash: Hash,
    last_checkpoint: Option<Checkpoint>,
    repairs: Vec<Repair>,
    /// Set when a write failed part way: the file's end no longer matches `last_seq`.
    poisoned: bool,
    body_buf: Vec<u8>,
    line_buf: Vec<u8>,
    checker: BodyChecker,
}

impl fmt::Debug for EvidenceLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EvidenceLog")
            .field("path", &self.log_path)
            .field("last_seq", &self.last_seq)
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

impl EvidenceLog {
    /// Opens the log in `state_dir/evidence/`, creating the directory and files if needed.
    ///
    /// Only the last line of each file is read. A last line without a newline that cannot be
    /// read is the trace of a crash mid-write: it is cut off, and the fact is logged and kept
    /// in [`EvidenceLog::repairs`]. Other damage is left for [`verify`] to report, unless it
    /// prevents appending: an unreadable last record, checkpoints signed with another key, or
    /// a checkpoint past the log's end are errors.
    pub fn open(state_dir: &Path, signing_key: SigningKey) -> Result<Self, EvidenceError> {
        let dir = state_dir.join(EVIDENCE_DIR);
        DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(&dir)
            .map_err(EvidenceError::io("create", &dir))?;

        let lock = open_lock(&dir.join(LOCK_FILE))?;
        let log_path = dir.join(LOG_FILE);
        let checkpoints_path = dir.join(CHECKPOINTS_FILE);
        let mut log_file = open_append(&log_path)?;
        let mut checkpoints = open_append(&checkpoints_path)?;
        // Sync the directory so that newly created files survive a crash.
        File::open(&dir)
            .and_then(|handle| handle.sync_all())
            .map_err(EvidenceError::io("sync", &dir))?;

        let mut repairs = Vec::new();
        let (last_seq, last_hash) =
            match repair_tail(&mut log_file, &log_path, &mut repairs, |line| {
                parse_line(line).map(|record| (record.seq, record.hash))
            })? {
                Some(last) => last,
                None => (0, ZERO_HASH),
            };
        let last_checkpoint =
            repair_tail(&mut checkpoints, &checkpoints_path, &mut repairs, |line| {
                Checkpoint::parse_line(line)
            })?;
        let (mut tree, recovery) = TreeFile::open(&dir, &log_path, last_seq)?;
        if recovery.rebuilt_leaves > 0 {
            repairs.push(Repair {
                path: dir.join(crate::tree::file::TREE_FILE),
                kind: RepairKind::RebuiltTree {
                    leaves: recovery.rebuilt_leaves,
                },
            });
        }
        // A tree whose root disagrees with the last signed one was damaged on disk: compute
        // it again from the log, which the signature vouches for.
        if let Some(checkpoint) = &last_checkpoint {
            if let Ok(Some(signed_root)) = checkpoint.root_bytes() {
                if checkpoint.seq <= last_seq && tree.stored_root(checkpoint.seq)? != signed_root {
                    tree.rebuild(&log_path, last_seq)?;
                    repairs.push(Repair {
                        path: dir.join(crate::tree::file::TREE_FILE),
                        kind: RepairKind::RebuiltTree { leaves: last_seq },
                    });
                }
            }
        }
        let log_len = log_file
            .metadata()
            .map_err(EvidenceError::io("read", &log_path))?
            .len();
        let (offsets, computed) = OffsetsFile::open(&dir, &log_path, last_seq, log_len)?;
        if computed > 0 {
            tracing::info!(
                path = %dir.join(offsets::OFFSETS_FILE).display(),
                records = computed,
                "computed the line offsets of records from the log"
            );
        }
        for repair in &repairs {
            tracing::warn!(path = %repair.path.display(), "evidence log repaired: {repair}");
        }

        let expected_key = hex::encode(signing_key.verifying_key().as_bytes());
        if let Some(checkpoint) = &last_checkpoint {
            if checkpoint.key != expected_key {
                return Err(EvidenceError::SignedByOtherKey {
                    path: log_path,
                    found: checkpoint.key.clone(),
                    expected: expected_key,
                });
            }
            if checkpoint.seq > last_seq {
                return Err(EvidenceError::CheckpointAhead {
                    checkpoint_seq: checkpoint.seq,
                    last_seq,
                });
            }
        }

        Ok(EvidenceLog {
            log_path,
            checkpoints_path,
            writer: BufWriter::with_capacity(WRITE_BUFFER, log_file),
            checkpoints,
            _lock: lock,
            signing_key,
            tree,
            offsets,
            last_seq,
            last_hash,
            last_checkpoint,
            repairs,
            poisoned: false,
            body_buf: Vec::new(),
            line_buf: Vec::new(),
            checker: BodyChecker::default(),
        })
    }

    /// Returns the repairs `open` made, oldest first. It is empty after a clean shutdown.
    pub fn repairs(&self) -> &[Repair] {
        &self.repairs
    }

    /// Returns the sequence number of the last record appended, or 0 for an empty log.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Returns the last checkpoint written, if any.
    pub fn last_checkpoint(&self) -> Option<&Checkpoint> {
        self.last_checkpoint.as_ref()
    }

    /// Appends a record with `body`, which must serialize to a JSON object without `seq` or
    /// `hash` fields. The record is buffered: it is durable and signed only after
    /// [`EvidenceLog::commit`].
    pub fn append(&mut self, body: &impl Serialize) -> Result<AppendedRecord, EvidenceError> {
        if self.poisoned {
            return Err(EvidenceError::Poisoned);
        }
        self.body_buf.clear();
        serde_json::to_writer(&mut self.body_buf, body).map_err(EvidenceError::Serialize)?;
        // Verification accepts only canonical bodies, so a body that would not read back
        // byte for byte (such as a number too large for JSON readers) is rejected now.
        self.checker.check(&self.body_buf).map_err(|error| {
            EvidenceError::BodyRejected(match error {
                BodyError::Invalid(error) => format!("it does not read back as JSON: {error}"),
                BodyError::NotCanonical => "it does not read back to the same bytes".to_string(),
                BodyError::Shape(reason) => format!("it {reason}"),
            })
        })?;
        // The envelope adds fewer than 300 bytes around the body.
        if self.body_buf.len() > MAX_LINE - 300 {
            return Err(EvidenceError::BodyRejected(format!(
                "it is {} bytes, more than a record may hold",
                self.body_buf.len()
            )));
        }

        let seq = self.last_seq + 1;
        let leaf = leaf_hash(&self.body_buf);
        let hash = chain_hash(&self.last_hash, &leaf, seq);
        self.line_buf.clear();
        write_line(
            &mut self.line_buf,
            seq,
            &self.last_hash,
            &self.body_buf,
            &hash,
        );
        if let Err(source) = self.writer.write_all(&self.line_buf) {
            self.poisoned = true;
            return Err(EvidenceError::io("write", &self.log_path)(source));
        }
        if let Err(error) = self
            .tree
            .push(leaf)
            .and_then(|()| self.offsets.push(self.line_buf.len() as u64))
        {
            self.poisoned = true;
            return Err(error);
        }

        self.last_seq = seq;
        self.last_hash = hash;
        let mut hex = [0u8; 64];
        Ok(AppendedRecord {
            seq,
            hash: String::from_utf8_lossy(encode_hash(&hash, &mut hex)).into_owned(),
        })
    }

    /// Hands the buffered records to the operating system without syncing or signing them, so
    /// they survive the process being killed. [`EvidenceLog::commit`] makes them durable and
    /// signed.
    pub fn flush(&mut self) -> Result<(), EvidenceError> {
        if self.poisoned {
            return Err(EvidenceError::Poisoned);
        }
        if let Err(source) = self.writer.flush() {
            self.poisoned = true;
            return Err(EvidenceError::io("write", &self.log_path)(source));
        }
        if let Err(error) = self.tree.flush().and_then(|()| self.offsets.flush()) {
            self.poisoned = true;
            return Err(error);
        }
        Ok(())
    }

    /// Appends an action record, with body `{"type":"action", …}`.
    pub fn append_action(
        &mut self,
        record: &ActionRecord<'_>,
    ) -> Result<AppendedRecord, EvidenceError> {
        self.append(&Body::Action(record))
    }

    /// Appends a run summary, with body `{"type":"run", …}`.
    pub fn append_run(&mut self, record: &RunRecord) -> Result<AppendedRecord, EvidenceError> {
        self.append(&Body::Run(record))
    }

    /// Writes the buffered records, syncs the log to disk, then signs a checkpoint (a signed
    /// tree head) at the last record and appends and syncs it. The checkpoint is dated by the
    /// system clock. Many records appended between two commits share one sync and one
    /// signature (group commit).
    ///
    /// If nothing was appended since the last checkpoint and that checkpoint has a tree root,
    /// it is returned and no new one is written. A v1 checkpoint without a root is followed by
    /// a v2 one at the same record.
    pub fn commit(&mut self) -> Result<Checkpoint, EvidenceError> {
        let micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| EvidenceError::Clock)?
            .as_micros();
        self.commit_at(Timestamp(i64::try_from(micros).unwrap_or(i64::MAX)))
    }

    /// Commits as [`EvidenceLog::commit`] does, with `signed_at` as the checkpoint's time.
    pub fn commit_at(&mut self, signed_at: Timestamp) -> Result<Checkpoint, EvidenceError> {
        if self.poisoned {
            return Err(EvidenceError::Poisoned);
        }
        if let Some(checkpoint) = &self.last_checkpoint {
            if checkpoint.seq == self.last_seq && checkpoint.root.is_some() {
                return Ok(checkpoint.clone());
            }
        }

        // The records must be on disk before a signature vouches for them: a checkpoint that
        // survives a crash while its records do not would fail verification for good.
        let synced = self
            .writer
            .flush()
            .and_then(|()| self.writer.get_ref().sync_data());
        if let Err(source) = synced {
            self.poisoned = true;
            return Err(EvidenceError::io("write", &self.log_path)(source));
        }
        // The tree and offsets files are not synced: they are completed from the log if a
        // crash cuts them short.
        if let Err(error) = self.tree.flush().and_then(|()| self.offsets.flush()) {
            self.poisoned = true;
            return Err(error);
        }
        if self.tree.leaves() != self.last_seq {
            self.poisoned = true;
            return Err(EvidenceError::TreeBehind {
                leaves: self.tree.leaves(),
                records: self.last_seq,
            });
        }

        let checkpoint = Checkpoint::sign(
            self.last_seq,
            &self.last_hash,
            &self.tree.root(),
            signed_at,
            &self.signing_key,
        );
        let mut line = checkpoint.to_line();
        line.push('\n');
        let written = self
            .checkpoints
            .write_all(line.as_bytes())
            .and_then(|()| self.checkpoints.sync_data());
        if let Err(source) = written {
            self.poisoned = true;
            return Err(EvidenceError::io("write", &self.checkpoints_path)(source));
        }

        tracing::info!(seq = checkpoint.seq, "evidence committed");
        self.last_checkpoint = Some(checkpoint.clone());
        Ok(checkpoint)
    }
}

/// The typed record bodies, tagged with their `type`.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Body<'r, 'a> {
    Action(&'r ActionRecord<'a>),
    Run(&'r RunRecord),
}

/// Opens the lock file and takes an exclusive advisory lock on it without waiting.
fn open_lock(path: &Path) -> Result<File, EvidenceError> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o640)
        .open(path)
        .map_err(EvidenceError::io("open", path))?;
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(file),
        Err(errno) if errno == rustix::io::Errno::WOULDBLOCK => Err(EvidenceError::Locked {
            path: path.to_path_buf(),
        }),
        Err(errno) => Err(EvidenceError::io("lock", path)(errno.into())),
    }
}

/// Opens a log file for reading and appending, creating it if needed.
fn open_append(path: &Path) -> Result<File, EvidenceError> {
    OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .mode(0o640)
        .open(path)
        .map_err(EvidenceError::io("open", path))
}

/// Reads the last line of `file` with `parse`, repairing the damage an interrupted write can
/// leave: an unreadable last line without a newline is cut off and the line before it is read
/// instead, and a readable one gets its newline. Returns `None` for an empty file.
fn repair_tail<T, E: fmt::Display>(
    file: &mut File,
    path: &Path,
    repairs: &mut Vec<Repair>,
    parse: impl Fn(&[u8]) -> Result<T, E>,
) -> Result<Option<T>, EvidenceError> {
    let damaged = |reason: String| EvidenceError::DamagedTail {
        path: path.to_path_buf(),
        reason,
    };
    // At most two passes: after a torn line is cut off, the new last line is complete.
    for _ in 0..2 {
        let len = file
            .metadata()
            .map_err(EvidenceError::io("read", path))?
            .len();
        let Some(tail) = tail::last_line(file, len).map_err(EvidenceError::io("read", path))?
        else {
            return Ok(None);
        };
        let parsed = parse(&tail.bytes);
        match (parsed, tail.terminated) {
            (Ok(value), true) => return Ok(Some(value)),
            (Err(reason), true) => return Err(damaged(reason.to_string())),
            (Ok(value), false) => {
                file.write_all(b"\n")
                    .and_then(|()| file.sync_data())
                    .map_err(EvidenceError::io("repair", path))?;
                repairs.push(Repair {
                    path: path.to_path_buf(),
                    kind: RepairKind::AddedNewline,
                });
                return Ok(Some(value));
            }
            (Err(_), false) => {
                file.set_len(tail.start)
                    .and_then(|()| file.sync_data())
                    .map_err(EvidenceError::io("repair", path))?;
                repairs.push(Repair {
                    path: path.to_path_buf(),
                    kind: RepairKind::RemovedTornLine {
                        offset: tail.start,
                        bytes: len - tail.start,
                    },
                });
            }
        }
    }
    Err(damaged("it could not be repaired".to_string()))
}

/// Returns the directory of the log: `path` itself if it contains the record file, otherwise
/// its `evidence` subdirectory. So commands accept the state directory or the evidence directory.
pub(crate) fn evidence_dir(path: &Path) -> PathBuf {
    if path.join(LOG_FILE).is_file() {
        path.to_path_buf()
    } else {
        path.join(EVIDENCE_DIR)
    }
}
