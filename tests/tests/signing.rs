//! Signatures the host enforces (the WIT interface `signing`), through a
//! real component: a node's signature checks as its own and nobody
//! else's, over exactly the bytes it signed, and a node that passes on
//! another's signature cannot make it its own.

use peershare::events::Event;
use peershare::prelude::*;

fn logs(seed: u64) -> Vec<(NodeIndex, String)> {
    let mut g = GroupSpec::new("forgers", 3, PeerSource::Wasm(Plugin::builtin("hostile").unwrap()));
    g.config = Record::new("config").with("behaviour", "forge").with("after_ms", 10u64).with("nodes", 3u64);
    let mut sim = SimulationBuilder::new(seed).group(g).build().unwrap();
    sim.run_until(SimTime::from_secs(1)).unwrap();
    assert!(sim.summary().crashed.is_empty(), "{:?}", sim.summary().crashed);
    sim.events()
        .events()
        .iter()
        .filter_map(|e| match &e.event {
            Event::Log { node, text, .. } => Some((*node, text.to_string())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_signature_is_its_signer_s_over_its_bytes_and_cannot_be_taken_over() {
    let lines = logs(1);
    for node in 0..3 {
        let of =
            |prefix: &str| lines.iter().filter(|(n, t)| *n == node && t.starts_with(prefix)).map(|(_, t)| t.as_str()).collect::<Vec<_>>();
        assert_eq!(of("own"), ["own true as-successor false"], "node {node}");
        // Its predecessor's signature checks as the predecessor's only.
        assert_eq!(of("SIGNED"), ["SIGNED sender true other-signer false other-data false"], "node {node}");
        // Replayed by the predecessor as its own, the same signature fails.
        assert_eq!(of("REPLAYED"), ["REPLAYED sender false other-signer true other-data false"], "node {node}");
    }
}

#[test]
fn signatures_are_part_of_a_deterministic_run() {
    assert_eq!(logs(3), logs(3));
}
