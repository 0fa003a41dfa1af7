//! Errors of the framework itself: bad input or a failure of the host. A
//! failure inside a simulated node is not an error here; it is a
//! [`crate::node::CrashReason`] recorded in the event log.

use crate::NodeIndex;

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
    /// A scenario file is malformed.
    #[error(transparent)]
    Scenario(#[from] crate::scenario::ScenarioError),
    /// An experiment file is malformed, or its results cannot be written.
    #[error(transparent)]
    Experiment(#[from] crate::experiment::ExperimentError),
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
