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
//!   closest candidates seen have all answered.
//! - Join through the bootstrap contact: look up the own id, then refresh
//!   every bucket farther than the closest neighbour. Buckets not used for
//!   `refresh_ms` are refreshed; stored values are republished every
//!   `republish_ms` by the node that published them and expire after
//!   `expire_ms`.
//!
//! Config: `k` (20), `alpha` (3), `id_bits` (the id length), `timeout_ms`
//! (1000), `refresh_ms` (3,600,000), `republish_ms` (3,600,000), `expire_ms`
//! (86,400,000), `trace` (true: record lookup steps of operations).
//!
//! Built with the `eclipse` feature (as `plugins/kademlia-eclipse`), the
//! peer is an eclipse attacker; see `attack.rs`.

#[cfg(feature = "eclipse")]
mod attack;
mod id;
mod lookup;
mod table;

use id::{Id, bucket_index, distance, random_in_bucket};
use lookup::{Goal, Lookup, Next, Seek};
use peershare_wire::{Record, Value};
use std::cell::RefCell;
use std::collections::BTreeMap;
use table::{RoutingTable, Seen};

wit_bindgen::generate!({ world: "dht-node", path: "../../wit" });

use exports::peershare::sim::{discovery, observable, peer, routing};
use peershare::sim::host;
use peershare::sim::types::{InitArgs, Level};

/// Timer tags below this are RPC ids (timeouts); these are periodic jobs.
const REFRESH_TIMER: u64 = u64::MAX;
const REPUBLISH_TIMER: u64 = u64::MAX - 1;

struct Config {
    k: usize,
    alpha: usize,
    bits: u32,
    timeout_ns: u64,
    refresh_ns: u64,
    republish_ns: u64,
    expire_ns: u64,
    trace: bool,
}

/// Why an RPC was sent.
enum Purpose {
    Lookup { lookup: u64 },
    EvictionPing { bucket: usize },
    Store { batch: u64 },
}

struct Rpc {
    to: u32,
    to_id: Id,
    purpose: Purpose,
    timer: u64,
}

/// STORE or ADD_PROVIDER requests of one operation, awaiting answers.
struct StoreBatch {
    op: Option<u64>,
    waiting: usize,
    stored: usize,
    nodes: Vec<u32>,
}

struct Stored {
    value: Vec<u8>,
    expires: u64,
    /// This node published it (and republishes it).
    publisher: bool,
}

struct Node {
    index: u32,
    id: Id,
    cfg: Config,
    table: RoutingTable,
    next_rpc: u64,
    rpcs: BTreeMap<u64, Rpc>,
    lookups: BTreeMap<u64, Lookup>,
    next_lookup: u64,
    batches: BTreeMap<u64, StoreBatch>,
    next_batch: u64,
    values: BTreeMap<Id, Stored>,
    providers: BTreeMap<Id, BTreeMap<u32, (Id, u64)>>,
    bucket_used: Vec<u64>,
}

thread_local! {
    static NODE: RefCell<Option<Node>> = const { RefCell::new(None) };
}

fn with_node<R>(f: impl FnOnce(&mut Node) -> R) -> R {
    NODE.with(|n| f(n.borrow_mut().as_mut().expect("init runs first")))
}

fn nodes_and_ids(contacts: impl IntoIterator<Item = (u32, Id)>) -> (Value, Value) {
    let (nodes, ids): (Vec<u32>, Vec<Id>) = contacts.into_iter().unzip();
    (Value::Nodes(nodes), Value::Ids(ids))
}

impl Node {
    fn rpc(&mut self, to: u32, to_id: Id, purpose: Purpose, message: Record) {
        self.next_rpc += 1;
        let rpc = self.next_rpc;
        let message = message.with("rpc", rpc).with("id", Value::Id(self.id.clone()));
        host::send(to, &message.encode());
        let timer = host::set_timer(self.cfg.timeout_ns, rpc);
        self.rpcs.insert(rpc, Rpc { to, to_id, purpose, timer });
    }

    fn reply(&self, to: u32, rpc: u64, message: Record) {
        host::send(to, &message.with("rpc", rpc).with("id", Value::Id(self.id.clone())).encode());
    }

    /// Every message heard updates the routing table.
    fn heard(&mut self, index: u32, id: &[u8]) {
        if id.len() != self.id.len() {
            return;
        }
        if let Seen::BucketFull { bucket, oldest } = self.table.seen(index, id, host::now()) {
            self.rpc(oldest.index, oldest.id, Purpose::EvictionPing { bucket }, Record::new("PING"));
        }
    }

    fn closest_contacts(&self, target: &[u8], except: Option<u32>) -> Vec<(u32, Id)> {
        self.table.closest(target, self.cfg.k, except).into_iter().map(|c| (c.index, c.id)).collect()
    }

    fn start_lookup(&mut self, target: Id, seek: Seek, goal: Goal) {
        if let Some(b) = bucket_index(&distance(&self.id, &target), self.cfg.bits) {
            self.bucket_used[b] = host::now();
        }
        let initial = self.closest_contacts(&target, None);
        let lookup = Lookup::new(target, seek, goal, initial);
        self.next_lookup += 1;
        let id = self.next_lookup;
        self.lookups.insert(id, lookup);
        self.advance(id);
    }

    /// Whether a key has the length of this network's ids; if not, the
    /// operation fails with the reason (distances between ids and keys of
    /// another length mean nothing).
    fn key_fits(&self, op: u64, key: &[u8]) -> bool {
        if key.len() == self.id.len() {
            return true;
        }
        let reason = format!("the key is {} bytes long, but node ids are {} bytes", key.len(), self.id.len());
        host::complete(op, false, &Record::new("error").with("reason", reason).encode());
        false
    }

    fn trace(&self, op: Option<u64>, step: impl FnOnce() -> Record) {
        if let Some(op) = op
            && self.cfg.trace
        {
            host::trace(op, &step().encode());
        }
    }

    /// Sends the next queries of a lookup, or finishes it.
    fn advance(&mut self, id: u64) {
        let Some(lookup) = self.lookups.get_mut(&id) else { return };
        match lookup.next(self.cfg.k, self.cfg.alpha) {
            Next::Wait => {}
            Next::Query(queries) => {
                let (seek, target, op) = (lookup.seek, lookup.target.clone(), lookup.goal.op());
                for (to, to_id, round) in queries {
                    self.trace(op, || {
                        Record::new("query")
                            .with("round", u64::from(round))
                            .with("to", Value::Node(to))
                            .with("distance", Value::Id(distance(&to_id, &target)))
                    });
                    let request = match seek {
                        Seek::Nodes => Record::new("FIND_NODE").with("target", Value::Id(target.clone())),
                        Seek::Value => Record::new("FIND_VALUE").with("key", Value::Id(target.clone())),
                        Seek::Providers => Record::new("GET_PROVIDERS").with("key", Value::Id(target.clone())),
                    };
                    self.rpc(to, to_id, Purpose::Lookup { lookup: id }, request);
                }
            }
            Next::Done(reason) => {
                let lookup = self.lookups.remove(&id).expect("present");
                self.trace(lookup.goal.op(), || {
                    Record::new("done").with("reason", reason).with("rounds", u64::from(lookup.rounds())).with("queries", lookup.queries)
                });
                self.finish(lookup);
            }
        }
    }

    fn finish(&mut self, lookup: Lookup) {
        let k = self.cfg.k;
        let closest = lookup.closest_answered(k);
        let rounds = u64::from(lookup.rounds());
        match lookup.goal {
            Goal::FindClosest(op) => {
                let (nodes, ids) = nodes_and_ids(closest.iter().cloned());
                let result =
                    Record::new("contacts").with("nodes", nodes).with("ids", ids).with("rounds", rounds).with("queries", lookup.queries);
                host::complete(op, !closest.is_empty(), &result.encode());
            }
            Goal::Put(op, value) => self.store_at(Some(op), &closest, &lookup.target, &value, "STORE"),
            Goal::Republish(value) => self.store_at(None, &closest, &lookup.target, &value, "STORE"),
            Goal::Announce(op) => self.store_at(Some(op), &closest, &lookup.target, &[], "ADD_PROVIDER"),
            Goal::Get(op) => match lookup.value {
                Some(value) => host::complete(op, true, &Record::new("value").with("value", value).with("rounds", rounds).encode()),
                None => host::complete(op, false, &Record::new("not-found").with("rounds", rounds).encode()),
            },
            Goal::FindProviders(op) => {
                let found: Vec<(u32, Id)> = lookup.providers.into_iter().collect();
                let (nodes, ids) = nodes_and_ids(found.iter().cloned());
                host::complete(
                    op,
                    !found.is_empty(),
                    &Record::new("providers").with("nodes", nodes).with("ids", ids).with("rounds", rounds).encode(),
                );
            }
            Goal::Join => {
                // Refresh every bucket farther away than the closest neighbour.
                if let Some(nearest) = self.table.closest_bucket() {
                    for b in nearest + 1..self.cfg.bits as usize {
                        let target = random_in_bucket(&self.id, b, host::random_u64);
                        self.start_lookup(target, Seek::Nodes, Goal::Refresh);
                    }
                }
            }
            Goal::Refresh => {}
        }
    }

    /// Sends STORE (or ADD_PROVIDER) to the given nodes; completes `op`
    /// when all have answered or timed out.
    fn store_at(&mut self, op: Option<u64>, targets: &[(u32, Id)], key: &[u8], value: &[u8], kind: &str) {
        if targets.is_empty() {
            if let Some(op) = op {
                host::complete(op, false, &Record::new("error").with("reason", "no node to store at").encode());
            }
            return;
        }
        self.next_batch += 1;
        let batch = self.next_batch;
        self.batches.insert(batch, StoreBatch { op, waiting: targets.len(), stored: 0, nodes: Vec::new() });
        for (to, to_id) in targets {
            let mut request = Record::new(kind).with("key", Value::Id(key.to_vec()));
            if kind == "STORE" {
                request = request.with("value", value.to_vec());
            }
            self.rpc(*to, to_id.clone(), Purpose::Store { batch }, request);
        }
    }

    fn store_answered(&mut self, batch: u64, from: u32, ok: bool) {
        let Some(b) = self.batches.get_mut(&batch) else { return };
        b.waiting -= 1;
        if ok {
            b.stored += 1;
            b.nodes.push(from);
        }
        if b.waiting == 0 {
            let b = self.batches.remove(&batch).expect("present");
            if let Some(op) = b.op {
                let result = Record::new("stored").with("nodes", Value::Nodes(b.nodes)).with("count", b.stored as u64);
                host::complete(op, b.stored > 0, &result.encode());
            }
        }
    }

    /// An RPC answered (`reply` is the answer) or timed out (`None`).
    fn rpc_done(&mut self, rpc: u64, reply: Option<&Record>) {
        let Some(call) = self.rpcs.remove(&rpc) else { return };
        if reply.is_some() {
            host::cancel_timer(call.timer);
        } else if !matches!(call.purpose, Purpose::EvictionPing { .. }) {
            self.table.remove(call.to, &call.to_id);
        }
        match call.purpose {
            Purpose::EvictionPing { bucket } => match reply {
                Some(_) => {
                    host::log(Level::Debug, &format!("kept n{} in bucket {bucket}: it answered", call.to));
                    self.table.eviction_cancelled(bucket);
                }
                None => {
                    host::log(Level::Debug, &format!("evicted n{} from bucket {bucket}: no answer", call.to));
                    self.table.evict(bucket, call.to);
                }
            },
            Purpose::Store { batch } => self.store_answered(batch, call.to, reply.is_some_and(|r| r.kind == "STORED")),
            Purpose::Lookup { lookup } => {
                let Some(l) = self.lookups.get_mut(&lookup) else { return };
                let Some(round) = l.finish_query(call.to, reply.is_some()) else { return };
                let op = l.goal.op();
                match reply {
                    None => self.trace(op, || Record::new("timeout").with("from", Value::Node(call.to))),
                    Some(r) => {
                        let nodes = r.nodes("nodes").unwrap_or_default();
                        let ids = r.ids("ids").unwrap_or_default();
                        for (n, id) in nodes.iter().zip(ids) {
                            if *n != self.index && id.len() == self.id.len() {
                                l.add(*n, id.clone(), round + 1);
                            }
                        }
                        if r.kind == "VALUE" {
                            l.value = r.bytes("value").map(<[u8]>::to_vec);
                        }
                        if let (Some(p), Some(pids)) = (r.nodes("providers"), r.ids("provider_ids")) {
                            for (n, id) in p.iter().zip(pids) {
                                l.providers.insert(*n, id.clone());
                            }
                        }
                        let head = l.head(self.cfg.k);
                        self.trace(op, || {
                            Record::new("answer")
                                .with("round", u64::from(round))
                                .with("from", Value::Node(call.to))
                                .with("kind", r.kind.clone())
                                .with("returned", Value::Nodes(nodes.to_vec()))
                                .with("shortlist", Value::Nodes(head))
                        });
                    }
                }
                self.advance(lookup);
            }
        }
    }

    fn handle_request(&mut self, from: u32, msg: &Record) {
        let rpc = msg.u64("rpc").unwrap_or(0);
        let now = host::now();
        #[cfg(feature = "eclipse")]
        if let Some(lie) = attack::answer(from, msg, self.cfg.k) {
            self.reply(from, rpc, lie);
            return;
        }
        match msg.kind.as_str() {
            "PING" => self.reply(from, rpc, Record::new("PONG")),
            "FIND_NODE" => {
                let target = msg.id("target").unwrap_or_default();
                let (nodes, ids) = nodes_and_ids(self.closest_contacts(target, Some(from)));
                self.reply(from, rpc, Record::new("NODES").with("nodes", nodes).with("ids", ids));
            }
            "FIND_VALUE" => {
                let key = msg.id("key").unwrap_or_default();
                match self.values.get(key).filter(|v| v.expires > now) {
                    Some(v) => self.reply(from, rpc, Record::new("VALUE").with("value", v.value.clone())),
                    None => {
                        let (nodes, ids) = nodes_and_ids(self.closest_contacts(key, Some(from)));
                        self.reply(from, rpc, Record::new("NODES").with("nodes", nodes).with("ids", ids));
                    }
                }
            }
            "STORE" => {
                let key = msg.id("key").unwrap_or_default().to_vec();
                let value = msg.bytes("value").unwrap_or_default().to_vec();
                let expires = now + self.cfg.expire_ns;
                let publisher = self.values.get(&key).is_some_and(|v| v.publisher);
                self.values.insert(key, Stored { value, expires, publisher });
                self.reply(from, rpc, Record::new("STORED"));
            }
            "ADD_PROVIDER" => {
                let key = msg.id("key").unwrap_or_default().to_vec();
                let id = msg.id("id").unwrap_or_default().to_vec();
                self.providers.entry(key).or_default().insert(from, (id, now + self.cfg.expire_ns));
                self.reply(from, rpc, Record::new("STORED"));
            }
            "GET_PROVIDERS" => {
                let key = msg.id("key").unwrap_or_default();
                let known: Vec<(u32, Id)> = self
                    .providers
                    .get(key)
                    .map(|p| p.iter().filter(|(_, (_, exp))| *exp > now).map(|(n, (id, _))| (*n, id.clone())).collect())
                    .unwrap_or_default();
                let (providers, provider_ids) = nodes_and_ids(known);
                let (nodes, ids) = nodes_and_ids(self.closest_contacts(key, Some(from)));
                let answer = Record::new("PROVIDERS")
                    .with("providers", providers)
                    .with("provider_ids", provider_ids)
                    .with("nodes", nodes)
                    .with("ids", ids);
                self.reply(from, rpc, answer);
            }
            "PONG" | "NODES" | "VALUE" | "STORED" | "PROVIDERS" => self.rpc_done(rpc, Some(msg)),
            other => host::log(Level::Warn, &format!("unknown message kind {other:?} from n{from}")),
        }
    }

    fn refresh_stale_buckets(&mut self) {
        let now = host::now();
        for b in 0..self.cfg.bits as usize {
            if !self.table.buckets()[b].is_empty() && now.saturating_sub(self.bucket_used[b]) >= self.cfg.refresh_ns {
                let target = random_in_bucket(&self.id, b, host::random_u64);
                self.start_lookup(target, Seek::Nodes, Goal::Refresh);
            }
        }
    }

    fn republish(&mut self) {
        let now = host::now();
        self.values.retain(|_, v| v.expires > now);
        for p in self.providers.values_mut() {
            p.retain(|_, (_, exp)| *exp > now);
        }
        self.providers.retain(|_, p| !p.is_empty());
        let mine: Vec<(Id, Vec<u8>)> = self.values.iter().filter(|(_, v)| v.publisher).map(|(k, v)| (k.clone(), v.value.clone())).collect();
        for (key, value) in mine {
            if let Some(v) = self.values.get_mut(&key) {
                v.expires = now + self.cfg.expire_ns;
            }
            self.start_lookup(key, Seek::Nodes, Goal::Republish(value));
        }
    }

    fn state(&self) -> Record {
        let mut buckets = Vec::new();
        let mut contacts = Vec::new();
        let mut ids = Vec::new();
        let mut last_seen = Vec::new();
        for (b, bucket) in self.table.buckets().iter().enumerate() {
            for c in bucket {
                buckets.push(b as u64);
                contacts.push(c.index);
                ids.push(c.id.clone());
                last_seen.push(c.last_seen);
            }
        }
        Record::new("kademlia-state")
            .with("id", Value::Id(self.id.clone()))
            .with("k", self.cfg.k as u64)
            .with("bucket", Value::U64s(buckets))
            .with("nodes", Value::Nodes(contacts))
            .with("ids", Value::Ids(ids))
            .with("last_seen", Value::U64s(last_seen))
            .with("keys", Value::Ids(self.values.keys().cloned().collect()))
            .with("provider_keys", Value::Ids(self.providers.keys().cloned().collect()))
    }
}

struct Kademlia;

impl peer::Guest for Kademlia {
    fn init(args: InitArgs) {
        let config = Record::decode(&args.config).unwrap_or_default();
        let ms = |name: &str, default: u64| config.u64(name).unwrap_or(default) * 1_000_000;
        #[cfg(feature = "eclipse")]
        attack::configure(&config, args.index);
        let cfg = Config {
            k: config.u64("k").unwrap_or(20).max(1) as usize,
            alpha: config.u64("alpha").unwrap_or(3).max(1) as usize,
            bits: config.u64("id_bits").map_or(args.id.len() as u32 * 8, |b| b as u32).clamp(1, args.id.len() as u32 * 8),
            timeout_ns: ms("timeout_ms", 1000),
            refresh_ns: ms("refresh_ms", 3_600_000),
            republish_ns: ms("republish_ms", 3_600_000),
            expire_ns: ms("expire_ms", 86_400_000),
            trace: config.bool("trace").unwrap_or(true),
        };
        let mut node = Node {
            index: args.index,
            id: args.id.clone(),
            table: RoutingTable::new(args.id.clone(), cfg.bits, cfg.k),
            bucket_used: vec![0; cfg.bits as usize],
            cfg,
            next_rpc: 0,
            rpcs: BTreeMap::new(),
            lookups: BTreeMap::new(),
            next_lookup: 0,
            batches: BTreeMap::new(),
            next_batch: 0,
            values: BTreeMap::new(),
            providers: BTreeMap::new(),
        };
        host::set_timer(node.cfg.refresh_ns, REFRESH_TIMER);
        host::set_timer(node.cfg.republish_ns, REPUBLISH_TIMER);
        for c in &args.bootstrap {
            node.heard(c.index, &c.id);
        }
        if !args.bootstrap.is_empty() {
            let own = node.id.clone();
            node.start_lookup(own, Seek::Nodes, Goal::Join);
        }
        NODE.with(|n| *n.borrow_mut() = Some(node));
    }

    fn on_message(from: u32, message: Vec<u8>) {
        let Ok(msg) = Record::decode(&message) else {
            host::log(Level::Warn, &format!("undecodable message from n{from}"));
            return;
        };
        with_node(|node| {
            if let Some(id) = msg.id("id") {
                node.heard(from, id);
            }
            node.handle_request(from, &msg);
        });
    }

    fn on_timer(tag: u64) {
        with_node(|node| match tag {
            REFRESH_TIMER => {
                node.refresh_stale_buckets();
                host::set_timer(node.cfg.refresh_ns, REFRESH_TIMER);
            }
            REPUBLISH_TIMER => {
                node.republish();
                host::set_timer(node.cfg.republish_ns, REPUBLISH_TIMER);
            }
            rpc => node.rpc_done(rpc, None),
        });
    }

    fn on_request(op: u64, request: Vec<u8>) {
        let kind = Record::decode(&request).map(|r| r.kind).unwrap_or_default();
        host::complete(op, false, &Record::new("error").with("reason", format!("unknown request {kind:?}")).encode());
    }
}

impl routing::Guest for Kademlia {
    fn find_closest(op: u64, key: Vec<u8>) {
        with_node(|node| {
            if node.key_fits(op, &key) {
                node.start_lookup(key, Seek::Nodes, Goal::FindClosest(op));
            }
        });
    }

    fn put(op: u64, key: Vec<u8>, value: Vec<u8>) {
        with_node(|node| {
            if !node.key_fits(op, &key) {
                return;
            }
            let expires = host::now() + node.cfg.expire_ns;
            node.values.insert(key.clone(), Stored { value: value.clone(), expires, publisher: true });
            node.start_lookup(key, Seek::Nodes, Goal::Put(op, value));
        });
    }

    fn get(op: u64, key: Vec<u8>) {
        with_node(|node| {
            if !node.key_fits(op, &key) {
                return;
            }
            let now = host::now();
            if let Some(v) = node.values.get(&key).filter(|v| v.expires > now) {
                host::complete(op, true, &Record::new("value").with("value", v.value.clone()).with("rounds", 0u64).encode());
                return;
            }
            node.start_lookup(key, Seek::Value, Goal::Get(op));
        });
    }
}

impl discovery::Guest for Kademlia {
    fn announce(op: u64, key: Vec<u8>) {
        with_node(|node| {
            if node.key_fits(op, &key) {
                node.start_lookup(key, Seek::Nodes, Goal::Announce(op));
            }
        });
    }

    fn find_providers(op: u64, key: Vec<u8>) {
        with_node(|node| {
            if node.key_fits(op, &key) {
                node.start_lookup(key, Seek::Providers, Goal::FindProviders(op));
            }
        });
    }
}

impl observable::Guest for Kademlia {
    fn inspect() -> Vec<u8> {
        with_node(|node| node.state().encode())
    }
}

export!(Kademlia);
