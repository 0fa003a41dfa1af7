//! `peershare._native.Simulation`: one simulation, driven from Python.
//!
//! Times cross as integer nanoseconds of virtual time (exact); the Python
//! layer turns them into seconds and parses duration strings. Long runs
//! go through [`Simulation::advance`], which releases the GIL for one
//! chunk of events at a time so other Python threads run and Ctrl-C is
//! seen between chunks.

use crate::errors::{fault_table_error, file_error, sim_error, sim_message};
use crate::observe::{CaptureQuery, EventQuery, capture_table, events_table};
use crate::peer::PythonPeer;
use crate::table::Table;
use peershare::NodeIndex;
use peershare::events::{hex, record_json};
use peershare::fault::{FaultRecord, FaultStatus};
use peershare::node::Peer;
use peershare::scenario::Scenario;
use peershare::scenario::faults::fault_from_json;
use peershare::sim::PeerSource;
use peershare::sim::{NodeStatus, OperationRecord};
use peershare::time::{SimDuration, SimTime};
use peershare::wire::Record;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::{Value as Json, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::{Mutex, MutexGuard};

/// One simulation. Build it with `from_file` or `from_toml`.
#[pyclass(module = "peershare._native")]
pub struct Simulation {
    sim: Mutex<peershare::Simulation>,
    /// Where the scenario ends, in nanoseconds.
    end: u64,
    /// Where the scenario came from.
    origin: String,
    /// The groups, in order: (name, size), for fault tables.
    groups: Vec<(String, usize)>,
}

/// Virtual time `nanos` after the start.
pub(crate) fn at(nanos: u64) -> SimTime {
    SimTime::ZERO + SimDuration::from_nanos(nanos)
}

fn secs(t: SimTime) -> f64 {
    t.as_secs_f64()
}

impl Simulation {
    fn from_scenario(scenario: Scenario, options: Options) -> PyResult<Self> {
        let scenario = match options.seed {
            Some(seed) => scenario.with_seed(seed),
            None => scenario,
        };
        let builder = scenario.builder_with_peers(&options.peers).map_err(sim_error)?;
        let sim = builder.capture(options.capture).record_events(options.record_events).build().map_err(sim_error)?;
        let mut groups: Vec<(String, usize)> = Vec::new();
        for node in 0..sim.node_count() as NodeIndex {
            let name = sim.node_group(node).unwrap_or_default();
            match groups.last_mut() {
                Some((last, count)) if last == name => *count += 1,
                _ => groups.push((name.to_string(), 1)),
            }
        }
        Ok(Simulation { sim: Mutex::new(sim), end: scenario.end().as_nanos(), origin: scenario.origin().to_string(), groups })
    }

    fn lock(&self) -> MutexGuard<'_, peershare::Simulation> {
        // A panic inside the engine is a bug; the state is still readable.
        self.sim.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn node(&self, node: i64) -> PyResult<NodeIndex> {
        let count = self.groups.iter().map(|g| g.1).sum::<usize>();
        match NodeIndex::try_from(node) {
            Ok(n) if (n as usize) < count => Ok(n),
            _ => Err(pyo3::exceptions::PyIndexError::new_err(format!(
                "there is no node {node}: the simulation has nodes 0 to {}",
                count - 1
            ))),
        }
    }

    fn fault(&self, table: &str) -> PyResult<peershare::fault::Fault> {
        fault_from_json(table, &self.groups).map_err(fault_table_error)
    }
}

/// How to build a simulation, besides its scenario.
struct Options {
    seed: Option<u64>,
    capture: bool,
    record_events: bool,
    /// Groups whose peers are Python objects, by group name.
    peers: BTreeMap<String, PeerSource>,
}

/// The Python peer factories of `peers={"group": Factory}` as peer sources.
fn python_peers(peers: Option<&Bound<'_, PyDict>>) -> PyResult<BTreeMap<String, PeerSource>> {
    let mut out = BTreeMap::new();
    for (name, factory) in peers.into_iter().flat_map(|d| d.iter()) {
        let name: String =
            name.extract().map_err(|_| pyo3::exceptions::PyTypeError::new_err("peers maps group names (str) to peer classes"))?;
        if !factory.is_callable() {
            return Err(pyo3::exceptions::PyTypeError::new_err(format!("peers[{name:?}] is not a class or factory")));
        }
        let factory: Py<PyAny> = factory.unbind();
        out.insert(name, PeerSource::Native(Arc::new(move |_| Box::new(PythonPeer::new(&factory)) as Box<dyn Peer>)));
    }
    Ok(out)
}

/// JSON text for Python's `json.loads`.
fn text(value: &Json) -> String {
    value.to_string()
}

fn record_fields(record: &Record) -> Json {
    record_json(&record.encode())["fields"].clone()
}

fn operation_json(rec: &OperationRecord) -> Json {
    use peershare::node::Operation;
    let mut row = json!({
        "op": rec.op,
        "node": rec.node,
        "kind": rec.operation.kind(),
        "issued_at": secs(rec.issued_at),
        "started_by_app": rec.started_by_app,
    });
    let fields = row.as_object_mut().expect("an object");
    match &rec.operation {
        Operation::Lookup { key } | Operation::Get { key } | Operation::Announce { key } | Operation::FindProviders { key } => {
            fields.insert("key".into(), json!(hex(key)));
        }
        Operation::Put { key, value } => {
            fields.insert("key".into(), json!(hex(key)));
            fields.insert("value".into(), json!(hex(value)));
        }
        Operation::Propose { value } => {
            fields.insert("value".into(), json!(hex(value)));
        }
        Operation::Request(r) | Operation::App(r) => {
            fields.insert("request".into(), record_fields(r));
        }
    }
    let (completed_at, ok, latency, result) = match &rec.outcome {
        Some(o) => (
            json!(secs(o.at)),
            json!(o.ok),
            json!(o.at.since(rec.issued_at).as_secs_f64()),
            record_json(&o.result).get("fields").cloned().unwrap_or(Json::Null),
        ),
        None => (Json::Null, Json::Null, Json::Null, Json::Null),
    };
    fields.insert("completed_at".into(), completed_at);
    fields.insert("ok".into(), ok);
    fields.insert("latency".into(), latency);
    fields.insert("result".into(), result);
    row
}

fn fault_json(rec: &FaultRecord) -> Json {
    let status = match rec.status {
        FaultStatus::Scheduled => "scheduled",
        FaultStatus::Active => "active",
        FaultStatus::Ended => "ended",
    };
    json!({
        "id": rec.id,
        "name": rec.fault.name,
        "kind": rec.fault.kind.name(),
        "status": status,
        "start": secs(rec.fault.start),
        "started_at": rec.started_at.map(secs),
        "ended_at": rec.ended_at.map(secs),
        "nodes": rec.nodes,
    })
}

#[pymethods]
impl Simulation {
    /// Builds the simulation a scenario file describes (plugins loaded,
    /// every node created, the workload and faults scheduled).
    #[staticmethod]
    #[pyo3(signature = (path, seed=None, capture=true, record_events=true, peers=None))]
    fn from_file(
        path: PathBuf,
        seed: Option<u64>,
        capture: bool,
        record_events: bool,
        peers: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let scenario = Scenario::load(&path).map_err(file_error)?;
        Self::from_scenario(scenario, Options { seed, capture, record_events, peers: python_peers(peers)? })
    }

    /// Builds the simulation a scenario's TOML text describes; `origin`
    /// names it in errors and `base` is where relative paths start.
    #[staticmethod]
    #[pyo3(signature = (text, origin, base, seed=None, capture=true, record_events=true, peers=None))]
    #[allow(clippy::too_many_arguments)]
    fn from_toml(
        text: &str,
        origin: &str,
        base: PathBuf,
        seed: Option<u64>,
        capture: bool,
        record_events: bool,
        peers: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let scenario = Scenario::parse(text, origin, &base).map_err(file_error)?;
        Self::from_scenario(scenario, Options { seed, capture, record_events, peers: python_peers(peers)? })
    }

    /// Processes at most `max_events` events up to `end_ns`, without the
    /// GIL; `True` once the run reached `end_ns` (or the referee stopped it).
    fn advance(&self, py: Python<'_>, end_ns: u64, max_events: usize) -> PyResult<bool> {
        py.detach(|| self.lock().run_until_at_most(at(end_ns), max_events)).map_err(sim_error)
    }

    /// Processes the next event; `False` if nothing was pending.
    fn step(&self) -> bool {
        self.lock().step()
    }

    /// The virtual time now, in nanoseconds.
    #[getter]
    fn now_ns(&self) -> u64 {
        self.lock().now().as_nanos()
    }

    /// When the scenario's run ends (its `duration`), in nanoseconds.
    #[getter]
    fn end_ns(&self) -> u64 {
        self.end
    }

    /// The time of the next pending event, in nanoseconds, if any.
    #[getter]
    fn next_event_ns(&self) -> Option<u64> {
        self.lock().next_event_time().map(|t| t.as_nanos())
    }

    /// The seed of the run.
    #[getter]
    fn seed(&self) -> u64 {
        self.lock().seed()
    }

    /// Where the scenario came from.
    #[getter]
    fn origin(&self) -> &str {
        &self.origin
    }

    /// The groups in order, as (name, size) pairs.
    #[getter]
    fn groups(&self) -> Vec<(String, usize)> {
        self.groups.clone()
    }

    /// How many nodes the simulation has.
    #[getter]
    fn node_count(&self) -> usize {
        self.groups.iter().map(|g| g.1).sum()
    }

    /// The group of a node.
    fn node_group(&self, node: i64) -> PyResult<String> {
        let n = self.node(node)?;
        Ok(self.lock().node_group(n).unwrap_or_default().to_string())
    }

    /// A node's status: "not-started", "up", "crashed" or "down", and the
    /// crash reason or fault id.
    fn node_status(&self, node: i64) -> PyResult<(String, Option<String>)> {
        let n = self.node(node)?;
        Ok(match self.lock().node_status(n) {
            None | Some(NodeStatus::NotStarted) => ("not-started".into(), None),
            Some(NodeStatus::Up) => ("up".into(), None),
            Some(NodeStatus::Crashed(reason)) => ("crashed".into(), Some(reason.to_string())),
            Some(NodeStatus::Down(fault)) => ("down".into(), Some(fault.to_string())),
        })
    }

    /// The state a node published last, as JSON fields (or None).
    fn node_state_json(&self, node: i64) -> PyResult<Option<String>> {
        let n = self.node(node)?;
        Ok(self.lock().node_state(n).map(|r| text(&record_fields(&r))))
    }

    /// A node's internal state as its `inspect` export reports it (else
    /// the state it published last), as JSON fields (or None).
    fn inspect_json(&self, node: i64) -> PyResult<Option<String>> {
        let n = self.node(node)?;
        Ok(self.lock().inspect_node(n).map(|r| text(&record_fields(&r))))
    }

    /// Results so far, as `summary.json` holds them.
    fn summary_json(&self) -> PyResult<String> {
        serde_json::to_string(&self.lock().summary()).map_err(|e| sim_message(format!("cannot render the summary: {e}")))
    }

    /// Every operation so far with its outcome, as a JSON list.
    fn operations_json(&self) -> String {
        text(&Json::Array(self.lock().operations().iter().map(operation_json).collect()))
    }

    /// Every fault added so far and where it is in its life, as a JSON list.
    fn faults_json(&self) -> String {
        text(&Json::Array(self.lock().faults().iter().map(fault_json).collect()))
    }

    /// Adds a fault written as a scenario's `[[faults]]` table (JSON); its id.
    fn add_fault_json(&self, table: &str) -> PyResult<u32> {
        let fault = self.fault(table)?;
        self.lock().add_fault(fault).map_err(sim_error)
    }

    /// Changes a fault's parameters (same kind) to those of `table` (JSON).
    fn change_fault_json(&self, id: u32, table: &str) -> PyResult<()> {
        let fault = self.fault(table)?;
        self.lock().change_fault(id, fault.kind).map_err(sim_error)
    }

    /// Ends a fault now.
    fn clear_fault(&self, id: u32) -> PyResult<()> {
        self.lock().clear_fault(id).map_err(sim_error)
    }

    /// The event log as a table (`seq`, `time` in ns, `event`, `node`,
    /// then every other field by name), keeping the events of these
    /// `types`, involving these `nodes`, in [`since_ns`, `until_ns`).
    #[pyo3(signature = (types=Vec::new(), nodes=Vec::new(), since_ns=None, until_ns=None))]
    fn events(
        &self,
        py: Python<'_>,
        types: Vec<String>,
        nodes: Vec<NodeIndex>,
        since_ns: Option<u64>,
        until_ns: Option<u64>,
    ) -> PyResult<Table> {
        let query = EventQuery { types, nodes, since: since_ns.map(at), until: until_ns.map(at) };
        py.detach(|| {
            let sim = self.lock();
            if !sim.events().is_recording() {
                return Err("the event log is off: build the simulation with record_events=True".to_string());
            }
            events_table(sim.events(), &query).map_err(|e| format!("cannot build the events table: {e}"))
        })
        .map_err(sim_message)
    }

    /// The captured messages a filter selects, as a table (the filters of
    /// `peershare inspect`, as JSON: all given conditions must hold).
    fn capture(&self, py: Python<'_>, filter: &str) -> PyResult<Table> {
        let filter = CaptureQuery::parse(filter).map_err(pyo3::exceptions::PyValueError::new_err)?;
        py.detach(|| {
            let sim = self.lock();
            let capture = sim.capture().ok_or_else(capture_off)?;
            capture_table(capture, &filter).map_err(|e| format!("cannot build the capture table: {e}"))
        })
        .map_err(sim_message)
    }

    /// The network now as node-link JSON (`nodes`, `edges`), with the data
    /// flows of the messages sent in [`since_ns`, `until_ns`) if either is given.
    #[pyo3(signature = (since_ns=None, until_ns=None))]
    fn topology_json(&self, py: Python<'_>, since_ns: Option<u64>, until_ns: Option<u64>) -> String {
        // Without the GIL: the snapshot inspects nodes on worker threads,
        // and Python peers take the GIL to answer.
        py.detach(|| {
            let mut sim = self.lock();
            let now = sim.now();
            let window = (since_ns.is_some() || until_ns.is_some()).then(|| (since_ns.map_or(SimTime::ZERO, at), until_ns.map_or(now, at)));
            sim.topology(window).to_node_link_json()
        })
    }

    /// The trace of operation `op` (rounds, queries, answers), as JSON, if it was traced.
    fn lookup_trace_json(&self, op: u64) -> Option<String> {
        let sim = self.lock();
        let trace = peershare::viz::LookupTrace::from_events(sim.events().events(), op)?;
        Some(serde_json::to_string(&trace).expect("traces serialise"))
    }

    /// The consensus timeline (terms, roles, leaders, commits), as JSON.
    fn consensus_json(&self) -> String {
        let sim = self.lock();
        serde_json::to_string(&peershare::viz::ConsensusTimeline::from_events(sim.events().events())).expect("timelines serialise")
    }

    /// The standard plots of the run so far, as a JSON object of Vega-Lite
    /// specifications by name.
    fn plots_json(&self) -> String {
        let sim = self.lock();
        let plots: serde_json::Map<String, Json> =
            peershare::viz::vega::run_plots(&sim).into_iter().map(|(n, v)| (n.to_string(), v)).collect();
        text(&Json::Object(plots))
    }

    /// A plot over the captured messages a filter selects:
    /// `messages-over-time` (bins of `bin_ns`, default a hundredth of the
    /// run) or `load-per-node`; a Vega-Lite specification as JSON.
    #[pyo3(signature = (name, filter, bin_ns=None))]
    fn capture_plot_json(&self, name: &str, filter: &str, bin_ns: Option<u64>) -> PyResult<String> {
        use peershare::viz::vega;
        let filter = CaptureQuery::parse(filter).map_err(pyo3::exceptions::PyValueError::new_err)?;
        let sim = self.lock();
        let capture = sim.capture().ok_or_else(capture_off).map_err(sim_message)?;
        let selection = capture.select(&filter);
        let spec = match name {
            "messages-over-time" => {
                let bin = bin_ns.map_or_else(|| vega::default_bin(&sim), SimDuration::from_nanos);
                vega::messages_over_time("messages by kind", capture, &selection, bin)
            }
            "load-per-node" => vega::load_per_node("messages per node", capture, &selection),
            other => {
                return Err(pyo3::exceptions::PyValueError::new_err(format!(
                    "no capture plot is named {other:?}; there are \"messages-over-time\" and \"load-per-node\""
                )));
            }
        };
        Ok(text(&spec))
    }
}

fn capture_off() -> String {
    "capture is off: build the simulation with capture=True".to_string()
}
