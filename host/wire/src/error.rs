//! Decoding errors.

use std::fmt;

/// Why a byte string is not a well-formed record, and where the problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeError {
    /// Index of the input byte where the offending item starts.
    pub offset: usize,
    /// What is wrong.
    pub reason: DecodeErrorKind,
}

/// The kinds of [`DecodeError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// The first byte is not the magic byte `0xB1`; holds the byte found.
    BadMagic(u8),
    /// The input ends in the middle of an item.
    UnexpectedEnd,
    /// A varint is longer than 10 bytes or too large for its type
    /// (`u64`, or `u32` for node indices).
    VarintOverflow,
    /// A varint has redundant trailing zero groups (such as `0x80 0x00`).
    NonCanonicalVarint,
    /// A kind, field name or string is not valid UTF-8.
    InvalidUtf8,
    /// A field's type tag is not one of `0..=11`; holds the tag found.
    UnknownTag(u8),
    /// A boolean byte is neither 0 nor 1; holds the byte found.
    InvalidBool(u8),
    /// Bytes are left after the last field; holds how many.
    TrailingBytes(usize),
    /// A length or count is larger than the number of bytes left; holds it.
    LengthTooLarge(u64),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed record at byte {}: {}", self.offset, self.reason)
    }
}

impl fmt::Display for DecodeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadMagic(b) => write!(f, "expected magic byte 0xb1 but found {b:#04x}"),
            Self::UnexpectedEnd => f.write_str("the input ends in the middle of an item"),
            Self::VarintOverflow => f.write_str("a number is too large for its type"),
            Self::NonCanonicalVarint => f.write_str("a number is not written in its shortest form"),
            Self::InvalidUtf8 => f.write_str("text is not valid UTF-8"),
            Self::UnknownTag(t) => write!(f, "unknown value type tag {t}"),
            Self::InvalidBool(b) => write!(f, "a boolean is {b} instead of 0 or 1"),
            Self::TrailingBytes(n) => write!(f, "{n} extra bytes after the end of the record"),
            Self::LengthTooLarge(n) => {
                write!(f, "length or count {n} is larger than the rest of the input")
            }
        }
    }
}

impl std::error::Error for DecodeError {}
