//! Peers written in Python (`peershare.peer`): a [`Peer`] that calls a
//! Python object's handlers, the `Context` they act through, and the
//! conversion between wire records and `peershare.peer.Record`.
//!
//! A handler takes the GIL (the run releases it between chunks), gets the
//! node's [`NodeContext`] moved into a `Context` object for the length of
//! the call, and gives it back when the call returns; a `Context` kept
//! past its call refuses to act. An exception a handler raises crashes
//! the node (`CrashReason::Panic` with the exception and where it was
//! raised), except Ctrl-C, which is passed on to the run.

use peershare::NodeIndex;
use peershare::node::{CrashReason, InitArgs, Level, NodeContext, OpId, Operation, Peer};
use peershare::time::SimDuration;
use peershare::wire::{Contact, Record, Value};
use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString};
use std::sync::Mutex;

/// The Python classes of `peershare.peer`.
struct Types<'py> {
    record: Bound<'py, PyAny>,
    node: Bound<'py, PyAny>,
    id: Bound<'py, PyAny>,
    contact: Bound<'py, PyAny>,
    as_list: Bound<'py, PyAny>,
    module: Bound<'py, PyModule>,
}

impl<'py> Types<'py> {
    fn get(py: Python<'py>) -> PyResult<Self> {
        let module = py.import("peershare.peer")?;
        Ok(Types {
            record: module.getattr("Record")?,
            node: module.getattr("Node")?,
            id: module.getattr("Id")?,
            contact: module.getattr("Contact")?,
            as_list: module.getattr("_as_list")?,
            module,
        })
    }

    fn is(&self, obj: &Bound<'py, PyAny>, class: &str) -> PyResult<bool> {
        obj.is_instance(&self.module.getattr(class)?)
    }

    fn list(&self, kind: &str, items: Vec<Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        self.as_list.call1((kind, PyList::new(self.module.py(), items)?))
    }

    fn value(&self, value: &Value) -> PyResult<Bound<'py, PyAny>> {
        let py = self.module.py();
        let id = |b: &[u8]| self.id.call1((PyBytes::new(py, b),));
        let node = |n: u32| self.node.call1((n,));
        Ok(match value {
            Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
            Value::U64(n) => n.into_pyobject(py)?.into_any(),
            Value::I64(n) => n.into_pyobject(py)?.into_any(),
            Value::F64(x) => PyFloat::new(py, *x).into_any(),
            Value::Str(s) => PyString::new(py, s).into_any(),
            Value::Bytes(b) => PyBytes::new(py, b).into_any(),
            Value::Id(b) => id(b)?,
            Value::Node(n) => node(*n)?,
            Value::U64s(v) => self.list("u64s", v.iter().map(|n| n.into_pyobject(py).unwrap().into_any()).collect())?,
            Value::Ids(v) => self.list("ids", v.iter().map(|b| id(b)).collect::<PyResult<_>>()?)?,
            Value::Strs(v) => self.list("strs", v.iter().map(|s| PyString::new(py, s).into_any()).collect())?,
            Value::Nodes(v) => self.list("nodes", v.iter().map(|&n| node(n)).collect::<PyResult<_>>()?)?,
            Value::Contacts(v) => {
                let items = v.iter().map(|c| self.contact.call1((node(c.node)?, id(&c.id)?))).collect::<PyResult<_>>()?;
                self.list("contacts", items)?
            }
            Value::Blobs(v) => self.list("blobs", v.iter().map(|b| PyBytes::new(py, b).into_any()).collect())?,
        })
    }

    fn record(&self, record: &Record) -> PyResult<Bound<'py, PyAny>> {
        let fields = PyDict::new(self.module.py());
        for (name, value) in &record.fields {
            if !fields.contains(name)? {
                fields.set_item(name, self.value(value)?)?;
            }
        }
        self.record.call1((record.kind.as_str(), fields))
    }

    fn to_value(&self, name: &str, obj: &Bound<'py, PyAny>) -> PyResult<Value> {
        let wrong = |what: String| PyTypeError::new_err(format!("field {name:?}: {what}"));
        if obj.is_instance_of::<PyBool>() {
            return Ok(Value::Bool(obj.extract()?));
        }
        if obj.is_instance(&self.node)? {
            return Ok(Value::Node(obj.extract().map_err(|_| wrong("a node index is 0 to 2^32 - 1".into()))?));
        }
        if obj.is_instance_of::<PyInt>() {
            if let Ok(n) = obj.extract::<u64>() {
                return Ok(Value::U64(n));
            }
            return obj.extract::<i64>().map(Value::I64).map_err(|_| wrong(format!("{obj} does not fit in 64 bits")));
        }
        if obj.is_instance_of::<PyFloat>() {
            return Ok(Value::F64(obj.extract()?));
        }
        if obj.is_instance_of::<PyString>() {
            return Ok(Value::Str(obj.extract()?));
        }
        if obj.is_instance(&self.id)? {
            return Ok(Value::Id(obj.extract()?));
        }
        if obj.is_instance_of::<PyBytes>() || obj.is_instance_of::<pyo3::types::PyByteArray>() {
            return Ok(Value::Bytes(obj.extract()?));
        }
        if obj.is_instance_of::<PyList>() || obj.is_instance_of::<pyo3::types::PyTuple>() {
            return self.to_list(name, obj);
        }
        Err(wrong(format!(
            "a {} cannot go on the wire (bool, int, float, str, bytes, Node, Id, Contact and lists of them can)",
            obj.get_type().name()?
        )))
    }

    fn to_list(&self, name: &str, obj: &Bound<'py, PyAny>) -> PyResult<Value> {
        let items: Vec<Bound<'py, PyAny>> = obj.try_iter()?.collect::<PyResult<_>>()?;
        let typed = ["Nodes", "Ids", "U64s", "Strs", "Blobs", "Contacts"].into_iter().find(|c| self.is(obj, c).unwrap_or(false));
        let kind = match (typed, items.first()) {
            (Some(kind), _) => kind,
            (None, Some(first)) if first.is_instance(&self.node)? => "Nodes",
            (None, Some(first)) if first.is_instance(&self.id)? => "Ids",
            (None, Some(first)) if first.is_instance(&self.contact)? => "Contacts",
            (None, Some(first)) if first.is_instance_of::<PyBool>() => {
                return Err(PyTypeError::new_err(format!("field {name:?}: a list of booleans cannot go on the wire")));
            }
            (None, Some(first)) if first.is_instance_of::<PyInt>() => "U64s",
            (None, Some(first)) if first.is_instance_of::<PyString>() => "Strs",
            (None, Some(first)) if first.is_instance_of::<PyBytes>() => "Blobs",
            (None, Some(first)) => {
                return Err(PyTypeError::new_err(format!("field {name:?}: a list of {} cannot go on the wire", first.get_type().name()?)));
            }
            (None, None) => {
                return Err(PyTypeError::new_err(format!(
                    "field {name:?}: an empty list has no wire type; say which with Nodes([]), Ids([]), U64s([]), Strs([]), Blobs([]) or Contacts([])"
                )));
            }
        };
        let element = |i: usize, item: &Bound<'py, PyAny>| -> PyResult<Value> { self.to_value(&format!("{name}[{i}]"), item) };
        let mismatch = |i: usize| PyTypeError::new_err(format!("field {name:?}: element {i} is not like the others ({kind})"));
        Ok(match kind {
            "Nodes" => {
                Value::Nodes(items.iter().enumerate().map(|(i, x)| x.extract::<u32>().map_err(|_| mismatch(i))).collect::<PyResult<_>>()?)
            }
            "U64s" => {
                Value::U64s(items.iter().enumerate().map(|(i, x)| x.extract::<u64>().map_err(|_| mismatch(i))).collect::<PyResult<_>>()?)
            }
            "Strs" => {
                Value::Strs(items.iter().enumerate().map(|(i, x)| x.extract::<String>().map_err(|_| mismatch(i))).collect::<PyResult<_>>()?)
            }
            "Ids" | "Blobs" => {
                let bytes: Vec<Vec<u8>> = items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| match element(i, x)? {
                        Value::Id(b) | Value::Bytes(b) => Ok(b),
                        _ => Err(mismatch(i)),
                    })
                    .collect::<PyResult<_>>()?;
                if kind == "Ids" { Value::Ids(bytes) } else { Value::Blobs(bytes) }
            }
            _ => Value::Contacts(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| {
                        let (node, id): (u32, Vec<u8>) = x.extract().map_err(|_| mismatch(i))?;
                        Ok(Contact::new(node, id))
                    })
                    .collect::<PyResult<_>>()?,
            ),
        })
    }

    /// A `peershare.peer.Record` (or a dict, a record of kind "state") as a wire record.
    fn to_record(&self, obj: &Bound<'py, PyAny>, default_kind: &str) -> PyResult<Record> {
        let (kind, fields): (String, Bound<'py, PyAny>) = if obj.is_instance(&self.record)? {
            (obj.getattr("kind")?.extract()?, obj.getattr("fields")?)
        } else if obj.is_instance_of::<PyDict>() {
            (default_kind.to_string(), obj.clone())
        } else {
            return Err(PyTypeError::new_err(format!("expected a peershare.peer.Record (or a dict), not a {}", obj.get_type().name()?)));
        };
        let fields = fields.cast::<PyDict>().map_err(|_| PyTypeError::new_err("a record's fields are a dict"))?;
        let mut record = Record::new(kind);
        for (name, value) in fields.iter() {
            let name: String = name.extract().map_err(|_| PyTypeError::new_err("a field's name is a str"))?;
            let value = self.to_value(&name, &value)?;
            record.push(name, value);
        }
        Ok(record)
    }
}

/// What a Python handler acts through: the node's context for the length
/// of one call.
#[pyclass(module = "peershare._native", frozen)]
pub struct Context {
    inner: Mutex<Option<NodeContext>>,
}

impl Context {
    fn with<T>(&self, act: impl FnOnce(&mut NodeContext) -> T) -> PyResult<T> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match inner.as_mut() {
            Some(ctx) => Ok(act(ctx)),
            None => {
                Err(PyRuntimeError::new_err("this context belongs to a handler call that has returned; use the ctx each handler receives"))
            }
        }
    }
}

/// A delay given as text ("250ms"), seconds, or a timedelta.
fn delay(obj: &Bound<'_, PyAny>) -> PyResult<SimDuration> {
    if let Ok(text) = obj.extract::<String>() {
        return text.parse().map_err(|e| PyValueError::new_err(format!("delay {text:?}: {e}")));
    }
    let seconds: f64 = match obj.call_method0("total_seconds") {
        Ok(s) => s.extract()?,
        Err(_) => obj.extract().map_err(|_| PyTypeError::new_err("a delay is text such as '250ms', seconds, or a timedelta"))?,
    };
    if !(seconds.is_finite() && seconds >= 0.0) {
        return Err(PyValueError::new_err(format!("a delay must be finite and not negative, not {seconds}")));
    }
    Ok(SimDuration::from_nanos((seconds * 1e9).round() as u64))
}

#[pymethods]
impl Context {
    /// This node's index.
    #[getter]
    fn index(&self) -> PyResult<NodeIndex> {
        self.with(|c| c.index())
    }

    /// The virtual time now, in seconds.
    #[getter]
    fn now(&self) -> PyResult<f64> {
        self.with(|c| c.now().as_secs_f64())
    }

    /// The virtual time now, in nanoseconds.
    #[getter]
    fn now_ns(&self) -> PyResult<u64> {
        self.with(|c| c.now().as_nanos())
    }

    /// Sends `message` (a Record) to node `to`.
    fn send(&self, py: Python<'_>, to: NodeIndex, message: &Bound<'_, PyAny>) -> PyResult<()> {
        let record = Types::get(py)?.to_record(message, "message")?;
        self.with(|c| c.send_record(to, &record))
    }

    /// Calls `on_timer(tag)` after `delay` ("250ms", seconds or a
    /// timedelta); returns the timer's handle for `cancel_timer`.
    #[pyo3(signature = (delay, tag=0))]
    fn set_timer(&self, delay: &Bound<'_, PyAny>, tag: u64) -> PyResult<u64> {
        let delay = self::delay(delay)?;
        self.with(|c| c.set_timer(delay, tag))
    }

    /// Cancels a timer by its handle.
    fn cancel_timer(&self, timer: u64) -> PyResult<()> {
        self.with(|c| c.cancel_timer(timer))
    }

    /// A random 64-bit number from the node's seeded stream.
    fn random(&self) -> PyResult<u64> {
        self.with(|c| c.random_u64())
    }

    /// A uniform random number in 0..n from the node's seeded stream.
    fn random_below(&self, n: u64) -> PyResult<u64> {
        if n == 0 {
            return Err(PyValueError::new_err("random_below(0) has no values"));
        }
        self.with(|c| c.random_below(n))
    }

    /// A log line at `level` ("debug", "info", "warn", "error").
    #[pyo3(signature = (text, level="info"))]
    fn log(&self, text: String, level: &str) -> PyResult<()> {
        let level = match level {
            "debug" => Level::Debug,
            "info" => Level::Info,
            "warn" | "warning" => Level::Warn,
            "error" => Level::Error,
            other => return Err(PyValueError::new_err(format!("unknown log level {other:?}: debug, info, warn or error"))),
        };
        self.with(|c| c.log(level, text))
    }

    /// Publishes the node's state (a Record of kind "state", or a dict of
    /// its fields): what observers and topology snapshots read.
    fn publish(&self, py: Python<'_>, state: &Bound<'_, PyAny>) -> PyResult<()> {
        let record = Types::get(py)?.to_record(state, "state")?;
        self.with(|c| c.publish_state(record.encode()))
    }

    /// Ends operation `op`, successfully or not, with a result record.
    #[pyo3(signature = (op, ok, result=None))]
    fn complete(&self, py: Python<'_>, op: OpId, ok: bool, result: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let result = match result {
            Some(r) => Types::get(py)?.to_record(r, "result")?,
            None => Record::new("result"),
        };
        self.with(|c| c.complete(op, ok, result.encode()))
    }

    /// Reports one step of operation `op` (a Record, in the trace conventions).
    fn trace(&self, py: Python<'_>, op: OpId, step: &Bound<'_, PyAny>) -> PyResult<()> {
        let record = Types::get(py)?.to_record(step, "step")?;
        self.with(|c| c.trace(op, record.encode()))
    }

    /// Reports that the entry `value` was committed at log position `index`.
    fn committed(&self, index: u64, value: Vec<u8>) -> PyResult<()> {
        self.with(|c| c.committed(index, value))
    }
}

/// A node whose handlers are a Python object's methods.
pub struct PythonPeer {
    object: Option<Py<PyAny>>,
    /// Why the node crashed, until the runtime asks (`inspect` takes `&self`).
    failed: std::cell::RefCell<Option<CrashReason>>,
}

impl PythonPeer {
    /// A node running a fresh object from `factory` (a class, or any
    /// callable without arguments); a factory that raises crashes the node.
    pub fn new(factory: &Py<PyAny>) -> Self {
        Python::attach(|py| match factory.call0(py) {
            Ok(object) => PythonPeer { object: Some(object), failed: None.into() },
            Err(e) => PythonPeer { object: None, failed: Some(crash(py, e, "creating the peer")).into() },
        })
    }

    /// Calls one handler with the node's context moved into a `Context`.
    fn call(&mut self, ctx: &mut NodeContext, handler: &str, args: impl for<'py> FnOnce(&Types<'py>) -> PyResult<Vec<Bound<'py, PyAny>>>) {
        let Some(object) = &self.object else { return };
        if self.failed.borrow().is_some() {
            return;
        }
        let outcome = Python::attach(|py| -> Result<(), CrashReason> {
            let types = Types::get(py).map_err(|e| crash(py, e, handler))?;
            let context = Py::new(py, Context { inner: Mutex::new(None) }).map_err(|e| crash(py, e, handler))?;
            let args = args(&types).map_err(|e| crash(py, e, handler))?;
            *context.get().inner.lock().unwrap_or_else(|p| p.into_inner()) = Some(ctx.take());
            let mut all = vec![context.bind(py).clone().into_any()];
            all.extend(args);
            let tuple = pyo3::types::PyTuple::new(py, all).map_err(|e| crash(py, e, handler));
            let result = tuple.and_then(|t| object.call_method1(py, handler, t).map(drop).map_err(|e| crash(py, e, handler)));
            if let Some(back) = context.get().inner.lock().unwrap_or_else(|p| p.into_inner()).take() {
                *ctx = back;
            }
            result
        });
        if let Err(reason) = outcome {
            *self.failed.borrow_mut() = Some(reason);
        }
    }
}

/// The crash reason for an exception a handler raised: its type, message
/// and where. Ctrl-C is not the node's failure: it is passed on to the run
/// (raised again once the simulator returns to Python).
fn crash(py: Python<'_>, e: PyErr, handler: &str) -> CrashReason {
    if e.is_instance_of::<PyKeyboardInterrupt>(py) {
        // Raise it again between chunks, where the run stops.
        let _ = py.import("_thread").and_then(|t| t.call_method0("interrupt_main"));
    }
    let mut text = format!("{handler}: {e}");
    if let Some(tb) = e.traceback(py) {
        let last = py.import("traceback").and_then(|m| m.call_method1("extract_tb", (tb,))).and_then(|frames| frames.get_item(-1));
        if let Ok(frame) = last {
            let file: String = frame.getattr("filename").and_then(|f| f.extract()).unwrap_or_default();
            let line: u64 = frame.getattr("lineno").and_then(|f| f.extract()).unwrap_or(0);
            text = format!("{text} ({file}, line {line})");
        }
    }
    CrashReason::Panic(text)
}

impl Peer for PythonPeer {
    fn init(&mut self, ctx: &mut NodeContext, args: &InitArgs) {
        self.call(ctx, "init", |t| {
            let bootstrap = Value::Contacts(args.bootstrap.iter().map(|c| Contact::new(c.index, c.id.clone())).collect());
            let start = t.module.getattr("Start")?.call1((
                args.index,
                t.value(&Value::Id(args.id.clone()))?,
                args.group.as_str(),
                t.record(&args.config)?,
                t.value(&bootstrap)?,
                args.id_bits,
                args.node_count,
            ))?;
            Ok(vec![start])
        });
    }

    fn on_message(&mut self, ctx: &mut NodeContext, from: NodeIndex, message: &[u8]) {
        let Ok(record) = Record::decode(message) else {
            // The network delivers only well-formed records.
            return;
        };
        self.call(ctx, "on_message", |t| Ok(vec![t.node.call1((from,))?, t.record(&record)?]));
    }

    fn on_timer(&mut self, ctx: &mut NodeContext, tag: u64) {
        self.call(ctx, "on_timer", |t| Ok(vec![tag.into_pyobject(t.module.py())?.into_any()]));
    }

    fn on_operation(&mut self, ctx: &mut NodeContext, op: OpId, operation: &Operation) {
        let request = match operation {
            Operation::Request(r) | Operation::App(r) => r.clone(),
            Operation::Lookup { key } => Record::new("lookup").with("key", Value::Id(key.clone())),
            Operation::Get { key } => Record::new("get").with("key", Value::Id(key.clone())),
            Operation::Announce { key } => Record::new("announce").with("key", Value::Id(key.clone())),
            Operation::FindProviders { key } => Record::new("find-providers").with("key", Value::Id(key.clone())),
            Operation::Put { key, value } => Record::new("put").with("key", Value::Id(key.clone())).with("value", value.clone()),
            Operation::Propose { value } => Record::new("propose").with("value", value.clone()),
        };
        self.call(ctx, "on_request", |t| Ok(vec![op.into_pyobject(t.module.py())?.into_any(), t.record(&request)?]));
    }

    fn inspect(&self) -> Option<Vec<u8>> {
        let object = self.object.as_ref()?;
        let state = Python::attach(|py| -> PyResult<Option<Vec<u8>>> {
            let state = object.call_method0(py, "inspect")?;
            let state = state.bind(py);
            if state.is_none() {
                return Ok(None);
            }
            Ok(Some(Types::get(py)?.to_record(state, "state")?.encode()))
        });
        state.unwrap_or_else(|e| {
            *self.failed.borrow_mut() = Some(Python::attach(|py| crash(py, e, "inspect")));
            None
        })
    }

    fn failure(&mut self) -> Option<CrashReason> {
        let reason = self.failed.get_mut().take()?;
        self.object = None;
        Some(reason)
    }
}
