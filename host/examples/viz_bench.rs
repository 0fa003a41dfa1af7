//! Measures topology snapshots and their exports.
//!
//! Flood networks (each node publishes its neighbour list) of the given
//! sizes, and optionally a Kademlia network (each node's routing table is
//! read through its `inspect` export):
//!
//! ```sh
//! cargo run --release -p peershare --example viz_bench -- 10000 100000
//! cargo run --release -p peershare --example viz_bench -- --kademlia 10000
//! ```

use peershare::prelude::*;
use std::time::Instant;

fn measure(name: &str, sim: &mut Simulation) {
    let started = Instant::now();
    let mut state_bytes = 0;
    for n in 0..sim.node_count() as NodeIndex {
        state_bytes += sim.inspect_node(n).map_or(0, |r| r.encoded_len());
    }
    println!(
        "{name:>24}: reading every node's state takes {:.0} ms ({:.1} MB of records)",
        started.elapsed().as_secs_f64() * 1e3,
        state_bytes as f64 / 1e6
    );
    let started = Instant::now();
    let snapshot = sim.topology(None);
    let took = started.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let json = snapshot.to_node_link_json();
    let json_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let graphml = snapshot.to_graphml();
    let graphml_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let dot = snapshot.to_dot();
    let dot_ms = t.elapsed().as_secs_f64() * 1e3;
    println!(
        "{name:>24}: snapshot of {} nodes, {} edges in {took:.0} ms; node-link JSON {:.1} MB in {json_ms:.0} ms, GraphML {:.1} MB in {graphml_ms:.0} ms, DOT {:.1} MB in {dot_ms:.0} ms",
        snapshot.nodes.len(),
        snapshot.edges.len(),
        json.len() as f64 / 1e6,
        graphml.len() as f64 / 1e6,
        dot.len() as f64 / 1e6
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let kademlia = args.iter().position(|a| a == "--kademlia").map(|i| args[i + 1].parse::<usize>()).transpose()?;
    let skip: Vec<usize> = args.iter().position(|a| a == "--kademlia").map_or(vec![], |i| vec![i, i + 1]);
    let sizes: Vec<usize> = args.iter().enumerate().filter(|(i, _)| !skip.contains(i)).map(|(_, a)| a.parse()).collect::<Result<_, _>>()?;
    let sizes = if sizes.is_empty() && kademlia.is_none() { vec![10_000] } else { sizes };
    for n in sizes {
        let mut group = GroupSpec::new("peers", n, PeerSource::Wasm(Plugin::builtin("flood")?));
        group.bootstrap = Bootstrap::Random { count: 3 };
        group.join_interval = SimDuration(1_000_000_000 / n as u64);
        let mut sim = SimulationBuilder::new(1).group(group).record_events(false).build()?;
        sim.run_for(SimDuration::from_secs(3))?;
        measure(&format!("flood, {n} nodes"), &mut sim);
    }
    if let Some(n) = kademlia {
        let mut group = GroupSpec::new("dht", n, PeerSource::Wasm(Plugin::builtin("kademlia")?));
        group.join_interval = SimDuration::from_millis(10);
        group.config = Record::new("config").with("trace", false);
        let mut sim = SimulationBuilder::new(1).group(group).record_events(false).build()?;
        let started = Instant::now();
        sim.run_for(SimDuration::from_millis(10 * n as u64) + SimDuration::from_secs(5))?;
        println!("kademlia, {n} nodes joined in {:.0} s", started.elapsed().as_secs_f64());
        measure(&format!("kademlia, {n} nodes"), &mut sim);
    }
    Ok(())
}
