//! Unstructured search, as in Gnutella 0.4: a random overlay of degree `d`,
//! QUERY flooding with a TTL and duplicate suppression, QUERY-HIT routed
//! back along the reverse path; `k` random walkers as the alternative.
//!
//! **Overlay.** A node's neighbours start as its bootstrap contacts: it
//! sends each a CONNECT, and a node accepts every CONNECT while it has
//! fewer than `max_degree` neighbours (refusing with BUSY and a few of its
//! neighbours to try instead). With `bootstrap = { strategy = "regular",
//! degree = d }` the overlay is exactly the host's random `d`-regular
//! graph, the one the flooding analysis assumes. Every `ping_ms` a node
//! PINGs its neighbours; one that misses `max_failures` PINGs in a row is
//! dropped, and a node below `degree` neighbours connects to a candidate
//! learned from PONGs (each carries a few of the sender's neighbours), so
//! the overlay mends itself under churn.
//!
//! **Flooding** (`mode = "flood"`). `find-providers` sends QUERY {guid,
//! key, ttl, hops} to every neighbour. A node that has seen the guid drops
//! the copy; otherwise it remembers who sent it (the reverse path), answers
//! QUERY-HIT if it provides the key, and forwards the query to all other
//! neighbours while the TTL lasts. A hit travels back hop by hop along the
//! remembered senders.
//!
//! **Random walks** (`mode = "walk"`). `walkers` WALK messages leave the
//! asker, each stepping to a random neighbour (not the one it came from,
//! where there is a choice) until it reaches a provider or has taken
//! `walk_ttl` steps. Hits come back along the walk.
//!
//! The asker completes the operation when `results` distinct providers have
//! answered, or `query_timeout_ms` after asking with what it has (possibly
//! none: a miss). The outcome's `rounds` is the hop count of the first hit;
//! its `guid` field names the query in the message log. `announce` only
//! records the key locally: nothing is published in an unstructured
//! network.
//!
//! Config: `degree` (the number of bootstrap contacts when there are at
//! least two, else 4), `max_degree` (2 x degree), `mode` (flood), `ttl`
//! (7), `walkers` (16), `walk_ttl` (1024), `results` (1),
//! `query_timeout_ms` (5000), `ping_ms` (5000), `max_failures` (3),
//! `route_ms` (60,000: how long a node remembers a query's reverse path),
//! `trace` (true).

use peershare_sdk::prelude::*;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Timer tag of the periodic keep-alive round; other tags are the guids of
/// this node's own queries (their timeouts).
const PING_ROUND: u64 = u64::MAX;
/// Neighbours a PONG or BUSY offers as candidates.
const OFFERED: usize = 4;
/// Candidates kept to connect to.
const MAX_CANDIDATES: usize = 32;

/// How a query searches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Flood,
    Walk,
}

struct Config {
    degree: usize,
    max_degree: usize,
    mode: Mode,
    ttl: u64,
    walkers: u64,
    walk_ttl: u64,
    results: usize,
    query_timeout: Duration,
    ping: Duration,
    max_failures: u32,
    route_ns: u64,
    trace: bool,
}

impl Config {
    fn read(c: &Record, bootstrap: usize) -> Result<Config, String> {
        let n = |name: &str, default: u64| c.u64(name).unwrap_or(default);
        let ms = |name: &str, default: u64| Duration::from_millis(n(name, default));
        let degree = n("degree", if bootstrap >= 2 { bootstrap as u64 } else { 4 }) as usize;
        let mode = match c.str("mode").unwrap_or("flood") {
            "flood" => Mode::Flood,
            "walk" => Mode::Walk,
            other => return Err(format!("config `mode` is {other:?}; expected \"flood\" or \"walk\"")),
        };
        Ok(Config {
            degree,
            max_degree: n("max_degree", 2 * degree as u64) as usize,
            mode,
            ttl: n("ttl", 7),
            walkers: n("walkers", 16),
            walk_ttl: n("walk_ttl", 1024),
            results: n("results", 1).max(1) as usize,
            query_timeout: ms("query_timeout_ms", 5000),
            ping: ms("ping_ms", 5000),
            max_failures: n("max_failures", 3) as u32,
            route_ns: ms("route_ms", 60_000).as_nanos() as u64,
            trace: c.bool("trace").unwrap_or(true),
        })
    }
}

/// A neighbour: its id and how many PINGs in a row it left unanswered.
struct Neighbour {
    id: Vec<u8>,
    missed: u32,
}

/// One of this node's own queries, in progress.
struct Query {
    op: OpId,
    providers: BTreeMap<NodeIndex, Vec<u8>>,
    first_hit_hops: Option<u64>,
    sent: u64,
    timeout: Timer,
}

struct Gnutella {
    me: Contact,
    cfg: Config,
    neighbours: BTreeMap<NodeIndex, Neighbour>,
    /// Nodes to connect to when below `degree`.
    candidates: BTreeMap<NodeIndex, Vec<u8>>,
    /// CONNECTs sent and not yet answered.
    connecting: BTreeSet<NodeIndex>,
    /// Keys this node provides.
    provided: BTreeSet<Vec<u8>>,
    /// Per query (or walk) seen: who sent it first (`None` for our own).
    routes: BTreeMap<u64, Option<NodeIndex>>,
    /// When each route is forgotten (ns), oldest first.
    expiry: VecDeque<(u64, u64)>,
    queries: BTreeMap<u64, Query>,
    next_query: u64,
    /// Duplicate QUERY copies dropped here.
    duplicates: u64,
    /// Queries this node forwarded.
    forwarded: u64,
}

fn now(ctx: &Context) -> u64 {
    ctx.now().as_nanos() as u64
}

/// A walker's route key: its query's guid and its number, so that every
/// walker keeps its own way back.
fn walk_route(guid: u64, walker: u64) -> u64 {
    guid ^ walker.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17)
}

/// A QUERY message.
fn query_message(guid: u64, key: &[u8], ttl: u64, hops: u64) -> Record {
    Record::new("QUERY").with("guid", guid).with("key", Value::Id(key.to_vec())).with("ttl", ttl).with("hops", hops)
}

/// A WALK message: walker number `walker` of query `guid`.
fn walk_message(guid: u64, walker: u64, key: &[u8], ttl: u64, hops: u64) -> Record {
    Record::new("WALK").with("guid", guid).with("walker", walker).with("key", Value::Id(key.to_vec())).with("ttl", ttl).with("hops", hops)
}

impl Gnutella {
    fn trace(&self, ctx: &mut Context, op: OpId, step: impl FnOnce() -> Step) {
        if self.cfg.trace {
            ctx.trace(op, &step());
        }
    }

    fn remember_route(&mut self, ctx: &Context, route: u64, from: Option<NodeIndex>) -> bool {
        if self.routes.contains_key(&route) {
            return false;
        }
        self.routes.insert(route, from);
        self.expiry.push_back((now(ctx) + self.cfg.route_ns, route));
        true
    }

    fn forget_old_routes(&mut self, ctx: &Context) {
        let now = now(ctx);
        while let Some(&(at, route)) = self.expiry.front() {
            if at > now {
                break;
            }
            self.expiry.pop_front();
            self.routes.remove(&route);
        }
    }

    fn offered(&self, excluding: NodeIndex) -> Value {
        let offer = self.neighbours.iter().filter(|(n, _)| **n != excluding).take(OFFERED);
        Value::Contacts(offer.map(|(n, nb)| Contact::new(*n, nb.id.clone())).collect())
    }

    fn learn(&mut self, r: &Record) {
        for c in r.contacts("peers").unwrap_or_default() {
            if c.node != self.me.node && !self.neighbours.contains_key(&c.node) && self.candidates.len() < MAX_CANDIDATES {
                self.candidates.insert(c.node, c.id.clone());
            }
        }
    }

    fn add_neighbour(&mut self, node: NodeIndex, id: Vec<u8>) {
        self.candidates.remove(&node);
        self.connecting.remove(&node);
        self.neighbours.entry(node).or_insert(Neighbour { id, missed: 0 }).missed = 0;
    }

    fn connect(&mut self, ctx: &mut Context, to: NodeIndex) {
        if to != self.me.node && self.connecting.insert(to) {
            ctx.send(to, &Record::new("CONNECT").with("id", Value::Id(self.me.id.clone())));
        }
    }

    /// Connects to random candidates until CONNECTs in flight would bring
    /// the node up to `degree`.
    fn top_up(&mut self, ctx: &mut Context) {
        while self.neighbours.len() + self.connecting.len() < self.cfg.degree {
            let choices: Vec<NodeIndex> = self.candidates.keys().copied().filter(|c| !self.connecting.contains(c)).collect();
            if choices.is_empty() {
                return;
            }
            let pick = choices[ctx.random_below(choices.len() as u64) as usize];
            self.candidates.remove(&pick);
            self.connect(ctx, pick);
        }
    }

    fn ping_round(&mut self, ctx: &mut Context) {
        self.forget_old_routes(ctx);
        // A CONNECT unanswered for a whole round is given up.
        self.connecting.clear();
        let limit = self.cfg.max_failures;
        let dropped: Vec<NodeIndex> = self.neighbours.iter().filter(|(_, nb)| nb.missed >= limit).map(|(n, _)| *n).collect();
        for n in dropped {
            self.neighbours.remove(&n);
            ctx.log(Level::Debug, &format!("dropped neighbour n{n} after {limit} unanswered pings"));
        }
        for nb in self.neighbours.values_mut() {
            nb.missed += 1;
        }
        let ping = Record::new("PING").with("id", Value::Id(self.me.id.clone()));
        ctx.send_to_all(self.neighbours.keys().copied(), &ping);
        self.top_up(ctx);
    }

    fn start_query(&mut self, ctx: &mut Context, op: OpId, key: Vec<u8>) {
        self.next_query += 1;
        let guid = (u64::from(self.me.node) << 32) | (self.next_query & 0xFFFF_FFFF);
        let timeout = ctx.set_timer(self.cfg.query_timeout, guid);
        let mut sent = 0;
        let to: Vec<NodeIndex> = self.neighbours.keys().copied().collect();
        match self.cfg.mode {
            Mode::Flood => {
                self.remember_route(ctx, guid, None);
                let query = query_message(guid, &key, self.cfg.ttl, 1);
                if self.cfg.ttl > 0 {
                    ctx.send_to_all(to.iter().copied(), &query);
                    sent = to.len() as u64;
                }
                self.trace(ctx, op, || {
                    Step::Custom(Record::new("flood").with("guid", guid).with("ttl", self.cfg.ttl).with("to", Value::Nodes(to)))
                });
            }
            Mode::Walk if !to.is_empty() && self.cfg.walk_ttl > 0 => {
                for walker in 0..self.cfg.walkers {
                    self.remember_route(ctx, walk_route(guid, walker), None);
                    let next = to[ctx.random_below(to.len() as u64) as usize];
                    ctx.send(next, &walk_message(guid, walker, &key, self.cfg.walk_ttl, 1));
                    sent += 1;
                }
                let walkers = self.cfg.walkers;
                self.trace(ctx, op, || Step::Custom(Record::new("walk").with("guid", guid).with("walkers", walkers)));
            }
            Mode::Walk => {}
        }
        self.queries.insert(guid, Query { op, providers: BTreeMap::new(), first_hit_hops: None, sent, timeout });
    }

    fn finish(&mut self, ctx: &mut Context, guid: u64, why: &str) {
        let Some(q) = self.queries.remove(&guid) else { return };
        ctx.cancel(q.timeout);
        let hops = q.first_hit_hops.unwrap_or(0);
        let (sent, op) = (q.sent, q.op);
        self.trace(ctx, op, || Step::done(why, hops, sent));
        let found: Vec<Contact> = q.providers.into_iter().map(|(n, id)| Contact::new(n, id)).collect();
        let nodes: Vec<NodeIndex> = found.iter().map(|c| c.node).collect();
        let mut outcome = Outcome::providers(&nodes).field("contacts", Value::Contacts(found)).field("guid", guid).rounds(hops);
        if nodes.is_empty() {
            outcome = outcome.field("reason", why);
        }
        ctx.complete(op, outcome);
    }

    fn on_query(&mut self, ctx: &mut Context, from: NodeIndex, msg: &Record) {
        let (guid, ttl, hops) = (msg.u64("guid").unwrap_or(0), msg.u64("ttl").unwrap_or(0), msg.u64("hops").unwrap_or(0));
        if !self.remember_route(ctx, guid, Some(from)) {
            self.duplicates += 1;
            return;
        }
        let key = msg.id("key").unwrap_or_default();
        if self.provided.contains(key) {
            let hit =
                Record::new("QUERY_HIT").with("guid", guid).with("provider", Value::Contacts(vec![self.me.clone()])).with("hops", hops);
            ctx.send(from, &hit);
        }
        if ttl > 1 {
            let next = query_message(guid, key, ttl - 1, hops + 1);
            let to: Vec<NodeIndex> = self.neighbours.keys().copied().filter(|&n| n != from).collect();
            self.forwarded += 1;
            ctx.send_to_all(to, &next);
        }
    }

    fn on_walk(&mut self, ctx: &mut Context, from: NodeIndex, msg: &Record) {
        let (guid, walker) = (msg.u64("guid").unwrap_or(0), msg.u64("walker").unwrap_or(0));
        let (ttl, hops) = (msg.u64("ttl").unwrap_or(0), msg.u64("hops").unwrap_or(0));
        let route = walk_route(guid, walker);
        // On a revisit the first way back is kept: it leads to the asker.
        self.remember_route(ctx, route, Some(from));
        let key = msg.id("key").unwrap_or_default();
        if self.provided.contains(key) {
            let hit = Record::new("WALK_HIT")
                .with("guid", guid)
                .with("walker", walker)
                .with("provider", Value::Contacts(vec![self.me.clone()]))
                .with("hops", hops);
            return ctx.send(from, &hit);
        }
        if ttl > 1 && !self.neighbours.is_empty() {
            let others: Vec<NodeIndex> = self.neighbours.keys().copied().filter(|&n| n != from).collect();
            let choices = if others.is_empty() { vec![from] } else { others };
            let next = choices[ctx.random_below(choices.len() as u64) as usize];
            self.forwarded += 1;
            ctx.send(next, &walk_message(guid, walker, key, ttl - 1, hops + 1));
        }
    }

    /// A hit: ours, or passed one hop back along the reverse path.
    fn on_hit(&mut self, ctx: &mut Context, msg: Record) {
        let guid = msg.u64("guid").unwrap_or(0);
        let route = match msg.kind.as_str() {
            "WALK_HIT" => walk_route(guid, msg.u64("walker").unwrap_or(0)),
            _ => guid,
        };
        match self.routes.get(&route).copied() {
            Some(Some(back)) => ctx.send(back, &msg),
            Some(None) => {
                let Some(q) = self.queries.get_mut(&guid) else { return };
                let Some(provider) = msg.contacts("provider").and_then(|p| p.first()).cloned() else { return };
                let hops = msg.u64("hops").unwrap_or(0);
                q.first_hit_hops.get_or_insert(hops);
                q.providers.insert(provider.node, provider.id);
                let (op, enough) = (q.op, q.providers.len() >= self.cfg.results);
                self.trace(ctx, op, || Step::Custom(Record::new("hit").with("provider", provider.node).with("hops", hops)));
                if enough {
                    self.finish(ctx, guid, "enough providers");
                }
            }
            // The route was forgotten (expired, or lost in a restart).
            None => {}
        }
    }
}

impl Peer for Gnutella {
    fn init(ctx: &mut Context, start: Start) -> Self {
        let cfg = Config::read(&start.config, start.bootstrap.len()).unwrap_or_else(|e| {
            ctx.log(Level::Error, &format!("{e}; using flooding"));
            Config::read(&Record::new("config"), start.bootstrap.len()).expect("defaults are valid")
        });
        ctx.every(cfg.ping, PING_ROUND);
        let mut me = Gnutella {
            me: Contact::new(start.index, start.id.clone()),
            cfg,
            neighbours: BTreeMap::new(),
            candidates: BTreeMap::new(),
            connecting: BTreeSet::new(),
            provided: BTreeSet::new(),
            routes: BTreeMap::new(),
            expiry: VecDeque::new(),
            queries: BTreeMap::new(),
            next_query: 0,
            duplicates: 0,
            forwarded: 0,
        };
        for c in &start.bootstrap {
            me.connect(ctx, c.node);
        }
        me
    }

    fn on_message(&mut self, ctx: &mut Context, from: NodeIndex, message: Record) {
        if let Some(nb) = self.neighbours.get_mut(&from) {
            nb.missed = 0;
        }
        match message.kind.as_str() {
            "QUERY" => self.on_query(ctx, from, &message),
            "WALK" => self.on_walk(ctx, from, &message),
            "QUERY_HIT" | "WALK_HIT" => self.on_hit(ctx, message),
            "CONNECT" | "PING" => {
                let id = message.id("id").unwrap_or_default().to_vec();
                let known = self.neighbours.contains_key(&from);
                if known || self.neighbours.len() < self.cfg.max_degree {
                    self.add_neighbour(from, id);
                    let reply = if message.kind == "PING" { "PONG" } else { "CONNECTED" };
                    ctx.send(from, &Record::new(reply).with("id", Value::Id(self.me.id.clone())).with("peers", self.offered(from)));
                } else {
                    ctx.send(from, &Record::new("BUSY").with("peers", self.offered(from)));
                }
            }
            "CONNECTED" | "PONG" => {
                self.learn(&message);
                let id = message.id("id").unwrap_or_default().to_vec();
                if message.kind == "CONNECTED" || self.neighbours.contains_key(&from) {
                    self.add_neighbour(from, id);
                }
            }
            "BUSY" => {
                // Refused, or dropped by a node that has no room for us.
                self.connecting.remove(&from);
                self.neighbours.remove(&from);
                self.learn(&message);
                self.top_up(ctx);
            }
            other => ctx.log(Level::Warn, &format!("unknown message {other:?} from n{from}")),
        }
    }

    fn on_timer(&mut self, ctx: &mut Context, tag: u64) {
        match tag {
            PING_ROUND => self.ping_round(ctx),
            guid => self.finish(ctx, guid, "timeout"),
        }
    }

    fn announce(&mut self, ctx: &mut Context, op: OpId, key: Vec<u8>) {
        self.provided.insert(key);
        ctx.complete(op, Outcome::stored(1));
    }

    fn find_providers(&mut self, ctx: &mut Context, op: OpId, key: Vec<u8>) {
        if self.provided.contains(&key) {
            let outcome = Outcome::providers(&[self.me.node]).field("contacts", Value::Contacts(vec![self.me.clone()])).rounds(0);
            return ctx.complete(op, outcome);
        }
        self.start_query(ctx, op, key);
    }

    fn inspect(&self, _ctx: &Context) -> State {
        State::new()
            .neighbours(self.neighbours.keys().copied())
            .field("candidates", Value::Nodes(self.candidates.keys().copied().collect()))
            .field("provided", self.provided.len() as u64)
            .field("routes", self.routes.len() as u64)
            .field("duplicates", self.duplicates)
            .field("forwarded", self.forwarded)
    }
}

peershare_sdk::export_peer!(Gnutella);

#[cfg(test)]
mod tests {
    use super::*;
    use peershare_sdk::testing::Harness;

    fn node(index: NodeIndex, config: Record, neighbours: &[NodeIndex]) -> Harness<Gnutella> {
        let bootstrap: Vec<Contact> = neighbours.iter().map(|&n| Contact::new(n, vec![n as u8])).collect();
        let mut h = Harness::<Gnutella>::start(index, config, &bootstrap);
        for &n in neighbours {
            h.deliver(n, Record::new("CONNECTED").with("id", Value::Id(vec![n as u8])));
        }
        h.sent();
        h
    }

    fn query(guid: u64, ttl: u64) -> Record {
        query_message(guid, &[7], ttl, 1)
    }

    #[test]
    fn a_query_is_forwarded_to_every_other_neighbour_with_one_ttl_less() {
        let mut h = node(5, Record::new("config"), &[1, 2, 3]);
        h.deliver(1, query(42, 3));
        let sent = h.sent();
        let to: Vec<NodeIndex> = sent.iter().map(|(n, _)| *n).collect();
        assert_eq!(to, vec![2, 3]);
        assert!(sent.iter().all(|(_, r)| r.u64("ttl") == Some(2) && r.u64("hops") == Some(2)));
    }

    #[test]
    fn duplicates_are_dropped_and_the_last_hop_does_not_forward() {
        let mut h = node(5, Record::new("config"), &[1, 2, 3]);
        h.deliver(1, query(42, 3));
        h.sent();
        h.deliver(2, query(42, 3));
        assert!(h.sent().is_empty(), "a second copy is dropped");
        assert_eq!(h.inspect().u64("duplicates"), Some(1));
        h.deliver(1, query(43, 1));
        assert!(h.sent().is_empty(), "ttl 1 is the last hop");
    }

    #[test]
    fn a_provider_answers_and_hits_go_back_along_the_reverse_path() {
        let mut provider = node(5, Record::new("config"), &[1, 2]);
        provider.call(|p, ctx| p.announce(ctx, 1, vec![7]));
        provider.deliver(1, query(42, 2));
        let sent = provider.sent();
        let hit = sent.iter().find(|(_, r)| r.kind == "QUERY_HIT").expect("a hit");
        assert_eq!(hit.0, 1, "the hit goes to whoever sent the query");
        let mut relay = node(1, Record::new("config"), &[5, 9]);
        relay.deliver(9, query(42, 3));
        relay.sent();
        relay.deliver(5, hit.1.clone());
        assert_eq!(relay.sent().iter().map(|(n, r)| (*n, r.kind.clone())).collect::<Vec<_>>(), vec![(9, "QUERY_HIT".to_string())]);
    }

    #[test]
    fn a_full_node_refuses_and_offers_its_neighbours() {
        let config = Record::new("config").with("degree", 2u64).with("max_degree", 2u64);
        let mut h = node(5, config, &[1, 2]);
        h.deliver(3, Record::new("CONNECT").with("id", Value::Id(vec![3])));
        let sent = h.sent();
        assert_eq!(sent[0].1.kind, "BUSY");
        let offered: Vec<NodeIndex> = sent[0].1.contacts("peers").unwrap().iter().map(|c| c.node).collect();
        assert_eq!(offered, vec![1, 2]);
    }

    #[test]
    fn a_silent_neighbour_is_replaced_by_a_candidate() {
        let config = Record::new("config").with("degree", 2u64).with("max_degree", 4u64).with("max_failures", 2u64);
        let mut h = node(5, config, &[1, 2]);
        h.deliver(2, Record::new("PONG").with("id", Value::Id(vec![2])).with("peers", Value::Contacts(vec![Contact::new(8, vec![8])])));
        for _ in 0..3 {
            h.deliver(2, Record::new("PONG").with("id", Value::Id(vec![2])));
            h.fire(PING_ROUND);
        }
        let neighbours = h.inspect().nodes("neighbours").unwrap().to_vec();
        assert_eq!(neighbours, vec![2], "node 1 never answered");
        let sent = h.sent();
        assert!(sent.iter().any(|(n, r)| *n == 8 && r.kind == "CONNECT"), "connects to the candidate: {sent:?}");
    }

    #[test]
    fn walkers_step_to_one_neighbour_each_and_never_back_where_there_is_a_choice() {
        let config = Record::new("config").with("mode", "walk").with("walkers", 4u64);
        let mut h = node(5, config.clone(), &[1, 2, 3]);
        h.call(|p, ctx| p.find_providers(ctx, 9, vec![7]));
        let sent = h.sent();
        assert_eq!(sent.len(), 4);
        assert!(sent.iter().all(|(_, r)| r.kind == "WALK"));
        let mut relay = node(1, config, &[5, 6]);
        relay.deliver(5, sent[0].1.clone());
        assert_eq!(relay.sent().iter().map(|(n, _)| *n).collect::<Vec<_>>(), vec![6]);
    }
}
