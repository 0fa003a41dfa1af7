//! Lookup traces: one lookup as rounds of queries and answers, with the
//! distance to the target at each step, the shortlist as it converges, who
//! led to whom (a tree rooted at the asker), and the decision that ended it.
//!
//! Built from the `trace` steps a routing plugin records for an operation
//! (the Kademlia plugin's, and the SDK's `Step`: `query {round, to,
//! distance, metric}`, `answer {round, from, kind, returned, shortlist}`,
//! `timeout {from}`, `done {reason, rounds, queries}`); steps of other
//! kinds are kept as they are in `custom`.

use crate::NodeIndex;
use crate::events::{Event, LoggedEvent, hex};
use crate::node::OpId;
use crate::time::SimTime;
use peershare_wire::Record;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A query the asker sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Query {
    /// When.
    pub time: SimTime,
    /// To whom.
    pub to: NodeIndex,
    /// Distance from that node to the target in the peer's metric, hex.
    pub distance: Option<String>,
    /// The metric the peer named ("xor", "ring", ...); `None` if it named
    /// none (XOR, for older peers).
    pub metric: Option<String>,
    /// The node whose answer named it first (`None`: the asker's own table).
    pub learned_from: Option<NodeIndex>,
}

/// An answer the asker received.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// When.
    pub time: SimTime,
    /// From whom.
    pub from: NodeIndex,
    /// Its message kind (NODES, VALUE, ...).
    pub kind: String,
    /// The contacts it returned.
    pub returned: Vec<NodeIndex>,
    /// The asker's shortlist after it (closest first).
    pub shortlist: Vec<NodeIndex>,
}

/// One round: the queries of that round and their answers and timeouts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Round {
    /// The round, from 1.
    pub round: u32,
    /// Queries sent.
    pub queries: Vec<Query>,
    /// Answers received.
    pub answers: Vec<Answer>,
    /// Queries that timed out: (when, which node).
    pub timeouts: Vec<(SimTime, NodeIndex)>,
}

/// Why and how the lookup ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// When.
    pub time: SimTime,
    /// The plugin's reason ("k closest answered", "value found", ...).
    pub reason: String,
    /// Rounds (hops) it took.
    pub rounds: u64,
    /// Queries it sent.
    pub queries: u64,
}

/// One lookup, step by step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LookupTrace {
    /// The operation.
    pub op: OpId,
    /// The asking node.
    pub node: NodeIndex,
    /// The operation's kind.
    pub kind: String,
    /// When it started.
    pub started: SimTime,
    /// When it completed, and whether it succeeded.
    pub completed: Option<(SimTime, bool)>,
    /// Its rounds, in order.
    pub rounds: Vec<Round>,
    /// The decision that ended it.
    pub decision: Option<Decision>,
    /// Steps of the peer's own kinds, as they were recorded.
    pub custom: Vec<CustomStep>,
}

/// A trace step of a kind the lookup trace does not interpret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustomStep {
    /// When.
    pub time: SimTime,
    /// The step's kind.
    pub kind: String,
    /// Its fields, as JSON.
    pub fields: serde_json::Value,
}

impl LookupTrace {
    /// The trace of operation `op` from an event log (`None` if the log has
    /// no such operation).
    pub fn from_events(events: &[LoggedEvent], op: OpId) -> Option<LookupTrace> {
        let mut trace: Option<LookupTrace> = None;
        let mut rounds: BTreeMap<u32, Round> = BTreeMap::new();
        let mut learned: BTreeMap<NodeIndex, NodeIndex> = BTreeMap::new();
        let mut round_of: BTreeMap<NodeIndex, u32> = BTreeMap::new();
        for e in events {
            match &e.event {
                Event::OperationStarted { op: o, node, kind, .. } if *o == op => {
                    trace = Some(LookupTrace {
                        op,
                        node: *node,
                        kind: kind.clone(),
                        started: e.time,
                        completed: None,
                        rounds: Vec::new(),
                        decision: None,
                        custom: Vec::new(),
                    });
                }
                Event::OperationCompleted { op: o, ok, .. } if *o == op => {
                    if let Some(t) = trace.as_mut() {
                        t.completed = Some((e.time, *ok));
                    }
                }
                Event::Trace { op: o, step, .. } if *o == op => {
                    let Ok(step) = Record::decode(step) else { continue };
                    let round = step.u64("round").unwrap_or(0) as u32;
                    match step.kind.as_str() {
                        "query" => {
                            let Some(to) = step.node("to") else { continue };
                            round_of.insert(to, round);
                            let r = rounds.entry(round).or_insert_with(|| Round { round, ..Round::default() });
                            r.queries.push(Query {
                                time: e.time,
                                to,
                                distance: step.id("distance").map(hex),
                                metric: step.str("metric").map(str::to_string),
                                learned_from: learned.get(&to).copied(),
                            });
                        }
                        "answer" => {
                            let Some(from) = step.node("from") else { continue };
                            let returned = step.nodes("returned").unwrap_or_default().to_vec();
                            for &n in &returned {
                                learned.entry(n).or_insert(from);
                            }
                            let r = rounds.entry(round).or_insert_with(|| Round { round, ..Round::default() });
                            r.answers.push(Answer {
                                time: e.time,
                                from,
                                kind: step.str("kind").unwrap_or_default().to_string(),
                                returned,
                                shortlist: step.nodes("shortlist").unwrap_or_default().to_vec(),
                            });
                        }
                        "timeout" => {
                            let Some(from) = step.node("from") else { continue };
                            let round = round_of.get(&from).copied().unwrap_or(0);
                            rounds.entry(round).or_insert_with(|| Round { round, ..Round::default() }).timeouts.push((e.time, from));
                        }
                        "done" => {
                            if let Some(t) = trace.as_mut() {
                                t.decision = Some(Decision {
                                    time: e.time,
                                    reason: step.str("reason").unwrap_or_default().to_string(),
                                    rounds: step.u64("rounds").unwrap_or(0),
                                    queries: step.u64("queries").unwrap_or(0),
                                });
                            }
                        }
                        _ => {
                            if let Some(t) = trace.as_mut() {
                                let fields = crate::events::record_json(&step.encode())["fields"].clone();
                                t.custom.push(CustomStep { time: e.time, kind: step.kind.clone(), fields });
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        let mut trace = trace?;
        trace.rounds = rounds.into_values().collect();
        Some(trace)
    }

    /// The lookup as a tree: (parent, child) pairs, where the asker is the
    /// root and a queried node's parent is the node whose answer named it
    /// first (or the asker, for contacts from its own table).
    pub fn tree(&self) -> Vec<(NodeIndex, NodeIndex)> {
        self.rounds.iter().flat_map(|r| r.queries.iter().map(|q| (q.learned_from.unwrap_or(self.node), q.to))).collect()
    }

    /// Every query, in order.
    pub fn queries(&self) -> impl Iterator<Item = &Query> {
        self.rounds.iter().flat_map(|r| r.queries.iter())
    }
}
