//! Building Kademlia networks and checking them against global knowledge.

use peershare::prelude::*;

/// The Kademlia replication parameter the tests use.
pub const K: usize = 20;

/// The true `k` closest live nodes to `key`, other than `asker`, closest first.
pub fn true_closest(sim: &Simulation, key: &[u8], asker: NodeIndex, k: usize) -> Vec<NodeIndex> {
    let mut all: Vec<NodeIndex> =
        (0..sim.node_count() as NodeIndex).filter(|&n| n != asker && sim.node_status(n) == Some(NodeStatus::Up)).collect();
    all.sort_by(|&a, &b| peershare::wire::id::cmp_xor_distance(key, sim.node_id(a).unwrap(), sim.node_id(b).unwrap()));
    all.truncate(k);
    all
}

/// A Kademlia network of `n` nodes joining 10 ms apart through node 0, with
/// the given extra config, and the time by which every node has joined.
pub fn network(n: usize, seed: u64, config: Record) -> (SimulationBuilder, SimTime) {
    // Joining takes a few seconds after the last node starts.
    (crate::joining_network("kademlia", "dht", n, seed, config), SimTime(n as u64 * 10_000_000) + SimDuration::from_secs(5))
}

/// A uniformly random key of `bytes` bytes from a simple seeded generator.
pub fn key(seed: u64, i: u64, bytes: usize) -> Vec<u8> {
    let mut x = seed ^ (i.wrapping_mul(0x9E37_79B9_7F4A_7C15)) ^ 0xD1B5_4A32_D192_ED03;
    (0..bytes)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub use peershare::correctness::Liveness;

/// The true `k` closest nodes to `key` among those `eligible` and up at `t`,
/// other than `asker`, closest first.
pub fn true_closest_at(
    sim: &Simulation,
    live: &Liveness,
    key: &[u8],
    asker: NodeIndex,
    k: usize,
    t: SimTime,
    eligible: impl Fn(NodeIndex) -> bool,
) -> Vec<NodeIndex> {
    let mut all: Vec<NodeIndex> = (0..sim.node_count() as NodeIndex).filter(|&n| n != asker && eligible(n) && live.up_at(n, t)).collect();
    all.sort_by(|&a, &b| peershare::wire::id::cmp_xor_distance(key, sim.node_id(a).unwrap(), sim.node_id(b).unwrap()));
    all.truncate(k);
    all
}

/// How the lookups issued in one phase of a run went.
#[derive(Debug, Default)]
pub struct Phase {
    /// Lookups issued.
    pub issued: usize,
    /// Lookups that reported success.
    pub succeeded: usize,
    /// Lookups that found exactly the k closest live nodes.
    pub exact: usize,
    /// Mean latency of the completed lookups, in milliseconds.
    pub latency_ms: f64,
}

impl Phase {
    /// The fraction of lookups that were exact.
    pub fn exact_rate(&self) -> f64 {
        self.exact as f64 / self.issued.max(1) as f64
    }

    /// Prints the phase's figures.
    pub fn report(&self, name: &str) {
        println!(
            "{name:>28}: {:4} lookups, {:5.1}% succeeded, {:5.1}% found exactly the {K} closest live nodes, mean latency {:6.0} ms",
            self.issued,
            100.0 * self.succeeded as f64 / self.issued.max(1) as f64,
            100.0 * self.exact_rate(),
            self.latency_ms
        );
    }
}

/// The lookups issued in `[from, to)`: success, exactness against the live
/// `eligible` nodes when each lookup completed, and latency.
pub fn phase(sim: &Simulation, live: &Liveness, from: SimTime, to: SimTime, eligible: impl Fn(NodeIndex) -> bool + Copy) -> Phase {
    let mut p = Phase::default();
    let mut latency = 0.0;
    for rec in sim.operations().iter().filter(|o| o.issued_at >= from && o.issued_at < to) {
        let Operation::Lookup { key } = &rec.operation else { continue };
        p.issued += 1;
        let Some(outcome) = &rec.outcome else { continue };
        latency += outcome.at.since(rec.issued_at).as_millis_f64();
        if !outcome.ok {
            continue;
        }
        p.succeeded += 1;
        let found = Record::decode(&outcome.result).unwrap();
        if found.nodes("nodes").unwrap_or_default() == true_closest_at(sim, live, key, rec.node, K, outcome.at, eligible).as_slice() {
            p.exact += 1;
        }
    }
    p.latency_ms = latency / p.issued.max(1) as f64;
    p
}
