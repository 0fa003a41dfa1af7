//! Unstructured search over whatever neighbours a peer has: the discovery
//! half of the Gnutella and Cyclon reference peers.
//!
//! **Flooding** ([`Mode::Flood`]). A search sends QUERY {guid, key, ttl,
//! hops} to every neighbour. A node that has seen the guid drops the copy;
//! otherwise it remembers who sent it (the reverse path), answers QUERY_HIT
//! if it provides the key, and forwards the query to all its other
//! neighbours while the TTL lasts. A hit travels back hop by hop along the
//! remembered senders.
//!
//! **Random walks** ([`Mode::Walk`]). `walkers` WALK messages leave the
//! asker, each stepping to a random neighbour (not the one it came from,
//! where there is a choice) until it reaches a provider or has taken
//! `walk_ttl` steps. Hits come back along the walk.
//!
//! The asker completes the operation when `results` distinct providers have
//! answered, or `query_timeout_ms` after asking with what it has (none: a
//! miss, which fails). The outcome's `rounds` is the hop count of the first
//! hit; its `guid` field names the query in the message log (the asker's
//! node index is `guid >> 32`).
//!
//! Config keys read by [`SearchConfig::read`]: `mode` ("flood" or "walk"),
//! `ttl` (7), `walkers` (16), `walk_ttl` (1024), `results` (1),
//! `query_timeout_ms` (5000), `route_ms` (60,000: how long a node remembers
//! a query's reverse path), `trace` (true).
//!
//! ```
//! use peershare_sdk::prelude::*;
//! use peershare_search::{Mode, Search, SearchConfig};
//!
//! let config = SearchConfig::read(&Record::new("config").with("ttl", 3u64), Mode::Flood).unwrap();
//! let mut search = Search::new(Contact::new(5, vec![5]), config);
//! search.provide(vec![7]);
//! assert!(search.provides(&[7]));
//! ```

use peershare_sdk::prelude::*;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Timer tags with this bit set belong to the search (query timeouts);
/// keep the peer's own tags below it.
pub const TIMER_BIT: u64 = 1 << 63;

/// How a search looks for providers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Flood every neighbour, up to `ttl` hops.
    Flood,
    /// `walkers` random walks of up to `walk_ttl` steps.
    Walk,
}

/// The search's settings.
#[derive(Clone, Debug)]
pub struct SearchConfig {
    /// Flooding or random walks.
    pub mode: Mode,
    /// Hops a flooded query travels.
    pub ttl: u64,
    /// Walkers per query.
    pub walkers: u64,
    /// Steps per walker.
    pub walk_ttl: u64,
    /// Distinct providers after which a query completes.
    pub results: usize,
    /// How long the asker waits for hits.
    pub query_timeout: Duration,
    /// How long a node remembers a query's way back (ns).
    pub route_ns: u64,
    /// Whether to record lookup trace steps.
    pub trace: bool,
}

impl SearchConfig {
    /// Reads the search's keys from a group config, `default_mode` when
    /// `mode` is absent; an unknown mode is an error naming it.
    pub fn read(c: &Record, default_mode: Mode) -> Result<SearchConfig, String> {
        let n = |name: &str, default: u64| c.u64(name).unwrap_or(default);
        let mode = match c.str("mode") {
            None => default_mode,
            Some("flood") => Mode::Flood,
            Some("walk") => Mode::Walk,
            Some(other) => return Err(format!("config `mode` is {other:?}; expected \"flood\" or \"walk\"")),
        };
        Ok(SearchConfig {
            mode,
            ttl: n("ttl", 7),
            walkers: n("walkers", 16),
            walk_ttl: n("walk_ttl", 1024),
            results: n("results", 1).max(1) as usize,
            query_timeout: Duration::from_millis(n("query_timeout_ms", 5000)),
            route_ns: n("route_ms", 60_000).saturating_mul(1_000_000),
            trace: c.bool("trace").unwrap_or(true),
        })
    }
}

/// One of this node's own queries, in progress.
struct Query {
    op: OpId,
    providers: BTreeMap<NodeIndex, Vec<u8>>,
    first_hit_hops: Option<u64>,
    sent: u64,
    timeout: Timer,
}

/// A node's part in unstructured search: the keys it provides, the
/// reverse paths of queries passing through, and its own queries.
pub struct Search {
    me: Contact,
    cfg: SearchConfig,
    provided: BTreeSet<Vec<u8>>,
    /// Per query (or walker) seen: who sent it first (`None` for our own).
    routes: BTreeMap<u64, Option<NodeIndex>>,
    /// When each route is forgotten (ns), oldest first.
    expiry: VecDeque<(u64, u64)>,
    queries: BTreeMap<u64, Query>,
    next_query: u64,
    duplicates: u64,
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
pub fn query_message(guid: u64, key: &[u8], ttl: u64, hops: u64) -> Record {
    Record::new("QUERY").with("guid", guid).with("key", Value::Id(key.to_vec())).with("ttl", ttl).with("hops", hops)
}

/// A WALK message: walker number `walker` of query `guid`.
pub fn walk_message(guid: u64, walker: u64, key: &[u8], ttl: u64, hops: u64) -> Record {
    Record::new("WALK").with("guid", guid).with("walker", walker).with("key", Value::Id(key.to_vec())).with("ttl", ttl).with("hops", hops)
}

impl Search {
    /// A search for node `me` with `cfg`.
    pub fn new(me: Contact, cfg: SearchConfig) -> Self {
        Search {
            me,
            cfg,
            provided: BTreeSet::new(),
            routes: BTreeMap::new(),
            expiry: VecDeque::new(),
            queries: BTreeMap::new(),
            next_query: 0,
            duplicates: 0,
            forwarded: 0,
        }
    }

    /// The settings.
    pub fn config(&self) -> &SearchConfig {
        &self.cfg
    }

    /// From now on this node answers searches for `key`.
    pub fn provide(&mut self, key: Vec<u8>) {
        self.provided.insert(key);
    }

    /// The `announce` operation `op` of an unstructured network: from now
    /// on this node answers searches for `key` (nothing is published), and
    /// the operation completes at once.
    pub fn announce(&mut self, ctx: &mut Context, op: OpId, key: Vec<u8>) {
        self.provide(key);
        ctx.complete(op, Outcome::stored(1));
    }

    /// Whether this node provides `key`.
    pub fn provides(&self, key: &[u8]) -> bool {
        self.provided.contains(key)
    }

    /// Starts operation `op`, a search for `key` over `neighbours`; completes
    /// at once when this node provides the key itself.
    pub fn find(&mut self, ctx: &mut Context, op: OpId, key: Vec<u8>, neighbours: &[NodeIndex]) {
        if self.provides(&key) {
            let outcome = Outcome::providers(&[self.me.node]).field("contacts", Value::Contacts(vec![self.me.clone()])).rounds(0);
            return ctx.complete(op, outcome);
        }
        self.next_query += 1;
        let serial = self.next_query & 0xFFFF_FFFF;
        let guid = (u64::from(self.me.node) << 32) | serial;
        let timeout = ctx.set_timer(self.cfg.query_timeout, TIMER_BIT | serial);
        let mut sent = 0;
        match self.cfg.mode {
            Mode::Flood => {
                self.remember_route(ctx, guid, None);
                if self.cfg.ttl > 0 {
                    ctx.send_to_all(neighbours.iter().copied(), &query_message(guid, &key, self.cfg.ttl, 1));
                    sent = neighbours.len() as u64;
                }
                let ttl = self.cfg.ttl;
                self.trace(ctx, op, || {
                    Step::Custom(Record::new("flood").with("guid", guid).with("ttl", ttl).with("to", Value::Nodes(neighbours.to_vec())))
                });
            }
            Mode::Walk if !neighbours.is_empty() && self.cfg.walk_ttl > 0 => {
                for walker in 0..self.cfg.walkers {
                    self.remember_route(ctx, walk_route(guid, walker), None);
                    let next = neighbours[ctx.random_below(neighbours.len() as u64) as usize];
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

    /// Handles a search message (QUERY, WALK and their hits), asking for the
    /// node's current neighbours only when it forwards; false for any other
    /// kind, which the peer handles itself.
    pub fn handle(&mut self, ctx: &mut Context, from: NodeIndex, msg: &Record, neighbours: impl FnOnce() -> Vec<NodeIndex>) -> bool {
        match msg.kind.as_str() {
            "QUERY" => self.on_query(ctx, from, msg, &neighbours()),
            "WALK" => self.on_walk(ctx, from, msg, &neighbours()),
            "QUERY_HIT" | "WALK_HIT" => self.on_hit(ctx, msg),
            _ => return false,
        }
        true
    }

    /// Handles a timer the search set (a query's timeout); false for the
    /// peer's own tags (those without [`TIMER_BIT`]).
    pub fn on_timer(&mut self, ctx: &mut Context, tag: u64) -> bool {
        if tag & TIMER_BIT == 0 {
            return false;
        }
        let guid = (u64::from(self.me.node) << 32) | (tag & 0xFFFF_FFFF);
        self.finish(ctx, guid, "timeout");
        true
    }

    /// Forgets reverse paths older than `route_ms`; call it now and then.
    pub fn forget_old_routes(&mut self, ctx: &Context) {
        let now = now(ctx);
        while let Some(&(at, route)) = self.expiry.front() {
            if at > now {
                break;
            }
            self.expiry.pop_front();
            self.routes.remove(&route);
        }
    }

    /// Adds the search's figures to observable state: `provided` (keys),
    /// `routes` remembered, `duplicates` dropped, queries `forwarded`.
    pub fn describe(&self, state: State) -> State {
        state
            .field("provided", self.provided.len() as u64)
            .field("routes", self.routes.len() as u64)
            .field("duplicates", self.duplicates)
            .field("forwarded", self.forwarded)
    }

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
        self.expiry.push_back((now(ctx).saturating_add(self.cfg.route_ns), route));
        true
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

    fn on_query(&mut self, ctx: &mut Context, from: NodeIndex, msg: &Record, neighbours: &[NodeIndex]) {
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
            self.forwarded += 1;
            ctx.send_to_all(neighbours.iter().copied().filter(|&n| n != from), &next);
        }
    }

    fn on_walk(&mut self, ctx: &mut Context, from: NodeIndex, msg: &Record, neighbours: &[NodeIndex]) {
        let (guid, walker) = (msg.u64("guid").unwrap_or(0), msg.u64("walker").unwrap_or(0));
        let (ttl, hops) = (msg.u64("ttl").unwrap_or(0), msg.u64("hops").unwrap_or(0));
        // On a revisit the first way back is kept: it leads to the asker.
        self.remember_route(ctx, walk_route(guid, walker), Some(from));
        let key = msg.id("key").unwrap_or_default();
        if self.provided.contains(key) {
            let hit = Record::new("WALK_HIT")
                .with("guid", guid)
                .with("walker", walker)
                .with("provider", Value::Contacts(vec![self.me.clone()]))
                .with("hops", hops);
            return ctx.send(from, &hit);
        }
        if ttl > 1 && !neighbours.is_empty() {
            let others: Vec<NodeIndex> = neighbours.iter().copied().filter(|&n| n != from).collect();
            let choices = if others.is_empty() { vec![from] } else { others };
            let next = choices[ctx.random_below(choices.len() as u64) as usize];
            self.forwarded += 1;
            ctx.send(next, &walk_message(guid, walker, key, ttl - 1, hops + 1));
        }
    }

    /// A hit: ours, or passed one hop back along the reverse path.
    fn on_hit(&mut self, ctx: &mut Context, msg: &Record) {
        let guid = msg.u64("guid").unwrap_or(0);
        let route = match msg.kind.as_str() {
            "WALK_HIT" => walk_route(guid, msg.u64("walker").unwrap_or(0)),
            _ => guid,
        };
        match self.routes.get(&route).copied() {
            Some(Some(back)) => ctx.send(back, msg),
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

#[cfg(test)]
mod tests {
    use super::*;
    use peershare_sdk::testing::Harness;

    /// A peer that is nothing but a search over fixed neighbours.
    struct Searcher {
        search: Search,
        neighbours: Vec<NodeIndex>,
    }

    impl Peer for Searcher {
        fn init(_: &mut Context, start: Start) -> Self {
            let cfg = SearchConfig::read(&start.config, Mode::Flood).unwrap();
            Searcher {
                search: Search::new(Contact::new(start.index, start.id), cfg),
                neighbours: start.bootstrap.iter().map(|c| c.node).collect(),
            }
        }
        fn on_message(&mut self, ctx: &mut Context, from: NodeIndex, message: Record) {
            assert!(self.search.handle(ctx, from, &message, || self.neighbours.clone()), "only search messages here");
        }
        fn on_timer(&mut self, ctx: &mut Context, tag: u64) {
            assert!(self.search.on_timer(ctx, tag));
        }
        fn announce(&mut self, ctx: &mut Context, op: OpId, key: Vec<u8>) {
            self.search.announce(ctx, op, key);
        }
        fn find_providers(&mut self, ctx: &mut Context, op: OpId, key: Vec<u8>) {
            let neighbours = self.neighbours.clone();
            self.search.find(ctx, op, key, &neighbours);
        }
        fn inspect(&self, _: &Context) -> State {
            self.search.describe(State::new())
        }
    }

    fn node(index: NodeIndex, config: Record, neighbours: &[NodeIndex]) -> Harness<Searcher> {
        let bootstrap: Vec<Contact> = neighbours.iter().map(|&n| Contact::new(n, vec![n as u8])).collect();
        Harness::<Searcher>::start(index, config, &bootstrap)
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
    fn the_asker_completes_at_the_first_hit_or_fails_at_the_timeout() {
        let mut asker = node(5, Record::new("config"), &[1, 2]);
        asker.call(|p, ctx| p.find_providers(ctx, 9, vec![7]));
        let guid = asker.sent()[0].1.u64("guid").unwrap();
        assert_eq!(guid >> 32, 5, "the guid names the asker");
        let hit = Record::new("QUERY_HIT")
            .with("guid", guid)
            .with("provider", Value::Contacts(vec![Contact::new(8, vec![8])]))
            .with("hops", 2u64);
        asker.deliver(1, hit);
        asker.call(|p, ctx| p.find_providers(ctx, 10, vec![6]));
        assert!(asker.fire(TIMER_BIT | 2), "the second query's timeout is pending");
        let completions: Vec<(OpId, bool, Record)> = asker
            .effects()
            .into_iter()
            .filter_map(|e| match e {
                peershare_sdk::testing::Effect::Completed { op, ok, outcome } => Some((op, ok, outcome)),
                _ => None,
            })
            .collect();
        assert_eq!(completions.len(), 2);
        assert_eq!((completions[0].0, completions[0].1, completions[0].2.nodes("nodes")), (9, true, Some(&[8][..])));
        assert_eq!(completions[0].2.u64("rounds"), Some(2));
        assert_eq!((completions[1].0, completions[1].1, completions[1].2.str("reason")), (10, false, Some("timeout")));
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

    #[test]
    fn an_unknown_mode_is_refused_by_name() {
        let e = SearchConfig::read(&Record::new("config").with("mode", "psychic"), Mode::Flood).unwrap_err();
        assert!(e.contains("\"psychic\""), "{e}");
    }
}
