//! Hostile WebAssembly peers are contained: each failure crashes only its
//! own node, is recorded with its reason, and the run and every other node
//! go on.

use peershare::events::{DropReason, Event};
use peershare::node::OutputStream;
use peershare::prelude::*;
use std::sync::Arc;

const HONEST: u32 = 4;

fn hostile(behaviour: &str) -> GroupSpec {
    let plugin = Plugin::builtin("hostile").unwrap();
    let plugin = plugin.with_limits(WasmLimits { fuel_per_event: 50_000_000, memory_bytes: 16 << 20 });
    let mut g = GroupSpec::new(behaviour, 1, PeerSource::Wasm(plugin));
    g.config = Record::new("config").with("behaviour", behaviour).with("nodes", u64::from(HONEST)).with("after_ms", 200u64);
    g
}

fn honest_group() -> GroupSpec {
    let mut g = GroupSpec::new("honest", HONEST as usize, PeerSource::Wasm(Plugin::builtin("hostile").unwrap()));
    g.config = Record::new("config").with("behaviour", "honest").with("nodes", u64::from(HONEST));
    g
}

/// Runs honest nodes 0..4 next to one node of each hostile kind (5..=11).
fn run_mixed() -> Simulation {
    let mut b = SimulationBuilder::new(1).group(honest_group());
    for kind in ["loop", "alloc", "recurse", "panic", "bad-send", "flood", "print"] {
        b = b.group(hostile(kind));
    }
    let mut sim = b.build().unwrap();
    sim.run_for(SimDuration::from_secs(2)).unwrap();
    sim
}

fn node_of(sim: &Simulation, group: &str) -> NodeIndex {
    (0..sim.node_count() as NodeIndex).find(|&n| sim.node_group(n) == Some(group)).unwrap()
}

fn crash_reason(sim: &Simulation, group: &str) -> CrashReason {
    match sim.node_status(node_of(sim, group)).unwrap() {
        NodeStatus::Crashed(reason) => reason,
        other => panic!("node of group {group} should have crashed, but is {other:?}"),
    }
}

#[test]
fn an_infinite_loop_runs_out_of_fuel() {
    assert_eq!(crash_reason(&run_mixed(), "loop"), CrashReason::OutOfFuel);
}

#[test]
fn unbounded_allocation_hits_the_memory_limit() {
    assert_eq!(crash_reason(&run_mixed(), "alloc"), CrashReason::MemoryLimit);
}

#[test]
fn deep_recursion_crashes_the_node() {
    let reason = crash_reason(&run_mixed(), "recurse");
    let text = reason.to_string();
    assert!(matches!(reason, CrashReason::StackOverflow) || text.contains("stack overflow"), "{text}");
}

#[test]
fn a_panic_is_recorded_with_its_message() {
    let sim = run_mixed();
    match crash_reason(&sim, "panic") {
        CrashReason::Panic(message) => assert!(message.contains("gave up on purpose"), "{message}"),
        other => panic!("expected a panic, got {other:?}"),
    }
}

#[test]
fn bad_sends_are_dropped_with_their_reason() {
    let sim = run_mixed();
    let node = node_of(&sim, "bad-send");
    assert_eq!(sim.node_status(node), Some(NodeStatus::Up), "a bad send is not a crash");
    let reasons: Vec<&DropReason> = sim
        .events()
        .events()
        .iter()
        .filter_map(|e| match &e.event {
            Event::Dropped { from, reason, .. } if *from == node => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(reasons, [&DropReason::NoSuchNode, &DropReason::Malformed]);
}

#[test]
fn a_flood_of_sends_is_capped_and_recorded() {
    let sim = run_mixed();
    let node = node_of(&sim, "flood");
    let discarded: Vec<u64> = sim
        .events()
        .events()
        .iter()
        .filter_map(|e| match e.event {
            Event::SendLimitExceeded { node: n, discarded } if n == node => Some(discarded),
            _ => None,
        })
        .collect();
    assert_eq!(discarded, [1_000_000 - 10_000]);
    let sent = sim.events().events().iter().filter(|e| matches!(e.event, Event::Sent { from, .. } if from == node)).count();
    assert_eq!(sent, 10_000);
}

#[test]
fn guest_output_becomes_node_output_lines() {
    let sim = run_mixed();
    let node = node_of(&sim, "print");
    let lines: Vec<(OutputStream, String)> = sim
        .events()
        .events()
        .iter()
        .filter_map(|e| match &e.event {
            Event::Output { node: n, stream, text } if *n == node => Some((*stream, text.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        lines,
        [(OutputStream::Stdout, format!("hello from node {node}")), (OutputStream::Stderr, format!("a warning from node {node}"))]
    );
}

#[test]
fn honest_nodes_are_unaffected_by_crashing_neighbours() {
    let sim = run_mixed();
    let after_crashes = SimTime(1_000_000_000);
    for node in 0..HONEST {
        assert_eq!(sim.node_status(node), Some(NodeStatus::Up));
        // Each honest node pings every 100 ms; the pongs keep coming after the
        // hostile nodes crashed at 200 ms.
        let pongs_received = sim
            .events()
            .events()
            .iter()
            .filter(|e| e.time > after_crashes)
            .filter(|e| matches!(&e.event, Event::Delivered { to, .. } if *to == node))
            .count();
        assert!(pongs_received >= 9, "node {node} received only {pongs_received} messages after 1 s");
    }
    assert_eq!(sim.summary().crashed.len(), 4, "exactly loop, alloc, recurse and panic crash: {:?}", sim.summary().crashed);
}

#[test]
fn a_crashed_node_receives_nothing_more() {
    let sim = run_mixed();
    let node = node_of(&sim, "loop");
    let crash_time = sim.events().events().iter().find(|e| matches!(e.event, Event::Crashed { node: n, .. } if n == node)).unwrap().time;
    let later = sim.events().events().iter().filter(|e| e.time > crash_time);
    for e in later {
        match &e.event {
            Event::Delivered { to, .. } => assert_ne!(*to, node),
            Event::Sent { from, .. } => assert_ne!(*from, node),
            Event::TimerFired { node: n, .. } => assert_ne!(*n, node),
            _ => {}
        }
    }
}

#[test]
fn a_file_that_is_not_webassembly_is_refused_by_name() {
    let err = Plugin::from_bytes("submissions/alice.wasm", b"definitely not wasm").unwrap_err().to_string();
    assert!(err.contains("submissions/alice.wasm") && err.contains("not a valid WebAssembly component"), "{err}");
}

#[test]
fn a_core_module_is_not_a_component() {
    // The smallest valid core module: magic and version 1.
    let err = Plugin::from_bytes("core.wasm", b"\0asm\x01\0\0\0").unwrap_err().to_string();
    assert!(err.contains("core.wasm"), "{err}");
}

#[test]
fn a_missing_file_is_reported_with_its_path() {
    let err = Plugin::load("no/such/peer.wasm".as_ref()).unwrap_err().to_string();
    assert!(err.contains("no/such/peer.wasm"), "{err}");
}

#[test]
fn every_builtin_plugin_loads_and_exports_peer() {
    for name in peershare::builtin::names() {
        let plugin: Arc<Plugin> = Plugin::builtin(name).unwrap();
        assert!(plugin.exports("peer"));
    }
}

#[test]
fn a_component_of_another_world_is_refused_with_what_is_missing() {
    let path = peershare::builtin::wasm_dir().join("peershare_misfit.wasm");
    let err = Plugin::load(&path).unwrap_err().to_string();
    assert!(err.contains("peershare_misfit.wasm") && err.contains("peershare:sim/peer"), "{err}");
}
