//! A starting point for your own peer: ping/echo with a membership list.
//!
//! Every node knows the bootstrap contacts the host gives it. Every
//! `interval_ms` (scenario config, default 500) it PINGs one of its known
//! peers, chosen at random; a node that receives a PING learns the sender
//! and answers PONG. The node publishes how many pongs it has received so
//! that tests and `peershare run` can see its state.
//!
//! Replace the behaviour with your protocol. Keep handlers short: each one
//! reacts to one event and returns; use timers instead of waiting.

use peershare_wire::{Record, Value};
use std::cell::RefCell;
use std::collections::BTreeSet;

// Generates Rust bindings for the `peer-node` world in ../wit.
wit_bindgen::generate!({ world: "peer-node", path: "../wit" });

use exports::peershare::sim::peer::Guest;
use peershare::sim::host;
use peershare::sim::types::{InitArgs, Level};

/// Tag of the periodic ping timer.
const PING: u64 = 1;

/// Everything this node remembers between events.
struct State {
    interval_ns: u64,
    known: BTreeSet<u32>,
    pongs: u64,
}

// Each node is its own WebAssembly instance, so a thread-local is exactly
// "this node's state".
thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> R {
    STATE.with(|s| f(s.borrow_mut().as_mut().expect("init runs first")))
}

fn publish(state: &State) {
    let record = Record::new("state").with("known", Value::Nodes(state.known.iter().copied().collect())).with("pongs", state.pongs);
    host::publish_state(&record.encode());
}

struct MyPeer;

impl Guest for MyPeer {
    fn init(args: InitArgs) {
        let config = Record::decode(&args.config).unwrap_or_default();
        let state = State {
            interval_ns: config.u64("interval_ms").unwrap_or(500) * 1_000_000,
            known: args.bootstrap.iter().map(|c| c.index).collect(),
            pongs: 0,
        };
        // println! works: the line shows up in the event log as this node's output.
        println!("node {} starting with {} contacts", args.index, state.known.len());
        host::set_timer(state.interval_ns, PING);
        publish(&state);
        STATE.with(|s| *s.borrow_mut() = Some(state));
    }

    fn on_message(from: u32, message: Vec<u8>) {
        let Ok(message) = Record::decode(&message) else {
            host::log(Level::Warn, &format!("undecodable message from node {from}"));
            return;
        };
        with_state(|state| {
            state.known.insert(from);
            match message.kind.as_str() {
                "PING" => host::send(from, &Record::new("PONG").with("seq", message.u64("seq").unwrap_or(0)).encode()),
                "PONG" => state.pongs += 1,
                other => host::log(Level::Warn, &format!("unexpected {other} from node {from}")),
            }
            publish(state);
        });
    }

    fn on_timer(tag: u64) {
        if tag != PING {
            return;
        }
        with_state(|state| {
            if !state.known.is_empty() {
                let pick = (host::random_u64() % state.known.len() as u64) as usize;
                let peer = *state.known.iter().nth(pick).expect("pick is in range");
                host::send(peer, &Record::new("PING").with("seq", host::now()).encode());
            }
            host::set_timer(state.interval_ns, PING);
        });
    }

    fn on_request(op: u64, request: Vec<u8>) {
        let kind = Record::decode(&request).map(|r| r.kind).unwrap_or_default();
        host::complete(op, false, &Record::new("error").with("reason", format!("unsupported request {kind:?}")).encode());
    }
}

export!(MyPeer);
