//! Assignment suites: the TOML file an instructor writes.
//!
//! ```toml
//! name = "Kademlia lookups"
//! description = "Implement the lookup and the routing table."
//! groups = ["dht"]              # the groups that run the submission (default: all)
//! reference = "kademlia"        # what relative checks compare with (default: the scenarios' own plugins)
//! run_timeout = "2min"            # wall-clock limit per run (default 2min)
//! max_events = 20000000         # events per run (default 20 million)
//! max_submission_size = "32MiB" # larger files are refused (default 32 MiB)
//! shrink_runs = 20              # runs spent shrinking a failing random fault schedule (default 20; 0: none)
//!
//! [limits]                      # per node of the submission's groups, in every test
//! fuel_per_event = 100000000
//! memory_limit = "32MiB"
//!
//! [[tests]]
//! name = "Lookups find the exact 20 closest"
//! description = "200 peers, no faults: every lookup must return the true 20 closest live nodes."
//! scenario = "scenarios/lookups.toml"   # relative to the suite
//! seeds = [1, 2, 3]                     # or a count: seeds 1 to N
//! points = 10
//! visibility = "visible"                # visible | hidden | after_due_date | after_published
//! partial_credit = false                # true: points in proportion to the seeds passed
//! set = { "workload[0].rate" = 50 }     # edits of the scenario (paths as in experiment files)
//! random_faults = { within = ["20s", "80s"], crashes = { count = [1, 2], nodes = [1, 3], duration = ["5s", "20s"] } }
//!                                       # faults drawn per seed and student (see grading::schedule)
//! checks = [
//!   { metric = "lookup.exact_rate", at_least = 1.0 },
//!   { metric = "lookup.messages_mean", at_most = 1.5, relative_to = "reference" },
//!   { no_crashes = true },              # no node of the submission fails (trap, limit)
//!   { safety = true },                  # the consensus referee saw no violation
//!   { linearizable = true },            # the key/value history is linearizable
//!   { invariant = "k_buckets" },        # every routing table (State::routing_table) obeys the
//!                                       # k-bucket rules at the end (`k = 20` to set k)
//!   { node_field = "neighbours", at_least = 2 },  # a field of every node's state (a number,
//!                                       # or a list's length) at the end, through `inspect`
//! ]
//! ```
//!
//! Every test's scenario is made and checked when the suite is read, so a
//! mistake in the suite is the instructor's error (file, line, field), not
//! a zero for every student.

use super::check::{Bound, Check};
use super::invariant::Invariant;
use super::schedule::FaultPlan;
use crate::error::FileError;
use crate::experiment::file::{Override, check_path, toml_literal, variant_scenario};
use crate::time::SimDuration;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    name: Option<String>,
    #[serde(default)]
    description: String,
    groups: Option<Vec<Spanned<String>>>,
    reference: Option<Spanned<String>>,
    run_timeout: Option<Spanned<String>>,
    max_events: Option<Spanned<u64>>,
    max_submission_size: Option<Spanned<String>>,
    shrink_runs: Option<u32>,
    #[serde(default)]
    limits: LimitsSection,
    #[serde(default)]
    tests: Vec<Spanned<TestSection>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsSection {
    fuel_per_event: Option<Spanned<u64>>,
    memory_limit: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestSection {
    name: Spanned<String>,
    #[serde(default)]
    description: String,
    scenario: Spanned<String>,
    seeds: Spanned<Seeds>,
    points: Spanned<f64>,
    #[serde(default)]
    visibility: Visibility,
    #[serde(default)]
    partial_credit: bool,
    set: Option<Spanned<toml::Table>>,
    checks: Spanned<Vec<Spanned<CheckSection>>>,
    random_faults: Option<Spanned<FaultPlan>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Seeds {
    Count(u64),
    List(Vec<u64>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckSection {
    metric: Option<String>,
    at_least: Option<f64>,
    at_most: Option<f64>,
    relative_to: Option<String>,
    no_crashes: Option<bool>,
    safety: Option<bool>,
    linearizable: Option<bool>,
    invariant: Option<String>,
    k: Option<u64>,
    node_field: Option<String>,
}

/// Who sees a test's result, in Gradescope's terms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Always shown.
    #[default]
    Visible,
    /// Never shown to the student.
    Hidden,
    /// Shown after the due date.
    AfterDueDate,
    /// Shown once the grades are published.
    AfterPublished,
}

impl Visibility {
    /// Its name in suite files and Gradescope's results.
    pub fn name(self) -> &'static str {
        match self {
            Visibility::Visible => "visible",
            Visibility::Hidden => "hidden",
            Visibility::AfterDueDate => "after_due_date",
            Visibility::AfterPublished => "after_published",
        }
    }
}

/// What the grader allows each run.
#[derive(Clone, Debug, PartialEq)]
pub struct Containment {
    /// Wall-clock time per run; a run that takes longer is stopped.
    pub run_timeout: std::time::Duration,
    /// Events per run; a run with more is stopped (a flood).
    pub max_events: u64,
    /// The largest submission file accepted.
    pub max_submission_bytes: u64,
    /// Fuel per handler call for the submission's nodes, if the suite sets it.
    pub fuel_per_event: Option<u64>,
    /// Memory per node for the submission's nodes (`"32MiB"`), if the suite sets it.
    pub memory_limit: Option<String>,
}

impl Default for Containment {
    fn default() -> Self {
        Containment {
            run_timeout: std::time::Duration::from_secs(120),
            max_events: 20_000_000,
            max_submission_bytes: 32 << 20,
            fuel_per_event: None,
            memory_limit: None,
        }
    }
}

/// One test of a suite: a scenario, its seeds and its checks.
#[derive(Clone, Debug)]
pub struct TestCase {
    /// Its name, shown to the student.
    pub name: String,
    /// What it is about, shown to the student.
    pub description: String,
    /// The scenario file.
    pub scenario: PathBuf,
    /// The scenario as written, relative to the suite (for replay commands).
    pub scenario_as_written: String,
    /// The scenario file's text.
    pub scenario_text: String,
    /// The suite's edits of the scenario (`set`), besides the plugin.
    pub edits: Vec<Override>,
    /// The seeds it runs on.
    pub seeds: Vec<u64>,
    /// Its points.
    pub points: f64,
    /// Who sees its result.
    pub visibility: Visibility,
    /// Points in proportion to the seeds passed (else all or nothing).
    pub partial_credit: bool,
    /// What must hold on every seed.
    pub checks: Vec<Check>,
    /// Faults drawn for every seed (and student), if the test has them.
    pub random_faults: Option<RandomFaults>,
}

/// A test's random fault schedule: its bounds and the nodes it may
/// crash or cut off.
#[derive(Clone, Debug, PartialEq)]
pub struct RandomFaults {
    /// The bounds.
    pub plan: FaultPlan,
    /// The nodes of the targeted groups, by index.
    pub candidates: Vec<u32>,
}

impl TestCase {
    /// Whether a check compares with the reference (so the reference runs).
    pub fn needs_reference(&self) -> bool {
        self.checks.iter().any(Check::is_relative)
    }
}

/// An assignment's suite: its tests, what runs the submission and the
/// limits of every run.
#[derive(Clone, Debug)]
pub struct Suite {
    /// Its name.
    pub name: String,
    /// What the assignment is, for the report.
    pub description: String,
    /// The file it came from.
    pub origin: String,
    /// The groups that run the submission; `["*"]`: every group.
    pub groups: Vec<String>,
    /// The plugin relative checks compare with (a built-in name or an
    /// absolute `.wasm` path); `None`: the scenarios' own plugins.
    pub reference: Option<String>,
    /// What each run is allowed.
    pub containment: Containment,
    /// The tests, in order.
    pub tests: Vec<TestCase>,
    /// Runs spent shrinking each failing random fault schedule.
    pub shrink_runs: u32,
}

/// Runs spent shrinking a failing schedule unless the suite says otherwise.
pub const DEFAULT_SHRINK_RUNS: u32 = 20;

struct Source<'a> {
    path: &'a str,
    text: &'a str,
}

impl Source<'_> {
    fn invalid(&self, offset: usize, field: impl Into<String>, message: impl Into<String>) -> FileError {
        let line = self.text[..offset.min(self.text.len())].matches('\n').count() + 1;
        FileError::Invalid { path: self.path.to_string(), line, field: field.into(), message: message.into() }
    }
}

impl Suite {
    /// Reads and checks a suite file: every test's scenario is made with
    /// the reference, so a mistake is reported before any submission runs.
    ///
    /// ```no_run
    /// use peershare::grading::Suite;
    /// let suite = Suite::load("examples/assignments/kademlia-lookups/suite.toml".as_ref())?;
    /// println!("{}: {} tests, {} points", suite.name, suite.tests.len(), suite.max_score());
    /// # Ok::<(), peershare::error::FileError>(())
    /// ```
    pub fn load(path: &Path) -> Result<Suite, FileError> {
        let text = std::fs::read_to_string(path).map_err(|source| FileError::Read { path: path.display().to_string(), source })?;
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "suite".into());
        Self::parse(&text, &path.display().to_string(), path.parent().unwrap_or(Path::new(".")), &name)
    }

    /// Reads a suite from text; `origin` names it in errors and `base` is
    /// the folder its relative paths start from.
    pub fn parse(text: &str, origin: &str, base: &Path, default_name: &str) -> Result<Suite, FileError> {
        let src = Source { path: origin, text };
        let file: File = toml::from_str(text)
            .map_err(|e| FileError::Syntax { path: origin.to_string(), message: e.to_string().trim_end().to_string() })?;
        let groups: Vec<String> = match &file.groups {
            Some(g) if g.is_empty() => return Err(src.invalid(0, "groups", "name at least one group, or leave `groups` out for all")),
            Some(g) => g.iter().map(|g| g.get_ref().clone()).collect(),
            None => vec!["*".into()],
        };
        let reference = match &file.reference {
            None => None,
            Some(r) => Some(plugin_value(r.get_ref(), base).map_err(|m| src.invalid(r.span().start, "reference", m))?),
        };
        let mut containment = Containment::default();
        if let Some(t) = &file.run_timeout {
            let d: SimDuration = t
                .get_ref()
                .parse()
                .map_err(|e: crate::time::ParseDurationError| src.invalid(t.span().start, "run_timeout", e.to_string()))?;
            containment.run_timeout = std::time::Duration::from_nanos(d.as_nanos());
        }
        if let Some(m) = &file.max_events {
            if *m.get_ref() == 0 {
                return Err(src.invalid(m.span().start, "max_events", "a run needs at least one event"));
            }
            containment.max_events = *m.get_ref();
        }
        if let Some(s) = &file.max_submission_size {
            containment.max_submission_bytes =
                crate::scenario::parse_bytes(s.get_ref()).map_err(|m| src.invalid(s.span().start, "max_submission_size", m))? as u64;
        }
        if let Some(f) = &file.limits.fuel_per_event {
            if *f.get_ref() == 0 {
                return Err(src.invalid(f.span().start, "limits.fuel_per_event", "a handler needs some fuel"));
            }
            containment.fuel_per_event = Some(*f.get_ref());
        }
        if let Some(m) = &file.limits.memory_limit {
            crate::scenario::parse_bytes(m.get_ref()).map_err(|e| src.invalid(m.span().start, "limits.memory_limit", e))?;
            containment.memory_limit = Some(m.get_ref().clone());
        }
        if file.tests.is_empty() {
            return Err(src.invalid(text.len(), "tests", "a suite needs at least one [[tests]] entry"));
        }
        let mut suite = Suite {
            name: file.name.clone().unwrap_or_else(|| default_name.to_string()),
            description: file.description.clone(),
            origin: origin.to_string(),
            groups,
            reference,
            containment,
            tests: Vec::new(),
            shrink_runs: file.shrink_runs.unwrap_or(DEFAULT_SHRINK_RUNS),
        };
        for (i, t) in file.tests.iter().enumerate() {
            let test = read_test(&src, base, i, t)?;
            if suite.tests.iter().any(|other| other.name == test.name) {
                return Err(src.invalid(
                    t.get_ref().name.span().start,
                    format!("tests[{i}].name"),
                    format!("two tests are named {:?}", test.name),
                ));
            }
            suite.tests.push(test);
        }
        // Every test's scenario, as the reference runs it.
        for i in 0..suite.tests.len() {
            let t = &suite.tests[i];
            let edits = suite.reference_edits(t);
            let scenario = variant_scenario(&t.scenario, &t.scenario_text, &edits)
                .map_err(|e| src.invalid(file.tests[i].span().start, format!("tests[{i}]"), e.to_string()))?;
            if let Some(plan) = &file.tests[i].get_ref().random_faults {
                let random = random_faults(plan.get_ref(), &scenario, &suite.groups)
                    .map_err(|(field, m)| src.invalid(plan.span().start, format!("tests[{i}].random_faults{field}"), m))?;
                suite.tests[i].random_faults = Some(random);
            }
        }
        Ok(suite)
    }

    /// The most points a submission can get.
    pub fn max_score(&self) -> f64 {
        self.tests.iter().map(|t| t.points).sum()
    }

    /// The edits that make `test`'s scenario for `plugin` (a built-in name
    /// or an absolute path) in the submission's groups: the suite's limits
    /// for those groups, then the test's own edits.
    pub fn edits_for(&self, test: &TestCase, plugin: Option<&str>) -> Vec<Override> {
        let mut edits = Vec::new();
        for g in &self.groups {
            if let Some(p) = plugin {
                edits.push(Override { path: format!("groups.{g}.plugin"), value: toml_literal(&toml::Value::String(p.to_string())) });
            }
            if let Some(f) = self.containment.fuel_per_event {
                edits.push(Override { path: format!("groups.{g}.fuel_per_event"), value: f.to_string() });
            }
            if let Some(m) = &self.containment.memory_limit {
                edits.push(Override { path: format!("groups.{g}.memory_limit"), value: toml_literal(&toml::Value::String(m.clone())) });
            }
        }
        edits.extend(test.edits.iter().cloned());
        edits
    }

    /// The edits of `test`'s scenario for the reference run.
    pub fn reference_edits(&self, test: &TestCase) -> Vec<Override> {
        self.edits_for(test, self.reference.as_deref())
    }

    /// What a suite allows that an instructor most likely did not mean,
    /// one sentence each (`peershare grade --check` prints them): a test
    /// students do not see that runs a scenario on a seed a visible test
    /// runs too. Its operations (the keys looked up, the values put) are
    /// those the visible test's feedback showed, so a submission that
    /// memorised the visible answers passes it.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        for hidden in self.tests.iter().filter(|t| t.visibility != Visibility::Visible) {
            for visible in self.tests.iter().filter(|t| t.visibility == Visibility::Visible && t.scenario == hidden.scenario) {
                let shared: Vec<String> = hidden.seeds.iter().filter(|s| visible.seeds.contains(s)).map(u64::to_string).collect();
                if !shared.is_empty() {
                    warnings.push(format!(
                        "the {} test {:?} runs {} on seed {}, as the visible test {:?} does: a submission that memorised the visible answers passes it; give it seeds of its own",
                        hidden.visibility.name(),
                        hidden.name,
                        hidden.scenario_as_written,
                        shared.join(", "),
                        visible.name
                    ));
                }
            }
        }
        warnings
    }
}

/// A test's fault plan with the nodes it may target in `scenario`,
/// checked; on error the field (from `.`) and what is wrong.
fn random_faults(
    plan: &FaultPlan,
    scenario: &crate::scenario::Scenario,
    submission_groups: &[String],
) -> Result<RandomFaults, (String, String)> {
    let targeted = plan.groups.clone().unwrap_or_else(|| submission_groups.to_vec());
    let sizes = scenario.group_sizes();
    for g in &targeted {
        if g != "*" && !sizes.iter().any(|(name, _)| name == g) {
            let names: Vec<&str> = sizes.iter().map(|(n, _)| n.as_str()).collect();
            return Err((".groups".into(), format!("the scenario has no group {g:?} (it has {})", names.join(", "))));
        }
    }
    let mut candidates = Vec::new();
    let mut first = 0u32;
    for (name, count) in &sizes {
        if targeted.iter().any(|g| g == "*" || g == name) {
            candidates.extend(first..first + *count as u32);
        }
        first += *count as u32;
    }
    let run_length = SimDuration(scenario.end().as_nanos());
    plan.check(run_length, candidates.len()).map_err(|(field, m)| (if field.is_empty() { field } else { format!(".{field}") }, m))?;
    Ok(RandomFaults { plan: plan.clone(), candidates })
}

/// A plugin named in a suite: a built-in name, or a `.wasm` file relative
/// to the suite (made absolute, as scenarios resolve paths from their own folder).
fn plugin_value(plugin: &str, base: &Path) -> Result<String, String> {
    if plugin.ends_with(".wasm") || plugin.contains('/') {
        let file = base.join(plugin);
        if !file.is_file() {
            return Err(format!("no such file: {}", file.display()));
        }
        return Ok(std::path::absolute(&file).unwrap_or(file).display().to_string());
    }
    if !crate::builtin::names().contains(&plugin) {
        return Err(format!("no built-in plugin {plugin:?} (built-in: {}); a path must end in .wasm", crate::builtin::names().join(", ")));
    }
    Ok(plugin.to_string())
}

fn read_test(src: &Source<'_>, base: &Path, i: usize, t: &Spanned<TestSection>) -> Result<TestCase, FileError> {
    let at = |field: &str| format!("tests[{i}].{field}");
    let t = t.get_ref();
    let name = t.name.get_ref().trim().to_string();
    if name.is_empty() {
        return Err(src.invalid(t.name.span().start, at("name"), "a test needs a name the student sees"));
    }
    let scenario = base.join(t.scenario.get_ref());
    let scenario_text = std::fs::read_to_string(&scenario)
        .map_err(|e| src.invalid(t.scenario.span().start, at("scenario"), format!("cannot read {}: {e}", scenario.display())))?;
    let seeds: Vec<u64> = match t.seeds.get_ref() {
        Seeds::Count(0) => return Err(src.invalid(t.seeds.span().start, at("seeds"), "a test needs at least one seed")),
        Seeds::Count(n) => (1..=*n).collect(),
        Seeds::List(l) if l.is_empty() => return Err(src.invalid(t.seeds.span().start, at("seeds"), "a test needs at least one seed")),
        Seeds::List(l) => {
            let mut sorted = l.clone();
            sorted.sort_unstable();
            if sorted.windows(2).any(|w| w[0] == w[1]) {
                return Err(src.invalid(t.seeds.span().start, at("seeds"), "a seed is listed twice"));
            }
            l.clone()
        }
    };
    let points = *t.points.get_ref();
    if !(points.is_finite() && points >= 0.0) {
        return Err(src.invalid(t.points.span().start, at("points"), "points must be a number of at least 0"));
    }
    let mut edits = Vec::new();
    if let Some(set) = &t.set {
        for (path, value) in set.get_ref() {
            check_path(path).map_err(|m| src.invalid(set.span().start, at("set"), m))?;
            edits.push(Override { path: path.clone(), value: toml_literal(value) });
        }
    }
    if t.checks.get_ref().is_empty() {
        return Err(src.invalid(t.checks.span().start, at("checks"), "a test needs at least one check"));
    }
    let mut checks = Vec::new();
    for (j, c) in t.checks.get_ref().iter().enumerate() {
        checks.push(read_check(c.get_ref()).map_err(|m| src.invalid(c.span().start, format!("tests[{i}].checks[{j}]"), m))?);
    }
    Ok(TestCase {
        name,
        description: t.description.trim().to_string(),
        scenario: std::path::absolute(&scenario).unwrap_or(scenario),
        scenario_as_written: t.scenario.get_ref().clone(),
        scenario_text,
        edits,
        seeds,
        points,
        visibility: t.visibility,
        partial_credit: t.partial_credit,
        checks,
        random_faults: None,
    })
}

fn read_check(c: &CheckSection) -> Result<Check, String> {
    let kinds = [
        c.metric.is_some(),
        c.no_crashes.is_some(),
        c.safety.is_some(),
        c.linearizable.is_some(),
        c.invariant.is_some(),
        c.node_field.is_some(),
    ];
    if kinds.iter().filter(|&&k| k).count() != 1 {
        return Err("a check is exactly one of `metric` or `node_field` (with `at_least` and/or `at_most`), `no_crashes`, `safety`, `linearizable`, `invariant`".into());
    }
    let flag = |v: Option<bool>, name: &str| -> Result<(), String> {
        match v {
            Some(false) => Err(format!("`{name} = false` checks nothing; leave the check out")),
            _ => Ok(()),
        }
    };
    if c.k.is_some() && c.invariant.is_none() {
        return Err("`k` goes with `invariant = \"k_buckets\"`".into());
    }
    if let Some(name) = c.metric.as_ref().or(c.node_field.as_ref()) {
        let what = if c.metric.is_some() { "metric" } else { "node_field" };
        if name.trim().is_empty() {
            return Err(format!("`{what}` is empty"));
        }
        if c.at_least.is_none() && c.at_most.is_none() {
            return Err(format!("the check of `{name}` needs `at_least`, `at_most` or both"));
        }
        if let (Some(lo), Some(hi)) = (c.at_least, c.at_most)
            && lo > hi
        {
            return Err(format!("`at_least` ({lo}) is above `at_most` ({hi}): no value can pass"));
        }
        if [c.at_least, c.at_most].iter().flatten().any(|v| !v.is_finite()) {
            return Err("bounds must be finite numbers".into());
        }
        let relative = match c.relative_to.as_deref() {
            None => false,
            Some("reference") if c.metric.is_some() => true,
            Some("reference") => return Err("`relative_to` goes with `metric`: a node's field is checked on its own".into()),
            Some(other) => return Err(format!("`relative_to = {other:?}`: the only thing to compare with is \"reference\"")),
        };
        let bound = Bound { at_least: c.at_least, at_most: c.at_most };
        return Ok(match &c.metric {
            Some(metric) => Check::Metric { metric: metric.clone(), bound, relative },
            None => Check::State(Invariant::Field { field: name.clone(), bound }),
        });
    }
    if c.at_least.is_some() || c.at_most.is_some() || c.relative_to.is_some() {
        return Err("`at_least`, `at_most` and `relative_to` go with `metric` (and the bounds with `node_field`)".into());
    }
    if let Some(name) = &c.invariant {
        return match name.as_str() {
            "k_buckets" => Ok(Check::State(Invariant::KBuckets { k: c.k })),
            other => Err(format!("no invariant {other:?}: the host checks \"k_buckets\" (or check a field with `node_field`)")),
        };
    }
    if c.no_crashes.is_some() {
        flag(c.no_crashes, "no_crashes")?;
        return Ok(Check::NoCrashes);
    }
    if c.safety.is_some() {
        flag(c.safety, "safety")?;
        return Ok(Check::Safety);
    }
    flag(c.linearizable, "linearizable")?;
    Ok(Check::Linearizable)
}
