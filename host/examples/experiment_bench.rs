//! The experiments framework at work: a Kademlia k x alpha grid (4
//! variants) on N nodes with a given number of lookups per run, over S
//! seeds, run with one job and then with two; prints the wall time of
//! each, the speed-up, and the share of the time spent computing metrics.
//!
//! ```sh
//! cargo run --release -p peershare --example experiment_bench -- 1000 1000 30
//! ```
//!
//! Arguments: node count (default 1000), lookups per run (default 1000)
//! and seeds (default 30). The base scenario is examples/kademlia.toml
//! with its lookups spread over 20 s of virtual time. Results go to
//! temporary folders that are removed at the end.

use peershare::experiment::{self, Experiment, RunOptions};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<u64> = std::env::args().skip(1).map(|a| a.parse()).collect::<Result<_, _>>()?;
    let (nodes, lookups, seeds) =
        (args.first().copied().unwrap_or(1000), args.get(1).copied().unwrap_or(1000), args.get(2).copied().unwrap_or(30));
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = format!(
        "scenario = \"examples/kademlia.toml\"\nseeds = {seeds}\n\n[[factors]]\nname = \"N\"\npath = \"groups.dht.count\"\nvalues = [{nodes}]\n\n[[factors]]\nname = \"rate\"\npath = \"workload[0].rate\"\nvalues = [{:.3}]\n\n[[factors]]\nname = \"k\"\npath = \"groups.dht.config.k\"\nvalues = [8, 20]\n\n[[factors]]\nname = \"alpha\"\npath = \"groups.dht.config.alpha\"\nvalues = [1, 3]\n",
        lookups as f64 / 20.0
    );
    let exp = Experiment::parse(&text, "experiment_bench", &root, "bench")?;
    println!("{} variants x {seeds} seeds, {nodes} nodes, about {lookups} lookups per run", exp.variants.len());
    let mut walls = Vec::new();
    for jobs in [1, 2] {
        let out = std::env::temp_dir().join(format!("peershare-experiment-bench-{}-{jobs}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        let started = Instant::now();
        let results = experiment::run(&exp, &out, &RunOptions { jobs, ..RunOptions::default() }, &mut |p| {
            if let Some(r) = &p.last {
                eprint!(
                    "\r  --jobs {jobs}: {}/{} runs ({:.1} s for {}, seed {})   ",
                    p.done, p.total, r.wall_s, r.spec.variant, r.spec.seed
                );
            }
        })?;
        let analysis = results.analyse();
        experiment::output::write_all(&results, &analysis, &out, "experiment_bench")?;
        let wall = started.elapsed().as_secs_f64();
        eprintln!();
        let runs: f64 = results.runs.iter().map(|r| r.wall_s).sum();
        let metrics: f64 = results.runs.iter().map(|r| r.metrics_wall_s).sum();
        let failed = results.runs.iter().filter(|r| !r.is_ok()).count();
        println!(
            "--jobs {jobs}: {wall:.1} s wall for {} runs ({failed} failed), {:.2} s per run; metrics {:.2} s of {runs:.1} s of runs ({:.2}%)",
            results.runs.len(),
            runs / results.runs.len() as f64,
            metrics,
            100.0 * metrics / runs
        );
        walls.push(wall);
        let _ = std::fs::remove_dir_all(&out);
    }
    println!("speed-up of --jobs 2 over --jobs 1: {:.2}x", walls[0] / walls[1]);
    Ok(())
}
