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

use peershare_sdk::prelude::*;
use std::collections::BTreeSet;

const PING: u64 = 1;

struct Flood {
    index: NodeIndex,
    ttl: u64,
    neighbours: BTreeSet<NodeIndex>,
    seen: BTreeSet<u64>,
    next_seq: u64,
    delivered: u64,
    pings_answered: u64,
}

impl Flood {
    fn state(&self) -> State {
        State::new()
            .neighbours(self.neighbours.iter().copied())
            .field("delivered", self.delivered)
            .field("pings_answered", self.pings_answered)
    }

    /// Sends `message` to every neighbour but `except`.
    fn forward(&self, ctx: &mut Context, except: Option<NodeIndex>, message: &Record) {
        ctx.send_to_all(self.neighbours.iter().copied().filter(|&n| Some(n) != except), message);
    }
}

impl Peer for Flood {
    fn init(ctx: &mut Context, start: Start) -> Self {
        let node = Flood {
            index: start.index,
            ttl: start.config.u64("ttl").unwrap_or(8),
            neighbours: start.bootstrap.iter().map(|c| c.node).collect(),
            seen: BTreeSet::new(),
            next_seq: 0,
            delivered: 0,
            pings_answered: 0,
        };
        ctx.send_to_all(node.neighbours.iter().copied(), &Record::new("HELLO"));
        let ping_ms = start.config.u64("ping_interval_ms").unwrap_or(1000);
        if ping_ms > 0 {
            ctx.every(Duration::from_millis(ping_ms), PING);
        }
        ctx.publish(&node.state());
        node
    }

    fn on_message(&mut self, ctx: &mut Context, from: NodeIndex, message: Record) {
        match message.kind.as_str() {
            "HELLO" => {
                if self.neighbours.insert(from) {
                    ctx.publish(&self.state());
                }
            }
            "PING" => {
                self.pings_answered += 1;
                ctx.send(from, &Record::new("PONG").with("seq", message.u64("seq").unwrap_or(0)));
            }
            "PONG" => {}
            "FLOOD" => {
                let id = message.u64("id").unwrap_or(0);
                if !self.seen.insert(id) {
                    return;
                }
                self.delivered += 1;
                ctx.publish(&self.state());
                let ttl = message.u64("ttl").unwrap_or(0);
                if ttl > 0 {
                    let forwarded = Record::new("FLOOD")
                        .with("id", id)
                        .with("origin", Value::Node(message.node("origin").unwrap_or(from)))
                        .with("ttl", ttl - 1)
                        .with("hops", message.u64("hops").unwrap_or(0) + 1)
                        .with("payload", message.get("payload").cloned().unwrap_or(Value::Bytes(Vec::new())));
                    self.forward(ctx, Some(from), &forwarded);
                }
            }
            other => ctx.log(Level::Warn, &format!("unknown message kind {other:?} from n{from}")),
        }
    }

    fn on_timer(&mut self, ctx: &mut Context, _tag: u64) {
        if !self.neighbours.is_empty() {
            let pick = (ctx.random_u64() % self.neighbours.len() as u64) as usize;
            let target = *self.neighbours.iter().nth(pick).expect("pick is in range");
            ctx.send(target, &Record::new("PING").with("seq", ctx.now().as_nanos() as u64));
        }
    }

    fn on_request(&mut self, ctx: &mut Context, op: OpId, request: Record) {
        if request.kind != "broadcast" {
            return ctx.unsupported(op, &request.kind);
        }
        let id = (u64::from(self.index) << 32) | self.next_seq;
        self.next_seq += 1;
        self.seen.insert(id);
        self.delivered += 1;
        let message = Record::new("FLOOD")
            .with("id", id)
            .with("origin", Value::Node(self.index))
            .with("ttl", self.ttl)
            .with("hops", 0u64)
            .with("payload", request.get("payload").cloned().unwrap_or(Value::Bytes(Vec::new())));
        self.forward(ctx, None, &message);
        ctx.publish(&self.state());
        ctx.complete(op, Outcome::ok(Record::new("broadcast-sent").with("id", id)));
    }

    fn inspect(&self, _ctx: &Context) -> State {
        self.state()
    }
}

peershare_sdk::export_peer!(Flood);
