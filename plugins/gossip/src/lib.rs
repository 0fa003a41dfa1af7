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

use peershare_sdk::prelude::*;

const ROUND: u64 = 0;

struct Gossip {
    value: u64,
    max_peers: usize,
    peers: Vec<NodeIndex>,
}

impl Gossip {
    fn learn(&mut self, peer: NodeIndex) {
        if self.peers.len() < self.max_peers && !self.peers.contains(&peer) {
            self.peers.push(peer);
        }
    }

    /// Keeps the larger value, publishing it if it changed (only the value:
    /// publishing runs on the hot path; `inspect` shows the peers too).
    fn adopt(&mut self, ctx: &mut Context, value: u64) {
        if value > self.value {
            self.value = value;
            ctx.publish(&State::new().field("value", self.value));
        }
    }
}

impl Peer for Gossip {
    fn init(ctx: &mut Context, start: Start) -> Self {
        let node = Gossip {
            value: ctx.random_u64() >> 1,
            max_peers: start.config.u64("max_peers").unwrap_or(32) as usize,
            peers: start.bootstrap.iter().map(|c| c.node).collect(),
        };
        // Spread the first round over one interval so nodes do not all fire together.
        let interval = start.config.u64("interval_ms").unwrap_or(1000) * 1_000_000;
        let first = 1 + ctx.random_u64() % interval.max(1);
        ctx.every_from(Duration::from_nanos(first), Duration::from_nanos(interval), ROUND);
        ctx.publish(&State::new().field("value", node.value));
        node
    }

    fn on_message(&mut self, ctx: &mut Context, from: NodeIndex, message: Record) {
        self.learn(from);
        if message.kind == "PUSH" {
            ctx.send(from, &Record::new("PULL").with("value", self.value));
        }
        self.adopt(ctx, message.u64("value").unwrap_or(0));
    }

    fn on_timer(&mut self, ctx: &mut Context, _tag: u64) {
        if !self.peers.is_empty() {
            let peer = self.peers[(ctx.random_u64() % self.peers.len() as u64) as usize];
            ctx.send(peer, &Record::new("PUSH").with("value", self.value));
        }
    }

    fn on_request(&mut self, ctx: &mut Context, op: OpId, request: Record) {
        match request.kind.as_str() {
            "max" => ctx.complete(op, Outcome::ok(Record::new("max").with("value", self.value))),
            other => ctx.unsupported(op, other),
        }
    }

    fn inspect(&self, _ctx: &Context) -> State {
        State::new().neighbours(self.peers.iter().copied()).field("value", self.value)
    }
}

peershare_sdk::export_peer!(Gossip);
