//! Push-pull gossip: anti-entropy spreading the largest value.
//!
//! Every node holds a value (initially drawn from its random stream) and a
//! list of known peers (its bootstrap contacts, plus every node it hears
//! from, up to `max_peers`). Every `interval_ms` it PUSHes its value to one
//! random known peer, which keeps the larger of the two and answers with a
//! PULL carrying its own; the initiator keeps the larger too. The network
//! converges on the maximum in O(log N) rounds: a classic epidemic, and the
//! workload PeerSim and other simulators are measured on (one message per
//! node per interval plus a reply).
//!
//! Config: `interval_ms` (default 1000), `max_peers` (default 32).
//! Request `max`: completes at once with the node's current value.

use peershare_wire::Record;
use std::cell::RefCell;

wit_bindgen::generate!({ world: "peer-node", path: "../../wit" });

use exports::peershare::sim::peer::Guest;
use peershare::sim::host;
use peershare::sim::types::InitArgs;

struct Node {
    value: u64,
    interval_ns: u64,
    max_peers: usize,
    peers: Vec<u32>,
    rounds: u64,
}

thread_local! {
    static NODE: RefCell<Option<Node>> = const { RefCell::new(None) };
}

fn with_node<R>(f: impl FnOnce(&mut Node) -> R) -> R {
    NODE.with(|n| f(n.borrow_mut().as_mut().expect("init runs first")))
}

impl Node {
    fn learn(&mut self, peer: u32) {
        if self.peers.len() < self.max_peers && !self.peers.contains(&peer) {
            self.peers.push(peer);
        }
    }

    fn adopt(&mut self, value: u64) {
        if value > self.value {
            self.value = value;
            host::publish_state(&Record::new("gossip-state").with("value", self.value).encode());
        }
    }
}

struct Gossip;

impl Guest for Gossip {
    fn init(args: InitArgs) {
        let config = Record::decode(&args.config).unwrap_or_default();
        let node = Node {
            value: host::random_u64() >> 1,
            interval_ns: config.u64("interval_ms").unwrap_or(1000) * 1_000_000,
            max_peers: config.u64("max_peers").unwrap_or(32) as usize,
            peers: args.bootstrap.iter().map(|c| c.index).collect(),
            rounds: 0,
        };
        // Spread the first round over one interval so nodes do not all fire together.
        host::set_timer(1 + host::random_u64() % node.interval_ns.max(1), 0);
        host::publish_state(&Record::new("gossip-state").with("value", node.value).encode());
        NODE.with(|n| *n.borrow_mut() = Some(node));
    }

    fn on_message(from: u32, message: Vec<u8>) {
        let Ok(msg) = Record::decode(&message) else { return };
        let value = msg.u64("value").unwrap_or(0);
        with_node(|node| {
            node.learn(from);
            if msg.kind == "PUSH" {
                host::send(from, &Record::new("PULL").with("value", node.value).encode());
            }
            node.adopt(value);
        });
    }

    fn on_timer(_tag: u64) {
        with_node(|node| {
            node.rounds += 1;
            if !node.peers.is_empty() {
                let peer = node.peers[(host::random_u64() % node.peers.len() as u64) as usize];
                host::send(peer, &Record::new("PUSH").with("value", node.value).encode());
            }
            host::set_timer(node.interval_ns, 0);
        });
    }

    fn on_request(op: u64, request: Vec<u8>) {
        let kind = Record::decode(&request).map(|r| r.kind).unwrap_or_default();
        if kind == "max" {
            let value = with_node(|n| n.value);
            host::complete(op, true, &Record::new("max").with("value", value).encode());
        } else {
            host::complete(op, false, &Record::new("error").with("reason", format!("unknown request {kind:?}")).encode());
        }
    }
}

export!(Gossip);
