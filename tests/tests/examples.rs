//! The scenarios in examples/ run, and their results make sense.

use peershare::time::SimTime;
use peershare_e2e::{example, repo_root, run};

#[test]
fn every_example_scenario_runs() {
    let mut count = 0;
    for entry in std::fs::read_dir(repo_root().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let s = peershare::scenario::Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
            // The first seconds of each: the full runs have tests of their own.
            let mut sim = s.build().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            sim.run_until(SimTime(3_000_000_000)).unwrap();
            assert!(sim.summary().messages.delivered > 0, "{}: nothing was delivered", path.display());
            count += 1;
        }
    }
    assert!(count >= 5);
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

#[test]
fn gossip_spreads_the_maximum_to_everyone() {
    let sim = run(&example("gossip.toml"));
    let values: Vec<u64> = (0..1000).map(|n| sim.node_state(n).unwrap().u64("value").unwrap()).collect();
    let max = *values.iter().max().unwrap();
    // 20 rounds of push-pull on 1,000 nodes is far beyond the ~log2(1000) + ln(1000) = 17
    // rounds after which every node holds the maximum with high probability.
    assert!(values.iter().all(|&v| v == max), "{} nodes lack the maximum", values.iter().filter(|&&v| v != max).count());
    assert_eq!(sim.summary().operations["max"].success_rate, 1.0);
}

#[test]
fn the_latency_matrix_and_link_overrides_shape_delivery_times() {
    use peershare::events::Event;
    let sim = run(&example("regions.toml"));
    let region = |n: u32| sim.node_group(n).unwrap().to_string();
    let mut sent_at = std::collections::HashMap::new();
    let mut fastest: std::collections::BTreeMap<(String, String), u64> = Default::default();
    for e in sim.events().events() {
        match &e.event {
            Event::Sent { msg, .. } => {
                sent_at.insert(*msg, e.time);
            }
            Event::Delivered { msg, from, to } => {
                let took = (e.time - sent_at[msg]).as_nanos();
                let entry = fastest.entry((region(*from), region(*to))).or_insert(u64::MAX);
                *entry = (*entry).min(took);
            }
            _ => {}
        }
    }
    // No message beats the matrix latency of its region pair, and the
    // fastest ones (small messages, empty queues) come close to it.
    let expected_ms =
        [("europe", "america", 45), ("america", "asia", 90), ("asia", "europe", 120), ("europe", "asia", 120), ("america", "america", 10)];
    for (from, to, ms) in expected_ms {
        let got = fastest[&(from.to_string(), to.to_string())];
        let floor = ms * 1_000_000;
        assert!(got >= floor && got < floor + 2_000_000, "{from} -> {to}: fastest delivery {got} ns, matrix says {ms} ms");
    }
    let dropped = &sim.summary().messages.dropped;
    assert!(dropped.get("lost").copied().unwrap_or(0) > 0, "the lossy override drops messages");
}
