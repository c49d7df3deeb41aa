//! Reading lines: forward with a length limit, and the last line of a file without reading the
//! rest.

use super::line::MAX_LINE;
use std::fs::File;
use std::io::{self, BufRead, Read, Seek, SeekFrom};

/// The kind of line [`read_line`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LineRead {
    /// The end of the input; nothing was read.
    End,
    /// A line ending in a newline, which is not kept in the buffer.
    Complete,
    /// A last line without a newline.
    Unterminated,
    /// A line longer than `MAX_LINE`. The buffer contains its start.
    TooLong,
}

/// Reads one line into `buf` (cleared first), stopping after `MAX_LINE` bytes.
pub(crate) fn read_line(reader: &mut impl BufRead, buf: &mut Vec<u8>) -> io::Result<LineRead> {
    buf.clear();
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        if available.is_empty() {
            return Ok(if buf.is_empty() {
                LineRead::End
            } else {
                LineRead::Unterminated
            });
        }
        let (taken, found) = match available.iter().position(|b| *b == b'\n') {
            Some(at) => (at + 1, true),
            None => (available.len(), false),
        };
        let content = available.get(..taken).unwrap_or_default();
        buf.extend_from_slice(content.strip_suffix(b"\n").unwrap_or(content));
        reader.consume(taken);
        if buf.len() >= MAX_LINE {
            return Ok(LineRead::TooLong);
        }
        if found {
            return Ok(LineRead::Complete);
        }
    }
}

/// The last line of a file.
pub(crate) struct Tail {
    /// The offset of the line's first byte.
    pub start: u64,
    /// The line without its newline.
    pub bytes: Vec<u8>,
    /// Whether the line ends in a newline.
    pub terminated: bool,
}

/// Reads the last line of `file`, whose length is `len`, by reading backwards in blocks from
/// the end. Returns `None` for an empty file.
pub(crate) fn last_line(file: &mut File, len: u64) -> io::Result<Option<Tail>> {
    const BLOCK: u64 = 8 * 1024;
    if len == 0 {
        return Ok(None);
    }

    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(len - 1))?;
    file.read_exact(&mut last)?;
    let terminated = last == [b'\n'];
    let end = if terminated { len - 1 } else { len };

    // Blocks are read back to front and kept in reverse order; they are joined at the end.
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    let mut collected = 0u64;
    let mut position = end;
    let start = loop {
        if position == 0 {
            break 0;
        }
        let size = BLOCK.min(position);
        position -= size;
        let mut block = vec![0u8; usize::try_from(size).unwrap_or(0)];
        file.seek(SeekFrom::Start(position))?;
        file.read_exact(&mut block)?;
        let newline = block.iter().rposition(|b| *b == b'\n');
        if let Some(at) = newline {
            block.drain(..=at);
            blocks.push(block);
            break position + at as u64 + 1;
        }
        collected += size;
        blocks.push(block);
        if collected > MAX_LINE as u64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the last line is longer than {MAX_LINE} bytes"),
            ));
        }
    };

    let bytes = blocks.into_iter().rev().flatten().collect();
    Ok(Some(Tail {
        start,
        bytes,
        terminated,
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tail_of(content: &[u8]) -> Option<(u64, Vec<u8>, bool)> {
        let mut file = tempfile::tempfile().expect("temporary file");
        file.write_all(content).expect("temporary file");
        let tail = last_line(&mut file, content.len() as u64).expect("temporary file");
        tail.map(|t| (t.start, t.bytes, t.terminated))
    }

    #[test]
    fn last_line_of_small_files() {
        assert_eq!(tail_of(b""), None);
        assert_eq!(tail_of(b"a\n"), Some((0, b"a".to_vec(), true)));
        assert_eq!(tail_of(b"a\nbc\n"), Some((2, b"bc".to_vec(), true)));
        assert_eq!(tail_of(b"a\nbc"), Some((2, b"bc".to_vec(), false)));
        assert_eq!(tail_of(b"a\n\n"), Some((2, b"".to_vec(), true)));
    }

    #[test]
    fn last_line_spanning_blocks() {
        let long = vec![b'x'; 20_000];
        let mut content = b"first\n".to_vec();
        content.extend_from_slice(&long);
        content.push(b'\n');
        assert_eq!(tail_of(&content), Some((6, long, true)));
    }

    #[test]
    fn read_line_reports_each_case() {
        let mut reader = io::BufReader::with_capacity(4, &b"abcdef\ngh"[..]);
        let mut buf = Vec::new();
        assert_eq!(
            read_line(&mut reader, &mut buf).ok(),
            Some(LineRead::Complete)
        );
        assert_eq!(buf, b"abcdef");
        assert_eq!(
            read_line(&mut reader, &mut buf).ok(),
            Some(LineRead::Unterminated)
        );
        assert_eq!(buf, b"gh");
        assert_eq!(read_line(&mut reader, &mut buf).ok(), Some(LineRead::End));
    }
}
