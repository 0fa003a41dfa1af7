//! Measures what the engine sustains with WebAssembly peers: time to create
//! nodes, resident memory per node, and messages delivered per second of
//! wall-clock time through WebAssembly handlers.
//!
//! Workload: push-pull gossip (the `gossip` plugin): every node pushes its
//! value to a random known peer once per second of virtual time and the peer
//! answers (two messages per node per second), the workload PeerSim is
//! usually measured on.
//!
//! ```sh
//! cargo run --release -p peershare --example scale -- 1000 10000
//! cargo run --release -p peershare --example scale -- --faults 1000 10000
//! ```
//!
//! With `--faults`, two faults are in force on every link for the whole run
//! (1% loss and 10 ms added latency), to measure what faults cost.

use peershare::prelude::*;

#[path = "../benches/gossip_network.rs"]
mod gossip_network;
use gossip_network::gossip_network;

/// The plugin measured: push-pull gossip.
const PLUGIN: &str = "gossip";
use std::time::Instant;

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

/// Memory mappings of this process (the kernel caps them at vm.max_map_count).
fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps").map(|m| m.lines().count()).unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let faults = args.iter().any(|a| a == "--faults");
    let sizes: Vec<usize> = args.iter().filter(|a| *a != "--faults").map(|a| a.parse()).collect::<Result<_, _>>()?;
    let sizes = if sizes.is_empty() { vec![1_000, 10_000] } else { sizes };
    let plugin = Plugin::builtin(PLUGIN)?;
    println!("{:>8} {:>12} {:>10} {:>10} {:>14} {:>14}", "nodes", "create (ms)", "KiB/node", "maps/node", "deliveries/s", "fuel/delivery");
    for n in sizes {
        let rss_before = resident_bytes();
        let maps_before = mappings();
        let started = Instant::now();
        let mut builder = gossip_network(plugin.clone(), n);
        if faults {
            use peershare::fault::{Fault, FaultKind, Target};
            builder = builder.fault(Fault::new(SimTime::ZERO, Target::default(), FaultKind::Loss { rate: 0.01 })).fault(Fault::new(
                SimTime::ZERO,
                Target::default(),
                FaultKind::Delay { added: SimDuration::from_millis(10), jitter: SimDuration::ZERO },
            ));
        }
        let mut sim = builder.build()?;
        let create = started.elapsed();
        let rss_nodes = resident_bytes().saturating_sub(rss_before);
        let maps_per_node = (mappings() - maps_before) as f64 / n as f64;
        sim.run_for(SimDuration::from_secs(2))?; // every node has started
        let before = sim.summary();
        let started = Instant::now();
        // About two million deliveries, and at least ten rounds.
        let seconds = (1_000_000 / n as u64).max(10);
        sim.run_for(SimDuration::from_secs(seconds))?;
        let wall = started.elapsed().as_secs_f64();
        let after = sim.summary();
        let delivered = after.messages.delivered - before.messages.delivered;
        let fuel = after.fuel_consumed - before.fuel_consumed;
        println!(
            "{:>8} {:>12.1} {:>10.1} {:>10.2} {:>14.0} {:>14.0}",
            n,
            create.as_secs_f64() * 1e3,
            rss_nodes as f64 / 1024.0 / n as f64,
            maps_per_node,
            delivered as f64 / wall,
            fuel as f64 / delivered.max(1) as f64
        );
    }
    Ok(())
}
