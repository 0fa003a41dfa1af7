//! A Chord node's view of the ring: its successor list, predecessor and
//! finger table, and the routing choice made from them.

use peershare_sdk::{Contact, NodeIndex, id};

/// Where a next hop came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// Finger `i`: the successor of `n + 2^i`.
    Finger(u32),
    /// Entry `rank` of the successor list.
    Successor(u32),
}

impl core::fmt::Display for Via {
    /// As lookup traces name it: `finger 7`, `successor 2`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Via::Finger(i) => write!(f, "finger {i}"),
            Via::Successor(i) => write!(f, "successor {i}"),
        }
    }
}

/// What a node answers when asked for the successor of a key.
#[derive(Clone, Debug, PartialEq)]
pub enum Route {
    /// The key's successor, then the nodes after it.
    Found(Vec<Contact>),
    /// Ask this node, which precedes the key more closely.
    Forward(Contact, Via),
}

/// Successor list, predecessor and fingers of one node.
pub struct Ring {
    pub me: Contact,
    bits: u32,
    /// Length of the successor list.
    r: usize,
    /// Whether routing may jump along the successor list too (the paper's
    /// `closest_preceding_node` reads the fingers only).
    pub route_by_successors: bool,
    /// The successor list, nearest first; never holds this node.
    pub successors: Vec<Contact>,
    pub predecessor: Option<Contact>,
    /// `fingers[i]`: the successor of `me + 2^i` when it was last fixed.
    pub fingers: Vec<Option<Contact>>,
}

impl Ring {
    pub fn new(me: Contact, bits: u32, r: usize) -> Self {
        Ring {
            me,
            bits,
            r: r.max(1),
            route_by_successors: true,
            successors: Vec::new(),
            predecessor: None,
            fingers: vec![None; bits as usize],
        }
    }

    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// `x ∈ (from, to]` on the ring (`(a, a]` is the whole ring).
    pub fn between(&self, x: &[u8], from: &[u8], to: &[u8]) -> bool {
        id::in_ring_interval(x, from, to, self.bits)
    }

    /// `x ∈ (from, to)` on the ring.
    pub fn strictly_between(&self, x: &[u8], from: &[u8], to: &[u8]) -> bool {
        x != to && self.between(x, from, to)
    }

    /// The successor: this node itself while it knows no other (a ring of
    /// one).
    pub fn successor(&self) -> &Contact {
        self.successors.first().unwrap_or(&self.me)
    }

    /// Whether this node is the successor of `key`: `key ∈ (predecessor, me]`.
    pub fn owns(&self, key: &[u8]) -> bool {
        match &self.predecessor {
            Some(p) => self.between(key, &p.id, &self.me.id),
            None => self.successors.is_empty(),
        }
    }

    /// This node's answer for `key`, never naming a node `avoid` says is
    /// gone: the key's successor if the key lies between this node and its
    /// successor, or else the known node that most closely precedes the key
    /// (the paper's `closest_preceding_node`). The predecessor is not
    /// consulted: it is only a hint (any node may claim it until its true
    /// predecessor notifies it), and a wrong one would answer for a whole
    /// arc of the ring.
    pub fn route(&self, key: &[u8], avoid: impl Fn(NodeIndex) -> bool) -> Route {
        let succ = self.successors.iter().find(|c| !avoid(c.node)).unwrap_or(&self.me);
        if self.between(key, &self.me.id, &succ.id) {
            return Route::Found(self.list_from(succ, &avoid));
        }
        match self.closest_preceding(key, &avoid) {
            Some((c, via)) => Route::Forward(c, via),
            None => Route::Found(self.list_from(succ, &avoid)),
        }
    }

    /// The known node in `(me, key)` closest to `key`, and where it is kept.
    /// Runs on every hop a node answers, so it allocates nothing: each
    /// distinct finger is read once and candidates are compared by their
    /// clockwise offset from this node.
    pub fn closest_preceding(&self, key: &[u8], avoid: &impl Fn(NodeIndex) -> bool) -> Option<(Contact, Via)> {
        let me = &self.me.id;
        let mut last_finger = None;
        let fingers = self.fingers.iter().enumerate().rev().filter_map(|(i, f)| {
            let c = f.as_ref()?;
            // Neighbouring fingers often name one node: read it once.
            (last_finger.replace(c.node) != Some(c.node)).then_some((c, Via::Finger(i as u32)))
        });
        let listed = if self.route_by_successors { self.successors.len() } else { 1 };
        let successors = self.successors.iter().take(listed).enumerate().map(|(i, c)| (c, Via::Successor(i as u32)));
        let mut best: Option<(&Contact, Via)> = None;
        for (c, via) in fingers.chain(successors) {
            if avoid(c.node) || !self.strictly_between(&c.id, me, key) {
                continue;
            }
            if best.is_none_or(|(b, _)| id::cmp_ring_offset(me, &c.id, &b.id, self.bits).is_gt()) {
                best = Some((c, via));
            }
        }
        best.map(|(c, via)| (c.clone(), via))
    }

    /// `first`, then the successors this node knows after it.
    fn list_from(&self, first: &Contact, avoid: &impl Fn(NodeIndex) -> bool) -> Vec<Contact> {
        let mut list = vec![first.clone()];
        let start = self.successors.iter().position(|c| c.node == first.node).map_or(0, |p| p + 1);
        list.extend(self.successors[start..].iter().filter(|c| !avoid(c.node)).take(self.r - 1).cloned());
        list
    }

    /// Takes `succ` as successor, followed by the list `succ` reported.
    pub fn adopt(&mut self, succ: Contact, reported: &[Contact]) {
        let mut list = vec![succ];
        for c in reported {
            if c.node != self.me.node && !list.iter().any(|x| x.node == c.node) {
                list.push(c.clone());
            }
        }
        list.truncate(self.r);
        self.successors = list;
    }

    /// Forgets a node that stopped answering, wherever it is kept.
    pub fn forget(&mut self, node: NodeIndex) {
        self.successors.retain(|c| c.node != node);
        if self.predecessor.as_ref().is_some_and(|p| p.node == node) {
            self.predecessor = None;
        }
        for f in self.fingers.iter_mut() {
            if f.as_ref().is_some_and(|c| c.node == node) {
                *f = None;
            }
        }
    }

    /// How many of the first fingers are the successor itself: finger `i`
    /// is when its start `me + 2^i` lies in `(me, successor]`, that is when
    /// `2^i` is at most the successor's distance. None without a successor.
    pub fn fingers_within_successor(&self) -> u32 {
        let Some(succ) = self.successors.first() else { return 0 };
        let gap = id::ring_distance(&self.me.id, &succ.id, self.bits);
        // 2^i <= gap exactly for i below gap's bit length (a zero gap is a
        // whole turn: every finger is the successor).
        let bit_length = (gap.len() as u32 * 8).saturating_sub(id::common_prefix_bits(&gap, &[], gap.len() as u32 * 8));
        if bit_length == 0 { self.bits } else { bit_length.min(self.bits) }
    }

    /// The start of finger `i`: `me + 2^i`.
    pub fn finger_start(&self, i: u32) -> Vec<u8> {
        id::add_pow2(&self.me.id, i, self.bits)
    }

    /// The finger table without repeats: each distinct node once, with the
    /// number of the first finger that points at it.
    pub fn distinct_fingers(&self) -> Vec<(u32, NodeIndex)> {
        let mut out: Vec<(u32, NodeIndex)> = Vec::new();
        for (i, f) in self.fingers.iter().enumerate() {
            if let Some(c) = f
                && out.last().is_none_or(|(_, n)| *n != c.node)
            {
                out.push((i as u32, c.node));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(node: u32, id: u8) -> Contact {
        Contact::new(node, vec![id])
    }

    /// Node 10 on a ring of 2^8 with successors 20, 30 and fingers.
    fn ring() -> Ring {
        let mut r = Ring::new(c(0, 10), 8, 3);
        r.adopt(c(1, 20), &[c(2, 30), c(3, 40)]);
        r.predecessor = Some(c(9, 250));
        r.fingers[3] = Some(c(1, 20)); // 10 + 8 = 18 -> 20
        r.fingers[6] = Some(c(4, 80)); // 10 + 64 = 74 -> 80
        r.fingers[7] = Some(c(5, 140)); // 10 + 128 = 138 -> 140
        r
    }

    #[test]
    fn routes_follow_the_paper() {
        let r = ring();
        let none = |_| false;
        assert_eq!(r.route(&[15], none), Route::Found(vec![c(1, 20), c(2, 30), c(3, 40)]), "15 ∈ (10, 20]");
        assert_eq!(r.route(&[5], none), Route::Forward(c(5, 140), Via::Finger(7)), "5 ∈ (250, 10] is found by its predecessor");
        assert_eq!(r.route(&[100], none), Route::Forward(c(4, 80), Via::Finger(6)));
        assert_eq!(r.route(&[200], none), Route::Forward(c(5, 140), Via::Finger(7)));
        assert_eq!(r.route(&[35], none), Route::Forward(c(2, 30), Via::Successor(1)));
        assert_eq!(r.route(&[100], |n| n == 4), Route::Forward(c(3, 40), Via::Successor(2)), "a gone finger is skipped");
        assert_eq!(r.route(&[15], |n| n == 1), Route::Found(vec![c(2, 30), c(3, 40)]), "a gone successor is skipped");
        let mut paper = ring();
        paper.route_by_successors = false;
        assert_eq!(paper.route(&[35], none), Route::Forward(c(1, 20), Via::Finger(3)), "fingers only, as in the paper");
    }

    #[test]
    fn fingers_are_listed_once_with_their_first_number() {
        let mut r = ring();
        r.fingers[4] = Some(c(1, 20));
        assert_eq!(r.distinct_fingers(), [(3, 1), (6, 4), (7, 5)]);
        r.forget(4);
        assert_eq!(r.distinct_fingers(), [(3, 1), (7, 5)]);
        assert_eq!(r.finger_start(7), vec![138]);
    }

    #[test]
    fn the_fingers_within_the_successor_are_counted_from_its_distance() {
        let mut r = ring(); // successor 20 is 10 past node 10
        assert_eq!(r.fingers_within_successor(), 4, "10 + 1, 2, 4, 8 lie in (10, 20]; 10 + 16 does not");
        for (i, want) in [(3, true), (4, false)] {
            let start = r.finger_start(i);
            assert_eq!(r.between(&start, &[10], &[20]), want);
        }
        r.adopt(c(1, 9), &[]);
        assert_eq!(r.fingers_within_successor(), 8, "a successor just behind covers every finger");
        r.successors.clear();
        assert_eq!(r.fingers_within_successor(), 0);
    }
}
