//! What a simulated node is to the engine: a peer runtime (WebAssembly or
//! native Rust) plus the context its handlers write their effects into.
//!
//! Handlers never act directly. Like a sans-IO protocol state machine, a
//! peer reacts to one [`Input`] and leaves [`Effect`]s in its
//! [`NodeContext`]; the engine carries them out afterwards (sending through
//! the network model, scheduling timers, logging).

use crate::NodeIndex;
use crate::limits::{Allowance, HostLimit, HostLimits, Refused, cut_line};
use crate::rng::SimRng;
use crate::storage::{Disk, DurableStore, Lost, StoragePolicy};
use crate::time::{SimDuration, SimTime};
use peershare_wire::Record;
use rand_core::Rng;
use std::fmt;
use std::sync::Arc;

/// Identifier of an application operation issued by the workload.
pub type OpId = u64;

/// Severity of a peer's log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
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

/// Where a line of a node's output came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputStream {
    /// The guest's standard output (`println!`).
    Stdout,
    /// The guest's standard error (`eprintln!`, panic messages).
    Stderr,
}

/// Another peer as a peer knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contact {
    /// Its network address.
    pub index: NodeIndex,
    /// Its identifier.
    pub id: Vec<u8>,
}

/// Everything a peer is told when it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct InitArgs {
    /// The node's index.
    pub index: NodeIndex,
    /// The node's identifier.
    pub id: Vec<u8>,
    /// The node's group name.
    pub group: String,
    /// The group's configuration, a record of kind "config".
    pub config: Record,
    /// Contacts to join through.
    pub bootstrap: Vec<Contact>,
    /// Length of node identifiers in bits.
    pub id_bits: u32,
    /// Number of nodes in the simulation.
    pub node_count: u32,
}

/// An application operation a peer is asked to perform.
#[derive(Clone, Debug, PartialEq)]
pub enum Operation {
    /// A protocol-specific request (the record's kind names it).
    Request(Record),
    /// DHT: find the nodes closest to a key.
    Lookup {
        /// The key.
        key: Vec<u8>,
    },
    /// DHT: store a value under a key.
    Put {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
    },
    /// DHT: fetch the value under a key.
    Get {
        /// The key.
        key: Vec<u8>,
    },
    /// Discovery: announce the node as a provider of a key.
    Announce {
        /// The key.
        key: Vec<u8>,
    },
    /// Discovery: find providers of a key.
    FindProviders {
        /// The key.
        key: Vec<u8>,
    },
    /// Consensus: propose a value.
    Propose {
        /// The value.
        value: Vec<u8>,
    },
    /// An operation of the host-side application (file sharing's
    /// "publish" and "download"); the record's kind names it.
    App(Record),
}

impl Operation {
    /// A short name of the operation's kind, used in summaries ("lookup",
    /// "put", ..., or the request record's kind).
    pub fn kind(&self) -> &str {
        match self {
            Operation::Request(r) | Operation::App(r) => &r.kind,
            Operation::Lookup { .. } => "lookup",
            Operation::Put { .. } => "put",
            Operation::Get { .. } => "get",
            Operation::Announce { .. } => "announce",
            Operation::FindProviders { .. } => "find-providers",
            Operation::Propose { .. } => "propose",
        }
    }

    /// The WIT interface a peer must export to perform this operation.
    pub fn interface(&self) -> &'static str {
        match self {
            Operation::Request(_) => "peer",
            Operation::Lookup { .. } | Operation::Put { .. } | Operation::Get { .. } => "routing",
            Operation::Announce { .. } | Operation::FindProviders { .. } => "discovery",
            Operation::Propose { .. } => "consensus",
            Operation::App(_) => "app",
        }
    }
}

/// One event handed to a peer.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    /// The node starts.
    Init(&'a InitArgs),
    /// A message was delivered.
    Message {
        /// The sender.
        from: NodeIndex,
        /// The message, in the canonical wire encoding.
        bytes: &'a [u8],
    },
    /// A timer fired.
    Timer {
        /// The tag given when the timer was set.
        tag: u64,
    },
    /// The workload asks for an operation.
    Operation {
        /// Its identifier, to be passed back on completion.
        op: OpId,
        /// What to do.
        operation: &'a Operation,
    },
}

/// Something a handler asked the host to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Send a message.
    Send {
        /// Destination node.
        to: NodeIndex,
        /// The message bytes.
        bytes: Vec<u8>,
    },
    /// Schedule `on-timer(tag)` after `delay`.
    SetTimer {
        /// The timer's handle.
        timer: u64,
        /// Delay from now.
        delay: SimDuration,
        /// The peer's tag.
        tag: u64,
    },
    /// Cancel a timer.
    CancelTimer {
        /// The timer's handle.
        timer: u64,
    },
    /// A log line.
    Log {
        /// Severity.
        level: Level,
        /// Text.
        text: String,
    },
    /// A line the guest wrote to stdout or stderr.
    Output {
        /// Which stream.
        stream: OutputStream,
        /// The line, without its newline.
        text: String,
    },
    /// New observable state.
    PublishState(Vec<u8>),
    /// An operation finished.
    Complete {
        /// Which operation.
        op: OpId,
        /// Whether it succeeded.
        ok: bool,
        /// A record describing the outcome.
        result: Vec<u8>,
    },
    /// One step of an algorithm on an operation.
    Trace {
        /// Which operation.
        op: OpId,
        /// A record describing the step.
        step: Vec<u8>,
    },
    /// A consensus entry was committed.
    Committed {
        /// Log position.
        index: u64,
        /// The value.
        value: Vec<u8>,
    },
}

/// The per-node context a handler runs against: the current time, the
/// node's random stream, and the effects the handler produced.
///
/// Every call is checked against the node's [`HostLimits`] as it is made
/// (see [`crate::limits`]): a call over a limit is refused and counted, and
/// nothing of it is kept.
#[derive(Debug)]
pub struct NodeContext {
    index: NodeIndex,
    now: SimTime,
    rng: SimRng,
    next_timer: u64,
    effects: Vec<Effect>,
    limits: Arc<HostLimits>,
    allowance: Allowance,
    /// Log and output bytes kept over the node's life.
    log_bytes: u64,
    /// The node's durable storage.
    disk: Disk,
    /// An observer is calling the peer: storage is read-only.
    observing: bool,
    /// The run's signatures (shared by every node).
    signatures: crate::signing::Signatures,
}

impl NodeContext {
    /// A context for node `index` drawing from `rng`, with the default
    /// [`HostLimits`].
    pub fn new(index: NodeIndex, rng: SimRng) -> Self {
        Self::with_limits(index, rng, Arc::new(HostLimits::default()))
    }

    /// A context for node `index` drawing from `rng`, under `limits`.
    pub fn with_limits(index: NodeIndex, rng: SimRng, limits: Arc<HostLimits>) -> Self {
        NodeContext {
            index,
            now: SimTime::ZERO,
            rng,
            next_timer: 0,
            effects: Vec::new(),
            limits,
            allowance: Allowance::default(),
            log_bytes: 0,
            disk: Disk::default(),
            observing: false,
            signatures: crate::signing::Signatures::default(),
        }
    }

    /// Moves the context out for the length of one call into code that
    /// holds it by value (the Python API's peers), leaving an inert one in
    /// its place; put it back with `*ctx = taken` when the call returns.
    pub fn take(&mut self) -> NodeContext {
        let inert = NodeContext::with_limits(self.index, rand_core::SeedableRng::from_seed([0; 32]), self.limits.clone());
        std::mem::replace(self, inert)
    }

    /// This node's index.
    pub fn index(&self) -> NodeIndex {
        self.index
    }

    /// The current virtual time.
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Sets the current virtual time (the engine does this before each call).
    pub fn set_now(&mut self, now: SimTime) {
        self.now = now;
    }

    /// Starts a new event at `now` with a fresh allowance; the node has
    /// `pending_timers` timers pending.
    pub fn begin_event(&mut self, now: SimTime, pending_timers: usize) {
        self.now = now;
        self.allowance = Allowance { pending_timers, ..Allowance::default() };
        self.disk.settle(now);
    }

    /// The limits this context enforces.
    pub fn limits(&self) -> &HostLimits {
        &self.limits
    }

    /// Sends an encoded message to `to`. Refused (and counted) past the
    /// event's send, call or byte allowance, or if larger than
    /// [`HostLimits::max_message_bytes`].
    pub fn send(&mut self, to: NodeIndex, bytes: Vec<u8>) {
        if self.admit_send(bytes.len()) {
            self.push_send(to, bytes);
        }
    }

    /// Whether a send of `len` bytes is within the limits, taking it from
    /// the allowance if so and counting the refusal if not. The host checks
    /// this before it copies a message out of the guest.
    pub(crate) fn admit_send(&mut self, len: usize) -> bool {
        let a = &mut self.allowance;
        if len > self.limits.max_message_bytes {
            a.refuse(HostLimit::MessageBytes, len);
            false
        } else if a.sends >= self.limits.max_sends_per_event {
            a.refuse(HostLimit::SendsPerEvent, len);
            false
        } else if a.admit(&self.limits, len) {
            a.sends += 1;
            true
        } else {
            false
        }
    }

    /// Sends a message already admitted by [`Self::admit_send`].
    pub(crate) fn push_send(&mut self, to: NodeIndex, bytes: Vec<u8>) {
        self.effects.push(Effect::Send { to, bytes });
    }

    /// Sends a record to `to`.
    pub fn send_record(&mut self, to: NodeIndex, record: &Record) {
        self.send(to, record.encode());
    }

    /// Sets a timer; returns its handle, or 0 if the call was refused (too
    /// many timers pending, or the event's allowance is spent).
    pub fn set_timer(&mut self, delay: SimDuration, tag: u64) -> u64 {
        let a = &mut self.allowance;
        if a.pending_timers >= self.limits.max_pending_timers {
            a.refuse(HostLimit::PendingTimers, 0);
            return 0;
        }
        if !a.admit(&self.limits, 0) {
            return 0;
        }
        a.pending_timers += 1;
        self.next_timer += 1;
        let timer = self.next_timer;
        self.effects.push(Effect::SetTimer { timer, delay, tag });
        timer
    }

    /// Cancels a timer.
    pub fn cancel_timer(&mut self, timer: u64) {
        if self.allowance.admit(&self.limits, 0) {
            self.effects.push(Effect::CancelTimer { timer });
        }
    }

    /// A draw from this node's random stream.
    pub fn random_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// A uniform random number in `0..n` (`n > 0`) from the node's stream.
    pub fn random_below(&mut self, n: u64) -> u64 {
        crate::rng::below(&mut self.rng, n)
    }

    /// Writes a log line (cut to [`HostLimits::max_log_line_bytes`]).
    pub fn log(&mut self, level: Level, text: impl Into<String>) {
        let text = text.into();
        let text = cut_line(&text, self.limits.max_log_line_bytes).unwrap_or(text);
        self.keep_log(level, text);
    }

    /// Keeps a log line already cut to the line limit, if the budgets
    /// allow (the host cuts lines while they are still in guest memory).
    pub(crate) fn keep_log(&mut self, level: Level, text: String) {
        if self.admit_line(text.len()) {
            self.effects.push(Effect::Log { level, text });
        }
    }

    /// Records guest output (cut like log lines).
    pub fn output(&mut self, stream: OutputStream, text: String) {
        let text = cut_line(&text, self.limits.max_log_line_bytes).unwrap_or(text);
        if self.admit_line(text.len()) {
            self.effects.push(Effect::Output { stream, text });
        }
    }

    /// Whether a (cut) line of `len` bytes may be kept.
    fn admit_line(&mut self, len: usize) -> bool {
        if self.log_bytes.saturating_add(len as u64) > self.limits.max_log_bytes_per_node {
            self.allowance.refuse(HostLimit::LogBytesPerNode, len);
            return false;
        }
        if !self.allowance.admit(&self.limits, len) {
            return false;
        }
        self.log_bytes += len as u64;
        true
    }

    /// Admits a record of `len` bytes (state, trace step, outcome, value),
    /// counting the refusal if it is over the limits. The host checks this
    /// before it copies the record out of the guest.
    pub(crate) fn admit_record(&mut self, len: usize) -> bool {
        if len > self.limits.max_record_bytes {
            self.allowance.refuse(HostLimit::RecordBytes, len);
            return false;
        }
        self.allowance.admit(&self.limits, len)
    }

    /// Publishes observable state.
    pub fn publish_state(&mut self, state: Vec<u8>) {
        if self.admit_record(state.len()) {
            self.push_record(RecordCall::State, state);
        }
    }

    /// Carries out a record call whose bytes [`Self::admit_record`] admitted.
    pub(crate) fn push_record(&mut self, call: RecordCall, bytes: Vec<u8>) {
        self.effects.push(match call {
            RecordCall::State => Effect::PublishState(bytes),
            RecordCall::Trace(op) => Effect::Trace { op, step: bytes },
            RecordCall::Committed(index) => Effect::Committed { index, value: bytes },
        });
    }

    /// Completes an operation. An outcome over the limits fails the
    /// operation with an error record saying so.
    pub fn complete(&mut self, op: OpId, ok: bool, result: Vec<u8>) {
        if self.admit_record(result.len()) {
            self.push_complete(op, ok, result);
        } else {
            self.complete_refused(op, result.len());
        }
    }

    /// Completes an operation whose outcome [`Self::admit_record`] admitted.
    pub(crate) fn push_complete(&mut self, op: OpId, ok: bool, result: Vec<u8>) {
        self.effects.push(Effect::Complete { op, ok, result });
    }

    /// Fails an operation whose outcome of `len` bytes was refused.
    pub(crate) fn complete_refused(&mut self, op: OpId, len: usize) {
        let reason = format!("the peer's outcome of {len} bytes was refused by the host's limits");
        let result = Record::new("error").with("reason", reason).encode();
        self.effects.push(Effect::Complete { op, ok: false, result });
    }

    /// Records an algorithm step.
    pub fn trace(&mut self, op: OpId, step: Vec<u8>) {
        if self.admit_record(step.len()) {
            self.push_record(RecordCall::Trace(op), step);
        }
    }

    /// Reports a committed consensus entry.
    pub fn committed(&mut self, index: u64, value: Vec<u8>) {
        if self.admit_record(value.len()) {
            self.push_record(RecordCall::Committed(index), value);
        }
    }

    /// Sets when this node's writes become durable (its group's policy).
    pub fn set_storage_policy(&mut self, policy: StoragePolicy) {
        self.disk.policy = policy;
    }

    /// The node's durable store, if it ever wrote to it.
    pub fn storage(&self) -> Option<&DurableStore> {
        self.disk.store()
    }

    /// Writes `value` under `key` in the node's durable store (durable once
    /// synced, see [`crate::storage`]). Refused, returning false, past the
    /// record size (key and value together), the event's allowance or the
    /// node's storage quota, and while an observer is calling the peer.
    pub fn storage_put(&mut self, key: Vec<u8>, value: Vec<u8>) -> bool {
        let cost = self.storage_write_cost(&key, value.len());
        if !self.admit_storage_write(key.len(), value.len(), cost) {
            return false;
        }
        self.storage_put_admitted(key, value);
        true
    }

    /// At most the bytes a write of `key` and `value_len` bytes adds to the
    /// store's quota.
    pub(crate) fn storage_write_cost(&self, key: &[u8], value_len: usize) -> u64 {
        self.disk.store().map_or(2 * (key.len() + value_len) as u64, |s| s.cost_of_put(key, value_len))
    }

    /// Whether a write of this size and `cost` is within the limits; counts
    /// the refusal if not. The host checks this before it copies the bytes.
    pub(crate) fn admit_storage_write(&mut self, key_len: usize, value_len: usize, cost: u64) -> bool {
        if self.observing || !self.admit_record(key_len + value_len) {
            return false;
        }
        let held = self.disk.store().map_or(0, DurableStore::held_bytes);
        if held.saturating_add(cost) > self.limits.max_storage_bytes_per_node {
            self.allowance.refuse(HostLimit::StorageBytesPerNode, key_len + value_len);
            return false;
        }
        true
    }

    /// Carries out a write [`Self::admit_storage_write`] admitted.
    pub(crate) fn storage_put_admitted(&mut self, key: Vec<u8>, value: Vec<u8>) {
        let policy = self.disk.policy;
        self.disk.store_mut().put(key, value, &policy);
    }

    /// Removes `key` from the node's durable store (durable once synced).
    pub fn storage_delete(&mut self, key: &[u8]) {
        if self.observing || !self.allowance.admit(&self.limits, key.len()) {
            return;
        }
        let policy = self.disk.policy;
        if let Some(store) = self.disk.existing_mut() {
            store.delete(key.to_vec(), &policy);
        }
    }

    /// The value under `key` in the node's store, written or synced.
    pub fn storage_get(&self, key: &[u8]) -> Option<&[u8]> {
        self.disk.store()?.get(key)
    }

    /// The keys of the node's store that start with `prefix`, in order.
    pub fn storage_keys(&self, prefix: &[u8]) -> Vec<Vec<u8>> {
        self.disk.store().map(|s| s.keys_with_prefix(prefix).map(<[u8]>::to_vec).collect()).unwrap_or_default()
    }

    /// Makes every write so far durable, after the group's disk latency;
    /// `on-timer(tag)` follows once they are (see [`crate::storage`]).
    /// Returns the timer's handle, or 0 if refused (as [`Self::set_timer`];
    /// while observed, nothing happens).
    pub fn storage_sync(&mut self, tag: u64) -> u64 {
        if self.observing {
            return 0;
        }
        let policy = self.disk.policy;
        let now = self.now;
        let delay = match self.disk.existing_mut() {
            Some(store) => store.sync(now, &policy),
            None => policy.sync_latency,
        };
        self.set_timer(delay, tag)
    }

    /// The node lost its memory at `now` (a crash, a restart from
    /// scratch): its store keeps only what was durable by then.
    pub fn lose_unsynced_writes(&mut self, now: SimTime) -> Lost {
        self.disk.crash(now)
    }

    /// Hands the node's disk to its next incarnation.
    pub fn take_disk(&mut self) -> Disk {
        std::mem::take(&mut self.disk)
    }

    /// Makes this node sign into the run's shared set of signatures.
    pub fn set_signatures(&mut self, signatures: crate::signing::Signatures) {
        self.signatures = signatures;
    }

    /// The set of signatures this node signs into.
    pub fn signatures(&self) -> &crate::signing::Signatures {
        &self.signatures
    }

    /// Signs `data` as this node ([`crate::signing`]); while observed, or
    /// past the per-event byte allowance, nothing is signed and the
    /// signature is empty.
    pub fn sign(&mut self, data: &[u8]) -> Vec<u8> {
        if self.observing || !self.admit_record(data.len()) {
            return Vec::new();
        }
        self.signatures.sign(self.index, data)
    }

    /// Whether `signature` is the one `signer` made of `data`.
    pub fn verify(&mut self, signer: NodeIndex, data: &[u8], signature: &[u8]) -> bool {
        self.admit_record(data.len()) && self.signatures.verify(signer, data, signature)
    }

    /// Gives this context the disk of the node's previous incarnation.
    pub fn set_disk(&mut self, disk: Disk) {
        self.disk = disk;
    }

    /// The calls refused in this event, per limit that refused any, and
    /// resets the counts.
    pub fn take_refusals(&mut self) -> impl Iterator<Item = (HostLimit, Refused)> + use<> {
        let refused = std::mem::take(&mut self.allowance.refused);
        HostLimit::ALL.into_iter().zip(refused).filter(|(_, r)| r.calls > 0)
    }

    /// Remembers the context's state (random stream, timer counter, effects
    /// and allowance so far) so that an observation can be undone with
    /// [`Self::restore`]; until then, storage is read-only.
    pub fn save(&mut self) -> SavedContext {
        self.observing = true;
        SavedContext {
            rng: self.rng.clone(),
            next_timer: self.next_timer,
            effects: self.effects.len(),
            allowance: self.allowance.clone(),
            log_bytes: self.log_bytes,
        }
    }

    /// Undoes everything since [`Self::save`]: draws, timers and effects.
    pub fn restore(&mut self, saved: SavedContext) {
        self.observing = false;
        self.rng = saved.rng;
        self.next_timer = saved.next_timer;
        self.effects.truncate(saved.effects);
        self.allowance = saved.allowance;
        self.log_bytes = saved.log_bytes;
    }

    /// Moves the effects produced so far into `out` (which is cleared first).
    pub fn take_effects(&mut self, out: &mut Vec<Effect>) {
        out.clear();
        std::mem::swap(&mut self.effects, out);
    }
}

/// Which host call hands over a record (for [`NodeContext::push_record`]).
#[derive(Clone, Copy, Debug)]
pub(crate) enum RecordCall {
    /// `publish-state`.
    State,
    /// `trace` for an operation.
    Trace(OpId),
    /// `committed` at a log index.
    Committed(u64),
}

/// A snapshot of a [`NodeContext`], taken before an observation.
#[derive(Clone, Debug)]
pub struct SavedContext {
    rng: SimRng,
    next_timer: u64,
    effects: usize,
    allowance: Allowance,
    log_bytes: u64,
}

/// Why a simulated node crashed. This is part of the simulation (recorded
/// in the event log; the run goes on), not an error of the framework.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "kebab-case")]
pub enum CrashReason {
    /// The handler used up its per-event CPU budget (fuel).
    OutOfFuel,
    /// The node tried to grow its memory past its limit.
    MemoryLimit,
    /// The guest's stack overflowed.
    StackOverflow,
    /// The guest panicked; the message if the guest reported one.
    Panic(String),
    /// Another WebAssembly trap, with wasmtime's description.
    Trap(String),
    /// The peer does not export the interface an operation needs.
    Unsupported(String),
    /// The guest called `exit` (`std::process::exit`); the status it gave.
    /// A Rust `wasm32-wasip2` guest passes only success (0) or failure (1).
    Exited(i32),
    /// The guest tried to wait for real time to pass or for I/O
    /// (`std::thread::sleep`, a WASI pollable): a peer reacts to events and
    /// never blocks; it sets a timer instead.
    Blocked(String),
    /// A handler call ran longer in real time than the host's guard allows
    /// ([`crate::wasm::WasmLimits::wall_clock_per_call`]); only a host far
    /// slower than usual lets a call get there before running out of fuel.
    WallClockLimit,
    /// The node ran more handler calls within one second of virtual time
    /// than [`crate::limits::HostLimits::max_handler_calls_per_second`]:
    /// it loops without letting virtual time advance.
    EventStorm {
        /// The limit it exceeded.
        calls: u64,
    },
}

impl fmt::Display for CrashReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CrashReason::OutOfFuel => write!(f, "exceeded its CPU budget for one event (out of fuel)"),
            CrashReason::MemoryLimit => write!(f, "exceeded its memory limit"),
            CrashReason::StackOverflow => write!(f, "overflowed its stack"),
            CrashReason::Panic(m) if m.is_empty() => write!(f, "panicked"),
            CrashReason::Panic(m) => write!(f, "panicked: {m}"),
            CrashReason::Trap(m) => write!(f, "trapped: {m}"),
            CrashReason::Unsupported(m) => write!(f, "cannot perform the operation: {m}"),
            CrashReason::Exited(0) => write!(f, "exited (status 0)"),
            CrashReason::Exited(1) => write!(f, "exited with status 1 (a failure; Rust's wasm32-wasip2 exit passes no other code)"),
            CrashReason::Exited(status) => write!(f, "exited with status {status}"),
            CrashReason::Blocked(m) => write!(f, "tried to block: {m}; a peer never waits, it sets a timer (host::set_timer) instead"),
            CrashReason::WallClockLimit => write!(f, "ran past the wall-clock limit for one handler call"),
            CrashReason::EventStorm { calls } => write!(
                f,
                "ran more than {calls} handler calls within one second of virtual time (a timer or message loop that never lets time advance)"
            ),
        }
    }
}

/// Cost of one handler call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallCost {
    /// WebAssembly fuel consumed (0 for native peers).
    pub fuel: u64,
}

/// A running peer, as the engine drives it.
pub trait PeerRuntime: Send {
    /// The context handlers write their effects into.
    fn context(&mut self) -> &mut NodeContext;

    /// The context, to read (the node's storage, say).
    fn context_ref(&self) -> &NodeContext;

    /// Runs the handler for one input. An `Err` means the node crashed; the
    /// engine records it and never calls this node again.
    fn handle(&mut self, input: Input<'_>) -> Result<CallCost, CrashReason>;

    /// Whether the peer can perform operations of this WIT interface
    /// ("peer", "routing", "discovery", "consensus", "observable").
    fn exports(&self, interface: &str) -> bool;

    /// The peer's current internal state, if it can describe it on demand
    /// (the `observable` interface). Must leave the node as it was.
    fn inspect(&mut self) -> Option<Result<Vec<u8>, CrashReason>> {
        None
    }
}

/// A peer written in native Rust: trusted, unsandboxed, fast. Useful for
/// baselines, tests of the network model and prototyping; students submit
/// WebAssembly peers instead.
pub trait Peer: Send {
    /// The node starts.
    fn init(&mut self, ctx: &mut NodeContext, args: &InitArgs);
    /// A message arrived.
    fn on_message(&mut self, ctx: &mut NodeContext, from: NodeIndex, message: &[u8]);
    /// A timer fired.
    fn on_timer(&mut self, ctx: &mut NodeContext, tag: u64) {
        let _ = (ctx, tag);
    }
    /// An operation was requested; the default declines it.
    fn on_operation(&mut self, ctx: &mut NodeContext, op: OpId, operation: &Operation) {
        ctx.complete(op, false, Record::new("error").with("reason", "unsupported operation").encode());
        let _ = operation;
    }
    /// The peer's current state as an encoded record, when an observer asks
    /// (snapshots, [`Simulation::inspect_node`](crate::sim::Simulation::inspect_node));
    /// `None`, the default, means observers read what it published last.
    fn inspect(&self) -> Option<Vec<u8>> {
        None
    }
    /// Asked after every handler and `inspect`: `Some` crashes the node
    /// with this reason, as a trap crashes a WebAssembly node. Peers
    /// written in another language report their exceptions so (the
    /// Python API's peers); the default never fails.
    fn failure(&mut self) -> Option<CrashReason> {
        None
    }
}

/// Runs a native [`Peer`].
pub struct NativeRuntime<P> {
    peer: P,
    ctx: NodeContext,
}

impl<P: Peer> NativeRuntime<P> {
    /// Wraps `peer` with its context.
    pub fn new(peer: P, ctx: NodeContext) -> Self {
        NativeRuntime { peer, ctx }
    }
}

impl<P: Peer> PeerRuntime for NativeRuntime<P> {
    fn context(&mut self) -> &mut NodeContext {
        &mut self.ctx
    }

    fn context_ref(&self) -> &NodeContext {
        &self.ctx
    }

    fn handle(&mut self, input: Input<'_>) -> Result<CallCost, CrashReason> {
        match input {
            Input::Init(args) => self.peer.init(&mut self.ctx, args),
            Input::Message { from, bytes } => self.peer.on_message(&mut self.ctx, from, bytes),
            Input::Timer { tag } => self.peer.on_timer(&mut self.ctx, tag),
            Input::Operation { op, operation } => self.peer.on_operation(&mut self.ctx, op, operation),
        }
        match self.peer.failure() {
            Some(reason) => Err(reason),
            None => Ok(CallCost::default()),
        }
    }

    fn exports(&self, _interface: &str) -> bool {
        true
    }

    fn inspect(&mut self) -> Option<Result<Vec<u8>, CrashReason>> {
        let state = self.peer.inspect();
        match self.peer.failure() {
            Some(reason) => Some(Err(reason)),
            None => state.map(Ok),
        }
    }
}
