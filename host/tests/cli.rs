//! The `peershare` command as a user runs it.

use std::path::PathBuf;
use std::process::Command;

fn peershare() -> Command {
    Command::new(env!("CARGO_BIN_EXE_peershare"))
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("peershare-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn run_writes_events_and_summary() {
    let out = temp_dir("run");
    let scenario = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/flood.toml");
    let status = peershare().arg("run").arg(&scenario).arg("--out").arg(&out).args(["--seed", "7", "--quiet"]).status().unwrap();
    assert!(status.success());
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["seed"], 7);
    assert_eq!(summary["nodes"], 200);
    let events = std::fs::read_to_string(out.join("events.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(events.lines().next().unwrap()).unwrap();
    assert_eq!(first["seq"], 0);
    assert!(events.lines().count() as u64 == summary["events"].as_u64().unwrap());
    let sent = events.lines().find(|l| l.contains("\"event\":\"sent\"")).unwrap();
    let sent: serde_json::Value = serde_json::from_str(sent).unwrap();
    assert!(sent["message"]["kind"].is_string(), "sent messages are decoded: {sent}");
}

#[test]
fn a_malformed_scenario_names_file_line_and_field() {
    let dir = temp_dir("bad");
    let path = dir.join("bad.toml");
    std::fs::write(&path, "duration = \"10s\"\n[[groups]]\nname = \"p\"\ncount = 5\nplugin = \"flood\"\nupload = \"fast\"\n").unwrap();
    let out = peershare().arg("run").arg(&path).arg("--out").arg(dir.join("out")).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml") && err.contains("line 6") && err.contains("fast"), "{err}");
}

#[test]
fn a_missing_plugin_is_a_clear_error() {
    let dir = temp_dir("missing");
    let path = dir.join("s.toml");
    std::fs::write(&path, "duration = \"1s\"\n[[groups]]\nname = \"p\"\ncount = 2\nplugin = \"peers/nobody.wasm\"\n").unwrap();
    let out = peershare().arg("check").arg(&path).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nobody.wasm"), "{err}");
}

#[test]
fn demo_runs_and_explains() {
    let out = peershare().arg("demo").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("sends FLOOD") && text.contains("operation broadcast: 18 issued"), "{text}");
}

#[test]
fn every_example_scenario_passes_check() {
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples");
    for name in ["flood.toml", "gossip.toml", "regions.toml", "kademlia.toml", "chord.toml", "tracker.toml", "file-sharing.toml"] {
        let out = peershare().arg("check").arg(examples.join(name)).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(text.contains(": ok ("), "{name}: {text}");
    }
}

#[test]
fn inspect_filters_the_captured_messages_of_a_run() {
    let out = temp_dir("inspect");
    let scenario = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/lossy.toml");
    assert!(peershare().arg("run").arg(&scenario).arg("--out").arg(&out).arg("--quiet").status().unwrap().success());
    assert!(out.join("capture.bin").exists());
    let inspect = |args: &[&str]| {
        let o = peershare().arg("inspect").arg(&out).args(args).output().unwrap();
        (o.status.success(), String::from_utf8(o.stdout).unwrap(), String::from_utf8(o.stderr).unwrap())
    };
    // JSON Lines: every line matches every condition.
    let (ok, text, err) =
        inspect(&["--kind", "FLOOD", "--fate", "fault-loss", "--since", "6s", "--until", "9s", "--format", "jsonl", "--limit", "0"]);
    assert!(ok, "{err}");
    let rows: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(rows.len() > 50, "{} rows", rows.len());
    for r in &rows {
        assert_eq!((r["kind"].as_str(), r["fate"].as_str(), r["fault"].as_u64()), (Some("FLOOD"), Some("fault-loss"), Some(0)));
        let sent = r["sent"].as_u64().unwrap();
        assert!((6_000_000_000..9_000_000_000).contains(&sent));
    }
    // CSV: a header and the same number of rows.
    let (ok, text, _) =
        inspect(&["--kind", "FLOOD", "--fate", "fault-loss", "--since", "6s", "--until", "9s", "--format", "csv", "--limit", "0"]);
    assert!(ok);
    assert!(text.starts_with("id,sent_ns,ended_ns,from,to,kind,size,fate,fault,op,hop,fields"));
    assert_eq!(text.lines().count(), rows.len() + 1);
    // Field conditions and the table.
    let (ok, text, _) = inspect(&["--where", "ttl>=5", "--kind", "FLOOD", "--limit", "3"]);
    assert!(ok);
    assert!(text.contains("FLOOD") && text.contains("messages match (3 shown"), "{text}");
    // Statistics.
    let (ok, text, _) = inspect(&["--stats", "--node", "3"]);
    assert!(ok);
    assert!(text.contains("kind") && text.contains("busiest"), "{text}");
    // Bad input names what is wrong.
    let (ok, _, err) = inspect(&["--where", "ttl"]);
    assert!(!ok && err.contains("field condition \"ttl\" is not NAME OP VALUE"), "{err}");
    let (ok, _, err) = inspect(&["--search", "(unclosed"]);
    assert!(!ok && err.contains("invalid regular expression"), "{err}");
    let missing = peershare().arg("inspect").arg(out.join("nowhere")).output().unwrap();
    assert!(String::from_utf8_lossy(&missing.stderr).contains("capture.bin"), "{missing:?}");
}

#[test]
fn run_with_viz_writes_snapshots_and_plots() {
    let out = temp_dir("viz");
    let scenario = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/flood.toml");
    let o = peershare().arg("run").arg(&scenario).arg("--out").arg(&out).arg("--viz").output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Visualisation files: timeline.json, topology.json"));
    let topology: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("topology.json")).unwrap()).unwrap();
    assert_eq!(topology["nodes"].as_array().unwrap().len(), 200);
    assert!(topology["edges"].as_array().unwrap().iter().any(|l| l["type"] == "connection"), "flood neighbours are connections");
    assert!(topology["edges"].as_array().unwrap().iter().any(|l| l["type"] == "flow"));
    let timeline: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("timeline.json")).unwrap()).unwrap();
    assert_eq!(timeline["diffs"].as_array().unwrap().len(), 9, "ten snapshots");
    assert!(std::fs::read_to_string(out.join("topology.graphml")).unwrap().contains("<graphml"));
    assert!(std::fs::read_to_string(out.join("topology.dot")).unwrap().starts_with("digraph"));
    for plot in ["latency-cdf.vl.json", "messages-over-time.vl.json", "load-per-node.vl.json"] {
        let spec: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join(plot)).unwrap()).unwrap();
        assert!(spec["$schema"].as_str().unwrap().contains("vega-lite"), "{plot}");
        assert!(!spec["data"]["values"].as_array().unwrap().is_empty(), "{plot}");
    }
}

#[test]
fn a_run_with_viz_or_without_capture_has_the_same_events() {
    // The hostile peer's nosy `inspect` writes to its memory and draws WASI
    // randomness; the host undoes both, so observing changes nothing.
    let dir = temp_dir("observe");
    let scenario = dir.join("nosy.toml");
    std::fs::write(
        &scenario,
        "duration = \"3s\"\n[[groups]]\nname = \"nosy\"\ncount = 6\nplugin = \"hostile\"\n[groups.config]\nnosy = true\nnodes = 6\n",
    )
    .unwrap();
    let run = |name: &str, flags: &[&str]| {
        let out = dir.join(name);
        let o = peershare().arg("run").arg(&scenario).arg("--out").arg(&out).arg("--quiet").args(flags).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        out
    };
    let plain = run("plain", &[]);
    let viz = run("viz", &["--viz"]);
    let bare = run("bare", &["--no-capture"]);
    let events = |out: &PathBuf| std::fs::read(out.join("events.jsonl")).unwrap();
    assert!(events(&plain).len() > 10_000);
    assert!(events(&plain) == events(&viz), "--viz changed events.jsonl");
    assert!(events(&plain) == events(&bare), "--no-capture changed events.jsonl");
    // The observations did happen: the snapshot holds what inspect saw.
    let topology = std::fs::read_to_string(viz.join("topology.json")).unwrap();
    assert!(topology.contains("inspected"), "{}", &topology[..topology.len().min(400)]);
}

/// A cargo command free of the outer `cargo test`'s settings.
fn clean_cargo(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        let keep = matches!(key.as_str(), "CARGO_HOME" | "CARGO_NET_OFFLINE") || key.starts_with("CARGO_REGISTRIES_");
        if (key.starts_with("CARGO_") || key.starts_with("RUST")) && !keep && key != "RUSTUP_TOOLCHAIN" && key != "RUSTUP_HOME" {
            cmd.env_remove(&key);
        }
    }
    cmd.current_dir(dir);
    cmd
}

#[test]
fn a_new_peer_crate_outside_the_repository_builds_tests_and_runs() {
    let dir = temp_dir("new");
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    // One target folder for the three crates, so their shared dependencies
    // compile once; each component is then put where its scenario expects it.
    let target = dir.join("target");
    for (world, checks) in [
        ("peer-node", &["PING", "PONG"][..]),
        ("dht-node", &["operation lookup: 57 issued, 57 succeeded", "operation get: 1 issued, 1 succeeded"][..]),
        ("consensus-node", &["operation propose: 9 issued, 9 succeeded"][..]),
    ] {
        let name = format!("my-{world}");
        let krate = dir.join(&name);
        let o = peershare().arg("new").arg(&krate).args(["--world", world]).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(String::from_utf8_lossy(&o.stdout).contains("cargo build --release"));
        let o = clean_cargo(&krate).args(["build", "--release", "--quiet"]).env("CARGO_TARGET_DIR", &target).output().unwrap();
        assert!(o.status.success(), "{world}: {}", String::from_utf8_lossy(&o.stderr));
        let wasm = format!("{}.wasm", name.replace('-', "_"));
        let expected = krate.join("target/wasm32-wasip2/release");
        std::fs::create_dir_all(&expected).unwrap();
        std::fs::copy(target.join("wasm32-wasip2/release").join(&wasm), expected.join(&wasm)).unwrap();
        let o = peershare().current_dir(&krate).args(["run", "scenario.toml", "--out", "results"]).output().unwrap();
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{world}: {}", String::from_utf8_lossy(&o.stderr));
        for check in checks {
            assert!(stdout.contains(check), "{world}: {check:?} missing from\n{stdout}");
        }
    }
    // The starting peer's unit tests run natively.
    let host = std::env::consts::ARCH.to_string() + "-unknown-linux-gnu";
    let o = clean_cargo(&dir.join("my-peer-node"))
        .args(["test", "--quiet", "--target", &host])
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("2 passed"), "{}", String::from_utf8_lossy(&o.stdout));
    // A used folder is refused.
    let o = peershare().arg("new").arg(dir.join("my-peer-node")).output().unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("not empty"));
}

#[test]
fn the_reference_plugins_unit_tests_pass_natively() {
    // The guests' own workspace: its unit tests (routing tables, rings, ...)
    // run on the host's target, as a student runs theirs.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let host = std::env::consts::ARCH.to_string() + "-unknown-linux-gnu";
    let o = clean_cargo(&root)
        .args(["test", "--quiet", "--manifest-path", "plugins/Cargo.toml", "--target", &host])
        .env("CARGO_TARGET_DIR", root.join("target/wasm"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{stdout}{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("test result: ok") && !stdout.contains("FAILED"), "{stdout}");
}

#[test]
fn the_events_flag_keeps_operations_or_nothing() {
    let out = temp_dir("events");
    let scenario = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/flood.toml");
    let run = |name: &str, events: &str| {
        let dir = out.join(name);
        let o = peershare()
            .arg("run")
            .arg(&scenario)
            .arg("--out")
            .arg(&dir)
            .args(["--quiet", "--no-capture", "--events", events])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        dir
    };
    let all = std::fs::read_to_string(run("all", "all").join("events.jsonl")).unwrap();
    let ops_dir = run("ops", "ops");
    let ops = std::fs::read_to_string(ops_dir.join("events.jsonl")).unwrap();
    let kinds = |text: &str, kind: &str| text.lines().filter(|l| l.contains(&format!("\"event\":\"{kind}\""))).count();
    assert_eq!(kinds(&ops, "sent") + kinds(&ops, "delivered") + kinds(&ops, "timer-fired"), 0);
    for kind in ["operation-started", "operation-completed", "node-started"] {
        assert!(kinds(&all, kind) > 0 && kinds(&ops, kind) == kinds(&all, kind), "{kind}");
    }
    assert!(ops.len() * 20 < all.len(), "ops is a small fraction: {} of {} bytes", ops.len(), all.len());
    // Sequence numbers are those of the full log.
    let all_lines: std::collections::BTreeSet<&str> = all.lines().collect();
    assert!(ops.lines().all(|l| all_lines.contains(l)));
    let none = run("none", "none");
    assert!(!none.join("events.jsonl").exists() && none.join("summary.json").exists());
    let bad = peershare().arg("run").arg(&scenario).args(["--events", "some"]).output().unwrap();
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("all, ops, none"), "{bad:?}");
}

#[test]
fn a_state_field_of_the_wrong_type_is_a_warning_naming_node_field_and_types() {
    let sim_dir = temp_dir("convention");
    let events = {
        use peershare::prelude::*;
        struct Misdrawn;
        impl Peer for Misdrawn {
            fn init(&mut self, ctx: &mut NodeContext, _args: &InitArgs) {
                ctx.publish_state(Record::new("state").with("successor", 3u32).with("fingers", Value::Nodes(vec![1])).encode());
                ctx.publish_state(Record::new("state").with("successor", 3u32).encode());
            }
            fn on_message(&mut self, _: &mut NodeContext, _: NodeIndex, _: &[u8]) {}
        }
        let mut sim = SimulationBuilder::new(1).group(GroupSpec::new("m", 2, PeerSource::native(|_| Misdrawn))).build().unwrap();
        sim.run_for(SimDuration::from_secs(1)).unwrap();
        let summary = sim.summary();
        assert_eq!(
            summary.convention_warnings,
            [
                "node 0: state field `successor` should be a node (Value::Node), but is a u64",
                "node 1: state field `successor` should be a node (Value::Node), but is a u64"
            ]
        );
        sim.events().events().iter().filter(|e| matches!(e.event, peershare::events::Event::ConventionWarning { .. })).count()
    };
    assert_eq!(events, 2, "once per node and field");
    let _ = std::fs::remove_dir_all(sim_dir);
}
