//! Consensus at work, timed. Raft: one 5-node cluster committing a proposal
//! every millisecond, then 100 independent 5-node clusters in one run;
//! prints entries committed, commits per second of wall time, messages per
//! commit and the real-time factor (virtual seconds per wall second).
//! PBFT with f = 1, 2, 3 (n = 3f + 1), a request every 10 ms: commit
//! latency and messages per request against the normal case's 2(n^2 - 1)
//! (n - 1 requests, n - 1 pre-prepares, (n - 1)^2 prepares, n(n - 1)
//! commits, n - 1 replies).
//!
//! ```sh
//! cargo run --release -p peershare --example consensus_bench -- 20 100
//! ```
//!
//! Arguments: virtual seconds per run (default 20) and the number of
//! clusters of the second run (default 100). Wall times are noisy on a
//! shared machine: compare ratios, or count instructions with
//! `valgrind --tool=callgrind`.

use peershare::experiment::metrics;
use peershare::scenario::Scenario;
use std::time::Instant;

fn scenario(seconds: u64, clusters: u64, every_us: u64) -> String {
    format!(
        "seed = 1\nduration = \"{seconds}s\"\n[network]\nlatency = {{ model = \"uniform\", min = \"2ms\", max = \"10ms\" }}\n\n\
         [[groups]]\nname = \"raft\"\ncount = {}\nplugin = \"raft\"\nbootstrap = {{ strategy = \"clusters\", size = 5 }}\n\
         storage = {{ sync = \"explicit\", sync_latency = \"1ms\" }}\n\n\
         [[workload]]\nop = \"propose\"\nevery = \"{every_us}us\"\nstart = \"1s\"\nend = \"{}s\"\n",
        clusters * 5,
        seconds - 1
    )
}

fn measure(label: &str, text: &str) -> Result<(), Box<dyn std::error::Error>> {
    let scenario = Scenario::parse(text, label, ".".as_ref())?;
    let started = Instant::now();
    let mut sim = scenario.build()?;
    sim.run_until(scenario.end())?;
    let wall = started.elapsed().as_secs_f64();
    let values = metrics::standard(&sim);
    let commits = values["consensus.entries_committed"];
    let summary = sim.summary();
    let proposed = &summary.operations["propose"];
    println!(
        "{label}: {commits:.0} entries committed ({} of {} proposals), {:.0} commits/s of wall time, {:.1} messages per commit, \
         {:.2} virtual s per wall s ({wall:.2} s wall)",
        proposed.succeeded,
        proposed.issued,
        commits / wall,
        values["consensus.messages_per_commit"],
        scenario.end().as_secs_f64() / wall,
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<u64> = std::env::args().skip(1).map(|a| a.parse()).collect::<Result<_, _>>()?;
    let (seconds, clusters) = (args.first().copied().unwrap_or(20).max(2), args.get(1).copied().unwrap_or(100));
    // One cluster, a proposal every millisecond (1,000 per second).
    measure("1 cluster of 5", &scenario(seconds, 1, 1000))?;
    // Many clusters, the same total rate spread over them.
    measure(&format!("{clusters} clusters of 5"), &scenario(seconds, clusters, 1000))?;
    for f in 1..=3u64 {
        pbft(seconds, f)?;
    }
    Ok(())
}

fn pbft(seconds: u64, f: u64) -> Result<(), Box<dyn std::error::Error>> {
    let n = 3 * f + 1;
    let text = format!(
        "seed = 1\nduration = \"{seconds}s\"\n[network]\nlatency = {{ model = \"uniform\", min = \"2ms\", max = \"10ms\" }}\n\n\
         [[groups]]\nname = \"pbft\"\ncount = {n}\nplugin = \"pbft\"\nbootstrap = {{ strategy = \"clusters\", size = {n} }}\n\n\
         [[workload]]\nop = \"propose\"\nevery = \"10ms\"\nstart = \"1s\"\nend = \"{}s\"\n",
        seconds - 1
    );
    let scenario = Scenario::parse(&text, "pbft", ".".as_ref())?;
    let started = Instant::now();
    let mut sim = scenario.build()?;
    sim.run_until(scenario.end())?;
    let wall = started.elapsed().as_secs_f64();
    let summary = sim.summary();
    let ops = &summary.operations["propose"];
    let normal: u64 = ["REQUEST", "PRE_PREPARE", "PREPARE", "COMMIT", "REPLY"]
        .iter()
        .map(|k| summary.messages.by_kind.get(*k).map_or(0, |s| s.sent))
        .sum();
    let latency = ops.latency_ms.as_ref().map_or(f64::NAN, |l| l.mean);
    println!(
        "PBFT f = {f} (n = {n}): {} of {} requests committed, commit latency mean {latency:.1} ms, {:.1} normal-case messages per request \
         (2(n^2 - 1) = {}), {:.1} with checkpoints, {:.0} requests/s of wall time",
        ops.succeeded,
        ops.issued,
        normal as f64 / ops.succeeded.max(1) as f64,
        2 * (n * n - 1),
        summary.messages.sent as f64 / ops.succeeded.max(1) as f64,
        ops.succeeded as f64 / wall,
    );
    Ok(())
}
