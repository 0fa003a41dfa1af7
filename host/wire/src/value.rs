//! The [`Value`] type: the typed payload of one field.

/// The typed value of one [`Record`](crate::Record) field.
///
/// Equality compares [`Value::F64`] by bit pattern (so `NaN == NaN` and
/// `0.0 != -0.0`): two values are equal exactly when they encode to the same
/// bytes.
#[derive(Debug, Clone)]
pub enum Value {
    /// A boolean.
    Bool(bool),
    /// An unsigned 64-bit integer.
    U64(u64),
    /// A signed 64-bit integer.
    I64(i64),
    /// A 64-bit float, kept bit-exact (including `-0.0` and NaN payloads).
    F64(f64),
    /// UTF-8 text.
    Str(String),
    /// Raw bytes, such as a payload or a hash.
    Bytes(Vec<u8>),
    /// An identifier, such as a 160-bit Kademlia id; displayed as hex.
    Id(Vec<u8>),
    /// A node index: a peer's network address in the simulation.
    Node(u32),
    /// A list of unsigned integers.
    U64s(Vec<u64>),
    /// A list of identifiers.
    Ids(Vec<Vec<u8>>),
    /// A list of strings.
    Strs(Vec<String>),
    /// A list of node indices.
    Nodes(Vec<u32>),
    /// A list of contacts: peers as a peer knows them, node index and id.
    Contacts(Vec<Contact>),
    /// A list of byte strings (payloads, values, hashes).
    Blobs(Vec<Vec<u8>>),
}

/// Another peer as a peer knows it: its node index (where to send) and its
/// identifier. Travels in [`Value::Contacts`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Contact {
    /// Its node index: its network address.
    pub node: u32,
    /// Its identifier.
    pub id: Vec<u8>,
}

impl Contact {
    /// A contact for `node` with identifier `id`.
    pub fn new(node: u32, id: impl Into<Vec<u8>>) -> Self {
        Contact { node, id: id.into() }
    }
}

impl Value {
    /// The short name of this value's type: `"bool"`, `"u64"`, `"i64"`,
    /// `"f64"`, `"str"`, `"bytes"`, `"id"`, `"node"`, `"u64s"`, `"ids"`,
    /// `"strs"`, `"nodes"`, `"contacts"` or `"blobs"`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Bool(_) => "bool",
            Self::U64(_) => "u64",
            Self::I64(_) => "i64",
            Self::F64(_) => "f64",
            Self::Str(_) => "str",
            Self::Bytes(_) => "bytes",
            Self::Id(_) => "id",
            Self::Node(_) => "node",
            Self::U64s(_) => "u64s",
            Self::Ids(_) => "ids",
            Self::Strs(_) => "strs",
            Self::Nodes(_) => "nodes",
            Self::Contacts(_) => "contacts",
            Self::Blobs(_) => "blobs",
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        use Value::*;
        match (self, other) {
            (Bool(a), Bool(b)) => a == b,
            (U64(a), U64(b)) => a == b,
            (I64(a), I64(b)) => a == b,
            (F64(a), F64(b)) => a.to_bits() == b.to_bits(),
            (Str(a), Str(b)) => a == b,
            (Bytes(a), Bytes(b)) | (Id(a), Id(b)) => a == b,
            (Node(a), Node(b)) => a == b,
            (U64s(a), U64s(b)) => a == b,
            (Ids(a), Ids(b)) => a == b,
            (Strs(a), Strs(b)) => a == b,
            (Nodes(a), Nodes(b)) => a == b,
            (Contacts(a), Contacts(b)) => a == b,
            (Blobs(a), Blobs(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Value {}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Self::Bool(v)
    }
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Self::U64(v)
    }
}

/// Converts to [`Value::U64`] (use [`Value::Node`] for node indices).
impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Self::U64(v.into())
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::I64(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Self::F64(v)
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::Str(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::Str(v.to_owned())
    }
}

/// Converts to [`Value::Bytes`] (use [`Value::Id`] for identifiers).
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Self::Bytes(v)
    }
}
