//! Message numbers per ordered link: the `n` of "the `n`-th message `from`
//! handed to the network for `to`", which picks that message's draws
//! ([`crate::rng::LinkDraws`]).
//!
//! One small hash map per sender, from receiver to the next number: 8 bytes
//! an entry plus hashbrown's control byte and spare capacity, about 2.3 KB
//! for a node that has sent to 200 others (a Kademlia node), 23 MB for
//! 10,000 such nodes. (One map keyed by the whole link would take 16 bytes
//! an entry, about 70 MB at two million links.) The maps are only looked
//! up, never iterated, so their order never reaches results.

use crate::NodeIndex;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// The next message number of every ordered link that has carried a
/// message.
#[derive(Default)]
pub(super) struct MessageNumbers {
    /// By sender: receiver → number of the receiver's next message.
    next: Vec<HashMap<NodeIndex, u32, BuildHasherDefault<IndexHasher>>>,
}

impl MessageNumbers {
    /// Makes room for one more sender.
    pub(super) fn add_node(&mut self) {
        self.next.push(HashMap::default());
    }

    /// Numbers the next message from `from` to `to`: 0, 1, 2, ... per link
    /// (wrapping after 2^32 messages on one link).
    pub(super) fn take(&mut self, from: NodeIndex, to: NodeIndex) -> u32 {
        let next = self.next[from as usize].entry(to).or_insert(0);
        let n = *next;
        *next = n.wrapping_add(1);
        n
    }
}

impl std::fmt::Debug for MessageNumbers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let links: usize = self.next.iter().map(HashMap::len).sum();
        write!(f, "MessageNumbers({links} links)")
    }
}

/// Hashes a node index with one multiplication by 2^64 / golden ratio
/// (Fibonacci hashing): the low bits, which pick the bucket, are a
/// bijection of the index's low bits, and the high bits, which hashbrown
/// compares first, mix all of them. Not randomized, which is safe since the
/// maps are never iterated (and their keys come from the simulation, not
/// from an adversary).
#[derive(Default)]
struct IndexHasher(u64);

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

impl Hasher for IndexHasher {
    fn write_u32(&mut self, x: u32) {
        self.0 = (self.0 ^ u64::from(x)).wrapping_mul(GOLDEN);
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(GOLDEN);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_ordered_link_counts_from_zero() {
        let mut numbers = MessageNumbers::default();
        for _ in 0..3 {
            numbers.add_node();
        }
        assert_eq!([numbers.take(0, 1), numbers.take(0, 1), numbers.take(1, 0), numbers.take(0, 2)], [0, 1, 0, 0]);
        assert_eq!(numbers.take(0, 1), 2);
        assert_eq!(format!("{numbers:?}"), "MessageNumbers(3 links)");
    }
}
