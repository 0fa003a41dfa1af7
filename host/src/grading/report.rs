//! A grade in the formats graders read: plain text for people, the
//! grade's own JSON, Gradescope's `results.json` and PrairieLearn's
//! external-grader `results.json`.

use super::check::number;
use super::{Grade, TestGrade, TestStatus, Visibility};
use crate::error::FileError;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// Points as people write them (`30`, `12.5`).
pub fn points(x: f64) -> String {
    number(x)
}

/// The formats `peershare grade` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A report for people.
    Text,
    /// The [`Grade`] as JSON.
    Json,
    /// Gradescope's autograder `results.json`.
    Gradescope,
    /// PrairieLearn's external grader `results.json`.
    PrairieLearn,
}

impl Format {
    /// The format of a name (`text`, `json`, `gradescope`, `prairielearn`).
    pub fn from_name(name: &str) -> Option<Format> {
        Some(match name {
            "text" => Format::Text,
            "json" => Format::Json,
            "gradescope" => Format::Gradescope,
            "prairielearn" => Format::PrairieLearn,
            _ => return None,
        })
    }

    /// `grade` in this format.
    pub fn render(self, grade: &Grade) -> String {
        match self {
            Format::Text => text(grade),
            Format::Json => serde_json::to_string_pretty(grade).expect("a grade serialises") + "\n",
            Format::Gradescope => serde_json::to_string_pretty(&gradescope(grade)).expect("json") + "\n",
            Format::PrairieLearn => serde_json::to_string_pretty(&prairielearn(grade)).expect("json") + "\n",
        }
    }
}

/// What a student reads of one test: its description, and for every seed
/// that failed what was expected, what happened, why, the events that
/// show it and the replay command.
pub fn test_feedback(test: &TestGrade) -> String {
    let mut out = String::new();
    if !test.description.is_empty() {
        out += &format!("{}\n", test.description);
    }
    let passed = test.seeds.iter().filter(|s| s.passed).count();
    out += &format!("{passed} of {} seeds passed.\n", test.seeds.len());
    for s in test.seeds.iter().filter(|s| !s.passed) {
        out += &format!("\nSeed {}: ", s.seed);
        if let Some(why) = &s.error {
            out += &format!("could not be judged: {why}\n");
            continue;
        }
        if let Some(why) = &s.stopped {
            out += &format!("{why}\n");
        } else {
            out += "failed\n";
        }
        for c in s.checks.iter().filter(|c| !c.passed) {
            out += &format!("  - {}\n    expected: {}\n    got:      {}\n", c.check, c.expected, c.got);
            if let Some(d) = &c.detail {
                out += &format!("    {d}\n");
            }
            if c.shiviz.is_some() {
                out += &format!(
                    "    its messages as a space-time diagram: {} (written with --out; open it in ShiViz)\n",
                    shiviz_file(&test.name, s.seed)
                );
            }
            if !c.excerpt.is_empty() {
                out += "    events:\n";
                for line in &c.excerpt {
                    out += &format!("      {line}\n");
                }
            }
        }
        if !s.faults.is_empty() {
            out += "  faults drawn for this seed:\n";
            for f in &s.faults {
                out += &format!("    {f}\n");
            }
        }
        if !s.replay.is_empty() {
            out += &format!("  replay: {}\n", s.replay);
        }
        if let Some(shrunk) = &s.shrunk {
            if shrunk.faults.is_empty() {
                out += "  it fails the same way without any of these faults:\n";
            } else {
                out += &format!(
                    "  it fails the same way with only {} of these faults (smallest found in {} runs):\n",
                    shrunk.faults.len(),
                    shrunk.runs
                );
                for f in &shrunk.faults {
                    out += &format!("    {f}\n");
                }
            }
            out += &format!("  replay: {}\n", shrunk.replay);
        }
    }
    out
}

/// Where [`write_files`] puts the ShiViz log of a test's failing seed,
/// relative to the folder: `shiviz/<the test's name in lower case,
/// words joined by dashes>-seed<seed>.log`.
pub fn shiviz_file(test: &str, seed: u64) -> String {
    let words: Vec<String> = test.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).take(8).collect();
    format!("shiviz/{}-seed{seed}.log", words.join("-"))
}

/// Writes a grade's files into `dir` (made if missing): `results.json`
/// in `format` (JSON for text), `grade.json`, `report.txt`, and for every
/// failing seed whose wrong answer has messages, their ShiViz log (see
/// [`shiviz_file`]).
pub fn write_files(dir: &Path, grade: &Grade, format: Format) -> Result<(), FileError> {
    let write = |path: PathBuf, text: &str| {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| FileError::Write { path: parent.display().to_string(), source })?;
        }
        std::fs::write(&path, text).map_err(|source| FileError::Write { path: path.display().to_string(), source })
    };
    let results = if format == Format::Text { Format::Json } else { format };
    write(dir.join("results.json"), &results.render(grade))?;
    write(dir.join("grade.json"), &Format::Json.render(grade))?;
    write(dir.join("report.txt"), &Format::Text.render(grade))?;
    for t in &grade.tests {
        for s in &t.seeds {
            if let Some(log) = s.checks.iter().find_map(|c| c.shiviz.as_deref()) {
                write(dir.join(shiviz_file(&t.name, s.seed)), log)?;
            }
        }
    }
    Ok(())
}

/// The plain-text report.
pub fn text(grade: &Grade) -> String {
    let mut out = format!("{}: {} — {} of {} points\n", grade.suite, grade.submission, number(grade.score), number(grade.max_score));
    if let Some(why) = &grade.rejected {
        out += &format!("\nThe submission could not be run: {why}\n");
    }
    for t in &grade.tests {
        let mark = match t.status {
            TestStatus::Passed => "PASS",
            TestStatus::Failed => "FAIL",
            TestStatus::Error => "ERROR",
        };
        out += &format!("\n[{mark}] {} ({} / {})\n", t.name, number(t.score), number(t.max_score));
        if t.status != TestStatus::Passed {
            for line in test_feedback(t).lines() {
                out += &format!("    {line}\n");
            }
        }
    }
    if !grade.errors.is_empty() {
        out += "\nFor the instructor (not the submission's doing):\n";
        for e in &grade.errors {
            out += &format!("  - {e}\n");
        }
    }
    out
}

/// Gradescope's `results.json`: `score`, `max_score`, `output`, and per
/// test `name`, `score`, `max_score`, `status` (`passed` / `failed`),
/// `output` and `visibility`.
pub fn gradescope(grade: &Grade) -> Value {
    let tests: Vec<Value> = grade
        .tests
        .iter()
        .map(|t| {
            json!({
                "name": t.name,
                "score": t.score,
                "max_score": t.max_score,
                "status": if t.status == TestStatus::Passed { "passed" } else { "failed" },
                "output": test_feedback(t),
                "visibility": t.visibility.name(),
            })
        })
        .collect();
    let mut output = format!("{} of {} points.", number(grade.score), number(grade.max_score));
    if let Some(why) = &grade.rejected {
        output += &format!(" The submission could not be run: {why}");
    }
    json!({
        "score": grade.score,
        "max_score": grade.max_score,
        "output": output,
        "visibility": "visible",
        "tests": tests,
    })
}

/// PrairieLearn's external grader `results.json`: `gradable`, `score`
/// (0 to 1), `message`, and per test `name`, `description`, `points`,
/// `max_points`, `message` and `output`. PrairieLearn shows every test, so
/// hidden tests show their points and name only.
pub fn prairielearn(grade: &Grade) -> Value {
    let tests: Vec<Value> = grade
        .tests
        .iter()
        .map(|t| {
            let shown = t.visibility == Visibility::Visible;
            let message = match t.status {
                TestStatus::Passed => "passed".to_string(),
                TestStatus::Failed => "failed".to_string(),
                TestStatus::Error => "could not be judged".to_string(),
            };
            json!({
                "name": t.name,
                "description": if shown { t.description.clone() } else { String::new() },
                "points": t.score,
                "max_points": t.max_score,
                "message": message,
                "output": if shown { test_feedback(t) } else { "This test's details are hidden.".to_string() },
            })
        })
        .collect();
    let score = if grade.max_score > 0.0 { (grade.score / grade.max_score).clamp(0.0, 1.0) } else { 0.0 };
    let message = match &grade.rejected {
        Some(why) => format!("The submission could not be run: {why}"),
        None => format!("{} of {} points.", number(grade.score), number(grade.max_score)),
    };
    json!({
        "gradable": grade.rejected.is_none(),
        "score": score,
        "message": message,
        "tests": tests,
    })
}
