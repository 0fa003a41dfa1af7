//! Consensus timelines: per node, its term, role, log length and commit
//! index over time, and every committed entry, ready for a consensus plugin
//! (Raft, Paxos) that publishes its state with `publish-state` and reports
//! commits with `committed`.
//!
//! State fields read: `term` (u64), `role` (text: "follower", "candidate",
//! "leader", ...), `log_length` (u64), `commit_index` (u64), `leader` (node).

use crate::NodeIndex;
use crate::events::{Event, LoggedEvent, hex};
use crate::time::SimTime;
use peershare_wire::Record;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A node's consensus state at one time (a change in what it published).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConsensusPoint {
    /// When it was published.
    pub time: SimTime,
    /// Its term (or ballot, or view).
    pub term: Option<u64>,
    /// Its role.
    pub role: Option<String>,
    /// Entries in its log.
    pub log_length: Option<u64>,
    /// Highest committed index it knows.
    pub commit_index: Option<u64>,
    /// The leader it follows.
    pub leader: Option<NodeIndex>,
}

/// An entry a node reported committed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Commit {
    /// When.
    pub time: SimTime,
    /// Which node.
    pub node: NodeIndex,
    /// Log position.
    pub index: u64,
    /// The value, hex.
    pub value: String,
}

/// Every node's consensus state over time, and every commit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConsensusTimeline {
    /// Per node, its states in time order (only changes are kept).
    pub nodes: BTreeMap<NodeIndex, Vec<ConsensusPoint>>,
    /// Commits in time order.
    pub commits: Vec<Commit>,
}

impl ConsensusTimeline {
    /// The timeline of a run's event log.
    pub fn from_events(events: &[LoggedEvent]) -> ConsensusTimeline {
        let mut t = ConsensusTimeline::default();
        for e in events {
            match &e.event {
                Event::StatePublished { node, state } => {
                    let Ok(state) = Record::decode(state) else { continue };
                    let point = ConsensusPoint {
                        time: e.time,
                        term: state.u64("term"),
                        role: state.str("role").map(str::to_string),
                        log_length: state.u64("log_length"),
                        commit_index: state.u64("commit_index"),
                        leader: state.node("leader"),
                    };
                    if point.term.is_none() && point.role.is_none() && point.log_length.is_none() && point.commit_index.is_none() {
                        continue;
                    }
                    let points = t.nodes.entry(*node).or_default();
                    let same = points.last().is_some_and(|p| {
                        (&p.term, &p.role, &p.log_length, &p.commit_index, &p.leader)
                            == (&point.term, &point.role, &point.log_length, &point.commit_index, &point.leader)
                    });
                    if !same {
                        points.push(point);
                    }
                }
                Event::Committed { node, index, value } => {
                    t.commits.push(Commit { time: e.time, node: *node, index: *index, value: hex(value) });
                }
                _ => {}
            }
        }
        t
    }

    /// The leaders over time: (time, term, node) whenever a node becomes leader.
    pub fn leaders(&self) -> Vec<(SimTime, Option<u64>, NodeIndex)> {
        let mut out: Vec<_> = self
            .nodes
            .iter()
            .flat_map(|(&n, points)| {
                points
                    .windows(2)
                    .filter(|w| w[1].role.as_deref() == Some("leader") && w[0].role.as_deref() != Some("leader"))
                    .map(move |w| (w[1].time, w[1].term, n))
            })
            .chain(
                self.nodes
                    .iter()
                    .filter_map(|(&n, p)| p.first().filter(|p| p.role.as_deref() == Some("leader")).map(|p| (p.time, p.term, n))),
            )
            .collect();
        out.sort();
        out
    }
}
