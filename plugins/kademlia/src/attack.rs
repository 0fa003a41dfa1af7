//! The eclipse attacker (built only with the `eclipse` feature).
//!
//! An attacker runs honest Kademlia for its own lookups, so that it gets
//! into other nodes' routing tables, but lies whenever it is asked:
//!
//! - FIND_NODE, FIND_VALUE, GET_PROVIDERS: it answers with up to `k` of its
//!   colluders, each under a forged id one XOR step away from the target, so
//!   that they look closer than any honest node. The asker's lookup then
//!   converges on the colluders, which all answer the same way: no value or
//!   provider is ever found, and the "closest nodes" it returns are
//!   attackers.
//! - STORE, ADD_PROVIDER: it acknowledges and keeps nothing.
//!
//! An honest peer can defend itself by checking that the node that answers
//! has the id it was contacted under (the attack forges ids) and by asking
//! disjoint paths (S/Kademlia).
//!
//! Config: the colluders are the nodes `colluders_first` to
//! `colluders_first + colluders_count - 1` (default: the node alone).

use peershare_sdk::{Contact, NodeIndex, Record, Value};

/// The attacker's accomplices.
pub struct Attack {
    colluders: Vec<NodeIndex>,
}

impl Attack {
    /// Reads the colluders from the config.
    pub fn configure(config: &Record, me: NodeIndex) -> Self {
        let first = config.u64("colluders_first").map_or(me, |f| f as NodeIndex);
        let count = config.u64("colluders_count").unwrap_or(1) as NodeIndex;
        Attack { colluders: (first..first.saturating_add(count)).collect() }
    }

    /// The lie told in answer to `msg` from `from`, if the attacker lies to it.
    pub fn answer(&self, from: NodeIndex, msg: &Record, k: usize) -> Option<Record> {
        match msg.kind.as_str() {
            "FIND_NODE" | "FIND_VALUE" | "GET_PROVIDERS" => {
                let target = msg.id("target").or_else(|| msg.id("key"))?;
                let contacts = Value::Contacts(self.forged_contacts(from, target, k));
                Some(if msg.kind == "GET_PROVIDERS" {
                    Record::new("PROVIDERS").with("providers", Value::Contacts(Vec::new())).with("contacts", contacts)
                } else {
                    Record::new("NODES").with("contacts", contacts)
                })
            }
            "STORE" | "ADD_PROVIDER" => Some(Record::new("STORED")),
            _ => None,
        }
    }

    /// Up to `k` colluders other than the asker, the i-th under the id
    /// `target XOR (i + 1)`.
    fn forged_contacts(&self, asker: NodeIndex, target: &[u8], k: usize) -> Vec<Contact> {
        let mut out = Vec::new();
        for (i, &c) in self.colluders.iter().filter(|&&c| c != asker).take(k).enumerate() {
            let mut id = target.to_vec();
            let step = (i as u64 + 1).to_be_bytes();
            for (byte, s) in id.iter_mut().rev().zip(step.iter().rev()) {
                *byte ^= s;
            }
            out.push(Contact::new(c, id));
        }
        out
    }
}
