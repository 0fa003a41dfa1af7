//! `peershare experiment` and `peershare compare`: run an experiment with a
//! progress bar, write its outputs and print the comparison table.

use peershare::experiment::{self, Experiment, ExperimentError, Progress, RunOptions};
use std::path::Path;

/// The metrics the table shows when the experiment chose none (every
/// metric is in the output files either way).
fn headline(metric: &str) -> bool {
    [".success_rate", ".latency_mean_ms", ".messages_mean", ".exact_rate", ".after_put_rate", ".throughput_mbps", ".coverage"]
        .iter()
        .any(|s| metric.ends_with(s))
        || metric == "messages_per_node_per_s"
}

/// Runs `exp` into `out` as `options` say; `command` is how the report
/// says to reproduce it.
pub fn run(exp: &Experiment, out: &Path, options: RunOptions, quiet: bool, command: &str) -> Result<(), ExperimentError> {
    let jobs = options.jobs;
    let total = exp.variants.len() * exp.seeds.len();
    if !quiet {
        println!(
            "Experiment {}: {} variants x {} seeds = {total} runs, {jobs} at a time{}; results in {}.",
            exp.name,
            exp.variants.len(),
            exp.seeds.len(),
            if options.isolation == experiment::Isolation::Threads { "" } else { ", each in its own process" },
            out.display()
        );
    }
    let bar = if quiet { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new(total as u64) };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} runs  {msg}  ETA {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut show = |p: &Progress| {
        bar.set_position((p.reused + p.done) as u64);
        let reused = if p.reused > 0 { format!("{} reused, ", p.reused) } else { String::new() };
        bar.set_message(format!("{reused}{} failed", p.failed));
        if let Some(r) = &p.last
            && let experiment::RunStatus::Failed { reason } = &r.status
        {
            bar.println(format!("run failed: {}, seed {}: {reason}", r.spec.variant, r.spec.seed));
        }
    };
    let results = experiment::run(exp, out, &options, &mut show)?;
    bar.finish_and_clear();
    let analysis = results.analyse();
    experiment::output::write_all(&results, &analysis, out, command)?;
    if !quiet {
        let mut shown = analysis.clone();
        if exp.metrics.is_empty() {
            shown.metrics.retain(|m| headline(m));
        }
        print!("{}", experiment::output::text_table(&shown));
        let failed = results.runs.iter().filter(|r| !r.is_ok()).count();
        if failed > 0 {
            println!("{failed} runs failed (failed.csv says why).");
        }
        println!("\n(* significant at 5 %, paired by seed{}.)", if exp.variants.len() > 2 { ", Holm-corrected" } else { "" });
        println!(
            "Wrote {0}/report.md, runs.csv, runs.jsonl, stats.csv, stats.json and plots/*.vl.json ({1} metrics).",
            out.display(),
            analysis.metrics.len()
        );
    }
    Ok(())
}
