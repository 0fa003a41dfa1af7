//! Running peers as sandboxed WebAssembly components.
//!
//! This is the only module that knows about wasmtime. A [`Plugin`] is a
//! component compiled once; [`Plugin::instantiate`] makes one node: its own
//! `Store`, its own memory, a CPU budget (fuel) per event and a memory limit.
//! The guest sees no file system, network, environment or host clock: its
//! WASI clocks read virtual time, its WASI randomness comes from the node's
//! seeded stream, and its stdout and stderr become output lines in the event
//! log. A trap, an exhausted budget or memory limit crashes only that node.

mod console;
mod crash;
mod host_impl;
mod memory;
mod plugin;
mod runtime;

pub use plugin::{Plugin, TABLE_ELEMENT_BYTES, WasmLimits};

wasmtime::component::bindgen!({
    world: "any-node",
    path: "../wit",
});
