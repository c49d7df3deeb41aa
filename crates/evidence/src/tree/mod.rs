//! The Merkle tree over the log's records, as RFC 9162 (Certificate Transparency 2.0),
//! section 2.1, defines it.
//!
//! Leaf `i` (0-based) is the record with seq `i + 1`, and its hash is the record's leaf hash,
//! SHA-256(0x00 ‖ body bytes). An interior node is SHA-256(0x01 ‖ left ‖ right). A tree of `n`
//! leaves splits at the largest power of two smaller than `n`, so every left subtree is a
//! perfect binary tree.
//!
//! The file `evidence/tree.bin` ([`file`]) stores every node of every perfect subtree, 32 bytes
//! each, in the order the nodes are completed as leaves are appended (post-order). With it,
//! the root of any prefix of the log and the proofs for it take O(log² n) node reads, not a
//! pass over the log.

pub(crate) mod file;

use crate::log::Hash;
use sha2::{Digest, Sha256};
use std::io;

/// Computes the hash of an interior node from its two children.
pub(crate) fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Sha256::new()
        .chain_update([0x01])
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

/// The hash of the empty tree: SHA-256 of the empty string.
pub(crate) fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Returns how many nodes the post-order layout holds for a tree of `leaves` leaves: every
/// leaf, plus one node per completed perfect subtree of two or more leaves.
pub(crate) fn stored_nodes(leaves: u64) -> u64 {
    (2 * leaves).saturating_sub(u64::from(leaves.count_ones()))
}

/// Returns the position in the post-order layout of the root of the perfect subtree of height
/// `level` whose leaves are `index · 2^level` up to `(index + 1) · 2^level - 1`.
///
/// That subtree is complete once its last leaf `last` is appended. Before `last`, the layout
/// holds `stored_nodes(last)` nodes, then `last` itself, then one new node per level up to
/// `level`.
pub(crate) fn node_position(level: u32, index: u64) -> u64 {
    let last = ((index + 1) << level) - 1;
    stored_nodes(last) + u64::from(level)
}

/// Returns the largest power of two smaller than `n`, for `n >= 2`: RFC 9162's split point.
fn split_point(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// Read access to the nodes of perfect subtrees.
pub(crate) trait Nodes {
    /// Returns the root of the perfect subtree of height `level` with index `index` at that
    /// height.
    fn node(&self, level: u32, index: u64) -> io::Result<Hash>;

    /// Computes the Merkle tree hash of leaves `lo` up to but excluding `hi` (`lo < hi`), a
    /// subtree that RFC 9162's recursion reaches.
    fn range_hash(&self, lo: u64, hi: u64) -> io::Result<Hash> {
        let size = hi - lo;
        if size.is_power_of_two() {
            let level = size.trailing_zeros();
            return self.node(level, lo >> level);
        }
        let k = split_point(size);
        let left = self.range_hash(lo, lo + k)?;
        let right = self.range_hash(lo + k, hi)?;
        Ok(node_hash(&left, &right))
    }

    /// Computes the root of the tree of the first `size` leaves.
    fn root(&self, size: u64) -> io::Result<Hash> {
        if size == 0 {
            return Ok(empty_root());
        }
        self.range_hash(0, size)
    }

    /// Computes the inclusion proof of leaf `index` in the tree of the first `size` leaves:
    /// RFC 9162's PATH, sibling hashes from the leaf up. Requires `index < size`.
    fn inclusion_path(&self, index: u64, size: u64) -> io::Result<Vec<Hash>> {
        let mut path = Vec::new();
        let (mut lo, mut hi, mut m) = (0, size, index);
        // Walk down from the root, remembering each sibling, then reverse into leaf-up order.
        while hi - lo > 1 {
            let k = split_point(hi - lo);
            if m < k {
                path.push(self.range_hash(lo + k, hi)?);
                hi = lo + k;
            } else {
                path.push(self.range_hash(lo, lo + k)?);
                lo += k;
                m -= k;
            }
        }
        path.reverse();
        Ok(path)
    }

    /// Computes the consistency proof between the trees of the first `old` and the first
    /// `new` leaves: RFC 9162's PROOF(m, D[n]), deepest hash first. Requires
    /// `0 < old <= new`; the proof is empty when they are equal.
    fn consistency_path(&self, old: u64, new: u64) -> io::Result<Vec<Hash>> {
        let mut proof = Vec::new();
        let (mut lo, mut hi, mut m, mut whole) = (0, new, old, true);
        loop {
            let size = hi - lo;
            if m == size {
                if !whole {
                    proof.push(self.range_hash(lo, hi)?);
                }
                break;
            }
            let k = split_point(size);
            if m <= k {
                proof.push(self.range_hash(lo + k, hi)?);
                hi = lo + k;
            } else {
                proof.push(self.range_hash(lo, lo + k)?);
                lo += k;
                m -= k;
                whole = false;
            }
        }
        proof.reverse();
        Ok(proof)
    }
}

/// All nodes of a tree in memory, in the post-order layout. Used when `tree.bin` is missing
/// or behind, as for logs written before the tree existed.
#[derive(Debug, Default)]
pub(crate) struct MemoryNodes {
    nodes: Vec<Hash>,
    frontier: Frontier,
}

impl MemoryNodes {
    /// Appends a leaf hash and the nodes it completes.
    pub(crate) fn push(&mut self, leaf: Hash) {
        let nodes = &mut self.nodes;
        self.frontier.push(leaf, |node| nodes.push(*node));
    }

    /// Returns the number of leaves.
    pub(crate) fn leaves(&self) -> u64 {
        self.frontier.leaves
    }
}

impl Nodes for MemoryNodes {
    fn node(&self, level: u32, index: u64) -> io::Result<Hash> {
        usize::try_from(node_position(level, index))
            .ok()
            .and_then(|position| self.nodes.get(position))
            .copied()
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "tree node out of range"))
    }
}

/// The right edge of a growing tree: the roots of the perfect subtrees that make up its
/// leaves, largest first. It holds at most 64 hashes, and with it the root and the next nodes
/// are computed without reading any stored node.
#[derive(Clone, Debug, Default)]
pub(crate) struct Frontier {
    leaves: u64,
    /// `(level, hash)` of each perfect subtree, from the left.
    subtrees: Vec<(u32, Hash)>,
}

impl Frontier {
    /// Loads the frontier of the tree of the first `leaves` leaves from stored nodes.
    pub(crate) fn load(nodes: &impl Nodes, leaves: u64) -> io::Result<Frontier> {
        let mut subtrees = Vec::new();
        let mut start = 0u64;
        for level in (0..64u32).rev() {
            if leaves & (1 << level) != 0 {
                subtrees.push((level, nodes.node(level, start >> level)?));
                start += 1 << level;
            }
        }
        Ok(Frontier { leaves, subtrees })
    }

    /// Returns the number of leaves.
    pub(crate) fn leaves(&self) -> u64 {
        self.leaves
    }

    /// Appends a leaf, calling `stored` with the leaf hash and then with each node the leaf
    /// completes, in the post-order layout's order.
    pub(crate) fn push(&mut self, leaf: Hash, mut stored: impl FnMut(&Hash)) {
        stored(&leaf);
        let mut level = 0u32;
        let mut hash = leaf;
        while let Some((top_level, top)) = self.subtrees.last() {
            if *top_level != level {
                break;
            }
            hash = node_hash(top, &hash);
            level += 1;
            self.subtrees.pop();
            stored(&hash);
        }
        self.subtrees.push((level, hash));
        self.leaves += 1;
    }

    /// Computes the root of the tree: the subtrees folded from the right.
    pub(crate) fn root(&self) -> Hash {
        let mut subtrees = self.subtrees.iter().rev();
        let Some((_, last)) = subtrees.next() else {
            return empty_root();
        };
        subtrees.fold(*last, |right, (_, left)| node_hash(left, &right))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::log::leaf_hash;

    /// The Merkle tree hash as RFC 9162 section 2.1.1 defines it, computed directly.
    fn reference_root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
            }
        }
    }

    fn tree_of(count: u64) -> (MemoryNodes, Vec<Hash>) {
        let mut tree = MemoryNodes::default();
        let mut leaves = Vec::new();
        for i in 0..count {
            let leaf = leaf_hash(format!("{{\"n\":{i}}}").as_bytes());
            tree.push(leaf);
            leaves.push(leaf);
        }
        (tree, leaves)
    }

    #[test]
    fn layout_positions_match_push_order() {
        let (tree, _) = tree_of(37);
        assert_eq!(tree.nodes.len() as u64, stored_nodes(37));
        assert_eq!(node_position(0, 0), 0);
        assert_eq!(node_position(0, 1), 1);
        assert_eq!(node_position(1, 0), 2);
        assert_eq!(node_position(0, 2), 3);
        assert_eq!(node_position(2, 0), 6);
        assert_eq!(node_position(5, 0), stored_nodes(31) + 5);
    }

    #[test]
    fn roots_match_reference_definition() {
        let (tree, leaves) = tree_of(70);
        for size in 0..=70u64 {
            let expected = reference_root(&leaves[..size as usize]);
            assert_eq!(tree.root(size).unwrap(), expected, "size {size}");
        }
        assert_eq!(tree.frontier.root(), reference_root(&leaves));
    }

    #[test]
    fn loaded_frontier_continues_tree() {
        let (tree, leaves) = tree_of(45);
        let frontier = Frontier::load(&tree, 45).unwrap();
        assert_eq!(frontier.leaves(), 45);
        assert_eq!(frontier.root(), reference_root(&leaves));
    }

    #[test]
    fn empty_root_is_hash_of_nothing() {
        // RFC 9162 section 2.1.1: MTH({}) = SHA-256().
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn split_point_is_largest_smaller_power() {
        assert_eq!(split_point(2), 1);
        assert_eq!(split_point(3), 2);
        assert_eq!(split_point(4), 2);
        assert_eq!(split_point(5), 4);
        assert_eq!(split_point(1 << 40), 1 << 39);
    }
}
