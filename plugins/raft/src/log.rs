//! The persistent part of a Raft server: current term, vote and log, kept
//! in memory and written through to the node's durable storage.
//!
//! Storage keys: `term` and `vote` (u64; a vote is the node index + 1, 0
//! for none) and `log/` + the entry's index as 8 big-endian bytes (so the
//! keys sort in log order), whose value is the entry as a record.

use peershare_sdk::Storage;
use peershare_sdk::prelude::*;

/// One log entry: its term, the proposed value, and who proposed it (the
/// node and its request number), so the proposer knows its entry when it
/// commits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The leader's term when the entry was created.
    pub term: u64,
    /// The proposed value.
    pub value: Vec<u8>,
    /// The node that was asked to propose it.
    pub origin: NodeIndex,
    /// The proposer's request number.
    pub req: u64,
}

impl Entry {
    fn to_record(&self) -> Record {
        Record::new("entry")
            .with("term", self.term)
            .with("value", self.value.clone())
            .with("origin", Value::Node(self.origin))
            .with("req", self.req)
    }

    fn from_record(r: &Record) -> Option<Entry> {
        Some(Entry { term: r.u64("term")?, value: r.bytes("value")?.to_vec(), origin: r.node("origin")?, req: r.u64("req")? })
    }
}

fn log_key(index: u64) -> Vec<u8> {
    let mut key = b"log/".to_vec();
    key.extend_from_slice(&index.to_be_bytes());
    key
}

/// Term, vote and log, as the server sees them; every change is also
/// written to storage (and is durable once the caller syncs).
#[derive(Debug, Default)]
pub struct Persistent {
    /// The latest term this server has seen.
    pub term: u64,
    /// Whom it voted for in `term`.
    pub voted_for: Option<NodeIndex>,
    /// The log; entry `i` (from 1) is `entries[i - 1]`.
    entries: Vec<Entry>,
}

impl Persistent {
    /// What storage holds (after a restart, what was synced).
    pub fn load(storage: &Storage<'_>) -> Persistent {
        let mut entries = Vec::new();
        for key in storage.keys(b"log/") {
            match storage.get_record(&key).as_ref().and_then(Entry::from_record) {
                Some(entry) => entries.push(entry),
                None => break,
            }
        }
        let vote = storage.get_u64("vote").unwrap_or(0);
        Persistent { term: storage.get_u64("term").unwrap_or(0), voted_for: vote.checked_sub(1).map(|v| v as NodeIndex), entries }
    }

    /// Moves to a newer `term`, forgetting the vote.
    pub fn set_term(&mut self, storage: &mut Storage<'_>, term: u64) {
        self.term = term;
        self.voted_for = None;
        storage.put_u64("term", term);
        storage.put_u64("vote", 0);
    }

    /// Votes for `node` in the current term.
    pub fn vote(&mut self, storage: &mut Storage<'_>, node: NodeIndex) {
        self.voted_for = Some(node);
        storage.put_u64("vote", u64::from(node) + 1);
    }

    /// The index of the last entry (0 if the log is empty).
    pub fn last_index(&self) -> u64 {
        self.entries.len() as u64
    }

    /// The term of entry `index` (0 for index 0); `None` past the end.
    pub fn term_at(&self, index: u64) -> Option<u64> {
        match index {
            0 => Some(0),
            i => self.entries.get(i as usize - 1).map(|e| e.term),
        }
    }

    /// The term of the last entry.
    pub fn last_term(&self) -> u64 {
        self.entries.last().map_or(0, |e| e.term)
    }

    /// Entry `index`, from 1.
    pub fn entry(&self, index: u64) -> Option<&Entry> {
        index.checked_sub(1).and_then(|i| self.entries.get(i as usize))
    }

    /// At most `max` entries from `from` on.
    pub fn entries_from(&self, from: u64, max: usize) -> &[Entry] {
        let start = (from.max(1) - 1) as usize;
        let start = start.min(self.entries.len());
        &self.entries[start..(start + max).min(self.entries.len())]
    }

    /// Appends an entry; returns its index.
    pub fn append(&mut self, storage: &mut Storage<'_>, entry: Entry) -> u64 {
        let index = self.last_index() + 1;
        storage.put_record(log_key(index), &entry.to_record());
        self.entries.push(entry);
        index
    }

    /// Deletes entry `from` and every one after it (a conflicting suffix).
    pub fn truncate(&mut self, storage: &mut Storage<'_>, from: u64) {
        for index in from..=self.last_index() {
            storage.delete(log_key(index));
        }
        self.entries.truncate(from.saturating_sub(1) as usize);
    }

    /// The terms of every entry, in order (for observers).
    pub fn terms(&self) -> Vec<u64> {
        self.entries.iter().map(|e| e.term).collect()
    }

    /// The first index of the term entry `index` belongs to (for the
    /// follower's hint when the leader's previous entry does not match).
    pub fn first_index_of_term_at(&self, index: u64) -> u64 {
        let Some(term) = self.term_at(index) else { return self.last_index() + 1 };
        let mut first = index;
        while first > 1 && self.term_at(first - 1) == Some(term) {
            first -= 1;
        }
        first
    }
}
