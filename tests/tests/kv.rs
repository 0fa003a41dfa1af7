//! The replicated key/value store on Raft, and the linearizability check of
//! its clients' history: linearizable when reads go through the log, and
//! caught when they are served from a cut-off server's own copy.

use peershare::kv::LinearizabilityReport;
use peershare::prelude::*;
use peershare::referee::Property;

fn example(seed: u64, reads: &str) -> (Simulation, SimTime) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/raft-kv.toml");
    let text = std::fs::read_to_string(path).unwrap().replace("reads = \"log\"", &format!("reads = \"{reads}\""));
    let scenario = Scenario::parse(&text, "raft-kv.toml", ".".as_ref()).unwrap().with_seed(seed);
    let end = scenario.end();
    let mut sim = scenario.build().unwrap();
    sim.run_until(end).unwrap();
    (sim, end)
}

fn report(sim: &Simulation) -> LinearizabilityReport {
    sim.summary().linearizability.expect("a [kv] scenario reports its linearizability check")
}

#[test]
fn clients_of_raft_see_a_linearizable_store_through_a_crash_and_a_partition() {
    for seed in [7, 8, 9] {
        let (sim, _) = example(seed, "log");
        let summary = sim.summary();
        let r = report(&sim);
        // Three keys in one cluster, every one decided and linearizable.
        assert_eq!((r.registers, r.linearizable, r.not_linearizable, r.unknown), (3, 3, 0, 0), "seed {seed}: {r:?}");
        assert!(summary.safety_violations.is_empty(), "seed {seed}: {:?}", summary.safety_violations);
        // The workload was really served: most operations answered, of
        // every kind. Those at the crashed server (1 s of 8) and at the
        // cut-off one (2 s of 8) fail, each a fifth of the clients.
        assert!(r.operations > 250, "seed {seed}: {} operations", r.operations);
        assert!(r.answered * 10 > r.operations * 8, "seed {seed}: {} of {} answered", r.answered, r.operations);
        for kind in ["kv-put", "kv-get", "kv-cas"] {
            let ops = &summary.operations[kind];
            assert!(ops.succeeded * 4 > ops.issued * 3, "seed {seed}: {kind} {ops:?}");
        }
    }
}

#[test]
fn every_server_ends_with_the_same_store() {
    let (sim, _) = example(7, "log");
    let s = sim.summary();
    assert!(s.operations["kv-put"].succeeded > 0);
    // The answers came from the servers' copies; after the partition heals
    // all five apply the same log, so they hold the same values.
    let kv = sim.application_state::<peershare::kv::KeyValueStore>().expect("the store runs");
    for key in ["k0", "k1", "k2"] {
        let values: Vec<_> = (0..5).map(|n| kv.value_at(n, key).map(<[u8]>::to_vec)).collect();
        assert!(values.iter().all(|v| v == &values[0] && v.is_some()), "{key}: {values:?}");
    }
}

#[test]
fn local_reads_on_a_cut_off_server_are_caught_as_stale() {
    for seed in [7, 8, 9] {
        let (sim, _) = example(seed, "local");
        let r = report(&sim);
        assert!(r.not_linearizable >= 1, "seed {seed}: {r:?}");
        let v = &r.violations[0];
        assert_eq!(v.property, Property::Linearizability);
        assert!(v.detail.contains("get at node"), "{}", v.detail);
        assert!(v.since <= v.at);
        // The summary lists it with the referee's violations, so `peershare
        // run` prints it with the command that replays it.
        assert!(sim.summary().safety_violations.iter().any(|s| s.property == Property::Linearizability));
    }
}
