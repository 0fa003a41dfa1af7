//! One run in a process of its own.
//!
//! `peershare run-spec SPEC.json` (or `-` for standard input) reads a
//! serialised [`RunSpec`], carries it out with [`run_one`] and prints the
//! [`RunResult`] as one line of JSON ([`serve`] does the work). That is
//! the unit of work for [`Isolation::Processes`](super::Isolation) and for
//! spreading an experiment over machines: any process that can read the
//! spec's scenario and plugin files computes the same result.
//!
//! [`run_in_child`] starts such a process and turns everything but a
//! result (a process that aborts, is killed, hangs past the run's limit or
//! prints something else) into a failed run.
//!
//! ```no_run
//! use peershare::experiment::{process, Experiment};
//! let exp = Experiment::load("examples/experiments/gossip-loss.toml".as_ref())?;
//! let spec = &exp.runs()[0];
//! let result = process::run_in_child("target/release/peershare".as_ref(), spec);
//! println!("{}: {:?}", result.spec.variant, result.status);
//! # Ok::<(), peershare::experiment::ExperimentError>(())
//! ```

use super::{RunResult, RunSpec, RunStatus, metrics::Values, run_one};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long past its own limit a run's process may take before it is
/// stopped: the process checks its limit between slices of virtual time,
/// so it normally reports the timeout itself.
pub const GRACE: Duration = Duration::from_secs(5);

/// Carries out the run that `spec_json` describes and returns its result
/// as one line of JSON; an unreadable spec is an error (of the caller,
/// not of the run).
pub fn serve(spec_json: &str, origin: &str) -> Result<String, super::ExperimentError> {
    let spec: RunSpec = serde_json::from_str(spec_json)
        .map_err(|e| super::ExperimentError::Syntax { path: origin.to_string(), message: format!("not a run spec: {e}") })?;
    let result = run_one(&spec, &[]);
    Ok(serde_json::to_string(&result).expect("a result serialises"))
}

/// Carries out `spec` in a child process, `program run-spec -`, and
/// returns its result. Never fails: a process that cannot start, ends
/// abnormally, outlives the run's limit by [`GRACE`] (it is killed) or
/// prints no result for this spec gives a failed run saying so.
pub fn run_in_child(program: &Path, spec: &RunSpec) -> RunResult {
    let started = Instant::now();
    let outcome = child_result(program, spec, started);
    let wall_s = started.elapsed().as_secs_f64();
    match outcome {
        // The wall time includes starting the process.
        Ok(result) => RunResult { wall_s, ..result },
        Err(reason) => {
            RunResult { spec: spec.clone(), status: RunStatus::Failed { reason }, metrics: Values::new(), wall_s, metrics_wall_s: 0.0 }
        }
    }
}

fn child_result(program: &Path, spec: &RunSpec, started: Instant) -> Result<RunResult, String> {
    let mut child = Command::new(program)
        .args(["run-spec", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {} for the run: {e}", program.display()))?;
    let json = serde_json::to_vec(spec).expect("a spec serialises");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    // Written on threads, so that a child that writes before it has read
    // everything cannot block on a full pipe.
    let writer = std::thread::spawn(move || stdin.write_all(&json));
    let stdout = drain(child.stdout.take().expect("stdout is piped"));
    let stderr = drain(child.stderr.take().expect("stderr is piped"));
    let deadline = Duration::from_secs_f64(spec.timeout_s.max(0.0)) + GRACE;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > deadline => {
                // Killing may race with a normal exit; either way it ends.
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "timed out: the run's process was still running {:.0} s after its {:.0} s limit and was stopped",
                    GRACE.as_secs_f64(),
                    spec.timeout_s
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("cannot wait for the run's process: {e}")),
        }
    };
    // A child that ends without reading its input makes the write fail;
    // what it printed says more than the broken pipe.
    let _ = writer.join();
    let out = stdout.join().unwrap_or_default();
    let err = stderr.join().unwrap_or_default();
    let last_words = String::from_utf8_lossy(&err).lines().map(str::trim).rfind(|l| !l.is_empty()).map(str::to_string);
    let said = last_words.map(|l| format!(": {l}")).unwrap_or_default();
    if !status.success() {
        return Err(format!("the run's process ended abnormally ({status}){said}"));
    }
    let result: RunResult = serde_json::from_slice(&out).map_err(|e| format!("the run's process printed no result ({e}){said}"))?;
    if result.spec != *spec {
        return Err("the run's process answered for another run".into());
    }
    Ok(result)
}

/// Reads everything from `pipe` on a thread.
fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}
