//! A replicated key/value store on top of any consensus plugin, and the
//! linearizability check of what its clients saw.
//!
//! The workload's `kv-put`, `kv-get` and `kv-cas` operations (request
//! fields `key`, a string, and `value`, bytes) are clients at a node. Each
//! becomes a command (a record of kind `kv`: the command's number, what it
//! does, key, value, expected value) proposed to the node's consensus peer
//! through the `consensus` interface. Every node applies the commands it
//! reports through `committed`, in log order, to a key/value state machine
//! of its own: its copy of the store. When the peer completes the client's
//! proposal, the client's answer is what the client's node computed when it
//! applied the command:
//! - `kv-put`: writes the value (answers nothing);
//! - `kv-get`: the key's value (or none);
//! - `kv-cas`: writes the value if the key holds what this client last saw
//!   of it (by its last answer for that key; nothing if none) and answers
//!   the value the key held before, so the client knows whether it swapped.
//!
//! With [`Reads::Local`] a `kv-get` skips the log and answers from the
//! client's node's own copy at once: fast, and stale on a node that has
//! fallen behind or been cut off: the bug the check catches.
//!
//! An operation the peer fails (no leader, timeout) or completes before its
//! node applied the command has no answer: its command may still commit,
//! so the check lets it take effect at any time after it was issued, or
//! never.
//!
//! At the end of a run, [`KeyValueStore::report`] checks the clients'
//! history with [`crate::linearizability`]: one register per key and per
//! cluster (nodes are in one cluster when they applied the same command),
//! each searched within the step budget.
//!
//! ```toml
//! [kv]
//! keys = 3                  # the workload's keys: "k0", "k1", "k2" (unless it names one)
//! reads = "log"             # log | local
//! check_budget = 1000000    # search steps per key and cluster
//!
//! [[workload]]
//! op = "kv-put"             # kv-put | kv-get | kv-cas
//! rate = 20.0
//! group = "raft"
//! ```

use crate::NodeIndex;
use crate::app::{AppContext, Application};
use crate::linearizability::{self, Call, Model, Verdict};
use crate::node::{OpId, Operation};
use crate::referee::{Property, Violation};
use crate::time::SimTime;
use peershare_wire::Record;
use serde::Serialize;
use std::collections::BTreeMap;

/// How `kv-get` is served.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reads {
    /// Through the log, like every other command: linearizable.
    #[default]
    Log,
    /// From the client's node's own copy, at once: possibly stale.
    Local,
}

/// Settings of the key/value store.
#[derive(Clone, Debug, PartialEq)]
pub struct KvConfig {
    /// How reads are served.
    pub reads: Reads,
    /// Search steps of the linearizability check per key and cluster.
    pub check_budget: u64,
}

impl Default for KvConfig {
    fn default() -> Self {
        KvConfig { reads: Reads::Log, check_budget: 1_000_000 }
    }
}

/// What a client asked of one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvInput {
    /// Write a value.
    Put(Vec<u8>),
    /// Read the value.
    Get,
    /// Write `new` if the key holds `expected` (`None`: absent).
    Cas {
        /// The value the client expects.
        expected: Option<Vec<u8>>,
        /// The value it writes if so.
        new: Vec<u8>,
    },
}

/// What a client was answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvOutput {
    /// A put was done.
    Written,
    /// The key's value (for a cas: before it).
    Value(Option<Vec<u8>>),
}

/// The sequential specification of one key: a register with
/// compare-and-set.
#[derive(Clone, Copy, Debug, Default)]
pub struct KvModel;

impl KvModel {
    /// The key's state after `input` and what it answers.
    pub fn apply(state: &Option<Vec<u8>>, input: &KvInput) -> (Option<Vec<u8>>, KvOutput) {
        match input {
            KvInput::Put(v) => (Some(v.clone()), KvOutput::Written),
            KvInput::Get => (state.clone(), KvOutput::Value(state.clone())),
            KvInput::Cas { expected, new } => {
                let next = if state == expected { Some(new.clone()) } else { state.clone() };
                (next, KvOutput::Value(state.clone()))
            }
        }
    }
}

impl Model for KvModel {
    type State = Option<Vec<u8>>;
    type Input = KvInput;
    type Output = KvOutput;

    fn init(&self) -> Option<Vec<u8>> {
        None
    }

    fn step(&self, state: &Option<Vec<u8>>, input: &KvInput, output: Option<&KvOutput>) -> Option<Option<Vec<u8>>> {
        let (next, answer) = KvModel::apply(state, input);
        (output.is_none_or(|o| *o == answer)).then_some(next)
    }
}

/// One client operation of the history.
#[derive(Clone, Debug, PartialEq)]
pub struct KvCall {
    /// The client's node.
    pub node: NodeIndex,
    /// The key.
    pub key: String,
    /// What was asked, when, and what came back.
    pub call: Call<KvInput, KvOutput>,
}

/// The linearizability check of a run's key/value history.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LinearizabilityReport {
    /// Client operations in the history.
    pub operations: usize,
    /// Of them, answered ones.
    pub answered: usize,
    /// Independent registers checked (key x cluster).
    pub registers: usize,
    /// Registers whose history is linearizable.
    pub linearizable: usize,
    /// Registers whose history is not.
    pub not_linearizable: usize,
    /// Registers the search could not decide within its budget.
    pub unknown: usize,
    /// One violation per register that is not linearizable.
    pub violations: Vec<Violation>,
}

/// One node's copy of the store.
#[derive(Debug, Default)]
struct Replica {
    /// The last log index applied.
    applied: u64,
    /// A gap in the indices the node committed: its copy is no longer
    /// trusted (the referee reports the gap).
    broken: bool,
    data: BTreeMap<String, Vec<u8>>,
    /// Answers to this node's own clients' commands, by command number.
    answers: BTreeMap<usize, KvOutput>,
}

/// The key/value application (see the module documentation).
#[derive(Debug)]
pub struct KeyValueStore {
    config: KvConfig,
    replicas: BTreeMap<NodeIndex, Replica>,
    history: Vec<KvCall>,
    /// Peer operations in flight: the client's operation and command number.
    proposals: BTreeMap<OpId, (OpId, usize)>,
    /// What each client last saw of each key, for its next cas.
    last_seen: BTreeMap<(NodeIndex, String), Option<Vec<u8>>>,
    /// Union-find over nodes: nodes that applied the same command.
    cluster: BTreeMap<NodeIndex, NodeIndex>,
}

impl KeyValueStore {
    /// A store with no data and no history.
    pub fn new(config: KvConfig) -> Self {
        KeyValueStore {
            config,
            replicas: BTreeMap::new(),
            history: Vec::new(),
            proposals: BTreeMap::new(),
            last_seen: BTreeMap::new(),
            cluster: BTreeMap::new(),
        }
    }

    /// The clients' history so far.
    pub fn history(&self) -> &[KvCall] {
        &self.history
    }

    /// `node`'s copy of `key`, as it applied the log so far.
    pub fn value_at(&self, node: NodeIndex, key: &str) -> Option<&[u8]> {
        self.replicas.get(&node)?.data.get(key).map(Vec::as_slice)
    }

    fn root(&self, mut node: NodeIndex) -> NodeIndex {
        while let Some(&up) = self.cluster.get(&node) {
            if up == node {
                break;
            }
            node = up;
        }
        node
    }

    fn join(&mut self, a: NodeIndex, b: NodeIndex) {
        let (ra, rb) = (self.root(a), self.root(b));
        if ra != rb {
            // The lower index names the cluster.
            let (low, high) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.cluster.insert(high, low);
        }
    }

    /// Checks the history: one register per key and cluster.
    pub fn report(&self) -> LinearizabilityReport {
        let mut registers: BTreeMap<(NodeIndex, &str), Vec<usize>> = BTreeMap::new();
        for (i, c) in self.history.iter().enumerate() {
            registers.entry((self.root(c.node), c.key.as_str())).or_default().push(i);
        }
        let mut report = LinearizabilityReport {
            operations: self.history.len(),
            answered: self.history.iter().filter(|c| c.call.returned.is_some()).count(),
            registers: registers.len(),
            ..LinearizabilityReport::default()
        };
        for ((cluster, key), calls) in registers {
            let history: Vec<Call<KvInput, KvOutput>> = calls.iter().map(|&i| self.history[i].call.clone()).collect();
            match linearizability::check(&KvModel, &history, self.config.check_budget) {
                Verdict::Linearizable { .. } => report.linearizable += 1,
                Verdict::Unknown { .. } => report.unknown += 1,
                Verdict::NotLinearizable { longest, stuck } => {
                    report.not_linearizable += 1;
                    report.violations.push(self.violation(cluster, key, &calls, &longest, stuck));
                }
            }
        }
        report
    }

    /// The violation of one register: the call that could not be placed,
    /// and the last write that had returned before it was issued (the
    /// write a stale read missed); the window runs from that write's call
    /// to the stuck call's answer.
    fn violation(&self, cluster: NodeIndex, key: &str, calls: &[usize], longest: &[usize], stuck: usize) -> Violation {
        let stuck_call = &self.history[calls[stuck]];
        let at = stuck_call.call.returned.as_ref().map_or(stuck_call.call.called, |(t, _)| *t);
        let before = calls
            .iter()
            .map(|&i| &self.history[i])
            .filter(|c| !matches!(c.call.input, KvInput::Get))
            .filter_map(|c| c.call.returned.as_ref().map(|(t, _)| (*t, c)))
            .filter(|(t, _)| *t < stuck_call.call.called)
            .max_by_key(|(t, _)| *t);
        let mut nodes = vec![stuck_call.node];
        let mut since = stuck_call.call.called;
        let mut missed = String::new();
        if let Some((returned, write)) = before {
            if write.node != stuck_call.node {
                nodes.push(write.node);
            }
            since = since.min(write.call.called);
            missed = format!(
                "; the last write to return before it was issued: {} (issued at {}, answered at {returned})",
                describe(write),
                write.call.called
            );
        }
        Violation {
            property: Property::Linearizability,
            nodes,
            term: None,
            index: None,
            since,
            at,
            detail: format!(
                "key {key:?} in the cluster of node {cluster}: no order of its {} operations explains the answers; \
                 {} fit in an order, then {} ({}, issued at {}) cannot{missed}",
                calls.len(),
                longest.len(),
                describe(stuck_call),
                match &stuck_call.call.returned {
                    Some((t, _)) => format!("answered at {t}"),
                    None => "never answered".to_string(),
                },
                stuck_call.call.called,
            ),
        }
    }

    fn answer(&mut self, op: OpId, index: usize, output: KvOutput, now: SimTime, ctx: &mut AppContext) {
        let call = &mut self.history[index];
        let seen = match (&call.call.input, &output) {
            (KvInput::Put(v), _) => Some(v.clone()),
            (KvInput::Cas { expected, new }, KvOutput::Value(before)) if before == expected => Some(new.clone()),
            (_, KvOutput::Value(v)) => v.clone(),
            (_, KvOutput::Written) => None,
        };
        self.last_seen.insert((call.node, call.key.clone()), seen);
        let result = match &output {
            KvOutput::Written => Record::new("written"),
            KvOutput::Value(Some(v)) => Record::new("value").with("value", v.clone()),
            KvOutput::Value(None) => Record::new("absent"),
        };
        call.call.returned = Some((now, output));
        ctx.complete(op, true, result);
    }
}

fn describe(call: &KvCall) -> String {
    let bytes = |v: &[u8]| crate::events::hex(&v[..v.len().min(8)]);
    let value = |v: &Option<Vec<u8>>| v.as_deref().map_or("nothing".to_string(), bytes);
    let asked = match &call.call.input {
        KvInput::Put(v) => format!("put {} at node {}", bytes(v), call.node),
        KvInput::Get => format!("get at node {}", call.node),
        KvInput::Cas { expected, new } => format!("cas {} -> {} at node {}", value(expected), bytes(new), call.node),
    };
    match &call.call.returned {
        Some((_, KvOutput::Value(v))) => format!("{asked} answering {}", value(v)),
        _ => asked,
    }
}

/// The command a client's operation proposes.
fn command(number: usize, key: &str, input: &KvInput) -> Record {
    let r = Record::new("kv").with("n", number as u64).with("key", key);
    match input {
        KvInput::Put(v) => r.with("do", "put").with("value", v.clone()),
        KvInput::Get => r.with("do", "get"),
        KvInput::Cas { expected, new } => {
            let r = r.with("do", "cas").with("value", new.clone());
            match expected {
                Some(e) => r.with("expected", e.clone()),
                None => r,
            }
        }
    }
}

/// A command back from the log: its number, key and input.
fn parse_command(value: &[u8]) -> Option<(usize, String, KvInput)> {
    let r = Record::decode(value).ok()?;
    if r.kind != "kv" {
        return None;
    }
    let number = usize::try_from(r.u64("n")?).ok()?;
    let key = r.str("key")?.to_string();
    let value = || r.bytes("value").map(<[u8]>::to_vec);
    let input = match r.str("do")? {
        "put" => KvInput::Put(value()?),
        "get" => KvInput::Get,
        "cas" => KvInput::Cas { expected: r.bytes("expected").map(<[u8]>::to_vec), new: value()? },
        _ => return None,
    };
    Some((number, key, input))
}

impl Application for KeyValueStore {
    fn check_request(&self, request: &Record) -> Result<(), String> {
        match request.kind.as_str() {
            "kv-get" => Ok(()),
            "kv-put" | "kv-cas" if request.bytes("value").is_some() => Ok(()),
            "kv-put" | "kv-cas" => Err(format!("a {} needs a `value`", request.kind)),
            other => Err(format!("the key/value store has no operation {other:?} (use kv-put, kv-get or kv-cas)")),
        }
        .and_then(|()| if request.str("key").is_some() { Ok(()) } else { Err(format!("a {} needs a `key`", request.kind)) })
    }

    fn start(&mut self, ctx: &mut AppContext, op: OpId, node: NodeIndex, request: &Record) {
        let key = request.str("key").unwrap_or_default().to_string();
        let value = request.bytes("value").map(<[u8]>::to_vec).unwrap_or_default();
        let input = match request.kind.as_str() {
            "kv-put" => KvInput::Put(value),
            "kv-cas" => KvInput::Cas { expected: self.last_seen.get(&(node, key.clone())).cloned().flatten(), new: value },
            _ => KvInput::Get,
        };
        let number = self.history.len();
        let local_read = input == KvInput::Get && self.config.reads == Reads::Local;
        let proposal = command(number, &key, &input);
        self.history.push(KvCall { node, key: key.clone(), call: Call::pending(input, ctx.now()) });
        if local_read {
            let value = self.value_at(node, &key).map(<[u8]>::to_vec);
            self.answer(op, number, KvOutput::Value(value), ctx.now(), ctx);
            return;
        }
        let peer_op = ctx.peer_operation(node, Operation::Propose { value: proposal.encode() });
        self.proposals.insert(peer_op, (op, number));
    }

    fn on_message(&mut self, _ctx: &mut AppContext, _node: NodeIndex, _from: NodeIndex, _message: &Record) {}

    fn on_timer(&mut self, _ctx: &mut AppContext, _node: NodeIndex, _tag: u64) {}

    fn on_peer_complete(&mut self, ctx: &mut AppContext, node: NodeIndex, op: OpId, ok: bool, result: &Record) {
        let Some((client_op, number)) = self.proposals.remove(&op) else { return };
        if !ok {
            ctx.complete(client_op, false, result.clone());
            return;
        }
        match self.replicas.get_mut(&node).and_then(|r| r.answers.remove(&number)) {
            Some(output) => self.answer(client_op, number, output, ctx.now(), ctx),
            None => ctx.complete(
                client_op,
                false,
                Record::new("error").with("reason", format!("the peer completed the proposal before node {node} applied it")),
            ),
        }
    }

    fn on_committed(&mut self, _ctx: &mut AppContext, node: NodeIndex, index: u64, value: &[u8]) {
        let replica = self.replicas.entry(node).or_default();
        if index == 1 {
            // From the start: a first commit, or a node replaying its log
            // after a restart that lost its memory.
            *replica = Replica::default();
        } else if index != replica.applied + 1 {
            replica.broken = true;
        }
        replica.applied = index;
        if replica.broken {
            return;
        }
        let Some((number, key, input)) = parse_command(value) else { return };
        let (next, output) = KvModel::apply(&replica.data.get(&key).cloned(), &input);
        match next {
            Some(v) => replica.data.insert(key, v),
            None => replica.data.remove(&key),
        };
        let client = self.history.get(number).map(|c| c.node);
        if client == Some(node) {
            replica.answers.entry(number).or_insert(output);
        }
        if let Some(client) = client {
            self.join(node, client);
        }
    }

    fn linearizability(&self) -> Option<LinearizabilityReport> {
        Some(self.report())
    }
}

#[cfg(test)]
mod tests;
