//! Experiments: many runs of one scenario over seeds and factors, their
//! metrics, and statistics that compare the variants.
//!
//! An [`Experiment`] (from a file, see [`file`], or
//! [`Experiment::plugins_head_to_head`]) is a grid of [`Variant`]s, each
//! run on the same seeds. Its unit of work is a [`RunSpec`]: one variant on
//! one seed, small and serialisable, so that runs can be spread over
//! threads here and over machines later. [`run`] carries out the runs not
//! yet done in the output folder (one file per run under `runs/`, written
//! as soon as the run ends: an interrupted experiment resumes where it
//! stopped), [`analysis::Analysis`] computes the statistics, and
//! [`output`] writes the tables, the report and the plots.
//!
//! ```no_run
//! use peershare::experiment::{self, Experiment, RunOptions};
//! let exp = Experiment::load("examples/experiments/kademlia-k.toml".as_ref())?;
//! let results = experiment::run(&exp, "results".as_ref(), &RunOptions::default(), &mut |_| {})?;
//! let analysis = results.analyse();
//! for c in &analysis.comparisons {
//!     println!("{}", c.verdict);
//! }
//! # Ok::<(), peershare::experiment::ExperimentError>(())
//! ```
//!
//! ## Common random numbers
//! Every variant runs on the same seeds, and a seed fixes, for every
//! variant alike: the node ids, the bootstrap contacts, the workload (which
//! node issues which operation on which key, when), the fault schedule and
//! the network's draws, which are keyed by link and by message number on
//! that link (see [`crate::rng`]). What cannot be shared is what depends on
//! the variant's own behaviour: the draws a plugin makes from its own
//! stream, and everything downstream of a message only one variant sends.
//! Comparisons are therefore paired by seed.

pub mod analysis;
pub mod consensus;
pub mod expr;
pub mod file;
pub mod metrics;
pub mod output;
pub mod process;
pub mod stats;

pub use analysis::Analysis;
pub use file::{Experiment, ExperimentError, Override, Variant};

use metrics::{Metric, Values};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// One run: a variant of the base scenario on one seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// The base scenario file.
    pub scenario: PathBuf,
    /// The variant's label.
    pub variant: String,
    /// The variant's level of every factor, in order.
    pub levels: Vec<(String, String)>,
    /// The edits that make the variant's scenario.
    pub overrides: Vec<Override>,
    /// The seed.
    pub seed: u64,
    /// The wall-clock limit, in seconds.
    pub timeout_s: f64,
    /// The derived metrics to compute after the standard ones, in order.
    #[serde(default)]
    pub derived: Vec<Formula>,
    /// A digest of the inputs (scenario text, plugin files, PeerShare's
    /// version): a result computed from other inputs is not reused.
    pub inputs: String,
}

/// A derived metric as a run computes it: a name and a formula over the
/// run's metrics, its numeric factor levels and summary.json's numbers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Formula {
    /// The metric's name.
    pub name: String,
    /// Its formula.
    pub expr: expr::Expr,
}

impl RunSpec {
    /// The run's file name under `runs/`: its variant, seed and a digest
    /// of the whole spec.
    pub fn file_name(&self) -> String {
        use sha2::{Digest, Sha256};
        let json = serde_json::to_string(self).expect("a spec serialises");
        let digest = Sha256::digest(json.as_bytes());
        let slug: String = self.variant.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '-' }).collect();
        let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        format!("{slug}--seed-{}--{hex}.json", self.seed)
    }
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum RunStatus {
    /// It ran to the scenario's end.
    Ok,
    /// The framework failed (bad scenario, plugin that does not load, a
    /// panic, the wall-clock limit): no metrics. Failures inside simulated
    /// nodes are not failures of the run.
    Failed {
        /// Why, in one line.
        reason: String,
    },
}

/// What one run produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// The run.
    pub spec: RunSpec,
    /// How it ended.
    #[serde(flatten)]
    pub status: RunStatus,
    /// Its metrics (empty if it failed).
    pub metrics: Values,
    /// Wall-clock seconds it took, the only figure that is not
    /// reproducible (kept out of every table).
    pub wall_s: f64,
    /// Wall-clock seconds of those spent computing the metrics.
    pub metrics_wall_s: f64,
}

impl RunResult {
    /// Whether the run ended normally.
    pub fn is_ok(&self) -> bool {
        self.status == RunStatus::Ok
    }
}

/// How to carry out an experiment.
#[derive(Clone)]
pub struct RunOptions {
    /// Runs at the same time; at least 1.
    pub jobs: usize,
    /// Metrics computed besides the standard ones (only with
    /// [`Isolation::Threads`]: they are Rust values of this process).
    pub metrics: Vec<Arc<dyn Metric>>,
    /// Where the runs are carried out.
    pub isolation: Isolation,
    /// Set to `true` (by another thread, or by the progress callback) to
    /// stop: no further run starts, the runs under way finish and are
    /// saved, and [`run`] returns [`ExperimentError::Interrupted`]; running
    /// again resumes.
    pub stop: Option<Arc<std::sync::atomic::AtomicBool>>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { jobs: 1, metrics: Vec::new(), isolation: Isolation::Threads, stop: None }
    }
}

/// Where the runs of an experiment are carried out.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Isolation {
    /// On threads of this process: the fastest. A failure that ends the
    /// whole process (out of memory, a stack overflow in the host) ends
    /// the experiment; the runs finished so far are kept.
    #[default]
    Threads,
    /// Each run in a process of its own, `program run-spec -` (the
    /// `peershare` binary; see [`process`]): a run that ends its process
    /// is a failed run and the others go on, and a run that hangs is
    /// stopped. Costs a process start and the plugins' compilation per run.
    Processes {
        /// The `peershare` executable.
        program: PathBuf,
    },
}

/// Where an experiment stands, for progress displays.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    /// Runs in the experiment.
    pub total: usize,
    /// Runs finished in an earlier invocation and reused.
    pub reused: usize,
    /// Runs finished now (including failed ones).
    pub done: usize,
    /// Of those, the failed ones.
    pub failed: usize,
    /// The run that just finished, if any.
    pub last: Option<RunResult>,
}

/// Every run of an experiment, in the experiment's order (variant by
/// variant, seed by seed).
#[derive(Clone, Debug)]
pub struct Results {
    /// The experiment.
    pub experiment: Experiment,
    /// One result per run.
    pub runs: Vec<RunResult>,
}

impl Results {
    /// Reads the results of `experiment` that an earlier [`run`] wrote
    /// into `dir`, without running anything: for analysing, plotting or
    /// loading into a notebook later. Failed runs are results too; a run
    /// with no result file (or one computed from other inputs) is an
    /// error that says how many are missing.
    ///
    /// ```no_run
    /// use peershare::experiment::{Experiment, Results};
    /// let exp = Experiment::load("examples/experiments/gossip-loss.toml".as_ref())?;
    /// let results = Results::load(&exp, "gossip-out".as_ref())?;
    /// println!("{} runs, {} failed", results.runs.len(), results.runs.iter().filter(|r| !r.is_ok()).count());
    /// # Ok::<(), peershare::experiment::ExperimentError>(())
    /// ```
    pub fn load(experiment: &Experiment, dir: &Path) -> Result<Results, ExperimentError> {
        let runs_dir = dir.join("runs");
        let specs = experiment.runs();
        let found: Vec<Option<RunResult>> = specs.iter().map(|s| read_result(&runs_dir, s)).collect();
        let missing: Vec<&RunSpec> = specs.iter().zip(&found).filter(|(_, r)| r.is_none()).map(|(s, _)| s).collect();
        if let Some(first) = missing.first() {
            return Err(ExperimentError::Incomplete {
                path: runs_dir.display().to_string(),
                missing: missing.len(),
                total: specs.len(),
                first: format!("{}, seed {}", first.variant, first.seed),
            });
        }
        Ok(Results { experiment: experiment.clone(), runs: found.into_iter().flatten().collect() })
    }

    /// The statistics of these results.
    pub fn analyse(&self) -> Analysis {
        Analysis::of(self)
    }
}

/// Runs every run of `experiment` whose result is not already in
/// `out/runs/`, `options.jobs` at a time, writing each result as it ends;
/// `progress` hears of every run. Returns all the results, reused and new.
/// Only a failure to write results is an error: failed runs are results.
pub fn run(
    experiment: &Experiment,
    out: &Path,
    options: &RunOptions,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Results, ExperimentError> {
    if options.isolation != Isolation::Threads && !options.metrics.is_empty() {
        return Err(ExperimentError::Unsupported {
            message: "custom metrics (RunOptions::metrics) are computed only with Isolation::Threads; use derived metrics in the experiment file, or threads".into(),
        });
    }
    let dir = out.join("runs");
    std::fs::create_dir_all(&dir).map_err(|source| ExperimentError::Write { path: dir.display().to_string(), source })?;
    let specs = experiment.runs();
    let mut results: Vec<Option<RunResult>> = specs.iter().map(|s| reuse(&dir, s)).collect();
    let pending: Vec<usize> = (0..specs.len()).filter(|&i| results[i].is_none()).collect();
    let mut state = Progress { total: specs.len(), reused: specs.len() - pending.len(), ..Progress::default() };
    progress(&state);
    let next = AtomicUsize::new(0);
    let (tx, rx) = std::sync::mpsc::channel::<(usize, RunResult)>();
    let mut write_error = None;
    std::thread::scope(|scope| {
        for _ in 0..options.jobs.max(1).min(pending.len()) {
            let tx = tx.clone();
            let (next, pending, specs) = (&next, &pending, &specs);
            scope.spawn(move || {
                loop {
                    if options.stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) {
                        break;
                    }
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&i) = pending.get(k) else { break };
                    let result = match &options.isolation {
                        Isolation::Threads => run_one(&specs[i], &options.metrics),
                        Isolation::Processes { program } => process::run_in_child(program, &specs[i]),
                    };
                    if tx.send((i, result)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for (i, result) in rx {
            if write_error.is_none()
                && let Err(e) = save(&dir, &result)
            {
                write_error = Some(e);
                // Stop handing out work; runs in progress finish.
                next.store(usize::MAX / 2, Ordering::Relaxed);
            }
            state.done += 1;
            state.failed += usize::from(!result.is_ok());
            state.last = Some(result.clone());
            results[i] = Some(result);
            progress(&state);
        }
    });
    if let Some(e) = write_error {
        return Err(e);
    }
    if results.iter().any(Option::is_none) {
        let done = results.iter().filter(|r| r.is_some()).count();
        return Err(ExperimentError::Interrupted { done, total: specs.len(), path: dir.display().to_string() });
    }
    Ok(Results { experiment: experiment.clone(), runs: results.into_iter().map(|r| r.expect("every run ran or was reused")).collect() })
}

/// The result of `spec` in `dir`, if there is one for exactly this spec.
fn read_result(dir: &Path, spec: &RunSpec) -> Option<RunResult> {
    let text = std::fs::read_to_string(dir.join(spec.file_name())).ok()?;
    let result: RunResult = serde_json::from_str(&text).ok()?;
    (result.spec == *spec).then_some(result)
}

/// A finished, successful result of `spec` from an earlier invocation
/// (failed runs are run again).
fn reuse(dir: &Path, spec: &RunSpec) -> Option<RunResult> {
    read_result(dir, spec).filter(RunResult::is_ok)
}

fn save(dir: &Path, result: &RunResult) -> Result<(), ExperimentError> {
    let path = dir.join(result.spec.file_name());
    let json = serde_json::to_string_pretty(result).expect("a result serialises") + "\n";
    // Written whole, then renamed: an interrupted write leaves no half file.
    let partial = path.with_extension("json.partial");
    std::fs::write(&partial, json)
        .and_then(|()| std::fs::rename(&partial, &path))
        .map_err(|source| ExperimentError::Write { path: path.display().to_string(), source })
}

/// Carries out one run: the variant's scenario on the spec's seed, to its
/// end or the wall-clock limit, then its metrics. Never panics: every
/// failure (including a panic inside the framework) is a failed result.
pub fn run_one(spec: &RunSpec, extra: &[Arc<dyn Metric>]) -> RunResult {
    let started = Instant::now();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| simulate(spec, started, extra)));
    let (status, metrics, metrics_wall_s) = match outcome {
        Ok(Ok((metrics, secs))) => (RunStatus::Ok, metrics, secs),
        Ok(Err(reason)) => (RunStatus::Failed { reason: one_line(&reason) }, Values::new(), 0.0),
        Err(panic) => {
            let text = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            (RunStatus::Failed { reason: one_line(&format!("the framework panicked: {text}")) }, Values::new(), 0.0)
        }
    };
    RunResult { spec: spec.clone(), status, metrics, wall_s: started.elapsed().as_secs_f64(), metrics_wall_s }
}

/// Every number in `json`, named by its dotted path under `prefix`.
fn flatten_numbers(prefix: &str, json: &serde_json::Value, out: &mut Values) {
    match json {
        serde_json::Value::Number(n) => {
            if let Some(x) = n.as_f64() {
                out.insert(prefix.to_string(), x);
            }
        }
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                flatten_numbers(&format!("{prefix}.{k}"), v, out);
            }
        }
        _ => {}
    }
}

/// A multi-line explanation (wasmtime's, say) as one line for tables.
fn one_line(text: &str) -> String {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

fn simulate(spec: &RunSpec, started: Instant, extra: &[Arc<dyn Metric>]) -> Result<(Values, f64), String> {
    let derived = &spec.derived;
    let text = std::fs::read_to_string(&spec.scenario).map_err(|e| format!("cannot read {}: {e}", spec.scenario.display()))?;
    let scenario = file::variant_scenario(&spec.scenario, &text, &spec.overrides).map_err(|e| e.to_string())?.with_seed(spec.seed);
    let mut sim = scenario.builder().map_err(|e| e.to_string())?.capture(true).build().map_err(|e| e.to_string())?;
    let end = scenario.end();
    let limit = std::time::Duration::from_secs_f64(spec.timeout_s.max(0.0));
    // The wall clock is read between slices of virtual time only; it
    // decides whether a run is abandoned, never what a run computes.
    const SLICES: u64 = 1000;
    for step in 1..=SLICES {
        let t = if step == SLICES { end } else { crate::time::SimTime(end.as_nanos() / SLICES * step) };
        sim.run_until(t).map_err(|e| e.to_string())?;
        if started.elapsed() > limit {
            return Err(format!(
                "timed out: {:.0} s of wall-clock time (run_timeout) reached at {t} of {end} of virtual time",
                limit.as_secs_f64()
            ));
        }
    }
    let measuring = Instant::now();
    let mut values = metrics::standard(&sim);
    for m in extra {
        m.measure(&sim, &mut values);
    }
    // Derived metrics see the metrics so far, the variant's numeric factor
    // levels (`0.5 * log2(N)`) and every number of summary.json
    // (`summary.messages.by_kind.PING.sent`).
    let levels: Vec<(&str, f64)> = spec.levels.iter().filter_map(|(n, l)| Some((n.as_str(), l.parse::<f64>().ok()?))).collect();
    let mut context = Values::new();
    if !derived.is_empty() {
        let summary = serde_json::to_value(sim.summary()).expect("a summary serialises");
        flatten_numbers("summary", &summary, &mut context);
    }
    for (name, level) in &levels {
        context.insert(name.to_string(), *level);
    }
    for d in derived {
        let mut scope = values.clone();
        for (name, v) in &context {
            scope.entry(name.clone()).or_insert(*v);
        }
        if let Some(v) = d.expr.eval(&scope) {
            values.insert(d.name.clone(), v);
        }
    }
    values.retain(|_, v| v.is_finite());
    Ok((values, measuring.elapsed().as_secs_f64()))
}

/// A digest of what a run's result depends on besides its spec: the
/// scenario's text, the plugin files it may use (built-in and named
/// `.wasm` files) and PeerShare's version.
pub(crate) fn inputs_digest(scenario_text: &str, plugin_files: &[PathBuf]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update(scenario_text.as_bytes());
    for name in crate::builtin::names() {
        h.update(name.as_bytes());
        h.update(crate::builtin::bytes(name).unwrap_or_default());
    }
    for p in plugin_files {
        h.update(p.display().to_string().as_bytes());
        h.update(std::fs::read(p).unwrap_or_default());
    }
    h.finalize()[..8].iter().map(|b| format!("{b:02x}")).collect()
}
