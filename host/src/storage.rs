//! Durable storage: a key/value store per node that outlives crashes.
//!
//! A real machine loses its memory in a crash and keeps its disk. A node's
//! [`DurableStore`] models the disk: a crash that restarts the node from
//! scratch (a `crash` fault with `recovery = "lose-state"`, churn with
//! `keep_state = false`) keeps what was *durable* and loses every write
//! made since, exactly as a process that wrote without `fsync` does.
//! Reads always see every write, durable or not (the page cache).
//!
//! When a write becomes durable is the group's [`StoragePolicy`]:
//! - [`SyncMode::Explicit`] (the default): when the node syncs, after the
//!   disk's `sync_latency` of virtual time (0 by default: at once);
//! - [`SyncMode::Always`]: as it is written (a write-through disk);
//! - [`SyncMode::Never`]: never (a disk that acknowledges syncs and keeps
//!   nothing: what a missing `fsync` costs).
//!
//! A sync's completion reaches the peer as `on-timer(tag)` with the tag it
//! gave, once the writes are durable (in every mode: a lying disk
//! acknowledges too). A crash before then loses them.
//!
//! Everything here runs in virtual time from the node's own calls, so the
//! store is part of the run's determinism. Peers reach it through the WIT
//! interface `storage` (`peershare_sdk::Storage` in Rust) or, natively,
//! through [`crate::node::NodeContext`].
//!
//! ```
//! use peershare::storage::{DurableStore, StoragePolicy};
//! use peershare::time::SimTime;
//! let mut disk = DurableStore::default();
//! let policy = StoragePolicy::default();
//! disk.put(b"term".to_vec(), b"3".to_vec(), &policy);
//! disk.sync(SimTime::ZERO, &policy);
//! disk.put(b"vote".to_vec(), b"n2".to_vec(), &policy);
//! let lost = disk.crash(SimTime::ZERO);
//! assert_eq!(lost.writes, 1);
//! assert_eq!(disk.get(b"term"), Some(&b"3"[..]));
//! assert_eq!(disk.get(b"vote"), None);
//! ```

use crate::time::{SimDuration, SimTime};
use std::collections::{BTreeMap, VecDeque};

/// When writes become durable (a group's `storage.sync`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SyncMode {
    /// When the node syncs (after the disk's latency).
    #[default]
    Explicit,
    /// As they are written.
    Always,
    /// Never: syncs are acknowledged and do nothing.
    Never,
}

/// A group's storage settings, from the scenario's
/// `storage = { sync = "explicit", sync_latency = "2ms" }`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoragePolicy {
    /// When writes become durable.
    pub sync: SyncMode,
    /// How long a sync takes, in virtual time.
    pub sync_latency: SimDuration,
}

/// One write not yet durable.
#[derive(Clone, Debug, PartialEq)]
enum Write {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
}

impl Write {
    fn bytes(&self) -> u64 {
        match self {
            Write::Put(k, v) => (k.len() + v.len()) as u64,
            Write::Delete(k) => k.len() as u64,
        }
    }

    fn apply(self, map: &mut BTreeMap<Vec<u8>, Vec<u8>>) {
        match self {
            Write::Put(k, v) => {
                map.insert(k, v);
            }
            Write::Delete(k) => {
                map.remove(&k);
            }
        }
    }
}

/// What a crash took: the writes that were not durable yet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lost {
    /// How many writes (puts and deletes).
    pub writes: u64,
    /// Their keys' and values' bytes.
    pub bytes: u64,
}

/// A node's store as observers see it ([`crate::sim::Simulation::storage`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StorageView {
    /// What a crash now would leave.
    pub durable: BTreeMap<Vec<u8>, Vec<u8>>,
    /// What the node's reads see (every write, durable or not).
    pub visible: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Writes a crash now would lose.
    pub unsynced_writes: usize,
}

/// One node's disk: the durable contents, the writes since, and the syncs
/// under way.
#[derive(Clone, Debug, Default)]
pub struct DurableStore {
    /// What survives a crash (as of the last settled sync).
    durable: BTreeMap<Vec<u8>, Vec<u8>>,
    /// What reads see: the durable contents with every later write.
    current: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Writes not yet durable, oldest first, with their sequence numbers.
    pending: VecDeque<(u64, Write)>,
    /// Syncs under way: when they finish, and the last write they cover.
    syncs: VecDeque<(SimTime, u64)>,
    /// The next write's sequence number.
    next_write: u64,
    /// Bytes of keys and values in `current`.
    current_bytes: u64,
    /// Bytes of the writes in `pending`.
    pending_bytes: u64,
}

impl DurableStore {
    /// The value of `key` as reads see it (durable or not).
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.current.get(key).map(Vec::as_slice)
    }

    /// Every key that starts with `prefix`, in byte order, as reads see them.
    pub fn keys_with_prefix<'a>(&'a self, prefix: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.current.range(prefix.to_vec()..).map(|(k, _)| k.as_slice()).take_while(move |k| k.starts_with(prefix))
    }

    /// The bytes this store holds towards its quota: the contents reads see
    /// and the writes not yet durable (the durable copy is at most what
    /// those were, so the host holds at most three times the quota).
    pub fn held_bytes(&self) -> u64 {
        self.current_bytes + self.pending_bytes
    }

    /// At most the bytes a write of `key` and a value of `value_len` bytes
    /// would add to [`Self::held_bytes`].
    pub fn cost_of_put(&self, key: &[u8], value_len: usize) -> u64 {
        let write = (key.len() + value_len) as u64;
        let replaced = self.current.get(key).map_or(0, |old| (key.len() + old.len()) as u64);
        (write + write).saturating_sub(replaced)
    }

    /// Writes `value` under `key`, durable as `policy` says.
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>, policy: &StoragePolicy) {
        if let Some(old) = self.current.get(&key) {
            self.current_bytes -= (key.len() + old.len()) as u64;
        }
        self.current_bytes += (key.len() + value.len()) as u64;
        self.current.insert(key.clone(), value.clone());
        self.log(Write::Put(key, value), policy);
    }

    /// Removes `key`, durably as `policy` says.
    pub fn delete(&mut self, key: Vec<u8>, policy: &StoragePolicy) {
        if let Some(old) = self.current.remove(&key) {
            self.current_bytes -= (key.len() + old.len()) as u64;
            self.log(Write::Delete(key), policy);
        }
    }

    fn log(&mut self, write: Write, policy: &StoragePolicy) {
        if policy.sync == SyncMode::Always {
            write.apply(&mut self.durable);
            return;
        }
        self.pending_bytes += write.bytes();
        self.pending.push_back((self.next_write, write));
        self.next_write += 1;
    }

    /// Starts a sync at `now` of every write so far; returns the delay
    /// after which they are durable (when the peer is told).
    pub fn sync(&mut self, now: SimTime, policy: &StoragePolicy) -> SimDuration {
        if policy.sync == SyncMode::Explicit && self.next_write > 0 {
            self.syncs.push_back((now + policy.sync_latency, self.next_write - 1));
            self.settle(now);
        }
        policy.sync_latency
    }

    /// Makes durable the writes of every sync finished by `now`.
    pub fn settle(&mut self, now: SimTime) {
        while let Some(&(done, last)) = self.syncs.front() {
            if done > now {
                break;
            }
            self.syncs.pop_front();
            while self.pending.front().is_some_and(|(seq, _)| *seq <= last) {
                let (_, write) = self.pending.pop_front().expect("checked");
                self.pending_bytes -= write.bytes();
                write.apply(&mut self.durable);
            }
        }
    }

    /// The node crashed at `now` and loses its memory: syncs finished by
    /// then count, every later write is gone, and reads see the durable
    /// contents again.
    pub fn crash(&mut self, now: SimTime) -> Lost {
        self.settle(now);
        let lost = Lost { writes: self.pending.len() as u64, bytes: self.pending_bytes };
        self.pending.clear();
        self.syncs.clear();
        self.pending_bytes = 0;
        if lost.writes > 0 {
            self.current = self.durable.clone();
            self.current_bytes = self.current.iter().map(|(k, v)| (k.len() + v.len()) as u64).sum();
        }
        lost
    }

    /// The store as an observer sees it at `now`: syncs finished by then
    /// count as durable.
    pub fn view(&self, now: SimTime) -> StorageView {
        let mut settled = self.clone();
        settled.settle(now);
        StorageView { unsynced_writes: settled.pending.len(), durable: settled.durable, visible: self.current.clone() }
    }

    /// Whether the store holds nothing at all.
    pub fn is_empty(&self) -> bool {
        self.current.is_empty() && self.durable.is_empty() && self.pending.is_empty()
    }
}

/// A node's disk as its context holds it: the group's policy and the
/// store, made on the first write. It moves to the node's next incarnation
/// when the node restarts from scratch.
#[derive(Clone, Debug, Default)]
pub struct Disk {
    /// When writes become durable.
    pub policy: StoragePolicy,
    store: Option<Box<DurableStore>>,
}

impl Disk {
    /// An empty disk under `policy`.
    pub fn new(policy: StoragePolicy) -> Self {
        Disk { policy, store: None }
    }

    /// The store, if anything was ever written.
    pub fn store(&self) -> Option<&DurableStore> {
        self.store.as_deref()
    }

    /// The store, to change, if anything was ever written.
    pub fn existing_mut(&mut self) -> Option<&mut DurableStore> {
        self.store.as_deref_mut()
    }

    /// The store, made empty if there was none.
    pub fn store_mut(&mut self) -> &mut DurableStore {
        self.store.get_or_insert_default()
    }

    /// Settles finished syncs at `now` (cheap when none are under way).
    pub fn settle(&mut self, now: SimTime) {
        if let Some(store) = &mut self.store {
            store.settle(now);
        }
    }

    /// The node lost its memory at `now`: see [`DurableStore::crash`].
    pub fn crash(&mut self, now: SimTime) -> Lost {
        self.store.as_mut().map(|s| s.crash(now)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_millis(ms)
    }

    fn policy(sync: SyncMode, latency_ms: u64) -> StoragePolicy {
        StoragePolicy { sync, sync_latency: SimDuration::from_millis(latency_ms) }
    }

    fn contents(map: &BTreeMap<Vec<u8>, Vec<u8>>) -> Vec<(String, String)> {
        map.iter().map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), String::from_utf8_lossy(v).into_owned())).collect()
    }

    #[test]
    fn a_crash_loses_exactly_the_writes_after_the_last_finished_sync() {
        let p = policy(SyncMode::Explicit, 5);
        let mut s = DurableStore::default();
        s.put(b"a".to_vec(), b"1".to_vec(), &p);
        s.put(b"b".to_vec(), b"1".to_vec(), &p);
        assert_eq!(s.sync(at(0), &p), SimDuration::from_millis(5));
        s.put(b"a".to_vec(), b"2".to_vec(), &p);
        s.delete(b"b".to_vec(), &p);
        assert_eq!(s.get(b"a"), Some(&b"2"[..]), "reads see unsynced writes");
        assert_eq!(s.get(b"b"), None);
        assert_eq!(s.view(at(4)).unsynced_writes, 4, "the sync is not finished at 4 ms");
        assert_eq!(s.view(at(5)).unsynced_writes, 2);
        assert_eq!(contents(&s.view(at(5)).durable), [("a".into(), "1".into()), ("b".into(), "1".into())]);
        let lost = s.crash(at(7));
        assert_eq!(lost, Lost { writes: 2, bytes: 3 });
        assert_eq!((s.get(b"a"), s.get(b"b")), (Some(&b"1"[..]), Some(&b"1"[..])));
        assert_eq!(s.held_bytes(), 4);
    }

    #[test]
    fn a_crash_during_a_sync_loses_what_it_covered() {
        let p = policy(SyncMode::Explicit, 5);
        let mut s = DurableStore::default();
        s.put(b"k".to_vec(), b"v".to_vec(), &p);
        s.sync(at(10), &p);
        assert_eq!(s.crash(at(14)).writes, 1);
        assert!(s.is_empty());
    }

    #[test]
    fn always_is_durable_at_once_and_never_is_never() {
        let mut s = DurableStore::default();
        s.put(b"k".to_vec(), b"v".to_vec(), &policy(SyncMode::Always, 0));
        assert_eq!(s.crash(at(0)).writes, 0);
        assert_eq!(s.get(b"k"), Some(&b"v"[..]));

        let never = policy(SyncMode::Never, 2);
        let mut s = DurableStore::default();
        s.put(b"k".to_vec(), b"v".to_vec(), &never);
        assert_eq!(s.sync(at(0), &never), SimDuration::from_millis(2), "the lying disk acknowledges after its latency");
        assert_eq!(s.crash(at(100)).writes, 1);
        assert_eq!(s.get(b"k"), None);
    }

    #[test]
    fn keys_with_a_prefix_come_in_order_and_bytes_are_counted() {
        let p = StoragePolicy::default();
        let mut s = DurableStore::default();
        for k in ["log/0002", "log/0001", "term", "log/0003", "lo"] {
            s.put(k.as_bytes().to_vec(), b"xy".to_vec(), &p);
        }
        let keys: Vec<&[u8]> = s.keys_with_prefix(b"log/").collect();
        assert_eq!(keys, [&b"log/0001"[..], b"log/0002", b"log/0003"]);
        // 5 keys of 2 to 8 bytes + 2-byte values, held twice (current and pending).
        assert_eq!(s.held_bytes(), 2 * (8 * 3 + 4 + 2 + 5 * 2));
        assert_eq!(s.cost_of_put(b"term", 3), 14 - 6);
        s.sync(at(0), &p);
        assert_eq!(s.held_bytes(), 8 * 3 + 4 + 2 + 5 * 2, "synced writes are no longer pending");
        s.delete(b"term".to_vec(), &p);
        s.delete(b"absent".to_vec(), &p);
        assert_eq!(s.view(at(0)).unsynced_writes, 1, "deleting an absent key writes nothing");
    }
}
