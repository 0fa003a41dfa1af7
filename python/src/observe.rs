//! The event log and the message capture as tables, with the filters of
//! `peershare inspect`.

use crate::simulation::at;
use crate::table::Table;
use arrow_array::ArrayRef;
use arrow_array::builder::{BooleanBuilder, StringBuilder, UInt32Builder, UInt64Builder};
use peershare::NodeIndex;
use peershare::capture::{Capture, Fate, FieldCondition, Filter};
use peershare::events::EventLog;
use peershare::time::SimTime;
use serde_json::Value as Json;
use std::sync::Arc;

/// Which events to keep; every condition given must hold.
#[derive(Default)]
pub struct EventQuery {
    /// Event types (`"delivered"`, `"operation-completed"`, ...).
    pub types: Vec<String>,
    /// Nodes: an event is kept if its `node`, `from` or `to` is one of them.
    pub nodes: Vec<NodeIndex>,
    /// At or after.
    pub since: Option<SimTime>,
    /// Before.
    pub until: Option<SimTime>,
}

impl EventQuery {
    fn keeps(&self, row: &serde_json::Map<String, Json>) -> bool {
        let time = row.get("time").and_then(Json::as_u64).unwrap_or(0);
        if self.since.is_some_and(|t| time < t.as_nanos()) || self.until.is_some_and(|t| time >= t.as_nanos()) {
            return false;
        }
        if !self.types.is_empty() && !row.get("event").and_then(Json::as_str).is_some_and(|e| self.types.iter().any(|t| t == e)) {
            return false;
        }
        if !self.nodes.is_empty() {
            let involved = ["node", "from", "to"]
                .iter()
                .filter_map(|k| row.get(*k).and_then(Json::as_u64))
                .any(|n| self.nodes.iter().any(|&m| u64::from(m) == n));
            if !involved {
                return false;
            }
        }
        true
    }
}

/// The event log as a table: `seq`, `time` (ns), `event`, `node`, then
/// every other field of the events kept, by name.
pub fn events_table(log: &EventLog, query: &EventQuery) -> Result<Table, arrow_schema::ArrowError> {
    let rows: Vec<_> = log
        .events()
        .iter()
        .filter_map(|e| match e.to_json() {
            Json::Object(row) if query.keeps(&row) => Some(row),
            _ => None,
        })
        .collect();
    Table::from_rows(&rows, &["seq", "time", "event", "node"])
}

/// A capture filter as the Python side sends it (JSON): the fields of
/// [`Filter`], with times in nanoseconds and text still to parse.
#[derive(Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CaptureQuery {
    since_ns: Option<u64>,
    until_ns: Option<u64>,
    nodes: Vec<NodeIndex>,
    from: Vec<NodeIndex>,
    to: Vec<NodeIndex>,
    kinds: Vec<String>,
    /// Fate names (`delivered`, `lost`, ...).
    fates: Vec<String>,
    op: Option<u64>,
    fault: Option<u32>,
    /// `NAME OP VALUE` field conditions (`rpc>=3`).
    fields: Vec<String>,
    /// A regular expression over the decoded fields.
    search: Option<String>,
}

impl CaptureQuery {
    /// The filter the JSON text describes, or what is wrong with it.
    pub fn parse(json: &str) -> Result<Filter, String> {
        let query: CaptureQuery = serde_json::from_str(json).map_err(|e| format!("capture filter: {e}"))?;
        query.into_filter()
    }

    fn into_filter(self) -> Result<Filter, String> {
        let mut filter = Filter {
            since: self.since_ns.map(at),
            until: self.until_ns.map(at),
            nodes: self.nodes,
            from: self.from,
            to: self.to,
            kinds: self.kinds,
            op: self.op,
            fault: self.fault,
            ..Filter::default()
        };
        for text in &self.fields {
            filter.fields.push(FieldCondition::parse(text).map_err(|e| format!("where={text:?}: {e}"))?);
        }
        for name in &self.fates {
            filter.fates.push(Filter::parse_fate(name).map_err(|e| format!("fate={name:?}: {e}"))?);
        }
        if let Some(pattern) = &self.search {
            filter.search = Some(Filter::parse_search(pattern).map_err(|e| format!("search={pattern:?}: {e}"))?);
        }
        Ok(filter)
    }
}

/// The captured messages `filter` selects, one row each: `id`, `sent` and
/// `ended` (ns), `from`, `to`, `kind`, `size` (bytes), `fate`, `fault`,
/// `op`, `hop`, `killed_receiver`, and `fields` (the decoded body as
/// compact JSON, ids and bytes as hex).
pub fn capture_table(capture: &Capture, filter: &Filter) -> Result<Table, arrow_schema::ArrowError> {
    let ids = capture.select(filter);
    let n = ids.len();
    let mut id = UInt64Builder::with_capacity(n);
    let mut sent = UInt64Builder::with_capacity(n);
    let mut ended = UInt64Builder::with_capacity(n);
    let mut from = UInt32Builder::with_capacity(n);
    let mut to = UInt32Builder::with_capacity(n);
    let mut kind = StringBuilder::new();
    let mut size = UInt32Builder::with_capacity(n);
    let mut fate = StringBuilder::new();
    let mut fault = UInt32Builder::with_capacity(n);
    let mut op = UInt64Builder::with_capacity(n);
    let mut hop = UInt32Builder::with_capacity(n);
    let mut killed = BooleanBuilder::with_capacity(n);
    let mut fields = StringBuilder::new();
    for message in ids.into_iter().map(|i| capture.message(i)) {
        id.append_value(message.id());
        sent.append_value(message.sent().as_nanos());
        ended.append_option(message.ended().map(SimTime::as_nanos));
        from.append_value(message.from());
        to.append_value(message.to());
        kind.append_value(message.kind());
        size.append_value(message.size());
        fate.append_value(message.fate().name());
        fault.append_option(message.fault());
        op.append_option(message.op());
        hop.append_option(message.op().map(|_| u32::from(message.hop())));
        killed.append_value(message.killed_receiver());
        fields.append_value(message.fields_json().to_string());
    }
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("id", Arc::new(id.finish())),
        ("sent", Arc::new(sent.finish())),
        ("ended", Arc::new(ended.finish())),
        ("from", Arc::new(from.finish())),
        ("to", Arc::new(to.finish())),
        ("kind", Arc::new(kind.finish())),
        ("size", Arc::new(size.finish())),
        ("fate", Arc::new(fate.finish())),
        ("fault", Arc::new(fault.finish())),
        ("op", Arc::new(op.finish())),
        ("hop", Arc::new(hop.finish())),
        ("killed_receiver", Arc::new(killed.finish())),
        ("fields", Arc::new(fields.finish())),
    ];
    Table::new(columns.into_iter().map(|(n, a)| (n.to_string(), a)).collect())
}

/// The fate names a capture filter takes.
pub fn fate_names() -> Vec<&'static str> {
    Fate::ALL.iter().map(|f| f.name()).collect()
}
