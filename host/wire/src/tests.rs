use crate::DecodeErrorKind::*;
use crate::{DecodeError, DecodeErrorKind, Record, Value, peek_kind, validate};

/// A record holding every value type, including edge cases.
fn every_type() -> Record {
    Record::new("ALL")
        .with("b0", false)
        .with("b1", true)
        .with("u0", 0u64)
        .with("umax", u64::MAX)
        .with("u32", u32::MAX)
        .with("i0", 0i64)
        .with("imin", i64::MIN)
        .with("imax", i64::MAX)
        .with("ineg", -1i64)
        .with("f", 1.5f64)
        .with("fneg0", -0.0f64)
        .with("fnan", f64::NAN)
        .with("fnan2", f64::from_bits(0xfff8_0000_dead_beef))
        .with("finf", f64::NEG_INFINITY)
        .with("s", "héllo \"wire\"\n")
        .with("s0", "")
        .with("bytes", vec![0u8, 1, 255])
        .with("bytes0", Vec::new())
        .with("id", Value::Id((0..20).collect()))
        .with("id0", Value::Id(vec![]))
        .with("node", Value::Node(u32::MAX))
        .with("u64s", Value::U64s(vec![0, 127, 128, u64::MAX]))
        .with("u64s0", Value::U64s(vec![]))
        .with("ids", Value::Ids(vec![vec![], vec![0xab; 20]]))
        .with("ids0", Value::Ids(vec![]))
        .with("strs", Value::Strs(vec![String::new(), "ünï".into()]))
        .with("strs0", Value::Strs(vec![]))
        .with("nodes", Value::Nodes(vec![0, 4, u32::MAX]))
        .with("nodes0", Value::Nodes(vec![]))
        .with("contacts", Value::Contacts(vec![crate::Contact::new(3, vec![0xAB; 20]), crate::Contact::new(u32::MAX, vec![])]))
        .with("contacts0", Value::Contacts(vec![]))
        .with("blobs", Value::Blobs(vec![vec![1, 2, 3], vec![]]))
        .with("", "empty name")
}

fn err(offset: usize, reason: DecodeErrorKind) -> Result<Record, DecodeError> {
    Err(DecodeError { offset, reason })
}

/// `B1`, kind "K", one field named "x" with `tag`, then `payload`.
fn one_field(tag: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0xB1, 1, b'K', 1, 1, b'x', tag];
    v.extend_from_slice(payload);
    v
}

/// Offset of the payload in [`one_field`].
const PAYLOAD: usize = 7;

/// Decodes and checks that `validate` and `decode` agree exactly.
fn decode(bytes: &[u8]) -> Result<Record, DecodeError> {
    let result = Record::decode(bytes);
    assert_eq!(validate(bytes), result.as_ref().map(|_| ()).map_err(|e| *e));
    result
}

// ------------------------------------------------------------ round trips

#[test]
fn round_trip_every_type() {
    let r = every_type();
    let bytes = r.encode();
    let back = decode(&bytes).unwrap();
    assert_eq!(back, r);
    assert_eq!(back.encode(), bytes);
    // Floats are kept bit-exact.
    for name in ["f", "fneg0", "fnan", "fnan2", "finf"] {
        assert_eq!(back.f64(name).unwrap().to_bits(), r.f64(name).unwrap().to_bits());
    }
    assert_eq!(back.f64("fneg0").unwrap().to_bits(), (-0.0f64).to_bits());
    assert!(back.f64("fnan").unwrap().is_nan());
    assert_eq!(back.u64("umax"), Some(u64::MAX));
    assert_eq!(back.i64("imin"), Some(i64::MIN));
    assert_eq!(back.str("s0"), Some(""));
    assert_eq!(back.u64s("u64s0"), Some(&[][..]));
}

#[test]
fn round_trip_empty_record() {
    let r = Record::default();
    assert_eq!(r.encode(), [0xB1, 0, 0]);
    assert_eq!(decode(&r.encode()), Ok(r));
}

#[test]
fn varint_boundaries_round_trip() {
    for shift in 0..64 {
        let p = 1u64 << shift;
        for v in [p - 1, p, p + 1, !p] {
            let r = Record::new("V").with("u", v).with("i", v as i64).with("n", Value::Node(v as u32));
            let bytes = r.encode();
            assert_eq!(bytes.len(), r.encoded_len(), "{v}");
            assert_eq!(decode(&bytes), Ok(r));
        }
    }
}

#[test]
fn f64_equality_is_bitwise() {
    assert_eq!(Value::F64(f64::NAN), Value::F64(f64::NAN));
    assert_ne!(Value::F64(0.0), Value::F64(-0.0));
    assert_ne!(Value::Bytes(vec![1]), Value::Id(vec![1]));
}

// ------------------------------------------------------------ exact bytes

#[test]
fn exact_bytes() {
    let r = Record::new("PING")
        .with("seq", 3u64)
        .with("ok", true)
        .with("to", Value::Node(300))
        .with("d", -2i64)
        .with("f", 1.0f64)
        .with("s", "hi")
        .with("ids", Value::Ids(vec![vec![0xab]]));
    #[rustfmt::skip]
    let expected = vec![
        0xB1,                                   // magic
        4, b'P', b'I', b'N', b'G',              // kind
        7,                                      // field count
        3, b's', b'e', b'q', 1, 3,              // seq: u64 3
        2, b'o', b'k', 0, 1,                    // ok: bool true
        2, b't', b'o', 7, 0xAC, 0x02,           // to: node 300
        1, b'd', 2, 3,                          // d: i64 -2 (zigzag 3)
        1, b'f', 3, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F, // f: f64 1.0
        1, b's', 4, 2, b'h', b'i',              // s: str "hi"
        3, b'i', b'd', b's', 9, 1, 1, 0xAB,     // ids: [0xab]
    ];
    assert_eq!(r.encode(), expected);
    assert_eq!(r.encoded_len(), expected.len());
    assert_eq!(decode(&expected), Ok(r));

    // Documented example in the crate docs.
    let hi = Record::new("HI").with("n", 300u64);
    assert_eq!(hi.encode(), [0xB1, 0x02, 0x48, 0x49, 0x01, 0x01, 0x6E, 0x01, 0xAC, 0x02]);
}

#[test]
fn encode_into_appends() {
    let r = Record::new("A").with("x", 1u64);
    let mut out = vec![9, 9];
    r.encode_into(&mut out);
    assert_eq!(out[..2], [9, 9]);
    assert_eq!(out[2..], r.encode()[..]);
}

#[test]
fn encoded_len_matches_encode() {
    let mut rng = XorShift(0x1234_5678_9abc_def1);
    assert_eq!(every_type().encoded_len(), every_type().encode().len());
    for _ in 0..500 {
        let r = random_record(&mut rng);
        let bytes = r.encode();
        assert_eq!(r.encoded_len(), bytes.len());
        assert_eq!(decode(&bytes).as_ref(), Ok(&r));
    }
}

// ------------------------------------------------------------ errors

#[test]
fn error_bad_magic() {
    assert_eq!(decode(&[0xB0, 0, 0]), err(0, BadMagic(0xB0)));
    assert_eq!(peek_kind(&[0x00]), Err(DecodeError { offset: 0, reason: BadMagic(0) }));
}

#[test]
fn error_unexpected_end() {
    assert_eq!(decode(&[]), err(0, UnexpectedEnd));
    assert_eq!(decode(&[0xB1]), err(1, UnexpectedEnd));
    assert_eq!(decode(&[0xB1, 0x80]), err(1, UnexpectedEnd)); // cut varint
    assert_eq!(decode(&[0xB1, 0, 2, 1, b'x', 0, 1]), err(7, UnexpectedEnd)); // missing field
    assert_eq!(decode(&[0xB1, 0, 1, 1, b'x']), err(5, UnexpectedEnd)); // missing tag
    assert_eq!(decode(&one_field(3, &[0; 7])), err(PAYLOAD, UnexpectedEnd)); // short f64
    // A list whose second element is missing.
    let short_list = one_field(8, &[2, 0x80, 0x01]);
    assert_eq!(decode(&short_list), err(PAYLOAD + 3, UnexpectedEnd));
}

#[test]
fn error_varint_overflow() {
    // 10th byte above 1: more than 64 bits.
    let mut v = vec![0xB1];
    v.extend_from_slice(&[0xFF; 9]);
    v.push(0x02);
    assert_eq!(decode(&v), err(1, VarintOverflow));
    // More than 10 bytes.
    let mut v = vec![0xB1];
    v.extend_from_slice(&[0x80; 11]);
    v.push(0x01);
    assert_eq!(decode(&v), err(1, VarintOverflow));
    // A node index must fit in a u32: 2^32 = 80 80 80 80 10.
    let big = [0x80, 0x80, 0x80, 0x80, 0x10];
    assert_eq!(decode(&one_field(7, &big)), err(PAYLOAD, VarintOverflow));
    let mut nodes = vec![2, 5];
    nodes.extend_from_slice(&big);
    assert_eq!(decode(&one_field(11, &nodes)), err(PAYLOAD + 2, VarintOverflow));
    // u64::MAX itself is fine.
    let max = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01];
    assert_eq!(decode(&one_field(1, &max)).unwrap().u64("x"), Some(u64::MAX));
}

#[test]
fn error_non_canonical_varint() {
    assert_eq!(decode(&[0xB1, 0x80, 0x00, 0]), err(1, NonCanonicalVarint));
    assert_eq!(decode(&one_field(1, &[0x81, 0x80, 0x00])), err(PAYLOAD, NonCanonicalVarint));
    assert_eq!(decode(&one_field(2, &[0xFF, 0x00])), err(PAYLOAD, NonCanonicalVarint));
    let mut ten = vec![0xFF; 9];
    ten.push(0x00);
    assert_eq!(decode(&one_field(1, &ten)), err(PAYLOAD, NonCanonicalVarint));
}

#[test]
fn error_invalid_utf8() {
    // In the kind: the offset is the first invalid byte.
    assert_eq!(decode(&[0xB1, 2, b'a', 0xFF, 0]), err(3, InvalidUtf8));
    // In a field name.
    assert_eq!(decode(&[0xB1, 0, 1, 1, 0xC3, 0, 0]), err(4, InvalidUtf8));
    // In a string value and in a string list.
    assert_eq!(decode(&one_field(4, &[1, 0x80])), err(PAYLOAD + 1, InvalidUtf8));
    assert_eq!(decode(&one_field(10, &[2, 1, b'a', 2, b'b', 0xFF])), err(PAYLOAD + 5, InvalidUtf8));
}

#[test]
fn error_unknown_tag() {
    assert_eq!(decode(&one_field(14, &[0])), err(PAYLOAD - 1, UnknownTag(14)));
    assert_eq!(decode(&one_field(255, &[])), err(PAYLOAD - 1, UnknownTag(255)));
}

#[test]
fn error_invalid_bool() {
    assert_eq!(decode(&one_field(0, &[2])), err(PAYLOAD, InvalidBool(2)));
}

#[test]
fn error_trailing_bytes() {
    let mut v = every_type().encode();
    let len = v.len();
    v.extend_from_slice(&[1, 2, 3]);
    assert_eq!(decode(&v), err(len, TrailingBytes(3)));
    assert_eq!(decode(&[0xB1, 0, 0, 0]), err(3, TrailingBytes(1)));
}

#[test]
fn error_length_too_large() {
    assert_eq!(decode(&[0xB1, 5, b'a']), err(1, LengthTooLarge(5)));
    assert_eq!(decode(&[0xB1, 0, 5, 0]), err(2, LengthTooLarge(5))); // field count
    assert_eq!(decode(&one_field(5, &[2, 0])), err(PAYLOAD, LengthTooLarge(2)));
    assert_eq!(decode(&one_field(9, &[1, 3, 0, 0])), err(PAYLOAD + 1, LengthTooLarge(3)));
    assert_eq!(decode(&one_field(8, &[9, 1, 2])), err(PAYLOAD, LengthTooLarge(9)));
    // A hostile count is rejected before anything is allocated.
    let max = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01];
    assert_eq!(decode(&one_field(11, &max)), err(PAYLOAD, LengthTooLarge(u64::MAX)));
}

#[test]
fn error_display() {
    let e = DecodeError { offset: 7, reason: InvalidBool(2) };
    assert_eq!(e.to_string(), "malformed record at byte 7: a boolean is 2 instead of 0 or 1");
    assert_eq!(BadMagic(0x0a).to_string(), "expected magic byte 0xb1 but found 0x0a");
    assert_eq!(TrailingBytes(3).to_string(), "3 extra bytes after the end of the record");
    let _: &dyn std::error::Error = &e;
}

#[test]
fn truncation_always_errors() {
    let bytes = every_type().encode();
    for len in 0..bytes.len() {
        let result = decode(&bytes[..len]);
        assert!(result.is_err(), "prefix of length {len} decoded");
    }
}

// ------------------------------------------------------------ peek_kind, getters

#[test]
fn peek_kind_reads_only_the_kind() {
    assert_eq!(peek_kind(&every_type().encode()), Ok("ALL"));
    assert_eq!(peek_kind(&Record::new("").encode()), Ok(""));
    // The fields are not looked at.
    assert_eq!(peek_kind(&[0xB1, 2, b'O', b'K', 0xFF]), Ok("OK"));
    assert_eq!(peek_kind(&[0xB1, 2, b'O']), Err(DecodeError { offset: 1, reason: LengthTooLarge(2) }));
    assert_eq!(peek_kind(&[]), Err(DecodeError { offset: 0, reason: UnexpectedEnd }));
}

#[test]
fn getters() {
    let mut r = every_type().with("b1", false);
    r.push("extra", 7u64);
    assert_eq!(r.bool("b1"), Some(true)); // first of duplicates
    assert_eq!(r.u64("extra"), Some(7));
    assert_eq!(r.u64("u32"), Some(u64::from(u32::MAX)));
    assert_eq!(r.i64("ineg"), Some(-1));
    assert_eq!(r.f64("f"), Some(1.5));
    assert_eq!(r.str("s"), Some("héllo \"wire\"\n"));
    assert_eq!(r.bytes("bytes"), Some(&[0, 1, 255][..]));
    assert_eq!(r.bytes("id"), None);
    assert_eq!(r.id("id").map(<[u8]>::len), Some(20));
    assert_eq!(r.id("bytes"), None);
    assert_eq!(r.node("node"), Some(u32::MAX));
    assert_eq!(r.u64s("u64s"), Some(&[0, 127, 128, u64::MAX][..]));
    assert_eq!(r.ids("ids").map(<[Vec<u8>]>::len), Some(2));
    assert_eq!(r.strs("strs"), Some(&[String::new(), "ünï".to_string()][..]));
    assert_eq!(r.nodes("nodes"), Some(&[0, 4, u32::MAX][..]));
    assert_eq!(r.get("missing"), None);
    assert_eq!(r.u64("node"), None);
    assert_eq!(r.str(""), Some("empty name"));
}

#[test]
fn type_names() {
    let names: Vec<_> = every_type().fields.iter().map(|(_, v)| v.type_name()).collect();
    for expected in ["bool", "u64", "i64", "f64", "str", "bytes", "id", "node", "u64s", "ids", "strs", "nodes"] {
        assert!(names.contains(&expected), "{expected}");
    }
}

// ------------------------------------------------------------ display

#[test]
fn display_sample_record() {
    let r = Record::new("PING")
        .with("seq", 3u64)
        .with("id", Value::Id(vec![0x1f, 0x2e]))
        .with("ok", true)
        .with("name", "x")
        .with("peers", Value::Nodes(vec![4, 7]));
    assert_eq!(r.to_string(), r#"PING {seq: 3, id: 0x1f2e, ok: true, name: "x", peers: [n4, n7]}"#);
    assert_eq!(Record::new("EMPTY").to_string(), "EMPTY {}");
}

#[test]
fn display_values() {
    let r = Record::new("V")
        .with("i", -5i64)
        .with("f", 2.0f64)
        .with("nan", f64::NAN)
        .with("z", -0.0f64)
        .with("s", "a\"b\n")
        .with("b", vec![0u8, 0xff])
        .with("e", Vec::new())
        .with("u", Value::U64s(vec![1, 2]))
        .with("ids", Value::Ids(vec![vec![1], vec![]]))
        .with("strs", Value::Strs(vec!["x".into(), "y".into()]))
        .with("n", Value::Node(9))
        .with("none", Value::Nodes(vec![]));
    assert_eq!(
        r.to_string(),
        r#"V {i: -5, f: 2.0, nan: NaN, z: -0.0, s: "a\"b\n", b: 0x00ff, e: 0x, u: [1, 2], ids: [0x01, 0x], strs: ["x", "y"], n: n9, none: []}"#
    );
    // Byte strings longer than 32 bytes are cut off, with their length.
    let long = Value::Bytes((0..40).collect());
    let shown = format!("0x{}… (40 bytes)", (0..32).map(|b| format!("{b:02x}")).collect::<String>());
    assert_eq!(long.to_string(), shown);
    let exactly_32 = Value::Id(vec![0xaa; 32]);
    assert_eq!(exactly_32.to_string(), format!("0x{}", "aa".repeat(32)));
}

// ------------------------------------------------------------ fuzzing

/// Deterministic xorshift64 generator.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// A number with a random bit length, so all varint sizes occur.
    fn wide(&mut self) -> u64 {
        self.next() >> self.below(64)
    }

    fn bytes(&mut self) -> Vec<u8> {
        (0..self.below(40)).map(|_| self.next() as u8).collect()
    }

    fn string(&mut self) -> String {
        const PARTS: [&str; 6] = ["a", "Z", "é", "\"", "\n", "ü"];
        (0..self.below(6)).map(|_| PARTS[self.below(PARTS.len())]).collect()
    }
}

fn random_value(rng: &mut XorShift) -> Value {
    let n = rng.below(5);
    match rng.below(12) {
        0 => Value::Bool(rng.next() & 1 == 1),
        1 => Value::U64(rng.wide()),
        2 => Value::I64(rng.wide() as i64),
        3 => Value::F64(f64::from_bits(rng.next())),
        4 => Value::Str(rng.string()),
        5 => Value::Bytes(rng.bytes()),
        6 => Value::Id(rng.bytes()),
        7 => Value::Node(rng.wide() as u32),
        8 => Value::U64s((0..n).map(|_| rng.wide()).collect()),
        9 => Value::Ids((0..n).map(|_| rng.bytes()).collect()),
        10 => Value::Strs((0..n).map(|_| rng.string()).collect()),
        _ => Value::Nodes((0..n).map(|_| rng.wide() as u32).collect()),
    }
}

fn random_record(rng: &mut XorShift) -> Record {
    let mut r = Record::new(rng.string());
    for _ in 0..rng.below(8) {
        let name = rng.string();
        let value = random_value(rng);
        r.push(name, value);
    }
    r
}

#[test]
fn fuzz_mutations_never_panic_and_stay_canonical() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let (mut ok, mut failed) = (0, 0);
    for round in 0..20_000 {
        let base = if round % 50 == 0 { every_type() } else { random_record(&mut rng) };
        let mut bytes = base.encode();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(bytes.len() + 1);
            match rng.below(6) {
                0 if at < bytes.len() => bytes[at] ^= 1 << rng.below(8),
                1 if at < bytes.len() => bytes[at] = rng.next() as u8,
                2 => bytes.insert(at, rng.next() as u8),
                3 if at < bytes.len() => drop(bytes.remove(at)),
                4 => bytes.truncate(at),
                _ if at < bytes.len() => bytes[at] = [0x00, 0x01, 0x7F, 0x80, 0xFF][rng.below(5)],
                _ => bytes.push(0),
            }
        }
        match decode(&bytes) {
            Ok(record) => {
                ok += 1;
                assert_eq!(record.encode(), bytes, "not canonical: {record}");
                assert_eq!(record.encoded_len(), bytes.len());
                assert_eq!(peek_kind(&bytes), Ok(record.kind.as_str()));
                let _ = record.to_string();
            }
            Err(e) => {
                failed += 1;
                assert!(e.offset <= bytes.len(), "{e} beyond {} bytes", bytes.len());
            }
        }
    }
    // Both outcomes must be exercised for the loop to mean anything.
    assert!(ok > 1_000 && failed > 1_000, "ok {ok}, failed {failed}");
}

#[test]
fn contacts_and_blobs_encode_as_documented() {
    let r = Record::new("C").with("c", Value::Contacts(vec![crate::Contact::new(300, vec![0xAB])])).with("b", Value::Blobs(vec![vec![7]]));
    assert_eq!(r.encode(), [0xB1, 1, b'C', 2, 1, b'c', 12, 1, 0xAC, 0x02, 1, 0xAB, 1, b'b', 13, 1, 1, 7]);
    assert_eq!(r.to_string(), "C {c: [n300@0xab], b: [0x07]}");
    assert_eq!(r.contacts("c").unwrap()[0].node, 300);
    assert_eq!(r.blobs("b"), Some(&[vec![7u8]][..]));
    // A contact's node must fit in a u32.
    let big = [0xB1, 0, 1, 0, 12, 1, 0x80, 0x80, 0x80, 0x80, 0x10, 0];
    assert_eq!(decode(&big), err(6, VarintOverflow));
}
