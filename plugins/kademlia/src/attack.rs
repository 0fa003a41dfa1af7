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

use peershare_wire::{Record, Value};
use std::cell::RefCell;

thread_local! {
    static COLLUDERS: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

/// Reads the colluders from the config.
pub fn configure(config: &Record, me: u32) {
    let first = config.u64("colluders_first").map_or(me, |f| f as u32);
    let count = config.u64("colluders_count").unwrap_or(1) as u32;
    COLLUDERS.with(|c| *c.borrow_mut() = (first..first.saturating_add(count)).collect());
}

/// The lie told in answer to `msg` from `from`, if the attacker lies to it.
pub fn answer(from: u32, msg: &Record, k: usize) -> Option<Record> {
    match msg.kind.as_str() {
        "FIND_NODE" | "FIND_VALUE" | "GET_PROVIDERS" => {
            let target = msg.id("target").or_else(|| msg.id("key"))?;
            let (nodes, ids) = COLLUDERS.with(|c| forged_contacts(&c.borrow(), from, target, k));
            let reply = Record::new(if msg.kind == "GET_PROVIDERS" { "PROVIDERS" } else { "NODES" });
            let reply = if msg.kind == "GET_PROVIDERS" {
                reply.with("providers", Value::Nodes(Vec::new())).with("provider_ids", Value::Ids(Vec::new()))
            } else {
                reply
            };
            Some(reply.with("nodes", Value::Nodes(nodes)).with("ids", Value::Ids(ids)))
        }
        "STORE" | "ADD_PROVIDER" => Some(Record::new("STORED")),
        _ => None,
    }
}

/// Up to `k` colluders other than the asker, the i-th under the id
/// `target XOR (i + 1)`.
fn forged_contacts(colluders: &[u32], asker: u32, target: &[u8], k: usize) -> (Vec<u32>, Vec<Vec<u8>>) {
    let mut nodes = Vec::new();
    let mut ids = Vec::new();
    for (i, &c) in colluders.iter().filter(|&&c| c != asker).take(k).enumerate() {
        let mut id = target.to_vec();
        let step = (i as u64 + 1).to_be_bytes();
        for (byte, s) in id.iter_mut().rev().zip(step.iter().rev()) {
            *byte ^= s;
        }
        nodes.push(c);
        ids.push(id);
    }
    (nodes, ids)
}
