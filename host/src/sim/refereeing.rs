//! The consensus referee's place in the engine: what it is shown after
//! every handler, and what becomes of a violation (an event, and with
//! [`Refereeing::Stop`] the end of the run).

use super::Simulation;
use crate::NodeIndex;
use crate::events::Event;
use crate::node::InitArgs;
use crate::referee::{Referee, Refereeing, Violation};

/// The referee of a run and how it watches.
#[derive(Debug)]
pub(super) struct Watch {
    pub referee: Referee,
    mode: Refereeing,
    /// Violations already recorded as events.
    recorded: usize,
}

impl Watch {
    /// A watch over the nodes `init_args` describe, each in the cluster of
    /// itself and its bootstrap contacts (named by its lowest member);
    /// `None` when `mode` is off.
    pub fn new(mode: Refereeing, init_args: &[InitArgs]) -> Option<Box<Watch>> {
        if mode == Refereeing::Off {
            return None;
        }
        let cluster_of = init_args.iter().map(|a| a.bootstrap.iter().map(|c| c.index).chain([a.index]).min().unwrap_or(a.index)).collect();
        Some(Box::new(Watch { referee: Referee::with_clusters(cluster_of), mode, recorded: 0 }))
    }
}

impl Simulation {
    /// Shows the referee `node`'s state after a handler.
    pub(super) fn referee_observe(&mut self, node: NodeIndex) {
        if self.referee.is_none() {
            return;
        }
        let Some(state) = self.inspect_node(node) else { return };
        let now = self.now;
        if let Some(watch) = &mut self.referee {
            watch.referee.observe(now, node, &state);
        }
        self.record_violations();
    }

    /// Shows the referee a message `from` sent (votes count for quorums).
    pub(super) fn referee_sent(&mut self, from: NodeIndex, bytes: &[u8]) {
        let now = self.now;
        if let Some(watch) = &mut self.referee {
            watch.referee.sent(now, from, bytes);
        }
    }

    /// Shows the referee a message delivered to `to`.
    pub(super) fn referee_delivered(&mut self, from: NodeIndex, to: NodeIndex, bytes: &[u8]) {
        let now = self.now;
        if let Some(watch) = &mut self.referee {
            watch.referee.delivered(now, from, to, bytes);
        }
    }

    /// Shows the referee an entry `node` committed.
    pub(super) fn referee_committed(&mut self, node: NodeIndex, index: u64, value: &[u8]) {
        let now = self.now;
        if let Some(watch) = &mut self.referee {
            watch.referee.committed(now, node, index, value);
            self.record_violations();
        }
    }

    fn record_violations(&mut self) {
        let Some(watch) = &mut self.referee else { return };
        let new: Vec<Violation> = watch.referee.violations()[watch.recorded..].to_vec();
        watch.recorded += new.len();
        for violation in new {
            self.log.record(self.now, || Event::SafetyViolation { violation });
        }
    }

    /// Whether the referee stopped the run.
    pub(super) fn stopped_by_referee(&self) -> bool {
        self.referee.as_ref().is_some_and(|w| w.mode == Refereeing::Stop && w.recorded > 0)
    }

    /// The consensus safety violations the referee found so far (empty if
    /// it does not watch: [`super::SimulationBuilder::referee`]).
    pub fn violations(&self) -> &[Violation] {
        self.referee.as_ref().map_or(&[], |w| w.referee.violations())
    }
}
