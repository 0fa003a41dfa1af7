//! Gnutella-style unstructured search against its analysis: on a random
//! d-regular overlay with constant latency, a flood with TTL t reaches
//! exactly the ball of radius t around the asker (never more than the tree
//! bound 1 + d((d-1)^t - 1)/(d-2)), sends (d-1) messages per node newly
//! reached at the hop before (d (d-1)^(h-1) at hop h while the overlay is
//! tree-like), and finds a key exactly when a replica lies inside the
//! ball, so success follows 1 - (1-r)^(|ball|-1) for replication ratio r.
//! Random walkers and the overlay's repair under churn too.

use peershare::correctness::Liveness;
use peershare::prelude::*;
use peershare_e2e::kademlia::key;
use peershare_e2e::messages::{fates, within_binomial};
use peershare_e2e::neighbour_lists;
use std::collections::{BTreeMap, BTreeSet};

const LATENCY_MS: u64 = 50;

fn at(s: f64) -> SimTime {
    SimTime::ZERO + SimDuration::from_secs_f64(s)
}

/// `n` Gnutella nodes on a random `d`-regular overlay, constant latency.
fn overlay(n: usize, d: usize, seed: u64, config: Record) -> SimulationBuilder {
    let mut g = GroupSpec::new("peers", n, PeerSource::Wasm(Plugin::builtin("gnutella").unwrap()));
    g.bootstrap = Bootstrap::Regular { degree: d };
    g.config = config.with("ping_ms", 20_000u64);
    SimulationBuilder::new(seed)
        .group(g)
        .default_link(LinkModel { latency: LatencyModel::Constant { value: SimDuration::from_millis(LATENCY_MS) }, loss: 0.0 })
}

/// The nodes at exactly 0, 1, ..., `radius` hops from `from` (fewer shells
/// if the component ends sooner; `u64::MAX` for the whole component).
fn shells(graph: &[Vec<NodeIndex>], from: NodeIndex, radius: u64) -> Vec<BTreeSet<NodeIndex>> {
    let mut seen = BTreeSet::from([from]);
    let mut shells = vec![BTreeSet::from([from])];
    while (shells.len() as u64) <= radius {
        let next: BTreeSet<NodeIndex> =
            shells.last().unwrap().iter().flat_map(|&v| graph[v as usize].iter().copied()).filter(|u| !seen.contains(u)).collect();
        if next.is_empty() {
            break;
        }
        seen.extend(&next);
        shells.push(next);
    }
    shells
}

/// Nodes within `radius` hops of `from`.
fn ball(graph: &[Vec<NodeIndex>], from: NodeIndex, radius: u64) -> BTreeSet<NodeIndex> {
    shells(graph, from, radius).into_iter().flatten().collect()
}

fn tree_bound(d: u64, ttl: u64) -> u64 {
    1 + (0..ttl).map(|h| d * (d - 1).pow(h as u32)).sum::<u64>()
}

/// One flood's footprint in the message log.
#[derive(Default)]
struct Flood {
    reached: BTreeSet<NodeIndex>,
    /// QUERY messages sent, by hop.
    sent_at_hop: BTreeMap<u64, u64>,
}

fn floods(sim: &Simulation) -> BTreeMap<u64, Flood> {
    let mut out: BTreeMap<u64, Flood> = BTreeMap::new();
    for f in fates(sim).values() {
        let r = Record::decode(&f.bytes).unwrap();
        if r.kind != "QUERY" {
            continue;
        }
        let flood = out.entry(r.u64("guid").unwrap()).or_default();
        flood.reached.insert(f.from);
        *flood.sent_at_hop.entry(r.u64("hops").unwrap()).or_default() += 1;
        if f.delivered.is_some() {
            flood.reached.insert(f.to);
        }
    }
    out
}

#[test]
fn a_flood_reaches_exactly_the_ball_of_its_ttl_and_sends_the_tree_count_of_messages() {
    let (n, d) = (4000, 4u64);
    let mut table = Vec::new();
    for ttl in [2u64, 4, 6, 8, 10] {
        let config = Record::new("config").with("ttl", ttl).with("query_timeout_ms", 2_000u64);
        let mut b = overlay(n, d as usize, 11, config);
        let askers: Vec<NodeIndex> = (0..10).map(|i| (i * 397 + 5) % n as NodeIndex).collect();
        for (i, &a) in askers.iter().enumerate() {
            // Keys nobody holds: every flood runs its full course.
            b = b.operation(at(2.0 + i as f64 * 0.1), a, Operation::FindProviders { key: key(11, i as u64, 20) });
        }
        let mut sim = b.build().unwrap();
        sim.run_until(at(1.9)).unwrap();
        let graph = neighbour_lists(&mut sim);
        for (v, ns) in graph.iter().enumerate() {
            assert_eq!(ns.len(), d as usize, "node {v} keeps exactly the overlay's {d} neighbours");
        }
        sim.run_until(at(6.0)).unwrap();
        let floods = floods(&sim);
        assert_eq!(floods.len(), askers.len());
        let (mut coverage, mut per_hop) = (0u64, vec![0u64; ttl as usize + 1]);
        for (guid, flood) in &floods {
            let origin = (guid >> 32) as NodeIndex;
            let shells = shells(&graph, origin, ttl);
            let expected: BTreeSet<NodeIndex> = shells.iter().flatten().copied().collect();
            assert_eq!(flood.reached, expected, "query {guid:#x} from n{origin} with ttl {ttl}: exactly the ball");
            assert!(flood.reached.len() as u64 <= tree_bound(d, ttl));
            // Hop h's messages come from the nodes first reached at h - 1,
            // each sending to its d - 1 other neighbours.
            for h in 1..=ttl {
                let new_before = shells.get(h as usize - 1).map_or(0, |s| s.len() as u64);
                let fanout = if h == 1 { d } else { d - 1 };
                assert_eq!(flood.sent_at_hop.get(&h).copied().unwrap_or(0), fanout * new_before, "query {guid:#x}, hop {h}");
                per_hop[h as usize] += flood.sent_at_hop.get(&h).copied().unwrap_or(0);
            }
            assert!(!flood.sent_at_hop.contains_key(&(ttl + 1)), "nothing beyond the ttl");
            coverage += flood.reached.len() as u64;
        }
        let queries = floods.len() as f64;
        // While d (d-1)^(h-1) is under 5% of the nodes, the overlay looks
        // like a tree from the asker: short cycles in a random regular
        // graph are rare, so at most a few per cent of messages close one.
        for h in 1..=ttl {
            let tree = d * (d - 1).pow(h as u32 - 1);
            let mean = per_hop[h as usize] as f64 / queries;
            if tree * 20 <= n as u64 {
                assert!(mean >= 0.9 * tree as f64, "ttl {ttl}, hop {h}: {mean} messages against {tree} on a tree");
            }
        }
        let sent: u64 = per_hop.iter().sum();
        table.push((ttl, coverage as f64 / queries, tree_bound(d, ttl).min(n as u64), sent as f64 / queries));
        let ops = &sim.summary().operations["find-providers"];
        assert_eq!((ops.issued, ops.completed, ops.failed), (10, 10, 10), "a miss fails (no providers) at the timeout");
    }
    println!("ttl | mean nodes reached | tree bound (capped at N) | messages per query");
    for (ttl, reached, bound, sent) in &table {
        println!("{ttl:>3} | {reached:>18.1} | {bound:>24} | {sent:>18.1}");
    }
    let last = table.last().unwrap();
    assert!(last.1 >= 0.99 * n as f64, "ttl 10 floods nearly every one of {n} nodes: {}", last.1);
    assert!(last.3 >= (d - 1) as f64 * 0.95 * n as f64, "a full flood costs about (d-1) N messages: {}", last.3);
}

#[test]
fn a_flood_finds_exactly_the_replicas_inside_its_ball_and_success_follows_the_replication_ratio() {
    let (n, d, ttl) = (1000usize, 4usize, 3u64);
    let queries_per_ratio = 60u64;
    let ratios = [0.005, 0.02, 0.05];
    let config = Record::new("config").with("ttl", ttl).with("results", 1000u64).with("query_timeout_ms", 2_000u64);
    let mut b = overlay(n, d, 12, config);
    let mut holders: BTreeMap<Vec<u8>, BTreeSet<NodeIndex>> = BTreeMap::new();
    let mut asks = Vec::new();
    for (ri, &r) in ratios.iter().enumerate() {
        let copies = ((r * n as f64).round() as u64).max(1);
        for q in 0..queries_per_ratio {
            let k = key(12, ri as u64 * 1000 + q, 20);
            let seed = ri as u64 * 7919 + q * 104_729;
            let held: BTreeSet<NodeIndex> = (0..copies).map(|j| ((seed + j * 7_919) % n as u64) as NodeIndex).collect();
            for &h in &held {
                b = b.operation(at(1.0), h, Operation::Announce { key: k.clone() });
            }
            let asker = (0..n as u64).map(|i| ((seed + 500 + i * 13) % n as u64) as NodeIndex).find(|a| !held.contains(a)).unwrap();
            b = b.operation(
                at(2.0 + (ri as u64 * queries_per_ratio + q) as f64 * 0.05),
                asker,
                Operation::FindProviders { key: k.clone() },
            );
            asks.push((ri, k.clone(), asker));
            holders.insert(k, held);
        }
    }
    let mut sim = b.build().unwrap();
    sim.run_until(at(1.9)).unwrap();
    let graph = neighbour_lists(&mut sim);
    sim.run_until(at(15.0)).unwrap();
    let mut mean_ball = 0.0;
    for (_, _, asker) in &asks {
        mean_ball += ball(&graph, *asker, ttl).len() as f64 / asks.len() as f64;
    }
    let mut successes = [0usize; 3];
    for rec in sim.operations() {
        let Operation::FindProviders { key: k } = &rec.operation else { continue };
        let (ri, _, asker) = asks.iter().find(|(_, kk, _)| kk == k).unwrap();
        let result = Record::decode(&rec.outcome.as_ref().expect("completed").result).unwrap();
        let found: BTreeSet<NodeIndex> = result.nodes("nodes").unwrap().iter().copied().collect();
        let inside: BTreeSet<NodeIndex> = ball(&graph, *asker, ttl).intersection(&holders[k]).copied().collect();
        assert_eq!(found, inside, "n{asker} finds exactly the replicas within {ttl} hops");
        successes[*ri] += usize::from(!found.is_empty());
    }
    println!("mean ball size {mean_ball:.1}");
    for (ri, &r) in ratios.iter().enumerate() {
        let copies = ((r * n as f64).round()).max(1.0);
        let predicted = 1.0 - (1.0 - copies / n as f64).powf(mean_ball - 1.0);
        let observed = successes[ri] as f64 / queries_per_ratio as f64;
        println!("replication {r}: success {observed:.3}, predicted 1-(1-r)^(|ball|-1) = {predicted:.3}");
        // Four standard errors: the prediction treats replicas as
        // independent draws and the ball size as its mean.
        assert!(within_binomial(successes[ri], queries_per_ratio as usize, predicted, 4.0), "replication {r}: {observed} vs {predicted}");
    }
    assert!(successes[0] < successes[1] && successes[1] < successes[2], "more replicas, more hits: {successes:?}");
}

#[test]
fn random_walkers_find_replicated_keys_within_their_step_budget() {
    let (n, d, walkers, steps) = (1000usize, 4usize, 16u64, 64u64);
    let config =
        Record::new("config").with("mode", "walk").with("walkers", walkers).with("walk_ttl", steps).with("query_timeout_ms", 10_000u64);
    let mut b = overlay(n, d, 13, config);
    let mut holders: BTreeMap<Vec<u8>, BTreeSet<NodeIndex>> = BTreeMap::new();
    for q in 0..40u64 {
        let k = key(13, q, 20);
        // 2% of the nodes hold each key.
        let held: BTreeSet<NodeIndex> = (0..20u64).map(|j| ((q * 7919 + j * 4_999) % n as u64) as NodeIndex).collect();
        for &h in &held {
            b = b.operation(at(1.0), h, Operation::Announce { key: k.clone() });
        }
        let asker = (0..n as u64).map(|i| ((q * 31 + 3 + i) % n as u64) as NodeIndex).find(|a| !held.contains(a)).unwrap();
        b = b.operation(at(2.0 + q as f64 * 0.2), asker, Operation::FindProviders { key: k.clone() });
        holders.insert(k, held);
    }
    let mut sim = b.build().unwrap();
    sim.run_until(at(30.0)).unwrap();
    let mut found_any = 0;
    for rec in sim.operations() {
        let Operation::FindProviders { key: k } = &rec.operation else { continue };
        let result = Record::decode(&rec.outcome.as_ref().expect("completed").result).unwrap();
        let found = result.nodes("nodes").unwrap();
        assert!(found.iter().all(|p| holders[k].contains(p)), "only real holders are returned: {found:?}");
        found_any += usize::from(!found.is_empty());
    }
    let mut walks: BTreeMap<u64, u64> = BTreeMap::new();
    for f in fates(&sim).values() {
        let r = Record::decode(&f.bytes).unwrap();
        if r.kind == "WALK" {
            *walks.entry(r.u64("guid").unwrap()).or_default() += 1;
        }
    }
    let mean_steps = walks.values().sum::<u64>() as f64 / walks.len() as f64;
    println!("random walks: {found_any}/40 found; {mean_steps:.1} WALK messages per query (budget {})", walkers * steps);
    assert!(walks.values().all(|&w| w <= walkers * steps), "no walker exceeds its steps");
    // 16 walkers that stop at their first hit: each expects about
    // 1/r = 50 steps, so the budget of 64 is rarely used up.
    assert!(found_any >= 38, "{found_any}/40 walks found a replica at 2% replication");
    assert!(mean_steps < (walkers * steps) as f64 * 0.9, "walkers stop when they hit: {mean_steps}");
}

#[test]
fn the_overlay_mends_itself_after_a_fifth_of_the_nodes_crash() {
    let (n, d) = (300usize, 4usize);
    let config = Record::new("config").with("degree", d as u64);
    let mut g = GroupSpec::new("peers", n, PeerSource::Wasm(Plugin::builtin("gnutella").unwrap()));
    g.bootstrap = Bootstrap::Regular { degree: d };
    g.config = config;
    let crashed: Vec<NodeIndex> = (0..n as NodeIndex).filter(|i| i % 5 == 2).collect();
    let mut sim = SimulationBuilder::new(14)
        .group(g)
        .fault(Fault::new(
            at(10.0),
            Target::Nodes(NodeSet::nodes(crashed.iter().copied())),
            FaultKind::Crash { recovery: Recovery::LoseState },
        ))
        .build()
        .unwrap();
    sim.run_until(at(40.0)).unwrap();
    let live = Liveness::of(&sim);
    let graph = neighbour_lists(&mut sim);
    let alive: Vec<NodeIndex> = (0..n as NodeIndex).filter(|&i| live.up_at(i, at(40.0))).collect();
    assert_eq!(alive.len(), n - crashed.len());
    for &v in &alive {
        let ns = &graph[v as usize];
        assert!(ns.iter().all(|u| live.up_at(*u, at(40.0))), "n{v} dropped its crashed neighbours: {ns:?}");
        assert!(ns.len() >= d - 1, "n{v} has {} neighbours", ns.len());
    }
    let full = alive.iter().filter(|&&v| graph[v as usize].len() >= d).count();
    let reach = ball(&graph, alive[0], u64::MAX);
    println!("after the crash: {full}/{} live nodes back to {d} neighbours; one component of {}", alive.len(), reach.len());
    assert_eq!(reach.len(), alive.len(), "the live overlay is connected");
    assert!(full * 100 >= alive.len() * 95, "{full} of {} live nodes are back to degree {d}", alive.len());
}

#[test]
fn the_example_finds_the_song_in_most_searches_and_only_at_its_holders() {
    let sim = peershare_e2e::run(&peershare_e2e::example("gnutella.toml"));
    let holders: BTreeSet<NodeIndex> =
        sim.operations().iter().filter(|r| matches!(r.operation, Operation::Announce { .. })).map(|r| r.node).collect();
    assert_eq!(holders.len(), 5, "five distinct peers hold the song");
    for rec in sim.operations().iter().filter(|r| matches!(r.operation, Operation::FindProviders { .. })) {
        let result = Record::decode(&rec.outcome.as_ref().expect("completed").result).unwrap();
        let found = result.nodes("nodes").unwrap();
        assert!(found.iter().all(|p| holders.contains(p) || *p == rec.node), "n{}: {found:?} are not all holders", rec.node);
    }
    let searches = &sim.summary().operations["find-providers"];
    println!("gnutella.toml: {} of {} searches found the song", searches.succeeded, searches.issued);
    // Five holders and a ball of at most 161 nodes: 1 - (1 - 5/500)^160 =
    // 80% at best; paths longer than the shortest arriving first shrink it.
    assert!(searches.success_rate > 0.5 && searches.success_rate < 0.9, "{}", searches.success_rate);
}
