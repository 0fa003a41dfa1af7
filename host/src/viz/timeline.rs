//! Snapshot diffs and timelines: a network's evolution, replayable.

use super::topology::{Edge, Flow, NodeView, TopologySnapshot};
use crate::NodeIndex;
use crate::time::SimTime;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// What changed between two snapshots.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SnapshotDiff {
    /// The earlier snapshot's time.
    pub from: SimTime,
    /// The later snapshot's time.
    pub to: SimTime,
    /// Nodes that appeared or changed (status, role, summary), as they are now.
    pub nodes_changed: Vec<NodeView>,
    /// Nodes no longer in the snapshot.
    pub nodes_removed: Vec<NodeIndex>,
    /// Edges that appeared.
    pub edges_added: Vec<Edge>,
    /// Edges that disappeared.
    pub edges_removed: Vec<Edge>,
    /// The later snapshot's flows and window.
    pub flows: Vec<Flow>,
    /// The later snapshot's flow window.
    pub flow_window: Option<(SimTime, SimTime)>,
}

impl SnapshotDiff {
    /// Whether nothing changed (flows aside).
    pub fn is_empty(&self) -> bool {
        self.nodes_changed.is_empty() && self.nodes_removed.is_empty() && self.edges_added.is_empty() && self.edges_removed.is_empty()
    }
}

impl TopologySnapshot {
    /// What changed from this snapshot to `later`.
    pub fn diff(&self, later: &TopologySnapshot) -> SnapshotDiff {
        let before: std::collections::BTreeMap<NodeIndex, &NodeView> = self.nodes.iter().map(|n| (n.index, n)).collect();
        let after: BTreeSet<NodeIndex> = later.nodes.iter().map(|n| n.index).collect();
        let nodes_changed = later.nodes.iter().filter(|n| before.get(&n.index) != Some(n)).cloned().collect();
        let nodes_removed = self.nodes.iter().map(|n| n.index).filter(|i| !after.contains(i)).collect();
        let (old, new): (BTreeSet<&Edge>, BTreeSet<&Edge>) = (self.edges.iter().collect(), later.edges.iter().collect());
        SnapshotDiff {
            from: self.time,
            to: later.time,
            nodes_changed,
            nodes_removed,
            edges_added: new.difference(&old).map(|e| (*e).clone()).collect(),
            edges_removed: old.difference(&new).map(|e| (*e).clone()).collect(),
            flows: later.flows.clone(),
            flow_window: later.flow_window,
        }
    }

    /// The snapshot `diff` leads to from this one.
    pub fn apply(&self, diff: &SnapshotDiff) -> TopologySnapshot {
        let removed: BTreeSet<NodeIndex> = diff.nodes_removed.iter().copied().collect();
        let mut nodes: std::collections::BTreeMap<NodeIndex, NodeView> =
            self.nodes.iter().filter(|n| !removed.contains(&n.index)).map(|n| (n.index, n.clone())).collect();
        for n in &diff.nodes_changed {
            nodes.insert(n.index, n.clone());
        }
        let gone: BTreeSet<&Edge> = diff.edges_removed.iter().collect();
        let mut edges: BTreeSet<Edge> = self.edges.iter().filter(|e| !gone.contains(e)).cloned().collect();
        edges.extend(diff.edges_added.iter().cloned());
        TopologySnapshot {
            time: diff.to,
            nodes: nodes.into_values().collect(),
            edges: edges.into_iter().collect(),
            flows: diff.flows.clone(),
            flow_window: diff.flow_window,
        }
    }
}

/// A network's evolution: a first snapshot and the diffs that follow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// The first snapshot.
    pub start: TopologySnapshot,
    /// Each later snapshot as a diff from the one before.
    pub diffs: Vec<SnapshotDiff>,
    #[serde(skip)]
    last: Option<TopologySnapshot>,
}

impl Timeline {
    /// A timeline starting with `snapshot`.
    pub fn new(snapshot: TopologySnapshot) -> Self {
        Timeline { start: snapshot.clone(), diffs: Vec::new(), last: Some(snapshot) }
    }

    /// Appends a later snapshot (stored as a diff).
    pub fn push(&mut self, snapshot: TopologySnapshot) {
        let last = self.last.take().unwrap_or_else(|| self.replay().last().cloned().unwrap_or_else(|| self.start.clone()));
        self.diffs.push(last.diff(&snapshot));
        self.last = Some(snapshot);
    }

    /// Every snapshot, rebuilt from the start and the diffs.
    pub fn replay(&self) -> Vec<TopologySnapshot> {
        let mut out = vec![self.start.clone()];
        for d in &self.diffs {
            let next = out.last().expect("starts with one").apply(d);
            out.push(next);
        }
        out
    }
}
