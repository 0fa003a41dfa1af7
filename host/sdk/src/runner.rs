//! [`Runner`]: one node's peer and context, driven by the exported
//! functions that [`export_peer!`](crate::export_peer) generates.

use crate::bindings::peershare::sim::types::InitArgs;
use crate::{Contact, Context, Peer, Record, Start};

/// Holds one node's [`Peer`] and [`Context`] between events. Used by the
/// code [`export_peer!`](crate::export_peer) generates and by
/// [`crate::testing::Harness`]; a peer never needs it directly.
#[derive(Debug)]
pub struct Runner<P> {
    peer: Option<P>,
    ctx: Context,
}

impl<P: Peer> Default for Runner<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: Peer> Runner<P> {
    /// A node that has not started.
    pub const fn new() -> Self {
        Runner { peer: None, ctx: Context::empty() }
    }

    /// The host's `init`.
    pub fn init(&mut self, args: InitArgs) {
        let config = Record::decode(&args.config).unwrap_or_else(|_| Record::new("config"));
        self.start(Start {
            index: args.index,
            id: args.id,
            group: args.group,
            config,
            bootstrap: args.bootstrap.into_iter().map(|c| Contact::new(c.index, c.id)).collect(),
            id_bits: args.id_bits,
            node_count: args.node_count,
        });
    }

    /// Starts the node.
    pub fn start(&mut self, start: Start) {
        self.ctx.start(&start);
        self.peer = Some(P::init(&mut self.ctx, start));
    }

    /// Runs `f` on the started peer.
    pub fn with_peer(&mut self, f: impl FnOnce(&mut P, &mut Context)) {
        let peer = self.peer.as_mut().expect("the host calls init before anything else");
        f(peer, &mut self.ctx);
    }

    /// The host's `on-message`.
    pub fn on_message(&mut self, from: u32, message: &[u8]) {
        let message = Record::decode(message).expect("the host delivers only well-formed records");
        self.with_peer(|p, c| p.on_message(c, from, message));
    }

    /// The host's `on-timer`: the SDK's own timer id, mapped back to the
    /// peer's tag (periodic timers re-armed first).
    pub fn on_timer(&mut self, host_tag: u64) {
        if let Some(tag) = self.ctx.fired(host_tag) {
            self.with_peer(|p, c| p.on_timer(c, tag));
        }
    }

    /// The host's `on-request`.
    pub fn on_request(&mut self, op: u64, request: &[u8]) {
        let request = Record::decode(request).unwrap_or_else(|_| Record::new("undecodable"));
        self.with_peer(|p, c| p.on_request(c, op, request));
    }

    /// The host's `inspect`.
    pub fn inspect(&mut self) -> Vec<u8> {
        match &self.peer {
            Some(p) => p.inspect(&self.ctx).encode(),
            None => Record::new("state").encode(),
        }
    }

    /// The context, for the test harness.
    pub(crate) fn context(&self) -> &Context {
        &self.ctx
    }

    /// The peer, once started.
    pub fn peer(&self) -> Option<&P> {
        self.peer.as_ref()
    }
}
