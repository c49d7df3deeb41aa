//! Standard output for a person or a program, tolerant of a reader that goes away.

use std::io::{ErrorKind, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once standard output is closed, so later writes are skipped.
static CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `text` to standard output; a broken pipe stops all later output silently.
pub fn text(text: &str) {
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
    if let Err(error) = written {
        CLOSED.store(true, Ordering::Relaxed);
        if error.kind() != ErrorKind::BrokenPipe {
            eprintln!("error: failed to write to standard output: {error}");
        }
    }
}

/// Writes `text` and a newline to standard output.
pub fn line(text: &str) {
    let mut with_newline = String::with_capacity(text.len() + 1);
    with_newline.push_str(text);
    with_newline.push('\n');
    self::text(&with_newline);
}
