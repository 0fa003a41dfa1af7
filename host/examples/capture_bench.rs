//! Measures the protocol capture: its cost while a run goes (the same run
//! with capture off and on), its memory per message, and how long filters
//! take over millions of captured messages.
//!
//! ```sh
//! cargo run --release -p peershare --example capture_bench            # 10 million messages
//! cargo run --release -p peershare --example capture_bench -- 2000000
//! ```

use peershare::capture::{FieldCondition, Filter};
use peershare::prelude::*;
use std::time::Instant;

#[path = "../benches/gossip_network.rs"]
mod gossip_network;
use gossip_network::gossip_network;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let target: u64 = std::env::args().nth(1).map(|a| a.parse()).transpose()?.unwrap_or(10_000_000);
    let nodes = 1000;
    let plugin = Plugin::builtin("gossip")?;
    // Two messages per node per second of virtual time.
    let seconds = target / (2 * nodes as u64) + 2;
    let mut rates = Vec::new();
    let mut kept = None;
    for capture in [false, true] {
        let mut sim = gossip_network(plugin.clone(), nodes).capture(capture).build()?;
        let started = Instant::now();
        sim.run_for(SimDuration::from_secs(seconds))?;
        let wall = started.elapsed().as_secs_f64();
        let delivered = sim.summary().messages.delivered;
        rates.push(delivered as f64 / wall);
        println!(
            "capture {:3}: {delivered} deliveries in {wall:.1} s: {:.0} deliveries/s",
            if capture { "on" } else { "off" },
            delivered as f64 / wall
        );
        if capture {
            kept = Some(sim);
        }
    }
    println!("capture overhead: {:.1}% fewer deliveries per second", 100.0 * (1.0 - rates[1] / rates[0]));
    let sim = kept.expect("the second run captured");
    let capture = sim.capture().expect("capture was on");
    println!(
        "{} messages captured in {:.0} MiB ({:.1} bytes per message, bodies included)",
        capture.len(),
        capture.memory_bytes() as f64 / (1 << 20) as f64,
        capture.memory_bytes() as f64 / capture.len() as f64
    );
    let mid = sim.now().as_nanos() / 2;
    let filters: Vec<(&str, Filter)> = vec![
        ("all", Filter::default()),
        ("one kind", Filter { kinds: vec!["PULL".into()], ..Filter::default() }),
        ("node 17 (from or to)", Filter { nodes: vec![17], ..Filter::default() }),
        ("10 s window", Filter { since: Some(SimTime(mid)), until: Some(SimTime(mid + 10_000_000_000)), ..Filter::default() }),
        ("from 3 nodes, delivered", Filter { from: vec![1, 2, 3], fates: vec![peershare::capture::Fate::Delivered], ..Filter::default() }),
        (
            "field value > x (decodes every body)",
            Filter { fields: vec![FieldCondition::parse("value>18446744073709551000").expect("valid")], ..Filter::default() },
        ),
    ];
    for (name, filter) in filters {
        let started = Instant::now();
        let selected = capture.select(&filter);
        println!("filter {name:40} {:>10} matches in {:>8.1} ms", selected.len(), started.elapsed().as_secs_f64() * 1e3);
    }
    Ok(())
}
