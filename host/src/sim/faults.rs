//! Faults in a running simulation: adding, changing and clearing them, and
//! carrying out their starts, ends and churn.

use super::{Pending, Simulation, make_runtime};
use crate::NodeIndex;
use crate::error::SimError;
use crate::events::Event;
use crate::fault::runtime::{Byzantine, InForce, LinkFault, Members, Partition, Scope, Throttle};
use crate::fault::{ByzantineAction, Churn, Fault, FaultError, FaultId, FaultKind, FaultRecord, FaultStatus, NodeSet, Target};
use crate::node::{CrashReason, NodeContext};
use crate::rng::{LinkDraws, SimRng, Stream, below, open_unit_f64, unit_f64};
use crate::summary::FaultSummary;
use crate::time::SimDuration;
use std::collections::{BTreeMap, BTreeSet};

/// Every fault of a run and the state of those in force.
pub(super) struct FaultBook {
    records: Vec<FaultRecord>,
    /// What each fault has done so far.
    pub(super) counters: Vec<FaultCounters>,
    /// Bumped when a fault is cleared or ends, so that its queued steps lapse.
    generation: Vec<u32>,
    pub(super) in_force: InForce,
    churn: BTreeMap<FaultId, BTreeSet<NodeIndex>>,
    /// The fault schedule's stream ([`Stream::Faults`]): targets, churn.
    pub(super) rng: SimRng,
    /// Each message's draws in the faults' plan for it
    /// ([`Stream::FaultPlan`]), by link and number.
    pub(super) plan_draws: LinkDraws,
}

impl FaultBook {
    pub(super) fn new(rng: SimRng, plan_draws: LinkDraws) -> Self {
        FaultBook {
            records: Vec::new(),
            counters: Vec::new(),
            generation: Vec::new(),
            in_force: InForce::default(),
            churn: BTreeMap::new(),
            rng,
            plan_draws,
        }
    }
}

/// What a fault has done so far.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct FaultCounters {
    /// Messages it dropped.
    pub dropped: u64,
    /// Messages it delayed, copied or altered.
    pub altered: u64,
    /// Times it took a node down.
    pub departures: u64,
    /// Times a node it took down came back.
    pub returns: u64,
}

/// A scheduled step of a fault, waiting in the event queue.
#[derive(Clone, Copy, Debug)]
pub(crate) enum FaultEvent {
    Start { fault: FaultId, generation: u32 },
    End { fault: FaultId, generation: u32 },
    Leave { fault: FaultId, node: NodeIndex, generation: u32 },
    Join { fault: FaultId, node: NodeIndex, generation: u32 },
    Arrival { fault: FaultId, generation: u32 },
}

impl Simulation {
    /// Adds a fault; it starts at its start time (now, if that has passed).
    /// Errors if the fault is invalid for this simulation (an unknown group
    /// or node, a probability outside `[0, 1]`, ...).
    pub fn add_fault(&mut self, fault: Fault) -> Result<FaultId, SimError> {
        let id = self.faults.records.len() as FaultId;
        self.check_fault(&fault, id)?;
        let at = fault.start.max(self.now);
        self.faults.records.push(FaultRecord {
            id,
            fault,
            status: FaultStatus::Scheduled,
            started_at: None,
            ended_at: None,
            nodes: Vec::new(),
        });
        self.faults.generation.push(0);
        self.faults.counters.push(FaultCounters::default());
        self.queue.push(at, Pending::Fault(FaultEvent::Start { fault: id, generation: 0 }));
        Ok(id)
    }

    /// Changes the parameters of a scheduled or active fault (same kind,
    /// same target and affected nodes), from now on.
    pub fn change_fault(&mut self, id: FaultId, kind: FaultKind) -> Result<(), SimError> {
        let record = self.faults.records.get(id as usize).ok_or(FaultError::Unknown(id))?;
        if record.status == FaultStatus::Ended {
            return Err(FaultError::Ended(id).into());
        }
        if record.fault.kind.name() != kind.name() {
            return Err(FaultError::KindChanged { fault: id, was: record.fault.kind.name(), now: kind.name() }.into());
        }
        let changed = Fault { kind, ..record.fault.clone() };
        self.check_fault(&changed, id)?;
        let active = record.status == FaultStatus::Active;
        self.faults.records[id as usize].fault = changed;
        if active {
            self.refresh_in_force(id);
            self.log.record(self.now, || Event::FaultChanged { fault: id });
        }
        Ok(())
    }

    /// Applies an active fault's changed parameters to what is in force,
    /// keeping the nodes and links it was resolved to at its start. Crash
    /// and churn parameters are read at their next step.
    fn refresh_in_force(&mut self, id: FaultId) {
        let kind = self.faults.records[id as usize].fault.kind.clone();
        let in_force = &mut self.faults.in_force;
        match kind {
            FaultKind::Partition { .. } => {
                // The sides are the parameters: resolve them afresh.
                in_force.remove(id);
                self.faults.records[id as usize].nodes = self.put_in_force(id);
            }
            FaultKind::Throttle { uplink, downlink } => {
                if let Some(t) = in_force.throttles.iter_mut().find(|t| t.id == id) {
                    (t.uplink, t.downlink) = (uplink, downlink);
                }
                let nodes = self.faults.records[id as usize].nodes.clone();
                self.apply_capacities(&nodes);
            }
            FaultKind::Byzantine { action, kinds } => {
                let colluders = match &action {
                    ByzantineAction::Eclipse { colluders, .. } => self.resolve(colluders),
                    _ => Vec::new(),
                };
                if let Some(b) = self.faults.in_force.byzantine.iter_mut().find(|b| b.id == id) {
                    (b.action, b.kinds, b.colluders) = (action, kinds, colluders);
                }
            }
            kind if kind.acts_on_links() => {
                if let Some(l) = in_force.links.iter_mut().find(|l| l.id == id) {
                    l.kind = kind;
                }
            }
            _ => {}
        }
    }

    /// Ends a fault now (or cancels it if it has not started).
    pub fn clear_fault(&mut self, id: FaultId) -> Result<(), SimError> {
        let record = self.faults.records.get(id as usize).ok_or(FaultError::Unknown(id))?;
        match record.status {
            FaultStatus::Ended => Err(FaultError::Ended(id).into()),
            FaultStatus::Scheduled => {
                self.faults.generation[id as usize] += 1;
                let record = &mut self.faults.records[id as usize];
                record.status = FaultStatus::Ended;
                record.ended_at = Some(self.now);
                Ok(())
            }
            FaultStatus::Active => {
                self.end_fault(id);
                Ok(())
            }
        }
    }

    /// Every fault added so far, by id.
    pub fn faults(&self) -> &[FaultRecord] {
        &self.faults.records
    }

    /// What each fault has done so far.
    pub(super) fn fault_summaries(&self) -> Vec<FaultSummary> {
        self.faults
            .records
            .iter()
            .zip(&self.faults.counters)
            .map(|(r, c)| FaultSummary {
                id: r.id,
                name: r.fault.name.clone(),
                kind: r.fault.kind.name().to_string(),
                started_s: r.started_at.map(|t| t.as_secs_f64()),
                ended_s: r.ended_at.map(|t| t.as_secs_f64()),
                nodes: r.nodes.len(),
                dropped: c.dropped,
                altered: c.altered,
                departures: c.departures,
                returns: c.returns,
            })
            .collect()
    }

    fn check_fault(&self, fault: &Fault, id: FaultId) -> Result<(), FaultError> {
        let label = fault.name.clone().map_or_else(|| id.to_string(), |n| format!("{id} ({n})"));
        let invalid =
            |message: String| FaultError::Invalid { fault: label.clone(), message: format!("{} fault: {message}", fault.kind.name()) };
        fault.kind.validate().map_err(invalid)?;
        match (&fault.target, &fault.kind) {
            (Target::Links { .. }, kind) if !kind.acts_on_links() => {
                return Err(invalid("this fault acts on nodes; its target must be a set of nodes, not links".into()));
            }
            (Target::Nodes(set), FaultKind::Partition { .. }) if !set.is_everyone() => {
                return Err(invalid("a partition's nodes are given by its `sides`, not by `target`".into()));
            }
            (Target::Nodes(set), _) => self.check_set(set).map_err(|m| invalid(format!("target: {m}")))?,
            (Target::Links { from, to, .. }, _) => {
                self.check_set(from).map_err(|m| invalid(format!("target `from`: {m}")))?;
                self.check_set(to).map_err(|m| invalid(format!("target `to`: {m}")))?;
            }
        }
        match &fault.kind {
            FaultKind::Partition { sides, .. } => {
                for (i, side) in sides.iter().enumerate() {
                    self.check_set(side).map_err(|m| invalid(format!("sides[{i}]: {m}")))?;
                }
            }
            FaultKind::Byzantine { action: ByzantineAction::Eclipse { colluders, .. }, .. } => {
                self.check_set(colluders).map_err(|m| invalid(format!("colluders: {m}")))?;
            }
            _ => {}
        }
        Ok(())
    }

    fn check_set(&self, set: &NodeSet) -> Result<(), String> {
        let total = self.nodes.len();
        if let Some(&n) = set.nodes.iter().find(|&&n| n as usize >= total) {
            return Err(format!("node {n} does not exist (there are {total} nodes)"));
        }
        if let Some(id) = set.ids.iter().find(|id| !self.ids.contains(id)) {
            return Err(format!("no node has id {}", crate::events::hex(id)));
        }
        if let Some(g) = set.groups.iter().find(|g| !self.group_names.contains(g)) {
            return Err(format!("no group is named {g:?}"));
        }
        if let Some(f) = set.fraction
            && !(0.0..=1.0).contains(&f)
        {
            return Err(format!("`fraction` must be within [0, 1], got {f}"));
        }
        Ok(())
    }

    /// The nodes of a set, sorted; random thinning draws from the fault stream.
    fn resolve(&mut self, set: &NodeSet) -> Vec<NodeIndex> {
        let mut base: Vec<NodeIndex> = if set.nodes.is_empty() && set.ids.is_empty() && set.groups.is_empty() {
            (0..self.nodes.len() as NodeIndex).collect()
        } else {
            let mut chosen: BTreeSet<NodeIndex> = set.nodes.iter().copied().collect();
            chosen.extend(set.ids.iter().filter_map(|id| self.ids.iter().position(|x| x == id)).map(|i| i as NodeIndex));
            for (i, slot) in self.nodes.iter().enumerate() {
                if set.groups.contains(&self.group_names[slot.group as usize]) {
                    chosen.insert(i as NodeIndex);
                }
            }
            chosen.into_iter().collect()
        };
        if let Some(role) = &set.role {
            base.retain(|&n| self.role_of(n).as_deref() == Some(role.as_str()));
        }
        let mut keep = base.len();
        if let Some(f) = set.fraction {
            keep = (f * base.len() as f64).round() as usize;
        }
        if let Some(c) = set.count {
            keep = keep.min(c);
        }
        if keep < base.len() {
            // A partial Fisher-Yates shuffle picks `keep` nodes uniformly.
            for i in 0..keep {
                let j = i + below(&mut self.faults.rng, (base.len() - i) as u64) as usize;
                base.swap(i, j);
            }
            base.truncate(keep);
            base.sort_unstable();
        }
        base
    }

    /// The `role` in `node`'s observable state, if it runs and shows one.
    fn role_of(&mut self, node: NodeIndex) -> Option<String> {
        let slot = &self.nodes[node as usize];
        if slot.down.is_some() || !slot.alive || !slot.started {
            return None;
        }
        self.inspect_node(node)?.str("role").map(str::to_string)
    }

    fn members(&mut self, set: &NodeSet) -> Members {
        if set.is_everyone() { Members::everyone() } else { Members::of(&self.resolve(set), self.nodes.len()) }
    }

    pub(super) fn fault_event(&mut self, event: FaultEvent) {
        let current = |book: &super::faults::FaultBook, fault: FaultId, generation: u32| book.generation[fault as usize] == generation;
        match event {
            FaultEvent::Start { fault, generation } if current(&self.faults, fault, generation) => self.start_fault(fault),
            FaultEvent::End { fault, generation } if current(&self.faults, fault, generation) => self.end_fault(fault),
            FaultEvent::Leave { fault, node, generation } if current(&self.faults, fault, generation) => self.churn_leave(fault, node),
            FaultEvent::Join { fault, node, generation } if current(&self.faults, fault, generation) => self.churn_join(fault, node),
            FaultEvent::Arrival { fault, generation } if current(&self.faults, fault, generation) => self.churn_arrival(fault),
            _ => {}
        }
    }

    fn start_fault(&mut self, id: FaultId) {
        let record = &mut self.faults.records[id as usize];
        record.status = FaultStatus::Active;
        record.started_at = Some(self.now);
        let duration = record.fault.duration;
        let nodes = self.put_in_force(id);
        self.faults.records[id as usize].nodes = nodes.clone();
        let (name, kind) = (self.faults.records[id as usize].fault.name.clone(), self.faults.records[id as usize].fault.kind.name());
        self.log.record(self.now, || Event::FaultStarted { fault: id, name, kind, nodes: nodes.clone() });
        match self.faults.records[id as usize].fault.kind.clone() {
            FaultKind::Crash { .. } => {
                for &node in &nodes {
                    self.take_down(node, id);
                }
            }
            FaultKind::Churn(churn) => self.start_churn(id, &churn, &nodes),
            _ => {}
        }
        if let Some(d) = duration {
            let generation = self.faults.generation[id as usize];
            self.queue.push(self.now + d, Pending::Fault(FaultEvent::End { fault: id, generation }));
        }
    }

    /// Resolves a fault's targets (random ones drawn from the fault stream)
    /// and puts its effect on messages and capacities in force; returns the
    /// nodes it affects.
    fn put_in_force(&mut self, id: FaultId) -> Vec<NodeIndex> {
        let fault = self.faults.records[id as usize].fault.clone();
        let nodes = match &fault.target {
            Target::Nodes(set) if !fault.kind.acts_on_links() && !matches!(fault.kind, FaultKind::Partition { .. }) => self.resolve(set),
            _ => Vec::new(),
        };
        let node_members = Members::of(&nodes, self.nodes.len());
        match &fault.kind {
            kind if kind.acts_on_links() => {
                let scope = match &fault.target {
                    Target::Nodes(set) => Scope::Touching(self.members(set)),
                    Target::Links { from, to, symmetric } => {
                        Scope::Links { from: self.members(from), to: self.members(to), symmetric: *symmetric }
                    }
                };
                self.faults.in_force.links.push(LinkFault { id, kind: fault.kind.clone(), scope });
                nodes
            }
            FaultKind::Partition { sides, one_way } => {
                let mut side = vec![sides.len() as u16; self.nodes.len()];
                let mut named = Vec::new();
                for (i, set) in sides.iter().enumerate().rev() {
                    for n in self.resolve(set) {
                        side[n as usize] = i as u16;
                        named.push(n);
                    }
                }
                named.sort_unstable();
                named.dedup();
                self.faults.in_force.partitions.push(Partition { id, side, one_way: *one_way });
                named
            }
            FaultKind::Throttle { uplink, downlink } => {
                self.faults.in_force.throttles.push(Throttle { id, nodes: node_members, uplink: *uplink, downlink: *downlink });
                self.apply_capacities(&nodes);
                nodes
            }
            FaultKind::Byzantine { action, kinds } => {
                let colluders = match action {
                    ByzantineAction::Eclipse { colluders, .. } => self.resolve(colluders),
                    _ => Vec::new(),
                };
                self.faults.in_force.byzantine.push(Byzantine {
                    id,
                    nodes: node_members,
                    action: action.clone(),
                    kinds: kinds.clone(),
                    colluders,
                });
                nodes
            }
            _ => nodes,
        }
    }

    fn end_fault(&mut self, id: FaultId) {
        self.faults.generation[id as usize] += 1;
        self.faults.in_force.remove(id);
        let record = &mut self.faults.records[id as usize];
        record.status = FaultStatus::Ended;
        record.ended_at = Some(self.now);
        let (kind, nodes) = (record.fault.kind.clone(), record.nodes.clone());
        self.log.record(self.now, || Event::FaultEnded { fault: id });
        match kind {
            FaultKind::Throttle { .. } => self.apply_capacities(&nodes),
            FaultKind::Crash { .. } => {
                for node in nodes {
                    self.bring_up(node, id, kind.keeps_state());
                }
            }
            FaultKind::Churn(_) => {
                for node in self.faults.churn.remove(&id).unwrap_or_default() {
                    self.bring_up(node, id, kind.keeps_state());
                }
            }
            _ => {}
        }
    }

    fn apply_capacities(&mut self, nodes: &[NodeIndex]) {
        for &node in nodes {
            let normal = self.normal_capacity[self.nodes[node as usize].group as usize];
            let (up, down) = self.faults.in_force.capacities(node, normal);
            self.network.set_capacities(node, up, down);
        }
    }

    /// Takes a node down for a fault; `false` if it was already down or
    /// crashed.
    fn take_down(&mut self, node: NodeIndex, fault: FaultId) -> bool {
        let slot = &mut self.nodes[node as usize];
        if !slot.alive || slot.down.is_some() {
            return false;
        }
        slot.down = Some(fault);
        self.faults.counters[fault as usize].departures += 1;
        self.log.record(self.now, || Event::NodeDown { node, fault });
        if !self.faults.records[fault as usize].fault.kind.keeps_state() {
            let now = self.now;
            let lost = self.nodes[node as usize].runtime.context().lose_unsynced_writes(now);
            if lost.writes > 0 {
                self.log.record(now, || Event::StorageLost { node, writes: lost.writes, bytes: lost.bytes });
            }
        }
        true
    }

    /// Brings back a node `fault` took down: resumed with its memory and its
    /// overdue timers, or restarted from scratch.
    fn bring_up(&mut self, node: NodeIndex, fault: FaultId, keep_state: bool) {
        let now = self.now;
        let slot = &mut self.nodes[node as usize];
        if slot.down != Some(fault) {
            return;
        }
        slot.down = None;
        self.faults.counters[fault as usize].returns += 1;
        self.log.record(now, || Event::NodeUp { node, fault, state_kept: keep_state });
        if keep_state {
            let epoch = slot.epoch;
            for (timer, tag, cause) in std::mem::take(&mut slot.deferred_timers) {
                self.queue.push(now, Pending::Timer { node, timer, tag, epoch, cause });
            }
            if std::mem::take(&mut slot.start_due) {
                self.queue.push(now, Pending::Start { node });
            }
            return;
        }
        slot.epoch += 1;
        slot.timers.clear();
        slot.deferred_timers.clear();
        slot.state = None;
        slot.busy_until = now;
        let restart = slot.started || std::mem::take(&mut slot.start_due);
        slot.started = false;
        let epoch = slot.epoch;
        let mut ctx = NodeContext::with_limits(node, self.seeds.stream(Stream::Restart(node, epoch)), self.limits.clone());
        // The disk outlives the node's memory (it lost its unsynced writes
        // when it went down).
        ctx.set_disk(slot.runtime.context().take_disk());
        ctx.set_signatures(slot.runtime.context().signatures().clone());
        if let Some(watch) = &mut self.referee {
            watch.referee.restarted(node);
        }
        let source = &self.sources[slot.group as usize];
        match make_runtime(source, node, ctx, self.seeds.stream(Stream::RestartWasi(node, epoch))) {
            Ok(runtime) => {
                slot.runtime = runtime;
                if restart {
                    self.queue.push(now, Pending::Start { node });
                }
            }
            Err(message) => {
                let reason = CrashReason::Trap(format!("could not be instantiated again: {message}"));
                slot.alive = false;
                slot.crash = Some(reason.clone());
                self.log.record(now, || Event::Crashed { node, reason, handling: crate::events::Handling::Restart });
            }
        }
    }

    fn churn_params(&self, fault: FaultId) -> Churn {
        match &self.faults.records[fault as usize].fault.kind {
            FaultKind::Churn(churn) => churn.clone(),
            other => unreachable!("fault {fault} is a {} fault, not churn", other.name()),
        }
    }

    fn schedule_churn(&mut self, delay: SimDuration, event: FaultEvent) {
        self.queue.push(self.now + delay, Pending::Fault(event));
    }

    fn start_churn(&mut self, fault: FaultId, churn: &Churn, pool: &[NodeIndex]) {
        let generation = self.faults.generation[fault as usize];
        self.faults.churn.insert(fault, BTreeSet::new());
        for &node in pool {
            let starts_down = churn.initially_down > 0.0 && unit_f64(&mut self.faults.rng) < churn.initially_down;
            if starts_down {
                self.churn_leave(fault, node);
            } else {
                let session = churn.session.sample(&mut self.faults.rng);
                self.schedule_churn(session, FaultEvent::Leave { fault, node, generation });
            }
        }
        if let Some(rate) = churn.arrival_rate {
            let gap = SimDuration::from_secs_f64(-open_unit_f64(&mut self.faults.rng).ln() / rate);
            self.schedule_churn(gap, FaultEvent::Arrival { fault, generation });
        }
    }

    fn churn_leave(&mut self, fault: FaultId, node: NodeIndex) {
        if !self.take_down(node, fault) {
            return;
        }
        self.faults.churn.entry(fault).or_default().insert(node);
        let churn = self.churn_params(fault);
        if let Some(downtime) = churn.downtime {
            let generation = self.faults.generation[fault as usize];
            let gap = downtime.sample(&mut self.faults.rng);
            self.schedule_churn(gap, FaultEvent::Join { fault, node, generation });
        }
    }

    fn churn_join(&mut self, fault: FaultId, node: NodeIndex) {
        let Some(down) = self.faults.churn.get_mut(&fault) else { return };
        if !down.remove(&node) {
            return;
        }
        let churn = self.churn_params(fault);
        self.bring_up(node, fault, churn.keep_state);
        let generation = self.faults.generation[fault as usize];
        let session = churn.session.sample(&mut self.faults.rng);
        self.schedule_churn(session, FaultEvent::Leave { fault, node, generation });
    }

    fn churn_arrival(&mut self, fault: FaultId) {
        let churn = self.churn_params(fault);
        let down: Vec<NodeIndex> = self.faults.churn.get(&fault).map(|d| d.iter().copied().collect()).unwrap_or_default();
        if !down.is_empty() {
            let node = down[below(&mut self.faults.rng, down.len() as u64) as usize];
            self.churn_join(fault, node);
        }
        let rate = churn.arrival_rate.expect("arrivals are scheduled only with an arrival rate");
        let generation = self.faults.generation[fault as usize];
        let gap = SimDuration::from_secs_f64(-open_unit_f64(&mut self.faults.rng).ln() / rate);
        self.schedule_churn(gap, FaultEvent::Arrival { fault, generation });
    }
}
