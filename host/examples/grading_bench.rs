//! Grading a class: N submissions of an assignment graded as
//! `peershare grade SUBMISSIONS_DIR` grades them, on every core; prints
//! the total wall time, the time per submission and the scores.
//!
//! ```sh
//! cargo run --release -p peershare --example grading_bench -- 200
//! cargo run --release -p peershare --example grading_bench -- 200 2 examples/assignments/gossip-broadcast/suite.toml
//! ```
//!
//! Arguments: submissions (default 200), jobs (default: the cores) and
//! the suite (default the Kademlia assignment). The class is copies of
//! the suite's reference, one in ten replaced by the assignment's buggy
//! peer and one in ten by its cheat (the Kademlia assignment's
//! `kademlia-sloppy` and `kademlia-memorised`; the gossip assignment's
//! `flood-unacked`), written to a temporary folder removed at the end.

use peershare::builtin::wasm_dir;
use peershare::grading::{Grader, Suite, batch};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let count: usize = args.first().map(|a| a.parse()).transpose()?.unwrap_or(200);
    let jobs: usize = match args.get(1) {
        Some(a) => a.parse()?,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let suite_path = args.get(2).map_or_else(|| root.join("examples/assignments/kademlia-lookups/suite.toml"), |s| s.into());
    let suite = Suite::load(&suite_path)?;
    let reference = suite.reference.clone().ok_or("the suite names no reference to copy")?;
    let buggy: &[&str] = match reference.as_str() {
        "kademlia" => &["peershare_kademlia_sloppy.wasm", "peershare_kademlia_memorised.wasm"],
        "flood" => &["peershare_flood_unacked.wasm"],
        _ => &[],
    };
    let class = std::env::temp_dir().join(format!("peershare-grading-bench-{}", std::process::id()));
    std::fs::create_dir_all(&class)?;
    let honest = peershare::builtin::bytes(&reference).ok_or("the reference is not a built-in plugin")?;
    for i in 0..count {
        let file = class.join(format!("student{i:04}.wasm"));
        match buggy.get(i % 10) {
            Some(name) => std::fs::copy(wasm_dir().join(name), &file).map(|_| ())?,
            None => std::fs::write(&file, honest)?,
        }
    }
    let submissions = batch::submissions(&class)?;
    println!("{}: {} tests, {} submissions, {jobs} at a time", suite.name, suite.tests.len(), submissions.len());
    let grader = Grader::new(suite, 1);
    let started = Instant::now();
    let grades = batch::grade_all(&grader, &submissions, jobs, &|student, grade| {
        eprint!("\r  {student}: {} of {}   ", grade.score, grade.max_score);
    });
    let wall = started.elapsed().as_secs_f64();
    eprintln!();
    let report = batch::ClassReport::of(&grades);
    let mut tally: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for (_, g) in &grades {
        *tally.entry(format!("{}", g.score)).or_default() += 1;
    }
    println!(
        "total wall time {wall:.1} s, {:.2} s per submission ({:.2} s of one core each)",
        wall / count as f64,
        wall * jobs as f64 / count as f64
    );
    println!("scores (score: submissions): {tally:?}; framework errors: {}", report.errors);
    std::fs::remove_dir_all(&class)?;
    Ok(())
}
