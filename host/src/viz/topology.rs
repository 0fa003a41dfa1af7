//! Topology snapshots: who the nodes are and whom each knows, at one
//! virtual time, read from the nodes themselves.
//!
//! Edges come from each node's observable state (its `observable.inspect`
//! export, or the state it published last), by convention on field names:
//!
//! | field | edges |
//! |---|---|
//! | `nodes` (node list), with `bucket` (u64 list, same length) if bucketed | routing-table entries (with their bucket) |
//! | `fingers` (node list), with `finger_index` (u64 list, same length) | finger-table entries, numbered by `finger_index` or else by position |
//! | `successors` (node list, nearest first), or `successor` (node) | successors (`successor` only when there is no `successors`) |
//! | `predecessor` (node) | predecessor |
//! | `neighbours`, `peers` or `connections` (node list) | connections |
//! | `leader` (node), with `role` | leader to this follower |
//!
//! A `role` text field becomes the node's role; the other scalar fields
//! (numbers, text, booleans) and the sizes of lists make its state summary.

use crate::NodeIndex;
use crate::time::SimTime;
use peershare_wire::{Record, Value};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What an edge means.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum EdgeKind {
    /// A routing-table entry, in this bucket if the table has buckets.
    Routing {
        /// The bucket.
        bucket: Option<u32>,
    },
    /// The `index`-th finger of a finger table.
    Finger {
        /// Which finger.
        index: u32,
    },
    /// A successor (the `rank`-th in a successor list, from 0).
    Successor {
        /// Position in the successor list.
        rank: u32,
    },
    /// The predecessor.
    Predecessor,
    /// A connection to a neighbour.
    Connection,
    /// From a leader to a follower.
    LeaderFollower,
}

impl EdgeKind {
    /// A short name ("routing", "finger", ...).
    pub fn name(&self) -> &'static str {
        match self {
            EdgeKind::Routing { .. } => "routing",
            EdgeKind::Finger { .. } => "finger",
            EdgeKind::Successor { .. } => "successor",
            EdgeKind::Predecessor => "predecessor",
            EdgeKind::Connection => "connection",
            EdgeKind::LeaderFollower => "leader-follower",
        }
    }
}

/// A typed, directed edge: `from` knows `to` in this way.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Edge {
    /// The node whose state holds the entry.
    pub from: NodeIndex,
    /// The node it points to.
    pub to: NodeIndex,
    /// What the entry is.
    pub kind: EdgeKind,
}

/// Whether a node is running.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Not started yet.
    NotStarted,
    /// Running.
    Up,
    /// Taken down by a fault.
    Down,
    /// Crashed (its own failure).
    Crashed,
}

/// One node in a snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeView {
    /// Its index (network address).
    pub index: NodeIndex,
    /// Its identifier, hex.
    pub id: String,
    /// Its group.
    pub group: String,
    /// The kind of peer: the plugin (or "native").
    pub peer: String,
    /// Its role, if its state names one.
    pub role: Option<String>,
    /// Up, down, crashed or not started.
    pub status: Status,
    /// Scalar fields of its state and the sizes of its lists.
    pub summary: BTreeMap<String, serde_json::Value>,
    /// Conventional fields of its state that observers could not read (the
    /// wrong type or length), as [`convention_issues`] words them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Messages and bytes from one node to another over a time window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flow {
    /// Sender.
    pub from: NodeIndex,
    /// Receiver.
    pub to: NodeIndex,
    /// Messages sent.
    pub messages: u64,
    /// Bytes sent.
    pub bytes: u64,
    /// Messages delivered.
    pub delivered: u64,
}

/// The network at one virtual time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TopologySnapshot {
    /// When it was taken.
    pub time: SimTime,
    /// Every node, by index.
    pub nodes: Vec<NodeView>,
    /// Every typed edge, sorted.
    pub edges: Vec<Edge>,
    /// Data flows over the window, if one was asked for (needs capture).
    pub flows: Vec<Flow>,
    /// The window of the flows, `[start, end)`.
    pub flow_window: Option<(SimTime, SimTime)>,
}

/// The edges and the role and summary a node's state describes.
/// A conventional state field with the wrong type (or a companion list of
/// the wrong length): the host cannot draw it, and says so.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConventionIssue {
    /// The field.
    pub field: String,
    /// The type the convention gives it.
    pub expected: &'static str,
    /// What the field holds.
    pub actual: String,
}

impl std::fmt::Display for ConventionIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "state field `{}` should be {}, but is {}", self.field, self.expected, self.actual)
    }
}

/// The conventional fields of `state` that do not have the type (or, for
/// `bucket` and `finger_index`, the length) the host reads them with.
///
/// ```
/// use peershare::viz::convention_issues;
/// use peershare::wire::{Record, Value};
/// let state = Record::new("state").with("successor", 4u32).with("fingers", Value::Nodes(vec![1, 2]));
/// let issues = convention_issues(&state);
/// assert_eq!(issues.len(), 1);
/// assert_eq!(issues[0].to_string(), "state field `successor` should be a node (Value::Node), but is a u64");
/// ```
pub fn convention_issues(state: &Record) -> Vec<ConventionIssue> {
    const NODE: &str = "a node (Value::Node)";
    const NODES: &str = "a node list (Value::Nodes)";
    const U64: &str = "a u64";
    let expected: &[(&str, &str, &str)] = &[
        ("nodes", "nodes", NODES),
        ("fingers", "nodes", NODES),
        ("successors", "nodes", NODES),
        ("neighbours", "nodes", NODES),
        ("peers", "nodes", NODES),
        ("connections", "nodes", NODES),
        ("bucket", "u64s", "a u64 list (Value::U64s)"),
        ("finger_index", "u64s", "a u64 list (Value::U64s)"),
        ("successor", "node", NODE),
        ("predecessor", "node", NODE),
        ("leader", "node", NODE),
        ("role", "str", "text"),
        ("term", "u64", U64),
        ("log_length", "u64", U64),
        ("commit_index", "u64", U64),
    ];
    let article = |t: &str| if t.starts_with(['a', 'e', 'i', 'o']) { format!("an {t}") } else { format!("a {t}") };
    let mut issues = Vec::new();
    for (name, value) in &state.fields {
        if let Some((_, type_name, wanted)) = expected.iter().find(|(n, _, _)| n == name)
            && value.type_name() != *type_name
        {
            issues.push(ConventionIssue { field: name.clone(), expected: wanted, actual: article(value.type_name()) });
        }
    }
    for (list, of) in [("bucket", "nodes"), ("finger_index", "fingers")] {
        if let (Some(a), Some(b)) = (state.u64s(list), state.nodes(of))
            && a.len() != b.len()
        {
            let expected = if list == "bucket" { "as long as `nodes`" } else { "as long as `fingers`" };
            issues.push(ConventionIssue { field: list.into(), expected, actual: format!("{} long against {}", a.len(), b.len()) });
        }
    }
    issues
}

pub(crate) fn read_state(node: NodeIndex, state: &Record) -> (Vec<Edge>, Option<String>, BTreeMap<String, serde_json::Value>) {
    let mut edges = Vec::new();
    let mut summary = BTreeMap::new();
    let role = state.str("role").map(str::to_string);
    let nodes = |name: &str| state.nodes(name).unwrap_or_default();
    let buckets = state.u64s("bucket").filter(|b| b.len() == nodes("nodes").len());
    for (i, &to) in nodes("nodes").iter().enumerate() {
        edges.push(Edge { from: node, to, kind: EdgeKind::Routing { bucket: buckets.map(|b| b[i] as u32) } });
    }
    let finger_index = state.u64s("finger_index").filter(|f| f.len() == nodes("fingers").len());
    for (i, &to) in nodes("fingers").iter().enumerate() {
        let index = finger_index.map_or(i as u32, |f| f[i] as u32);
        edges.push(Edge { from: node, to, kind: EdgeKind::Finger { index } });
    }
    // `successors` includes the successor; a separate `successor` is read
    // only without it, so that publishing both draws no duplicate edge.
    if let Some(to) = state.node("successor").filter(|_| nodes("successors").is_empty()) {
        edges.push(Edge { from: node, to, kind: EdgeKind::Successor { rank: 0 } });
    }
    for (i, &to) in nodes("successors").iter().enumerate() {
        edges.push(Edge { from: node, to, kind: EdgeKind::Successor { rank: i as u32 } });
    }
    if let Some(to) = state.node("predecessor") {
        edges.push(Edge { from: node, to, kind: EdgeKind::Predecessor });
    }
    for name in ["neighbours", "peers", "connections"] {
        for &to in nodes(name) {
            edges.push(Edge { from: node, to, kind: EdgeKind::Connection });
        }
    }
    if let Some(leader) = state.node("leader")
        && leader != node
        && role.as_deref() != Some("leader")
    {
        edges.push(Edge { from: leader, to: node, kind: EdgeKind::LeaderFollower });
    }
    for (name, value) in &state.fields {
        let v = match value {
            Value::Bool(b) => serde_json::json!(b),
            Value::U64(x) => serde_json::json!(x),
            Value::I64(x) => serde_json::json!(x),
            Value::F64(x) => serde_json::json!(x),
            Value::Str(s) => serde_json::json!(s),
            Value::Node(n) => serde_json::json!(n),
            Value::Id(b) | Value::Bytes(b) if b.len() <= 32 => serde_json::json!(crate::events::hex(b)),
            Value::Id(b) | Value::Bytes(b) => serde_json::json!(format!("{} bytes", b.len())),
            Value::U64s(v) => serde_json::json!(v.len()),
            Value::Ids(v) => serde_json::json!(v.len()),
            Value::Strs(v) => serde_json::json!(v.len()),
            Value::Nodes(v) => serde_json::json!(v.len()),
            Value::Contacts(v) => serde_json::json!(v.len()),
            Value::Blobs(v) => serde_json::json!(v.len()),
        };
        summary.insert(name.clone(), v);
    }
    (edges, role, summary)
}

impl TopologySnapshot {
    /// The edges of one kind.
    pub fn edges_of(&self, kind: &str) -> impl Iterator<Item = &Edge> {
        let kind = kind.to_string();
        self.edges.iter().filter(move |e| e.kind.name() == kind)
    }

    /// The edges leaving a node.
    pub fn edges_from(&self, node: NodeIndex) -> impl Iterator<Item = &Edge> {
        let start = self.edges.partition_point(|e| e.from < node);
        self.edges[start..].iter().take_while(move |e| e.from == node)
    }
}
