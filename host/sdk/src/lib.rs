//! Writing a PeerShare peer in Rust.
//!
//! A peer is a type that implements [`Peer`]; [`export_peer!`] turns it into
//! the WebAssembly component the simulator runs, one instance per simulated
//! node. The SDK keeps the node's state between events (no `thread_local!`
//! or `RefCell` of your own), decodes every message into a [`Record`],
//! re-arms periodic timers, and gives typed helpers for what the host reads
//! by convention: observable [`State`] (routing tables, fingers, successors,
//! leaders, ...), lookup trace [`Step`]s and operation outcomes
//! ([`Outcome`]). [`id`] does identifier arithmetic (XOR, ring distances);
//! [`rpc::Rpcs`] matches answers and timeouts to the requests sent;
//! [`Storage`] is the node's durable storage, which outlives crashes.
//!
//! ```
//! use peershare_sdk::prelude::*;
//!
//! /// Pings a random known peer every `interval_ms` and counts the pongs.
//! struct Pinger {
//!     known: Vec<NodeIndex>,
//!     pongs: u64,
//! }
//!
//! const PING: u64 = 1;
//!
//! impl Peer for Pinger {
//!     fn init(ctx: &mut Context, start: Start) -> Self {
//!         let every = start.config.u64("interval_ms").unwrap_or(500);
//!         ctx.every(Duration::from_millis(every), PING);
//!         Pinger { known: start.bootstrap.iter().map(|c| c.node).collect(), pongs: 0 }
//!     }
//!
//!     fn on_message(&mut self, ctx: &mut Context, from: NodeIndex, message: Record) {
//!         match message.kind.as_str() {
//!             "PING" => ctx.send(from, &Record::new("PONG")),
//!             "PONG" => self.pongs += 1,
//!             _ => {}
//!         }
//!         if !self.known.contains(&from) {
//!             self.known.push(from);
//!         }
//!     }
//!
//!     fn on_timer(&mut self, ctx: &mut Context, _tag: u64) {
//!         if !self.known.is_empty() {
//!             let to = self.known[ctx.random_below(self.known.len() as u64) as usize];
//!             ctx.send(to, &Record::new("PING"));
//!         }
//!     }
//!
//!     fn inspect(&self, _ctx: &Context) -> State {
//!         State::new().neighbours(self.known.iter().copied()).field("pongs", self.pongs)
//!     }
//! }
//!
//! peershare_sdk::export_peer!(Pinger);
//!
//! # fn main() {
//! // Natively, the same peer runs in a test harness:
//! let mut node = peershare_sdk::testing::Harness::<Pinger>::start(0, Record::new("config"), &[Contact::new(1, vec![1])]);
//! node.fire(PING);
//! assert_eq!(node.sent()[0].1.kind, "PING");
//! # }
//! ```
//!
//! Build the crate for `wasm32-wasip2`; the `.wasm` it produces is the peer.
//! Natively (`cargo test --target x86_64-unknown-linux-gnu` on Linux), host
//! calls are recorded by [`testing`] instead of going to a simulator.

#![warn(missing_docs)]

mod context;
mod outcome;
pub mod rpc;
mod runner;
mod state;
mod storage;
mod sys;
pub mod testing;
mod trace;

pub use context::{Context, Level, Timer};
pub use outcome::Outcome;
pub use peershare_wire::vote::{Phase, Vote};
pub use peershare_wire::{Contact, Record, Value, id, vote};
pub use runner::Runner;
pub use state::{Role, State};
pub use storage::Storage;
pub use trace::{Distance, Step};

/// A node's index: its network address in the simulation.
pub type NodeIndex = u32;

/// The identifier of an operation the workload asked this node to perform;
/// pass it back when completing the operation.
pub type OpId = u64;

/// The names a peer usually needs.
pub mod prelude {
    pub use crate::{
        Contact, Context, Distance, Level, NodeIndex, OpId, Outcome, Peer, Phase, Record, Role, Start, State, Step, Timer, Value, Vote, id,
    };
    pub use core::time::Duration;
}

/// Everything a node is told when it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Start {
    /// This node's index.
    pub index: NodeIndex,
    /// This node's identifier (`id_bits` rounded up to bytes).
    pub id: Vec<u8>,
    /// The name of its group in the scenario.
    pub group: String,
    /// The group's configuration: a record of kind "config" with the
    /// scenario's settings.
    pub config: Record,
    /// Peers to join through.
    pub bootstrap: Vec<Contact>,
    /// Length of identifiers in bits.
    pub id_bits: u32,
    /// Number of nodes in the simulation.
    pub node_count: u32,
}

/// A peer: how one node reacts to events. The SDK creates it with
/// [`Peer::init`] when the node starts and keeps it until the node stops.
///
/// Every handler reacts to one event and returns; it never waits. What it
/// asks of the host through the [`Context`] (send, set a timer, complete an
/// operation) happens after it returns. Only `init` and `on_message` must be
/// written; every operation a peer does not implement fails with a reason
/// saying so.
pub trait Peer: Sized + 'static {
    /// The node starts.
    fn init(ctx: &mut Context, start: Start) -> Self;

    /// A message arrived from node `from` (the host delivers only
    /// well-formed records).
    fn on_message(&mut self, ctx: &mut Context, from: NodeIndex, message: Record);

    /// A timer set with [`Context::set_timer`] or [`Context::every`] fired.
    fn on_timer(&mut self, ctx: &mut Context, tag: u64) {
        let _ = (ctx, tag);
    }

    /// A protocol-specific request (the record's kind names it).
    fn on_request(&mut self, ctx: &mut Context, op: OpId, request: Record) {
        ctx.unsupported(op, &request.kind);
    }

    /// Routing: find the nodes closest to `key`; complete with
    /// [`Outcome::contacts`], closest first.
    fn find_closest(&mut self, ctx: &mut Context, op: OpId, key: Vec<u8>) {
        let _ = key;
        ctx.unsupported(op, "find-closest");
    }

    /// Routing: store `value` under `key`.
    fn put(&mut self, ctx: &mut Context, op: OpId, key: Vec<u8>, value: Vec<u8>) {
        let _ = (key, value);
        ctx.unsupported(op, "put");
    }

    /// Routing: fetch the value under `key`; complete with
    /// [`Outcome::value`].
    fn get(&mut self, ctx: &mut Context, op: OpId, key: Vec<u8>) {
        let _ = key;
        ctx.unsupported(op, "get");
    }

    /// Discovery: announce this node as a provider of `key`.
    fn announce(&mut self, ctx: &mut Context, op: OpId, key: Vec<u8>) {
        let _ = key;
        ctx.unsupported(op, "announce");
    }

    /// Discovery: find providers of `key`; complete with
    /// [`Outcome::providers`].
    fn find_providers(&mut self, ctx: &mut Context, op: OpId, key: Vec<u8>) {
        let _ = key;
        ctx.unsupported(op, "find-providers");
    }

    /// Consensus: propose `value`; complete once it is committed.
    fn propose(&mut self, ctx: &mut Context, op: OpId, value: Vec<u8>) {
        let _ = value;
        ctx.unsupported(op, "propose");
    }

    /// The node's current state, for observers (snapshots, tests). Called
    /// between events; whatever it does to the node is undone by the host.
    fn inspect(&self, ctx: &Context) -> State {
        let _ = ctx;
        State::new()
    }
}

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "any-node",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "export_any_node",
        default_bindings_module: "peershare_sdk::bindings",
    });
}

/// Makes a [`Peer`] type the component's peer: exports every interface of
/// the `peershare:sim` world `any-node` and runs the type behind them.
/// Use it once per crate.
#[macro_export]
macro_rules! export_peer {
    ($peer:ty) => {
        #[doc(hidden)]
        mod __peershare_export {
            use super::*;
            use $crate::bindings::exports::peershare::sim as sim;

            thread_local! {
                static NODE: ::core::cell::RefCell<$crate::Runner<$peer>> = const { ::core::cell::RefCell::new($crate::Runner::new()) };
            }

            fn with<R>(f: impl FnOnce(&mut $crate::Runner<$peer>) -> R) -> R {
                NODE.with(|node| f(&mut node.borrow_mut()))
            }

            pub struct Exports;

            impl sim::peer::Guest for Exports {
                fn init(args: $crate::bindings::peershare::sim::types::InitArgs) {
                    with(|n| n.init(args))
                }
                fn on_message(from: u32, message: ::std::vec::Vec<u8>) {
                    with(|n| n.on_message(from, &message))
                }
                fn on_timer(tag: u64) {
                    with(|n| n.on_timer(tag))
                }
                fn on_request(op: u64, request: ::std::vec::Vec<u8>) {
                    with(|n| n.on_request(op, &request))
                }
            }

            impl sim::routing::Guest for Exports {
                fn find_closest(op: u64, key: ::std::vec::Vec<u8>) {
                    with(|n| n.with_peer(|p, c| p.find_closest(c, op, key)))
                }
                fn put(op: u64, key: ::std::vec::Vec<u8>, value: ::std::vec::Vec<u8>) {
                    with(|n| n.with_peer(|p, c| p.put(c, op, key, value)))
                }
                fn get(op: u64, key: ::std::vec::Vec<u8>) {
                    with(|n| n.with_peer(|p, c| p.get(c, op, key)))
                }
            }

            impl sim::discovery::Guest for Exports {
                fn announce(op: u64, key: ::std::vec::Vec<u8>) {
                    with(|n| n.with_peer(|p, c| p.announce(c, op, key)))
                }
                fn find_providers(op: u64, key: ::std::vec::Vec<u8>) {
                    with(|n| n.with_peer(|p, c| p.find_providers(c, op, key)))
                }
            }

            impl sim::consensus::Guest for Exports {
                fn propose(op: u64, value: ::std::vec::Vec<u8>) {
                    with(|n| n.with_peer(|p, c| p.propose(c, op, value)))
                }
            }

            impl sim::observable::Guest for Exports {
                fn inspect() -> ::std::vec::Vec<u8> {
                    with(|n| n.inspect())
                }
            }

            $crate::bindings::export_any_node!(Exports with_types_in $crate::bindings);
        }
    };
}
