//! A sink that keeps a credential in a local file.
//!
//! The current value is in the file itself, a staged value in `FILE.pending` and the value a
//! promotion replaced in `FILE.previous`. Every file is created with mode 0600 and replaced
//! atomically (a temporary file in the same directory, fsync, rename, fsync of the directory),
//! so a reader sees either the old value or the new one, never a partial write.

use async_trait::async_trait;
use enact_connector::{ConnectorError, DeliveryMeta, ErrorKind, Sink};
use enact_model::{Fingerprint, FingerprintKey, Secret};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// A credential file and its staged and previous siblings.
#[derive(Clone, Debug)]
pub struct FileSink {
    current: PathBuf,
    staged: PathBuf,
    previous: PathBuf,
}

impl FileSink {
    /// A sink for the credential file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let current: PathBuf = path.into();
        let staged = sibling(&current, "pending");
        let previous = sibling(&current, "previous");
        FileSink {
            current,
            staged,
            previous,
        }
    }

    /// The path of the current value.
    pub fn path(&self) -> &Path {
        &self.current
    }
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

fn io_error(action: &str, path: &Path, error: io::Error) -> ConnectorError {
    let message = format!("failed to {action} `{}`: {error}", path.display());
    ConnectorError::with_source(ErrorKind::Other, message, error)
}

/// Writes `value` to `path` atomically with mode 0600.
fn write_atomic(path: &Path, value: &[u8]) -> Result<(), ConnectorError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(|e| io_error("create directory", &dir, e))?;
    let temporary = sibling(path, &format!("tmp-{}", std::process::id()));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(|e| io_error("create", &temporary, e))?;
    file.write_all(value)
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error("write", &temporary, e))?;
    fs::rename(&temporary, path).map_err(|e| io_error("rename into", path, e))?;
    sync_dir(&dir)
}

fn sync_dir(dir: &Path) -> Result<(), ConnectorError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error("sync directory", dir, e))
}

/// Reads the value at `path`; `None` when the file does not exist. One trailing newline is
/// dropped, so a file written by hand with `echo` holds the same value.
fn read_value(path: &Path, key: &FingerprintKey) -> Result<Option<Secret>, ConnectorError> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io_error("open", path, error)),
    };
    let mut text = Zeroizing::new(String::new());
    file.read_to_string(&mut text)
        .map_err(|e| io_error("read", path, e))?;
    let trimmed = text.strip_suffix('\n').unwrap_or(&text);
    Ok(Some(Secret::new(trimmed.to_string(), key)))
}

fn remove(path: &Path) -> Result<(), ConnectorError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(io_error("remove", path, error)),
    }
}

#[async_trait]
impl Sink for FileSink {
    async fn stage(&self, secret: &Secret, _meta: &DeliveryMeta) -> Result<(), ConnectorError> {
        // The value is written to its designated store, which is the purpose of a sink.
        write_atomic(&self.staged, secret.expose().as_bytes())
    }

    async fn read_staged(&self, key: &FingerprintKey) -> Result<Option<Secret>, ConnectorError> {
        read_value(&self.staged, key)
    }

    async fn promote(
        &self,
        expected: &Fingerprint,
        key: &FingerprintKey,
    ) -> Result<(), ConnectorError> {
        match read_value(&self.staged, key)? {
            Some(staged) if staged.fingerprint() == expected => {
                if let Some(current) = read_value(&self.current, key)? {
                    // The replaced value is kept until verification has proven it rejected.
                    write_atomic(&self.previous, current.expose().as_bytes())?;
                }
                fs::rename(&self.staged, &self.current)
                    .map_err(|e| io_error("rename into", &self.current, e))?;
                let dir = self.current.parent().unwrap_or(Path::new("."));
                sync_dir(if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir
                })
            }
            Some(staged) => Err(ConnectorError::new(
                ErrorKind::Conflict,
                format!(
                    "staged value in `{}` has fingerprint {}, expected {}",
                    self.staged.display(),
                    staged.fingerprint().short(),
                    expected.short()
                ),
            )),
            None => match read_value(&self.current, key)? {
                Some(current) if current.fingerprint() == expected => Ok(()),
                _ => Err(ConnectorError::new(
                    ErrorKind::Conflict,
                    format!(
                        "nothing staged in `{}` and the current value is not the expected one",
                        self.staged.display()
                    ),
                )),
            },
        }
    }

    async fn read_current(&self, key: &FingerprintKey) -> Result<Option<Secret>, ConnectorError> {
        read_value(&self.current, key)
    }

    async fn read_previous(&self, key: &FingerprintKey) -> Result<Option<Secret>, ConnectorError> {
        read_value(&self.previous, key)
    }

    async fn discard_staged(&self) -> Result<(), ConnectorError> {
        remove(&self.staged)
    }

    async fn discard_previous(&self) -> Result<(), ConnectorError> {
        remove(&self.previous)
    }

    async fn purge(&self) -> Result<(), ConnectorError> {
        remove(&self.staged)?;
        remove(&self.previous)?;
        remove(&self.current)
    }

    async fn held_fingerprints(
        &self,
        key: &FingerprintKey,
    ) -> Result<Vec<Fingerprint>, ConnectorError> {
        let mut held = Vec::new();
        for path in [&self.staged, &self.current, &self.previous] {
            if let Some(secret) = read_value(path, key)? {
                held.push(secret.fingerprint().clone());
            }
        }
        Ok(held)
    }

    fn describe(&self) -> String {
        format!("file `{}`", self.current.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn meta() -> DeliveryMeta {
        DeliveryMeta {
            identity: "billing".into(),
            action_id: "act-1".into(),
        }
    }

    #[tokio::test]
    async fn stage_promote_keeps_previous() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = FingerprintKey::from_bytes([9; 32]);
        let sink = FileSink::new(dir.path().join("nested/app.pw"));
        let first = Secret::new("first-value".into(), &key);
        let second = Secret::new("second-value".into(), &key);

        sink.stage(&first, &meta()).await.expect("stage");
        sink.promote(first.fingerprint(), &key)
            .await
            .expect("promote");
        sink.stage(&second, &meta()).await.expect("stage");
        sink.promote(second.fingerprint(), &key)
            .await
            .expect("promote");

        let current = sink
            .read_current(&key)
            .await
            .expect("read")
            .expect("current");
        let previous = sink
            .read_previous(&key)
            .await
            .expect("read")
            .expect("previous");
        assert!(current.ct_eq(&second));
        assert!(previous.ct_eq(&first));
        assert_eq!(
            sink.read_staged(&key)
                .await
                .expect("read")
                .map(|s| s.fingerprint().clone()),
            None
        );

        let mode = fs::metadata(sink.path())
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[tokio::test]
    async fn promote_is_idempotent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = FingerprintKey::from_bytes([9; 32]);
        let sink = FileSink::new(dir.path().join("app.pw"));
        let value = Secret::new("value".into(), &key);
        sink.stage(&value, &meta()).await.expect("stage");
        sink.promote(value.fingerprint(), &key)
            .await
            .expect("promote");
        sink.promote(value.fingerprint(), &key)
            .await
            .expect("promote again");
        let other = Secret::new("other".into(), &key);
        let error = sink
            .promote(other.fingerprint(), &key)
            .await
            .expect_err("wrong value");
        assert_eq!(error.kind, ErrorKind::Conflict);
    }

    #[tokio::test]
    async fn purge_removes_every_copy() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = FingerprintKey::from_bytes([9; 32]);
        let sink = FileSink::new(dir.path().join("app.pw"));
        for value in ["a", "b", "c"] {
            let secret = Secret::new(value.into(), &key);
            sink.stage(&secret, &meta()).await.expect("stage");
            if value != "c" {
                sink.promote(secret.fingerprint(), &key)
                    .await
                    .expect("promote");
            }
        }
        assert_eq!(sink.held_fingerprints(&key).await.expect("held").len(), 3);
        sink.purge().await.expect("purge");
        assert!(sink.held_fingerprints(&key).await.expect("held").is_empty());
        assert_eq!(fs::read_dir(dir.path()).expect("dir").count(), 0);
    }

    #[tokio::test]
    async fn hand_written_file_drops_newline() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = FingerprintKey::from_bytes([9; 32]);
        let path = dir.path().join("app.pw");
        fs::write(&path, "value\n").expect("write");
        let sink = FileSink::new(&path);
        let read = sink
            .read_current(&key)
            .await
            .expect("read")
            .expect("current");
        assert!(read.ct_eq(&Secret::new("value".into(), &key)));
    }
}
