//! Human-readable, one-line rendering of records and values.

use std::fmt::{self, Display, Formatter, Write};

use crate::{Record, Value};

/// Byte strings longer than this are shown truncated, followed by their length.
const MAX_SHOWN_BYTES: usize = 32;

/// Writes `0x` and the bytes in lowercase hex, e.g. `0x1f2e`; more than 32
/// bytes are cut off as `0x<first 32 bytes>… (40 bytes)`.
fn hex(f: &mut Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    f.write_str("0x")?;
    for b in bytes.iter().take(MAX_SHOWN_BYTES) {
        write!(f, "{b:02x}")?;
    }
    if bytes.len() > MAX_SHOWN_BYTES {
        write!(f, "… ({} bytes)", bytes.len())?;
    }
    Ok(())
}

/// Writes `[a, b, c]`, rendering each item with `item`.
fn list<T>(f: &mut Formatter<'_>, items: &[T], mut item: impl FnMut(&mut Formatter<'_>, &T) -> fmt::Result) -> fmt::Result {
    f.write_char('[')?;
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        item(f, x)?;
    }
    f.write_char(']')
}

/// Numbers in decimal (floats always with a `.`, e.g. `1.0`, `NaN`),
/// strings quoted with Rust escapes, ids and bytes as `0x…` hex, nodes as
/// `n<index>`, contacts as `n<index>@0x<id>`, lists as `[a, b]`.
impl Display for Value {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bool(b) => write!(f, "{b}"),
            Self::U64(n) => write!(f, "{n}"),
            Self::I64(n) => write!(f, "{n}"),
            Self::F64(x) => write!(f, "{x:?}"),
            Self::Str(s) => write!(f, "{s:?}"),
            Self::Bytes(b) | Self::Id(b) => hex(f, b),
            Self::Node(n) => write!(f, "n{n}"),
            Self::U64s(v) => list(f, v, |f, n| write!(f, "{n}")),
            Self::Ids(v) => list(f, v, |f, b| hex(f, b)),
            Self::Strs(v) => list(f, v, |f, s| write!(f, "{s:?}")),
            Self::Nodes(v) => list(f, v, |f, n| write!(f, "n{n}")),
            Self::Contacts(v) => list(f, v, |f, c| {
                write!(f, "n{}@", c.node)?;
                hex(f, &c.id)
            }),
            Self::Blobs(v) => list(f, v, |f, b| hex(f, b)),
        }
    }
}

/// One line: `KIND {name: value, ...}`, e.g.
/// `PING {seq: 3, ok: true, peers: [n4, n7]}`.
impl Display for Record {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {{", self.kind)?;
        for (i, (name, value)) in self.fields.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{name}: {value}")?;
        }
        f.write_char('}')
    }
}
