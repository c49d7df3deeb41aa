//! Checking the record lines of the log on every core, for [`super::verify`].
//!
//! The chain and the Merkle tree need the records in order. The checks of one record on its own
//! do not: its form, its canonical body, its leaf hash, and its chain hash recomputed from the
//! `prev` it claims. So one thread reads the log in chunks of whole
//! lines, worker threads check the chunks, and the caller receives the results in file order
//! and does the ordered part. A claimed `prev` that matches the previous record's hash makes
//! the recomputed chain hash the real one.
//!
//! Memory is bounded: a fixed number of chunk buffers circulate between the reader, the workers
//! and the caller.

use super::canonical::{BodyChecker, BodyError};
use super::line::{chain_hash, leaf_hash, parse_line, Hash, MAX_LINE};
use crate::error::{LineProblem, RecordProblem};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Mutex;
use std::thread;

/// The size a chunk is read at. A chunk grows past it only to hold a longer line.
const CHUNK: usize = 1024 * 1024;

/// The maximum number of worker threads. Beyond a few, the reader and the ordered part limit
/// the speed.
const MAX_WORKERS: usize = 8;

/// A record line whose form, body and hash were checked.
#[derive(Debug)]
pub(super) struct CheckedLine {
    pub seq: u64,
    /// The `prev` the line claims.
    pub prev: Hash,
    pub leaf: Hash,
    /// The chain hash the line records, which is the one computed from `prev`, the leaf and
    /// `seq`.
    pub hash: Hash,
}

/// The problem that ends a batch, found on the line after its last checked line.
#[derive(Debug)]
pub(super) enum BatchEnd {
    /// The line is not a well-formed record.
    Line(LineProblem),
    /// The line is well formed but fails a check of its own: its body, its hash, or its
    /// `prev` against the line before it in the chunk. The ordered checks of `seq` and `prev`
    /// come first, so both are kept.
    Record {
        seq: u64,
        prev: Hash,
        problem: RecordProblem,
    },
    /// Reading the log failed.
    Read(io::Error),
}

/// The checked lines of one chunk, in file order.
#[derive(Debug)]
pub(super) struct Batch<T> {
    pub lines: Vec<CheckedLine>,
    /// Set when a problem stopped the checks; no line after it was checked.
    pub end: Option<BatchEnd>,
    /// The result of the caller's own work on the checked lines.
    pub extra: T,
}

/// The condition the reader found after a chunk's last complete line.
enum ReadEnd {
    /// A line longer than [`MAX_LINE`].
    TooLong,
    /// A last line without a newline.
    Torn,
    Failed(io::Error),
}

/// Whole lines of the log, each ending in a newline.
struct Chunk {
    index: u64,
    bytes: Vec<u8>,
    end: Option<ReadEnd>,
    /// Whether this is the last chunk of the log.
    last: bool,
}

/// A checked chunk, with its buffer for reuse.
struct Checked<T> {
    index: u64,
    batch: Batch<T>,
    buffer: Vec<u8>,
    last: bool,
}

/// Reads the log from `file`, checks its lines on every core, and calls `each` with the
/// batches in file order until `each` returns an error, a batch has an end, or the log ends.
/// `extra` does more work on each batch's checked lines on the worker that checked them.
/// `stopped` makes the error for threads that stopped before the log's end, which does not
/// happen unless a thread panics.
///
/// `each` must return an error for a batch with an end: nothing after it is checked.
pub(super) fn check_batches<T: Send, E>(
    file: File,
    extra: impl Fn(&[CheckedLine]) -> T + Sync,
    mut each: impl FnMut(Batch<T>) -> Result<(), E>,
    stopped: impl FnOnce() -> E,
) -> Result<(), E> {
    let workers = thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, MAX_WORKERS);
    let len = file.metadata().map_or(u64::MAX, |metadata| metadata.len());
    let mut reader = ChunkReader::new(file);
    // Threads pay for themselves only from a few chunks on.
    if workers == 1 || len < 2 * CHUNK as u64 {
        let mut checker = BodyChecker::default();
        let mut buffer = Vec::new();
        loop {
            let chunk = reader.next_chunk(buffer);
            let last = chunk.last;
            let (lines, end, bytes) = check_chunk(chunk, &mut checker);
            each(Batch {
                extra: extra(&lines),
                lines,
                end,
            })?;
            if last {
                return Ok(());
            }
            buffer = bytes;
        }
    }

    let (free_sender, free) = mpsc::channel::<Vec<u8>>();
    let (chunk_sender, chunks) = mpsc::channel::<Chunk>();
    let (checked_sender, checked) = mpsc::channel::<Checked<T>>();
    // Two buffers per worker keep each busy while the reader fills the next.
    for _ in 0..2 * workers + 2 {
        // The receiver `free` is alive until the end of this function, so this cannot fail.
        let _ = free_sender.send(Vec::with_capacity(CHUNK));
    }
    let chunks = Mutex::new(chunks);

    thread::scope(|scope| {
        scope.spawn(move || reader.send_chunks(&free, &chunk_sender));
        for _ in 0..workers {
            let checked_sender = checked_sender.clone();
            let chunks = &chunks;
            let extra = &extra;
            scope.spawn(move || check_chunks(chunks, extra, &checked_sender));
        }
        drop(checked_sender);

        // Batches arrive in any order; they are passed on in file order.
        let mut waiting: BTreeMap<u64, Checked<T>> = BTreeMap::new();
        let mut next = 0u64;
        loop {
            let ready = match waiting.remove(&next) {
                Some(ready) => ready,
                None => {
                    let Ok(arrived) = checked.recv() else {
                        return Err(stopped());
                    };
                    waiting.insert(arrived.index, arrived);
                    continue;
                }
            };
            let last = ready.last;
            each(ready.batch)?;
            if last {
                return Ok(());
            }
            // The reader may have stopped after the last chunk; then the buffer is not needed.
            let _ = free_sender.send(ready.buffer);
            next += 1;
        }
    })
}

/// Reads the log in chunks of whole lines.
struct ChunkReader {
    file: File,
    /// The start of a line that did not fit in the last chunk.
    carry: Vec<u8>,
    index: u64,
}

impl ChunkReader {
    fn new(file: File) -> Self {
        ChunkReader {
            file,
            carry: Vec::new(),
            index: 0,
        }
    }

    /// Runs on the reader thread: sends chunks to the workers until the last one. Stops
    /// early when the caller stops returning buffers.
    fn send_chunks(mut self, free: &Receiver<Vec<u8>>, chunks: &Sender<Chunk>) {
        while let Ok(buffer) = free.recv() {
            let chunk = self.next_chunk(buffer);
            let last = chunk.last;
            if chunks.send(chunk).is_err() || last {
                return;
            }
        }
    }

    /// Reads the next chunk into `buffer`: whole lines up to about [`CHUNK`] bytes. The last
    /// chunk also carries what ends the log: a line that is too long or torn, or a read error.
    fn next_chunk(&mut self, mut buffer: Vec<u8>) -> Chunk {
        buffer.clear();
        buffer.append(&mut self.carry);

        let mut target = buffer.len().max(CHUNK);
        let (end, last) = loop {
            let requested = target.saturating_sub(buffer.len()) as u64;
            let eof = match (&mut self.file).take(requested).read_to_end(&mut buffer) {
                Ok(read) => (read as u64) < requested,
                Err(error) => {
                    let complete = last_newline(&buffer).map_or(0, |at| at + 1);
                    buffer.truncate(complete);
                    break (Some(ReadEnd::Failed(error)), true);
                }
            };
            match last_newline(&buffer) {
                Some(at) => {
                    self.carry
                        .extend_from_slice(buffer.get(at + 1..).unwrap_or_default());
                    buffer.truncate(at + 1);
                    if !eof {
                        break (None, false);
                    }
                    break (partial_line_end(&self.carry), true);
                }
                None if eof => {
                    let end = partial_line_end(&buffer);
                    buffer.clear();
                    break (end, true);
                }
                None if buffer.len() >= MAX_LINE => {
                    buffer.clear();
                    break (Some(ReadEnd::TooLong), true);
                }
                None => target = buffer.len() + CHUNK,
            }
        };

        let index = self.index;
        self.index += 1;
        Chunk {
            index,
            bytes: buffer,
            end,
            last,
        }
    }
}

/// Classifies the bytes after the last newline at the end of the log.
fn partial_line_end(partial: &[u8]) -> Option<ReadEnd> {
    if partial.is_empty() {
        None
    } else if partial.len() >= MAX_LINE {
        Some(ReadEnd::TooLong)
    } else {
        Some(ReadEnd::Torn)
    }
}

/// Runs on a worker thread: checks chunks until there are none left or the caller is gone.
fn check_chunks<T>(
    chunks: &Mutex<Receiver<Chunk>>,
    extra: &impl Fn(&[CheckedLine]) -> T,
    checked: &Sender<Checked<T>>,
) {
    let mut checker = BodyChecker::default();
    loop {
        let chunk = {
            let Ok(receiver) = chunks.lock() else {
                return;
            };
            let Ok(chunk) = receiver.recv() else {
                return;
            };
            chunk
        };
        let index = chunk.index;
        let last = chunk.last;
        let (lines, end, buffer) = check_chunk(chunk, &mut checker);
        let result = Checked {
            index,
            batch: Batch {
                extra: extra(&lines),
                lines,
                end,
            },
            buffer,
            last,
        };
        if checked.send(result).is_err() {
            return;
        }
    }
}

/// Checks the lines of one chunk, stopping at the first problem.
fn check_chunk(
    chunk: Chunk,
    checker: &mut BodyChecker,
) -> (Vec<CheckedLine>, Option<BatchEnd>, Vec<u8>) {
    let mut lines = Vec::with_capacity(chunk.bytes.len() / 256);
    let mut end = None;
    let mut rest = chunk.bytes.as_slice();
    while let Some(at) = find_newline(rest) {
        let line = rest.get(..at).unwrap_or_default();
        rest = rest.get(at + 1..).unwrap_or_default();
        if line.len() >= MAX_LINE {
            end = Some(BatchEnd::Line(LineProblem::TooLong { max: MAX_LINE }));
            break;
        }
        let record = match parse_line(line) {
            Ok(record) => record,
            Err(what) => {
                end = Some(BatchEnd::Line(LineProblem::Malformed(what)));
                break;
            }
        };
        let stop = |problem| {
            Some(BatchEnd::Record {
                seq: record.seq,
                prev: record.prev,
                problem,
            })
        };
        // A `prev` that differs from the hash of the line before fails the audit here, so the
        // lines after it need no work.
        if lines
            .last()
            .is_some_and(|before: &CheckedLine| before.hash != record.prev)
        {
            end = stop(RecordProblem::Prev {
                previous: record.seq.saturating_sub(1),
            });
            break;
        }
        if let Err(error) = checker.check(record.body) {
            end = stop(body_problem(error));
            break;
        }
        let leaf = leaf_hash(record.body);
        if chain_hash(&record.prev, &leaf, record.seq) != record.hash {
            end = stop(RecordProblem::Hash);
            break;
        }
        lines.push(CheckedLine {
            seq: record.seq,
            prev: record.prev,
            leaf,
            hash: record.hash,
        });
    }
    if end.is_none() {
        end = chunk.end.map(|read| match read {
            ReadEnd::TooLong => BatchEnd::Line(LineProblem::TooLong { max: MAX_LINE }),
            ReadEnd::Torn => BatchEnd::Line(LineProblem::Torn),
            ReadEnd::Failed(error) => BatchEnd::Read(error),
        });
    }
    (lines, end, chunk.bytes)
}

/// Names the problem of a rejected body as the audit reports it.
pub(super) fn body_problem(error: BodyError) -> RecordProblem {
    match error {
        BodyError::Invalid(error) => RecordProblem::BodyInvalid(error.to_string()),
        BodyError::NotCanonical => RecordProblem::BodyNotCanonical,
        BodyError::Shape(reason) => RecordProblem::BodyShape(reason),
    }
}

/// Returns the position of the last newline in `bytes`.
fn last_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().rposition(|byte| *byte == b'\n')
}

/// Returns the position of the first newline in `bytes`, testing eight bytes at a time.
fn find_newline(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    const NEWLINES: u64 = ONES * b'\n' as u64;
    let mut words = bytes.chunks_exact(8);
    let mut skipped = 0;
    for word in &mut words {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(word);
        // A byte of `x` is zero exactly where the word has a newline; the expression below
        // is nonzero when any byte of `x` is zero.
        let x = u64::from_le_bytes(eight) ^ NEWLINES;
        if x.wrapping_sub(ONES) & !x & HIGHS != 0 {
            break;
        }
        skipped += 8;
    }
    let rest = bytes.get(skipped..)?;
    rest.iter()
        .position(|byte| *byte == b'\n')
        .map(|at| skipped + at)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn newline_is_found_at_every_position() {
        for len in 0..40 {
            for at in 0..len {
                let mut bytes = vec![b'x'; len];
                bytes[at] = b'\n';
                assert_eq!(find_newline(&bytes), Some(at), "len {len}, at {at}");
                if at + 1 < len {
                    bytes[len - 1] = b'\n';
                    assert_eq!(find_newline(&bytes), Some(at), "len {len}, at {at}");
                }
            }
            assert_eq!(find_newline(&vec![b'x'; len]), None);
        }
        // Bytes one away from a newline must not count as one.
        assert_eq!(find_newline(b"\x0b\x09\x8a\x0b\x09\x8a\x0b\x09"), None);
    }
}
