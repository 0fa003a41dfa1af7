//! The deterministic discrete-event engine: a [`Simulation`] owns virtual
//! time, the event queue, the network model, every node and the event log,
//! and carries out what peers ask for.
//!
//! Build one with [`SimulationBuilder`], or from a scenario file with
//! [`crate::scenario::Scenario`].

mod bootstrap;
mod faults;
mod refereeing;
mod snapshot;

pub use bootstrap::Bootstrap;
use faults::FaultEvent;

use crate::NodeIndex;
use crate::app::{AppContext, AppEffect, Application};
use crate::capture::{Capture, Cause};
use crate::error::SimError;
use crate::events::{DropReason, Event, EventLog, FaultAction, Handling, MessageId};
use crate::fault::{Fault, FaultId};
use crate::limits::CallRate;
use crate::network::{Bandwidth, LinkModel, Network, Transit};
use crate::node::{CallCost, CrashReason, Effect, InitArgs, Input, NodeContext, OpId, Operation, Peer, PeerRuntime};
use crate::queue::EventQueue;
use crate::rng::{SeedTree, SimRng, Stream};
use crate::summary::{LatencyStats, Metrics, OperationStats, Summary};
use crate::time::{SimDuration, SimTime};
use crate::wasm::Plugin;
use peershare_wire::Record;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// Where a group's peers come from.
#[derive(Clone)]
pub enum PeerSource {
    /// A WebAssembly component, one sandboxed instance per node.
    Wasm(Arc<Plugin>),
    /// Native Rust peers made by a factory (trusted code; for baselines and
    /// tests).
    Native(Arc<dyn Fn(NodeIndex) -> Box<dyn Peer> + Send + Sync>),
}

impl PeerSource {
    /// A native source from a factory function.
    pub fn native<P: Peer + 'static>(make: impl Fn(NodeIndex) -> P + Send + Sync + 'static) -> Self {
        PeerSource::Native(Arc::new(move |i| Box::new(make(i)) as Box<dyn Peer>))
    }

    fn describe(&self) -> String {
        match self {
            PeerSource::Wasm(p) => p.name().to_string(),
            PeerSource::Native(_) => "native".to_string(),
        }
    }
}

impl std::fmt::Debug for PeerSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PeerSource({})", self.describe())
    }
}

/// A group of nodes that share a peer implementation, a configuration and
/// link capacities.
#[derive(Clone, Debug)]
pub struct GroupSpec {
    /// The group's name.
    pub name: String,
    /// Number of nodes.
    pub count: usize,
    /// The peer implementation.
    pub peer: PeerSource,
    /// The configuration passed to `init`, a record of kind "config".
    pub config: Record,
    /// Each node's upload capacity.
    pub uplink: Bandwidth,
    /// Each node's download capacity.
    pub downlink: Bandwidth,
    /// Bootstrap contacts.
    pub bootstrap: Bootstrap,
    /// When the group's first node starts.
    pub start: SimTime,
    /// Delay between the starts of consecutive nodes of the group.
    pub join_interval: SimDuration,
    /// Virtual CPU time charged per unit of WebAssembly fuel a handler
    /// consumes, in nanoseconds (`None`: handlers take no virtual time).
    /// While a node is busy, its messages, timers and operations wait in
    /// arrival order, and what a handler sends leaves when it has finished.
    pub cpu_ns_per_fuel: Option<f64>,
    /// When the nodes' writes to durable storage become durable.
    pub storage: crate::storage::StoragePolicy,
}

impl GroupSpec {
    /// A group of `count` nodes running `peer`, with defaults for the rest.
    pub fn new(name: impl Into<String>, count: usize, peer: PeerSource) -> Self {
        GroupSpec {
            name: name.into(),
            count,
            peer,
            config: Record::new("config"),
            uplink: Bandwidth::Unlimited,
            downlink: Bandwidth::Unlimited,
            bootstrap: Bootstrap::default(),
            start: SimTime::ZERO,
            join_interval: SimDuration::ZERO,
            cpu_ns_per_fuel: None,
            storage: crate::storage::StoragePolicy::default(),
        }
    }
}

pub use crate::limits::HostLimits;

/// Builds a [`Simulation`].
///
/// ```no_run
/// use peershare::prelude::*;
/// let plugin = Plugin::builtin("flood").unwrap();
/// let mut sim = SimulationBuilder::new(42)
///     .group(GroupSpec::new("peers", 100, PeerSource::Wasm(plugin)))
///     .build()
///     .unwrap();
/// sim.run_for(SimDuration::from_secs(10)).unwrap();
/// println!("{:?}", sim.summary().messages);
/// ```
#[derive(Clone)]
pub struct SimulationBuilder {
    seed: u64,
    id_bits: u32,
    groups: Vec<GroupSpec>,
    default_link: LinkModel,
    link_overrides: Vec<(String, String, LinkModel)>,
    limits: HostLimits,
    record_events: bool,
    capture: bool,
    operations: Vec<(SimTime, NodeIndex, Operation)>,
    application: Option<Arc<dyn Fn() -> Box<dyn Application> + Send + Sync>>,
    faults: Vec<Fault>,
    referee: crate::referee::Refereeing,
}

impl SimulationBuilder {
    /// A simulation with this seed, 160-bit node ids, 50 ms links and no loss.
    pub fn new(seed: u64) -> Self {
        SimulationBuilder {
            seed,
            id_bits: 160,
            groups: Vec::new(),
            default_link: LinkModel::default(),
            link_overrides: Vec::new(),
            limits: HostLimits::default(),
            record_events: true,
            capture: false,
            operations: Vec::new(),
            application: None,
            faults: Vec::new(),
            referee: crate::referee::Refereeing::Off,
        }
    }

    /// Has the consensus referee ([`crate::referee`]) watch the run: after
    /// every handler, each node's observable state and what it committed
    /// are checked against consensus safety. Nodes are refereed per
    /// cluster: a node and its bootstrap contacts.
    pub fn referee(mut self, refereeing: crate::referee::Refereeing) -> Self {
        self.referee = refereeing;
        self
    }

    /// Adds a fault to the timeline (see [`crate::fault`]).
    pub fn fault(mut self, fault: Fault) -> Self {
        self.faults.push(fault);
        self
    }

    /// Runs a host-side application (such as [`crate::fileshare::FileSharing`])
    /// on every node; `make` creates it when the simulation is built.
    pub fn application<A: Application + 'static>(mut self, make: impl Fn() -> A + Send + Sync + 'static) -> Self {
        self.application = Some(Arc::new(move || Box::new(make()) as Box<dyn Application>));
        self
    }

    /// Adds a group of nodes; node indices follow the order groups are added.
    pub fn group(mut self, group: GroupSpec) -> Self {
        self.groups.push(group);
        self
    }

    /// Length of node identifiers in bits (1 to 2048).
    pub fn id_bits(mut self, bits: u32) -> Self {
        self.id_bits = bits;
        self
    }

    /// The link model between all nodes, unless overridden per group pair.
    pub fn default_link(mut self, link: LinkModel) -> Self {
        self.default_link = link;
        self
    }

    /// The link model from every node of group `from` to every node of group
    /// `to` (one direction).
    pub fn link(mut self, from: impl Into<String>, to: impl Into<String>, link: LinkModel) -> Self {
        self.link_overrides.push((from.into(), to.into(), link));
        self
    }

    /// Host limits on handlers.
    pub fn limits(mut self, limits: HostLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Whether to keep the event log in memory (on by default).
    pub fn record_events(mut self, on: bool) -> Self {
        self.record_events = on;
        self
    }

    /// Whether to capture every message in a [`Capture`] (off by default):
    /// compact columns with each message's fate, fault, operation and hop,
    /// for filtering, statistics and exports.
    pub fn capture(mut self, on: bool) -> Self {
        self.capture = on;
        self
    }

    /// Schedules an operation at a node.
    pub fn operation(mut self, at: SimTime, node: NodeIndex, operation: Operation) -> Self {
        self.operations.push((at, node, operation));
        self
    }

    /// Creates every node and schedules its start.
    pub fn build(self) -> Result<Simulation, SimError> {
        if self.groups.is_empty() {
            return Err(SimError::Setup("the simulation has no node groups".into()));
        }
        let group_index = |name: &str| self.groups.iter().position(|g| g.name == name);
        let n_groups = self.groups.len();
        let mut links = vec![self.default_link.clone(); n_groups * n_groups];
        for (from, to, link) in &self.link_overrides {
            let f = group_index(from).ok_or_else(|| SimError::Setup(format!("link override names unknown group {from:?}")))?;
            let t = group_index(to).ok_or_else(|| SimError::Setup(format!("link override names unknown group {to:?}")))?;
            links[f * n_groups + t] = link.clone();
        }
        for link in &links {
            link.latency.validate().map_err(SimError::Setup)?;
            if !(0.0..=1.0).contains(&link.loss) {
                return Err(SimError::Setup(format!("loss probability must be within [0, 1], got {}", link.loss)));
            }
        }
        let total: usize = self.groups.iter().map(|g| g.count).sum();
        if total == 0 {
            return Err(SimError::Setup("the simulation has no nodes".into()));
        }
        if total > u32::MAX as usize {
            return Err(SimError::Setup(format!("{total} nodes is more than a node index can address")));
        }
        if !(1..=2048).contains(&self.id_bits) {
            return Err(SimError::Setup(format!("id_bits must be between 1 and 2048, got {}", self.id_bits)));
        }
        if self.id_bits < 64 && (1u64 << self.id_bits) < total as u64 {
            return Err(SimError::Setup(format!("{} nodes cannot have distinct {}-bit ids", total, self.id_bits)));
        }

        let seeds = SeedTree::new(self.seed);
        let limits = Arc::new(self.limits);
        let ids = draw_ids(&seeds, total, self.id_bits);
        let mut network = Network::new(n_groups, links, seeds.link_draws(Stream::Network));
        let mut topology = seeds.stream(Stream::Topology);
        let mut nodes = Vec::with_capacity(total);
        let mut queue = EventQueue::default();
        let mut starts = Vec::with_capacity(total);
        let signatures = crate::signing::Signatures::default();
        for (g, group) in self.groups.iter().enumerate() {
            group.bootstrap.check(group.count).map_err(|m| SimError::Setup(format!("group {:?}, bootstrap: {m}", group.name)))?;
            let mut bootstraps = bootstrap::group_contacts(&group.bootstrap, nodes.len(), group.count, &ids, &mut topology).into_iter();
            for j in 0..group.count {
                let index = network.add_node(g, group.uplink, group.downlink);
                let mut ctx = NodeContext::with_limits(index, seeds.stream(Stream::Node(index)), limits.clone());
                ctx.set_storage_policy(group.storage);
                ctx.set_signatures(signatures.clone());
                let runtime = make_runtime(&group.peer, index, ctx, seeds.stream(Stream::NodeWasi(index))).map_err(|message| {
                    SimError::Instantiate { node: index, group: group.name.clone(), plugin: group.peer.describe(), message }
                })?;
                let bootstrap = bootstraps.next().expect("one list per node");
                starts.push(InitArgs {
                    index,
                    id: ids[index as usize].clone(),
                    group: group.name.clone(),
                    config: group.config.clone(),
                    bootstrap,
                    id_bits: self.id_bits,
                    node_count: total as u32,
                });
                let at = group.start + SimDuration(group.join_interval.0.saturating_mul(j as u64));
                queue.push(at, Pending::Start { node: index });
                nodes.push(NodeSlot {
                    runtime,
                    group: g as u32,
                    alive: true,
                    started: false,
                    timers: HashSet::new(),
                    state: None,
                    crash: None,
                    cpu_ns_per_fuel: group.cpu_ns_per_fuel,
                    busy_until: SimTime::ZERO,
                    fuel: FuelStats::default(),
                    down: None,
                    start_due: false,
                    deferred_timers: Vec::new(),
                    epoch: 0,
                    rate: CallRate::default(),
                });
            }
        }
        let mut sim = Simulation {
            seed: self.seed,
            id_bits: self.id_bits,
            now: SimTime::ZERO,
            queue,
            nodes,
            init_args: starts,
            group_names: self.groups.iter().map(|g| g.name.clone()).collect(),
            network,
            log: EventLog::new(self.record_events),
            capture: self.capture.then(Capture::new),
            cause: Cause::NONE,
            metrics: Metrics::default(),
            operations: Vec::new(),
            next_msg: 0,
            limits,
            effects: Vec::new(),
            handling: Handling::Start,
            handled_message: None,
            convention_warnings: BTreeMap::new(),
            ids,
            app: self.application.as_ref().map(|make| make()),
            faults: faults::FaultBook::new(seeds.stream(Stream::Faults), seeds.link_draws(Stream::FaultPlan)),
            seeds,
            sources: self.groups.iter().map(|g| g.peer.clone()).collect(),
            normal_capacity: self.groups.iter().map(|g| (g.uplink, g.downlink)).collect(),
            referee: None,
        };
        sim.referee = refereeing::Watch::new(self.referee, &sim.init_args);
        for (at, node, op) in self.operations {
            sim.schedule_operation(at, node, op)?;
        }
        for fault in self.faults {
            sim.add_fault(fault)?;
        }
        Ok(sim)
    }
}

/// Creates a node's peer runtime from its group's source.
fn make_runtime(source: &PeerSource, index: NodeIndex, ctx: NodeContext, wasi: SimRng) -> Result<Box<dyn PeerRuntime>, String> {
    Ok(match source {
        PeerSource::Wasm(plugin) => Box::new(plugin.instantiate(ctx, wasi).map_err(|e| e.to_string())?),
        PeerSource::Native(make) => Box::new(crate::node::NativeRuntime::new(BoxedPeer(make(index)), ctx)),
    })
}

/// Adapter so a boxed native peer can run in [`crate::node::NativeRuntime`].
struct BoxedPeer(Box<dyn Peer>);

impl Peer for BoxedPeer {
    fn init(&mut self, ctx: &mut NodeContext, args: &InitArgs) {
        self.0.init(ctx, args)
    }
    fn on_message(&mut self, ctx: &mut NodeContext, from: NodeIndex, message: &[u8]) {
        self.0.on_message(ctx, from, message)
    }
    fn on_timer(&mut self, ctx: &mut NodeContext, tag: u64) {
        self.0.on_timer(ctx, tag)
    }
    fn on_operation(&mut self, ctx: &mut NodeContext, op: OpId, operation: &Operation) {
        self.0.on_operation(ctx, op, operation)
    }
    fn inspect(&self) -> Option<Vec<u8>> {
        self.0.inspect()
    }
    fn failure(&mut self) -> Option<CrashReason> {
        self.0.failure()
    }
}

fn draw_ids(seeds: &SeedTree, total: usize, bits: u32) -> Vec<Vec<u8>> {
    let mut rng = seeds.stream(Stream::Ids);
    let bytes = bits.div_ceil(8) as usize;
    let spare = (bytes * 8) as u32 - bits;
    let mut seen = HashSet::with_capacity(total);
    let mut ids = Vec::with_capacity(total);
    while ids.len() < total {
        let mut id = vec![0u8; bytes];
        rand_core::Rng::fill_bytes(&mut rng, &mut id);
        id[0] &= 0xFF >> spare;
        if seen.insert(id.clone()) {
            ids.push(id);
        }
    }
    ids
}

/// A message in the network.
struct InFlight {
    id: MessageId,
    from: NodeIndex,
    to: NodeIndex,
    bytes: Arc<[u8]>,
    earliest: SimTime,
    /// For the host-side application rather than the peer.
    app: bool,
    /// The operation it belongs to.
    cause: Cause,
}

/// An event waiting in the queue.
enum Pending {
    Start { node: NodeIndex },
    Arrive(InFlight),
    Deliver(InFlight),
    Timer { node: NodeIndex, timer: u64, tag: u64, epoch: u32, cause: Cause },
    Operation { op: OpId, node: NodeIndex },
    AppTimer { node: NodeIndex, tag: u64, cause: Cause },
    Fault(FaultEvent),
}

impl Pending {
    /// The node whose handler this event runs, if any.
    fn target(&self) -> Option<NodeIndex> {
        match self {
            Pending::Start { node } | Pending::Timer { node, .. } | Pending::Operation { node, .. } => Some(*node),
            Pending::Deliver(m) if !m.app => Some(m.to),
            Pending::Deliver(_) | Pending::Arrive(_) | Pending::AppTimer { .. } | Pending::Fault(_) => None,
        }
    }
}

struct NodeSlot {
    runtime: Box<dyn PeerRuntime>,
    group: u32,
    alive: bool,
    started: bool,
    timers: HashSet<u64>,
    state: Option<Arc<[u8]>>,
    crash: Option<CrashReason>,
    cpu_ns_per_fuel: Option<f64>,
    busy_until: SimTime,
    fuel: FuelStats,
    /// The fault that has taken the node down, if any.
    down: Option<FaultId>,
    /// The node's start came while it was down.
    start_due: bool,
    /// Timers that came due while the node was down.
    deferred_timers: Vec<(u64, u64, Cause)>,
    /// Incarnation: bumped when the node restarts from scratch, so that the
    /// old incarnation's timers never fire in the new one.
    epoch: u32,
    /// Handler calls per second of virtual time, against event storms.
    rate: CallRate,
}

/// WebAssembly fuel a node's handlers consumed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct FuelStats {
    /// Handler calls.
    pub calls: u64,
    /// Fuel consumed by all of them.
    pub total: u64,
    /// The most fuel one call consumed.
    pub max: u64,
}

/// One operation issued by the workload and what became of it.
#[derive(Clone, Debug, PartialEq)]
pub struct OperationRecord {
    /// Its identifier.
    pub op: OpId,
    /// The node asked to perform it.
    pub node: NodeIndex,
    /// What it asked for.
    pub operation: Operation,
    /// When it starts.
    pub issued_at: SimTime,
    /// How it ended, if it has.
    pub outcome: Option<OperationOutcome>,
    /// Started by the host-side application (as part of one of its
    /// operations) rather than by the workload.
    pub started_by_app: bool,
}

/// How an operation ended.
#[derive(Clone, Debug, PartialEq)]
pub struct OperationOutcome {
    /// When it completed.
    pub at: SimTime,
    /// Whether it succeeded.
    pub ok: bool,
    /// The result record (canonical encoding).
    pub result: Arc<[u8]>,
}

/// Whether a node is running.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeStatus {
    /// Created, `init` not yet called.
    NotStarted,
    /// Running.
    Up,
    /// Crashed, with the reason.
    Crashed(CrashReason),
    /// Taken down by a fault (a crash fault or churn), until it recovers.
    Down(FaultId),
}

/// A running simulation. Same seed, same setup: the same events, in the same
/// order, at the same virtual times.
pub struct Simulation {
    seed: u64,
    id_bits: u32,
    now: SimTime,
    queue: EventQueue<Pending>,
    nodes: Vec<NodeSlot>,
    init_args: Vec<InitArgs>,
    group_names: Vec<String>,
    network: Network,
    log: EventLog,
    metrics: Metrics,
    operations: Vec<OperationRecord>,
    next_msg: MessageId,
    limits: Arc<HostLimits>,
    effects: Vec<Effect>,
    /// What the node being dispatched to is handling, for crash reports.
    handling: Handling,
    /// The message being handled, if any (its kind is read on a crash).
    handled_message: Option<Arc<[u8]>>,
    /// Convention warnings given, by node and field.
    convention_warnings: BTreeMap<(NodeIndex, String), String>,
    ids: Vec<Vec<u8>>,
    app: Option<Box<dyn Application>>,
    capture: Option<Capture>,
    /// The operation the event being handled belongs to.
    cause: Cause,
    faults: faults::FaultBook,
    seeds: SeedTree,
    sources: Vec<PeerSource>,
    normal_capacity: Vec<(Bandwidth, Bandwidth)>,
    /// The consensus referee, when it watches.
    referee: Option<Box<refereeing::Watch>>,
}

impl Simulation {
    /// Starts building a simulation with this seed.
    pub fn builder(seed: u64) -> SimulationBuilder {
        SimulationBuilder::new(seed)
    }

    /// The run's seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The current virtual time.
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Length of node identifiers in bits.
    pub fn id_bits(&self) -> u32 {
        self.id_bits
    }

    /// A node's identifier.
    pub fn node_id(&self, node: NodeIndex) -> Option<&[u8]> {
        self.ids.get(node as usize).map(Vec::as_slice)
    }

    /// The name of a node's group.
    pub fn node_group(&self, node: NodeIndex) -> Option<&str> {
        self.nodes.get(node as usize).map(|n| self.group_names[n.group as usize].as_str())
    }

    /// Whether a node is running.
    pub fn node_status(&self, node: NodeIndex) -> Option<NodeStatus> {
        self.nodes.get(node as usize).map(|n| match (&n.crash, n.down, n.started) {
            (Some(reason), _, _) => NodeStatus::Crashed(reason.clone()),
            (None, Some(fault), _) => NodeStatus::Down(fault),
            (None, None, false) => NodeStatus::NotStarted,
            (None, None, true) => NodeStatus::Up,
        })
    }

    /// The host-side application, if it is an `A` (for example the
    /// [`crate::kv::KeyValueStore`], to read each node's copy of the store).
    pub fn application_state<A: Application>(&self) -> Option<&A> {
        let app: &dyn std::any::Any = self.app.as_deref()?;
        app.downcast_ref()
    }

    /// A node's current internal state: what its `observable.inspect`
    /// export reports, or else the state it published last. Observing never
    /// changes the run (the peer's draws and effects during `inspect` are
    /// undone); a peer whose `inspect` traps is crashed like any trap.
    pub fn inspect_node(&mut self, node: NodeIndex) -> Option<Record> {
        let slot = self.nodes.get_mut(node as usize)?;
        if slot.alive && slot.started && slot.down.is_none() {
            slot.runtime.context().set_now(self.now);
            match slot.runtime.inspect() {
                Some(Ok(bytes)) => return Record::decode(&bytes).ok(),
                Some(Err(reason)) => {
                    self.handling = Handling::Inspect;
                    self.crash_node(node, reason);
                    return None;
                }
                None => {}
            }
        }
        self.node_state(node)
    }

    /// Records a node's own failure: it takes no further part in the run.
    fn crash_node(&mut self, node: NodeIndex, reason: CrashReason) {
        let slot = &mut self.nodes[node as usize];
        slot.alive = false;
        slot.timers.clear();
        slot.crash = Some(reason.clone());
        let mut handling = std::mem::replace(&mut self.handling, Handling::Start);
        if let Handling::Message { msg, kind, .. } = &mut handling {
            if let Some(bytes) = &self.handled_message {
                *kind = peershare_wire::peek_kind(bytes).unwrap_or_default().to_string();
            }
            if let Some(capture) = &mut self.capture {
                capture.on_fatal(*msg);
            }
        }
        self.log.record(self.now, || Event::Crashed { node, reason, handling });
    }

    /// A node's durable storage as of now ([`crate::storage`]): what a
    /// crash would leave, what its reads see, and how many writes a crash
    /// would lose; `None` if it never wrote to it.
    pub fn storage(&self, node: NodeIndex) -> Option<crate::storage::StorageView> {
        let slot = self.nodes.get(node as usize)?;
        Some(slot.runtime.context_ref().storage()?.view(self.now))
    }

    /// The state a node published last (decoded), if any.
    pub fn node_state(&self, node: NodeIndex) -> Option<Record> {
        let bytes = self.nodes.get(node as usize)?.state.as_ref()?;
        Record::decode(bytes).ok()
    }

    /// The fuel a node's handlers consumed so far (a deterministic measure
    /// of the CPU work of the peer's code).
    pub fn node_fuel(&self, node: NodeIndex) -> Option<FuelStats> {
        self.nodes.get(node as usize).map(|n| n.fuel)
    }

    /// The event log so far.
    pub fn events(&self) -> &EventLog {
        &self.log
    }

    /// Every message so far, if capture is on ([`SimulationBuilder::capture`]).
    pub fn capture(&self) -> Option<&Capture> {
        self.capture.as_ref()
    }

    /// Every operation issued so far, by id.
    pub fn operations(&self) -> &[OperationRecord] {
        &self.operations
    }

    /// Schedules an operation at `node` at time `at` (not before now).
    pub fn schedule_operation(&mut self, at: SimTime, node: NodeIndex, operation: Operation) -> Result<OpId, SimError> {
        if node as usize >= self.nodes.len() {
            return Err(SimError::Setup(format!(
                "operation {:?} targets node {node}, but there are only {} nodes",
                operation.kind(),
                self.nodes.len()
            )));
        }
        if let Operation::App(request) = &operation {
            match &self.app {
                None => {
                    return Err(SimError::Setup(format!("operation {:?} needs a host-side application, and none was added", request.kind)));
                }
                Some(app) => {
                    app.check_request(request).map_err(|e| SimError::Setup(format!("operation {:?} at node {node}: {e}", request.kind)))?
                }
            }
        }
        let at = at.max(self.now);
        let op = self.operations.len() as OpId;
        self.operations.push(OperationRecord { op, node, operation, issued_at: at, outcome: None, started_by_app: false });
        self.queue.push(at, Pending::Operation { op, node });
        Ok(op)
    }

    /// Time of the next pending event.
    pub fn next_event_time(&self) -> Option<SimTime> {
        self.queue.peek_time()
    }

    /// Processes the next event. Returns `false` if nothing was pending.
    pub fn step(&mut self) -> bool {
        let Some((time, pending)) = self.queue.pop() else {
            return false;
        };
        self.now = time;
        self.process(pending);
        true
    }

    /// Processes every event up to and including time `end`, then sets the
    /// clock to `end`.
    pub fn run_until(&mut self, end: SimTime) -> Result<(), SimError> {
        while self.queue.peek_time().is_some_and(|t| t <= end) {
            self.step();
            if self.stopped_by_referee() {
                return Ok(());
            }
        }
        self.now = self.now.max(end);
        Ok(())
    }

    /// Like [`Simulation::run_until`], but processes at most `max_events`
    /// events, so a caller can do something between chunks of a long run
    /// (show progress, honour an interrupt). Returns `true` once the run
    /// has reached `end` (the clock is then `end`) or the referee stopped
    /// it, `false` if events up to `end` remain.
    ///
    /// ```no_run
    /// # use peershare::prelude::*;
    /// # let mut sim = Scenario::load("examples/flood.toml".as_ref()).unwrap().build().unwrap();
    /// let end = SimTime::ZERO + SimDuration::from_secs_f64(10.0);
    /// while !sim.run_until_at_most(end, 10_000).unwrap() {
    ///     eprintln!("at {:?}", sim.now());
    /// }
    /// ```
    pub fn run_until_at_most(&mut self, end: SimTime, max_events: usize) -> Result<bool, SimError> {
        for _ in 0..max_events {
            if self.queue.peek_time().is_none_or(|t| t > end) {
                self.now = self.now.max(end);
                return Ok(true);
            }
            self.step();
            if self.stopped_by_referee() {
                return Ok(true);
            }
        }
        if self.queue.peek_time().is_some_and(|t| t <= end) {
            return Ok(false);
        }
        self.now = self.now.max(end);
        Ok(true)
    }

    /// Runs for `duration` of virtual time from now.
    pub fn run_for(&mut self, duration: SimDuration) -> Result<(), SimError> {
        self.run_until(self.now + duration)
    }

    /// Results so far.
    pub fn summary(&self) -> Summary {
        let mut operations: BTreeMap<String, (OperationStats, Vec<u64>)> = BTreeMap::new();
        for rec in &self.operations {
            let (stats, latencies) = operations.entry(rec.operation.kind().to_string()).or_default();
            stats.issued += 1;
            match &rec.outcome {
                Some(o) => {
                    stats.completed += 1;
                    if o.ok {
                        stats.succeeded += 1;
                    } else {
                        stats.failed += 1;
                    }
                    latencies.push(o.at.since(rec.issued_at).as_nanos());
                }
                None => stats.pending += 1,
            }
        }
        let operations = operations
            .into_iter()
            .map(|(k, (mut s, lat))| {
                s.success_rate = if s.issued == 0 { 0.0 } else { s.succeeded as f64 / s.issued as f64 };
                s.latency_ms = LatencyStats::from_nanos(&lat);
                (k, s)
            })
            .collect();
        let linearizability = self.app.as_ref().and_then(|app| app.linearizability());
        Summary {
            seed: self.seed,
            end_time_s: self.now.as_secs_f64(),
            nodes: self.nodes.len(),
            crashed: self.nodes.iter().enumerate().filter_map(|(i, n)| n.crash.as_ref().map(|c| (i as u32, c.to_string()))).collect(),
            events: self.log.total(),
            messages: self.metrics.message_stats(),
            operations,
            fuel_consumed: self.metrics.fuel_consumed,
            handler_calls: self.nodes.iter().map(|n| n.fuel.calls).sum(),
            max_fuel_per_call: self.nodes.iter().map(|n| n.fuel.max).max().unwrap_or(0),
            down: self.nodes.iter().enumerate().filter_map(|(i, n)| n.down.map(|f| (i as u32, f))).collect(),
            faults: self.fault_summaries(),
            convention_warnings: self.convention_warnings.iter().map(|((node, _), text)| format!("node {node}: {text}")).collect(),
            safety_violations: self.violations().iter().chain(linearizability.iter().flat_map(|l| &l.violations)).cloned().collect(),
            linearizability,
            correctness: crate::correctness::check(self),
        }
    }

    fn process(&mut self, pending: Pending) {
        if let Some(node) = pending.target()
            && self.nodes[node as usize].busy_until > self.now
        {
            // The node is still working on an earlier event: this one waits.
            self.queue.push(self.nodes[node as usize].busy_until, pending);
            return;
        }
        self.cause = Cause::NONE;
        match pending {
            Pending::Start { node } => {
                if self.nodes[node as usize].down.is_some() {
                    self.nodes[node as usize].start_due = true;
                    return;
                }
                let args = self.init_args[node as usize].clone();
                self.nodes[node as usize].started = true;
                self.log.record(self.now, || Event::NodeStarted { node, id: args.id.clone() });
                self.handling = Handling::Start;
                self.dispatch(node, Input::Init(&args));
            }
            Pending::Arrive(msg) => {
                let at = self.network.arrive(self.now, msg.to, msg.bytes.len(), msg.earliest);
                self.queue.push(at, Pending::Deliver(msg));
            }
            Pending::Deliver(msg) => self.deliver(msg),
            Pending::Timer { node, timer, tag, epoch, cause } => {
                let slot = &mut self.nodes[node as usize];
                if slot.epoch != epoch || !slot.alive {
                    return;
                }
                if slot.down.is_some() {
                    if slot.timers.contains(&timer) {
                        slot.deferred_timers.push((timer, tag, cause));
                    }
                    return;
                }
                if slot.timers.remove(&timer) {
                    self.cause = cause;
                    self.log.record(self.now, || Event::TimerFired { node, timer, tag });
                    self.handling = Handling::Timer { tag };
                    self.dispatch(node, Input::Timer { tag });
                }
            }
            Pending::Operation { op, .. } => self.start_operation(op),
            Pending::AppTimer { node, tag, cause } => {
                if self.nodes[node as usize].alive && self.nodes[node as usize].down.is_none() {
                    self.cause = cause;
                    self.run_app(|app, ctx| app.on_timer(ctx, node, tag));
                }
            }
            Pending::Fault(event) => self.fault_event(event),
        }
    }

    fn deliver(&mut self, msg: InFlight) {
        let slot = &self.nodes[msg.to as usize];
        if let Some(fault) = slot.down {
            self.drop_message(msg.id, msg.from, msg.to, DropReason::DestinationDown { fault });
            return;
        }
        if let Some(fault) = self.faults.in_force.partition_between(msg.from, msg.to) {
            self.drop_message(msg.id, msg.from, msg.to, DropReason::Partitioned { fault });
            return;
        }
        if !slot.alive || !slot.started {
            let reason = if slot.alive { DropReason::DestinationNotStarted } else { DropReason::DestinationCrashed };
            self.drop_message(msg.id, msg.from, msg.to, reason);
            return;
        }
        self.metrics.on_delivered(&msg.bytes);
        if let Some(capture) = &mut self.capture {
            capture.on_delivered(msg.id, self.now, self.next_msg);
        }
        self.cause = msg.cause;
        self.log.record(self.now, || Event::Delivered { msg: msg.id, from: msg.from, to: msg.to });
        if msg.app {
            let record = Record::decode(&msg.bytes).expect("application messages are encoded by the host");
            self.run_app(|app, ctx| app.on_message(ctx, msg.to, msg.from, &record));
        } else {
            // The kind is read only if the handler crashes (crash_node).
            self.handling = Handling::Message { msg: msg.id, from: msg.from, kind: String::new() };
            self.handled_message = Some(msg.bytes.clone());
            self.referee_delivered(msg.from, msg.to, &msg.bytes);
            self.dispatch(msg.to, Input::Message { from: msg.from, bytes: &msg.bytes });
            self.handled_message = None;
        }
    }

    fn start_operation(&mut self, op: OpId) {
        self.cause = Cause::new(op, 0);
        let rec = &self.operations[op as usize];
        let node = rec.node;
        let operation = rec.operation.clone();
        self.log.record(self.now, || Event::OperationStarted {
            op,
            node,
            kind: operation.kind().to_string(),
            operation: operation.clone(),
        });
        let slot = &self.nodes[node as usize];
        let failure = if !slot.alive {
            Some("the node has crashed".to_string())
        } else if let Some(fault) = slot.down {
            Some(format!("the node is down (fault {fault})"))
        } else if !slot.started {
            Some("the node has not started yet".to_string())
        } else if let Operation::App(request) = &operation {
            if self.app.is_none() {
                Some(format!("operation {:?} needs a host-side application, and none runs", request.kind))
            } else {
                let request = request.clone();
                self.run_app(|app, ctx| app.start(ctx, op, node, &request));
                return;
            }
        } else if !slot.runtime.exports(operation.interface()) {
            Some(format!("the peer does not export the {} interface", operation.interface()))
        } else {
            None
        };
        match failure {
            Some(reason) => self.complete(node, op, false, Record::new("error").with("reason", reason).encode()),
            None => {
                self.handling = Handling::Operation { op };
                self.dispatch(node, Input::Operation { op, operation: &operation })
            }
        }
    }

    /// Runs one handler of `node` and carries out its effects. The caller
    /// sets `self.handling` to what the handler is for.
    fn dispatch(&mut self, node: NodeIndex, input: Input<'_>) {
        let slot = &mut self.nodes[node as usize];
        if !slot.alive || slot.down.is_some() {
            return;
        }
        let storm = self.limits.max_handler_calls_per_second;
        if !slot.rate.admit(self.now.as_nanos(), storm) {
            self.crash_node(node, CrashReason::EventStorm { calls: storm });
            return;
        }
        let pending_timers = slot.timers.len();
        slot.runtime.context().begin_event(self.now, pending_timers);
        let outcome = slot.runtime.handle(input);
        let mut effects = std::mem::take(&mut self.effects);
        let ctx = slot.runtime.context();
        ctx.take_effects(&mut effects);
        for (limit, refused) in ctx.take_refusals() {
            let max = limit.value(&self.limits);
            self.log.record(self.now, || Event::LimitExceeded { node, limit, max, calls: refused.calls, bytes: refused.bytes });
        }
        if let Ok(CallCost { fuel }) = outcome {
            self.metrics.fuel_consumed += fuel;
            slot.fuel.calls += 1;
            slot.fuel.total += fuel;
            slot.fuel.max = slot.fuel.max.max(fuel);
            if let Some(ns) = slot.cpu_ns_per_fuel {
                slot.busy_until = self.now + SimDuration::from_secs_f64(fuel as f64 * ns / 1e9);
            }
        }
        // What the handler asked for happens when it has finished.
        let finished = slot.busy_until.max(self.now);
        let handling = std::mem::replace(&mut self.handling, Handling::Start);
        self.apply_effects(node, finished, &mut effects);
        self.effects = effects;
        if let Err(reason) = outcome {
            self.handling = handling;
            self.crash_node(node, reason);
        } else {
            self.referee_observe(node);
        }
    }

    fn apply_effects(&mut self, node: NodeIndex, finished: SimTime, effects: &mut Vec<Effect>) {
        for effect in effects.drain(..) {
            match effect {
                Effect::Send { to, bytes } => self.send(node, to, bytes, finished),
                Effect::SetTimer { timer, delay, tag } => {
                    let slot = &mut self.nodes[node as usize];
                    slot.timers.insert(timer);
                    let epoch = slot.epoch;
                    self.queue.push(finished + delay, Pending::Timer { node, timer, tag, epoch, cause: self.cause });
                }
                Effect::CancelTimer { timer } => {
                    self.nodes[node as usize].timers.remove(&timer);
                }
                Effect::Log { level, text } => self.log.record(self.now, || Event::Log { node, level, text }),
                Effect::Output { stream, text } => self.log.record(self.now, || Event::Output { node, stream, text }),
                Effect::PublishState(state) => {
                    let state: Arc<[u8]> = state.into();
                    self.nodes[node as usize].state = Some(state.clone());
                    self.log.record(self.now, || Event::StatePublished { node, state: state.clone() });
                    self.check_conventions(node, &state);
                }
                Effect::Complete { op, ok, result } => self.complete(node, op, ok, result),
                Effect::Trace { op, step } => self.log.record(self.now, || Event::Trace { op, node, step: step.into() }),
                Effect::Committed { index, value } => {
                    self.referee_committed(node, index, &value);
                    self.run_app(|app, ctx| app.on_committed(ctx, node, index, &value));
                    self.log.record(self.now, || Event::Committed { node, index, value: value.into() });
                }
            }
        }
    }

    /// Warns, once per node and field, about published state whose
    /// conventional fields observers cannot read.
    fn check_conventions(&mut self, node: NodeIndex, state: &[u8]) {
        let Ok(record) = Record::decode(state) else { return };
        for issue in crate::viz::convention_issues(&record) {
            if self.convention_warnings.insert((node, issue.field.clone()), issue.to_string()).is_none() {
                let crate::viz::ConventionIssue { field, expected, actual } = issue;
                self.log.record(self.now, || Event::ConventionWarning { node, field, expected: expected.to_string(), actual });
            }
        }
    }

    fn complete(&mut self, node: NodeIndex, op: OpId, ok: bool, result: Vec<u8>) {
        let problem = match self.operations.get(op as usize) {
            None => Some(format!("completed operation {op}, which does not exist")),
            Some(rec) if rec.node != node => Some(format!("completed operation {op}, which belongs to node {}", rec.node)),
            Some(rec) if rec.outcome.is_some() => Some(format!("completed operation {op} a second time")),
            Some(_) => None,
        };
        if let Some(text) = problem {
            self.log.record(self.now, || Event::Log { node, level: crate::node::Level::Warn, text });
            return;
        }
        let rec = &mut self.operations[op as usize];
        let result: Arc<[u8]> = result.into();
        rec.outcome = Some(OperationOutcome { at: self.now, ok, result: result.clone() });
        let latency = self.now.since(rec.issued_at);
        let for_app = rec.started_by_app;
        self.log.record(self.now, || Event::OperationCompleted { op, node, ok, latency, result: result.clone() });
        if for_app {
            let record = Record::decode(&result).unwrap_or_else(|_| Record::new("undecodable"));
            self.run_app(|app, ctx| app.on_peer_complete(ctx, node, op, ok, &record));
        }
    }

    /// Runs one application handler and carries out its effects.
    fn run_app(&mut self, handler: impl FnOnce(&mut dyn Application, &mut AppContext)) {
        let Some(mut app) = self.app.take() else { return };
        let mut ctx = AppContext::new(self.now, self.operations.len() as OpId);
        handler(app.as_mut(), &mut ctx);
        self.app = Some(app);
        for effect in ctx.into_effects() {
            match effect {
                AppEffect::Send { from, to, message } => self.send_message(from, to, message.encode(), self.now, true),
                AppEffect::SetTimer { node, delay, tag } => {
                    self.queue.push(self.now + delay, Pending::AppTimer { node, tag, cause: self.cause })
                }
                AppEffect::PeerOperation { op, node, operation } => {
                    debug_assert_eq!(op, self.operations.len() as OpId, "operation ids are reserved in order");
                    self.operations.push(OperationRecord { op, node, operation, issued_at: self.now, outcome: None, started_by_app: true });
                    self.queue.push(self.now, Pending::Operation { op, node });
                }
                AppEffect::Complete { op, ok, result } => {
                    let node = self.operations[op as usize].node;
                    self.complete(node, op, ok, result.encode());
                }
            }
        }
    }

    fn send(&mut self, from: NodeIndex, to: NodeIndex, bytes: Vec<u8>, departs: SimTime) {
        self.referee_sent(from, &bytes);
        self.send_message(from, to, bytes, departs, false);
    }

    fn send_message(&mut self, from: NodeIndex, to: NodeIndex, bytes: Vec<u8>, departs: SimTime, app: bool) {
        let msg = self.next_msg;
        self.next_msg += 1;
        let bytes: Arc<[u8]> = bytes.into();
        let cause = self.cause.next();
        self.record_sent(msg, from, to, &bytes, cause);
        let problem = if to as usize >= self.nodes.len() {
            Some(DropReason::NoSuchNode)
        } else if bytes.len() > self.limits.max_message_bytes {
            Some(DropReason::TooLarge)
        } else {
            match peershare_wire::decoded_size(&bytes) {
                Err(_) => Some(DropReason::Malformed),
                Ok(size) if size > self.limits.max_decoded_message_bytes => Some(DropReason::TooLarge),
                Ok(_) => None,
            }
        };
        if let Some(reason) = problem {
            self.drop_message(msg, from, to, reason);
            return;
        }
        if self.faults.in_force.acts_on_messages() {
            self.send_under_faults(msg, from, to, bytes, departs, app, cause);
            return;
        }
        let transit = self.network.transmit(departs, from, to, bytes.len());
        self.launch(msg, from, to, bytes, app, transit, cause);
    }

    /// Puts a message handed to the network into the queue, or records its
    /// loss.
    #[allow(clippy::too_many_arguments)]
    fn launch(&mut self, msg: MessageId, from: NodeIndex, to: NodeIndex, bytes: Arc<[u8]>, app: bool, transit: Transit, cause: Cause) {
        let in_flight = |earliest| InFlight { id: msg, from, to, bytes, earliest, app, cause };
        match transit {
            Transit::Lost => self.drop_message(msg, from, to, DropReason::Lost),
            Transit::Arrives { at, earliest } => self.queue.push(at, Pending::Arrive(in_flight(earliest))),
            Transit::Delivers { at } => self.queue.push(at, Pending::Deliver(in_flight(at))),
        }
    }

    /// Sends a message through the faults in force: they may drop it, alter
    /// it, delay it or copy it, and each such act is logged with the fault.
    #[allow(clippy::too_many_arguments)]
    fn send_under_faults(
        &mut self,
        msg: MessageId,
        from: NodeIndex,
        to: NodeIndex,
        bytes: Arc<[u8]>,
        departs: SimTime,
        app: bool,
        cause: Cause,
    ) {
        // The message's number on its link picks its draws, in the plan and
        // in the network, whatever the plan does with it.
        let n = self.network.next_number(from, to);
        let mut draws = self.faults.plan_draws.message(from, to, n);
        let plan = self.faults.in_force.plan(from, to, &bytes, self.nodes.len() as u32, &mut draws);
        for (fault, action) in plan.notes {
            self.faults.counters[fault as usize].altered += 1;
            if let Some(capture) = &mut self.capture {
                capture.on_faulted(msg, fault);
            }
            self.log.record(self.now, || Event::MessageFaulted { msg, fault, action });
        }
        if let Some(reason) = plan.drop {
            self.drop_message(msg, from, to, reason);
            return;
        }
        let bytes: Arc<[u8]> = plan.bytes.map_or(bytes, Into::into);
        let latency = plan.latency.as_ref();
        let transit = self.network.transmit_adjusted(departs, from, to, n, bytes.len(), plan.extra, latency);
        self.launch(msg, from, to, bytes.clone(), app, transit, cause);
        for (fault, resent) in plan.copies {
            let copy = self.next_msg;
            self.next_msg += 1;
            self.faults.counters[fault as usize].altered += 1;
            self.log.record(self.now, || Event::MessageFaulted { msg, fault, action: FaultAction::Duplicated { copy } });
            self.record_sent(copy, from, to, &bytes, cause);
            if let Some(capture) = &mut self.capture {
                capture.on_faulted(copy, fault);
            }
            let transit = if resent {
                let n = self.network.next_number(from, to);
                self.network.transmit_adjusted(departs, from, to, n, bytes.len(), plan.extra, latency)
            } else {
                self.network.duplicate_last(from, to, bytes.len(), plan.extra, latency)
            };
            self.launch(copy, from, to, bytes.clone(), app, transit, cause);
        }
    }

    /// Counts, logs and captures a message handed to the network.
    fn record_sent(&mut self, msg: MessageId, from: NodeIndex, to: NodeIndex, bytes: &Arc<[u8]>, cause: Cause) {
        let kind = crate::intern::kind_of(bytes);
        self.metrics.on_sent(kind, bytes.len());
        self.log.record(self.now, || Event::Sent { msg, from, to, bytes: bytes.clone() });
        if let Some(capture) = &mut self.capture {
            capture.on_sent(msg, self.now, from, to, kind, bytes, cause);
        }
    }

    fn drop_message(&mut self, msg: MessageId, from: NodeIndex, to: NodeIndex, reason: DropReason) {
        self.metrics.on_dropped(reason.name());
        if let Some(fault) = reason.fault() {
            self.faults.counters[fault as usize].dropped += 1;
        }
        if let Some(capture) = &mut self.capture {
            capture.on_dropped(msg, self.now, &reason);
        }
        self.log.record(self.now, || Event::Dropped { msg, from, to, reason });
    }
}
