//! Hostile WebAssembly peers are contained: each failure crashes only its
//! own node, is recorded with its reason, and the run and every other node
//! go on.

use peershare::events::{DropReason, Event, Handling};
use peershare::limits::{HostLimit, HostLimits};
use peershare::node::OutputStream;
use peershare::prelude::*;
use std::sync::Arc;
use std::time::Duration;

const HONEST: u32 = 4;

fn hostile(behaviour: &str) -> GroupSpec {
    let plugin = Plugin::builtin("hostile").unwrap();
    let plugin =
        plugin.with_limits(WasmLimits { fuel_per_event: 50_000_000, memory_bytes: 16 << 20, wall_clock_per_call: Duration::from_secs(60) });
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

/// The calls refused per limit for `node`, over the whole run.
fn refusals(sim: &Simulation, node: NodeIndex) -> Vec<(HostLimit, u64)> {
    sim.events()
        .events()
        .iter()
        .filter_map(|e| match e.event {
            Event::LimitExceeded { node: n, limit, calls, .. } if n == node => Some((limit, calls)),
            _ => None,
        })
        .collect()
}

/// Why each message `node` sent was dropped, in order.
fn drops_from(sim: &Simulation, node: NodeIndex) -> Vec<&DropReason> {
    sim.events()
        .events()
        .iter()
        .filter_map(|e| match &e.event {
            Event::Dropped { from, reason, .. } if *from == node => Some(reason),
            _ => None,
        })
        .collect()
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
    let reasons = drops_from(&sim, node);
    assert_eq!(reasons, [&DropReason::NoSuchNode, &DropReason::Malformed]);
}

#[test]
fn a_flood_of_sends_is_capped_and_recorded() {
    let sim = run_mixed();
    let node = node_of(&sim, "flood");
    assert_eq!(refusals(&sim, node), [(HostLimit::SendsPerEvent, 1_000_000 - 10_000)]);
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

/// Honest nodes 0..4 next to one node behaving as `behaviour`, under the
/// default limits (but `wasm` for the hostile node), run for `secs`.
fn run_one(behaviour: &str, wasm: WasmLimits, limits: HostLimits, secs: u64) -> Simulation {
    let mut g = hostile(behaviour);
    if let PeerSource::Wasm(p) = &g.peer {
        g.peer = PeerSource::Wasm(p.with_limits(wasm));
    }
    let mut sim = SimulationBuilder::new(3).group(honest_group()).group(g).limits(limits).build().unwrap();
    sim.run_for(SimDuration::from_secs(secs)).unwrap();
    sim
}

/// Limits for the hostile node: a generous wall-clock guard, so that a
/// loaded test machine never stops a call that fuel or a host limit is meant
/// to stop.
fn small_wasm() -> WasmLimits {
    WasmLimits { fuel_per_event: 500_000_000, memory_bytes: 64 << 20, wall_clock_per_call: Duration::from_secs(60) }
}

fn assert_honest_nodes_keep_pinging(sim: &Simulation) {
    for node in 0..HONEST {
        assert_eq!(sim.node_status(node), Some(NodeStatus::Up), "honest node {node}");
        let late = SimTime(sim.now().as_nanos() - 500_000_000);
        let received = sim
            .events()
            .events()
            .iter()
            .filter(|e| e.time > late && matches!(&e.event, Event::Delivered { to, .. } if *to == node))
            .count();
        assert!(received >= 4, "honest node {node} received only {received} messages in the last 0.5 s");
    }
}

#[test]
fn a_timer_loop_of_zero_ns_is_crashed_as_an_event_storm_and_time_goes_on() {
    for behaviour in ["zero-timer", "ns-timer"] {
        let sim = run_one(behaviour, small_wasm(), HostLimits::default(), 2);
        assert_eq!(sim.now(), SimTime::from_secs(2), "the run reached its end");
        let limit = HostLimits::default().max_handler_calls_per_second;
        assert_eq!(crash_reason(&sim, behaviour), CrashReason::EventStorm { calls: limit }, "{behaviour}");
        let node = node_of(&sim, behaviour);
        let fired = sim.events().events().iter().filter(|e| matches!(e.event, Event::TimerFired { node: n, .. } if n == node)).count();
        assert_eq!(fired as u64, limit, "{behaviour}: the node ran exactly its allowance of handlers");
        assert_honest_nodes_keep_pinging(&sim);
    }
}

#[test]
fn sleeping_fails_at_once_with_a_readable_reason() {
    let sim = run_one("sleep", small_wasm(), HostLimits::default(), 2);
    match crash_reason(&sim, "sleep") {
        CrashReason::Blocked(what) => assert!(what.contains("std::thread::sleep"), "{what}"),
        other => panic!("expected a blocked crash, got {other:?}"),
    }
    assert!(crash_reason(&sim, "sleep").to_string().contains("set_timer"));
    assert_honest_nodes_keep_pinging(&sim);
}

#[test]
fn a_call_past_the_wall_clock_limit_is_stopped() {
    // Fuel for hours of work: only the wall-clock guard can stop this loop.
    let wasm = WasmLimits { fuel_per_event: u64::MAX / 2, wall_clock_per_call: Duration::from_millis(300), ..small_wasm() };
    let sim = run_one("loop", wasm, HostLimits::default(), 2);
    assert_eq!(crash_reason(&sim, "loop"), CrashReason::WallClockLimit);
    assert_honest_nodes_keep_pinging(&sim);
}

#[test]
fn oversized_calls_are_refused_as_they_happen() {
    let cases = [
        ("big-sends", HostLimit::MessageBytes),
        ("big-states", HostLimit::RecordBytes),
        ("big-traces", HostLimit::RecordBytes),
        ("big-commits", HostLimit::RecordBytes),
    ];
    for (behaviour, limit) in cases {
        let sim = run_one(behaviour, small_wasm(), HostLimits::default(), 1);
        let node = node_of(&sim, behaviour);
        assert_eq!(sim.node_status(node), Some(NodeStatus::Up), "{behaviour}: a refused call is not a crash");
        assert_eq!(refusals(&sim, node), [(limit, 400)], "{behaviour}");
        let kept = sim.events().events().iter().any(|e| match &e.event {
            Event::Sent { from, .. } => *from == node,
            Event::StatePublished { node: n, .. } | Event::Trace { node: n, .. } | Event::Committed { node: n, .. } => *n == node,
            _ => false,
        });
        assert!(!kept, "{behaviour}: nothing of a refused call is kept");
        assert_honest_nodes_keep_pinging(&sim);
    }
}

#[test]
fn the_bytes_of_one_event_are_bounded() {
    // 1 MB messages fit the message limit; 400 of them exceed 32 MiB per event.
    let mut g = hostile("big-sends");
    g.config = g.config.with("size", 1_000_000u64);
    let mut sim = SimulationBuilder::new(3).group(honest_group()).group(g).build().unwrap();
    sim.run_for(SimDuration::from_secs(1)).unwrap();
    let node = node_of(&sim, "big-sends");
    let sent = sim.events().events().iter().filter(|e| matches!(e.event, Event::Sent { from, .. } if from == node)).count();
    let per_message = 1_000_000 + 16; // the data plus the record's framing
    assert_eq!(sent, (32 << 20) / per_message, "as many whole messages as fit in 32 MiB");
    assert_eq!(refusals(&sim, node), [(HostLimit::BytesPerEvent, 400 - sent as u64)]);
}

#[test]
fn a_log_flood_is_cut_and_bounded_per_node() {
    let sim = run_one("log-flood", small_wasm(), HostLimits::default(), 1);
    let node = node_of(&sim, "log-flood");
    let limits = HostLimits::default();
    let lines: Vec<&String> = sim
        .events()
        .events()
        .iter()
        .filter_map(|e| match &e.event {
            Event::Log { node: n, text, .. } if *n == node => Some(text),
            _ => None,
        })
        .collect();
    let kept: usize = lines.iter().map(|l| l.len()).sum();
    assert!(kept as u64 <= limits.max_log_bytes_per_node, "{kept} bytes of log kept");
    assert!(lines.iter().all(|l| l.len() <= limits.max_log_line_bytes + 64 && l.ends_with("bytes not kept]")));
    assert_eq!(refusals(&sim, node), [(HostLimit::LogBytesPerNode, 20_000 - lines.len() as u64)]);
    // Big lines are cut to the line limit rather than refused: 400 lines of
    // 8 KiB fit in the node's 4 MiB.
    let sim = run_one("big-logs", small_wasm(), HostLimits::default(), 1);
    let node = node_of(&sim, "big-logs");
    assert_eq!(refusals(&sim, node), []);
    let cut = sim
        .events()
        .events()
        .iter()
        .filter(|e| matches!(&e.event, Event::Log { node: n, text, .. } if *n == node && text.contains("of 15000000 bytes not kept")))
        .count();
    assert_eq!(cut, 400);
}

#[test]
fn pending_timers_are_capped_per_node() {
    let sim = run_one("timer-flood", small_wasm(), HostLimits::default(), 1);
    let node = node_of(&sim, "timer-flood");
    let max = HostLimits::default().max_pending_timers as u64;
    assert_eq!(refusals(&sim, node), [(HostLimit::PendingTimers, 2_000_000 - max)]);
    assert_eq!(sim.node_status(node), Some(NodeStatus::Up));
}

#[test]
fn a_dense_record_is_dropped_at_send_and_never_reaches_its_receivers() {
    // 300,000 empty bool fields: 0.9 MB on the wire, about 17 MB decoded.
    let mut g = hostile("bomb");
    g.config = g.config.with("fields", 300_000u64);
    let mut sim = SimulationBuilder::new(3).group(honest_group()).group(g).build().unwrap();
    sim.run_for(SimDuration::from_secs(1)).unwrap();
    let node = node_of(&sim, "bomb");
    let drops = drops_from(&sim, node);
    assert_eq!(drops, [&DropReason::TooLarge; HONEST as usize]);
    assert_honest_nodes_keep_pinging(&sim);
    // The original attack, 4 M fields in 12 MB, does not pass the 1 MiB
    // message limit at all.
    let sim = run_one("bomb", small_wasm(), HostLimits::default(), 1);
    assert_eq!(refusals(&sim, node_of(&sim, "bomb")), [(HostLimit::MessageBytes, u64::from(HONEST))]);
}

#[test]
fn a_message_that_kills_its_receiver_is_named_in_the_crash() {
    // With the decoded-size check lifted, the bomb reaches the honest nodes
    // and exhausts their memory; each crash names the message and sender.
    let lifted = HostLimits {
        max_message_bytes: 16 << 20,
        max_decoded_message_bytes: usize::MAX,
        max_bytes_per_event: 64 << 20,
        ..HostLimits::default()
    };
    let mut honest = honest_group();
    if let PeerSource::Wasm(p) = &honest.peer {
        honest.peer = PeerSource::Wasm(p.with_limits(WasmLimits { memory_bytes: 48 << 20, ..WasmLimits::default() }));
    }
    let mut bomber = hostile("bomb");
    if let PeerSource::Wasm(p) = &bomber.peer {
        bomber.peer = PeerSource::Wasm(p.with_limits(WasmLimits { memory_bytes: 64 << 20, ..WasmLimits::default() }));
    }
    let mut sim = SimulationBuilder::new(3).group(honest).group(bomber).limits(lifted).capture(true).build().unwrap();
    sim.run_for(SimDuration::from_secs(1)).unwrap();
    let bomber = node_of(&sim, "bomb");
    // The capture marks the messages that killed their receivers.
    let capture = sim.capture().unwrap();
    let fatal: Vec<(NodeIndex, &str)> = capture.fatal().iter().map(|&m| (capture.message(m).from(), capture.message(m).kind())).collect();
    assert_eq!(fatal, vec![(bomber, "BOMB"); HONEST as usize]);
    assert!(capture.message(capture.fatal()[0]).to_json()["killed_receiver"] == true);
    let crashes: Vec<(NodeIndex, &CrashReason, &Handling)> = sim
        .events()
        .events()
        .iter()
        .filter_map(|e| match &e.event {
            Event::Crashed { node, reason, handling } => Some((*node, reason, handling)),
            _ => None,
        })
        .collect();
    assert_eq!(crashes.len(), HONEST as usize, "{crashes:?}");
    for (node, reason, handling) in crashes {
        assert!(node < HONEST);
        assert_eq!(reason, &CrashReason::MemoryLimit);
        match handling {
            Handling::Message { from, kind, .. } => assert_eq!((*from, kind.as_str()), (bomber, "BOMB")),
            other => panic!("node {node} crashed while {other}"),
        }
    }
    let line = sim.events().events().iter().find(|e| matches!(e.event, Event::Crashed { .. })).unwrap().to_json();
    assert_eq!(
        (line["during"].as_str(), line["kind"].as_str(), line["from"].as_u64()),
        (Some("message"), Some("BOMB"), Some(u64::from(bomber)))
    );
}

#[test]
fn an_oversized_outcome_fails_the_operation_with_a_reason() {
    let mut g = hostile("big-outcome");
    g.config = g.config.with("after_ms", 10_000u64);
    let mut b = SimulationBuilder::new(3).group(honest_group()).group(g);
    b = b.operation(SimTime::from_secs(1), HONEST, Operation::Request(Record::new("anything")));
    let mut sim = b.build().unwrap();
    sim.run_for(SimDuration::from_secs(2)).unwrap();
    let outcome = sim.operations()[0].outcome.as_ref().expect("the operation completed");
    assert!(!outcome.ok);
    let reason = Record::decode(&outcome.result).unwrap();
    let size = Record::new("ok").with("data", vec![1u8; 2_000_000]).encoded_len();
    assert!(reason.str("reason").unwrap().contains(&format!("outcome of {size} bytes")), "{reason}");
    assert_eq!(refusals(&sim, HONEST), [(HostLimit::RecordBytes, 1)]);
}

#[test]
fn exit_is_reported_with_its_status_in_one_line() {
    let sim = run_one("exit", small_wasm(), HostLimits::default(), 1);
    let reason = crash_reason(&sim, "exit");
    // Rust's wasm32-wasip2 standard library reports only failure (1) for a
    // non-zero status; a component that calls exit-with-code gives the code.
    assert!(matches!(reason, CrashReason::Exited(1 | 3)), "{reason:?}");
    assert!(!reason.to_string().contains('\n'), "{reason}");
}

#[test]
fn deep_recursion_is_a_stack_overflow_and_reasons_are_one_line() {
    let sim = run_mixed();
    assert_eq!(crash_reason(&sim, "recurse"), CrashReason::StackOverflow);
    for (node, reason) in sim.summary().crashed {
        if !reason.contains("panicked") {
            assert!(!reason.contains('\n'), "node {node}: {reason}");
        }
    }
}

#[test]
fn a_wrong_export_signature_is_refused_at_load_naming_the_export() {
    let path = peershare::builtin::wasm_dir().join("peershare_mismatch.wasm");
    let err = Plugin::load(&path).unwrap_err().to_string();
    assert!(err.contains("peershare_mismatch.wasm") && err.contains("export peershare:sim/peer@0.1.0 does not match"), "{err}");
}

/// A component whose one core module declares `count` items of `item`.
fn component_with(count: usize, item: &str) -> Vec<u8> {
    let items = (0..count).map(|_| item).collect::<Vec<_>>().join(" ");
    wat::parse_str(format!("(component (core module $m {items}) (core instance (instantiate $m)))")).unwrap()
}

#[test]
fn the_memory_limit_covers_all_memories_and_tables_of_a_node() {
    // 12 memories of 60 MiB, and 50 tables of a million entries: each is
    // within a per-memory limit, but not the node's total.
    for (what, bytes) in [("memories", component_with(12, "(memory 960)")), ("tables", component_with(50, "(table 1000000 funcref)"))] {
        let err = Plugin::from_bytes(what, &bytes).unwrap_err().to_string();
        assert!(err.contains("cannot be instantiated") && err.contains("memory limit"), "{what}: {err}");
    }
    // Too many memories are refused by count.
    let err = Plugin::from_bytes("many", &component_with(40, "(memory 1)")).unwrap_err().to_string();
    assert!(err.contains("memory count too high"), "{err}");
    // One memory within the limit is fine at instantiation.
    let ok = wat::parse_str("(component (core module $m (memory 16)) (core instance (instantiate $m)))").unwrap();
    let err = Plugin::from_bytes("ok", &ok).unwrap_err().to_string();
    assert!(err.contains("peershare:sim/peer"), "{err}");
}

/// Every event of a run as JSON lines.
fn trace_of(sim: &Simulation) -> Vec<String> {
    sim.events().events().iter().map(|e| e.to_json().to_string()).collect()
}

#[test]
fn observing_a_nosy_peer_never_changes_the_run() {
    // A nosy `inspect` bumps a counter, allocates and makes a HashMap (WASI
    // randomness); the honest pings carry the counter, the allocation count
    // and a HashMap's iteration order, so any trace of it would show.
    let nosy = || {
        let mut g = honest_group();
        g.config = g.config.with("nosy", true);
        SimulationBuilder::new(9).group(g).build().unwrap()
    };
    let mut plain = nosy();
    plain.run_for(SimDuration::from_secs(2)).unwrap();
    let mut observed = nosy();
    let mut seen = 0;
    while observed.now() < SimTime::from_secs(2) {
        observed.run_for(SimDuration::from_millis(50)).unwrap();
        for node in 0..HONEST {
            let state = observed.inspect_node(node).expect("the hostile peer is observable");
            assert_eq!(state.u64("inspected"), Some(1), "each observation starts from the unobserved state");
            assert_eq!(observed.storage(node), None, "an observation never writes to the node's disk");
            seen += 1;
        }
        let snapshot = observed.topology(None);
        assert_eq!(snapshot.nodes.len(), HONEST as usize);
    }
    assert!(seen >= 160);
    assert_eq!(trace_of(&observed), trace_of(&plain));
    let pings = trace_of(&plain).iter().filter(|l| l.contains("\"kind\":\"PING\"")).count();
    assert!(pings > 50, "{pings} pings");
}

#[test]
fn blocking_inside_inspect_crashes_the_node_while_being_inspected() {
    let mut sim = SimulationBuilder::new(3).group(honest_group()).group(hostile("sleepy-inspect")).build().unwrap();
    sim.run_for(SimDuration::from_millis(500)).unwrap();
    let node = node_of(&sim, "sleepy-inspect");
    assert_eq!(sim.inspect_node(node), None, "a crashed inspection reads nothing");
    assert!(matches!(crash_reason(&sim, "sleepy-inspect"), CrashReason::Blocked(_)));
    let handling = sim.events().events().iter().find_map(|e| match &e.event {
        Event::Crashed { node: n, handling, .. } if *n == node => Some(handling.clone()),
        _ => None,
    });
    assert_eq!(handling, Some(Handling::Inspect));
    sim.run_for(SimDuration::from_secs(1)).unwrap();
    assert_honest_nodes_keep_pinging(&sim);
}

#[test]
fn a_peer_sees_no_files_no_environment_and_only_virtual_time() {
    // Run from the folder that holds the plugins and next to a suite, as
    // a grader would: nothing of it is visible inside the sandbox.
    let mut sim = SimulationBuilder::new(1).group(honest_group()).group(hostile("snoop")).build().unwrap();
    sim.run_for(SimDuration::from_secs(1)).unwrap();
    let node = node_of(&sim, "snoop");
    let said: Vec<&String> = sim
        .events()
        .events()
        .iter()
        .filter_map(|e| match &e.event {
            Event::Log { node: n, text, .. } if *n == node && text.starts_with("snoop") => Some(text),
            _ => None,
        })
        .collect();
    // The snoop runs at 200 ms of virtual time: the WASI wall clock reads
    // 2000-01-01 plus that, never the machine's time.
    let at = 946_684_800_000_000_000u128 + 200_000_000;
    assert_eq!(said, [&format!("snoop root error cwd error suite error reference error passwd error env 0 args 0 clock {at}")]);
    // And it goes on as an honest peer, pinging its successor.
    assert_eq!(sim.node_status(node), Some(NodeStatus::Up));
    let pings = sim.events().events().iter().filter(|e| matches!(&e.event, Event::Sent { from, .. } if *from == node)).count();
    assert!(pings >= 5, "{pings} pings");
}
