//! `evidence/tree.bin`: the stored nodes of the Merkle tree, 32 bytes each, in post-order.
//!
//! The file is derived from the log and can always be rebuilt from it, so it is not synced to
//! disk: [`TreeFile::open`] cuts off a partial or surplus tail and appends the nodes of
//! records the file is missing. A checkpoint's signed root is what a proof is checked
//! against, so a damaged node yields a proof that fails to verify, never a false one.

use super::{stored_nodes, Frontier, MemoryNodes, Nodes};
use crate::error::EvidenceError;
use crate::log::{for_each_leaf, Hash};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The tree file's name in the evidence directory.
pub(crate) const TREE_FILE: &str = "tree.bin";

/// The size of a stored node.
const NODE: u64 = 32;

/// The write buffer's size; nodes reach the file when it fills and on [`TreeFile::flush`].
const WRITE_BUFFER: usize = 64 * 1024;

/// Stored nodes read from an open tree file.
#[derive(Debug)]
pub(crate) struct FileNodes {
    file: File,
}

impl Nodes for FileNodes {
    fn node(&self, level: u32, index: u64) -> io::Result<Hash> {
        let mut hash = [0u8; 32];
        let offset = super::node_position(level, index)
            .checked_mul(NODE)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "tree node out of range"))?;
        self.file.read_exact_at(&mut hash, offset)?;
        Ok(hash)
    }
}

/// The tree file, open for appending by the holder of the log's lock.
#[derive(Debug)]
pub(crate) struct TreeFile {
    path: PathBuf,
    nodes: FileNodes,
    frontier: Frontier,
    buffer: Vec<u8>,
}

/// What [`TreeFile::open`] had to do to bring the file in line with the log.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct TreeRecovery {
    /// Leaves whose nodes were computed from the log because the file lacked them.
    pub rebuilt_leaves: u64,
}

impl TreeFile {
    /// Opens the tree file in `dir` for a log of `records` records at `log_path`, creating it,
    /// cutting off a tail that does not fit, and appending the nodes it is missing.
    pub(crate) fn open(
        dir: &Path,
        log_path: &Path,
        records: u64,
    ) -> Result<(TreeFile, TreeRecovery), EvidenceError> {
        let path = dir.join(TREE_FILE);
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

        // The largest tree the file holds completely, but no larger than the log.
        let kept = leaves_within(len / NODE, records);
        let kept_len = stored_nodes(kept) * NODE;
        if kept_len != len {
            file.set_len(kept_len)
                .map_err(EvidenceError::io("repair", &path))?;
        }
        let nodes = FileNodes { file };
        let frontier = Frontier::load(&nodes, kept).map_err(EvidenceError::io("read", &path))?;
        let mut tree = TreeFile {
            path,
            nodes,
            frontier,
            buffer: Vec::with_capacity(WRITE_BUFFER),
        };

        let mut recovery = TreeRecovery::default();
        if kept < records {
            let mut failure = None;
            for_each_leaf(log_path, kept, records, |leaf| {
                if failure.is_none() {
                    failure = tree.push(leaf).err();
                }
            })?;
            if let Some(error) = failure {
                return Err(error);
            }
            tree.flush()?;
            recovery.rebuilt_leaves = records - kept;
        }
        Ok((tree, recovery))
    }

    /// Discards every stored node and computes them again from the first `records` records
    /// of the log.
    pub(crate) fn rebuild(&mut self, log_path: &Path, records: u64) -> Result<(), EvidenceError> {
        self.buffer.clear();
        self.nodes
            .file
            .set_len(0)
            .map_err(EvidenceError::io("repair", &self.path))?;
        self.frontier = Frontier::default();
        let mut failure = None;
        for_each_leaf(log_path, 0, records, |leaf| {
            if failure.is_none() {
                failure = self.push(leaf).err();
            }
        })?;
        match failure {
            Some(error) => Err(error),
            None => self.flush(),
        }
    }

    /// Appends a leaf hash and the nodes it completes.
    pub(crate) fn push(&mut self, leaf: Hash) -> Result<(), EvidenceError> {
        let buffer = &mut self.buffer;
        self.frontier
            .push(leaf, |node| buffer.extend_from_slice(node));
        if self.buffer.len() >= WRITE_BUFFER {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the buffered nodes to the file, without syncing it.
    pub(crate) fn flush(&mut self) -> Result<(), EvidenceError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        self.nodes
            .file
            .write_all(&self.buffer)
            .map_err(EvidenceError::io("write", &self.path))?;
        self.buffer.clear();
        Ok(())
    }

    /// Returns the root of the whole tree.
    pub(crate) fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// Returns the number of leaves.
    pub(crate) fn leaves(&self) -> u64 {
        self.frontier.leaves()
    }

    /// Computes the root of the first `size` leaves from the nodes in the file. Flush first.
    pub(crate) fn stored_root(&self, size: u64) -> Result<Hash, EvidenceError> {
        self.nodes
            .root(size)
            .map_err(EvidenceError::io("read", &self.path))
    }
}

/// Returns the largest leaf count `n <= records` whose nodes fit in `nodes` stored nodes.
fn leaves_within(nodes: u64, records: u64) -> u64 {
    // `stored_nodes` grows with `n`, so a binary search finds the boundary.
    let (mut lo, mut hi) = (0u64, records);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if stored_nodes(mid) <= nodes {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

/// The nodes of the first leaves of a log, for reading proofs: from the tree file when it
/// holds them, otherwise computed in memory from the log.
#[derive(Debug)]
pub(crate) enum TreeSource {
    File(FileNodes),
    Memory(MemoryNodes),
}

impl TreeSource {
    /// Opens the nodes of the first `size` records of the log in `dir`. A tree file shorter
    /// than that, or none at all, as in a log written before the tree existed, is replaced by
    /// a tree computed from the log in memory.
    pub(crate) fn open(dir: &Path, log_path: &Path, size: u64) -> Result<Self, EvidenceError> {
        let path = dir.join(TREE_FILE);
        if let Ok(file) = File::open(&path) {
            let len = file
                .metadata()
                .map_err(EvidenceError::io("read", &path))?
                .len();
            if len >= stored_nodes(size) * NODE {
                return Ok(TreeSource::File(FileNodes { file }));
            }
        }
        TreeSource::from_log(log_path, size)
    }

    /// Computes the nodes of the first `size` records of the log in memory.
    pub(crate) fn from_log(log_path: &Path, size: u64) -> Result<Self, EvidenceError> {
        let mut nodes = MemoryNodes::default();
        for_each_leaf(log_path, 0, size, |leaf| nodes.push(leaf))?;
        if nodes.leaves() < size {
            return Err(EvidenceError::DamagedRecord {
                path: log_path.to_path_buf(),
                line: nodes.leaves() + 1,
                reason: format!("the log ends before record {size}"),
            });
        }
        Ok(TreeSource::Memory(nodes))
    }

    /// Returns whether the nodes come from the tree file.
    pub(crate) fn is_file(&self) -> bool {
        matches!(self, TreeSource::File(_))
    }
}

impl Nodes for TreeSource {
    fn node(&self, level: u32, index: u64) -> io::Result<Hash> {
        match self {
            TreeSource::File(nodes) => nodes.node(level, index),
            TreeSource::Memory(nodes) => nodes.node(level, index),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn leaves_within_finds_boundary() {
        assert_eq!(leaves_within(0, 10), 0);
        assert_eq!(leaves_within(1, 10), 1);
        // Two leaves need three nodes: two leaves and their parent.
        assert_eq!(leaves_within(2, 10), 1);
        assert_eq!(leaves_within(3, 10), 2);
        assert_eq!(leaves_within(stored_nodes(1000), 5000), 1000);
        // Leaf 1001 completes no parent, leaf 1002 completes one: a file one node short of
        // 1002 leaves holds 1001.
        assert_eq!(leaves_within(stored_nodes(1000) + 1, 5000), 1001);
        assert_eq!(leaves_within(stored_nodes(1002) - 1, 5000), 1001);
        assert_eq!(leaves_within(stored_nodes(1000), 700), 700);
    }
}
