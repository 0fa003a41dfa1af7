//! The protocol capture: every message as sent, with its fate, fault,
//! operation and hop; filters checked against a brute-force scan of the
//! event log.

use peershare::capture::{Comparison, Fate, FieldCondition, Filter};
use peershare::events::{DropReason, Event};
use peershare::prelude::*;
use peershare_e2e::kademlia::{key, network};
use peershare_e2e::messages::{Fate as LogFate, fates};
use std::collections::BTreeMap;

/// A small Kademlia network with lookups, a loss fault and a partition.
fn traced_run() -> Simulation {
    let (mut b, joined) = network(60, 41, Record::new("config").with("timeout_ms", 500u64));
    for i in 0..40u64 {
        b = b.operation(joined + SimDuration::from_millis(100 * i), (i * 7 % 60) as NodeIndex, Operation::Lookup { key: key(41, i, 20) });
    }
    let mut sim = b
        .capture(true)
        .fault(Fault::new(joined, Target::Nodes(NodeSet::nodes(0..10)), FaultKind::Loss { rate: 0.2 }).lasting(SimDuration::from_secs(3)))
        .fault(
            Fault::new(
                joined + SimDuration::from_secs(2),
                Target::default(),
                FaultKind::Partition { sides: vec![NodeSet::nodes(30..60)], one_way: true },
            )
            .lasting(SimDuration::from_secs(1)),
        )
        .build()
        .unwrap();
    sim.run_until(joined + SimDuration::from_secs(6)).unwrap();
    sim
}

fn fate_of(f: &LogFate) -> Fate {
    match (&f.dropped, f.delivered) {
        (Some(DropReason::Lost), _) => Fate::Lost,
        (Some(DropReason::FaultLoss { .. }), _) => Fate::FaultLoss,
        (Some(DropReason::Partitioned { .. }), _) => Fate::Partitioned,
        (Some(DropReason::DestinationNotStarted), _) => Fate::DestinationNotStarted,
        (Some(other), _) => panic!("unexpected drop {other:?}"),
        (None, Some(_)) => Fate::Delivered,
        (None, None) => Fate::InFlight,
    }
}

#[test]
fn captured_messages_match_what_was_sent_field_for_field() {
    let sim = traced_run();
    let capture = sim.capture().unwrap();
    let log = fates(&sim);
    assert_eq!(capture.len(), log.len());
    assert!(capture.len() > 5000, "{} messages", capture.len());
    for (id, f) in &log {
        let m = capture.message(*id);
        assert_eq!((m.from(), m.to(), m.sent()), (f.from, f.to, f.sent));
        assert_eq!(m.bytes(), &f.bytes[..], "message {id}");
        assert_eq!(m.size() as usize, f.bytes.len());
        assert_eq!(m.kind(), f.kind());
        assert_eq!(m.fate(), fate_of(f), "message {id}");
        let ended = f.delivered.or_else(|| f.dropped.as_ref().map(|_| m.ended().unwrap()));
        assert_eq!(m.ended(), ended);
        let fault = f.dropped.as_ref().and_then(DropReason::fault).or(f.faults.last().map(|(id, _)| *id));
        assert_eq!(m.fault(), fault, "message {id}");
        let record = Record::decode(&f.bytes).unwrap();
        let fields = m.fields_json();
        for (name, _) in &record.fields {
            assert!(fields.get(name).is_some(), "field {name} of message {id}");
        }
    }
    // Per-kind statistics agree with the run's own counters.
    let all: Vec<u64> = (0..capture.len() as u64).collect();
    let by_kind = capture.kind_summary(&all);
    for (kind, stats) in &sim.summary().messages.by_kind {
        assert_eq!(
            (by_kind[kind].messages, by_kind[kind].delivered, by_kind[kind].bytes),
            (stats.sent, stats.delivered, stats.bytes_sent),
            "{kind}"
        );
    }
    let by_node = capture.node_summary(&all);
    assert_eq!(by_node.values().map(|n| n.received).sum::<u64>(), sim.summary().messages.delivered);
}

#[test]
fn a_lookup_s_message_chain_is_its_operation() {
    let sim = traced_run();
    let capture = sim.capture().unwrap();
    for rec in sim.operations().iter().take(10) {
        let chain = capture.select(&Filter { op: Some(rec.op), ..Filter::default() });
        let queries: Vec<NodeIndex> = sim
            .events()
            .events()
            .iter()
            .filter_map(|e| match &e.event {
                Event::Trace { op, step, .. } if *op == rec.op => {
                    let step = Record::decode(step).unwrap();
                    (step.kind == "query").then(|| step.node("to").unwrap())
                }
                _ => None,
            })
            .collect();
        let asked: Vec<NodeIndex> =
            chain.iter().map(|&m| capture.message(m)).filter(|m| m.from() == rec.node && m.kind() == "FIND_NODE").map(|m| m.to()).collect();
        let mut sorted_queries = queries.clone();
        sorted_queries.sort_unstable();
        let mut sorted_asked = asked.clone();
        sorted_asked.sort_unstable();
        assert_eq!(sorted_asked, sorted_queries, "operation {}: its FIND_NODE messages are its trace's queries", rec.op);
        // Every answer to those queries belongs to the operation, one hop further.
        for &m in &chain {
            let m = capture.message(m);
            if m.kind() == "NODES" {
                assert_eq!(m.to(), rec.node);
                assert!(m.hop() >= 2, "{m:?} at hop {}", m.hop());
            }
            if m.kind() == "FIND_NODE" && m.from() == rec.node {
                assert_eq!(m.hop() % 2, 1, "queries are at odd hops");
            }
        }
    }
    // Maintenance traffic (joins) belongs to no operation.
    assert!(capture.messages().any(|m| m.op().is_none()));
}

/// A tiny deterministic generator for random filters.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn every_filter_returns_exactly_the_matching_messages() {
    let sim = traced_run();
    let capture = sim.capture().unwrap();
    let log = fates(&sim);
    let end = sim.now().as_nanos();
    let kinds = ["PING", "PONG", "FIND_NODE", "NODES", "STORE"];
    let fate_pool = [Fate::Delivered, Fate::Lost, Fate::FaultLoss, Fate::Partitioned, Fate::InFlight];
    let mut rng = Xorshift(0x9E37_79B9_7F4A_7C15);
    let mut nonempty = 0;
    for round in 0..300 {
        let mut f = Filter::default();
        let pick = |rng: &mut Xorshift, n: u64| (0..1 + rng.next(3)).map(|_| rng.next(n) as NodeIndex).collect::<Vec<_>>();
        if rng.next(2) == 0 {
            f.since = Some(SimTime(rng.next(end)));
        }
        if rng.next(2) == 0 {
            f.until = Some(SimTime(rng.next(end)));
        }
        match rng.next(4) {
            0 => f.nodes = pick(&mut rng, 60),
            1 => f.from = pick(&mut rng, 60),
            2 => f.to = pick(&mut rng, 60),
            _ => {}
        }
        if rng.next(2) == 0 {
            f.kinds = (0..1 + rng.next(2)).map(|_| kinds[rng.next(5) as usize].to_string()).collect();
        }
        if rng.next(3) == 0 {
            f.fates = (0..1 + rng.next(2)).map(|_| fate_pool[rng.next(5) as usize]).collect();
        }
        if rng.next(4) == 0 {
            f.fault = Some(rng.next(2) as u32);
        }
        if rng.next(3) == 0 {
            let cmp = [Comparison::Eq, Comparison::Ge, Comparison::Lt][rng.next(3) as usize];
            f.fields.push(FieldCondition { field: "rpc".into(), comparison: cmp, value: rng.next(40).to_string() });
        }
        if round % 10 == 0 {
            f.search = Some(Filter::parse_search("\"target\":\"0x[0-7]").unwrap());
        }
        // Brute force over the event log, with the test's own reading of each condition.
        let expected: Vec<u64> = log
            .values()
            .filter(|m| f.since.is_none_or(|t| m.sent >= t) && f.until.is_none_or(|t| m.sent < t))
            .filter(|m| f.nodes.is_empty() || f.nodes.contains(&m.from) || f.nodes.contains(&m.to))
            .filter(|m| (f.from.is_empty() || f.from.contains(&m.from)) && (f.to.is_empty() || f.to.contains(&m.to)))
            .filter(|m| f.kinds.is_empty() || f.kinds.contains(&m.kind()))
            .filter(|m| f.fates.is_empty() || f.fates.contains(&fate_of(m)))
            .filter(|m| {
                let fault = m.dropped.as_ref().and_then(DropReason::fault).or(m.faults.last().map(|(id, _)| *id));
                f.fault.is_none_or(|x| fault == Some(x))
            })
            .filter(|m| {
                let record = Record::decode(&m.bytes).unwrap();
                f.fields.iter().all(|c| {
                    let want: u64 = c.value.parse().unwrap();
                    match (record.u64("rpc"), c.comparison) {
                        (Some(rpc), Comparison::Eq) => rpc == want,
                        (Some(rpc), Comparison::Ge) => rpc >= want,
                        (Some(rpc), Comparison::Lt) => rpc < want,
                        _ => false,
                    }
                })
            })
            .filter(|m| {
                f.search.is_none() || {
                    let record = Record::decode(&m.bytes).unwrap();
                    record.id("target").is_some_and(|t| t[0] < 0x80)
                }
            })
            .map(|m| m.msg)
            .collect();
        let got = capture.select(&f);
        assert_eq!(got, expected, "filter {round}: {f:?}");
        if !got.is_empty() {
            nonempty += 1;
        }
    }
    assert!(nonempty > 100, "only {nonempty} filters selected anything");
}

#[test]
fn field_conditions_parse_and_compare() {
    let c = FieldCondition::parse("round>=2").unwrap();
    assert_eq!((c.field.as_str(), c.comparison, c.value.as_str()), ("round", Comparison::Ge, "2"));
    assert_eq!(FieldCondition::parse("kind!=PING").unwrap().comparison, Comparison::Ne);
    assert_eq!(FieldCondition::parse("nodes~17").unwrap().comparison, Comparison::Contains);
    assert!(FieldCondition::parse("nothing").is_err());
    assert!(FieldCondition::parse("=3").is_err());
    let fields = serde_json::json!({ "round": 3, "nodes": [4, 17], "key": "0xabcd", "note": "hello world" });
    assert!(FieldCondition::parse("round>=2").unwrap().holds(&fields));
    assert!(!FieldCondition::parse("round<3").unwrap().holds(&fields));
    assert!(FieldCondition::parse("nodes~17").unwrap().holds(&fields));
    assert!(FieldCondition::parse("key=0xABCD").unwrap().holds(&fields));
    assert!(FieldCondition::parse("note~world").unwrap().holds(&fields));
    assert!(FieldCondition::parse("absent!=1").unwrap().holds(&fields));
    assert!(!FieldCondition::parse("absent=1").unwrap().holds(&fields));
    // The record path (used by Capture::select) agrees with the JSON path.
    let record = Record::new("m")
        .with("round", 3u64)
        .with("nodes", Value::Nodes(vec![4, 17]))
        .with("key", Value::Id(vec![0xab, 0xcd]))
        .with("note", "hello world");
    let json = peershare::events::record_json(&record.encode())["fields"].clone();
    for text in [
        "round>=2",
        "round<3",
        "round=3",
        "round!=3",
        "nodes~17",
        "nodes~5",
        "key=0xABCD",
        "key~abc",
        "note~world",
        "note=hello",
        "absent!=1",
        "absent=1",
        "round>x",
    ] {
        let c = FieldCondition::parse(text).unwrap();
        assert_eq!(c.holds_record(&record), c.holds(&json), "{text}");
    }
    assert!(Filter::parse_fate("delivered").is_ok());
    assert!(Filter::parse_fate("vanished").unwrap_err().to_string().contains("expected one of in-flight, delivered"));
}

#[test]
fn shiviz_logs_parse_with_their_own_expression_and_respect_happened_before() {
    let sim = traced_run();
    let capture = sim.capture().unwrap();
    let op = sim.operations()[3].op;
    let selection = capture.select(&Filter { op: Some(op), ..Filter::default() });
    let mut log = Vec::new();
    capture.write_shiviz(&selection, &mut log).unwrap();
    let text = String::from_utf8(log).unwrap();
    let mut lines = text.lines();
    let regex = regex::Regex::new(&format!("^{}$", lines.next().unwrap())).unwrap();
    assert_eq!(lines.next(), Some(""), "no multiple-executions delimiter");
    let mut own: BTreeMap<String, u64> = BTreeMap::new();
    let mut at_send: BTreeMap<u64, BTreeMap<String, u64>> = BTreeMap::new();
    let mut events = 0;
    for line in lines {
        let caps = regex.captures(line).unwrap_or_else(|| panic!("ShiViz cannot parse {line:?}"));
        let host = caps["host"].to_string();
        let clock: BTreeMap<String, u64> = serde_json::from_str(&caps["clock"]).unwrap();
        // The host's own entry counts its events from 1, one by one.
        let next = own.entry(host.clone()).or_default();
        *next += 1;
        assert_eq!(clock.get(&host).copied(), Some(*next), "{line}");
        let event = &caps["event"];
        let id: u64 = event.split('#').nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
        if event.starts_with("send") {
            at_send.insert(id, clock);
        } else {
            let sent = &at_send[&id];
            for (h, t) in sent {
                assert!(clock.get(h).copied().unwrap_or(0) >= *t, "receive of #{id} does not follow its send: {line}");
            }
        }
        events += 1;
    }
    let delivered = selection.iter().filter(|&&m| capture.message(m).fate() == Fate::Delivered).count();
    assert_eq!(events, selection.len() + delivered);
}

#[test]
fn chrome_traces_pair_every_send_with_its_delivery() {
    let sim = traced_run();
    let capture = sim.capture().unwrap();
    let selection = capture.select(&Filter { until: Some(SimTime::from_secs(6)), ..Filter::default() });
    let mut out = Vec::new();
    capture.write_chrome_trace(&selection, &mut out).unwrap();
    let trace: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let events = trace["traceEvents"].as_array().unwrap();
    let mut starts = BTreeMap::new();
    let mut finishes = BTreeMap::new();
    let mut sends = 0;
    for e in events {
        let ph = e["ph"].as_str().unwrap();
        assert!(e["pid"].is_number() && e["tid"].is_number(), "{e}");
        match ph {
            "X" => {
                assert!(e["ts"].is_number() && e["dur"].is_number());
                if e["name"].as_str().unwrap().starts_with("send ") {
                    sends += 1;
                }
            }
            "s" => {
                starts.insert(e["id"].as_u64().unwrap(), e["ts"].as_f64().unwrap());
            }
            "f" => {
                finishes.insert(e["id"].as_u64().unwrap(), e["ts"].as_f64().unwrap());
            }
            "M" | "i" => {}
            other => panic!("unexpected phase {other}"),
        }
    }
    assert_eq!(sends, selection.len());
    assert_eq!(starts.keys().collect::<Vec<_>>(), finishes.keys().collect::<Vec<_>>(), "every flow has both ends");
    assert!(starts.iter().all(|(id, t)| finishes[id] >= *t));
    let delivered = selection.iter().filter(|&&m| capture.message(m).fate() == Fate::Delivered).count();
    assert_eq!(starts.len(), delivered);
}

#[test]
fn exports_of_one_seed_are_byte_identical() {
    let export = || {
        let sim = traced_run();
        let capture = sim.capture().unwrap();
        let all: Vec<u64> = (0..capture.len() as u64).collect();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        capture.write_shiviz(&all, &mut a).unwrap();
        capture.write_chrome_trace(&all, &mut b).unwrap();
        (a, b)
    };
    assert!(export() == export());
}
