//! Host memory stays bounded under every resource attack, and each attack's
//! trace is the same run after run.
//!
//! One test in its own process, so that the peak resident size the kernel
//! reports (`VmHWM` in /proc/self/status) is this test's alone. Before the
//! limits, these attacks took the host to 1.3 to 2.5 GB (or aborted it).

use peershare::prelude::*;
use std::time::Duration;

/// The bound: the attacks below, each contained, stay well within it.
const HOST_PEAK_BOUND: u64 = 768 << 20;

fn peak_resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM in /proc/self/status");
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

fn run(behaviour: &str) -> Vec<String> {
    let plugin = Plugin::builtin("hostile").unwrap();
    let hostile = plugin.with_limits(WasmLimits { wall_clock_per_call: Duration::from_secs(60), ..WasmLimits::default() });
    let mut honest = GroupSpec::new("honest", 4, PeerSource::Wasm(plugin));
    honest.config = Record::new("config").with("nodes", 4u64);
    let mut bad = GroupSpec::new(behaviour, 1, PeerSource::Wasm(hostile));
    bad.config = Record::new("config").with("behaviour", behaviour).with("nodes", 4u64).with("after_ms", 200u64);
    let mut sim = SimulationBuilder::new(5).group(honest).group(bad).build().unwrap();
    sim.run_for(SimDuration::from_secs(1)).unwrap();
    sim.events().events().iter().map(|e| e.to_json().to_string()).collect()
}

#[test]
fn resource_attacks_keep_host_memory_bounded_and_traces_deterministic() {
    let attacks = [
        "zero-timer",
        "ns-timer",
        "big-sends",
        "big-states",
        "big-logs",
        "big-traces",
        "big-commits",
        "log-flood",
        "timer-flood",
        "bomb",
        "alloc",
        "flood",
    ];
    for attack in attacks {
        let first = run(attack);
        let peak = peak_resident_bytes();
        assert!(peak < HOST_PEAK_BOUND, "after {attack}: host peak {} MiB", peak >> 20);
        let kept: usize = first.iter().map(String::len).sum();
        assert!(kept < 64 << 20, "{attack}: {} MiB of events kept", kept >> 20);
        assert_eq!(run(attack), first, "{attack}: the trace differs between two runs");
    }
    // Many memories and tables in one component.
    for (what, item, count) in [("memories", "(memory 960)", 12), ("tables", "(table 1000000 funcref)", 50)] {
        let items = vec![item; count].join(" ");
        let bytes = wat::parse_str(format!("(component (core module $m {items}) (core instance (instantiate $m)))")).unwrap();
        assert!(Plugin::from_bytes(what, &bytes).is_err());
        let peak = peak_resident_bytes();
        assert!(peak < HOST_PEAK_BOUND, "after {what}: host peak {} MiB", peak >> 20);
    }
    println!("host peak over every attack: {} MiB", peak_resident_bytes() >> 20);
}
