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
