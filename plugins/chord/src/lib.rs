//! Chord (Stoica, Morris, Karger, Kaashoek and Balakrishnan, 2001) as a
//! PeerShare peer.
//!
//! - An identifier ring of `2^m` positions, `m` the scenario's `id_bits`;
//!   a node sits at its id, and a key belongs to its successor: the first
//!   node at or after it, clockwise.
//! - Join through a bootstrap contact: look up the own id's successor, then
//!   let stabilisation fix the rest. If nobody answers, the join is tried
//!   again after `join_backoff_ms`, doubling, up to `join_attempts` times.
//! - Periodic repair, each on its own timer: `stabilize` (ask the
//!   successor for its predecessor and successor list, adopt a closer
//!   successor, `notify` it), `fix_fingers` (finger `i` is the successor
//!   of `n + 2^i`; one remote lookup per round), `check_predecessor` (ping
//!   it; forget it when it stops answering). A node that misses
//!   `max_failures` answers in a row is taken for gone.
//! - Successor lists of length `r` (default: log2 of the node count).
//! - `find_successor` by finger routing, iterative (the asking node asks
//!   each hop in turn; a hop that does not answer is asked again
//!   `query_retries` times, then avoided) or recursive (each hop forwards
//!   the query; the last answers the asker) with `mode`.
//! - Keys are stored at their successor and replicated to the next
//!   `replicas - 1` nodes of its successor list (re-sent every
//!   `replicate_ms`); a node handing over part of its range to a new
//!   predecessor sends it the keys it now owns. Provider records travel the
//!   same way.
//!
//! Operations: `find-closest` returns the key's successor first, then the
//! nodes after it (judged by the host against the true successor); `put`,
//! `get` (asking the replicas in turn), `announce`, `find-providers`.
//!
//! Config: `successors` (r), `replicas` (3), `mode` ("iterative" or
//! "recursive"), `route_by_successors` (true: hops may also jump along the
//! successor list; false routes by fingers alone, as the paper does), `stabilize_ms` (500), `fix_fingers_ms` (250),
//! `check_predecessor_ms` (1000), `replicate_ms` (5000), `timeout_ms`
//! (1000), `max_failures` (3), `query_retries` (2), `join_attempts` (6),
//! `join_backoff_ms` (1000), `trace` (true).

mod ring;

use peershare_sdk::prelude::*;
use peershare_sdk::rpc::{self, Rpcs};
use ring::{Ring, Route, Via};
use std::collections::{BTreeMap, BTreeSet};

/// Timer tags (RPC timeouts are [`Rpcs`]' own).
const STABILIZE: u64 = u64::MAX;
const FIX_FINGERS: u64 = u64::MAX - 1;
const CHECK_PREDECESSOR: u64 = u64::MAX - 2;
const REPLICATE: u64 = u64::MAX - 3;
const JOIN: u64 = u64::MAX - 4;
/// Successors a stabilisation round may adopt one after the other.
const MAX_STABILIZE_CHAIN: u32 = 16;
/// Recursive lookups' deadlines: `DEADLINES.start` plus the lookup's number.
const DEADLINES: core::ops::Range<u64> = (1 << 62)..(1 << 62) + (1 << 60);

struct Config {
    recursive: bool,
    replicas: usize,
    max_failures: u32,
    query_retries: u32,
    join_attempts: u32,
    join_backoff: Duration,
    trace: bool,
}

/// What a lookup is for.
#[derive(Clone, Debug)]
enum Goal {
    FindClosest(OpId),
    Put(OpId, Vec<u8>),
    Get(OpId),
    Announce(OpId),
    FindProviders(OpId),
    Join,
    FixFinger(u32),
    /// The successor of `me + 1` asked of the far side of the ring.
    CheckSuccessor,
}

impl Goal {
    fn op(&self) -> Option<OpId> {
        match self {
            Goal::FindClosest(op) | Goal::Put(op, _) | Goal::Get(op) | Goal::Announce(op) | Goal::FindProviders(op) => Some(*op),
            Goal::Join | Goal::FixFinger(_) | Goal::CheckSuccessor => None,
        }
    }
}

/// A `find_successor` in progress.
struct Lookup {
    key: Vec<u8>,
    goal: Goal,
    /// Nodes asked, in order (iterative); the last is being asked.
    path: Vec<Contact>,
    /// Nodes that did not answer: no hop leads to them.
    avoid: BTreeSet<NodeIndex>,
    /// Queries sent, and how often the current hop (or, recursive, the
    /// whole lookup) has been asked.
    queries: u64,
    attempts: u32,
    /// Recursive: the hops the answer reported.
    hops: u64,
    /// Recursive: the timer for the whole lookup.
    deadline: Option<Timer>,
}

/// After the lookup: the request sent to the key's successor (or, if it
/// does not answer, to the nodes after it).
enum Then {
    Put(OpId, Vec<u8>),
    Get(OpId),
    Announce(OpId),
    FindProviders(OpId),
}

/// Why an RPC was sent.
enum Purpose {
    Hop {
        lookup: u64,
    },
    Stabilize,
    CheckPredecessor,
    /// A request to the head of `rest`, the key's successor and replicas.
    AtSuccessor {
        key: Vec<u8>,
        then: Then,
        rest: Vec<Contact>,
        hops: u64,
    },
}

/// Why a hop gave no answer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NoAnswer {
    /// Nothing came back in time.
    Timeout,
    /// A node outside the ring said it cannot route (NOT_JOINED).
    Refused,
}

/// A request awaiting its answer: whom it asked and why.
struct Call {
    to: Contact,
    purpose: Purpose,
}

/// One Chord node.
struct Chord {
    cfg: Config,
    ring: Ring,
    bootstrap: Vec<Contact>,
    join_attempt: u32,
    joined: bool,
    next_finger: u32,
    /// Successors adopted in a row within this stabilisation round.
    stabilize_chain: u32,
    rpcs: Rpcs<Call>,
    next_lookup: u64,
    lookups: BTreeMap<u64, Lookup>,
    /// RPCs in a row each node left unanswered.
    failures: BTreeMap<NodeIndex, u32>,
    values: BTreeMap<Vec<u8>, Vec<u8>>,
    providers: BTreeMap<Vec<u8>, BTreeMap<NodeIndex, Vec<u8>>>,
}

fn single(c: &Contact) -> Value {
    Value::Contacts(vec![c.clone()])
}

fn first_contact(r: &Record, name: &str) -> Option<Contact> {
    r.contacts(name).and_then(|c| c.first().cloned())
}

impl Chord {
    fn send(&self, ctx: &mut Context, to: NodeIndex, message: Record) {
        ctx.send(to, &message.with("id", Value::Id(self.ring.me.id.clone())));
    }

    fn rpc(&mut self, ctx: &mut Context, to: Contact, purpose: Purpose, message: Record) {
        let message = message.with("id", Value::Id(self.ring.me.id.clone()));
        self.rpcs.send(ctx, to.node, message, Call { to, purpose });
    }

    fn trace(&self, ctx: &mut Context, op: Option<OpId>, step: impl FnOnce() -> Step) {
        if let Some(op) = op
            && self.cfg.trace
        {
            ctx.trace(op, &step());
        }
    }

    /// Counts an unanswered RPC; a node that misses `max_failures` in a row
    /// is forgotten. Returns whether it was.
    fn failed(&mut self, node: NodeIndex) -> bool {
        let count = self.failures.entry(node).or_insert(0);
        *count += 1;
        if *count >= self.cfg.max_failures {
            self.failures.remove(&node);
            self.ring.forget(node);
            return true;
        }
        false
    }

    fn key_fits(&self, ctx: &mut Context, op: OpId, key: &[u8]) -> bool {
        if key.len() == self.ring.me.id.len() {
            return true;
        }
        ctx.complete(op, Outcome::error(format!("the key is {} bytes long, but node ids are {} bytes", key.len(), self.ring.me.id.len())));
        false
    }

    // ---- find_successor ----

    fn start_lookup(&mut self, ctx: &mut Context, key: Vec<u8>, goal: Goal) {
        self.next_lookup += 1;
        let id = self.next_lookup;
        let lookup = Lookup { key, goal, path: Vec::new(), avoid: BTreeSet::new(), queries: 0, attempts: 0, hops: 0, deadline: None };
        self.lookups.insert(id, lookup);
        self.step_from_here(ctx, id);
    }

    /// Routes a lookup from this node's own tables: done at once if this
    /// node knows the successor, or else the first hop is asked.
    fn step_from_here(&mut self, ctx: &mut Context, id: u64) {
        let Some(l) = self.lookups.get(&id) else { return };
        let avoid = l.avoid.clone();
        // Joining: the bootstrap contact is the first hop.
        let route = match (&l.goal, self.joined) {
            (Goal::Join, false) => match self.bootstrap.iter().find(|c| !avoid.contains(&c.node)) {
                Some(c) => Route::Forward(c.clone(), Via::Successor(0)),
                None => return self.finish(ctx, id, Err("no bootstrap contact answered")),
            },
            // Asked of the far side of the ring, whose routing does not go
            // through this node's own successor pointer.
            (Goal::CheckSuccessor, _) => {
                let far = self.ring.fingers.iter().rev().flatten().find(|c| !avoid.contains(&c.node));
                match far.or_else(|| self.bootstrap.iter().find(|c| !avoid.contains(&c.node))) {
                    Some(c) => Route::Forward(c.clone(), Via::Successor(0)),
                    None => return self.finish(ctx, id, Err("nobody to ask")),
                }
            }
            _ => self.ring.route(&l.key, |n| avoid.contains(&n)),
        };
        match route {
            Route::Found(list) => self.finish(ctx, id, Ok(list)),
            Route::Forward(next, _) if self.cfg.recursive => self.ask_recursive(ctx, id, next),
            Route::Forward(next, _) => self.ask(ctx, id, next),
        }
    }

    /// Iterative: asks `to` for the key's successor or a closer hop.
    fn ask(&mut self, ctx: &mut Context, id: u64, to: Contact) {
        let Some(l) = self.lookups.get_mut(&id) else { return };
        if l.path.last().is_none_or(|last| last.node != to.node) {
            l.path.push(to.clone());
            l.attempts = 0;
        }
        l.attempts += 1;
        l.queries += 1;
        let (hop, key, op) = (l.path.len() as u64, l.key.clone(), l.goal.op());
        let limit = 4 * u64::from(self.ring.bits()) + 8;
        if hop > limit || l.queries > 2 * limit {
            return self.finish(ctx, id, Err("too many hops: the ring is broken"));
        }
        let avoid: Vec<NodeIndex> = l.avoid.iter().copied().collect();
        let joining = matches!(l.goal, Goal::Join);
        let bits = self.ring.bits();
        self.trace(ctx, op, || Step::query(hop, to.node, Distance::Ring(id::ring_distance(&to.id, &key, bits))));
        let mut request = Record::new("FIND_SUCCESSOR").with("key", Value::Id(key)).with("avoid", Value::Nodes(avoid));
        if joining {
            // Not in the ring yet: nobody should take this node for a
            // successor before it knows its own.
            request = request.with("joining", true);
        }
        self.rpc(ctx, to, Purpose::Hop { lookup: id }, request);
    }

    /// Recursive: sends the query on its way; the key's predecessor
    /// answers this node directly.
    fn ask_recursive(&mut self, ctx: &mut Context, id: u64, first: Contact) {
        let Some(l) = self.lookups.get_mut(&id) else { return };
        l.attempts += 1;
        l.queries += 1;
        let (key, op) = (l.key.clone(), l.goal.op());
        let hops_allowed = 4 * u64::from(self.ring.bits()) + 8;
        l.deadline = Some(ctx.set_timer(self.rpcs.timeout() * 8, DEADLINES.start + id));
        let bits = self.ring.bits();
        self.trace(ctx, op, || Step::query(1, first.node, Distance::Ring(id::ring_distance(&first.id, &key, bits))));
        let mut request = Record::new("ROUTE")
            .with("key", Value::Id(key))
            .with("lookup", id)
            .with("origin", single(&self.ring.me))
            .with("hop", 1u64)
            .with("ttl", hops_allowed);
        if let Some(op) = op.filter(|_| self.cfg.trace) {
            request = request.with("op", op);
        }
        self.send(ctx, first.node, request);
    }

    /// A hop answered (iterative).
    fn hop_answered(&mut self, ctx: &mut Context, id: u64, from: &Contact, answer: &Record) {
        let Some(l) = self.lookups.get(&id) else { return };
        let (hop, op) = (l.path.len() as u64, l.goal.op());
        let via = |r: &Record| match (r.u64("finger"), r.u64("successor")) {
            (Some(i), _) => Via::Finger(i as u32).to_string(),
            (None, Some(i)) => Via::Successor(i as u32).to_string(),
            _ => "its successor".into(),
        };
        match answer.kind.as_str() {
            "SUCCESSOR" => {
                let list = answer.contacts("successors").unwrap_or_default().to_vec();
                let nodes: Vec<NodeIndex> = list.iter().map(|c| c.node).collect();
                self.trace(ctx, op, || Step::answer(hop, from.node, "successor", &nodes, &[]));
                self.trace(ctx, op, || {
                    route_step(hop, from.node, nodes.first().copied(), "its successor", "the key lies between it and its successor")
                });
                self.finish(ctx, id, if list.is_empty() { Err("the last hop knew no successor") } else { Ok(list) });
            }
            "CLOSER" => {
                let Some(next) = first_contact(answer, "next") else { return self.finish(ctx, id, Err("a hop answered nothing")) };
                let chosen = via(answer);
                self.trace(ctx, op, || Step::answer(hop, from.node, "closer", &[next.node], &[]));
                self.trace(ctx, op, || route_step(hop, from.node, Some(next.node), &chosen, "closest preceding node of the key"));
                self.ask(ctx, id, next);
            }
            _ => {}
        }
    }

    /// A hop gave no answer: ask it again (not if it refused), or else
    /// avoid it and ask the hop before it (or route from here) for another
    /// way.
    fn hop_unanswered(&mut self, ctx: &mut Context, id: u64, to: Contact, why: NoAnswer) {
        let refused = why == NoAnswer::Refused;
        let gone = self.failed(to.node);
        let retries = self.cfg.query_retries;
        let Some(l) = self.lookups.get_mut(&id) else { return };
        let op = l.goal.op();
        self.trace(ctx, op, || {
            if refused {
                Step::Custom(Record::new("refused").with("from", Value::Node(to.node)).with("why", "not in the ring"))
            } else {
                Step::timeout(to.node)
            }
        });
        let Some(l) = self.lookups.get_mut(&id) else { return };
        if !refused && l.attempts <= retries && !gone {
            return self.ask(ctx, id, to);
        }
        l.avoid.insert(to.node);
        l.path.pop();
        match l.path.last().cloned() {
            Some(previous) => {
                l.path.pop();
                self.ask(ctx, id, previous)
            }
            None => self.step_from_here(ctx, id),
        }
    }

    fn finish(&mut self, ctx: &mut Context, id: u64, found: Result<Vec<Contact>, &str>) {
        let Some(l) = self.lookups.remove(&id) else { return };
        if let Some(t) = l.deadline {
            ctx.cancel(t);
        }
        let hops = if l.path.is_empty() { l.hops } else { l.path.len() as u64 };
        let reason = match &found {
            Ok(_) => "successor found".to_string(),
            Err(e) => (*e).to_string(),
        };
        self.trace(ctx, l.goal.op(), || Step::done(&reason, hops, l.queries));
        self.found(ctx, l.key, l.goal, found, hops);
    }

    /// What a finished lookup was for.
    fn found(&mut self, ctx: &mut Context, key: Vec<u8>, goal: Goal, found: Result<Vec<Contact>, &str>, hops: u64) {
        let list = match found {
            Ok(list) => list,
            Err(reason) => {
                match goal {
                    Goal::Join => self.join_failed(ctx),
                    Goal::FixFinger(_) | Goal::CheckSuccessor => {}
                    other => {
                        let op = other.op().expect("operations have ids");
                        ctx.complete(op, Outcome::error(reason).rounds(hops));
                    }
                }
                return;
            }
        };
        let then = match goal {
            Goal::FindClosest(op) => return ctx.complete(op, Outcome::successors(&list).rounds(hops)),
            Goal::Join => {
                self.joined = true;
                let list: Vec<Contact> = list.into_iter().filter(|c| c.node != self.ring.me.node).collect();
                if let Some((succ, rest)) = list.split_first() {
                    self.ring.adopt(succ.clone(), rest);
                }
                ctx.log(Level::Info, &format!("joined after {} attempts: successor n{}", self.join_attempt, self.ring.successor().node));
                return;
            }
            Goal::CheckSuccessor => {
                // A node of the ring between this one and its successor: the
                // ring has knotted (two cycles interleaved, which
                // stabilisation alone never undoes). Take it.
                let me = self.ring.me.clone();
                if let Some(x) = list.into_iter().find(|c| c.node != me.node)
                    && self.ring.strictly_between(&x.id, &me.id, &self.ring.successor().id)
                {
                    ctx.log(
                        Level::Info,
                        &format!("the ring knew a closer successor: n{} instead of n{}", x.node, self.ring.successor().node),
                    );
                    let list = self.ring.successors.clone();
                    self.ring.adopt(x, &list);
                }
                return;
            }
            Goal::FixFinger(i) => {
                let finger = list.into_iter().next().filter(|c| c.node != self.ring.me.node);
                self.ring.fingers[i as usize] = finger;
                return;
            }
            Goal::Put(op, value) => Then::Put(op, value),
            Goal::Get(op) => Then::Get(op),
            Goal::Announce(op) => Then::Announce(op),
            Goal::FindProviders(op) => Then::FindProviders(op),
        };
        self.at_successor(ctx, key, then, list, hops);
    }

    /// Sends the operation's request to the head of `list` (the key's
    /// successor, then its replicas).
    fn at_successor(&mut self, ctx: &mut Context, key: Vec<u8>, then: Then, mut list: Vec<Contact>, hops: u64) {
        if list.is_empty() {
            let outcome = match then {
                Then::Get(_) => Outcome::not_found(),
                Then::FindProviders(_) => Outcome::providers(&[]),
                _ => Outcome::error("no replica answered"),
            };
            let op = match then {
                Then::Put(op, _) | Then::Get(op) | Then::Announce(op) | Then::FindProviders(op) => op,
            };
            return ctx.complete(op, outcome.rounds(hops));
        }
        let to = list.remove(0);
        if to.node == self.ring.me.node {
            // This node is the successor: serve it here.
            return match then {
                Then::Put(op, value) => {
                    self.store(ctx, key, value, true);
                    ctx.complete(op, Outcome::stored(1).rounds(hops));
                }
                Then::Announce(op) => {
                    let me = self.ring.me.clone();
                    self.add_provider(ctx, key, me, true);
                    ctx.complete(op, Outcome::stored(1).rounds(hops));
                }
                Then::Get(op) => match self.values.get(&key) {
                    Some(v) => ctx.complete(op, Outcome::value(v.clone()).rounds(hops)),
                    None => self.at_successor(ctx, key, Then::Get(op), list, hops),
                },
                Then::FindProviders(op) => match self.provider_list(&key) {
                    found if !found.is_empty() => ctx.complete(op, providers_outcome(found).rounds(hops)),
                    _ => self.at_successor(ctx, key, Then::FindProviders(op), list, hops),
                },
            };
        }
        let request = match &then {
            Then::Put(_, value) => Record::new("STORE").with("key", Value::Id(key.clone())).with("value", value.clone()),
            Then::Get(_) => Record::new("GET").with("key", Value::Id(key.clone())),
            Then::Announce(_) => Record::new("ADD_PROVIDER").with("key", Value::Id(key.clone())),
            Then::FindProviders(_) => Record::new("GET_PROVIDERS").with("key", Value::Id(key.clone())),
        };
        self.rpc(ctx, to, Purpose::AtSuccessor { key, then, rest: list, hops }, request);
    }

    fn successor_answered(&mut self, ctx: &mut Context, key: Vec<u8>, then: Then, rest: Vec<Contact>, hops: u64, answer: Option<&Record>) {
        match (then, answer) {
            (Then::Put(op, _) | Then::Announce(op), Some(r)) if r.kind == "STORED" => ctx.complete(op, Outcome::stored(1).rounds(hops)),
            (Then::Get(op), Some(r)) if r.kind == "VALUE" => {
                ctx.complete(op, Outcome::value(r.bytes("value").unwrap_or_default().to_vec()).rounds(hops))
            }
            (Then::FindProviders(op), Some(r)) if r.contacts("providers").is_some_and(|p| !p.is_empty()) => {
                ctx.complete(op, providers_outcome(r.contacts("providers").unwrap_or_default().to_vec()).rounds(hops))
            }
            // Not there, or no answer: ask the next replica.
            (then, _) => self.at_successor(ctx, key, then, rest, hops),
        }
    }

    // ---- storage ----

    /// Stores a value; as its owner (`primary`), also sends it to the
    /// replicas.
    fn store(&mut self, ctx: &mut Context, key: Vec<u8>, value: Vec<u8>, primary: bool) {
        self.values.insert(key.clone(), value.clone());
        if primary {
            let one = Record::new("REPLICATE").with("keys", Value::Blobs(vec![key])).with("values", Value::Blobs(vec![value]));
            self.to_replicas(ctx, one);
        }
    }

    fn add_provider(&mut self, ctx: &mut Context, key: Vec<u8>, provider: Contact, primary: bool) {
        self.providers.entry(key.clone()).or_default().insert(provider.node, provider.id.clone());
        if primary {
            let one =
                Record::new("REPLICATE").with("provider_keys", Value::Blobs(vec![key])).with("providers", Value::Contacts(vec![provider]));
            self.to_replicas(ctx, one);
        }
    }

    fn provider_list(&self, key: &[u8]) -> Vec<Contact> {
        self.providers.get(key).map(|p| p.iter().map(|(n, id)| Contact::new(*n, id.clone())).collect()).unwrap_or_default()
    }

    fn to_replicas(&self, ctx: &mut Context, message: Record) {
        let message = message.with("id", Value::Id(self.ring.me.id.clone()));
        ctx.send_to_all(self.ring.successors.iter().take(self.cfg.replicas - 1).map(|c| c.node), &message);
    }

    /// The values and provider records whose keys satisfy `keep`, as one
    /// REPLICATE message (`None` if there are none).
    fn bundle(&self, keep: impl Fn(&[u8]) -> bool) -> Option<Record> {
        let (keys, values): (Vec<Vec<u8>>, Vec<Vec<u8>>) =
            self.values.iter().filter(|(k, _)| keep(k)).map(|(k, v)| (k.clone(), v.clone())).unzip();
        let mut provider_keys = Vec::new();
        let mut providers = Vec::new();
        for (k, p) in self.providers.iter().filter(|(k, _)| keep(k)) {
            for (n, id) in p {
                provider_keys.push(k.clone());
                providers.push(Contact::new(*n, id.clone()));
            }
        }
        if keys.is_empty() && providers.is_empty() {
            return None;
        }
        Some(
            Record::new("REPLICATE")
                .with("keys", Value::Blobs(keys))
                .with("values", Value::Blobs(values))
                .with("provider_keys", Value::Blobs(provider_keys))
                .with("providers", Value::Contacts(providers)),
        )
    }

    fn take_replicas(&mut self, r: &Record) {
        for (k, v) in r.blobs("keys").unwrap_or_default().iter().zip(r.blobs("values").unwrap_or_default()) {
            self.values.insert(k.clone(), v.clone());
        }
        for (k, p) in r.blobs("provider_keys").unwrap_or_default().iter().zip(r.contacts("providers").unwrap_or_default()) {
            self.providers.entry(k.clone()).or_default().insert(p.node, p.id.clone());
        }
    }

    // ---- maintenance ----

    fn join(&mut self, ctx: &mut Context) {
        self.join_attempt += 1;
        let own = self.ring.me.id.clone();
        self.start_lookup(ctx, own, Goal::Join);
    }

    fn join_failed(&mut self, ctx: &mut Context) {
        if self.join_attempt < self.cfg.join_attempts {
            let wait = self.cfg.join_backoff * 2u32.saturating_pow(self.join_attempt - 1);
            ctx.log(Level::Info, &format!("join attempt {} failed; trying again in {wait:?}", self.join_attempt));
            ctx.set_timer(wait, JOIN);
        } else {
            ctx.log(Level::Warn, &format!("gave up joining after {} attempts", self.join_attempt));
        }
    }

    fn stabilize(&mut self, ctx: &mut Context) {
        if self.ring.successors.is_empty() {
            // A ring of one learns of others through notify.
            match self.ring.predecessor.clone() {
                Some(p) => self.ring.adopt(p, &[]),
                None => return,
            }
        }
        self.stabilize_chain = 0;
        let succ = self.ring.successor().clone();
        self.rpc(ctx, succ, Purpose::Stabilize, Record::new("GET_PREDECESSOR"));
    }

    fn stabilize_answered(&mut self, ctx: &mut Context, from: Contact, r: &Record) {
        if self.ring.successor().node != from.node {
            return;
        }
        let reported = r.contacts("successors").unwrap_or_default();
        match first_contact(r, "predecessor") {
            Some(x) if x.node != self.ring.me.node && self.ring.strictly_between(&x.id, &self.ring.me.id, &from.id) => {
                let mut list = vec![from];
                list.extend_from_slice(reported);
                self.ring.adopt(x.clone(), &list);
                // A closer successor: ask it at once too, instead of a round
                // later, so that a node whose successor lies far ahead (its
                // join was answered while the ring was still forming) walks
                // back at the speed of the network.
                if self.stabilize_chain < MAX_STABILIZE_CHAIN {
                    self.stabilize_chain += 1;
                    self.rpc(ctx, x, Purpose::Stabilize, Record::new("GET_PREDECESSOR"));
                }
            }
            _ => self.ring.adopt(from, reported),
        }
        let succ = self.ring.successor().node;
        self.send(ctx, succ, Record::new("NOTIFY"));
    }

    fn notified(&mut self, ctx: &mut Context, from: Contact) {
        let closer = match &self.ring.predecessor {
            None => true,
            Some(p) => p.node != from.node && self.ring.strictly_between(&from.id, &p.id, &self.ring.me.id),
        };
        if !closer {
            return;
        }
        let (me, bits) = (self.ring.me.id.clone(), self.ring.bits());
        // The newcomer now owns the keys between the old predecessor and
        // itself: hand them over (this node keeps its copies as a replica,
        // if keys have replicas).
        let old = self.ring.predecessor.as_ref().map(|p| p.id.clone());
        let theirs = |k: &[u8]| match &old {
            Some(old) => id::in_ring_interval(k, old, &from.id, bits),
            None => !id::in_ring_interval(k, &from.id, &me, bits),
        };
        if let Some(handover) = self.bundle(theirs) {
            self.send(ctx, from.node, handover);
            if self.cfg.replicas < 2 {
                // One copy per key: it lives at the key's successor alone.
                self.values.retain(|k, _| !theirs(k));
                self.providers.retain(|k, _| !theirs(k));
            }
        }
        self.ring.predecessor = Some(from);
    }

    fn fix_fingers(&mut self, ctx: &mut Context) {
        // Fingers whose start lies before the successor are the successor;
        // at most one remote lookup per round. Once a cycle, the successor
        // itself is checked by a lookup from the far side of the ring.
        let within = self.ring.fingers_within_successor();
        for _ in 0..self.ring.bits() {
            let i = self.next_finger;
            self.next_finger = (self.next_finger + 1) % self.ring.bits();
            if i == 0 && !self.ring.successors.is_empty() {
                let next = self.ring.finger_start(0);
                self.ring.fingers[0] = Some(self.ring.successor().clone());
                return self.start_lookup(ctx, next, Goal::CheckSuccessor);
            }
            if i < within {
                self.ring.fingers[i as usize] = Some(self.ring.successor().clone());
                continue;
            }
            if !self.ring.successors.is_empty() {
                let start = self.ring.finger_start(i);
                self.start_lookup(ctx, start, Goal::FixFinger(i));
            }
            return;
        }
    }

    fn check_predecessor(&mut self, ctx: &mut Context) {
        if let Some(p) = self.ring.predecessor.clone() {
            self.rpc(ctx, p, Purpose::CheckPredecessor, Record::new("PING"));
        }
    }

    fn replicate(&mut self, ctx: &mut Context) {
        let ring = &self.ring;
        if let Some(bundle) = self.bundle(|k| ring.owns(k)) {
            self.to_replicas(ctx, bundle);
        }
    }

    // ---- messages ----

    /// A request was answered (`answer`) or timed out (`None`).
    fn rpc_done(&mut self, ctx: &mut Context, call: Call, answer: Option<&Record>) {
        // A node outside the ring answered that it cannot answer: as good
        // as silence, but known at once.
        let refused = answer.is_some_and(|r| r.kind == "NOT_JOINED");
        let answer = answer.filter(|_| !refused);
        if answer.is_none() && !matches!(call.purpose, Purpose::Hop { .. }) {
            self.failed(call.to.node);
        }
        match (call.purpose, answer) {
            (Purpose::Hop { lookup }, Some(r)) => self.hop_answered(ctx, lookup, &call.to, r),
            (Purpose::Hop { lookup }, None) => {
                let why = if refused { NoAnswer::Refused } else { NoAnswer::Timeout };
                self.hop_unanswered(ctx, lookup, call.to, why)
            }
            (Purpose::Stabilize, Some(r)) => self.stabilize_answered(ctx, call.to, r),
            (Purpose::Stabilize | Purpose::CheckPredecessor, _) => {}
            (Purpose::AtSuccessor { key, then, rest, hops }, answer) => self.successor_answered(ctx, key, then, rest, hops, answer),
        }
    }

    fn reply(&self, ctx: &mut Context, to: NodeIndex, request: &Record, answer: Record) {
        self.send(ctx, to, rpc::reply(request, answer));
    }

    /// This node's answer to "who is the successor of `key`?".
    fn routing_answer(&self, key: &[u8], avoid: &[NodeIndex]) -> Record {
        match self.ring.route(key, |n| avoid.contains(&n)) {
            Route::Found(list) => Record::new("SUCCESSOR").with("successors", Value::Contacts(list)),
            Route::Forward(next, via) => {
                let r = Record::new("CLOSER").with("next", single(&next));
                match via {
                    Via::Finger(i) => r.with("finger", u64::from(i)),
                    Via::Successor(i) => r.with("successor", u64::from(i)),
                }
            }
        }
    }

    /// Recursive routing: answer the origin, or pass the query on.
    fn route_recursive(&mut self, ctx: &mut Context, msg: &Record) {
        let (Some(key), Some(origin)) = (msg.id("key"), first_contact(msg, "origin")) else { return };
        let (hop, ttl, op) = (msg.u64("hop").unwrap_or(1), msg.u64("ttl").unwrap_or(0), msg.u64("op"));
        let route = self.ring.route(key, |_| false);
        let me = self.ring.me.node;
        let trace = |ctx: &mut Context, step: Step| {
            if let Some(op) = op {
                ctx.trace(op, &step);
            }
        };
        let list = match route {
            Route::Forward(next, via) if ttl > hop => {
                trace(ctx, route_step(hop, me, Some(next.node), &via.to_string(), "closest preceding node of the key"));
                let bits = self.ring.bits();
                trace(ctx, Step::query(hop + 1, next.node, Distance::Ring(id::ring_distance(&next.id, key, bits))));
                let mut forward = Record::new("ROUTE")
                    .with("key", Value::Id(key.to_vec()))
                    .with("lookup", msg.u64("lookup").unwrap_or(0))
                    .with("origin", single(&origin))
                    .with("hop", hop + 1)
                    .with("ttl", ttl);
                if let Some(op) = op {
                    forward = forward.with("op", op);
                }
                return self.send(ctx, next.node, forward);
            }
            Route::Found(list) => list,
            // Out of hops: an empty answer tells the origin so.
            Route::Forward(..) => Vec::new(),
        };
        trace(ctx, route_step(hop, me, list.first().map(|c| c.node), "its successor", "the key lies between it and its successor"));
        let found =
            Record::new("FOUND").with("lookup", msg.u64("lookup").unwrap_or(0)).with("successors", Value::Contacts(list)).with("hops", hop);
        self.send(ctx, origin.node, found);
    }

    /// The answer to a recursive lookup reached its origin.
    fn recursive_found(&mut self, ctx: &mut Context, r: &Record) {
        let id = r.u64("lookup").unwrap_or(0);
        let Some(l) = self.lookups.get_mut(&id) else { return };
        l.hops = r.u64("hops").unwrap_or(0);
        let list = r.contacts("successors").unwrap_or_default().to_vec();
        self.finish(ctx, id, if list.is_empty() { Err("the query ran out of hops") } else { Ok(list) });
    }

    fn recursive_timed_out(&mut self, ctx: &mut Context, id: u64) {
        let retries = self.cfg.query_retries;
        let Some(l) = self.lookups.get_mut(&id) else { return };
        l.deadline = None;
        if l.attempts <= retries {
            self.trace(ctx, self.lookups[&id].goal.op(), || Step::Custom(Record::new("retry").with("why", "no answer in time")));
            return self.step_from_here(ctx, id);
        }
        self.finish(ctx, id, Err("no answer in time"));
    }

    fn handle(&mut self, ctx: &mut Context, from: Contact, msg: &Record) {
        // A node that is not in the ring (joining, or back from a crash
        // and joining again) knows nothing of it: it would claim every key.
        // It refuses at once, so the asker goes elsewhere without a timeout.
        if !self.joined && RING_REQUESTS.contains(&msg.kind.as_str()) {
            return self.reply(ctx, from.node, msg, Record::new("NOT_JOINED"));
        }
        if !self.joined && matches!(msg.kind.as_str(), "ROUTE" | "NOTIFY") {
            // The origin of a recursive lookup times out and retries.
            return;
        }
        match msg.kind.as_str() {
            "FIND_SUCCESSOR" => {
                let key = msg.id("key").unwrap_or_default();
                let answer = self.routing_answer(key, msg.nodes("avoid").unwrap_or_default());
                self.reply(ctx, from.node, msg, answer);
            }
            "ROUTE" => self.route_recursive(ctx, msg),
            "FOUND" => self.recursive_found(ctx, msg),
            "GET_PREDECESSOR" => {
                let pred = Value::Contacts(self.ring.predecessor.iter().cloned().collect());
                let answer =
                    Record::new("PREDECESSOR").with("predecessor", pred).with("successors", Value::Contacts(self.ring.successors.clone()));
                self.reply(ctx, from.node, msg, answer);
            }
            "NOTIFY" => self.notified(ctx, from),
            "PING" => self.reply(ctx, from.node, msg, Record::new("PONG")),
            "STORE" => {
                let (key, value) = (msg.id("key").unwrap_or_default().to_vec(), msg.bytes("value").unwrap_or_default().to_vec());
                self.store(ctx, key, value, true);
                self.reply(ctx, from.node, msg, Record::new("STORED"));
            }
            "ADD_PROVIDER" => {
                let key = msg.id("key").unwrap_or_default().to_vec();
                self.add_provider(ctx, key, from.clone(), true);
                self.reply(ctx, from.node, msg, Record::new("STORED"));
            }
            "GET" => {
                let answer = match self.values.get(msg.id("key").unwrap_or_default()) {
                    Some(v) => Record::new("VALUE").with("value", v.clone()),
                    None => Record::new("NOT_FOUND"),
                };
                self.reply(ctx, from.node, msg, answer);
            }
            "GET_PROVIDERS" => {
                let found = self.provider_list(msg.id("key").unwrap_or_default());
                self.reply(ctx, from.node, msg, Record::new("PROVIDERS").with("providers", Value::Contacts(found)));
            }
            "REPLICATE" => self.take_replicas(msg),
            "SUCCESSOR" | "CLOSER" | "PREDECESSOR" | "PONG" | "STORED" | "VALUE" | "NOT_FOUND" | "PROVIDERS" | "NOT_JOINED" => {
                if let Some(call) = self.rpcs.answered(ctx, from.node, msg) {
                    self.rpc_done(ctx, call, Some(msg));
                }
            }
            other => ctx.log(Level::Warn, &format!("unknown message kind {other:?} from n{}", from.node)),
        }
    }
}

/// Requests only a node in the ring can answer; a node outside it answers
/// NOT_JOINED.
const RING_REQUESTS: [&str; 6] = ["FIND_SUCCESSOR", "GET_PREDECESSOR", "STORE", "ADD_PROVIDER", "GET", "GET_PROVIDERS"];

/// A trace step saying which entry of its tables a hop chose, and why.
fn route_step(hop: u64, at: NodeIndex, chose: Option<NodeIndex>, entry: &str, why: &str) -> Step {
    let mut r = Record::new("route").with("hop", hop).with("at", Value::Node(at)).with("entry", entry).with("why", why);
    if let Some(c) = chose {
        r = r.with("chose", Value::Node(c));
    }
    Step::Custom(r)
}

fn providers_outcome(found: Vec<Contact>) -> Outcome {
    let nodes: Vec<NodeIndex> = found.iter().map(|c| c.node).collect();
    Outcome::providers(&nodes).field("contacts", Value::Contacts(found))
}

impl Peer for Chord {
    fn init(ctx: &mut Context, start: Start) -> Self {
        let c = &start.config;
        let ms = |name: &str, default: u64| Duration::from_millis(c.u64(name).unwrap_or(default));
        let count = |name: &str, default: u64| c.u64(name).unwrap_or(default) as u32;
        let bits = if start.id_bits == 0 { start.id.len() as u32 * 8 } else { start.id_bits };
        let log2_n = 32 - start.node_count.max(2).saturating_sub(1).leading_zeros();
        let r = c.u64("successors").map_or(log2_n as usize, |r| r as usize).max(1);
        let cfg = Config {
            recursive: c.str("mode") == Some("recursive"),
            replicas: c.u64("replicas").unwrap_or(3).clamp(1, r as u64 + 1) as usize,
            max_failures: count("max_failures", 3).max(1),
            query_retries: count("query_retries", 2),
            join_attempts: count("join_attempts", 6).max(1),
            join_backoff: ms("join_backoff_ms", 1000),
            trace: c.bool("trace").unwrap_or(true),
        };
        // Each node's rounds start at a random point of the period, so
        // that the network's maintenance does not come in bursts.
        for (tag, period) in [
            (STABILIZE, ms("stabilize_ms", 500)),
            (FIX_FINGERS, ms("fix_fingers_ms", 250)),
            (CHECK_PREDECESSOR, ms("check_predecessor_ms", 1000)),
            (REPLICATE, ms("replicate_ms", 5000)),
        ] {
            let first = Duration::from_nanos(ctx.random_below(period.as_nanos() as u64).max(1));
            ctx.every_from(first, period, tag);
        }
        let me = Contact::new(start.index, start.id.clone());
        let bootstrap: Vec<Contact> = start.bootstrap.into_iter().filter(|b| b.node != start.index).collect();
        let mut ring = Ring::new(me, bits, r);
        ring.route_by_successors = c.bool("route_by_successors").unwrap_or(true);
        let mut node = Chord {
            cfg,
            ring,
            joined: bootstrap.is_empty(),
            bootstrap,
            join_attempt: 0,
            next_finger: 0,
            stabilize_chain: 0,
            rpcs: Rpcs::new(ms("timeout_ms", 1000)),
            next_lookup: 0,
            lookups: BTreeMap::new(),
            failures: BTreeMap::new(),
            values: BTreeMap::new(),
            providers: BTreeMap::new(),
        };
        if !node.joined {
            node.join(ctx);
        }
        node
    }

    fn on_message(&mut self, ctx: &mut Context, from: NodeIndex, message: Record) {
        let id = message.id("id").unwrap_or_default().to_vec();
        self.failures.remove(&from);
        let sender = Contact::new(from, id);
        // A live node between this one and its successor is a closer
        // successor: take it now rather than waiting for stabilisation to
        // find it (it may never, if the ring has knotted around it).
        if self.joined
            && message.bool("joining") != Some(true)
            && sender.id.len() == self.ring.me.id.len()
            && self.ring.strictly_between(&sender.id, &self.ring.me.id, &self.ring.successor().id)
        {
            let list = self.ring.successors.clone();
            self.ring.adopt(sender.clone(), &list);
        }
        self.handle(ctx, sender, &message);
    }

    fn on_timer(&mut self, ctx: &mut Context, tag: u64) {
        if let Some((_, call)) = self.rpcs.expired(tag) {
            return self.rpc_done(ctx, call, None);
        }
        match tag {
            STABILIZE => self.stabilize(ctx),
            FIX_FINGERS => self.fix_fingers(ctx),
            CHECK_PREDECESSOR => self.check_predecessor(ctx),
            REPLICATE => self.replicate(ctx),
            JOIN => self.join(ctx),
            t if DEADLINES.contains(&t) => self.recursive_timed_out(ctx, t - DEADLINES.start),
            _ => {}
        }
    }

    fn find_closest(&mut self, ctx: &mut Context, op: OpId, key: Vec<u8>) {
        if self.key_fits(ctx, op, &key) {
            self.start_lookup(ctx, key, Goal::FindClosest(op));
        }
    }

    fn put(&mut self, ctx: &mut Context, op: OpId, key: Vec<u8>, value: Vec<u8>) {
        if self.key_fits(ctx, op, &key) {
            self.start_lookup(ctx, key, Goal::Put(op, value));
        }
    }

    fn get(&mut self, ctx: &mut Context, op: OpId, key: Vec<u8>) {
        if self.key_fits(ctx, op, &key) {
            self.start_lookup(ctx, key, Goal::Get(op));
        }
    }

    fn announce(&mut self, ctx: &mut Context, op: OpId, key: Vec<u8>) {
        if self.key_fits(ctx, op, &key) {
            self.start_lookup(ctx, key, Goal::Announce(op));
        }
    }

    fn find_providers(&mut self, ctx: &mut Context, op: OpId, key: Vec<u8>) {
        if self.key_fits(ctx, op, &key) {
            self.start_lookup(ctx, key, Goal::FindProviders(op));
        }
    }

    fn inspect(&self, _ctx: &Context) -> State {
        let mut state = State::new().successors(self.ring.successors.iter().map(|c| c.node)).fingers(self.ring.distinct_fingers());
        if let Some(p) = &self.ring.predecessor {
            state = state.predecessor(p.node);
        }
        state
            .field("id", Value::Id(self.ring.me.id.clone()))
            .field("successor_ids", Value::Ids(self.ring.successors.iter().map(|c| c.id.clone()).collect()))
            .field("joined", self.joined)
            .field("keys", Value::Ids(self.values.keys().cloned().collect()))
            .field("provider_keys", Value::Ids(self.providers.keys().cloned().collect()))
    }
}

peershare_sdk::export_peer!(Chord);

#[cfg(test)]
mod tests {
    use super::*;
    use peershare_sdk::testing::Harness;

    fn find_successor(key: u8) -> Record {
        Record::new("FIND_SUCCESSOR").with("key", Value::Id(vec![key; 20])).with("rpc", 7u64).with("id", Value::Id(vec![9; 20]))
    }

    #[test]
    fn a_node_outside_the_ring_refuses_to_route_instead_of_claiming_every_key() {
        let mut joining = Harness::<Chord>::start(5, Record::new("config"), &[Contact::new(0, vec![0; 20])]);
        joining.sent();
        joining.deliver(9, find_successor(3));
        let sent = joining.sent();
        assert_eq!(sent.iter().map(|(n, r)| (*n, r.kind.as_str(), r.u64("rpc"))).collect::<Vec<_>>(), vec![(9, "NOT_JOINED", Some(7))]);
    }

    #[test]
    fn a_lone_first_node_owns_the_whole_ring_and_says_so() {
        let mut first = Harness::<Chord>::start(0, Record::new("config"), &[]);
        first.sent();
        first.deliver(9, find_successor(3));
        let sent = first.sent();
        assert_eq!(sent[0].1.kind, "SUCCESSOR");
    }

    #[test]
    fn a_refused_hop_is_not_asked_again() {
        let mut joining = Harness::<Chord>::start(5, Record::new("config"), &[Contact::new(0, vec![0; 20])]);
        let join = joining.sent();
        assert_eq!((join[0].0, join[0].1.kind.as_str()), (0, "FIND_SUCCESSOR"));
        let rpc = join[0].1.u64("rpc").unwrap();
        joining.deliver(0, Record::new("NOT_JOINED").with("rpc", rpc).with("id", Value::Id(vec![0; 20])));
        assert!(
            joining.sent().iter().all(|(n, r)| !(*n == 0 && r.kind == "FIND_SUCCESSOR")),
            "the refusing bootstrap is not asked again at once"
        );
    }
}
