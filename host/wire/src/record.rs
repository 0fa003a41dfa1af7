//! The [`Record`] type: a kind plus an ordered list of named fields.

use crate::{Contact, Value};

/// A structured message: a `kind` (such as `"PING"`) and ordered, named,
/// typed fields.
///
/// Field order is part of the record. Duplicate names are allowed;
/// [`get`](Record::get) and the typed getters return the first match.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// What the record is, e.g. `"PING"` or `"FIND_NODE"`.
    pub kind: String,
    /// The fields, in order.
    pub fields: Vec<(String, Value)>,
}

impl Record {
    /// Creates a record of the given kind with no fields.
    pub fn new(kind: impl Into<String>) -> Self {
        Self { kind: kind.into(), fields: Vec::new() }
    }

    /// Appends a field and returns the record (builder style).
    pub fn with(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.push(name, value);
        self
    }

    /// Appends a field.
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<Value>) {
        self.fields.push((name.into(), value.into()));
    }

    /// The value of the first field called `name`, if any.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The first field called `name` if it is a [`Value::U64`].
    pub fn u64(&self, name: &str) -> Option<u64> {
        match self.get(name)? {
            Value::U64(v) => Some(*v),
            _ => None,
        }
    }

    /// The first field called `name` if it is a [`Value::I64`].
    pub fn i64(&self, name: &str) -> Option<i64> {
        match self.get(name)? {
            Value::I64(v) => Some(*v),
            _ => None,
        }
    }

    /// The first field called `name` if it is a [`Value::F64`].
    pub fn f64(&self, name: &str) -> Option<f64> {
        match self.get(name)? {
            Value::F64(v) => Some(*v),
            _ => None,
        }
    }

    /// The first field called `name` if it is a [`Value::Bool`].
    pub fn bool(&self, name: &str) -> Option<bool> {
        match self.get(name)? {
            Value::Bool(v) => Some(*v),
            _ => None,
        }
    }

    /// The first field called `name` if it is a [`Value::Str`].
    pub fn str(&self, name: &str) -> Option<&str> {
        match self.get(name)? {
            Value::Str(v) => Some(v),
            _ => None,
        }
    }

    /// The first field called `name` if it is a [`Value::Bytes`].
    pub fn bytes(&self, name: &str) -> Option<&[u8]> {
        match self.get(name)? {
            Value::Bytes(v) => Some(v),
            _ => None,
        }
    }

    /// The first field called `name` if it is a [`Value::Id`].
    pub fn id(&self, name: &str) -> Option<&[u8]> {
        match self.get(name)? {
            Value::Id(v) => Some(v),
            _ => None,
        }
    }

    /// The first field called `name` if it is a [`Value::Node`].
    pub fn node(&self, name: &str) -> Option<u32> {
        match self.get(name)? {
            Value::Node(v) => Some(*v),
            _ => None,
        }
    }

    /// The first field called `name` if it is a [`Value::U64s`].
    pub fn u64s(&self, name: &str) -> Option<&[u64]> {
        match self.get(name)? {
            Value::U64s(v) => Some(v),
            _ => None,
        }
    }

    /// The first field called `name` if it is a [`Value::Ids`].
    pub fn ids(&self, name: &str) -> Option<&[Vec<u8>]> {
        match self.get(name)? {
            Value::Ids(v) => Some(v),
            _ => None,
        }
    }

    /// The first field called `name` if it is a [`Value::Strs`].
    pub fn strs(&self, name: &str) -> Option<&[String]> {
        match self.get(name)? {
            Value::Strs(v) => Some(v),
            _ => None,
        }
    }

    /// The first field called `name` if it is a [`Value::Nodes`].
    pub fn nodes(&self, name: &str) -> Option<&[u32]> {
        match self.get(name)? {
            Value::Nodes(v) => Some(v),
            _ => None,
        }
    }

    /// The first field called `name` if it is a [`Value::Contacts`].
    pub fn contacts(&self, name: &str) -> Option<&[Contact]> {
        match self.get(name)? {
            Value::Contacts(v) => Some(v),
            _ => None,
        }
    }

    /// The first field called `name` if it is a [`Value::Blobs`].
    pub fn blobs(&self, name: &str) -> Option<&[Vec<u8>]> {
        match self.get(name)? {
            Value::Blobs(v) => Some(v),
            _ => None,
        }
    }
}
