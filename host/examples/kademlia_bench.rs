//! Kademlia at scale: wall-clock time to bootstrap a network and to complete
//! lookups, and resident memory.
//!
//! ```sh
//! cargo run --release -p peershare --example kademlia_bench -- 1000 10000
//! cargo run --release -p peershare --example kademlia_bench -- 10000 100000
//! ```
//!
//! Arguments: node count, lookup count, and optionally `--plugin FILE` to
//! measure another build of the peer (an older one, a student's). Nodes
//! join through node 0, 2 ms apart; lookups of random keys are then issued
//! at random nodes, 10,000 per second of virtual time. Besides wall-clock
//! figures it prints the fuel the peers consumed, which does not depend on
//! the machine or its load.

use peershare::prelude::*;
use std::time::Instant;

fn resident_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    (pages * 4096) as f64 / (1 << 20) as f64
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let plugin = match args.iter().position(|a| a == "--plugin") {
        Some(i) => {
            let path = args.get(i + 1).ok_or("--plugin needs a .wasm file")?.clone();
            args.drain(i..i + 2);
            Plugin::load(std::path::Path::new(&path))?
        }
        None => Plugin::builtin("kademlia")?,
    };
    let args: Vec<u64> = args.iter().map(|a| a.parse()).collect::<Result<_, _>>()?;
    let (nodes, lookups) = (args.first().copied().unwrap_or(1_000) as usize, args.get(1).copied().unwrap_or(10_000));
    let mut group = GroupSpec::new("dht", nodes, PeerSource::Wasm(plugin));
    group.bootstrap = Bootstrap::First;
    group.join_interval = SimDuration::from_millis(2);
    group.config = Record::new("config").with("trace", false);
    let joined = SimTime(nodes as u64 * 2_000_000) + SimDuration::from_secs(5);
    let mut builder = SimulationBuilder::new(1)
        .group(group)
        .default_link(LinkModel {
            latency: LatencyModel::Uniform { min: SimDuration::from_millis(10), max: SimDuration::from_millis(90) },
            loss: 0.0,
        })
        .record_events(false);
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    for i in 0..lookups {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let key: Vec<u8> = (0..20).map(|j| (x >> (j % 8 * 8)) as u8 ^ j as u8).collect();
        builder = builder.operation(joined + SimDuration::from_micros(100 * i), (x % nodes as u64) as NodeIndex, Operation::Lookup { key });
    }
    let started = Instant::now();
    let mut sim = builder.build()?;
    let created = started.elapsed();
    sim.run_until(joined)?;
    let bootstrap = started.elapsed();
    let messages_at_join = sim.summary().messages.delivered;
    sim.run_until(joined + SimDuration::from_micros(100 * lookups) + SimDuration::from_secs(5))?;
    let total = started.elapsed();
    let s = sim.summary();
    let l = &s.operations["lookup"];
    println!("nodes {nodes}, lookups {lookups}");
    println!("  create nodes:     {:.2} s", created.as_secs_f64());
    println!("  bootstrap:        {:.2} s wall ({} messages delivered)", bootstrap.as_secs_f64(), messages_at_join);
    println!(
        "  lookups:          {:.2} s wall, {} of {} succeeded, mean latency {:.0} ms (virtual)",
        (total - bootstrap).as_secs_f64(),
        l.succeeded,
        l.issued,
        l.latency_ms.as_ref().map_or(0.0, |x| x.mean)
    );
    println!(
        "  total:            {:.2} s wall, {} messages, {:.0} deliveries/s",
        total.as_secs_f64(),
        s.messages.delivered,
        s.messages.delivered as f64 / total.as_secs_f64()
    );
    let (calls, fuel) = (0..nodes as NodeIndex).filter_map(|n| sim.node_fuel(n)).fold((0, 0), |(c, f), x| (c + x.calls, f + x.total));
    println!("  fuel:             {fuel} in {calls} handler calls ({:.0} per call)", fuel as f64 / calls.max(1) as f64);
    println!("  resident memory:  {:.0} MiB", resident_mib());
    Ok(())
}
