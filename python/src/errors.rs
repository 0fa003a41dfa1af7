//! PeerShare's errors as Python exceptions, with the Rust message and the
//! structured parts (file, line, field, node) as attributes.
//!
//! - `ScenarioError`: a scenario (or a fault table) is wrong: `file`,
//!   `line` and `field` say where.
//! - `PluginError`: a WebAssembly plugin cannot be used: `file`, and
//!   `node` when one node could not be created from it.
//! - `SimError`: anything else the framework could not do.
//!
//! All three derive from `PeerShareError`. A failure inside a simulated
//! node is never an exception: it is a crash in the event log.

use peershare::error::{FileError, PluginError as PluginFailure, SimError as SimFailure};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(_native, PeerShareError, PyException, "Base class of PeerShare's errors.");
create_exception!(
    _native,
    ScenarioError,
    PeerShareError,
    "A scenario or fault table is wrong; `file`, `line` and `field` say where (each may be None)."
);
create_exception!(
    _native,
    PluginError,
    PeerShareError,
    "A WebAssembly plugin cannot be used; `file` names it, `node` the node that could not be created (or None)."
);
create_exception!(_native, SimError, PeerShareError, "The simulator could not set up or run the simulation as asked.");

/// Adds the exception classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("PeerShareError", py.get_type::<PeerShareError>())?;
    m.add("ScenarioError", py.get_type::<ScenarioError>())?;
    m.add("PluginError", py.get_type::<PluginError>())?;
    m.add("SimError", py.get_type::<SimError>())?;
    Ok(())
}

/// Where in a file a problem is.
#[derive(Default)]
struct Place {
    file: Option<String>,
    line: Option<usize>,
    field: Option<String>,
    node: Option<u32>,
}

fn raise<E: pyo3::PyTypeInfo>(message: String, place: Place) -> PyErr {
    Python::attach(|py| {
        let err = PyErr::from_type(py.get_type::<E>(), message);
        let value = err.value(py);
        let set = || -> PyResult<()> {
            value.setattr("file", place.file)?;
            value.setattr("line", place.line)?;
            value.setattr("field", place.field)?;
            value.setattr("node", place.node)?;
            Ok(())
        };
        match set() {
            Ok(()) => err,
            Err(e) => e,
        }
    })
}

/// The line toml names in a syntax error ("TOML parse error at line 3, column 7").
fn syntax_line(message: &str) -> Option<usize> {
    let rest = &message[message.find("line ")? + 5..];
    rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// A scenario file's error as a `ScenarioError`.
pub fn file_error(e: FileError) -> PyErr {
    let message = e.to_string();
    let place = match e {
        FileError::Read { path, .. } | FileError::Write { path, .. } => Place { file: Some(path), ..Place::default() },
        FileError::Syntax { path, message } => Place { file: Some(path), line: syntax_line(&message), ..Place::default() },
        FileError::Invalid { path, line, field, .. } => Place { file: Some(path), line: Some(line), field: Some(field), node: None },
        FileError::Incomplete { path, .. } | FileError::Interrupted { path, .. } => Place { file: Some(path), ..Place::default() },
        FileError::Unsupported { .. } => Place::default(),
    };
    raise::<ScenarioError>(message, place)
}

/// A plugin's error as a `PluginError`.
fn plugin_error(e: PluginFailure) -> PyErr {
    let message = e.to_string();
    let file = match e {
        PluginFailure::Io { path, .. } | PluginFailure::Invalid { path, .. } | PluginFailure::WrongWorld { path, .. } => Some(path),
        PluginFailure::Engine(_) => None,
    };
    raise::<PluginError>(message, Place { file, ..Place::default() })
}

/// The framework's error as the matching exception.
pub fn sim_error(e: SimFailure) -> PyErr {
    match e {
        SimFailure::File(e) => file_error(e),
        SimFailure::Plugin(e) => plugin_error(e),
        SimFailure::Instantiate { node, ref plugin, .. } => {
            let file = Some(plugin.clone());
            raise::<PluginError>(e.to_string(), Place { file, node: Some(node), ..Place::default() })
        }
        other => raise::<SimError>(other.to_string(), Place::default()),
    }
}

/// A fault table's error as a `ScenarioError` naming the field.
pub fn fault_table_error(e: peershare::scenario::faults::FaultTableError) -> PyErr {
    let message = format!("fault: {e}");
    let field = (!e.field.is_empty()).then_some(e.field);
    raise::<ScenarioError>(message, Place { field, ..Place::default() })
}

/// A framework error about the request itself (a bad node index, a fault
/// id that does not exist) as a `SimError`.
pub fn sim_message(message: String) -> PyErr {
    raise::<SimError>(message, Place::default())
}
