//! Visualisation data: serde structures and standard file formats that
//! existing viewers render. PeerShare itself draws nothing.
//!
//! - [`topology`]: a [`TopologySnapshot`] of the network at one time
//!   (`Simulation::topology`), exported as node-link JSON, GraphML or DOT;
//! - [`timeline`]: snapshot diffs and replayable [`Timeline`]s;
//! - [`lookup`]: a lookup as rounds and as a tree ([`LookupTrace`]);
//! - [`consensus`]: per-node terms, roles, logs and commits ([`ConsensusTimeline`]);
//! - [`vega`]: Vega-Lite specifications with inline data for the standard plots.
//!
//! ```no_run
//! use peershare::prelude::*;
//! let scenario = Scenario::load("examples/kademlia.toml".as_ref())?;
//! let mut sim = scenario.builder()?.capture(true).build()?;
//! sim.run_for(SimDuration::from_secs(20))?;
//! let window = (SimTime::from_secs(15), SimTime::from_secs(20));
//! let snapshot = sim.topology(Some(window));
//! std::fs::write("topology.graphml", snapshot.to_graphml())?;
//! std::fs::write("topology.json", snapshot.to_node_link_json())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod consensus;
mod graph;
pub mod lookup;
pub mod timeline;
pub mod topology;
pub mod vega;

pub use consensus::ConsensusTimeline;
pub use graph::DOT_MAX_EDGES;
pub use lookup::{CustomStep, LookupTrace};
pub use timeline::{SnapshotDiff, Timeline};
pub use topology::{ConventionIssue, Edge, EdgeKind, Flow, NodeView, Status, TopologySnapshot, convention_issues};
