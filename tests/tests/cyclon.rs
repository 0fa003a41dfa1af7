//! Cyclon gossip membership: the properties its paper reports for the
//! overlay of views, checked against global knowledge of who is up, during
//! and after churn; and search by random walks over the views.

use peershare::correctness::Liveness;
use peershare::fault::{Churn, SessionDistribution};
use peershare::prelude::*;
use peershare_e2e::kademlia::key;
use peershare_e2e::neighbour_lists;
use std::collections::{BTreeMap, BTreeSet};

const N: usize = 500;
const VIEW: usize = 20;

fn at(s: f64) -> SimTime {
    SimTime::ZERO + SimDuration::from_secs_f64(s)
}

/// Nodes reachable from `from` over view entries among `live` nodes,
/// following entries forwards (`reverse` false) or backwards.
fn reachable(views: &[Vec<NodeIndex>], live: &BTreeSet<NodeIndex>, from: NodeIndex, reverse: bool) -> BTreeSet<NodeIndex> {
    let mut edges: BTreeMap<NodeIndex, Vec<NodeIndex>> = BTreeMap::new();
    for &v in live {
        for &u in views[v as usize].iter().filter(|u| live.contains(u)) {
            let (a, b) = if reverse { (u, v) } else { (v, u) };
            edges.entry(a).or_default().push(b);
        }
    }
    let mut seen = BTreeSet::from([from]);
    let mut stack = vec![from];
    while let Some(v) = stack.pop() {
        for &u in edges.get(&v).into_iter().flatten() {
            if seen.insert(u) {
                stack.push(u);
            }
        }
    }
    seen
}

/// 500 nodes joining through node 0 (which stays up); from 30 s to 90 s
/// the other 499 churn (sessions of 60 s, downtimes of 30 s on average,
/// coming back afresh); everyone is back at 90 s.
fn churned_network() -> SimulationBuilder {
    let plugin = || PeerSource::Wasm(Plugin::builtin("cyclon").unwrap());
    let mut seed = GroupSpec::new("seed", 1, plugin());
    seed.bootstrap = Bootstrap::None;
    let mut peers = GroupSpec::new("peers", N - 1, plugin());
    peers.join_interval = SimDuration::from_millis(20);
    let churn = Churn::new(
        SessionDistribution::Exponential { mean: SimDuration::from_secs(60) },
        SessionDistribution::Exponential { mean: SimDuration::from_secs(30) },
    );
    SimulationBuilder::new(21)
        .group(seed)
        .group(peers)
        .fault(Fault::new(at(30.0), Target::Nodes(NodeSet::group("peers")), FaultKind::Churn(churn)).lasting(SimDuration::from_secs(60)))
}

#[test]
fn views_stay_connected_and_balanced_through_churn() {
    let mut b = churned_network();
    // Search after the churn: 2% of the nodes hold each key (announced
    // after everyone is back: a node that restarts forgets what it held).
    let mut holders: BTreeMap<Vec<u8>, BTreeSet<NodeIndex>> = BTreeMap::new();
    for q in 0..30u64 {
        let k = key(21, q, 20);
        let held: BTreeSet<NodeIndex> = (0..10u64).map(|j| (1 + (q * 7919 + j * 4_999) % (N as u64 - 1)) as NodeIndex).collect();
        for &h in &held {
            b = b.operation(at(100.0), h, Operation::Announce { key: k.clone() });
        }
        let asker = (0..N as u64).map(|i| ((q * 31 + 3 + i) % N as u64) as NodeIndex).find(|a| !held.contains(a)).unwrap();
        b = b.operation(at(101.0 + q as f64 * 0.3), asker, Operation::FindProviders { key: k.clone() });
        holders.insert(k, held);
    }
    let mut sim = b.build().unwrap();

    // During the churn.
    sim.run_until(at(85.0)).unwrap();
    let live_set = |sim: &Simulation, t: SimTime| -> BTreeSet<NodeIndex> {
        let live = Liveness::of(sim);
        (0..N as NodeIndex).filter(|&i| live.up_at(i, t)).collect()
    };
    let live = live_set(&sim, at(85.0));
    let during = neighbour_lists(&mut sim);
    let entries: usize = live.iter().map(|&v| during[v as usize].len()).sum();
    let dead: usize = live.iter().map(|&v| during[v as usize].iter().filter(|u| !live.contains(u)).count()).sum();
    let down_fraction = 1.0 - live.len() as f64 / N as f64;
    let dead_fraction = dead as f64 / entries as f64;
    println!(
        "at 85 s: {} of {N} up; {dead} of {entries} view entries ({:.1}%) point at a node that is down",
        live.len(),
        100.0 * dead_fraction
    );
    assert!(down_fraction > 0.15, "the churn took a good share of the nodes down: {down_fraction}");
    // Each shuffle drops the oldest entry (a silent node loses its entry
    // there), so an entry outlives its node by about view / 2 = 10 shuffles
    // (1 s each); with sessions of 60 s, about 10/60 = 17% of the entries
    // are dead at any moment, half the share of nodes that are down (the
    // share a membership that never forgot anyone would show). Half as much
    // again is allowed for the model's roughness.
    let model = (VIEW as f64 / 2.0) / 60.0;
    println!("model: {:.1}% dead entries", 100.0 * model);
    assert!(dead_fraction < 1.5 * model, "{dead_fraction} of entries are dead; the model says {model}");
    assert!(dead_fraction < 0.75 * down_fraction, "{dead_fraction} of entries are dead while {down_fraction} of nodes are down");
    // A node that came back moments ago is in nobody's view yet: only
    // those up for the last 5 s (5 shuffles) must be reachable.
    let liveness = Liveness::of(&sim);
    let settled: BTreeSet<NodeIndex> = live.iter().copied().filter(|&v| (80..=85).all(|s| liveness.up_at(v, at(s as f64)))).collect();
    let reached = reachable(&during, &live, 0, false);
    let missing: Vec<NodeIndex> = settled.difference(&reached).copied().collect();
    println!("{} of {} nodes up reachable from n0; {} of them up for 5 s", reached.len(), live.len(), settled.len());
    assert!(missing.is_empty(), "nodes up for 5 s but unreachable over live entries: {missing:?}");

    // After the churn: everyone came back at 90 s, afresh.
    sim.run_until(at(120.0)).unwrap();
    let live = live_set(&sim, at(120.0));
    assert_eq!(live.len(), N);
    let after = neighbour_lists(&mut sim);
    for (v, view) in after.iter().enumerate() {
        assert!(view.len() >= VIEW / 2, "n{v}'s view has only {} entries", view.len());
        assert!(!view.contains(&(v as NodeIndex)) && view.iter().collect::<BTreeSet<_>>().len() == view.len(), "n{v}: {view:?}");
    }
    let sizes: Vec<usize> = after.iter().map(Vec::len).collect();
    let full = sizes.iter().filter(|&&s| s == VIEW).count();
    let mean_size = sizes.iter().sum::<usize>() as f64 / N as f64;
    println!("at 120 s: {full} of {N} views full, mean size {mean_size:.2}");
    // Every shuffle creates a fresh entry for its sender, and free slots
    // are filled before anything is replaced, so views refill once the
    // churn is over.
    assert!(mean_size >= 0.95 * VIEW as f64, "mean view size {mean_size}");
    assert_eq!(reachable(&after, &live, 0, false).len(), N, "strongly connected: everyone reachable from n0 ...");
    assert_eq!(reachable(&after, &live, 0, true).len(), N, "... and n0 reachable from everyone");
    let mut in_degree = vec![0usize; N];
    for view in &after {
        for &u in view {
            in_degree[u as usize] += 1;
        }
    }
    let mean = in_degree.iter().sum::<usize>() as f64 / N as f64;
    let sd = (in_degree.iter().map(|&d| (d as f64 - mean).powi(2)).sum::<f64>() / N as f64).sqrt();
    let (min, max) = (*in_degree.iter().min().unwrap(), *in_degree.iter().max().unwrap());
    println!("at 120 s: in-degree mean {mean:.1}, sd {sd:.2}, min {min}, max {max}");
    // The paper's point: shuffling (a node gains an in-link when it starts a
    // shuffle and loses one when it is shuffled with) keeps in-degrees far
    // more even than a random graph's binomial spread, sd = sqrt(20) = 4.5.
    assert!(sd < (VIEW as f64).sqrt(), "in-degree sd {sd}");
    assert!(min >= 1, "no node is forgotten");

    sim.run_until(at(115.0 + 30.0 * 0.3)).unwrap();
    let mut found = 0;
    for rec in sim.operations().iter() {
        let Operation::FindProviders { key: k } = &rec.operation else { continue };
        let result = Record::decode(&rec.outcome.as_ref().expect("completed").result).unwrap();
        let nodes = result.nodes("nodes").unwrap();
        assert!(nodes.iter().all(|p| holders[k].contains(p)), "only holders are returned: {nodes:?}");
        found += usize::from(!nodes.is_empty());
    }
    println!("random-walk search over the views: {found}/30 found a holder");
    assert!(found >= 29, "{found}/30");
}

#[test]
fn the_example_finds_holders_through_the_churn() {
    let sim = peershare_e2e::run(&peershare_e2e::example("cyclon.toml"));
    let holders: BTreeSet<NodeIndex> =
        sim.operations().iter().filter(|r| matches!(r.operation, Operation::Announce { .. })).map(|r| r.node).collect();
    for rec in sim.operations().iter().filter(|r| matches!(r.operation, Operation::FindProviders { .. })) {
        if let Some(outcome) = &rec.outcome {
            let nodes = Record::decode(&outcome.result).unwrap().nodes("nodes").map(<[_]>::to_vec).unwrap_or_default();
            assert!(nodes.iter().all(|p| holders.contains(p)), "n{}: {nodes:?} are not all holders", rec.node);
        }
    }
    let searches = &sim.summary().operations["find-providers"];
    println!("cyclon.toml: {} of {} searches found a holder", searches.succeeded, searches.issued);
    assert!(searches.success_rate >= 0.8, "{}", searches.success_rate);
}
