//! The `[[faults]]` timeline of a scenario file.
//!
//! ```toml
//! [[faults]]
//! name = "split"                   # optional label
//! at = "60s"                       # start
//! duration = "30s"                 # optional; default: until the end of the run
//! target = { group = "peers", fraction = 0.2 }   # nodes, ids, group(s), role, fraction, count
//! # target = { role = "leader" }   # whoever's observable state says `role = "leader"` when it starts
//! # target = { from = { group = "a" }, to = { group = "b" }, symmetric = true }  # links
//! # and exactly one of:
//! delay = { added = "100ms", jitter = "20ms" }
//! # latency = { model = "constant", value = "500ms" }
//! # loss = { rate = 0.2 }
//! # duplicate = { rate = 0.1 }
//! # reorder = { rate = 0.3, window = "50ms" }
//! # throttle = { upload = "1Mbps", download = "2Mbps" }
//! # crash = { recovery = "keep-state" }          # or "lose-state"
//! # partition = { sides = [{ group = "east" }], one_way = false }
//! # churn = { session = { distribution = "weibull", scale = "10min", shape = 0.5 },
//! #           downtime = { distribution = "exponential", mean = "2min" },  # or arrival_rate = 0.5
//! #           initially_down = 0.0, keep_state = false }
//! # byzantine = { action = "drop", kinds = ["PONG"] }
//! #   actions: drop | delay (by) | duplicate (copies) | corrupt (fields)
//! #            | eclipse (colluders, fields) | corrupt-chunks
//! ```

use crate::fault::{ByzantineAction, Churn, Fault, FaultKind, NodeSet, Recovery, SessionDistribution, Target};
use crate::network::{Bandwidth, LatencyModel};
use crate::time::{SimDuration, SimTime};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FaultSection {
    name: Option<String>,
    at: SimDuration,
    duration: Option<SimDuration>,
    target: Option<TargetSection>,
    delay: Option<DelaySection>,
    latency: Option<LatencyModel>,
    loss: Option<RateSection>,
    duplicate: Option<RateSection>,
    reorder: Option<ReorderSection>,
    throttle: Option<ThrottleSection>,
    crash: Option<CrashSection>,
    partition: Option<PartitionSection>,
    churn: Option<ChurnSection>,
    byzantine: Option<ByzantineSection>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeSetSection {
    #[serde(default)]
    nodes: Vec<u32>,
    #[serde(default)]
    ids: Vec<String>,
    group: Option<String>,
    #[serde(default)]
    groups: Vec<String>,
    fraction: Option<f64>,
    count: Option<usize>,
    role: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetSection {
    #[serde(default)]
    nodes: Vec<u32>,
    #[serde(default)]
    ids: Vec<String>,
    group: Option<String>,
    #[serde(default)]
    groups: Vec<String>,
    fraction: Option<f64>,
    count: Option<usize>,
    role: Option<String>,
    from: Option<NodeSetSection>,
    to: Option<NodeSetSection>,
    #[serde(default)]
    symmetric: bool,
}

impl TargetSection {
    fn node_set(&self) -> NodeSetSection {
        NodeSetSection {
            nodes: self.nodes.clone(),
            ids: self.ids.clone(),
            group: self.group.clone(),
            groups: self.groups.clone(),
            fraction: self.fraction,
            count: self.count,
            role: self.role.clone(),
        }
    }
}

impl NodeSetSection {
    fn is_empty(&self) -> bool {
        self.nodes.is_empty()
            && self.ids.is_empty()
            && self.group.is_none()
            && self.groups.is_empty()
            && self.fraction.is_none()
            && self.count.is_none()
            && self.role.is_none()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DelaySection {
    added: SimDuration,
    #[serde(default)]
    jitter: SimDuration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RateSection {
    rate: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReorderSection {
    rate: f64,
    window: SimDuration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThrottleSection {
    upload: Option<Bandwidth>,
    download: Option<Bandwidth>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CrashSection {
    recovery: Recovery,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PartitionSection {
    sides: Vec<NodeSetSection>,
    #[serde(default)]
    one_way: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChurnSection {
    session: SessionDistribution,
    downtime: Option<SessionDistribution>,
    arrival_rate: Option<f64>,
    #[serde(default)]
    initially_down: f64,
    #[serde(default)]
    keep_state: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ByzantineSection {
    action: String,
    #[serde(default)]
    kinds: Vec<String>,
    by: Option<SimDuration>,
    copies: Option<u32>,
    #[serde(default)]
    fields: Vec<String>,
    colluders: Option<NodeSetSection>,
}

/// A problem in one fault: the field (relative to the fault) and what is wrong.
pub(super) type FaultProblem = (String, String);

/// A fault table given outside a scenario file is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("field `{field}`: {message}")]
pub struct FaultTableError {
    /// The field, as a dotted path (`crash.recovery`); empty for the table.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// A fault written as one `[[faults]]` table of a scenario file, given as
/// JSON (the Python API's `add_fault` sends its keyword arguments so);
/// group names and node indices are checked against `groups` (name, size).
///
/// ```
/// use peershare::scenario::faults::fault_from_json;
/// let groups = [("peers".to_string(), 10)];
/// let fault = fault_from_json(r#"{"at": "5s", "target": {"nodes": [3]}, "crash": {"recovery": "keep-state"}}"#, &groups).unwrap();
/// assert_eq!(fault.kind.name(), "crash");
/// let wrong = fault_from_json(r#"{"at": "5s", "target": {"group": "east"}, "crash": {"recovery": "keep-state"}}"#, &groups).unwrap_err();
/// assert_eq!(wrong.to_string(), r#"field `target`: no group is named "east""#);
/// ```
pub fn fault_from_json(json: &str, groups: &[(String, usize)]) -> Result<Fault, FaultTableError> {
    let section: FaultSection = serde_json::from_str(json).map_err(|e| FaultTableError { field: String::new(), message: e.to_string() })?;
    section.to_fault(groups).map_err(|(field, message)| FaultTableError { field, message })
}

impl FaultSection {
    /// The fault this section describes; group names and node indices are
    /// checked against `groups` (name, size).
    pub(super) fn to_fault(&self, groups: &[(String, usize)]) -> Result<Fault, FaultProblem> {
        let problem = |field: &str, message: String| (field.to_string(), message);
        let total: usize = groups.iter().map(|g| g.1).sum();
        let set = |s: &NodeSetSection, field: &str| -> Result<NodeSet, FaultProblem> {
            let mut out = NodeSet {
                nodes: s.nodes.clone(),
                groups: s.groups.clone(),
                fraction: s.fraction,
                count: s.count,
                ids: Vec::new(),
                role: s.role.clone(),
            };
            out.groups.extend(s.group.clone());
            for id in &s.ids {
                out.ids.push(super::parse_hex(id).map_err(|m| problem(&format!("{field}.ids"), m))?);
            }
            if let Some(g) = out.groups.iter().find(|g| !groups.iter().any(|(n, _)| n == *g)) {
                return Err(problem(field, format!("no group is named {g:?}")));
            }
            if let Some(n) = out.nodes.iter().find(|&&n| n as usize >= total) {
                return Err(problem(&format!("{field}.nodes"), format!("node {n} does not exist (the scenario has {total} nodes)")));
            }
            if let Some(f) = out.fraction
                && !(0.0..=1.0).contains(&f)
            {
                return Err(problem(&format!("{field}.fraction"), format!("a fraction must be within [0, 1], got {f}")));
            }
            Ok(out)
        };
        let target = match &self.target {
            None => Target::default(),
            Some(t) if t.from.is_some() || t.to.is_some() => {
                let empty = NodeSetSection::default();
                let from = set(t.from.as_ref().unwrap_or(&empty), "target.from")?;
                let to = set(t.to.as_ref().unwrap_or(&empty), "target.to")?;
                if !t.node_set().is_empty() {
                    return Err(problem(
                        "target",
                        "give either nodes (nodes, ids, group, fraction, ...) or links (from, to), not both".into(),
                    ));
                }
                Target::Links { from, to, symmetric: t.symmetric }
            }
            Some(t) => {
                if t.symmetric {
                    return Err(problem("target.symmetric", "`symmetric` applies to link targets (`from` and `to`)".into()));
                }
                Target::Nodes(set(&t.node_set(), "target")?)
            }
        };
        let mut kinds: Vec<(&str, FaultKind)> = Vec::new();
        if let Some(d) = &self.delay {
            kinds.push(("delay", FaultKind::Delay { added: d.added, jitter: d.jitter }));
        }
        if let Some(model) = &self.latency {
            kinds.push(("latency", FaultKind::Latency { model: model.clone() }));
        }
        if let Some(l) = &self.loss {
            kinds.push(("loss", FaultKind::Loss { rate: l.rate }));
        }
        if let Some(d) = &self.duplicate {
            kinds.push(("duplicate", FaultKind::Duplicate { rate: d.rate }));
        }
        if let Some(r) = &self.reorder {
            kinds.push(("reorder", FaultKind::Reorder { rate: r.rate, window: r.window }));
        }
        if let Some(t) = &self.throttle {
            kinds.push(("throttle", FaultKind::Throttle { uplink: t.upload, downlink: t.download }));
        }
        if let Some(c) = &self.crash {
            kinds.push(("crash", FaultKind::Crash { recovery: c.recovery }));
        }
        if let Some(p) = &self.partition {
            let mut sides = Vec::new();
            for (i, s) in p.sides.iter().enumerate() {
                sides.push(set(s, &format!("partition.sides[{i}]"))?);
            }
            kinds.push(("partition", FaultKind::Partition { sides, one_way: p.one_way }));
        }
        if let Some(c) = &self.churn {
            let churn = Churn {
                session: c.session,
                downtime: c.downtime,
                arrival_rate: c.arrival_rate,
                initially_down: c.initially_down,
                keep_state: c.keep_state,
            };
            kinds.push(("churn", FaultKind::Churn(churn)));
        }
        if let Some(b) = &self.byzantine {
            let action = match b.action.as_str() {
                "drop" => ByzantineAction::Drop,
                "delay" => ByzantineAction::Delay {
                    by: b.by.ok_or_else(|| problem("byzantine.by", "a delaying Byzantine node needs `by = \"DURATION\"`".into()))?,
                },
                "duplicate" => ByzantineAction::Duplicate { copies: b.copies.unwrap_or(1) },
                "corrupt" => ByzantineAction::Corrupt { fields: b.fields.clone() },
                "eclipse" => {
                    let colluders = b
                        .colluders
                        .as_ref()
                        .ok_or_else(|| problem("byzantine.colluders", "an eclipse needs `colluders = { ... }`".into()))?;
                    ByzantineAction::Eclipse { colluders: set(colluders, "byzantine.colluders")?, fields: b.fields.clone() }
                }
                "corrupt-chunks" => ByzantineAction::CorruptChunks,
                other => {
                    return Err(problem(
                        "byzantine.action",
                        format!("unknown action {other:?}; expected drop, delay, duplicate, corrupt, eclipse or corrupt-chunks"),
                    ));
                }
            };
            kinds.push(("byzantine", FaultKind::Byzantine { action, kinds: b.kinds.clone() }));
        }
        let kind = match kinds.len() {
            1 => kinds.pop().expect("one kind").1,
            0 => {
                return Err(problem(
                    "",
                    "a fault needs one of delay, latency, loss, duplicate, reorder, throttle, crash, partition, churn or byzantine".into(),
                ));
            }
            _ => {
                let names: Vec<&str> = kinds.iter().map(|k| k.0).collect();
                return Err(problem(
                    "",
                    format!("a fault has exactly one kind, this one has {}; write one [[faults]] each", names.join(" and ")),
                ));
            }
        };
        let field = kind.name().to_string();
        kind.validate().map_err(|m| (field.clone(), m))?;
        if matches!(target, Target::Links { .. }) && !kind.acts_on_links() {
            return Err(problem("target", format!("a {field} fault acts on nodes; its target must be a set of nodes, not links")));
        }
        if matches!(kind, FaultKind::Partition { .. }) && self.target.is_some() {
            return Err(problem("target", "a partition's nodes are given by `partition.sides`, not by `target`".into()));
        }
        Ok(Fault { name: self.name.clone(), start: SimTime::ZERO + self.at, duration: self.duration, target, kind })
    }
}

#[cfg(test)]
mod tests {
    use crate::fault::{ByzantineAction, FaultKind, NodeSet, Recovery, Target};
    use crate::scenario::{Scenario, ScenarioError};
    use crate::time::{SimDuration, SimTime};
    use std::path::Path;

    const HEAD: &str = "duration = \"10s\"\n[[groups]]\nname = \"a\"\ncount = 4\nplugin = \"flood\"\n[[groups]]\nname = \"b\"\ncount = 4\nplugin = \"flood\"\n";

    fn parse(faults: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(&format!("{HEAD}{faults}"), "f.toml", Path::new("."))
    }

    fn error(faults: &str) -> String {
        parse(faults).unwrap_err().to_string()
    }

    #[test]
    fn every_kind_parses() {
        let s = parse(
            r#"
[[faults]]
at = "1s"
duration = "2s"
target = { from = { group = "a" }, to = { nodes = [5, 6] }, symmetric = true }
loss = { rate = 0.5 }
[[faults]]
at = "1s"
target = { group = "b", fraction = 0.5 }
crash = { recovery = "lose-state" }
[[faults]]
at = "2s"
partition = { sides = [{ group = "a" }], one_way = true }
[[faults]]
at = "2s"
target = { nodes = [1] }
byzantine = { action = "eclipse", colluders = { nodes = [2, 3] }, kinds = ["NODES"] }
[[faults]]
at = "3s"
churn = { session = { distribution = "pareto", scale = "5s", shape = 1.5 }, arrival_rate = 2.0 }
"#,
        )
        .unwrap();
        let faults = s.faults().unwrap();
        assert_eq!(faults.len(), 5);
        assert_eq!(faults[0].duration, Some(SimDuration::from_secs(2)));
        assert_eq!(faults[0].target, Target::Links { from: NodeSet::group("a"), to: NodeSet::nodes([5, 6]), symmetric: true });
        assert_eq!(faults[1].target, Target::Nodes(NodeSet::group("b").fraction(0.5)));
        assert_eq!(faults[1].kind, FaultKind::Crash { recovery: Recovery::LoseState });
        assert_eq!(faults[2].start, SimTime::from_secs(2));
        assert!(matches!(&faults[3].kind, FaultKind::Byzantine { action: ByzantineAction::Eclipse { .. }, kinds } if kinds == &["NODES"]));
        assert!(matches!(&faults[4].kind, FaultKind::Churn(c) if c.arrival_rate == Some(2.0)));
        s.build().unwrap();
    }

    #[test]
    fn errors_name_the_line_and_field() {
        let cases: [(&str, &[&str]); 10] = [
            ("loss = { rate = 1.5 }", &["f.toml, line 10, field `faults[0].loss`: `rate` must be a probability"]),
            (
                "target = { group = \"c\" }\ncrash = { recovery = \"keep-state\" }",
                &["line 10, field `faults[0].target`: no group is named \"c\""],
            ),
            (
                "target = { nodes = [8] }\ncrash = { recovery = \"keep-state\" }",
                &["field `faults[0].target.nodes`: node 8 does not exist (the scenario has 8 nodes)"],
            ),
            ("loss = { rate = 0.5 }\ndelay = { added = \"1s\" }", &["exactly one kind, this one has delay and loss"]),
            ("", &["field `faults[0]`: a fault needs one of delay"]),
            (
                "target = { from = { group = \"a\" } }\ncrash = { recovery = \"keep-state\" }",
                &["its target must be a set of nodes, not links"],
            ),
            ("byzantine = { action = \"lie\" }", &["field `faults[0].byzantine.action`: unknown action \"lie\""]),
            (
                "churn = { session = { distribution = \"weibull\", scale = \"1s\", shape = 0.5 } }",
                &["field `faults[0].churn`: churn needs exactly one of `downtime` and `arrival_rate`"],
            ),
            ("crash = { recovery = \"maybe\" }", &["f.toml", "keep-state"]),
            ("loss = { rate = 0.5, burst = 3 }", &["unknown field `burst`"]),
        ];
        for (body, expected) in cases {
            let e = error(&format!("[[faults]]\nat = \"1s\"\n{body}\n"));
            for part in expected {
                assert!(e.contains(part), "{body}: {e}");
            }
        }
    }
}
