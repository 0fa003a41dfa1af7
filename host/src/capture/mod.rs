//! Protocol capture: every message of a run, compact in memory, with its
//! fate, the fault that touched it, and the operation and hop it belongs to.
//!
//! The capture is columnar: one vector per attribute, indexed by message id
//! (ids are dense from 0), kinds interned, message bodies kept in their
//! canonical encoding in one byte arena and decoded only when a filter or a
//! reader asks for fields. About 40 bytes per message plus its encoding.
//!
//! Operations are followed causally: messages sent by the handler that
//! starts an operation belong to it at hop 1; a message delivered for an
//! operation at hop `h` makes what its handler sends belong to the same
//! operation at hop `h + 1`; timers carry the operation of the handler that
//! set them. So a lookup's whole message chain can be selected with
//! `Filter { op: Some(id), .. }`.
//!
//! ```no_run
//! use peershare::prelude::*;
//! use peershare::capture::{Filter, Fate};
//! let mut sim = Scenario::load("examples/kademlia.toml".as_ref())?.builder()?.capture(true).build()?;
//! sim.run_for(SimDuration::from_secs(20))?;
//! let capture = sim.capture().unwrap();
//! let lost = Filter { fates: vec![Fate::Lost], ..Filter::default() };
//! for m in capture.select(&lost).iter().take(5) {
//!     println!("{} {} -> {} {}", capture.message(*m).kind(), capture.message(*m).from(), capture.message(*m).to(), capture.message(*m).fields_json());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod export;
mod file;
mod filter;
mod stats;

pub use export::SHIVIZ_REGEX;
pub use file::CaptureFileError;
pub use filter::{Comparison, FieldCondition, Filter, FilterError};
pub use stats::{KindSummary, NodeSummary};

use crate::NodeIndex;
use crate::events::{DropReason, MessageId, record_json};
use crate::fault::FaultId;
use crate::intern::Interner;
use crate::node::OpId;
use crate::time::SimTime;

/// What became of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[repr(u8)]
pub enum Fate {
    /// Still in the network when the capture was read.
    InFlight,
    /// Delivered to its destination.
    Delivered,
    /// Lost by the link's own loss probability.
    Lost,
    /// Lost to a loss fault.
    FaultLoss,
    /// Cut by a partition.
    Partitioned,
    /// Not sent by a Byzantine sender.
    Byzantine,
    /// The destination was down (a crash fault or churn).
    DestinationDown,
    /// The destination had crashed (its own failure).
    DestinationCrashed,
    /// The destination had not started.
    DestinationNotStarted,
    /// No such destination.
    NoSuchNode,
    /// Not a well-formed record.
    Malformed,
    /// Over the size limit.
    TooLarge,
}

impl Fate {
    /// Every fate, in order.
    pub const ALL: [Fate; 12] = [
        Fate::InFlight,
        Fate::Delivered,
        Fate::Lost,
        Fate::FaultLoss,
        Fate::Partitioned,
        Fate::Byzantine,
        Fate::DestinationDown,
        Fate::DestinationCrashed,
        Fate::DestinationNotStarted,
        Fate::NoSuchNode,
        Fate::Malformed,
        Fate::TooLarge,
    ];

    /// The fate's name (as in the event log's drop reasons).
    pub fn name(self) -> &'static str {
        match self {
            Fate::InFlight => "in-flight",
            Fate::Delivered => "delivered",
            Fate::Lost => "lost",
            Fate::FaultLoss => "fault-loss",
            Fate::Partitioned => "partitioned",
            Fate::Byzantine => "byzantine",
            Fate::DestinationDown => "destination-down",
            Fate::DestinationCrashed => "destination-crashed",
            Fate::DestinationNotStarted => "destination-not-started",
            Fate::NoSuchNode => "no-such-node",
            Fate::Malformed => "malformed",
            Fate::TooLarge => "too-large",
        }
    }

    /// The fate with this name.
    pub fn from_name(name: &str) -> Option<Fate> {
        Fate::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Whether the message was dropped (any fate but delivered or in flight).
    pub fn is_dropped(self) -> bool {
        !matches!(self, Fate::InFlight | Fate::Delivered)
    }

    fn of(reason: &DropReason) -> Fate {
        match reason {
            DropReason::Lost => Fate::Lost,
            DropReason::NoSuchNode => Fate::NoSuchNode,
            DropReason::Malformed => Fate::Malformed,
            DropReason::TooLarge => Fate::TooLarge,
            DropReason::DestinationCrashed => Fate::DestinationCrashed,
            DropReason::DestinationNotStarted => Fate::DestinationNotStarted,
            DropReason::FaultLoss { .. } => Fate::FaultLoss,
            DropReason::Partitioned { .. } => Fate::Partitioned,
            DropReason::Byzantine { .. } => Fate::Byzantine,
            DropReason::DestinationDown { .. } => Fate::DestinationDown,
        }
    }
}

/// The operation a message belongs to and its causal depth within it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Cause {
    /// The operation, `u32::MAX` for none.
    op: u32,
    /// Hops from the operation's start.
    hop: u16,
}

impl Cause {
    /// No operation.
    pub const NONE: Cause = Cause { op: u32::MAX, hop: 0 };

    /// Hop `hop` of operation `op`.
    pub fn new(op: OpId, hop: u16) -> Self {
        Cause { op: op.min(u64::from(u32::MAX - 1)) as u32, hop }
    }

    /// The operation, if any.
    pub fn op(self) -> Option<OpId> {
        (self.op != u32::MAX).then_some(u64::from(self.op))
    }

    /// Hops from the operation's start.
    pub fn hop(self) -> u16 {
        self.hop
    }

    /// The cause of what a handler for this message sends.
    pub fn next(self) -> Cause {
        if self.op == u32::MAX { self } else { Cause { op: self.op, hop: self.hop.saturating_add(1) } }
    }
}

const NO_FAULT: u32 = u32::MAX;
const PENDING: u64 = u64::MAX;

/// Every message of a run, column by column.
#[derive(Clone, Debug, Default)]
pub struct Capture {
    kinds: Interner,
    sent: Vec<u64>,
    ended: Vec<u64>,
    /// For delivered messages: how many messages had been sent when it was
    /// delivered (orders deliveries among sends exactly).
    delivered_after: Vec<u64>,
    from: Vec<NodeIndex>,
    to: Vec<NodeIndex>,
    kind: Vec<u32>,
    size: Vec<u32>,
    fate: Vec<Fate>,
    fault: Vec<u32>,
    cause: Vec<Cause>,
    body_end: Vec<u64>,
    bodies: Vec<u8>,
    /// Messages whose receiver crashed handling them, in crash order.
    fatal: Vec<MessageId>,
}

impl Capture {
    /// An empty capture.
    pub fn new() -> Self {
        Capture::default()
    }

    /// Number of messages captured.
    pub fn len(&self) -> usize {
        self.sent.len()
    }

    /// Whether no message was captured.
    pub fn is_empty(&self) -> bool {
        self.sent.is_empty()
    }

    /// The interned message kinds, by kind number.
    pub fn kinds(&self) -> &[String] {
        self.kinds.names()
    }

    /// Bytes the capture holds in memory (columns and bodies, as allocated).
    pub fn memory_bytes(&self) -> usize {
        fn bytes<T>(v: &Vec<T>) -> usize {
            v.capacity() * std::mem::size_of::<T>()
        }
        bytes(&self.sent)
            + bytes(&self.ended)
            + bytes(&self.delivered_after)
            + bytes(&self.from)
            + bytes(&self.to)
            + bytes(&self.kind)
            + bytes(&self.size)
            + bytes(&self.fate)
            + bytes(&self.fault)
            + bytes(&self.cause)
            + bytes(&self.body_end)
            + bytes(&self.bodies)
    }

    /// One message.
    ///
    /// # Panics
    /// If `id` is not a captured message.
    pub fn message(&self, id: MessageId) -> Message<'_> {
        assert!((id as usize) < self.len(), "message {id} was not captured ({} messages)", self.len());
        Message { capture: self, i: id as usize }
    }

    /// The ids of the messages sent in `[start, end)` (ids follow sending
    /// order, so this is a range found by binary search).
    pub fn sent_between(&self, start: SimTime, end: SimTime) -> std::ops::Range<MessageId> {
        let a = self.sent.partition_point(|&t| t < start.as_nanos());
        let b = self.sent.partition_point(|&t| t < end.as_nanos());
        a as MessageId..b.max(a) as MessageId
    }

    /// Every message, in id (sending) order.
    pub fn messages(&self) -> impl Iterator<Item = Message<'_>> {
        (0..self.len()).map(move |i| Message { capture: self, i })
    }

    /// Records a message handed to the network. Ids must come in order.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn on_sent(&mut self, id: MessageId, at: SimTime, from: NodeIndex, to: NodeIndex, kind: &str, bytes: &[u8], cause: Cause) {
        debug_assert_eq!(id as usize, self.len(), "message ids are dense");
        let kind = self.kinds.intern(kind);
        self.sent.push(at.as_nanos());
        self.ended.push(PENDING);
        self.delivered_after.push(0);
        self.from.push(from);
        self.to.push(to);
        self.kind.push(kind);
        self.size.push(bytes.len().min(u32::MAX as usize) as u32);
        self.fate.push(Fate::InFlight);
        self.fault.push(NO_FAULT);
        self.cause.push(cause);
        self.bodies.extend_from_slice(bytes);
        self.body_end.push(self.bodies.len() as u64);
    }

    /// Records a delivery; `sent_so_far` is the number of messages sent
    /// before it.
    pub(crate) fn on_delivered(&mut self, id: MessageId, at: SimTime, sent_so_far: u64) {
        let i = id as usize;
        self.ended[i] = at.as_nanos();
        self.delivered_after[i] = sent_so_far;
        self.fate[i] = Fate::Delivered;
    }

    /// Notes that the receiver of delivered message `id` crashed handling it.
    pub(crate) fn on_fatal(&mut self, id: MessageId) {
        self.fatal.push(id);
    }

    /// The messages whose receivers crashed handling them, in crash order.
    pub fn fatal(&self) -> &[MessageId] {
        &self.fatal
    }

    pub(crate) fn on_dropped(&mut self, id: MessageId, at: SimTime, reason: &DropReason) {
        let i = id as usize;
        self.ended[i] = at.as_nanos();
        self.fate[i] = Fate::of(reason);
        if let Some(f) = reason.fault() {
            self.fault[i] = f;
        }
    }

    /// A fault delayed, copied or altered the message (the latest one is kept).
    pub(crate) fn on_faulted(&mut self, id: MessageId, fault: FaultId) {
        self.fault[id as usize] = fault;
    }
}

/// One captured message.
#[derive(Clone, Copy)]
pub struct Message<'a> {
    capture: &'a Capture,
    i: usize,
}

impl<'a> Message<'a> {
    /// Its id.
    pub fn id(&self) -> MessageId {
        self.i as MessageId
    }
    /// When it was handed to the network.
    pub fn sent(&self) -> SimTime {
        SimTime(self.capture.sent[self.i])
    }
    /// When it was delivered or dropped (`None` while in flight).
    pub fn ended(&self) -> Option<SimTime> {
        let t = self.capture.ended[self.i];
        (t != PENDING).then_some(SimTime(t))
    }
    /// Sender.
    pub fn from(&self) -> NodeIndex {
        self.capture.from[self.i]
    }
    /// Destination.
    pub fn to(&self) -> NodeIndex {
        self.capture.to[self.i]
    }
    /// Its kind.
    pub fn kind(&self) -> &'a str {
        &self.capture.kinds.names()[self.capture.kind[self.i] as usize]
    }
    /// Size in bytes (of its encoding).
    pub fn size(&self) -> u32 {
        self.capture.size[self.i]
    }
    /// What became of it.
    pub fn fate(&self) -> Fate {
        self.capture.fate[self.i]
    }
    /// Whether its receiver crashed handling it (the crash event names it).
    pub fn killed_receiver(&self) -> bool {
        self.capture.fatal.contains(&(self.i as MessageId))
    }
    /// The fault that dropped, delayed, copied or altered it last, if any.
    pub fn fault(&self) -> Option<FaultId> {
        let f = self.capture.fault[self.i];
        (f != NO_FAULT).then_some(f)
    }
    /// The operation it belongs to, if any.
    pub fn op(&self) -> Option<OpId> {
        self.capture.cause[self.i].op()
    }
    /// Its hop within the operation (1 for what the operation's first
    /// handler sent).
    pub fn hop(&self) -> u16 {
        self.capture.cause[self.i].hop()
    }
    /// Its canonical encoding, as the sender sent it.
    pub fn bytes(&self) -> &'a [u8] {
        let start = if self.i == 0 { 0 } else { self.capture.body_end[self.i - 1] as usize };
        &self.capture.bodies[start..self.capture.body_end[self.i] as usize]
    }
    /// The decoded record (`None` if malformed).
    pub fn record(&self) -> Option<peershare_wire::Record> {
        peershare_wire::Record::decode(self.bytes()).ok()
    }
    /// The decoded fields as a JSON object (ids and bytes as hex).
    pub fn fields_json(&self) -> serde_json::Value {
        let mut decoded = record_json(self.bytes());
        decoded.get_mut("fields").map(serde_json::Value::take).unwrap_or(decoded)
    }
    /// The message as one JSON object (a row of the JSON Lines export).
    pub fn to_json(&self) -> serde_json::Value {
        let mut json = serde_json::json!({
            "id": self.id(),
            "sent": self.sent().as_nanos(),
            "ended": self.ended().map(SimTime::as_nanos),
            "from": self.from(),
            "to": self.to(),
            "kind": self.kind(),
            "size": self.size(),
            "fate": self.fate().name(),
            "fault": self.fault(),
            "op": self.op(),
            "hop": self.op().map(|_| self.hop()),
            "fields": self.fields_json(),
        });
        if self.killed_receiver() {
            json["killed_receiver"] = serde_json::json!(true);
        }
        json
    }
}

impl std::fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Message({} {} {}->{} {})", self.id(), self.kind(), self.from(), self.to(), self.fate().name())
    }
}
