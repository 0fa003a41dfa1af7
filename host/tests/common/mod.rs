//! Helpers shared by the command-line tests.

use std::path::PathBuf;

/// An empty scratch folder for test `name` of suite `suite`, unique to this
/// process.
pub fn scratch(suite: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("peershare-{suite}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
