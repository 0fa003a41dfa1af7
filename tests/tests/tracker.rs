//! The central tracker: exact answers while it is up, every lookup failing
//! while it is down, and answers again once it is back and the peers have
//! announced again.

use peershare::prelude::*;
use peershare_e2e::kademlia::key;
use std::collections::BTreeSet;

const PEERS: u32 = 100;
const KEYS: u64 = 30;

/// Who announces key `k`: three peers spread over the network.
fn announcers(k: u64) -> BTreeSet<NodeIndex> {
    (0..3).map(|j| 1 + ((k * 7 + j * 31) % u64::from(PEERS)) as NodeIndex).collect()
}

/// A peer other than key `k`'s announcers that looks it up.
fn asker(k: u64, round: u64) -> NodeIndex {
    (1..=PEERS).map(|i| 1 + (k * 13 + round * 17 + u64::from(i)) as NodeIndex % PEERS).find(|n| !announcers(k).contains(n)).unwrap()
}

#[test]
fn answers_are_exact_while_the_tracker_is_up_and_fail_while_it_is_down() {
    let mut tracker = GroupSpec::new("tracker", 1, PeerSource::Wasm(Plugin::builtin("tracker").unwrap()));
    tracker.config = Record::new("config").with("role", "tracker");
    tracker.bootstrap = Bootstrap::None;
    let mut peers = GroupSpec::new("peers", PEERS as usize, PeerSource::Wasm(Plugin::builtin("tracker").unwrap()));
    peers.config = Record::new("config").with("announce_ms", 5_000u64).with("expire_ms", 15_000u64);
    let mut b = SimulationBuilder::new(3).group(tracker).group(peers);
    let at = |s: f64| SimTime::ZERO + SimDuration::from_secs_f64(s);
    for k in 0..KEYS {
        for &a in &announcers(k) {
            b = b.operation(at(1.0 + k as f64 * 0.01), a, Operation::Announce { key: key(3, k, 20) });
        }
        // Before, during and after the tracker's crash (10 s to 30 s).
        for (round, t) in [(0, 5.0), (1, 15.0), (2, 25.0), (3, 40.0)] {
            b = b.operation(at(t + k as f64 * 0.01), asker(k, round), Operation::FindProviders { key: key(3, k, 20) });
        }
    }
    b = b.fault(
        Fault::new(at(10.0), Target::Nodes(NodeSet::nodes([0])), FaultKind::Crash { recovery: Recovery::LoseState })
            .lasting(SimDuration::from_secs(20)),
    );
    let mut sim = b.build().unwrap();
    sim.run_until(at(50.0)).unwrap();
    let mut exact = [0u32; 4];
    let mut failed = [0u32; 4];
    for rec in sim.operations() {
        let Operation::FindProviders { key: wanted } = &rec.operation else { continue };
        let k = (0..KEYS).find(|&k| key(3, k, 20) == *wanted).unwrap();
        let round = [5.0, 15.0, 25.0, 40.0].iter().position(|&t| rec.issued_at < at(t + 1.0)).unwrap();
        let outcome = rec.outcome.as_ref().expect("every lookup completes");
        let result = Record::decode(&outcome.result).unwrap();
        if !outcome.ok {
            failed[round] += 1;
            assert_eq!(result.str("reason"), Some("no tracker answered"), "key {k}, round {round}");
            continue;
        }
        let found: BTreeSet<NodeIndex> = result.nodes("nodes").unwrap().iter().copied().collect();
        exact[round] += u32::from(found == announcers(k));
    }
    println!("exact answers per phase (up, down, down, back): {exact:?}; failed: {failed:?}");
    assert_eq!(exact, [30, 0, 0, 30], "exact while up and after the peers announced again");
    assert_eq!(failed, [0, 30, 30, 0], "every lookup fails while the tracker is down");
    let announced = &sim.summary().operations["announce"];
    assert_eq!((announced.issued, announced.succeeded), (90, 90));
}
