//! A class's submissions graded together: one results file each, a class
//! table and a short class report.
//!
//! A submissions folder holds one entry per student: a `.wasm` file (the
//! student is the file's stem) or a folder with exactly one `.wasm` file
//! in it, at any depth (the student is the folder's name), as Gradescope
//! and most LMS exports lay them out.

use super::check::number;
use super::report::Format;
use super::{Grade, Grader, TestStatus};
use crate::error::FileError;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One student's submission: their name and their file, or why there is
/// no single file to grade.
#[derive(Clone, Debug, PartialEq)]
pub struct Submission {
    /// The student (the entry's name).
    pub student: String,
    /// The `.wasm` file, or why the entry has none to grade.
    pub file: Result<PathBuf, String>,
}

/// The submissions in `dir`, by student name.
pub fn submissions(dir: &Path) -> Result<Vec<Submission>, FileError> {
    let read = |d: &Path| std::fs::read_dir(d).map_err(|source| FileError::Read { path: d.display().to_string(), source });
    let mut out = Vec::new();
    for entry in read(dir)? {
        let entry = entry.map_err(|source| FileError::Read { path: dir.display().to_string(), source })?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            out.push(Submission { student: name, file: one_wasm_in(&path) });
        } else if path.extension().is_some_and(|e| e == "wasm") {
            let student = path.file_stem().map_or(name.clone(), |s| s.to_string_lossy().into_owned());
            out.push(Submission { student, file: Ok(path) });
        }
    }
    out.sort_by(|a, b| a.student.cmp(&b.student));
    Ok(out)
}

/// The one `.wasm` file under `dir` (a student's submission folder, as
/// Gradescope's `/autograder/submission`), or why there is not exactly one.
pub fn one_wasm_in(dir: &Path) -> Result<PathBuf, String> {
    let mut found = Vec::new();
    wasm_files(dir, &mut found);
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err("the submission has no .wasm file: submit the file your build writes (target/wasm32-wasip2/release/*.wasm)".to_string()),
        n => Err(format!(
            "the submission has {n} .wasm files ({}): submit exactly one",
            found.iter().filter_map(|f| f.strip_prefix(dir).ok()).map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// Every `.wasm` file under `dir`, sorted.
fn wasm_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            wasm_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "wasm") {
            out.push(p);
        }
    }
}

/// Grades every submission, `jobs` at a time, in student order, each as
/// its student (which seeds per-student fault schedules); `done` hears of
/// each as it ends.
pub fn grade_all(grader: &Grader, submissions: &[Submission], jobs: usize, done: &(dyn Fn(&str, &Grade) + Sync)) -> Vec<(String, Grade)> {
    let results: Mutex<Vec<Option<Grade>>> = Mutex::new(vec![None; submissions.len()]);
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1).min(submissions.len()) {
            scope.spawn(|| {
                while let Some(i) = Some(next.fetch_add(1, Ordering::Relaxed)).filter(|&i| i < submissions.len()) {
                    let s = &submissions[i];
                    let grade = match &s.file {
                        Ok(file) => grader.grade_as(file, Some(&s.student)),
                        Err(reason) => grader.reject(&s.student, reason),
                    };
                    done(&s.student, &grade);
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(grade);
                }
            });
        }
    });
    let grades = results.into_inner().unwrap_or_else(|e| e.into_inner());
    submissions.iter().zip(grades).map(|(s, g)| (s.student.clone(), g.expect("every submission was graded"))).collect()
}

/// The first reason a test failed, in one line (empty if it passed).
fn failure_reason(test: &super::TestGrade) -> String {
    for s in test.seeds.iter().filter(|s| !s.passed) {
        if let Some(e) = s.error.as_ref().or(s.stopped.as_ref()) {
            return format!("seed {}: {e}", s.seed);
        }
        if let Some(c) = s.checks.iter().find(|c| !c.passed) {
            return format!("seed {}: expected {}; got {}", s.seed, c.expected, c.got);
        }
    }
    String::new()
}

/// Writes, under `out`: every student's files in `<student>/` (see
/// [`super::report::write_files`]: `results.json` in `format`,
/// `grade.json`, `report.txt`, ShiViz logs of wrong answers); `class.csv` (student, test, points, max_points, status,
/// reason); `class-report.md`; and the plots `scores.vl.json` and
/// `pass-rates.vl.json`.
pub fn write_class(out: &Path, grades: &[(String, Grade)], format: Format) -> Result<(), FileError> {
    let write = |path: PathBuf, text: String| {
        std::fs::write(&path, text).map_err(|source| FileError::Write { path: path.display().to_string(), source })
    };
    let mkdir = |path: &Path| std::fs::create_dir_all(path).map_err(|source| FileError::Write { path: path.display().to_string(), source });
    mkdir(out)?;
    for (student, grade) in grades {
        super::report::write_files(&out.join(student), grade, format)?;
    }
    let csv_path = out.join("class.csv");
    let csv_error = |e: csv::Error| FileError::Write { path: csv_path.display().to_string(), source: std::io::Error::other(e) };
    let mut csv = csv::Writer::from_path(&csv_path).map_err(csv_error)?;
    csv.write_record(["student", "test", "points", "max_points", "status", "reason"]).map_err(csv_error)?;
    for (student, grade) in grades {
        if let Some(why) = &grade.rejected {
            csv.write_record([student.as_str(), "", "0", &number(grade.max_score), "rejected", why]).map_err(csv_error)?;
            continue;
        }
        for t in &grade.tests {
            let status = match t.status {
                TestStatus::Passed => "passed",
                TestStatus::Failed => "failed",
                TestStatus::Error => "error",
            };
            csv.write_record([student.as_str(), &t.name, &number(t.score), &number(t.max_score), status, &failure_reason(t)])
                .map_err(csv_error)?;
        }
    }
    csv.flush().map_err(|source| FileError::Write { path: csv_path.display().to_string(), source })?;

    let report = ClassReport::of(grades);
    write(out.join("class-report.md"), report.markdown())?;
    let scores: Vec<f64> = grades.iter().map(|(_, g)| g.score).collect();
    let max = grades.first().map_or(0.0, |(_, g)| g.max_score);
    let plot = crate::viz::vega::score_histogram("Scores", &scores, max);
    write(out.join("scores.vl.json"), serde_json::to_string_pretty(&plot).expect("json") + "\n")?;
    let rates: Vec<(String, f64)> = report.tests.iter().map(|t| (t.name.clone(), t.passed as f64 / report.graded.max(1) as f64)).collect();
    let plot = crate::viz::vega::pass_rates("Tests passed", &rates);
    write(out.join("pass-rates.vl.json"), serde_json::to_string_pretty(&plot).expect("json") + "\n")?;
    Ok(())
}

/// One test across the class.
#[derive(Clone, Debug, PartialEq)]
pub struct TestTally {
    /// Its name.
    pub name: String,
    /// Submissions that passed it.
    pub passed: usize,
    /// The most common first failure reason and how many had it.
    pub commonest_failure: Option<(String, usize)>,
}

/// What the class did, for the instructor.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassReport {
    /// Submissions.
    pub submissions: usize,
    /// Of them, those that could not run at all.
    pub rejected: usize,
    /// Submissions that ran (the denominator of pass rates).
    pub graded: usize,
    /// Every score, sorted.
    pub scores: Vec<f64>,
    /// Points possible.
    pub max_score: f64,
    /// Every test, the most failed first.
    pub tests: Vec<TestTally>,
    /// Failures that were not the submissions' doing.
    pub errors: usize,
}

impl ClassReport {
    /// The report of `grades`.
    pub fn of(grades: &[(String, Grade)]) -> ClassReport {
        let mut scores: Vec<f64> = grades.iter().map(|(_, g)| g.score).collect();
        scores.sort_by(f64::total_cmp);
        let ran: Vec<&Grade> = grades.iter().map(|(_, g)| g).filter(|g| g.rejected.is_none()).collect();
        let mut tests: Vec<TestTally> = Vec::new();
        if let Some((_, first)) = grades.first() {
            for (i, t) in first.tests.iter().enumerate() {
                let mut reasons: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
                let mut passed = 0;
                for g in &ran {
                    let tg = &g.tests[i];
                    if tg.status == TestStatus::Passed {
                        passed += 1;
                    } else {
                        // Seeds and values differ between students; the check does not.
                        let reason = tg
                            .seeds
                            .iter()
                            .find(|s| !s.passed)
                            .map(|s| {
                                s.error
                                    .as_ref()
                                    .map(|_| "could not be judged".to_string())
                                    .or_else(|| s.stopped.as_ref().map(|_| "stopped by the grader".to_string()))
                                    .unwrap_or_else(|| s.checks.iter().find(|c| !c.passed).map_or_else(String::new, |c| c.check.clone()))
                            })
                            .unwrap_or_default();
                        *reasons.entry(reason).or_default() += 1;
                    }
                }
                let commonest_failure = reasons.into_iter().max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)));
                tests.push(TestTally { name: t.name.clone(), passed, commonest_failure });
            }
        }
        tests.sort_by_key(|t| t.passed);
        ClassReport {
            submissions: grades.len(),
            rejected: grades.len() - ran.len(),
            graded: ran.len(),
            scores,
            max_score: grades.first().map_or(0.0, |(_, g)| g.max_score),
            tests,
            errors: grades.iter().map(|(_, g)| g.errors.len()).sum(),
        }
    }

    /// The report as Markdown.
    pub fn markdown(&self) -> String {
        let n = self.scores.len();
        let mut out = format!("# Class report\n\n{} submissions, {} could not be run.\n\n", self.submissions, self.rejected);
        if n > 0 {
            let mean = self.scores.iter().sum::<f64>() / n as f64;
            let median = if n % 2 == 1 { self.scores[n / 2] } else { (self.scores[n / 2 - 1] + self.scores[n / 2]) / 2.0 };
            out += &format!(
                "Scores (of {}): mean {}, median {}, lowest {}, highest {}. Distribution: `scores.vl.json`.\n\n",
                number(self.max_score),
                number(mean),
                number(median),
                number(self.scores[0]),
                number(self.scores[n - 1])
            );
        }
        out += "| test | passed | commonest failure |\n|---|---|---|\n";
        for t in &self.tests {
            let failure = t.commonest_failure.as_ref().map_or(String::new(), |(why, count)| format!("{why} ({count})"));
            out += &format!("| {} | {} of {} | {} |\n", t.name, t.passed, self.graded, failure.replace('|', "\\|"));
        }
        if self.errors > 0 {
            out += &format!("\n{} runs could not be judged (not the students' doing): see the `errors` of each grade.json.\n", self.errors);
        }
        out
    }
}
