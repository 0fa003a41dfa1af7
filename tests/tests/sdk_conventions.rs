//! What the guest SDK's typed helpers write is what the host reads: every
//! `State` method becomes its edges in a topology snapshot, every `Step`
//! its place in a lookup trace, and a hand-made state of the wrong type a
//! convention warning.

use peershare::events::Event;
use peershare::prelude::*;
use peershare::viz::{EdgeKind, LookupTrace};
use peershare_sdk::{Distance, Role, State, Step};

/// Node 0 publishes `state` (and records `steps` on operation 0); the
/// others publish nothing.
struct Publisher {
    state: Record,
    steps: Vec<Record>,
}

impl Peer for Publisher {
    fn init(&mut self, ctx: &mut NodeContext, args: &InitArgs) {
        if args.index == 0 {
            ctx.publish_state(self.state.encode());
        }
    }
    fn on_message(&mut self, _: &mut NodeContext, _: NodeIndex, _: &[u8]) {}
    fn on_operation(&mut self, ctx: &mut NodeContext, op: u64, _: &Operation) {
        for step in &self.steps {
            ctx.trace(op, step.encode());
        }
        ctx.complete(op, true, Record::new("contacts").encode());
    }
}

fn run(state: Record, steps: Vec<Record>) -> Simulation {
    let group = GroupSpec::new("p", 12, PeerSource::native(move |_| Publisher { state: state.clone(), steps: steps.clone() }));
    let mut sim = SimulationBuilder::new(1)
        .group(group)
        .operation(SimTime::from_millis(10), 0, Operation::Lookup { key: vec![1; 20] })
        .build()
        .unwrap();
    sim.run_for(SimDuration::from_secs(1)).unwrap();
    sim
}

#[test]
fn every_state_helper_becomes_its_edges() {
    let state = State::new()
        .routing_table([(3, 1), (7, 2)])
        .fingers([(0, 3), (4, 4), (9, 5)])
        .successors([6, 7])
        .predecessor(8)
        .neighbours([9])
        .role(Role::Follower)
        .leader(10)
        .term(4)
        .field("keys", 3u64);
    let mut sim = run(state.to_record(), Vec::new());
    let snapshot = sim.topology(None);
    let mut edges: Vec<(NodeIndex, NodeIndex, EdgeKind)> = snapshot.edges.iter().map(|e| (e.from, e.to, e.kind.clone())).collect();
    edges.sort();
    let mut expected = vec![
        (0, 1, EdgeKind::Routing { bucket: Some(3) }),
        (0, 2, EdgeKind::Routing { bucket: Some(7) }),
        (0, 3, EdgeKind::Finger { index: 0 }),
        (0, 4, EdgeKind::Finger { index: 4 }),
        (0, 5, EdgeKind::Finger { index: 9 }),
        (0, 6, EdgeKind::Successor { rank: 0 }),
        (0, 7, EdgeKind::Successor { rank: 1 }),
        (0, 8, EdgeKind::Predecessor),
        (0, 9, EdgeKind::Connection),
        (10, 0, EdgeKind::LeaderFollower),
    ];
    expected.sort();
    assert_eq!(edges, expected);
    let node = &snapshot.nodes[0];
    assert_eq!(node.role.as_deref(), Some("follower"));
    assert_eq!(node.summary["term"], 4);
    assert_eq!(node.summary["keys"], 3);
    assert!(sim.summary().convention_warnings.is_empty(), "the SDK writes every field with its type");
}

#[test]
fn every_step_helper_lands_in_the_lookup_trace() {
    let steps = vec![
        Step::query(1, 4, Distance::Ring(vec![0x0a])),
        Step::answer(1, 4, "nodes", &[5, 6], &[5, 4]),
        Step::query(2, 5, Distance::Xor(vec![0x02])),
        Step::timeout(5),
        Step::Custom(Record::new("cache-hit").with("from", Value::Node(6))),
        Step::done("converged", 2, 2),
    ];
    let sim = run(State::new().to_record(), steps.iter().map(Step::to_record).collect());
    let trace = LookupTrace::from_events(sim.events().events(), 0).expect("operation 0 was traced");
    assert_eq!(trace.rounds.len(), 2);
    let q = &trace.rounds[0].queries[0];
    assert_eq!((q.to, q.distance.as_deref(), q.metric.as_deref()), (4, Some("0x0a"), Some("ring")));
    assert_eq!(trace.rounds[1].queries[0].metric.as_deref(), Some("xor"));
    let a = &trace.rounds[0].answers[0];
    assert_eq!((a.from, a.kind.as_str(), a.returned.clone(), a.shortlist.clone()), (4, "nodes", vec![5, 6], vec![5, 4]));
    assert_eq!(trace.rounds[1].timeouts.iter().map(|t| t.1).collect::<Vec<_>>(), [5]);
    assert_eq!(trace.custom.len(), 1);
    assert_eq!((trace.custom[0].kind.as_str(), &trace.custom[0].fields["from"]), ("cache-hit", &serde_json::json!(6)));
    let d = trace.decision.unwrap();
    assert_eq!((d.reason.as_str(), d.rounds, d.queries), ("converged", 2, 2));
    // And back: the steps read from the event log are the steps recorded.
    let logged: Vec<Step> = sim
        .events()
        .events()
        .iter()
        .filter_map(|e| match &e.event {
            Event::Trace { step, .. } => Some(Step::from_record(Record::decode(step).unwrap())),
            _ => None,
        })
        .collect();
    assert_eq!(logged, steps);
}

#[test]
fn a_hand_made_state_of_the_wrong_type_draws_nothing_and_warns() {
    let state =
        Record::new("state").with("successor", 3u32).with("fingers", Value::Nodes(vec![1, 2])).with("finger_index", Value::U64s(vec![7]));
    let mut sim = run(state, Vec::new());
    let snapshot = sim.topology(None);
    assert!(snapshot.edges.iter().all(|e| !matches!(e.kind, EdgeKind::Successor { .. })), "a u64 successor draws no edge");
    let warnings = sim.summary().convention_warnings;
    assert_eq!(
        warnings,
        [
            "node 0: state field `finger_index` should be as long as `fingers`, but is 1 long against 2",
            "node 0: state field `successor` should be a node (Value::Node), but is a u64"
        ]
    );
}

/// Answers `inspect` with a `successor` of the wrong type and publishes
/// nothing.
struct Inspected;

impl Peer for Inspected {
    fn init(&mut self, _: &mut NodeContext, _: &InitArgs) {}
    fn on_message(&mut self, _: &mut NodeContext, _: NodeIndex, _: &[u8]) {}
    fn inspect(&self) -> Option<Vec<u8>> {
        Some(Record::new("state").with("successor", 1u32).with("predecessor", Value::Node(2)).encode())
    }
}

#[test]
fn an_inspected_state_of_the_wrong_type_warns_in_the_snapshot_without_touching_the_log() {
    let mut sim = SimulationBuilder::new(1).group(GroupSpec::new("p", 3, PeerSource::native(|_| Inspected))).build().unwrap();
    sim.run_for(SimDuration::from_secs(1)).unwrap();
    let events_before = sim.events().total();
    let snapshot = sim.topology(None);
    for node in &snapshot.nodes {
        assert_eq!(node.warnings, ["state field `successor` should be a node (Value::Node), but is a u64"], "node {}", node.index);
    }
    assert!(
        snapshot.edges.iter().all(|e| e.kind == EdgeKind::Predecessor),
        "only the well-typed predecessor is drawn: {:?}",
        snapshot.edges
    );
    assert_eq!(snapshot.edges.len(), 3);
    assert_eq!(sim.events().total(), events_before, "observing writes nothing to the event log");
    assert!(sim.summary().convention_warnings.is_empty(), "the summary reports published states only");
}
