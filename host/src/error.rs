//! Errors of the framework itself: bad input or a failure of the host. A
//! failure inside a simulated node is not an error here; it is a
//! [`crate::node::CrashReason`] recorded in the event log.

use crate::NodeIndex;

/// A file the user wrote (a scenario, an experiment) cannot be read or is
/// wrong, a result file cannot be written or read back, or an experiment
/// cannot be carried out as asked. [`crate::scenario::ScenarioError`]
/// and [`crate::experiment::ExperimentError`] are this type.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A result could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file or folder.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not match its format.
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// toml's explanation, with line, column and field.
        message: String,
    },
    /// A value is invalid.
    #[error("{path}, line {line}, field `{field}`: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// The 1-based line.
        line: usize,
        /// The field, as a dotted path (`groups[1].plugin`).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A folder holds only some of an experiment's results.
    #[error("{path} holds {} of the {total} runs' results ({missing} missing, the first: {first}); run the experiment into this folder to finish it", total - missing)]
    Incomplete {
        /// The folder of run results.
        path: String,
        /// How many runs have no result.
        missing: usize,
        /// How many runs the experiment has.
        total: usize,
        /// The first missing run (variant and seed).
        first: String,
    },
    /// An experiment was stopped before every run had ended; the finished
    /// runs are saved and running again resumes.
    #[error("the experiment was stopped with {done} of {total} runs done (saved in {path}); run it again to resume")]
    Interrupted {
        /// Runs with a result, reused or new.
        done: usize,
        /// Runs in the experiment.
        total: usize,
        /// The folder of run results.
        path: String,
    },
    /// The experiment cannot be carried out as asked.
    #[error("cannot carry out the experiment: {message}")]
    Unsupported {
        /// Why.
        message: String,
    },
}

/// A WebAssembly plugin could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The file could not be read.
    #[error("cannot read plugin {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a valid WebAssembly component.
    #[error("plugin {path} is not a valid WebAssembly component: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// wasmtime's explanation.
        message: String,
    },
    /// The component does not fit PeerShare's worlds.
    #[error("plugin {path} does not fit the peershare:sim worlds: {message}")]
    WrongWorld {
        /// The file.
        path: String,
        /// What is missing or mistyped.
        message: String,
    },
    /// The WebAssembly engine could not be configured.
    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(String),
}

/// A simulation could not be set up or run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A plugin could not be loaded.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// A node could not be created from its plugin.
    #[error("cannot create node {node} of group {group:?} from plugin {plugin}: {message}")]
    Instantiate {
        /// The node.
        node: NodeIndex,
        /// Its group.
        group: String,
        /// The plugin file.
        plugin: String,
        /// wasmtime's explanation.
        message: String,
    },
    /// The simulation's configuration is inconsistent.
    #[error("invalid simulation setup: {0}")]
    Setup(String),
    /// A fault is invalid for this simulation.
    #[error(transparent)]
    Fault(#[from] crate::fault::FaultError),
    /// A scenario or experiment file is malformed, or an experiment's
    /// results cannot be written.
    #[error(transparent)]
    File(#[from] FileError),
    /// A command's input is invalid (a filter, a missing file).
    #[error("{0}")]
    Input(String),
    /// A capture file could not be written or read.
    #[error(transparent)]
    Capture(#[from] crate::capture::CaptureFileError),
    /// Writing results failed.
    #[error("cannot write {path}: {source}")]
    Output {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}
