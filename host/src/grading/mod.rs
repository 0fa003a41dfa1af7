//! Autograding: a submitted `.wasm` peer run through an assignment's
//! suite, scored by checks the host computes from global knowledge.
//!
//! A [`Suite`] (see [`suite`] for the file) is a list of tests, each a
//! scenario, its seeds and its [`Check`]s. [`Grader::grade`] runs every
//! test on every seed with the submission in the suite's groups (and, for
//! checks relative to the reference, the reference on the same seed, once
//! per grader), and returns a [`Grade`]: scores, and for every failed seed
//! what was expected, what happened, the first wrong answer or crash with
//! the events that show it, and the command that replays it. [`report`]
//! writes it in Gradescope's and PrairieLearn's formats.
//!
//! The submission can only lose points, never fail the grader: a file that
//! is not a component, targets the wrong world, traps, loops, exhausts its
//! memory or floods gets a zero for what it broke, with the reason, and a
//! valid results file. It sees only its own nodes' inputs: the suite, the
//! reference and other files are out of its reach (its sandbox has no
//! files), and what it prints goes to the event log, not to the results.
//!
//! ```no_run
//! use peershare::grading::{Grader, Suite};
//! let suite = Suite::load("examples/assignments/kademlia-lookups/suite.toml".as_ref())?;
//! let grader = Grader::new(suite, 2);
//! let grade = grader.grade("submission/peer.wasm".as_ref());
//! println!("{} / {}", grade.score, grade.max_score);
//! # Ok::<(), peershare::error::FileError>(())
//! ```

pub mod batch;
pub mod check;
pub mod invariant;
pub mod platform;
pub mod report;
pub mod run;
pub mod schedule;
pub mod suite;

pub use check::{Check, CheckResult, Observed};
pub use invariant::Invariant;
pub use suite::{Suite, TestCase, Visibility};

use run::RunEnd;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// How one seed of a test fared.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SeedGrade {
    /// The seed.
    pub seed: u64,
    /// Whether every check held.
    pub passed: bool,
    /// Why the grader stopped the run (too slow, too many events), if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// A failure that was not the submission's doing (the suite, the simulator).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Every check, in the suite's order (empty if the run did not finish).
    pub checks: Vec<CheckResult>,
    /// The faults drawn for this seed (scenario `[[faults]]` entries), if
    /// the test draws them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<String>,
    /// The smallest schedule found that still fails, if the seed failed
    /// under drawn faults.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shrunk: Option<ShrunkSchedule>,
    /// The command that replays this run locally.
    pub replay: String,
}

/// A failing schedule made smaller: the faults that still make the seed fail.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ShrunkSchedule {
    /// The faults (empty: the seed fails without any).
    pub faults: Vec<String>,
    /// Runs spent looking.
    pub runs: u32,
    /// Whether the budget ran out before nothing smaller failed.
    pub budget_exhausted: bool,
    /// The command that replays the run with these faults.
    pub replay: String,
}

/// How a test ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TestStatus {
    /// Every seed passed.
    Passed,
    /// A seed failed.
    Failed,
    /// The grader could not judge it (the suite or the simulator failed).
    Error,
}

/// How one test fared.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TestGrade {
    /// Its name.
    pub name: String,
    /// What it is about.
    pub description: String,
    /// Who sees it.
    pub visibility: Visibility,
    /// Points earned.
    pub score: f64,
    /// Points possible.
    pub max_score: f64,
    /// How it ended.
    pub status: TestStatus,
    /// Every seed.
    pub seeds: Vec<SeedGrade>,
}

/// A submission's grade.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Grade {
    /// The suite's name.
    pub suite: String,
    /// The submission's file name.
    pub submission: String,
    /// The student, if the grader was told (it seeds per-student fault schedules).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub student: Option<String>,
    /// Points earned.
    pub score: f64,
    /// Points possible.
    pub max_score: f64,
    /// Why the submission could not run at all (not a component, the
    /// wrong world, too large): every test scores 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected: Option<String>,
    /// Every test, in the suite's order.
    pub tests: Vec<TestGrade>,
    /// Failures that were not the submission's doing, for the instructor.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// The reference's runs, by test, seed and added faults, each made once.
type ReferenceRuns = Mutex<BTreeMap<(usize, u64, Vec<String>), Arc<OnceLock<RunEnd>>>>;

/// Grades submissions against one suite. The reference runs of relative
/// checks are made once per grader and shared by every submission it grades.
pub struct Grader {
    suite: Suite,
    jobs: usize,
    references: ReferenceRuns,
}

impl Grader {
    /// A grader of `suite` running `jobs` runs at a time (at least 1).
    pub fn new(suite: Suite, jobs: usize) -> Grader {
        Grader { suite, jobs: jobs.max(1), references: Mutex::new(BTreeMap::new()) }
    }

    /// The suite.
    pub fn suite(&self) -> &Suite {
        &self.suite
    }

    /// Grades the submission at `path`. Never fails: whatever is wrong
    /// with the file is in the grade.
    pub fn grade(&self, path: &Path) -> Grade {
        self.grade_as(path, None)
    }

    /// Grades the submission at `path` by `student`, whose name seeds the
    /// tests' random fault schedules (those with `per_student`), so each
    /// student meets their own.
    pub fn grade_as(&self, path: &Path, student: Option<&str>) -> Grade {
        let suite = &self.suite;
        let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        let mut grade = Grade {
            suite: suite.name.clone(),
            submission: name.clone(),
            student: student.map(str::to_string),
            score: 0.0,
            max_score: suite.max_score(),
            rejected: None,
            tests: Vec::new(),
            errors: Vec::new(),
        };
        let plugin = match admit(path, suite) {
            Ok(p) => p,
            Err(reason) => {
                grade.tests = suite.tests.iter().map(|t| rejected_test(t, &reason)).collect();
                grade.rejected = Some(reason);
                return grade;
            }
        };
        let work: Vec<(usize, u64)> = suite.tests.iter().enumerate().flat_map(|(i, t)| t.seeds.iter().map(move |&s| (i, s))).collect();
        let results: Mutex<BTreeMap<(usize, u64), SeedGrade>> = Mutex::new(BTreeMap::new());
        let next = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..self.jobs.min(work.len()) {
                scope.spawn(|| {
                    while let Some(&(i, seed)) = work.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let seed_grade = self.grade_seed(i, seed, &plugin, &name, student);
                        results.lock().unwrap_or_else(|e| e.into_inner()).insert((i, seed), seed_grade);
                    }
                });
            }
        });
        let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
        for (i, t) in suite.tests.iter().enumerate() {
            let seeds: Vec<SeedGrade> = t.seeds.iter().map(|s| results.remove(&(i, *s)).expect("every seed was graded")).collect();
            for s in &seeds {
                if let Some(e) = &s.error {
                    grade.errors.push(format!("test {:?}, seed {}: {e}", t.name, s.seed));
                }
            }
            let passed = seeds.iter().filter(|s| s.passed).count();
            let status = if seeds.iter().any(|s| s.error.is_some()) {
                TestStatus::Error
            } else if passed == seeds.len() {
                TestStatus::Passed
            } else {
                TestStatus::Failed
            };
            let share = if t.partial_credit { passed as f64 / seeds.len() as f64 } else { f64::from(u8::from(passed == seeds.len())) };
            let score = t.points * share;
            grade.score += score;
            grade.tests.push(TestGrade {
                name: t.name.clone(),
                description: t.description.clone(),
                visibility: t.visibility,
                score,
                max_score: t.points,
                status,
                seeds,
            });
        }
        grade
    }

    /// The grade of a submission that cannot be run at all, for `reason`.
    pub fn reject(&self, submission: &str, reason: &str) -> Grade {
        let suite = &self.suite;
        Grade {
            suite: suite.name.clone(),
            submission: submission.to_string(),
            student: None,
            score: 0.0,
            max_score: suite.max_score(),
            rejected: Some(reason.to_string()),
            tests: suite.tests.iter().map(|t| rejected_test(t, reason)).collect(),
            errors: Vec::new(),
        }
    }

    fn reference(&self, test: usize, seed: u64, faults: &[String]) -> Arc<OnceLock<RunEnd>> {
        let key = (test, seed, faults.to_vec());
        let cell = self.references.lock().unwrap_or_else(|e| e.into_inner()).entry(key).or_default().clone();
        cell.get_or_init(|| run::run(&self.suite, &self.suite.tests[test], seed, None, faults));
        cell
    }

    /// The faults test `i` draws for `seed` and `student`.
    fn schedule(&self, i: usize, seed: u64, student: Option<&str>) -> Vec<schedule::DrawnFault> {
        let test = &self.suite.tests[i];
        let Some(random) = &test.random_faults else { return Vec::new() };
        let student = student.filter(|_| random.plan.per_student);
        random.plan.draw(&random.candidates, schedule::schedule_key(&test.name, seed, student))
    }

    /// Test `i` on `seed` with `faults` added: the verdict, or why none.
    fn judge(&self, i: usize, seed: u64, plugin: &str, faults: &[String]) -> Judged {
        let test = &self.suite.tests[i];
        let reference = test.needs_reference().then(|| self.reference(i, seed, faults));
        let reference = match reference.as_ref().map(|r| r.get().expect("initialised")) {
            None => None,
            Some(RunEnd::Finished(o)) => Some(o.as_ref()),
            Some(RunEnd::Stopped(why) | RunEnd::Failed(why)) => {
                return Judged::Error(format!("the reference run failed, so this test cannot be judged (the suite needs fixing): {why}"));
            }
        };
        match run::run(&self.suite, test, seed, Some(plugin), faults) {
            RunEnd::Finished(observed) => Judged::Checked(test.checks.iter().map(|c| check::evaluate(c, &observed, reference)).collect()),
            RunEnd::Stopped(why) => Judged::Stopped(why),
            RunEnd::Failed(why) => Judged::Error(why),
        }
    }

    fn grade_seed(&self, i: usize, seed: u64, plugin: &str, file_name: &str, student: Option<&str>) -> SeedGrade {
        let test = &self.suite.tests[i];
        let drawn = self.schedule(i, seed, student);
        let faults: Vec<String> = drawn.iter().map(schedule::DrawnFault::to_toml).collect();
        let replay = replay_command(&self.suite, test, seed, &faults, file_name);
        let mut grade = SeedGrade { seed, passed: false, stopped: None, error: None, checks: Vec::new(), faults, shrunk: None, replay };
        let judged = self.judge(i, seed, plugin, &grade.faults);
        match &judged {
            Judged::Checked(checks) => {
                grade.checks = checks.clone();
                grade.passed = checks.iter().all(|c| c.passed);
            }
            Judged::Stopped(why) => grade.stopped = Some(why.clone()),
            Judged::Error(why) => {
                grade.error = Some(why.clone());
                return grade;
            }
        }
        if !grade.passed && !drawn.is_empty() && self.suite.shrink_runs > 0 {
            let failure = judged.failure();
            let shrunk = schedule::shrink(&drawn, self.suite.shrink_runs, |candidate| {
                let faults: Vec<String> = candidate.iter().map(schedule::DrawnFault::to_toml).collect();
                self.judge(i, seed, plugin, &faults).failure() == failure
            });
            let faults: Vec<String> = shrunk.faults.iter().map(schedule::DrawnFault::to_toml).collect();
            let replay = replay_command(&self.suite, test, seed, &faults, file_name);
            grade.shrunk = Some(ShrunkSchedule { faults, runs: shrunk.runs, budget_exhausted: shrunk.budget_exhausted, replay });
        }
        grade
    }
}

/// What one run of a test said.
enum Judged {
    /// It finished; every check's result.
    Checked(Vec<CheckResult>),
    /// The grader stopped it.
    Stopped(String),
    /// It could not be judged.
    Error(String),
}

/// How a run failed, for shrinking to keep the same failure.
#[derive(PartialEq)]
enum Failure {
    /// It passed (or could not be judged).
    None,
    /// This check (by position) was the first to fail.
    Check(usize),
    /// The grader stopped it.
    Stopped,
}

impl Judged {
    fn failure(&self) -> Failure {
        match self {
            Judged::Checked(checks) => checks.iter().position(|c| !c.passed).map_or(Failure::None, Failure::Check),
            Judged::Stopped(_) => Failure::Stopped,
            Judged::Error(_) => Failure::None,
        }
    }
}

/// The grade of a test when the submission cannot run at all.
fn rejected_test(t: &TestCase, reason: &str) -> TestGrade {
    let seeds = t
        .seeds
        .iter()
        .map(|&seed| SeedGrade {
            seed,
            passed: false,
            stopped: Some(format!("not run: {reason}")),
            error: None,
            checks: Vec::new(),
            faults: Vec::new(),
            shrunk: None,
            replay: String::new(),
        })
        .collect();
    TestGrade {
        name: t.name.clone(),
        description: t.description.clone(),
        visibility: t.visibility,
        score: 0.0,
        max_score: t.points,
        status: TestStatus::Failed,
        seeds,
    }
}

/// Checks that the file at `path` is a peer the suite can run, before any
/// test: its size, that it is a component, that it loads (the right world)
/// and exports what the reference exports. Returns its absolute path.
fn admit(path: &Path, suite: &Suite) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read the submission {}: {e}", path.display()))?;
    if meta.is_dir() {
        return Err(format!("{} is a folder: submit the compiled .wasm file", path.display()));
    }
    let limit = suite.containment.max_submission_bytes;
    if meta.len() == 0 {
        return Err("the submitted file is empty: submit the .wasm file that `cargo build --release --target wasm32-wasip2` writes".into());
    }
    if meta.len() > limit {
        return Err(format!("the submitted file has {} bytes; this assignment accepts at most {limit}", meta.len()));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read the submission {}: {e}", path.display()))?;
    if !bytes.starts_with(b"\0asm") {
        return Err("the submitted file is not WebAssembly (it does not start with \\0asm): submit the .wasm file your build writes".into());
    }
    if bytes.get(4..8) == Some(&[1, 0, 0, 0]) {
        return Err("the submitted file is a core WebAssembly module, not a component: build it with `--target wasm32-wasip2`".into());
    }
    let plugin = crate::wasm::Plugin::load(path).map_err(|e| run_one_line(&e.to_string()))?;
    if let Some(reference) = &suite.reference {
        let r = if reference.ends_with(".wasm") {
            crate::wasm::Plugin::load(Path::new(reference))
        } else {
            crate::wasm::Plugin::builtin(reference)
        };
        if let Ok(r) = r {
            for interface in ["routing", "discovery", "consensus", "observable"] {
                if r.exports(interface) && !plugin.exports(interface) {
                    return Err(format!(
                        "your peer does not export the `{interface}` interface, which this assignment needs: build it for the world the assignment names (see its README)"
                    ));
                }
            }
        }
    }
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    Ok(absolute.display().to_string())
}

fn run_one_line(text: &str) -> String {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

/// `peershare run SCENARIO --seed N --set PATH=VALUE… --fault FAULT… --plugin GROUP=FILE`:
/// the run as the grader made it, with the student's file.
fn replay_command(suite: &Suite, test: &TestCase, seed: u64, faults: &[String], file_name: &str) -> String {
    let mut words = vec!["peershare".to_string(), "run".into(), shell_word(&test.scenario_as_written), "--seed".into(), seed.to_string()];
    for e in suite.edits_for(test, None) {
        words.push("--set".into());
        words.push(shell_word(&format!("{}={}", e.path, e.value)));
    }
    for f in faults {
        words.push("--fault".into());
        words.push(shell_word(f));
    }
    for g in &suite.groups {
        words.push("--plugin".into());
        words.push(shell_word(&if g == "*" { file_name.to_string() } else { format!("{g}={file_name}") }));
    }
    words.join(" ")
}

/// `word` quoted for a POSIX shell if it needs it.
fn shell_word(word: &str) -> String {
    if !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+".contains(c)) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}
