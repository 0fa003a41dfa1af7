//! Iterative, alpha-parallel lookups.

use peershare_sdk::{Contact, NodeIndex, OpId, id};
use std::collections::BTreeMap;

/// What a lookup looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seek {
    /// The k closest nodes (FIND_NODE).
    Nodes,
    /// A stored value (FIND_VALUE).
    Value,
    /// Providers of a key (GET_PROVIDERS).
    Providers,
}

/// Why the lookup was started, and what to do when it ends.
#[derive(Clone, Debug)]
pub enum Goal {
    /// A `find-closest` operation.
    FindClosest(OpId),
    /// A `put` operation: store the value at the k closest.
    Put(OpId, Vec<u8>),
    /// A `get` operation.
    Get(OpId),
    /// An `announce` operation: register as a provider at the k closest.
    Announce(OpId),
    /// A `find-providers` operation.
    FindProviders(OpId),
    /// Republishing a stored value (no operation to complete).
    Republish(Vec<u8>),
    /// Joining: the lookup of the node's own id.
    Join,
    /// Refreshing a bucket.
    Refresh,
}

impl Goal {
    /// The workload operation this lookup serves, if any.
    pub fn op(&self) -> Option<OpId> {
        match self {
            Goal::FindClosest(op) | Goal::Put(op, _) | Goal::Get(op) | Goal::Announce(op) | Goal::FindProviders(op) => Some(*op),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    NotAsked,
    Asked,
    Answered,
    Failed,
}

#[derive(Clone, Debug)]
pub struct Candidate {
    pub contact: Contact,
    pub state: State,
    /// 1 for contacts from the routing table, n + 1 for contacts learned
    /// from a round-n answer.
    pub round: u32,
    /// Queries sent to it so far.
    pub attempts: u32,
}

/// One lookup in progress.
pub struct Lookup {
    pub target: Vec<u8>,
    pub seek: Seek,
    pub goal: Goal,
    /// Candidates sorted by distance to the target, closest first.
    pub shortlist: Vec<Candidate>,
    pub in_flight: usize,
    pub queries: u64,
    pub value: Option<Vec<u8>>,
    pub providers: BTreeMap<NodeIndex, Vec<u8>>,
}

/// What the lookup should do next.
pub enum Next {
    /// Query these candidates (with the round each belongs to).
    Query(Vec<(Contact, u32)>),
    /// Nothing to send now; answers are outstanding.
    Wait,
    /// Finished, with the reason.
    Done(&'static str),
}

impl Lookup {
    pub fn new(target: Vec<u8>, seek: Seek, goal: Goal, initial: Vec<Contact>) -> Self {
        let mut l = Lookup { target, seek, goal, shortlist: Vec::new(), in_flight: 0, queries: 0, value: None, providers: BTreeMap::new() };
        for contact in initial {
            l.add(contact, 1);
        }
        l
    }

    /// Adds a candidate if it is new.
    pub fn add(&mut self, contact: Contact, round: u32) {
        if self.shortlist.iter().any(|c| c.contact.node == contact.node) {
            return;
        }
        let pos = self.shortlist.partition_point(|c| {
            id::cmp_xor_distance(&self.target, &c.contact.id, &contact.id).then(c.contact.node.cmp(&contact.node)).is_lt()
        });
        self.shortlist.insert(pos, Candidate { contact, state: State::NotAsked, round, attempts: 0 });
    }

    /// Records the outcome of a query to `node`, and returns the round the
    /// candidate belongs to. A query that timed out is asked again, up to
    /// `retries` times, before the candidate counts as failed: on a lossy
    /// network a live node among the k closest is otherwise left out.
    pub fn finish_query(&mut self, node: NodeIndex, answered: bool, retries: u32) -> Option<u32> {
        let c = self.shortlist.iter_mut().find(|c| c.contact.node == node)?;
        if c.state != State::Asked {
            return None;
        }
        c.state = match (answered, c.attempts > retries) {
            (true, _) => State::Answered,
            (false, false) => State::NotAsked,
            (false, true) => State::Failed,
        };
        self.in_flight -= 1;
        Some(c.round)
    }

    /// Decides the next step: at most `alpha` queries in flight, among the
    /// `k` closest candidates that have not failed. The lookup ends when
    /// those `k` have all answered (or no candidate is left to ask).
    pub fn next(&mut self, k: usize, alpha: usize) -> Next {
        if self.value.is_some() {
            return Next::Done("value found");
        }
        if self.seek == Seek::Providers && !self.providers.is_empty() {
            return Next::Done("providers found");
        }
        let mut to_ask = Vec::new();
        let mut all_answered = true;
        // The `sloppy` build (plugins/kademlia-sloppy, a grading example)
        // has a classic student bug: it converges on the `alpha` closest
        // candidates instead of the `k` closest.
        let considered = if cfg!(feature = "sloppy") { alpha.min(k) } else { k };
        for c in self.shortlist.iter_mut().filter(|c| c.state != State::Failed).take(considered) {
            match c.state {
                State::Answered => {}
                State::Asked => all_answered = false,
                State::NotAsked => {
                    all_answered = false;
                    if self.in_flight + to_ask.len() < alpha {
                        c.state = State::Asked;
                        c.attempts += 1;
                        to_ask.push((c.contact.clone(), c.round));
                    }
                }
                State::Failed => unreachable!("filtered out"),
            }
        }
        if !to_ask.is_empty() {
            self.in_flight += to_ask.len();
            self.queries += to_ask.len() as u64;
            return Next::Query(to_ask);
        }
        if all_answered {
            return Next::Done(if self.shortlist.iter().any(|c| c.state == State::Answered) {
                "k closest answered"
            } else {
                "no contacts"
            });
        }
        Next::Wait
    }

    /// The k closest candidates that answered, closest first.
    pub fn closest_answered(&self, k: usize) -> Vec<Contact> {
        self.shortlist.iter().filter(|c| c.state == State::Answered).take(k).map(|c| c.contact.clone()).collect()
    }

    /// The deepest round among the answered candidates (hops).
    pub fn rounds(&self) -> u32 {
        self.shortlist.iter().filter(|c| c.state == State::Answered).map(|c| c.round).max().unwrap_or(0)
    }

    /// The first `n` candidates' node indices (the shortlist's head).
    pub fn head(&self, n: usize) -> Vec<NodeIndex> {
        self.shortlist.iter().filter(|c| c.state != State::Failed).take(n).map(|c| c.contact.node).collect()
    }
}
