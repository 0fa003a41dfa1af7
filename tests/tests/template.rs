//! The student template builds to a working peer out of the box.

use peershare::events::Event;
use peershare::prelude::*;

#[test]
fn the_student_template_pings_and_gets_pongs() {
    let mut group = GroupSpec::new("students", 8, PeerSource::Wasm(Plugin::builtin("template").unwrap()));
    group.bootstrap = Bootstrap::Previous { count: 1 };
    let mut sim = SimulationBuilder::new(3).group(group).build().unwrap();
    sim.run_for(SimDuration::from_secs(5)).unwrap();
    for node in 0..8 {
        assert_eq!(sim.node_status(node), Some(NodeStatus::Up));
        let state = sim.node_state(node).expect("the template publishes its state");
        assert!(state.u64("pongs").unwrap() >= 5, "node {node}: {state}");
    }
    let greeting = sim
        .events()
        .events()
        .iter()
        .any(|e| matches!(&e.event, Event::Output { node: 3, text, .. } if text == "node 3 starting with 1 contacts"));
    assert!(greeting, "println! output reaches the event log");
}
