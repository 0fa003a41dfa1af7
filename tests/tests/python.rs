//! The Python package's own suite, run by `cargo test --release` so the
//! README's one test command covers it: a virtual environment under the
//! target folder, `pip install ./python[test]` (maturin builds the
//! extension into the same target folder, reusing the host's build),
//! then pytest over `python/tests` (which executes the notebooks too).
//!
//! Needs Python 3.10 or later (`python3`, or the interpreter `PYTHON`
//! names) and access to PyPI for maturin and the test dependencies.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is inside the workspace").to_path_buf()
}

/// Runs a command to completion, its output going to the terminal; panics
/// naming the command if it fails.
fn run(what: &str, command: &mut Command) {
    let status = command.status().unwrap_or_else(|e| panic!("{what}: cannot start {command:?}: {e}"));
    assert!(status.success(), "{what} failed ({status}): {command:?}");
}

/// The interpreter to build the environment with, checked to be 3.10 or later.
fn python() -> String {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .args(["-c", "import sys; print(sys.version_info >= (3, 10))"])
        .output()
        .unwrap_or_else(|e| panic!("the Python suite needs Python 3.10 or later: cannot run {python:?} ({e}); install it or set PYTHON"));
    let ok = String::from_utf8_lossy(&out.stdout).trim() == "True";
    assert!(ok, "the Python suite needs Python 3.10 or later; {python:?} is older (set PYTHON to another interpreter)");
    python
}

#[test]
fn the_python_package_and_its_notebooks_pass_their_suite() {
    let root = workspace();
    let env = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-env");
    let bin = env.join("bin").join("python");
    if !bin.exists() {
        run("creating the virtual environment", Command::new(python()).arg("-m").arg("venv").arg(&env));
    }
    // pip builds the package exactly as a user's `pip install ./python`
    // does; the second install replaces a build left by an earlier run.
    let pip = |args: &[&str]| {
        let mut command = Command::new(&bin);
        command.args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"]).args(args).current_dir(&root);
        command
    };
    run("pip install ./python[test]", &mut pip(&["./python[test]"]));
    run("pip install --force-reinstall --no-deps ./python", &mut pip(&["--force-reinstall", "--no-deps", "./python"]));
    run(
        "the Python suite (pytest python/tests)",
        // A test that hangs fails after ten minutes instead of holding up the suite.
        Command::new(&bin).args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "--timeout=600", "python/tests"]).current_dir(&root),
    );
}
