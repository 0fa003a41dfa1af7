//! One contained run of a test on one seed: the submission (or the
//! reference) in the test's scenario, under the suite's limits.

use super::check::{Check, NodeCrash, Observed};
use super::invariant::NodeStates;
use super::suite::{Suite, TestCase};
use crate::Simulation;
use crate::events::Event;
use crate::experiment::file::variant_scenario;
use crate::sim::NodeStatus;
use std::time::Instant;

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
pub enum RunEnd {
    /// It reached the scenario's end: what the checks need of it.
    Finished(Box<Observed>),
    /// The grader stopped it (wall-clock time, too many events): the
    /// submission's doing, a failed seed.
    Stopped(String),
    /// The framework failed (the scenario, a simulator error, a panic):
    /// not the submission's doing.
    Failed(String),
}

/// Events shown around a failure.
const EXCERPT: usize = 8;
/// Characters kept of one excerpt line.
const EXCERPT_LINE: usize = 400;
/// Events run between two looks at the wall clock and the event count.
const CHUNK: usize = 5_000;

/// Runs `test` on `seed` with `plugin` (a built-in name or an absolute
/// path) in the submission's groups, or with the reference if `None`,
/// with `faults` (scenario fault entries, as a drawn schedule writes them)
/// added to the scenario's. Never panics; a panic inside the simulator is
/// [`RunEnd::Failed`].
pub fn run(suite: &Suite, test: &TestCase, seed: u64, plugin: Option<&str>, faults: &[String]) -> RunEnd {
    let started = Instant::now();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| simulate(suite, test, seed, plugin, faults, started)));
    outcome.unwrap_or_else(|panic| {
        let text = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".into());
        RunEnd::Failed(format!("the simulator panicked: {text}"))
    })
}

fn simulate(suite: &Suite, test: &TestCase, seed: u64, plugin: Option<&str>, faults: &[String], started: Instant) -> RunEnd {
    let edits = if plugin.is_some() { suite.edits_for(test, plugin) } else { suite.reference_edits(test) };
    let text = match super::schedule::with_faults(&test.scenario_text, faults) {
        Ok(t) => t,
        Err(e) => return RunEnd::Failed(format!("the drawn faults do not fit the scenario: {e}")),
    };
    let scenario = match variant_scenario(&test.scenario, &text, &edits) {
        Ok(s) => s.with_seed(seed),
        Err(e) => return RunEnd::Failed(e.to_string()),
    };
    let built = scenario.builder().and_then(|b| b.capture(true).build());
    let mut sim = match built {
        Ok(sim) => sim,
        Err(e) => return RunEnd::Failed(one_line(&e.to_string())),
    };
    let end = scenario.end();
    let limits = &suite.containment;
    loop {
        match sim.run_until_at_most(end, CHUNK) {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => return RunEnd::Failed(one_line(&e.to_string())),
        }
        // The wall clock decides only whether a run is abandoned, never
        // what it computes.
        if started.elapsed() > limits.run_timeout {
            return RunEnd::Stopped(format!(
                "stopped after {} s of wall-clock time, at {} of {} of simulated time: the run is far slower than the assignment needs (handlers that compute too much, or too many messages)",
                limits.run_timeout.as_secs(),
                sim.now(),
                end
            ));
        }
        if sim.events().total() > limits.max_events {
            return RunEnd::Stopped(format!(
                "stopped after {} events, at {} of {} of simulated time: far more than the assignment needs (a flood of messages or timers)",
                limits.max_events,
                sim.now(),
                end
            ));
        }
    }
    // Inspecting first: a peer whose `inspect` traps has crashed, and
    // the crash counts like any other.
    let node_states = if test.checks.iter().any(|c| matches!(c, Check::State(_))) {
        match node_states(&mut sim, &suite.groups, started, limits.run_timeout) {
            Ok(states) => states,
            Err(stopped) => return RunEnd::Stopped(stopped),
        }
    } else {
        NodeStates::default()
    };
    RunEnd::Finished(Box::new(Observed { node_states, ..observe(&sim, &suite.groups) }))
}

fn in_submission(sim: &Simulation, groups: &[String], node: u32) -> bool {
    groups.iter().any(|g| g == "*" || sim.node_group(node) == Some(g.as_str()))
}

/// What the submission's nodes up at the end report through `inspect`;
/// why the run is stopped if reading them takes the run past `timeout`
/// of wall-clock time from `started` (every slow `inspect` is cut off by
/// the per-call limit, but many of them add up).
fn node_states(sim: &mut Simulation, groups: &[String], started: Instant, timeout: std::time::Duration) -> Result<NodeStates, String> {
    let count = sim.node_count() as u32;
    let ids = crate::correctness::true_ids(sim);
    let mut states = Vec::new();
    for node in 0..count {
        if in_submission(sim, groups, node) && sim.node_status(node) == Some(NodeStatus::Up) {
            states.push((node, sim.inspect_node(node)));
            if started.elapsed() > timeout {
                return Err(format!(
                    "stopped after {} s of wall-clock time while reading the nodes' states at the end (node {node}'s `inspect` and those before it took too long)",
                    timeout.as_secs()
                ));
            }
        }
    }
    // A node whose inspect crashed it is no longer up: its crash is judged.
    states.retain(|(node, _)| sim.node_status(*node) == Some(NodeStatus::Up));
    Ok(NodeStates { states, ids, id_bits: sim.id_bits() })
}

/// What the checks need of a finished run; `groups` are the submission's
/// (`*`: all), whose nodes' crashes count.
fn observe(sim: &Simulation, groups: &[String]) -> Observed {
    let summary = sim.summary();
    let in_submission = |node: u32| in_submission(sim, groups, node);
    let mut crashes = Vec::new();
    let mut first_crash_at = None;
    for (i, e) in sim.events().events().iter().enumerate() {
        if let Event::Crashed { node, reason, .. } = &e.event
            && in_submission(*node)
        {
            first_crash_at.get_or_insert(i);
            crashes.push(NodeCrash { node: *node, at: e.time, reason: one_line(&reason.to_string()) });
        }
    }
    // A log that keeps no events still has the summary's crashes.
    if crashes.is_empty() {
        for (node, reason) in &summary.crashed {
            if in_submission(*node) {
                crashes.push(NodeCrash { node: *node, at: crate::time::SimTime::ZERO, reason: one_line(reason) });
            }
        }
    }
    let crash_excerpt = match (first_crash_at, crashes.first()) {
        (Some(i), Some(c)) => excerpt_before(sim, i, c.node),
        _ => Vec::new(),
    };
    let mistake = summary.correctness.as_ref().and_then(|c| c.first_mistake.clone());
    let mistake_excerpt = mistake.as_ref().map(|m| excerpt_of_operation(sim, m.op)).unwrap_or_default();
    let mistake_shiviz = mistake.as_ref().and_then(|m| shiviz_of_operation(sim, m.op));
    Observed {
        metrics: crate::experiment::metrics::standard(sim),
        crashes,
        crash_excerpt,
        violations: summary.safety_violations.iter().map(|v| v.to_string()).collect(),
        linearizability: summary.linearizability.as_ref().map(|l| (l.not_linearizable, l.violations.first().map(|v| v.to_string()))),
        mistake,
        mistake_excerpt,
        mistake_shiviz,
        node_states: NodeStates::default(),
    }
}

fn line(e: &crate::events::LoggedEvent) -> String {
    let mut text = e.to_json().to_string();
    if text.len() > EXCERPT_LINE {
        let mut cut = EXCERPT_LINE;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// The last events that concern `node` up to and including event `i`.
fn excerpt_before(sim: &Simulation, i: usize, node: u32) -> Vec<String> {
    let events = sim.events().events();
    let concerns = |e: &crate::events::LoggedEvent| {
        let json = e.to_json();
        ["node", "from", "to"].iter().any(|k| json.get(*k).and_then(|v| v.as_u64()) == Some(u64::from(node)))
    };
    let mut out: Vec<String> = events[..=i].iter().rev().filter(|e| concerns(e)).take(EXCERPT).map(line).collect();
    out.reverse();
    out
}

/// The events of one operation: its start, its first and last trace steps
/// and its completion.
fn excerpt_of_operation(sim: &Simulation, op: crate::node::OpId) -> Vec<String> {
    let of_op: Vec<&crate::events::LoggedEvent> = sim
        .events()
        .events()
        .iter()
        .filter(|e| matches!(&e.event, Event::OperationStarted { op: o, .. } | Event::OperationCompleted { op: o, .. } | Event::Trace { op: o, .. } if *o == op))
        .collect();
    if of_op.len() <= EXCERPT {
        return of_op.into_iter().map(line).collect();
    }
    let half = EXCERPT / 2;
    let mut out: Vec<String> = of_op[..half].iter().map(|e| line(e)).collect();
    out.push(format!("… {} more events of operation {op} …", of_op.len() - EXCERPT));
    out.extend(of_op[of_op.len() - half..].iter().map(|e| line(e)));
    out
}

/// The messages of one operation's causal chain as a ShiViz log, if the
/// run captured any.
fn shiviz_of_operation(sim: &Simulation, op: crate::node::OpId) -> Option<String> {
    let capture = sim.capture()?;
    let messages = capture.select(&crate::capture::Filter { op: Some(op), ..Default::default() });
    if messages.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    capture.write_shiviz(&messages, &mut out).ok()?;
    String::from_utf8(out).ok()
}

/// A multi-line explanation (wasmtime's, say) as one line.
fn one_line(text: &str) -> String {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}
