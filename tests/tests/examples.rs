//! The scenarios in examples/ run, and their results make sense.

use peershare_e2e::{example, repo_root, run};

#[test]
fn every_example_scenario_loads() {
    let mut count = 0;
    for entry in std::fs::read_dir(repo_root().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let s = peershare::scenario::Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
            s.build().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            count += 1;
        }
    }
    assert!(count >= 1);
}

#[test]
fn flood_broadcasts_reach_most_of_the_network() {
    let sim = run(&example("flood.toml"));
    let summary = sim.summary();
    let broadcasts = &summary.operations["broadcast"];
    assert_eq!(broadcasts.issued, 18, "one per second from 2 s to 20 s");
    assert_eq!(broadcasts.succeeded, 18);
    // With about 6 neighbours each and TTL 6, a flood covers the 200 nodes
    // many times over; 1% loss cannot stop it. Every node has delivered
    // almost every broadcast.
    let delivered: u64 = (0..200).map(|n| sim.node_state(n).unwrap().u64("delivered").unwrap()).sum();
    assert!(delivered >= 200 * 16, "total deliveries {delivered}");
    assert!(summary.crashed.is_empty());
}
