//! Compiling a component once and instantiating it per node.

use super::AnyNode;
use super::console::Console;
use super::exports::peershare::sim::{consensus, discovery, observable, peer, routing};
use super::peershare::sim::types;
use crate::error::PluginError;
use crate::node::{CallCost, CrashReason, Input, NodeContext, Operation, OutputStream, PeerRuntime};
use crate::rng::SimRng;
use rand_core::{Rng, SeedableRng};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, InstancePre, Linker, ResourceTable};
use wasmtime::{Config, Engine, ResourceLimiter, Store, Trap};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// Per-node resource limits of WebAssembly peers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WasmLimits {
    /// Fuel (roughly, WebAssembly instructions) one handler call may use;
    /// a call that needs more crashes the node with `out of fuel`.
    pub fuel_per_event: u64,
    /// Largest linear memory a node may grow to, in bytes.
    pub memory_bytes: usize,
}

impl Default for WasmLimits {
    fn default() -> Self {
        WasmLimits { fuel_per_event: 500_000_000, memory_bytes: 64 << 20 }
    }
}

/// The process-wide WebAssembly engine and linker. Compiled code is tied to
/// the engine's configuration, so every plugin shares this one.
struct Runtime {
    engine: Engine,
    linker: Linker<NodeState>,
}

fn runtime() -> Result<&'static Runtime, PluginError> {
    static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            let mut config = Config::new();
            config.consume_fuel(true);
            config.concurrency_support(false);
            config.max_wasm_stack(1 << 20);
            // Linear memories are plain mappings of exactly their current
            // size: no virtual reservation, no guard region, no copy-on-write
            // image. Adjacent memories merge into one kernel mapping, so the
            // node count is limited by RAM (about 23 KiB per idle node), not
            // by vm.max_map_count (65,530 mappings: about 16,000 nodes with
            // wasmtime's defaults). Bounds checks replace guard pages; they
            // measured no slower here, and growth copies the memory.
            config.memory_reservation(0);
            config.memory_guard_size(0);
            config.guard_before_linear_memory(false);
            config.memory_reservation_for_growth(0);
            config.memory_init_cow(false);
            // PEERSHARE_PROFILE=perfmap names guest functions for `perf`
            // (/tmp/perf-PID.map); it changes nothing in the simulation.
            if std::env::var_os("PEERSHARE_PROFILE").is_some_and(|v| v == "perfmap") {
                config.profiler(wasmtime::ProfilingStrategy::PerfMap);
            }
            let engine = Engine::new(&config).map_err(|e| e.to_string())?;
            let mut linker = Linker::new(&engine);
            AnyNode::add_to_linker::<NodeState, HasSelf<NodeState>>(&mut linker, |s| s).map_err(|e| e.to_string())?;
            wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| e.to_string())?;
            Ok(Runtime { engine, linker })
        })
        .as_ref()
        .map_err(|e| PluginError::Engine(e.clone()))
}

/// A peer implementation compiled from a WebAssembly component, ready to be
/// instantiated once per node.
///
/// ```no_run
/// use peershare::wasm::Plugin;
/// let plugin = Plugin::load("my_peer.wasm".as_ref()).expect("a valid peer component");
/// println!("{} exports routing: {}", plugin.name(), plugin.exports("routing"));
/// ```
pub struct Plugin {
    name: String,
    pre: InstancePre<NodeState>,
    peer: peer::GuestIndices,
    routing: Option<routing::GuestIndices>,
    discovery: Option<discovery::GuestIndices>,
    consensus: Option<consensus::GuestIndices>,
    observable: Option<observable::GuestIndices>,
    limits: WasmLimits,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin").field("name", &self.name).field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl Plugin {
    /// Loads and compiles a component from a `.wasm` file.
    pub fn load(path: &Path) -> Result<Arc<Plugin>, PluginError> {
        let bytes = std::fs::read(path).map_err(|source| PluginError::Io { path: path.display().to_string(), source })?;
        Self::from_bytes(&path.display().to_string(), &bytes)
    }

    /// Compiles a component from bytes; `name` identifies it in messages.
    pub fn from_bytes(name: &str, bytes: &[u8]) -> Result<Arc<Plugin>, PluginError> {
        let rt = runtime()?;
        let component =
            Component::new(&rt.engine, bytes).map_err(|e| PluginError::Invalid { path: name.to_string(), message: format!("{e:#}") })?;
        let wrong_world = |message: String| PluginError::WrongWorld { path: name.to_string(), message };
        let pre = rt.linker.instantiate_pre(&component).map_err(|e| wrong_world(format!("{e:#}")))?;
        let peer = peer::GuestIndices::new(&pre).map_err(|e| {
            wrong_world(format!("it must export the interface peershare:sim/peer@0.1.0 (target one of the worlds peer-node, dht-node, consensus-node): {e:#}"))
        })?;
        Ok(Arc::new(Plugin {
            name: name.to_string(),
            routing: routing::GuestIndices::new(&pre).ok(),
            discovery: discovery::GuestIndices::new(&pre).ok(),
            consensus: consensus::GuestIndices::new(&pre).ok(),
            observable: observable::GuestIndices::new(&pre).ok(),
            pre,
            peer,
            limits: WasmLimits::default(),
        }))
    }

    /// A plugin that ships with PeerShare, by name (see [`crate::builtin`]).
    pub fn builtin(name: &str) -> Result<Arc<Plugin>, PluginError> {
        type Cache = std::sync::Mutex<Vec<(String, Arc<Plugin>)>>;
        static CACHE: OnceLock<Cache> = OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        if let Some((_, p)) = cache.lock().unwrap_or_else(|e| e.into_inner()).iter().find(|(n, _)| n == name) {
            return Ok(p.clone());
        }
        let bytes = crate::builtin::bytes(name).ok_or_else(|| PluginError::Io {
            path: name.to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no built-in plugin of that name; built-in plugins: {}", crate::builtin::names().join(", ")),
            ),
        })?;
        let plugin = Self::from_bytes(&format!("builtin:{name}"), bytes)?;
        cache.lock().unwrap_or_else(|e| e.into_inner()).push((name.to_string(), plugin.clone()));
        Ok(plugin)
    }

    /// This plugin with other per-node limits.
    pub fn with_limits(self: &Arc<Self>, limits: WasmLimits) -> Arc<Plugin> {
        Arc::new(Plugin {
            name: self.name.clone(),
            pre: self.pre.clone(),
            peer: self.peer.clone(),
            routing: self.routing.clone(),
            discovery: self.discovery.clone(),
            consensus: self.consensus.clone(),
            observable: self.observable.clone(),
            limits,
        })
    }

    /// The name it was loaded under (its path, or `builtin:NAME`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The per-node limits.
    pub fn limits(&self) -> WasmLimits {
        self.limits
    }

    /// Whether the component exports an interface: "peer", "routing",
    /// "discovery" or "consensus".
    pub fn exports(&self, interface: &str) -> bool {
        exports_interface(
            interface,
            [self.routing.is_some(), self.discovery.is_some(), self.consensus.is_some(), self.observable.is_some()],
        )
    }

    /// Creates one node: a fresh store and instance. `wasi_rng` feeds the
    /// guest's WASI randomness.
    pub(crate) fn instantiate(&self, ctx: NodeContext, mut wasi_rng: SimRng) -> Result<WasmNode, String> {
        let rt = runtime().map_err(|e| e.to_string())?;
        let clock = VirtualClock(Arc::new(AtomicU64::new(0)));
        let (stdout, stderr) = (Console::default(), Console::default());
        let mut seed = [0u8; 32];
        wasi_rng.fill_bytes(&mut seed);
        let insecure = SimRng::from_seed(seed);
        let insecure_seed = u128::from(wasi_rng.next_u64()) << 64 | u128::from(wasi_rng.next_u64());
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .wall_clock(clock.clone())
            .monotonic_clock(clock.clone())
            .secure_random(wasi_rng)
            .insecure_random(insecure)
            .insecure_random_seed(insecure_seed)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }))
            .build();
        let state =
            NodeState { ctx, wasi, table: ResourceTable::new(), limiter: MemoryLimiter { max: self.limits.memory_bytes, exceeded: false } };
        let mut store = Store::new(&rt.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_fuel(self.limits.fuel_per_event).map_err(|e| e.to_string())?;
        let instance = self.pre.instantiate(&mut store).map_err(|e| format!("{e:#}"))?;
        let peer = self.peer.load(&mut store, &instance).map_err(|e| format!("{e:#}"))?;
        let routing = self.routing.as_ref().map(|i| i.load(&mut store, &instance)).transpose().map_err(|e| format!("{e:#}"))?;
        let discovery = self.discovery.as_ref().map(|i| i.load(&mut store, &instance)).transpose().map_err(|e| format!("{e:#}"))?;
        let consensus = self.consensus.as_ref().map(|i| i.load(&mut store, &instance)).transpose().map_err(|e| format!("{e:#}"))?;
        let observable = self.observable.as_ref().map(|i| i.load(&mut store, &instance)).transpose().map_err(|e| format!("{e:#}"))?;
        Ok(WasmNode {
            store,
            peer,
            routing,
            discovery,
            consensus,
            observable,
            clock,
            stdout,
            stderr,
            fuel_per_event: self.limits.fuel_per_event,
            scratch: Vec::new(),
        })
    }
}

/// Whether `interface` is among the exports; `optional` says which of
/// routing, discovery, consensus and observable are present (peer always is).
fn exports_interface(interface: &str, optional: [bool; 4]) -> bool {
    match interface {
        "peer" => true,
        "routing" => optional[0],
        "discovery" => optional[1],
        "consensus" => optional[2],
        "observable" => optional[3],
        _ => false,
    }
}

/// The data of one node's store: its context and its WASI sandbox.
pub(crate) struct NodeState {
    pub(crate) ctx: NodeContext,
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: MemoryLimiter,
}

impl WasiView for NodeState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// Refuses memory growth past the node's limit, remembering that it did so
/// the crash can be reported as a memory limit rather than a bare trap.
struct MemoryLimiter {
    max: usize,
    exceeded: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.max {
            self.exceeded = true;
            wasmtime::bail!("memory limit of {} bytes exceeded (wanted {desired})", self.max);
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// WASI clocks that read virtual time. The wall clock starts at
/// 2000-01-01T00:00:00Z when the run starts.
#[derive(Clone)]
struct VirtualClock(Arc<AtomicU64>);

const EPOCH_2000: Duration = Duration::from_secs(946_684_800);

impl HostWallClock for VirtualClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }
    fn now(&self) -> Duration {
        EPOCH_2000 + Duration::from_nanos(self.0.load(Ordering::Relaxed))
    }
}

impl HostMonotonicClock for VirtualClock {
    fn resolution(&self) -> u64 {
        1
    }
    fn now(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// One node running a WebAssembly peer.
pub(crate) struct WasmNode {
    store: Store<NodeState>,
    peer: peer::Guest,
    routing: Option<routing::Guest>,
    discovery: Option<discovery::Guest>,
    consensus: Option<consensus::Guest>,
    observable: Option<observable::Guest>,
    clock: VirtualClock,
    stdout: Console,
    stderr: Console,
    fuel_per_event: u64,
    /// Reused buffer for message bytes on their way into the guest.
    scratch: Vec<u8>,
}

impl WasmNode {
    fn call(&mut self, input: Input<'_>) -> wasmtime::Result<()> {
        let store = &mut self.store;
        match input {
            Input::Init(args) => {
                let args = types::InitArgs {
                    index: args.index,
                    id: args.id.clone(),
                    group: args.group.clone(),
                    config: args.config.encode(),
                    bootstrap: args.bootstrap.iter().map(|c| types::Contact { index: c.index, id: c.id.clone() }).collect(),
                };
                self.peer.call_init(store, &args)
            }
            Input::Message { from, bytes } => {
                self.scratch.clear();
                self.scratch.extend_from_slice(bytes);
                self.peer.call_on_message(store, from, &self.scratch)
            }
            Input::Timer { tag } => self.peer.call_on_timer(store, tag),
            Input::Operation { op, operation } => {
                let missing = || wasmtime::format_err!("the peer does not export the {} interface", operation.interface());
                match operation {
                    Operation::Request(r) => self.peer.call_on_request(store, op, &r.encode()),
                    Operation::Lookup { key } => self.routing.as_ref().ok_or_else(missing)?.call_find_closest(store, op, key),
                    Operation::Put { key, value } => self.routing.as_ref().ok_or_else(missing)?.call_put(store, op, key, value),
                    Operation::Get { key } => self.routing.as_ref().ok_or_else(missing)?.call_get(store, op, key),
                    Operation::Announce { key } => self.discovery.as_ref().ok_or_else(missing)?.call_announce(store, op, key),
                    Operation::FindProviders { key } => self.discovery.as_ref().ok_or_else(missing)?.call_find_providers(store, op, key),
                    Operation::Propose { value } => self.consensus.as_ref().ok_or_else(missing)?.call_propose(store, op, value),
                    Operation::App(_) => Err(wasmtime::format_err!("application operations are not for the peer")),
                }
            }
        }
    }

    fn drain_output(&mut self, flush: bool) -> Vec<String> {
        let mut stderr_lines = Vec::new();
        for line in self.stdout.take_lines(flush) {
            self.store.data_mut().ctx.output(OutputStream::Stdout, line);
        }
        for line in self.stderr.take_lines(flush) {
            stderr_lines.push(line.clone());
            self.store.data_mut().ctx.output(OutputStream::Stderr, line);
        }
        stderr_lines
    }

    fn classify(&self, error: &wasmtime::Error, stderr: &[String]) -> CrashReason {
        if self.store.data().limiter.exceeded {
            return CrashReason::MemoryLimit;
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => CrashReason::OutOfFuel,
            Some(Trap::StackOverflow) => CrashReason::StackOverflow,
            Some(Trap::UnreachableCodeReached) => {
                if stderr.iter().any(|l| l.starts_with("memory allocation of")) {
                    return CrashReason::MemoryLimit;
                }
                match stderr.iter().position(|l| l.contains("panicked at")) {
                    Some(i) => CrashReason::Panic(stderr[i..].join("\n")),
                    None => CrashReason::Trap("unreachable code reached (an abort, or a panic whose message was not printed)".into()),
                }
            }
            Some(Trap::MemoryOutOfBounds) => {
                CrashReason::Trap("out-of-bounds memory access (in a Rust guest, usually a stack overflow from deep recursion)".into())
            }
            Some(trap) => CrashReason::Trap(trap.to_string()),
            None => CrashReason::Trap(format!("{error:#}")),
        }
    }
}

impl PeerRuntime for WasmNode {
    fn context(&mut self) -> &mut NodeContext {
        &mut self.store.data_mut().ctx
    }

    fn handle(&mut self, input: Input<'_>) -> Result<CallCost, CrashReason> {
        let now = self.store.data().ctx.now().as_nanos();
        self.clock.0.store(now, Ordering::Relaxed);
        // Fuel cannot fail to be set: fuel metering is always on.
        let _ = self.store.set_fuel(self.fuel_per_event);
        let result = self.call(input);
        let fuel = self.fuel_per_event - self.store.get_fuel().unwrap_or(0);
        let stderr = self.drain_output(result.is_err());
        match result {
            Ok(()) => Ok(CallCost { fuel }),
            Err(e) => Err(self.classify(&e, &stderr)),
        }
    }

    fn exports(&self, interface: &str) -> bool {
        exports_interface(
            interface,
            [self.routing.is_some(), self.discovery.is_some(), self.consensus.is_some(), self.observable.is_some()],
        )
    }

    fn inspect(&mut self) -> Option<Result<Vec<u8>, CrashReason>> {
        let observable = self.observable.as_ref()?;
        let saved = self.store.data().ctx.save();
        let _ = self.store.set_fuel(self.fuel_per_event);
        let result = observable.call_inspect(&mut self.store);
        let stderr = self.drain_output(result.is_err());
        self.store.data_mut().ctx.restore(saved);
        Some(result.map_err(|e| self.classify(&e, &stderr)))
    }
}
