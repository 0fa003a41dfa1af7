//! The PBFT plugin in a network: the normal case's quadratic message
//! pattern, view changes on a silent or equivocating primary, safety and
//! liveness with f faulty replicas, and the referee's verdict with f + 1.

use peershare::events::Event;
use peershare::prelude::*;
use peershare::referee::Property;
use std::collections::BTreeMap;

/// `n` correct replicas, a request every 20 ms at random ones from 0.5 s
/// to a second before the end; `extra` is appended to the scenario.
fn replicas(n: usize, seconds: u64, extra: &str) -> String {
    format!(
        "seed = 1\nduration = \"{seconds}s\"\nreferee = \"watch\"\n[network]\nlatency = {{ model = \"uniform\", min = \"2ms\", max = \"10ms\" }}\n\n[[groups]]\nname = \"replicas\"\ncount = {n}\nplugin = \"pbft\"\nbootstrap = {{ strategy = \"clusters\", size = {n} }}\n\n[[workload]]\nop = \"propose\"\nevery = \"20ms\"\nstart = \"500ms\"\nend = \"{}s\"\n{extra}",
        seconds - 1
    )
}

fn run(text: &str) -> Simulation {
    let scenario = Scenario::parse(text, "pbft.toml", ".".as_ref()).unwrap();
    let mut sim = scenario.builder().unwrap().build().unwrap();
    sim.run_until(scenario.end()).unwrap();
    sim
}

fn example(name: &str) -> Simulation {
    peershare_e2e::run(&peershare_e2e::example(name))
}

/// What each node reported committing, by sequence number.
fn committed(sim: &Simulation) -> BTreeMap<NodeIndex, BTreeMap<u64, Vec<u8>>> {
    let mut logs: BTreeMap<NodeIndex, BTreeMap<u64, Vec<u8>>> = BTreeMap::new();
    for e in sim.events().events() {
        if let Event::Committed { node, index, value } = &e.event {
            logs.entry(*node).or_default().insert(*index, value.to_vec());
        }
    }
    logs
}

fn view_of(sim: &mut Simulation, node: NodeIndex) -> u64 {
    sim.inspect_node(node).and_then(|s| s.u64("view")).unwrap_or(0)
}

#[test]
fn every_request_commits_with_the_quadratic_normal_case() {
    let sim = run(&replicas(4, 4, ""));
    let s = sim.summary();
    let requests = s.operations["propose"].issued;
    assert_eq!(s.operations["propose"].succeeded, requests, "{:?}", s.operations["propose"]);
    assert!(sim.violations().is_empty());
    // n = 4: the request to 3 others, 3 pre-prepares, 3 x 3 prepares (the
    // primary prepares nothing), 4 x 3 commits, 3 replies to the client.
    let sent = |kind: &str| s.messages.by_kind[kind].sent;
    assert_eq!(
        (sent("REQUEST"), sent("PRE_PREPARE"), sent("PREPARE"), sent("COMMIT")),
        (3 * requests, 3 * requests, 9 * requests, 12 * requests)
    );
    // Every replica executed every request, in one order.
    let logs = committed(&sim);
    assert_eq!(logs.len(), 4);
    assert!(logs.values().all(|l| l == &logs[&0] && l.len() as u64 == requests));
    assert!(!s.messages.by_kind.contains_key("VIEW_CHANGE"), "no view change without a fault");
}

#[test]
fn a_silent_primary_is_replaced_and_requests_commit_again() {
    let mut sim = example("pbft.toml");
    assert!(sim.violations().is_empty(), "{}", sim.violations()[0]);
    let down: Vec<NodeIndex> = (0..4).filter(|&n| matches!(sim.node_status(n), Some(NodeStatus::Down(_)))).collect();
    assert_eq!(down.len(), 1);
    let live: Vec<NodeIndex> = (0..4).filter(|n| !down.contains(n)).collect();
    // The live replicas moved to a view whose primary is up.
    let views: Vec<u64> = live.iter().map(|&n| view_of(&mut sim, n)).collect();
    assert!(views.iter().all(|&v| v == views[0] && v >= 1 && (v % 4) as NodeIndex != down[0]), "{views:?}");
    // Requests issued at live replicas after the view change commit.
    let late_ok = sim
        .operations()
        .iter()
        .filter(|o| live.contains(&o.node) && o.issued_at > SimTime::from_secs(4) && o.issued_at < SimTime::from_secs(6))
        .map(|o| o.outcome.as_ref().is_some_and(|x| x.ok))
        .collect::<Vec<_>>();
    assert!(
        !late_ok.is_empty() && late_ok.iter().all(|ok| *ok),
        "{} of {} committed",
        late_ok.iter().filter(|o| **o).count(),
        late_ok.len()
    );
    let logs = committed(&sim);
    let longest = live.iter().map(|n| logs[n].len()).max().unwrap();
    assert!(live.iter().all(|n| logs[n].len() + 2 >= longest), "the live replicas agree up to the last few");
}

#[test]
fn f_crashed_backups_do_not_stop_seven_replicas() {
    // n = 7, f = 2: two backups silent from the start of the load.
    let extra = "\n[[faults]]\nat = \"400ms\"\ntarget = { role = \"follower\", count = 2 }\ncrash = { recovery = \"keep-state\" }\n";
    let sim = run(&replicas(7, 4, extra));
    let s = sim.summary();
    let at_live = sim.operations().iter().filter(|o| !matches!(sim.node_status(o.node), Some(NodeStatus::Down(_)))).count();
    assert_eq!(s.operations["propose"].succeeded as usize, at_live, "every request at a live replica commits");
    assert!(sim.violations().is_empty());
    assert!(!s.messages.by_kind.contains_key("VIEW_CHANGE"), "the primary is fine: no view change");
}

#[test]
fn an_equivocating_primary_cannot_break_safety_and_is_voted_out() {
    let mut sim = example("pbft-equivocate.toml");
    assert!(sim.violations().is_empty(), "{}", sim.violations()[0]);
    let views: Vec<u64> = (1..4).map(|n| view_of(&mut sim, n)).collect();
    assert!(views.iter().all(|&v| v % 4 != 0), "the correct replicas left the equivocator's views: {views:?}");
    let s = sim.summary();
    assert!(s.operations["propose"].succeeded * 10 > s.operations["propose"].issued * 7, "{:?}", s.operations["propose"]);
    // The correct replicas committed one sequence between them.
    let logs = committed(&sim);
    let mut agreed: BTreeMap<u64, &Vec<u8>> = BTreeMap::new();
    for log in logs.values() {
        for (seq, v) in log {
            assert_eq!(*agreed.entry(*seq).or_insert(v), v, "two requests at {seq}");
        }
    }
    assert!(agreed.len() > 100);
}

#[test]
fn a_liar_alone_changes_nothing() {
    let text = replicas(4, 4, "").replace(
        "[[groups]]\nname = \"replicas\"\ncount = 4\nplugin = \"pbft\"\nbootstrap = { strategy = \"clusters\", size = 4 }",
        "[[groups]]\nname = \"replicas\"\ncount = 3\nplugin = \"pbft\"\nconfig = { replicas = 4 }\n\n[[groups]]\nname = \"liar\"\ncount = 1\nplugin = \"pbft-liar\"\nconfig = { replicas = 4 }",
    );
    let sim = run(&text);
    let s = sim.summary();
    assert_eq!(s.operations["propose"].succeeded, s.operations["propose"].issued);
    assert!(sim.violations().is_empty());
}

#[test]
fn with_f_plus_one_byzantine_replicas_the_referee_sees_two_correct_ones_disagree() {
    let sim = example("pbft-byzantine.toml");
    let v = sim.violations().first().expect("f + 1 Byzantine replicas break safety");
    assert_eq!(v.property, Property::StateMachineSafety, "{v}");
    let mut nodes = v.nodes.clone();
    nodes.sort_unstable();
    assert_eq!(nodes, vec![2, 3], "the two correct replicas");
    let logs = committed(&sim);
    let index = v.index.unwrap();
    assert_ne!(logs[&2][&index], logs[&3][&index]);
}

#[test]
fn a_replica_that_commits_on_too_few_commits_is_caught_by_the_quorum_audit() {
    // Three correct replicas and one that commits on 2f = 2 matching
    // commits instead of 2f + 1 = 3, and reports it.
    let text = replicas(4, 3, "").replace(
        "[[groups]]\nname = \"replicas\"\ncount = 4\nplugin = \"pbft\"\nbootstrap = { strategy = \"clusters\", size = 4 }",
        "[[groups]]\nname = \"replicas\"\ncount = 3\nplugin = \"pbft\"\nconfig = { replicas = 4 }\n\n[[groups]]\nname = \"weak\"\ncount = 1\nplugin = \"pbft-weak-quorum\"\nconfig = { replicas = 4 }",
    );
    let sim = run(&text);
    let audits: Vec<_> = sim.violations().iter().filter(|v| v.property == Property::QuorumCertificate).collect();
    let v = audits.first().expect("the weak replica commits on two commits at least once");
    assert_eq!(v.nodes, [3], "{v}");
    assert!(v.detail.contains("2 commits") && v.detail.contains("needs 2 prepares and 3 commits"), "{v}");
    assert!(v.since <= v.at);
    // The correct replicas always held a certificate; nothing else broke.
    assert!(sim.violations().iter().all(|v| v.property == Property::QuorumCertificate && v.nodes == [3]), "{:?}", sim.violations());
    // The audit is not about luck: the weak replica committed early many times.
    assert!(audits.len() > 5, "{} early commits", audits.len());
}
