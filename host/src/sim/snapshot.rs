//! Topology snapshots of a running simulation.

use super::Simulation;
use crate::NodeIndex;
use crate::time::SimTime;
use crate::viz::topology::{Flow, NodeView, Status, TopologySnapshot, read_state};
use std::collections::BTreeMap;

impl Simulation {
    /// The network now: every node (status, role, state summary) and the
    /// typed edges its observable state describes (see
    /// [`crate::viz::topology`]), plus the data flows of the messages sent
    /// in `flows` (`[start, end)`) if capture is on. Observing never changes
    /// the run.
    pub fn topology(&mut self, window: Option<(SimTime, SimTime)>) -> TopologySnapshot {
        let n = self.nodes.len();
        let mut nodes = Vec::with_capacity(n);
        let mut edges = Vec::new();
        for i in 0..n as NodeIndex {
            let status = match self.node_status(i).expect("in range") {
                super::NodeStatus::NotStarted => Status::NotStarted,
                super::NodeStatus::Up => Status::Up,
                super::NodeStatus::Down(_) => Status::Down,
                super::NodeStatus::Crashed(_) => Status::Crashed,
            };
            let state = if status == Status::Up { self.inspect_node(i) } else { None };
            let (mut node_edges, role, summary) = match &state {
                Some(record) => read_state(i, record),
                None => (Vec::new(), None, BTreeMap::new()),
            };
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
