//! Encoding and decoding; the format is described in the crate docs.

use crate::{Contact, DecodeError, DecodeErrorKind, Record, Value};

/// First byte of every record (format version 1).
const MAGIC: u8 = 0xB1;

// Type tags.
const BOOL: u8 = 0;
const U64: u8 = 1;
const I64: u8 = 2;
const F64: u8 = 3;
const STR: u8 = 4;
const BYTES: u8 = 5;
const ID: u8 = 6;
const NODE: u8 = 7;
const U64S: u8 = 8;
const IDS: u8 = 9;
const STRS: u8 = 10;
const NODES: u8 = 11;
const CONTACTS: u8 = 12;
const BLOBS: u8 = 13;

// ---------------------------------------------------------------- encoding

/// Number of bytes of the varint encoding of `v` (1 to 10).
fn varint_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Appends `v` as a minimal unsigned LEB128 varint.
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v & 0x7f) as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Maps signed to unsigned so that small magnitudes stay small: 0, -1, 1, -2 -> 0, 1, 2, 3.
fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag`].
fn unzigzag(u: u64) -> i64 {
    (u >> 1) as i64 ^ -((u & 1) as i64)
}

/// Size of a length-prefixed byte string of length `n`.
fn sized_len(n: usize) -> usize {
    varint_len(n as u64) + n
}

fn put_sized(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

impl Value {
    /// The type tag written before the payload.
    fn tag(&self) -> u8 {
        match self {
            Self::Bool(_) => BOOL,
            Self::U64(_) => U64,
            Self::I64(_) => I64,
            Self::F64(_) => F64,
            Self::Str(_) => STR,
            Self::Bytes(_) => BYTES,
            Self::Id(_) => ID,
            Self::Node(_) => NODE,
            Self::U64s(_) => U64S,
            Self::Ids(_) => IDS,
            Self::Strs(_) => STRS,
            Self::Nodes(_) => NODES,
            Self::Contacts(_) => CONTACTS,
            Self::Blobs(_) => BLOBS,
        }
    }

    /// Size of the payload (without the tag).
    fn payload_len(&self) -> usize {
        match self {
            Self::Bool(_) => 1,
            Self::U64(v) => varint_len(*v),
            Self::I64(v) => varint_len(zigzag(*v)),
            Self::F64(_) => 8,
            Self::Str(s) => sized_len(s.len()),
            Self::Bytes(b) | Self::Id(b) => sized_len(b.len()),
            Self::Node(n) => varint_len((*n).into()),
            Self::U64s(v) => varint_len(v.len() as u64) + v.iter().map(|&x| varint_len(x)).sum::<usize>(),
            Self::Ids(v) => varint_len(v.len() as u64) + v.iter().map(|b| sized_len(b.len())).sum::<usize>(),
            Self::Strs(v) => varint_len(v.len() as u64) + v.iter().map(|s| sized_len(s.len())).sum::<usize>(),
            Self::Nodes(v) => varint_len(v.len() as u64) + v.iter().map(|&n| varint_len(n.into())).sum::<usize>(),
            Self::Contacts(v) => {
                varint_len(v.len() as u64) + v.iter().map(|c| varint_len(c.node.into()) + sized_len(c.id.len())).sum::<usize>()
            }
            Self::Blobs(v) => varint_len(v.len() as u64) + v.iter().map(|b| sized_len(b.len())).sum::<usize>(),
        }
    }

    /// Appends the tag and the payload.
    fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(self.tag());
        match self {
            Self::Bool(b) => out.push(u8::from(*b)),
            Self::U64(v) => put_varint(out, *v),
            Self::I64(v) => put_varint(out, zigzag(*v)),
            Self::F64(v) => out.extend_from_slice(&v.to_bits().to_le_bytes()),
            Self::Str(s) => put_sized(out, s.as_bytes()),
            Self::Bytes(b) | Self::Id(b) => put_sized(out, b),
            Self::Node(n) => put_varint(out, (*n).into()),
            Self::U64s(v) => {
                put_varint(out, v.len() as u64);
                v.iter().for_each(|&x| put_varint(out, x));
            }
            Self::Ids(v) => {
                put_varint(out, v.len() as u64);
                v.iter().for_each(|b| put_sized(out, b));
            }
            Self::Strs(v) => {
                put_varint(out, v.len() as u64);
                v.iter().for_each(|s| put_sized(out, s.as_bytes()));
            }
            Self::Nodes(v) => {
                put_varint(out, v.len() as u64);
                v.iter().for_each(|&n| put_varint(out, n.into()));
            }
            Self::Contacts(v) => {
                put_varint(out, v.len() as u64);
                v.iter().for_each(|c| {
                    put_varint(out, c.node.into());
                    put_sized(out, &c.id);
                });
            }
            Self::Blobs(v) => {
                put_varint(out, v.len() as u64);
                v.iter().for_each(|b| put_sized(out, b));
            }
        }
    }
}

impl Record {
    /// Encodes the record into a new byte vector.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        out
    }

    /// Appends the encoding of the record to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(MAGIC);
        put_sized(out, self.kind.as_bytes());
        put_varint(out, self.fields.len() as u64);
        for (name, value) in &self.fields {
            put_sized(out, name.as_bytes());
            value.encode_into(out);
        }
    }

    /// The exact length of [`encode`](Record::encode)'s output, computed
    /// without allocating.
    pub fn encoded_len(&self) -> usize {
        let fields: usize = self.fields.iter().map(|(name, value)| sized_len(name.len()) + 1 + value.payload_len()).sum();
        1 + sized_len(self.kind.len()) + varint_len(self.fields.len() as u64) + fields
    }

    /// Decodes one record, which must fill `bytes` exactly.
    ///
    /// Accepts only the canonical encoding, so on success
    /// `record.encode() == bytes`.
    pub fn decode(bytes: &[u8]) -> Result<Record, DecodeError> {
        let (mut r, kind) = Reader::header(bytes)?;
        let fields = r.list(|r| Ok((r.str()?.to_owned(), r.value()?)))?;
        r.finish()?;
        Ok(Record { kind: kind.to_owned(), fields })
    }
}

/// Reads only the kind of an encoded record, without decoding its fields.
///
/// The fields are not checked; use [`validate`] or [`Record::decode`] for that.
pub fn peek_kind(bytes: &[u8]) -> Result<&str, DecodeError> {
    Reader::header(bytes).map(|(_, kind)| kind)
}

/// The value of the first field named `name` in an encoded record, decoding
/// only that field (the others are skipped without allocating). `Ok(None)`
/// if the record has no such field.
pub fn find_field(bytes: &[u8], name: &str) -> Result<Option<Value>, DecodeError> {
    let (mut r, _) = Reader::header(bytes)?;
    let count = r.length()?;
    for _ in 0..count {
        if r.str()? == name {
            return r.value().map(Some);
        }
        r.skip_value()?;
    }
    Ok(None)
}

/// Checks that `bytes` is exactly one well-formed canonical record, without
/// allocating. Returns the same error as [`Record::decode`] would.
pub fn validate(bytes: &[u8]) -> Result<(), DecodeError> {
    let (mut r, _) = Reader::header(bytes)?;
    r.skip_list(|r| {
        r.str()?;
        r.skip_value()
    })?;
    r.finish()
}

/// How many bytes of memory [`Record::decode`] allocates for `bytes` (the
/// sum of the sizes it asks the allocator for), after checking, as
/// [`validate`] does, that `bytes` is one well-formed record. Computed
/// without allocating.
///
/// A record's encoding can be far smaller than its decoded form: a field of
/// type `bool` with an empty name takes 3 bytes on the wire and about 56 in
/// memory. A host that delivers records to peers bounds this figure (as well
/// as the encoded length) so that one message cannot exhaust its receiver's
/// memory; it is at most [`MAX_AMPLIFICATION`] times the encoded length plus
/// [`size_of::<Record>()`](Record).
///
/// ```
/// use peershare_wire::{Record, Value, decoded_size};
/// let bytes = Record::new("PING").with("seq", 3u64).encode();
/// assert!(decoded_size(&bytes).unwrap() >= "PING".len() + "seq".len());
/// let bomb = Record { kind: String::new(), fields: vec![(String::new(), Value::Bool(true)); 1000] };
/// let bytes = bomb.encode();
/// assert!(decoded_size(&bytes).unwrap() > 15 * bytes.len());
/// ```
pub fn decoded_size(bytes: &[u8]) -> Result<usize, DecodeError> {
    let (mut r, kind) = Reader::header(bytes)?;
    let count = r.length()?;
    let mut size = size_of::<Record>() + kind.len() + count * size_of::<(String, Value)>();
    for _ in 0..count {
        size += r.str()?.len();
        size += r.value_heap()?;
    }
    r.finish()?;
    Ok(size)
}

/// The most [`decoded_size`] exceeds the encoded length by, as a factor:
/// the worst case is a list of empty byte strings, one byte each on the wire
/// and one `Vec` in memory.
pub const MAX_AMPLIFICATION: usize = size_of::<Vec<u8>>();

// ---------------------------------------------------------------- decoding

type Result<T, E = DecodeError> = core::result::Result<T, E>;

/// A cursor over untrusted input. Every read checks bounds and reports the
/// offset where the failing item starts.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

fn fail<T>(offset: usize, reason: DecodeErrorKind) -> Result<T> {
    Err(DecodeError { offset, reason })
}

impl<'a> Reader<'a> {
    /// Checks the magic byte and reads the kind.
    fn header(buf: &'a [u8]) -> Result<(Self, &'a str)> {
        let mut r = Reader { buf, pos: 0 };
        match r.byte()? {
            MAGIC => {}
            b => return fail(0, DecodeErrorKind::BadMagic(b)),
        }
        let kind = r.str()?;
        Ok((r, kind))
    }

    /// Succeeds if the whole input has been consumed.
    fn finish(&self) -> Result<()> {
        match self.remaining() {
            0 => Ok(()),
            n => fail(self.pos, DecodeErrorKind::TrailingBytes(n)),
        }
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn byte(&mut self) -> Result<u8> {
        match self.buf.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => fail(self.pos, DecodeErrorKind::UnexpectedEnd),
        }
    }

    /// Reads a minimal LEB128 varint of at most 10 bytes.
    fn varint(&mut self) -> Result<u64> {
        let start = self.pos;
        let mut value = 0u64;
        let mut shift = 0;
        loop {
            let Some(&b) = self.buf.get(self.pos) else {
                return fail(start, DecodeErrorKind::UnexpectedEnd);
            };
            self.pos += 1;
            // The 10th byte holds only bit 63: it must be 0 or 1.
            if shift == 63 && b > 1 {
                return fail(start, DecodeErrorKind::VarintOverflow);
            }
            value |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                if b == 0 && shift > 0 {
                    return fail(start, DecodeErrorKind::NonCanonicalVarint);
                }
                return Ok(value);
            }
            shift += 7;
        }
    }

    /// Reads a length or count and checks it against the bytes left
    /// (every element takes at least one byte).
    fn length(&mut self) -> Result<usize> {
        let start = self.pos;
        let n = self.varint()?;
        match usize::try_from(n) {
            Ok(len) if len <= self.remaining() => Ok(len),
            _ => fail(start, DecodeErrorKind::LengthTooLarge(n)),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let start = self.pos;
        match self.buf.get(start..).and_then(|rest| rest.get(..n)) {
            Some(bytes) => {
                self.pos += n;
                Ok(bytes)
            }
            None => fail(start, DecodeErrorKind::UnexpectedEnd),
        }
    }

    /// Reads a length-prefixed byte string.
    fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.length()?;
        self.take(n)
    }

    /// Reads a length-prefixed UTF-8 string; an error points at the first
    /// invalid byte.
    fn str(&mut self) -> Result<&'a str> {
        let bytes = self.bytes()?;
        core::str::from_utf8(bytes).or_else(|e| {
            let start = self.pos - bytes.len();
            fail(start + e.valid_up_to(), DecodeErrorKind::InvalidUtf8)
        })
    }

    fn bool(&mut self) -> Result<bool> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            b => fail(self.pos - 1, DecodeErrorKind::InvalidBool(b)),
        }
    }

    fn f64(&mut self) -> Result<f64> {
        let bytes = self.take(8)?;
        let mut bits = [0; 8];
        bits.copy_from_slice(bytes);
        Ok(f64::from_bits(u64::from_le_bytes(bits)))
    }

    fn node(&mut self) -> Result<u32> {
        let start = self.pos;
        let v = self.varint()?;
        u32::try_from(v).or_else(|_| fail(start, DecodeErrorKind::VarintOverflow))
    }

    fn list<T>(&mut self, mut item: impl FnMut(&mut Self) -> Result<T>) -> Result<Vec<T>> {
        let n = self.length()?;
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            items.push(item(self)?);
        }
        Ok(items)
    }

    fn skip_list<T>(&mut self, mut item: impl FnMut(&mut Self) -> Result<T>) -> Result<()> {
        let n = self.length()?;
        for _ in 0..n {
            item(self)?;
        }
        Ok(())
    }

    /// Reads a tag and its payload.
    fn value(&mut self) -> Result<Value> {
        Ok(match self.byte()? {
            BOOL => Value::Bool(self.bool()?),
            U64 => Value::U64(self.varint()?),
            I64 => Value::I64(unzigzag(self.varint()?)),
            F64 => Value::F64(self.f64()?),
            STR => Value::Str(self.str()?.to_owned()),
            BYTES => Value::Bytes(self.bytes()?.to_vec()),
            ID => Value::Id(self.bytes()?.to_vec()),
            NODE => Value::Node(self.node()?),
            U64S => Value::U64s(self.list(Self::varint)?),
            IDS => Value::Ids(self.list(|r| r.bytes().map(<[u8]>::to_vec))?),
            STRS => Value::Strs(self.list(|r| r.str().map(str::to_owned))?),
            NODES => Value::Nodes(self.list(Self::node)?),
            CONTACTS => Value::Contacts(self.list(|r| Ok(Contact { node: r.node()?, id: r.bytes()?.to_vec() }))?),
            BLOBS => Value::Blobs(self.list(|r| r.bytes().map(<[u8]>::to_vec))?),
            tag => return fail(self.pos - 1, DecodeErrorKind::UnknownTag(tag)),
        })
    }

    /// Checks a tag and its payload without allocating, and returns the heap
    /// bytes that decoding it allocates.
    fn value_heap(&mut self) -> Result<usize> {
        Ok(match self.byte()? {
            BOOL => self.bool().map(|_| 0)?,
            U64 | I64 => self.varint().map(|_| 0)?,
            F64 => self.take(8).map(|_| 0)?,
            NODE => self.node().map(|_| 0)?,
            STR => self.str()?.len(),
            BYTES | ID => self.bytes()?.len(),
            U64S => self.sum_list(size_of::<u64>(), |r| r.varint().map(|_| 0))?,
            IDS => self.sum_list(size_of::<Vec<u8>>(), |r| r.bytes().map(<[u8]>::len))?,
            STRS => self.sum_list(size_of::<String>(), |r| r.str().map(str::len))?,
            NODES => self.sum_list(size_of::<u32>(), |r| r.node().map(|_| 0))?,
            CONTACTS => self.sum_list(size_of::<Contact>(), |r| {
                r.node()?;
                r.bytes().map(<[u8]>::len)
            })?,
            BLOBS => self.sum_list(size_of::<Vec<u8>>(), |r| r.bytes().map(<[u8]>::len))?,
            tag => return fail(self.pos - 1, DecodeErrorKind::UnknownTag(tag)),
        })
    }

    /// Walks a list whose elements take `inline` bytes each plus what `item`
    /// returns, and sums its allocation.
    fn sum_list(&mut self, inline: usize, mut item: impl FnMut(&mut Self) -> Result<usize>) -> Result<usize> {
        let n = self.length()?;
        let mut heap = n * inline;
        for _ in 0..n {
            heap += item(self)?;
        }
        Ok(heap)
    }

    /// Checks a tag and its payload without allocating.
    fn skip_value(&mut self) -> Result<()> {
        match self.byte()? {
            BOOL => self.bool().map(drop),
            U64 | I64 => self.varint().map(drop),
            F64 => self.take(8).map(drop),
            STR => self.str().map(drop),
            BYTES | ID => self.bytes().map(drop),
            NODE => self.node().map(drop),
            U64S => self.skip_list(Self::varint),
            IDS => self.skip_list(Self::bytes),
            STRS => self.skip_list(Self::str),
            NODES => self.skip_list(Self::node),
            CONTACTS => self.skip_list(|r| {
                r.node()?;
                r.bytes()
            }),
            BLOBS => self.skip_list(Self::bytes),
            tag => fail(self.pos - 1, DecodeErrorKind::UnknownTag(tag)),
        }
    }
}

#[cfg(test)]
mod find_field_tests {
    use super::*;

    #[test]
    fn finds_the_first_field_of_a_name_and_only_it() {
        let r = Record::new("m").with("a", 1u64).with("list", Value::Nodes(vec![1, 2])).with("b", "x").with("a", 2u64);
        let bytes = r.encode();
        assert_eq!(find_field(&bytes, "a").unwrap(), Some(Value::U64(1)));
        assert_eq!(find_field(&bytes, "b").unwrap(), Some(Value::Str("x".into())));
        assert_eq!(find_field(&bytes, "list").unwrap(), Some(Value::Nodes(vec![1, 2])));
        assert_eq!(find_field(&bytes, "zzz").unwrap(), None);
        // A search that walks into a damaged field reports it.
        assert!(find_field(&bytes[..bytes.len() - 1], "zzz").is_err());
        assert!(find_field(&[0x00], "a").is_err());
    }
}
