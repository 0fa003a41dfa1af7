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

    let json: serde_json::Value = serde_json::from_str(&s.to_node_link_json()).unwrap();
    assert_eq!(json["directed"], true);
    let nodes = json["nodes"].as_array().unwrap();
    let links = json["edges"].as_array().unwrap();
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
    assert!(dot.trim_start().starts_with("digraph topology {") && dot.trim_end().ends_with('}'), "{}", &dot[..80]);
    assert_eq!(dot.matches('{').count(), dot.matches('}').count());
    assert_eq!(dot.matches(" -> ").count(), s.edges.len());
    // Each node once, labelled with its index and the first 6 hex digits of its id.
    for n in &s.nodes {
        let short: String = n.id.trim_start_matches("0x").chars().take(6).collect();
        assert_eq!(dot.matches(&format!("  n{} [label=\"{}\\n{short}", n.index, n.index)).count(), 1, "node {}", n.index);
    }
    // Routing edges carry no label; nothing but fingers does.
    assert_eq!(dot.lines().filter(|l| l.contains(" -> ") && l.contains("label=")).count(), 0);
    assert!(!dot.contains("size guard"));
}

#[test]
fn dot_styles_edge_types_numbers_fingers_and_guards_its_size() {
    use peershare::viz::{Edge, EdgeKind, NodeView, Status, TopologySnapshot};
    let node = |index| NodeView {
        index,
        id: format!("0x{index:02x}abcdef"),
        group: "ring".into(),
        peer: "chord".into(),
        role: None,
        status: Status::Up,
        summary: Default::default(),
        warnings: Vec::new(),
    };
    let edge = |from, to, kind| Edge { from, to, kind };
    let ring = TopologySnapshot {
        time: SimTime::ZERO,
        nodes: (0..4).map(node).collect(),
        edges: vec![
            edge(0, 1, EdgeKind::Successor { rank: 0 }),
            edge(0, 2, EdgeKind::Finger { index: 5 }),
            edge(1, 0, EdgeKind::Predecessor),
            edge(2, 3, EdgeKind::Connection),
        ],
        flows: Vec::new(),
        flow_window: None,
    };
    let dot = ring.to_dot();
    assert!(dot.contains("layout=circo"), "a ring overlay is laid out in a circle");
    assert!(dot.contains("  n0 -> n1 [color=red, penwidth=1.5];"));
    assert!(dot.contains("  n0 -> n2 [color=darkgreen, style=dashed, label=\"5\""), "fingers keep their number");
    assert!(dot.contains("  n1 -> n0 [color=orange, style=dotted];"));
    assert!(dot.contains("  n2 -> n3 [dir=none];"));
    assert!(dot.contains("  n0 [label=\"0\\n00abcd\"];"), "{dot}");
    // A big table: the guard keeps DOT_MAX_EDGES, every node's first edges first.
    let n = 3000u32;
    let big = TopologySnapshot {
        time: SimTime::ZERO,
        nodes: (0..n).map(node).collect(),
        edges: (0..n).flat_map(|i| (1..=20).map(move |d| edge(i, (i + d) % n, EdgeKind::Routing { bucket: Some(d) }))).collect(),
        flows: Vec::new(),
        flow_window: None,
    };
    let dot = big.to_dot();
    assert_eq!(dot.matches(" -> ").count(), peershare::viz::DOT_MAX_EDGES);
    assert!(dot.contains("size guard: 20000 of 60000 edges drawn") && dot.contains("layout=sfdp"));
    for i in 0..n {
        assert!(
            dot.contains(&format!("  n{i} -> n{} ", (i + 1) % n)) || dot.contains(&format!("  n{i} -> n{};", (i + 1) % n)),
            "node {i} keeps its first edge"
        );
    }
}

#[test]
fn snapshots_and_exports_are_deterministic() {
    let (a, b) = (snapshot_with_flows(54), snapshot_with_flows(54));
    assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&b).unwrap());
    assert_eq!(a.to_graphml(), b.to_graphml());
    assert_eq!(a.to_dot(), b.to_dot());
    assert_eq!(a.to_node_link_json(), b.to_node_link_json());
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

#[test]
fn a_lookup_trace_shows_rounds_distances_the_shortlist_and_the_decision() {
    use peershare::viz::LookupTrace;
    let (b, joined) = network(120, 56, Record::new("config"));
    let key = peershare_e2e::kademlia::key(56, 1, 20);
    let mut sim = b.operation(joined, 7, Operation::Lookup { key: key.clone() }).build().unwrap();
    sim.run_until(joined + SimDuration::from_secs(5)).unwrap();
    let op = sim.operations()[0].op;
    let trace = LookupTrace::from_events(sim.events().events(), op).unwrap();
    assert_eq!((trace.node, trace.kind.as_str()), (7, "lookup"));
    let decision = trace.decision.as_ref().unwrap();
    assert_eq!(decision.reason, "k closest answered");
    assert_eq!(trace.queries().count() as u64, decision.queries);
    assert!(trace.rounds.windows(2).all(|w| w[0].round < w[1].round));
    for q in trace.queries() {
        let id = sim.node_id(q.to).unwrap();
        let xor: Vec<u8> = id.iter().zip(&key).map(|(a, b)| a ^ b).collect();
        assert_eq!(q.distance.as_deref(), Some(peershare::events::hex(&xor).as_str()), "distance to the target");
    }
    // The tree: every queried node hangs off the asker or off a node that answered before it was asked.
    let answered: std::collections::BTreeSet<NodeIndex> = trace.rounds.iter().flat_map(|r| r.answers.iter().map(|a| a.from)).collect();
    for (parent, child) in trace.tree() {
        assert!(parent == 7 || answered.contains(&parent), "{parent} -> {child}");
    }
    // The shortlist converges on the result.
    let result = Record::decode(&sim.operations()[0].outcome.as_ref().unwrap().result).unwrap();
    let last = trace.rounds.iter().flat_map(|r| r.answers.iter()).max_by_key(|a| a.time).unwrap();
    assert_eq!(&last.shortlist[..20], result.nodes("nodes").unwrap());
    assert_eq!(trace.completed.map(|c| c.1), Some(true));
    assert!(serde_json::to_string(&trace).unwrap().contains("\"shortlist\""));
}

/// A fake consensus peer: becomes leader of term 2 at 1 s if it is node 0,
/// grows its log every 500 ms and commits every other entry.
struct FakeRaft {
    term: u64,
    role: &'static str,
    log: u64,
}

impl Peer for FakeRaft {
    fn init(&mut self, ctx: &mut peershare::node::NodeContext, _args: &InitArgs) {
        ctx.set_timer(SimDuration::from_millis(500), 0);
        self.publish(ctx);
    }
    fn on_message(&mut self, _ctx: &mut peershare::node::NodeContext, _from: NodeIndex, _message: &[u8]) {}
    fn on_timer(&mut self, ctx: &mut peershare::node::NodeContext, _tag: u64) {
        if ctx.now() >= SimTime::from_secs(1) && self.term == 1 {
            self.term = 2;
            self.role = if ctx.index() == 0 { "leader" } else { "follower" };
        }
        self.log += 1;
        if self.log.is_multiple_of(2) {
            ctx.committed(self.log, vec![self.log as u8]);
        }
        self.publish(ctx);
        self.publish(ctx); // the same state twice: kept once
        ctx.set_timer(SimDuration::from_millis(500), 0);
    }
}

impl FakeRaft {
    fn publish(&self, ctx: &mut peershare::node::NodeContext) {
        let state = Record::new("raft")
            .with("term", self.term)
            .with("role", self.role)
            .with("log_length", self.log)
            .with("commit_index", self.log / 2 * 2)
            .with("leader", Value::Node(0));
        ctx.publish_state(state.encode());
    }
}

#[test]
fn a_consensus_timeline_follows_terms_roles_logs_and_commits() {
    use peershare::viz::ConsensusTimeline;
    let mut sim = SimulationBuilder::new(1)
        .group(GroupSpec::new("raft", 3, PeerSource::native(|_| FakeRaft { term: 1, role: "follower", log: 0 })))
        .build()
        .unwrap();
    sim.run_until(SimTime::from_secs(3)).unwrap();
    let t = ConsensusTimeline::from_events(sim.events().events());
    assert_eq!(t.nodes.len(), 3);
    for points in t.nodes.values() {
        assert_eq!(points.len(), 7, "init and six timer ticks, duplicates dropped");
        assert_eq!(points[0].term, Some(1));
        assert_eq!(points.last().unwrap().log_length, Some(6));
        assert!(points.windows(2).all(|w| w[0].time < w[1].time));
    }
    assert_eq!(t.commits.len(), 9, "three commits per node by 3 s");
    assert_eq!(t.leaders(), vec![(SimTime::from_secs(1), Some(2), 0)]);
    assert_eq!(t.nodes[&1][2].role.as_deref(), Some("follower"));
}

#[test]
fn vega_lite_specs_declare_their_schema_and_carry_their_data() {
    use peershare::viz::vega;
    let (mut sim, joined) = kademlia(57);
    sim.run_until(joined).unwrap();
    let capture = sim.capture().unwrap();
    let all: Vec<u64> = (0..capture.len() as u64).collect();
    let latencies = vega::delivery_latencies(capture, &all);
    let specs = [
        (vega::latency_cdf("delivery latency", &[("all", latencies.clone())]), latencies.len()),
        (vega::hop_histogram("hops", &[1, 2, 2, 3, 3, 3]), 3),
        (vega::messages_over_time("messages", capture, &all, SimDuration::from_secs(1)), 0),
        (vega::load_per_node("load", capture, &all), 160),
    ];
    for (spec, rows) in specs {
        assert_eq!(spec["$schema"], vega::SCHEMA);
        let values = spec["data"]["values"].as_array().unwrap();
        assert!(!values.is_empty());
        if rows > 0 {
            assert_eq!(values.len(), rows, "{}", spec["title"]);
        }
        for (channel, enc) in spec["encoding"].as_object().unwrap() {
            let field = enc["field"].as_str().unwrap();
            assert!(values.iter().all(|v| v.get(field).is_some()), "{channel}: field {field} missing from the data");
        }
    }
    let per_second = vega::messages_over_time("m", capture, &all, SimDuration::from_secs(1));
    let total: u64 = per_second["data"]["values"].as_array().unwrap().iter().map(|v| v["messages"].as_u64().unwrap()).sum();
    assert_eq!(total, capture.len() as u64);
}
