//! The faults in force during a run, and what they do to one message.

use super::byzantine::{corrupt_fields, eclipse};
use super::{ByzantineAction, FaultId, FaultKind};
use crate::NodeIndex;
use crate::events::{DropReason, FaultAction};
use crate::network::{Bandwidth, LatencyModel};
use crate::rng::{SimRng, unit_f64};
use crate::time::SimDuration;

/// Membership of nodes in a resolved set.
#[derive(Clone, Debug)]
pub(crate) struct Members {
    all: bool,
    bits: Vec<bool>,
}

impl Members {
    pub(crate) fn everyone() -> Self {
        Members { all: true, bits: Vec::new() }
    }

    pub(crate) fn of(nodes: &[NodeIndex], total: usize) -> Self {
        let mut bits = vec![false; total];
        for &n in nodes {
            bits[n as usize] = true;
        }
        Members { all: false, bits }
    }

    pub(crate) fn contains(&self, node: NodeIndex) -> bool {
        self.all || self.bits.get(node as usize).copied().unwrap_or(false)
    }
}

/// Which messages a link fault acts on.
#[derive(Clone, Debug)]
pub(crate) enum Scope {
    /// From or to one of these nodes.
    Touching(Members),
    /// From `from` to `to` (and back if symmetric).
    Links { from: Members, to: Members, symmetric: bool },
}

impl Scope {
    fn matches(&self, from: NodeIndex, to: NodeIndex) -> bool {
        match self {
            Scope::Touching(m) => m.contains(from) || m.contains(to),
            Scope::Links { from: f, to: t, symmetric } => {
                (f.contains(from) && t.contains(to)) || (*symmetric && f.contains(to) && t.contains(from))
            }
        }
    }
}

/// A link fault in force.
#[derive(Clone, Debug)]
pub(crate) struct LinkFault {
    pub id: FaultId,
    pub kind: FaultKind,
    pub scope: Scope,
}

/// A partition in force: each node's side.
#[derive(Clone, Debug)]
pub(crate) struct Partition {
    pub id: FaultId,
    pub side: Vec<u16>,
    pub one_way: bool,
}

impl Partition {
    fn blocks(&self, from: NodeIndex, to: NodeIndex) -> bool {
        let (a, b) = (self.side[from as usize], self.side[to as usize]);
        if self.one_way { a < b } else { a != b }
    }
}

/// Byzantine behaviour in force on some nodes' outgoing messages.
#[derive(Clone, Debug)]
pub(crate) struct Byzantine {
    pub id: FaultId,
    pub nodes: Members,
    pub action: ByzantineAction,
    pub kinds: Vec<String>,
    /// Resolved colluders of an eclipse.
    pub colluders: Vec<NodeIndex>,
}

/// Capacities a throttle imposes.
#[derive(Clone, Debug)]
pub(crate) struct Throttle {
    pub id: FaultId,
    pub nodes: Members,
    pub uplink: Option<Bandwidth>,
    pub downlink: Option<Bandwidth>,
}

/// What the faults do to one message.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// Dropped, and why.
    pub drop: Option<DropReason>,
    /// New content, if a fault altered it.
    pub bytes: Option<Vec<u8>>,
    /// Extra latency.
    pub extra: SimDuration,
    /// A replacement latency model.
    pub latency: Option<LatencyModel>,
    /// Extra copies to send, each with the fault that made it; `true` if
    /// the copy leaves the sender again (a Byzantine duplicate) rather than
    /// being duplicated by the network.
    pub copies: Vec<(FaultId, bool)>,
    /// What the faults did, for the log.
    pub notes: Vec<(FaultId, FaultAction)>,
}

/// The faults in force.
#[derive(Debug, Default)]
pub(crate) struct InForce {
    pub links: Vec<LinkFault>,
    pub partitions: Vec<Partition>,
    pub byzantine: Vec<Byzantine>,
    pub throttles: Vec<Throttle>,
}

impl InForce {
    /// Whether any fault acts on messages (if not, sending skips [`Self::plan`]).
    pub fn acts_on_messages(&self) -> bool {
        !(self.links.is_empty() && self.partitions.is_empty() && self.byzantine.is_empty() && self.throttles.is_empty())
    }

    /// The first partition that separates `from` from `to`.
    pub fn partition_between(&self, from: NodeIndex, to: NodeIndex) -> Option<FaultId> {
        self.partitions.iter().find(|p| p.blocks(from, to)).map(|p| p.id)
    }

    /// Removes a fault from force.
    pub fn remove(&mut self, id: FaultId) {
        self.links.retain(|f| f.id != id);
        self.partitions.retain(|f| f.id != id);
        self.byzantine.retain(|f| f.id != id);
        self.throttles.retain(|f| f.id != id);
    }

    /// A node's capacities under the throttles in force (the latest one
    /// covering it wins), starting from its normal ones.
    pub fn capacities(&self, node: NodeIndex, normal: (Bandwidth, Bandwidth)) -> (Bandwidth, Bandwidth) {
        let (mut up, mut down) = normal;
        for t in self.throttles.iter().filter(|t| t.nodes.contains(node)) {
            up = t.uplink.unwrap_or(up);
            down = t.downlink.unwrap_or(down);
        }
        (up, down)
    }

    /// Works out what the faults in force do to a message from `from` to
    /// `to` of kind `kind`: Byzantine behaviour of the sender first, then
    /// partitions, loss, latency changes and duplication on the link. Every
    /// draw comes from `rng`, which the engine makes for this message alone
    /// (its number on the link, [`crate::rng::LinkDraws`] with
    /// [`crate::rng::Stream::FaultPlan`]), so the same message meets the same
    /// fault-plan draws whatever other messages met.
    pub fn plan(&self, from: NodeIndex, to: NodeIndex, bytes: &[u8], nodes: u32, rng: &mut SimRng) -> Plan {
        let mut plan = Plan::default();
        let kind = peershare_wire::peek_kind(bytes).unwrap_or("");
        for b in self.byzantine.iter().filter(|b| b.nodes.contains(from)) {
            let applies = match b.action {
                ByzantineAction::CorruptChunks => kind == crate::fileshare::CHUNK,
                _ => b.kinds.is_empty() || b.kinds.iter().any(|k| k == kind),
            };
            if !applies {
                continue;
            }
            let current: &[u8] = plan.bytes.as_deref().unwrap_or(bytes);
            match &b.action {
                ByzantineAction::Drop => {
                    plan.drop = Some(DropReason::Byzantine { fault: b.id });
                    return plan;
                }
                ByzantineAction::Delay { by } => {
                    plan.extra = plan.extra + *by;
                    plan.notes.push((b.id, FaultAction::Delayed { by: *by }));
                }
                ByzantineAction::Duplicate { copies } => plan.copies.extend((0..*copies).map(|_| (b.id, true))),
                ByzantineAction::Corrupt { fields } => {
                    if let Some((new, changed)) = corrupt_fields(current, fields, rng, nodes) {
                        plan.notes.push((b.id, FaultAction::Corrupted { fields: changed, bytes: new.clone().into() }));
                        plan.bytes = Some(new);
                    }
                }
                ByzantineAction::CorruptChunks => {
                    if let Some((new, changed)) = corrupt_fields(current, &["data".to_string()], rng, nodes) {
                        plan.notes.push((b.id, FaultAction::Corrupted { fields: changed, bytes: new.clone().into() }));
                        plan.bytes = Some(new);
                    }
                }
                ByzantineAction::Eclipse { fields, .. } => {
                    if let Some((new, replaced)) = eclipse(current, fields, &b.colluders, to) {
                        plan.notes.push((b.id, FaultAction::Eclipsed { replaced, bytes: new.clone().into() }));
                        plan.bytes = Some(new);
                    }
                }
            }
        }
        if let Some(fault) = self.partition_between(from, to) {
            plan.drop = Some(DropReason::Partitioned { fault });
            return plan;
        }
        for f in self.links.iter().filter(|f| f.scope.matches(from, to)) {
            match &f.kind {
                FaultKind::Loss { rate } if unit_f64(rng) < *rate => {
                    plan.drop = Some(DropReason::FaultLoss { fault: f.id });
                    return plan;
                }
                FaultKind::Delay { added, jitter } => {
                    let by = *added + SimDuration::from_secs_f64(unit_f64(rng) * jitter.as_secs_f64());
                    plan.extra = plan.extra + by;
                    plan.notes.push((f.id, FaultAction::Delayed { by }));
                }
                FaultKind::Latency { model } => {
                    plan.latency = Some(model.clone());
                    plan.notes.push((f.id, FaultAction::LatencyReplaced));
                }
                FaultKind::Reorder { rate, window } if unit_f64(rng) < *rate => {
                    let by = SimDuration(1 + (unit_f64(rng) * (window.0 - 1) as f64) as u64);
                    plan.extra = plan.extra + by;
                    plan.notes.push((f.id, FaultAction::Held { by }));
                }
                FaultKind::Duplicate { rate } if unit_f64(rng) < *rate => plan.copies.push((f.id, false)),
                _ => {}
            }
        }
        for t in &self.throttles {
            if (t.uplink.is_some() && t.nodes.contains(from)) || (t.downlink.is_some() && t.nodes.contains(to)) {
                plan.notes.push((t.id, FaultAction::Throttled));
            }
        }
        plan
    }
}
