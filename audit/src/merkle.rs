//! RFC 6962 / RFC 9162 Merkle tree hashing, proofs and their verification.
//!
//! Leaves are `SHA-256(0x00 ‖ entry)` and interior nodes `SHA-256(0x01 ‖ left ‖ right)`; the
//! prefixes stop a leaf from posing as a node. The audit log never stores the tree: roots and
//! proofs are recomputed by streaming leaf hashes in order, which needs O(log n) memory per
//! subtree (see [`CompactRange`] and [`RangeRoots`]).

use sha2::{Digest, Sha256};
use std::ops::Range;

#[cfg(test)]
mod tests;

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// Why a Merkle proof was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProofError {
    /// The leaf index is not inside the tree.
    #[error("leaf index `{index}` is outside a tree of size `{size}`")]
    IndexOutOfRange {
        /// The claimed leaf index.
        index: u64,
        /// The claimed tree size.
        size: u64,
    },
    /// The proof has the wrong number of hashes for the claimed sizes.
    #[error("proof has `{got}` hashes where `{want}` were expected")]
    WrongLength {
        /// Hashes supplied.
        got: usize,
        /// Hashes the sizes call for.
        want: usize,
    },
    /// The second tree is smaller than the first.
    #[error("tree size `{size2}` is smaller than `{size1}`")]
    Shrunk {
        /// The earlier size.
        size1: u64,
        /// The later size.
        size2: u64,
    },
    /// A consistency proof from the empty tree proves nothing, so it is never accepted.
    #[error("consistency from the empty tree proves nothing")]
    EmptyTree,
    /// A hash in the proof, or a root or leaf hash, is not 32 bytes long.
    #[error("a hash is not 32 bytes long")]
    HashSize,
    /// The proof recomputes to a different root.
    #[error("proof does not lead to the expected root")]
    RootMismatch,
}

/// `SHA-256(0x00 ‖ parts…)`: the hash of a leaf whose entry is the concatenation of `parts`.
pub fn leaf_hash(parts: &[&[u8]]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    for part in parts {
        h.update(part);
    }
    h.finalize().into()
}

/// `SHA-256(0x01 ‖ left ‖ right)`: the hash of an interior node.
pub fn node_hash(left: &[u8], right: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree, `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Verifies that `leaf` is the leaf at `index` of the tree of `size` leaves with `root`.
///
/// # Errors
///
/// A [`ProofError`] saying why the proof does not hold.
pub fn verify_inclusion(index: u64, size: u64, leaf: &[u8], proof: &[Vec<u8>], root: &[u8]) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    check_sizes(&[leaf, root], proof)?;
    let (inner, border) = decompose_inclusion(index, size);
    if proof.len() != inner + border {
        return Err(ProofError::WrongLength { got: proof.len(), want: inner + border });
    }
    let hash = chain_inner(leaf.to_vec(), &proof[..inner], index);
    let hash = chain_border_right(hash, &proof[inner..]);
    if hash != root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Verifies that the tree of `size2` leaves with `root2` extends the tree of `size1` leaves with
/// `root1` (RFC 9162 §2.1.4.2).
///
/// # Errors
///
/// A [`ProofError`] saying why the proof does not hold.
pub fn verify_consistency(size1: u64, size2: u64, proof: &[Vec<u8>], root1: &[u8], root2: &[u8]) -> Result<(), ProofError> {
    if size2 < size1 {
        return Err(ProofError::Shrunk { size1, size2 });
    }
    if size1 == 0 {
        return Err(ProofError::EmptyTree);
    }
    check_sizes(&[], proof)?;
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength { got: proof.len(), want: 0 });
        }
        if root1 != root2 {
            return Err(ProofError::RootMismatch);
        }
        return Ok(());
    }
    if proof.is_empty() {
        return Err(ProofError::WrongLength { got: 0, want: 1 });
    }
    let (inner, border) = decompose_inclusion(size1 - 1, size2);
    let shift = size1.trailing_zeros() as usize;
    let inner = inner.saturating_sub(shift);
    // The proof starts with the root of the subtree of size 2^shift, unless size1 is that very
    // subtree, whose root the verifier already holds.
    let (seed, start) = if size1 == 1 << shift { (root1.to_vec(), 0) } else { (proof[0].clone(), 1) };
    let want = start + inner + border;
    if proof.len() != want {
        return Err(ProofError::WrongLength { got: proof.len(), want });
    }
    let proof = &proof[start..];
    let mask = (size1 - 1) >> shift;
    let hash1 = chain_inner_right(seed.clone(), &proof[..inner], mask);
    let hash1 = chain_border_right(hash1, &proof[inner..]);
    if hash1 != root1 {
        return Err(ProofError::RootMismatch);
    }
    let hash2 = chain_inner(seed, &proof[..inner], mask);
    let hash2 = chain_border_right(hash2, &proof[inner..]);
    if hash2 != root2 {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

fn check_sizes(hashes: &[&[u8]], proof: &[Vec<u8>]) -> Result<(), ProofError> {
    if hashes.iter().all(|h| h.len() == 32) && proof.iter().all(|h| h.len() == 32) { Ok(()) } else { Err(ProofError::HashSize) }
}

/// Splits an inclusion proof's length into the levels below and above the point where the
/// path to `index` leaves the perfect part of the tree.
fn decompose_inclusion(index: u64, size: u64) -> (usize, usize) {
    let inner = (64 - (index ^ (size - 1)).leading_zeros()) as usize;
    let border = (index >> inner).count_ones() as usize;
    (inner, border)
}

fn chain_inner(mut seed: Vec<u8>, proof: &[Vec<u8>], index: u64) -> Vec<u8> {
    for (i, h) in proof.iter().enumerate() {
        seed = if (index >> i) & 1 == 0 { node_hash(&seed, h) } else { node_hash(h, &seed) }.to_vec();
    }
    seed
}

fn chain_inner_right(mut seed: Vec<u8>, proof: &[Vec<u8>], index: u64) -> Vec<u8> {
    for (i, h) in proof.iter().enumerate() {
        if (index >> i) & 1 == 1 {
            seed = node_hash(h, &seed).to_vec();
        }
    }
    seed
}

fn chain_border_right(mut seed: Vec<u8>, proof: &[Vec<u8>]) -> Vec<u8> {
    for h in proof {
        seed = node_hash(h, &seed).to_vec();
    }
    seed
}

/// The largest power of two strictly smaller than `n` (`n` ≥ 2).
fn split_point(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// The leaf ranges whose subtree roots make up the inclusion proof of leaf `index` in a tree of
/// `size` leaves, in proof order (RFC 9162 §2.1.3.1). Empty when `index >= size`.
pub fn inclusion_ranges(index: u64, size: u64) -> Vec<Range<u64>> {
    let mut out = Vec::new();
    if index < size {
        path(index, 0..size, &mut out);
    }
    out
}

fn path(m: u64, d: Range<u64>, out: &mut Vec<Range<u64>>) {
    let n = d.end - d.start;
    if n <= 1 {
        return;
    }
    let k = split_point(n);
    if m < k {
        path(m, d.start..d.start + k, out);
        out.push(d.start + k..d.end);
    } else {
        path(m - k, d.start + k..d.end, out);
        out.push(d.start..d.start + k);
    }
}

/// The leaf ranges whose subtree roots make up the consistency proof from `size1` to `size2`,
/// in proof order (RFC 9162 §2.1.4.1). Empty when `size1` is 0 or not below `size2`.
pub fn consistency_ranges(size1: u64, size2: u64) -> Vec<Range<u64>> {
    let mut out = Vec::new();
    if 0 < size1 && size1 < size2 {
        subproof(size1, 0..size2, true, &mut out);
    }
    out
}

fn subproof(m: u64, d: Range<u64>, whole: bool, out: &mut Vec<Range<u64>>) {
    let n = d.end - d.start;
    if m == n {
        if !whole {
            out.push(d);
        }
        return;
    }
    let k = split_point(n);
    if m <= k {
        subproof(m, d.start..d.start + k, whole, out);
        out.push(d.start + k..d.end);
    } else {
        subproof(m - k, d.start + k..d.end, false, out);
        out.push(d.start..d.start + k);
    }
}

/// Incremental Merkle tree hash over leaves appended in order, in O(log n) memory.
#[derive(Debug, Clone, Default)]
pub struct CompactRange {
    /// Roots of perfect subtrees, largest first, each with its height.
    stack: Vec<(u32, Hash)>,
    size: u64,
}

impl CompactRange {
    /// An empty range.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of leaves appended.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends the next leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut node = (0, leaf);
        while let Some(&(height, left)) = self.stack.last() {
            if height != node.0 {
                break;
            }
            self.stack.pop();
            node = (height + 1, node_hash(&left, &node.1));
        }
        self.stack.push(node);
        self.size += 1;
    }

    /// The frontier: the roots of the perfect subtrees, largest first, concatenated. With the
    /// size it is all that is needed to carry on (see [`CompactRange::from_frontier`]).
    pub fn frontier(&self) -> Vec<u8> {
        self.stack.iter().flat_map(|(_, h)| h.iter().copied()).collect()
    }

    /// Rebuilds a range of `size` leaves from its [`CompactRange::frontier`]; `None` when the
    /// frontier's length does not fit the size.
    pub fn from_frontier(size: u64, frontier: &[u8]) -> Option<Self> {
        if frontier.len() != size.count_ones() as usize * 32 {
            return None;
        }
        let heights = (0..64u32).rev().filter(|h| size >> h & 1 == 1);
        let stack =
            heights.zip(frontier.chunks_exact(32)).map(|(h, chunk)| Some((h, Hash::try_from(chunk).ok()?))).collect::<Option<Vec<_>>>()?;
        Some(Self { stack, size })
    }

    /// The Merkle tree hash of the leaves appended so far (the empty root when none).
    pub fn root(&self) -> Hash {
        let mut iter = self.stack.iter().rev();
        let Some(&(_, mut acc)) = iter.next() else {
            return empty_root();
        };
        for (_, left) in iter {
            acc = node_hash(left, &acc);
        }
        acc
    }
}

/// Computes the roots of several disjoint leaf ranges from one in-order pass over the leaves.
#[derive(Debug)]
pub struct RangeRoots {
    /// `(range, position in the caller's list)`, sorted by range start.
    ranges: Vec<(Range<u64>, usize)>,
    hashers: Vec<CompactRange>,
    cursor: usize,
    next: u64,
}

impl RangeRoots {
    /// Prepares to compute the roots of `ranges` (which must not overlap).
    pub fn new(ranges: &[Range<u64>]) -> Self {
        let mut sorted: Vec<(Range<u64>, usize)> = ranges.iter().cloned().enumerate().map(|(i, r)| (r, i)).collect();
        sorted.sort_by_key(|(r, _)| r.start);
        Self { hashers: vec![CompactRange::new(); sorted.len()], ranges: sorted, cursor: 0, next: 0 }
    }

    /// Leaves past this index are not needed.
    pub fn end(&self) -> u64 {
        self.ranges.iter().map(|(r, _)| r.end).max().unwrap_or(0)
    }

    /// Feeds the leaf hash of the next index (indices start at 0 and must come in order).
    pub fn push(&mut self, leaf: Hash) {
        let index = self.next;
        self.next += 1;
        while self.cursor < self.ranges.len() && self.ranges[self.cursor].0.end <= index {
            self.cursor += 1;
        }
        if let Some((range, _)) = self.ranges.get(self.cursor)
            && range.contains(&index)
        {
            self.hashers[self.cursor].push(leaf);
        }
    }

    /// The roots, in the order the ranges were given.
    pub fn finish(self) -> Vec<Hash> {
        let mut out = vec![[0u8; 32]; self.hashers.len()];
        for (i, (_, slot)) in self.ranges.iter().enumerate() {
            out[*slot] = self.hashers[i].root();
        }
        out
    }
}
