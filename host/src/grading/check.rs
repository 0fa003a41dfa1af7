//! Checks: what must hold of a submission's run, judged by the host from
//! global knowledge, never by the submission.

use super::invariant::{Invariant, NodeStates};
use crate::correctness::Mistake;
use crate::experiment::metrics::Values;
use crate::time::SimTime;
use serde::Serialize;

/// Bounds on a number: at least, at most, or both.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bound {
    /// The lowest passing value.
    pub at_least: Option<f64>,
    /// The highest passing value.
    pub at_most: Option<f64>,
}

impl Bound {
    /// Whether `x` is within the bounds, each multiplied by `scale`.
    pub(crate) fn holds(&self, x: f64, scale: f64) -> bool {
        self.at_least.is_none_or(|lo| x >= lo * scale) && self.at_most.is_none_or(|hi| x <= hi * scale)
    }

    /// The bounds in words, each multiplied by `scale` (`at least 0.95`,
    /// `between 1 and 2`).
    pub(crate) fn words(&self, scale: f64) -> String {
        match (self.at_least, self.at_most) {
            (Some(lo), Some(hi)) => format!("between {} and {}", number(lo * scale), number(hi * scale)),
            (Some(lo), None) => format!("at least {}", number(lo * scale)),
            (None, Some(hi)) => format!("at most {}", number(hi * scale)),
            (None, None) => "any value".into(),
        }
    }
}

/// A number as people write it: no trailing zeros, four significant
/// digits after the point at most.
pub(crate) fn number(x: f64) -> String {
    if x == x.trunc() && x.abs() < 1e15 {
        return format!("{}", x as i64);
    }
    let text = format!("{x:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// One check of a test.
#[derive(Clone, Debug, PartialEq)]
pub enum Check {
    /// A metric of the run (see [`crate::experiment::metrics`]) within
    /// bounds; with `relative`, bounds are multiples of the reference's
    /// value on the same seed.
    Metric {
        /// The metric's name (`lookup.exact_rate`).
        metric: String,
        /// Its bounds.
        bound: Bound,
        /// Compare with the reference run on the same seed.
        relative: bool,
    },
    /// No node running the submission fails on its own (a trap, a limit).
    NoCrashes,
    /// The consensus referee saw no safety violation.
    Safety,
    /// The key/value store's client history is linearizable.
    Linearizable,
    /// Every node running the submission and up at the run's end reports
    /// a state (through `inspect`) that keeps the invariant.
    State(Invariant),
}

impl Check {
    /// Whether it compares with the reference.
    pub fn is_relative(&self) -> bool {
        matches!(self, Check::Metric { relative: true, .. })
    }

    /// What it asks, in words.
    pub fn describe(&self) -> String {
        match self {
            Check::Metric { metric, bound, relative: false } => format!("{metric} is {}", bound.words(1.0)),
            Check::Metric { metric, bound, relative: true } => {
                format!("{metric} is {} times the reference's on the same seed", bound.words(1.0))
            }
            Check::NoCrashes => "no node running your peer fails (traps, panics or exceeds a limit)".into(),
            Check::Safety => "the consensus referee sees no safety violation".into(),
            Check::Linearizable => "the key/value clients' history is linearizable".into(),
            Check::State(invariant) => format!("at the end, {}", invariant.describe()),
        }
    }
}

/// A node of the submission that failed on its own.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeCrash {
    /// The node.
    pub node: crate::NodeIndex,
    /// When.
    pub at: SimTime,
    /// Why, in one line.
    pub reason: String,
}

/// What a run yields for the checks: everything the grader keeps of it
/// once the simulation is gone.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observed {
    /// The standard metrics.
    pub metrics: Values,
    /// The submission's nodes that failed on their own, in order.
    pub crashes: Vec<NodeCrash>,
    /// The events before the first crash (JSON lines).
    pub crash_excerpt: Vec<String>,
    /// Safety violations the referee reported, in words.
    pub violations: Vec<String>,
    /// The linearizability check's verdict: `None` without a key/value
    /// store; else registers not linearizable and the first violation.
    pub linearizability: Option<(usize, Option<String>)>,
    /// The first wrong answer against global knowledge.
    pub mistake: Option<Mistake>,
    /// The events of the operation that answered wrongly (JSON lines).
    pub mistake_excerpt: Vec<String>,
    /// Its messages as a ShiViz log.
    pub mistake_shiviz: Option<String>,
    /// The submission's nodes' states at the end (only if a check needs them).
    pub node_states: NodeStates,
}

/// How one check fared on one seed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CheckResult {
    /// What was checked, in words.
    pub check: String,
    /// Whether it held.
    pub passed: bool,
    /// What was expected.
    pub expected: String,
    /// What happened.
    pub got: String,
    /// More about what happened (the first wrong answer, the first crash).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Events that show it (JSON lines).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub excerpt: Vec<String>,
    /// A ShiViz log of the messages of the operation that answered
    /// wrongly, if there is one (written to files, never into results).
    #[serde(skip)]
    pub shiviz: Option<String>,
}

/// Judges `check` on a submission's run; `reference` is the reference's
/// run on the same seed (present whenever the check is relative).
pub fn evaluate(check: &Check, run: &Observed, reference: Option<&Observed>) -> CheckResult {
    let mut result = CheckResult {
        check: check.describe(),
        passed: false,
        expected: String::new(),
        got: String::new(),
        detail: None,
        excerpt: Vec::new(),
        shiviz: None,
    };
    match check {
        Check::Metric { metric, bound, relative } => {
            let scale = if *relative {
                match reference.and_then(|r| r.metrics.get(metric)) {
                    Some(&r) => Some(r),
                    None => {
                        result.expected = format!("{metric} {} times the reference's", bound.words(1.0));
                        result.got = "the reference run has no value of this metric: the suite is wrong (ask your instructor)".into();
                        return result;
                    }
                }
            } else {
                None
            };
            let scale_value = scale.unwrap_or(1.0);
            result.expected = match scale {
                Some(r) => format!("{metric} {} ({} times the reference's {})", bound.words(r), bound.words(1.0), number(r)),
                None => format!("{metric} {}", bound.words(1.0)),
            };
            match run.metrics.get(metric) {
                Some(&x) => {
                    result.passed = bound.holds(x, scale_value);
                    result.got = match scale {
                        Some(r) if r != 0.0 => format!("{} ({} times the reference's)", number(x), number(x / r)),
                        _ => number(x),
                    };
                }
                None => {
                    result.got = format!("no value: the run produced none ({})", missing_reason(metric));
                }
            }
            if !result.passed && metric.starts_with("lookup.") | metric.starts_with("get.") {
                result.detail = run.mistake.as_ref().map(|m| format!("first wrong answer: {m}"));
                result.excerpt = run.mistake_excerpt.clone();
                result.shiviz = run.mistake_shiviz.clone();
            }
            if !result.passed && result.detail.is_none() {
                result.detail = run.crashes.first().map(|c| crash_words(c, run.crashes.len()));
                result.excerpt = run.crash_excerpt.clone();
            }
        }
        Check::NoCrashes => {
            result.expected = "no node running your peer fails".into();
            result.passed = run.crashes.is_empty();
            result.got = if run.crashes.is_empty() { "none failed".into() } else { format!("{} failed", run.crashes.len()) };
            if let Some(c) = run.crashes.first() {
                result.detail = Some(crash_words(c, run.crashes.len()));
                result.excerpt = run.crash_excerpt.clone();
            }
        }
        Check::Safety => {
            result.expected = "no safety violation".into();
            result.passed = run.violations.is_empty();
            result.got = match run.violations.len() {
                0 => "none".into(),
                n => format!("{n} violation{}", if n == 1 { "" } else { "s" }),
            };
            result.detail = run.violations.first().cloned();
        }
        Check::Linearizable => {
            result.expected = "a linearizable history".into();
            match &run.linearizability {
                None => result.got = "the scenario has no key/value store to check: the suite is wrong (ask your instructor)".into(),
                Some((0, _)) => {
                    result.passed = true;
                    result.got = "linearizable".into();
                }
                Some((n, first)) => {
                    result.got = format!("{n} key{} with a history that is not linearizable", if *n == 1 { "" } else { "s" });
                    result.detail = first.clone();
                }
            }
        }
        Check::State(invariant) => {
            let all = &run.node_states;
            let broken: Vec<String> = all.states.iter().filter_map(|(node, state)| invariant.broken(*node, state.as_ref(), all)).collect();
            result.expected = format!("{} ({} nodes up at the end)", invariant.describe(), all.states.len());
            result.passed = broken.is_empty() && !all.states.is_empty();
            result.got = match (broken.len(), all.states.len()) {
                (_, 0) => "no node running your peer was up at the end".into(),
                (0, n) => format!("all {n} keep it"),
                (b, n) => format!("{b} of {n} break it"),
            };
            result.detail = broken.into_iter().next();
            if all.states.is_empty() {
                result.detail = run.crashes.first().map(|c| crash_words(c, run.crashes.len()));
                result.excerpt = run.crash_excerpt.clone();
            }
        }
    }
    result
}

fn crash_words(c: &NodeCrash, count: usize) -> String {
    let others = if count > 1 { format!(" ({} nodes failed in all)", count) } else { String::new() };
    format!("node {} failed at {}: {}{others}", c.node, c.at, c.reason)
}

/// Why a metric may be missing from a run, in words.
fn missing_reason(metric: &str) -> String {
    match metric.split_once('.') {
        Some(("lookup", "exact_rate")) => "no lookup succeeded, so none could be judged".into(),
        Some(("get", "after_put_rate")) => "no get came after a successful put".into(),
        Some((kind, m)) if m.starts_with("latency") || m == "rounds_mean" => {
            format!("no {kind} operation succeeded{}", if m == "rounds_mean" { " with a `rounds` field in its outcome" } else { "" })
        }
        None if ["delivery_rate", "messages_per_node_per_s", "bytes_per_node_per_s", "load_max_over_mean", "load_gini"]
            .contains(&metric) =>
        {
            "no message was handed to the network".into()
        }
        Some(("consensus", _)) => "no node published a consensus role or committed an entry".into(),
        Some((kind, _)) => format!("no {kind} operation was issued, or the metric does not apply to it"),
        None => "the metric does not apply to this run".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(metric: &str, x: f64) -> Observed {
        Observed { metrics: [(metric.to_string(), x)].into_iter().collect(), ..Observed::default() }
    }

    #[test]
    fn metric_bounds_hold_absolutely_and_relative_to_the_reference() {
        let at_most = |hi| Check::Metric {
            metric: "lookup.messages_mean".into(),
            bound: Bound { at_least: None, at_most: Some(hi) },
            relative: true,
        };
        let reference = run("lookup.messages_mean", 40.0);
        let r = evaluate(&at_most(1.5), &run("lookup.messages_mean", 59.0), Some(&reference));
        assert!(r.passed, "{r:?}");
        let r = evaluate(&at_most(1.5), &run("lookup.messages_mean", 61.0), Some(&reference));
        assert!(!r.passed);
        assert_eq!(r.expected, "lookup.messages_mean at most 60 (at most 1.5 times the reference's 40)");
        assert_eq!(r.got, "61 (1.525 times the reference's)");
        let exact =
            Check::Metric { metric: "lookup.exact_rate".into(), bound: Bound { at_least: Some(1.0), at_most: None }, relative: false };
        assert!(evaluate(&exact, &run("lookup.exact_rate", 1.0), None).passed);
        let r = evaluate(&exact, &run("lookup.exact_rate", 0.75), None);
        assert_eq!((r.passed, r.got.as_str()), (false, "0.75"));
        let r = evaluate(&exact, &Observed::default(), None);
        assert!(!r.passed && r.got.contains("no lookup succeeded"), "{r:?}");
    }

    #[test]
    fn crashes_and_violations_fail_their_checks_with_the_first_one_named() {
        let mut o = Observed::default();
        assert!(evaluate(&Check::NoCrashes, &o, None).passed);
        assert!(evaluate(&Check::Safety, &o, None).passed);
        assert!(!evaluate(&Check::Linearizable, &o, None).passed, "no store to check is the suite's mistake, never a pass");
        o.crashes.push(NodeCrash { node: 4, at: SimTime::from_secs(2), reason: "ran out of fuel".into() });
        o.crashes.push(NodeCrash { node: 9, at: SimTime::from_secs(3), reason: "trapped".into() });
        o.violations.push("election-safety violated".into());
        o.linearizability = Some((1, Some("k0: get returned 3 after put 4".into())));
        let r = evaluate(&Check::NoCrashes, &o, None);
        assert!(!r.passed);
        assert_eq!(r.detail.as_deref(), Some("node 4 failed at 2.000000s: ran out of fuel (2 nodes failed in all)"));
        assert!(!evaluate(&Check::Safety, &o, None).passed);
        let r = evaluate(&Check::Linearizable, &o, None);
        assert_eq!((r.passed, r.detail.as_deref()), (false, Some("k0: get returned 3 after put 4")));
    }
}
