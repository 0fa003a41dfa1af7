//! `peershare run --viz`: visualisation files written next to the results.

use peershare::error::SimError;
use peershare::prelude::*;
use peershare::viz::{Timeline, vega};
use std::path::{Path, PathBuf};

/// Collects topology snapshots while a run goes.
pub struct VizRecorder {
    timeline: Option<Timeline>,
    last: SimTime,
    /// Convention warnings from the snapshots' node states, "node N: ...".
    warnings: std::collections::BTreeSet<String>,
}

impl VizRecorder {
    /// A recorder with no snapshot yet.
    pub fn new() -> Self {
        VizRecorder { timeline: None, last: SimTime::ZERO, warnings: Default::default() }
    }

    /// Takes a snapshot now, with the flows since the previous one.
    pub fn snapshot(&mut self, sim: &mut Simulation) {
        let now = sim.now();
        let snapshot = sim.topology(Some((self.last, now)));
        self.last = now;
        for node in &snapshot.nodes {
            self.warnings.extend(node.warnings.iter().map(|w| format!("node {}: {w}", node.index)));
        }
        match &mut self.timeline {
            None => self.timeline = Some(Timeline::new(snapshot)),
            Some(t) => t.push(snapshot),
        }
    }

    /// The convention warnings the snapshots' node states gave (their
    /// `inspect` answers included), one per node and problem, worded as the
    /// summary's.
    pub fn warnings(&self) -> impl Iterator<Item = &String> {
        self.warnings.iter()
    }

    /// Writes the timeline, the last snapshot as node-link JSON, GraphML and
    /// DOT, the lookup traces (lookups.json) and consensus timeline
    /// (consensus.json) if the run has them, and the standard plots as
    /// Vega-Lite specifications. Returns the files written.
    pub fn write(&self, sim: &Simulation, dir: &Path) -> Result<Vec<PathBuf>, SimError> {
        let mut written = Vec::new();
        let mut write = |name: &str, text: String| -> Result<(), SimError> {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(|source| SimError::Output { path: path.display().to_string(), source })?;
            written.push(path);
            Ok(())
        };
        if let Some(timeline) = &self.timeline {
            write("timeline.json", serde_json::to_string(timeline).expect("timelines serialise"))?;
            let last = timeline.replay().pop().expect("a timeline has a snapshot");
            write("topology.json", last.to_node_link_json())?;
            write("topology.graphml", last.to_graphml())?;
            write("topology.dot", last.to_dot())?;
        }
        let events = sim.events().events();
        let traced: std::collections::BTreeSet<u64> =
            events.iter().filter_map(|e| if let peershare::events::Event::Trace { op, .. } = e.event { Some(op) } else { None }).collect();
        if !traced.is_empty() {
            let traces: Vec<_> = traced.iter().filter_map(|&op| peershare::viz::LookupTrace::from_events(events, op)).collect();
            write("lookups.json", serde_json::to_string(&traces).expect("traces serialise"))?;
        }
        let consensus = peershare::viz::ConsensusTimeline::from_events(events);
        if !consensus.nodes.is_empty() || !consensus.commits.is_empty() {
            write("consensus.json", serde_json::to_string(&consensus).expect("timelines serialise"))?;
        }
        for (name, spec) in vega::run_plots(sim) {
            write(&format!("{name}.vl.json"), spec.to_string())?;
        }
        Ok(written)
    }
}
