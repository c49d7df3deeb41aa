//! Reading records back for other commands: listing and export. Neither verifies the chain or
//! the signatures; run [`super::verify`] for that.

use super::checkpoint::Checkpoint;
use super::line::{leaf_hash, parse_line, Hash, RawRecord, MAX_LINE};
use super::offsets::indexed_body;
use super::tail::{last_line, read_line, LineRead};
use super::{evidence_dir, CHECKPOINTS_FILE, LOG_FILE};
use crate::error::EvidenceError;
use std::fs::File;
use std::io::{self, BufReader, Write};
use std::path::{Path, PathBuf};

/// An iterator over the records of a log as `(seq, body)`, in order. It stops after the first
/// error. A last line without a newline is skipped, because it is either being written or the
/// trace of an interrupted write.
#[derive(Debug)]
pub struct Records {
    path: PathBuf,
    reader: Option<BufReader<File>>,
    buf: Vec<u8>,
    line: u64,
}

impl Records {
    /// Reads the next line and splits it into its fields.
    fn next_line(&mut self) -> Option<Result<RawRecord<'_>, EvidenceError>> {
        let reader = self.reader.as_mut()?;
        let read = match read_line(reader, &mut self.buf) {
            Ok(read) => read,
            Err(source) => {
                self.reader = None;
                return Some(Err(EvidenceError::io("read", &self.path)(source)));
            }
        };
        self.line += 1;
        let reason = match read {
            LineRead::End | LineRead::Unterminated => {
                self.reader = None;
                return None;
            }
            LineRead::TooLong => format!("line is longer than {MAX_LINE} bytes"),
            LineRead::Complete => match parse_line(&self.buf) {
                Ok(record) => return Some(Ok(record)),
                Err(what) => format!("not a valid record line: {what}"),
            },
        };
        self.reader = None;
        Some(Err(EvidenceError::DamagedRecord {
            path: self.path.clone(),
            line: self.line,
            reason,
        }))
    }
}

impl Iterator for Records {
    type Item = Result<(u64, serde_json::Value), EvidenceError>;

    fn next(&mut self) -> Option<Self::Item> {
        let line = self.line + 1;
        let path = self.path.clone();
        let result = match self.next_line()? {
            Ok(record) => serde_json::from_slice(record.body)
                .map(|value| (record.seq, value))
                .map_err(|error| EvidenceError::DamagedRecord {
                    path,
                    line,
                    reason: format!("body is not valid JSON: {error}"),
                }),
            Err(error) => Err(error),
        };
        if result.is_err() {
            self.reader = None;
        }
        Some(result)
    }
}

/// Opens the records of the log under `path`, the state directory or its `evidence`
/// directory. A log that does not exist yet has no records.
pub fn read_records(path: &Path) -> Result<Records, EvidenceError> {
    let log_path = evidence_dir(path).join(LOG_FILE);
    let reader = match File::open(&log_path) {
        Ok(file) => Some(BufReader::with_capacity(256 * 1024, file)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => None,
        Err(source) => return Err(EvidenceError::io("open", &log_path)(source)),
    };
    Ok(Records {
        path: log_path,
        reader,
        buf: Vec::new(),
        line: 0,
    })
}

/// Writes every record of the log under `path` to `out`, one per line, as
/// `{"seq":N,"hash":"<hex>",<body fields>}`. Returns the number of records written.
pub fn export_jsonl(path: &Path, mut out: impl Write) -> Result<u64, EvidenceError> {
    let mut records = read_records(path)?;
    let mut count = 0u64;
    while let Some(next) = records.next_line() {
        let RawRecord {
            seq,
            hash_hex,
            body,
            ..
        } = next?;
        // Bodies are JSON objects, so their fields follow the envelope's after the `{`.
        let Some(fields) = body.strip_prefix(b"{") else {
            return Err(EvidenceError::DamagedRecord {
                path: records.path.clone(),
                line: records.line,
                reason: "body is not a JSON object".to_string(),
            });
        };
        let separator: &[u8] = if fields == b"}" { b"" } else { b"," };
        write!(out, "{{\"seq\":{seq},\"hash\":\"")
            .and_then(|()| out.write_all(hash_hex))
            .and_then(|()| out.write_all(b"\""))
            .and_then(|()| out.write_all(separator))
            .and_then(|()| out.write_all(fields))
            .and_then(|()| out.write_all(b"\n"))
            .map_err(EvidenceError::Export)?;
        count += 1;
    }
    out.flush().map_err(EvidenceError::Export)?;
    Ok(count)
}

/// Calls `each` with the leaf hash of every record after the first `skip`, up to record
/// `until`, in order. It stops early at the log's end or at a last line without a newline. It
/// checks each line's form and seq but not the chain: [`super::verify`] does that.
pub(crate) fn for_each_leaf(
    log_path: &Path,
    skip: u64,
    until: u64,
    mut each: impl FnMut(Hash),
) -> Result<(), EvidenceError> {
    let file = match File::open(log_path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(EvidenceError::io("open", log_path)(source)),
    };
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let mut buf = Vec::new();
    let mut line = 0u64;
    while line < until {
        let read = read_line(&mut reader, &mut buf).map_err(EvidenceError::io("read", log_path))?;
        line += 1;
        let damaged = |reason: String| EvidenceError::DamagedRecord {
            path: log_path.to_path_buf(),
            line,
            reason,
        };
        match read {
            LineRead::End | LineRead::Unterminated => break,
            LineRead::TooLong => {
                return Err(damaged(format!("line is longer than {MAX_LINE} bytes")))
            }
            LineRead::Complete => {}
        }
        if line <= skip {
            continue;
        }
        let record =
            parse_line(&buf).map_err(|what| damaged(format!("not a valid record line: {what}")))?;
        if record.seq != line {
            return Err(damaged(format!("seq is {}, expected {line}", record.seq)));
        }
        each(leaf_hash(record.body));
    }
    Ok(())
}

/// Reads the last line of the checkpoint file in `dir` without reading the lines before it.
/// Returns `None` if the file is missing or empty, or its last line is not a checkpoint.
pub(crate) fn read_last_checkpoint(dir: &Path) -> Result<Option<Checkpoint>, EvidenceError> {
    let path = dir.join(CHECKPOINTS_FILE);
    let mut file = match File::open(&path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(EvidenceError::io("open", &path)(source)),
    };
    let len = file
        .metadata()
        .map_err(EvidenceError::io("read", &path))?
        .len();
    let tail = last_line(&mut file, len).map_err(EvidenceError::io("read", &path))?;
    Ok(tail.and_then(|tail| Checkpoint::parse_line(&tail.bytes).ok()))
}

/// Returns the body bytes of record `seq` of the log in `dir`, as written. It reads the line at
/// the offset that `offsets.bin` records, and scans the log from the start when that file is
/// missing, short or wrong.
pub(crate) fn record_body(dir: &Path, seq: u64) -> Result<Vec<u8>, EvidenceError> {
    let log_path = dir.join(LOG_FILE);
    if let Some(body) = indexed_body(dir, &log_path, seq)? {
        return Ok(body);
    }
    tracing::debug!(
        path = %dir.display(),
        seq,
        "the line offsets do not lead to the record; scanning the log"
    );
    scan_for_body(&log_path, seq)
}

/// Returns the body bytes of record `seq`, reading the log from the start.
fn scan_for_body(log_path: &Path, seq: u64) -> Result<Vec<u8>, EvidenceError> {
    let file = File::open(log_path).map_err(EvidenceError::io("open", log_path))?;
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let mut buf = Vec::new();
    let mut line = 0u64;
    loop {
        let read = read_line(&mut reader, &mut buf).map_err(EvidenceError::io("read", log_path))?;
        line += 1;
        let damaged = |reason: String| EvidenceError::DamagedRecord {
            path: log_path.to_path_buf(),
            line,
            reason,
        };
        match read {
            LineRead::End | LineRead::Unterminated => {
                return Err(damaged(format!("the log ends before record {seq}")))
            }
            LineRead::TooLong => {
                return Err(damaged(format!("line is longer than {MAX_LINE} bytes")))
            }
            LineRead::Complete => {}
        }
        if line == seq {
            let record = parse_line(&buf)
                .map_err(|what| damaged(format!("not a valid record line: {what}")))?;
            if record.seq != seq {
                return Err(damaged(format!("seq is {}, expected {seq}", record.seq)));
            }
            return Ok(record.body.to_vec());
        }
    }
}
