//! PeerShare: a deterministic peer-to-peer network simulator for teaching
//! distributed systems, whose peers are sandboxed WebAssembly components.
//!
//! - [`sim`]: the discrete-event engine ([`Simulation`], [`SimulationBuilder`]).
//! - [`network`]: latency, loss and bandwidth.
//! - [`fault`]: failure injection (crashes, churn, partitions, loss, Byzantine peers).
//! - [`wasm`]: running peers as WebAssembly components ([`wasm::Plugin`]).
//! - [`node`]: what a peer is to the engine; native Rust peers ([`node::Peer`]).
//! - [`scenario`]: scenario files (TOML).
//! - [`events`]: the event log; [`summary`]: results.
//! - [`capture`]: every message with its fate, filters, search and statistics.
//! - [`viz`]: topology snapshots, timelines and graph exports.
//! - [`limits`]: what a node may ask of the host.
//! - [`scaffold`]: new, self-contained peer crates (`peershare new`).
//!
//! ```no_run
//! use peershare::prelude::*;
//! let scenario = Scenario::load("examples/flood.toml".as_ref()).unwrap();
//! let mut sim = scenario.build().unwrap();
//! sim.run_until(scenario.end()).unwrap();
//! let summary = sim.summary();
//! println!("delivered {} messages", summary.messages.delivered);
//! ```

pub mod app;
pub mod builtin;
pub mod capture;
pub mod correctness;
pub mod error;
pub mod events;
pub mod experiment;
pub mod fault;
pub mod fileshare;
pub mod grading;
mod intern;
pub mod kv;
pub mod limits;
pub mod linearizability;
pub mod network;
pub mod node;
pub mod queue;
pub mod referee;
pub mod rng;
pub mod scaffold;
pub mod scenario;
pub mod signing;
pub mod sim;
pub mod storage;
pub mod summary;
pub mod time;
pub mod viz;
pub mod wasm;

pub use peershare_wire as wire;
pub use sim::{Simulation, SimulationBuilder};

/// A node's index: dense from 0, and its network address.
pub type NodeIndex = u32;

/// The names most programs need.
pub mod prelude {
    pub use crate::NodeIndex;
    pub use crate::error::{PluginError, SimError};
    pub use crate::fault::{ByzantineAction, Churn, Fault, FaultId, FaultKind, NodeSet, Recovery, SessionDistribution, Target};
    pub use crate::network::{Bandwidth, LatencyModel, LinkModel};
    pub use crate::node::{CrashReason, InitArgs, NodeContext, Operation, Peer};
    pub use crate::scenario::Scenario;
    pub use crate::sim::{Bootstrap, GroupSpec, NodeStatus, PeerSource, Simulation, SimulationBuilder};
    pub use crate::time::{SimDuration, SimTime};
    pub use crate::wasm::{Plugin, WasmLimits};
    pub use peershare_wire::{Record, Value};
}
