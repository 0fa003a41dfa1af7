//! Helpers shared by the end-to-end tests.

pub mod kademlia;
pub mod messages;

use peershare::prelude::*;
use std::path::PathBuf;

/// The repository's root folder.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is in the repository").to_path_buf()
}

/// A scenario from `examples/`.
pub fn example(name: &str) -> Scenario {
    Scenario::load(&repo_root().join("examples").join(name)).expect("example scenarios load")
}

/// Runs a scenario to its end and returns the simulation.
pub fn run(scenario: &Scenario) -> Simulation {
    let mut sim = scenario.build().expect("scenario builds");
    sim.run_until(scenario.end()).expect("run completes");
    sim
}

/// The event log of a finished simulation as JSON Lines bytes.
pub fn trace_bytes(sim: &Simulation) -> Vec<u8> {
    let mut out = Vec::new();
    sim.events().write_jsonl(&mut out).expect("writing to memory cannot fail");
    out
}
