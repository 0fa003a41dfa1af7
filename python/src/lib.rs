//! The extension module `peershare._native`: PeerShare's simulator for
//! Python. The Python package `peershare` (in `python/peershare/`) wraps
//! it with the friendly layer (durations as strings, progress bars,
//! DataFrames); this crate only crosses the boundary.
//!
//! Values cross as JSON where they are trees (summaries, node states,
//! operations): the same rendering as the files `peershare run` writes
//! (ids and bytes as `0x` hex), read back by Python's `json`, so integers
//! stay exact.

mod errors;
mod experiment;
mod observe;
mod peer;
mod simulation;
mod table;

use pyo3::prelude::*;

/// The module's contents.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<simulation::Simulation>()?;
    m.add_class::<table::Table>()?;
    m.add_class::<peer::Context>()?;
    m.add_class::<experiment::Experiment>()?;
    m.add_class::<experiment::Results>()?;
    m.add_function(wrap_pyfunction!(experiment::run_spec, m)?)?;
    m.add("FATES", observe::fate_names())?;
    errors::register(m)?;
    m.add_function(wrap_pyfunction!(builtin_plugins, m)?)?;
    m.add_function(wrap_pyfunction!(parse_duration, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

/// The names of the plugins built into PeerShare (`plugin = "kademlia"`).
#[pyfunction]
fn builtin_plugins() -> Vec<&'static str> {
    peershare::builtin::names()
}

/// A duration written as in scenario files (`"250ms"`, `"10s"`, `"2min"`),
/// in nanoseconds; a `ValueError` says what is wrong.
#[pyfunction]
fn parse_duration(text: &str) -> PyResult<u64> {
    text.parse::<peershare::time::SimDuration>()
        .map(|d| d.as_nanos())
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(format!("duration {text:?}: {e}")))
}
