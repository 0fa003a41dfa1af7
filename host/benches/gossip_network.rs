//! The push-pull gossip network that the throughput benchmark and the
//! `scale` example both measure, so that their figures compare.

use peershare::prelude::*;

/// `nodes` gossip peers with 8 random contacts each, pushing once per second
/// of virtual time over 10–90 ms links, starting evenly over the first
/// second, with the event log off.
pub fn gossip_network(plugin: std::sync::Arc<Plugin>, nodes: usize) -> SimulationBuilder {
    let mut group = GroupSpec::new("peers", nodes, PeerSource::Wasm(plugin));
    group.bootstrap = Bootstrap::Random { count: 8 };
    group.config = Record::new("config").with("interval_ms", 1000u64);
    group.join_interval = SimDuration(1_000_000_000 / nodes as u64);
    SimulationBuilder::new(1)
        .group(group)
        .default_link(LinkModel {
            latency: LatencyModel::Uniform { min: SimDuration::from_millis(10), max: SimDuration::from_millis(90) },
            loss: 0.0,
        })
        .record_events(false)
}
