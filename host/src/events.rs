//! The event log: every send, delivery, drop, timer, operation, output and
//! crash, with its virtual time and a global sequence number.
//!
//! The log is the run's trace: same seed, scenario and plugins give the same
//! log, byte for byte, when written as JSON Lines.

use crate::NodeIndex;
use crate::fault::FaultId;
use crate::limits::HostLimit;
use crate::node::{CrashReason, Level, OpId, Operation, OutputStream};
use crate::time::{SimDuration, SimTime};
use peershare_wire::{Record, Value};
use serde_json::{Map, Value as Json, json};
use std::fmt;
use std::io::{self, Write};
use std::sync::Arc;

/// Identifier of one message, in order of sending.
pub type MessageId = u64;

/// Why a message was not delivered.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DropReason {
    /// Lost by the network (the link's loss probability).
    Lost,
    /// Sent to a node index that does not exist.
    NoSuchNode,
    /// Not a well-formed record in the canonical wire encoding.
    Malformed,
    /// Larger than the host's message size limit.
    TooLarge,
    /// The destination node had crashed when the message arrived.
    DestinationCrashed,
    /// The destination node had not started yet when the message arrived.
    DestinationNotStarted,
    /// Lost to a loss fault.
    FaultLoss {
        /// The fault.
        fault: FaultId,
    },
    /// Sender and destination were on different sides of a partition (when
    /// sent, or when it would have been delivered).
    Partitioned {
        /// The partition.
        fault: FaultId,
    },
    /// Not sent by a Byzantine sender.
    Byzantine {
        /// The fault.
        fault: FaultId,
    },
    /// The destination was down (crashed by a fault, or gone by churn) when
    /// the message arrived.
    DestinationDown {
        /// The fault that took it down.
        fault: FaultId,
    },
}

impl DropReason {
    /// The reason's name as it appears in logs and summaries.
    pub fn name(&self) -> &'static str {
        match self {
            DropReason::Lost => "lost",
            DropReason::NoSuchNode => "no-such-node",
            DropReason::Malformed => "malformed",
            DropReason::TooLarge => "too-large",
            DropReason::DestinationCrashed => "destination-crashed",
            DropReason::DestinationNotStarted => "destination-not-started",
            DropReason::FaultLoss { .. } => "fault-loss",
            DropReason::Partitioned { .. } => "partitioned",
            DropReason::Byzantine { .. } => "byzantine",
            DropReason::DestinationDown { .. } => "destination-down",
        }
    }

    /// The fault responsible, if a fault dropped the message.
    pub fn fault(&self) -> Option<FaultId> {
        match self {
            DropReason::FaultLoss { fault }
            | DropReason::Partitioned { fault }
            | DropReason::Byzantine { fault }
            | DropReason::DestinationDown { fault } => Some(*fault),
            _ => None,
        }
    }
}

/// What a fault did to a message it did not drop.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultAction {
    /// Delivered later by this much (a delay fault, or a Byzantine sender).
    Delayed {
        /// The extra latency.
        by: SimDuration,
    },
    /// Held back by this much by a reordering fault.
    Held {
        /// The extra latency.
        by: SimDuration,
    },
    /// Its latency was drawn from the fault's model.
    LatencyReplaced,
    /// A copy was made; the copy is message `copy`.
    Duplicated {
        /// The copy's id.
        copy: MessageId,
    },
    /// Fields were corrupted; `bytes` is what was delivered.
    Corrupted {
        /// The fields changed.
        fields: Vec<String>,
        /// The altered message.
        bytes: Arc<[u8]>,
    },
    /// Contacts were pointed at colluders; `bytes` is what was delivered.
    Eclipsed {
        /// How many node indices were replaced.
        replaced: u32,
        /// The altered message.
        bytes: Arc<[u8]>,
    },
    /// It crossed a throttled link.
    Throttled,
}

impl FaultAction {
    /// The action's name in the log.
    pub fn name(&self) -> &'static str {
        match self {
            FaultAction::Delayed { .. } => "delayed",
            FaultAction::Held { .. } => "held",
            FaultAction::LatencyReplaced => "latency-replaced",
            FaultAction::Duplicated { .. } => "duplicated",
            FaultAction::Corrupted { .. } => "corrupted",
            FaultAction::Eclipsed { .. } => "eclipsed",
            FaultAction::Throttled => "throttled",
        }
    }
}

/// Something that happened in a run.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A node was started (its `init` ran).
    NodeStarted {
        /// The node.
        node: NodeIndex,
        /// Its identifier.
        id: Vec<u8>,
    },
    /// A node handed a message to the network.
    Sent {
        /// The message.
        msg: MessageId,
        /// Sender.
        from: NodeIndex,
        /// Destination.
        to: NodeIndex,
        /// The message bytes (canonical encoding; its length is its size).
        bytes: Arc<[u8]>,
    },
    /// A message reached its destination's handler.
    Delivered {
        /// The message.
        msg: MessageId,
        /// Sender.
        from: NodeIndex,
        /// Destination.
        to: NodeIndex,
    },
    /// A message was not delivered.
    Dropped {
        /// The message.
        msg: MessageId,
        /// Sender.
        from: NodeIndex,
        /// Destination.
        to: NodeIndex,
        /// Why.
        reason: DropReason,
    },
    /// The host refused calls a node made in one event because they were
    /// over one of its [`HostLimits`](crate::limits::HostLimits); nothing
    /// of them was kept. One event per limit that refused anything.
    LimitExceeded {
        /// The node.
        node: NodeIndex,
        /// Which limit.
        limit: HostLimit,
        /// The limit's value.
        max: u64,
        /// How many calls were refused.
        calls: u64,
        /// How many bytes they carried.
        bytes: u64,
    },
    /// A timer fired.
    TimerFired {
        /// The node.
        node: NodeIndex,
        /// The timer's handle.
        timer: u64,
        /// The peer's tag.
        tag: u64,
    },
    /// The workload started an operation at a node.
    OperationStarted {
        /// The operation.
        op: OpId,
        /// The node asked to perform it.
        node: NodeIndex,
        /// Its kind ("lookup", "broadcast", ...).
        kind: String,
        /// What it asks for (its key, value or request).
        operation: Operation,
    },
    /// An operation finished.
    OperationCompleted {
        /// The operation.
        op: OpId,
        /// The node that performed it.
        node: NodeIndex,
        /// Whether it succeeded.
        ok: bool,
        /// Time from start to completion.
        latency: SimDuration,
        /// The result record (canonical encoding).
        result: Arc<[u8]>,
    },
    /// A peer's log line.
    Log {
        /// The node.
        node: NodeIndex,
        /// Severity.
        level: Level,
        /// Text.
        text: String,
    },
    /// A line a guest printed.
    Output {
        /// The node.
        node: NodeIndex,
        /// Which stream.
        stream: OutputStream,
        /// Text.
        text: String,
    },
    /// A node crashed; it takes no further part in the run.
    Crashed {
        /// The node.
        node: NodeIndex,
        /// Why.
        reason: CrashReason,
        /// What it was handling.
        handling: Handling,
    },
    /// A node published new observable state.
    StatePublished {
        /// The node.
        node: NodeIndex,
        /// The state record (canonical encoding).
        state: Arc<[u8]>,
    },
    /// A step of an algorithm working on an operation.
    Trace {
        /// The operation.
        op: OpId,
        /// The node.
        node: NodeIndex,
        /// The step record (canonical encoding).
        step: Arc<[u8]>,
    },
    /// A fault started acting.
    FaultStarted {
        /// The fault.
        fault: FaultId,
        /// Its label, if it has one.
        name: Option<String>,
        /// Its kind ("loss", "crash", ...).
        kind: &'static str,
        /// The nodes it affects (node faults and churn) or the nodes of a
        /// partition's named sides; empty for link faults.
        nodes: Vec<NodeIndex>,
    },
    /// A fault's parameters were changed while it acted.
    FaultChanged {
        /// The fault.
        fault: FaultId,
    },
    /// A fault stopped acting (its duration elapsed, or it was cleared).
    FaultEnded {
        /// The fault.
        fault: FaultId,
    },
    /// A fault took a node down (a crash, or a churn departure): it sends
    /// and receives nothing and no timer fires until it is back.
    NodeDown {
        /// The node.
        node: NodeIndex,
        /// The fault.
        fault: FaultId,
    },
    /// A node lost its memory (a fault that restarts it from scratch took
    /// it down) and with it the writes to its durable storage that were not
    /// durable yet ([`crate::storage`]). Only recorded when there were any.
    StorageLost {
        /// The node.
        node: NodeIndex,
        /// Writes (puts and deletes) lost.
        writes: u64,
        /// Their keys' and values' bytes.
        bytes: u64,
    },
    /// The consensus referee found a safety property broken
    /// ([`crate::referee`]).
    SafetyViolation {
        /// What, where and when.
        violation: crate::referee::Violation,
    },
    /// A node a fault took down is back.
    NodeUp {
        /// The node.
        node: NodeIndex,
        /// The fault.
        fault: FaultId,
        /// Whether it resumed with its memory (or restarted afresh).
        state_kept: bool,
    },
    /// A fault delayed, duplicated or altered a message.
    MessageFaulted {
        /// The message.
        msg: MessageId,
        /// The fault.
        fault: FaultId,
        /// What it did.
        action: FaultAction,
    },
    /// A node published state whose conventional field has the wrong type
    /// (reported once per node and field): observers cannot draw it.
    ConventionWarning {
        /// The node.
        node: NodeIndex,
        /// The field.
        field: String,
        /// The type the convention gives it.
        expected: String,
        /// What it holds.
        actual: String,
    },
    /// A consensus peer committed an entry.
    Committed {
        /// The node.
        node: NodeIndex,
        /// Log position.
        index: u64,
        /// The value.
        value: Arc<[u8]>,
    },
}

/// What a node was doing when it crashed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handling {
    /// Starting (`init`).
    Start,
    /// A message.
    Message {
        /// The message.
        msg: MessageId,
        /// Its sender.
        from: NodeIndex,
        /// Its kind.
        kind: String,
    },
    /// A timer.
    Timer {
        /// The peer's tag.
        tag: u64,
    },
    /// An operation.
    Operation {
        /// The operation.
        op: OpId,
    },
    /// Being observed (`inspect`).
    Inspect,
    /// Coming back after a fault (instantiated anew).
    Restart,
}

impl fmt::Display for Handling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Handling::Start => write!(f, "starting"),
            Handling::Message { msg, from, kind } => write!(f, "handling message {msg} ({kind}) from node {from}"),
            Handling::Timer { tag } => write!(f, "handling a timer (tag {tag})"),
            Handling::Operation { op } => write!(f, "handling operation {op}"),
            Handling::Inspect => write!(f, "being inspected"),
            Handling::Restart => write!(f, "restarting"),
        }
    }
}

impl Handling {
    fn json_fields(&self, fields: &mut Vec<(&'static str, Json)>) {
        let name = match self {
            Handling::Start => "start",
            Handling::Message { msg, from, kind } => {
                fields.push(("msg", json!(msg)));
                fields.push(("from", json!(from)));
                fields.push(("kind", json!(kind)));
                "message"
            }
            Handling::Timer { tag } => {
                fields.push(("tag", json!(tag)));
                "timer"
            }
            Handling::Operation { op } => {
                fields.push(("op", json!(op)));
                "operation"
            }
            Handling::Inspect => "inspect",
            Handling::Restart => "restart",
        };
        fields.push(("during", json!(name)));
    }
}

/// Which events to write out.
///
/// A run's message events dominate its log: in `events.jsonl` a `sent`
/// event takes about 150 bytes plus about twice the message's encoded size
/// (the message is decoded into JSON), `delivered` about 70 and `dropped`
/// about 90. `Ops` leaves them out and keeps what a result is judged by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EventFilter {
    /// Every event.
    #[default]
    All,
    /// Node starts, operations (started, completed), traces, commits,
    /// faults and nodes going down or up, crashes, log and output lines,
    /// refused calls and convention warnings; no per-message, timer or
    /// state events.
    Ops,
    /// None.
    None,
}

impl EventFilter {
    /// The filter named `all`, `ops` or `none`.
    pub fn from_name(name: &str) -> Option<EventFilter> {
        match name {
            "all" => Some(EventFilter::All),
            "ops" => Some(EventFilter::Ops),
            "none" => Some(EventFilter::None),
            _ => None,
        }
    }

    /// Whether `event` is written.
    pub fn keeps(self, event: &Event) -> bool {
        match self {
            EventFilter::All => true,
            EventFilter::None => false,
            EventFilter::Ops => !matches!(
                event,
                Event::Sent { .. }
                    | Event::Delivered { .. }
                    | Event::Dropped { .. }
                    | Event::MessageFaulted { .. }
                    | Event::TimerFired { .. }
                    | Event::StatePublished { .. }
            ),
        }
    }
}

/// An event with its place in the run.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedEvent {
    /// Global sequence number, from 0.
    pub seq: u64,
    /// Virtual time.
    pub time: SimTime,
    /// What happened.
    pub event: Event,
}

/// The ordered record of a run's events.
#[derive(Debug, Default)]
pub struct EventLog {
    events: Vec<LoggedEvent>,
    next_seq: u64,
    recording: bool,
}

impl EventLog {
    /// An empty log; `recording = false` counts sequence numbers but keeps
    /// no events (for benchmarks and very long runs).
    pub fn new(recording: bool) -> Self {
        EventLog { events: Vec::new(), next_seq: 0, recording }
    }

    /// Appends the event `make` builds. With recording off, the event is
    /// only counted and never built, so the hot path pays nothing for it.
    pub fn record(&mut self, time: SimTime, make: impl FnOnce() -> Event) {
        if self.recording {
            self.events.push(LoggedEvent { seq: self.next_seq, time, event: make() });
        }
        self.next_seq += 1;
    }

    /// Whether events are being kept.
    pub fn is_recording(&self) -> bool {
        self.recording
    }

    /// The events kept so far, in order.
    pub fn events(&self) -> &[LoggedEvent] {
        &self.events
    }

    /// How many events happened (kept or not).
    pub fn total(&self) -> u64 {
        self.next_seq
    }

    /// Writes the log as JSON Lines, one event per line.
    pub fn write_jsonl(&self, out: impl Write) -> io::Result<()> {
        self.write_jsonl_filtered(out, EventFilter::All)
    }

    /// Writes the events `filter` keeps as JSON Lines; they keep their
    /// sequence numbers, so gaps show where events were left out.
    pub fn write_jsonl_filtered(&self, mut out: impl Write, filter: EventFilter) -> io::Result<()> {
        for event in self.events.iter().filter(|e| filter.keeps(&e.event)) {
            serde_json::to_writer(&mut out, &event.to_json())?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }
}

impl LoggedEvent {
    /// The event as a JSON object: `seq`, `time` (ns), `event` (its type) and
    /// the event's fields; records are decoded into `kind` and `fields`.
    pub fn to_json(&self) -> Json {
        let mut obj = Map::new();
        obj.insert("seq".into(), json!(self.seq));
        obj.insert("time".into(), json!(self.time.as_nanos()));
        let (name, fields) = event_fields(&self.event);
        obj.insert("event".into(), json!(name));
        for (k, v) in fields {
            obj.insert(k.into(), v);
        }
        Json::Object(obj)
    }
}

fn event_fields(event: &Event) -> (&'static str, Vec<(&'static str, Json)>) {
    match event {
        Event::NodeStarted { node, id } => ("node-started", vec![("node", json!(node)), ("id", json!(hex(id)))]),
        Event::Sent { msg, from, to, bytes } => (
            "sent",
            vec![
                ("msg", json!(msg)),
                ("from", json!(from)),
                ("to", json!(to)),
                ("size", json!(bytes.len())),
                ("message", record_json(bytes)),
            ],
        ),
        Event::Delivered { msg, from, to } => ("delivered", vec![("msg", json!(msg)), ("from", json!(from)), ("to", json!(to))]),
        Event::Dropped { msg, from, to, reason } => {
            let mut fields = vec![("msg", json!(msg)), ("from", json!(from)), ("to", json!(to)), ("reason", json!(reason.name()))];
            if let Some(fault) = reason.fault() {
                fields.push(("fault", json!(fault)));
            }
            ("dropped", fields)
        }
        Event::FaultStarted { fault, name, kind, nodes } => {
            ("fault-started", vec![("fault", json!(fault)), ("name", json!(name)), ("kind", json!(kind)), ("nodes", json!(nodes))])
        }
        Event::FaultChanged { fault } => ("fault-changed", vec![("fault", json!(fault))]),
        Event::FaultEnded { fault } => ("fault-ended", vec![("fault", json!(fault))]),
        Event::NodeDown { node, fault } => ("node-down", vec![("node", json!(node)), ("fault", json!(fault))]),
        Event::SafetyViolation { violation } => (
            "safety-violation",
            vec![
                ("property", json!(violation.property.name())),
                ("nodes", json!(violation.nodes)),
                ("term", json!(violation.term)),
                ("index", json!(violation.index)),
                ("since", json!(violation.since.as_nanos())),
                ("detail", json!(violation.detail)),
            ],
        ),
        Event::StorageLost { node, writes, bytes } => {
            ("storage-lost", vec![("node", json!(node)), ("writes", json!(writes)), ("bytes", json!(bytes))])
        }
        Event::NodeUp { node, fault, state_kept } => {
            ("node-up", vec![("node", json!(node)), ("fault", json!(fault)), ("state_kept", json!(state_kept))])
        }
        Event::MessageFaulted { msg, fault, action } => {
            let mut fields = vec![("msg", json!(msg)), ("fault", json!(fault)), ("action", json!(action.name()))];
            match action {
                FaultAction::Delayed { by } | FaultAction::Held { by } => fields.push(("by", json!(by.as_nanos()))),
                FaultAction::Duplicated { copy } => fields.push(("copy", json!(copy))),
                FaultAction::Corrupted { fields: changed, bytes } => {
                    fields.push(("fields", json!(changed)));
                    fields.push(("message", record_json(bytes)));
                }
                FaultAction::Eclipsed { replaced, bytes } => {
                    fields.push(("replaced", json!(replaced)));
                    fields.push(("message", record_json(bytes)));
                }
                FaultAction::LatencyReplaced | FaultAction::Throttled => {}
            }
            ("message-faulted", fields)
        }
        Event::ConventionWarning { node, field, expected, actual } => (
            "convention-warning",
            vec![("node", json!(node)), ("field", json!(field)), ("expected", json!(expected)), ("actual", json!(actual))],
        ),
        Event::LimitExceeded { node, limit, max, calls, bytes } => (
            "limit-exceeded",
            vec![
                ("node", json!(node)),
                ("limit", json!(limit.name())),
                ("max", json!(max)),
                ("calls", json!(calls)),
                ("bytes", json!(bytes)),
            ],
        ),
        Event::TimerFired { node, timer, tag } => {
            ("timer-fired", vec![("node", json!(node)), ("timer", json!(timer)), ("tag", json!(tag))])
        }
        Event::OperationStarted { op, node, kind, operation } => {
            let mut fields = vec![("op", json!(op)), ("node", json!(node)), ("kind", json!(kind))];
            match operation {
                Operation::Lookup { key } | Operation::Get { key } | Operation::Announce { key } | Operation::FindProviders { key } => {
                    fields.push(("key", json!(hex(key))));
                }
                Operation::Put { key, value } => {
                    fields.push(("key", json!(hex(key))));
                    fields.push(("value", json!(hex(value))));
                }
                Operation::Propose { value } => fields.push(("value", json!(hex(value)))),
                Operation::Request(r) | Operation::App(r) => fields.push(("request", record_json(&r.encode()))),
            }
            ("operation-started", fields)
        }
        Event::OperationCompleted { op, node, ok, latency, result } => (
            "operation-completed",
            vec![
                ("op", json!(op)),
                ("node", json!(node)),
                ("ok", json!(ok)),
                ("latency", json!(latency.as_nanos())),
                ("result", record_json(result)),
            ],
        ),
        Event::Log { node, level, text } => ("log", vec![("node", json!(node)), ("level", json!(level)), ("text", json!(text))]),
        Event::Output { node, stream, text } => ("output", vec![("node", json!(node)), ("stream", json!(stream)), ("text", json!(text))]),
        Event::Crashed { node, reason, handling } => {
            let mut fields = vec![("node", json!(node)), ("reason", json!(reason.to_string()))];
            handling.json_fields(&mut fields);
            ("crashed", fields)
        }
        Event::StatePublished { node, state } => ("state-published", vec![("node", json!(node)), ("state", record_json(state))]),
        Event::Trace { op, node, step } => ("trace", vec![("op", json!(op)), ("node", json!(node)), ("step", record_json(step))]),
        Event::Committed { node, index, value } => {
            ("committed", vec![("node", json!(node)), ("index", json!(index)), ("value", json!(hex(value)))])
        }
    }
}

/// Decodes a canonical record into JSON: `{"kind": ..., "fields": {...}}`,
/// or `{"undecodable": "<reason>", "hex": ...}` if it is malformed.
pub fn record_json(bytes: &[u8]) -> Json {
    match Record::decode(bytes) {
        Ok(record) => {
            let mut fields = Map::new();
            for (name, value) in &record.fields {
                fields.entry(name.clone()).or_insert_with(|| value_json(value));
            }
            json!({ "kind": record.kind, "fields": fields })
        }
        Err(e) => json!({ "undecodable": e.to_string(), "hex": hex(bytes) }),
    }
}

/// A wire value as JSON: numbers and booleans as themselves, ids and bytes
/// as `0x`-prefixed hex, lists as arrays, contacts as `{node, id}`.
pub fn value_json(value: &Value) -> Json {
    match value {
        Value::Bool(b) => json!(b),
        Value::U64(n) => json!(n),
        Value::I64(n) => json!(n),
        Value::F64(x) => json!(x),
        Value::Str(s) => json!(s),
        Value::Bytes(b) | Value::Id(b) => json!(hex(b)),
        Value::Node(n) => json!(n),
        Value::U64s(v) => json!(v),
        Value::Ids(v) => Json::Array(v.iter().map(|b| json!(hex(b))).collect()),
        Value::Strs(v) => json!(v),
        Value::Nodes(v) => json!(v),
        Value::Contacts(v) => Json::Array(v.iter().map(|c| json!({ "node": c.node, "id": hex(&c.id) })).collect()),
        Value::Blobs(v) => Json::Array(v.iter().map(|b| json!(hex(b))).collect()),
    }
}

/// Lower-case hex with a `0x` prefix.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 + bytes.len() * 2);
    s.push_str("0x");
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}
