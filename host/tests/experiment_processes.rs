//! Runs in processes of their own (`--isolate`, `peershare run-spec`) and
//! reading finished results back (`Results::load`).

use peershare::experiment::{self, Experiment, Isolation, Results, RunOptions, RunStatus};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod common;

fn scratch(name: &str) -> PathBuf {
    common::scratch("processes", name)
}

const BASE: &str = "duration = \"5s\"\n[[groups]]\nname = \"dht\"\ncount = 16\nplugin = \"kademlia\"\nbootstrap = { strategy = \"first\" }\njoin_interval = \"20ms\"\n\n[[workload]]\nop = \"lookup\"\nrate = 20.0\nstart = \"2s\"\nend = \"4s\"\n";

/// Two variants, with a derived metric; `head` sets the seeds and anything
/// else at the top of the file.
fn experiment_in(dir: &Path, head: &str) -> Experiment {
    std::fs::write(dir.join("base.toml"), BASE).unwrap();
    let exp = format!(
        "scenario = \"base.toml\"\n{head}\n[[factors]]\nname = \"k\"\npath = \"groups.dht.config.k\"\nvalues = [4, 8]\n\n[[derived]]\nname = \"messages_per_k\"\nexpr = \"lookup.messages_mean / k\"\n"
    );
    std::fs::write(dir.join("exp.toml"), exp).unwrap();
    Experiment::load(&dir.join("exp.toml")).unwrap()
}

fn peershare() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_peershare"))
}

fn processes(program: PathBuf, jobs: usize) -> RunOptions {
    RunOptions { jobs, isolation: Isolation::Processes { program }, ..RunOptions::default() }
}

/// A stand-in for `peershare` that runs the real one except for seed 2,
/// whose process aborts the way a host stack overflow does.
fn aborting_on_seed_2(dir: &Path) -> PathBuf {
    let script = dir.join("aborts-on-seed-2.sh");
    let text = format!(
        "#!/bin/sh\nspec=$(cat)\ncase \"$spec\" in\n  *'\"seed\":2,'*) echo \"thread 'main' has overflowed its stack\" >&2; kill -ABRT $$ ;;\nesac\nprintf '%s' \"$spec\" | exec {} run-spec -\n",
        peershare().display()
    );
    write_script(&script, &text);
    script
}

fn write_script(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn isolated_runs_give_exactly_what_threads_give_and_load_reads_them_back() {
    let dir = scratch("same");
    experiment_in(&dir, "seeds = 2");
    let exp_file = dir.join("exp.toml");
    let run = |out: &str, isolate: bool| {
        let mut args = vec!["experiment", exp_file.to_str().unwrap(), "--out", out, "--jobs", "2", "-q"];
        if isolate {
            args.push("--isolate");
        }
        let status = Command::new(peershare()).args(&args).current_dir(&dir).status().unwrap();
        assert!(status.success());
    };
    run("threads", false);
    run("processes", true);
    // (report.md differs only in the command, which names the folder.)
    for file in ["runs.csv", "runs.jsonl", "stats.csv", "stats.json"] {
        let a = std::fs::read(dir.join("threads").join(file)).unwrap();
        let b = std::fs::read(dir.join("processes").join(file)).unwrap();
        assert!(a == b, "{file} differs between threads and processes");
    }

    let exp = Experiment::load(&exp_file).unwrap();
    let threads = Results::load(&exp, &dir.join("threads")).unwrap();
    let isolated = Results::load(&exp, &dir.join("processes")).unwrap();
    assert_eq!(threads.runs.len(), 4);
    for (a, b) in threads.runs.iter().zip(&isolated.runs) {
        assert!(a.is_ok() && b.is_ok());
        assert_eq!((&a.spec, &a.metrics), (&b.spec, &b.metrics));
        assert!(a.metrics.contains_key("messages_per_k"), "derived metrics are computed in the child too");
    }
    // What load reads is what the analysis of a fresh run would see.
    assert_eq!(serde_json::to_string(&isolated.analyse().cells).unwrap(), serde_json::to_string(&threads.analyse().cells).unwrap());

    // A folder missing a run says how many and which.
    let victim = exp.runs()[3].file_name();
    std::fs::remove_file(dir.join("processes/runs").join(&victim)).unwrap();
    let err = Results::load(&exp, &dir.join("processes")).unwrap_err().to_string();
    assert!(err.contains("holds 3 of the 4 runs' results (1 missing, the first: k=8, seed 2)"), "{err}");
}

#[test]
fn a_run_that_ends_its_process_is_a_failed_run_and_the_others_go_on() {
    let dir = scratch("abort");
    let exp = experiment_in(&dir, "seeds = 2");
    let script = aborting_on_seed_2(&dir);
    let results = experiment::run(&exp, &dir.join("out"), &processes(script, 2), &mut |_| {}).unwrap();
    let reference = experiment::run(&exp, &dir.join("threads"), &RunOptions::default(), &mut |_| {}).unwrap();
    for (r, t) in results.runs.iter().zip(&reference.runs) {
        if r.spec.seed == 2 {
            let RunStatus::Failed { reason } = &r.status else { panic!("seed 2 should fail: {r:?}") };
            assert!(reason.contains("ended abnormally") && reason.contains("SIGABRT"), "{reason}");
            assert!(reason.contains("overflowed its stack"), "the process's last words are kept: {reason}");
            assert!(r.metrics.is_empty());
        } else {
            assert!(r.is_ok(), "{r:?}");
            assert_eq!(r.metrics, t.metrics);
        }
    }
    // Failed runs are results for load (and are run again by run).
    let loaded = Results::load(&exp, &dir.join("out")).unwrap();
    assert_eq!(loaded.runs.iter().filter(|r| !r.is_ok()).count(), 2);
    let mut rerun = 0;
    experiment::run(&exp, &dir.join("out"), &processes(peershare(), 1), &mut |p| rerun = p.done).unwrap();
    assert_eq!(rerun, 2);
    assert!(Results::load(&exp, &dir.join("out")).unwrap().runs.iter().all(|r| r.is_ok()));
}

#[test]
fn a_hung_process_is_stopped_after_the_runs_limit() {
    let dir = scratch("hang");
    let exp = experiment_in(&dir, "seeds = [1]\nrun_timeout = \"1s\"");
    let script = dir.join("hangs.sh");
    write_script(&script, "#!/bin/sh\nexec sleep 60\n");
    let spec = &exp.runs()[0];
    let result = experiment::process::run_in_child(&script, spec);
    let RunStatus::Failed { reason } = &result.status else { panic!("{result:?}") };
    assert!(reason.contains("timed out") && reason.contains("was stopped"), "{reason}");
    let limit = 1.0 + experiment::process::GRACE.as_secs_f64();
    assert!(result.wall_s >= limit && result.wall_s < limit + 20.0, "stopped after {} s", result.wall_s);
}

#[test]
fn a_process_that_prints_no_result_or_cannot_start_is_a_failed_run() {
    let dir = scratch("garbage");
    let exp = experiment_in(&dir, "seeds = 2");
    let spec = &exp.runs()[0];
    let script = dir.join("chatty.sh");
    write_script(&script, "#!/bin/sh\ncat > /dev/null\necho hello\necho 'something went wrong' >&2\n");
    let RunStatus::Failed { reason } = experiment::process::run_in_child(&script, spec).status else { panic!() };
    assert!(reason.contains("printed no result") && reason.contains("something went wrong"), "{reason}");
    let RunStatus::Failed { reason } = experiment::process::run_in_child(&dir.join("missing"), spec).status else { panic!() };
    assert!(reason.contains("cannot start") && reason.contains("missing"), "{reason}");
}

#[test]
fn custom_metrics_need_threads() {
    struct Nothing;
    impl experiment::metrics::Metric for Nothing {
        fn name(&self) -> &str {
            "nothing"
        }
        fn measure(&self, _: &peershare::prelude::Simulation, _: &mut experiment::metrics::Values) {}
    }
    let dir = scratch("custom");
    let exp = experiment_in(&dir, "seeds = 2");
    let options = RunOptions { metrics: vec![std::sync::Arc::new(Nothing)], ..processes(peershare(), 1) };
    let err = experiment::run(&exp, &dir.join("out"), &options, &mut |_| {}).unwrap_err().to_string();
    assert!(err.contains("custom metrics") && err.contains("Isolation::Threads"), "{err}");
}

#[test]
fn run_spec_says_what_is_wrong_with_its_input() {
    let mut child = Command::new(peershare())
        .args(["run-spec", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"{\"seed\": 3}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("standard input: not a run spec: missing field"), "{stderr}");

    let out = Command::new(peershare()).args(["run-spec", "no-such-spec.json"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read no-such-spec.json"));
}

#[test]
fn a_changed_formula_is_a_different_run_and_a_changed_reference_is_not() {
    let dir = scratch("formula");
    let names = |exp: &Experiment| exp.runs().iter().map(|s| s.file_name()).collect::<Vec<_>>();
    let plain = names(&experiment_in(&dir, "seeds = 2"));
    let text = std::fs::read_to_string(dir.join("exp.toml")).unwrap();
    std::fs::write(dir.join("exp.toml"), text.replace("lookup.messages_mean / k", "lookup.messages_mean / (2 * k)")).unwrap();
    let changed = names(&Experiment::load(&dir.join("exp.toml")).unwrap());
    assert!(plain.iter().zip(&changed).all(|(a, b)| a != b), "a result computed with another formula is not reused");
    std::fs::write(dir.join("exp.toml"), text.clone() + "reference_for = \"lookup.messages_mean\"\n").unwrap();
    assert_eq!(names(&Experiment::load(&dir.join("exp.toml")).unwrap()), plain, "drawing a reference curve needs no new runs");
}
