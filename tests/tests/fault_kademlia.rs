//! Kademlia under faults: lookups across a partition and after it heals,
//! under churn, and under eclipse attacks (host-enforced and by a malicious
//! plugin), checked against global knowledge; corrupt chunks caught by the
//! file-sharing hash checks. Each test prints what it measured.

use peershare::events::{Event, FaultAction};
use peershare::fileshare::{FileSharing, FileSharingConfig, FileSpec};
use peershare::prelude::*;
use peershare::sim::OperationRecord;
use peershare_e2e::kademlia::{Liveness, Phase, key, network, phase};

fn at_secs(s: f64) -> SimTime {
    SimTime::ZERO + SimDuration::from_secs_f64(s)
}

/// Schedules a lookup every `every` from `start` to `end` at nodes chosen
/// by `asker(i)`.
fn lookups(mut b: SimulationBuilder, start: f64, end: f64, every: f64, asker: impl Fn(u64) -> NodeIndex) -> SimulationBuilder {
    let mut i = 0;
    while start + every * (i as f64) < end {
        b = b.operation(at_secs(start + every * i as f64), asker(i), Operation::Lookup { key: key(99, i, 20) });
        i += 1;
    }
    b
}

#[test]
fn lookups_fail_across_a_partition_and_recover_after_it_heals() {
    let n = 200;
    let (b, _) = network(n, 31, Record::new("config").with("trace", false));
    let b = lookups(b, 10.0, 150.0, 0.1, |i| ((i * 37) % n as u64) as NodeIndex).fault(
        Fault::new(at_secs(30.0), Target::default(), FaultKind::Partition { sides: vec![NodeSet::nodes(0..100)], one_way: false })
            .lasting(SimDuration::from_secs(60)),
    );
    let mut sim = b.build().unwrap();
    sim.run_until(at_secs(160.0)).unwrap();
    let live = Liveness::of(&sim);
    let everyone = |_| true;
    let before = phase(&sim, &live, at_secs(10.0), at_secs(30.0), everyone);
    let during = phase(&sim, &live, at_secs(35.0), at_secs(85.0), everyone);
    let after = phase(&sim, &live, at_secs(100.0), at_secs(150.0), everyone);
    before.report("before the partition");
    during.report("during (30 s to 90 s)");
    after.report("after healing");
    assert!(before.exact_rate() >= 0.95);
    // The true 20 closest almost always include nodes across the partition.
    assert!(during.exact_rate() <= 0.1, "{during:?}");
    assert!(during.latency_ms > before.latency_ms, "timeouts across the partition slow lookups down");
    assert!(after.exact_rate() >= 0.9, "after healing, lookups find the whole network again: {after:?}");
}

#[test]
fn lookups_under_churn_are_measured_and_recover_when_it_stops() {
    let n = 200;
    let run = |churn: bool| {
        let (b, _) = network(n, 32, Record::new("config").with("trace", false));
        let mut b = lookups(b, 10.0, 160.0, 0.1, |i| ((i * 37) % n as u64) as NodeIndex);
        if churn {
            let churn = Churn::new(
                SessionDistribution::Exponential { mean: SimDuration::from_secs(60) },
                SessionDistribution::Exponential { mean: SimDuration::from_secs(30) },
            );
            // Node 0 is everyone's bootstrap contact and stays up.
            b = b.fault(
                Fault::new(at_secs(20.0), Target::Nodes(NodeSet::nodes(1..n as NodeIndex).fraction(0.3)), FaultKind::Churn(churn))
                    .lasting(SimDuration::from_secs(110)),
            );
        }
        let mut sim = b.build().unwrap();
        sim.run_until(at_secs(170.0)).unwrap();
        sim
    };
    let (calm, churned) = (run(false), run(true));
    let departures = churned.events().events().iter().filter(|e| matches!(e.event, Event::NodeDown { .. })).count();
    let (live_calm, live) = (Liveness::of(&calm), Liveness::of(&churned));
    let everyone = |_| true;
    let baseline = phase(&calm, &live_calm, at_secs(20.0), at_secs(130.0), everyone);
    let during = phase(&churned, &live, at_secs(20.0), at_secs(130.0), everyone);
    let after = phase(&churned, &live, at_secs(145.0), at_secs(160.0), everyone);
    println!("churn: 30% of the nodes, sessions exp(60 s), down exp(30 s): {departures} departures");
    baseline.report("no churn (20 s to 130 s)");
    during.report("churn (20 s to 130 s)");
    after.report("after the churn stops");
    assert!(departures > 60);
    assert!(baseline.exact_rate() >= 0.95);
    // Lookups at nodes that are down fail; the others run into departed contacts.
    assert!(during.succeeded < during.issued && during.exact_rate() < baseline.exact_rate() - 0.05, "{during:?}");
    assert!(during.latency_ms > baseline.latency_ms);
    assert!(after.exact_rate() >= 0.9, "{after:?}");
}

/// Lookups by the first 270 nodes of a network of 300 Kademlia nodes, the
/// last 30 of which `attack` may make malicious; exactness is judged against
/// the nodes `trusted` (the honest ones).
fn eclipse_run(attack: impl Fn(SimulationBuilder, NodeIndex, usize) -> SimulationBuilder, trusted: NodeIndex) -> (Simulation, Phase) {
    let (honest, attackers) = (270usize, 30usize);
    let (b, _) = network(honest, 33, Record::new("config").with("trace", false));
    let b = attack(b, honest as NodeIndex, attackers);
    let b = lookups(b, 15.0, 75.0, 0.1, |i| ((i * 37) % honest as u64) as NodeIndex);
    let mut sim = b.build().unwrap();
    sim.run_until(at_secs(90.0)).unwrap();
    let live = Liveness::of(&sim);
    let p = phase(&sim, &live, at_secs(15.0), at_secs(75.0), |n| n < trusted);
    (sim, p)
}

fn honest_extra(b: SimulationBuilder, first: NodeIndex, count: usize) -> SimulationBuilder {
    let mut g = GroupSpec::new("more", count, PeerSource::Wasm(Plugin::builtin("kademlia").unwrap()));
    g.start = SimTime::ZERO + SimDuration::from_secs(3);
    g.join_interval = SimDuration::from_millis(10);
    g.config = Record::new("config").with("trace", false);
    let _ = first;
    b.group(g)
}

#[test]
fn a_host_enforced_eclipse_attack_lowers_lookup_success() {
    let (_, baseline) = eclipse_run(honest_extra, 300);
    let (sim, attacked) = eclipse_run(
        |b, first, count| {
            let attackers = NodeSet::nodes(first..first + count as NodeIndex);
            honest_extra(b, first, count).fault(Fault::new(
                at_secs(12.0),
                Target::Nodes(attackers.clone()),
                FaultKind::Byzantine {
                    action: ByzantineAction::Eclipse { colluders: attackers, fields: vec!["contacts".into()] },
                    kinds: vec!["NODES".into()],
                },
            ))
        },
        270,
    );
    let eclipsed = sim
        .events()
        .events()
        .iter()
        .filter(|e| matches!(&e.event, Event::MessageFaulted { action: FaultAction::Eclipsed { .. }, .. }))
        .count();
    println!("host-enforced eclipse by 30 of 300 nodes ({eclipsed} replies rewritten):");
    baseline.report("no attack");
    attacked.report("eclipse attack");
    let drop = baseline.exact_rate() - attacked.exact_rate();
    println!("exact lookups drop by {:.1} percentage points", drop * 100.0);
    assert!(baseline.exact_rate() >= 0.95);
    assert!(eclipsed > 100);
    assert!(drop >= 0.3, "the attack lowers exact lookups by only {:.1} points", drop * 100.0);
}

#[test]
fn a_malicious_kademlia_plugin_eclipses_honest_lookups() {
    let (_, baseline) = eclipse_run(honest_extra, 300);
    let (sim, attacked) = eclipse_run(
        |b, first, count| {
            let mut g = GroupSpec::new("attackers", count, PeerSource::Wasm(Plugin::builtin("kademlia-eclipse").unwrap()));
            g.start = SimTime::ZERO + SimDuration::from_secs(3);
            g.join_interval = SimDuration::from_millis(10);
            g.config =
                Record::new("config").with("trace", false).with("colluders_first", u64::from(first)).with("colluders_count", count as u64);
            b.group(g)
        },
        270,
    );
    // Lookups that return an attacker as one of the closest nodes.
    let fooled = sim
        .operations()
        .iter()
        .filter_map(|o: &OperationRecord| o.outcome.as_ref())
        .filter(|out| Record::decode(&out.result).unwrap().nodes("nodes").unwrap_or_default().iter().any(|&n| n >= 270))
        .count();
    println!("malicious plugin (kademlia-eclipse), 30 of 300 nodes: {fooled} lookups returned attackers among the closest");
    assert!(baseline.exact_rate() >= 0.95);
    baseline.report("no attack");
    attacked.report("kademlia-eclipse attackers");
    let drop = baseline.exact_rate() - attacked.exact_rate();
    println!("exact lookups drop by {:.1} percentage points", drop * 100.0);
    assert!(fooled > 100);
    assert!(drop >= 0.3, "the attack lowers exact lookups by only {:.1} points", drop * 100.0);
}

#[test]
fn corrupt_chunks_from_a_byzantine_provider_are_caught_by_the_hash_checks() {
    let files = vec![FileSpec { name: "movie".into(), size: 1_000_000 }];
    let config = FileSharingConfig {
        files: files.clone(),
        chunk_size: 64 * 1024,
        request_timeout: SimDuration::from_secs(5),
        ..FileSharingConfig::default()
    };
    let mut group = GroupSpec::new("dht", 60, PeerSource::Wasm(Plugin::builtin("kademlia").unwrap()));
    group.join_interval = SimDuration::from_millis(10);
    group.uplink = Bandwidth::mbps(8);
    let mut b = SimulationBuilder::new(34)
        .group(group)
        .default_link(LinkModel { latency: LatencyModel::constant(SimDuration::from_millis(20)), loss: 0.0 })
        .application(move || FileSharing::new(config.clone(), 34))
        .fault(Fault::new(
            SimTime::ZERO,
            Target::Nodes(NodeSet::nodes([2])),
            FaultKind::Byzantine { action: ByzantineAction::CorruptChunks, kinds: vec![] },
        ));
    for publisher in 1..=3 {
        b = b.operation(at_secs(5.0), publisher, Operation::App(Record::new("publish").with("file", "movie")));
    }
    for d in 10..20 {
        b = b.operation(at_secs(8.0), d, Operation::App(Record::new("download").with("file", "movie")));
    }
    let mut sim = b.build().unwrap();
    sim.run_until(at_secs(70.0)).unwrap();
    let corrupted = sim
        .events()
        .events()
        .iter()
        .filter(|e| matches!(&e.event, Event::MessageFaulted { fault: 0, action: FaultAction::Corrupted { .. }, .. }))
        .count();
    let mut detected = 0;
    for rec in sim.operations().iter().filter(|o| matches!(&o.operation, Operation::App(r) if r.kind == "download")) {
        let outcome = rec.outcome.as_ref().expect("every download finishes");
        let result = Record::decode(&outcome.result).unwrap();
        assert!(outcome.ok, "{result}");
        assert_eq!(result.u64("bytes"), Some(1_000_000));
        assert!(!result.nodes("sources").unwrap().contains(&2), "a chunk from the Byzantine provider was accepted: {result}");
        detected += result.u64("corrupt_chunks").unwrap();
    }
    println!("{corrupted} chunks corrupted by the fault, {detected} detected by the downloads' hash checks");
    assert!(corrupted > 0);
    assert_eq!(detected as usize, corrupted, "every corrupted chunk is detected");
}

#[test]
fn recovery_keeps_or_loses_a_webassembly_peers_state() {
    let stored_keys = |recovery: Recovery| {
        let (b, joined) = network(30, 35, Record::new("config").with("trace", false));
        let key = key(35, 0, 20);
        let mut sim = b.operation(joined, 0, Operation::Put { key: key.clone(), value: b"v".to_vec() }).build().unwrap();
        sim.run_until(joined + SimDuration::from_secs(3)).unwrap();
        // A node that holds the value crashes and comes back.
        let holder = (1..30).find(|&n| sim.inspect_node(n).unwrap().ids("keys").unwrap().contains(&key)).expect("someone stores the value");
        let before = sim.inspect_node(holder).unwrap();
        let crash = Fault::new(sim.now(), Target::Nodes(NodeSet::nodes([holder])), FaultKind::Crash { recovery })
            .lasting(SimDuration::from_secs(2));
        sim.add_fault(crash).unwrap();
        sim.run_for(SimDuration::from_secs(1)).unwrap();
        assert!(sim.inspect_node(holder).is_none() || matches!(sim.node_status(holder), Some(NodeStatus::Down(_))));
        sim.run_for(SimDuration::from_millis(1500)).unwrap();
        let after = sim.inspect_node(holder).unwrap();
        (before.ids("keys").unwrap().len(), after.ids("keys").unwrap().to_vec(), key)
    };
    let (before, kept, key) = stored_keys(Recovery::KeepState);
    assert!(before >= 1 && kept.contains(&key), "a frozen node keeps its store");
    let (_, lost, key) = stored_keys(Recovery::LoseState);
    assert!(!lost.contains(&key), "a restarted node is a fresh instance with an empty store");
}

/// 1,000 nodes joining over links that lose `loss` of their messages (from
/// the start: joins suffer too), then 500 lookups; the lookups' figures
/// against global knowledge, and how many nodes no routing table holds.
fn lossy_run(loss: f64, config: Record) -> (Phase, usize) {
    let n = 1000;
    let (b, joined) = network(n, 5, config.with("trace", false));
    let b = b.default_link(LinkModel {
        latency: LatencyModel::Uniform { min: SimDuration::from_millis(10), max: SimDuration::from_millis(90) },
        loss,
    });
    let start = joined.as_secs_f64();
    let mut sim = lookups(b, start, start + 50.0, 0.1, |i| ((i * 7919) % n as u64) as NodeIndex).build().unwrap();
    sim.run_until(at_secs(start + 60.0)).unwrap();
    let live = Liveness::of(&sim);
    let p = phase(&sim, &live, at_secs(start), at_secs(start + 50.0), |_| true);
    let mut known = vec![false; n];
    for node in 0..n as NodeIndex {
        for &m in sim.inspect_node(node).unwrap().nodes("nodes").unwrap() {
            known[m as usize] = true;
        }
    }
    (p, known.iter().filter(|k| !**k).count())
}

#[test]
fn lookups_stay_exact_on_lossy_links_and_strict_mode_shows_why() {
    let robust = Record::new("config");
    let strict = Record::new("config").with("strict", true);
    let mut rates = Vec::new();
    for (name, loss, config, target) in [
        ("no loss", 0.0, &robust, 1.0),
        ("1% loss", 0.01, &robust, 0.99),
        ("5% loss", 0.05, &robust, 0.95),
        ("1% loss, strict", 0.01, &strict, 0.0),
    ] {
        let (p, unknown) = lossy_run(loss, config.clone());
        p.report(name);
        println!("{name:>28}: {unknown} nodes in no routing table");
        assert_eq!(p.issued, 500);
        assert!(p.exact_rate() >= target, "{name}: {:.1}% exact, wanted {:.0}%", 100.0 * p.exact_rate(), 100.0 * target);
        if target > 0.0 {
            assert_eq!(unknown, 0, "{name}: every node joined (retried joins)");
        }
        rates.push(p.exact_rate());
    }
    assert!(rates[3] < rates[1] - 0.1, "strict Kademlia is clearly worse at 1% loss: {:.1}% vs {:.1}%", 100.0 * rates[3], 100.0 * rates[1]);
}
