//! Byzantine behaviour the host enforces on a node's outgoing messages.

use super::NodeSet;
use crate::NodeIndex;
use crate::rng::{SimRng, below, unit_f64};
use crate::time::SimDuration;
use peershare_wire::{Record, Value};
use rand_core::Rng;

/// What a Byzantine node does to the messages it sends (those of the
/// fault's `kinds`, or all).
#[derive(Clone, Debug, PartialEq)]
pub enum ByzantineAction {
    /// Never sends them.
    Drop,
    /// Sends them late.
    Delay {
        /// Extra latency.
        by: SimDuration,
    },
    /// Sends each one `1 + copies` times.
    Duplicate {
        /// Extra copies.
        copies: u32,
    },
    /// Replaces the values of these fields with random values of the same
    /// type (booleans flip, numbers and node indices are redrawn, one byte of
    /// bytes and ids is changed, one element of a list is corrupted).
    Corrupt {
        /// Field names.
        fields: Vec<String>,
    },
    /// An eclipse attack: every node index in the node-list fields (those
    /// named in `fields`, or every one) is replaced by a colluding node,
    /// while the claimed ids stay, so that the receiver believes colluders
    /// are the nodes it looks for.
    Eclipse {
        /// The colluding nodes.
        colluders: NodeSet,
        /// Node-list fields to rewrite (all if empty).
        fields: Vec<String>,
    },
    /// Serves corrupt file chunks: one byte of the `data` of every
    /// file-sharing chunk message is changed.
    CorruptChunks,
}

impl ByzantineAction {
    /// The action's name, as in scenario files.
    pub fn name(&self) -> &'static str {
        match self {
            ByzantineAction::Drop => "drop",
            ByzantineAction::Delay { .. } => "delay",
            ByzantineAction::Duplicate { .. } => "duplicate",
            ByzantineAction::Corrupt { .. } => "corrupt",
            ByzantineAction::Eclipse { .. } => "eclipse",
            ByzantineAction::CorruptChunks => "corrupt-chunks",
        }
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            ByzantineAction::Corrupt { fields } if fields.is_empty() => Err("`corrupt` needs the `fields` to corrupt".into()),
            ByzantineAction::Duplicate { copies: 0 } => Err("`duplicate` needs `copies` of at least 1".into()),
            ByzantineAction::Eclipse { colluders, .. } if colluders.is_everyone() => {
                Err("`eclipse` needs `colluders`: the nodes the attackers point to".into())
            }
            _ => Ok(()),
        }
    }
}

/// A random value of the same type as `value`, different from it whenever
/// the type allows. `nodes` bounds redrawn node indices.
pub fn corrupt_value(value: &Value, rng: &mut SimRng, nodes: u32) -> Value {
    let other = |x: u64, rng: &mut SimRng| loop {
        let y = rng.next_u64();
        if y != x {
            break y;
        }
    };
    let flip_byte = |b: &[u8], rng: &mut SimRng| {
        let mut b = b.to_vec();
        if b.is_empty() {
            b.push(rng.next_u64() as u8);
        } else {
            let at = below(rng, b.len() as u64) as usize;
            b[at] ^= 1 + below(rng, 255) as u8;
        }
        b
    };
    let other_node = |n: u32, rng: &mut SimRng| {
        if nodes <= 1 { n.wrapping_add(1) } else { (n + 1 + below(rng, u64::from(nodes) - 1) as u32) % nodes }
    };
    match value {
        Value::Bool(b) => Value::Bool(!b),
        Value::U64(x) => Value::U64(other(*x, rng)),
        Value::I64(x) => Value::I64(other(*x as u64, rng) as i64),
        Value::F64(x) => Value::F64(x + 1.0 + unit_f64(rng) * x.abs().max(1.0)),
        Value::Str(s) => {
            let len = s.chars().count().max(1);
            let t: String = (0..len).map(|_| (b'a' + below(rng, 26) as u8) as char).collect();
            Value::Str(if &t == s { format!("{t}x") } else { t })
        }
        Value::Bytes(b) => Value::Bytes(flip_byte(b, rng)),
        Value::Id(b) => Value::Id(flip_byte(b, rng)),
        Value::Node(n) => Value::Node(other_node(*n, rng)),
        Value::U64s(v) if !v.is_empty() => {
            let mut v = v.clone();
            let at = below(rng, v.len() as u64) as usize;
            v[at] = other(v[at], rng);
            Value::U64s(v)
        }
        Value::Ids(v) if !v.is_empty() => {
            let mut v = v.clone();
            let at = below(rng, v.len() as u64) as usize;
            v[at] = flip_byte(&v[at], rng);
            Value::Ids(v)
        }
        Value::Strs(v) if !v.is_empty() => {
            let mut v = v.clone();
            let at = below(rng, v.len() as u64) as usize;
            v[at].push('x');
            Value::Strs(v)
        }
        Value::Nodes(v) if !v.is_empty() => {
            let mut v = v.clone();
            let at = below(rng, v.len() as u64) as usize;
            v[at] = other_node(v[at], rng);
            Value::Nodes(v)
        }
        Value::Contacts(v) if !v.is_empty() => {
            let mut v = v.clone();
            let at = below(rng, v.len() as u64) as usize;
            v[at].node = other_node(v[at].node, rng);
            Value::Contacts(v)
        }
        Value::Blobs(v) if !v.is_empty() => {
            let mut v = v.clone();
            let at = below(rng, v.len() as u64) as usize;
            v[at] = flip_byte(&v[at], rng);
            Value::Blobs(v)
        }
        Value::Contacts(_) => {
            Value::Contacts(vec![peershare_wire::Contact::new(below(rng, u64::from(nodes.max(1))) as u32, flip_byte(&[], rng))])
        }
        Value::Blobs(_) => Value::Blobs(vec![flip_byte(&[], rng)]),
        Value::U64s(_) => Value::U64s(vec![rng.next_u64()]),
        Value::Ids(_) => Value::Ids(vec![flip_byte(&[], rng)]),
        Value::Strs(_) => Value::Strs(vec!["x".into()]),
        Value::Nodes(_) => Value::Nodes(vec![below(rng, u64::from(nodes.max(1))) as u32]),
    }
}

/// Corrupts the named fields of an encoded record. Returns the new bytes and
/// the fields changed, or `None` if the record has none of them.
pub(crate) fn corrupt_fields(bytes: &[u8], fields: &[String], rng: &mut SimRng, nodes: u32) -> Option<(Vec<u8>, Vec<String>)> {
    let mut record = Record::decode(bytes).ok()?;
    let mut changed = Vec::new();
    for (name, value) in record.fields.iter_mut() {
        if fields.iter().any(|f| f == name) {
            *value = corrupt_value(value, rng, nodes);
            changed.push(name.clone());
        }
    }
    (!changed.is_empty()).then(|| (record.encode(), changed))
}

/// Replaces the node indices in node-list fields with colluders (cycling
/// through them, never the destination). Returns the new bytes and how many
/// entries changed, or `None` if nothing did.
pub(crate) fn eclipse(bytes: &[u8], fields: &[String], colluders: &[NodeIndex], to: NodeIndex) -> Option<(Vec<u8>, u32)> {
    let candidates: Vec<NodeIndex> = colluders.iter().copied().filter(|&c| c != to).collect();
    if candidates.is_empty() {
        return None;
    }
    let mut record = Record::decode(bytes).ok()?;
    let mut replaced = 0u32;
    let mut next = 0usize;
    for (name, value) in record.fields.iter_mut() {
        if !fields.is_empty() && !fields.iter().any(|f| f == name) {
            continue;
        }
        let mut replace = |n: &mut NodeIndex| {
            if !candidates.contains(n) {
                *n = candidates[next % candidates.len()];
                next += 1;
                replaced += 1;
            }
        };
        match value {
            Value::Nodes(list) => list.iter_mut().for_each(&mut replace),
            Value::Contacts(list) => list.iter_mut().for_each(|c| replace(&mut c.node)),
            _ => {}
        }
    }
    (replaced > 0).then(|| (record.encode(), replaced))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{SeedTree, Stream};

    #[test]
    fn corruption_changes_exactly_the_named_fields() {
        let mut rng = SeedTree::new(1).stream(Stream::Faults);
        let original = Record::new("m").with("a", 5u64).with("data", vec![1u8, 2, 3]).with("who", Value::Node(3)).with("s", "hi");
        let (bytes, changed) = corrupt_fields(&original.encode(), &["data".into(), "who".into()], &mut rng, 10).unwrap();
        assert_eq!(changed, vec!["data".to_string(), "who".to_string()]);
        let got = Record::decode(&bytes).unwrap();
        assert_eq!(got.u64("a"), Some(5));
        assert_eq!(got.str("s"), Some("hi"));
        assert_ne!(got.bytes("data"), original.bytes("data"));
        assert_eq!(got.bytes("data").unwrap().len(), 3);
        assert_ne!(got.node("who"), Some(3));
        assert!(got.node("who").unwrap() < 10);
        assert!(corrupt_fields(&original.encode(), &["absent".into()], &mut rng, 10).is_none());
    }

    #[test]
    fn every_value_type_changes() {
        let mut rng = SeedTree::new(2).stream(Stream::Faults);
        let values = [
            Value::Bool(true),
            Value::U64(1),
            Value::I64(-1),
            Value::F64(0.5),
            Value::Str("abc".into()),
            Value::Bytes(vec![]),
            Value::Id(vec![0; 20]),
            Value::Node(0),
            Value::U64s(vec![1, 2]),
            Value::Ids(vec![vec![1; 4]]),
            Value::Strs(vec!["a".into()]),
            Value::Nodes(vec![1, 2]),
        ];
        for v in values {
            let c = corrupt_value(&v, &mut rng, 5);
            assert_eq!(c.type_name(), v.type_name());
            assert_ne!(c, v, "{v:?} was not corrupted");
        }
    }

    #[test]
    fn eclipse_points_contacts_at_colluders_and_keeps_ids() {
        let ids = vec![vec![1u8], vec![2], vec![3]];
        let reply = Record::new("NODES").with("nodes", Value::Nodes(vec![4, 8, 9])).with("ids", Value::Ids(ids.clone()));
        let (bytes, replaced) = eclipse(&reply.encode(), &[], &[8, 20, 21], 20).unwrap();
        let got = Record::decode(&bytes).unwrap();
        assert_eq!(replaced, 2);
        assert_eq!(got.nodes("nodes"), Some(&[8, 8, 21][..]));
        assert_eq!(got.ids("ids"), Some(&ids[..]));
    }
}
