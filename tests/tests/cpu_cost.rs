//! Charging fuel as virtual CPU time: slow handlers are slow in simulated
//! time, deterministically.

use peershare::events::Event;
use peershare::prelude::*;
use peershare_e2e::trace_bytes;

const LATENCY: SimDuration = SimDuration::from_millis(10);

/// Two template peers pinging each other over constant 10 ms links.
fn pair(cpu_ns_per_fuel: Option<f64>) -> Simulation {
    let mut group = GroupSpec::new("pair", 2, PeerSource::Wasm(Plugin::builtin("template").unwrap()));
    group.bootstrap = Bootstrap::Previous { count: 1 };
    group.cpu_ns_per_fuel = cpu_ns_per_fuel;
    let mut sim = SimulationBuilder::new(5)
        .group(group)
        .default_link(LinkModel { latency: LatencyModel::constant(LATENCY), loss: 0.0 })
        .build()
        .unwrap();
    sim.run_for(SimDuration::from_secs(3)).unwrap();
    sim
}

/// (time a PING was sent, time its PONG was delivered back), per ping.
fn round_trips(sim: &Simulation) -> Vec<(SimTime, SimTime)> {
    let events = sim.events().events();
    let kind = |bytes: &[u8]| Record::decode(bytes).unwrap().kind;
    let mut pings = Vec::new();
    let mut trips = Vec::new();
    let mut pong_ids = std::collections::HashMap::new();
    for e in events {
        match &e.event {
            Event::Sent { msg, from, bytes, .. } if kind(bytes) == "PING" => pings.push((*from, e.time)),
            Event::Sent { msg, to, bytes, .. } if kind(bytes) == "PONG" => {
                pong_ids.insert(*msg, *to);
            }
            Event::Delivered { msg, to, .. } if pong_ids.contains_key(msg) => {
                if let Some(i) = pings.iter().position(|(from, _)| from == to) {
                    let (_, sent) = pings.remove(i);
                    trips.push((sent, e.time));
                }
            }
            _ => {}
        }
    }
    trips
}

#[test]
fn without_a_cpu_cost_a_round_trip_is_two_latencies() {
    let trips = round_trips(&pair(None));
    assert!(trips.len() >= 8);
    for (sent, back) in trips {
        assert_eq!(back - sent, SimDuration(2 * LATENCY.as_nanos()));
    }
}

#[test]
fn with_a_cpu_cost_handlers_take_virtual_time() {
    let cost = 100.0; // ns per unit of fuel: handlers take milliseconds
    let sim = pair(Some(cost));
    let max_fuel = sim.summary().max_fuel_per_call;
    assert!(max_fuel > 0);
    let trips = round_trips(&sim);
    assert!(trips.len() >= 4);
    for (sent, back) in trips {
        let extra = (back - sent).as_nanos() - 2 * LATENCY.as_nanos();
        // The pinger's timer handler and the responder's message handler
        // each delay what they send by their fuel times the cost.
        assert!(extra > 0, "a handler's work must take virtual time");
        assert!(extra as f64 <= 2.0 * max_fuel as f64 * cost + 2.0, "extra {extra} ns exceeds two handlers' worth");
    }
}

#[test]
fn fuel_is_counted_per_node_and_deterministic() {
    let a = pair(Some(1.0));
    let b = pair(Some(1.0));
    assert_eq!(trace_bytes(&a), trace_bytes(&b));
    for node in 0..2 {
        let fuel = a.node_fuel(node).unwrap();
        assert!(fuel.calls > 5 && fuel.total >= fuel.max && fuel.max > 0, "{fuel:?}");
        assert_eq!(Some(fuel), b.node_fuel(node));
    }
}

#[test]
fn a_busy_node_handles_its_events_one_after_another() {
    let cost = 1_000.0;
    let sim = pair(Some(cost));
    // Handler starts at a node never overlap: each starts after the
    // previous one's fuel-times-cost has elapsed.
    for node in 0..2u32 {
        let starts: Vec<SimTime> = sim
            .events()
            .events()
            .iter()
            .filter(|e| {
                matches!(&e.event, Event::Delivered { to, .. } if *to == node)
                    || matches!(&e.event, Event::TimerFired { node: n, .. } if *n == node)
            })
            .map(|e| e.time)
            .collect();
        assert!(starts.len() >= 3);
        for w in starts.windows(2) {
            assert!(w[1] > w[0], "two handlers of node {node} started at the same instant {:?}", w[0]);
        }
    }
}
