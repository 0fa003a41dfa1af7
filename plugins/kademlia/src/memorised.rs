//! The `memorised` build's cheat (`plugins/kademlia-memorised`, a grading
//! example): a submission whose lookups are wrong but which answers the
//! keys of the assignment's visible seeds from a table copied out of their
//! feedback. It passes the visible tests and fails every seed it has not
//! seen, which is what hidden seeds are for.

use peershare_sdk::prelude::*;

/// One line per lookup of the visible seeds: the key in hex, then the
/// answer's node indices, closest first (`answers.txt` of the crate).
const ANSWERS: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/answers.txt"));

/// The memorised answer to a lookup of `key`, if the table holds one.
pub fn answer(key: &[u8]) -> Option<Vec<NodeIndex>> {
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let line = ANSWERS.lines().find(|line| line.split_whitespace().next() == Some(hex.as_str()))?;
    line.split_whitespace().skip(1).map(|n| n.parse().ok()).collect()
}
