//! Helpers shared by the end-to-end tests.

pub mod kademlia;
pub mod messages;

use peershare::prelude::*;
use std::path::PathBuf;

/// The repository's root folder.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is in the repository").to_path_buf()
}

/// A scenario from `examples/`.
pub fn example(name: &str) -> Scenario {
    Scenario::load(&repo_root().join("examples").join(name)).expect("example scenarios load")
}

/// Runs a scenario to its end and returns the simulation.
pub fn run(scenario: &Scenario) -> Simulation {
    let mut sim = scenario.build().expect("scenario builds");
    sim.run_until(scenario.end()).expect("run completes");
    sim
}

/// The event log of a finished simulation as JSON Lines bytes.
pub fn trace_bytes(sim: &Simulation) -> Vec<u8> {
    let mut out = Vec::new();
    sim.events().write_jsonl(&mut out).expect("writing to memory cannot fail");
    out
}

/// `n` nodes of a built-in `plugin` in one group named `group`, joining
/// 10 ms apart through node 0 with `config`, on links of 10 to 90 ms and no
/// loss: the networks the DHT tests start from.
pub fn joining_network(plugin: &str, group: &str, n: usize, seed: u64, config: Record) -> SimulationBuilder {
    joining_network_every(SimDuration::from_millis(10), plugin, group, n, seed, config)
}

/// Like [`joining_network`], with the nodes joining `interval` apart.
pub fn joining_network_every(interval: SimDuration, plugin: &str, group: &str, n: usize, seed: u64, config: Record) -> SimulationBuilder {
    let mut g = GroupSpec::new(group, n, PeerSource::Wasm(Plugin::builtin(plugin).unwrap()));
    g.bootstrap = Bootstrap::First;
    g.join_interval = interval;
    g.config = config;
    SimulationBuilder::new(seed).group(g).default_link(LinkModel {
        latency: LatencyModel::Uniform { min: SimDuration::from_millis(10), max: SimDuration::from_millis(90) },
        loss: 0.0,
    })
}

/// Every node's `neighbours` as it reports them now (empty for a node that
/// is down or reports none), by node index.
pub fn neighbour_lists(sim: &mut Simulation) -> Vec<Vec<NodeIndex>> {
    (0..sim.node_count() as NodeIndex)
        .map(|i| sim.inspect_node(i).and_then(|s| s.nodes("neighbours").map(<[_]>::to_vec)).unwrap_or_default())
        .collect()
}
