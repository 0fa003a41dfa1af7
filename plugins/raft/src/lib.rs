//! Raft (Ongaro and Ousterhout, "In Search of an Understandable Consensus
//! Algorithm", 2014), on the node's durable storage.
//!
//! A cluster is the node and its bootstrap contacts (use the scenario's
//! `bootstrap = { strategy = "clusters", size = 5 }`). Every server starts
//! as a follower; one whose randomised election timeout (`election_min_ms`
//! to `election_max_ms`, default 150 to 300) passes without hearing from a
//! leader or granting a vote becomes a candidate: a new term, a vote for
//! itself, `REQUEST_VOTE` to the others. A majority of votes makes it the
//! leader, which sends `APPEND` (AppendEntries) every `heartbeat_ms`
//! (default 50) and whenever it has entries to replicate, at most `batch`
//! (default 64) per message.
//!
//! - Votes go to a candidate whose log is at least as up to date (last
//!   term, then last index), once per term.
//! - A follower accepts entries only after the log-matching check on the
//!   previous entry; a conflicting suffix is deleted. A rejection carries a
//!   hint (the first index of the conflicting term, or the end of the log)
//!   so the leader backs up a term at a time.
//! - The leader commits an entry of its own term once a majority stores it
//!   (itself counting only what it has synced), and earlier entries with
//!   it, never an earlier term's entry by counting replicas (the paper's
//!   Figure 8).
//! - Term, vote and log are written to durable storage and synced before
//!   the server answers or asks for votes: every message that depends on
//!   them waits for the sync (`on_timer` with `SYNCED`).
//! - `propose`: the leader appends the value; a follower that knows the
//!   leader forwards it, and fails the operation if it knows none. The
//!   proposer completes the operation when its entry commits (it knows its
//!   entry by node and request number), or fails it after
//!   `propose_timeout_ms` (default 3000), or when the leader says it is
//!   not the leader.
//! - Every server reports each entry it applies through `committed`, in
//!   log order.
//!
//! Built with the `figure8` feature (`plugins/raft-figure8`, built-in
//! `raft-figure8`) it commits earlier terms' entries by counting replicas:
//! a bug for the referee to catch.
//!
//! Observable state: `term`, `role`, `leader`, `voted_for`, `log_length`,
//! `commit_index`, `last_applied`, `log_terms` (every entry's term) and
//! `log_values` (the first 8 bytes of every value).

mod log;

pub use log::{Entry, Persistent};
use peershare_sdk::prelude::*;
use std::collections::{BTreeMap, VecDeque};

/// The randomised election timeout.
const ELECTION: u64 = 1;
/// The leader's heartbeat.
const HEARTBEAT: u64 = 2;
/// A sync of durable storage finished.
const SYNCED: u64 = 3;
/// A proposal's timeout: this bit plus the request number.
const PROPOSAL: u64 = 1 << 62;

/// The bug of the `figure8` build (plugins/raft-figure8): commit an entry
/// of an earlier term as soon as a majority stores it, which Section 5.4.2
/// of the paper shows can lose a committed entry.
const COMMITS_EARLIER_TERMS_BY_COUNTING: bool = cfg!(feature = "figure8");

/// The configuration, from the group's `[groups.config]`.
#[derive(Clone, Copy, Debug)]
struct Config {
    election_min: u64,
    election_max: u64,
    heartbeat: Duration,
    batch: usize,
    propose_timeout: Duration,
}

impl Config {
    fn from(config: &Record) -> Config {
        let min = config.u64("election_min_ms").unwrap_or(150);
        let max = config.u64("election_max_ms").unwrap_or(300).max(min);
        Config {
            election_min: min * 1_000_000,
            election_max: max * 1_000_000,
            heartbeat: Duration::from_millis(config.u64("heartbeat_ms").unwrap_or(50)),
            batch: config.u64("batch").unwrap_or(64).max(1) as usize,
            propose_timeout: Duration::from_millis(config.u64("propose_timeout_ms").unwrap_or(3000)),
        }
    }
}

/// What a leader keeps per follower.
#[derive(Clone, Copy, Debug)]
struct Progress {
    /// The next entry to send.
    next: u64,
    /// The highest entry known to be stored there.
    matched: u64,
    /// An APPEND carrying entries is on its way (no second one until it is
    /// answered or the heartbeat resends).
    in_flight: bool,
    /// The number of the latest APPEND sent there (echoed in its answer):
    /// only the answer to the latest may send the next, so a heartbeat
    /// sent while entries are in flight does not start a second stream.
    sent: u64,
}

/// Messages held back until a sync makes what they depend on durable.
#[derive(Debug, Default)]
struct Held {
    /// The last log index the sync covers.
    durable_upto: u64,
    messages: Vec<(NodeIndex, Record)>,
}

/// One Raft server.
pub struct Raft {
    me: NodeIndex,
    peers: Vec<NodeIndex>,
    config: Config,
    state: Persistent,
    role: Role,
    leader: Option<NodeIndex>,
    commit_index: u64,
    last_applied: u64,
    /// The highest index this server has synced.
    durable: u64,
    /// Per follower, while leader.
    progress: BTreeMap<NodeIndex, Progress>,
    votes: Vec<NodeIndex>,
    election: Option<Timer>,
    heartbeat: Option<Timer>,
    /// Writes made in this handler and not yet synced.
    dirty: bool,
    /// Messages waiting for syncs under way, in order.
    held: VecDeque<Held>,
    /// This server's proposals waiting to commit: request number to operation.
    waiting: BTreeMap<u64, (OpId, Timer)>,
    next_req: u64,
    /// What was last published, to publish only changes.
    published: (u64, &'static str, Option<NodeIndex>, u64, u64),
}

fn role_name(role: &Role) -> &'static str {
    match role {
        Role::Leader => "leader",
        Role::Candidate => "candidate",
        _ => "follower",
    }
}

impl Raft {
    /// Servers that make a majority of the cluster (this one and its peers).
    fn majority(&self) -> usize {
        let cluster = self.peers.len() + 1;
        cluster / 2 + 1
    }

    /// Sends `message` to `to` once everything written so far is durable:
    /// behind the last sync under way, or at once if none is.
    fn send_durably(&mut self, ctx: &mut Context, to: NodeIndex, message: Record) {
        self.persist(ctx);
        match self.held.back_mut() {
            Some(last) => last.messages.push((to, message)),
            None => ctx.send(to, &message),
        }
    }

    /// Starts a sync of what was written since the last one, if anything.
    fn persist(&mut self, ctx: &mut Context) {
        if self.dirty {
            self.held.push_back(Held { durable_upto: self.state.last_index(), messages: Vec::new() });
            ctx.storage().sync(SYNCED);
            self.dirty = false;
        }
    }

    fn synced(&mut self, ctx: &mut Context) {
        let Some(held) = self.held.pop_front() else { return };
        self.durable = self.durable.max(held.durable_upto.min(self.state.last_index()));
        for (to, message) in held.messages {
            ctx.send(to, &message);
        }
        if self.role == Role::Leader {
            self.advance_commit(ctx);
        }
    }

    fn reset_election_timer(&mut self, ctx: &mut Context) {
        if let Some(t) = self.election.take() {
            ctx.cancel(t);
        }
        let spread = self.config.election_max - self.config.election_min;
        let delay = self.config.election_min + ctx.random_below(spread + 1);
        self.election = Some(ctx.set_timer(Duration::from_nanos(delay), ELECTION));
    }

    /// Moves to a newer term as a follower (a message showed a newer one).
    fn step_down(&mut self, ctx: &mut Context, term: u64) {
        if term > self.state.term {
            self.state.set_term(&mut ctx.storage(), term);
            self.dirty = true;
        }
        if self.role != Role::Follower {
            self.role = Role::Follower;
            self.progress.clear();
            if let Some(t) = self.heartbeat.take() {
                ctx.cancel(t);
            }
            self.reset_election_timer(ctx);
        }
    }

    fn start_election(&mut self, ctx: &mut Context) {
        let term = self.state.term + 1;
        self.state.set_term(&mut ctx.storage(), term);
        self.state.vote(&mut ctx.storage(), self.me);
        self.dirty = true;
        self.role = Role::Candidate;
        self.leader = None;
        self.votes = vec![self.me];
        self.reset_election_timer(ctx);
        let request = Record::new("REQUEST_VOTE")
            .with("term", term)
            .with("last_index", self.state.last_index())
            .with("last_term", self.state.last_term());
        for peer in self.peers.clone() {
            self.send_durably(ctx, peer, request.clone());
        }
        // Alone, it wins at once; otherwise the others' votes can only come
        // after its own vote is durable (its requests wait for the sync).
        self.tally(ctx);
    }

    fn tally(&mut self, ctx: &mut Context) {
        if self.role == Role::Candidate && self.votes.len() >= self.majority() {
            self.become_leader(ctx);
        }
    }

    fn become_leader(&mut self, ctx: &mut Context) {
        self.role = Role::Leader;
        self.leader = Some(self.me);
        if let Some(t) = self.election.take() {
            ctx.cancel(t);
        }
        let next = self.state.last_index() + 1;
        self.progress = self.peers.iter().map(|&p| (p, Progress { next, matched: 0, in_flight: false, sent: 0 })).collect();
        self.heartbeat = Some(ctx.every(self.config.heartbeat, HEARTBEAT));
        self.replicate(ctx, true);
        self.advance_commit(ctx);
    }

    /// Sends APPEND to every follower: to all on a heartbeat, else to
    /// those with entries to send and none in flight.
    fn replicate(&mut self, ctx: &mut Context, heartbeat: bool) {
        for peer in self.peers.clone() {
            let p = self.progress[&peer];
            let has_entries = p.next <= self.state.last_index();
            if heartbeat || (has_entries && !p.in_flight) {
                self.send_append(ctx, peer);
            }
        }
    }

    fn send_append(&mut self, ctx: &mut Context, peer: NodeIndex) {
        let p = self.progress.get_mut(&peer).expect("a follower");
        let prev = p.next - 1;
        let entries = self.state.entries_from(p.next, self.config.batch);
        p.in_flight = !entries.is_empty();
        p.sent += 1;
        let message = Record::new("APPEND")
            .with("seq", p.sent)
            .with("term", self.state.term)
            .with("prev_index", prev)
            .with("prev_term", self.state.term_at(prev).unwrap_or(0))
            .with("commit", self.commit_index)
            .with("terms", Value::U64s(entries.iter().map(|e| e.term).collect()))
            .with("values", Value::Blobs(entries.iter().map(|e| e.value.clone()).collect()))
            .with("origins", Value::Nodes(entries.iter().map(|e| e.origin).collect()))
            .with("reqs", Value::U64s(entries.iter().map(|e| e.req).collect()));
        ctx.send(peer, &message);
    }

    /// Commits the highest entry of the current term that a majority
    /// (this server counting what it has synced) stores.
    fn advance_commit(&mut self, ctx: &mut Context) {
        let mut matched: Vec<u64> = self.progress.values().map(|p| p.matched).collect();
        matched.push(self.durable);
        matched.sort_unstable_by(|a, b| b.cmp(a));
        let candidate = matched[self.majority() - 1];
        let allowed = COMMITS_EARLIER_TERMS_BY_COUNTING || self.state.term_at(candidate) == Some(self.state.term);
        if candidate > self.commit_index && allowed {
            self.commit_index = candidate;
            self.apply(ctx);
        }
    }

    /// Applies committed entries in order: reports each and completes this
    /// server's own proposals.
    fn apply(&mut self, ctx: &mut Context) {
        while self.last_applied < self.commit_index {
            self.last_applied += 1;
            let entry = self.state.entry(self.last_applied).expect("committed entries are in the log").clone();
            ctx.committed(self.last_applied, &entry.value);
            if entry.origin == self.me
                && let Some((op, timer)) = self.waiting.remove(&entry.req)
            {
                ctx.cancel(timer);
                ctx.complete(op, Outcome::committed(self.last_applied));
            }
        }
    }

    fn on_request_vote(&mut self, ctx: &mut Context, from: NodeIndex, m: &Record) {
        let term = m.u64("term").unwrap_or(0);
        if term > self.state.term {
            self.step_down(ctx, term);
            self.leader = None;
        }
        let (last_index, last_term) = (m.u64("last_index").unwrap_or(0), m.u64("last_term").unwrap_or(0));
        let up_to_date = (last_term, last_index) >= (self.state.last_term(), self.state.last_index());
        let free = self.state.voted_for.is_none_or(|v| v == from);
        let granted = term == self.state.term && free && up_to_date;
        if granted && self.state.voted_for.is_none() {
            self.state.vote(&mut ctx.storage(), from);
            self.dirty = true;
        }
        if granted {
            self.reset_election_timer(ctx);
        }
        let answer = Record::new("VOTE").with("term", self.state.term).with("granted", granted);
        self.send_durably(ctx, from, answer);
    }

    fn on_vote(&mut self, ctx: &mut Context, from: NodeIndex, m: &Record) {
        let term = m.u64("term").unwrap_or(0);
        if term > self.state.term {
            self.step_down(ctx, term);
            return;
        }
        if self.role == Role::Candidate && term == self.state.term && m.bool("granted") == Some(true) && !self.votes.contains(&from) {
            self.votes.push(from);
            self.tally(ctx);
        }
    }

    fn on_append(&mut self, ctx: &mut Context, from: NodeIndex, m: &Record) {
        let term = m.u64("term").unwrap_or(0);
        // The answer echoes the APPEND's number.
        let answer = |term: u64| {
            let r = Record::new("APPENDED").with("term", term);
            match m.u64("seq") {
                Some(seq) => r.with("seq", seq),
                None => r,
            }
        };
        let reject = |raft: &mut Raft, ctx: &mut Context, hint: u64| {
            let answer = answer(raft.state.term).with("success", false).with("hint", hint);
            raft.send_durably(ctx, from, answer);
        };
        if term < self.state.term {
            return reject(self, ctx, 0);
        }
        self.step_down(ctx, term);
        self.leader = Some(from);
        self.reset_election_timer(ctx);
        let prev = m.u64("prev_index").unwrap_or(0);
        match self.state.term_at(prev) {
            None => return reject(self, ctx, self.state.last_index() + 1),
            Some(t) if t != m.u64("prev_term").unwrap_or(0) => {
                let hint = self.state.first_index_of_term_at(prev);
                return reject(self, ctx, hint);
            }
            Some(_) => {}
        }
        let terms = m.u64s("terms").unwrap_or_default();
        let values = m.blobs("values").unwrap_or_default();
        let origins = m.nodes("origins").unwrap_or_default();
        let reqs = m.u64s("reqs").unwrap_or_default();
        for (k, &entry_term) in terms.iter().enumerate() {
            let index = prev + 1 + k as u64;
            match self.state.term_at(index) {
                Some(t) if t == entry_term => continue,
                Some(_) => {
                    self.state.truncate(&mut ctx.storage(), index);
                    self.durable = self.durable.min(index - 1);
                    for held in &mut self.held {
                        held.durable_upto = held.durable_upto.min(index - 1);
                    }
                }
                None => {}
            }
            let entry = Entry {
                term: entry_term,
                value: values.get(k).cloned().unwrap_or_default(),
                origin: origins.get(k).copied().unwrap_or(from),
                req: reqs.get(k).copied().unwrap_or(0),
            };
            self.state.append(&mut ctx.storage(), entry);
            self.dirty = true;
        }
        let last_new = prev + terms.len() as u64;
        let leader_commit = m.u64("commit").unwrap_or(0);
        if leader_commit > self.commit_index {
            // Only entries known to match the leader's log may commit.
            self.commit_index = leader_commit.min(last_new).max(self.commit_index);
            self.apply(ctx);
        }
        let answer = answer(self.state.term).with("success", true).with("matched", last_new);
        self.send_durably(ctx, from, answer);
    }

    fn on_appended(&mut self, ctx: &mut Context, from: NodeIndex, m: &Record) {
        let term = m.u64("term").unwrap_or(0);
        if term > self.state.term {
            self.step_down(ctx, term);
            self.leader = None;
            return;
        }
        if self.role != Role::Leader || term != self.state.term {
            return;
        }
        let Some(p) = self.progress.get_mut(&from) else { return };
        // An answer to an earlier APPEND still tells what the follower
        // stores, but only the latest one's answer sends the next.
        let latest = m.u64("seq").is_none_or(|seq| seq == p.sent);
        if latest {
            p.in_flight = false;
        }
        if m.bool("success") == Some(true) {
            let matched = m.u64("matched").unwrap_or(0);
            p.matched = p.matched.max(matched);
            p.next = p.next.max(matched + 1);
            self.advance_commit(ctx);
        } else {
            let hint = m.u64("hint").unwrap_or(1).max(1);
            p.next = hint.min(p.next.saturating_sub(1)).max(1);
        }
        if latest && self.progress[&from].next <= self.state.last_index() {
            self.send_append(ctx, from);
        }
    }

    /// The leader appends a proposal (its own or forwarded).
    fn append_proposal(&mut self, ctx: &mut Context, value: Vec<u8>, origin: NodeIndex, req: u64) {
        let entry = Entry { term: self.state.term, value, origin, req };
        self.state.append(&mut ctx.storage(), entry);
        self.dirty = true;
        self.replicate(ctx, false);
    }

    fn publish(&mut self, ctx: &mut Context) {
        let now = (self.state.term, role_name(&self.role), self.leader, self.state.last_index(), self.commit_index);
        if now != self.published {
            self.published = now;
            ctx.publish(&self.summary());
        }
    }

    fn summary(&self) -> State {
        let mut s =
            State::new().role(self.role.clone()).term(self.state.term).log_length(self.state.last_index()).commit_index(self.commit_index);
        if let Some(leader) = self.leader {
            s = s.leader(leader);
        }
        s.field("last_applied", self.last_applied).field("voted_for", self.state.voted_for.map_or(-1, i64::from))
    }
}

impl Peer for Raft {
    fn init(ctx: &mut Context, start: Start) -> Self {
        let state = Persistent::load(&ctx.storage());
        let durable = state.last_index();
        let mut peers: Vec<NodeIndex> = start.bootstrap.iter().map(|c| c.node).filter(|&n| n != start.index).collect();
        peers.sort_unstable();
        peers.dedup();
        let mut raft = Raft {
            me: start.index,
            peers,
            config: Config::from(&start.config),
            state,
            role: Role::Follower,
            leader: None,
            commit_index: 0,
            last_applied: 0,
            durable,
            progress: BTreeMap::new(),
            votes: Vec::new(),
            election: None,
            heartbeat: None,
            dirty: false,
            held: VecDeque::new(),
            waiting: BTreeMap::new(),
            next_req: 0,
            published: (u64::MAX, "", None, 0, 0),
        };
        raft.reset_election_timer(ctx);
        raft.publish(ctx);
        raft
    }

    fn on_message(&mut self, ctx: &mut Context, from: NodeIndex, message: Record) {
        if !self.peers.contains(&from) {
            return;
        }
        match message.kind.as_str() {
            "REQUEST_VOTE" => self.on_request_vote(ctx, from, &message),
            "VOTE" => self.on_vote(ctx, from, &message),
            "APPEND" => self.on_append(ctx, from, &message),
            "APPENDED" => self.on_appended(ctx, from, &message),
            "FORWARD" => {
                let req = message.u64("req").unwrap_or(0);
                if self.role == Role::Leader {
                    self.append_proposal(ctx, message.bytes("value").unwrap_or_default().to_vec(), from, req);
                } else {
                    ctx.send(from, &Record::new("NOT_LEADER").with("req", req));
                }
            }
            "NOT_LEADER" => {
                if let Some((op, timer)) = self.waiting.remove(&message.u64("req").unwrap_or(u64::MAX)) {
                    ctx.cancel(timer);
                    ctx.complete(op, Outcome::error(format!("node {from} was asked as the leader and is not")));
                }
            }
            _ => {}
        }
        self.persist(ctx);
        self.publish(ctx);
    }

    fn on_timer(&mut self, ctx: &mut Context, tag: u64) {
        match tag {
            ELECTION => {
                self.election = None;
                if self.role != Role::Leader {
                    self.start_election(ctx);
                }
            }
            HEARTBEAT if self.role == Role::Leader => self.replicate(ctx, true),
            SYNCED => {
                self.synced(ctx);
                if self.role == Role::Candidate {
                    self.tally(ctx);
                }
            }
            t if t & PROPOSAL != 0 => {
                if let Some((op, _)) = self.waiting.remove(&(t & !PROPOSAL)) {
                    ctx.complete(op, Outcome::error("the proposal did not commit in time"));
                }
            }
            _ => {}
        }
        self.persist(ctx);
        self.publish(ctx);
    }

    fn propose(&mut self, ctx: &mut Context, op: OpId, value: Vec<u8>) {
        let leader = match (self.role == Role::Leader, self.leader) {
            (true, _) => self.me,
            (false, Some(leader)) => leader,
            (false, None) => {
                ctx.complete(op, Outcome::error("no leader is known"));
                return;
            }
        };
        self.next_req += 1;
        let req = self.next_req;
        let timer = ctx.set_timer(self.config.propose_timeout, PROPOSAL | req);
        self.waiting.insert(req, (op, timer));
        if leader == self.me {
            self.append_proposal(ctx, value, self.me, req);
        } else {
            ctx.send(leader, &Record::new("FORWARD").with("value", value).with("req", req));
        }
        self.persist(ctx);
        self.publish(ctx);
    }

    fn inspect(&self, _ctx: &Context) -> State {
        let values: Vec<Vec<u8>> = (1..=self.state.last_index())
            .map(|i| self.state.entry(i).map(|e| e.value.iter().take(8).copied().collect()).unwrap_or_default())
            .collect();
        self.summary().field("log_terms", Value::U64s(self.state.terms())).field("log_values", Value::Blobs(values))
    }
}

peershare_sdk::export_peer!(Raft);

#[cfg(test)]
mod tests;
