//! Builds the WebAssembly plugins (`plugins/` and `student-template/`) for
//! `wasm32-wasip2` with cargo, in a target directory of their own, and tells
//! the host crate where they are. Cargo's own freshness checks decide what
//! to rebuild, so a stale plugin is never used; a failed plugin build fails
//! the host build with the plugin's compiler errors.

use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir.parent().expect("host/ is inside the repository").to_path_buf();
    for dir in ["plugins", "student-template", "wit", "host/wire", "host/sdk"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    println!("cargo:rerun-if-env-changed=PEERSHARE_WASM_TARGET_DIR");
    let target_dir = std::env::var_os("PEERSHARE_WASM_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target").join("wasm"));

    check_target_installed();
    build(&root.join("plugins/Cargo.toml"), &target_dir);
    build(&root.join("student-template/Cargo.toml"), &target_dir);
    let out = target_dir.join(TARGET).join("release");
    println!("cargo:rustc-env=PEERSHARE_WASM_DIR={}", out.display());
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    // The outer build's settings (its profile, flags, wrappers such as
    // clippy-driver) must not leak into the guests' build.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        let keep = matches!(key.as_str(), "CARGO_HOME" | "CARGO_MAKEFLAGS" | "CARGO_NET_OFFLINE") || key.starts_with("CARGO_REGISTRIES_");
        let outer = key.starts_with("CARGO_")
            || matches!(
                key.as_str(),
                "RUSTFLAGS"
                    | "RUSTDOCFLAGS"
                    | "RUSTC"
                    | "RUSTDOC"
                    | "RUSTC_WRAPPER"
                    | "RUSTC_WORKSPACE_WRAPPER"
                    | "RUSTC_LINKER"
                    | "TARGET"
                    | "HOST"
                    | "OUT_DIR"
                    | "PROFILE"
                    | "OPT_LEVEL"
                    | "DEBUG"
                    | "NUM_JOBS"
            );
        if outer && !keep {
            cmd.env_remove(&key);
        }
    }
    cmd
}

fn check_target_installed() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc).args(["--print", "sysroot"]).output().ok().filter(|o| o.status.success());
    if let Some(out) = sysroot {
        let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if !sysroot.join("lib/rustlib").join(TARGET).exists() {
            panic!(
                "\n\nThe Rust target {TARGET} is not installed, and PeerShare's plugins are built for it.\n\
                 Fix: rustup target add {TARGET}\n\
                 (rust-toolchain.toml lists it, but rustup installs listed targets automatically only when RUSTUP_AUTO_INSTALL is not 0.)\n"
            );
        }
    }
}

fn build(manifest: &Path, target_dir: &Path) {
    // Run from the crate's folder so that its .cargo/config.toml applies.
    let output = cargo()
        .current_dir(manifest.parent().expect("a manifest lives in a folder"))
        .args(["build", "--release", "--target", TARGET, "--manifest-path"])
        .arg(manifest)
        .arg("--target-dir")
        .arg(target_dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run cargo to build {}: {e}", manifest.display()));
    if !output.status.success() {
        panic!(
            "\n\nbuilding the WebAssembly plugins in {} failed:\n{}\n",
            manifest.parent().unwrap_or(manifest).display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
