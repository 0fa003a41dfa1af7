//! Flooding broadcast with a time-to-live.
//!
//! Each node starts with the bootstrap contacts the host gives it and says
//! HELLO to them, so that neighbour links become symmetric. A `broadcast`
//! request floods a FLOOD message: every node that sees a message for the
//! first time delivers it and forwards it to all its neighbours but the one
//! it came from, while the TTL lasts. Every `ping_interval`, a node PINGs one
//! random neighbour, which answers PONG.
//!
//! Config (scenario `[groups.config]`): `ttl` (u64, default 8),
//! `ping_interval_ms` (u64, default 1000; 0 turns pings off).

use peershare_wire::Record;
use std::cell::RefCell;
use std::collections::BTreeSet;

wit_bindgen::generate!({ world: "peer-node", path: "../../wit" });

use exports::peershare::sim::peer::Guest;
use peershare::sim::host;
use peershare::sim::types::InitArgs;

const PING_TIMER: u64 = 1;

struct Node {
    index: u32,
    ttl: u64,
    ping_interval_ns: u64,
    neighbours: BTreeSet<u32>,
    seen: BTreeSet<u64>,
    next_seq: u64,
    delivered: u64,
    pings_answered: u64,
}

thread_local! {
    static NODE: RefCell<Option<Node>> = const { RefCell::new(None) };
}

fn with_node<R>(f: impl FnOnce(&mut Node) -> R) -> R {
    NODE.with(|n| f(n.borrow_mut().as_mut().expect("init runs before any other handler")))
}

impl Node {
    fn publish(&self) {
        let state = Record::new("flood-state")
            .with("neighbours", peershare_wire::Value::Nodes(self.neighbours.iter().copied().collect()))
            .with("delivered", self.delivered)
            .with("pings_answered", self.pings_answered);
        host::publish_state(&state.encode());
    }

    fn forward(&self, except: Option<u32>, message: &Record) {
        let bytes = message.encode();
        for &n in &self.neighbours {
            if Some(n) != except {
                host::send(n, &bytes);
            }
        }
    }
}

struct Flood;

impl Guest for Flood {
    fn init(args: InitArgs) {
        let config = Record::decode(&args.config).unwrap_or_default();
        let node = Node {
            index: args.index,
            ttl: config.u64("ttl").unwrap_or(8),
            ping_interval_ns: config.u64("ping_interval_ms").unwrap_or(1000) * 1_000_000,
            neighbours: args.bootstrap.iter().map(|c| c.index).collect(),
            seen: BTreeSet::new(),
            next_seq: 0,
            delivered: 0,
            pings_answered: 0,
        };
        let hello = Record::new("HELLO").encode();
        for &n in &node.neighbours {
            host::send(n, &hello);
        }
        if node.ping_interval_ns > 0 {
            host::set_timer(node.ping_interval_ns, PING_TIMER);
        }
        node.publish();
        NODE.with(|n| *n.borrow_mut() = Some(node));
    }

    fn on_message(from: u32, message: Vec<u8>) {
        let Ok(msg) = Record::decode(&message) else {
            host::log(peershare::sim::types::Level::Warn, &format!("undecodable message from n{from}"));
            return;
        };
        with_node(|node| match msg.kind.as_str() {
            "HELLO" => {
                if node.neighbours.insert(from) {
                    node.publish();
                }
            }
            "PING" => {
                node.pings_answered += 1;
                host::send(from, &Record::new("PONG").with("seq", msg.u64("seq").unwrap_or(0)).encode());
            }
            "PONG" => {}
            "FLOOD" => {
                let id = msg.u64("id").unwrap_or(0);
                if !node.seen.insert(id) {
                    return;
                }
                node.delivered += 1;
                node.publish();
                let ttl = msg.u64("ttl").unwrap_or(0);
                if ttl > 0 {
                    let forwarded = Record::new("FLOOD")
                        .with("id", id)
                        .with("origin", peershare_wire::Value::Node(msg.node("origin").unwrap_or(from)))
                        .with("ttl", ttl - 1)
                        .with("hops", msg.u64("hops").unwrap_or(0) + 1)
                        .with("payload", msg.get("payload").cloned().unwrap_or(peershare_wire::Value::Bytes(Vec::new())));
                    node.forward(Some(from), &forwarded);
                }
            }
            other => host::log(peershare::sim::types::Level::Warn, &format!("unknown message kind {other:?} from n{from}")),
        });
    }

    fn on_timer(tag: u64) {
        if tag != PING_TIMER {
            return;
        }
        with_node(|node| {
            if !node.neighbours.is_empty() {
                let pick = (host::random_u64() % node.neighbours.len() as u64) as usize;
                let target = *node.neighbours.iter().nth(pick).expect("pick is in range");
                host::send(target, &Record::new("PING").with("seq", host::now()).encode());
            }
            host::set_timer(node.ping_interval_ns, PING_TIMER);
        });
    }

    fn on_request(op: u64, request: Vec<u8>) {
        let request = Record::decode(&request).unwrap_or_default();
        if request.kind != "broadcast" {
            host::complete(op, false, &Record::new("error").with("reason", format!("unknown request {:?}", request.kind)).encode());
            return;
        }
        with_node(|node| {
            let id = (u64::from(node.index) << 32) | node.next_seq;
            node.next_seq += 1;
            node.seen.insert(id);
            node.delivered += 1;
            let message = Record::new("FLOOD")
                .with("id", id)
                .with("origin", peershare_wire::Value::Node(node.index))
                .with("ttl", node.ttl)
                .with("hops", 0u64)
                .with("payload", request.get("payload").cloned().unwrap_or(peershare_wire::Value::Bytes(Vec::new())));
            node.forward(None, &message);
            node.publish();
            host::complete(op, true, &Record::new("broadcast-sent").with("id", id).encode());
        });
    }
}

export!(Flood);
