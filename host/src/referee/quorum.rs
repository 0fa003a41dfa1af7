//! Quorum audits for vote-counting protocols (PBFT): behind every commit a
//! node reports, the votes it really cast and received must form a
//! certificate, 2f prepares and 2f + 1 commits of one view and digest
//! from distinct replicas, where n = 3f + 1 is its group's size.
//!
//! Votes are the messages of the [`peershare_wire::vote`] convention,
//! counted by the sender the network saw (a replica cannot vote twice by
//! naming another), from what the node sent and what was delivered to it;
//! messages dropped on the way do not count. The audit checks the count,
//! not that the digest is the committed value's: two correct replicas
//! committing different values at one number is state-machine safety.

use crate::NodeIndex;
use crate::time::SimTime;
use peershare_wire::vote::{Phase, Vote};
use peershare_wire::{Record, peek_kind};
use std::collections::BTreeMap;

/// One vote a node holds.
#[derive(Clone, Debug)]
struct Ballot {
    phase: Phase,
    view: u64,
    digest: Vec<u8>,
    voter: NodeIndex,
    at: SimTime,
}

/// The best certificate a node held for a commit, when it falls short.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Shortfall {
    /// The view of the best (view, digest) the node held votes for.
    pub view: Option<u64>,
    /// Distinct prepares and commits for it.
    pub prepares: usize,
    pub commits: usize,
    /// What the group's size asks for: 2f and 2f + 1.
    pub f: usize,
    /// When the first vote the node held for that number came.
    pub since: Option<SimTime>,
}

impl Shortfall {
    /// The shortfall in one sentence, for `node` committing `seq`.
    pub fn describe(&self, node: NodeIndex, seq: u64, n: usize) -> String {
        let view = self.view.map_or(String::new(), |v| format!(" (best: view {v})"));
        format!(
            "node {node} committed sequence number {seq} holding {} prepares and {} commits for one proposal{view}; \
             with n = {n} (f = {}) a commit needs {} prepares and {} commits from distinct replicas",
            self.prepares,
            self.commits,
            self.f,
            2 * self.f,
            2 * self.f + 1
        )
    }
}

/// Distinct prepare and commit voters for one (view, digest).
type Tally<'a> = BTreeMap<(u64, &'a [u8]), (Vec<NodeIndex>, Vec<NodeIndex>)>;

/// The votes each node holds, by sequence number, until it commits there.
#[derive(Clone, Debug, Default)]
pub(super) struct Ballots {
    held: BTreeMap<(NodeIndex, u64), Vec<Ballot>>,
    /// Nodes that have sent or received a vote: their commits are audited.
    voting: std::collections::BTreeSet<NodeIndex>,
}

impl Ballots {
    /// `holder` cast (`voter == holder`) or received the message `bytes`
    /// from `voter`; kept if it is a vote for a number above `applied`.
    pub fn record(&mut self, at: SimTime, holder: NodeIndex, voter: NodeIndex, bytes: &[u8], applied: u64) {
        let Ok(kind) = peek_kind(bytes) else { return };
        if Phase::of_kind(kind).is_none() {
            return;
        }
        let Some(vote) = Record::decode(bytes).ok().as_ref().and_then(Vote::from_record) else { return };
        self.voting.insert(holder);
        if vote.seq <= applied {
            return;
        }
        let ballots = self.held.entry((holder, vote.seq)).or_default();
        let known = ballots.iter().any(|b| b.voter == voter && b.phase == vote.phase && b.view == vote.view && b.digest == vote.digest);
        if !known {
            ballots.push(Ballot { phase: vote.phase, view: vote.view, digest: vote.digest, voter, at });
        }
    }

    /// Audits `holder`'s commit at `seq` in a group of `n`: `None` if it
    /// does not take part in voting or held a certificate. Forgets the
    /// votes it held for `seq` and below.
    pub fn audit(&mut self, holder: NodeIndex, seq: u64, n: usize) -> Option<Shortfall> {
        if !self.voting.contains(&holder) {
            return None;
        }
        let ballots = self.held.remove(&(holder, seq)).unwrap_or_default();
        let stale: Vec<_> = self.held.range((holder, 0)..(holder, seq)).map(|(k, _)| *k).collect();
        for key in stale {
            self.held.remove(&key);
        }
        let f = n.saturating_sub(1) / 3;
        // Distinct voters per (view, digest) and phase.
        let mut tally: Tally = BTreeMap::new();
        for b in &ballots {
            let (prepares, commits) = tally.entry((b.view, &b.digest)).or_default();
            let voters = if b.phase == Phase::Prepare { prepares } else { commits };
            if !voters.contains(&b.voter) {
                voters.push(b.voter);
            }
        }
        let counts = |(p, c): &(Vec<NodeIndex>, Vec<NodeIndex>)| (c.len().min(2 * f + 1) + p.len().min(2 * f), c.len(), p.len());
        let best = tally.iter().max_by_key(|(_, votes)| counts(votes));
        let (view, prepares, commits) = best.map_or((None, 0, 0), |((view, _), (p, c))| (Some(*view), p.len(), c.len()));
        if prepares >= 2 * f && commits > 2 * f {
            return None;
        }
        let since = ballots.iter().map(|b| b.at).min();
        Some(Shortfall { view, prepares, commits, f, since })
    }

    /// `holder` lost its memory: the votes it held are gone.
    pub fn forget(&mut self, holder: NodeIndex) {
        let keys: Vec<_> = self.held.range((holder, 0)..=(holder, u64::MAX)).map(|(k, _)| *k).collect();
        for key in keys {
            self.held.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vote(phase: Phase, view: u64, seq: u64, digest: u8, voter: NodeIndex) -> Vec<u8> {
        Vote { phase, view, seq, digest: vec![digest] }.to_record(voter).encode()
    }

    fn t(ms: u64) -> SimTime {
        SimTime::ZERO + crate::time::SimDuration::from_millis(ms)
    }

    /// Node 0 of 4 holds prepares from `prepares` and commits from
    /// `commits` for (view 1, seq 5, digest 9), its own commit included.
    fn holding(prepares: &[NodeIndex], commits: &[NodeIndex]) -> Ballots {
        let mut b = Ballots::default();
        for (i, &p) in prepares.iter().enumerate() {
            b.record(t(i as u64), 0, p, &vote(Phase::Prepare, 1, 5, 9, p), 0);
        }
        for &c in commits {
            b.record(t(10), 0, c, &vote(Phase::Commit, 1, 5, 9, c), 0);
        }
        b
    }

    #[test]
    fn a_full_certificate_passes_and_a_short_one_is_named() {
        assert_eq!(holding(&[1, 2], &[0, 1, 2]).audit(0, 5, 4), None);
        let short = holding(&[1, 2], &[0, 1]).audit(0, 5, 4).expect("2 commits of 3");
        assert_eq!((short.view, short.prepares, short.commits, short.f, short.since), (Some(1), 2, 2, 1, Some(t(0))));
        assert!(short.describe(0, 5, 4).contains("2 prepares and 2 commits"), "{}", short.describe(0, 5, 4));
        let short = holding(&[1], &[0, 1, 2]).audit(0, 5, 4).expect("1 prepare of 2");
        assert_eq!((short.prepares, short.commits), (1, 3));
    }

    #[test]
    fn repeats_other_views_and_other_digests_do_not_add_up() {
        let mut b = holding(&[1, 2], &[0, 1]);
        // The same commit again, one for another digest, one in another view.
        b.record(t(20), 0, 1, &vote(Phase::Commit, 1, 5, 9, 1), 0);
        b.record(t(21), 0, 2, &vote(Phase::Commit, 1, 5, 8, 2), 0);
        b.record(t(22), 0, 3, &vote(Phase::Commit, 2, 5, 9, 3), 0);
        let short = b.audit(0, 5, 4).expect("still 2 matching commits");
        assert_eq!((short.view, short.commits), (Some(1), 2));
        // A vote's `replica` field is not trusted: node 3 naming node 2 is node 3.
        let mut b = holding(&[1, 2], &[0, 1]);
        b.record(t(23), 0, 3, &vote(Phase::Commit, 1, 5, 9, 2), 0);
        assert_eq!(b.audit(0, 5, 4), None, "node 3's commit counts as node 3's");
    }

    #[test]
    fn nodes_that_never_vote_are_not_audited_and_old_votes_are_dropped() {
        let mut b = Ballots::default();
        b.record(t(1), 0, 1, &Record::new("APPEND").with("seq", 1u64).encode(), 0);
        assert_eq!(b.audit(0, 1, 4), None, "no votes: not a vote-counting protocol");
        let mut b = holding(&[1, 2], &[0, 1, 2]);
        b.record(t(30), 0, 1, &vote(Phase::Commit, 1, 3, 9, 1), 0);
        assert_eq!(b.audit(0, 5, 4), None);
        assert!(b.held.is_empty(), "votes at and below a commit are forgotten");
        // Votes at or below what the node applied are not kept.
        b.record(t(31), 0, 1, &vote(Phase::Commit, 1, 4, 9, 1), 5);
        assert!(b.held.is_empty());
        let mut b = holding(&[1, 2], &[0, 1, 2]);
        b.forget(0);
        assert!(b.audit(0, 5, 4).is_some(), "a restarted node's old votes are gone");
    }

    #[test]
    fn larger_groups_need_larger_quorums() {
        // n = 7, f = 2: 4 prepares and 5 commits.
        assert!(holding(&[1, 2, 3], &[0, 1, 2, 3, 4]).audit(0, 5, 7).is_some());
        assert_eq!(holding(&[1, 2, 3, 4], &[0, 1, 2, 3, 4]).audit(0, 5, 7), None);
    }
}
