//! The autograder: the example Kademlia assignment grades the reference,
//! a buggy peer and broken files as an instructor expects, and no hostile
//! submission hangs it, crashes it or changes its verdict.

use peershare::builtin::wasm_dir;
use peershare::grading::report::{self, Format};
use peershare::grading::{Grade, Grader, Suite, TestStatus, Visibility};
use peershare::prelude::*;
use peershare_e2e::repo_root;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn kademlia_suite() -> Suite {
    Suite::load(&repo_root().join("examples/assignments/kademlia-lookups/suite.toml")).unwrap()
}

fn wasm(name: &str) -> PathBuf {
    wasm_dir().join(name)
}

fn test<'a>(grade: &'a Grade, name: &str) -> &'a peershare::grading::TestGrade {
    grade.tests.iter().find(|t| t.name.starts_with(name)).unwrap_or_else(|| panic!("no test {name}"))
}

/// Asserts the status of each test, named by how its name starts.
fn assert_statuses(grade: &Grade, expected: &[(&str, TestStatus)]) {
    for &(name, status) in expected {
        assert_eq!(test(grade, name).status, status, "{name}");
    }
}

/// A suite written in `text` over the scenarios of tests/fixtures/grading.
fn fixture_suite(text: &str) -> Suite {
    Suite::parse(text, "suite.toml", &repo_root().join("tests/fixtures/grading"), "suite").unwrap()
}

#[test]
fn the_reference_scores_full_marks_and_the_buggy_peer_loses_the_lookup_tests() {
    let grader = Grader::new(kademlia_suite(), 2);
    let reference = grader.grade(&wasm("peershare_kademlia.wasm"));
    assert_eq!((reference.score, reference.max_score), (100.0, 100.0), "{}", report::text(&reference));
    assert!(reference.tests.iter().all(|t| t.status == TestStatus::Passed));
    assert!(reference.errors.is_empty() && reference.rejected.is_none());
    let buckets = &test(&reference, "Routing tables keep").seeds[0].checks[0];
    assert_eq!((buckets.passed, buckets.got.as_str()), (true, "all 128 keep it"), "{buckets:?}");

    let sloppy = grader.grade(&wasm("peershare_kademlia_sloppy.wasm"));
    assert_eq!(sloppy.score, 30.0, "{}", report::text(&sloppy));
    assert_statuses(
        &sloppy,
        &[
            ("Lookups return the exact", TestStatus::Failed),
            ("Values put", TestStatus::Passed),
            ("Routing tables keep", TestStatus::Passed),
            ("Lookups are about as cheap", TestStatus::Passed),
            ("Lookups survive", TestStatus::Failed),
            ("Hidden", TestStatus::Failed),
        ],
    );
    // The feedback names the check, the value, the first wrong answer
    // with the nodes it missed, the operation's events and the replay.
    let exact = test(&sloppy, "Lookups return the exact");
    let seed = &exact.seeds[0];
    let failed = seed.checks.iter().find(|c| !c.passed).unwrap();
    assert_eq!(failed.expected, "lookup.exact_rate at least 1");
    let detail = failed.detail.as_deref().unwrap();
    assert!(detail.starts_with("first wrong answer: lookup 0x") && detail.contains("missing ["), "{detail}");
    assert!(failed.excerpt.first().unwrap().contains("operation-started"), "{:?}", failed.excerpt);
    assert!(failed.excerpt.last().unwrap().contains("operation-completed"), "{:?}", failed.excerpt);
    assert_eq!(
        seed.replay,
        "peershare run scenarios/lookups.toml --seed 1 --set groups.dht.fuel_per_event=200000000 --set 'groups.dht.memory_limit=\"32MiB\"' --plugin dht=peershare_kademlia_sloppy.wasm"
    );
    let feedback = report::test_feedback(exact);
    assert!(feedback.contains("0 of 2 seeds passed") && feedback.contains("replay: peershare run"), "{feedback}");
}

#[test]
fn relative_checks_compare_with_the_reference_on_the_same_seed() {
    let grader = Grader::new(kademlia_suite(), 2);
    let grade = grader.grade(&wasm("peershare_kademlia.wasm"));
    let cheap = test(&grade, "Lookups are about as cheap");
    for s in &cheap.seeds {
        let c = &s.checks[0];
        // The reference against itself: exactly 1 times its own value.
        assert!(c.got.ends_with("(1 times the reference's)"), "{c:?}");
        assert!(c.expected.contains("at most 1.5 times the reference's"), "{c:?}");
    }
}

/// Writes `bytes` to a file named `name` in a fresh folder.
fn file_with(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn files_that_are_not_peers_score_zero_with_a_reason_and_valid_results() {
    let dir = std::env::temp_dir().join(format!("peershare-grading-bad-{}", std::process::id()));
    let mut suite = kademlia_suite();
    suite.containment.max_submission_bytes = 1 << 20;
    let grader = Grader::new(suite, 1);
    let core = wat::parse_str("(module)").unwrap();
    let cases: Vec<(PathBuf, &str)> = vec![
        (file_with(&dir, "empty.wasm", b""), "empty"),
        (file_with(&dir, "text.wasm", b"fn main() {}"), "not WebAssembly"),
        (file_with(&dir, "core.wasm", &core), "core WebAssembly module, not a component"),
        (file_with(&dir, "huge.wasm", &vec![0u8; 2 << 20]), "accepts at most 1048576"),
        (
            file_with(&dir, "cut.wasm", &std::fs::read(wasm("peershare_kademlia.wasm")).unwrap()[..5000]),
            "not a valid WebAssembly component",
        ),
        (wasm("peershare_misfit.wasm"), "peershare_misfit.wasm"),
        (wasm("peershare_mismatch.wasm"), "peershare_mismatch.wasm"),
        (dir.join("missing.wasm"), "cannot read the submission"),
        (dir.clone(), "is a folder"),
    ];
    for (path, reason) in cases {
        let grade = grader.grade(&path);
        let why = grade.rejected.as_deref().unwrap_or_else(|| panic!("{} was not rejected", path.display()));
        assert!(why.contains(reason), "{}: {why}", path.display());
        assert_eq!((grade.score, grade.max_score, grade.tests.len()), (0.0, 100.0, 6));
        let gradescope: serde_json::Value = serde_json::from_str(&Format::Gradescope.render(&grade)).unwrap();
        assert_eq!(gradescope["score"], 0.0);
        assert_eq!(gradescope["tests"].as_array().unwrap().len(), 6);
        assert!(gradescope["output"].as_str().unwrap().contains(reason));
        let prairielearn: serde_json::Value = serde_json::from_str(&Format::PrairieLearn.render(&grade)).unwrap();
        assert_eq!((prairielearn["gradable"].as_bool(), prairielearn["score"].as_f64()), (Some(false), Some(0.0)));
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn every_hostile_behaviour_is_contained_and_loses_only_its_own_test() {
    let suite = Suite::load(&repo_root().join("tests/fixtures/grading/containment.toml")).unwrap();
    let grade = Grader::new(suite, 2).grade(&wasm("peershare_hostile.wasm"));
    assert!(grade.errors.is_empty(), "{:?}", grade.errors);
    let reason = |name: &str| {
        let seed = &test(&grade, name).seeds[0];
        assert!(!seed.passed, "{name} passed");
        seed.stopped
            .clone()
            .unwrap_or_else(|| seed.checks.iter().filter(|c| !c.passed).filter_map(|c| c.detail.clone()).next().unwrap_or_default())
    };
    for (name, why) in [
        ("loop", "out of fuel"),
        ("alloc", "exceeded its memory limit"),
        ("recurse", "overflowed its stack"),
        ("panic", "gave up on purpose"),
        ("sleep", "tried to block"),
        ("exit", "exited with status 1"),
        ("timer-flood", "out of fuel"),
        ("zero-timer", "stopped after 200000 events"),
        ("ns-timer", "stopped after 200000 events"),
    ] {
        assert!(reason(name).contains(why), "{name}: {}", reason(name));
        assert_eq!(test(&grade, name).score, 0.0, "{name}");
    }
    // Refused calls are contained without a crash; the honest peer and
    // the peers whose misbehaviour the host absorbs keep their points.
    for name in ["honest", "flood", "sleepy-inspect", "fill-storage", "snoop"] {
        assert_eq!(test(&grade, name).status, TestStatus::Passed, "{name}: {:?}", test(&grade, name).seeds[0]);
    }
    // Printing a perfect score changes nothing: the output stays in the
    // event log and the test fails like any peer that sends nothing.
    let fake = test(&grade, "fake-score");
    assert_eq!(fake.score, 0.0);
    let gradescope = Format::Gradescope.render(&grade);
    assert!(!gradescope.contains("100/100") && !gradescope.contains("\\\"score\\\": 1000"), "the submission's text reached the results");
    let parsed: serde_json::Value = serde_json::from_str(&gradescope).unwrap();
    assert_eq!(parsed["score"].as_f64(), Some(grade.score));
}

#[test]
fn suite_mistakes_are_the_instructors_errors_with_line_and_field() {
    let base = repo_root().join("examples/assignments/kademlia-lookups");
    let parse = |text: &str| Suite::parse(text, "suite.toml", &base, "suite").unwrap_err().to_string();
    let test = |extra: &str| format!("[[tests]]\nname = \"t\"\nscenario = \"scenarios/lookups.toml\"\nseeds = 1\npoints = 1\n{extra}\n");
    let e = parse(&test("checks = [{ metric = \"lookup.exact_rate\" }]"));
    assert!(e.contains("line 6, field `tests[0].checks[0]`") && e.contains("needs `at_least`, `at_most` or both"), "{e}");
    let e = parse(&test("checks = [{ no_crashes = true, safety = true }]"));
    assert!(e.contains("exactly one of"), "{e}");
    let e = parse(&test("checks = [{ metric = \"x\", at_least = 1, relative_to = \"best\" }]"));
    assert!(e.contains("the only thing to compare with is \"reference\""), "{e}");
    let e = parse(&test("checks = []"));
    assert!(e.contains("field `tests[0].checks`: a test needs at least one check"), "{e}");
    let e = parse(&test("set = { \"groups.nobody.count\" = 3 }\nchecks = [{ no_crashes = true }]"));
    assert!(e.contains("field `tests[0]`") && e.contains("nobody"), "{e}");
    let e = parse(&format!("reference = \"kademlya\"\n{}", test("checks = [{ no_crashes = true }]")));
    assert!(e.contains("line 1, field `reference`: no built-in plugin \"kademlya\""), "{e}");
    let e = parse(&test("checks = [{ no_crashes = true }]\nvisibility = \"secret\""));
    assert!(e.contains("secret"), "{e}");
    let e = parse("name = \"empty\"\n");
    assert!(e.contains("at least one [[tests]]"), "{e}");
}

#[test]
fn gradescope_and_prairielearn_results_follow_their_schemas() {
    let grade = Grader::new(kademlia_suite(), 2).grade(&wasm("peershare_kademlia_sloppy.wasm"));
    let gs: serde_json::Value = serde_json::from_str(&Format::Gradescope.render(&grade)).unwrap();
    assert_eq!((gs["score"].as_f64(), gs["max_score"].as_f64()), (Some(30.0), Some(100.0)));
    let tests = gs["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 6);
    for t in tests {
        for key in ["name", "score", "max_score", "status", "output", "visibility"] {
            assert!(t.get(key).is_some(), "gradescope test without {key}: {t}");
        }
        assert!(["passed", "failed"].contains(&t["status"].as_str().unwrap()));
    }
    assert_eq!(tests[5]["visibility"], "after_due_date");
    let pl: serde_json::Value = serde_json::from_str(&Format::PrairieLearn.render(&grade)).unwrap();
    assert_eq!((pl["gradable"].as_bool(), pl["score"].as_f64()), (Some(true), Some(0.3)));
    let tests = pl["tests"].as_array().unwrap();
    for t in tests {
        for key in ["name", "points", "max_points", "message", "output"] {
            assert!(t.get(key).is_some(), "prairielearn test without {key}: {t}");
        }
    }
    // PrairieLearn shows every test: a hidden one shows no details.
    assert_eq!(tests[5]["output"], "This test's details are hidden.");
    assert!(tests[0]["output"].as_str().unwrap().contains("first wrong answer"));
}

/// A suite over the 24-peer gossip fixture: without faults every message
/// arrives but the two or three in flight when the run ends (1918 of
/// 1920 on seed 1); a crash or a spell of loss loses more.
fn gossip_fault_suite(per_student: bool) -> Suite {
    let text = format!(
        r#"
name = "Gossip under faults"
groups = ["peers"]
shrink_runs = 40

[[tests]]
name = "steady"
scenario = "gossip-faults.toml"
seeds = [1]
points = 5
checks = [{{ metric = "delivery_rate", at_least = 0.998 }}]

[[tests]]
name = "faulty"
scenario = "gossip-faults.toml"
seeds = [1, 2]
points = 10
checks = [{{ no_crashes = true }}, {{ metric = "delivery_rate", at_least = 0.998 }}]

[tests.random_faults]
within = ["2s", "8s"]
crashes = {{ count = [1, 2], nodes = [1, 3], duration = ["500ms", "2s"] }}
loss = {{ count = [1, 2], rate = [0.2, 0.5], duration = ["1s", "3s"] }}
per_student = {per_student}
"#
    );
    fixture_suite(&text)
}

#[test]
fn random_fault_schedules_are_drawn_per_seed_and_student_and_shrunk_when_they_fail() {
    let grader = Grader::new(gossip_fault_suite(true), 2);
    let peer = wasm("peershare_gossip.wasm");
    let alice = grader.grade_as(&peer, Some("alice"));
    assert_eq!(alice.student.as_deref(), Some("alice"));
    let steady = test(&alice, "steady");
    assert_eq!(steady.status, TestStatus::Passed, "{}", report::test_feedback(steady));
    assert!(steady.seeds[0].faults.is_empty() && steady.seeds[0].shrunk.is_none());

    let faulty = test(&alice, "faulty");
    assert_eq!(faulty.score, 0.0);
    for s in &faulty.seeds {
        assert!(!s.passed);
        // Within the plan: 1-2 crashes and 1-2 spells of loss, each inside 2s..8s.
        let crashes = s.faults.iter().filter(|f| f.contains("crash =")).count();
        let losses = s.faults.iter().filter(|f| f.contains("loss =")).count();
        assert!((1..=2).contains(&crashes) && (1..=2).contains(&losses), "{:?}", s.faults);
        assert!(s.checks[0].passed, "faults are not the peer's crashes");
        assert!(!s.checks[1].passed);
        for f in &s.faults {
            assert!(s.replay.contains(&format!("--fault '{f}'")), "{}", s.replay);
        }
        // One fault is enough to lose a message: the smallest schedule has one.
        let shrunk = s.shrunk.as_ref().expect("a failing schedule is shrunk");
        assert_eq!(shrunk.faults.len(), 1, "{shrunk:?}");
        assert!(shrunk.runs <= 40 && shrunk.runs > 1);
        assert!(shrunk.replay.contains(&format!("--fault '{}'", shrunk.faults[0])), "{}", shrunk.replay);
    }
    assert_ne!(faulty.seeds[0].faults, faulty.seeds[1].faults, "each seed draws its own schedule");
    let text = report::test_feedback(faulty);
    assert!(text.contains("faults drawn for this seed:") && text.contains("it fails the same way with only 1 of these faults"), "{text}");

    // The same student meets the same schedule again; another student another.
    assert_eq!(grader.grade_as(&peer, Some("alice")), alice);
    let bob = grader.grade_as(&peer, Some("bob"));
    assert_ne!(test(&bob, "faulty").seeds[0].faults, faulty.seeds[0].faults);
    // Without per_student, every student meets the seed's schedule.
    let shared = Grader::new(gossip_fault_suite(false), 2);
    let (a, b) = (shared.grade_as(&peer, Some("alice")), shared.grade_as(&peer, Some("bob")));
    assert_eq!(test(&a, "faulty").seeds[0].faults, test(&b, "faulty").seeds[0].faults);
}

#[test]
fn a_fault_plan_that_does_not_fit_the_scenario_is_the_instructors_error() {
    let base = repo_root().join("tests/fixtures/grading");
    let parse = |plan: &str| {
        let text = format!(
            "[[tests]]\nname = \"t\"\nscenario = \"gossip-faults.toml\"\nseeds = 1\npoints = 1\nchecks = [{{ no_crashes = true }}]\n[tests.random_faults]\n{plan}\n"
        );
        Suite::parse(&text, "suite.toml", &base, "suite").unwrap_err().to_string()
    };
    let e = parse("within = [\"2s\", \"8s\"]\ncrashes = { count = 1, nodes = 30, duration = \"1s\" }");
    assert!(e.contains("line 7, field `tests[0].random_faults.crashes.nodes`") && e.contains("the targeted groups have 24"), "{e}");
    let e = parse("within = [\"2s\", \"12s\"]\nloss = { count = 1, rate = 0.1, duration = \"1s\" }");
    assert!(e.contains("field `tests[0].random_faults.within`") && e.contains("after the run's end at 10s"), "{e}");
    let e = parse("within = [\"2s\", \"8s\"]\ngroups = [\"dht\"]\nloss = { count = 1, rate = 0.1, duration = \"1s\" }");
    assert!(e.contains("random_faults.groups") && e.contains("no group \"dht\" (it has peers)"), "{e}");
}

/// The answers a student could copy out of the Kademlia assignment's
/// visible feedback: every lookup of every seed a visible test runs, as
/// the reference answers it on the reliable network (exactly right
/// there), one line each: the key in hex, then the nodes, closest first.
fn visible_answers() -> String {
    let suite = kademlia_suite();
    let visible = suite.tests.iter().filter(|t| t.visibility == Visibility::Visible);
    let seeds: BTreeSet<u64> = visible.flat_map(|t| t.seeds.iter().copied()).collect();
    let path = repo_root().join("examples/assignments/kademlia-lookups/scenarios/lookups.toml");
    let mut text = String::new();
    for seed in seeds {
        let scenario = Scenario::load(&path).unwrap().with_seed(seed);
        let mut sim = scenario.builder().unwrap().build().unwrap();
        sim.run_until(scenario.end()).unwrap();
        for rec in sim.operations() {
            let (Operation::Lookup { key }, Some(outcome)) = (&rec.operation, &rec.outcome) else { continue };
            let result = Record::decode(&outcome.result).unwrap();
            let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
            let nodes: Vec<String> = result.nodes("nodes").unwrap_or_default().iter().map(|n| n.to_string()).collect();
            writeln!(text, "{hex} {}", nodes.join(" ")).unwrap();
        }
    }
    text
}

#[test]
fn the_memorising_cheat_holds_the_visible_seeds_answers() {
    let path = repo_root().join("plugins/kademlia-memorised/answers.txt");
    let answers = visible_answers();
    assert!(answers.lines().count() > 500, "{} lookups", answers.lines().count());
    if std::env::var_os("PEERSHARE_BLESS").is_some() {
        std::fs::write(&path, &answers).unwrap();
    }
    assert!(
        std::fs::read_to_string(&path).unwrap() == answers,
        "{} is not what the visible seeds' lookups answer (the scenario or the reference changed): rewrite it with \
         PEERSHARE_BLESS=1 cargo test --release -p peershare-e2e --test grading the_memorising_cheat, then build again",
        path.display()
    );
}

#[test]
fn a_submission_that_memorised_the_visible_answers_fails_the_hidden_seeds() {
    let grade = Grader::new(kademlia_suite(), 2).grade(&wasm("peershare_kademlia_memorised.wasm"));
    // Every visible test passes, on answers it never computed ...
    for t in grade.tests.iter().filter(|t| t.visibility == Visibility::Visible) {
        assert_eq!(t.status, TestStatus::Passed, "{}", report::test_feedback(t));
    }
    // ... and the seeds it has not seen find it out.
    let hidden = test(&grade, "Hidden");
    assert_eq!((hidden.status, hidden.score), (TestStatus::Failed, 0.0));
    let failed = hidden.seeds[0].checks.iter().find(|c| !c.passed).unwrap();
    assert!(
        failed.expected.starts_with("lookup.exact_rate at least") && failed.expected.contains("(at least 0.9 times the reference's"),
        "{failed:?}"
    );
    assert!(failed.got.starts_with("0 (0 times"), "none of its answers is right: {}", failed.got);
    assert_eq!(grade.score, 85.0, "{}", report::text(&grade));
}

#[test]
fn check_warns_of_hidden_tests_on_visible_seeds() {
    assert!(kademlia_suite().warnings().is_empty(), "{:?}", kademlia_suite().warnings());
    let base = repo_root().join("examples/assignments/kademlia-lookups");
    let text = r#"
[[tests]]
name = "visible"
scenario = "scenarios/lookups.toml"
seeds = [1, 2]
points = 1
checks = [{ no_crashes = true }]

[[tests]]
name = "secret"
scenario = "scenarios/lookups.toml"
seeds = [2, 7]
points = 1
visibility = "hidden"
checks = [{ no_crashes = true }]
"#;
    let warnings = Suite::parse(text, "suite.toml", &base, "suite").unwrap().warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("the hidden test \"secret\" runs scenarios/lookups.toml on seed 2, as the visible test \"visible\" does"),
        "{}",
        warnings[0]
    );
}

fn gossip_suite() -> Suite {
    Suite::load(&repo_root().join("examples/assignments/gossip-broadcast/suite.toml")).unwrap()
}

#[test]
fn the_gossip_assignment_passes_acknowledged_flooding_and_fails_a_flood_that_never_resends() {
    let grader = Grader::new(gossip_suite(), 2);
    assert!(grader.suite().warnings().is_empty(), "{:?}", grader.suite().warnings());
    let reference = grader.grade_as(&wasm("peershare_flood.wasm"), Some("alice"));
    assert_eq!((reference.score, reference.max_score), (100.0, 100.0), "{}", report::text(&reference));

    let unacked = grader.grade_as(&wasm("peershare_flood_unacked.wasm"), Some("alice"));
    assert_eq!(unacked.score, 35.0, "{}", report::text(&unacked));
    assert_statuses(
        &unacked,
        &[
            ("Broadcasts reach every node on a reliable", TestStatus::Passed),
            ("Broadcasts reach every node under 20% loss", TestStatus::Failed),
            ("Broadcasts are not much dearer", TestStatus::Passed),
            ("Broadcasts survive crashes", TestStatus::Failed),
            ("Hidden", TestStatus::Failed),
        ],
    );
    // Under loss alone a few nodes miss each broadcast: measured from the
    // messages, whatever the peer claims.
    for s in &test(&unacked, "Broadcasts reach every node under 20% loss").seeds {
        let coverage: f64 = s.checks[0].got.parse().unwrap();
        assert!((0.95..0.995).contains(&coverage), "seed {}: {coverage}", s.seed);
        assert!(s.checks[1].passed, "nothing crashed");
    }
    // The drawn crashes and partitions are not what it fails on: shrinking
    // ends with a schedule of at most one fault.
    for s in &test(&unacked, "Broadcasts survive crashes").seeds {
        assert!(!s.faults.is_empty());
        let shrunk = s.shrunk.as_ref().expect("a failing schedule is shrunk");
        assert!(shrunk.faults.len() <= 1, "{shrunk:?}");
    }
}

/// A suite of one state check over the containment fixture's six
/// hostile peers with `behaviour`, each run limited to `run_timeout`.
fn state_check_suite(behaviour: &str, run_timeout: &str) -> Suite {
    let text = format!(
        r#"
groups = ["peers"]
run_timeout = "{run_timeout}"

[[tests]]
name = "states"
scenario = "peers.toml"
seeds = 1
points = 1
set = {{ "groups.peers.config.behaviour" = "{behaviour}" }}
checks = [{{ node_field = "inspected", at_least = 0 }}]
"#
    );
    fixture_suite(&text)
}

#[test]
fn state_checks_are_contained_like_the_run() {
    let peer = wasm("peershare_hostile.wasm");
    // A peer that blocks inside `inspect` crashes there, and the check
    // says so instead of reading a state.
    let grade = Grader::new(state_check_suite("sleepy-inspect", "1min"), 1).grade(&peer);
    let check = &test(&grade, "states").seeds[0].checks[0];
    assert_eq!((check.passed, check.got.as_str()), (false, "no node running your peer was up at the end"));
    assert!(check.detail.as_deref().is_some_and(|d| d.contains("tried to block")), "{check:?}");
    // Reading states counts against the run's wall-clock limit: a run
    // that used it up is stopped before the next node is read (here at
    // once, since 1 ms is gone before the first).
    let grade = Grader::new(state_check_suite("honest", "1ms"), 1).grade(&peer);
    let seed = &test(&grade, "states").seeds[0];
    let why = seed.stopped.as_deref().unwrap_or_else(|| panic!("not stopped: {seed:?}"));
    assert!(why.contains("while reading the nodes' states at the end (node 0's `inspect`"), "{why}");
    // With time enough, the honest peers' states are read and checked.
    let grade = Grader::new(state_check_suite("honest", "1min"), 1).grade(&peer);
    let check = &test(&grade, "states").seeds[0].checks[0];
    assert_eq!((check.passed, check.got.as_str()), (true, "all 6 keep it"), "{check:?}");
}
