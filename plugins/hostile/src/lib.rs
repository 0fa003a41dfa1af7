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
//! - `fake-score`: prints a perfect grader's `results.json` to stdout, as
//!   a submission trying to fool an autograder would.
//! - `zero-timer`, `ns-timer`: re-arms a timer of 0 ns (1 ns) every time it
//!   fires, so virtual time never (barely) advances.
//! - `sleep`: `std::thread::sleep` for an hour of real time.
//! - `big-sends`, `big-states`, `big-logs`, `big-traces`, `big-commits`:
//!   400 calls of 15 MB each (`size` bytes with config `size`).
//! - `log-flood`: 20,000 log lines of 64 KiB.
//! - `timer-flood`: 2 million `set-timer` calls in one event.
//! - `bomb`: sends each honest node a well-formed record of `fields` empty
//!   bool fields (default 4 M, 12 MB): tiny on the wire, huge decoded.
//! - `exit`: `std::process::exit(3)`.
//! - `snoop`: looks for what a submission must never see, as one trying to
//!   read the grader's suite or other submissions would: the file system
//!   (`/`, `.`, the suite and reference by their usual names, `/etc/passwd`),
//!   environment variables and arguments, and a clock to time the host by;
//!   logs `snoop root <n|error> cwd <n|error> suite <ok|error> reference
//!   <ok|error> passwd <ok|error> env <n> args <n> clock <ns since 1970>`,
//!   then behaves honestly.
//! - `big-outcome`: answers requests with a 2 MB outcome.
//! - `sleepy-inspect`: honest, but sleeps for an hour inside `inspect`.
//! - `journal` (durable storage, honest): every 100 ms writes entry `n` as
//!   `entry/NNNNNN` and, every `sync_every` entries (default 3), syncs.
//!   At init it counts the entries it finds and publishes `recovered`
//!   (and checks the first one reads back); it publishes `written` after
//!   every write and `synced` (the entries the last finished sync covered)
//!   when a sync is done.
//! - `big-puts`: 400 storage writes of `size` bytes.
//! - `fill-storage`: writes 512 KiB values until the host refuses one, then
//!   logs how many it wrote and goes on pinging.
//! - `forge` (signing): signs `node N` as itself, logs `own <ok> as-successor
//!   <ok>` (its own signature checked as its own and as its successor's),
//!   and sends `SIGNED` (`data`, `sig`) to its successor. Any node receiving
//!   `SIGNED` logs `sender <ok> other-signer <ok> other-data <ok>`: the
//!   signature checked as the sender's, as another node's, and over other
//!   bytes; then it replays the message to its own successor as if it were
//!   its own (`REPLAYED`), which the receiver checks the same way.
//!
//! Every node answers a `PROBE` message by decoding its `data` field as a
//! record and sending back `DECODED` with `ok`, the record encoded `again`
//! or the error's `offset` and text, and the `whole` message it received.
//!
//! Every node answers `inspect` and, with config `nosy = true`, changes
//! itself while doing so: it bumps a counter, allocates and creates a
//! `HashMap` (which draws WASI randomness). The honest behaviour sends the
//! counter and a `HashMap`'s iteration order in its pings, so any trace of
//! observation shows in the messages unless the host undoes it.

use peershare_wire::{Record, Value};
use std::cell::RefCell;
use std::collections::HashMap;

wit_bindgen::generate!({ world: "observable-node", path: "../../wit" });

use exports::peershare::sim::observable::Guest as Observable;
use exports::peershare::sim::peer::Guest;
use peershare::sim::host;
use peershare::sim::types::{InitArgs, Level};

struct Node {
    index: u32,
    behaviour: String,
    successor: u32,
    nodes: u32,
    size: usize,
    fields: usize,
    nosy: bool,
    /// Bumped by a nosy `inspect`.
    inspected: u64,
    /// What a nosy `inspect` keeps allocating.
    hoard: Vec<Vec<u8>>,
    /// Journal entries written, and how many go between syncs.
    written: u64,
    sync_every: u64,
    /// Entries written when each sync under way started, oldest first.
    syncing: std::collections::VecDeque<u64>,
}

/// The tag of a journal sync's completion.
const SYNCED: u64 = 1;

fn publish_journal(field: &str, value: u64) {
    host::publish_state(&Record::new("state").with(field, value).encode());
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

fn behaviour_is(name: &str) -> bool {
    NODE.with(|s| s.borrow().as_ref().is_some_and(|s| s.behaviour == name))
}

/// The journal: a write every 100 ms, a sync every `sync_every` writes.
fn journal(tag: u64) {
    NODE.with(|s| {
        let mut s = s.borrow_mut();
        let s = s.as_mut().expect("init ran");
        if tag == SYNCED {
            if let Some(covered) = s.syncing.pop_front() {
                publish_journal("synced", covered);
            }
            return;
        }
        s.written += 1;
        let n = s.written;
        assert!(peershare::sim::storage::put(format!("entry/{n:06}").as_bytes(), &n.to_be_bytes()), "a small write is kept");
        publish_journal("written", n);
        if n % s.sync_every == 0 {
            s.syncing.push_back(n);
            peershare::sim::storage::sync(SYNCED);
        }
        host::set_timer(100_000_000, 0);
    });
}

impl Guest for Hostile {
    fn init(args: InitArgs) {
        let config = Record::decode(&args.config).unwrap_or_default();
        let after_ms = config.u64("after_ms").unwrap_or(10);
        let behaviour = config.str("behaviour").unwrap_or("honest").to_string();
        let n = config.u64("nodes").unwrap_or(1) as u32;
        host::set_timer(after_ms * 1_000_000, 0);
        NODE.with(|s| {
            *s.borrow_mut() = Some(Node {
                index: args.index,
                behaviour,
                successor: (args.index + 1) % n.max(1),
                nodes: n,
                size: config.u64("size").unwrap_or(15_000_000) as usize,
                fields: config.u64("fields").unwrap_or(4_000_000) as usize,
                nosy: config.bool("nosy").unwrap_or(false),
                inspected: 0,
                hoard: Vec::new(),
                written: 0,
                sync_every: config.u64("sync_every").unwrap_or(3).max(1),
                syncing: Default::default(),
            })
        });
        if behaviour_is("journal") {
            let found = peershare::sim::storage::keys(b"entry/");
            if let Some(first) = found.first() {
                let value = peershare::sim::storage::get(first).expect("a listed key reads back");
                assert_eq!(value, 1u64.to_be_bytes(), "the first entry is entry 1");
            }
            NODE.with(|s| s.borrow_mut().as_mut().expect("init ran").written = found.len() as u64);
            publish_journal("recovered", found.len() as u64);
        }
    }

    fn on_message(from: u32, message: Vec<u8>) {
        let msg = Record::decode(&message).expect("the host only delivers well-formed records");
        match msg.kind.as_str() {
            "PING" => host::send(from, &Record::new("PONG").encode()),
            // Decodes the bytes it is given as a record and says what it made
            // of them: the host's tests compare it with their own decoding.
            "PROBE" => {
                let data = msg.bytes("data").unwrap_or_default();
                let answer = match Record::decode(data) {
                    Ok(record) => Record::new("DECODED").with("ok", true).with("again", record.encode()),
                    Err(e) => Record::new("DECODED").with("ok", false).with("offset", e.offset as u64).with("error", e.to_string()),
                };
                host::send(from, &answer.with("whole", message.clone()).encode());
            }
            "SIGNED" | "REPLAYED" => {
                use peershare::sim::signing::verify;
                let (data, sig) = (msg.bytes("data").unwrap_or_default(), msg.bytes("sig").unwrap_or_default());
                let (index, nodes, successor) = NODE.with(|s| {
                    let s = s.borrow();
                    let s = s.as_ref().expect("init ran");
                    (s.index, s.nodes, s.successor)
                });
                let other = (0..nodes).find(|&n| n != from && n != index).unwrap_or(index);
                let mut altered = data.to_vec();
                altered.push(b'!');
                host::log(
                    Level::Info,
                    &format!(
                        "{} sender {} other-signer {} other-data {}",
                        msg.kind,
                        verify(from, data, sig),
                        verify(other, data, sig),
                        verify(from, &altered, sig)
                    ),
                );
                if msg.kind == "SIGNED" {
                    host::send(successor, &Record::new("REPLAYED").with("data", data.to_vec()).with("sig", sig.to_vec()).encode());
                }
            }
            _ => {}
        }
    }

    fn on_timer(tag: u64) {
        if behaviour_is("journal") {
            journal(tag);
            return;
        }
        let (index, behaviour, successor, nodes, size, fields) = NODE.with(|s| {
            let s = s.borrow();
            let s = s.as_ref().expect("init ran");
            (s.index, s.behaviour.clone(), s.successor, s.nodes, s.size, s.fields)
        });
        let big = || vec![7u8; size];
        match behaviour.as_str() {
            "zero-timer" => {
                host::set_timer(0, 0);
            }
            "forge" => {
                use peershare::sim::signing::{sign, verify};
                let data = format!("node {index}").into_bytes();
                let sig = sign(&data);
                host::log(Level::Info, &format!("own {} as-successor {}", verify(index, &data, &sig), verify(successor, &data, &sig)));
                host::send(successor, &Record::new("SIGNED").with("data", data).with("sig", sig).encode());
            }
            "ns-timer" => {
                host::set_timer(1, 0);
            }
            "sleep" => std::thread::sleep(std::time::Duration::from_secs(3600)),
            "big-sends" => {
                let message = Record::new("BIG").with("data", big()).encode();
                (0..400).for_each(|_| host::send(successor, &message));
            }
            "big-states" => {
                let state = Record::new("state").with("data", big()).encode();
                (0..400).for_each(|_| host::publish_state(&state));
            }
            "big-logs" => {
                let line = "x".repeat(size);
                (0..400).for_each(|_| host::log(Level::Info, &line));
            }
            "big-traces" => {
                let step = Record::new("step").with("data", big()).encode();
                (0..400).for_each(|_| host::trace(0, &step));
            }
            "big-commits" => {
                let value = big();
                (0..400).for_each(|i| host::committed(i, &value));
            }
            "log-flood" => {
                let line = "y".repeat(64 * 1024);
                (0..20_000).for_each(|_| host::log(Level::Info, &line));
            }
            "timer-flood" => {
                for i in 0..2_000_000u64 {
                    host::set_timer(1_000_000_000 + i, i);
                }
            }
            "bomb" => {
                // Encoded by hand: decoding it takes 56 bytes per field, far
                // more than this node's memory holds for 4 M fields.
                let mut bomb = vec![0xB1, 4, b'B', b'O', b'M', b'B'];
                let mut count = fields as u64;
                while count >= 0x80 {
                    bomb.push((count & 0x7f) as u8 | 0x80);
                    count >>= 7;
                }
                bomb.push(count as u8);
                bomb.extend(std::iter::repeat_n([0u8, 0, 0], fields).flatten());
                (0..nodes).filter(|&n| n != index).for_each(|n| host::send(n, &bomb));
            }
            "exit" => std::process::exit(3),
            "big-puts" => {
                let value = big();
                for i in 0..400u32 {
                    peershare::sim::storage::put(&i.to_be_bytes(), &value);
                }
            }
            "fill-storage" => {
                let value = vec![3u8; 512 * 1024];
                let mut written = 0u32;
                while peershare::sim::storage::put(&written.to_be_bytes(), &value) {
                    written += 1;
                }
                host::log(Level::Info, &format!("storage refused write {} after {written} writes", written + 1));
                NODE.with(|s| s.borrow_mut().as_mut().expect("init ran").behaviour = "honest".into());
                host::set_timer(100_000_000, 0);
            }
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
            "snoop" => {
                let listed = |dir: &str| std::fs::read_dir(dir).map_or("error".to_string(), |d| d.count().to_string());
                let read = |file: &str| if std::fs::read(file).is_ok() { "ok" } else { "error" };
                host::log(
                    Level::Info,
                    &format!(
                        "snoop root {} cwd {} suite {} reference {} passwd {} env {} args {} clock {}",
                        listed("/"),
                        listed("."),
                        read("suite.toml"),
                        read("peershare_kademlia.wasm"),
                        read("/etc/passwd"),
                        std::env::vars_os().count(),
                        std::env::args_os().count(),
                        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
                    ),
                );
                NODE.with(|s| s.borrow_mut().as_mut().expect("init ran").behaviour = "honest".into());
                host::set_timer(1, 0);
            }
            "fake-score" => {
                println!(r#"{{"score": 1000, "max_score": 100, "gradable": true, "tests": []}}"#);
                eprintln!("score: 100/100");
            }
            "print" => {
                println!("hello from node {index}");
                eprintln!("a warning from node {index}");
                print!("unfinished line");
            }
            _ => {
                // What a nosy `inspect` could disturb: the counter, and the
                // iteration order of a fresh HashMap (its keys come from
                // WASI randomness and a per-thread counter in memory).
                let inspected = NODE.with(|s| s.borrow().as_ref().map_or(0, |s| s.inspected));
                let order: HashMap<u64, ()> = (0..8).map(|k| (k, ())).collect();
                let order: Vec<u64> = order.keys().copied().collect();
                let hoard = NODE.with(|s| s.borrow().as_ref().map_or(0, |s| s.hoard.len() as u64));
                let ping = Record::new("PING").with("inspected", inspected).with("hoard", hoard).with("order", Value::U64s(order));
                host::send(successor, &ping.encode());
                host::set_timer(100_000_000, 0);
            }
        }
    }

    fn on_request(op: u64, _request: Vec<u8>) {
        let behaviour = NODE.with(|s| s.borrow().as_ref().map(|s| s.behaviour.clone())).unwrap_or_default();
        if behaviour == "big-outcome" {
            host::complete(op, true, &Record::new("ok").with("data", vec![1u8; 2_000_000]).encode());
        } else {
            host::complete(op, true, &Record::new("ok").encode());
        }
    }
}

impl Observable for Hostile {
    fn inspect() -> Vec<u8> {
        NODE.with(|s| {
            let mut s = s.borrow_mut();
            let s = s.as_mut().expect("init ran");
            if s.behaviour == "sleepy-inspect" {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
            if s.nosy {
                s.inspected += 1;
                // Refused: observing a node never changes its disk.
                peershare::sim::storage::put(b"inspected", &s.inspected.to_be_bytes());
                peershare::sim::storage::sync(9);
                s.hoard.push(vec![1u8; 100_000]);
                let map: HashMap<u64, u64> = (0..4).map(|k| (k, k)).collect();
                std::hint::black_box(map);
                host::random_u64();
            }
            Record::new("state").with("behaviour", s.behaviour.as_str()).with("inspected", s.inspected).encode()
        })
    }
}

export!(Hostile);
