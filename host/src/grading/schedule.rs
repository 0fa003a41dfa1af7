//! Random fault schedules for grading, and their shrinking.
//!
//! A test can draw its faults from a seed within bounds the instructor
//! states, so that every seed (and every student, when the student's name
//! is mixed in) meets a different schedule, and the same one each time it
//! is drawn again:
//!
//! ```toml
//! [tests.random_faults]
//! within = ["20s", "80s"]   # every fault starts and ends in this window
//! crashes = { count = [1, 2], nodes = [1, 4], duration = ["5s", "20s"], recovery = "keep-state" }
//! partitions = { count = [0, 1], fraction = [0.1, 0.3], duration = ["5s", "15s"] }
//! loss = { count = 1, rate = [0.05, 0.2], duration = ["10s", "30s"] }
//! ```
//!
//! Every bound is a pair `[low, high]` (both included) or one value. A
//! drawn schedule is a list of concrete [`DrawnFault`]s (these nodes, from
//! then, for that long), written as scenario `[[faults]]` entries by
//! [`DrawnFault::to_toml`] and added to a scenario's text by
//! [`with_faults`], so the run a student replays is the graded one.
//!
//! When a submission fails under a schedule, [`shrink`] looks for a
//! smaller schedule that still fails: none at all first, then delta
//! debugging over the list of faults, then each fault made simpler (fewer
//! nodes, a shorter window, a lower rate), within a budget of runs.

use crate::fault::Recovery;
use crate::rng::{below, unit_f64};
use crate::time::SimDuration;
use rand_chacha::ChaCha12Rng;
use rand_core::SeedableRng;
use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};

/// An inclusive range `[low, high]`; in a file, a pair or one value.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Between<T> {
    /// The least value.
    pub low: T,
    /// The greatest value.
    pub high: T,
}

impl<T: Copy> Between<T> {
    /// Exactly `value`.
    pub fn exactly(value: T) -> Self {
        Between { low: value, high: value }
    }
}

impl<'de, T: Deserialize<'de> + PartialOrd + Copy + std::fmt::Debug> Deserialize<'de> for Between<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrPair<T> {
            One(T),
            Pair(Vec<T>),
        }
        match OneOrPair::<T>::deserialize(d)? {
            OneOrPair::One(v) => Ok(Between::exactly(v)),
            OneOrPair::Pair(v) if v.len() == 2 && v[0] <= v[1] => Ok(Between { low: v[0], high: v[1] }),
            OneOrPair::Pair(v) if v.len() == 2 => {
                Err(serde::de::Error::custom(format!("[{:?}, {:?}]: the low bound is above the high one", v[0], v[1])))
            }
            OneOrPair::Pair(v) => {
                Err(serde::de::Error::custom(format!("expected one value or a pair [low, high], got {} values", v.len())))
            }
        }
    }
}

fn keep_state() -> Recovery {
    Recovery::KeepState
}

/// Crashes to draw: how many, of how many nodes each, for how long.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CrashPlan {
    /// Crash faults.
    pub count: Between<u32>,
    /// Nodes that go down together in one crash.
    pub nodes: Between<u32>,
    /// How long they stay down.
    pub duration: Between<SimDuration>,
    /// How they come back (default `keep-state`).
    #[serde(default = "keep_state")]
    pub recovery: Recovery,
}

/// Partitions to draw: one side of a fraction of the nodes against the rest.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionPlan {
    /// Partition faults.
    pub count: Between<u32>,
    /// The share of the nodes cut off on one side.
    pub fraction: Between<f64>,
    /// How long the partition lasts.
    pub duration: Between<SimDuration>,
}

/// Spells of message loss on every link.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LossPlan {
    /// Loss faults.
    pub count: Between<u32>,
    /// The probability that a message is lost.
    pub rate: Between<f64>,
    /// How long the loss lasts.
    pub duration: Between<SimDuration>,
}

/// The bounds a test's random schedule is drawn within (`random_faults`).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FaultPlan {
    /// The window of virtual time every fault starts and ends in.
    pub within: Between<SimDuration>,
    /// Crashes of nodes of the targeted groups.
    pub crashes: Option<CrashPlan>,
    /// Partitions of the targeted groups' nodes from the rest.
    pub partitions: Option<PartitionPlan>,
    /// Loss on every link.
    pub loss: Option<LossPlan>,
    /// The groups whose nodes crash and are cut off (default: the
    /// submission's groups).
    pub groups: Option<Vec<String>>,
    /// Mix the student into the schedule's seed, so every student meets
    /// their own schedule (default true).
    #[serde(default = "yes")]
    pub per_student: bool,
}

fn yes() -> bool {
    true
}

/// What a drawn fault does.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum DrawnKind {
    /// These nodes go down, and come back as `recovery` says.
    Crash {
        /// The nodes, by index, ascending.
        nodes: Vec<u32>,
        /// How they come back.
        recovery: Recovery,
    },
    /// These nodes are cut off from all others.
    Partition {
        /// One side, by index, ascending.
        side: Vec<u32>,
    },
    /// Every message is lost with this probability.
    Loss {
        /// The probability.
        rate: f64,
    },
}

/// One fault of a drawn schedule.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DrawnFault {
    /// When it starts.
    pub at: SimDuration,
    /// How long it lasts.
    pub duration: SimDuration,
    /// What it does.
    pub kind: DrawnKind,
}

impl DrawnFault {
    /// The fault as a scenario `[[faults]]` entry, an inline table:
    /// `{ at = "23450ms", duration = "12s", target = { nodes = [3, 17] }, crash = { recovery = "keep-state" } }`.
    pub fn to_toml(&self) -> String {
        let list = |nodes: &[u32]| nodes.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
        let what = match &self.kind {
            DrawnKind::Crash { nodes, recovery } => {
                let recovery = match recovery {
                    Recovery::KeepState => "keep-state",
                    Recovery::LoseState => "lose-state",
                };
                format!("target = {{ nodes = [{}] }}, crash = {{ recovery = \"{recovery}\" }}", list(nodes))
            }
            DrawnKind::Partition { side } => format!("partition = {{ sides = [{{ nodes = [{}] }}] }}", list(side)),
            DrawnKind::Loss { rate } => format!("loss = {{ rate = {rate:?} }}"),
        };
        format!("{{ at = \"{}\", duration = \"{}\", {what} }}", self.at, self.duration)
    }
}

/// The key a schedule is drawn with: the test, the run's seed and, if
/// given, the student, hashed together.
pub fn schedule_key(test: &str, seed: u64, student: Option<&str>) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"peershare/grading/random-faults\0");
    h.update(test.as_bytes());
    h.update(b"\0");
    h.update(seed.to_le_bytes());
    if let Some(s) = student {
        h.update(b"\0student\0");
        h.update(s.as_bytes());
    }
    h.finalize().into()
}

/// Streams of the schedule's generator, one per kind of fault, so that
/// changing the bounds of one kind leaves the others' draws as they were.
const CRASH_STREAM: u64 = 1;
const PARTITION_STREAM: u64 = 2;
const LOSS_STREAM: u64 = 3;

/// Milliseconds, the grain of drawn times.
const MS: u64 = 1_000_000;

impl FaultPlan {
    /// Checks the bounds against the run: `run_length` of virtual time and
    /// `candidates` nodes to crash or cut off. Returns the field (relative
    /// to `random_faults`) and what is wrong.
    pub fn check(&self, run_length: SimDuration, candidates: usize) -> Result<(), (String, String)> {
        let problem = |field: &str, message: String| Err((field.to_string(), message));
        if self.within.high > run_length {
            return problem("within", format!("the window ends at {}, after the run's end at {run_length}", self.within.high));
        }
        if self.within.high == self.within.low {
            return problem("within", "the window is empty: give a start and a later end".into());
        }
        if self.crashes.is_none() && self.partitions.is_none() && self.loss.is_none() {
            return problem("", "name at least one of `crashes`, `partitions`, `loss`".into());
        }
        let window = SimDuration(self.within.high.as_nanos() - self.within.low.as_nanos());
        let durations = [
            ("crashes.duration", self.crashes.as_ref().map(|c| c.duration)),
            ("partitions.duration", self.partitions.as_ref().map(|p| p.duration)),
            ("loss.duration", self.loss.as_ref().map(|l| l.duration)),
        ];
        for (field, d) in durations {
            if let Some(d) = d {
                if d.low.as_nanos() == 0 {
                    return problem(field, "a fault must last a while: give a duration above 0".into());
                }
                if d.high > window {
                    return problem(field, format!("a fault of up to {} does not fit the window of {window}", d.high));
                }
            }
        }
        if let Some(c) = &self.crashes {
            if c.nodes.low == 0 {
                return problem("crashes.nodes", "a crash takes down at least 1 node".into());
            }
            if c.nodes.high as usize > candidates {
                return problem(
                    "crashes.nodes",
                    format!("up to {} nodes in one crash, but the targeted groups have {candidates}", c.nodes.high),
                );
            }
        }
        if let Some(p) = &self.partitions {
            if !(p.fraction.low > 0.0 && p.fraction.high < 1.0) {
                return problem("partitions.fraction", "a side is a share of the nodes above 0 and below 1".into());
            }
            if candidates < 2 {
                return problem("partitions", "a partition needs at least 2 nodes in the targeted groups".into());
            }
        }
        if let Some(l) = &self.loss
            && !(l.rate.low >= 0.0 && l.rate.high <= 1.0)
        {
            return problem("loss.rate", "a rate is a probability, from 0 to 1".into());
        }
        Ok(())
    }

    /// Draws a schedule with `key` (see [`schedule_key`]), crashing and
    /// cutting off nodes among `candidates`; ordered by start time. The
    /// same plan, candidates and key always give the same schedule.
    pub fn draw(&self, candidates: &[u32], key: [u8; 32]) -> Vec<DrawnFault> {
        let mut out = Vec::new();
        let rng_for = |stream| {
            let mut rng = ChaCha12Rng::from_seed(key);
            rng.set_stream(stream);
            rng
        };
        if let Some(c) = &self.crashes {
            let mut rng = rng_for(CRASH_STREAM);
            for _ in 0..integer(&mut rng, c.count) {
                let (at, duration) = self.window(&mut rng, c.duration);
                let k = integer(&mut rng, c.nodes).min(candidates.len() as u32) as usize;
                out.push(DrawnFault {
                    at,
                    duration,
                    kind: DrawnKind::Crash { nodes: pick(&mut rng, candidates, k), recovery: c.recovery },
                });
            }
        }
        if let Some(p) = &self.partitions
            && candidates.len() >= 2
        {
            let mut rng = rng_for(PARTITION_STREAM);
            for _ in 0..integer(&mut rng, p.count) {
                let (at, duration) = self.window(&mut rng, p.duration);
                let share = p.fraction.low + unit_f64(&mut rng) * (p.fraction.high - p.fraction.low);
                let k = ((share * candidates.len() as f64).round() as usize).clamp(1, candidates.len() - 1);
                out.push(DrawnFault { at, duration, kind: DrawnKind::Partition { side: pick(&mut rng, candidates, k) } });
            }
        }
        if let Some(l) = &self.loss {
            let mut rng = rng_for(LOSS_STREAM);
            for _ in 0..integer(&mut rng, l.count) {
                let (at, duration) = self.window(&mut rng, l.duration);
                let rate = l.rate.low + unit_f64(&mut rng) * (l.rate.high - l.rate.low);
                out.push(DrawnFault { at, duration, kind: DrawnKind::Loss { rate: (rate * 1000.0).round() / 1000.0 } });
            }
        }
        out.sort_by_key(|f| f.at);
        out
    }

    /// A start and a duration within bounds, the fault inside the window.
    fn window(&self, rng: &mut ChaCha12Rng, duration: Between<SimDuration>) -> (SimDuration, SimDuration) {
        let (lo, hi) = (duration.low.as_nanos() / MS, duration.high.as_nanos() / MS);
        let window = (self.within.high.as_nanos() - self.within.low.as_nanos()) / MS;
        let d = (lo + below(rng, hi - lo + 1)).clamp(1, window.max(1));
        let start = self.within.low.as_nanos() / MS + below(rng, window - d.min(window) + 1);
        (SimDuration(start * MS), SimDuration(d * MS))
    }
}

/// An integer in `between`, uniformly.
fn integer(rng: &mut ChaCha12Rng, between: Between<u32>) -> u32 {
    between.low + below(rng, u64::from(between.high - between.low) + 1) as u32
}

/// `k` distinct nodes of `candidates`, ascending.
fn pick(rng: &mut ChaCha12Rng, candidates: &[u32], k: usize) -> Vec<u32> {
    let mut pool = candidates.to_vec();
    for i in 0..k.min(pool.len()) {
        let j = i + below(rng, (pool.len() - i) as u64) as usize;
        pool.swap(i, j);
    }
    pool.truncate(k);
    pool.sort_unstable();
    pool
}

/// Adds `faults` (inline tables, as [`DrawnFault::to_toml`] writes them)
/// to the `faults` of a scenario's text, after the faults it has.
pub fn with_faults(scenario_text: &str, faults: &[String]) -> Result<String, String> {
    if faults.is_empty() {
        return Ok(scenario_text.to_string());
    }
    let mut doc: toml_edit::DocumentMut = scenario_text.parse().map_err(|e: toml_edit::TomlError| e.to_string())?;
    let mut tables = Vec::new();
    for f in faults {
        let value: toml_edit::Value = f.parse().map_err(|e: toml_edit::TomlError| format!("the fault {f}: {e}"))?;
        let toml_edit::Value::InlineTable(t) = value else {
            return Err(format!("the fault {f} is not a table like {{ at = \"10s\", loss = {{ rate = 0.1 }} }}"));
        };
        tables.push(t);
    }
    match doc.get_mut("faults") {
        None => {
            let mut list = toml_edit::ArrayOfTables::new();
            tables.into_iter().for_each(|t| list.push(t.into_table()));
            doc.insert("faults", toml_edit::Item::ArrayOfTables(list));
        }
        Some(toml_edit::Item::ArrayOfTables(list)) => tables.into_iter().for_each(|t| list.push(t.into_table())),
        Some(toml_edit::Item::Value(toml_edit::Value::Array(list))) => tables.into_iter().for_each(|t| list.push(t)),
        Some(_) => return Err("the scenario's `faults` is not a list of faults".into()),
    }
    Ok(doc.to_string())
}

/// The outcome of [`shrink`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Shrunk {
    /// The smallest schedule found that still fails (empty: the
    /// submission fails without any fault).
    pub faults: Vec<DrawnFault>,
    /// Runs made.
    pub runs: u32,
    /// Whether the budget ran out before nothing smaller failed.
    pub budget_exhausted: bool,
}

/// Looks for a smaller schedule than `faults` that still fails, asking
/// `fails` (one run each) at most `budget` times: no faults at all, then
/// delta debugging over the list, then each fault simplified (its nodes
/// halved or thinned one by one, its duration and rate halved).
pub fn shrink(faults: &[DrawnFault], budget: u32, mut fails: impl FnMut(&[DrawnFault]) -> bool) -> Shrunk {
    let mut runs = 0;
    let mut exhausted = false;
    let mut attempt = |candidate: &[DrawnFault]| -> Option<bool> {
        if runs >= budget {
            exhausted = true;
            return None;
        }
        runs += 1;
        Some(fails(candidate))
    };
    let mut current = faults.to_vec();
    'search: {
        match attempt(&[]) {
            None => break 'search,
            Some(true) => {
                current.clear();
                break 'search;
            }
            Some(false) => {}
        }
        // Delta debugging (ddmin) over the list.
        let mut n = 2;
        while current.len() >= 2 {
            let chunks = split(&current, n);
            let mut reduced = false;
            for (i, chunk) in chunks.iter().enumerate() {
                match attempt(chunk) {
                    None => break 'search,
                    Some(true) => {
                        current = chunk.clone();
                        n = 2;
                        reduced = true;
                        break;
                    }
                    Some(false) => {}
                }
                if chunks.len() == 2 {
                    continue;
                }
                let complement: Vec<DrawnFault> =
                    chunks.iter().enumerate().filter(|(j, _)| *j != i).flat_map(|(_, c)| c.iter().cloned()).collect();
                match attempt(&complement) {
                    None => break 'search,
                    Some(true) => {
                        current = complement;
                        n = (n - 1).max(2);
                        reduced = true;
                        break;
                    }
                    Some(false) => {}
                }
            }
            if !reduced {
                if n >= current.len() {
                    break;
                }
                n = (n * 2).min(current.len());
            }
        }
        // Each fault made simpler while the schedule still fails.
        for i in 0..current.len() {
            loop {
                let mut simplified = false;
                for candidate in simpler(&current[i]) {
                    let mut schedule = current.clone();
                    schedule[i] = candidate;
                    match attempt(&schedule) {
                        None => break 'search,
                        Some(true) => {
                            current = schedule;
                            simplified = true;
                            break;
                        }
                        Some(false) => {}
                    }
                }
                if !simplified {
                    break;
                }
            }
        }
    }
    Shrunk { faults: current, runs, budget_exhausted: exhausted }
}

/// `list` cut into `n` nearly equal chunks, in order.
fn split(list: &[DrawnFault], n: usize) -> Vec<Vec<DrawnFault>> {
    let n = n.clamp(1, list.len().max(1));
    (0..n).map(|i| list[i * list.len() / n..(i + 1) * list.len() / n].to_vec()).filter(|c| !c.is_empty()).collect()
}

/// Simpler versions of `fault`, the most reduced first: half its nodes,
/// each node left out in turn, half its duration, half its rate.
fn simpler(fault: &DrawnFault) -> Vec<DrawnFault> {
    let mut out = Vec::new();
    let with_nodes = |nodes: Vec<u32>| {
        let mut f = fault.clone();
        match &mut f.kind {
            DrawnKind::Crash { nodes: n, .. } => *n = nodes,
            DrawnKind::Partition { side } => *side = nodes,
            DrawnKind::Loss { .. } => {}
        }
        f
    };
    if let DrawnKind::Crash { nodes, .. } | DrawnKind::Partition { side: nodes } = &fault.kind
        && nodes.len() > 1
    {
        let half = nodes.len() / 2;
        out.push(with_nodes(nodes[..half].to_vec()));
        out.push(with_nodes(nodes[half..].to_vec()));
        if nodes.len() > 2 {
            for i in 0..nodes.len() {
                let mut fewer = nodes.clone();
                fewer.remove(i);
                out.push(with_nodes(fewer));
            }
        }
    }
    let half = fault.duration.as_nanos() / 2 / MS * MS;
    if half >= 100 * MS {
        out.push(DrawnFault { duration: SimDuration(half), ..fault.clone() });
    }
    if let DrawnKind::Loss { rate } = fault.kind {
        let half = (rate * 500.0).round() / 1000.0;
        if half > 0.0 && half < rate {
            out.push(DrawnFault { kind: DrawnKind::Loss { rate: half }, ..fault.clone() });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(text: &str) -> FaultPlan {
        toml::from_str(text).unwrap()
    }

    const PLAN: &str = r#"
within = ["10s", "50s"]
crashes = { count = [1, 3], nodes = [1, 4], duration = ["2s", "10s"] }
partitions = { count = [0, 1], fraction = [0.2, 0.4], duration = ["5s", "15s"] }
loss = { count = 1, rate = [0.05, 0.2], duration = "8s" }
"#;

    #[test]
    fn bounds_are_a_pair_or_one_value() {
        let p = plan(PLAN);
        assert_eq!(p.crashes.as_ref().unwrap().count, Between { low: 1, high: 3 });
        assert_eq!(p.loss.as_ref().unwrap().count, Between::exactly(1));
        assert_eq!(p.loss.as_ref().unwrap().duration, Between::exactly(SimDuration::from_secs(8)));
        assert!(p.per_student);
        let e =
            toml::from_str::<FaultPlan>("within = [\"50s\", \"10s\"]\nloss = { count = 1, rate = 0.1, duration = \"1s\" }").unwrap_err();
        assert!(e.to_string().contains("the low bound is above the high one"), "{e}");
        let e = toml::from_str::<FaultPlan>("within = [\"1s\", \"2s\", \"3s\"]").unwrap_err();
        assert!(e.to_string().contains("got 3 values"), "{e}");
    }

    #[test]
    fn a_plan_that_cannot_be_drawn_is_refused() {
        let p = plan(PLAN);
        assert_eq!(p.check(SimDuration::from_secs(60), 10), Ok(()));
        assert_eq!(p.check(SimDuration::from_secs(40), 10).unwrap_err().0, "within");
        assert_eq!(p.check(SimDuration::from_secs(60), 3).unwrap_err().0, "crashes.nodes");
        let long = plan("within = [\"10s\", \"20s\"]\nloss = { count = 1, rate = 0.1, duration = \"11s\" }");
        assert_eq!(long.check(SimDuration::from_secs(60), 10).unwrap_err().0, "loss.duration");
        let none = plan("within = [\"10s\", \"20s\"]");
        assert!(none.check(SimDuration::from_secs(60), 10).unwrap_err().1.contains("at least one of"));
    }

    #[test]
    fn draws_are_reproducible_within_bounds_and_differ_by_student() {
        let p = plan(PLAN);
        let candidates: Vec<u32> = (4..20).collect();
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..200 {
            let key = schedule_key("crash test", seed, Some("alice"));
            let s = p.draw(&candidates, key);
            assert_eq!(s, p.draw(&candidates, key), "the same key draws the same schedule");
            let crashes = s.iter().filter(|f| matches!(f.kind, DrawnKind::Crash { .. })).count();
            let partitions = s.iter().filter(|f| matches!(f.kind, DrawnKind::Partition { .. })).count();
            let losses = s.iter().filter(|f| matches!(f.kind, DrawnKind::Loss { .. })).count();
            assert!((1..=3).contains(&crashes) && partitions <= 1 && losses == 1, "{s:?}");
            assert!(s.windows(2).all(|w| w[0].at <= w[1].at), "ordered by start");
            for f in &s {
                assert!(f.at >= SimDuration::from_secs(10), "{f:?}");
                assert!(f.at.as_nanos() + f.duration.as_nanos() <= SimDuration::from_secs(50).as_nanos(), "{f:?}");
                match &f.kind {
                    DrawnKind::Crash { nodes, .. } => {
                        assert!((1..=4).contains(&nodes.len()) && nodes.windows(2).all(|w| w[0] < w[1]), "{nodes:?}");
                        assert!(nodes.iter().all(|n| candidates.contains(n)));
                        assert!((2..=10).contains(&(f.duration.as_nanos() / 1_000_000_000)));
                    }
                    DrawnKind::Partition { side } => assert!((3..=6).contains(&side.len()), "{side:?}"),
                    DrawnKind::Loss { rate } => assert!((0.05..=0.2).contains(rate) && f.duration == SimDuration::from_secs(8)),
                }
            }
            seen.insert(format!("{s:?}"));
        }
        assert!(seen.len() > 190, "seeds give different schedules: {} of 200", seen.len());
        let alice = p.draw(&candidates, schedule_key("crash test", 1, Some("alice")));
        let bob = p.draw(&candidates, schedule_key("crash test", 1, Some("bob")));
        assert_ne!(alice, bob);
    }

    #[test]
    fn drawn_faults_are_scenario_faults() {
        let scenario = "duration = \"60s\"\n[[groups]]\nname = \"a\"\ncount = 20\nplugin = \"flood\"\n\n[[faults]]\nat = \"1s\"\nloss = { rate = 0.5 }\n";
        let p = plan(PLAN);
        let drawn = p.draw(&(0..20).collect::<Vec<_>>(), schedule_key("t", 3, None));
        let text = with_faults(scenario, &drawn.iter().map(DrawnFault::to_toml).collect::<Vec<_>>()).unwrap();
        let parsed = crate::scenario::Scenario::parse(&text, "s.toml", std::path::Path::new(".")).unwrap();
        let faults = parsed.faults().unwrap();
        assert_eq!(faults.len(), 1 + drawn.len(), "the scenario's own fault stays first:\n{text}");
        for (f, d) in faults[1..].iter().zip(&drawn) {
            assert_eq!(f.start.as_nanos(), d.at.as_nanos());
            assert_eq!(f.duration.map(|x| x.as_nanos()), Some(d.duration.as_nanos()));
            match (&d.kind, &f.target, &f.kind) {
                (DrawnKind::Crash { nodes, .. }, crate::fault::Target::Nodes(set), crate::fault::FaultKind::Crash { .. }) => {
                    assert_eq!(&set.nodes, nodes)
                }
                (DrawnKind::Partition { side }, _, crate::fault::FaultKind::Partition { sides, .. }) => assert_eq!(&sides[0].nodes, side),
                (DrawnKind::Loss { rate }, _, crate::fault::FaultKind::Loss { rate: r }) => assert_eq!(r, rate),
                other => panic!("{other:?}"),
            }
        }
        let inline = "duration = \"60s\"\nfaults = []\n[[groups]]\nname = \"a\"\ncount = 2\nplugin = \"flood\"\n";
        let one = DrawnFault { at: SimDuration::from_secs(2), duration: SimDuration::from_secs(1), kind: DrawnKind::Loss { rate: 0.0 } };
        let text = with_faults(inline, &[one.to_toml()]).unwrap();
        assert_eq!(crate::scenario::Scenario::parse(&text, "s.toml", std::path::Path::new(".")).unwrap().faults().unwrap().len(), 1);
        assert!(with_faults(scenario, &["[1, 2]".into()]).unwrap_err().contains("is not a table"));
    }

    fn crash(at: u64, nodes: &[u32], secs: u64) -> DrawnFault {
        DrawnFault {
            at: SimDuration::from_secs(at),
            duration: SimDuration::from_secs(secs),
            kind: DrawnKind::Crash { nodes: nodes.to_vec(), recovery: Recovery::KeepState },
        }
    }

    #[test]
    fn shrinking_keeps_only_what_makes_it_fail() {
        // It fails when node 7 is down for at least 2 s.
        let fails = |s: &[DrawnFault]| {
            s.iter()
                .any(|f| matches!(&f.kind, DrawnKind::Crash { nodes, .. } if nodes.contains(&7)) && f.duration >= SimDuration::from_secs(2))
        };
        let schedule = vec![
            crash(10, &[1, 2], 5),
            DrawnFault { at: SimDuration::from_secs(12), duration: SimDuration::from_secs(9), kind: DrawnKind::Loss { rate: 0.2 } },
            crash(15, &[3, 7, 9, 11], 16),
            crash(20, &[4], 3),
            DrawnFault {
                at: SimDuration::from_secs(25),
                duration: SimDuration::from_secs(5),
                kind: DrawnKind::Partition { side: vec![5, 6] },
            },
        ];
        assert!(fails(&schedule));
        let mut asked = 0;
        let shrunk = shrink(&schedule, 100, |s| {
            asked += 1;
            fails(s)
        });
        assert_eq!(shrunk.runs, asked);
        assert!(!shrunk.budget_exhausted);
        assert_eq!(shrunk.faults.len(), 1, "{shrunk:?}");
        let f = &shrunk.faults[0];
        assert_eq!(f.kind, DrawnKind::Crash { nodes: vec![7], recovery: Recovery::KeepState });
        assert!(f.duration >= SimDuration::from_secs(2) && f.duration < SimDuration::from_secs(4), "{f:?}");
        assert!(fails(&shrunk.faults));
    }

    #[test]
    fn shrinking_says_when_no_fault_is_needed_and_stays_within_its_budget() {
        let schedule = vec![crash(10, &[1, 2], 5), crash(20, &[3], 5)];
        let shrunk = shrink(&schedule, 10, |_| true);
        assert_eq!((shrunk.faults.len(), shrunk.runs), (0, 1));
        // A budget too small to finish: what it returns still fails.
        let needs_both = |s: &[DrawnFault]| s.len() == 2;
        let shrunk = shrink(&schedule, 2, needs_both);
        assert!(shrunk.budget_exhausted && shrunk.runs == 2);
        assert!(needs_both(&shrunk.faults));
        let nothing = shrink(&schedule, 0, |_| unreachable!("no budget, no runs"));
        assert_eq!((nothing.faults, nothing.runs, nothing.budget_exhausted), (schedule, 0, true));
    }
}
