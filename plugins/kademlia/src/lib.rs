//! Kademlia (Maymounkov and Mazières, 2002) as a PeerShare peer.
//!
//! - XOR metric over ids of `id_bits` bits (the scenario's `id_bits`).
//! - k-buckets in least-recently-seen order; a newcomer to a full bucket
//!   waits while the oldest contact is pinged, and replaces it only if the
//!   ping times out.
//! - RPCs PING, FIND_NODE, FIND_VALUE, STORE (plus ADD_PROVIDER and
//!   GET_PROVIDERS for provider records), each with a request id and a
//!   timeout; every message carries its sender's id, and every message heard
//!   updates the routing table.
//! - Iterative lookups with `alpha` queries in flight, ending when the `k`
//!   closest candidates seen have all answered. A query that times out is
//!   sent again (`query_retries` times) before its candidate is given up
//!   and the next one asked, so that a lost message does not leave a live
//!   node out of the answer.
//! - A contact is forgotten after `max_failures` RPCs to it in a row timed
//!   out (the paper suggests 5), not after one.
//! - Join through the bootstrap contacts: look up the own id, then refresh
//!   every bucket farther than the closest neighbour. If nobody answers, the
//!   join is tried again after `join_backoff_ms`, doubling, up to
//!   `join_attempts` times, through every contact known by then. Buckets
//!   not used for `refresh_ms` are refreshed; stored values are republished
//!   every `republish_ms` by the node that published them and expire after
//!   `expire_ms`.
//!
//! Config: `k` (20), `alpha` (3), `id_bits` (the id length), `timeout_ms`
//! (1000), `refresh_ms` (3,600,000), `republish_ms` (3,600,000), `expire_ms`
//! (86,400,000), `trace` (true: record lookup steps of operations),
//! `max_failures` (5), `query_retries` (3), `join_attempts` (6),
//! `join_backoff_ms` (1000). `strict = true` changes the defaults of the
//! last three to 1, 0 and 1: the textbook minimum, which a lossy network
//! defeats (a lab can show the difference).
//!
//! Built with the `eclipse` feature (as `plugins/kademlia-eclipse`), the
//! peer is an eclipse attacker; see `attack.rs`. Built with `sloppy` (as
//! `plugins/kademlia-sloppy`) its lookups stop too early; with `sloppy`
//! and `memorised` (as `plugins/kademlia-memorised`) it also answers the
//! visible seeds' lookups from a copied table; see `memorised.rs`. Both
//! are grading examples.

#[cfg(feature = "eclipse")]
mod attack;
mod lookup;
#[cfg(feature = "memorised")]
mod memorised;
mod table;

use lookup::{Goal, Lookup, Next, Seek};
use peershare_sdk::prelude::*;
use peershare_sdk::rpc::{self, Rpcs};
use std::collections::BTreeMap;
use table::{RoutingTable, Seen};

/// Timer tags of the periodic jobs and the join's next attempt (RPC
/// timeouts are [`Rpcs`]' own).
const REFRESH_TIMER: u64 = u64::MAX;
const REPUBLISH_TIMER: u64 = u64::MAX - 1;
const JOIN_TIMER: u64 = u64::MAX - 2;

struct Config {
    k: usize,
    alpha: usize,
    bits: u32,
    timeout: Duration,
    refresh_ns: u64,
    republish: Duration,
    expire_ns: u64,
    trace: bool,
    /// Consecutive timeouts after which a contact is forgotten.
    max_failures: u32,
    /// Times a lookup asks a candidate again after a timeout.
    query_retries: u32,
    /// Join attempts before the node gives up on its bootstrap contacts.
    join_attempts: u32,
    /// Wait before the second join attempt; doubles after each.
    join_backoff: Duration,
}

impl Config {
    fn read(config: &Record, start: &Start) -> Self {
        let ms = |name: &str, default: u64| config.u64(name).unwrap_or(default);
        let id_bits = start.id.len() as u32 * 8;
        let bits = config.u64("id_bits").map_or(start.id_bits, |b| b as u32);
        // `strict`: forget a contact after one timeout, never ask again,
        // join once (the textbook minimum, which loss defeats).
        let strict = config.bool("strict").unwrap_or(false);
        let count = |name: &str, robust: u64, strict_value: u64| ms(name, if strict { strict_value } else { robust }) as u32;
        Config {
            max_failures: count("max_failures", 5, 1).max(1),
            query_retries: count("query_retries", 3, 0),
            join_attempts: count("join_attempts", 6, 1).max(1),
            join_backoff: Duration::from_millis(ms("join_backoff_ms", 1000)),
            k: ms("k", 20).max(1) as usize,
            alpha: ms("alpha", 3).max(1) as usize,
            bits: if bits == 0 { id_bits } else { bits.clamp(1, id_bits.max(1)) },
            timeout: Duration::from_millis(ms("timeout_ms", 1000)),
            refresh_ns: ms("refresh_ms", 3_600_000) * 1_000_000,
            republish: Duration::from_millis(ms("republish_ms", 3_600_000)),
            expire_ns: ms("expire_ms", 86_400_000) * 1_000_000,
            trace: config.bool("trace").unwrap_or(true),
        }
    }
}

/// Why an RPC was sent.
enum Purpose {
    Lookup { lookup: u64 },
    EvictionPing { bucket: usize },
    Store { batch: u64 },
}

/// A request awaiting its answer: whom it asked and why.
struct Call {
    to: Contact,
    purpose: Purpose,
}

/// STORE or ADD_PROVIDER requests of one operation, awaiting answers.
struct StoreBatch {
    op: Option<OpId>,
    waiting: usize,
    nodes: Vec<NodeIndex>,
}

struct Stored {
    value: Vec<u8>,
    expires: u64,
    /// This node published it (and republishes it).
    publisher: bool,
}

/// A provider record: the provider's id and when the record expires.
type Provider = (Vec<u8>, u64);

/// One Kademlia node.
struct Kademlia {
    me: Contact,
    cfg: Config,
    table: RoutingTable,
    rpcs: Rpcs<Call>,
    lookups: BTreeMap<u64, Lookup>,
    next_lookup: u64,
    batches: BTreeMap<u64, StoreBatch>,
    next_batch: u64,
    values: BTreeMap<Vec<u8>, Stored>,
    /// Per key, its providers.
    providers: BTreeMap<Vec<u8>, BTreeMap<NodeIndex, Provider>>,
    bucket_used: Vec<u64>,
    /// Contacts to join through, and the join attempts made so far.
    bootstrap: Vec<Contact>,
    join_attempt: u32,
    #[cfg(feature = "eclipse")]
    attack: attack::Attack,
}

/// Virtual time in nanoseconds.
fn now(ctx: &Context) -> u64 {
    ctx.now().as_nanos() as u64
}

impl Kademlia {
    fn rpc(&mut self, ctx: &mut Context, to: Contact, purpose: Purpose, message: Record) {
        let message = message.with("id", Value::Id(self.me.id.clone()));
        self.rpcs.send(ctx, to.node, message, Call { to, purpose });
    }

    fn reply(&self, ctx: &mut Context, to: NodeIndex, request: &Record, answer: Record) {
        ctx.send(to, &rpc::reply(request, answer).with("id", Value::Id(self.me.id.clone())));
    }

    /// Every message heard updates the routing table.
    fn heard(&mut self, ctx: &mut Context, contact: Contact) {
        if contact.id.len() != self.me.id.len() {
            return;
        }
        if let Seen::BucketFull { bucket, oldest } = self.table.seen(contact, now(ctx)) {
            self.rpc(ctx, oldest, Purpose::EvictionPing { bucket }, Record::new("PING"));
        }
    }

    fn closest(&self, target: &[u8], except: Option<NodeIndex>) -> Value {
        Value::Contacts(self.table.closest(target, self.cfg.k, except))
    }

    fn start_lookup(&mut self, ctx: &mut Context, target: Vec<u8>, seek: Seek, goal: Goal) {
        if let Some(b) = self.table.bucket_of(&target) {
            self.bucket_used[b] = now(ctx);
        }
        let initial = self.table.closest(&target, self.cfg.k, None);
        self.next_lookup += 1;
        let id = self.next_lookup;
        self.lookups.insert(id, Lookup::new(target, seek, goal, initial));
        self.advance(ctx, id);
    }

    /// Whether a key has the length of this network's ids; if not, the
    /// operation fails with the reason (distances between ids and keys of
    /// another length mean nothing).
    fn key_fits(&self, ctx: &mut Context, op: OpId, key: &[u8]) -> bool {
        if key.len() == self.me.id.len() {
            return true;
        }
        ctx.complete(op, Outcome::error(format!("the key is {} bytes long, but node ids are {} bytes", key.len(), self.me.id.len())));
        false
    }

    fn trace(&self, ctx: &mut Context, op: Option<OpId>, step: impl FnOnce() -> Step) {
        if let Some(op) = op
            && self.cfg.trace
        {
            ctx.trace(op, &step());
        }
    }

    /// Sends the next queries of a lookup, or finishes it.
    fn advance(&mut self, ctx: &mut Context, id: u64) {
        let Some(lookup) = self.lookups.get_mut(&id) else { return };
        match lookup.next(self.cfg.k, self.cfg.alpha) {
            Next::Wait => {}
            Next::Query(queries) => {
                let (seek, target, op) = (lookup.seek, lookup.target.clone(), lookup.goal.op());
                for (to, round) in queries {
                    self.trace(ctx, op, || Step::query(u64::from(round), to.node, Distance::Xor(id::xor(&to.id, &target))));
                    let request = match seek {
                        Seek::Nodes => Record::new("FIND_NODE").with("target", Value::Id(target.clone())),
                        Seek::Value => Record::new("FIND_VALUE").with("key", Value::Id(target.clone())),
                        Seek::Providers => Record::new("GET_PROVIDERS").with("key", Value::Id(target.clone())),
                    };
                    self.rpc(ctx, to, Purpose::Lookup { lookup: id }, request);
                }
            }
            Next::Done(reason) => {
                let lookup = self.lookups.remove(&id).expect("present");
                self.trace(ctx, lookup.goal.op(), || Step::done(reason, u64::from(lookup.rounds()), lookup.queries));
                self.finish(ctx, lookup);
            }
        }
    }

    fn finish(&mut self, ctx: &mut Context, lookup: Lookup) {
        let closest = lookup.closest_answered(self.cfg.k);
        let rounds = u64::from(lookup.rounds());
        match lookup.goal {
            Goal::FindClosest(op) => {
                ctx.complete(op, Outcome::contacts(&closest).k(self.cfg.k).rounds(rounds).field("queries", lookup.queries))
            }
            Goal::Put(op, value) => self.store_at(ctx, Some(op), &closest, &lookup.target, Some(&value)),
            Goal::Republish(value) => self.store_at(ctx, None, &closest, &lookup.target, Some(&value)),
            Goal::Announce(op) => self.store_at(ctx, Some(op), &closest, &lookup.target, None),
            Goal::Get(op) => match lookup.value {
                Some(value) => ctx.complete(op, Outcome::value(value).rounds(rounds)),
                None => ctx.complete(op, Outcome::not_found().rounds(rounds)),
            },
            Goal::FindProviders(op) => {
                let found: Vec<Contact> = lookup.providers.into_iter().map(|(node, id)| Contact::new(node, id)).collect();
                let nodes: Vec<NodeIndex> = found.iter().map(|c| c.node).collect();
                ctx.complete(op, Outcome::providers(&nodes).field("contacts", Value::Contacts(found)).rounds(rounds));
            }
            Goal::Join if closest.is_empty() => {
                // Nobody answered (lost messages, a bootstrap node down):
                // try again later, through every contact known by then.
                if self.join_attempt < self.cfg.join_attempts {
                    let wait = self.cfg.join_backoff * 2u32.saturating_pow(self.join_attempt - 1);
                    ctx.log(Level::Info, &format!("join attempt {} failed; trying again in {wait:?}", self.join_attempt));
                    ctx.set_timer(wait, JOIN_TIMER);
                } else {
                    ctx.log(Level::Warn, &format!("gave up joining after {} attempts", self.join_attempt));
                }
            }
            Goal::Join => {
                // Refresh every bucket farther away than the closest neighbour.
                if let Some(nearest) = self.table.closest_bucket() {
                    for b in nearest + 1..self.cfg.bits as usize {
                        let target = self.table.random_in_bucket(b, || ctx.random_u64());
                        self.start_lookup(ctx, target, Seek::Nodes, Goal::Refresh);
                    }
                }
            }
            Goal::Refresh => {}
        }
    }

    /// Sends STORE (with `value`) or ADD_PROVIDER (without) to the given
    /// nodes; completes `op` when all have answered or timed out.
    fn store_at(&mut self, ctx: &mut Context, op: Option<OpId>, targets: &[Contact], key: &[u8], value: Option<&[u8]>) {
        if targets.is_empty() {
            if let Some(op) = op {
                ctx.complete(op, Outcome::error("no node to store at"));
            }
            return;
        }
        self.next_batch += 1;
        let batch = self.next_batch;
        self.batches.insert(batch, StoreBatch { op, waiting: targets.len(), nodes: Vec::new() });
        for to in targets {
            let request = match value {
                Some(value) => Record::new("STORE").with("key", Value::Id(key.to_vec())).with("value", value.to_vec()),
                None => Record::new("ADD_PROVIDER").with("key", Value::Id(key.to_vec())),
            };
            self.rpc(ctx, to.clone(), Purpose::Store { batch }, request);
        }
    }

    fn store_answered(&mut self, ctx: &mut Context, batch: u64, from: NodeIndex, ok: bool) {
        let Some(b) = self.batches.get_mut(&batch) else { return };
        b.waiting -= 1;
        if ok {
            b.nodes.push(from);
        }
        if b.waiting == 0 {
            let b = self.batches.remove(&batch).expect("present");
            if let Some(op) = b.op {
                ctx.complete(op, Outcome::stored(b.nodes.len() as u64).field("nodes", Value::Nodes(b.nodes)));
            }
        }
    }

    /// An RPC answered (`reply` is the answer) or timed out (`None`).
    fn rpc_done(&mut self, ctx: &mut Context, call: Call, reply: Option<&Record>) {
        if reply.is_none() && !matches!(call.purpose, Purpose::EvictionPing { .. }) {
            self.table.failed(&call.to, self.cfg.max_failures);
        }
        let to = call.to.node;
        match call.purpose {
            Purpose::EvictionPing { bucket } => match reply {
                Some(_) => {
                    ctx.log(Level::Debug, &format!("kept n{to} in bucket {bucket}: it answered"));
                    self.table.eviction_cancelled(bucket);
                }
                None => {
                    ctx.log(Level::Debug, &format!("evicted n{to} from bucket {bucket}: no answer"));
                    self.table.evict(bucket, to);
                }
            },
            Purpose::Store { batch } => self.store_answered(ctx, batch, to, reply.is_some_and(|r| r.kind == "STORED")),
            Purpose::Lookup { lookup } => {
                let (k, retries) = (self.cfg.k, self.cfg.query_retries);
                let Some(l) = self.lookups.get_mut(&lookup) else { return };
                let Some(round) = l.finish_query(to, reply.is_some(), retries) else { return };
                let op = l.goal.op();
                // Steps are built only for traced operations.
                let tracing = op.is_some() && self.cfg.trace;
                let step = match reply {
                    None => Some(Step::timeout(to)),
                    Some(r) => {
                        let returned = r.contacts("contacts").unwrap_or_default();
                        for c in returned {
                            if c.node != self.me.node && c.id.len() == self.me.id.len() {
                                l.add(c.clone(), round + 1);
                            }
                        }
                        if r.kind == "VALUE" {
                            l.value = r.bytes("value").map(<[u8]>::to_vec);
                        }
                        for p in r.contacts("providers").unwrap_or_default() {
                            l.providers.insert(p.node, p.id.clone());
                        }
                        tracing.then(|| {
                            let returned: Vec<NodeIndex> = returned.iter().map(|c| c.node).collect();
                            Step::answer(u64::from(round), to, &r.kind, &returned, &l.head(k))
                        })
                    }
                };
                if let (Some(op), Some(step)) = (op, step.filter(|_| tracing)) {
                    ctx.trace(op, &step);
                }
                self.advance(ctx, lookup);
            }
        }
    }

    fn handle(&mut self, ctx: &mut Context, from: NodeIndex, msg: &Record) {
        let now = now(ctx);
        #[cfg(feature = "eclipse")]
        if let Some(lie) = self.attack.answer(from, msg, self.cfg.k) {
            self.reply(ctx, from, msg, lie);
            return;
        }
        match msg.kind.as_str() {
            "PING" => self.reply(ctx, from, msg, Record::new("PONG")),
            "FIND_NODE" => {
                let target = msg.id("target").unwrap_or_default();
                self.reply(ctx, from, msg, Record::new("NODES").with("contacts", self.closest(target, Some(from))));
            }
            "FIND_VALUE" => {
                let key = msg.id("key").unwrap_or_default();
                let answer = match self.values.get(key).filter(|v| v.expires > now) {
                    Some(v) => Record::new("VALUE").with("value", v.value.clone()),
                    None => Record::new("NODES").with("contacts", self.closest(key, Some(from))),
                };
                self.reply(ctx, from, msg, answer);
            }
            "STORE" => {
                let key = msg.id("key").unwrap_or_default().to_vec();
                let value = msg.bytes("value").unwrap_or_default().to_vec();
                let publisher = self.values.get(&key).is_some_and(|v| v.publisher);
                self.values.insert(key, Stored { value, expires: now + self.cfg.expire_ns, publisher });
                self.reply(ctx, from, msg, Record::new("STORED"));
            }
            "ADD_PROVIDER" => {
                let key = msg.id("key").unwrap_or_default().to_vec();
                let id = msg.id("id").unwrap_or_default().to_vec();
                self.providers.entry(key).or_default().insert(from, (id, now + self.cfg.expire_ns));
                self.reply(ctx, from, msg, Record::new("STORED"));
            }
            "GET_PROVIDERS" => {
                let key = msg.id("key").unwrap_or_default();
                let known: Vec<Contact> = self
                    .providers
                    .get(key)
                    .map(|p| p.iter().filter(|(_, (_, exp))| *exp > now).map(|(n, (id, _))| Contact::new(*n, id.clone())).collect())
                    .unwrap_or_default();
                let answer =
                    Record::new("PROVIDERS").with("providers", Value::Contacts(known)).with("contacts", self.closest(key, Some(from)));
                self.reply(ctx, from, msg, answer);
            }
            "PONG" | "NODES" | "VALUE" | "STORED" | "PROVIDERS" => {
                if let Some(call) = self.rpcs.answered(ctx, from, msg) {
                    self.rpc_done(ctx, call, Some(msg));
                }
            }
            other => ctx.log(Level::Warn, &format!("unknown message kind {other:?} from n{from}")),
        }
    }

    /// Looks up the own id through the bootstrap contacts and whoever else
    /// is known.
    fn join(&mut self, ctx: &mut Context) {
        self.join_attempt += 1;
        for c in self.bootstrap.clone() {
            self.heard(ctx, c);
        }
        let own = self.me.id.clone();
        self.start_lookup(ctx, own, Seek::Nodes, Goal::Join);
    }

    fn refresh_stale_buckets(&mut self, ctx: &mut Context) {
        let now = now(ctx);
        for b in 0..self.cfg.bits as usize {
            if !self.table.buckets()[b].is_empty() && now.saturating_sub(self.bucket_used[b]) >= self.cfg.refresh_ns {
                let target = self.table.random_in_bucket(b, || ctx.random_u64());
                self.start_lookup(ctx, target, Seek::Nodes, Goal::Refresh);
            }
        }
    }

    fn republish(&mut self, ctx: &mut Context) {
        let now = now(ctx);
        self.values.retain(|_, v| v.expires > now);
        for p in self.providers.values_mut() {
            p.retain(|_, (_, exp)| *exp > now);
        }
        self.providers.retain(|_, p| !p.is_empty());
        let mine: Vec<(Vec<u8>, Vec<u8>)> =
            self.values.iter().filter(|(_, v)| v.publisher).map(|(k, v)| (k.clone(), v.value.clone())).collect();
        for (key, value) in mine {
            if let Some(v) = self.values.get_mut(&key) {
                v.expires = now + self.cfg.expire_ns;
            }
            self.start_lookup(ctx, key, Seek::Nodes, Goal::Republish(value));
        }
    }
}

impl Peer for Kademlia {
    fn init(ctx: &mut Context, start: Start) -> Self {
        let cfg = Config::read(&start.config, &start);
        let me = Contact::new(start.index, start.id.clone());
        let mut node = Kademlia {
            table: RoutingTable::new(me.id.clone(), cfg.bits, cfg.k),
            bucket_used: vec![0; cfg.bits as usize],
            me,
            rpcs: Rpcs::new(cfg.timeout),
            lookups: BTreeMap::new(),
            next_lookup: 0,
            batches: BTreeMap::new(),
            next_batch: 0,
            values: BTreeMap::new(),
            providers: BTreeMap::new(),
            bootstrap: start.bootstrap.clone(),
            join_attempt: 0,
            #[cfg(feature = "eclipse")]
            attack: attack::Attack::configure(&start.config, start.index),
            cfg,
        };
        ctx.every(Duration::from_nanos(node.cfg.refresh_ns), REFRESH_TIMER);
        ctx.every(node.cfg.republish, REPUBLISH_TIMER);
        if !node.bootstrap.is_empty() {
            node.join(ctx);
        }
        node
    }

    fn on_message(&mut self, ctx: &mut Context, from: NodeIndex, message: Record) {
        if let Some(id) = message.id("id") {
            self.heard(ctx, Contact::new(from, id));
        }
        self.handle(ctx, from, &message);
    }

    fn on_timer(&mut self, ctx: &mut Context, tag: u64) {
        if let Some((_, call)) = self.rpcs.expired(tag) {
            return self.rpc_done(ctx, call, None);
        }
        match tag {
            REFRESH_TIMER => self.refresh_stale_buckets(ctx),
            REPUBLISH_TIMER => self.republish(ctx),
            JOIN_TIMER => self.join(ctx),
            _ => {}
        }
    }

    fn find_closest(&mut self, ctx: &mut Context, op: OpId, key: Vec<u8>) {
        #[cfg(feature = "memorised")]
        if let Some(nodes) = memorised::answer(&key) {
            let answer = Record::new("contacts").with("nodes", Value::Nodes(nodes)).with("k", self.cfg.k as u64);
            return ctx.complete(op, Outcome::ok(answer));
        }
        if self.key_fits(ctx, op, &key) {
            self.start_lookup(ctx, key, Seek::Nodes, Goal::FindClosest(op));
        }
    }

    fn put(&mut self, ctx: &mut Context, op: OpId, key: Vec<u8>, value: Vec<u8>) {
        if self.key_fits(ctx, op, &key) {
            let expires = now(ctx) + self.cfg.expire_ns;
            self.values.insert(key.clone(), Stored { value: value.clone(), expires, publisher: true });
            self.start_lookup(ctx, key, Seek::Nodes, Goal::Put(op, value));
        }
    }

    fn get(&mut self, ctx: &mut Context, op: OpId, key: Vec<u8>) {
        if !self.key_fits(ctx, op, &key) {
            return;
        }
        let now = now(ctx);
        match self.values.get(&key).filter(|v| v.expires > now) {
            Some(v) => ctx.complete(op, Outcome::value(v.value.clone()).rounds(0)),
            None => self.start_lookup(ctx, key, Seek::Value, Goal::Get(op)),
        }
    }

    fn announce(&mut self, ctx: &mut Context, op: OpId, key: Vec<u8>) {
        if self.key_fits(ctx, op, &key) {
            self.start_lookup(ctx, key, Seek::Nodes, Goal::Announce(op));
        }
    }

    fn find_providers(&mut self, ctx: &mut Context, op: OpId, key: Vec<u8>) {
        if self.key_fits(ctx, op, &key) {
            self.start_lookup(ctx, key, Seek::Providers, Goal::FindProviders(op));
        }
    }

    fn inspect(&self, _ctx: &Context) -> State {
        let entries = self.table.buckets().iter().enumerate().flat_map(|(b, bucket)| bucket.iter().map(move |e| (b as u32, e)));
        let (mut ids, mut last_seen) = (Vec::new(), Vec::new());
        for (_, e) in entries.clone() {
            ids.push(e.contact.id.clone());
            last_seen.push(e.last_seen);
        }
        State::new()
            .routing_table(entries.map(|(b, e)| (b, e.contact.node)))
            .field("id", Value::Id(self.me.id.clone()))
            .field("k", self.cfg.k as u64)
            .field("ids", Value::Ids(ids))
            .field("last_seen", Value::U64s(last_seen))
            .field("keys", Value::Ids(self.values.keys().cloned().collect()))
            .field("provider_keys", Value::Ids(self.providers.keys().cloned().collect()))
    }
}

peershare_sdk::export_peer!(Kademlia);
