//! Kademlia against global knowledge: lookups find exactly the k closest
//! nodes, stored values are found from anywhere, routing tables obey the
//! Kademlia invariants, and lookup hops grow like log2(N).

use peershare::events::Event;
use peershare::node::NodeContext;
use peershare::prelude::*;
use peershare::sim::OperationRecord;
use peershare_e2e::kademlia::{key, network, true_closest};
use peershare_e2e::{example, run};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// The example network, run once and shared by the tests that read it.
fn example_run() -> MutexGuard<'static, Simulation> {
    static SIM: OnceLock<Mutex<Simulation>> = OnceLock::new();
    SIM.get_or_init(|| Mutex::new(run(&example("kademlia.toml")))).lock().unwrap_or_else(|e| e.into_inner())
}

/// Mean rounds (hops) of the completed lookups.
fn mean_hops(sim: &Simulation) -> f64 {
    let rounds: Vec<u64> =
        lookups(sim).iter().map(|r| Record::decode(&r.outcome.as_ref().unwrap().result).unwrap().u64("rounds").unwrap()).collect();
    rounds.iter().sum::<u64>() as f64 / rounds.len() as f64
}

/// A network of `n` nodes that, once joined, looks up `count` random keys.
fn lookup_run(n: usize, count: u64) -> Simulation {
    let (mut b, joined) = network(n, 17, Record::new("config").with("trace", false));
    for i in 0..count {
        let at = joined + SimDuration::from_millis(10 * i);
        b = b.operation(at, ((i * 7919) % n as u64) as NodeIndex, Operation::Lookup { key: key(17, i, 20) });
    }
    let mut sim = b.build().unwrap();
    sim.run_until(joined + SimDuration::from_millis(10 * count) + SimDuration::from_secs(5)).unwrap();
    sim
}

fn lookups(sim: &Simulation) -> Vec<&OperationRecord> {
    sim.operations().iter().filter(|o| matches!(o.operation, Operation::Lookup { .. })).collect()
}

#[test]
fn lookups_find_exactly_the_k_closest_nodes() {
    let sim = example_run();
    let lookups = lookups(&sim);
    assert!(lookups.len() > 1500, "{} lookups", lookups.len());
    let mut exact = 0;
    for rec in &lookups {
        let Operation::Lookup { key } = &rec.operation else { unreachable!() };
        let outcome = rec.outcome.as_ref().expect("every lookup completes");
        let result = Record::decode(&outcome.result).unwrap();
        if result.nodes("nodes").unwrap() == true_closest(&sim, key, rec.node, 20).as_slice() {
            exact += 1;
        }
    }
    let rate = exact as f64 / lookups.len() as f64;
    println!("exact k closest: {exact} of {} ({:.2}%)", lookups.len(), rate * 100.0);
    assert!(rate >= 0.99, "only {:.2}% of lookups found exactly the 20 closest", rate * 100.0);
}

#[test]
fn lookups_record_their_steps() {
    let sim = example_run();
    let op = lookups(&sim)[0].op;
    let steps: Vec<Record> = sim
        .events()
        .events()
        .iter()
        .filter_map(|e| match &e.event {
            Event::Trace { op: o, step, .. } if *o == op => Some(Record::decode(step).unwrap()),
            _ => None,
        })
        .collect();
    let kinds: Vec<&str> = steps.iter().map(|s| s.kind.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"query"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"done"), "{kinds:?}");
    let queries = kinds.iter().filter(|k| **k == "query").count() as u64;
    let answers = kinds.iter().filter(|k| **k == "answer").count();
    assert!(queries >= 20 && answers >= 20, "a lookup asks at least the k closest: {queries} queries, {answers} answers");
    let done = steps.last().unwrap();
    assert_eq!(done.str("reason"), Some("k closest answered"));
    assert_eq!(done.u64("queries"), Some(queries));
    // Every answer carries the shortlist as it converges: at most k nodes.
    for s in steps.iter().filter(|s| s.kind == "answer") {
        assert!(s.nodes("shortlist").unwrap().len() <= 20);
        assert!(s.nodes("returned").unwrap().len() <= 20, "an answer holds at most k contacts");
        assert!(s.u64("round").unwrap() >= 1);
    }
}

#[test]
fn every_stored_value_is_found_from_any_node() {
    let n = 300;
    let (mut b, joined) = network(n, 11, Record::new("config"));
    let keys: Vec<Vec<u8>> = (0..20).map(|i| key(11, i, 20)).collect();
    for (i, k) in keys.iter().enumerate() {
        let value = format!("value {i}").into_bytes();
        b = b.operation(joined, (i * 13 % n) as NodeIndex, Operation::Put { key: k.clone(), value });
    }
    let gets_at = joined + SimDuration::from_secs(5);
    for i in 0..200u64 {
        let k = keys[(i % 20) as usize].clone();
        b = b.operation(gets_at, ((i * 7 + 3) % n as u64) as NodeIndex, Operation::Get { key: k });
    }
    let mut sim = b.build().unwrap();
    sim.run_until(gets_at + SimDuration::from_secs(10)).unwrap();
    for rec in sim.operations() {
        let outcome = rec.outcome.as_ref().unwrap_or_else(|| panic!("operation {} did not complete", rec.op));
        let result = Record::decode(&outcome.result).unwrap();
        assert!(outcome.ok, "operation {} ({}) failed: {result}", rec.op, rec.operation.kind());
        if let Operation::Get { key } = &rec.operation {
            let i = keys.iter().position(|k| k == key).unwrap();
            assert_eq!(result.bytes("value"), Some(format!("value {i}").as_bytes()));
        }
    }
    // Each value sits on the 20 nodes closest to its key.
    for (i, k) in keys.iter().enumerate() {
        let holders: Vec<NodeIndex> =
            (0..n as NodeIndex).filter(|&node| sim.inspect_node(node).unwrap().ids("keys").unwrap().contains(k)).collect();
        let closest = true_closest(&sim, k, NodeIndex::MAX, 20);
        let publisher = (i * 13 % n) as NodeIndex;
        for c in &closest {
            assert!(holders.contains(c) || *c == publisher, "key {i}: node {c} is among the 20 closest but holds nothing");
        }
    }
}

#[test]
fn routing_tables_obey_the_kademlia_invariants() {
    let (b, joined) = network(400, 5, Record::new("config").with("k", 8u64));
    let mut sim = b.build().unwrap();
    sim.run_until(joined).unwrap();
    let mut total = 0;
    for node in 0..400 {
        let state = sim.inspect_node(node).unwrap();
        let own = state.id("id").unwrap().to_vec();
        assert_eq!(own.as_slice(), sim.node_id(node).unwrap());
        let (buckets, nodes, ids, seen) =
            (state.u64s("bucket").unwrap(), state.nodes("nodes").unwrap(), state.ids("ids").unwrap(), state.u64s("last_seen").unwrap());
        assert!(nodes.len() == buckets.len() && ids.len() == nodes.len() && seen.len() == nodes.len());
        total += nodes.len();
        for i in 0..nodes.len() {
            assert_ne!(nodes[i], node, "node {node} lists itself");
            assert_eq!(ids[i].as_slice(), sim.node_id(nodes[i]).unwrap(), "node {node} has a wrong id for {}", nodes[i]);
            // Bucket b holds ids whose XOR distance has its highest set bit at b.
            let d: Vec<u8> = own.iter().zip(&ids[i]).map(|(a, b)| a ^ b).collect();
            let first = d.iter().position(|x| *x != 0).unwrap();
            let highest = (d.len() - 1 - first) * 8 + (7 - d[first].leading_zeros() as usize);
            assert_eq!(buckets[i] as usize, highest, "node {node}: contact {} in the wrong bucket", nodes[i]);
            if i > 0 && buckets[i] == buckets[i - 1] {
                assert!(seen[i] >= seen[i - 1], "node {node}: bucket {} is not in least-recently-seen order", buckets[i]);
            }
        }
        for b in 0..160u64 {
            let size = buckets.iter().filter(|x| **x == b).count();
            assert!(size <= 8, "node {node}: bucket {b} holds {size} contacts, more than k = 8");
        }
        let mut unique = nodes.to_vec();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), nodes.len(), "node {node} lists a contact twice");
    }
    assert!(total > 400 * 8, "tables are populated: {total} contacts in all");
}

#[test]
fn observing_a_node_does_not_change_the_run() {
    let trace = |observe: bool| {
        let (b, joined) = network(60, 2, Record::new("config"));
        let mut sim = b.build().unwrap();
        let step = SimDuration::from_millis(250);
        let mut t = SimTime::ZERO;
        while t < joined {
            t += step;
            sim.run_until(t).unwrap();
            if observe {
                for n in 0..60 {
                    sim.inspect_node(n);
                }
            }
        }
        peershare_e2e::trace_bytes(&sim)
    };
    assert!(trace(true) == trace(false));
}

/// Mean hops must grow like log2(N): from N to 10 N they may grow by at
/// most 1.5 times the growth of log2(N) (linear growth would multiply them
/// by 10), they never shrink by more than noise, and they stay below
/// log2(N) because each round at least halves the XOR distance to the
/// target's closest nodes.
fn check_logarithmic(small: (usize, f64), large: (usize, f64)) {
    let (n1, h1) = small;
    let (n2, h2) = large;
    let log_ratio = (n2 as f64).log2() / (n1 as f64).log2();
    println!("mean hops: N = {n1}: {h1:.2}, N = {n2}: {h2:.2} (ratio {:.2}; log2 ratio {log_ratio:.2})", h2 / h1);
    assert!(h2 >= h1 * 0.95, "hops shrank from {h1:.2} to {h2:.2}");
    assert!(h2 / h1 <= 1.5 * log_ratio, "hops grew from {h1:.2} to {h2:.2}, faster than log2(N)");
    assert!(h1 <= (n1 as f64).log2() && h2 <= (n2 as f64).log2());
}

#[test]
fn lookup_hops_grow_logarithmically_from_100_to_1000_nodes() {
    let small = mean_hops(&lookup_run(100, 200));
    let large = mean_hops(&example_run());
    check_logarithmic((100, small), (1000, large));
}

// At 10,000 nodes the same figures come from the bench, not the test
// suite (a 10,000-node network takes minutes):
// cargo run --release -p peershare --example dht_bench -- 10000 1000
// prints the mean hops against log2 N.

/// Values expire after `expire_ms` unless their publisher republishes them
/// every `republish_ms`.
fn value_found_after_expiry(republish_ms: u64) -> bool {
    let config = Record::new("config").with("expire_ms", 4_000u64).with("republish_ms", republish_ms).with("trace", false);
    let (b, joined) = network(100, 4, config);
    let k = key(4, 0, 20);
    let b = b.operation(joined, 7, Operation::Put { key: k.clone(), value: b"ephemeral".to_vec() }).operation(
        joined + SimDuration::from_secs(10),
        55,
        Operation::Get { key: k },
    );
    let mut sim = b.build().unwrap();
    sim.run_until(joined + SimDuration::from_secs(15)).unwrap();
    let get = sim.operations().iter().find(|o| matches!(o.operation, Operation::Get { .. })).unwrap();
    get.outcome.as_ref().expect("the get completes").ok
}

#[test]
fn values_expire_unless_republished() {
    assert!(!value_found_after_expiry(3_600_000), "a value outlived its 4 s expiry without republishing");
    assert!(value_found_after_expiry(1_000), "a value republished every second was lost");
}

/// A peer that announces itself to every Kademlia node with a PING, then
/// never answers anything: a contact that has gone away.
struct Ghost {
    dht_nodes: NodeIndex,
}

impl Peer for Ghost {
    fn init(&mut self, ctx: &mut NodeContext, args: &InitArgs) {
        for n in 0..self.dht_nodes {
            ctx.send(n, Record::new("PING").with("rpc", 0u64).with("id", Value::Id(args.id.clone())).encode());
        }
    }

    fn on_message(&mut self, _ctx: &mut NodeContext, _from: NodeIndex, _message: &[u8]) {}
}

#[test]
fn full_buckets_ping_their_oldest_contact_and_evict_it_only_if_it_is_gone() {
    const DHT: NodeIndex = 40;
    let mut dht = GroupSpec::new("dht", DHT as usize, PeerSource::Wasm(Plugin::builtin("kademlia").unwrap()));
    dht.join_interval = SimDuration::from_millis(1);
    dht.config = Record::new("config").with("k", 2u64).with("timeout_ms", 300u64).with("trace", false);
    // Ghosts introduce themselves right after the DHT nodes start, so they
    // are the oldest contacts of many buckets.
    let mut ghosts = GroupSpec::new("ghosts", 8, PeerSource::native(|_| Ghost { dht_nodes: DHT }));
    ghosts.start = SimTime(45_000_000);
    ghosts.bootstrap = Bootstrap::None;
    let mut sim = SimulationBuilder::new(21)
        .id_bits(8)
        .group(dht)
        .group(ghosts)
        .default_link(LinkModel { latency: LatencyModel::constant(SimDuration::from_millis(20)), loss: 0.0 })
        .build()
        .unwrap();
    sim.run_until(SimTime(10_000_000_000)).unwrap();
    let is_ghost = |n: NodeIndex| n >= DHT;
    let (mut kept, mut evicted) = (0, 0);
    for e in sim.events().events() {
        let Event::Log { text, .. } = &e.event else { continue };
        let node = |prefix: &str| text.strip_prefix(prefix).and_then(|t| t.split(' ').next()).and_then(|n| n.parse::<NodeIndex>().ok());
        if let Some(n) = node("kept n") {
            assert!(!is_ghost(n), "ghost n{n} was kept although it never answers");
            kept += 1;
        }
        if let Some(n) = node("evicted n") {
            assert!(is_ghost(n), "node n{n} was evicted although it answers");
            evicted += 1;
        }
    }
    println!("evictions: {evicted} ghosts evicted, {kept} live contacts kept");
    assert!(evicted > 0 && kept > 0, "both cases happen: {evicted} evicted, {kept} kept");
}

/// FIND_NODE messages sent between 3 s and 10 s after a quiet network of 50
/// nodes has joined.
fn find_nodes_after_join(refresh_ms: u64) -> usize {
    let (b, joined) = network(50, 8, Record::new("config").with("refresh_ms", refresh_ms).with("trace", false));
    let mut sim = b.build().unwrap();
    let (from, to) = (joined + SimDuration::from_secs(3), joined + SimDuration::from_secs(10));
    sim.run_until(to).unwrap();
    sim.events()
        .events()
        .iter()
        .filter(|e| e.time >= from && matches!(&e.event, Event::Sent { bytes, .. } if Record::decode(bytes).unwrap().kind == "FIND_NODE"))
        .count()
}

#[test]
fn idle_buckets_are_refreshed_periodically() {
    assert_eq!(find_nodes_after_join(3_600_000), 0, "a quiet network with hourly refresh sends no lookups");
    assert!(find_nodes_after_join(2_000) > 50, "with a 2 s refresh interval, idle buckets are looked up again");
}

#[test]
fn keys_of_the_wrong_length_are_refused_with_a_reason() {
    let (b, joined) = network(20, 5, Record::new("config"));
    let mut sim = b.operation(joined, 3, Operation::Get { key: b"short".to_vec() }).build().unwrap();
    sim.run_until(joined + SimDuration::from_secs(1)).unwrap();
    let outcome = sim.operations()[0].outcome.as_ref().expect("refused at once");
    assert!(!outcome.ok);
    let reason = Record::decode(&outcome.result).unwrap();
    assert_eq!(reason.str("reason"), Some("the key is 5 bytes long, but node ids are 20 bytes"));
    // In scenarios, keys named by text are hashed to the id length; hex keys must fit.
    let text = "duration = \"1s\"\n[[groups]]\nname = \"d\"\ncount = 2\nplugin = \"kademlia\"\n[[workload]]\nop = \"get\"\nat = \"0s\"\nkey = \"hex:0102\"\n";
    let err = peershare::scenario::Scenario::parse(text, "k.toml", std::path::Path::new(".")).unwrap_err().to_string();
    assert!(
        err.contains("field `workload[0].key`: a key must be as long as a node id (20 bytes with id_bits = 160), got 2 bytes"),
        "{err}"
    );
}

#[test]
fn the_example_gets_find_the_stored_value() {
    let sim = example_run();
    let gets = &sim.summary().operations["get"];
    assert!(gets.issued >= 15);
    assert_eq!(gets.success_rate, 1.0, "{gets:?}");
}
