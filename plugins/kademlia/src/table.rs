//! The routing table: k-buckets of contacts in least-recently-seen order.

use crate::id::{Id, bucket_index, cmp_distance, distance};

/// A known peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contact {
    /// Network address.
    pub index: u32,
    /// Identifier.
    pub id: Id,
    /// Virtual time it was last heard from (ns).
    pub last_seen: u64,
}

/// What happened when a peer was heard from.
pub enum Seen {
    /// It was known; it moved to the tail of its bucket.
    Refreshed,
    /// It was new and there was room.
    Inserted,
    /// It was new, its bucket is full and no eviction is pending: ping the
    /// bucket's least-recently-seen contact, then evict it if it is gone.
    BucketFull { bucket: usize, oldest: Contact },
    /// It was new, its bucket is full and an eviction is already pending.
    Ignored,
    /// It is this node itself.
    Own,
}

/// k-buckets indexed by the position of the highest differing bit.
pub struct RoutingTable {
    own: Id,
    bits: u32,
    k: usize,
    buckets: Vec<Vec<Contact>>,
    /// Per bucket: the newcomer waiting for the oldest contact's ping.
    waiting: Vec<Option<Contact>>,
}

impl RoutingTable {
    pub fn new(own: Id, bits: u32, k: usize) -> Self {
        RoutingTable { own, bits, k, buckets: vec![Vec::new(); bits as usize], waiting: vec![None; bits as usize] }
    }

    pub fn bucket_of(&self, id: &[u8]) -> Option<usize> {
        bucket_index(&distance(&self.own, id), self.bits)
    }

    /// Records that `index`/`id` was heard from at `now`.
    pub fn seen(&mut self, index: u32, id: &[u8], now: u64) -> Seen {
        let Some(b) = self.bucket_of(id) else { return Seen::Own };
        let bucket = &mut self.buckets[b];
        if let Some(pos) = bucket.iter().position(|c| c.index == index) {
            let mut c = bucket.remove(pos);
            c.last_seen = now;
            c.id = id.to_vec();
            bucket.push(c);
            return Seen::Refreshed;
        }
        let contact = Contact { index, id: id.to_vec(), last_seen: now };
        if bucket.len() < self.k {
            bucket.push(contact);
            return Seen::Inserted;
        }
        if self.waiting[b].is_some() {
            return Seen::Ignored;
        }
        self.waiting[b] = Some(contact);
        Seen::BucketFull { bucket: b, oldest: bucket[0].clone() }
    }

    /// The oldest contact of `bucket` answered: keep it, drop the newcomer.
    pub fn eviction_cancelled(&mut self, bucket: usize) {
        self.waiting[bucket] = None;
    }

    /// The oldest contact of `bucket` did not answer: replace it with the
    /// newcomer.
    pub fn evict(&mut self, bucket: usize, index: u32) {
        let newcomer = self.waiting[bucket].take();
        let b = &mut self.buckets[bucket];
        if let Some(pos) = b.iter().position(|c| c.index == index) {
            b.remove(pos);
        }
        if let Some(c) = newcomer
            && b.len() < self.k
            && !b.iter().any(|x| x.index == c.index)
        {
            b.push(c);
        }
    }

    /// Forgets a contact that failed to answer.
    pub fn remove(&mut self, index: u32, id: &[u8]) {
        if let Some(b) = self.bucket_of(id) {
            self.buckets[b].retain(|c| c.index != index);
        }
    }

    /// Up to `n` known contacts closest to `target`, closest first.
    ///
    /// With `b` the bucket of `target` itself, the XOR metric orders whole
    /// buckets: contacts in bucket `b` are closest, then those of every
    /// bucket below `b` (all at the same top bit), then buckets `b + 1`,
    /// `b + 2`, ... So only the groups needed are gathered and sorted.
    pub fn closest(&self, target: &[u8], n: usize, except: Option<u32>) -> Vec<Contact> {
        let keep = |c: &&Contact| Some(c.index) != except;
        let mut groups: Vec<Vec<&Contact>> = Vec::new();
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
            group.sort_by(|a, b| cmp_distance(target, &a.id, &b.id).then(a.index.cmp(&b.index)));
            out.extend(group.into_iter().take(n - out.len()).cloned());
        }
        out
    }

    /// Index of the lowest non-empty bucket (the closest neighbour's).
    pub fn closest_bucket(&self) -> Option<usize> {
        self.buckets.iter().position(|b| !b.is_empty())
    }

    pub fn buckets(&self) -> &[Vec<Contact>] {
        &self.buckets
    }
}
