//! Compiling a component once and instantiating it per node.

use super::console::Console;
use super::crash::classify;
use super::exports::peershare::sim::{consensus, discovery, observable, peer, routing};
use super::memory::{MemorySnapshot, Region, collect_memories};
use super::peershare::sim::types;
use super::runtime::{EPOCH_TICK, runtime};
use crate::error::PluginError;
use crate::node::{CallCost, CrashReason, Input, NodeContext, Operation, OutputStream, PeerRuntime};
use crate::rng::SimRng;
use rand_core::{Rng, SeedableRng, TryRng};
use std::convert::Infallible;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use wasmtime::component::{InstancePre, ResourceTable};
use wasmtime::{ResourceLimiter, Store};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// Per-node resource limits of WebAssembly peers.
///
/// ```
/// use peershare::wasm::WasmLimits;
/// let small = WasmLimits { memory_bytes: 16 << 20, ..WasmLimits::default() };
/// assert_eq!(small.fuel_per_event, WasmLimits::default().fuel_per_event);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WasmLimits {
    /// Fuel (roughly, WebAssembly instructions) one handler call may use;
    /// a call that needs more crashes the node with `out of fuel`.
    pub fuel_per_event: u64,
    /// Memory the node may hold in all, in bytes: every linear memory of
    /// every instance in the component, plus its tables (counted at
    /// [`TABLE_ELEMENT_BYTES`] per element).
    pub memory_bytes: usize,
    /// Real time one handler call may take before it is stopped (the node
    /// crashes with [`CrashReason::WallClockLimit`]). A backstop: fuel
    /// stops a busy guest deterministically long before, on any ordinary
    /// machine.
    pub wall_clock_per_call: Duration,
}

impl Default for WasmLimits {
    fn default() -> Self {
        WasmLimits { fuel_per_event: 500_000_000, memory_bytes: 64 << 20, wall_clock_per_call: Duration::from_secs(5) }
    }
}

/// What one table element counts for against [`WasmLimits::memory_bytes`].
pub const TABLE_ELEMENT_BYTES: usize = 16;

/// Core instances, tables and linear memories one node's component may
/// create. A Rust peer needs a handful of each.
const MAX_INSTANCES: usize = 100;
const MAX_TABLES: usize = 100;
const MAX_MEMORIES: usize = 16;

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
    ///
    /// Compiled components are kept for the life of the process, keyed by
    /// the file's contents (SHA-256), so the runs of an experiment compile
    /// a student's peer once, and a rebuilt file is compiled anew.
    pub fn load(path: &Path) -> Result<Arc<Plugin>, PluginError> {
        use sha2::{Digest, Sha256};
        type Cache = std::sync::Mutex<Vec<([u8; 32], Arc<Plugin>)>>;
        static CACHE: OnceLock<Cache> = OnceLock::new();
        let bytes = std::fs::read(path).map_err(|source| PluginError::Io { path: path.display().to_string(), source })?;
        let digest: [u8; 32] = Sha256::digest(&bytes).into();
        let cache = CACHE.get_or_init(Default::default);
        if let Some((_, p)) = cache.lock().unwrap_or_else(|e| e.into_inner()).iter().find(|(d, _)| *d == digest) {
            return Ok(p.clone());
        }
        let plugin = Self::from_bytes(&path.display().to_string(), &bytes)?;
        cache.lock().unwrap_or_else(|e| e.into_inner()).push((digest, plugin.clone()));
        Ok(plugin)
    }

    /// Compiles a component from bytes; `name` identifies it in messages.
    ///
    /// The component is instantiated once on the spot, in a scratch
    /// sandbox, so that a wrong export signature or a component that cannot
    /// start within the default limits is refused here, naming the file,
    /// rather than when the first node is created.
    pub fn from_bytes(name: &str, bytes: &[u8]) -> Result<Arc<Plugin>, PluginError> {
        let rt = runtime()?;
        let component = wasmtime::component::Component::new(&rt.engine, bytes)
            .map_err(|e| PluginError::Invalid { path: name.to_string(), message: format!("{e:#}") })?;
        let wrong_world = |message: String| PluginError::WrongWorld { path: name.to_string(), message };
        let pre = rt.linker.instantiate_pre(&component).map_err(|e| wrong_world(format!("{e:#}")))?;
        let cannot_start =
            |message: String| PluginError::Invalid { path: name.to_string(), message: format!("it cannot be instantiated: {message}") };
        let scratch = || NodeContext::new(0, SimRng::from_seed([0; 32]));
        let Sandbox { mut store, .. } =
            Sandbox::new(WasmLimits::default(), scratch(), SimRng::from_seed([0; 32])).map_err(|e| cannot_start(e.to_string()))?;
        let (started, _) = collect_memories(|| pre.instantiate(&mut store));
        started.map_err(|e| cannot_start(Instantiation::failed(&store, e).to_string()))?;
        drop(store);
        let peer = peer::GuestIndices::new(&pre).map_err(|e| {
            wrong_world(format!("it must export the interface peershare:sim/peer@0.1.0 (target one of the worlds peer-node, dht-node, consensus-node): {e:#}"))
        })?;
        let plugin = Plugin {
            name: name.to_string(),
            routing: routing::GuestIndices::new(&pre).ok(),
            discovery: discovery::GuestIndices::new(&pre).ok(),
            consensus: consensus::GuestIndices::new(&pre).ok(),
            observable: observable::GuestIndices::new(&pre).ok(),
            pre,
            peer,
            limits: WasmLimits::default(),
        };
        plugin.instantiate(scratch(), SimRng::from_seed([0; 32])).map_err(|e| match e {
            Instantiation::Exports(message) => wrong_world(message),
            Instantiation::Failed(message) => cannot_start(message),
        })?;
        Ok(Arc::new(plugin))
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
    pub(crate) fn instantiate(&self, ctx: NodeContext, wasi_rng: SimRng) -> Result<WasmNode, Instantiation> {
        let Sandbox { mut store, clock, stdout, stderr, random } = Sandbox::new(self.limits, ctx, wasi_rng)?;
        let (instance, memories) = collect_memories(|| self.pre.instantiate(&mut store));
        let instance = instance.map_err(|e| Instantiation::failed(&store, e))?;
        let export = |interface: &str, e: wasmtime::Error| Instantiation::Exports(format!("its export {interface} does not match: {e:#}"));
        let peer = self.peer.load(&mut store, &instance).map_err(|e| export("peershare:sim/peer@0.1.0", e))?;
        let routing = self.routing.as_ref().map(|i| i.load(&mut store, &instance)).transpose();
        let routing = routing.map_err(|e| export("peershare:sim/routing@0.1.0", e))?;
        let discovery = self.discovery.as_ref().map(|i| i.load(&mut store, &instance)).transpose();
        let discovery = discovery.map_err(|e| export("peershare:sim/discovery@0.1.0", e))?;
        let consensus = self.consensus.as_ref().map(|i| i.load(&mut store, &instance)).transpose();
        let consensus = consensus.map_err(|e| export("peershare:sim/consensus@0.1.0", e))?;
        let observable = self.observable.as_ref().map(|i| i.load(&mut store, &instance)).transpose();
        let observable = observable.map_err(|e| export("peershare:sim/observable@0.1.0", e))?;
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
            limits: self.limits,
            scratch: Vec::new(),
            memories,
            random,
        })
    }
}

/// A node's store with its sandbox around it, before instantiation.
struct Sandbox {
    store: Store<NodeState>,
    clock: VirtualClock,
    stdout: Console,
    stderr: Console,
    random: [SharedRng; 2],
}

impl Sandbox {
    /// A store under `limits` whose WASI sees virtual time, draws from
    /// `wasi_rng`, writes to captured consoles and reaches nothing else.
    fn new(limits: WasmLimits, ctx: NodeContext, mut wasi_rng: SimRng) -> Result<Sandbox, Instantiation> {
        let rt = runtime().map_err(|e| Instantiation::Failed(e.to_string()))?;
        let clock = VirtualClock(Arc::new(AtomicU64::new(0)));
        let (stdout, stderr) = (Console::default(), Console::default());
        let mut seed = [0u8; 32];
        wasi_rng.fill_bytes(&mut seed);
        let insecure = SharedRng::new(SimRng::from_seed(seed));
        let insecure_seed = u128::from(wasi_rng.next_u64()) << 64 | u128::from(wasi_rng.next_u64());
        let secure = SharedRng::new(wasi_rng);
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .wall_clock(clock.clone())
            .monotonic_clock(clock.clone())
            .secure_random(secure.clone())
            .insecure_random(insecure.clone())
            .insecure_random_seed(insecure_seed)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }))
            .build();
        let limiter = NodeLimiter { max: limits.memory_bytes, used: 0, last_growth: 0, exceeded: false };
        let state = NodeState { ctx, wasi, table: ResourceTable::new(), limiter };
        let mut store = Store::new(&rt.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_fuel(limits.fuel_per_event).map_err(|e| Instantiation::failed(&store, e))?;
        store.set_epoch_deadline(epoch_ticks(limits.wall_clock_per_call));
        Ok(Sandbox { store, clock, stdout, stderr, random: [secure, insecure] })
    }
}

/// Why a node could not be created.
#[derive(Debug)]
pub(crate) enum Instantiation {
    /// An export does not have the type the world gives it.
    Exports(String),
    /// Instantiation itself failed (a limit, a trap in a start function).
    Failed(String),
}

impl Instantiation {
    fn failed(store: &Store<NodeState>, e: wasmtime::Error) -> Self {
        Instantiation::Failed(classify(&e, store.data().limiter.exceeded, &[]).to_string())
    }
}

impl std::fmt::Display for Instantiation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Instantiation::Exports(m) | Instantiation::Failed(m) => f.write_str(m),
        }
    }
}

/// The epoch deadline, in ticks, for a call that may take `limit`.
fn epoch_ticks(limit: Duration) -> u64 {
    (limit.as_nanos() / EPOCH_TICK.as_nanos()).max(1) as u64 + 1
}

/// A random stream the host can save and put back (around observations),
/// shared with the WASI context that draws from it.
#[derive(Clone)]
struct SharedRng(Arc<Mutex<SimRng>>);

impl SharedRng {
    fn new(rng: SimRng) -> Self {
        SharedRng(Arc::new(Mutex::new(rng)))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SimRng> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl TryRng for SharedRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.lock().next_u32())
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.lock().next_u64())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.lock().fill_bytes(dst);
        Ok(())
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
    limiter: NodeLimiter,
}

impl WasiView for NodeState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

thread_local! {
    /// The copy of a node's memories taken around an observation, one per
    /// thread and reused for every node: kept per node, it would double the
    /// memory of every node ever inspected.
    static INSPECT_SNAPSHOT: std::cell::RefCell<MemorySnapshot> = std::cell::RefCell::default();
}

/// Holds a node to [`WasmLimits::memory_bytes`] over all its linear
/// memories and tables together, and to a few instances, tables and
/// memories; remembers a refusal so the crash reads as a memory limit.
struct NodeLimiter {
    max: usize,
    used: usize,
    /// The growth last admitted, taken back if the growth then fails.
    last_growth: usize,
    exceeded: bool,
}

impl NodeLimiter {
    fn grow(&mut self, bytes: usize, what: &str) -> wasmtime::Result<bool> {
        if self.used.saturating_add(bytes) > self.max {
            self.exceeded = true;
            wasmtime::bail!("node memory limit of {} bytes exceeded ({what} wanted {bytes} more, {} in use)", self.max, self.used);
        }
        self.used += bytes;
        self.last_growth = bytes;
        Ok(true)
    }

    fn grow_failed(&mut self) {
        self.used -= std::mem::take(&mut self.last_growth);
    }
}

impl ResourceLimiter for NodeLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.grow(desired.saturating_sub(current), "a linear memory")
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.grow_failed();
        Ok(())
    }

    fn table_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.grow(desired.saturating_sub(current).saturating_mul(TABLE_ELEMENT_BYTES), "a table")
    }

    fn table_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.grow_failed();
        Ok(())
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
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
    limits: WasmLimits,
    /// Reused buffer for message bytes on their way into the guest.
    scratch: Vec<u8>,
    /// The linear memories of the node's instance.
    memories: Vec<Arc<Region>>,
    /// The WASI random streams (secure, insecure).
    random: [SharedRng; 2],
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
                    id_bits: args.id_bits,
                    node_count: args.node_count,
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
        classify(error, self.store.data().limiter.exceeded, stderr)
    }

    /// Fresh fuel and a fresh wall-clock deadline for one call.
    fn arm(&mut self) {
        // Fuel cannot fail to be set: fuel metering is always on.
        let _ = self.store.set_fuel(self.limits.fuel_per_event);
        self.store.set_epoch_deadline(epoch_ticks(self.limits.wall_clock_per_call));
    }
}

impl PeerRuntime for WasmNode {
    fn context(&mut self) -> &mut NodeContext {
        &mut self.store.data_mut().ctx
    }

    fn context_ref(&self) -> &NodeContext {
        &self.store.data().ctx
    }

    fn handle(&mut self, input: Input<'_>) -> Result<CallCost, CrashReason> {
        let now = self.store.data().ctx.now().as_nanos();
        self.clock.0.store(now, Ordering::Relaxed);
        self.arm();
        let result = self.call(input);
        let fuel = self.limits.fuel_per_event - self.store.get_fuel().unwrap_or(0);
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

    /// Calls the guest's `inspect` and then puts the node back exactly as
    /// it was: its linear memories (whatever `inspect` wrote or allocated),
    /// its WASI random streams, and its context (draws, timers, effects).
    /// Only a trap inside `inspect` cannot be undone: the node crashes.
    fn inspect(&mut self) -> Option<Result<Vec<u8>, CrashReason>> {
        let observable = self.observable.clone()?;
        let saved = self.store.data_mut().ctx.save();
        let random = self.random.each_ref().map(|r| r.lock().clone());
        INSPECT_SNAPSHOT.with_borrow_mut(|snapshot| {
            // SAFETY: no guest code runs on this store outside `call_inspect`.
            unsafe { snapshot.take(&self.memories) };
            self.arm();
            let result = observable.call_inspect(&mut self.store);
            let stderr = self.drain_output(result.is_err());
            self.store.data_mut().ctx.restore(saved);
            if result.is_ok() {
                // SAFETY: as above; the call has returned.
                unsafe { snapshot.restore(&self.memories) };
                for (shared, saved) in self.random.iter().zip(random) {
                    *shared.lock() = saved;
                }
            }
            Some(result.map_err(|e| self.classify(&e, &stderr)))
        })
    }
}
