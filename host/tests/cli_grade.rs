//! `peershare grade` end to end: the files it writes, and that a failed
//! seed's replay command reproduces what the grade says.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn grade_writes_results_and_a_failed_seed_replays_as_graded() {
    let dir = common::scratch("cli", "grade");
    // The assignment as a student has it, with the submission next to it.
    let assignment = dir.join("assignment");
    copy_dir(&repo().join("examples/assignments/kademlia-lookups"), &assignment);
    let submission = assignment.join("peer.wasm");
    std::fs::copy(peershare::builtin::wasm_dir().join("peershare_kademlia_sloppy.wasm"), &submission).unwrap();
    let out = dir.join("out");
    let run = Command::new(env!("CARGO_BIN_EXE_peershare"))
        .args(["grade", submission.to_str().unwrap(), "--suite", assignment.join("suite.toml").to_str().unwrap()])
        .args(["--format", "gradescope", "--out", out.to_str().unwrap(), "--jobs", "2"])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let printed: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(printed["score"].as_f64(), Some(30.0));
    let written: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(written, printed);
    let report = std::fs::read_to_string(out.join("report.txt")).unwrap();
    assert!(report.starts_with("Kademlia lookups: peer.wasm — 30 of 100 points"), "{report}");
    // The wrong answer's messages, as a ShiViz log the report points to.
    let log = "shiviz/lookups-return-the-exact-20-closest-nodes-seed1.log";
    assert!(report.contains(&format!("space-time diagram: {log}")), "{report}");
    let shiviz = std::fs::read_to_string(out.join(log)).unwrap();
    assert_eq!(shiviz.lines().next(), Some(peershare::capture::SHIVIZ_REGEX));
    assert!(shiviz.lines().filter(|l| l.contains("FIND_NODE")).count() >= 3, "{shiviz}");
    let grade: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("grade.json")).unwrap()).unwrap();
    let seed = &grade["tests"][0]["seeds"][0];
    assert_eq!(seed["passed"], false);
    let replay = seed["replay"].as_str().unwrap();
    assert!(replay.starts_with("peershare run scenarios/lookups.toml --seed 1 ") && replay.ends_with("--plugin dht=peer.wasm"), "{replay}");
    // The student runs it in the assignment's folder: the run is the
    // graded one, so its summary shows the same wrong answers.
    let command = replay.replacen("peershare", &format!("'{}'", env!("CARGO_BIN_EXE_peershare")), 1) + " --quiet --out replay";
    let replayed = Command::new("sh").arg("-c").arg(&command).current_dir(&assignment).output().unwrap();
    assert!(replayed.status.success(), "{command}: {}", String::from_utf8_lossy(&replayed.stderr));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(assignment.join("replay/summary.json")).unwrap()).unwrap();
    let correctness = &summary["correctness"];
    assert_eq!(summary["seed"], 1);
    assert!(correctness["lookups_checked"].as_u64().unwrap() > 100, "{correctness}");
    assert_eq!(correctness["lookups_correct"], 0, "the grade said lookup.exact_rate was 0");
    assert_eq!(correctness["first_mistake"]["op"], 0);
}

#[test]
fn a_suite_error_names_the_file_line_and_field() {
    let dir = common::scratch("cli", "grade-suite-error");
    let suite = dir.join("suite.toml");
    std::fs::write(
        &suite,
        "[[tests]]\nname = \"t\"\nscenario = \"missing.toml\"\nseeds = 1\npoints = 1\nchecks = [{ no_crashes = true }]\n",
    )
    .unwrap();
    let run =
        Command::new(env!("CARGO_BIN_EXE_peershare")).args(["grade", "peer.wasm", "--suite", suite.to_str().unwrap()]).output().unwrap();
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("suite.toml, line 3, field `tests[0].scenario`: cannot read"), "{stderr}");
}

/// Runs `script` with `env`, as the platform would.
fn run_script(script: &Path, env: &[(&str, &Path)]) {
    let mut command = Command::new("bash");
    command.arg(script);
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().unwrap();
    assert!(out.status.success(), "{}: {}", script.display(), String::from_utf8_lossy(&out.stderr));
}

fn json_at(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

#[test]
fn the_gradescope_script_writes_results_for_every_kind_of_submission() {
    let root = common::scratch("cli", "gradescope");
    let source = root.join("source");
    copy_dir(&repo().join("examples/assignments/kademlia-lookups"), &source.join("suite"));
    let script = source.join("run_autograder");
    std::fs::copy(repo().join("grading/gradescope/run_autograder"), &script).unwrap();
    let binary = Path::new(env!("CARGO_BIN_EXE_peershare"));
    let submission = root.join("submission");
    let results = root.join("results/results.json");
    let grade = |peershare: &Path| {
        let _ = std::fs::remove_dir_all(root.join("results"));
        run_script(&script, &[("AUTOGRADER_ROOT", &root), ("PEERSHARE", peershare)]);
        json_at(&results)
    };

    // A student's folder with the peer somewhere inside it.
    std::fs::create_dir_all(submission.join("target")).unwrap();
    std::fs::copy(peershare::builtin::wasm_dir().join("peershare_kademlia_sloppy.wasm"), submission.join("target/peer.wasm")).unwrap();
    // Gradescope names the group's users; they seed its fault schedules.
    std::fs::write(
        root.join("submission_metadata.json"),
        r#"{"id": 5, "users": [{"email": "b@example.edu", "id": 88, "name": "B"}, {"email": "a@example.edu", "id": 1234, "name": "A"}]}"#,
    )
    .unwrap();
    let r = grade(binary);
    assert_eq!((r["score"].as_f64(), r["max_score"].as_f64()), (Some(30.0), Some(100.0)), "{r}");
    assert_eq!(r["tests"].as_array().unwrap().len(), 6);
    assert_eq!(json_at(&root.join("results/peershare/grade.json"))["student"], "1234+88");

    // Nothing to grade: a zero that says why, never a missing file.
    std::fs::remove_dir_all(&submission).unwrap();
    std::fs::create_dir_all(&submission).unwrap();
    std::fs::write(submission.join("lib.rs"), "fn main() {}").unwrap();
    let r = grade(binary);
    assert_eq!(r["score"].as_f64(), Some(0.0));
    assert!(r["output"].as_str().unwrap().contains("no .wasm file"), "{r}");

    // The grader itself missing: still a valid results file.
    let r = grade(&root.join("no-such-peershare"));
    assert_eq!(r["score"].as_f64(), Some(0.0));
    assert!(r["output"].as_str().unwrap().contains("peershare program is missing"), "{r}");
}

#[test]
fn the_prairielearn_script_writes_results_for_every_kind_of_submission() {
    let root = common::scratch("cli", "prairielearn");
    let tests = root.join("tests");
    copy_dir(&repo().join("examples/assignments/kademlia-lookups"), &tests);
    let script = tests.join("grade.sh");
    std::fs::copy(repo().join("grading/prairielearn/grade.sh"), &script).unwrap();
    let binary = Path::new(env!("CARGO_BIN_EXE_peershare"));
    let student = root.join("student");
    std::fs::create_dir_all(&student).unwrap();
    std::fs::copy(peershare::builtin::wasm_dir().join("peershare_kademlia.wasm"), student.join("peer.wasm")).unwrap();
    std::fs::create_dir_all(root.join("data")).unwrap();
    std::fs::write(root.join("data/data.json"), r#"{"params": {}, "variant_seed": 4411, "submitted_answers": {}}"#).unwrap();
    run_script(&script, &[("GRADE_ROOT", &root), ("PEERSHARE", binary)]);
    let r = json_at(&root.join("results/results.json"));
    assert_eq!((r["gradable"].as_bool(), r["score"].as_f64()), (Some(true), Some(1.0)), "{r}");
    assert_eq!(r["tests"][0]["points"].as_f64(), Some(40.0));
    assert_eq!(json_at(&root.join("results/peershare/grade.json"))["student"], "variant-4411");

    // Two files: which one to grade is the student's to say.
    std::fs::copy(peershare::builtin::wasm_dir().join("peershare_flood.wasm"), student.join("other.wasm")).unwrap();
    run_script(&script, &[("GRADE_ROOT", &root), ("PEERSHARE", binary)]);
    let r = json_at(&root.join("results/results.json"));
    assert_eq!((r["gradable"].as_bool(), r["score"].as_f64()), (Some(false), Some(0.0)), "{r}");
    assert!(r["message"].as_str().unwrap().contains("2 .wasm files (other.wasm, peer.wasm)"), "{r}");
}

#[test]
fn make_autograder_checks_the_suite_and_zips_what_gradescope_needs() {
    let dir = common::scratch("cli", "make-autograder");
    let zip = dir.join("autograder.zip");
    let binary = Path::new(env!("CARGO_BIN_EXE_peershare"));
    let run = Command::new("bash")
        .arg(repo().join("grading/gradescope/make-autograder.sh"))
        .arg(repo().join("examples/assignments/kademlia-lookups"))
        .arg(&zip)
        .env("PEERSHARE", binary)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let listing = Command::new("python3").args(["-m", "zipfile", "-l"]).arg(&zip).output().unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    for entry in ["setup.sh", "run_autograder", "peershare", "suite/suite.toml", "suite/scenarios/lookups.toml"] {
        assert!(listing.lines().any(|l| l.split_whitespace().next() == Some(entry)), "{entry} not in the zip:\n{listing}");
    }
    // A suite whose reference loses points is refused.
    let bad = dir.join("bad");
    copy_dir(&repo().join("examples/assignments/kademlia-lookups"), &bad);
    let text = std::fs::read_to_string(bad.join("suite.toml")).unwrap().replace(
        "at_least = 0.95 },\n  { metric = \"lookup.success_rate\", at_least = 0.9 }",
        "at_least = 1.5 },\n  { metric = \"lookup.success_rate\", at_least = 0.9 }",
    );
    std::fs::write(bad.join("suite.toml"), text).unwrap();
    let run = Command::new("bash")
        .arg(repo().join("grading/gradescope/make-autograder.sh"))
        .arg(&bad)
        .arg(dir.join("bad.zip"))
        .env("PEERSHARE", binary)
        .output()
        .unwrap();
    assert!(!run.status.success());
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("the reference kademlia scores 85 of 100"),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(!dir.join("bad.zip").exists());
}

#[test]
fn grading_a_class_folder_writes_every_students_results_and_the_class_tables() {
    let dir = common::scratch("cli", "grade-class");
    let class = dir.join("submissions");
    let wasm = peershare::builtin::wasm_dir();
    // A file per student, a folder per student, and entries with nothing to grade.
    std::fs::create_dir_all(class.join("bob/target/release")).unwrap();
    std::fs::create_dir_all(class.join("carol")).unwrap();
    std::fs::copy(wasm.join("peershare_kademlia.wasm"), class.join("alice.wasm")).unwrap();
    std::fs::copy(wasm.join("peershare_kademlia_sloppy.wasm"), class.join("bob/target/release/peer.wasm")).unwrap();
    std::fs::write(class.join("carol/peer.rs"), "fn main() {}").unwrap();
    std::fs::write(class.join("dave.wasm"), "not a peer").unwrap();
    std::fs::write(class.join("notes.txt"), "ignored: neither a .wasm nor a folder").unwrap();
    let out = dir.join("grades");
    let run = Command::new(env!("CARGO_BIN_EXE_peershare"))
        .args(["grade", class.to_str().unwrap(), "--suite"])
        .arg(repo().join("examples/assignments/kademlia-lookups/suite.toml"))
        .args(["--format", "gradescope", "--out", out.to_str().unwrap(), "--jobs", "2"])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("Grading 4 submissions"), "{stdout}");

    let score = |student: &str| json_at(&out.join(student).join("results.json"))["score"].as_f64();
    assert_eq!([score("alice"), score("bob"), score("carol"), score("dave")], [Some(100.0), Some(30.0), Some(0.0), Some(0.0)]);
    assert!(std::fs::read_to_string(out.join("carol/report.txt")).unwrap().contains("no .wasm file"));
    assert!(out.join("bob/grade.json").is_file());

    // class.csv: a row per student and test, a single row for a rejected one.
    let mut reader = csv::Reader::from_path(out.join("class.csv")).unwrap();
    assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), ["student", "test", "points", "max_points", "status", "reason"]);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 6 + 6 + 1 + 1);
    let points_of = |student: &str| rows.iter().filter(|r| &r[0] == student).map(|r| r[2].parse::<f64>().unwrap()).sum::<f64>();
    assert_eq!((points_of("alice"), points_of("bob")), (100.0, 30.0));
    let bob_first = rows.iter().find(|r| &r[0] == "bob" && &r[4] == "failed").unwrap();
    assert!(bob_first[5].starts_with("seed 1: expected "), "{bob_first:?}");
    assert!(rows.iter().any(|r| &r[0] == "dave" && &r[4] == "rejected" && !r[5].is_empty()));

    // The class report: the tests most students fail first, out of the two that ran.
    let report = std::fs::read_to_string(out.join("class-report.md")).unwrap();
    assert!(report.contains("4 submissions, 2 could not be run."), "{report}");
    assert!(report.contains("| Lookups return the exact 20 closest nodes | 1 of 2 | lookup.exact_rate"), "{report}");
    let scores = json_at(&out.join("scores.vl.json"));
    assert_eq!(scores["$schema"].as_str().map(|s| s.contains("vega-lite")), Some(true), "{scores}");
    assert_eq!(scores["data"]["values"].as_array().map(Vec::len), Some(4), "{scores}");
    assert!(out.join("pass-rates.vl.json").is_file());
}
