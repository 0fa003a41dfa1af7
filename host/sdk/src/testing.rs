//! Unit-testing a peer natively, without a simulator.
//!
//! On a native target the SDK's host calls are recorded here instead of
//! going to the simulator. A [`Harness`] runs one node: start it, hand it
//! messages, fire its timers, ask it for operations, and read what it asked
//! of the host.
//!
//! ```
//! use peershare_sdk::prelude::*;
//! use peershare_sdk::testing::{Effect, Harness};
//!
//! struct Echo;
//! impl Peer for Echo {
//!     fn init(_: &mut Context, _: Start) -> Self {
//!         Echo
//!     }
//!     fn on_message(&mut self, ctx: &mut Context, from: NodeIndex, message: Record) {
//!         ctx.send(from, &Record::new("ECHO").with("of", message.kind.as_str()));
//!     }
//! }
//!
//! let mut node = Harness::<Echo>::start(3, Record::new("config"), &[]);
//! node.deliver(5, Record::new("HELLO"));
//! assert_eq!(node.sent(), vec![(5, Record::new("ECHO").with("of", "HELLO"))]);
//! node.request(9, Record::new("anything"));
//! assert!(matches!(&node.effects()[..], [Effect::Completed { op: 9, ok: false, .. }]));
//! ```
//!
//! Run such tests with `cargo test --target x86_64-unknown-linux-gnu` (or
//! your machine's target): the template's `.cargo/config.toml` makes
//! `wasm32-wasip2` the default, which cannot run tests.

use crate::{Contact, Level, NodeIndex, OpId, Peer, Record, Runner, Start, Step};
use std::cell::RefCell;

/// Something a node asked of the host.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// A message sent.
    Sent {
        /// To whom.
        to: NodeIndex,
        /// What.
        message: Record,
    },
    /// A host timer set (the SDK's own bookkeeping: `tag` is internal).
    TimerSet {
        /// The host's handle.
        handle: u64,
        /// Delay in nanoseconds.
        delay: u64,
        /// The host-level tag.
        tag: u64,
    },
    /// A host timer cancelled.
    TimerCancelled {
        /// The host's handle.
        handle: u64,
    },
    /// A log line.
    Log {
        /// Severity.
        level: Level,
        /// Text.
        text: String,
    },
    /// Published state.
    Published(Record),
    /// An operation completed.
    Completed {
        /// Which.
        op: OpId,
        /// Whether it succeeded.
        ok: bool,
        /// The outcome record.
        outcome: Record,
    },
    /// A trace step.
    Traced {
        /// The operation.
        op: OpId,
        /// The step.
        step: Step,
    },
    /// A committed value.
    Committed {
        /// Log position.
        index: u64,
        /// The value.
        value: Vec<u8>,
    },
    /// A sync of durable storage started: the writes so far become durable
    /// when the harness fires its completion ([`Harness::fire`] with the
    /// peer's tag), and a [`Harness::restart`] before that loses them.
    Synced {
        /// The host's handle.
        handle: u64,
        /// The host-level tag.
        tag: u64,
    },
}

/// Keys and values of the test host's storage.
type Contents = std::collections::BTreeMap<Vec<u8>, Vec<u8>>;

/// The test host's durable storage: what reads see, and what a
/// [`Harness::restart`] keeps (the writes synced so far).
#[derive(Clone, Debug, Default)]
#[cfg_attr(target_family = "wasm", allow(dead_code))]
pub(crate) struct TestDisk {
    current: Contents,
    durable: Contents,
    /// Syncs under way: their host-level tags and the contents they cover.
    syncing: Vec<(u64, Contents)>,
}

#[cfg_attr(target_family = "wasm", allow(dead_code))]
impl TestDisk {
    pub fn put(&mut self, key: &[u8], value: &[u8]) {
        self.current.insert(key.to_vec(), value.to_vec());
    }
    pub fn delete(&mut self, key: &[u8]) {
        self.current.remove(key);
    }
    pub fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.current.get(key).cloned()
    }
    pub fn keys(&self, prefix: &[u8]) -> Vec<Vec<u8>> {
        self.current.range(prefix.to_vec()..).map(|(k, _)| k.clone()).take_while(|k| k.starts_with(prefix)).collect()
    }
    /// A sync started: what it will make durable, under the host-level tag
    /// its completion fires with.
    pub fn start_sync(&mut self, host_tag: u64) {
        self.syncing.push((host_tag, self.current.clone()));
    }
    /// The completion of a sync fires: its writes are durable.
    fn finish_sync(&mut self, host_tag: u64) {
        if let Some(k) = self.syncing.iter().position(|(t, _)| *t == host_tag) {
            self.durable = self.syncing.remove(k).1;
        }
    }
    fn crash(&mut self) {
        self.current = self.durable.clone();
        self.syncing.clear();
    }
}

/// The signatures made in a test: a signature is a number the test host
/// hands out, valid for the signer and bytes it was made for.
#[derive(Debug, Default)]
#[cfg_attr(target_family = "wasm", allow(dead_code))]
pub(crate) struct TestSignatures {
    made: Vec<(u32, Vec<u8>)>,
}

#[cfg_attr(target_family = "wasm", allow(dead_code))]
impl TestSignatures {
    pub fn sign(&mut self, signer: u32, data: &[u8]) -> Vec<u8> {
        let number = match self.made.iter().position(|(s, d)| *s == signer && d == data) {
            Some(k) => k,
            None => {
                self.made.push((signer, data.to_vec()));
                self.made.len() - 1
            }
        };
        let mut sig = vec![0u8; 32];
        sig[..8].copy_from_slice(&(number as u64).to_le_bytes());
        sig
    }
    pub fn verify(&self, signer: u32, data: &[u8], signature: &[u8]) -> bool {
        let Ok(head) = <[u8; 8]>::try_from(signature.get(..8).unwrap_or_default()) else { return false };
        let number = u64::from_le_bytes(head) as usize;
        signature.len() == 32
            && signature[8..].iter().all(|b| *b == 0)
            && self.made.get(number).is_some_and(|(s, d)| *s == signer && d == data)
    }
}

/// The recording host of this thread (on WebAssembly, the real host is used
/// and only the harness touches this).
#[derive(Debug, Default)]
#[cfg_attr(target_family = "wasm", allow(dead_code))]
pub(crate) struct TestHost {
    pub now: u64,
    pub next_handle: u64,
    pub disk: TestDisk,
    /// The node under test.
    pub me: u32,
    pub signatures: TestSignatures,
    rng: u64,
    effects: Vec<Effect>,
}

#[cfg_attr(target_family = "wasm", allow(dead_code))]
impl TestHost {
    /// SplitMix64 from a fixed seed: the same numbers every run.
    pub fn random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

thread_local! {
    static HOST: RefCell<TestHost> = RefCell::new(TestHost::default());
}

#[cfg_attr(target_family = "wasm", allow(dead_code))]
pub(crate) fn with_host<R>(f: impl FnOnce(&mut TestHost) -> R) -> R {
    HOST.with(|h| f(&mut h.borrow_mut()))
}

#[cfg_attr(target_family = "wasm", allow(dead_code))]
pub(crate) fn record(effect: Effect) {
    with_host(|h| h.effects.push(effect));
}

/// One node of peer type `P`, run natively. Each harness resets the
/// thread's recording host, so run one harness per test.
pub struct Harness<P: Peer> {
    runner: Runner<P>,
    start: Start,
}

impl<P: Peer> Harness<P> {
    /// Starts node `index` with `config` and `bootstrap` contacts (ids of
    /// 160 bits, 100 nodes; change them with [`Harness::start_with`]).
    pub fn start(index: NodeIndex, config: Record, bootstrap: &[Contact]) -> Self {
        let id = (0..20).map(|k| (index as u8).wrapping_mul(31).wrapping_add(k)).collect();
        Self::start_with(Start { index, id, group: "test".into(), config, bootstrap: bootstrap.to_vec(), id_bits: 160, node_count: 100 })
    }

    /// Starts a node from a full [`Start`].
    pub fn start_with(start: Start) -> Self {
        HOST.with(|h| *h.borrow_mut() = TestHost { me: start.index, ..TestHost::default() });
        let mut runner = Runner::new();
        runner.start(start.clone());
        Harness { runner, start }
    }

    /// Crashes the node and starts it again from scratch, as a `lose-state`
    /// crash does: its memory, timers and the storage writes it did not
    /// sync are gone; what it synced is there for its `init` to read.
    pub fn restart(&mut self) {
        with_host(|h| {
            h.disk.crash();
            h.effects.clear();
        });
        self.runner = Runner::new();
        self.runner.start(self.start.clone());
    }

    /// The value under `key` in the node's durable storage as a restart
    /// would find it (synced writes only).
    pub fn durable(&self, key: &[u8]) -> Option<Vec<u8>> {
        with_host(|h| h.disk.durable.get(key).cloned())
    }

    /// `signer`'s signature of `data`, made as if that node had signed it
    /// (to deliver signed messages from other nodes).
    pub fn signature_of(&self, signer: NodeIndex, data: &[u8]) -> Vec<u8> {
        with_host(|h| h.signatures.sign(signer, data))
    }

    /// `record` signed by `signer`, as [`crate::Context::sign_record`]
    /// would sign it on that node.
    pub fn signed_by(&self, signer: NodeIndex, record: Record) -> Record {
        let sig = self.signature_of(signer, &record.encode());
        record.with(crate::context::SIGNATURE_FIELD, sig)
    }

    /// Delivers a message from `from`.
    pub fn deliver(&mut self, from: NodeIndex, message: Record) {
        self.runner.on_message(from, &message.encode());
    }

    /// Fires the earliest-set pending timer with the peer's tag `tag` (or
    /// the completion of a storage sync with that tag); returns false if
    /// none is pending.
    pub fn fire(&mut self, tag: u64) -> bool {
        let Some((_, host_tag)) = self.runner.context().pending().find(|&(t, _)| t == tag) else {
            return false;
        };
        with_host(|h| h.disk.finish_sync(host_tag));
        self.runner.on_timer(host_tag);
        true
    }

    /// Asks for a protocol-specific operation.
    pub fn request(&mut self, op: OpId, request: Record) {
        self.runner.on_request(op, &request.encode());
    }

    /// Runs any other handler on the peer (a lookup, a put, ...).
    pub fn call(&mut self, f: impl FnOnce(&mut P, &mut crate::Context)) {
        self.runner.with_peer(f);
    }

    /// What the peer's `inspect` reports.
    pub fn inspect(&mut self) -> Record {
        Record::decode(&self.runner.inspect()).expect("the SDK encodes states")
    }

    /// Sets the virtual time, in nanoseconds.
    pub fn set_now(&mut self, nanos: u64) {
        with_host(|h| h.now = nanos);
    }

    /// The peer itself.
    pub fn peer(&self) -> &P {
        self.runner.peer().expect("started")
    }

    /// Takes every effect recorded since the last call.
    pub fn effects(&mut self) -> Vec<Effect> {
        with_host(|h| std::mem::take(&mut h.effects))
    }

    /// Takes the effects and returns the messages sent among them.
    pub fn sent(&mut self) -> Vec<(NodeIndex, Record)> {
        self.effects()
            .into_iter()
            .filter_map(|e| match e {
                Effect::Sent { to, message } => Some((to, message)),
                _ => None,
            })
            .collect()
    }

    /// The peer's tags of the timers pending, in the order they were set.
    pub fn pending_timers(&self) -> Vec<u64> {
        self.runner.context().pending().map(|(tag, _)| tag).collect()
    }
}
