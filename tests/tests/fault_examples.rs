//! The fault example scenarios run and show what they are meant to show;
//! runs with faults are deterministic.

use peershare::events::Event;
use peershare::prelude::*;
use peershare_e2e::kademlia::{Liveness, phase};
use peershare_e2e::{example, run, trace_bytes};

#[test]
fn the_partition_example_splits_and_heals() {
    let sim = run(&example("partition.toml"));
    let live = Liveness::of(&sim);
    let everyone = |_| true;
    let before = phase(&sim, &live, SimTime::from_secs(10), SimTime::from_secs(30), everyone);
    let during = phase(&sim, &live, SimTime::from_secs(35), SimTime::from_secs(65), everyone);
    let after = phase(&sim, &live, SimTime::from_secs(80), SimTime::from_secs(95), everyone);
    before.report("before");
    during.report("partitioned");
    after.report("healed");
    assert!(before.exact_rate() >= 0.95 && after.exact_rate() >= 0.9, "{before:?} {after:?}");
    assert!(during.exact_rate() <= 0.1, "{during:?}");
    let summary = sim.summary();
    assert_eq!(summary.faults.len(), 1);
    assert!(summary.faults[0].dropped > 1000);
    assert_eq!(summary.faults[0].ended_s, Some(70.0));
}

#[test]
fn the_churn_example_takes_nodes_down_and_brings_them_back() {
    let sim = run(&example("churn.toml"));
    let summary = sim.summary();
    let churn = &summary.faults[0];
    println!("{churn:?}");
    assert_eq!(churn.nodes, 120, "40% of the 299 non-seed nodes");
    assert!(churn.departures > 100 && churn.departures == churn.returns, "{churn:?}");
    assert!(summary.down.is_empty(), "everyone is back after the churn");
    let restarts = sim.events().events().iter().filter(|e| matches!(e.event, Event::NodeUp { state_kept: false, .. })).count();
    assert_eq!(restarts as u64, churn.returns, "returning nodes restart from scratch");
    let live = Liveness::of(&sim);
    let during = phase(&sim, &live, SimTime::from_secs(30), SimTime::from_secs(130), |_| true);
    let after = phase(&sim, &live, SimTime::from_secs(145), SimTime::from_secs(155), |_| true);
    during.report("churn");
    after.report("after");
    assert!(during.succeeded < during.issued, "lookups at departed nodes fail");
    assert!(after.exact_rate() >= 0.9, "{after:?}");
    // The publisher republishes every 10 s, so most gets find the value.
    assert!(summary.operations["get"].success_rate >= 0.6, "{:?}", summary.operations["get"]);
}

#[test]
fn the_eclipse_example_attracts_lookups_to_the_attackers() {
    let sim = run(&example("eclipse.toml"));
    let attackers = |n: &NodeIndex| sim.node_group(*n) == Some("attackers");
    let mut fooled = 0;
    let mut lookups = 0;
    for rec in sim.operations() {
        let Some(outcome) = &rec.outcome else { continue };
        let result = Record::decode(&outcome.result).unwrap();
        match &rec.operation {
            Operation::Lookup { .. } => {
                lookups += 1;
                if result.nodes("nodes").unwrap().iter().any(attackers) {
                    fooled += 1;
                }
            }
            Operation::Put { .. } => {
                let stored_at = result.nodes("nodes").unwrap();
                assert!(stored_at.iter().filter(|n| attackers(n)).count() >= 10, "the put stored at {stored_at:?}");
            }
            _ => {}
        }
    }
    println!("{fooled} of {lookups} lookups returned attackers among the closest nodes");
    assert!(fooled * 2 > lookups);
}

#[test]
fn the_lossy_example_shows_every_fault_at_work() {
    let sim = run(&example("lossy.toml"));
    let summary = sim.summary();
    for f in &summary.faults {
        println!("{f:?}");
        assert!(f.dropped + f.altered > 100, "fault {:?} did nothing", f.name);
    }
    assert_eq!(summary.faults.len(), 5);
    assert!(summary.messages.dropped["fault-loss"] > 1000);
    assert_eq!(summary.operations["broadcast"].success_rate, 1.0);
    // The flood still reaches most peers.
    let delivered: u64 = (0..200).map(|n| sim.node_state(n).unwrap().u64("delivered").unwrap()).sum();
    assert!(delivered >= 200 * 20, "total deliveries {delivered}");
}

#[test]
fn runs_with_faults_are_deterministic() {
    for name in ["lossy.toml", "churn.toml"] {
        let scenario = example(name);
        let (a, b) = (trace_bytes(&run(&scenario)), trace_bytes(&run(&scenario)));
        assert!(a == b, "{name}: two runs with the same seed differ");
        let other = trace_bytes(&run(&example(name).with_seed(scenario.seed() + 1)));
        assert!(a != other, "{name}: another seed gives the same trace");
        assert!(a.windows(14).any(|w| w == b"\"fault-started"), "{name}: faults are in the trace");
    }
}
