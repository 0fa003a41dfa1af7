//! Cyclon gossip membership (Voulgaris, Gavidia and van Steen, 2005), with
//! search over the sampled views.
//!
//! Each node keeps a **view** of at most `view` entries (a neighbour and
//! the entry's age). Every `shuffle_ms` it **shuffles**:
//! 1. it adds one to every entry's age;
//! 2. picks the oldest entry Q and `shuffle_length - 1` other random ones;
//! 3. removes Q from its view and sends Q the picked entries plus a fresh
//!    entry for itself (age 0);
//! 4. Q answers with `shuffle_length` random entries of its own, and both
//!    merge what they got: entries for themselves or already in the view
//!    are discarded, the rest fill empty slots first and then replace the
//!    entries they sent.
//!
//! A node that does not answer has already lost its place in the asker's
//! view (step 3), so entries for departed nodes die out by themselves.
//!
//! **Joining.** A new node puts its bootstrap contacts in its view and
//! sends JOIN to one of them, the introducer, which starts `view` random
//! walks of `join_walk` hops. Where a walk ends, the node makes room for
//! the newcomer (replacing a random entry, which it hands to the newcomer,
//! or, with a free slot, handing it an entry for itself). A node whose view
//! empties joins again the same way.
//!
//! **Search** (`plugins/search`): random walkers over the view by default
//! (`mode = "walk"`), or flooding with a TTL (`mode = "flood"`).
//!
//! Config: `view` (20), `shuffle_length` (8), `shuffle_ms` (1000),
//! `join_walk` (5), and the search's `mode` (walk), `ttl` (7), `walkers`
//! (16), `walk_ttl` (1024), `results` (1), `query_timeout_ms` (5000),
//! `route_ms` (60,000), `trace` (true).

use peershare_sdk::prelude::*;
use peershare_search::{Mode, Search, SearchConfig};
use std::collections::BTreeMap;

/// Timer tag of the periodic shuffle (the search's own tags have
/// `peershare_search::TIMER_BIT` set).
const SHUFFLE: u64 = 1;

struct Config {
    view: usize,
    shuffle_length: usize,
    period: Duration,
    join_walk: u64,
}

impl Config {
    fn read(c: &Record) -> Config {
        let n = |name: &str, default: u64| c.u64(name).unwrap_or(default);
        Config {
            view: n("view", 20).max(1) as usize,
            shuffle_length: n("shuffle_length", 8).max(1) as usize,
            period: Duration::from_millis(n("shuffle_ms", 1000)),
            join_walk: n("join_walk", 5),
        }
    }
}

/// A view entry: a neighbour and how many shuffles old the entry is.
#[derive(Clone, Debug, PartialEq)]
struct Entry {
    contact: Contact,
    age: u64,
}

/// Entries as message fields: `entries` (contacts) and `ages`.
fn with_entries(r: Record, entries: &[Entry]) -> Record {
    r.with("entries", Value::Contacts(entries.iter().map(|e| e.contact.clone()).collect()))
        .with("ages", Value::U64s(entries.iter().map(|e| e.age).collect()))
}

fn entries_of(r: &Record) -> Vec<Entry> {
    let ages = r.u64s("ages").unwrap_or_default();
    r.contacts("entries").unwrap_or_default().iter().zip(ages).map(|(c, &age)| Entry { contact: c.clone(), age }).collect()
}

struct Cyclon {
    me: Contact,
    cfg: Config,
    view: Vec<Entry>,
    bootstrap: Vec<Contact>,
    /// Per peer shuffled with this round, the entries sent to it: the ones
    /// its answer may replace.
    sent: BTreeMap<NodeIndex, Vec<NodeIndex>>,
    search: Search,
    shuffles: u64,
    joins: u64,
}

impl Cyclon {
    fn neighbour_list(&self) -> Vec<NodeIndex> {
        self.view.iter().map(|e| e.contact.node).collect()
    }

    fn position(&self, node: NodeIndex) -> Option<usize> {
        self.view.iter().position(|e| e.contact.node == node)
    }

    /// `count` distinct random positions in the view, skipping `except`.
    fn random_positions(&self, ctx: &mut Context, count: usize, except: Option<NodeIndex>) -> Vec<usize> {
        let mut pool: Vec<usize> = (0..self.view.len()).filter(|&i| Some(self.view[i].contact.node) != except).collect();
        let take = count.min(pool.len());
        for i in 0..take {
            let j = i + ctx.random_below((pool.len() - i) as u64) as usize;
            pool.swap(i, j);
        }
        pool.truncate(take);
        pool
    }

    fn join(&mut self, ctx: &mut Context) {
        self.joins += 1;
        for c in &self.bootstrap {
            if self.view.len() < self.cfg.view && self.position(c.node).is_none() && c.node != self.me.node {
                self.view.push(Entry { contact: c.clone(), age: 0 });
            }
        }
        if !self.bootstrap.is_empty() {
            let introducer = &self.bootstrap[ctx.random_below(self.bootstrap.len() as u64) as usize];
            ctx.send(introducer.node, &Record::new("JOIN").with("id", Value::Id(self.me.id.clone())));
        }
    }

    fn shuffle_round(&mut self, ctx: &mut Context) {
        self.search.forget_old_routes(ctx);
        // Answers to earlier rounds may still fill empty slots, but no
        // longer replace anything.
        self.sent.clear();
        if self.view.is_empty() {
            return self.join(ctx);
        }
        for e in &mut self.view {
            e.age += 1;
        }
        let oldest = (0..self.view.len()).max_by_key(|&i| (self.view[i].age, std::cmp::Reverse(i))).expect("view is not empty");
        let target = self.view.remove(oldest);
        let picks = self.random_positions(ctx, self.cfg.shuffle_length - 1, None);
        let mut out = vec![Entry { contact: self.me.clone(), age: 0 }];
        out.extend(picks.iter().map(|&i| self.view[i].clone()));
        self.sent.insert(target.contact.node, picks.iter().map(|&i| self.view[i].contact.node).collect());
        self.shuffles += 1;
        ctx.send(target.contact.node, &with_entries(Record::new("SHUFFLE"), &out));
    }

    /// Takes in `received`, filling empty slots first and then replacing
    /// the entries in `replaceable`.
    fn merge(&mut self, received: Vec<Entry>, mut replaceable: Vec<NodeIndex>) {
        for e in received {
            if e.contact.node == self.me.node || self.position(e.contact.node).is_some() {
                continue;
            }
            if self.view.len() < self.cfg.view {
                self.view.push(e);
                continue;
            }
            while let Some(old) = replaceable.pop() {
                if let Some(at) = self.position(old) {
                    self.view[at] = e;
                    break;
                }
            }
        }
    }

    fn on_join(&mut self, ctx: &mut Context, from: NodeIndex, msg: &Record) {
        let newcomer = Contact::new(from, msg.id("id").unwrap_or_default().to_vec());
        if self.view.iter().all(|e| e.contact.node == from) {
            return self.accept(ctx, newcomer);
        }
        let walk = with_entries(Record::new("JOIN_WALK"), &[Entry { contact: newcomer, age: 0 }]).with("ttl", self.cfg.join_walk);
        for _ in 0..self.cfg.view {
            let next = self.random_positions(ctx, 1, Some(from))[0];
            ctx.send(self.view[next].contact.node, &walk);
        }
    }

    fn on_join_walk(&mut self, ctx: &mut Context, msg: &Record) {
        let Some(newcomer) = entries_of(msg).pop() else { return };
        let ttl = msg.u64("ttl").unwrap_or(0);
        let onward = self.random_positions(ctx, 1, Some(newcomer.contact.node));
        match onward.first() {
            Some(&next) if ttl > 1 => {
                let walk = with_entries(Record::new("JOIN_WALK"), &[newcomer]).with("ttl", ttl - 1);
                ctx.send(self.view[next].contact.node, &walk);
            }
            _ => self.accept(ctx, newcomer.contact),
        }
    }

    /// The end of a join walk: make room for the newcomer and hand it an
    /// entry.
    fn accept(&mut self, ctx: &mut Context, newcomer: Contact) {
        if newcomer.node == self.me.node || self.position(newcomer.node).is_some() {
            return;
        }
        let fresh = Entry { contact: newcomer.clone(), age: 0 };
        let given = if self.view.len() < self.cfg.view {
            self.view.push(fresh);
            Entry { contact: self.me.clone(), age: 0 }
        } else {
            let at = self.random_positions(ctx, 1, None)[0];
            std::mem::replace(&mut self.view[at], fresh)
        };
        ctx.send(newcomer.node, &with_entries(Record::new("JOINED"), &[given]));
    }
}

impl Peer for Cyclon {
    fn init(ctx: &mut Context, start: Start) -> Self {
        let me = Contact::new(start.index, start.id.clone());
        let search = SearchConfig::read(&start.config, Mode::Walk).unwrap_or_else(|e| {
            ctx.log(Level::Error, &format!("{e}; random walks instead"));
            SearchConfig::read(&Record::new("config"), Mode::Walk).expect("defaults are valid")
        });
        let cfg = Config::read(&start.config);
        ctx.every(cfg.period, SHUFFLE);
        let mut node = Cyclon {
            search: Search::new(me.clone(), search),
            me,
            cfg,
            view: Vec::new(),
            bootstrap: start.bootstrap.into_iter().filter(|c| c.node != start.index).collect(),
            sent: BTreeMap::new(),
            shuffles: 0,
            joins: 0,
        };
        node.join(ctx);
        node
    }

    fn on_message(&mut self, ctx: &mut Context, from: NodeIndex, message: Record) {
        let view = &self.view;
        let neighbours = || view.iter().map(|e| e.contact.node).collect();
        if self.search.handle(ctx, from, &message, neighbours) {
            return;
        }
        match message.kind.as_str() {
            "SHUFFLE" => {
                let positions = self.random_positions(ctx, self.cfg.shuffle_length, Some(from));
                let reply: Vec<Entry> = positions.iter().map(|&i| self.view[i].clone()).collect();
                let replaceable = reply.iter().map(|e| e.contact.node).collect();
                ctx.send(from, &with_entries(Record::new("SHUFFLE_REPLY"), &reply));
                self.merge(entries_of(&message), replaceable);
            }
            "SHUFFLE_REPLY" => {
                let replaceable = self.sent.remove(&from).unwrap_or_default();
                self.merge(entries_of(&message), replaceable);
            }
            "JOIN" => self.on_join(ctx, from, &message),
            "JOIN_WALK" => self.on_join_walk(ctx, &message),
            "JOINED" => self.merge(entries_of(&message), Vec::new()),
            other => ctx.log(Level::Warn, &format!("unknown message {other:?} from n{from}")),
        }
    }

    fn on_timer(&mut self, ctx: &mut Context, tag: u64) {
        if !self.search.on_timer(ctx, tag) && tag == SHUFFLE {
            self.shuffle_round(ctx);
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
            .neighbours(self.neighbour_list())
            .field("ages", Value::U64s(self.view.iter().map(|e| e.age).collect()))
            .field("shuffles", self.shuffles)
            .field("joins", self.joins);
        self.search.describe(state)
    }
}

peershare_sdk::export_peer!(Cyclon);

#[cfg(test)]
mod tests {
    use super::*;
    use peershare_sdk::testing::Harness;

    fn entries(nodes: &[NodeIndex]) -> Vec<Entry> {
        nodes.iter().map(|&n| Entry { contact: Contact::new(n, vec![n as u8]), age: u64::from(n) }).collect()
    }

    /// A node whose view holds `nodes` (ages equal to the node numbers).
    fn node(index: NodeIndex, config: Record, nodes: &[NodeIndex]) -> Harness<Cyclon> {
        let mut h = Harness::<Cyclon>::start(index, config, &[]);
        h.deliver(99, with_entries(Record::new("JOINED"), &entries(nodes)));
        h.sent();
        h
    }

    fn view(h: &mut Harness<Cyclon>) -> Vec<NodeIndex> {
        h.inspect().nodes("neighbours").unwrap().to_vec()
    }

    #[test]
    fn a_shuffle_goes_to_the_oldest_entry_which_leaves_the_view() {
        let mut h = node(0, Record::new("config").with("shuffle_length", 3u64), &[1, 7, 3, 5]);
        h.fire(SHUFFLE);
        let sent = h.sent();
        assert_eq!(sent.len(), 1);
        let (to, msg) = &sent[0];
        assert_eq!(*to, 7, "7 is the oldest entry");
        let got = entries_of(msg);
        assert_eq!(got.len(), 3, "itself and two others");
        assert_eq!((got[0].contact.node, got[0].age), (0, 0), "a fresh entry for the sender first");
        assert!(got[1..].iter().all(|e| [1, 3, 5].contains(&e.contact.node)));
        assert!(!view(&mut h).contains(&7));
    }

    #[test]
    fn an_answer_fills_free_slots_then_replaces_what_was_sent() {
        let config = Record::new("config").with("view", 4u64).with("shuffle_length", 3u64);
        let mut h = node(0, config, &[1, 7, 3, 5]);
        h.fire(SHUFFLE);
        let sent_entries: Vec<NodeIndex> = entries_of(&h.sent()[0].1)[1..].iter().map(|e| e.contact.node).collect();
        // 7 answers with 0 (itself: discarded), 1 (already known) and two new ones.
        h.deliver(7, with_entries(Record::new("SHUFFLE_REPLY"), &entries(&[0, 1, 20, 21])));
        let after = view(&mut h);
        assert_eq!(after.len(), 4);
        assert!(after.contains(&20) && after.contains(&21), "{after:?}");
        let kept_sent = sent_entries.iter().filter(|n| after.contains(n)).count();
        assert_eq!(kept_sent, 1, "20 filled the free slot, 21 replaced one of {sent_entries:?}: {after:?}");
    }

    #[test]
    fn a_shuffle_is_answered_with_random_entries_and_merged() {
        let config = Record::new("config").with("view", 4u64).with("shuffle_length", 2u64);
        let mut h = node(0, config, &[1, 2, 3, 4]);
        h.deliver(9, with_entries(Record::new("SHUFFLE"), &entries(&[9, 8])));
        let sent = h.sent();
        assert_eq!(sent[0].0, 9);
        let answered: Vec<NodeIndex> = entries_of(&sent[0].1).iter().map(|e| e.contact.node).collect();
        assert_eq!(answered.len(), 2);
        let after = view(&mut h);
        assert!(after.contains(&9) && after.contains(&8), "{after:?}");
        assert!(answered.iter().all(|n| !after.contains(n)), "the entries sent back made room: {after:?}");
    }

    #[test]
    fn a_join_starts_one_walk_per_view_slot_and_a_walk_end_makes_room() {
        let config = Record::new("config").with("view", 3u64).with("join_walk", 2u64);
        let mut introducer = node(0, config.clone(), &[1, 2, 3]);
        introducer.deliver(9, Record::new("JOIN").with("id", Value::Id(vec![9])));
        let walks = introducer.sent();
        assert_eq!(walks.len(), 3);
        assert!(walks.iter().all(|(_, r)| r.kind == "JOIN_WALK" && r.u64("ttl") == Some(2)));
        let mut end = node(1, config, &[4, 5, 6]);
        end.deliver(0, with_entries(Record::new("JOIN_WALK"), &entries(&[9])).with("ttl", 1u64));
        let sent = end.sent();
        assert_eq!((sent[0].0, sent[0].1.kind.as_str()), (9, "JOINED"));
        let handed = entries_of(&sent[0].1)[0].contact.node;
        let after = view(&mut end);
        assert!(after.contains(&9) && !after.contains(&handed), "9 took {handed}'s place: {after:?}");
    }

    #[test]
    fn a_node_with_an_empty_view_joins_again() {
        let mut h = Harness::<Cyclon>::start(5, Record::new("config"), &[Contact::new(0, vec![0])]);
        assert_eq!(h.sent().iter().map(|(n, r)| (*n, r.kind.clone())).collect::<Vec<_>>(), vec![(0, "JOIN".to_string())]);
        // Its only entry, the introducer, is shuffled with and never answers.
        h.fire(SHUFFLE);
        assert!(view(&mut h).is_empty());
        h.sent();
        h.fire(SHUFFLE);
        assert_eq!(h.sent().iter().map(|(n, r)| (*n, r.kind.clone())).collect::<Vec<_>>(), vec![(0, "JOIN".to_string())]);
        assert_eq!(view(&mut h), vec![0]);
    }
}
