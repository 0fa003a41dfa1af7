//! Misbehaving peers, for testing that the host contains them.
//!
//! Config field `behaviour` picks what the node does when its timer fires
//! `after_ms` (default 10) after init:
//! - `honest` (default): keeps pinging its successor every 100 ms and answers pings.
//! - `loop`: spins forever.
//! - `alloc`: allocates memory without bound.
//! - `recurse`: recurses without bound.
//! - `panic`: panics with a message.
//! - `bad-send`: sends to a node that does not exist and sends malformed bytes.
//! - `flood`: sends a million messages in one event.
//! - `print`: prints to stdout and stderr.

use peershare_wire::Record;
use std::cell::RefCell;

wit_bindgen::generate!({ world: "peer-node", path: "../../wit" });

use exports::peershare::sim::peer::Guest;
use peershare::sim::host;
use peershare::sim::types::InitArgs;

struct Node {
    index: u32,
    behaviour: String,
    successor: u32,
}

thread_local! {
    static NODE: RefCell<Option<Node>> = const { RefCell::new(None) };
}

/// Recurses without end on purpose: the test of stack overflow containment.
#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(depth: u64, sink: &mut [u64; 64]) -> u64 {
    let mut local = [depth; 64];
    local[(depth % 64) as usize] ^= sink[0];
    sink[1] = sink[1].wrapping_add(local[3]);
    recurse(depth + 1, &mut local).wrapping_add(local[5])
}

struct Hostile;

impl Guest for Hostile {
    fn init(args: InitArgs) {
        let config = Record::decode(&args.config).unwrap_or_default();
        let after_ms = config.u64("after_ms").unwrap_or(10);
        let behaviour = config.str("behaviour").unwrap_or("honest").to_string();
        let n = config.u64("nodes").unwrap_or(1) as u32;
        host::set_timer(after_ms * 1_000_000, 0);
        NODE.with(|s| *s.borrow_mut() = Some(Node { index: args.index, behaviour, successor: (args.index + 1) % n.max(1) }));
    }

    fn on_message(from: u32, message: Vec<u8>) {
        let msg = Record::decode(&message).expect("the host only delivers well-formed records");
        if msg.kind == "PING" {
            host::send(from, &Record::new("PONG").encode());
        }
    }

    fn on_timer(_tag: u64) {
        let (index, behaviour, successor) = NODE.with(|s| {
            let s = s.borrow();
            let s = s.as_ref().expect("init ran");
            (s.index, s.behaviour.clone(), s.successor)
        });
        match behaviour.as_str() {
            "loop" => {
                let mut x = 0u64;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            "alloc" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "recurse" => {
                let mut sink = [0u64; 64];
                std::hint::black_box(recurse(0, &mut sink));
            }
            "panic" => panic!("node {index} gave up on purpose"),
            "bad-send" => {
                host::send(u32::MAX, &Record::new("PING").encode());
                host::send(successor, &[0xde, 0xad, 0xbe, 0xef]);
            }
            "flood" => {
                let bytes = Record::new("SPAM").encode();
                for _ in 0..1_000_000 {
                    host::send(successor, &bytes);
                }
            }
            "print" => {
                println!("hello from node {index}");
                eprintln!("a warning from node {index}");
                print!("unfinished line");
            }
            _ => {
                host::send(successor, &Record::new("PING").encode());
                host::set_timer(100_000_000, 0);
            }
        }
    }

    fn on_request(op: u64, _request: Vec<u8>) {
        host::complete(op, true, &Record::new("ok").encode());
    }
}

export!(Hostile);
