//! Invariants over observable state: what every node running the
//! submission must report of itself through `inspect` at the run's end,
//! judged by the host against global knowledge (the nodes' true ids).

use super::check::{Bound, number};
use crate::NodeIndex;
use peershare_wire::{Record, Value, id};
use std::collections::BTreeMap;

/// A property of one node's state.
#[derive(Clone, Debug, PartialEq)]
pub enum Invariant {
    /// The k-bucket rules of Kademlia over the entries of
    /// `State::routing_table` (the `nodes` and `bucket` lists): every
    /// entry sits in the bucket its XOR distance puts it in (the position
    /// of the highest bit in which its true id differs from the node's,
    /// 0 for the lowest), no bucket holds more than `k`, no node appears
    /// twice and no node lists itself. `k`: the check's, else the state's
    /// `k` field, else 20.
    KBuckets {
        /// The bucket size, if the check sets it.
        k: Option<u64>,
    },
    /// A field of the state within bounds: a number, or the length of a
    /// list (`neighbours`, `nodes`, ...).
    Field {
        /// The field's name.
        field: String,
        /// Its bounds.
        bound: Bound,
    },
}

/// The state of each node that ran the submission and was up at the end,
/// with what the invariants need to judge it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeStates {
    /// Each node and what it reported (`None`: nothing).
    pub states: Vec<(NodeIndex, Option<Record>)>,
    /// Every node's true id, by index.
    pub ids: Vec<Vec<u8>>,
    /// The ids' length in bits.
    pub id_bits: u32,
}

impl Invariant {
    /// What it asks, in words.
    pub fn describe(&self) -> String {
        match self {
            Invariant::KBuckets { k: Some(k) } => format!("every routing table obeys the k-bucket rules (k = {k})"),
            Invariant::KBuckets { k: None } => "every routing table obeys the k-bucket rules".into(),
            Invariant::Field { field, bound } => format!("every node's `{field}` is {}", bound.words(1.0)),
        }
    }

    /// How `state` of `node` breaks it, or `None` if it holds.
    pub fn broken(&self, node: NodeIndex, state: Option<&Record>, all: &NodeStates) -> Option<String> {
        let Some(state) = state else {
            return Some(format!("node {node} reports no state (its peer neither implements `inspect` nor publishes)"));
        };
        match self {
            Invariant::Field { field, bound } => {
                let value = match state.get(field) {
                    None => return Some(format!("node {node}'s state has no field `{field}`")),
                    Some(v) => measure(v),
                };
                match value {
                    Some(x) if bound.holds(x, 1.0) => None,
                    Some(x) => Some(format!("node {node}'s `{field}` is {}, not {}", number(x), bound.words(1.0))),
                    None => Some(format!("node {node}'s `{field}` is neither a number nor a list")),
                }
            }
            Invariant::KBuckets { k } => {
                k_buckets(node, state, k.or_else(|| state.u64("k")).unwrap_or(crate::correctness::DEFAULT_K as u64), all)
            }
        }
    }
}

/// A field's value as a number: itself, or a list's length.
fn measure(v: &Value) -> Option<f64> {
    Some(match v {
        Value::U64(x) => *x as f64,
        Value::I64(x) => *x as f64,
        Value::F64(x) => *x,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::U64s(l) => l.len() as f64,
        Value::Ids(l) => l.len() as f64,
        Value::Strs(l) => l.len() as f64,
        Value::Nodes(l) => l.len() as f64,
        Value::Contacts(l) => l.len() as f64,
        Value::Blobs(l) => l.len() as f64,
        Value::Str(_) | Value::Bytes(_) | Value::Id(_) | Value::Node(_) => return None,
    })
}

fn k_buckets(node: NodeIndex, state: &Record, k: u64, all: &NodeStates) -> Option<String> {
    let nodes = state.nodes("nodes").unwrap_or_default();
    let Some(buckets) = state.u64s("bucket") else {
        return Some(format!("node {node}'s state has no `bucket` list: report the table with State::routing_table"));
    };
    if buckets.len() != nodes.len() {
        return Some(format!("node {node}'s `bucket` list has {} entries for {} nodes", buckets.len(), nodes.len()));
    }
    let own = all.ids.get(node as usize)?;
    let mut sizes: BTreeMap<u64, u64> = BTreeMap::new();
    let mut listed = std::collections::BTreeSet::new();
    for (&other, &bucket) in nodes.iter().zip(buckets) {
        if other == node {
            return Some(format!("node {node} lists itself in bucket {bucket}"));
        }
        if !listed.insert(other) {
            return Some(format!("node {node} lists node {other} twice"));
        }
        let Some(their) = all.ids.get(other as usize) else {
            return Some(format!("node {node} lists node {other}, which does not exist"));
        };
        let common = id::common_prefix_bits(own, their, all.id_bits);
        let right = u64::from(all.id_bits.saturating_sub(1 + common));
        if bucket != right {
            return Some(format!(
                "node {node} keeps node {other} in bucket {bucket}, but their ids first differ at bit {right} (counting from 0 at the lowest), so it belongs in bucket {right}"
            ));
        }
        *sizes.entry(bucket).or_default() += 1;
    }
    let (&bucket, &size) = sizes.iter().find(|&(_, &size)| size > k)?;
    Some(format!("node {node}'s bucket {bucket} holds {size} nodes, more than k = {k}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(entries: &[(u64, u32)]) -> Record {
        Record::new("state")
            .with("nodes", Value::Nodes(entries.iter().map(|e| e.1).collect()))
            .with("bucket", Value::U64s(entries.iter().map(|e| e.0).collect()))
            .with("k", 2u64)
    }

    /// Four nodes with 8-bit ids: node 1 differs from node 0 in bit 0,
    /// node 2 in bit 7, node 3 in bits 7 and 6.
    fn network() -> NodeStates {
        NodeStates { states: Vec::new(), ids: vec![vec![0b0000_0000], vec![0b0000_0001], vec![0b1000_0000], vec![0b1100_0000]], id_bits: 8 }
    }

    #[test]
    fn k_buckets_hold_only_entries_in_their_xor_bucket_and_at_most_k() {
        let all = network();
        let kb = Invariant::KBuckets { k: None };
        assert_eq!(kb.broken(0, Some(&table(&[(0, 1), (7, 2), (7, 3)])), &all), None);
        let e = kb.broken(0, Some(&table(&[(0, 1), (6, 3)])), &all).unwrap();
        assert!(e.contains("keeps node 3 in bucket 6") && e.contains("belongs in bucket 7"), "{e}");
        let e = kb.broken(0, Some(&table(&[(0, 0)])), &all).unwrap();
        assert_eq!(e, "node 0 lists itself in bucket 0");
        let e = kb.broken(0, Some(&table(&[(0, 1), (0, 1)])), &all).unwrap();
        assert_eq!(e, "node 0 lists node 1 twice");
        let e = Invariant::KBuckets { k: Some(1) }.broken(0, Some(&table(&[(7, 2), (7, 3)])), &all).unwrap();
        assert_eq!(e, "node 0's bucket 7 holds 2 nodes, more than k = 1");
        let e = kb.broken(0, Some(&Record::new("state").with("nodes", Value::Nodes(vec![1]))), &all).unwrap();
        assert!(e.contains("no `bucket` list"), "{e}");
        assert!(kb.broken(0, None, &all).unwrap().contains("reports no state"));
    }

    #[test]
    fn fields_are_numbers_or_list_lengths_within_bounds() {
        let all = network();
        let state = Record::new("state").with("delivered", 3u64).with("neighbours", Value::Nodes(vec![1, 2])).with("name", "x");
        let at_least = |field: &str, lo| Invariant::Field { field: field.into(), bound: Bound { at_least: Some(lo), at_most: None } };
        assert_eq!(at_least("delivered", 3.0).broken(0, Some(&state), &all), None);
        assert_eq!(at_least("delivered", 4.0).broken(0, Some(&state), &all).unwrap(), "node 0's `delivered` is 3, not at least 4");
        assert_eq!(at_least("neighbours", 2.0).broken(0, Some(&state), &all), None);
        assert!(at_least("name", 1.0).broken(0, Some(&state), &all).unwrap().contains("neither a number nor a list"));
        assert_eq!(at_least("gone", 1.0).broken(0, Some(&state), &all).unwrap(), "node 0's state has no field `gone`");
    }
}
