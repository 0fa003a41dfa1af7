//! [`Storage`]: the node's durable key/value store, which outlives crashes
//! that wipe its memory.
//!
//! Writes are visible to reads at once but survive a crash only once
//! synced: write, call [`Storage::sync`] with a tag, and act on what you
//! wrote (answer the vote, acknowledge the entry) in
//! [`Peer::on_timer`](crate::Peer::on_timer) with that tag, which comes
//! when the writes are durable. After a crash that restarts the node from
//! scratch, `init` finds what was synced.
//!
//! ```
//! use peershare_sdk::prelude::*;
//!
//! const PERSISTED: u64 = 7;
//!
//! /// Remembers the highest term it has seen, across crashes.
//! struct Voter {
//!     term: u64,
//!     reply_to: Option<NodeIndex>,
//! }
//!
//! impl Peer for Voter {
//!     fn init(ctx: &mut Context, _: Start) -> Self {
//!         Voter { term: ctx.storage().get_u64("term").unwrap_or(0), reply_to: None }
//!     }
//!     fn on_message(&mut self, ctx: &mut Context, from: NodeIndex, message: Record) {
//!         if let Some(term) = message.u64("term").filter(|&t| t > self.term) {
//!             self.term = term;
//!             ctx.storage().put_u64("term", term);
//!             ctx.storage().sync(PERSISTED);
//!             self.reply_to = Some(from);
//!         }
//!     }
//!     fn on_timer(&mut self, ctx: &mut Context, tag: u64) {
//!         if let (PERSISTED, Some(to)) = (tag, self.reply_to.take()) {
//!             ctx.send(to, &Record::new("VOTE").with("term", self.term));
//!         }
//!     }
//! }
//!
//! let mut node = peershare_sdk::testing::Harness::<Voter>::start(0, Record::new("config"), &[]);
//! node.deliver(1, Record::new("REQUEST_VOTE").with("term", 5u64));
//! assert!(node.sent().is_empty(), "no answer before the term is durable");
//! node.fire(PERSISTED);
//! assert_eq!(node.sent(), vec![(1, Record::new("VOTE").with("term", 5u64))]);
//! node.restart();
//! assert_eq!(node.peer().term, 5, "the synced term survives a restart");
//! ```

use crate::{Context, Record, Timer, sys};

/// The node's durable storage, from [`Context::storage`]. Keys are bytes
/// (a `&str` will do); values are bytes, records or numbers.
pub struct Storage<'a> {
    ctx: &'a mut Context,
}

impl Context {
    /// The node's durable storage.
    pub fn storage(&mut self) -> Storage<'_> {
        Storage { ctx: self }
    }
}

impl Storage<'_> {
    /// Writes `value` under `key`. Returns false if the host refused the
    /// write (over the record size or the node's storage quota).
    pub fn put(&mut self, key: impl AsRef<[u8]>, value: &[u8]) -> bool {
        sys::storage_put(key.as_ref(), value)
    }

    /// The value under `key`, synced or not.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Option<Vec<u8>> {
        sys::storage_get(key.as_ref())
    }

    /// Removes `key`.
    pub fn delete(&mut self, key: impl AsRef<[u8]>) {
        sys::storage_delete(key.as_ref());
    }

    /// Every key that starts with `prefix`, in byte order.
    pub fn keys(&self, prefix: impl AsRef<[u8]>) -> Vec<Vec<u8>> {
        sys::storage_keys(prefix.as_ref())
    }

    /// Writes a record under `key`.
    pub fn put_record(&mut self, key: impl AsRef<[u8]>, record: &Record) -> bool {
        self.put(key, &record.encode())
    }

    /// The record under `key` (`None` if absent or not a record).
    pub fn get_record(&self, key: impl AsRef<[u8]>) -> Option<Record> {
        Record::decode(&self.get(key)?).ok()
    }

    /// Writes a number under `key`.
    pub fn put_u64(&mut self, key: impl AsRef<[u8]>, value: u64) -> bool {
        self.put(key, &value.to_be_bytes())
    }

    /// The number under `key` (`None` if absent or not 8 bytes).
    pub fn get_u64(&self, key: impl AsRef<[u8]>) -> Option<u64> {
        Some(u64::from_be_bytes(self.get(key)?.try_into().ok()?))
    }

    /// Makes every write so far durable; [`Peer::on_timer`](crate::Peer::on_timer)
    /// is called with `tag` once they are. Cancelling the returned timer
    /// cancels that call, not the sync.
    pub fn sync(&mut self, tag: u64) -> Timer {
        self.ctx.arm_callback(tag, sys::storage_sync)
    }
}
