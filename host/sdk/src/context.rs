//! [`Context`]: what a handler can ask of the host, with timers the SDK
//! keeps track of (periodic ones re-armed by themselves).

use crate::{NodeIndex, OpId, Outcome, Record, State, Step, Value, sys};
use core::time::Duration;
use std::collections::BTreeMap;

/// Severity of a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Detail for debugging.
    Debug,
    /// Normal progress.
    Info,
    /// Something unusual.
    Warn,
    /// Something failed.
    Error,
}

/// A timer set with [`Context::set_timer`] or [`Context::every`], to cancel
/// it with [`Context::cancel`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timer(u64);

/// A timer the SDK keeps: the peer's tag, its period if periodic, and the
/// host's handle for the current arming.
#[derive(Clone, Debug)]
struct Armed {
    tag: u64,
    period: Option<u64>,
    handle: u64,
}

/// The node's view of the simulator during a handler: who it is, the
/// virtual time, and every call that reaches the host (sending, timers,
/// randomness, logging, completing operations, traces, state).
///
/// Calls take effect when the handler returns. The host enforces limits on
/// them (see the `host` interface in `wit/peershare.wit`): a call over a
/// limit is refused and the refusal recorded in the event log.
#[derive(Debug)]
pub struct Context {
    index: NodeIndex,
    id: Vec<u8>,
    group: String,
    id_bits: u32,
    node_count: u32,
    timers: BTreeMap<u64, Armed>,
    next_timer: u64,
}

impl Context {
    pub(crate) const fn empty() -> Self {
        Context { index: 0, id: Vec::new(), group: String::new(), id_bits: 0, node_count: 0, timers: BTreeMap::new(), next_timer: 0 }
    }

    pub(crate) fn start(&mut self, start: &crate::Start) {
        *self = Context {
            index: start.index,
            id: start.id.clone(),
            group: start.group.clone(),
            id_bits: start.id_bits,
            node_count: start.node_count,
            ..Context::empty()
        };
    }

    /// This node's index (its network address).
    pub fn index(&self) -> NodeIndex {
        self.index
    }

    /// This node's identifier.
    pub fn id(&self) -> &[u8] {
        &self.id
    }

    /// The name of this node's group.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// Length of identifiers in bits.
    pub fn id_bits(&self) -> u32 {
        self.id_bits
    }

    /// Number of nodes in the simulation.
    pub fn node_count(&self) -> u32 {
        self.node_count
    }

    /// Virtual time since the run started.
    pub fn now(&self) -> Duration {
        Duration::from_nanos(sys::now())
    }

    /// Sends `message` to node `to`. The network may delay or lose it.
    pub fn send(&mut self, to: NodeIndex, message: &Record) {
        sys::send(to, &message.encode());
    }

    /// Sends the same `message` to every node of `to`, encoding it once.
    pub fn send_to_all(&mut self, to: impl IntoIterator<Item = NodeIndex>, message: &Record) {
        let bytes = message.encode();
        for node in to {
            sys::send(node, &bytes);
        }
    }

    /// Calls [`Peer::on_timer`](crate::Peer::on_timer) with `tag` once,
    /// after `delay` of virtual time.
    pub fn set_timer(&mut self, delay: Duration, tag: u64) -> Timer {
        self.arm(delay, tag, None)
    }

    /// Calls [`Peer::on_timer`](crate::Peer::on_timer) with `tag` every
    /// `period` of virtual time (the first time one `period` from now),
    /// until cancelled.
    pub fn every(&mut self, period: Duration, tag: u64) -> Timer {
        self.arm(period, tag, Some(nanos(period).max(1)))
    }

    /// Like [`Context::every`], but the first time after `first` (to spread
    /// nodes' rounds apart), then every `period`.
    pub fn every_from(&mut self, first: Duration, period: Duration, tag: u64) -> Timer {
        self.arm(first, tag, Some(nanos(period).max(1)))
    }

    /// Cancels a timer; cancelling a fired or cancelled one does nothing.
    pub fn cancel(&mut self, timer: Timer) {
        if let Some(armed) = self.timers.remove(&timer.0) {
            sys::cancel_timer(armed.handle);
        }
    }

    /// Whether a timer is still to fire.
    pub fn is_pending(&self, timer: Timer) -> bool {
        self.timers.contains_key(&timer.0)
    }

    fn arm(&mut self, delay: Duration, tag: u64, period: Option<u64>) -> Timer {
        self.next_timer += 1;
        let id = self.next_timer;
        let handle = sys::set_timer(nanos(delay), id);
        self.timers.insert(id, Armed { tag, period, handle });
        Timer(id)
    }

    /// Keeps a one-shot host callback that `set(host_tag)` asked for (a
    /// timer, a storage sync), reported to the peer as `tag`.
    pub(crate) fn arm_callback(&mut self, tag: u64, set: impl FnOnce(u64) -> u64) -> Timer {
        self.next_timer += 1;
        let id = self.next_timer;
        let handle = set(id);
        self.timers.insert(id, Armed { tag, period: None, handle });
        Timer(id)
    }

    /// The peer's tag for a host timer that fired, re-arming it if it is
    /// periodic; `None` if it was cancelled meanwhile.
    pub(crate) fn fired(&mut self, host_tag: u64) -> Option<u64> {
        let armed = self.timers.get_mut(&host_tag)?;
        let tag = armed.tag;
        match armed.period {
            Some(period) => armed.handle = sys::set_timer(period, host_tag),
            None => {
                self.timers.remove(&host_tag);
            }
        }
        Some(tag)
    }

    /// The timers pending, as (tag, host timer tag), for the test harness.
    pub(crate) fn pending(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.timers.iter().map(|(&id, a)| (a.tag, id))
    }

    /// A uniformly random number from this node's seeded stream.
    pub fn random_u64(&mut self) -> u64 {
        sys::random_u64()
    }

    /// A uniformly random number below `n` (0 if `n` is 0), without bias.
    pub fn random_below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let x = sys::random_u64();
            if x < zone {
                return x % n;
            }
        }
    }

    /// Writes a line to the event log.
    pub fn log(&mut self, level: Level, text: &str) {
        sys::log(level, text);
    }

    /// Publishes this node's state (what observers see when they do not
    /// call [`Peer::inspect`](crate::Peer::inspect)).
    pub fn publish(&mut self, state: &State) {
        sys::publish_state(&state.encode());
    }

    /// Completes operation `op`.
    pub fn complete(&mut self, op: OpId, outcome: Outcome) {
        let (ok, record) = outcome.into_parts();
        sys::complete(op, ok, &record.encode());
    }

    /// Fails operation `op` because this peer does not perform `what`.
    pub fn unsupported(&mut self, op: OpId, what: &str) {
        self.complete(op, Outcome::error(format!("this peer does not support {what:?}")));
    }

    /// Records one step of the algorithm working on operation `op`, for
    /// lookup traces.
    pub fn trace(&mut self, op: OpId, step: &Step) {
        sys::trace(op, &step.to_record().encode());
    }

    /// Reports that this node committed `value` at position `index` of its
    /// replicated log (consensus).
    pub fn committed(&mut self, index: u64, value: &[u8]) {
        sys::committed(index, value);
    }

    /// This node's signature of `data`: the host makes it, and no other
    /// node can (see the WIT interface `signing`). Empty if refused (past
    /// the per-event byte allowance, or during `inspect`).
    pub fn sign(&mut self, data: &[u8]) -> Vec<u8> {
        sys::sign(data)
    }

    /// Whether `signature` is the one `signer` made of `data`.
    pub fn verify(&mut self, signer: NodeIndex, data: &[u8], signature: &[u8]) -> bool {
        sys::verify(signer, data, signature)
    }

    /// `record` signed by this node: the same record with a last field
    /// `sig` (bytes), this node's signature of the record's encoding
    /// without it. Check it with [`Context::verify_record`].
    ///
    /// ```
    /// use peershare_sdk::prelude::*;
    /// use peershare_sdk::testing::Harness;
    /// struct Voter;
    /// impl Peer for Voter {
    ///     fn init(_: &mut Context, _: Start) -> Self { Voter }
    ///     fn on_message(&mut self, _: &mut Context, _: NodeIndex, _: Record) {}
    /// }
    /// let mut node = Harness::<Voter>::start(1, Record::new("config"), &[]);
    /// node.call(|_, ctx| {
    ///     let vote = ctx.sign_record(Record::new("PREPARE").with("seq", 7u64));
    ///     assert!(ctx.verify_record(1, &vote), "node 1 signed it");
    ///     assert!(!ctx.verify_record(2, &vote), "node 2 did not");
    ///     let mut altered = vote.clone();
    ///     altered.fields[0].1 = Value::U64(8);
    ///     assert!(!ctx.verify_record(1, &altered), "not what node 1 signed");
    /// });
    /// ```
    pub fn sign_record(&mut self, record: Record) -> Record {
        let sig = self.sign(&record.encode());
        record.with(SIGNATURE_FIELD, sig)
    }

    /// Whether `record` ends with a `sig` field holding `signer`'s
    /// signature of the rest of the record.
    pub fn verify_record(&mut self, signer: NodeIndex, record: &Record) -> bool {
        let Some((name, Value::Bytes(sig))) = record.fields.last() else { return false };
        if name != SIGNATURE_FIELD {
            return false;
        }
        let signed = Record { kind: record.kind.clone(), fields: record.fields[..record.fields.len() - 1].to_vec() };
        self.verify(signer, &signed.encode(), sig)
    }
}

/// The field [`Context::sign_record`] appends: the signature.
pub const SIGNATURE_FIELD: &str = "sig";

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
