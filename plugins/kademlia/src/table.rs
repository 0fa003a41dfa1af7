//! The routing table: k-buckets of contacts in least-recently-seen order.

use peershare_sdk::{Contact, NodeIndex, id};

/// A known peer and when it was last heard from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its address and id.
    pub contact: Contact,
    /// Virtual time it was last heard from (ns).
    pub last_seen: u64,
    /// RPCs to it that timed out since it was last heard from.
    pub failures: u32,
}

/// What happened when a peer was heard from.
pub enum Seen {
    /// It was known, or new with room in its bucket, or it is this node.
    Kept,
    /// It was new, its bucket is full and no eviction is pending: ping the
    /// bucket's least-recently-seen contact, then evict it if it is gone.
    BucketFull { bucket: usize, oldest: Contact },
    /// It was new, its bucket is full and an eviction is already pending.
    Ignored,
}

/// k-buckets indexed by the position of the highest differing bit.
pub struct RoutingTable {
    own: Vec<u8>,
    bits: u32,
    k: usize,
    buckets: Vec<Vec<Entry>>,
    /// Per bucket: the newcomer waiting for the oldest contact's ping.
    waiting: Vec<Option<Entry>>,
}

impl RoutingTable {
    pub fn new(own: Vec<u8>, bits: u32, k: usize) -> Self {
        RoutingTable { own, bits, k, buckets: vec![Vec::new(); bits as usize], waiting: vec![None; bits as usize] }
    }

    /// The bucket `id` belongs in: the position of the highest bit in which
    /// it differs from this node's id, 0 for the least significant of the
    /// `bits`. `None` for this node's own id.
    pub fn bucket_of(&self, id: &[u8]) -> Option<usize> {
        let common = id::common_prefix_bits(&self.own, id, self.bits);
        (common < self.bits).then(|| (self.bits - 1 - common) as usize)
    }

    /// Records that `contact` was heard from at `now`.
    pub fn seen(&mut self, contact: Contact, now: u64) -> Seen {
        let Some(b) = self.bucket_of(&contact.id) else { return Seen::Kept };
        let bucket = &mut self.buckets[b];
        if let Some(pos) = bucket.iter().position(|e| e.contact.node == contact.node) {
            bucket.remove(pos);
            bucket.push(Entry { contact, last_seen: now, failures: 0 });
            return Seen::Kept;
        }
        if bucket.len() < self.k {
            bucket.push(Entry { contact, last_seen: now, failures: 0 });
            return Seen::Kept;
        }
        if self.waiting[b].is_some() {
            return Seen::Ignored;
        }
        self.waiting[b] = Some(Entry { contact, last_seen: now, failures: 0 });
        Seen::BucketFull { bucket: b, oldest: bucket[0].contact.clone() }
    }

    /// The oldest contact of `bucket` answered: keep it, drop the newcomer.
    pub fn eviction_cancelled(&mut self, bucket: usize) {
        self.waiting[bucket] = None;
    }

    /// The oldest contact of `bucket` did not answer: replace it with the
    /// newcomer.
    pub fn evict(&mut self, bucket: usize, node: NodeIndex) {
        let newcomer = self.waiting[bucket].take();
        let b = &mut self.buckets[bucket];
        b.retain(|e| e.contact.node != node);
        if let Some(e) = newcomer
            && b.len() < self.k
            && !b.iter().any(|x| x.contact.node == e.contact.node)
        {
            b.push(e);
        }
    }

    /// Counts an RPC to `contact` that timed out, and forgets the contact
    /// once `max_failures` have timed out in a row (the paper suggests 5: a
    /// lost message is no reason to forget a live node).
    pub fn failed(&mut self, contact: &Contact, max_failures: u32) {
        let Some(b) = self.bucket_of(&contact.id) else { return };
        let bucket = &mut self.buckets[b];
        if let Some(pos) = bucket.iter().position(|e| e.contact.node == contact.node) {
            bucket[pos].failures += 1;
            if bucket[pos].failures >= max_failures {
                bucket.remove(pos);
            }
        }
    }

    /// Up to `n` known contacts closest to `target`, closest first.
    ///
    /// With `b` the bucket of `target` itself, the XOR metric orders whole
    /// buckets: contacts in bucket `b` are closest, then those of every
    /// bucket below `b` (all at the same top bit), then buckets `b + 1`,
    /// `b + 2`, ... So only the groups needed are gathered and sorted.
    pub fn closest(&self, target: &[u8], n: usize, except: Option<NodeIndex>) -> Vec<Contact> {
        let keep = |e: &&Entry| Some(e.contact.node) != except;
        let mut groups: Vec<Vec<&Entry>> = Vec::new();
        match self.bucket_of(target) {
            Some(b) => {
                groups.push(self.buckets[b].iter().filter(keep).collect());
                groups.push(self.buckets[..b].iter().flatten().filter(keep).collect());
                groups.extend(self.buckets[b + 1..].iter().map(|bucket| bucket.iter().filter(keep).collect()));
            }
            None => groups.extend(self.buckets.iter().map(|bucket| bucket.iter().filter(keep).collect())),
        }
        let mut out = Vec::with_capacity(n);
        for mut group in groups {
            if out.len() >= n {
                break;
            }
            group.sort_by(|a, b| id::cmp_xor_distance(target, &a.contact.id, &b.contact.id).then(a.contact.node.cmp(&b.contact.node)));
            out.extend(group.into_iter().take(n - out.len()).map(|e| e.contact.clone()));
        }
        out
    }

    /// Index of the lowest non-empty bucket (the closest neighbour's).
    pub fn closest_bucket(&self) -> Option<usize> {
        self.buckets.iter().position(|b| !b.is_empty())
    }

    pub fn buckets(&self) -> &[Vec<Entry>] {
        &self.buckets
    }

    /// A random id that falls in `bucket`: the bucket's bit flipped from
    /// this node's id, the bits above it equal, the bits below random.
    pub fn random_in_bucket(&self, bucket: usize, mut random: impl FnMut() -> u64) -> Vec<u8> {
        let total = self.own.len() * 8;
        let mut d: Vec<u8> = (0..self.own.len()).map(|_| random() as u8).collect();
        // Clear every bit above `bucket`, set the bit `bucket` itself.
        for bit in bucket + 1..total {
            let from_top = total - 1 - bit;
            d[from_top / 8] &= !(0x80 >> (from_top % 8));
        }
        let from_top = total - 1 - bucket;
        d[from_top / 8] |= 0x80 >> (from_top % 8);
        id::xor(&self.own, &d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(node: NodeIndex, id: u8) -> Contact {
        Contact::new(node, vec![id])
    }

    #[test]
    fn buckets_are_the_highest_differing_bit() {
        let t = RoutingTable::new(vec![0b0000_0000], 8, 2);
        assert_eq!(t.bucket_of(&[0b1000_0000]), Some(7));
        assert_eq!(t.bucket_of(&[0b0000_0011]), Some(1));
        assert_eq!(t.bucket_of(&[0]), None);
        let r = t.random_in_bucket(5, || 0xFF);
        assert_eq!(t.bucket_of(&r), Some(5));
    }

    #[test]
    fn a_full_bucket_asks_for_a_ping_and_contacts_go_after_max_failures() {
        let mut t = RoutingTable::new(vec![0], 8, 2);
        assert!(matches!(t.seen(c(1, 0x80), 1), Seen::Kept));
        assert!(matches!(t.seen(c(2, 0x81), 2), Seen::Kept));
        assert!(matches!(t.seen(c(3, 0x82), 3), Seen::BucketFull { bucket: 7, ref oldest } if oldest.node == 1));
        assert!(matches!(t.seen(c(4, 0x83), 4), Seen::Ignored), "one eviction at a time");
        t.evict(7, 1);
        assert_eq!(t.closest(&[0x80], 5, None).iter().map(|c| c.node).collect::<Vec<_>>(), [2, 3]);
        t.failed(&c(2, 0x81), 3);
        t.failed(&c(2, 0x81), 3);
        assert_eq!(t.buckets()[7].len(), 2, "two timeouts are not enough");
        t.seen(c(2, 0x81), 5);
        t.failed(&c(2, 0x81), 3);
        t.failed(&c(2, 0x81), 3);
        assert_eq!(t.buckets()[7].len(), 2, "hearing from it reset the count");
        t.failed(&c(2, 0x81), 3);
        assert_eq!(t.closest(&[0x80], 5, None).iter().map(|c| c.node).collect::<Vec<_>>(), [3]);
    }
}
