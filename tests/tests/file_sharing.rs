//! File sharing over Kademlia's discovery interface: files download intact
//! from several providers under bandwidth limits, and a provider that serves
//! corrupt chunks is detected and avoided.

use peershare::fileshare::{FileSharing, FileSharingConfig, FileSpec};
use peershare::prelude::*;
use peershare::sim::OperationRecord;
use std::collections::BTreeSet;

const NODES: usize = 60;
const UPLINK: Bandwidth = Bandwidth::mbps(8);

fn files() -> Vec<FileSpec> {
    vec![
        FileSpec { name: "small".into(), size: 100_000 },
        FileSpec { name: "medium".into(), size: 1_000_000 },
        FileSpec { name: "large".into(), size: 3_000_000 },
    ]
}

/// Nodes 1..=3 publish every file; nodes 10.. download them.
fn run(corrupt: &[NodeIndex]) -> Simulation {
    let mut group = GroupSpec::new("dht", NODES, PeerSource::Wasm(Plugin::builtin("kademlia").unwrap()));
    group.join_interval = SimDuration::from_millis(10);
    group.uplink = UPLINK;
    group.downlink = Bandwidth::mbps(40);
    let config = FileSharingConfig {
        files: files(),
        chunk_size: 64 * 1024,
        parallel: 4,
        request_timeout: SimDuration::from_secs(5),
        corrupt_nodes: corrupt.iter().copied().collect(),
        ..FileSharingConfig::default()
    };
    let joined = SimTime::ZERO + SimDuration::from_secs(5);
    let mut b = SimulationBuilder::new(9)
        .group(group)
        .default_link(LinkModel { latency: LatencyModel::constant(SimDuration::from_millis(20)), loss: 0.0 })
        .application(move || FileSharing::new(config.clone(), 9));
    for publisher in 1..=3 {
        for f in files() {
            b = b.operation(joined, publisher, Operation::App(Record::new("publish").with("file", f.name.as_str())));
        }
    }
    let downloads_at = joined + SimDuration::from_secs(3);
    for (i, f) in files().iter().enumerate() {
        for d in 0..4u32 {
            let node = 10 + i as u32 * 4 + d;
            b = b.operation(downloads_at, node, Operation::App(Record::new("download").with("file", f.name.as_str())));
        }
    }
    let mut sim = b.build().unwrap();
    sim.run_until(downloads_at + SimDuration::from_secs(60)).unwrap();
    sim
}

fn downloads(sim: &Simulation) -> Vec<(&OperationRecord, Record)> {
    sim.operations()
        .iter()
        .filter(|o| matches!(&o.operation, Operation::App(r) if r.kind == "download"))
        .map(|o| {
            let outcome = o.outcome.as_ref().unwrap_or_else(|| panic!("download {} did not finish", o.op));
            (o, Record::decode(&outcome.result).unwrap())
        })
        .collect()
}

fn size_of(op: &OperationRecord) -> u64 {
    let Operation::App(r) = &op.operation else { unreachable!() };
    files().iter().find(|f| f.name == r.str("file").unwrap()).unwrap().size as u64
}

#[test]
fn files_download_intact_from_several_providers() {
    let sim = run(&[]);
    for (op, result) in downloads(&sim) {
        let outcome = op.outcome.as_ref().unwrap();
        assert!(outcome.ok, "download {} failed: {result}", op.op);
        assert_eq!(result.u64("bytes"), Some(size_of(op)), "{result}");
        assert_eq!(result.u64("chunks_done"), result.u64("chunks"));
        assert_eq!(result.u64("corrupt_chunks"), Some(0));
        let sources = result.nodes("sources").unwrap();
        if result.u64("chunks").unwrap() >= 4 {
            assert!(sources.len() >= 2, "a {}-chunk file came from {sources:?} only", result.u64("chunks").unwrap());
        }
        // The transfer takes at least the file's size over the providers'
        // combined uplinks (they can serve in parallel).
        let took = outcome.at - op.issued_at;
        let floor = UPLINK.transfer_time(size_of(op) as usize).as_nanos() / sources.len() as u64;
        assert!(took.as_nanos() >= floor, "{} bytes in {took} beats the bandwidth", size_of(op));
    }
}

#[test]
fn a_corrupt_provider_is_detected_and_avoided() {
    let bad: NodeIndex = 2;
    let sim = run(&[bad]);
    let mut detected = 0;
    for (op, result) in downloads(&sim) {
        assert!(op.outcome.as_ref().unwrap().ok, "download {} failed despite two honest providers: {result}", op.op);
        assert_eq!(result.u64("bytes"), Some(size_of(op)));
        let sources: BTreeSet<NodeIndex> = result.nodes("sources").unwrap().iter().copied().collect();
        assert!(!sources.contains(&bad), "a verified chunk came from the corrupt provider");
        detected += result.u64("corrupt_chunks").unwrap();
    }
    assert!(detected >= 1, "no download ever asked the corrupt provider");
}

#[test]
fn the_file_sharing_example_downloads_everything_and_avoids_the_liars() {
    let sim = peershare_e2e::run(&peershare_e2e::example("file-sharing.toml"));
    let liars: BTreeSet<NodeIndex> = (0..sim.node_count() as NodeIndex).filter(|&n| sim.node_group(n) == Some("liars")).collect();
    let mut corrupt = 0;
    let all = downloads(&sim);
    assert_eq!(all.len(), 50);
    for (op, result) in all {
        assert!(op.outcome.as_ref().unwrap().ok, "download {} failed: {result}", op.op);
        assert_eq!(result.u64("chunks_done"), result.u64("chunks"));
        assert!(result.nodes("sources").unwrap().iter().all(|s| !liars.contains(s)), "{result}");
        corrupt += result.u64("corrupt_chunks").unwrap();
    }
    assert!(corrupt > 0, "the liars were never asked");
}

#[test]
fn application_operations_are_checked_when_scheduled() {
    let group = || GroupSpec::new("dht", 3, PeerSource::Wasm(Plugin::builtin("kademlia").unwrap()));
    let download = |file: &str| Operation::App(Record::new("download").with("file", file));
    let err = SimulationBuilder::new(1).group(group()).operation(SimTime(0), 0, download("small")).build().err().unwrap().to_string();
    assert!(err.contains("needs a host-side application"), "{err}");
    let config = FileSharingConfig { files: files(), ..FileSharingConfig::default() };
    let err = SimulationBuilder::new(1)
        .group(group())
        .application(move || FileSharing::new(config.clone(), 1))
        .operation(SimTime(0), 1, download("nonexistent"))
        .build()
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("node 1") && err.contains("no file is named \"nonexistent\""), "{err}");
}
