//! Topology snapshots of a running simulation.

use super::Simulation;
use crate::NodeIndex;
use crate::node::CrashReason;
use crate::time::SimTime;
use crate::viz::topology::Edge;
use crate::viz::topology::{Flow, NodeView, Status, TopologySnapshot, read_state};
use std::collections::BTreeMap;

/// What reading one node's state gave.
enum Read {
    /// Its `inspect` export's answer, read into edges, role and summary,
    /// and the conventions it broke.
    State((Vec<Edge>, Option<String>, BTreeMap<String, serde_json::Value>), Vec<String>),
    /// It has no `inspect` export: use what it published.
    Published,
    /// Its `inspect` trapped.
    Crashed(CrashReason),
    /// Not running, or nothing readable.
    Nothing,
}

impl Simulation {
    /// The network now: every node (status, role, state summary) and the
    /// typed edges its observable state describes (see
    /// [`crate::viz::topology`]), plus the data flows of the messages sent
    /// in `flows` (`[start, end)`) if capture is on. Observing never changes
    /// the run.
    pub fn topology(&mut self, window: Option<(SimTime, SimTime)>) -> TopologySnapshot {
        let n = self.nodes.len();
        let now = self.now;
        // Each node is its own sandbox: read their states on all cores, in
        // chunks of nodes, and decode them there too.
        let threads = std::thread::available_parallelism().map_or(1, |t| t.get()).clamp(1, 8);
        let chunk = n.div_ceil(threads).max(1);
        let read: Vec<Read> = std::thread::scope(|s| {
            let parts: Vec<_> = self
                .nodes
                .chunks_mut(chunk)
                .enumerate()
                .map(|(c, slots)| {
                    s.spawn(move || {
                        slots
                            .iter_mut()
                            .enumerate()
                            .map(|(k, slot)| {
                                if !(slot.alive && slot.started && slot.down.is_none()) {
                                    return Read::Nothing;
                                }
                                slot.runtime.context().set_now(now);
                                match slot.runtime.inspect() {
                                    Some(Ok(bytes)) => match peershare_wire::Record::decode(&bytes) {
                                        Ok(record) => Read::State(read_state((c * chunk + k) as NodeIndex, &record), warnings(&record)),
                                        Err(_) => Read::Nothing,
                                    },
                                    Some(Err(reason)) => Read::Crashed(reason),
                                    None => Read::Published,
                                }
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            parts.into_iter().flat_map(|p| p.join().expect("a snapshot thread panicked")).collect()
        });
        let mut nodes = Vec::with_capacity(n);
        let mut edges = Vec::new();
        for (i, read) in read.into_iter().enumerate() {
            let i = i as NodeIndex;
            let mut node_warnings = Vec::new();
            let state = match read {
                Read::State(s, w) => {
                    node_warnings = w;
                    Some(s)
                }
                Read::Published => self.node_state(i).map(|r| {
                    node_warnings = warnings(&r);
                    read_state(i, &r)
                }),
                Read::Crashed(reason) => {
                    self.handling = crate::events::Handling::Inspect;
                    self.crash_node(i, reason);
                    None
                }
                Read::Nothing => None,
            };
            let status = match self.node_status(i).expect("in range") {
                super::NodeStatus::NotStarted => Status::NotStarted,
                super::NodeStatus::Up => Status::Up,
                super::NodeStatus::Down(_) => Status::Down,
                super::NodeStatus::Crashed(_) => Status::Crashed,
            };
            let (mut node_edges, role, summary) = state.unwrap_or_default();
            edges.append(&mut node_edges);
            let slot = &self.nodes[i as usize];
            nodes.push(NodeView {
                index: i,
                id: crate::events::hex(&self.ids[i as usize]),
                group: self.group_names[slot.group as usize].clone(),
                peer: self.sources[slot.group as usize].describe(),
                role,
                status,
                summary,
                warnings: node_warnings,
            });
        }
        edges.sort_unstable();
        edges.dedup();
        let flows = match (window, &self.capture) {
            (Some((start, end)), Some(capture)) => {
                let mut by_pair: BTreeMap<(NodeIndex, NodeIndex), Flow> = BTreeMap::new();
                for m in capture.sent_between(start, end).map(|id| capture.message(id)) {
                    let f = by_pair.entry((m.from(), m.to())).or_insert(Flow {
                        from: m.from(),
                        to: m.to(),
                        messages: 0,
                        bytes: 0,
                        delivered: 0,
                    });
                    f.messages += 1;
                    f.bytes += u64::from(m.size());
                    if m.fate() == crate::capture::Fate::Delivered {
                        f.delivered += 1;
                    }
                }
                by_pair.into_values().collect()
            }
            _ => Vec::new(),
        };
        TopologySnapshot { time: self.now, nodes, edges, flows, flow_window: window }
    }
}

/// The conventions a state breaks, in words.
fn warnings(state: &peershare_wire::Record) -> Vec<String> {
    crate::viz::convention_issues(state).iter().map(ToString::to_string).collect()
}
