//! A DHT at scale: wall-clock time to bootstrap a network (and, for a ring,
//! until every successor is right) and to complete lookups, how many
//! answers were correct against global knowledge, the fuel the peers used
//! and resident memory.
//!
//! ```sh
//! cargo run --release -p peershare --example dht_bench -- 1000 10000
//! cargo run --release -p peershare --example dht_bench -- 10000 100000 --plugin chord
//! cargo run --release -p peershare --example dht_bench -- 1000 10000 --plugin old/peershare_kademlia.wasm
//! ```
//!
//! Arguments: node count, lookup count, `--fingers-only` (a ring routes
//! by fingers alone, as Chord's paper measures paths: about (1/2) log2 N
//! hops), and `--plugin NAME` (a built-in
//! plugin, `kademlia` by default) or `--plugin FILE.wasm` (another build:
//! an older one, a student's). Nodes join through node 0, 2 ms apart; a
//! ring DHT (a peer whose state lists `successors`) is then given until
//! every node's successor is the true one (at most 120 s); lookups of
//! random keys are issued at random nodes, 10,000 per second of virtual
//! time. The fuel figure does not depend on the machine or its load.

use peershare::correctness::{ring_successor, xor_closest};
use peershare::prelude::*;
use std::time::Instant;

fn resident_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    (pages * 4096) as f64 / (1 << 20) as f64
}

/// Nodes whose first successor is not the next node on the ring, or `None`
/// if the peers publish no successors (not a ring DHT).
fn wrong_successors(sim: &mut Simulation, ids: &[Vec<u8>]) -> Option<usize> {
    let bits = sim.id_bits();
    let mut wrong = 0;
    for node in 0..ids.len() as NodeIndex {
        let state = sim.inspect_node(node)?;
        let first = state.nodes("successors")?.first().copied();
        let next = ring_successor(ids, &peershare::wire::id::add_pow2(&ids[node as usize], 0, bits), bits, |n| n != node);
        wrong += usize::from(first != next);
    }
    Some(wrong)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let (name, plugin) = match args.iter().position(|a| a == "--plugin") {
        Some(i) => {
            let given = args.get(i + 1).ok_or("--plugin needs a built-in name or a .wasm file")?.clone();
            args.drain(i..i + 2);
            let plugin = if given.ends_with(".wasm") { Plugin::load(std::path::Path::new(&given))? } else { Plugin::builtin(&given)? };
            (given, plugin)
        }
        None => ("kademlia".to_string(), Plugin::builtin("kademlia")?),
    };
    // Chord's paper measures paths routed by fingers alone.
    let fingers_only = args.iter().position(|a| a == "--fingers-only").map(|i| args.remove(i)).is_some();
    let args: Vec<u64> = args.iter().map(|a| a.parse()).collect::<Result<_, _>>()?;
    let (nodes, lookups) = (args.first().copied().unwrap_or(1_000) as usize, args.get(1).copied().unwrap_or(10_000));
    let mut group = GroupSpec::new("dht", nodes, PeerSource::Wasm(plugin));
    group.bootstrap = Bootstrap::First;
    group.join_interval = SimDuration::from_millis(2);
    group.config = Record::new("config").with("trace", false);
    if fingers_only {
        group.config.push("route_by_successors", Value::Bool(false));
    }
    let joined = SimTime(nodes as u64 * 2_000_000) + SimDuration::from_secs(5);
    let builder = SimulationBuilder::new(1)
        .group(group)
        .default_link(LinkModel {
            latency: LatencyModel::Uniform { min: SimDuration::from_millis(10), max: SimDuration::from_millis(90) },
            loss: 0.0,
        })
        .record_events(false);
    let started = Instant::now();
    let mut sim = builder.build()?;
    let created = started.elapsed();
    let ids: Vec<Vec<u8>> = (0..nodes as NodeIndex).map(|n| sim.node_id(n).unwrap_or_default().to_vec()).collect();
    sim.run_until(joined)?;
    let mut settled = joined;
    let mut ring = None;
    while let Some(wrong) = wrong_successors(&mut sim, &ids) {
        ring = Some(wrong);
        if wrong == 0 || settled >= joined + SimDuration::from_secs(120) {
            break;
        }
        settled += SimDuration::from_secs(1);
        sim.run_until(settled)?;
    }
    let bootstrap = started.elapsed();
    let messages_at_join = sim.summary().messages.delivered;
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let first_op = sim.operations().len();
    for i in 0..lookups {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let key: Vec<u8> = (0..ids[0].len()).map(|j| (x >> (j % 8 * 8)) as u8 ^ j as u8).collect();
        sim.schedule_operation(settled + SimDuration::from_micros(100 * i), (x % nodes as u64) as NodeIndex, Operation::Lookup { key })?;
    }
    sim.run_until(settled + SimDuration::from_micros(100 * lookups) + SimDuration::from_secs(10))?;
    let total = started.elapsed();
    let (mut succeeded, mut correct, mut latency, mut hops) = (0u64, 0u64, 0.0, 0u64);
    for rec in &sim.operations()[first_op..] {
        let (Operation::Lookup { key }, Some(outcome)) = (&rec.operation, &rec.outcome) else { continue };
        latency += outcome.at.since(rec.issued_at).as_millis_f64();
        if !outcome.ok {
            continue;
        }
        succeeded += 1;
        let result = Record::decode(&outcome.result)?;
        hops += result.u64("rounds").unwrap_or(0);
        let found = result.nodes("nodes").unwrap_or_default();
        correct += u64::from(if result.str("metric") == Some("ring") {
            found.first().copied() == ring_successor(&ids, key, sim.id_bits(), |_| true)
        } else {
            found == xor_closest(&ids, key, 20, |n| n != rec.node).as_slice()
        });
    }
    let s = sim.summary();
    println!("{name}: nodes {nodes}, lookups {lookups}");
    println!("  create nodes:     {:.2} s", created.as_secs_f64());
    match ring {
        Some(0) => println!(
            "  bootstrap:        {:.2} s wall ({messages_at_join} messages delivered); every successor right at {:.0} s virtual, {:.0} s after the last join",
            bootstrap.as_secs_f64(),
            settled.as_secs_f64(),
            (settled.since(joined) + SimDuration::from_secs(5)).as_secs_f64()
        ),
        Some(wrong) => println!("  bootstrap:        {:.2} s wall; {wrong} successors still wrong after 120 s", bootstrap.as_secs_f64()),
        None => println!("  bootstrap:        {:.2} s wall ({messages_at_join} messages delivered)", bootstrap.as_secs_f64()),
    }
    println!(
        "  lookups:          {:.2} s wall, {succeeded} of {lookups} succeeded, {correct} correct, mean latency {:.0} ms (virtual), mean {:.2} hops (log2 N = {:.2})",
        (total - bootstrap).as_secs_f64(),
        latency / lookups.max(1) as f64,
        hops as f64 / succeeded.max(1) as f64,
        (nodes as f64).log2()
    );
    println!(
        "  total:            {:.2} s wall, {} messages, {:.0} deliveries/s",
        total.as_secs_f64(),
        s.messages.delivered,
        s.messages.delivered as f64 / total.as_secs_f64()
    );
    let (calls, fuel) = (0..nodes as NodeIndex).filter_map(|n| sim.node_fuel(n)).fold((0, 0), |(c, f), x| (c + x.calls, f + x.total));
    println!("  fuel:             {fuel} in {calls} handler calls ({:.0} per call)", fuel as f64 / calls.max(1) as f64);
    let rss = resident_mib();
    println!("  resident memory:  {rss:.0} MiB ({:.1} KiB per node)", rss * 1024.0 / nodes as f64);
    Ok(())
}
