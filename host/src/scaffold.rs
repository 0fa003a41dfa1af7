//! `peershare new`: a self-contained peer crate in any folder.
//!
//! The crate carries everything it builds with: the WIT contract
//! (`wit/peershare.wit`), the guest SDK and the wire format
//! (`peershare/sdk`, `peershare/wire`, copied from this build of PeerShare),
//! a starting peer for the chosen world, a scenario to run it on and a
//! README. It needs nothing but cargo and the `wasm32-wasip2` target, so it
//! builds wherever a student unpacks it. The repository's
//! `student-template/` is the `peer-node` starting point.
//!
//! ```no_run
//! use peershare::scaffold::{World, create};
//! let files = create("my-chord".as_ref(), World::DhtNode).unwrap();
//! println!("wrote {} files", files.len());
//! ```

use std::path::{Path, PathBuf};

/// Which kind of peer the new crate starts as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum World {
    /// A protocol of its own (gossip, flooding, ping): the template's
    /// ping/echo peer.
    #[default]
    PeerNode,
    /// A distributed hash table: a one-hop DHT to replace with a real one.
    DhtNode,
    /// Consensus: a fixed-leader log to replace with Raft or PBFT.
    ConsensusNode,
}

impl World {
    /// The world's name on the command line and in the WIT.
    pub fn name(self) -> &'static str {
        match self {
            World::PeerNode => "peer-node",
            World::DhtNode => "dht-node",
            World::ConsensusNode => "consensus-node",
        }
    }

    /// The world named `name`.
    pub fn from_name(name: &str) -> Option<World> {
        [World::PeerNode, World::DhtNode, World::ConsensusNode].into_iter().find(|w| w.name() == name)
    }

    fn starting_peer(self) -> &'static str {
        match self {
            World::PeerNode => include_str!("../../student-template/src/lib.rs"),
            World::DhtNode => include_str!("../../student-template/worlds/dht-node.rs"),
            World::ConsensusNode => include_str!("../../student-template/worlds/consensus-node.rs"),
        }
    }

    fn scenario(self, wasm: &str) -> String {
        let head = format!(
            "# Run with: peershare run scenario.toml --out results\nseed = 1\nduration = \"20s\"\n\n[[groups]]\nname = \"mine\"\nplugin = \"{wasm}\"\n"
        );
        let rest = match self {
            World::PeerNode => {
                "count = 20\nbootstrap = { strategy = \"random\", count = 2 }\n\n[groups.config]\ninterval_ms = 500\n".to_string()
            }
            World::DhtNode => "count = 50\nbootstrap = { strategy = \"previous\", count = 3 }\njoin_interval = \"20ms\"\n\n\
                 [[workload]]\nop = \"lookup\"\nrate = 5.0\nstart = \"5s\"\nend = \"15s\"\n\n\
                 [[workload]]\nop = \"put\"\nkey = \"text:hello\"\nvalue = \"text:world\"\nat = \"6s\"\nnode = 1\n\n\
                 [[workload]]\nop = \"get\"\nkey = \"text:hello\"\nat = \"8s\"\nnode = 7\n"
                .to_string(),
            World::ConsensusNode => "count = 5\nbootstrap = { strategy = \"none\" }\n\n[groups.config]\nleader = 0\n\n\
                 [[workload]]\nop = \"propose\"\nvalue = \"text:x=1\"\nevery = \"1s\"\nstart = \"1s\"\nend = \"10s\"\n"
                .to_string(),
        };
        head + &rest
    }
}

/// Why a crate could not be created.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The folder's name cannot be a crate name.
    #[error("{path}: the folder's name {name:?} cannot name a Rust crate (use letters, digits, '-' and '_', starting with a letter)")]
    BadName {
        /// The folder.
        path: String,
        /// Its name.
        name: String,
    },
    /// The folder exists and is not empty.
    #[error("{path} already exists and is not empty; choose a new folder")]
    NotEmpty {
        /// The folder.
        path: String,
    },
    /// Writing failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        source: std::io::Error,
    },
}

/// The guest SDK's and wire format's sources, as this PeerShare was built
/// with them.
const SDK_SOURCES: &[(&str, &str)] = &[
    ("lib.rs", include_str!("../sdk/src/lib.rs")),
    ("context.rs", include_str!("../sdk/src/context.rs")),
    ("outcome.rs", include_str!("../sdk/src/outcome.rs")),
    ("rpc.rs", include_str!("../sdk/src/rpc.rs")),
    ("runner.rs", include_str!("../sdk/src/runner.rs")),
    ("state.rs", include_str!("../sdk/src/state.rs")),
    ("storage.rs", include_str!("../sdk/src/storage.rs")),
    ("sys.rs", include_str!("../sdk/src/sys.rs")),
    ("testing.rs", include_str!("../sdk/src/testing.rs")),
    ("trace.rs", include_str!("../sdk/src/trace.rs")),
];

const WIRE_SOURCES: &[(&str, &str)] = &[
    ("lib.rs", include_str!("../wire/src/lib.rs")),
    ("codec.rs", include_str!("../wire/src/codec.rs")),
    ("display.rs", include_str!("../wire/src/display.rs")),
    ("error.rs", include_str!("../wire/src/error.rs")),
    ("id.rs", include_str!("../wire/src/id.rs")),
    ("record.rs", include_str!("../wire/src/record.rs")),
    ("tests.rs", include_str!("../wire/src/tests.rs")),
    ("value.rs", include_str!("../wire/src/value.rs")),
    ("vote.rs", include_str!("../wire/src/vote.rs")),
];

const WIT: &str = include_str!("../../wit/peershare.wit");
const CARGO_CONFIG: &str = include_str!("../../student-template/.cargo/config.toml");
const README: &str = include_str!("../../student-template/README.md");

/// Creates a peer crate for `world` in `dir` (which must not exist or be
/// empty); the folder's name is the crate's. Returns the files written.
pub fn create(dir: &Path, world: World) -> Result<Vec<PathBuf>, ScaffoldError> {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(ScaffoldError::BadName { path: dir.display().to_string(), name });
    }
    if dir.read_dir().is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(ScaffoldError::NotEmpty { path: dir.display().to_string() });
    }
    let crate_name = name.replace('_', "-");
    let wasm = format!("target/wasm32-wasip2/release/{}.wasm", name.replace('-', "_"));
    let mut files: Vec<(PathBuf, String)> = vec![
        ("Cargo.toml".into(), peer_manifest(&crate_name)),
        (".cargo/config.toml".into(), CARGO_CONFIG.to_string()),
        (".gitignore".into(), "/target\n".to_string()),
        ("README.md".into(), readme(&name, &wasm, world)),
        ("scenario.toml".into(), world.scenario(&wasm)),
        ("src/lib.rs".into(), world.starting_peer().to_string()),
        ("wit/peershare.wit".into(), WIT.to_string()),
        (
            "peershare/sdk/Cargo.toml".into(),
            library_manifest(
                "peershare-sdk",
                "The PeerShare guest SDK.",
                "peershare-wire = { path = \"../wire\" }\nwit-bindgen = \"0.63\"\n",
            ),
        ),
        ("peershare/wire/Cargo.toml".into(), library_manifest("peershare-wire", "The PeerShare wire format.", "")),
    ];
    files.extend(SDK_SOURCES.iter().map(|(f, text)| (PathBuf::from("peershare/sdk/src").join(f), text.to_string())));
    files.extend(WIRE_SOURCES.iter().map(|(f, text)| (PathBuf::from("peershare/wire/src").join(f), text.to_string())));
    let mut written = Vec::with_capacity(files.len());
    for (relative, text) in files {
        let path = dir.join(relative);
        let io = |source| ScaffoldError::Io { path: path.display().to_string(), source };
        std::fs::create_dir_all(path.parent().expect("every file is inside the folder")).map_err(io)?;
        std::fs::write(&path, text).map_err(io)?;
        written.push(path);
    }
    Ok(written)
}

fn peer_manifest(name: &str) -> String {
    format!(
        "# Your peer. `cargo build --release` builds it for wasm32-wasip2 (see\n\
         # .cargo/config.toml); the component lands in target/wasm32-wasip2/release/.\n\
         [package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\nrust-version = \"1.95\"\npublish = false\n\n\
         [lib]\ncrate-type = [\"cdylib\"]\n\n\
         [dependencies]\npeershare-sdk = {{ path = \"peershare/sdk\" }}\n\n\
         [profile.release]\nopt-level = 3\nlto = true\ncodegen-units = 1\nstrip = \"debuginfo\"\n\n\
         # A crate of its own, even when unpacked inside another workspace.\n[workspace]\nmembers = [\".\", \"peershare/sdk\", \"peershare/wire\"]\n"
    )
}

fn library_manifest(name: &str, description: &str, dependencies: &str) -> String {
    format!(
        "# Copied from PeerShare by `peershare new`: the crate builds with nothing else.\n\
         [package]\nname = \"{name}\"\ndescription = \"{description}\"\nversion = \"0.1.0\"\nedition = \"2024\"\nrust-version = \"1.95\"\npublish = false\n\n\
         [dependencies]\n{dependencies}"
    )
}

/// The template's README with this crate's names filled in.
fn readme(name: &str, wasm: &str, world: World) -> String {
    README
        .replace("student_peer.wasm", wasm.rsplit('/').next().unwrap_or(wasm))
        .replace("# Your peer", &format!("# {name} ({})", world.name()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `name` in a fresh folder of this test's own.
    fn temp(test: &str, name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("peershare-scaffold-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join(name)
    }

    #[test]
    fn a_new_crate_carries_the_contract_the_sdk_and_a_scenario() {
        let dir = temp("carries", "my-dht");
        let files = create(&dir, World::DhtNode).unwrap();
        assert!(files.iter().any(|f| f.ends_with("wit/peershare.wit")));
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert!(
            manifest.contains("name = \"my-dht\"") && manifest.contains("path = \"peershare/sdk\"") && !manifest.contains(".workspace")
        );
        let scenario = std::fs::read_to_string(dir.join("scenario.toml")).unwrap();
        assert!(scenario.contains("target/wasm32-wasip2/release/my_dht.wasm") && scenario.contains("op = \"lookup\""));
        assert!(std::fs::read_to_string(dir.join("src/lib.rs")).unwrap().contains("export_peer!(MyDht)"));
        for f in &files {
            if f.extension().is_some_and(|e| e == "toml") && f.starts_with(&dir) {
                assert!(!std::fs::read_to_string(f).unwrap().contains("workspace = true"), "{} inherits from a workspace", f.display());
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn every_sdk_and_wire_source_file_is_embedded() {
        // A file added to the SDK but not here would leave new crates
        // that do not compile.
        for (dir, embedded) in [("sdk/src", SDK_SOURCES), ("wire/src", WIRE_SOURCES)] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
            let mut on_disk: Vec<String> =
                std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
            on_disk.sort();
            let mut listed: Vec<String> = embedded.iter().map(|(f, _)| f.to_string()).collect();
            listed.sort();
            assert_eq!(listed, on_disk, "{}", path.display());
        }
    }

    #[test]
    fn bad_names_and_used_folders_are_refused() {
        let err = create(&temp("refused", "9lives"), World::PeerNode).unwrap_err().to_string();
        assert!(err.contains("cannot name a Rust crate"), "{err}");
        let dir = temp("refused", "used");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("x"), "").unwrap();
        assert!(matches!(create(&dir, World::PeerNode), Err(ScaffoldError::NotEmpty { .. })));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
