//! The consensus referee: safety properties of any consensus plugin,
//! checked by the host from outside the plugin, never by the plugin's own
//! asserts.
//!
//! The referee sees what every node reports committing (`committed`) and,
//! after every handler call, what the node's observable state says
//! (`inspect`, in the conventions of [`crate::viz`]: `term`, `role`,
//! `log_terms` and `log_values`, the first 8 bytes of each entry's value).
//! From them it checks, as the run goes:
//! - [`Property::ElectionSafety`]: at most one leader per term;
//! - [`Property::TermMonotonic`]: a node's term never decreases while it
//!   runs (a restart may lose a term it never synced nor told anyone);
//! - [`Property::LogMatching`]: two logs with an entry of the same index
//!   and term are identical up to it;
//! - [`Property::LeaderCompleteness`]: a new leader's log holds every entry
//!   committed before it was elected;
//! - [`Property::StateMachineSafety`]: no two nodes commit different
//!   values at one index;
//! - [`Property::AppliedInOrder`]: a node commits indices 1, 2, 3, ...
//!   without gaps or repeats (from 1 again after it restarts from scratch);
//! - [`Property::QuorumCertificate`]: for protocols that vote in the
//!   [`peershare_wire::vote`] convention (PBFT), every commit is backed by
//!   2f prepares and 2f + 1 commits of one view and proposal that the node
//!   really cast or received (the referee is shown every message sent and
//!   delivered: [`Referee::sent`], [`Referee::delivered`]).
//!
//! Nodes are checked within their group: the `members` a node's state
//! names (the SDK's `State::members`), or else itself and its
//! bootstrap contacts; a group of n nodes tolerates f = (n - 1) / 3.
//!
//! Properties that need a field a plugin does not report are not checked
//! for it. A violation is a [`Violation`]: the property, the nodes, the
//! term or index, and the window of virtual time from the first
//! observation involved to the one that broke it.
//!
//! ```
//! use peershare::referee::{Property, Referee};
//! use peershare::time::SimTime;
//! use peershare_wire::Record;
//! let mut referee = Referee::new(3);
//! let leader = |term: u64| Record::new("state").with("role", "leader").with("term", term);
//! referee.observe(SimTime::from_secs(1), 0, &leader(2));
//! referee.observe(SimTime::from_secs(2), 1, &leader(2));
//! let v = &referee.violations()[0];
//! assert_eq!((v.property, v.nodes.clone(), v.term), (Property::ElectionSafety, vec![0, 1], Some(2)));
//! ```

mod quorum;

use crate::NodeIndex;
use crate::time::SimTime;
use peershare_wire::Record;
use std::collections::BTreeMap;

/// Whether the referee watches a run (scenario files: top-level
/// `referee = "watch"`, `"stop"` or `"off"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Refereeing {
    /// Not watched: no cost.
    #[default]
    Off,
    /// Every violation is recorded; the run goes on.
    Watch,
    /// The run stops at the first violation (after the handler that
    /// showed it), so its end is the shortest trace that shows it.
    Stop,
}

/// A safety property of consensus.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Property {
    /// At most one leader per term.
    ElectionSafety,
    /// A node's term never decreases.
    TermMonotonic,
    /// Same index and term: identical logs up to there.
    LogMatching,
    /// A leader holds every entry committed before its term.
    LeaderCompleteness,
    /// No two different values committed at one index.
    StateMachineSafety,
    /// Committed indices 1, 2, 3, ... on each node.
    AppliedInOrder,
    /// Every commit backed by 2f prepares and 2f + 1 commits (PBFT).
    QuorumCertificate,
    /// The clients of a replicated store saw a linearizable history
    /// (checked at the end of a run: [`crate::kv`]).
    Linearizability,
}

impl Property {
    /// The property's name in reports: `"election-safety"`, ...
    pub fn name(self) -> &'static str {
        match self {
            Property::ElectionSafety => "election-safety",
            Property::TermMonotonic => "term-monotonic",
            Property::LogMatching => "log-matching",
            Property::LeaderCompleteness => "leader-completeness",
            Property::StateMachineSafety => "state-machine-safety",
            Property::AppliedInOrder => "applied-in-order",
            Property::QuorumCertificate => "quorum-certificate",
            Property::Linearizability => "linearizability",
        }
    }
}

/// A broken safety property.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Violation {
    /// Which property.
    pub property: Property,
    /// The nodes involved (the first one observed first).
    pub nodes: Vec<NodeIndex>,
    /// The term, where one is involved.
    pub term: Option<u64>,
    /// The log index, where one is involved.
    pub index: Option<u64>,
    /// When the first observation involved was made: the window
    /// `since..at` of the event log shows the violation.
    pub since: SimTime,
    /// When it was broken.
    pub at: SimTime,
    /// What was seen, in one sentence.
    pub detail: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} violated at {} (window from {}): {}", self.property.name(), self.at, self.since, self.detail)
    }
}

/// A node's log as its state showed it last: terms and value prefixes.
#[derive(Clone, Debug, Default)]
struct SeenLog {
    terms: Vec<u64>,
    values: Option<Vec<Vec<u8>>>,
    at: SimTime,
}

impl SeenLog {
    fn value(&self, i: usize) -> Option<&[u8]> {
        self.values.as_ref().and_then(|v| v.get(i)).map(Vec::as_slice)
    }
}

/// What one node has shown.
#[derive(Clone, Debug, Default)]
struct NodeSeen {
    term: Option<(u64, SimTime)>,
    leader_of: Option<u64>,
    log: Option<SeenLog>,
    last_applied: u64,
}

/// The first value committed at an index.
#[derive(Clone, Debug)]
struct FirstCommit {
    value: Vec<u8>,
    node: NodeIndex,
    at: SimTime,
}

/// How many bytes of each value `log_values` carries.
pub const VALUE_PREFIX: usize = 8;

/// Checks consensus safety properties as observations arrive, for each
/// cluster on its own (nodes of different clusters run different logs).
#[derive(Clone, Debug)]
pub struct Referee {
    nodes: Vec<NodeSeen>,
    /// Each node's cluster.
    cluster_of: Vec<u32>,
    /// The size of each node's cluster.
    cluster_size: Vec<usize>,
    /// The votes each node holds, for quorum audits.
    ballots: quorum::Ballots,
    leaders: BTreeMap<(u32, u64), (NodeIndex, SimTime)>,
    committed: BTreeMap<(u32, u64), FirstCommit>,
    violations: Vec<Violation>,
    /// Each property is reported once per (property, term or index), so a
    /// broken run does not drown in repeats.
    reported: std::collections::BTreeSet<(Property, u32, u64)>,
}

impl Referee {
    /// A referee for `nodes` nodes forming one cluster.
    pub fn new(nodes: usize) -> Referee {
        Referee::with_clusters(vec![0; nodes])
    }

    /// A referee for nodes `0..cluster_of.len()`, node `n` in cluster
    /// `cluster_of[n]`.
    pub fn with_clusters(cluster_of: Vec<u32>) -> Referee {
        let mut sizes: BTreeMap<u32, usize> = BTreeMap::new();
        for &c in &cluster_of {
            *sizes.entry(c).or_default() += 1;
        }
        Referee {
            nodes: vec![NodeSeen::default(); cluster_of.len()],
            cluster_size: cluster_of.iter().map(|c| sizes[c]).collect(),
            cluster_of,
            ballots: quorum::Ballots::default(),
            leaders: BTreeMap::new(),
            committed: BTreeMap::new(),
            violations: Vec::new(),
            reported: Default::default(),
        }
    }

    /// Every violation so far, in the order they happened.
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    fn report(&mut self, key: u64, v: Violation) {
        let cluster = self.cluster_of[v.nodes[0] as usize];
        if self.reported.insert((v.property, cluster, key)) {
            self.violations.push(v);
        }
    }

    /// Node `node` lost its memory and starts again: it applies from 1.
    pub fn restarted(&mut self, node: NodeIndex) {
        if let Some(n) = self.nodes.get_mut(node as usize) {
            n.last_applied = 0;
            n.leader_of = None;
            n.term = None;
            self.ballots.forget(node);
        }
    }

    /// Node `from` sent the message `bytes` (a vote it casts counts for
    /// its own certificates).
    pub fn sent(&mut self, at: SimTime, from: NodeIndex, bytes: &[u8]) {
        let Some(seen) = self.nodes.get(from as usize) else { return };
        self.ballots.record(at, from, from, bytes, seen.last_applied);
    }

    /// The message `bytes` from `from` was delivered to node `to`.
    pub fn delivered(&mut self, at: SimTime, from: NodeIndex, to: NodeIndex, bytes: &[u8]) {
        let Some(seen) = self.nodes.get(to as usize) else { return };
        self.ballots.record(at, to, from, bytes, seen.last_applied);
    }

    /// Node `node` reported committing `value` at `index`.
    pub fn committed(&mut self, at: SimTime, node: NodeIndex, index: u64, value: &[u8]) {
        let Some(seen) = self.nodes.get_mut(node as usize) else { return };
        let expected = seen.last_applied + 1;
        if index == expected {
            seen.last_applied = index;
        } else {
            let what = if index <= seen.last_applied { "again" } else { "with a gap" };
            let detail = format!("node {node} committed index {index} {what}: it had committed up to {}", seen.last_applied);
            seen.last_applied = seen.last_applied.max(index);
            self.report(
                index,
                Violation { property: Property::AppliedInOrder, nodes: vec![node], term: None, index: Some(index), since: at, at, detail },
            );
        }
        let n = self.cluster_size[node as usize];
        if let Some(short) = self.ballots.audit(node, index, n) {
            let v = Violation {
                property: Property::QuorumCertificate,
                nodes: vec![node],
                term: short.view,
                index: Some(index),
                since: short.since.unwrap_or(at),
                at,
                detail: short.describe(node, index, n),
            };
            self.report(index, v);
        }
        let cluster = self.cluster_of[node as usize];
        match self.committed.get(&(cluster, index)) {
            None => {
                self.committed.insert((cluster, index), FirstCommit { value: value.to_vec(), node, at });
            }
            Some(first) if first.value != value => {
                let detail = format!(
                    "node {} committed {} at index {index}, node {node} committed {}",
                    first.node,
                    short(&first.value),
                    short(value)
                );
                let v = Violation {
                    property: Property::StateMachineSafety,
                    nodes: vec![first.node, node],
                    term: None,
                    index: Some(index),
                    since: first.at,
                    at,
                    detail,
                };
                self.report(index, v);
            }
            Some(_) => {}
        }
    }

    /// Node `node`'s observable state at `at` (after a handler).
    pub fn observe(&mut self, at: SimTime, node: NodeIndex, state: &Record) {
        let Some(seen) = self.nodes.get(node as usize) else { return };
        if let Some(members) = state.nodes("members").filter(|m| !m.is_empty()) {
            self.cluster_of[node as usize] = members.iter().copied().chain([node]).min().unwrap_or(node);
            self.cluster_size[node as usize] = members.len();
        }
        let term = state.u64("term");
        if let (Some(term), Some((before, since))) = (term, seen.term)
            && term < before
        {
            let detail = format!("node {node}'s term went from {before} back to {term}");
            self.report(
                u64::from(node),
                Violation { property: Property::TermMonotonic, nodes: vec![node], term: Some(term), index: None, since, at, detail },
            );
        }
        if let Some(term) = term {
            self.nodes[node as usize].term = Some((term, at));
        }
        if let Some(terms) = state.u64s("log_terms") {
            let values = state.blobs("log_values").map(<[Vec<u8>]>::to_vec);
            let log = SeenLog { terms: terms.to_vec(), values, at };
            self.check_log_matching(node, &log);
            self.nodes[node as usize].log = Some(log);
        }
        let leading = state.str("role") == Some("leader");
        match (leading, term) {
            (true, Some(term)) if self.nodes[node as usize].leader_of != Some(term) => {
                self.nodes[node as usize].leader_of = Some(term);
                self.new_leader(at, node, term);
            }
            (false, _) => self.nodes[node as usize].leader_of = None,
            _ => {}
        }
    }

    fn new_leader(&mut self, at: SimTime, node: NodeIndex, term: u64) {
        let cluster = self.cluster_of[node as usize];
        match self.leaders.get(&(cluster, term)) {
            Some(&(other, since)) if other != node => {
                let detail = format!("nodes {other} and {node} were both leaders of term {term}");
                self.report(
                    term,
                    Violation {
                        property: Property::ElectionSafety,
                        nodes: vec![other, node],
                        term: Some(term),
                        index: None,
                        since,
                        at,
                        detail,
                    },
                );
                return;
            }
            Some(_) => return,
            None => {
                self.leaders.insert((cluster, term), (node, at));
            }
        }
        // Everything committed before this election must be in its log.
        let Some(log) = self.nodes[node as usize].log.clone() else { return };
        let missing = self.committed.range((cluster, 0)..=(cluster, u64::MAX)).find(|((_, index), first)| {
            let i = *index as usize - 1;
            match (log.terms.get(i), log.value(i)) {
                (None, _) => true,
                (Some(_), Some(v)) => v != prefix(&first.value),
                (Some(_), None) => false,
            }
        });
        if let Some((&(_, index), first)) = missing {
            let detail = format!(
                "node {node} became leader of term {term} without index {index}, which node {} committed at {} ({})",
                first.node,
                first.at,
                short(&first.value)
            );
            let v = Violation {
                property: Property::LeaderCompleteness,
                nodes: vec![first.node, node],
                term: Some(term),
                index: Some(index),
                since: first.at,
                at,
                detail,
            };
            self.report(term, v);
        }
    }

    fn check_log_matching(&mut self, node: NodeIndex, log: &SeenLog) {
        let mut found = None;
        let cluster = self.cluster_of[node as usize];
        for (other, seen) in self.nodes.iter().enumerate() {
            let same_cluster = other != node as usize && self.cluster_of[other] == cluster;
            let Some(theirs) = seen.log.as_ref().filter(|_| same_cluster) else { continue };
            if let Some(bad) = log_mismatch(log, theirs) {
                found = Some((other as NodeIndex, theirs.at, bad));
                break;
            }
        }
        if let Some((other, since, (index, differs))) = found {
            let term = log.terms[index as usize - 1];
            let detail = format!(
                "nodes {other} and {node} both hold an entry of term {term} at index {index}, but their logs differ at index {differs}"
            );
            let v = Violation {
                property: Property::LogMatching,
                nodes: vec![other, node],
                term: Some(term),
                index: Some(index),
                since,
                at: log.at,
                detail,
            };
            self.report(index, v);
        }
    }
}

/// The first (index, differing index) at which two logs share an entry's
/// index and term but not everything before it, if any (indices from 1).
fn log_mismatch(a: &SeenLog, b: &SeenLog) -> Option<(u64, u64)> {
    let len = a.terms.len().min(b.terms.len());
    let differs = (0..len).find(|&i| a.terms[i] != b.terms[i] || matches!((a.value(i), b.value(i)), (Some(x), Some(y)) if x != y))?;
    // Same index and term at `differs` itself, values differing, breaks it.
    (differs..len).find(|&i| a.terms[i] == b.terms[i]).map(|i| (i as u64 + 1, differs as u64 + 1))
}

fn prefix(value: &[u8]) -> &[u8] {
    &value[..value.len().min(VALUE_PREFIX)]
}

/// A value's first bytes in hex, for violation details.
fn short(value: &[u8]) -> String {
    let more = if value.len() > VALUE_PREFIX { "..." } else { "" };
    format!("{}{more}", crate::events::hex(prefix(value)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use peershare_wire::Value;

    fn t(ms: u64) -> SimTime {
        SimTime::ZERO + crate::time::SimDuration::from_millis(ms)
    }

    fn state(role: &str, term: u64, log: &[(u64, u8)]) -> Record {
        Record::new("state")
            .with("role", role)
            .with("term", term)
            .with("log_terms", Value::U64s(log.iter().map(|e| e.0).collect()))
            .with("log_values", Value::Blobs(log.iter().map(|e| vec![e.1]).collect()))
    }

    fn properties(r: &Referee) -> Vec<Property> {
        r.violations().iter().map(|v| v.property).collect()
    }

    #[test]
    fn a_healthy_history_breaks_nothing() {
        let mut r = Referee::new(3);
        r.observe(t(1), 0, &state("leader", 1, &[]));
        r.observe(t(2), 0, &state("leader", 1, &[(1, 7)]));
        r.observe(t(3), 1, &state("follower", 1, &[(1, 7)]));
        r.committed(t(4), 0, 1, &[7]);
        r.committed(t(5), 1, 1, &[7]);
        r.observe(t(6), 1, &state("leader", 2, &[(1, 7), (2, 8)]));
        r.observe(t(7), 0, &state("follower", 2, &[(1, 7), (2, 8)]));
        r.restarted(2);
        r.committed(t(8), 2, 1, &[7]);
        assert!(r.violations().is_empty(), "{:?}", r.violations());
    }

    #[test]
    fn two_leaders_in_one_term_and_a_term_going_back_are_caught() {
        let mut r = Referee::new(3);
        r.observe(t(1), 0, &state("leader", 3, &[]));
        r.observe(t(2), 2, &state("leader", 3, &[]));
        r.observe(t(3), 2, &state("follower", 2, &[]));
        assert_eq!(properties(&r), [Property::ElectionSafety, Property::TermMonotonic]);
        let v = &r.violations()[0];
        assert_eq!((v.nodes.clone(), v.since, v.at), (vec![0, 2], t(1), t(2)));
        // The same node leading again in its term is no violation.
        r.observe(t(4), 0, &state("leader", 3, &[]));
        assert_eq!(r.violations().len(), 2);
    }

    #[test]
    fn logs_that_agree_on_an_entry_but_not_before_it_are_caught() {
        let mut r = Referee::new(2);
        r.observe(t(1), 0, &state("follower", 2, &[(1, 1), (1, 2), (2, 3)]));
        // Diverging suffixes are allowed (index 2 on: different terms).
        r.observe(t(2), 1, &state("follower", 2, &[(1, 1), (2, 9)]));
        assert!(r.violations().is_empty());
        // Same term at index 3 with a different entry at index 2: broken.
        r.observe(t(3), 1, &state("follower", 2, &[(1, 1), (2, 9), (2, 3)]));
        assert_eq!(properties(&r), [Property::LogMatching]);
        assert_eq!((r.violations()[0].index, r.violations()[0].term), (Some(3), Some(2)));
        // Same index and term, different value: broken at that index.
        let mut r = Referee::new(2);
        r.observe(t(1), 0, &state("follower", 1, &[(1, 1)]));
        r.observe(t(2), 1, &state("follower", 1, &[(1, 5)]));
        assert_eq!(properties(&r), [Property::LogMatching]);
    }

    #[test]
    fn different_commits_at_one_index_and_gaps_are_caught() {
        let mut r = Referee::new(2);
        r.committed(t(1), 0, 1, b"a");
        r.committed(t(2), 1, 1, b"b");
        r.committed(t(3), 1, 3, b"c");
        r.committed(t(4), 0, 1, b"a");
        assert_eq!(properties(&r), [Property::StateMachineSafety, Property::AppliedInOrder, Property::AppliedInOrder]);
        assert_eq!(r.violations()[0].nodes, [0, 1]);
        assert!(r.violations()[2].detail.contains("again"));
    }

    #[test]
    fn clusters_are_refereed_apart() {
        let mut r = Referee::with_clusters(vec![0, 0, 1, 1]);
        r.observe(t(1), 0, &state("leader", 1, &[(1, 1)]));
        r.observe(t(2), 2, &state("leader", 1, &[(1, 2)]));
        r.committed(t(3), 0, 1, &[1]);
        r.committed(t(4), 2, 1, &[2]);
        assert!(r.violations().is_empty(), "{:?}", r.violations());
        r.observe(t(5), 3, &state("leader", 1, &[(1, 2)]));
        assert_eq!(properties(&r), [Property::ElectionSafety]);
        assert_eq!(r.violations()[0].nodes, [2, 3]);
    }

    #[test]
    fn a_leader_missing_a_committed_entry_is_caught() {
        let mut r = Referee::new(3);
        r.observe(t(1), 0, &state("leader", 1, &[(1, 4), (1, 5)]));
        r.committed(t(2), 0, 1, &[4]);
        r.committed(t(3), 0, 2, &[5]);
        // Node 2 wins term 2 with only the first entry: the paper's
        // Figure 8 ending, where a committed entry is lost.
        r.observe(t(4), 2, &state("leader", 2, &[(1, 4)]));
        assert_eq!(properties(&r), [Property::LeaderCompleteness]);
        let v = &r.violations()[0];
        assert_eq!((v.index, v.term, v.since), (Some(2), Some(2), t(3)));
    }
}
