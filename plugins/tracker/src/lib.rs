//! A central tracker (as in BitTorrent) as a PeerShare peer: the baseline
//! every student knows, and the single point of failure the fault labs can
//! crash.
//!
//! One plugin, two roles. A node whose group config says `role =
//! "tracker"` is a tracker: it keeps, per key, the peers that announced it,
//! each record expiring `expire_ms` after its last announce, and answers
//! ANNOUNCE and GET_PEERS. Every other node is a peer: `announce` sends
//! ANNOUNCE to the trackers (and repeats it every `announce_ms` for as long
//! as the run lasts); `find-providers` asks the trackers in turn (the next
//! one when a tracker does not answer within `timeout_ms`) and returns the
//! peers the first answering tracker knows, at most `max_peers`.
//!
//! Trackers are the nodes `trackers_first` to `trackers_first +
//! trackers - 1` (defaults 0 and 1: node 0, so put the tracker group
//! first). Each tracker is independent: with several, a peer announces to
//! all and asks one after the other.
//!
//! Config: `role`, `trackers` (1), `trackers_first` (0), `announce_ms`
//! (30,000), `expire_ms` (90,000), `timeout_ms` (1000), `max_peers` (50).

use peershare_sdk::prelude::*;
use peershare_sdk::rpc::{self, Rpcs};
use std::collections::BTreeMap;

/// Timer tags below this are RPC ids (timeouts).
const REANNOUNCE: u64 = u64::MAX;

/// A peer's record at a tracker: its id and when the record expires (ns).
type Announcement = (Vec<u8>, u64);

/// A request in flight to a tracker.
enum Pending {
    /// An announce operation (`None`: a repeated announce) waiting for the
    /// trackers' answers.
    Announce { op: Option<OpId> },
    /// A find-providers operation at tracker number `tracker`.
    Find { op: OpId, key: Vec<u8>, tracker: usize },
}

/// One announce operation's progress: answers still awaited, and whether
/// any tracker acknowledged.
struct AnnounceProgress {
    waiting: usize,
    acked: usize,
}

struct Tracker {
    me: Contact,
    is_tracker: bool,
    trackers: Vec<NodeIndex>,
    expire_ns: u64,
    max_peers: usize,
    /// Tracker: per key, the peers that announced it.
    records: BTreeMap<Vec<u8>, BTreeMap<NodeIndex, Announcement>>,
    /// Peer: the keys it announces.
    announced: Vec<Vec<u8>>,
    rpcs: Rpcs<Pending>,
    announces: BTreeMap<OpId, AnnounceProgress>,
}

fn now(ctx: &Context) -> u64 {
    ctx.now().as_nanos() as u64
}

impl Tracker {
    fn request(&mut self, ctx: &mut Context, to: NodeIndex, pending: Pending, message: Record) {
        self.rpcs.send(ctx, to, message.with("id", Value::Id(self.me.id.clone())), pending);
    }

    fn announce_to_all(&mut self, ctx: &mut Context, op: Option<OpId>, key: &[u8]) {
        if let Some(op) = op {
            self.announces.insert(op, AnnounceProgress { waiting: self.trackers.len(), acked: 0 });
        }
        for t in self.trackers.clone() {
            let pending = Pending::Announce { op };
            self.request(ctx, t, pending, Record::new("ANNOUNCE").with("key", Value::Id(key.to_vec())));
        }
    }

    fn announce_answered(&mut self, ctx: &mut Context, op: Option<OpId>, acked: bool) {
        let Some(op) = op else { return };
        let Some(p) = self.announces.get_mut(&op) else { return };
        p.waiting -= 1;
        p.acked += usize::from(acked);
        if p.waiting == 0 {
            let p = self.announces.remove(&op).expect("present");
            let outcome = if p.acked > 0 { Outcome::stored(p.acked as u64) } else { Outcome::error("no tracker answered") };
            ctx.complete(op, outcome);
        }
    }

    fn ask(&mut self, ctx: &mut Context, op: OpId, key: Vec<u8>, tracker: usize) {
        match self.trackers.get(tracker).copied() {
            Some(t) => {
                let request = Record::new("GET_PEERS").with("key", Value::Id(key.clone()));
                self.request(ctx, t, Pending::Find { op, key, tracker }, request);
            }
            None => ctx.complete(op, Outcome::error("no tracker answered").rounds(tracker as u64)),
        }
    }

    /// A request was answered (`answer`) or timed out (`None`).
    fn answered(&mut self, ctx: &mut Context, pending: Pending, answer: Option<&Record>) {
        match pending {
            Pending::Announce { op } => self.announce_answered(ctx, op, answer.is_some()),
            Pending::Find { op, key, tracker } => match answer {
                Some(r) => {
                    let found = r.contacts("peers").unwrap_or_default().to_vec();
                    let nodes: Vec<NodeIndex> = found.iter().map(|c| c.node).collect();
                    ctx.complete(op, Outcome::providers(&nodes).field("contacts", Value::Contacts(found)).rounds(tracker as u64 + 1));
                }
                None => self.ask(ctx, op, key, tracker + 1),
            },
        }
    }

    /// A tracker's answer to a peer.
    fn serve(&mut self, ctx: &mut Context, from: NodeIndex, msg: &Record) {
        let key = msg.id("key").unwrap_or_default().to_vec();
        let now = now(ctx);
        let answer = match msg.kind.as_str() {
            "ANNOUNCE" => {
                let id = msg.id("id").unwrap_or_default().to_vec();
                self.records.entry(key).or_default().insert(from, (id, now + self.expire_ns));
                Record::new("ANNOUNCED")
            }
            "GET_PEERS" => {
                let peers: Vec<Contact> = self
                    .records
                    .get(&key)
                    .map(|r| r.iter().filter(|(_, (_, exp))| *exp > now).map(|(n, (id, _))| Contact::new(*n, id.clone())).collect())
                    .unwrap_or_default();
                let mut peers = peers;
                peers.truncate(self.max_peers);
                Record::new("PEERS").with("peers", Value::Contacts(peers))
            }
            other => {
                ctx.log(Level::Warn, &format!("unknown request {other:?} from n{from}"));
                return;
            }
        };
        ctx.send(from, &rpc::reply(msg, answer));
    }
}

impl Peer for Tracker {
    fn init(ctx: &mut Context, start: Start) -> Self {
        let c = &start.config;
        let first = c.u64("trackers_first").unwrap_or(0) as NodeIndex;
        let count = c.u64("trackers").unwrap_or(1) as NodeIndex;
        let ms = |name: &str, default: u64| Duration::from_millis(c.u64(name).unwrap_or(default));
        let is_tracker = c.str("role") == Some("tracker");
        if !is_tracker {
            ctx.every(ms("announce_ms", 30_000), REANNOUNCE);
        }
        Tracker {
            me: Contact::new(start.index, start.id.clone()),
            is_tracker,
            trackers: (first..first.saturating_add(count)).filter(|&t| t != start.index).collect(),
            expire_ns: ms("expire_ms", 90_000).as_nanos() as u64,
            max_peers: c.u64("max_peers").unwrap_or(50) as usize,
            records: BTreeMap::new(),
            announced: Vec::new(),
            rpcs: Rpcs::new(ms("timeout_ms", 1000)),
            announces: BTreeMap::new(),
        }
    }

    fn on_message(&mut self, ctx: &mut Context, from: NodeIndex, message: Record) {
        match message.kind.as_str() {
            "ANNOUNCED" | "PEERS" => {
                if let Some(pending) = self.rpcs.answered(ctx, from, &message) {
                    self.answered(ctx, pending, Some(&message));
                }
            }
            _ if self.is_tracker => self.serve(ctx, from, &message),
            other => ctx.log(Level::Warn, &format!("a peer got {other:?} from n{from}, which only trackers answer")),
        }
    }

    fn on_timer(&mut self, ctx: &mut Context, tag: u64) {
        if let Some((_, pending)) = self.rpcs.expired(tag) {
            return self.answered(ctx, pending, None);
        }
        if tag == REANNOUNCE {
            for key in self.announced.clone() {
                self.announce_to_all(ctx, None, &key);
            }
        }
    }

    fn announce(&mut self, ctx: &mut Context, op: OpId, key: Vec<u8>) {
        if self.trackers.is_empty() {
            return ctx.complete(op, Outcome::error("no tracker is configured (config `trackers`)"));
        }
        if !self.announced.contains(&key) {
            self.announced.push(key.clone());
        }
        self.announce_to_all(ctx, Some(op), &key);
    }

    fn find_providers(&mut self, ctx: &mut Context, op: OpId, key: Vec<u8>) {
        if self.is_tracker {
            // A tracker answers from its own records.
            let now = now(ctx);
            let nodes: Vec<NodeIndex> =
                self.records.get(&key).map(|r| r.iter().filter(|(_, (_, e))| *e > now).map(|(n, _)| *n).collect()).unwrap_or_default();
            return ctx.complete(op, Outcome::providers(&nodes).rounds(0));
        }
        self.ask(ctx, op, key, 0);
    }

    fn inspect(&self, ctx: &Context) -> State {
        let now = now(ctx);
        let live: usize = self.records.values().map(|r| r.values().filter(|(_, e)| *e > now).count()).sum();
        State::new()
            .neighbours(self.trackers.iter().copied())
            .role(Role::Other(if self.is_tracker { "tracker".into() } else { "peer".into() }))
            .field("keys", self.records.len() as u64)
            .field("records", live as u64)
            .field("announced", self.announced.len() as u64)
    }
}

peershare_sdk::export_peer!(Tracker);
