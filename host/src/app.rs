//! Host-side applications: programs that run on simulated nodes next to the
//! peer, talk to other nodes through the simulated network, and use the
//! peer's interfaces (discovery, routing) through operations. File sharing
//! ([`crate::fileshare`]) is one.
//!
//! An application is trusted host code, driven by the engine like a peer:
//! it reacts to one event and leaves [`AppEffect`]s in an [`AppContext`].

use crate::NodeIndex;
use crate::node::{OpId, Operation};
use crate::time::{SimDuration, SimTime};
use peershare_wire::Record;

/// Something an application asked the engine to do.
#[derive(Clone, Debug, PartialEq)]
pub enum AppEffect {
    /// Send an application message from `from` to `to` through the network.
    Send {
        /// Sending node.
        from: NodeIndex,
        /// Destination node.
        to: NodeIndex,
        /// The message.
        message: Record,
    },
    /// Call `on_timer(node, tag)` after `delay`.
    SetTimer {
        /// The node.
        node: NodeIndex,
        /// Delay from now.
        delay: SimDuration,
        /// The application's tag.
        tag: u64,
    },
    /// Ask the peer at `node` to perform an operation; its id was reserved
    /// by [`AppContext::peer_operation`].
    PeerOperation {
        /// The reserved id.
        op: OpId,
        /// The node.
        node: NodeIndex,
        /// What to do.
        operation: Operation,
    },
    /// Complete an application operation.
    Complete {
        /// The operation.
        op: OpId,
        /// Whether it succeeded.
        ok: bool,
        /// The outcome.
        result: Record,
    },
}

/// What an application handler sees: the time, and where its effects go.
#[derive(Debug)]
pub struct AppContext {
    now: SimTime,
    next_op: OpId,
    effects: Vec<AppEffect>,
}

impl AppContext {
    /// A context at time `now`; operation ids are reserved from `next_op`.
    pub(crate) fn new(now: SimTime, next_op: OpId) -> Self {
        AppContext { now, next_op, effects: Vec::new() }
    }

    /// The current virtual time.
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Sends an application message.
    pub fn send(&mut self, from: NodeIndex, to: NodeIndex, message: Record) {
        self.effects.push(AppEffect::Send { from, to, message });
    }

    /// Sets a timer for `node`.
    pub fn set_timer(&mut self, node: NodeIndex, delay: SimDuration, tag: u64) {
        self.effects.push(AppEffect::SetTimer { node, delay, tag });
    }

    /// Asks the peer at `node` to perform `operation`; its completion comes
    /// back through [`Application::on_peer_complete`] with the returned id.
    pub fn peer_operation(&mut self, node: NodeIndex, operation: Operation) -> OpId {
        let op = self.next_op;
        self.next_op += 1;
        self.effects.push(AppEffect::PeerOperation { op, node, operation });
        op
    }

    /// Completes an application operation.
    pub fn complete(&mut self, op: OpId, ok: bool, result: Record) {
        self.effects.push(AppEffect::Complete { op, ok, result });
    }

    pub(crate) fn into_effects(self) -> Vec<AppEffect> {
        self.effects
    }
}

/// A host-side application running on every node.
pub trait Application: Send + std::any::Any {
    /// The workload asks `node` to perform an application operation; the
    /// request's kind names it.
    fn start(&mut self, ctx: &mut AppContext, op: OpId, node: NodeIndex, request: &Record);

    /// An application message from `from` reached `node`.
    fn on_message(&mut self, ctx: &mut AppContext, node: NodeIndex, from: NodeIndex, message: &Record);

    /// A timer set by the application fired at `node`.
    fn on_timer(&mut self, ctx: &mut AppContext, node: NodeIndex, tag: u64);

    /// A peer operation the application started has completed.
    fn on_peer_complete(&mut self, ctx: &mut AppContext, node: NodeIndex, op: OpId, ok: bool, result: &Record);

    /// `node`'s peer reported committing `value` at log `index` (through
    /// the `consensus` interface's `committed`), before any completion the
    /// same handler call made.
    fn on_committed(&mut self, ctx: &mut AppContext, node: NodeIndex, index: u64, value: &[u8]) {
        let _ = (ctx, node, index, value);
    }

    /// The linearizability check of the application's client history, for
    /// applications that keep one ([`crate::kv::KeyValueStore`]).
    fn linearizability(&self) -> Option<crate::kv::LinearizabilityReport> {
        None
    }

    /// Checks a request before the run starts (unknown files and the like).
    fn check_request(&self, request: &Record) -> Result<(), String> {
        let _ = request;
        Ok(())
    }
}
