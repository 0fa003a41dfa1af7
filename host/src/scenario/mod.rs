//! Scenario files: a whole experiment in one TOML file.
//!
//! ```toml
//! seed = 42                 # default seed (the CLI's --seed overrides it)
//! duration = "30s"          # virtual time to simulate
//! id_bits = 160             # length of node identifiers
//! referee = "watch"         # check consensus safety (watch | stop | off), see crate::referee
//!
//! [network]
//! latency = { model = "uniform", min = "10ms", max = "60ms" }
//! loss = 0.01               # probability that a message is lost
//! # matrix = "latency.csv"  # region x region latencies (ms), see LatencyMatrix
//!
//! [[network.links]]         # overrides for links from one group to another
//! from = "peers"
//! to = "servers"
//! latency = { model = "constant", value = "5ms" }
//!
//! [[groups]]
//! name = "peers"
//! count = 100
//! plugin = "flood"          # a built-in plugin, or a path to a .wasm file
//! upload = "10Mbps"         # default "unlimited"
//! download = "50Mbps"
//! bootstrap = { strategy = "random", count = 4 }   # none | first | random | previous | regular (`degree`) | clusters (`size`)
//! join_interval = "10ms"    # delay between consecutive node starts
//! fuel_per_event = 500000000
//! memory_limit = "64MiB"
//! cpu_ns_per_fuel = 0.5     # charge handlers' fuel as virtual CPU time
//! storage = { sync = "explicit", sync_latency = "2ms" }  # durable storage: explicit | always | never
//! [groups.config]           # passed to the peer's init as a "config" record
//! ttl = 6
//!
//! [[workload]]
//! op = "request"            # request | lookup | put | get | announce | find-providers | propose | kv-put | kv-get | kv-cas
//! request = "broadcast"     # for requests: the request's kind
//! fields = { payload = "hello" }
//! every = "1s"              # or `at = "2s"`, or `rate = 5.0` (per second, Poisson)
//! start = "1s"
//! end = "20s"
//! group = "peers"           # or `node = 3`; default: any node
//!
//! [kv]                      # a replicated key/value store over consensus (see crate::kv)
//! keys = 3                  # kv-* operations use keys "k0".."k2" unless they name a `key`
//! reads = "log"             # log | local (stale reads, for the linearizability check to catch)
//!
//! [file_sharing]            # the host-side file-sharing application
//! files = [{ name = "movie", size = "4MiB" }]
//! chunk_size = "256KiB"
//! parallel = 4              # chunk requests in flight per download
//! request_timeout = "30s"
//! corrupt_groups = []       # groups whose nodes serve corrupt chunks
//! reseed = false            # downloaders become providers
//!
//! [[workload]]
//! op = "publish"            # or "download"
//! file = "movie"
//! at = "10s"
//! node = 0
//! ```
//!
//! The host's limits on what peers may ask of it ([`HostLimits`]) can be
//! changed in a `[limits]` table; every entry is optional:
//!
//! ```toml
//! [limits]
//! message_size = "1MiB"            # largest message a peer may send
//! decoded_message_size = "8MiB"    # memory a message may take to decode
//! record_size = "1MiB"             # state, trace step, outcome, committed value
//! bytes_per_event = "32MiB"        # all bytes one handler call hands over
//! sends_per_event = 10000
//! calls_per_event = 100000
//! log_line_size = "8KiB"
//! log_per_node = "4MiB"            # log and output text per node and run
//! storage_per_node = "64MiB"       # a node's durable store (see crate::storage)
//! pending_timers = 10000           # per node
//! handler_calls_per_second = 100000  # per node, in virtual time
//! ```
//!
//! Faults follow in `[[faults]]` tables; see [`faults`] for their format.
//!
//! Errors name the file, the line and the field.

pub mod faults;

use crate::NodeIndex;
use crate::error::SimError;
use crate::limits::HostLimits;
use crate::network::{Bandwidth, LatencyMatrix, LatencyModel, LinkModel};
use crate::node::Operation;
use crate::rng::{SeedTree, Stream, below, open_unit_f64};
use crate::sim::{Bootstrap, GroupSpec, PeerSource, Simulation, SimulationBuilder};
use crate::storage::{StoragePolicy, SyncMode};
use crate::time::{SimDuration, SimTime};
use crate::wasm::{Plugin, WasmLimits};
use peershare_wire::{Record, Value};
use rand_core::Rng;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The `plugin` of a group whose peers the program supplies
/// ([`Scenario::builder_with_peers`]).
pub const NATIVE: &str = "native";

/// A scenario file is malformed: [`crate::error::FileError`], whose
/// errors name the file, the line and the field.
pub type ScenarioError = crate::error::FileError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    seed: u64,
    duration: Spanned<String>,
    #[serde(default = "default_id_bits")]
    id_bits: u32,
    #[serde(default)]
    network: NetworkSection,
    groups: Vec<GroupSection>,
    #[serde(default)]
    workload: Vec<Spanned<WorkloadSection>>,
    file_sharing: Option<Spanned<FileSharingSection>>,
    kv: Option<Spanned<KvSection>>,
    #[serde(default)]
    faults: Vec<Spanned<faults::FaultSection>>,
    #[serde(default)]
    limits: LimitsSection,
    #[serde(default)]
    referee: crate::referee::Refereeing,
}

/// The `[limits]` table: sizes as text ("1MiB"), counts as numbers.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsSection {
    message_size: Option<Spanned<String>>,
    decoded_message_size: Option<Spanned<String>>,
    record_size: Option<Spanned<String>>,
    bytes_per_event: Option<Spanned<String>>,
    log_line_size: Option<Spanned<String>>,
    log_per_node: Option<Spanned<String>>,
    storage_per_node: Option<Spanned<String>>,
    sends_per_event: Option<Spanned<u64>>,
    calls_per_event: Option<Spanned<u64>>,
    pending_timers: Option<Spanned<u64>>,
    handler_calls_per_second: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSharingSection {
    files: Vec<FileSection>,
    chunk_size: Option<Spanned<String>>,
    parallel: Option<usize>,
    request_timeout: Option<SimDuration>,
    #[serde(default)]
    corrupt_groups: Vec<Spanned<String>>,
    #[serde(default)]
    reseed: bool,
}

/// The `[kv]` table: the replicated key/value store ([`crate::kv`]).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KvSection {
    #[serde(default = "default_kv_keys")]
    keys: u32,
    #[serde(default)]
    reads: crate::kv::Reads,
    check_budget: Option<u64>,
}

fn default_kv_keys() -> u32 {
    3
}

/// Workload operations of the key/value store.
const KV_OPERATIONS: [&str; 3] = ["kv-put", "kv-get", "kv-cas"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSection {
    name: String,
    size: Spanned<String>,
}

fn default_id_bits() -> u32 {
    160
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworkSection {
    latency: Option<LatencyModel>,
    loss: Option<Spanned<f64>>,
    matrix: Option<Spanned<String>>,
    #[serde(default)]
    links: Vec<LinkSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkSection {
    from: Spanned<String>,
    to: Spanned<String>,
    latency: Option<LatencyModel>,
    loss: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupSection {
    name: Spanned<String>,
    count: usize,
    plugin: Spanned<String>,
    #[serde(default)]
    upload: Bandwidth,
    #[serde(default)]
    download: Bandwidth,
    bootstrap: Option<Spanned<Bootstrap>>,
    #[serde(default)]
    start: Option<SimDuration>,
    #[serde(default)]
    join_interval: Option<SimDuration>,
    region: Option<String>,
    fuel_per_event: Option<u64>,
    memory_limit: Option<Spanned<String>>,
    cpu_ns_per_fuel: Option<Spanned<f64>>,
    storage: Option<StorageSection>,
    config: Option<Spanned<toml::Table>>,
}

/// A group's `storage` table: when its nodes' writes become durable.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StorageSection {
    #[serde(default)]
    sync: SyncMode,
    #[serde(default)]
    sync_latency: SimDuration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkloadSection {
    op: Spanned<String>,
    request: Option<String>,
    fields: Option<Spanned<toml::Table>>,
    key: Option<Spanned<String>>,
    value: Option<Spanned<String>>,
    at: Option<SimDuration>,
    every: Option<SimDuration>,
    rate: Option<f64>,
    start: Option<SimDuration>,
    end: Option<SimDuration>,
    count: Option<u64>,
    node: Option<NodeIndex>,
    group: Option<Spanned<String>>,
    file: Option<Spanned<String>>,
}

/// A loaded scenario: the simulation to build and how long to run it.
///
/// ```no_run
/// use peershare::scenario::Scenario;
/// let scenario = Scenario::load("examples/flood.toml".as_ref())?.with_seed(7);
/// let mut sim = scenario.build()?;
/// sim.run_until(scenario.end())?;
/// # Ok::<(), peershare::error::SimError>(())
/// ```
#[derive(Debug)]
pub struct Scenario {
    path: String,
    text: String,
    file: File,
    base: PathBuf,
    seed: u64,
}

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read { path: path.display().to_string(), source })?;
        Self::parse(&text, &path.display().to_string(), path.parent().unwrap_or(Path::new(".")))
    }

    /// Reads a scenario from text; `origin` names it in errors and `base` is
    /// the folder relative paths (plugins, matrices) are resolved against.
    pub fn parse(text: &str, origin: &str, base: &Path) -> Result<Scenario, ScenarioError> {
        let file: File = toml::from_str(text)
            .map_err(|e| ScenarioError::Syntax { path: origin.to_string(), message: e.to_string().trim_end().to_string() })?;
        let seed = file.seed;
        let scenario = Scenario { path: origin.to_string(), text: text.to_string(), file, base: base.to_path_buf(), seed };
        scenario.check()?;
        Ok(scenario)
    }

    /// The same scenario with another seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The seed the run will use.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Where the scenario came from.
    pub fn origin(&self) -> &str {
        &self.path
    }

    /// The virtual time at which the run ends.
    pub fn end(&self) -> SimTime {
        SimTime::ZERO + self.duration().unwrap_or_default()
    }

    /// Every group's name and node count, in order: the nodes of a group
    /// are numbered after those of the groups before it.
    pub fn group_sizes(&self) -> Vec<(String, usize)> {
        self.file.groups.iter().map(|g| (g.name.get_ref().clone(), g.count)).collect()
    }

    /// Total number of nodes.
    pub fn node_count(&self) -> usize {
        self.file.groups.iter().map(|g| g.count).sum()
    }

    fn duration(&self) -> Result<SimDuration, ScenarioError> {
        self.file
            .duration
            .get_ref()
            .parse()
            .map_err(|e: crate::time::ParseDurationError| self.invalid(self.file.duration.span().start, "duration", e.to_string()))
    }

    fn line_of(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())].matches('\n').count() + 1
    }

    fn invalid(&self, offset: usize, field: impl Into<String>, message: impl Into<String>) -> ScenarioError {
        ScenarioError::Invalid { path: self.path.clone(), line: self.line_of(offset), field: field.into(), message: message.into() }
    }

    /// The host limits, with the `[limits]` table's entries in force.
    fn host_limits(&self) -> Result<HostLimits, ScenarioError> {
        let l = &self.file.limits;
        let mut limits = HostLimits::default();
        let size = |entry: &Option<Spanned<String>>, name: &str, into: &mut usize| -> Result<(), ScenarioError> {
            if let Some(v) = entry {
                *into = parse_bytes(v.get_ref()).map_err(|m| self.invalid(v.span().start, format!("limits.{name}"), m))?;
                if *into == 0 {
                    return Err(self.invalid(v.span().start, format!("limits.{name}"), "a limit must be more than 0 bytes"));
                }
            }
            Ok(())
        };
        let count = |entry: &Option<Spanned<u64>>, name: &str, into: &mut u64| -> Result<(), ScenarioError> {
            if let Some(v) = entry {
                if *v.get_ref() == 0 {
                    return Err(self.invalid(v.span().start, format!("limits.{name}"), "a limit must be at least 1"));
                }
                *into = *v.get_ref();
            }
            Ok(())
        };
        size(&l.message_size, "message_size", &mut limits.max_message_bytes)?;
        size(&l.decoded_message_size, "decoded_message_size", &mut limits.max_decoded_message_bytes)?;
        size(&l.record_size, "record_size", &mut limits.max_record_bytes)?;
        size(&l.bytes_per_event, "bytes_per_event", &mut limits.max_bytes_per_event)?;
        size(&l.log_line_size, "log_line_size", &mut limits.max_log_line_bytes)?;
        let mut log = limits.max_log_bytes_per_node as usize;
        size(&l.log_per_node, "log_per_node", &mut log)?;
        limits.max_log_bytes_per_node = log as u64;
        let mut storage = limits.max_storage_bytes_per_node as usize;
        size(&l.storage_per_node, "storage_per_node", &mut storage)?;
        limits.max_storage_bytes_per_node = storage as u64;
        let (mut sends, mut calls, mut timers) =
            (limits.max_sends_per_event as u64, limits.max_calls_per_event as u64, limits.max_pending_timers as u64);
        count(&l.sends_per_event, "sends_per_event", &mut sends)?;
        count(&l.calls_per_event, "calls_per_event", &mut calls)?;
        count(&l.pending_timers, "pending_timers", &mut timers)?;
        count(&l.handler_calls_per_second, "handler_calls_per_second", &mut limits.max_handler_calls_per_second)?;
        (limits.max_sends_per_event, limits.max_calls_per_event, limits.max_pending_timers) =
            (sends as usize, calls as usize, timers as usize);
        Ok(limits)
    }

    fn check(&self) -> Result<(), ScenarioError> {
        self.duration()?;
        self.host_limits()?;
        let f = &self.file;
        if f.groups.is_empty() {
            return Err(self.invalid(0, "groups", "the scenario defines no [[groups]] of nodes"));
        }
        if let Some(loss) = &f.network.loss
            && !(0.0..=1.0).contains(loss.get_ref())
        {
            return Err(self.invalid(
                loss.span().start,
                "network.loss",
                format!("a probability must be within [0, 1], got {}", loss.get_ref()),
            ));
        }
        for (i, g) in f.groups.iter().enumerate() {
            if f.groups[..i].iter().any(|h| h.name.get_ref() == g.name.get_ref()) {
                return Err(self.invalid(
                    g.name.span().start,
                    format!("groups[{i}].name"),
                    format!("two groups are named {:?}", g.name.get_ref()),
                ));
            }
            if let Some(config) = &g.config {
                config_record(config.get_ref()).map_err(|m| self.invalid(config.span().start, format!("groups[{i}].config"), m))?;
            }
            if let Some(mem) = &g.memory_limit {
                parse_bytes(mem.get_ref()).map_err(|m| self.invalid(mem.span().start, format!("groups[{i}].memory_limit"), m))?;
            }
            if let Some(bootstrap) = &g.bootstrap {
                bootstrap
                    .get_ref()
                    .check(g.count)
                    .map_err(|m| self.invalid(bootstrap.span().start, format!("groups[{i}].bootstrap"), m))?;
            }
            if let Some(cost) = &g.cpu_ns_per_fuel
                && !(cost.get_ref().is_finite() && *cost.get_ref() >= 0.0)
            {
                return Err(self.invalid(
                    cost.span().start,
                    format!("groups[{i}].cpu_ns_per_fuel"),
                    "must be a number of nanoseconds >= 0",
                ));
            }
        }
        let group_known = |name: &Spanned<String>, field: String| {
            if f.groups.iter().any(|g| g.name.get_ref() == name.get_ref()) {
                Ok(())
            } else {
                Err(self.invalid(name.span().start, field, format!("no group is named {:?}", name.get_ref())))
            }
        };
        for (i, l) in f.network.links.iter().enumerate() {
            group_known(&l.from, format!("network.links[{i}].from"))?;
            group_known(&l.to, format!("network.links[{i}].to"))?;
        }
        for (i, w) in f.workload.iter().enumerate() {
            let at = w.span().start;
            let w = w.get_ref();
            let field = |name: &str| format!("workload[{i}].{name}");
            if let Some(g) = &w.group {
                group_known(g, field("group"))?;
            }
            if let Some(n) = w.node
                && n as usize >= self.node_count()
            {
                return Err(self.invalid(
                    at,
                    field("node"),
                    format!("node {n} does not exist (the scenario has {} nodes)", self.node_count()),
                ));
            }
            let schedules = [w.at.is_some(), w.every.is_some(), w.rate.is_some()].iter().filter(|x| **x).count();
            if schedules != 1 {
                return Err(self.invalid(at, format!("workload[{i}]"), "give exactly one of `at`, `every` or `rate`"));
            }
            if let Some(r) = w.rate
                && !(r.is_finite() && r > 0.0)
            {
                return Err(self.invalid(at, field("rate"), format!("a rate must be a positive number of operations per second, got {r}")));
            }
            if w.every.is_some_and(|e| e.0 == 0) {
                return Err(self.invalid(at, field("every"), "an interval must be longer than zero"));
            }
            match w.op.get_ref().as_str() {
                "request" => {
                    if w.request.is_none() {
                        return Err(self.invalid(w.op.span().start, field("request"), "a request needs `request = \"KIND\"`"));
                    }
                    if let Some(fields) = &w.fields {
                        config_record(fields.get_ref()).map_err(|m| self.invalid(fields.span().start, field("fields"), m))?;
                    }
                }
                "lookup" | "get" | "announce" | "find-providers" | "put" | "propose" => {}
                op if KV_OPERATIONS.contains(&op) => {
                    if f.kv.is_none() {
                        return Err(self.invalid(
                            w.op.span().start,
                            field("op"),
                            format!("a {op} needs a [kv] section (the key/value store)"),
                        ));
                    }
                }
                "publish" | "download" => {
                    let Some(file) = &w.file else {
                        return Err(self.invalid(
                            w.op.span().start,
                            field("file"),
                            format!("a {} needs `file = \"NAME\"`", w.op.get_ref()),
                        ));
                    };
                    let known = f.file_sharing.as_ref().is_some_and(|fs| fs.get_ref().files.iter().any(|x| &x.name == file.get_ref()));
                    if !known {
                        return Err(self.invalid(
                            file.span().start,
                            field("file"),
                            format!("no file named {:?} in [file_sharing]", file.get_ref()),
                        ));
                    }
                }
                other => {
                    return Err(self.invalid(
                        w.op.span().start,
                        field("op"),
                        format!("unknown operation {other:?}; expected request, lookup, put, get, announce, find-providers, propose, publish, download, kv-put, kv-get or kv-cas"),
                    ));
                }
            }
            // A store's key is a name; every other key and value a bytes spec.
            let key_is_name = KV_OPERATIONS.contains(&w.op.get_ref().as_str());
            for (name, spec) in [("key", &w.key), ("value", &w.value)] {
                if let Some(s) = spec
                    && !(name == "key" && key_is_name)
                {
                    check_bytes_spec(s.get_ref()).map_err(|m| self.invalid(s.span().start, field(name), m))?;
                }
            }
            if let Some(key) = &w.key
                && !key_is_name
            {
                let id_bytes = f.id_bits.div_ceil(8) as usize;
                let mut probe = SeedTree::new(0).stream(Stream::Workload);
                let len = key_spec(key.get_ref(), &mut probe, id_bytes).len();
                if len != id_bytes {
                    return Err(self.invalid(
                        key.span().start,
                        field("key"),
                        format!("a key must be as long as a node id ({id_bytes} bytes with id_bits = {}), got {len} bytes", f.id_bits),
                    ));
                }
            }
        }
        if let Some(fs) = &f.file_sharing {
            self.file_sharing_config(fs)?;
        }
        if let Some(kv) = &f.kv {
            if f.file_sharing.is_some() {
                return Err(self.invalid(kv.span().start, "kv", "a run has one host-side application: [kv] or [file_sharing], not both"));
            }
            if kv.get_ref().keys == 0 {
                return Err(self.invalid(kv.span().start, "kv.keys", "the store needs at least one key"));
            }
        }
        self.faults()?;
        Ok(())
    }

    /// Group `i` of the file, running `peer`.
    fn group_spec(&self, i: usize, g: &GroupSection, peer: PeerSource) -> Result<GroupSpec, ScenarioError> {
        let mut spec = GroupSpec::new(g.name.get_ref().clone(), g.count, peer);
        if let Some(config) = &g.config {
            spec.config =
                config_record(config.get_ref()).map_err(|m| self.invalid(config.span().start, format!("groups[{i}].config"), m))?;
        }
        spec.uplink = g.upload;
        spec.downlink = g.download;
        spec.start = SimTime::ZERO + g.start.unwrap_or_default();
        spec.join_interval = g.join_interval.unwrap_or_default();
        spec.cpu_ns_per_fuel = g.cpu_ns_per_fuel.as_ref().map(|c| *c.get_ref());
        if let Some(st) = &g.storage {
            spec.storage = StoragePolicy { sync: st.sync, sync_latency: st.sync_latency };
        }
        if let Some(bootstrap) = &g.bootstrap {
            spec.bootstrap = bootstrap.get_ref().clone();
        }
        Ok(spec)
    }

    /// The scenario's fault timeline.
    pub fn faults(&self) -> Result<Vec<crate::fault::Fault>, ScenarioError> {
        let groups: Vec<(String, usize)> = self.file.groups.iter().map(|g| (g.name.get_ref().clone(), g.count)).collect();
        let mut out = Vec::new();
        for (i, section) in self.file.faults.iter().enumerate() {
            let fault = section.get_ref().to_fault(&groups).map_err(|(field, message)| {
                let field = if field.is_empty() { format!("faults[{i}]") } else { format!("faults[{i}].{field}") };
                self.invalid(section.span().start, field, message)
            })?;
            out.push(fault);
        }
        Ok(out)
    }

    fn file_sharing_config(&self, section: &Spanned<FileSharingSection>) -> Result<crate::fileshare::FileSharingConfig, ScenarioError> {
        use crate::fileshare::{FileSharingConfig, FileSpec};
        let fs = section.get_ref();
        let mut config =
            FileSharingConfig { key_bytes: self.file.id_bits.div_ceil(8) as usize, reseed: fs.reseed, ..FileSharingConfig::default() };
        for (i, file) in fs.files.iter().enumerate() {
            let size = parse_bytes(file.size.get_ref())
                .map_err(|m| self.invalid(file.size.span().start, format!("file_sharing.files[{i}].size"), m))?;
            config.files.push(FileSpec { name: file.name.clone(), size });
        }
        if let Some(c) = &fs.chunk_size {
            config.chunk_size = parse_bytes(c.get_ref()).map_err(|m| self.invalid(c.span().start, "file_sharing.chunk_size", m))?;
            if config.chunk_size == 0 {
                return Err(self.invalid(c.span().start, "file_sharing.chunk_size", "a chunk must hold at least one byte"));
            }
        }
        if let Some(p) = fs.parallel {
            config.parallel = p.max(1);
        }
        if let Some(t) = fs.request_timeout {
            config.request_timeout = t;
        }
        let mut first = 0u32;
        let ranges: Vec<(&str, u32, u32)> = self
            .file
            .groups
            .iter()
            .map(|g| {
                let r = (g.name.get_ref().as_str(), first, g.count as u32);
                first += g.count as u32;
                r
            })
            .collect();
        for (i, name) in fs.corrupt_groups.iter().enumerate() {
            let Some(&(_, start, count)) = ranges.iter().find(|(n, _, _)| n == name.get_ref()) else {
                return Err(self.invalid(
                    name.span().start,
                    format!("file_sharing.corrupt_groups[{i}]"),
                    format!("no group is named {:?}", name.get_ref()),
                ));
            };
            config.corrupt_nodes.extend(start..start + count);
        }
        Ok(config)
    }

    /// Loads the plugins and builds the simulation, with every node created
    /// and the workload scheduled.
    pub fn build(&self) -> Result<Simulation, SimError> {
        self.builder()?.build()
    }

    /// Like [`Scenario::build`], but returns the builder to adjust first.
    pub fn builder(&self) -> Result<SimulationBuilder, SimError> {
        self.builder_with_peers(&BTreeMap::new())
    }

    /// Like [`Scenario::builder`], but the groups named in `peers` run
    /// those peers instead of the plugins the file names (native Rust
    /// peers, or the Python API's peers). A group written
    /// `plugin = "native"` must be among them.
    ///
    /// ```no_run
    /// # use peershare::prelude::*;
    /// # struct Quiet;
    /// # impl Peer for Quiet {
    /// #     fn init(&mut self, _: &mut NodeContext, _: &InitArgs) {}
    /// #     fn on_message(&mut self, _: &mut NodeContext, _: NodeIndex, _: &[u8]) {}
    /// # }
    /// let scenario = Scenario::load("my-scenario.toml".as_ref())?;   // [[groups]] name = "peers", plugin = "native"
    /// let peers = [("peers".to_string(), PeerSource::native(|_| Quiet))].into();
    /// let sim = scenario.builder_with_peers(&peers)?.build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder_with_peers(&self, peers: &BTreeMap<String, PeerSource>) -> Result<SimulationBuilder, SimError> {
        let f = &self.file;
        if let Some(unknown) = peers.keys().find(|name| !f.groups.iter().any(|g| g.name.get_ref() == *name)) {
            let names: Vec<&str> = f.groups.iter().map(|g| g.name.get_ref().as_str()).collect();
            return Err(SimError::Input(format!(
                "peers are given for group {unknown:?}, but {} has no such group (its groups: {})",
                self.path,
                names.join(", ")
            )));
        }
        let limits = self.host_limits().map_err(|e| SimError::Setup(e.to_string()))?;
        let mut b = SimulationBuilder::new(self.seed).id_bits(f.id_bits).limits(limits).referee(f.referee);
        let mut default_link = LinkModel {
            latency: f.network.latency.clone().unwrap_or_default(),
            loss: f.network.loss.as_ref().map_or(0.0, |l| *l.get_ref()),
        };
        default_link.latency.validate().map_err(|m| self.invalid(0, "network.latency", m))?;
        let matrix = match &f.network.matrix {
            Some(path) => Some(
                LatencyMatrix::load(&self.base.join(path.get_ref()))
                    .map_err(|e| self.invalid(path.span().start, "network.matrix", e.to_string()))?,
            ),
            None => None,
        };
        let mut plugins: BTreeMap<String, std::sync::Arc<Plugin>> = BTreeMap::new();
        for (i, g) in f.groups.iter().enumerate() {
            let name = g.plugin.get_ref();
            if let Some(source) = peers.get(g.name.get_ref()) {
                b = b.group(self.group_spec(i, g, source.clone())?);
                continue;
            }
            if name == NATIVE {
                return Err(self
                    .invalid(
                        g.plugin.span().start,
                        format!("groups[{i}].plugin"),
                        format!(
                            "\"native\" means the program supplies group {:?}'s peers (Python: peers={{{:?}: PeerClass}}; Rust: Scenario::builder_with_peers), and it gave none",
                            g.name.get_ref(),
                            g.name.get_ref()
                        ),
                    )
                    .into());
            }
            let plugin = match plugins.get(name) {
                Some(p) => p.clone(),
                None => {
                    let p = if name.ends_with(".wasm") || name.contains('/') {
                        Plugin::load(&self.base.join(name))?
                    } else {
                        Plugin::builtin(name)?
                    };
                    plugins.insert(name.clone(), p.clone());
                    p
                }
            };
            let mut limits = WasmLimits::default();
            if let Some(fuel) = g.fuel_per_event {
                limits.fuel_per_event = fuel;
            }
            if let Some(mem) = &g.memory_limit {
                limits.memory_bytes =
                    parse_bytes(mem.get_ref()).map_err(|m| self.invalid(mem.span().start, format!("groups[{i}].memory_limit"), m))?;
            }
            let plugin = if limits == plugin.limits() { plugin } else { plugin.with_limits(limits) };
            b = b.group(self.group_spec(i, g, PeerSource::Wasm(plugin))?);
        }
        // Links: matrix by region, then explicit overrides.
        if let Some(m) = &matrix {
            for (i, from) in f.groups.iter().enumerate() {
                for (j, to) in f.groups.iter().enumerate() {
                    let region = |g: &GroupSection| g.region.clone().unwrap_or_else(|| g.name.get_ref().clone());
                    let (rf, rt) = (region(from), region(to));
                    let lookup = |r: &str, g: usize| {
                        m.region_index(r).ok_or_else(|| {
                            self.invalid(
                                f.groups[g].name.span().start,
                                format!("groups[{g}].region"),
                                format!("region {r:?} is not in the latency matrix (regions: {})", m.regions().join(", ")),
                            )
                        })
                    };
                    let (a, c) = (lookup(&rf, i)?, lookup(&rt, j)?);
                    b = b.link(
                        from.name.get_ref(),
                        to.name.get_ref(),
                        LinkModel { latency: LatencyModel::constant(m.latency(a, c)), loss: default_link.loss },
                    );
                }
            }
        }
        for (i, l) in f.network.links.iter().enumerate() {
            let link = LinkModel {
                latency: l.latency.clone().unwrap_or_else(|| default_link.latency.clone()),
                loss: l.loss.unwrap_or(default_link.loss),
            };
            link.latency.validate().map_err(|m| self.invalid(l.from.span().start, format!("network.links[{i}].latency"), m))?;
            b = b.link(l.from.get_ref(), l.to.get_ref(), link);
        }
        default_link.loss = default_link.loss.clamp(0.0, 1.0);
        b = b.default_link(default_link);
        for (time, node, op) in self.workload_operations()? {
            b = b.operation(time, node, op);
        }
        if let Some(fs) = &f.file_sharing {
            let config = self.file_sharing_config(fs)?;
            let seed = self.seed;
            b = b.application(move || crate::fileshare::FileSharing::new(config.clone(), seed));
        }
        if let Some(kv) = &f.kv {
            let kv = kv.get_ref();
            let defaults = crate::kv::KvConfig::default();
            let config = crate::kv::KvConfig { reads: kv.reads, check_budget: kv.check_budget.unwrap_or(defaults.check_budget) };
            b = b.application(move || crate::kv::KeyValueStore::new(config.clone()));
        }
        for fault in self.faults()? {
            b = b.fault(fault);
        }
        Ok(b)
    }

    /// The operations the workload issues, drawn from the workload stream.
    fn workload_operations(&self) -> Result<Vec<(SimTime, NodeIndex, Operation)>, ScenarioError> {
        let f = &self.file;
        let seeds = SeedTree::new(self.seed);
        let mut rng = seeds.stream(Stream::Workload);
        let end = self.end();
        let mut group_ranges = BTreeMap::new();
        let mut first = 0u32;
        for g in &f.groups {
            group_ranges.insert(g.name.get_ref().clone(), (first, g.count as u32));
            first += g.count as u32;
        }
        let total = first;
        let id_bytes = f.id_bits.div_ceil(8) as usize;
        let mut ops = Vec::new();
        for w in &f.workload {
            let w = w.get_ref();
            let start = SimTime::ZERO + w.start.unwrap_or_default();
            let stop = w.end.map(|e| SimTime::ZERO + e).unwrap_or(end).min(end);
            let mut times = Vec::new();
            if let Some(at) = w.at {
                times.push(SimTime::ZERO + at);
            } else if let Some(every) = w.every {
                let mut t = start;
                while t < stop && w.count.is_none_or(|c| (times.len() as u64) < c) {
                    times.push(t);
                    t += every;
                }
            } else if let Some(rate) = w.rate {
                let mut t = start;
                loop {
                    t += SimDuration::from_secs_f64(-open_unit_f64(&mut rng).ln() / rate);
                    if t >= stop || w.count.is_some_and(|c| times.len() as u64 >= c) {
                        break;
                    }
                    times.push(t);
                }
            }
            for t in times {
                let node = match (w.node, &w.group) {
                    (Some(n), _) => n,
                    (None, Some(g)) => {
                        let (first, count) = group_ranges[g.get_ref()];
                        first + below(&mut rng, u64::from(count.max(1))) as u32
                    }
                    (None, None) => below(&mut rng, u64::from(total)) as u32,
                };
                let key = |rng: &mut crate::rng::SimRng| key_spec(w.key.as_ref().map_or("random", |k| k.get_ref()), rng, id_bytes);
                let op = match w.op.get_ref().as_str() {
                    "request" => {
                        let mut r =
                            w.fields.as_ref().map(|f| config_record(f.get_ref()).expect("checked when loading")).unwrap_or_default();
                        r.kind = w.request.clone().unwrap_or_default();
                        Operation::Request(r)
                    }
                    "publish" | "download" => {
                        let file = w.file.as_ref().map(|f| f.get_ref().as_str()).unwrap_or_default();
                        Operation::App(Record::new(w.op.get_ref().as_str()).with("file", file))
                    }
                    kv if KV_OPERATIONS.contains(&kv) => {
                        let keys = f.kv.as_ref().map_or(1, |k| k.get_ref().keys);
                        let name = match &w.key {
                            Some(k) => k.get_ref().clone(),
                            None => format!("k{}", below(&mut rng, u64::from(keys))),
                        };
                        let request = Record::new(kv).with("key", name);
                        Operation::App(if kv == "kv-get" { request } else { request.with("value", draw(w.value.as_ref(), &mut rng, 8)) })
                    }
                    "lookup" => Operation::Lookup { key: key(&mut rng) },
                    "get" => Operation::Get { key: key(&mut rng) },
                    "announce" => Operation::Announce { key: key(&mut rng) },
                    "find-providers" => Operation::FindProviders { key: key(&mut rng) },
                    "put" => {
                        let key = key(&mut rng);
                        let value = draw(w.value.as_ref(), &mut rng, 32);
                        Operation::Put { key, value }
                    }
                    _ => Operation::Propose { value: draw(w.value.as_ref(), &mut rng, 16) },
                };
                ops.push((t, node, op));
            }
        }
        Ok(ops)
    }
}

fn random_bytes(rng: &mut impl Rng, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rng.fill_bytes(&mut v);
    v
}

/// Bytes from an optional spec; no spec means `random`.
/// A DHT key from its spec: `text:NAME` is hashed (SHA-256, chained for ids
/// longer than 256 bits) to the id length, as DHTs derive keys from names;
/// other specs are taken as they are.
fn key_spec(spec: &str, rng: &mut impl Rng, id_bytes: usize) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let Some(text) = spec.strip_prefix("text:") else { return bytes_spec(spec, rng, id_bytes) };
    let mut key = Vec::with_capacity(id_bytes + 32);
    let mut block = Sha256::digest(text.as_bytes()).to_vec();
    while key.len() < id_bytes {
        key.extend_from_slice(&block);
        block = Sha256::digest(&block).to_vec();
    }
    key.truncate(id_bytes);
    key
}

fn draw(spec: Option<&Spanned<String>>, rng: &mut impl Rng, default_len: usize) -> Vec<u8> {
    bytes_spec(spec.map_or("random", |s| s.get_ref()), rng, default_len)
}

fn check_bytes_spec(spec: &str) -> Result<(), String> {
    if spec == "random" || spec.starts_with("text:") {
        return Ok(());
    }
    if let Some(n) = spec.strip_prefix("random:") {
        return n.parse::<usize>().map(|_| ()).map_err(|_| format!("`random:N` needs a byte count, got {spec:?}"));
    }
    if let Some(h) = spec.strip_prefix("hex:") {
        return parse_hex(h).map(|_| ());
    }
    Err(format!("expected \"random\", \"random:N\", \"hex:...\" or \"text:...\", got {spec:?}"))
}

fn bytes_spec(spec: &str, rng: &mut impl Rng, default_len: usize) -> Vec<u8> {
    if let Some(t) = spec.strip_prefix("text:") {
        t.as_bytes().to_vec()
    } else if let Some(h) = spec.strip_prefix("hex:") {
        parse_hex(h).unwrap_or_default()
    } else if let Some(n) = spec.strip_prefix("random:") {
        random_bytes(rng, n.parse().unwrap_or(default_len))
    } else {
        random_bytes(rng, default_len)
    }
}

fn parse_hex(h: &str) -> Result<Vec<u8>, String> {
    if !h.len().is_multiple_of(2) {
        return Err(format!("hex {h:?} has an odd number of digits"));
    }
    (0..h.len()).step_by(2).map(|i| u8::from_str_radix(&h[i..i + 2], 16).map_err(|_| format!("{h:?} is not hexadecimal"))).collect()
}

/// Reads sizes like "64MiB", "512KiB", "1GiB", "5MB" or a plain number of bytes.
pub(crate) fn parse_bytes(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: usize = num.parse().map_err(|_| format!("expected a size like \"64MiB\", got {s:?}"))?;
    let scale = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "kB" | "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return Err(format!("unknown size unit in {s:?}; use B, KiB, MiB, GiB, kB, MB or GB")),
    };
    Ok(n * scale)
}

/// Turns a TOML table into a "config" record: integers become u64 (or i64
/// when negative), floats f64, strings str, booleans bool, arrays of
/// integers u64s and arrays of strings strs. Keys keep the file's order.
fn config_record(table: &toml::Table) -> Result<Record, String> {
    let mut r = Record::new("config");
    for (k, v) in table {
        let value = match v {
            toml::Value::Integer(i) if *i >= 0 => Value::U64(*i as u64),
            toml::Value::Integer(i) => Value::I64(*i),
            toml::Value::Float(x) => Value::F64(*x),
            toml::Value::Boolean(b) => Value::Bool(*b),
            toml::Value::String(s) => Value::Str(s.clone()),
            toml::Value::Array(a) if a.iter().all(|x| x.as_integer().is_some_and(|i| i >= 0)) => {
                Value::U64s(a.iter().filter_map(|x| x.as_integer()).map(|i| i as u64).collect())
            }
            toml::Value::Array(a) if a.iter().all(|x| x.is_str()) => {
                Value::Strs(a.iter().filter_map(|x| x.as_str()).map(str::to_string).collect())
            }
            other => {
                return Err(format!(
                    "setting `{k}` has a type a peer cannot receive ({}); use numbers, strings, booleans or arrays of non-negative integers or strings",
                    other.type_str()
                ));
            }
        };
        r.push(k.clone(), value);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(text, "test.toml", Path::new("."))
    }

    const GOOD: &str =
        "duration = \"5s\"\n[[groups]]\nname = \"a\"\ncount = 3\nplugin = \"flood\"\n[groups.config]\nttl = 4\nname = \"x\"\n";

    #[test]
    fn a_minimal_scenario_loads() {
        let s = parse(GOOD).unwrap();
        assert_eq!(s.end(), SimTime(5_000_000_000));
        assert_eq!(s.node_count(), 3);
    }

    #[test]
    fn syntax_errors_name_file_and_line() {
        let e = parse("duration = \"5s\"\n[[groups]]\nname = \"a\"\ncount = \"three\"\nplugin = \"flood\"\n").unwrap_err().to_string();
        assert!(e.starts_with("test.toml:") && e.contains("line 4") && e.contains("count"), "{e}");
        let e = parse("duration = \"5s\"\nbogus = 1\n[[groups]]\nname = \"a\"\ncount = 1\nplugin = \"flood\"\n").unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("bogus"), "{e}");
    }

    #[test]
    fn limits_are_read_and_bad_ones_named() {
        let text = format!("{GOOD}[limits]\nmessage_size = \"64KiB\"\npending_timers = 5\n");
        let limits = parse(&text).unwrap().host_limits().unwrap();
        assert_eq!((limits.max_message_bytes, limits.max_pending_timers), (64 * 1024, 5));
        assert_eq!(limits.max_sends_per_event, HostLimits::default().max_sends_per_event);
        let text = format!("{GOOD}[limits]\nmessage_size = \"lots\"\n");
        let e = parse(&text).unwrap_err().to_string();
        assert!(e.contains("limits.message_size") && e.contains("line 10"), "{e}");
        let e = parse(&format!("{GOOD}[limits]\nhandler_calls_per_second = 0\n")).unwrap_err().to_string();
        assert!(e.contains("limits.handler_calls_per_second") && e.contains("at least 1"), "{e}");
        let e = parse(&format!("{GOOD}[limits]\nbogus = 1\n")).unwrap_err().to_string();
        assert!(e.contains("bogus"), "{e}");
    }

    #[test]
    fn an_impossible_regular_overlay_names_its_line() {
        let text = "duration = \"5s\"\n[[groups]]\nname = \"a\"\ncount = 5\nplugin = \"flood\"\nbootstrap = { strategy = \"regular\", degree = 3 }\n";
        let e = parse(text).unwrap_err().to_string();
        assert!(e.contains("line 6, field `groups[0].bootstrap`") && e.contains("must be even"), "{e}");
        let ok = text.replace("count = 5", "count = 6");
        assert_eq!(parse(&ok).unwrap().node_count(), 6);
    }

    #[test]
    fn invalid_values_name_line_and_field() {
        let e = parse("duration = \"5 parsecs\"\n[[groups]]\nname = \"a\"\ncount = 1\nplugin = \"flood\"\n").unwrap_err().to_string();
        assert!(e.contains("test.toml, line 1, field `duration`"), "{e}");
        let text = format!("{GOOD}[[workload]]\nop = \"request\"\nrequest = \"broadcast\"\nat = \"1s\"\ngroup = \"nope\"\n");
        let e = parse(&text).unwrap_err().to_string();
        assert!(e.contains("line 13") && e.contains("workload[0].group") && e.contains("nope"), "{e}");
        let text = format!("{GOOD}[[workload]]\nop = \"teleport\"\nat = \"1s\"\n");
        let e = parse(&text).unwrap_err().to_string();
        assert!(e.contains("line 10") && e.contains("workload[0].op"), "{e}");
        let e = parse(&GOOD.replace("ttl = 4", "ttl = { a = 1 }")).unwrap_err().to_string();
        assert!(e.contains("groups[0].config") && e.contains("ttl"), "{e}");
    }

    #[test]
    fn file_sharing_sections_are_checked() {
        let base = "duration = \"5s\"\n[[groups]]\nname = \"a\"\ncount = 3\nplugin = \"kademlia\"\n";
        let fs = "[file_sharing]\nfiles = [{ name = \"movie\", size = \"4MB\" }]\n";
        let ok = format!("{base}{fs}[[workload]]\nop = \"download\"\nfile = \"movie\"\nat = \"1s\"\n");
        parse(&ok).unwrap();
        let e = parse(&ok.replace("file = \"movie\"", "file = \"book\"")).unwrap_err().to_string();
        assert!(e.contains("line 10") && e.contains("workload[0].file") && e.contains("book"), "{e}");
        let e = parse(&ok.replace("size = \"4MB\"", "size = \"4 furlongs\"")).unwrap_err().to_string();
        assert!(e.contains("file_sharing.files[0].size"), "{e}");
        let e = parse(&format!("{base}{fs}corrupt_groups = [\"b\"]\n")).unwrap_err().to_string();
        assert!(e.contains("corrupt_groups[0]") && e.contains("\"b\""), "{e}");
    }

    #[test]
    fn kv_sections_are_checked_and_draw_keys_from_the_store() {
        let base = "duration = \"5s\"\n[[groups]]\nname = \"a\"\ncount = 3\nplugin = \"raft\"\n";
        let put = "[[workload]]\nop = \"kv-put\"\nevery = \"1s\"\n";
        let e = parse(&format!("{base}{put}")).unwrap_err().to_string();
        assert!(e.contains("line 7") && e.contains("workload[0].op") && e.contains("[kv]"), "{e}");
        let e = parse(&format!("{base}[kv]\nkeys = 0\n{put}")).unwrap_err().to_string();
        assert!(e.contains("kv.keys"), "{e}");
        let e = parse(&format!("{base}[kv]\nreads = \"maybe\"\n{put}")).unwrap_err().to_string();
        assert!(e.contains("maybe") && e.contains("line 7"), "{e}");
        let fs = "[file_sharing]\nfiles = [{ name = \"m\", size = \"1MB\" }]\n";
        let e = parse(&format!("{base}{fs}[kv]\n{put}")).unwrap_err().to_string();
        assert!(e.contains("not both"), "{e}");
        // Keys are the store's names ("k0", "k1"), or the one a workload names.
        let s = parse(&format!("{base}[kv]\nkeys = 2\n{put}[[workload]]\nop = \"kv-get\"\nkey = \"x\"\nat = \"2s\"\n")).unwrap();
        let ops = s.workload_operations().unwrap();
        let keys: BTreeSet<String> = ops
            .iter()
            .map(|(_, _, op)| match op {
                Operation::App(r) => r.str("key").unwrap().to_string(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(keys.is_subset(&["k0", "k1", "x"].map(String::from).into()), "{keys:?}");
        assert!(keys.contains("x"));
        let get = ops.iter().find_map(|(_, _, op)| match op {
            Operation::App(r) if r.kind == "kv-get" => Some(r.clone()),
            _ => None,
        });
        assert_eq!(get.unwrap().bytes("value"), None, "a get carries no value");
    }

    #[test]
    fn config_tables_become_config_records() {
        let table: toml::Table = toml::from_str("ttl = 4\nname = \"x\"\nratio = 0.5\nids = [1, 2]\non = true\nneg = -3").unwrap();
        let r = config_record(&table).unwrap();
        assert_eq!(r.kind, "config");
        assert_eq!(r.u64("ttl"), Some(4));
        assert_eq!(r.str("name"), Some("x"));
        assert_eq!(r.f64("ratio"), Some(0.5));
        assert_eq!(r.u64s("ids"), Some(&[1u64, 2][..]));
        assert_eq!(r.bool("on"), Some(true));
        assert_eq!(r.i64("neg"), Some(-3));
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_bytes("64MiB"), Ok(64 << 20));
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert!(parse_bytes("64 parsecs").is_err());
    }
}
