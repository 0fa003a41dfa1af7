//! The canonical, self-describing binary encoding of PeerShare records.
//!
//! A [`Record`] is a `kind` (such as `"PING"`) plus an ordered list of named,
//! typed fields ([`Value`]). Peers use records for their messages; the host
//! uses them for configs, results and trace steps, and can decode and display
//! any of them without knowing its schema. This crate has no dependencies and
//! no `unsafe`, so it also compiles into WebAssembly peers.
//!
//! ```
//! use peershare_wire::{Record, Value, peek_kind, validate};
//!
//! let ping = Record::new("PING")
//!     .with("seq", 3u64)
//!     .with("from", Value::Node(4))
//!     .with("ok", true);
//! let bytes = ping.encode();
//! assert_eq!(bytes.len(), ping.encoded_len());
//!
//! assert_eq!(peek_kind(&bytes), Ok("PING"));
//! assert_eq!(validate(&bytes), Ok(()));
//! let back = Record::decode(&bytes)?;
//! assert_eq!(back, ping);
//! assert_eq!(back.u64("seq"), Some(3));
//! assert_eq!(back.node("from"), Some(4));
//! assert_eq!(back.u64("from"), None); // wrong type
//! assert_eq!(back.to_string(), "PING {seq: 3, from: n4, ok: true}");
//!
//! // Malformed input is an error, never a panic.
//! let err = Record::decode(&bytes[..6]).unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "malformed record at byte 6: the input ends in the middle of an item"
//! );
//! # Ok::<(), peershare_wire::DecodeError>(())
//! ```
//!
//! Integer literals need a suffix (`3u64`, `-1i64`): `u64`, `u32` and `i64`
//! all convert into a [`Value`]. A `u32` becomes [`Value::U64`]; write
//! [`Value::Node`] for node indices and [`Value::Id`] for identifiers.
//!
//! # Encoding
//!
//! This is the contract between the host and the peers.
//!
//! A *varint* is an unsigned LEB128 number: 7 bits per byte, least
//! significant group first, high bit set on every byte but the last. It must
//! be minimal (no trailing `0x00` group, e.g. `0x80 0x00` is rejected) and at
//! most 10 bytes long, fitting in a `u64`. A *sized* item is a varint length
//! followed by that many bytes; *text* is sized and valid UTF-8.
//!
//! A record is:
//!
//! 1. the magic/version byte `0xB1`;
//! 2. the kind, as text;
//! 3. the number of fields, as a varint;
//! 4. each field, in order: its name as text, one tag byte, the payload.
//!
//! | tag | type    | payload                                                  |
//! |-----|---------|----------------------------------------------------------|
//! | 0   | `bool`  | one byte, `0` or `1`                                     |
//! | 1   | `u64`   | varint                                                   |
//! | 2   | `i64`   | zigzag varint (0, -1, 1, -2, … encode as 0, 1, 2, 3, …)  |
//! | 3   | `f64`   | 8 bytes: the IEEE 754 bits, little-endian                |
//! | 4   | `str`   | text                                                     |
//! | 5   | `bytes` | sized bytes                                              |
//! | 6   | `id`    | sized bytes                                              |
//! | 7   | `node`  | varint that fits in a `u32`                              |
//! | 8   | `u64s`  | varint count, then that many varints                     |
//! | 9   | `ids`   | varint count, then that many sized byte strings          |
//! | 10  | `strs`  | varint count, then that many texts                       |
//! | 11  | `nodes` | varint count, then that many varints fitting in a `u32`  |
//! | 12  | `contacts` | varint count, then that many pairs: a varint fitting in a `u32` (the node), sized bytes (the id) |
//! | 13  | `blobs` | varint count, then that many sized byte strings          |
//!
//! For example `Record::new("HI").with("n", 300u64)` encodes as
//! `B1 02 48 49 01 01 6E 01 AC 02`.
//!
//! The input must hold exactly one record. Because every choice above is
//! fixed, each record has exactly one encoding: [`Record::decode`] accepts
//! only that encoding, and `decode(encode(r)) == r` for every record
//! (floats are compared by bits, so NaN payloads and `-0.0` survive).
//!
//! # Errors
//!
//! Decoding never panics. It fails with a [`DecodeError`] whose `offset` is
//! the index of the byte where the offending item starts:
//!
//! - [`BadMagic`](DecodeErrorKind::BadMagic): byte 0 is not `0xB1`.
//! - [`UnexpectedEnd`](DecodeErrorKind::UnexpectedEnd): the input stops in
//!   the middle of the item starting at `offset`.
//! - [`VarintOverflow`](DecodeErrorKind::VarintOverflow): a varint exceeds
//!   10 bytes or `u64`, or a node index exceeds `u32`.
//! - [`NonCanonicalVarint`](DecodeErrorKind::NonCanonicalVarint): a varint is
//!   not minimal.
//! - [`InvalidUtf8`](DecodeErrorKind::InvalidUtf8): text is not UTF-8;
//!   `offset` is the first invalid byte.
//! - [`UnknownTag`](DecodeErrorKind::UnknownTag): a tag above 13.
//! - [`InvalidBool`](DecodeErrorKind::InvalidBool): a bool byte above 1.
//! - [`LengthTooLarge`](DecodeErrorKind::LengthTooLarge): a length or count
//!   is larger than the number of bytes after it (checked before anything is
//!   allocated, so hostile input cannot cause a huge allocation).
//! - [`TrailingBytes`](DecodeErrorKind::TrailingBytes): bytes are left after
//!   the last field; `offset` is the first of them.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod codec;
mod display;
mod error;
pub mod id;
mod record;
mod value;
pub mod vote;

pub use codec::{MAX_AMPLIFICATION, decoded_size, find_field, peek_kind, validate};
pub use error::{DecodeError, DecodeErrorKind};
pub use record::Record;
pub use value::{Contact, Value};

#[cfg(test)]
mod tests;
