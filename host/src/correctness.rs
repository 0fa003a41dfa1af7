//! Whether routing answers were right, judged against global knowledge.
//!
//! A peer says a lookup succeeded; this module says whether it was
//! *correct*: for an XOR-metric DHT (Kademlia) whether it returned exactly
//! the `k` closest live nodes, for a ring DHT (Chord) whether its first
//! node is the key's true successor among the live nodes. Which metric a
//! lookup is judged by is the peer's to declare, in its outcome record: a
//! `metric` field of `"xor"` (the default) or `"ring"`, and for XOR the `k`
//! it aims for (`k`, default 20; the asker counts among the closest only if
//! the answer names it, as Kademlia answers name other nodes; a ring
//! successor may be the asker). Gets are judged against the puts before
//! them: a get of a key whose latest put had succeeded must return that
//! value. Liveness at each answer's time comes from the event log.
//!
//! [`Simulation::summary`](crate::Simulation::summary) includes these
//! figures as `correctness`; tests and the experiments framework use
//! [`check`] and the helpers directly.

use crate::NodeIndex;
use crate::events::Event;
use crate::node::Operation;
use crate::sim::Simulation;
use crate::time::SimTime;
use peershare_wire::{Record, id};
use serde::Serialize;
use std::collections::BTreeMap;

/// How many closest nodes an XOR lookup is judged on when its outcome does
/// not say (Kademlia's k).
pub const DEFAULT_K: usize = 20;

/// Which nodes were up when, rebuilt from the event log.
#[derive(Clone, Debug)]
pub struct Liveness {
    changes: Vec<Vec<(SimTime, bool)>>,
}

impl Liveness {
    /// The up and down times of every node of `sim` (from its event log).
    pub fn of(sim: &Simulation) -> Self {
        let mut changes = vec![Vec::new(); sim.node_count()];
        for e in sim.events().events() {
            let (node, up) = match e.event {
                Event::NodeStarted { node, .. } | Event::NodeUp { node, .. } => (node, true),
                Event::NodeDown { node, .. } | Event::Crashed { node, .. } => (node, false),
                _ => continue,
            };
            changes[node as usize].push((e.time, up));
        }
        Liveness { changes }
    }

    /// Whether `node` was up at `t`.
    pub fn up_at(&self, node: NodeIndex, t: SimTime) -> bool {
        self.changes[node as usize].iter().take_while(|(at, _)| *at <= t).last().is_some_and(|(_, up)| *up)
    }
}

/// The `k` nodes closest to `key` by XOR among those `eligible`, closest
/// first (ties, impossible with distinct ids, by index).
pub fn xor_closest(ids: &[Vec<u8>], key: &[u8], k: usize, eligible: impl Fn(NodeIndex) -> bool) -> Vec<NodeIndex> {
    let mut all: Vec<NodeIndex> = (0..ids.len() as NodeIndex).filter(|&n| eligible(n)).collect();
    let closer = |a: &NodeIndex, b: &NodeIndex| id::cmp_xor_distance(key, &ids[*a as usize], &ids[*b as usize]).then(a.cmp(b));
    // Called once per lookup judged: the k closest are selected, then
    // only they are sorted.
    if k < all.len() {
        all.select_nth_unstable_by(k, closer);
        all.truncate(k);
    }
    all.sort_by(closer);
    all
}

/// The key's successor on a ring of `2^bits` ids among those `eligible`:
/// the first node clockwise from `key` (a node whose id is the key counts).
pub fn ring_successor(ids: &[Vec<u8>], key: &[u8], bits: u32, eligible: impl Fn(NodeIndex) -> bool) -> Option<NodeIndex> {
    // Called once per lookup judged: compared without allocating.
    (0..ids.len() as NodeIndex)
        .filter(|&n| eligible(n))
        .min_by(|&a, &b| id::cmp_ring_offset(key, &ids[a as usize], &ids[b as usize], bits).then(a.cmp(&b)))
}

/// How the routing answers of a run fared against global knowledge.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Correctness {
    /// Lookups that succeeded and were judged.
    pub lookups_checked: u64,
    /// Of those, the correct ones.
    pub lookups_correct: u64,
    /// Judged by XOR (exact k closest).
    pub xor_lookups: u64,
    /// Judged by ring successor.
    pub ring_lookups: u64,
    /// Gets issued after a successful put of the same key completed.
    pub gets_after_put: u64,
    /// Of those, the ones that returned the value put.
    pub gets_after_put_correct: u64,
    /// The first wrong answer, in issue order: what a student looks at
    /// first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_mistake: Option<Mistake>,
}

/// One wrong answer: the operation, what global knowledge says it should
/// have returned and what it returned.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Mistake {
    /// The operation.
    pub op: crate::node::OpId,
    /// The node that performed it.
    pub node: NodeIndex,
    /// Its kind (`lookup`, `get`).
    pub kind: String,
    /// The key, in hex.
    pub key: String,
    /// When it completed.
    pub at: SimTime,
    /// What it should have returned, in words.
    pub expected: String,
    /// What it returned, in words.
    pub got: String,
}

impl std::fmt::Display for Mistake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key = if self.key.len() > 16 { format!("{}…", &self.key[..16]) } else { self.key.clone() };
        write!(
            f,
            "{} {key} by node {} (operation {}, answered at {}): expected {}; got {}",
            self.kind, self.node, self.op, self.at, self.expected, self.got
        )
    }
}

/// Nodes as text: `[3, 17, 40]`, the first eight of a long list.
fn node_list(nodes: &[NodeIndex]) -> String {
    let shown: Vec<String> = nodes.iter().take(8).map(|n| n.to_string()).collect();
    let more = if nodes.len() > 8 { format!(", … ({} in all)", nodes.len()) } else { String::new() };
    format!("[{}{more}]", shown.join(", "))
}

/// What differs between the nodes a lookup should have returned and
/// those it returned, in words.
fn difference(expected: &[NodeIndex], found: &[NodeIndex]) -> String {
    let missing: Vec<NodeIndex> = expected.iter().copied().filter(|n| !found.contains(n)).collect();
    let extra: Vec<NodeIndex> = found.iter().copied().filter(|n| !expected.contains(n)).collect();
    let mut parts = vec![format!("{} nodes {}", found.len(), node_list(found))];
    if !missing.is_empty() {
        parts.push(format!("missing {}", node_list(&missing)));
    }
    if !extra.is_empty() {
        parts.push(format!("not among the closest {}", node_list(&extra)));
    }
    if missing.is_empty() && extra.is_empty() && expected.len() == found.len() {
        parts.push("the right nodes in the wrong order (closest first)".into());
    }
    parts.join(", ")
}

impl Correctness {
    /// Correct lookups among those judged (0 when none were).
    pub fn lookup_rate(&self) -> f64 {
        self.lookups_correct as f64 / self.lookups_checked.max(1) as f64
    }
}

/// Every node's true id, by index: the global knowledge answers are
/// judged against.
pub fn true_ids(sim: &Simulation) -> Vec<Vec<u8>> {
    (0..sim.node_count() as NodeIndex).map(|n| sim.node_id(n).unwrap_or_default().to_vec()).collect()
}

/// Judges every completed lookup and every get after a put of `sim`, or
/// `None` if the run keeps no event log (liveness comes from it) or had
/// neither.
pub fn check(sim: &Simulation) -> Option<Correctness> {
    if !sim.events().is_recording() {
        return None;
    }
    let ids = true_ids(sim);
    let bits = sim.id_bits();
    let live = Liveness::of(sim);
    let mut c = Correctness::default();
    let mut puts: BTreeMap<&[u8], (SimTime, &[u8])> = BTreeMap::new();
    let mut any = false;
    // Operations in issue order; a put counts for the gets issued after it completed.
    let mut order: Vec<&crate::sim::OperationRecord> = sim.operations().iter().collect();
    order.sort_by_key(|r| (r.issued_at, r.op));
    let mut completed_puts: Vec<(SimTime, &[u8], &[u8])> = order
        .iter()
        .filter_map(|r| match (&r.operation, &r.outcome) {
            (Operation::Put { key, value }, Some(o)) if o.ok => Some((o.at, key.as_slice(), value.as_slice())),
            _ => None,
        })
        .collect();
    completed_puts.sort_by_key(|(at, _, _)| *at);
    let mut next_put = 0;
    for rec in order {
        while next_put < completed_puts.len() && completed_puts[next_put].0 <= rec.issued_at {
            let (at, key, value) = completed_puts[next_put];
            puts.insert(key, (at, value));
            next_put += 1;
        }
        let Some(outcome) = &rec.outcome else { continue };
        match &rec.operation {
            Operation::Lookup { key } if outcome.ok => {
                any = true;
                let Ok(result) = Record::decode(&outcome.result) else { continue };
                let found = result.nodes("nodes").unwrap_or_default();
                c.lookups_checked += 1;
                let first = c.first_mistake.is_none();
                let mistake = |expected: String, got: String| Mistake {
                    op: rec.op,
                    node: rec.node,
                    kind: "lookup".into(),
                    key: crate::events::hex(key),
                    at: outcome.at,
                    expected,
                    got,
                };
                let (correct, wrong) = if result.str("metric") == Some("ring") {
                    // The asker may well be the key's successor.
                    c.ring_lookups += 1;
                    let eligible = |n: NodeIndex| live.up_at(n, outcome.at);
                    let truth = ring_successor(&ids, key, bits, eligible);
                    let correct = found.first().copied().is_some() && found.first().copied() == truth;
                    let describe = |n: Option<NodeIndex>| n.map_or("no node".to_string(), |n| format!("node {n}"));
                    let wrong = (!correct && first)
                        .then(|| mistake(format!("the key's successor, {}", describe(truth)), describe(found.first().copied())));
                    (correct, wrong)
                } else {
                    // Kademlia answers with other nodes: the asker counts
                    // only if the answer names it.
                    let with_asker = found.contains(&rec.node);
                    let eligible = |n: NodeIndex| live.up_at(n, outcome.at) && (with_asker || n != rec.node);
                    c.xor_lookups += 1;
                    let k = result.u64("k").map_or(DEFAULT_K, |k| k as usize);
                    let truth = xor_closest(&ids, key, k, eligible);
                    let correct = found == truth.as_slice();
                    let wrong = (!correct && first).then(|| {
                        mistake(format!("the {} closest live nodes {}", truth.len(), node_list(&truth)), difference(&truth, found))
                    });
                    (correct, wrong)
                };
                c.lookups_correct += u64::from(correct);
                if wrong.is_some() {
                    c.first_mistake = wrong;
                }
            }
            Operation::Get { key } => {
                let Some(&(_, value)) = puts.get(key.as_slice()) else { continue };
                any = true;
                c.gets_after_put += 1;
                let got = Record::decode(&outcome.result).ok().and_then(|r| r.bytes("value").map(<[u8]>::to_vec));
                let correct = outcome.ok && got.as_deref() == Some(value);
                c.gets_after_put_correct += u64::from(correct);
                if !correct && c.first_mistake.is_none() {
                    let got = match (&got, outcome.ok) {
                        (_, false) => "a failure".to_string(),
                        (Some(v), true) => format!("the value {}", crate::events::hex(v)),
                        (None, true) => "no value".to_string(),
                    };
                    c.first_mistake = Some(Mistake {
                        op: rec.op,
                        node: rec.node,
                        kind: "get".into(),
                        key: crate::events::hex(key),
                        at: outcome.at,
                        expected: format!("the value put last, {}", crate::events::hex(value)),
                        got,
                    });
                }
            }
            _ => {}
        }
    }
    any.then_some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_and_successor_follow_the_metrics() {
        let ids: Vec<Vec<u8>> = [0x10u8, 0x30, 0x80, 0xF0].iter().map(|&b| vec![b]).collect();
        assert_eq!(xor_closest(&ids, &[0x31], 2, |_| true), [1, 0]);
        assert_eq!(xor_closest(&ids, &[0x31], 2, |n| n != 1), [0, 2]);
        assert_eq!(ring_successor(&ids, &[0x31], 8, |_| true), Some(2));
        assert_eq!(ring_successor(&ids, &[0x30], 8, |_| true), Some(1), "a node at the key is its successor");
        assert_eq!(ring_successor(&ids, &[0xF1], 8, |_| true), Some(0), "the ring wraps");
        assert_eq!(ring_successor(&ids, &[0xF1], 8, |_| false), None);
    }
}
