//! Messages delivered per second through WebAssembly handlers.
//!
//! Each iteration runs one second of virtual time of push-pull gossip (the
//! `gossip` plugin: every node pushes to a random known peer once a second
//! and gets a reply), with the event log off.
//! Criterion reports the throughput in deliveries per second.
//!
//! ```sh
//! cargo bench -p peershare --bench deliveries
//! ```

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use peershare::prelude::*;

mod gossip_network;
use gossip_network::gossip_network;

fn network(nodes: usize) -> Simulation {
    let plugin = Plugin::builtin("gossip").expect("built-in");
    let mut sim = gossip_network(plugin, nodes).build().expect("the benchmark network builds");
    sim.run_for(SimDuration::from_secs(2)).expect("warm-up runs");
    sim
}

fn deliveries(c: &mut Criterion) {
    let mut group = c.benchmark_group("deliveries");
    group.sample_size(10);
    for nodes in [1_000usize, 10_000] {
        let mut sim = network(nodes);
        // Two messages per node per second of virtual time.
        group.throughput(Throughput::Elements(2 * nodes as u64));
        group.bench_function(BenchmarkId::from_parameter(nodes), |b| b.iter(|| sim.run_for(SimDuration::from_secs(1)).expect("runs")));
    }
    group.finish();
}

fn instantiate(c: &mut Criterion) {
    let plugin = Plugin::builtin("template").expect("built-in");
    let mut group = c.benchmark_group("instantiate");
    group.sample_size(10);
    group.throughput(Throughput::Elements(10_000));
    group.bench_function("10000 nodes", |b| {
        b.iter(|| {
            SimulationBuilder::new(1).group(GroupSpec::new("peers", 10_000, PeerSource::Wasm(plugin.clone()))).build().expect("builds")
        })
    });
    group.finish();
}

criterion_group!(benches, deliveries, instantiate);
criterion_main!(benches);
