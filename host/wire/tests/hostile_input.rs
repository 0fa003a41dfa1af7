//! Arbitrary and adversarial bytes against the decoder: it never panics,
//! agrees with `validate` and `decoded_size`, and never allocates more than
//! `decoded_size` says (which is itself bounded by the input's length).
//!
//! The inputs come from a seeded generator: random bytes, and valid records
//! with random mutations (flipped, cut, inserted bytes), plus the known
//! amplification shapes.

use peershare_wire::{Contact, MAX_AMPLIFICATION, Record, Value, decoded_size, find_field, peek_kind, validate};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts the bytes this thread asks the allocator for while counting.
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ASKED: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ASKED.with(|a| a.set(a.get() + layout.size()));
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Bytes allocated by `decode`, and its result.
fn decode_counting(bytes: &[u8]) -> (Result<Record, peershare_wire::DecodeError>, usize) {
    ASKED.with(|a| a.set(0));
    COUNTING.with(|c| c.set(true));
    let result = Record::decode(bytes);
    COUNTING.with(|c| c.set(false));
    (result, ASKED.with(Cell::get))
}

/// A small seeded generator (SplitMix64): the inputs are the same every run.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    fn record(&mut self) -> Record {
        let mut r = Record::new(["PING", "", "STORE", "é"][self.below(4) as usize]);
        for i in 0..self.below(12) {
            let name = format!("f{i}");
            let n = self.below(6) as usize;
            let v = match self.below(14) {
                0 => Value::Bool(self.below(2) == 1),
                1 => Value::U64(self.next() >> self.below(64)),
                2 => Value::I64(self.next() as i64 >> self.below(64)),
                3 => Value::F64(f64::from_bits(self.next())),
                4 => Value::Str("x".repeat(n)),
                5 => Value::Bytes(self.bytes(n)),
                6 => Value::Id(self.bytes(20)),
                7 => Value::Node(self.next() as u32),
                8 => Value::U64s((0..n).map(|_| self.next()).collect()),
                9 => Value::Ids((0..n).map(|k| self.bytes(k)).collect()),
                10 => Value::Strs((0..n).map(|k| "s".repeat(k)).collect()),
                11 => Value::Nodes((0..n).map(|_| self.next() as u32).collect()),
                12 => Value::Contacts((0..n).map(|k| Contact::new(self.next() as u32, self.bytes(k))).collect()),
                _ => Value::Blobs((0..n).map(|k| self.bytes(k)).collect()),
            };
            r = r.with(name, v);
        }
        r
    }
    fn mutate(&mut self, mut bytes: Vec<u8>) -> Vec<u8> {
        for _ in 0..=self.below(3) {
            let at = self.below(bytes.len() as u64 + 1) as usize;
            match self.below(3) {
                0 if at < bytes.len() => bytes[at] ^= 1 << self.below(8),
                1 => bytes.truncate(at),
                _ => bytes.insert(at, self.next() as u8),
            }
        }
        bytes
    }
}

/// Everything the decoder promises about one input.
fn check(bytes: &[u8]) {
    let (decoded, asked) = decode_counting(bytes);
    let size = decoded_size(bytes);
    assert_eq!(decoded.as_ref().err(), validate(bytes).err().as_ref(), "decode and validate disagree on {bytes:02x?}");
    assert_eq!(decoded.as_ref().err(), size.as_ref().err(), "decode and decoded_size disagree on {bytes:02x?}");
    match decoded {
        Ok(record) => {
            let size = size.unwrap();
            assert!(asked <= size, "decode allocated {asked} bytes, decoded_size said {size}, for {bytes:02x?}");
            assert!(size <= MAX_AMPLIFICATION * bytes.len() + size_of::<Record>(), "{size} bytes decoded from {}", bytes.len());
            assert_eq!(record.encode(), bytes, "only the canonical encoding decodes");
            assert_eq!(peek_kind(bytes), Ok(record.kind.as_str()));
            for (name, value) in &record.fields {
                let first = record.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v);
                assert_eq!(find_field(bytes, name).unwrap().as_ref(), first, "{value:?}");
            }
        }
        Err(e) => assert!(e.offset <= bytes.len(), "{e} past the end of {} bytes", bytes.len()),
    }
}

#[test]
fn random_bytes_never_panic_and_agree_everywhere() {
    let mut g = Gen(1);
    for _ in 0..20_000 {
        let n = g.below(64) as usize;
        let mut bytes = g.bytes(n);
        if g.below(2) == 0 && !bytes.is_empty() {
            bytes[0] = 0xB1; // past the magic byte more often
        }
        check(&bytes);
    }
}

#[test]
fn mutated_records_never_panic_and_agree_everywhere() {
    let mut g = Gen(2);
    for _ in 0..20_000 {
        let record = g.record();
        let bytes = record.encode();
        check(&bytes);
        let mutated = g.mutate(bytes);
        check(&mutated);
    }
}

#[test]
fn the_densest_shapes_stay_within_the_stated_amplification() {
    let shapes = [
        Record { kind: String::new(), fields: vec![(String::new(), Value::Bool(false)); 10_000] },
        Record::new("").with("", Value::Ids(vec![Vec::new(); 10_000])),
        Record::new("").with("", Value::Strs(vec![String::new(); 10_000])),
        Record::new("").with("", Value::U64s(vec![0; 10_000])),
        Record::new("").with("", Value::Nodes(vec![0; 10_000])),
        Record::new("").with("", Value::Contacts(vec![Contact::default(); 10_000])),
        Record::new("").with("", Value::Blobs(vec![Vec::new(); 10_000])),
    ];
    for record in shapes {
        let bytes = record.encode();
        check(&bytes);
        let ratio = decoded_size(&bytes).unwrap() as f64 / bytes.len() as f64;
        assert!(ratio > 3.0, "dense shapes do amplify: {ratio}");
    }
}
