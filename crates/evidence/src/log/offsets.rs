//! `evidence/offsets.bin`: where each record line starts in `log.jsonl`, so that one record is
//! read with one seek instead of a scan of the log.
//!
//! Entry `seq - 1` is the byte offset of record `seq`'s line, 8 bytes big-endian. Like
//! `tree.bin`, the file is derived from the log and never trusted. It is not synced, and
//! [`OffsetsFile::open`] completes it from the log when it is short. A reader uses an offset
//! only after checking that it leads to the start of the line with the right seq.

use super::line::{parse_line, MAX_LINE};
use super::tail::{read_line, LineRead};
use crate::error::EvidenceError;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The offsets file's name in the evidence directory.
pub(crate) const OFFSETS_FILE: &str = "offsets.bin";

/// The size of one entry.
const ENTRY: u64 = 8;

/// The write buffer's size; entries reach the file when it fills and on flush.
const WRITE_BUFFER: usize = 16 * 1024;

/// The offsets file, open for appending by the holder of the log's lock.
#[derive(Debug)]
pub(crate) struct OffsetsFile {
    path: PathBuf,
    file: File,
    buffer: Vec<u8>,
    /// The offset the next record line will start at: the log's length.
    next: u64,
}

impl OffsetsFile {
    /// Opens the offsets file in `dir` for the log at `log_path`, which has `records` records
    /// and ends at byte `log_len`. Entries past `records` are cut off, and missing ones are
    /// computed from the log. Returns the file and how many entries were computed.
    pub(crate) fn open(
        dir: &Path,
        log_path: &Path,
        records: u64,
        log_len: u64,
    ) -> Result<(OffsetsFile, u64), EvidenceError> {
        let path = dir.join(OFFSETS_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .append(true)
            .mode(0o640)
            .open(&path)
            .map_err(EvidenceError::io("open", &path))?;
        let len = file
            .metadata()
            .map_err(EvidenceError::io("read", &path))?
            .len();

        // Keep the whole entries of records that exist, if the last one still leads to its
        // line; otherwise start over.
        let mut kept = (len / ENTRY).min(records);
        if kept > 0 {
            let last = entry(&file, kept).map_err(EvidenceError::io("read", &path))?;
            let log = File::open(log_path).map_err(EvidenceError::io("open", log_path))?;
            let leads =
                last.is_some_and(|offset| matches!(line_at(&log, offset, kept), Ok(Some(_))));
            if !leads {
                kept = 0;
            }
        }
        if kept * ENTRY != len {
            file.set_len(kept * ENTRY)
                .map_err(EvidenceError::io("repair", &path))?;
        }

        let mut offsets = OffsetsFile {
            path,
            file,
            buffer: Vec::with_capacity(WRITE_BUFFER),
            next: 0,
        };
        if kept < records {
            offsets.complete(log_path, kept, records)?;
        }
        offsets.next = log_len;
        Ok((offsets, records - kept))
    }

    /// Appends the entries of records `kept + 1` to `records`, reading the log from the line
    /// of record `kept` on.
    fn complete(&mut self, log_path: &Path, kept: u64, records: u64) -> Result<(), EvidenceError> {
        let log = File::open(log_path).map_err(EvidenceError::io("open", log_path))?;
        let mut position = match kept {
            0 => 0,
            _ => entry(&self.file, kept)
                .map_err(EvidenceError::io("read", &self.path))?
                .unwrap_or(0),
        };
        let mut reader = BufReader::with_capacity(256 * 1024, log);
        reader
            .seek(SeekFrom::Start(position))
            .map_err(EvidenceError::io("read", log_path))?;
        let mut buf = Vec::new();
        // Record `kept`'s own line comes first and already has its entry.
        let first = if kept == 0 { 1 } else { kept };
        for seq in first..=records {
            let read =
                read_line(&mut reader, &mut buf).map_err(EvidenceError::io("read", log_path))?;
            if read != LineRead::Complete {
                return Err(EvidenceError::DamagedRecord {
                    path: log_path.to_path_buf(),
                    line: seq,
                    reason: format!("the log ends before record {records}"),
                });
            }
            if seq > kept {
                self.push_offset(position)?;
            }
            position += buf.len() as u64 + 1;
        }
        self.flush()
    }

    /// Records that a line of `len` bytes, newline included, was appended to the log.
    pub(crate) fn push(&mut self, len: u64) -> Result<(), EvidenceError> {
        let start = self.next;
        self.next += len;
        self.push_offset(start)
    }

    fn push_offset(&mut self, offset: u64) -> Result<(), EvidenceError> {
        self.buffer.extend_from_slice(&offset.to_be_bytes());
        if self.buffer.len() >= WRITE_BUFFER {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the buffered entries to the file, without syncing it.
    pub(crate) fn flush(&mut self) -> Result<(), EvidenceError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        self.file
            .write_all(&self.buffer)
            .map_err(EvidenceError::io("write", &self.path))?;
        self.buffer.clear();
        Ok(())
    }
}

/// Reads the entry of record `seq` (1-based); `None` if the file is too short.
fn entry(file: &File, seq: u64) -> io::Result<Option<u64>> {
    let mut bytes = [0u8; ENTRY as usize];
    let Some(position) = seq
        .checked_sub(1)
        .and_then(|index| index.checked_mul(ENTRY))
    else {
        return Ok(None);
    };
    match file.read_exact_at(&mut bytes, position) {
        Ok(()) => Ok(Some(u64::from_be_bytes(bytes))),
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
        Err(error) => Err(error),
    }
}

/// Reads the body of record `seq` from the log at `log_path` through the offsets file in
/// `dir`. Returns `None` when the file is missing, does not cover the record, or leads
/// elsewhere than the start of its line; the caller then scans the log.
pub(crate) fn indexed_body(
    dir: &Path,
    log_path: &Path,
    seq: u64,
) -> Result<Option<Vec<u8>>, EvidenceError> {
    let path = dir.join(OFFSETS_FILE);
    let offsets = match File::open(&path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(EvidenceError::io("open", &path)(source)),
    };
    let Some(offset) = entry(&offsets, seq).map_err(EvidenceError::io("read", &path))? else {
        return Ok(None);
    };
    let log = File::open(log_path).map_err(EvidenceError::io("open", log_path))?;
    let line = line_at(&log, offset, seq).map_err(EvidenceError::io("read", log_path))?;
    Ok(line.and_then(|line| parse_line(&line).ok().map(|record| record.body.to_vec())))
}

/// Reads the line that starts at `offset`, without its newline, if a line starts there (the
/// byte before is a newline, or it is the file's start) and it is record `seq`'s.
fn line_at(log: &File, offset: u64, seq: u64) -> io::Result<Option<Vec<u8>>> {
    const BLOCK: usize = 4096;
    if offset >= log.metadata()?.len() {
        return Ok(None);
    }
    // Read from one byte before, to see the newline that ends the previous line.
    let (from, skip) = match offset.checked_sub(1) {
        Some(before) => (before, 1),
        None => (0, 0),
    };
    let mut bytes = Vec::new();
    let mut block = vec![0u8; BLOCK];
    let line_end = loop {
        let read = log.read_at(&mut block, from + bytes.len() as u64)?;
        let Some(data) = block.get(..read) else {
            return Ok(None);
        };
        let searched = bytes.len().max(skip);
        bytes.extend_from_slice(data);
        let found = bytes
            .get(searched..)
            .and_then(|rest| rest.iter().position(|byte| *byte == b'\n'));
        if let Some(at) = found {
            break searched + at;
        }
        if read == 0 || bytes.len() > MAX_LINE {
            return Ok(None);
        }
    };
    if skip == 1 && bytes.first() != Some(&b'\n') {
        return Ok(None);
    }
    let line = bytes.get(skip..line_end).unwrap_or_default();
    let is_record = parse_line(line).is_ok_and(|record| record.seq == seq);
    Ok(is_record.then(|| line.to_vec()))
}
