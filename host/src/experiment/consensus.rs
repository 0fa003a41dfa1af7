//! Liveness and cost of a consensus plugin over a run, replayed from the
//! event log: when the first leader appeared, how often leadership
//! changed, how long no leader was up, and what was committed.
//!
//! A node's role and term are those of the last state it published
//! (`role`, `term`: the conventions [`crate::viz`] reads); a node down, or
//! restarted from scratch and yet to publish, leads nothing.

use crate::events::Event;
use crate::sim::Simulation;
use crate::time::{SimDuration, SimTime};
use peershare_wire::Record;
use std::collections::BTreeSet;

/// Leadership and commitment over one run.
#[derive(Clone, Debug, PartialEq)]
pub struct Leadership {
    /// When a node first published the role "leader".
    pub first_leader: Option<SimTime>,
    /// How many times a node's published role became "leader".
    pub leaderships: u64,
    /// The highest term any node published.
    pub max_term: u64,
    /// From the first leader on, the virtual time during which no node up
    /// held the role "leader".
    pub unavailable: SimDuration,
    /// Distinct (index, value) pairs reported through `committed`.
    pub entries_committed: u64,
}

impl Leadership {
    /// Replays the run's event log; `None` if no node published a role or
    /// the log was not recorded.
    pub fn of(sim: &Simulation) -> Option<Leadership> {
        let n = sim.node_count();
        let (mut up, mut leading) = (vec![false; n], vec![false; n]);
        let mut seen_role = false;
        let mut l = Leadership { first_leader: None, leaderships: 0, max_term: 0, unavailable: SimDuration::ZERO, entries_committed: 0 };
        let mut committed: BTreeSet<(u64, std::sync::Arc<[u8]>)> = BTreeSet::new();
        // Since when no leader has been up (after the first one).
        let mut leaderless_since: Option<SimTime> = None;
        let leaders_up = |up: &[bool], leading: &[bool]| up.iter().zip(leading).filter(|(u, l)| **u && **l).count();
        for e in sim.events().events() {
            let before = leaders_up(&up, &leading);
            match &e.event {
                Event::NodeStarted { node, .. } => up[*node as usize] = true,
                Event::NodeUp { node, state_kept, .. } => {
                    up[*node as usize] = true;
                    if !state_kept {
                        leading[*node as usize] = false;
                    }
                }
                Event::NodeDown { node, .. } | Event::Crashed { node, .. } => up[*node as usize] = false,
                Event::StatePublished { node, state } => {
                    let Ok(record) = Record::decode(state) else { continue };
                    let Some(role) = record.str("role") else { continue };
                    seen_role = true;
                    l.max_term = l.max_term.max(record.u64("term").unwrap_or(0));
                    let now_leading = role == "leader";
                    if now_leading && !leading[*node as usize] {
                        l.leaderships += 1;
                        l.first_leader.get_or_insert(e.time);
                    }
                    leading[*node as usize] = now_leading;
                }
                Event::Committed { index, value, .. } => {
                    committed.insert((*index, value.clone()));
                    continue;
                }
                _ => continue,
            }
            let after = leaders_up(&up, &leading);
            match (before > 0, after > 0) {
                (true, false) => leaderless_since = Some(e.time),
                (false, true) => {
                    if let Some(since) = leaderless_since.take() {
                        l.unavailable = l.unavailable + e.time.since(since);
                    }
                }
                _ => {}
            }
        }
        if let Some(since) = leaderless_since {
            l.unavailable = l.unavailable + sim.now().since(since);
        }
        l.entries_committed = committed.len() as u64;
        seen_role.then_some(l)
    }
}
