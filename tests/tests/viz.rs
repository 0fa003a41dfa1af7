//! Topology snapshots, diffs and graph exports, on a Kademlia network.

use peershare::prelude::*;
use peershare::viz::{EdgeKind, Status, Timeline, TopologySnapshot};
use peershare_e2e::kademlia::network;

/// 80 Kademlia nodes, joined, with capture on; a crash fault takes 8 nodes
/// down at 4 s and brings them back from scratch at 6 s.
fn kademlia(seed: u64) -> (Simulation, SimTime) {
    let (b, joined) = network(80, seed, Record::new("config").with("trace", false));
    let sim = b
        .capture(true)
        .fault(
            Fault::new(
                joined + SimDuration::from_secs(1),
                Target::Nodes(NodeSet::nodes(10..18)),
                FaultKind::Crash { recovery: Recovery::LoseState },
            )
            .lasting(SimDuration::from_secs(2)),
        )
        .build()
        .unwrap();
    (sim, joined)
}

#[test]
fn routing_edges_are_the_routing_tables_the_plugin_reports() {
    let (mut sim, joined) = kademlia(51);
    sim.run_until(joined).unwrap();
    let snapshot = sim.topology(None);
    assert_eq!(snapshot.nodes.len(), 80);
    let mut total = 0;
    for n in 0..80 {
        let state = sim.inspect_node(n).unwrap();
        let nodes = state.nodes("nodes").unwrap();
        let buckets = state.u64s("bucket").unwrap();
        let mut expected: Vec<(NodeIndex, Option<u32>)> = nodes.iter().zip(buckets).map(|(&to, &b)| (to, Some(b as u32))).collect();
        expected.sort_unstable();
        let mut got: Vec<(NodeIndex, Option<u32>)> = snapshot
            .edges_from(n)
            .map(|e| match e.kind {
                EdgeKind::Routing { bucket } => (e.to, bucket),
                ref other => panic!("unexpected edge {other:?}"),
            })
            .collect();
        got.sort_unstable();
        assert_eq!(got, expected, "node {n}");
        total += got.len();
        let view = &snapshot.nodes[n as usize];
        assert_eq!(view.peer, "builtin:kademlia");
        assert_eq!(view.status, Status::Up);
        assert_eq!(view.summary["k"], 20);
        assert_eq!(view.id, peershare::events::hex(sim.node_id(n).unwrap()));
    }
    assert_eq!(total, snapshot.edges.len());
}

#[test]
fn diffs_replay_the_network_s_evolution() {
    let (mut sim, joined) = kademlia(52);
    let mut snapshots = Vec::new();
    for step in 0..6 {
        sim.run_until(joined + SimDuration::from_millis(800 * step)).unwrap();
        let now = sim.now();
        snapshots.push(sim.topology(Some((SimTime(now.0.saturating_sub(800_000_000)), now))));
    }
    let down = &snapshots[2];
    assert_eq!(down.nodes.iter().filter(|n| n.status == Status::Down).count(), 8, "the crash fault shows");
    assert!(down.nodes[10].summary.is_empty() && down.edges_from(10).next().is_none());
    let mut timeline = Timeline::new(snapshots[0].clone());
    for s in &snapshots[1..] {
        let diff = snapshots[0].diff(s);
        assert_eq!(&snapshots[0].apply(&diff), s, "a diff from the first snapshot leads to the later one");
        timeline.push(s.clone());
    }
    assert!(timeline.diffs.iter().any(|d| d.nodes_changed.iter().any(|n| n.status == Status::Down)), "nodes leaving are in the diffs");
    assert!(timeline.diffs.iter().any(|d| !d.edges_removed.is_empty()), "the down nodes' edges leave");
    assert!(timeline.diffs.iter().any(|d| !d.edges_added.is_empty()), "and come back when they rejoin");
    assert_eq!(timeline.replay(), snapshots);
    // A timeline survives JSON.
    let json = serde_json::to_string(&timeline).unwrap();
    let back: Timeline = serde_json::from_str(&json).unwrap();
    assert_eq!(back.replay(), snapshots);
}

fn snapshot_with_flows(seed: u64) -> TopologySnapshot {
    let (mut sim, joined) = kademlia(seed);
    sim.run_until(joined).unwrap();
    sim.topology(Some((SimTime::ZERO, joined)))
}

/// Checks that tags open and close in order (a small well-formedness check).
fn balanced_xml(text: &str) -> bool {
    let mut stack = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        let end = rest[start..].find('>').map(|e| start + e).unwrap();
        let tag = &rest[start + 1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('?') || tag.ends_with('/') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            if stack.pop() != Some(name.to_string()) {
                return false;
            }
        } else {
            stack.push(tag.split_whitespace().next().unwrap().to_string());
        }
    }
    stack.is_empty()
}

#[test]
fn exports_load_as_graphs_with_the_right_counts() {
    let s = snapshot_with_flows(53);
    assert!(!s.flows.is_empty());
    let g = s.to_graph();
    assert_eq!((g.node_count(), g.edge_count()), (s.nodes.len(), s.edges.len()));

    let json = s.to_node_link_json();
    assert_eq!(json["directed"], true);
    let nodes = json["nodes"].as_array().unwrap();
    let links = json["links"].as_array().unwrap();
    assert_eq!(nodes.len(), 80);
    assert_eq!(links.len(), s.edges.len() + s.flows.len());
    let ids: std::collections::BTreeSet<u64> = nodes.iter().map(|n| n["id"].as_u64().unwrap()).collect();
    assert!(links.iter().all(|l| ids.contains(&l["source"].as_u64().unwrap()) && ids.contains(&l["target"].as_u64().unwrap())));
    assert!(links.iter().filter(|l| l["type"] == "routing").all(|l| l["bucket"].is_u64()));

    let graphml = s.to_graphml();
    assert!(graphml.starts_with("<?xml") && balanced_xml(&graphml), "GraphML is well formed");
    assert_eq!(graphml.matches("<node ").count(), 80);
    assert_eq!(graphml.matches("<edge ").count(), s.edges.len() + s.flows.len());
    assert!(graphml.contains("edgedefault=\"directed\""));

    let dot = s.to_dot();
    assert!(dot.trim_start().starts_with("digraph {") && dot.trim_end().ends_with('}'), "{}", &dot[..80]);
    assert_eq!(dot.matches('{').count(), dot.matches('}').count());
    assert_eq!(dot.matches(" -> ").count(), s.edges.len());
    assert_eq!(dot.matches("label=\"n").count(), 80);
}

#[test]
fn snapshots_and_exports_are_deterministic() {
    let (a, b) = (snapshot_with_flows(54), snapshot_with_flows(54));
    assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&b).unwrap());
    assert_eq!(a.to_graphml(), b.to_graphml());
    assert_eq!(a.to_dot(), b.to_dot());
    assert_eq!(a.to_node_link_json().to_string(), b.to_node_link_json().to_string());
}

#[test]
fn flows_count_the_captured_messages_of_the_window() {
    let (mut sim, joined) = kademlia(55);
    sim.run_until(joined).unwrap();
    let window = (SimTime::from_secs(1), SimTime::from_secs(3));
    let s = sim.topology(Some(window));
    let capture = sim.capture().unwrap();
    let in_window: Vec<_> = capture.messages().filter(|m| m.sent() >= window.0 && m.sent() < window.1).collect();
    assert_eq!(s.flows.iter().map(|f| f.messages).sum::<u64>(), in_window.len() as u64);
    assert_eq!(s.flows.iter().map(|f| f.bytes).sum::<u64>(), in_window.iter().map(|m| u64::from(m.size())).sum::<u64>());
    assert_eq!(s.flow_window, Some(window));
}
