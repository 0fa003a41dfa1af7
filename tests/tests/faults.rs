//! Each fault does exactly what it specifies, and nothing else: checked on
//! native peers that ping each other on a fixed schedule, so that every
//! message's fate can be compared with what the fault should have done.

use peershare::events::{DropReason, Event, FaultAction};
use peershare::fault::{FaultRecord, FaultStatus};
use peershare::node::NodeContext;
use peershare::prelude::*;
use peershare_e2e::messages::{Fate, fates, within_binomial};
use std::collections::BTreeSet;

/// Sends a "ping" to every other node each `interval`, counts what it
/// receives and publishes the count.
struct Pinger {
    nodes: u32,
    interval: SimDuration,
    sent: u64,
    received: u64,
}

impl Peer for Pinger {
    fn init(&mut self, ctx: &mut NodeContext, _args: &InitArgs) {
        ctx.set_timer(self.interval, 0);
        ctx.publish_state(Record::new("count").with("received", 0u64).with("sent", 0u64).encode());
    }

    fn on_message(&mut self, ctx: &mut NodeContext, _from: NodeIndex, _message: &[u8]) {
        self.received += 1;
        ctx.publish_state(Record::new("count").with("received", self.received).with("sent", self.sent).encode());
    }

    fn on_timer(&mut self, ctx: &mut NodeContext, _tag: u64) {
        let me = ctx.index();
        for to in (0..self.nodes).filter(|&n| n != me) {
            self.sent += 1;
            ctx.send_record(
                to,
                &Record::new(if self.sent.is_multiple_of(2) { "ping" } else { "pong" }).with("seq", self.sent).with("pad", vec![7u8; 64]),
            );
        }
        ctx.set_timer(self.interval, 0);
    }
}

/// `groups` of pinging nodes (name, count) on 50 ms constant links, pinging
/// every `interval`.
fn pingers(seed: u64, groups: &[(&str, usize)], interval: SimDuration) -> SimulationBuilder {
    let total = groups.iter().map(|g| g.1).sum::<usize>() as u32;
    let mut b =
        SimulationBuilder::new(seed).default_link(LinkModel { latency: LatencyModel::constant(SimDuration::from_millis(50)), loss: 0.0 });
    for (name, count) in groups {
        b = b.group(GroupSpec::new(*name, *count, PeerSource::native(move |_| Pinger { nodes: total, interval, sent: 0, received: 0 })));
    }
    b
}

fn at(secs: u64) -> SimTime {
    SimTime::from_secs(secs)
}

fn secs(s: u64) -> SimDuration {
    SimDuration::from_secs(s)
}

fn in_window(f: &Fate, start: SimTime, end: SimTime) -> bool {
    f.sent >= start && f.sent < end
}

#[test]
fn loss_rate_is_binomial_on_the_target_links_only() {
    let rate = 0.3;
    let mut sim = pingers(5, &[("a", 10), ("b", 10)], SimDuration::from_millis(100))
        .fault(
            Fault::new(
                at(2),
                Target::Links { from: NodeSet::group("a"), to: NodeSet::group("b"), symmetric: false },
                FaultKind::Loss { rate },
            )
            .lasting(secs(20)),
        )
        .build()
        .unwrap();
    sim.run_until(at(30)).unwrap();
    let all = fates(&sim);
    let group = |n: NodeIndex| if n < 10 { "a" } else { "b" };
    let targeted: Vec<&Fate> = all.values().filter(|f| in_window(f, at(2), at(22)) && group(f.from) == "a" && group(f.to) == "b").collect();
    let lost = targeted.iter().filter(|f| f.dropped == Some(DropReason::FaultLoss { fault: 0 })).count();
    println!(
        "loss fault: {lost} of {} targeted messages lost ({:.4}, configured {rate})",
        targeted.len(),
        lost as f64 / targeted.len() as f64
    );
    assert!(targeted.len() > 15_000);
    assert!(within_binomial(lost, targeted.len(), rate, 4.0), "{lost} of {} lost", targeted.len());
    // Nothing else is lost: other directions, and any message outside the window.
    let others_lost = all.values().filter(|f| f.dropped.is_some() && !targeted.iter().any(|t| t.msg == f.msg)).count();
    assert_eq!(others_lost, 0);
    assert!(targeted.iter().all(|f| f.dropped.is_some() || f.delivered.is_some()));
}

#[test]
fn added_latency_is_exact_and_ends_with_the_fault() {
    let mut sim = pingers(6, &[("a", 4), ("b", 4)], SimDuration::from_millis(250))
        .fault(
            Fault::new(
                at(2),
                Target::Nodes(NodeSet::nodes([1])),
                FaultKind::Delay { added: SimDuration::from_millis(120), jitter: SimDuration::ZERO },
            )
            .lasting(secs(3)),
        )
        .fault(
            Fault::new(
                at(2),
                Target::Links { from: NodeSet::group("b"), to: NodeSet::group("a"), symmetric: false },
                FaultKind::Delay { added: SimDuration::from_millis(10), jitter: SimDuration::from_millis(30) },
            )
            .lasting(secs(3)),
        )
        .build()
        .unwrap();
    sim.run_until(at(8)).unwrap();
    let mut checked = 0;
    for f in fates(&sim).values().filter(|f| f.sent < at(7)) {
        let latency = f.delivered.expect("no message is lost").since(f.sent);
        let touches_1 = f.from == 1 || f.to == 1;
        let b_to_a = f.from >= 4 && f.to < 4;
        let during = in_window(f, at(2), at(5));
        let mut expected_min = SimDuration::from_millis(50);
        let mut expected_max = expected_min;
        if during && touches_1 {
            expected_min = expected_min + SimDuration::from_millis(120);
            expected_max = expected_max + SimDuration::from_millis(120);
        }
        if during && b_to_a {
            expected_min = expected_min + SimDuration::from_millis(10);
            expected_max = expected_max + SimDuration::from_millis(40);
        }
        assert!(
            latency >= expected_min && latency <= expected_max,
            "message {} ({} -> {}) at {}: latency {latency}",
            f.msg,
            f.from,
            f.to,
            f.sent
        );
        let faulted: BTreeSet<u32> = f.faults.iter().map(|(id, _)| *id).collect();
        let expected: BTreeSet<u32> = [(during && touches_1).then_some(0), (during && b_to_a).then_some(1)].into_iter().flatten().collect();
        assert_eq!(faulted, expected, "message {} carries the ids of exactly the faults that delayed it", f.msg);
        checked += 1;
    }
    assert!(checked > 500);
}

#[test]
fn a_partition_blocks_exactly_the_traffic_across_sides_until_it_heals() {
    let mut sim = pingers(7, &[("east", 6), ("west", 6), ("north", 3)], SimDuration::from_millis(200))
        .fault(
            Fault::new(
                at(3),
                Target::default(),
                FaultKind::Partition { sides: vec![NodeSet::group("east"), NodeSet::group("west")], one_way: false },
            )
            .lasting(secs(4)),
        )
        .build()
        .unwrap();
    sim.run_until(at(10)).unwrap();
    let side = |n: NodeIndex| n / 6; // 0 east, 1 west, 2 north (the rest)
    let (mut across, mut within) = (0, 0);
    for f in fates(&sim).values().filter(|f| f.sent < at(9)) {
        // A message is blocked if it is sent, or would be delivered, while the partition lasts.
        let arrives = f.sent + SimDuration::from_millis(50);
        let cut = side(f.from) != side(f.to) && arrives >= at(3) && f.sent < at(7);
        if cut {
            across += 1;
            assert_eq!(f.dropped, Some(DropReason::Partitioned { fault: 0 }), "message {} across the partition", f.msg);
        } else {
            within += 1;
            assert!(f.delivered.is_some(), "message {} ({} -> {}, sent {}) should pass", f.msg, f.from, f.to, f.sent);
        }
    }
    assert!(across > 1000 && within > 1000, "{across} across, {within} within");
    let events = sim.events().events();
    assert!(events.iter().any(|e| e.time == at(3) && matches!(e.event, Event::FaultStarted { fault: 0, kind: "partition", .. })));
    assert!(events.iter().any(|e| e.time == at(7) && matches!(e.event, Event::FaultEnded { fault: 0 })));
}

#[test]
fn a_one_way_partition_blocks_one_direction() {
    let mut sim = pingers(8, &[("a", 3), ("b", 3)], SimDuration::from_millis(200))
        .fault(Fault::new(
            at(1),
            Target::default(),
            FaultKind::Partition { sides: vec![NodeSet::group("a"), NodeSet::group("b")], one_way: true },
        ))
        .build()
        .unwrap();
    sim.run_until(at(5)).unwrap();
    for f in fates(&sim).values().filter(|f| f.sent >= at(1)) {
        let a_to_b = f.from < 3 && f.to >= 3;
        assert_eq!(f.dropped.is_some(), a_to_b, "message {} {} -> {}", f.msg, f.from, f.to);
    }
    assert_eq!(sim.faults()[0].status, FaultStatus::Active, "a fault without duration lasts until cleared");
}

/// Events that show node `n` acting or being acted on.
fn activity(sim: &Simulation, n: NodeIndex, from: SimTime, to: SimTime) -> Vec<String> {
    sim.events()
        .events()
        .iter()
        .filter(|e| e.time > from && e.time < to)
        .filter_map(|e| match &e.event {
            Event::Sent { from, .. } if *from == n => Some(format!("{} sent", e.time)),
            Event::Delivered { to, .. } if *to == n => Some(format!("{} delivered", e.time)),
            Event::TimerFired { node, .. } if *node == n => Some(format!("{} timer", e.time)),
            _ => None,
        })
        .collect()
}

fn received(sim: &mut Simulation, n: NodeIndex) -> u64 {
    sim.inspect_node(n).unwrap().u64("received").unwrap()
}

#[test]
fn a_crashed_node_does_nothing_until_it_recovers() {
    for recovery in [Recovery::KeepState, Recovery::LoseState] {
        let mut sim = pingers(9, &[("p", 5)], SimDuration::from_millis(100))
            .fault(Fault::new(at(2), Target::Nodes(NodeSet::nodes([3])), FaultKind::Crash { recovery }).lasting(secs(3)))
            .build()
            .unwrap();
        sim.run_until(SimTime(at(2).0 - 1)).unwrap();
        let before = received(&mut sim, 3);
        sim.run_until(at(4)).unwrap();
        assert_eq!(sim.node_status(3), Some(NodeStatus::Down(0)));
        sim.run_until(at(8)).unwrap();
        assert!(activity(&sim, 3, at(2), at(5)).is_empty(), "{recovery:?}: {:?}", activity(&sim, 3, at(2), at(5)));
        let dropped = fates(&sim).values().filter(|f| f.to == 3 && f.dropped == Some(DropReason::DestinationDown { fault: 0 })).count();
        assert!(dropped >= 4 * 29, "messages to the down node are dropped as destination-down: {dropped}");
        assert!(activity(&sim, 3, at(5), at(6)).iter().any(|a| a.ends_with("timer")), "{recovery:?}: timers run again after recovery");
        assert!(activity(&sim, 3, at(5), at(6)).iter().any(|a| a.ends_with("sent")));
        assert_eq!(sim.node_status(3), Some(NodeStatus::Up));
        let after = received(&mut sim, 3);
        let other = received(&mut sim, 2);
        match recovery {
            // Frozen: the count resumes from where it was.
            Recovery::KeepState => assert!(after >= before + 4 * 29, "{before} then {after}"),
            // Restarted: init ran again and the count started from zero at 5 s.
            Recovery::LoseState => {
                assert!(after < other - before, "restarted node counted {after}, others {other}");
                let starts = sim.events().events().iter().filter(|e| matches!(e.event, Event::NodeStarted { node: 3, .. })).count();
                assert_eq!(starts, 2);
            }
        }
        let ups: Vec<bool> = sim
            .events()
            .events()
            .iter()
            .filter_map(|e| match e.event {
                Event::NodeUp { node: 3, state_kept, .. } => Some(state_kept),
                _ => None,
            })
            .collect();
        assert_eq!(ups, vec![recovery == Recovery::KeepState]);
    }
}

/// The ids of the copies faults made.
fn copies_of(all: &std::collections::BTreeMap<u64, Fate>) -> BTreeSet<u64> {
    all.values()
        .flat_map(|f| f.faults.iter().filter_map(|(_, a)| if let FaultAction::Duplicated { copy } = a { Some(*copy) } else { None }))
        .collect()
}

#[test]
fn duplication_and_reordering_act_at_their_rates() {
    let mut sim = pingers(10, &[("p", 10)], SimDuration::from_millis(100))
        .fault(Fault::new(at(1), Target::Nodes(NodeSet::nodes([0])), FaultKind::Duplicate { rate: 0.25 }).lasting(secs(20)))
        .fault(
            Fault::new(at(1), Target::Nodes(NodeSet::nodes([9])), FaultKind::Reorder { rate: 0.5, window: SimDuration::from_millis(300) })
                .lasting(secs(20)),
        )
        .build()
        .unwrap();
    sim.run_until(at(25)).unwrap();
    let all = fates(&sim);
    let copy_ids = copies_of(&all);
    let originals: Vec<&Fate> = all
        .values()
        .filter(|f| !copy_ids.contains(&f.msg) && in_window(f, at(1), at(21)) && (f.from == 0 || f.to == 0) && f.from != 9 && f.to != 9)
        .collect();
    let copies: Vec<u64> = originals
        .iter()
        .flat_map(|f| f.faults.iter().filter_map(|(_, a)| if let FaultAction::Duplicated { copy } = a { Some(*copy) } else { None }))
        .collect();
    let duplicated = copies.len();
    println!("duplicated {duplicated} of {}", originals.len());
    assert!(within_binomial(duplicated, originals.len(), 0.25, 4.0));
    for copy in &copies {
        let c = &all[copy];
        assert!(c.delivered.is_some(), "copies are delivered too");
    }
    // Reordering: held messages are late by at most the window and overtaken.
    let only_9 = |f: &&Fate| (f.from == 9 || f.to == 9) && f.from != 0 && f.to != 0;
    let held: Vec<(&Fate, SimDuration)> = all
        .values()
        .filter(only_9)
        .flat_map(|f| f.faults.iter().filter_map(move |(_, a)| if let FaultAction::Held { by } = a { Some((f, *by)) } else { None }))
        .collect();
    let touching: usize = all.values().filter(only_9).filter(|f| in_window(f, at(1), at(21))).count();
    assert!(within_binomial(held.len(), touching, 0.5, 4.0), "{} held of {touching}", held.len());
    for (f, by) in &held {
        assert!(by.as_nanos() > 0 && *by <= SimDuration::from_millis(300));
        assert_eq!(f.delivered.unwrap().since(f.sent), SimDuration::from_millis(50) + *by);
    }
    let overtaken = held
        .iter()
        .filter(|(f, _)| all.values().any(|g| g.from == f.from && g.to == f.to && g.sent > f.sent && g.delivered < f.delivered))
        .count();
    assert!(overtaken > held.len() / 4, "{overtaken} of {} held messages were overtaken", held.len());
    // Nothing outside the targets was copied or held.
    assert!(all.values().filter(|f| f.from != 0 && f.to != 0 && f.from != 9 && f.to != 9).all(|f| f.faults.is_empty()));
}

#[test]
fn throttling_limits_capacity_while_it_lasts() {
    // Node 2's uplink drops to 8 kbit/s (a byte per millisecond) for 2 s;
    // it sends 4 messages of ~90 bytes every 500 ms.
    let mut sim = pingers(11, &[("p", 5)], SimDuration::from_millis(500))
        .fault(
            Fault::new(
                at(2),
                Target::Nodes(NodeSet::nodes([2])),
                FaultKind::Throttle { uplink: Some(Bandwidth::BitsPerSecond(8_000)), downlink: None },
            )
            .lasting(secs(2)),
        )
        .build()
        .unwrap();
    sim.run_until(at(10)).unwrap();
    for f in fates(&sim).values().filter(|f| f.from == 2 && f.sent < at(9)) {
        let latency = f.delivered.unwrap().since(f.sent);
        if in_window(f, at(2), at(4)) {
            // 8 kbit/s: each message occupies the uplink for size * 1 ms.
            assert!(latency >= SimDuration::from_millis(50 + f.bytes.len() as u64), "throttled message {} took {latency}", f.msg);
            assert!(f.faults.iter().any(|(id, a)| *id == 0 && *a == FaultAction::Throttled));
        } else if f.sent >= at(6) {
            assert_eq!(latency, SimDuration::from_millis(50), "capacity is back after the fault (and its queue drained)");
        }
    }
    for f in fates(&sim).values().filter(|f| f.from != 2 && f.to != 2 && f.sent < at(9)) {
        assert_eq!(f.delivered.unwrap().since(f.sent), SimDuration::from_millis(50));
    }
}

#[test]
fn byzantine_senders_drop_delay_duplicate_and_corrupt_what_they_are_told_to() {
    let mut sim = pingers(12, &[("p", 6)], SimDuration::from_millis(200))
        .fault(Fault::new(
            at(1),
            Target::Nodes(NodeSet::nodes([0])),
            FaultKind::Byzantine { action: ByzantineAction::Drop, kinds: vec!["ping".into()] },
        ))
        .fault(Fault::new(
            at(1),
            Target::Nodes(NodeSet::nodes([1])),
            FaultKind::Byzantine { action: ByzantineAction::Delay { by: SimDuration::from_millis(70) }, kinds: vec![] },
        ))
        .fault(Fault::new(
            at(1),
            Target::Nodes(NodeSet::nodes([2])),
            FaultKind::Byzantine { action: ByzantineAction::Duplicate { copies: 2 }, kinds: vec!["pong".into()] },
        ))
        .fault(Fault::new(
            at(1),
            Target::Nodes(NodeSet::nodes([3])),
            FaultKind::Byzantine { action: ByzantineAction::Corrupt { fields: vec!["seq".into()] }, kinds: vec![] },
        ))
        .build()
        .unwrap();
    sim.run_until(at(5)).unwrap();
    let all = fates(&sim);
    let copy_ids = copies_of(&all);
    assert!(!copy_ids.is_empty());
    let late: Vec<&Fate> = all.values().filter(|f| f.sent >= at(1) && f.sent < at(4)).collect();
    for f in &late {
        let latency = f.delivered.map(|d| d.since(f.sent));
        if copy_ids.contains(&f.msg) {
            assert_eq!((f.from, f.kind().as_str(), latency), (2, "pong", Some(SimDuration::from_millis(50))));
            continue;
        }
        match f.from {
            0 if f.kind() == "ping" => assert_eq!(f.dropped, Some(DropReason::Byzantine { fault: 0 })),
            1 => assert_eq!(latency, Some(SimDuration::from_millis(120))),
            2 if f.kind() == "pong" => {
                assert_eq!(f.faults.iter().filter(|(id, a)| *id == 2 && matches!(a, FaultAction::Duplicated { .. })).count(), 2)
            }
            3 => {
                let Some((_, FaultAction::Corrupted { fields, bytes })) = f.faults.first() else {
                    panic!("message {} not corrupted", f.msg)
                };
                assert_eq!(fields, &vec!["seq".to_string()]);
                let (sent, got) = (Record::decode(&f.bytes).unwrap(), Record::decode(bytes).unwrap());
                assert_ne!(sent.u64("seq"), got.u64("seq"));
                assert_eq!(sent.bytes("pad"), got.bytes("pad"));
                assert_eq!(sent.kind, got.kind);
            }
            _ => {
                assert!(f.faults.is_empty(), "message {} from {} was touched: {:?}", f.msg, f.from, f.faults);
                assert_eq!(latency, Some(SimDuration::from_millis(50)));
            }
        }
    }
}

#[test]
fn faults_can_be_changed_and_cleared_between_steps() {
    let mut sim = pingers(13, &[("p", 8)], SimDuration::from_millis(100)).build().unwrap();
    sim.run_until(at(1)).unwrap();
    let id = sim.add_fault(Fault::new(sim.now(), Target::default(), FaultKind::Loss { rate: 1.0 }).named("blackout")).unwrap();
    sim.run_until(at(2)).unwrap();
    sim.change_fault(id, FaultKind::Loss { rate: 0.0 }).unwrap();
    sim.run_until(at(3)).unwrap();
    sim.change_fault(id, FaultKind::Loss { rate: 1.0 }).unwrap();
    sim.run_until(at(4)).unwrap();
    sim.clear_fault(id).unwrap();
    sim.run_until(at(5)).unwrap();
    for f in fates(&sim).values() {
        let lost = f.dropped.is_some();
        // Faults change between steps: after the events at that instant.
        let expect = (f.sent > at(1) && f.sent <= at(2)) || (f.sent > at(3) && f.sent <= at(4));
        assert_eq!(lost, expect, "message sent at {}", f.sent);
    }
    let rec: &FaultRecord = &sim.faults()[id as usize];
    assert_eq!((rec.status, rec.started_at, rec.ended_at), (FaultStatus::Ended, Some(at(1)), Some(at(4))));
    let changes = sim.events().events().iter().filter(|e| matches!(e.event, Event::FaultChanged { fault: 0 })).count();
    assert_eq!(changes, 2);
    // Errors of the setup, not simulated failures.
    let kind_change = sim.change_fault(id, FaultKind::Duplicate { rate: 0.5 }).unwrap_err().to_string();
    assert!(kind_change.contains("already ended"), "{kind_change}");
    let id2 = sim.add_fault(Fault::new(at(9), Target::default(), FaultKind::Loss { rate: 0.5 })).unwrap();
    let kind_change = sim.change_fault(id2, FaultKind::Duplicate { rate: 0.5 }).unwrap_err().to_string();
    assert!(kind_change.contains("cannot become a duplicate fault"), "{kind_change}");
    assert!(sim.clear_fault(77).unwrap_err().to_string().contains("no fault 77"));
    let bad = sim
        .add_fault(Fault::new(at(9), Target::Nodes(NodeSet::group("nope")), FaultKind::Crash { recovery: Recovery::KeepState }))
        .unwrap_err();
    assert!(bad.to_string().contains("no group is named \"nope\""), "{bad}");
    let bad = sim.add_fault(Fault::new(at(9), Target::default(), FaultKind::Loss { rate: 1.5 }).named("typo")).unwrap_err();
    assert!(bad.to_string().contains("fault 2 (typo): loss fault: `rate` must be a probability"), "{bad}");
    let bad = sim
        .add_fault(Fault::new(
            at(9),
            Target::Links { from: NodeSet::all(), to: NodeSet::all(), symmetric: true },
            FaultKind::Crash { recovery: Recovery::LoseState },
        ))
        .unwrap_err();
    assert!(bad.to_string().contains("target must be a set of nodes"), "{bad}");
}

#[test]
fn random_fractions_are_drawn_from_the_fault_stream() {
    let run = |seed| {
        let mut sim = pingers(seed, &[("p", 100)], secs(1))
            .fault(Fault::new(at(1), Target::Nodes(NodeSet::all().fraction(0.25)), FaultKind::Crash { recovery: Recovery::KeepState }))
            .build()
            .unwrap();
        sim.run_until(at(2)).unwrap();
        sim.faults()[0].nodes.clone()
    };
    let (a, b, c) = (run(1), run(1), run(2));
    assert_eq!(a.len(), 25);
    assert_eq!(a, b, "same seed, same nodes");
    assert_ne!(a, c, "another seed, other nodes");
}

/// A peer that does nothing: churn tests look only at arrivals and departures.
struct Quiet;

impl Peer for Quiet {
    fn init(&mut self, _ctx: &mut NodeContext, _args: &InitArgs) {}
    fn on_message(&mut self, _ctx: &mut NodeContext, _from: NodeIndex, _message: &[u8]) {}
}

/// Session lengths (seconds) of the sessions that began before `began_by`:
/// from the churn's start or a node's return to its next departure.
fn sessions(sim: &Simulation, fault: u32, began_by: SimTime) -> Vec<f64> {
    let start = sim.faults()[fault as usize].started_at.unwrap();
    let mut up_since: std::collections::BTreeMap<NodeIndex, SimTime> =
        sim.faults()[fault as usize].nodes.iter().map(|&n| (n, start)).collect();
    let mut out = Vec::new();
    for e in sim.events().events() {
        match e.event {
            Event::NodeDown { node, fault: f } if f == fault => {
                if let Some(t) = up_since.remove(&node)
                    && t <= began_by
                {
                    out.push(e.time.since(t).as_secs_f64());
                }
            }
            Event::NodeUp { node, fault: f, .. } if f == fault => {
                up_since.insert(node, e.time);
            }
            _ => {}
        }
    }
    out
}

#[test]
fn churn_session_lengths_fit_the_configured_distribution() {
    let distributions = [
        SessionDistribution::Exponential { mean: secs(30) },
        SessionDistribution::Pareto { scale: secs(5), shape: 1.5 },
        SessionDistribution::Weibull { scale: secs(20), shape: 0.6 },
    ];
    for session in distributions {
        let churn = Churn::new(session, SessionDistribution::Exponential { mean: secs(10) });
        let mut sim = SimulationBuilder::new(21)
            .group(GroupSpec::new("p", 300, PeerSource::native(|_| Quiet)))
            .fault(Fault::new(SimTime::ZERO, Target::default(), FaultKind::Churn(churn)).lasting(secs(6000)))
            .build()
            .unwrap();
        sim.run_until(at(6000)).unwrap();
        // Sessions that began in the first 500 s have all ended by 6000 s
        // (with these distributions, but for a chance below 1e-4), so the
        // sample is not biased towards short sessions.
        let mut xs = sessions(&sim, 0, at(500));
        xs.sort_by(f64::total_cmp);
        let n = xs.len();
        let ks = xs
            .iter()
            .enumerate()
            .map(|(i, &x)| (session.cdf(x) - i as f64 / n as f64).abs().max((session.cdf(x) - (i + 1) as f64 / n as f64).abs()))
            .fold(0.0, f64::max);
        let critical = 1.63 / (n as f64).sqrt(); // 1% level
        println!("{session:?}: {n} sessions, KS distance {ks:.4} (1% critical value {critical:.4})");
        assert!(n > 3000, "{n} sessions");
        assert!(ks < critical, "{session:?}: KS distance {ks} over {critical}");
        // When the churn ends, everyone is back.
        assert!((0..300).all(|i| sim.node_status(i) == Some(NodeStatus::Up)));
    }
}

#[test]
fn churn_with_an_arrival_rate_rejoins_nodes_as_a_poisson_process() {
    let churn = Churn {
        // Departures (up / 20 s) outpace arrivals (2 / s) until ~40 nodes are
        // up, so there is always a node to rejoin.
        session: SessionDistribution::Exponential { mean: secs(20) },
        downtime: None,
        arrival_rate: Some(2.0),
        initially_down: 0.5,
        keep_state: false,
    };
    let mut sim = SimulationBuilder::new(22)
        .group(GroupSpec::new("p", 400, PeerSource::native(|_| Quiet)))
        .fault(Fault::new(at(10), Target::Nodes(NodeSet::all().fraction(0.5)), FaultKind::Churn(churn)).lasting(secs(1000)))
        .build()
        .unwrap();
    sim.run_until(at(500)).unwrap();
    let pool: BTreeSet<NodeIndex> = sim.faults()[0].nodes.iter().copied().collect();
    assert_eq!(pool.len(), 200);
    let (mut joins, mut downs) = (0usize, 0usize);
    for e in sim.events().events() {
        match e.event {
            Event::NodeUp { node, .. } => {
                assert!(pool.contains(&node));
                joins += 1;
            }
            Event::NodeDown { node, .. } => {
                assert!(pool.contains(&node), "node {node} is not in the churn's pool");
                downs += 1;
            }
            _ => {}
        }
    }
    // 490 s at 2 joins per second.
    let expected = 2.0 * 490.0;
    println!("{joins} joins (expected {expected}), {downs} departures");
    assert!((joins as f64 - expected).abs() < 4.0 * expected.sqrt(), "{joins} joins");
    let down_now = (0..400).filter(|&i| matches!(sim.node_status(i), Some(NodeStatus::Down(0)))).count();
    assert_eq!(down_now, downs - joins);
}

#[test]
fn a_latency_fault_replaces_the_model_for_nodes_named_by_id() {
    let mut sim = pingers(14, &[("p", 5)], SimDuration::from_millis(100)).build().unwrap();
    let id = sim.node_id(2).unwrap().to_vec();
    let fault = Fault::new(
        at(1),
        Target::Nodes(NodeSet::ids([id])),
        FaultKind::Latency { model: LatencyModel::constant(SimDuration::from_millis(300)) },
    );
    sim.add_fault(fault.lasting(secs(1))).unwrap();
    sim.run_until(at(4)).unwrap();
    for f in fates(&sim).values().filter(|f| f.sent < at(3)) {
        let latency = f.delivered.unwrap().since(f.sent);
        let replaced = in_window(f, at(1), at(2)) && (f.from == 2 || f.to == 2);
        assert_eq!(
            latency,
            SimDuration::from_millis(if replaced { 300 } else { 50 }),
            "message {} {} -> {} at {}",
            f.msg,
            f.from,
            f.to,
            f.sent
        );
        assert_eq!(f.faults.iter().any(|(_, a)| *a == FaultAction::LatencyReplaced), replaced);
    }
    let unknown =
        sim.add_fault(Fault::new(at(5), Target::Nodes(NodeSet::ids([vec![0xAB; 20]])), FaultKind::Loss { rate: 0.1 })).unwrap_err();
    assert!(unknown.to_string().contains("no node has id 0xabab"), "{unknown}");
}
