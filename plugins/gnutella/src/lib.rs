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
//! **Search** (shared with the Cyclon peer, `plugins/search`): QUERY
//! flooding with a TTL, duplicate suppression and QUERY_HIT routed back
//! along the reverse path (`mode = "flood"`), or `walkers` random walks
//! (`mode = "walk"`); see the `peershare-search` crate for the protocol
//! and its keys. `announce` only records the key locally: nothing is
//! published in an unstructured network.
//!
//! Config: `degree` (the number of bootstrap contacts when there are at
//! least two, else 4), `max_degree` (2 x degree), `ping_ms` (5000),
//! `max_failures` (3), and the search's `mode` (flood), `ttl` (7),
//! `walkers` (16), `walk_ttl` (1024), `results` (1), `query_timeout_ms`
//! (5000), `route_ms` (60,000), `trace` (true).

use peershare_sdk::prelude::*;
use peershare_search::{Mode, Search, SearchConfig};
use std::collections::{BTreeMap, BTreeSet};

/// Timer tag of the periodic keep-alive round (the search's own tags have
/// `peershare_search::TIMER_BIT` set).
const PING_ROUND: u64 = 1;
/// Neighbours a PONG or BUSY offers as candidates.
const OFFERED: usize = 4;
/// Candidates kept to connect to.
const MAX_CANDIDATES: usize = 32;

/// The overlay's settings.
struct Config {
    degree: usize,
    max_degree: usize,
    ping: Duration,
    max_failures: u32,
}

impl Config {
    fn read(c: &Record, bootstrap: usize) -> Config {
        let n = |name: &str, default: u64| c.u64(name).unwrap_or(default);
        let degree = n("degree", if bootstrap >= 2 { bootstrap as u64 } else { 4 }) as usize;
        Config {
            degree,
            max_degree: n("max_degree", 2 * degree as u64) as usize,
            ping: Duration::from_millis(n("ping_ms", 5000)),
            max_failures: n("max_failures", 3) as u32,
        }
    }
}

/// A neighbour: its id and how many PINGs in a row it left unanswered.
struct Neighbour {
    id: Vec<u8>,
    missed: u32,
}

struct Gnutella {
    me: Contact,
    cfg: Config,
    neighbours: BTreeMap<NodeIndex, Neighbour>,
    /// Nodes to connect to when below `degree`.
    candidates: BTreeMap<NodeIndex, Vec<u8>>,
    /// CONNECTs sent and not yet answered.
    connecting: BTreeSet<NodeIndex>,
    search: Search,
}

impl Gnutella {
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

    fn neighbour_list(&self) -> Vec<NodeIndex> {
        self.neighbours.keys().copied().collect()
    }

    fn ping_round(&mut self, ctx: &mut Context) {
        self.search.forget_old_routes(ctx);
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
}

impl Peer for Gnutella {
    fn init(ctx: &mut Context, start: Start) -> Self {
        let me = Contact::new(start.index, start.id.clone());
        let search = SearchConfig::read(&start.config, Mode::Flood).unwrap_or_else(|e| {
            ctx.log(Level::Error, &format!("{e}; flooding instead"));
            SearchConfig::read(&Record::new("config"), Mode::Flood).expect("defaults are valid")
        });
        let cfg = Config::read(&start.config, start.bootstrap.len());
        ctx.every(cfg.ping, PING_ROUND);
        let mut node = Gnutella {
            search: Search::new(me.clone(), search),
            me,
            cfg,
            neighbours: BTreeMap::new(),
            candidates: BTreeMap::new(),
            connecting: BTreeSet::new(),
        };
        for c in &start.bootstrap {
            node.connect(ctx, c.node);
        }
        node
    }

    fn on_message(&mut self, ctx: &mut Context, from: NodeIndex, message: Record) {
        if let Some(nb) = self.neighbours.get_mut(&from) {
            nb.missed = 0;
        }
        let known = &self.neighbours;
        let neighbours = || known.keys().copied().collect();
        if self.search.handle(ctx, from, &message, neighbours) {
            return;
        }
        match message.kind.as_str() {
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
        if !self.search.on_timer(ctx, tag) && tag == PING_ROUND {
            self.ping_round(ctx);
        }
    }

    fn announce(&mut self, ctx: &mut Context, op: OpId, key: Vec<u8>) {
        self.search.announce(ctx, op, key);
    }

    fn find_providers(&mut self, ctx: &mut Context, op: OpId, key: Vec<u8>) {
        let neighbours = self.neighbour_list();
        self.search.find(ctx, op, key, &neighbours);
    }

    fn inspect(&self, _ctx: &Context) -> State {
        let state = State::new()
            .neighbours(self.neighbours.keys().copied())
            .field("candidates", Value::Nodes(self.candidates.keys().copied().collect()));
        self.search.describe(state)
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
}
