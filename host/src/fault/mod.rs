//! Failure injection: one fault model for the Rust API and scenario files.
//!
//! A [`Fault`] has a start time, a duration (or lasts until cleared with
//! [`crate::Simulation::clear_fault`]), a [`Target`] and a [`FaultKind`]
//! with its parameters. Faults are part of the experiment: their start and
//! end are events in the log ([`crate::events::Event::FaultStarted`],
//! [`crate::events::Event::FaultEnded`]), and every message a fault drops,
//! delays or alters carries the fault's id in the log
//! ([`crate::events::DropReason::Fault`],
//! [`crate::events::Event::MessageFaulted`]). An invalid fault, on the other
//! hand, is an error of the user's setup ([`FaultError`]), reported before
//! anything runs.
//!
//! ```no_run
//! use peershare::prelude::*;
//! use peershare::fault::{Fault, FaultKind, NodeSet, Recovery, Target};
//! let plugin = Plugin::builtin("kademlia").unwrap();
//! let mut sim = SimulationBuilder::new(1)
//!     .group(GroupSpec::new("peers", 200, PeerSource::Wasm(plugin)))
//!     // 20% of the peers crash at 30 s and come back with their state at 90 s.
//!     .fault(Fault::new(
//!         SimTime::from_secs(30),
//!         Target::Nodes(NodeSet::all().fraction(0.2)),
//!         FaultKind::Crash { recovery: Recovery::KeepState },
//!     ).lasting(SimDuration::from_secs(60)))
//!     .build()
//!     .unwrap();
//! sim.run_for(SimDuration::from_secs(120)).unwrap();
//! // Faults can also be added, changed and cleared between steps.
//! let split = sim.add_fault(Fault::new(
//!     sim.now(),
//!     Target::default(),
//!     FaultKind::Partition { sides: vec![NodeSet::nodes(0..100)], one_way: false },
//! )).unwrap();
//! sim.run_for(SimDuration::from_secs(60)).unwrap();
//! sim.clear_fault(split).unwrap();
//! ```

mod byzantine;
mod churn;
pub(crate) mod runtime;

pub use byzantine::{ByzantineAction, corrupt_value};
pub use churn::{Churn, SessionDistribution};

use crate::NodeIndex;
use crate::network::{Bandwidth, LatencyModel};
use crate::time::{SimDuration, SimTime};

/// Identifier of a fault, in order of adding, from 0.
pub type FaultId = u32;

/// One fault: what goes wrong, where, when and for how long.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    /// A label for logs and reports (optional).
    pub name: Option<String>,
    /// When the fault starts.
    pub start: SimTime,
    /// How long it lasts; `None`: until cleared.
    pub duration: Option<SimDuration>,
    /// The nodes or links it affects.
    pub target: Target,
    /// What it does.
    pub kind: FaultKind,
}

impl Fault {
    /// A fault starting at `start` that lasts until cleared.
    pub fn new(start: SimTime, target: Target, kind: FaultKind) -> Self {
        Fault { name: None, start, duration: None, target, kind }
    }

    /// The same fault, ending `duration` after its start.
    pub fn lasting(mut self, duration: SimDuration) -> Self {
        self.duration = Some(duration);
        self
    }

    /// The same fault with a label.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// What a fault affects.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// These nodes. For a link fault (delay, latency, loss, duplication,
    /// reordering): every message from or to one of them.
    Nodes(NodeSet),
    /// Messages from a node of `from` to a node of `to`, and also from `to`
    /// to `from` if `symmetric`.
    Links {
        /// Senders.
        from: NodeSet,
        /// Receivers.
        to: NodeSet,
        /// Both directions.
        symmetric: bool,
    },
}

impl Default for Target {
    /// Every node (and so every link).
    fn default() -> Self {
        Target::Nodes(NodeSet::all())
    }
}

/// A set of nodes: the union of the listed nodes, ids and groups (every node
/// if none is listed), optionally kept to those whose observable state
/// shows a `role` (such as `"leader"`) when the fault starts, and thinned
/// to a random `fraction` or `count` of them, drawn from the run's fault
/// stream when the fault starts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeSet {
    /// Nodes by index.
    pub nodes: Vec<NodeIndex>,
    /// Nodes by identifier.
    pub ids: Vec<Vec<u8>>,
    /// Every node of these groups.
    pub groups: Vec<String>,
    /// Keep a random fraction (rounded to the nearest whole node).
    pub fraction: Option<f64>,
    /// Keep this many, at random.
    pub count: Option<usize>,
    /// Keep only the nodes that are up and whose state (`inspect`, else the
    /// state they last published) has this `role` field when the fault
    /// starts: `"leader"` targets whoever leads at that moment.
    pub role: Option<String>,
}

impl NodeSet {
    /// Every node.
    pub fn all() -> Self {
        NodeSet::default()
    }

    /// These nodes.
    pub fn nodes(nodes: impl IntoIterator<Item = NodeIndex>) -> Self {
        NodeSet { nodes: nodes.into_iter().collect(), ..NodeSet::default() }
    }

    /// Every node of a group.
    pub fn group(name: impl Into<String>) -> Self {
        NodeSet { groups: vec![name.into()], ..NodeSet::default() }
    }

    /// The nodes with these identifiers.
    pub fn ids(ids: impl IntoIterator<Item = Vec<u8>>) -> Self {
        NodeSet { ids: ids.into_iter().collect(), ..NodeSet::default() }
    }

    /// A random fraction of this set.
    pub fn fraction(mut self, fraction: f64) -> Self {
        self.fraction = Some(fraction);
        self
    }

    /// A random subset of this size.
    pub fn count(mut self, count: usize) -> Self {
        self.count = Some(count);
        self
    }

    /// Only the nodes in this role when the fault starts.
    pub fn role(mut self, role: impl Into<String>) -> Self {
        self.role = Some(role.into());
        self
    }

    /// Whether the set names no nodes, ids or groups (so means every node).
    pub fn is_everyone(&self) -> bool {
        self.nodes.is_empty()
            && self.ids.is_empty()
            && self.groups.is_empty()
            && self.fraction.is_none()
            && self.count.is_none()
            && self.role.is_none()
    }
}

/// How a crashed node comes back when its crash fault ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Recovery {
    /// The node was frozen: it resumes with its memory intact, and the timers
    /// that came due while it was down fire when it is back.
    KeepState,
    /// The node restarts from scratch: the component is instantiated anew
    /// and `init` runs again with the same id and bootstrap contacts.
    LoseState,
}

/// What a fault does, with its parameters.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultKind {
    /// Adds `added` plus a uniform draw in `[0, jitter]` to the latency of
    /// every targeted message.
    Delay {
        /// Fixed extra latency.
        added: SimDuration,
        /// Upper bound of the random extra latency.
        jitter: SimDuration,
    },
    /// Draws the latency of targeted messages from this model instead of the
    /// link's own.
    Latency {
        /// The replacement model.
        model: LatencyModel,
    },
    /// Loses each targeted message with this probability (on top of the
    /// link's own loss).
    Loss {
        /// Probability in `[0, 1]`.
        rate: f64,
    },
    /// Delivers a second copy of each targeted message with this
    /// probability; the copy takes its own latency draw and does not occupy
    /// the sender's uplink again.
    Duplicate {
        /// Probability in `[0, 1]`.
        rate: f64,
    },
    /// Holds back each targeted message with probability `rate` by a uniform
    /// draw in `(0, window]`, so that later messages overtake it.
    Reorder {
        /// Probability in `[0, 1]`.
        rate: f64,
        /// Longest hold.
        window: SimDuration,
    },
    /// Limits the targeted nodes' link capacities (`None` leaves a direction
    /// as it was); capacities return to normal when the fault ends.
    Throttle {
        /// Upload capacity while the fault lasts.
        uplink: Option<Bandwidth>,
        /// Download capacity while the fault lasts.
        downlink: Option<Bandwidth>,
    },
    /// The targeted nodes crash at the start: they send and receive nothing
    /// and no timer fires. They recover when the fault ends.
    Crash {
        /// How they recover.
        recovery: Recovery,
    },
    /// Splits the network: messages between nodes of different sides are
    /// dropped, in flight too. Nodes in none of the `sides` form one more
    /// side. One-way: only messages from an earlier side to a later one are
    /// dropped. The fault's target is not used.
    Partition {
        /// The sides (at least one).
        sides: Vec<NodeSet>,
        /// Block one direction only.
        one_way: bool,
    },
    /// The targeted nodes leave and rejoin.
    Churn(Churn),
    /// The targeted nodes misbehave: the host alters their outgoing traffic.
    Byzantine {
        /// What they do.
        action: ByzantineAction,
        /// Only messages of these kinds (all kinds if empty).
        kinds: Vec<String>,
    },
}

impl FaultKind {
    /// Whether a node this fault takes down keeps its memory (resumes
    /// where it was) rather than restarting from scratch with only its
    /// durable storage. Faults that take no node down keep it.
    pub fn keeps_state(&self) -> bool {
        match self {
            FaultKind::Crash { recovery } => *recovery == Recovery::KeepState,
            FaultKind::Churn(churn) => churn.keep_state,
            _ => true,
        }
    }

    /// The kind's name, as in scenario files and the event log.
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::Delay { .. } => "delay",
            FaultKind::Latency { .. } => "latency",
            FaultKind::Loss { .. } => "loss",
            FaultKind::Duplicate { .. } => "duplicate",
            FaultKind::Reorder { .. } => "reorder",
            FaultKind::Throttle { .. } => "throttle",
            FaultKind::Crash { .. } => "crash",
            FaultKind::Partition { .. } => "partition",
            FaultKind::Churn(_) => "churn",
            FaultKind::Byzantine { .. } => "byzantine",
        }
    }

    /// Whether the fault acts on messages in transit (and so accepts a
    /// [`Target::Links`] target).
    pub fn acts_on_links(&self) -> bool {
        matches!(
            self,
            FaultKind::Delay { .. }
                | FaultKind::Latency { .. }
                | FaultKind::Loss { .. }
                | FaultKind::Duplicate { .. }
                | FaultKind::Reorder { .. }
        )
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), String> {
        let probability = |name: &str, p: f64| {
            if (0.0..=1.0).contains(&p) { Ok(()) } else { Err(format!("`{name}` must be a probability within [0, 1], got {p}")) }
        };
        match self {
            FaultKind::Loss { rate } | FaultKind::Duplicate { rate } => probability("rate", *rate),
            FaultKind::Reorder { rate, window } => {
                probability("rate", *rate)?;
                if window.0 == 0 { Err("a reordering `window` must be longer than zero".into()) } else { Ok(()) }
            }
            FaultKind::Latency { model } => model.validate(),
            FaultKind::Throttle { uplink: None, downlink: None } => Err("a throttle needs `uplink` or `downlink` (or both)".into()),
            FaultKind::Partition { sides, .. } if sides.is_empty() => Err("a partition needs at least one side".into()),
            FaultKind::Churn(churn) => churn.validate(),
            FaultKind::Byzantine { action, .. } => action.validate(),
            _ => Ok(()),
        }
    }
}

/// A fault cannot be used: an error in the experiment's setup (not a
/// simulated failure).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FaultError {
    /// A parameter is invalid.
    #[error("fault {fault}: {message}")]
    Invalid {
        /// The fault's label or number.
        fault: String,
        /// What is wrong.
        message: String,
    },
    /// No fault has this id.
    #[error("there is no fault {0}")]
    Unknown(FaultId),
    /// The fault has already ended.
    #[error("fault {0} has already ended")]
    Ended(FaultId),
    /// A change must keep the fault's kind.
    #[error("fault {fault} is a {was} fault and cannot become a {now} fault; clear it and add a new one")]
    KindChanged {
        /// The fault.
        fault: FaultId,
        /// Its kind.
        was: &'static str,
        /// The kind asked for.
        now: &'static str,
    },
}

/// Where a fault is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultStatus {
    /// Not started yet.
    Scheduled,
    /// Acting.
    Active,
    /// Over (its duration elapsed or it was cleared).
    Ended,
}

/// A fault added to a simulation and where it is in its life.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultRecord {
    /// Its id.
    pub id: FaultId,
    /// The fault as last set.
    pub fault: Fault,
    /// Scheduled, active or ended.
    pub status: FaultStatus,
    /// When it actually started.
    pub started_at: Option<SimTime>,
    /// When it actually ended.
    pub ended_at: Option<SimTime>,
    /// The nodes it affected, once started (for node faults and churn); the
    /// nodes of a partition's named sides.
    pub nodes: Vec<NodeIndex>,
}
