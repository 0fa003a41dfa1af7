//! The process-wide WebAssembly engine and linker, and the guards that hold
//! for every guest call: fuel, a wall-clock backstop, and WASI calls that
//! would block refused at once.

use super::AnyNode;
use super::memory::HostMemoryCreator;
use super::plugin::NodeState;
use crate::error::PluginError;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use wasmtime::component::{HasSelf, Linker, Resource};
use wasmtime::{Config, Engine, StoreContextMut};
use wasmtime_wasi::p2::DynPollable;

/// How often the wall-clock guard's epoch advances.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The engine every plugin is compiled for, and the linker that gives
/// guests the `host` interface and a virtualised WASI.
pub(crate) struct Runtime {
    pub engine: Engine,
    pub linker: Linker<NodeState>,
}

/// The error a guest call gets for a WASI call that would block; the crash
/// is reported as [`crate::node::CrashReason::Blocked`].
#[derive(Debug)]
pub(crate) struct BlockingCall(pub &'static str);

impl std::fmt::Display for BlockingCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for BlockingCall {}

/// The runtime, made on first use.
pub(crate) fn runtime() -> Result<&'static Runtime, PluginError> {
    static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
    RUNTIME.get_or_init(|| make().map_err(|e| format!("{e:#}"))).as_ref().map_err(|e| PluginError::Engine(e.clone()))
}

fn make() -> wasmtime::Result<Runtime> {
    let mut config = Config::new();
    config.consume_fuel(true);
    // A backstop against anything fuel does not cover: a guest call that
    // runs past `WasmLimits::wall_clock_per_call` of real time traps. Fuel
    // runs out long before on any ordinary machine, so results stay
    // deterministic.
    config.epoch_interruption(true);
    config.concurrency_support(false);
    config.max_wasm_stack(1 << 20);
    // Linear memories are host mappings of exactly their current size (see
    // `memory.rs`): no virtual reservation, no guard region, no copy-on-write
    // image. Adjacent memories merge into one kernel mapping, so the node
    // count is limited by RAM (about 23 KiB per idle node), not by
    // vm.max_map_count (65,530 mappings: about 16,000 nodes with wasmtime's
    // defaults). Bounds checks replace guard pages.
    config.memory_reservation(0);
    config.memory_guard_size(0);
    config.guard_before_linear_memory(false);
    config.memory_reservation_for_growth(0);
    config.memory_init_cow(false);
    config.with_host_memory(Arc::new(HostMemoryCreator));
    // PEERSHARE_PROFILE=perfmap names guest functions for `perf`
    // (/tmp/perf-PID.map); it changes nothing in the simulation.
    if std::env::var_os("PEERSHARE_PROFILE").is_some_and(|v| v == "perfmap") {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    let engine = Engine::new(&config)?;
    let ticking = engine.clone();
    std::thread::Builder::new().name("peershare-epoch".into()).spawn(move || {
        loop {
            std::thread::sleep(EPOCH_TICK);
            ticking.increment_epoch();
        }
    })?;
    let mut linker = Linker::new(&engine);
    AnyNode::add_to_linker::<NodeState, HasSelf<NodeState>>(&mut linker, |s| s)?;
    super::host_impl::add_borrowing_calls(&mut linker)?;
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    refuse_waiting(&mut linker)?;
    Ok(Runtime { engine, linker })
}

/// Replaces WASI's clock subscriptions, the only way a sandboxed guest can
/// wait (its streams are always ready, and it has no files or sockets),
/// with calls that fail at once: in virtual time, waiting for real time has
/// no meaning, and it would stall the whole run.
fn refuse_waiting(linker: &mut Linker<NodeState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut clock = linker.instance("wasi:clocks/monotonic-clock@0.2.12")?;
    clock.func_wrap(
        "subscribe-duration",
        |_: StoreContextMut<'_, NodeState>, (_,): (u64,)| -> wasmtime::Result<(Resource<DynPollable>,)> {
            Err(BlockingCall("it waited for a duration (std::thread::sleep, or WASI monotonic-clock.subscribe-duration)").into())
        },
    )?;
    clock.func_wrap(
        "subscribe-instant",
        |_: StoreContextMut<'_, NodeState>, (_,): (u64,)| -> wasmtime::Result<(Resource<DynPollable>,)> {
            Err(BlockingCall("it waited for an instant (WASI monotonic-clock.subscribe-instant)").into())
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}
