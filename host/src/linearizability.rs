//! Linearizability of a client history, checked in the style of Porcupine
//! (Athalye, after Wing and Gong's search with Lowe's memoisation).
//!
//! A history is a list of [`Call`]s: an input, the virtual time it was
//! issued, and, if it returned, the time and the output. It is linearizable
//! if the operations can be put in one order that respects real time (an
//! operation that returned before another was issued comes first) and in
//! which every output is what the sequential [`Model`] would have answered.
//! Operations that never returned (failed, timed out, still pending) may
//! have taken effect at any time after their call, or not at all: they
//! count as returning at the end of time with an output the model accepts
//! whatever it is. A call and a return at the same instant count as
//! concurrent.
//!
//! The search is exponential in the worst case. It places operations one
//! at a time, backtracks when an operation's return is reached before it
//! could be placed, and never explores the same (set of placed operations,
//! model state) twice. It is bounded by a number of search steps, not by
//! wall time, so that the same history always gets the same answer; past
//! the budget the answer is [`Verdict::Unknown`]. Split a history into
//! independent parts first (for a key/value store, one per key:
//! [`crate::kv`] does) and the search stays small.
//!
//! ```
//! use peershare::linearizability::{check, Call, Register, RegisterOp, Verdict};
//! use peershare::time::SimTime;
//! let t = SimTime::from_millis;
//! // A write of 1 returns; a read issued afterwards still sees nothing.
//! let stale = [
//!     Call::returned(RegisterOp::Write(1), t(0), t(10), None),
//!     Call::returned(RegisterOp::Read, t(20), t(30), Some(0)),
//! ];
//! assert!(matches!(check(&Register(0), &stale, 10_000), Verdict::NotLinearizable { .. }));
//! // Issued while the write was in flight, the same read may see either.
//! let concurrent = [
//!     Call::returned(RegisterOp::Write(1), t(0), t(10), None),
//!     Call::returned(RegisterOp::Read, t(5), t(30), Some(0)),
//! ];
//! assert!(matches!(check(&Register(0), &concurrent, 10_000), Verdict::Linearizable { .. }));
//! ```

use crate::time::SimTime;
use std::collections::HashSet;
use std::hash::Hash;

/// A sequential specification: the object the history claims to be.
pub trait Model {
    /// The object's state.
    type State: Clone + Eq + Hash;
    /// An operation on it.
    type Input;
    /// What an operation answers.
    type Output;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// The state after `input` is applied to `state`, if it answers
    /// `output` there (`None` if it cannot). `output` is `None` for an
    /// operation that never returned: any answer is allowed.
    fn step(&self, state: &Self::State, input: &Self::Input, output: Option<&Self::Output>) -> Option<Self::State>;
}

/// One operation of a history.
#[derive(Clone, Debug, PartialEq)]
pub struct Call<I, O> {
    /// What was asked.
    pub input: I,
    /// When it was issued.
    pub called: SimTime,
    /// When it returned and what it answered; `None` if it never did (it
    /// may still have taken effect).
    pub returned: Option<(SimTime, O)>,
}

impl<I, O> Call<I, O> {
    /// An operation issued at `called` that answered `output` at `returned`.
    pub fn returned(input: I, called: SimTime, returned: SimTime, output: O) -> Self {
        Call { input, called, returned: Some((returned, output)) }
    }

    /// An operation issued at `called` that never answered.
    pub fn pending(input: I, called: SimTime) -> Self {
        Call { input, called, returned: None }
    }
}

/// The checker's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Linearizable: `order` lists the calls (indices into the history) in
    /// an order that explains every answer.
    Linearizable {
        /// A witness order.
        order: Vec<usize>,
    },
    /// No order explains the answers.
    NotLinearizable {
        /// The longest prefix of an order the search found (indices into
        /// the history).
        longest: Vec<usize>,
        /// The call that could not be placed after that prefix before its
        /// return: where the history stops making sense.
        stuck: usize,
    },
    /// The search used up its step budget without an answer.
    Unknown {
        /// The steps taken.
        steps: u64,
    },
}

/// An entry of the search's list: a call or a return of `op`.
#[derive(Clone, Copy, Debug)]
struct Entry {
    op: usize,
    is_call: bool,
    /// For a call: the index of its return entry.
    partner: usize,
}

/// A doubly linked list over entries, in time order, with a head at index
/// `len` (the sentinel): removing and reinserting an entry is O(1).
struct Links {
    next: Vec<usize>,
    prev: Vec<usize>,
}

impl Links {
    fn new(len: usize) -> Self {
        // Entries 0..len in order, in a ring through the head `len`.
        let next = (0..=len).map(|i| if i == len { 0 } else { i + 1 }).collect();
        let prev = (0..=len).map(|i| if i == 0 { len } else { i - 1 }).collect();
        Links { next, prev }
    }

    fn remove(&mut self, i: usize) {
        let (p, n) = (self.prev[i], self.next[i]);
        self.next[p] = n;
        self.prev[n] = p;
    }

    /// Puts back an entry removed last (its own links still say where).
    fn restore(&mut self, i: usize) {
        let (p, n) = (self.prev[i], self.next[i]);
        self.next[p] = i;
        self.prev[n] = i;
    }
}

/// A set of operation indices, as the key of the memo.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Placed(Vec<u64>);

impl Placed {
    fn new(n: usize) -> Self {
        Placed(vec![0; n.div_ceil(64)])
    }
    fn toggle(&mut self, i: usize) {
        self.0[i / 64] ^= 1 << (i % 64);
    }
}

/// Checks that `history` is linearizable with respect to `model`, in at
/// most `budget` search steps.
pub fn check<M: Model>(model: &M, history: &[Call<M::Input, M::Output>], budget: u64) -> Verdict {
    let n = history.len();
    // Calls and returns in time order; at equal times calls come first (so
    // they count as concurrent), and ties keep the history's order.
    let mut events: Vec<(SimTime, bool, usize)> = Vec::with_capacity(2 * n);
    for (i, c) in history.iter().enumerate() {
        events.push((c.called, false, i));
        events.push((c.returned.as_ref().map_or(SimTime::MAX, |(t, _)| *t), true, i));
    }
    events.sort_by_key(|&(t, is_return, i)| (t, is_return, i));
    let mut return_of = vec![0; n];
    for (at, &(_, is_return, op)) in events.iter().enumerate() {
        if is_return {
            return_of[op] = at;
        }
    }
    let entries: Vec<Entry> = events
        .iter()
        .map(|&(_, is_return, op)| Entry { op, is_call: !is_return, partner: if is_return { usize::MAX } else { return_of[op] } })
        .collect();
    let head = entries.len();
    let mut links = Links::new(entries.len());
    let mut memo: HashSet<(Placed, M::State)> = HashSet::new();
    let mut placed = Placed::new(n);
    let mut state = model.init();
    // Placed calls: (entry, state before it).
    let mut stack: Vec<(usize, M::State)> = Vec::new();
    let mut longest: Vec<usize> = Vec::new();
    let mut stuck = 0;
    let mut entry = links.next[head];
    let mut steps = 0u64;
    while links.next[head] != head {
        steps += 1;
        if steps > budget {
            return Verdict::Unknown { steps: budget };
        }
        let e = entries[entry];
        if e.is_call {
            let call = &history[e.op];
            let output = call.returned.as_ref().map(|(_, o)| o);
            if let Some(next_state) = model.step(&state, &call.input, output) {
                let mut next_placed = placed.clone();
                next_placed.toggle(e.op);
                if memo.insert((next_placed.clone(), next_state.clone())) {
                    stack.push((entry, std::mem::replace(&mut state, next_state)));
                    placed = next_placed;
                    links.remove(entry);
                    links.remove(e.partner);
                    entry = links.next[head];
                    continue;
                }
            }
            entry = links.next[entry];
        } else {
            // A return reached with its call unplaced: undo the last choice.
            if stack.len() >= longest.len() {
                longest = stack.iter().map(|&(i, _)| entries[i].op).collect();
                stuck = e.op;
            }
            let Some((call_entry, before)) = stack.pop() else {
                return Verdict::NotLinearizable { longest, stuck };
            };
            let call = entries[call_entry];
            state = before;
            placed.toggle(call.op);
            links.restore(call.partner);
            links.restore(call_entry);
            entry = links.next[call_entry];
        }
    }
    Verdict::Linearizable { order: stack.iter().map(|&(i, _)| entries[i].op).collect() }
}

/// A read/write register of integers that starts at `.0`: the model of
/// the examples and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Register(pub i64);

/// An operation on a [`Register`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterOp {
    /// Write a value (answers `None`).
    Write(i64),
    /// Read the value (answers `Some(value)`).
    Read,
}

impl Model for Register {
    type State = i64;
    type Input = RegisterOp;
    type Output = Option<i64>;

    fn init(&self) -> i64 {
        self.0
    }

    fn step(&self, state: &i64, input: &RegisterOp, output: Option<&Option<i64>>) -> Option<i64> {
        match (input, output) {
            (RegisterOp::Write(v), None | Some(None)) => Some(*v),
            (RegisterOp::Read, None) => Some(*state),
            (RegisterOp::Read, Some(Some(seen))) if seen == state => Some(*state),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> SimTime {
        SimTime::from_millis(ms)
    }
    fn write(v: i64, from: u64, to: u64) -> Call<RegisterOp, Option<i64>> {
        Call::returned(RegisterOp::Write(v), t(from), t(to), None)
    }
    fn read(v: i64, from: u64, to: u64) -> Call<RegisterOp, Option<i64>> {
        Call::returned(RegisterOp::Read, t(from), t(to), Some(v))
    }
    fn verdict(history: &[Call<RegisterOp, Option<i64>>]) -> Verdict {
        check(&Register(0), history, 1_000_000)
    }
    fn linearizable(history: &[Call<RegisterOp, Option<i64>>]) -> bool {
        match verdict(history) {
            Verdict::Linearizable { order } => {
                // The witness is a real one: every answer replays.
                let mut state = 0;
                for &i in &order {
                    state = Register(0).step(&state, &history[i].input, history[i].returned.as_ref().map(|(_, o)| o)).unwrap();
                }
                assert_eq!(order.len(), history.len());
                true
            }
            Verdict::NotLinearizable { .. } => false,
            Verdict::Unknown { .. } => panic!("a small history must be decided"),
        }
    }

    #[test]
    fn sequential_histories_follow_the_model() {
        assert!(linearizable(&[write(1, 0, 1), read(1, 2, 3), write(2, 4, 5), read(2, 6, 7)]));
        assert!(!linearizable(&[write(1, 0, 1), read(2, 2, 3)]));
        assert!(linearizable(&[]));
    }

    #[test]
    fn a_stale_read_after_a_completed_write_is_caught() {
        let h = [write(1, 0, 10), read(0, 20, 30)];
        match verdict(&h) {
            Verdict::NotLinearizable { longest, stuck } => {
                assert_eq!(longest, vec![0], "the write fits, the read after it does not");
                assert_eq!(stuck, 1);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn overlapping_operations_may_take_effect_in_either_order() {
        // Read concurrent with the write sees old or new.
        assert!(linearizable(&[write(1, 0, 10), read(0, 5, 15)]));
        assert!(linearizable(&[write(1, 0, 10), read(1, 5, 15)]));
        // A read that returns before the write starts cannot see it.
        assert!(!linearizable(&[read(1, 0, 4), write(1, 5, 10)]));
        // Touching intervals count as concurrent.
        assert!(linearizable(&[read(1, 0, 5), write(1, 5, 10)]));
    }

    #[test]
    fn two_readers_must_agree_on_the_order_of_two_writes() {
        // Classic: writes of 1 and 2 overlap; one reader sees 1 then 2, the
        // other 2 then 1, both after both writes ended: no single order.
        let h = [write(1, 0, 10), write(2, 0, 10), read(1, 20, 21), read(2, 22, 23), read(2, 30, 31), read(1, 32, 33)];
        assert!(!linearizable(&h));
        // Reads may see the writes' order either way, as long as they agree.
        let h = [write(1, 0, 10), write(2, 0, 10), read(2, 20, 21), read(2, 22, 23), read(2, 30, 31)];
        assert!(linearizable(&h));
    }

    #[test]
    fn a_value_cannot_come_back_once_overwritten() {
        // Reads of 1, 2, 1 while writes of 1 and 2 overlap them all: a
        // register cannot go back to 1 without a third write.
        let h = [write(1, 0, 100), write(2, 0, 100), read(1, 10, 11), read(2, 20, 21), read(1, 30, 31)];
        assert!(!linearizable(&h));
        let h = [write(1, 0, 100), write(2, 0, 100), write(1, 0, 100), read(1, 10, 11), read(2, 20, 21), read(1, 30, 31)];
        assert!(linearizable(&h));
    }

    #[test]
    fn operations_that_never_returned_may_or_may_not_have_happened() {
        // A write that timed out may be seen later...
        let lost = Call::pending(RegisterOp::Write(7), t(0));
        assert!(linearizable(&[lost.clone(), read(7, 50, 60)]));
        // ...or never.
        assert!(linearizable(&[lost.clone(), read(0, 50, 60)]));
        // But once seen, it stays.
        assert!(!linearizable(&[lost, read(7, 50, 60), read(0, 70, 80)]));
        // Nor can it be seen before it was issued.
        assert!(!linearizable(&[read(7, 0, 10), Call::pending(RegisterOp::Write(7), t(20))]));
    }

    #[test]
    fn the_budget_answers_unknown_rather_than_searching_on() {
        // Many concurrent writes and a read no write explains: the search
        // must try every order before it can say no.
        let mut h: Vec<_> = (1..=12).map(|v| write(v, 0, 100)).collect();
        h.push(read(99, 50, 60));
        assert_eq!(check(&Register(0), &h, 50), Verdict::Unknown { steps: 50 });
    }

    #[test]
    fn memoisation_keeps_wide_concurrency_tractable() {
        // 12 concurrent writes of distinct values and a read no write
        // explains: 12! orders to refute without the memo, a few hundred
        // thousand steps with it.
        let mut h: Vec<_> = (1..=12).map(|v| write(v, 0, 100)).collect();
        h.push(read(99, 50, 60));
        assert!(matches!(check(&Register(0), &h, 1_000_000), Verdict::NotLinearizable { .. }));
    }
}
