//! Flooding broadcast with a time-to-live.
//!
//! Each node starts with the bootstrap contacts the host gives it and says
//! HELLO to them, so that neighbour links become symmetric. A `broadcast`
//! request floods a FLOOD message: every node that sees a message for the
//! first time delivers it and forwards it to all its neighbours but the one
//! it came from, while the TTL lasts. Every `ping_interval`, a node PINGs one
//! random neighbour, which answers PONG.
//!
//! With `retries` above 0 the flood is reliable hop by hop: a node answers
//! every HELLO and every FLOOD (a repeat too) with an ACK, and sends one
//! again to a neighbour that has not acknowledged it within `retry_ms`, up
//! to `retries` times, so that a lossy link delays a broadcast instead of
//! losing it, and no node is left without neighbours who know it.
//!
//! Config (scenario `[groups.config]`): `ttl` (u64, default 8),
//! `ping_interval_ms` (u64, default 1000; 0 turns pings off), `retries`
//! (u64, default 0), `retry_ms` (u64, default 200).
//!
//! Built with the `unacked` feature (as `plugins/flood-unacked`, a grading
//! example), the peer makes a student's classic mistake: it ignores
//! `retries` and never sends a FLOOD twice, so on a lossy network a node
//! whose few incoming copies are all lost misses the broadcast.

use peershare_sdk::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

const PING: u64 = 1;
/// Timer tags from here on are retransmissions, one per unacknowledged send.
const FIRST_RETRY: u64 = 2;
/// The message id a HELLO is acknowledged with (broadcast ids hold the
/// origin's index in their upper half, so never this one).
const HELLO_ID: u64 = u64::MAX;

/// A FLOOD sent to one neighbour and not yet acknowledged.
struct Unacked {
    to: NodeIndex,
    id: u64,
    message: Record,
    tries_left: u64,
    timer: Timer,
}

struct Flood {
    index: NodeIndex,
    ttl: u64,
    neighbours: BTreeSet<NodeIndex>,
    seen: BTreeSet<u64>,
    next_seq: u64,
    delivered: u64,
    pings_answered: u64,
    retries: u64,
    retry: Duration,
    /// Sends awaiting an ACK, by timer tag.
    unacked: BTreeMap<u64, Unacked>,
    /// The timer tag of each (message, neighbour) awaiting an ACK.
    awaiting: BTreeMap<(u64, NodeIndex), u64>,
    next_tag: u64,
}

impl Flood {
    fn state(&self) -> State {
        State::new()
            .neighbours(self.neighbours.iter().copied())
            .field("delivered", self.delivered)
            .field("pings_answered", self.pings_answered)
    }

    /// Sends FLOOD `message` (of broadcast `id`) to every neighbour but
    /// `except`.
    fn forward(&mut self, ctx: &mut Context, except: Option<NodeIndex>, id: u64, message: &Record) {
        let targets: Vec<NodeIndex> = self.neighbours.iter().copied().filter(|&n| Some(n) != except).collect();
        self.send_all(ctx, targets, id, message);
    }

    /// Sends `message` (acknowledged with `id`) to `targets`, each
    /// awaiting its ACK if the flood is reliable.
    fn send_all(&mut self, ctx: &mut Context, targets: Vec<NodeIndex>, id: u64, message: &Record) {
        ctx.send_to_all(targets.iter().copied(), message);
        if self.retries == 0 {
            return;
        }
        for to in targets {
            let tag = self.next_tag;
            self.next_tag += 1;
            let timer = ctx.set_timer(self.retry, tag);
            self.unacked.insert(tag, Unacked { to, id, message: message.clone(), tries_left: self.retries, timer });
            self.awaiting.insert((id, to), tag);
        }
    }

    /// A retransmission timer went off: send again, or give up.
    fn retry(&mut self, ctx: &mut Context, tag: u64) {
        let Some(mut unacked) = self.unacked.remove(&tag) else { return };
        self.awaiting.remove(&(unacked.id, unacked.to));
        if unacked.tries_left == 0 {
            return;
        }
        unacked.tries_left -= 1;
        ctx.send(unacked.to, &unacked.message);
        let tag = self.next_tag;
        self.next_tag += 1;
        unacked.timer = ctx.set_timer(self.retry, tag);
        self.awaiting.insert((unacked.id, unacked.to), tag);
        self.unacked.insert(tag, unacked);
    }
}

impl Peer for Flood {
    fn init(ctx: &mut Context, start: Start) -> Self {
        let mut node = Flood {
            index: start.index,
            ttl: start.config.u64("ttl").unwrap_or(8),
            neighbours: start.bootstrap.iter().map(|c| c.node).collect(),
            seen: BTreeSet::new(),
            next_seq: 0,
            delivered: 0,
            pings_answered: 0,
            // The `unacked` build's mistake: it never sends a FLOOD twice.
            retries: if cfg!(feature = "unacked") { 0 } else { start.config.u64("retries").unwrap_or(0) },
            retry: Duration::from_millis(start.config.u64("retry_ms").unwrap_or(200).max(1)),
            unacked: BTreeMap::new(),
            awaiting: BTreeMap::new(),
            next_tag: FIRST_RETRY,
        };
        let contacts: Vec<NodeIndex> = node.neighbours.iter().copied().collect();
        node.send_all(ctx, contacts, HELLO_ID, &Record::new("HELLO"));
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
                if self.retries > 0 {
                    ctx.send(from, &Record::new("ACK").with("id", HELLO_ID));
                }
                if self.neighbours.insert(from) {
                    ctx.publish(&self.state());
                }
            }
            "PING" => {
                self.pings_answered += 1;
                ctx.send(from, &Record::new("PONG").with("seq", message.u64("seq").unwrap_or(0)));
            }
            "PONG" => {}
            "ACK" => {
                let id = message.u64("id").unwrap_or(0);
                if let Some(tag) = self.awaiting.remove(&(id, from))
                    && let Some(unacked) = self.unacked.remove(&tag)
                {
                    ctx.cancel(unacked.timer);
                }
            }
            "FLOOD" => {
                let id = message.u64("id").unwrap_or(0);
                if self.retries > 0 {
                    ctx.send(from, &Record::new("ACK").with("id", id));
                }
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
                    self.forward(ctx, Some(from), id, &forwarded);
                }
            }
            other => ctx.log(Level::Warn, &format!("unknown message kind {other:?} from n{from}")),
        }
    }

    fn on_timer(&mut self, ctx: &mut Context, tag: u64) {
        if tag >= FIRST_RETRY {
            return self.retry(ctx, tag);
        }
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
        self.forward(ctx, None, id, &message);
        ctx.publish(&self.state());
        ctx.complete(op, Outcome::ok(Record::new("broadcast-sent").with("id", id)));
    }

    fn inspect(&self, _ctx: &Context) -> State {
        self.state()
    }
}

peershare_sdk::export_peer!(Flood);
