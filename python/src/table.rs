//! `peershare._native.Table`: a table of results (events, captured
//! messages) held as Arrow arrays and handed to Python through the Arrow C
//! stream interface (`__arrow_c_stream__`), so pyarrow, pandas and polars
//! read it without copying.
//!
//! Columns are built either directly (the capture's fixed columns) or from
//! JSON rows (events, whose fields differ by event type): each column's
//! type is the narrowest that holds every value in it (unsigned, signed,
//! float, bool, text), and nested values (records, lists) become compact
//! JSON text, as in `events.jsonl`.

use arrow_array::builder::{BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, UInt64Builder};
use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::{ArrayRef, RecordBatch, RecordBatchIterator};
use arrow_schema::{ArrowError, Field, Schema};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;
use serde_json::{Map, Value as Json};
use std::sync::Arc;

/// A table of results; read it with `pyarrow.table(t)`, `t.to_pandas()`,
/// or any library that takes Arrow C streams.
#[pyclass(module = "peershare._native", frozen)]
pub struct Table {
    batch: RecordBatch,
}

impl Table {
    /// A table of these columns, in order.
    pub fn new(columns: Vec<(String, ArrayRef)>) -> Result<Table, ArrowError> {
        let fields: Vec<Field> = columns.iter().map(|(name, array)| Field::new(name, array.data_type().clone(), true)).collect();
        let schema = Arc::new(Schema::new(fields));
        let batch = RecordBatch::try_new(schema, columns.into_iter().map(|(_, a)| a).collect())?;
        Ok(Table { batch })
    }

    /// A table of JSON objects: the `leading` columns first, then every
    /// other key in name order.
    pub fn from_rows(rows: &[Map<String, Json>], leading: &[&str]) -> Result<Table, ArrowError> {
        let mut names: Vec<String> = leading.iter().map(|s| s.to_string()).collect();
        let mut others = std::collections::BTreeSet::new();
        for row in rows {
            for key in row.keys() {
                if !leading.contains(&key.as_str()) {
                    others.insert(key.clone());
                }
            }
        }
        names.extend(others);
        let columns = names
            .into_iter()
            .map(|name| {
                let column = json_column(rows.iter().map(|r| r.get(&name).filter(|v| !v.is_null())));
                (name, column)
            })
            .collect();
        Table::new(columns)
    }
}

/// The narrowest Arrow type that holds every value of a column.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Empty,
    Bool,
    UInt,
    Int,
    Float,
    Text,
    Json,
}

fn kind_of(value: &Json) -> Kind {
    match value {
        Json::Null => Kind::Empty,
        Json::Bool(_) => Kind::Bool,
        Json::Number(n) if n.is_u64() => Kind::UInt,
        Json::Number(n) if n.is_i64() => Kind::Int,
        Json::Number(_) => Kind::Float,
        Json::String(_) => Kind::Text,
        Json::Array(_) | Json::Object(_) => Kind::Json,
    }
}

/// Two kinds in one column: numbers widen; anything else becomes text.
fn join(a: Kind, b: Kind) -> Kind {
    use Kind::*;
    match (a, b) {
        (Empty, k) | (k, Empty) => k,
        (a, b) if a == b => a,
        (UInt | Int, UInt | Int) => Int,
        (UInt | Int | Float, UInt | Int | Float) => Float,
        (Text, Text) => Text,
        _ => Json,
    }
}

fn json_column<'a>(values: impl Iterator<Item = Option<&'a Json>> + Clone) -> ArrayRef {
    let kind = values.clone().flatten().map(kind_of).fold(Kind::Empty, join);
    match kind {
        Kind::Bool => {
            let mut b = BooleanBuilder::new();
            values.for_each(|v| b.append_option(v.and_then(Json::as_bool)));
            Arc::new(b.finish())
        }
        Kind::UInt => {
            let mut b = UInt64Builder::new();
            values.for_each(|v| b.append_option(v.and_then(Json::as_u64)));
            Arc::new(b.finish())
        }
        Kind::Int => {
            let mut b = Int64Builder::new();
            values.for_each(|v| b.append_option(v.and_then(Json::as_i64)));
            Arc::new(b.finish())
        }
        Kind::Float => {
            let mut b = Float64Builder::new();
            values.for_each(|v| b.append_option(v.and_then(Json::as_f64)));
            Arc::new(b.finish())
        }
        Kind::Empty | Kind::Text | Kind::Json => {
            let mut b = StringBuilder::new();
            for v in values {
                match v {
                    None => b.append_null(),
                    Some(Json::String(s)) if kind != Kind::Json => b.append_value(s),
                    Some(other) => b.append_value(other.to_string()),
                }
            }
            Arc::new(b.finish())
        }
    }
}

#[pymethods]
impl Table {
    /// The Arrow C stream of the table (the PyCapsule protocol): one
    /// record batch, its buffers shared, not copied.
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(&self, py: Python<'py>, requested_schema: Option<Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyCapsule>> {
        // The schema is the table's own; a consumer casts if it wants another.
        let _ = requested_schema;
        let reader = RecordBatchIterator::new([Ok(self.batch.clone())], self.batch.schema());
        let stream = FFI_ArrowArrayStream::new(Box::new(reader));
        PyCapsule::new_with_value(py, stream, c"arrow_array_stream")
    }

    /// How many rows the table has.
    fn __len__(&self) -> usize {
        self.batch.num_rows()
    }

    /// The columns' names, in order.
    #[getter]
    fn column_names(&self) -> Vec<String> {
        self.batch.schema().fields().iter().map(|f| f.name().clone()).collect()
    }

    fn __repr__(&self) -> String {
        let columns: Vec<String> = self.batch.schema().fields().iter().map(|f| format!("{}: {}", f.name(), f.data_type())).collect();
        format!("<peershare.Table {} rows; {}>", self.batch.num_rows(), columns.join(", "))
    }
}
