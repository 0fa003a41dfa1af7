//! Experiments: results independent of the number of jobs, resuming,
//! failed runs kept apart, and every metric checked against a brute-force
//! computation from the event log. The CLI's end-to-end test is
//! host/tests/cli_experiment.rs.

use peershare::events::Event;
use peershare::experiment::{self, Experiment, RunOptions, RunStatus, metrics};
use peershare::prelude::*;
use peershare_e2e::repo_root;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A fresh scratch folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("peershare-e2e-exp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A small Kademlia network with lookups, a put and gets.
const BASE: &str = r#"
duration = "12s"
[network]
latency = { model = "uniform", min = "10ms", max = "50ms" }
loss = 0.01
[[groups]]
name = "dht"
count = 40
plugin = "kademlia"
bootstrap = { strategy = "first" }
join_interval = "20ms"
config = { k = 8, timeout_ms = 500 }
[[workload]]
op = "lookup"
rate = 20.0
start = "3s"
end = "11s"
[[workload]]
op = "put"
key = "text:x"
value = "text:1"
at = "3s"
[[workload]]
op = "get"
key = "text:x"
every = "1s"
start = "5s"
end = "11s"
"#;

fn experiment_in(dir: &Path, extra: &str) -> Experiment {
    std::fs::write(dir.join("base.toml"), BASE).unwrap();
    let text = format!("scenario = \"base.toml\"\n{extra}\n[[factors]]\nname = \"k\"\npath = \"groups.dht.config.k\"\nvalues = [4, 8]\n");
    std::fs::write(dir.join("exp.toml"), text).unwrap();
    Experiment::load(&dir.join("exp.toml")).unwrap()
}

/// Every output file but the per-run files (which hold wall-clock times).
fn outputs(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for name in ["runs.csv", "runs.jsonl", "failed.csv", "stats.csv", "stats.json", "report.md"] {
        files.insert(name.to_string(), std::fs::read(dir.join(name)).unwrap());
    }
    for e in std::fs::read_dir(dir.join("plots")).unwrap() {
        let e = e.unwrap();
        files.insert(format!("plots/{}", e.file_name().to_string_lossy()), std::fs::read(e.path()).unwrap());
    }
    files
}

fn run_and_write(exp: &Experiment, out: &Path, jobs: usize) -> experiment::Results {
    let results = experiment::run(exp, out, &RunOptions { jobs, ..RunOptions::default() }, &mut |_| {}).unwrap();
    let analysis = results.analyse();
    experiment::output::write_all(&results, &analysis, out, "peershare experiment exp.toml").unwrap();
    results
}

#[test]
fn results_are_byte_identical_whatever_the_number_of_jobs() {
    let dir = scratch("jobs");
    let exp = experiment_in(&dir, "seeds = 3");
    let one = run_and_write(&exp, &dir.join("one"), 1);
    run_and_write(&exp, &dir.join("two"), 2);
    assert_eq!(one.runs.len(), 6);
    assert!(one.runs.iter().all(|r| r.is_ok()), "{:?}", one.runs.iter().find(|r| !r.is_ok()));
    let (a, b) = (outputs(&dir.join("one")), outputs(&dir.join("two")));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (name, bytes) in &a {
        assert!(bytes == &b[name], "{name} differs between --jobs 1 and --jobs 2");
    }
    // The tidy table has one row per run and metric, with the factor as a column.
    let csv = String::from_utf8(a["runs.csv"].clone()).unwrap();
    assert!(csv.starts_with("variant,k,seed,metric,value\n"), "{csv:.200}");
    assert!(csv.contains("\nk=8,8,3,lookup.success_rate,"), "{csv:.400}");
    let rows = csv.lines().count() - 1;
    let metrics: usize = one.runs.iter().map(|r| r.metrics.len()).sum();
    assert_eq!(rows, metrics);
    // Each variant's metrics really differ: k is applied.
    let msgs = |label: &str| {
        let d = one.analyse();
        d.cell("lookup.messages_mean", label).unwrap().mean
    };
    assert!(msgs("k=8") > msgs("k=4"), "k=8 asks more nodes per lookup than k=4");
}

#[test]
fn an_interrupted_experiment_resumes_with_the_runs_it_lacks() {
    let dir = scratch("resume");
    let out = dir.join("out");
    let first = experiment_in(&dir, "seeds = [1, 2]");
    run_and_write(&first, &out, 2);
    let files_after_first: BTreeSet<_> = std::fs::read_dir(out.join("runs")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(files_after_first.len(), 4, "one file per run");
    // An interrupted run leaves at most a partial file, which never counts;
    // a lost result is run again.
    let lost = files_after_first.iter().next().unwrap().clone();
    std::fs::rename(out.join("runs").join(&lost), out.join("runs").join(lost.to_string_lossy().replace(".json", ".json.partial"))).unwrap();

    let more = experiment_in(&dir, "seeds = [1, 2, 3]");
    let mut last = experiment::Progress::default();
    let results = experiment::run(&more, &out, &RunOptions { jobs: 2, ..RunOptions::default() }, &mut |p| last = p.clone()).unwrap();
    assert_eq!((last.total, last.reused, last.done, last.failed), (6, 3, 3, 0));
    assert_eq!(results.runs.len(), 6);
    // The same results as running everything from scratch.
    let fresh = run_and_write(&more, &dir.join("fresh"), 1);
    let metrics = |r: &experiment::Results| r.runs.iter().map(|r| r.metrics.clone()).collect::<Vec<_>>();
    assert_eq!(metrics(&results), metrics(&fresh));
    // A changed scenario is a different experiment: nothing is reused.
    std::fs::write(dir.join("base.toml"), BASE.replace("count = 40", "count = 30")).unwrap();
    let changed = Experiment::load(&dir.join("exp.toml")).unwrap();
    let mut reused = usize::MAX;
    experiment::run(&changed, &out, &RunOptions { jobs: 2, ..RunOptions::default() }, &mut |p| reused = p.reused).unwrap();
    assert_eq!(reused, 0);
}

#[test]
fn a_failing_run_is_recorded_and_the_others_go_on() {
    let dir = scratch("failing");
    std::fs::write(dir.join("base.toml"), BASE).unwrap();
    std::fs::write(dir.join("broken.wasm"), b"not a component").unwrap();
    let text = "scenario = \"base.toml\"\nseeds = 2\n\n[[plugins]]\nplugin = \"kademlia\"\n\n[[plugins]]\nlabel = \"student\"\nplugin = \"broken.wasm\"\n";
    std::fs::write(dir.join("exp.toml"), text).unwrap();
    let exp = Experiment::load(&dir.join("exp.toml")).unwrap();
    let out = dir.join("out");
    let results = run_and_write(&exp, &out, 2);
    let (ok, failed): (Vec<_>, Vec<_>) = results.runs.iter().partition(|r| r.is_ok());
    assert_eq!((ok.len(), failed.len()), (2, 2));
    assert!(ok.iter().all(|r| r.spec.variant == "kademlia" && !r.metrics.is_empty()));
    for r in &failed {
        let RunStatus::Failed { reason } = &r.status else { unreachable!() };
        assert!(reason.contains("broken.wasm"), "the reason names the plugin: {reason}");
    }
    let failed_csv = std::fs::read_to_string(out.join("failed.csv")).unwrap();
    assert_eq!(failed_csv.lines().count(), 3, "{failed_csv}");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("## Failed runs") && report.contains("student, seed 1:"), "{report}");
    // Failed runs are tried again on the next invocation.
    let mut last = experiment::Progress::default();
    experiment::run(&exp, &out, &RunOptions::default(), &mut |p| last = p.clone()).unwrap();
    assert_eq!((last.reused, last.done, last.failed), (2, 2, 2));
}

#[test]
fn a_run_over_its_wall_clock_limit_fails_with_that_reason() {
    let dir = scratch("timeout");
    let exp = experiment_in(&dir, "seeds = 1\nrun_timeout = \"1ns\"");
    let results = experiment::run(&exp, &dir.join("out"), &RunOptions::default(), &mut |_| {}).unwrap();
    for r in &results.runs {
        let RunStatus::Failed { reason } = &r.status else { panic!("{:?} should have timed out", r.spec.variant) };
        assert!(reason.starts_with("timed out") && reason.contains("run_timeout"), "{reason}");
    }
}

// ---- Metrics against brute force ----

/// Runs `scenario` (capture and events on) and returns the simulation.
fn simulate(text: &str, seed: u64) -> Simulation {
    let scenario = Scenario::parse(text, "test.toml", &repo_root().join("examples")).unwrap().with_seed(seed);
    let mut sim = scenario.builder().unwrap().capture(true).build().unwrap();
    sim.run_until(scenario.end()).unwrap();
    sim
}

fn close(name: &str, ours: Option<&f64>, brute: f64) {
    let ours = *ours.unwrap_or_else(|| panic!("{name} missing"));
    assert!((ours - brute).abs() <= 1e-9 * brute.abs().max(1.0), "{name}: metric {ours}, brute force {brute}");
}

/// Operation figures straight from the event log.
struct LoggedOp {
    kind: String,
    node: NodeIndex,
    issued: SimTime,
    end: Option<(SimTime, bool, Vec<u8>)>,
}

fn logged_operations(sim: &Simulation) -> BTreeMap<u64, LoggedOp> {
    let mut ops = BTreeMap::new();
    for e in sim.events().events() {
        match &e.event {
            Event::OperationStarted { op, node, kind, .. } => {
                ops.insert(*op, LoggedOp { kind: kind.clone(), node: *node, issued: e.time, end: None });
            }
            Event::OperationCompleted { op, ok, result, .. } => {
                ops.get_mut(op).unwrap().end = Some((e.time, *ok, result.to_vec()));
            }
            _ => {}
        }
    }
    ops
}

fn nearest_rank(sorted: &[f64], p: f64) -> f64 {
    sorted[((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

#[test]
fn operation_and_network_metrics_match_the_event_log() {
    let sim = simulate(BASE, 5);
    let m = metrics::standard(&sim);
    let ops = logged_operations(&sim);
    for kind in ["lookup", "put", "get"] {
        let of_kind: Vec<&LoggedOp> = ops.values().filter(|o| o.kind == kind).collect();
        assert!(!of_kind.is_empty(), "{kind}: the workload issues some");
        close(&format!("{kind}.issued"), m.get(&format!("{kind}.issued")), of_kind.len() as f64);
        let ok: Vec<f64> = of_kind
            .iter()
            .filter_map(|o| o.end.as_ref().filter(|e| e.1).map(|e| (e.0.as_nanos() - o.issued.as_nanos()) as f64 / 1e6))
            .collect();
        close(&format!("{kind}.success_rate"), m.get(&format!("{kind}.success_rate")), ok.len() as f64 / of_kind.len() as f64);
        let mut sorted = ok.clone();
        sorted.sort_by(f64::total_cmp);
        close(&format!("{kind}.latency_mean_ms"), m.get(&format!("{kind}.latency_mean_ms")), ok.iter().sum::<f64>() / ok.len() as f64);
        for (p, name) in [(0.5, "p50"), (0.9, "p90"), (0.99, "p99")] {
            close(&format!("{kind}.latency_{name}_ms"), m.get(&format!("{kind}.latency_{name}_ms")), nearest_rank(&sorted, p));
        }
    }
    // The network as a whole.
    let (mut sent, mut bytes, mut delivered) = (0u64, 0u64, 0u64);
    let mut handled = vec![0u64; sim.node_count()];
    for e in sim.events().events() {
        match &e.event {
            Event::Sent { bytes: b, .. } => {
                sent += 1;
                bytes += b.len() as u64;
            }
            Event::Delivered { to, .. } => {
                delivered += 1;
                handled[*to as usize] += 1;
            }
            _ => {}
        }
    }
    let secs = sim.now().as_secs_f64();
    let n = sim.node_count() as f64;
    close("messages_per_node_per_s", m.get("messages_per_node_per_s"), sent as f64 / n / secs);
    close("bytes_per_node_per_s", m.get("bytes_per_node_per_s"), bytes as f64 / n / secs);
    close("delivery_rate", m.get("delivery_rate"), delivered as f64 / sent as f64);
    let mean = handled.iter().sum::<u64>() as f64 / n;
    close("load_max_over_mean", m.get("load_max_over_mean"), *handled.iter().max().unwrap() as f64 / mean);
    let pairs: f64 = handled.iter().flat_map(|a| handled.iter().map(move |b| (*a as f64 - *b as f64).abs())).sum();
    close("load_gini", m.get("load_gini"), pairs / (n * n) / (2.0 * mean));
    close("nodes_crashed", m.get("nodes_crashed"), 0.0);
}

#[test]
fn exactness_metrics_match_a_brute_force_sort_of_every_id() {
    let sim = simulate(BASE, 9);
    let m = metrics::standard(&sim);
    let ops = logged_operations(&sim);
    let ids: Vec<Vec<u8>> = (0..sim.node_count() as NodeIndex).map(|n| sim.node_id(n).unwrap().to_vec()).collect();
    let xor = |a: &[u8], b: &[u8]| a.iter().zip(b).map(|(x, y)| x ^ y).collect::<Vec<u8>>();
    let (mut judged, mut exact) = (0, 0);
    let mut puts: Vec<(SimTime, Vec<u8>, Vec<u8>)> = Vec::new();
    let (mut gets, mut gets_right) = (0, 0);
    let records: Vec<_> = sim.operations().to_vec();
    for rec in &records {
        let logged = &ops[&rec.op];
        match &rec.operation {
            Operation::Lookup { key } => {
                let Some((_, true, result)) = &logged.end else { continue };
                let r = Record::decode(result).unwrap();
                let found = r.nodes("nodes").unwrap_or_default();
                let k = r.u64("k").unwrap() as usize;
                assert_eq!(k, 8, "Kademlia reports the k it aims for");
                // No node fails in this scenario: every started node is live.
                let mut all: Vec<NodeIndex> = (0..ids.len() as NodeIndex).filter(|&n| n != logged.node || found.contains(&n)).collect();
                all.sort_by_key(|&n| xor(&ids[n as usize], key));
                all.truncate(k);
                judged += 1;
                exact += u32::from(found == all);
            }
            Operation::Put { key, value } => {
                if let Some((at, true, _)) = &logged.end {
                    puts.push((*at, key.clone(), value.clone()));
                }
            }
            _ => {}
        }
    }
    for rec in &records {
        let Operation::Get { key } = &rec.operation else { continue };
        let logged = &ops[&rec.op];
        let Some((_, _, value)) = puts.iter().filter(|(at, k, _)| k == key && *at <= logged.issued).max_by_key(|(at, _, _)| *at) else {
            continue;
        };
        gets += 1;
        let got = logged.end.as_ref().filter(|e| e.1).and_then(|e| Record::decode(&e.2).ok()?.bytes("value").map(<[u8]>::to_vec));
        gets_right += u32::from(got.as_deref() == Some(value.as_slice()));
    }
    assert!(judged > 50 && gets > 3, "{judged} lookups, {gets} gets");
    close("lookup.exact_rate", m.get("lookup.exact_rate"), f64::from(exact) / f64::from(judged));
    close("get.after_put_rate", m.get("get.after_put_rate"), f64::from(gets_right) / f64::from(gets));
}

#[test]
fn causal_chain_metrics_of_a_flood_match_the_event_log() {
    // Flooding forwards on delivery, never from a timer, so every message
    // of a broadcast follows, in the log, the delivery that caused it.
    let text = std::fs::read_to_string(repo_root().join("examples/flood.toml")).unwrap().replace("count = 200", "count = 60");
    let sim = simulate(&text, 3);
    let m = metrics::standard(&sim);
    let ops = logged_operations(&sim);
    // The cause of each message: the operation and hop of the handler that sent it.
    let mut cause_of_msg: BTreeMap<u64, (u64, u16)> = BTreeMap::new();
    let mut current: Option<(u64, u16)> = None;
    let mut chains: BTreeMap<u64, (u64, u64, u16)> = BTreeMap::new(); // op -> messages, bytes, depth
    let mut first_reached: BTreeMap<u64, BTreeMap<NodeIndex, SimTime>> = BTreeMap::new();
    let mut deliveries: BTreeMap<u64, (u64, u64)> = BTreeMap::new(); // op -> deliveries, duplicates
    for e in sim.events().events() {
        match &e.event {
            Event::OperationStarted { op, .. } => current = Some((*op, 0)),
            Event::Delivered { msg, to, .. } => {
                current = cause_of_msg.get(msg).copied();
                if let Some((op, _)) = current {
                    let d = deliveries.entry(op).or_default();
                    d.0 += 1;
                    let reached = first_reached.entry(op).or_default();
                    if *to == ops[&op].node || reached.contains_key(to) {
                        d.1 += 1;
                    } else {
                        reached.insert(*to, e.time);
                    }
                }
            }
            Event::TimerFired { .. } | Event::NodeStarted { .. } => current = None,
            Event::Sent { msg, bytes, .. } => {
                if let Some((op, hop)) = current {
                    cause_of_msg.insert(*msg, (op, hop + 1));
                    let c = chains.entry(op).or_default();
                    c.0 += 1;
                    c.1 += bytes.len() as u64;
                    c.2 = c.2.max(hop + 1);
                }
            }
            _ => {}
        }
    }
    let broadcasts: Vec<(&u64, &LoggedOp)> = ops.iter().filter(|(_, o)| o.kind == "broadcast").collect();
    let n = broadcasts.len() as f64;
    assert!(n >= 10.0);
    let chain = |op: &u64| chains.get(op).copied().unwrap_or_default();
    close(
        "broadcast.messages_mean",
        m.get("broadcast.messages_mean"),
        broadcasts.iter().map(|(op, _)| chain(op).0 as f64).sum::<f64>() / n,
    );
    close("broadcast.bytes_mean", m.get("broadcast.bytes_mean"), broadcasts.iter().map(|(op, _)| chain(op).1 as f64).sum::<f64>() / n);
    let with_messages: Vec<f64> = broadcasts.iter().filter(|(op, _)| chain(op).0 > 0).map(|(op, _)| f64::from(chain(op).2)).collect();
    close("broadcast.depth_mean", m.get("broadcast.depth_mean"), with_messages.iter().sum::<f64>() / with_messages.len() as f64);
    // Every node has started by the first broadcast and none fails.
    let nodes = sim.node_count() as f64;
    let coverage: f64 = broadcasts.iter().map(|(op, _)| (first_reached.get(op).map_or(0, |r| r.len()) + 1) as f64 / nodes).sum::<f64>() / n;
    close("broadcast.coverage", m.get("broadcast.coverage"), coverage);
    let (d, dup) = deliveries.values().fold((0, 0), |(a, b), (x, y)| (a + x, b + y));
    close("broadcast.duplicate_ratio", m.get("broadcast.duplicate_ratio"), dup as f64 / d as f64);
    let converged: Vec<f64> = broadcasts
        .iter()
        .filter(|(op, _)| first_reached.get(op).is_some_and(|r| r.len() + 1 == sim.node_count()))
        .map(|(op, o)| (first_reached[op].values().max().unwrap().as_nanos() - o.issued.as_nanos()) as f64 / 1e6)
        .collect();
    if converged.is_empty() {
        assert!(!m.contains_key("broadcast.convergence_ms"));
    } else {
        close("broadcast.convergence_ms", m.get("broadcast.convergence_ms"), converged.iter().sum::<f64>() / converged.len() as f64);
    }
}

/// `state.agreement` and `state.convergence_ms` recomputed after every
/// event from every node's last publication, without running counts.
fn brute_force_agreement(sim: &Simulation) -> Option<(f64, Option<SimTime>)> {
    let n = sim.node_count();
    let (mut up, mut state) = (vec![false; n], vec![None::<Vec<u8>>; n]);
    let (mut since, mut published) = (None, false);
    for e in sim.events().events() {
        match &e.event {
            Event::NodeStarted { node, .. } => up[*node as usize] = true,
            Event::NodeUp { node, state_kept, .. } => {
                if !up[*node as usize] && !state_kept {
                    state[*node as usize] = None;
                }
                up[*node as usize] = true;
            }
            Event::NodeDown { node, .. } | Event::Crashed { node, .. } => up[*node as usize] = false,
            Event::StatePublished { node, state: s } => {
                state[*node as usize] = Some(s.to_vec());
                published = true;
            }
            _ => continue,
        }
        let held: Vec<&Option<Vec<u8>>> = (0..n).filter(|&i| up[i]).map(|i| &state[i]).collect();
        let agree = !held.is_empty() && held.iter().all(|s| s.is_some() && *s == held[0]);
        since = if agree { since.or(Some(e.time)) } else { None };
    }
    let held: Vec<&Vec<u8>> = (0..n).filter(|&i| up[i]).filter_map(|i| state[i].as_ref()).collect();
    let ups = up.iter().filter(|&&u| u).count();
    if !published || ups == 0 {
        return None;
    }
    let most = held.iter().map(|s| held.iter().filter(|t| *t == s).count()).max().unwrap_or(0);
    Some((most as f64 / ups as f64, since))
}

#[test]
fn state_convergence_of_gossip_matches_the_event_log() {
    let gossip = std::fs::read_to_string(repo_root().join("examples/gossip.toml")).unwrap().replace("count = 1000", "count = 40");
    // Churn restarting a third of the peers from scratch with fresh values,
    // until 12 s: agreement is lost and regained, then holds to the end.
    let churn = format!(
        "{gossip}\n[[faults]]\nname = \"churn\"\nat = \"2s\"\nduration = \"10s\"\ntarget = {{ group = \"peers\", fraction = 0.3 }}\n\
         churn = {{ session = {{ distribution = \"exponential\", mean = \"2s\" }}, downtime = {{ distribution = \"exponential\", mean = \"1s\" }}, keep_state = false }}\n"
    );
    // Heavy loss and a short run: the value has not reached everyone.
    let unfinished = gossip.replace("duration = \"20s\"", "duration = \"3s\"").replace("[network]", "[network]\nloss = 0.5");
    for (name, text) in [("gossip", &gossip), ("churn", &churn), ("unfinished", &unfinished)] {
        let sim = simulate(text, 4);
        let m = metrics::standard(&sim);
        let (share, since) = brute_force_agreement(&sim).unwrap();
        close(&format!("{name}: state.agreement"), m.get("state.agreement"), share);
        match since {
            Some(t) => close(&format!("{name}: state.convergence_ms"), m.get("state.convergence_ms"), t.as_nanos() as f64 / 1e6),
            None => assert!(!m.contains_key("state.convergence_ms"), "{name}: no agreement at the end, no convergence time"),
        }
        match name {
            "gossip" => assert!(since.is_some() && share == 1.0, "40 peers agree within 20 s"),
            "churn" => assert!(since.unwrap() > SimTime::from_secs(2), "churn restarts peers after 2 s: {since:?}"),
            _ => assert!(since.is_none() && share < 1.0, "half the messages lost, 3 s: not everyone has the maximum ({share})"),
        }
    }
}

// ---- The example experiments ----

#[test]
fn every_example_experiment_loads_with_its_variants() {
    let dir = repo_root().join("examples/experiments");
    let mut loaded = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with("-base.toml") {
            // A base scenario of its own.
            Scenario::load(&path).unwrap_or_else(|e| panic!("{e}")).build().unwrap();
        } else if name.ends_with(".toml") {
            let exp = Experiment::load(&path).unwrap_or_else(|e| panic!("{e}"));
            loaded.insert(name, exp.variants.len());
        }
    }
    let expected: BTreeMap<String, usize> =
        [("discovery.toml", 4), ("gossip-loss.toml", 4), ("hops-vs-n.toml", 10), ("kademlia-churn.toml", 4), ("kademlia-k-alpha.toml", 4)]
            .map(|(n, v)| (n.to_string(), v))
            .into();
    assert_eq!(loaded, expected);
}

#[test]
fn the_discovery_experiment_runs_each_strategy_on_the_same_workload() {
    // One seed of examples/experiments/discovery.toml: every plugin's
    // settings (the tracker's role, Gnutella's overlay) take effect.
    let path = repo_root().join("examples/experiments/discovery.toml");
    let text = std::fs::read_to_string(&path).unwrap().replace("seeds = 20", "seeds = 1");
    let exp = Experiment::parse(&text, "discovery.toml", path.parent().unwrap(), "discovery").unwrap();
    let dir = scratch("discovery");
    let results = experiment::run(&exp, &dir, &RunOptions { jobs: 2, ..RunOptions::default() }, &mut |_| {}).unwrap();
    assert!(results.runs.iter().all(|r| r.is_ok()), "{:?}", results.runs.iter().find(|r| !r.is_ok()).map(|r| &r.status));
    let issued: Vec<f64> = results.runs.iter().map(|r| r.metrics["find-providers.issued"]).collect();
    assert!(issued.windows(2).all(|w| w[0] == w[1]), "the same workload for every plugin: {issued:?}");
    for r in &results.runs {
        let success = r.metrics["find-providers.success_rate"];
        assert!(success > 0.5, "{}: {success} of lookups for providers succeed", r.spec.variant);
        assert!(r.metrics["download.success_rate"] > 0.3, "{}: downloads", r.spec.variant);
    }
    let load = |label: &str| results.runs.iter().find(|r| r.spec.variant == label).unwrap().metrics["load_max_over_mean"];
    assert!(load("tracker") > 3.0 * load("kademlia"), "the tracker is a hot spot: {} vs {}", load("tracker"), load("kademlia"));
}
