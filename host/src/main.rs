//! The `peershare` command: run scenarios and show what happened.

mod experiment_command;
mod inspect;
mod viz_files;

use clap::{Parser, Subcommand};
use peershare::error::FileError;
use peershare::events::Event;
use peershare::prelude::*;
use peershare::summary::Summary;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The scenario `peershare demo` runs (also `examples/flood.toml`).
const DEMO_SCENARIO: &str = include_str!("../../examples/flood.toml");

/// PeerShare: a deterministic peer-to-peer network simulator whose peers are
/// sandboxed WebAssembly components.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a built-in demo: 200 peers flooding broadcasts over a lossy,
    /// bandwidth-limited network; prints a walk-through and a summary.
    Demo {
        /// Seed for the run (default: the scenario's).
        #[arg(long)]
        seed: Option<u64>,
        /// Also write events.jsonl and summary.json here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run a scenario file; print a summary and write the event log and
    /// results to the output folder.
    Run {
        /// The scenario (TOML); see examples/.
        scenario: PathBuf,
        /// Seed for the run (default: the scenario's `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// Folder for events.jsonl and summary.json.
        #[arg(long, default_value = "peershare-out")]
        out: PathBuf,
        /// Print nothing but errors.
        #[arg(long, short)]
        quiet: bool,
        /// Do not capture messages (no capture.bin; a little faster).
        #[arg(long)]
        no_capture: bool,
        /// Which events to write to events.jsonl: all; ops (operations,
        /// traces, faults, crashes, logs: no per-message events, a small
        /// fraction of the size); none (no events.jsonl).
        #[arg(long, default_value = "all", value_parser = ["all", "ops", "none"])]
        events: String,
        /// Also write visualisation files: topology snapshots every tenth
        /// of the run (timeline.json), the last one as topology.json
        /// (node-link), .graphml and .dot, lookup traces (lookups.json), a
        /// consensus timeline (consensus.json), and Vega-Lite plots (*.vl.json).
        #[arg(long)]
        viz: bool,
        /// Edit the scenario before running: PATH=VALUE with a path as in
        /// experiment files and a TOML value (`--set 'groups.dht.config.k=8'`,
        /// `--set 'network.latency={ model = "constant", value = "5ms" }'`).
        #[arg(long = "set", value_name = "PATH=VALUE")]
        sets: Vec<String>,
        /// Run every group with this plugin (a built-in name or a .wasm
        /// file), or only GROUP with GROUP=PLUGIN; may be repeated.
        #[arg(long = "plugin", value_name = "[GROUP=]PLUGIN")]
        plugins: Vec<String>,
        /// Add a fault to the scenario's, as an inline table of a
        /// `[[faults]]` entry (`--fault '{ at = "20s", duration = "5s",
        /// target = { nodes = [3] }, crash = { recovery = "keep-state" } }'`);
        /// may be repeated. Grading's replay commands use it.
        #[arg(long = "fault", value_name = "FAULT")]
        faults: Vec<String>,
    },
    /// Grade a submitted peer (.wasm) with an assignment's suite: every
    /// test on every seed, scores, and for each failure what was expected,
    /// what happened and the command that replays it.
    Grade {
        /// The submission (.wasm); or a folder of submissions, one .wasm
        /// file or one folder per student, to grade them all: results per
        /// student, class.csv and class-report.md in --out (default grades).
        #[arg(required_unless_present = "check")]
        submission: Option<PathBuf>,
        /// The assignment's suite (TOML; see examples/assignments/).
        #[arg(long)]
        suite: PathBuf,
        /// What to print: text (for people), json (the whole grade),
        /// gradescope or prairielearn (their results.json).
        #[arg(long, default_value = "text", value_parser = ["text", "json", "gradescope", "prairielearn"])]
        format: String,
        /// Also write results.json (in --format, json for text),
        /// grade.json and report.txt here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Runs at the same time (default: the number of cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// The folder is one student's submission: grade its one .wasm
        /// file (a folder with none or several gets a zero saying so), as
        /// the Gradescope and PrairieLearn scripts in grading/ do.
        #[arg(long)]
        single: bool,
        /// Check the suite instead: it loads, and its reference scores
        /// full marks (exit status 1 if not).
        #[arg(long, conflicts_with = "submission")]
        check: bool,
        /// Who submitted it: seeds the tests' per-student fault schedules,
        /// so each student meets their own (a class folder uses the names
        /// of its entries).
        #[arg(long)]
        student: Option<String>,
        /// Read who submitted it from a platform's file instead:
        /// Gradescope's submission_metadata.json (its users' ids) or
        /// PrairieLearn's data.json (its variant_seed).
        #[arg(long, conflicts_with = "student")]
        student_from: Option<PathBuf>,
    },
    /// Run an experiment file: every variant on every seed, then the
    /// statistics, a report and plots (see examples/experiments/). Runs
    /// already in the output folder are reused.
    Experiment {
        /// The experiment (TOML).
        experiment: PathBuf,
        /// Folder for runs/, runs.csv, stats.csv, report.md and plots/.
        #[arg(long, default_value = "experiment-out")]
        out: PathBuf,
        /// Runs at the same time (default: the number of cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// Print nothing but errors.
        #[arg(long, short)]
        quiet: bool,
        /// Carry out each run in a process of its own (`peershare
        /// run-spec`): a run that crashes or hangs the process is a failed
        /// run and the rest go on. Slower: each run starts a process.
        #[arg(long)]
        isolate: bool,
    },
    /// Plugins head to head on one scenario: each plugin (a built-in name
    /// or a .wasm file) runs every group of the scenario on the same seeds.
    Compare {
        /// Two or more plugins.
        #[arg(required = true, num_args = 2..)]
        plugins: Vec<String>,
        /// The scenario (TOML).
        #[arg(long)]
        scenario: PathBuf,
        /// Seeds 1 to N.
        #[arg(long, default_value_t = 30)]
        seeds: u64,
        /// A metric to report (repeat for more; default: all).
        #[arg(long = "metric")]
        metrics: Vec<String>,
        /// Folder for the results.
        #[arg(long, default_value = "compare-out")]
        out: PathBuf,
        /// Runs at the same time (default: the number of cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// Print nothing but errors.
        #[arg(long, short)]
        quiet: bool,
        /// Carry out each run in a process of its own (`peershare
        /// run-spec`): a run that crashes or hangs the process is a failed
        /// run and the rest go on. Slower: each run starts a process.
        #[arg(long)]
        isolate: bool,
    },
    /// Carry out one run of an experiment, given as the JSON of a run spec
    /// (a file, or - for standard input), and print its result as JSON:
    /// what `--isolate` starts for every run, and the unit of work for
    /// spreading an experiment over machines.
    RunSpec {
        /// The run spec (JSON), or - to read it from standard input.
        spec: PathBuf,
    },
    /// Filter, search and summarise the messages of a run (its capture.bin).
    Inspect(inspect::InspectArgs),
    /// Check a scenario file without running it.
    Check {
        /// The scenario (TOML).
        scenario: PathBuf,
    },
    /// List the built-in plugins.
    Plugins,
    /// Create a new peer crate in PATH (which must not exist or be empty):
    /// a starting peer, the WIT contract, the guest SDK, a scenario and a
    /// README. It builds with `cargo build --release` anywhere.
    New {
        /// The folder to create; its name is the crate's.
        path: PathBuf,
        /// What kind of peer to start from: peer-node (a protocol of its
        /// own), dht-node or consensus-node.
        #[arg(long, default_value = "peer-node", value_parser = ["peer-node", "dht-node", "consensus-node"])]
        world: String,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// How `experiment` and `compare` carry out their runs.
fn run_options(jobs: Option<usize>, isolate: bool) -> Result<peershare::experiment::RunOptions, SimError> {
    use peershare::experiment::{Isolation, RunOptions};
    let isolation = if isolate {
        let program = std::env::current_exe().map_err(|source| FileError::Read { path: "the peershare executable".into(), source })?;
        Isolation::Processes { program }
    } else {
        Isolation::Threads
    };
    Ok(RunOptions { jobs: jobs.unwrap_or_else(default_jobs), isolation, ..RunOptions::default() })
}

/// The scenario at `path` with the `--fault`, `--set` and `--plugin` edits of `peershare run`.
fn edited_scenario(path: &Path, sets: &[String], plugins: &[String], faults: &[String]) -> Result<Scenario, SimError> {
    use peershare::experiment::file::{Override, toml_literal, variant_scenario};
    let text = std::fs::read_to_string(path).map_err(|source| FileError::Read { path: path.display().to_string(), source })?;
    let text = peershare::grading::schedule::with_faults(&text, faults).map_err(|e| SimError::Setup(format!("--fault: {e}")))?;
    let mut edits = Vec::new();
    for p in plugins {
        let (group, plugin) = match p.split_once('=') {
            Some((g, plugin)) if !g.contains('/') => (g, plugin),
            _ => ("*", p.as_str()),
        };
        let value = if plugin.ends_with(".wasm") || plugin.contains('/') {
            let file = Path::new(plugin);
            if !file.is_file() {
                return Err(SimError::Setup(format!("--plugin {p}: no such file: {plugin}")));
            }
            std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf()).display().to_string()
        } else {
            plugin.to_string()
        };
        edits.push(Override { path: format!("groups.{group}.plugin"), value: toml_literal(&toml::Value::String(value)) });
    }
    for s in sets {
        let Some((at, value)) = s.split_once('=') else {
            return Err(SimError::Setup(format!("--set {s}: expected PATH=VALUE, like groups.dht.config.k=8")));
        };
        edits.push(Override { path: at.trim().to_string(), value: value.trim().to_string() });
    }
    variant_scenario(path, &text, &edits).map_err(|e| SimError::Setup(format!("{}: {e}", path.display())))
}

/// `peershare grade`.
fn grade(
    submission: &Path,
    suite: &Path,
    format: &str,
    out: Option<&Path>,
    jobs: Option<usize>,
    single: bool,
    student: Option<&str>,
) -> Result<(), SimError> {
    use peershare::grading::report::Format;
    let suite = peershare::grading::Suite::load(suite)?;
    let format = Format::from_name(format).expect("clap checks the format's name");
    let jobs = jobs.unwrap_or_else(default_jobs);
    if submission.is_dir() && !single {
        return grade_class(submission, suite, format, out.unwrap_or(Path::new("grades")), jobs);
    }
    let grader = peershare::grading::Grader::new(suite, jobs);
    let grade = if submission.is_dir() {
        match peershare::grading::batch::one_wasm_in(submission) {
            Ok(file) => grader.grade_as(&file, student),
            Err(why) => grader.reject(&submission.display().to_string(), &why),
        }
    } else {
        grader.grade_as(submission, student)
    };
    print!("{}", format.render(&grade));
    if let Some(dir) = out {
        peershare::grading::report::write_files(dir, &grade, format)?;
    }
    if !grade.errors.is_empty() {
        for e in &grade.errors {
            eprintln!("grading problem (not the submission's doing): {e}");
        }
        return Err(SimError::Setup(format!(
            "{} runs could not be judged; the results are written, but the suite needs a look",
            grade.errors.len()
        )));
    }
    Ok(())
}

/// `peershare grade --check --suite SUITE`: the suite loads and its
/// reference scores full marks.
fn check_suite(suite_path: &Path, jobs: Option<usize>) -> Result<(), SimError> {
    let suite = peershare::grading::Suite::load(suite_path)?;
    for warning in suite.warnings() {
        eprintln!("warning: {}: {warning}", suite_path.display());
    }
    let Some(reference) = suite.reference.clone() else {
        println!(
            "{} loads: {} tests, {} points. It names no `reference`, so there is no peer to check it with.",
            suite_path.display(),
            suite.tests.len(),
            suite.max_score()
        );
        return Ok(());
    };
    let file = if reference.ends_with(".wasm") {
        PathBuf::from(&reference)
    } else {
        let bytes = peershare::builtin::bytes(&reference).expect("the suite checked the name");
        let file = std::env::temp_dir().join(format!("peershare-reference-{}-{reference}.wasm", std::process::id()));
        std::fs::write(&file, bytes).map_err(|source| FileError::Write { path: file.display().to_string(), source })?;
        file
    };
    let grader = peershare::grading::Grader::new(suite, jobs.unwrap_or_else(default_jobs));
    let grade = grader.grade(&file);
    if !reference.ends_with(".wasm") {
        let _ = std::fs::remove_file(&file);
    }
    if grade.score == grade.max_score && grade.errors.is_empty() {
        println!("{} loads, and its reference {reference} scores {} of {}.", suite_path.display(), grade.score, grade.max_score);
        return Ok(());
    }
    print!("{}", peershare::grading::report::text(&grade));
    Err(SimError::Setup(format!(
        "the reference {reference} scores {} of {}: a correct peer would lose points; fix the suite",
        grade.score, grade.max_score
    )))
}

/// `peershare grade FOLDER`: every submission in it.
fn grade_class(
    dir: &Path,
    suite: peershare::grading::Suite,
    format: peershare::grading::report::Format,
    out: &Path,
    jobs: usize,
) -> Result<(), SimError> {
    use peershare::grading::batch;
    let submissions = batch::submissions(dir)?;
    if submissions.is_empty() {
        return Err(SimError::Setup(format!("{} holds no submissions (a .wasm file or a folder per student)", dir.display())));
    }
    let max = suite.max_score();
    // Submissions run side by side, each on one thread.
    let grader = peershare::grading::Grader::new(suite, 1);
    let started = std::time::Instant::now();
    println!("Grading {} submissions, {jobs} at a time.", submissions.len());
    let grades = batch::grade_all(&grader, &submissions, jobs, &|student, grade| {
        let note = grade.rejected.as_deref().map_or(String::new(), |why| format!(" (not run: {why})"));
        println!("  {student}: {} of {}{note}", peershare::grading::report::points(grade.score), peershare::grading::report::points(max));
    });
    batch::write_class(out, &grades, format)?;
    let report = batch::ClassReport::of(&grades);
    println!("\n{}", report.markdown());
    println!(
        "Graded in {:.1} s. Wrote {1}/<student>/results.json, {1}/class.csv, {1}/class-report.md, {1}/scores.vl.json and {1}/pass-rates.vl.json.",
        started.elapsed().as_secs_f64(),
        out.display()
    );
    if report.errors > 0 {
        return Err(SimError::Setup(format!(
            "{} runs could not be judged; the results are written, but the suite needs a look",
            report.errors
        )));
    }
    Ok(())
}

fn run(cli: Cli) -> Result<(), SimError> {
    match cli.command {
        Command::Experiment { experiment, out, jobs, quiet, isolate } => {
            let exp = peershare::experiment::Experiment::load(&experiment)?;
            let command = format!("peershare experiment {} --out {}", experiment.display(), out.display());
            Ok(experiment_command::run(&exp, &out, run_options(jobs, isolate)?, quiet, &command)?)
        }
        Command::RunSpec { spec } => {
            let (text, origin) = if spec.as_os_str() == "-" {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                    .map_err(|source| FileError::Read { path: "standard input".into(), source })?;
                (text, "standard input".to_string())
            } else {
                let text = std::fs::read_to_string(&spec).map_err(|source| FileError::Read { path: spec.display().to_string(), source })?;
                (text, spec.display().to_string())
            };
            println!("{}", peershare::experiment::process::serve(&text, &origin)?);
            Ok(())
        }
        Command::Compare { plugins, scenario, seeds, metrics, out, jobs, quiet, isolate } => {
            let exp = peershare::experiment::Experiment::plugins_head_to_head(&scenario, &plugins, seeds, &metrics)?;
            let metric_args: String = metrics.iter().map(|m| format!(" --metric {m}")).collect();
            let command = format!(
                "peershare compare {} --scenario {} --seeds {seeds}{metric_args} --out {}",
                plugins.join(" "),
                scenario.display(),
                out.display()
            );
            Ok(experiment_command::run(&exp, &out, run_options(jobs, isolate)?, quiet, &command)?)
        }
        Command::Demo { seed, out } => {
            let scenario = Scenario::parse(DEMO_SCENARIO, "examples/flood.toml (built in)", Path::new("."))?;
            let scenario = match seed {
                Some(s) => scenario.with_seed(s),
                None => scenario,
            };
            println!("PeerShare demo: {} peers running the `flood` WebAssembly plugin, seed {}.", scenario.node_count(), scenario.seed());
            println!("Each second one peer broadcasts; the message floods hop by hop until its TTL runs out.\n");
            let sim = simulate(&scenario, false, out.is_some(), None)?;
            walk_through(&sim);
            print_summary(&sim.summary(), &[]);
            if let Some(dir) = out {
                write_outputs(&sim, &dir, peershare::events::EventFilter::All)?;
                println!("\nWrote {0}/events.jsonl and {0}/summary.json.", dir.display());
            }
            println!(
                "\nNext: `peershare run examples/flood.toml --out results` writes the full event log; edit the scenario and run again."
            );
            Ok(())
        }
        Command::Inspect(args) => inspect::inspect(args),
        Command::New { path, world } => {
            let world = peershare::scaffold::World::from_name(&world).expect("clap checks the world's name");
            let files = peershare::scaffold::create(&path, world).map_err(|e| SimError::Setup(e.to_string()))?;
            println!("Created {} ({}, {} files). Next:", path.display(), world.name(), files.len());
            println!("  cd {}", path.display());
            println!("  cargo build --release                       # the peer, as a WebAssembly component");
            println!("  peershare run scenario.toml --out results   # run it; see results/events.jsonl");
            println!("  cargo test --target x86_64-unknown-linux-gnu   # its unit tests, natively");
            Ok(())
        }
        Command::Grade { submission, suite, format, out, jobs, single, check, student, student_from } => match submission {
            Some(submission) if !check => {
                let student = match student_from {
                    Some(file) => Some(peershare::grading::platform::student_from(&file)?),
                    None => student,
                };
                grade(&submission, &suite, &format, out.as_deref(), jobs, single, student.as_deref())
            }
            _ => check_suite(&suite, jobs),
        },
        Command::Run { scenario, seed, out, quiet, no_capture, viz, events, sets, plugins, faults } => {
            let events = peershare::events::EventFilter::from_name(&events).expect("clap checks the filter's name");
            let path = scenario.clone();
            let scenario = if sets.is_empty() && plugins.is_empty() && faults.is_empty() {
                Scenario::load(&scenario)?
            } else {
                edited_scenario(&scenario, &sets, &plugins, &faults)?
            };
            let scenario = match seed {
                Some(s) => scenario.with_seed(s),
                None => scenario,
            };
            let mut recorder = viz.then(viz_files::VizRecorder::new);
            let sim = simulate(&scenario, quiet, !no_capture, recorder.as_mut())?;
            write_outputs(&sim, &out, events)?;
            let viz_written = match &recorder {
                Some(r) => r.write(&sim, &out)?,
                None => Vec::new(),
            };
            if !quiet {
                let summary = sim.summary();
                // Snapshots read `inspect` answers, which the event log never sees.
                let seen_in_snapshots: Vec<String> =
                    recorder.iter().flat_map(|r| r.warnings()).filter(|w| !summary.convention_warnings.contains(w)).cloned().collect();
                print_summary(&summary, &seen_in_snapshots);
                if !summary.safety_violations.is_empty() {
                    println!("  replay: peershare run {} --seed {}", path.display(), summary.seed);
                }
                let capture = if no_capture { "" } else { ", capture.bin" };
                let log = if events == peershare::events::EventFilter::None {
                    String::new()
                } else {
                    format!("{}/events.jsonl, ", out.display())
                };
                println!("\nWrote {log}{0}/summary.json{capture} (seed {1}).", out.display(), scenario.seed());
                if !no_capture {
                    println!("Explore the messages with `peershare inspect {}` (--help for filters).", out.display());
                }
                if !viz_written.is_empty() {
                    let names: Vec<String> =
                        viz_written.iter().filter_map(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()).collect();
                    println!("Visualisation files: {}", names.join(", "));
                }
            }
            Ok(())
        }
        Command::Check { scenario } => {
            let s = Scenario::load(&scenario)?;
            s.build()?;
            let faults = s.faults()?.len();
            let faults = if faults == 0 { String::new() } else { format!(", {faults} faults") };
            println!("{}: ok ({} nodes, {} of virtual time{faults})", s.origin(), s.node_count(), s.end());
            Ok(())
        }
        Command::Plugins => {
            for name in peershare::builtin::names() {
                let plugin = Plugin::builtin(name)?;
                let exports: Vec<&str> = ["peer", "routing", "discovery", "consensus"].into_iter().filter(|i| plugin.exports(i)).collect();
                println!("{name:10} exports {}", exports.join(", "));
            }
            Ok(())
        }
    }
}

/// Builds and runs a scenario to its end, with a progress bar on a terminal.
fn simulate(scenario: &Scenario, quiet: bool, capture: bool, mut viz: Option<&mut viz_files::VizRecorder>) -> Result<Simulation, SimError> {
    let mut sim = scenario.builder()?.capture(capture).build()?;
    let end = scenario.end();
    let bar = if quiet { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new(100) };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}% of virtual time  {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    for step in 1..=100u64 {
        let t = SimTime(end.as_nanos() / 100 * step).max(if step == 100 { end } else { SimTime::ZERO });
        sim.run_until(t)?;
        if let Some(recorder) = viz.as_deref_mut()
            && step.is_multiple_of(10)
        {
            recorder.snapshot(&mut sim);
        }
        bar.set_position(step);
        bar.set_message(format!("{} events", sim.events().total()));
    }
    bar.finish_and_clear();
    Ok(sim)
}

fn write_outputs(sim: &Simulation, dir: &Path, filter: peershare::events::EventFilter) -> Result<(), SimError> {
    let err = |path: PathBuf| move |source| SimError::Output { path: path.display().to_string(), source };
    std::fs::create_dir_all(dir).map_err(err(dir.to_path_buf()))?;
    let events = dir.join("events.jsonl");
    if filter == peershare::events::EventFilter::None {
        // No stale log from an earlier run in the same folder.
        let _ = std::fs::remove_file(&events);
    } else {
        let file = std::fs::File::create(&events).map_err(err(events.clone()))?;
        let mut w = std::io::BufWriter::new(file);
        sim.events().write_jsonl_filtered(&mut w, filter).map_err(err(events.clone()))?;
        std::io::Write::flush(&mut w).map_err(err(events.clone()))?;
    }
    let summary = dir.join("summary.json");
    let json = serde_json::to_string_pretty(&sim.summary()).expect("a summary always serialises");
    std::fs::write(&summary, json + "\n").map_err(err(summary))?;
    if let Some(capture) = sim.capture() {
        capture.save(&dir.join("capture.bin"))?;
    }
    Ok(())
}

/// Follows the first broadcast through the network.
fn walk_through(sim: &Simulation) {
    let events = sim.events().events();
    let Some(start) = events.iter().position(|e| matches!(e.event, Event::OperationStarted { .. })) else {
        return;
    };
    println!("The first broadcast, event by event (virtual time, what happened):");
    let mut shown = 0;
    let mut floods = std::collections::HashSet::new();
    for e in &events[start..] {
        let line = match &e.event {
            Event::OperationStarted { node, kind, .. } => format!("node {node} is asked to {kind}"),
            Event::Sent { from, to, bytes, .. } => match peershare::wire::Record::decode(bytes) {
                Ok(r) if r.kind == "FLOOD" => {
                    floods.insert(msg_id(&e.event));
                    format!("node {from} sends {r} to node {to}")
                }
                _ => continue,
            },
            Event::Delivered { from, to, msg } if floods.contains(&Some(*msg)) => format!("node {to} receives a message from node {from}"),
            Event::Dropped { from, to, reason, msg } if floods.contains(&Some(*msg)) => {
                format!("a message from node {from} to node {to} is dropped: {}", reason.name())
            }
            _ => continue,
        };
        println!("  {:>12}  {line}", e.time.to_string());
        shown += 1;
        if shown >= 12 {
            println!("  ... (the full log is in events.jsonl with --out DIR)\n");
            break;
        }
    }
}

fn msg_id(event: &Event) -> Option<u64> {
    match event {
        Event::Sent { msg, .. } => Some(*msg),
        _ => None,
    }
}

/// Prints the summary, after the convention warnings of published states
/// and `more_warnings` (those of inspected states).
fn print_summary(s: &Summary, more_warnings: &[String]) {
    let warnings: Vec<&String> = s.convention_warnings.iter().chain(more_warnings).collect();
    for w in warnings.iter().take(10) {
        eprintln!("warning: {w}");
    }
    if warnings.len() > 10 {
        let whole = if more_warnings.is_empty() { "summary.json lists them all" } else { "timeline.json has each node's" };
        eprintln!("warning: ... and {} more convention warnings ({whole})", warnings.len() - 10);
    }
    println!("Summary after {:.1} s of virtual time, {} nodes, {} events:", s.end_time_s, s.nodes, s.events);
    let m = &s.messages;
    println!("  messages: {} sent, {} delivered, {} bytes sent", m.sent, m.delivered, m.bytes_sent);
    for (reason, n) in &m.dropped {
        println!("  dropped ({reason}): {n}");
    }
    for (kind, k) in &m.by_kind {
        println!("    {kind:16} {:>9} sent {:>9} delivered {:>11} bytes", k.sent, k.delivered, k.bytes_sent);
    }
    for (kind, o) in &s.operations {
        let latency = o.latency_ms.as_ref().map(|l| format!(", latency mean {:.1} ms, p99 {:.1} ms", l.mean, l.p99)).unwrap_or_default();
        println!("  operation {kind}: {} issued, {} succeeded ({:.1}%){latency}", o.issued, o.succeeded, 100.0 * o.success_rate);
    }
    if let Some(c) = &s.correctness {
        if c.lookups_checked > 0 {
            let how = match (c.xor_lookups > 0, c.ring_lookups > 0) {
                (true, false) => "found exactly the k closest live nodes (XOR)",
                (false, true) => "named the key's true successor (ring)",
                _ => "were right (exact k closest by XOR, or true ring successor)",
            };
            println!(
                "  correct: {} of {} successful lookups {how} ({:.1}%)",
                c.lookups_correct,
                c.lookups_checked,
                100.0 * c.lookup_rate()
            );
        }
        if c.gets_after_put > 0 {
            println!("  correct: {} of {} gets after a put returned the value put", c.gets_after_put_correct, c.gets_after_put);
        }
    }
    for f in &s.faults {
        let name = f.name.as_deref().map(|n| format!(" {n:?}")).unwrap_or_default();
        let when = match (f.started_s, f.ended_s) {
            (None, _) => "never started".to_string(),
            (Some(a), None) => format!("from {a:.1} s on"),
            (Some(a), Some(b)) => format!("{a:.1} s to {b:.1} s"),
        };
        let mut acts = vec![format!("{} dropped", f.dropped), format!("{} altered", f.altered)];
        if f.nodes > 0 {
            acts.insert(0, format!("{} nodes", f.nodes));
        }
        if f.departures > 0 {
            acts.push(format!("{} down, {} back", f.departures, f.returns));
        }
        println!("  fault {}{name} ({}), {when}: {}", f.id, f.kind, acts.join(", "));
    }
    if !s.down.is_empty() {
        println!("  nodes down at the end: {}", s.down.len());
    }
    if let Some(l) = &s.linearizability {
        let verdict = match (l.not_linearizable, l.unknown) {
            (0, 0) => "linearizable".to_string(),
            (0, u) => format!("{u} undecided within the search budget, the rest linearizable"),
            (n, _) => format!("{n} NOT linearizable"),
        };
        println!(
            "  key/value clients: {} operations ({} answered) on {} registers (key x cluster): {verdict}",
            l.operations, l.answered, l.registers
        );
    }
    for v in &s.safety_violations {
        println!("  SAFETY VIOLATION: {v}; nodes {:?}", v.nodes);
    }
    if !s.crashed.is_empty() {
        println!("  crashed nodes: {}", s.crashed.len());
        for (node, reason) in s.crashed.iter().take(5) {
            println!("    node {node}: {reason}");
        }
    }
}
