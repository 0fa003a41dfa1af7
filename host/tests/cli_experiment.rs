//! `peershare experiment` and `peershare compare` end to end: the files
//! they write, the table they print, and their errors.

use std::path::PathBuf;
use std::process::Command;

mod common;

fn scratch(name: &str) -> PathBuf {
    common::scratch("cli", name)
}

const BASE: &str = "duration = \"6s\"\n[[groups]]\nname = \"dht\"\ncount = 20\nplugin = \"kademlia\"\nbootstrap = { strategy = \"first\" }\njoin_interval = \"20ms\"\n\n[[workload]]\nop = \"lookup\"\nrate = 20.0\nstart = \"2s\"\nend = \"5s\"\n";

fn peershare(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_peershare")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn an_experiment_file_runs_and_writes_every_output() {
    let dir = scratch("experiment");
    std::fs::write(dir.join("base.toml"), BASE).unwrap();
    let exp = "scenario = \"base.toml\"\nseeds = 3\nmetrics = [\"lookup.success_rate\", \"lookup.messages_mean\", \"k_squared\", \"sent_per_node\"]\n\n[[factors]]\nname = \"k\"\npath = \"groups.dht.config.k\"\nvalues = [4, 8]\n\n[[derived]]\nname = \"k_squared\"\nexpr = \"k * k\"\nreference_for = \"lookup.messages_mean\"\n\n[[derived]]\nname = \"sent_per_node\"\nexpr = \"summary.messages.sent / summary.nodes\"\n";
    std::fs::write(dir.join("exp.toml"), exp).unwrap();
    let out = dir.join("out");
    let (ok, stdout, stderr) =
        peershare(&["experiment", dir.join("exp.toml").to_str().unwrap(), "--out", out.to_str().unwrap(), "--jobs", "2"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("2 variants x 3 seeds = 6 runs"), "{stdout}");
    assert!(stdout.contains("lookup.messages_mean\n  k=4") && stdout.contains("baseline"), "{stdout}");
    for file in [
        "runs.csv",
        "runs.jsonl",
        "failed.csv",
        "stats.csv",
        "stats.json",
        "report.md",
        "plots/by-variant.vl.json",
        "plots/differences.vl.json",
        "plots/vs-k.vl.json",
    ] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("peershare experiment") && report.contains("## lookup.messages_mean") && report.contains("## Verdicts"),
        "{report}"
    );
    // The derived metric sees the factor's level.
    let stats: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("stats.json")).unwrap()).unwrap();
    let k_squared: Vec<f64> = stats["cells"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["metric"] == "k_squared")
        .map(|c| c["description"]["mean"].as_f64().unwrap())
        .collect();
    assert_eq!(k_squared, [16.0, 64.0]);
    // And summary.json's numbers.
    let runs = std::fs::read_to_string(out.join("runs.csv")).unwrap();
    let per_node: Vec<f64> =
        runs.lines().filter(|l| l.contains(",sent_per_node,")).map(|l| l.rsplit(',').next().unwrap().parse().unwrap()).collect();
    let rate: Vec<f64> =
        runs.lines().filter(|l| l.contains(",messages_per_node_per_s,")).map(|l| l.rsplit(',').next().unwrap().parse().unwrap()).collect();
    assert_eq!(per_node.len(), 6);
    for (p, r) in per_node.iter().zip(&rate) {
        assert!((p / 6.0 - r).abs() < 1e-9, "sent per node over 6 s is the message rate: {p} vs {r}");
    }
    let plot: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("plots/vs-k.vl.json")).unwrap()).unwrap();
    assert_eq!(plot["$schema"], "https://vega.github.io/schema/vega-lite/v5.json");
    let rows = plot["data"]["values"].as_array().unwrap();
    assert!(rows.len() >= 4);
    // The derived metric that is the theory of another is drawn in its panel.
    let reference: Vec<(f64, f64)> =
        rows.iter().filter(|r| r["reference"] == true).map(|r| (r["k"].as_f64().unwrap(), r["mean"].as_f64().unwrap())).collect();
    assert_eq!(reference, [(4.0, 16.0), (8.0, 64.0)]);
    assert!(rows.iter().filter(|r| r["reference"] == true).all(|r| r["metric"] == "lookup.messages_mean"));
    // Run again: everything is reused.
    let (ok, stdout, _) = peershare(&["experiment", dir.join("exp.toml").to_str().unwrap(), "--out", out.to_str().unwrap(), "--jobs", "1"]);
    assert!(ok && stdout.contains("Wrote"), "{stdout}");
}

#[test]
fn compare_runs_plugins_head_to_head() {
    let dir = scratch("compare");
    std::fs::write(dir.join("base.toml"), BASE).unwrap();
    let out = dir.join("out");
    let (ok, stdout, stderr) = peershare(&[
        "compare",
        "kademlia",
        "chord",
        "--scenario",
        dir.join("base.toml").to_str().unwrap(),
        "--seeds",
        "2",
        "--metric",
        "lookup.success_rate",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("lookup.success_rate\n  kademlia") && stdout.contains("  chord "), "{stdout}");
    let csv = std::fs::read_to_string(out.join("runs.csv")).unwrap();
    assert!(csv.starts_with("variant,plugin,seed,metric,value\n") && csv.contains("chord,chord,2,"), "{csv}");
}

#[test]
fn a_bad_experiment_file_is_an_error_naming_line_and_field() {
    let dir = scratch("bad");
    std::fs::write(dir.join("base.toml"), BASE).unwrap();
    std::fs::write(dir.join("exp.toml"), "scenario = \"base.toml\"\nseeds = 2\n[[factors]]\npath = \"groups.peers.count\"\nvalues = [5]\n")
        .unwrap();
    let (ok, stdout, stderr) =
        peershare(&["experiment", dir.join("exp.toml").to_str().unwrap(), "--out", dir.join("out").to_str().unwrap()]);
    assert!(!ok && stdout.is_empty());
    assert!(stderr.contains("exp.toml, line 4, field `factors[0].path`") && stderr.contains("no entry named \"peers\""), "{stderr}");
    let (ok, _, stderr) = peershare(&["compare", "kademlia", "--scenario", "x.toml"]);
    assert!(!ok && stderr.contains("2"), "one plugin is not a comparison: {stderr}");
}
