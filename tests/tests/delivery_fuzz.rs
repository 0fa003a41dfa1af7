//! Arbitrary bytes sent as messages never upset the host, and a WebAssembly
//! peer decodes every byte string exactly as the host does.
//!
//! A native peer sends a WebAssembly peer (the hostile plugin, behaving
//! honestly) seeded random byte strings and mutated records, both as whole
//! messages and inside `PROBE` records that the guest decodes and answers.

use peershare::events::{DropReason, Event};
use peershare::prelude::*;
use std::sync::{Arc, Mutex};

/// SplitMix64: the inputs are the same every run.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Random bytes, half of them starting like a record, or a small valid
    /// record with a few bytes changed, cut or inserted.
    fn input(&mut self) -> Vec<u8> {
        let mut bytes = if self.next().is_multiple_of(2) {
            let n = (self.next() % 40) as usize;
            let mut b: Vec<u8> = (0..n).map(|_| self.next() as u8).collect();
            if let Some(first) = b.first_mut() {
                *first = 0xB1;
            }
            b
        } else {
            let r = Record::new("M").with("n", self.next() >> (self.next() % 64)).with("s", "hé").with("l", Value::Nodes(vec![1, 2, 3]));
            r.encode()
        };
        for _ in 0..self.next() % 3 {
            let at = (self.next() as usize) % (bytes.len() + 1);
            match self.next() % 3 {
                0 if at < bytes.len() => bytes[at] ^= 1 << (self.next() % 8),
                1 => bytes.truncate(at),
                _ => bytes.insert(at, self.next() as u8),
            }
        }
        bytes
    }
}

const INPUTS: usize = 3_000;

/// Node 0: sends every input as a raw message and inside a PROBE, one pair
/// per millisecond, and keeps the answers.
struct Prober {
    inputs: Arc<Vec<Vec<u8>>>,
    next: usize,
    answers: Arc<Mutex<Vec<Record>>>,
}

impl Peer for Prober {
    fn init(&mut self, ctx: &mut NodeContext, _args: &InitArgs) {
        ctx.set_timer(SimDuration::from_millis(100), 0);
    }

    fn on_timer(&mut self, ctx: &mut NodeContext, _tag: u64) {
        if let Some(input) = self.inputs.get(self.next) {
            ctx.send(1, input.clone());
            ctx.send_record(1, &Record::new("PROBE").with("data", input.clone()));
            self.next += 1;
            ctx.set_timer(SimDuration::from_millis(1), 0);
        }
    }

    fn on_message(&mut self, _ctx: &mut NodeContext, _from: NodeIndex, message: &[u8]) {
        self.answers.lock().unwrap().push(Record::decode(message).expect("the guest answers with records"));
    }
}

#[test]
fn arbitrary_messages_are_dropped_or_delivered_and_decode_alike_in_host_and_guest() {
    let mut g = Gen(7);
    let inputs: Arc<Vec<Vec<u8>>> = Arc::new((0..INPUTS).map(|_| g.input()).collect());
    let answers = Arc::new(Mutex::new(Vec::new()));
    let (i, a) = (inputs.clone(), answers.clone());
    let prober = GroupSpec::new("prober", 1, PeerSource::native(move |_| Prober { inputs: i.clone(), next: 0, answers: a.clone() }));
    let mut guest = GroupSpec::new("guest", 1, PeerSource::Wasm(Plugin::builtin("hostile").unwrap()));
    guest.config = Record::new("config").with("after_ms", 1_000_000u64);
    let mut sim = SimulationBuilder::new(1).group(prober).group(guest).build().unwrap();
    sim.run_for(SimDuration::from_secs(10)).unwrap();
    assert_eq!(sim.node_status(1), Some(NodeStatus::Up), "no input crashes the guest");

    let invalid = inputs.iter().filter(|b| peershare::wire::validate(b).is_err()).count();
    assert!(invalid > INPUTS / 4 && invalid < INPUTS, "a mix of valid and invalid inputs: {invalid}");
    let malformed =
        sim.events().events().iter().filter(|e| matches!(&e.event, Event::Dropped { reason: DropReason::Malformed, .. })).count();
    assert_eq!(malformed, invalid, "exactly the invalid inputs are dropped as malformed");

    let answers = answers.lock().unwrap();
    assert_eq!(answers.len(), INPUTS, "every probe was answered");
    for (input, answer) in inputs.iter().zip(answers.iter()) {
        let sent = Record::new("PROBE").with("data", input.clone()).encode();
        assert_eq!(answer.bytes("whole"), Some(&sent[..]), "the guest received the bytes sent");
        match Record::decode(input) {
            Ok(record) => {
                assert_eq!(answer.bool("ok"), Some(true), "{input:02x?}");
                assert_eq!(answer.bytes("again"), Some(&record.encode()[..]));
                assert_eq!(record.encode(), *input);
            }
            Err(e) => {
                assert_eq!(answer.bool("ok"), Some(false), "{input:02x?}");
                assert_eq!(answer.u64("offset"), Some(e.offset as u64), "{input:02x?}");
                assert_eq!(answer.str("error"), Some(e.to_string().as_str()));
            }
        }
    }
}
