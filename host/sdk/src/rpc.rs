//! Requests that expect an answer: [`Rpcs`] numbers them, arms a timeout
//! for each and matches the answer (or the timeout) back to what the
//! request was for.

use crate::{Context, NodeIndex, Record, Timer};
use core::ops::Range;
use core::time::Duration;
use std::collections::BTreeMap;

/// The timer tags [`Rpcs`] sets for its timeouts. A peer that uses
/// [`Rpcs`] keeps its own timer tags outside this range, and hands every
/// tag inside it to [`Rpcs::expired`].
pub const RPC_TIMER_TAGS: Range<u64> = 0xC000_0000_0000_0000..0xF000_0000_0000_0000;

/// The message field that carries a request's number, in the request and
/// in its answer.
pub const RPC_FIELD: &str = "rpc";

/// Requests sent and not yet answered, each with what it was for (`P`).
///
/// A request goes out with a number in its [`RPC_FIELD`]; the answer
/// carries the same number back ([`reply`] builds it). The first
/// answer from the node asked settles the request and cancels its timeout;
/// an answer from anyone else, a second answer, or one after the timeout
/// is ignored.
///
/// ```
/// use peershare_sdk::prelude::*;
/// use peershare_sdk::rpc::{self, Rpcs};
///
/// /// What a PING was for.
/// struct Probe { round: u64 }
///
/// struct Prober { rpcs: Rpcs<Probe>, alive: Vec<NodeIndex> }
///
/// impl Peer for Prober {
///     fn init(_ctx: &mut Context, _start: Start) -> Self {
///         Prober { rpcs: Rpcs::new(Duration::from_millis(500)), alive: Vec::new() }
///     }
///
///     fn on_message(&mut self, ctx: &mut Context, from: NodeIndex, message: Record) {
///         match message.kind.as_str() {
///             "PING" => ctx.send(from, &rpc::reply(&message, Record::new("PONG"))),
///             "PONG" => {
///                 if let Some(_probe) = self.rpcs.answered(ctx, from, &message) {
///                     self.alive.push(from);
///                 }
///             }
///             _ => {}
///         }
///     }
///
///     fn on_timer(&mut self, ctx: &mut Context, tag: u64) {
///         if let Some((to, probe)) = self.rpcs.expired(tag) {
///             ctx.log(Level::Info, &format!("n{to} missed round {}", probe.round));
///         }
///     }
///
///     fn inspect(&self, _ctx: &Context) -> State {
///         State::new().neighbours(self.alive.iter().copied())
///     }
/// }
///
/// # fn main() {
/// use peershare_sdk::testing::Harness;
/// let mut node = Harness::<Prober>::start(0, Record::new("config"), &[]);
/// node.call(|p, ctx| { p.rpcs.send(ctx, 1, Record::new("PING"), Probe { round: 1 }); });
/// let ping = node.sent()[0].1.clone();
/// node.deliver(1, rpc::reply(&ping, Record::new("PONG")));
/// assert_eq!(node.peer().alive, [1]);
/// # }
/// ```
#[derive(Debug)]
pub struct Rpcs<P> {
    timeout: Duration,
    next: u64,
    pending: BTreeMap<u64, Pending<P>>,
}

#[derive(Debug)]
struct Pending<P> {
    to: NodeIndex,
    timer: Timer,
    purpose: P,
}

impl<P> Rpcs<P> {
    /// No requests yet; each will wait `timeout` for its answer.
    pub fn new(timeout: Duration) -> Self {
        Rpcs { timeout, next: 0, pending: BTreeMap::new() }
    }

    /// How long a request waits for its answer.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends `request` to `to` with a fresh number in its [`RPC_FIELD`] and
    /// arms its timeout; returns the number.
    pub fn send(&mut self, ctx: &mut Context, to: NodeIndex, request: Record, purpose: P) -> u64 {
        self.next += 1;
        let number = self.next;
        ctx.send(to, &request.with(RPC_FIELD, number));
        // 2^61 requests would take millennia of virtual time.
        let tag = RPC_TIMER_TAGS.start + number;
        let timer = ctx.set_timer(self.timeout, tag);
        self.pending.insert(number, Pending { to, timer, purpose });
        number
    }

    /// The answer `answer` came from `from`: what its request was for, its
    /// timeout cancelled, or `None` if it answers no request of ours
    /// pending at `from`. Call it only for answer kinds: a request from
    /// another node carries that node's own numbers.
    pub fn answered(&mut self, ctx: &mut Context, from: NodeIndex, answer: &Record) -> Option<P> {
        let number = answer.u64(RPC_FIELD)?;
        if self.pending.get(&number)?.to != from {
            return None;
        }
        let call = self.pending.remove(&number)?;
        ctx.cancel(call.timer);
        Some(call.purpose)
    }

    /// A timer fired: if it is one of our timeouts, the node that did not
    /// answer and what the request was for.
    pub fn expired(&mut self, tag: u64) -> Option<(NodeIndex, P)> {
        if !RPC_TIMER_TAGS.contains(&tag) {
            return None;
        }
        let number = tag - RPC_TIMER_TAGS.start;
        let call = self.pending.remove(&number)?;
        Some((call.to, call.purpose))
    }

    /// Requests awaiting an answer.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether no request awaits an answer.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// The requests awaiting an answer, oldest first: node asked and purpose.
    pub fn iter(&self) -> impl Iterator<Item = (NodeIndex, &P)> {
        self.pending.values().map(|p| (p.to, &p.purpose))
    }
}

/// The answer to `request`: `answer` carrying the request's number.
pub fn reply(request: &Record, answer: Record) -> Record {
    answer.with(RPC_FIELD, request.u64(RPC_FIELD).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;
    use crate::testing::Harness;

    struct Asker {
        rpcs: Rpcs<&'static str>,
        answered: Vec<&'static str>,
        expired: Vec<(NodeIndex, &'static str)>,
    }

    impl Peer for Asker {
        fn init(_ctx: &mut Context, _start: Start) -> Self {
            Asker { rpcs: Rpcs::new(Duration::from_secs(1)), answered: Vec::new(), expired: Vec::new() }
        }
        fn on_message(&mut self, ctx: &mut Context, from: NodeIndex, message: Record) {
            if let Some(p) = self.rpcs.answered(ctx, from, &message) {
                self.answered.push(p);
            }
        }
        fn on_timer(&mut self, _ctx: &mut Context, tag: u64) {
            if let Some(e) = self.rpcs.expired(tag) {
                self.expired.push(e);
            }
        }
        fn inspect(&self, _ctx: &Context) -> State {
            State::new()
        }
    }

    fn asked(node: &mut Harness<Asker>, to: NodeIndex, what: &'static str) -> Record {
        node.call(|p, ctx| {
            p.rpcs.send(ctx, to, Record::new("ASK"), what);
        });
        node.sent().last().unwrap().1.clone()
    }

    #[test]
    fn only_the_first_answer_from_the_node_asked_settles_a_request() {
        let mut node = Harness::<Asker>::start(0, Record::new("config"), &[]);
        let a = asked(&mut node, 1, "a");
        let b = asked(&mut node, 2, "b");
        assert_ne!(a.u64(RPC_FIELD), b.u64(RPC_FIELD));
        node.deliver(2, reply(&a, Record::new("ANSWER")));
        assert!(node.peer().answered.is_empty(), "node 2 was not asked request a");
        node.deliver(1, reply(&a, Record::new("ANSWER")));
        node.deliver(1, reply(&a, Record::new("ANSWER")));
        assert_eq!(node.peer().answered, ["a"], "a second answer is ignored");
        assert_eq!(node.peer().rpcs.len(), 1);
        assert_eq!(node.peer().rpcs.iter().collect::<Vec<_>>(), [(2, &"b")]);
    }

    #[test]
    fn an_unanswered_request_expires_once_and_an_answered_one_never() {
        let mut node = Harness::<Asker>::start(0, Record::new("config"), &[]);
        let a = asked(&mut node, 1, "a");
        asked(&mut node, 2, "b");
        node.deliver(1, reply(&a, Record::new("ANSWER")));
        let pending: Vec<u64> = node.pending_timers();
        assert!(pending.iter().all(|&t| RPC_TIMER_TAGS.contains(&t)), "{pending:?}");
        assert_eq!(pending.len(), 1, "a's timeout was cancelled");
        node.fire(pending[0]);
        node.fire(pending[0]);
        assert_eq!(node.peer().expired, [(2, "b")]);
        assert!(node.peer().rpcs.is_empty());
    }
}
