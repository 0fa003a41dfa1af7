//! [`State`]: a node's observable state in the field names and types the
//! host reads for topology snapshots and consensus timelines.

use crate::{NodeIndex, Record, Value};

/// A consensus role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// Leads the group.
    Leader,
    /// Follows a leader.
    Follower,
    /// Asks to become leader.
    Candidate,
    /// Any other role, by name.
    Other(String),
}

impl Role {
    /// The role's name as observers see it.
    pub fn name(&self) -> &str {
        match self {
            Role::Leader => "leader",
            Role::Follower => "follower",
            Role::Candidate => "candidate",
            Role::Other(name) => name,
        }
    }
}

/// A node's observable state, built with typed methods so that the host's
/// conventions cannot be typed wrong: each method writes the field (or
/// pair of fields) the host reads, with the type it expects.
///
/// | method | fields | read as |
/// |---|---|---|
/// | [`routing_table`](State::routing_table) | `nodes` (nodes), `bucket` (u64s) | routing edges with their bucket |
/// | [`fingers`](State::fingers) | `fingers` (nodes), `finger_index` (u64s) | finger edges, numbered |
/// | [`successors`](State::successors) | `successors` (nodes) | successor edges, ranked |
/// | [`predecessor`](State::predecessor) | `predecessor` (node) | predecessor edge |
/// | [`neighbours`](State::neighbours) | `neighbours` (nodes) | connections |
/// | [`leader`](State::leader), [`role`](State::role) | `leader` (node), `role` (str) | leader-to-follower edges, the node's role |
/// | [`term`](State::term), [`log_length`](State::log_length), [`commit_index`](State::commit_index) | u64s | consensus timelines |
/// | [`members`](State::members) | `members` (nodes) | the consensus group the referee checks the node in, and its size for quorums |
///
/// ```
/// use peershare_sdk::{Role, State};
/// let state = State::new().successors([4, 9]).predecessor(2).fingers([(0, 4), (3, 9)]).field("keys", 12u64);
/// let record = state.to_record();
/// assert_eq!(record.nodes("successors"), Some(&[4, 9][..]));
/// assert_eq!(record.u64s("finger_index"), Some(&[0, 3][..]));
/// let raft = State::new().role(Role::Follower).leader(0).term(3);
/// assert_eq!(raft.to_record().str("role"), Some("follower"));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct State {
    record: Record,
}

impl State {
    /// An empty state.
    pub fn new() -> Self {
        State { record: Record::new("state") }
    }

    fn set(mut self, name: &str, value: Value) -> Self {
        self.record.fields.retain(|(n, _)| n != name);
        self.record.push(name, value);
        self
    }

    /// A bucketed routing table (Kademlia): `(bucket, node)` entries.
    /// Bucket `b` holds the contacts whose ids first differ from this
    /// node's at bit `b`, counting from 0 at the lowest bit (so the
    /// farthest half of the id space is bucket `id_bits - 1`); a grading
    /// suite's `invariant = "k_buckets"` checks entries against that.
    pub fn routing_table(self, entries: impl IntoIterator<Item = (u32, NodeIndex)>) -> Self {
        let (buckets, nodes): (Vec<u64>, Vec<NodeIndex>) = entries.into_iter().map(|(b, n)| (u64::from(b), n)).unzip();
        self.set("nodes", Value::Nodes(nodes)).set("bucket", Value::U64s(buckets))
    }

    /// A routing table without buckets.
    pub fn routing_nodes(self, nodes: impl IntoIterator<Item = NodeIndex>) -> Self {
        self.set("nodes", Value::Nodes(nodes.into_iter().collect()))
    }

    /// A finger table (Chord): `(finger number, node)` entries; numbers
    /// are kept even when entries are left out or merged.
    pub fn fingers(self, entries: impl IntoIterator<Item = (u32, NodeIndex)>) -> Self {
        let (index, nodes): (Vec<u64>, Vec<NodeIndex>) = entries.into_iter().map(|(i, n)| (u64::from(i), n)).unzip();
        self.set("fingers", Value::Nodes(nodes)).set("finger_index", Value::U64s(index))
    }

    /// The successor list, nearest first (one entry for a single successor).
    pub fn successors(self, nodes: impl IntoIterator<Item = NodeIndex>) -> Self {
        self.set("successors", Value::Nodes(nodes.into_iter().collect()))
    }

    /// The predecessor.
    pub fn predecessor(self, node: NodeIndex) -> Self {
        self.set("predecessor", Value::Node(node))
    }

    /// Peers this node is connected to (unstructured overlays, gossip).
    pub fn neighbours(self, nodes: impl IntoIterator<Item = NodeIndex>) -> Self {
        self.set("neighbours", Value::Nodes(nodes.into_iter().collect()))
    }

    /// The leader this node follows (or itself, if it leads).
    pub fn leader(self, node: NodeIndex) -> Self {
        self.set("leader", Value::Node(node))
    }

    /// The node's role.
    pub fn role(self, role: Role) -> Self {
        self.set("role", Value::Str(role.name().to_string()))
    }

    /// The current term (consensus).
    pub fn term(self, term: u64) -> Self {
        self.set("term", Value::U64(term))
    }

    /// The consensus group this node belongs to, itself included: the
    /// referee checks safety within each group and, for vote-counting
    /// protocols ([`crate::Vote`]), quorums against its size. Without it, a
    /// node's group is itself and its bootstrap contacts.
    pub fn members(self, nodes: impl IntoIterator<Item = NodeIndex>) -> Self {
        self.set("members", Value::Nodes(nodes.into_iter().collect()))
    }

    /// The length of the replicated log.
    pub fn log_length(self, length: u64) -> Self {
        self.set("log_length", Value::U64(length))
    }

    /// The highest committed log index.
    pub fn commit_index(self, index: u64) -> Self {
        self.set("commit_index", Value::U64(index))
    }

    /// A field of your own, shown in the node's state summary. Do not use
    /// the conventional names above: use their methods.
    pub fn field(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.record.push(name, value);
        self
    }

    /// The state as the record the host reads.
    pub fn to_record(&self) -> Record {
        self.record.clone()
    }

    /// The record's encoding, without copying the record first.
    pub(crate) fn encode(&self) -> Vec<u8> {
        self.record.encode()
    }
}
