//! Kademlia against global knowledge: lookups find exactly the k closest
//! nodes, values stored are found, routing tables obey the invariants.

use peershare::prelude::*;
use peershare::sim::OperationRecord;
use peershare_e2e::{example, run};
use std::cmp::Ordering;

fn cmp_distance(target: &[u8], a: &[u8], b: &[u8]) -> Ordering {
    let d = |x: &[u8]| x.iter().zip(target).map(|(p, q)| p ^ q).collect::<Vec<u8>>();
    d(a).cmp(&d(b))
}

/// The true k closest nodes to `key` among all nodes but `asker`.
fn true_closest(sim: &Simulation, key: &[u8], asker: NodeIndex, k: usize) -> Vec<NodeIndex> {
    let mut all: Vec<NodeIndex> = (0..sim.node_count() as NodeIndex).filter(|&n| n != asker).collect();
    all.sort_by(|&a, &b| cmp_distance(key, sim.node_id(a).unwrap(), sim.node_id(b).unwrap()));
    all.truncate(k);
    all
}

fn lookups(sim: &Simulation) -> Vec<&OperationRecord> {
    sim.operations().iter().filter(|o| matches!(o.operation, Operation::Lookup { .. })).collect()
}

#[test]
fn lookups_find_exactly_the_k_closest_nodes() {
    let sim = run(&example("kademlia.toml"));
    let lookups = lookups(&sim);
    assert!(lookups.len() > 1500, "{} lookups", lookups.len());
    let mut exact = 0;
    for rec in &lookups {
        let Operation::Lookup { key } = &rec.operation else { unreachable!() };
        let outcome = rec.outcome.as_ref().expect("every lookup completes");
        let result = Record::decode(&outcome.result).unwrap();
        let found = result.nodes("nodes").unwrap();
        if found == true_closest(&sim, key, rec.node, 20).as_slice() {
            exact += 1;
        }
    }
    let rate = exact as f64 / lookups.len() as f64;
    println!("exact k closest: {exact} of {} ({:.2}%)", lookups.len(), rate * 100.0);
    assert!(rate >= 0.99, "only {:.2}% of lookups found exactly the 20 closest", rate * 100.0);
}
