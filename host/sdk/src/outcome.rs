//! [`Outcome`]: how an operation ended, in the shapes the host reads.

use crate::{Contact, NodeIndex, Record, Value};

/// How an operation ended: success or failure and a record describing it.
///
/// The constructors build the records the host and its checkers read:
/// `contacts` (lookups), `value` / `not-found` (gets), `providers`,
/// `stored`, `committed` and `error`. Add a `rounds` count with
/// [`Outcome::rounds`] for hop statistics.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    ok: bool,
    record: Record,
}

impl Outcome {
    /// A success described by `record`.
    pub fn ok(record: Record) -> Self {
        Outcome { ok: true, record }
    }

    /// A failure described by `record`.
    pub fn failed(record: Record) -> Self {
        Outcome { ok: false, record }
    }

    /// A failure with a reason: an `error` record.
    pub fn error(reason: impl Into<String>) -> Self {
        Outcome::failed(Record::new("error").with("reason", reason.into()))
    }

    /// A lookup's result, closest first by XOR distance: a `contacts`
    /// record with `nodes`, `ids` and `contacts`. Fails if the list is
    /// empty. The host judges it correct when it holds exactly the k (20,
    /// or fewer if the network is smaller) closest live nodes; say another
    /// k with [`Outcome::k`].
    pub fn contacts(closest: &[Contact]) -> Self {
        let record = Record::new("contacts")
            .with("nodes", Value::Nodes(closest.iter().map(|c| c.node).collect()))
            .with("ids", Value::Ids(closest.iter().map(|c| c.id.clone()).collect()))
            .with("contacts", Value::Contacts(closest.to_vec()));
        Outcome { ok: !closest.is_empty(), record }
    }

    /// A ring DHT's lookup result: the key's successor (and, if the peer
    /// knows them, the nodes after it), judged by the host as correct when
    /// the first is the key's true successor (`metric` "ring").
    pub fn successors(nodes: &[Contact]) -> Self {
        let Outcome { ok, record } = Outcome::contacts(nodes);
        Outcome { ok, record: record.with("metric", "ring") }
    }

    /// A get that found `value`.
    pub fn value(value: Vec<u8>) -> Self {
        Outcome::ok(Record::new("value").with("value", value))
    }

    /// A get that found nothing.
    pub fn not_found() -> Self {
        Outcome::failed(Record::new("not-found"))
    }

    /// Providers found for a key (`nodes`). Fails if there are none.
    pub fn providers(nodes: &[NodeIndex]) -> Self {
        Outcome { ok: !nodes.is_empty(), record: Record::new("providers").with("nodes", Value::Nodes(nodes.to_vec())) }
    }

    /// A put or announce that reached `copies` nodes. Fails if none.
    pub fn stored(copies: u64) -> Self {
        Outcome { ok: copies > 0, record: Record::new("stored").with("copies", copies) }
    }

    /// A proposal committed at `index`.
    pub fn committed(index: u64) -> Self {
        Outcome::ok(Record::new("committed").with("index", index))
    }

    /// Adds the k a lookup aims for: the host judges a `contacts` answer
    /// exact when it names the k closest live nodes (default 20).
    pub fn k(mut self, k: usize) -> Self {
        self.record.push("k", k as u64);
        self
    }

    /// Adds how many rounds (hops) the operation took.
    pub fn rounds(mut self, rounds: u64) -> Self {
        self.record.push("rounds", rounds);
        self
    }

    /// Adds a field of your own.
    pub fn field(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.record.push(name, value);
        self
    }

    /// Whether it is a success.
    pub fn is_ok(&self) -> bool {
        self.ok
    }

    /// The record describing it.
    pub fn record(&self) -> &Record {
        &self.record
    }

    pub(crate) fn into_parts(self) -> (bool, Record) {
        (self.ok, self.record)
    }
}
