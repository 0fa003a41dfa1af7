//! Durable storage: what survives a crash, under each sync policy and
//! recovery, through the WIT interface (the `hostile` plugin's `journal`,
//! which writes entry n every 100 ms from 10 ms and syncs every third), its
//! limits, and its place in observation and determinism.

use peershare::events::Event;
use peershare::fault::{Churn, Fault, FaultKind, NodeSet, Recovery, SessionDistribution, Target};
use peershare::limits::{HostLimit, HostLimits};
use peershare::prelude::*;
use peershare::storage::{StoragePolicy, SyncMode};

fn journal(policy: StoragePolicy) -> GroupSpec {
    let mut g = GroupSpec::new("journal", 1, PeerSource::Wasm(Plugin::builtin("hostile").unwrap()));
    g.config = Record::new("config").with("behaviour", "journal").with("after_ms", 10u64);
    g.storage = policy;
    g
}

fn explicit(latency_ms: u64) -> StoragePolicy {
    StoragePolicy { sync: SyncMode::Explicit, sync_latency: SimDuration::from_millis(latency_ms) }
}

/// The journal crashing at `crash_ms` and back at 1.5 s with `recovery`.
fn crashing(policy: StoragePolicy, crash_ms: u64, recovery: Recovery) -> Simulation {
    let crash =
        Fault::new(SimTime::ZERO + SimDuration::from_millis(crash_ms), Target::Nodes(NodeSet::nodes([0])), FaultKind::Crash { recovery })
            .lasting(SimDuration::from_millis(1500 - crash_ms));
    SimulationBuilder::new(5).group(journal(policy)).fault(crash).build().unwrap()
}

/// Every value of `field` node 0 published, in order.
fn published(sim: &Simulation, field: &str) -> Vec<u64> {
    sim.events()
        .events()
        .iter()
        .filter_map(|e| match &e.event {
            Event::StatePublished { node: 0, state, .. } => Record::decode(state).ok()?.u64(field),
            _ => None,
        })
        .collect()
}

fn lost(sim: &Simulation) -> Vec<(u64, u64)> {
    sim.events()
        .events()
        .iter()
        .filter_map(|e| match e.event {
            Event::StorageLost { node: 0, writes, bytes } => Some((writes, bytes)),
            _ => None,
        })
        .collect()
}

fn entries(map: &std::collections::BTreeMap<Vec<u8>, Vec<u8>>) -> usize {
    map.keys().filter(|k| k.starts_with(b"entry/")).count()
}

/// One journal entry: `entry/NNNNNN` and an 8-byte value.
const ENTRY_BYTES: u64 = 12 + 8;

#[test]
fn a_crash_loses_exactly_the_writes_since_the_last_sync() {
    // Entries 1..=11 are written by 1.01 s; the last sync covered 9.
    let mut sim = crashing(explicit(0), 1050, Recovery::LoseState);
    sim.run_until(SimTime::ZERO + SimDuration::from_millis(1040)).unwrap();
    let before = sim.storage(0).expect("the journal wrote");
    assert_eq!((entries(&before.visible), entries(&before.durable), before.unsynced_writes), (11, 9, 2));
    sim.run_until(SimTime::from_secs(3)).unwrap();
    assert_eq!(lost(&sim), [(2, 2 * ENTRY_BYTES)], "entries 10 and 11 are lost, and only they");
    // The new incarnation finds the nine synced entries and goes on from there.
    assert_eq!(published(&sim, "recovered"), [0, 9]);
    let written = published(&sim, "written");
    assert_eq!(written[..11], (1..=11).collect::<Vec<u64>>());
    assert_eq!(written[11], 10, "after the restart, entry 10 is written again");
    let after = sim.storage(0).unwrap();
    assert_eq!(entries(&after.visible) as u64, *written.last().unwrap());
}

#[test]
fn a_crash_during_a_slow_sync_loses_what_the_sync_covered_and_its_ack_never_comes() {
    // Entry 3 is written and synced at 0.21 s; the sync takes 50 ms.
    let mut sim = crashing(explicit(50), 230, Recovery::LoseState);
    sim.run_until(SimTime::from_secs(1)).unwrap();
    assert_eq!(lost(&sim), [(3, 3 * ENTRY_BYTES)]);
    assert!(published(&sim, "synced").is_empty(), "the crashed incarnation never hears of its sync");
    assert!(sim.storage(0).is_none_or(|s| s.durable.is_empty()));

    // The same sync finished before a later crash: its three entries stay.
    let mut sim = crashing(explicit(50), 270, Recovery::LoseState);
    sim.run_until(SimTime::from_secs(3)).unwrap();
    assert_eq!(published(&sim, "synced")[0], 3);
    assert!(lost(&sim).is_empty(), "nothing was written between 0.26 s and the crash");
    assert_eq!(published(&sim, "recovered"), [0, 3]);
}

#[test]
fn a_node_that_keeps_its_memory_keeps_its_unsynced_writes() {
    let mut sim = crashing(explicit(0), 1050, Recovery::KeepState);
    sim.run_until(SimTime::from_secs(2)).unwrap();
    assert!(lost(&sim).is_empty());
    assert_eq!(published(&sim, "recovered"), [0], "init ran once");
    // Resumed at 1.5 s: the overdue tick writes entry 12, no entry is written twice.
    let written = published(&sim, "written");
    assert_eq!(written, (1..=written.len() as u64).collect::<Vec<_>>());
    assert_eq!(entries(&sim.storage(0).unwrap().visible), written.len());
}

#[test]
fn without_storage_a_restart_starts_from_nothing_and_with_always_nothing_is_lost() {
    // `never`: the disk acknowledges syncs and keeps nothing.
    let mut sim = crashing(StoragePolicy { sync: SyncMode::Never, ..explicit(0) }, 1050, Recovery::LoseState);
    sim.run_until(SimTime::from_secs(2)).unwrap();
    assert_eq!(lost(&sim), [(11, 11 * ENTRY_BYTES)]);
    // The lying disk acknowledged every sync (the last one is the restarted
    // node's, which began again from entry 1).
    assert_eq!(published(&sim, "synced"), [3, 6, 9, 3]);
    assert_eq!(published(&sim, "recovered"), [0, 0]);

    // `always`: every write is durable as it is made.
    let mut sim = crashing(StoragePolicy { sync: SyncMode::Always, ..explicit(0) }, 1050, Recovery::LoseState);
    sim.run_until(SimTime::from_secs(2)).unwrap();
    assert!(lost(&sim).is_empty());
    assert_eq!(published(&sim, "recovered"), [0, 11]);
}

#[test]
fn churn_that_restarts_nodes_from_scratch_loses_their_unsynced_writes() {
    let churn = Churn::new(
        SessionDistribution::Exponential { mean: SimDuration::from_millis(700) },
        SessionDistribution::Exponential { mean: SimDuration::from_millis(300) },
    );
    let fault = Fault::new(SimTime::ZERO, Target::Nodes(NodeSet::all()), FaultKind::Churn(churn));
    let mut g = journal(explicit(20));
    g.count = 6;
    let mut sim = SimulationBuilder::new(11).group(g).fault(fault).build().unwrap();
    sim.run_until(SimTime::from_secs(20)).unwrap();
    // Every departure loses what was written since the last finished sync:
    // the one or two entries written since the last sync started, or, within
    // 20 ms of a sync's start, the three it covers.
    let losses: Vec<(u64, u64)> = sim
        .events()
        .events()
        .iter()
        .filter_map(|e| match e.event {
            Event::StorageLost { writes, bytes, .. } => Some((writes, bytes)),
            _ => None,
        })
        .collect();
    assert!(losses.len() >= 10, "{} departures lost writes", losses.len());
    assert!(losses.iter().all(|&(w, b)| (1..=3).contains(&w) && b == w * ENTRY_BYTES), "{losses:?}");
    for node in 0..6 {
        let view = sim.storage(node).unwrap();
        let durable: Vec<u64> = view.durable.values().map(|v| u64::from_be_bytes(v[..].try_into().unwrap())).collect();
        assert_eq!(durable, (1..=durable.len() as u64).collect::<Vec<_>>(), "node {node}: durable entries are 1..n without gaps");
    }
}

#[test]
fn storage_writes_past_the_limits_are_refused_and_the_node_goes_on() {
    let limits = HostLimits { max_storage_bytes_per_node: 4 << 20, ..HostLimits::default() };
    let mut g = journal(explicit(0));
    g.config = Record::new("config").with("behaviour", "fill-storage").with("after_ms", 10u64);
    let mut big = journal(explicit(0));
    big.name = "big".into();
    // 400 writes of 2 MB: over the 1 MiB record size.
    big.config = Record::new("config").with("behaviour", "big-puts").with("after_ms", 10u64).with("size", 2_000_000u64);
    let mut sim = SimulationBuilder::new(2).group(g).group(big).limits(limits).build().unwrap();
    sim.run_for(SimDuration::from_secs(1)).unwrap();
    // Each 512 KiB write (and its 4-byte key) holds twice its bytes until
    // synced: three fit in 4 MiB, the fourth would pass it by its keys.
    let logged: Vec<String> = sim
        .events()
        .events()
        .iter()
        .filter_map(|e| match &e.event {
            Event::Log { node: 0, text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(logged, ["storage refused write 4 after 3 writes"]);
    let refused = |node| {
        sim.events().events().iter().find_map(|e| match e.event {
            Event::LimitExceeded { node: n, limit, calls, .. } if n == node => Some((limit, calls)),
            _ => None,
        })
    };
    assert_eq!(refused(0), Some((HostLimit::StorageBytesPerNode, 1)));
    assert_eq!(refused(1), Some((HostLimit::RecordBytes, 400)), "2 MB writes are over the record size");
    assert_eq!(sim.storage(1), None, "nothing of them was kept");
    assert_eq!(sim.node_status(0), Some(NodeStatus::Up));
    assert_eq!(sim.node_status(1), Some(NodeStatus::Up));
}

#[test]
fn the_same_seed_gives_the_same_disks_and_events() {
    let run = || {
        let mut sim = crashing(explicit(30), 740, Recovery::LoseState);
        sim.run_until(SimTime::from_secs(3)).unwrap();
        let mut events = Vec::new();
        sim.events().write_jsonl(&mut events).unwrap();
        (events, sim.storage(0))
    };
    let (a, b) = (run(), run());
    assert!(a.0 == b.0, "event logs differ");
    assert_eq!(a.1, b.1);
    assert!(String::from_utf8_lossy(&a.0).contains("\"storage-lost\""));
}

#[test]
fn a_plugin_built_before_storage_existed_still_runs() {
    // peershare_gossip.wasm as built from the WIT before the storage
    // interface was added (tests/fixtures): it imports no storage.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/gossip-0.1.0-before-storage.wasm");
    let plugin = Plugin::load(path.as_ref()).unwrap();
    let mut sim = SimulationBuilder::new(4).group(GroupSpec::new("peers", 30, PeerSource::Wasm(plugin))).build().unwrap();
    sim.run_for(SimDuration::from_secs(10)).unwrap();
    let summary = sim.summary();
    assert!(summary.crashed.is_empty(), "{:?}", summary.crashed);
    assert!(summary.messages.delivered > 100, "{:?}", summary.messages);
}

#[test]
fn a_scenario_sets_the_sync_policy_and_its_mistakes_are_named() {
    let scenario = |storage: &str| {
        format!(
            "duration = \"2s\"\n[[groups]]\nname = \"journal\"\ncount = 1\nplugin = \"hostile\"\n{storage}\n[groups.config]\nbehaviour = \"journal\"\n\n[[faults]]\nat = \"1050ms\"\nduration = \"450ms\"\ntarget = {{ nodes = [0] }}\ncrash = {{ recovery = \"lose-state\" }}\n"
        )
    };
    let recovered = |storage: &str| {
        let s = Scenario::parse(&scenario(storage), "journal.toml", ".".as_ref()).unwrap();
        let mut sim = s.builder().unwrap().build().unwrap();
        sim.run_until(s.end()).unwrap();
        published(&sim, "recovered")
    };
    assert_eq!(recovered(""), [0, 9], "explicit syncs by default");
    assert_eq!(recovered("storage = { sync = \"never\" }"), [0, 0]);
    assert_eq!(recovered("storage = { sync = \"always\", sync_latency = \"5ms\" }"), [0, 11]);
    let err = Scenario::parse(&scenario("storage = { sync = \"sometimes\" }"), "journal.toml", ".".as_ref()).unwrap_err().to_string();
    assert!(err.contains("journal.toml") && err.contains("line 6") && err.contains("sometimes"), "{err}");
}
